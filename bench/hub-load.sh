#!/usr/bin/env bash
# Load check of the State Hub (not a test: nothing fails on a slow result): a
# release `sandboxer hub serve` on loopback with a token and a fresh data folder,
# and bench/hub-load.py (Python 3, standard library only) with CLIENTS threads
# each doing WRITES record PUTs and as many note POSTs over a keep-alive
# connection. Runs two layouts: every client in its own project, then all of
# them in one shared project. Prints requests/s and p50/p99 latency; also the
# fsync latency of the data folder's disk, which bounds a write.
#
#   bench/hub-load.sh                   # 50 clients x 40 writes (+40 notes)
#   CLIENTS=50 WRITES=100 bench/hub-load.sh
#   BENCH_DATA_DIR=/dev/shm bench/hub-load.sh      # data folder elsewhere (tmpfs: no fsync cost)
#   BIN=target/release/sandboxer bench/hub-load.sh  # skip the build
#
# Results are written up in docs/benchmarks.md ("State Hub: 50 concurrent clients").
set -euo pipefail
cd "$(dirname "$0")/.."

clients=${CLIENTS:-50}
writes=${WRITES:-40}
records=${RECORDS:-5}
max_seconds=${MAX_SECONDS:-120}

bin=${BIN:-}
if [[ -z $bin ]]; then
  cargo build --release --quiet
  bin=target/release/sandboxer
fi

work=$(mktemp -d "${BENCH_DATA_DIR:-${TMPDIR:-/tmp}}/hub-load.XXXXXX")
hub_pid=
cleanup() {
  if [[ -n $hub_pid ]] && kill -0 "$hub_pid" 2>/dev/null; then
    kill -TERM "$hub_pid" 2>/dev/null || true
    wait "$hub_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

token=bench-$RANDOM-$RANDOM

# fsync latency of this disk: one small file rewritten and fsynced 200 times.
python3 - "$work" <<'EOF'
import os, sys, time
path = os.path.join(sys.argv[1], "fsync-probe")
lat = []
for i in range(200):
    t0 = time.perf_counter()
    with open(path, "wb") as f:
        f.write(b"x" * 2048)
        f.flush()
        os.fsync(f.fileno())
    lat.append(time.perf_counter() - t0)
os.remove(path)
lat.sort()
print("fsync of a 2 KiB file on the data disk: p50 %.2f ms, p99 %.2f ms"
      % (lat[len(lat) // 2] * 1000, lat[int(len(lat) * 0.99)] * 1000))
EOF

# Starts a hub on data folder $1; sets hub_pid and url. (Not run inside $(...):
# the hub in the background would hold the substitution's pipe open.)
start_hub() {
  local data=$1
  HUB_LOAD_TOKEN=$token "$bin" hub serve --listen 127.0.0.1:0 --data "$data" --token-env HUB_LOAD_TOKEN \
    >/dev/null 2>"$work/hub.err" &
  hub_pid=$!
  for _ in $(seq 1 200); do
    url=$(sed -n 's/.*listening on \(http:\/\/[^ ]*\) .*/\1/p' "$work/hub.err")
    if [[ -n $url ]]; then
      return 0
    fi
    sleep 0.05
  done
  echo "the hub did not start:" >&2
  cat "$work/hub.err" >&2
  return 1
}

stop_hub() {
  kill -TERM "$hub_pid"
  wait "$hub_pid"
  hub_pid=
}

status=0
for layout in per-client shared; do
  start_hub "$work/data-$layout"
  python3 bench/hub-load.py --url "$url" --token "$token" --clients "$clients" --writes "$writes" \
    --records "$records" --layout "$layout" --max-seconds "$max_seconds" || status=1
  peak=$(grep VmHWM "/proc/$hub_pid/status" | awk '{print $2 " " $3}')
  cpu=$(awk -v tck="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / tck}' "/proc/$hub_pid/stat")
  echo "  hub peak RSS $peak; hub CPU ${cpu} s (user+system); data folder $(du -sh "$work/data-$layout" | cut -f1)"
  stop_hub
done

echo "machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(uname -sr), $("$bin" --version)"
exit $status
