#!/usr/bin/env bash
# Render time of the State Hub's dashboard (not a test: nothing fails on a
# slow result): a release `sandboxer hub serve` with a port registry of VMS
# VMs, filled through the API with SANDBOXES records (and a few notes), then
# bench/dashboard.py times each page, RUNS times. On the file store, then on
# PostgreSQL when Debian's postgresql is installed (a server of this script's
# own, as in bench/hub-store.sh).
#
#   bench/dashboard.sh                                 # 200 VMs, 5,000 sandboxes, 20 runs a page
#   VMS=200 SANDBOXES=5000 RUNS=50 bench/dashboard.sh
#   BIN=target/release/sandboxer bench/dashboard.sh    # skip the build
#
# Results are written up in docs/benchmarks.md ("State Hub dashboard").
set -euo pipefail
cd "$(dirname "$0")/.."

vms=${VMS:-200}
sandboxes=${SANDBOXES:-5000}
runs=${RUNS:-20}

bin=${BIN:-}
if [[ -z $bin ]]; then
  cargo build --release --quiet
  bin=target/release/sandboxer
fi
bin=$(realpath "$bin")

work=$(mktemp -d "${TMPDIR:-/tmp}/dashboard-bench.XXXXXX")
chmod 0755 "$work"
hub_pid=
pg_pid=
cleanup() {
  if [[ -n $hub_pid ]]; then kill -TERM "$hub_pid" 2>/dev/null || true; wait "$hub_pid" 2>/dev/null || true; fi
  if [[ -n $pg_pid ]]; then kill -INT "$pg_pid" 2>/dev/null || true; wait "$pg_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

{
  echo "version: 1"
  echo "ports:"
  for i in $(seq 0 $((vms - 1))); do printf '  %d: vm%03d\n' $((20000 + i)) "$i"; done
} >"$work/ports.yaml"

token=bench-$RANDOM-$RANDOM

start_hub() {
  HUB_TOKEN=$token "$bin" hub serve --listen 127.0.0.1:0 "$@" --port-registry "$work/ports.yaml" \
    --token-env HUB_TOKEN >/dev/null 2>"$work/hub.err" &
  hub_pid=$!
  for _ in $(seq 1 200); do
    url=$(sed -n 's/.*listening on \(http:\/\/[^ ]*\) .*/\1/p' "$work/hub.err")
    [[ -n $url ]] && return 0
    sleep 0.05
  done
  cat "$work/hub.err" >&2
  return 1
}

stop_hub() {
  kill -TERM "$hub_pid"
  wait "$hub_pid" || true
  hub_pid=
}

echo "== file store"
start_hub --data "$work/files"
python3 bench/dashboard.py --url "$url" --token "$token" --vms "$vms" --sandboxes "$sandboxes" --runs "$runs"
echo "  hub peak RSS $(grep VmHWM "/proc/$hub_pid/status" | awk '{print $2 " " $3}')"
stop_hub

pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
if [[ -n $pg_bin ]]; then
  as_pg=()
  if [[ $(id -u) -eq 0 ]]; then as_pg=(setpriv --reuid=postgres --regid=postgres --init-groups --); fi
  mkdir "$work/pg"
  [[ ${#as_pg[@]} -eq 0 ]] || chown postgres:postgres "$work/pg"
  "${as_pg[@]}" "$pg_bin/initdb" -D "$work/pg/data" -U postgres --auth=trust -E UTF8 --no-instructions >/dev/null
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  "${as_pg[@]}" "$pg_bin/postgres" -D "$work/pg/data" -p "$port" -k "$work/pg" -c listen_addresses=127.0.0.1 \
    >"$work/pg/server.log" 2>&1 &
  pg_pid=$!
  for _ in $(seq 1 200); do
    "$pg_bin/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -Atc 'SELECT 1' >/dev/null 2>&1 && break
    sleep 0.05
  done
  "$pg_bin/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -Atc 'SELECT 1' >/dev/null 2>&1 ||
    { echo "PostgreSQL did not start:" >&2; cat "$work/pg/server.log" >&2; exit 1; }
  "$pg_bin/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -Atc 'CREATE DATABASE dash' >/dev/null
  echo "== PostgreSQL store"
  start_hub --store "postgres://postgres@127.0.0.1:$port/dash"
  python3 bench/dashboard.py --url "$url" --token "$token" --vms "$vms" --sandboxes "$sandboxes" --runs "$runs"
  stop_hub
fi

echo "machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(uname -sr), $("$bin" --version)"
