#!/usr/bin/env bash
# The State Hub's stores side by side (not a test: nothing fails on a slow
# result): the same load (bench/hub-load.py: each client PUTs its records with
# the version it last got and posts a note after each) against
#   - the file store, one hub;
#   - PostgreSQL, one hub;
#   - PostgreSQL, two hubs on one database (clients split between them);
# for 50 and 200 concurrent clients. PostgreSQL is a server of this script's
# own (initdb into a temporary folder, loopback, default durability: fsync on),
# never a system-wide one; as root it runs as the `postgres` user.
#
#   bench/hub-store.sh                          # 50 and 200 clients, 20 writes each
#   CLIENT_COUNTS="50" WRITES=40 bench/hub-store.sh
#   LAYOUT=shared bench/hub-store.sh            # every client in one project
#   BIN=target/release/sandboxer bench/hub-store.sh   # skip the build
#
# Results are written up in docs/benchmarks.md ("State Hub: file store and PostgreSQL").
set -euo pipefail
cd "$(dirname "$0")/.."

client_counts=${CLIENT_COUNTS:-"50 200"}
writes=${WRITES:-20}
records=${RECORDS:-5}
layout=${LAYOUT:-per-client}
max_seconds=${MAX_SECONDS:-120}

bin=${BIN:-}
if [[ -z $bin ]]; then
  cargo build --release --quiet
  bin=target/release/sandboxer
fi
bin=$(realpath "$bin")

pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
if [[ -z $pg_bin ]]; then
  echo "PostgreSQL is not installed (Debian: apt-get install postgresql)" >&2
  exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/hub-store.XXXXXX")
chmod 0755 "$work"
hub_pids=()
pg_pid=
cleanup() {
  for pid in "${hub_pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [[ -n $pg_pid ]]; then
    kill -INT "$pg_pid" 2>/dev/null || true
    wait "$pg_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

as_pg=()
if [[ $(id -u) -eq 0 ]]; then
  as_pg=(setpriv --reuid=postgres --regid=postgres --init-groups --)
fi
mkdir "$work/pg"
[[ ${#as_pg[@]} -eq 0 ]] || chown postgres:postgres "$work/pg"
"${as_pg[@]}" "$pg_bin/initdb" -D "$work/pg/data" -U postgres --auth=trust -E UTF8 --no-instructions >/dev/null
pg_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"${as_pg[@]}" "$pg_bin/postgres" -D "$work/pg/data" -p "$pg_port" -k "$work/pg" \
  -c listen_addresses=127.0.0.1 -c max_connections=300 >"$work/pg/server.log" 2>&1 &
pg_pid=$!
for _ in $(seq 1 200); do
  "$pg_bin/psql" -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres -Atc 'SELECT 1' >/dev/null 2>&1 && break
  sleep 0.05
done
"$pg_bin/psql" -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres -Atc 'SELECT 1' >/dev/null 2>&1 ||
  { echo "PostgreSQL did not start:" >&2; cat "$work/pg/server.log" >&2; exit 1; }

token=bench-$RANDOM-$RANDOM
databases=0

# Starts a hub with store arguments "$@"; appends its pid to hub_pids and its
# URL to urls. (Not inside $(...): the hub would hold the substitution open.)
start_hub() {
  local err="$work/hub-${#hub_pids[@]}.err"
  HUB_LOAD_TOKEN=$token "$bin" hub serve --listen 127.0.0.1:0 "$@" --token-env HUB_LOAD_TOKEN \
    >/dev/null 2>"$err" &
  hub_pids+=($!)
  for _ in $(seq 1 200); do
    local url
    url=$(sed -n 's/.*listening on \(http:\/\/[^ ]*\) .*/\1/p' "$err")
    if [[ -n $url ]]; then
      urls+=(--url "$url")
      return 0
    fi
    sleep 0.05
  done
  echo "the hub did not start:" >&2
  cat "$err" >&2
  return 1
}

stop_hubs() {
  for pid in "${hub_pids[@]}"; do
    kill -TERM "$pid"
    wait "$pid" || true
  done
  hub_pids=()
}

status=0
for clients in $client_counts; do
  for setup in "file 1" "postgres 1" "postgres 2"; do
    read -r store hubs <<<"$setup"
    urls=()
    if [[ $store == file ]]; then
      start_hub --data "$work/files-$clients"
    else
      databases=$((databases + 1))
      db="bench_$databases"
      "$pg_bin/psql" -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres -Atc "CREATE DATABASE $db" >/dev/null
      for _ in $(seq 1 "$hubs"); do
        start_hub --store "postgres://postgres@127.0.0.1:$pg_port/$db"
      done
    fi
    echo "== $store store, $hubs hub(s), $clients clients"
    python3 bench/hub-load.py "${urls[@]}" --token "$token" --clients "$clients" --writes "$writes" \
      --records "$records" --layout "$layout" --max-seconds "$max_seconds" || status=1
    cpu=0
    for pid in "${hub_pids[@]}"; do
      cpu=$(awk -v tck="$(getconf CLK_TCK)" -v sum="$cpu" '{printf "%.2f", sum + ($14 + $15) / tck}' "/proc/$pid/stat")
    done
    echo "  hubs' CPU ${cpu} s (user+system)"
    stop_hubs
  done
done

echo "machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(uname -sr), $("$bin" --version), PostgreSQL $("$pg_bin/postgres" --version | awk '{print $3}')"
exit $status
