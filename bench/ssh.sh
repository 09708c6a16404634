#!/usr/bin/env bash
# Benchmark of ssh workspaces (profile.vm-haskell-build) on 10 loopback sshd
# "VMs" (not a test: nothing fails on a slow result). Starts its own VMs as in
# docs/testing.md (one sshd per VM, own host key and port, key-only, strict host key
# checking), builds the release binary, then measures with hyperfine:
#
#   1. a no-change plan of 1,000 sandboxes on 10 VMs (100 per VM, each syncing a
#      50-file repo), against the floor: one `ssh vmK true` through a fresh
#      connection to each of the 10 VMs, all 10 in parallel;
#   2. apply of 100 new workspaces with the 50-file repo on 10 VMs (state and
#      workspaces removed before each run);
#   3. a one-file resync: one file of the repo changed, apply updates those 100
#      workspaces;
#   4. the no-change plan of 1. with every VM's capabilities probed again
#      (`--capabilities-ttl 0s`: the facts and the profile's ghc and cabal
#      probes, in the same session as the listing), against 1., where the
#      catalog is young and nothing is probed;
#   and, for 2. and 3., the floor of plain `rsync -az --delete` of the repo into
#   100 folders through one ssh master per VM, 10 at a time.
#
#   bench/ssh.sh                 # 10 VMs, 1,000 + 100 sandboxes
#   RUNS=10 bench/ssh.sh         # more timed runs per figure (default 5)
#   BENCH_BASE_PORT=15000 bench/ssh.sh   # first port tried for the VMs (default 14220)
#   BIN=target/release/sandboxer bench/ssh.sh   # skip the build, time this binary
#
# Needs root (sshd), openssh-server, openssh-client, rsync, hyperfine. Results are
# written up in docs/benchmarks.md ("ssh workspaces: 10 VMs").
set -euo pipefail
cd "$(dirname "$0")/.."

vms=10
big=1000
small=100
files=50
runs=${RUNS:-5}
base_port=${BENCH_BASE_PORT:-14220}

for tool in /usr/sbin/sshd ssh ssh-keygen rsync hyperfine; do
  command -v "$tool" >/dev/null || { echo "bench/ssh.sh needs $tool" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "bench/ssh.sh runs sshd and must run as root" >&2; exit 1; }

# shellcheck source=bench/testbed.sh
. bench/testbed.sh
testbed_init
T=$TB_DIR

cleanup() {
  testbed_close_masters "$T/cm" # masters of the rsync floor, if the script stopped early
  testbed_teardown
}
trap cleanup EXIT

# --- the VMs, the repo and the manifests ---------------------------------------
testbed_start_vms "$vms" "$base_port"
testbed_wait_ready
logins() { testbed_logins "$1"; }
testbed_make_repo "$T/repo" "$files"
testbed_manifest "$T/big.yaml" big "$big" build "$T/repo"
testbed_manifest "$T/small.yaml" small "$small" b100 "$T/repo"

# --- the binary ----------------------------------------------------------------
if [ -n "${BIN:-}" ]; then
  bin=$(realpath "$BIN")
else
  cargo build --release --quiet
  bin=$PWD/target/release/sandboxer
fi
sbx=("$bin" --ssh-config "$T/ssh_config")

median_ms() { # hyperfine json -> median in ms
  local s
  s=$(grep -o '"median": *[0-9.eE+-]*' "$1" | head -1 | sed 's/.*: *//')
  awk -v s="$s" 'BEGIN { printf "%.0f", s * 1000 }'
}

# --- 1. no-change plan of 1,000 ----------------------------------------------
echo "== setting up $big workspaces (apply, not timed by hyperfine)"
start=$(date +%s%N)
"${sbx[@]}" --state-dir "$T/state-big" --quiet apply -f "$T/big.yaml" --auto-approve
end=$(date +%s%N)
first_apply_ms=$(((end - start) / 1000000))
count=$(find "$T"/vm*/build -mindepth 1 -maxdepth 1 -name 'sbx-*' | wc -l)
[ "$count" = "$big" ] || { echo "expected $big workspaces, found $count" >&2; exit 1; }
check=$("${sbx[@]}" --state-dir "$T/state-big" plan -f "$T/big.yaml")
case $check in "No changes."*) ;; *) echo "the plan is not empty:" >&2; echo "$check" | tail -3 >&2; exit 1 ;; esac
before=$(logins 1)
"${sbx[@]}" --state-dir "$T/state-big" plan -f "$T/big.yaml" >/dev/null
per_plan=$(($(logins 1) - before))

hyperfine --warmup 1 --runs "$runs" --export-json "$T/plan.json" \
  -n "no-change plan, $big sandboxes" \
  "${sbx[*]} --state-dir $T/state-big plan -f $T/big.yaml"
hyperfine --warmup 1 --runs "$runs" --export-json "$T/probe.json" \
  -n "no-change plan, $big sandboxes, every VM probed" \
  "${sbx[*]} --state-dir $T/state-big plan -f $T/big.yaml --capabilities-ttl 0s"
hyperfine --warmup 1 --runs "$runs" --export-json "$T/floor.json" \
  -n "floor: ssh vmK true x$vms in parallel, fresh connections" \
  "bash -c 'for k in \$(seq $vms); do ssh -F $T/ssh_config vm\$k true & done; wait'"

# --- 2. apply of 100 new workspaces -------------------------------------------
hyperfine --runs "$runs" --export-json "$T/apply.json" \
  --prepare "rm -rf $T/state-small $T/vm*/b100" \
  -n "apply, $small new workspaces x $files files" \
  "${sbx[*]} --state-dir $T/state-small --quiet apply -f $T/small.yaml --auto-approve"
count=$(find "$T"/vm*/b100 -mindepth 1 -maxdepth 1 -name 'sbx-*' | wc -l)
[ "$count" = "$small" ] || { echo "expected $small workspaces, found $count" >&2; exit 1; }

# --- 3. one file changed, resync of the 100 ------------------------------------
hyperfine --runs "$runs" --export-json "$T/resync.json" \
  --prepare "date +%s%N >$T/repo/src/M1.hs" \
  -n "resync, 1 of $files files changed, $small workspaces" \
  "${sbx[*]} --state-dir $T/state-small --quiet apply -f $T/small.yaml --auto-approve"
stamp=$(cat "$T/repo/src/M1.hs")
synced=$(grep -lx "$stamp" "$T"/vm*/b100/sbx-*/src/M1.hs | wc -l)
[ "$synced" = "$small" ] || { echo "the change reached $synced of $small workspaces" >&2; exit 1; }

# --- reference: plain rsync of the repo through one master per VM ---------------
# The copies of 2. and 3. without sandboxer: 100 rsyncs, 10 at a time.
mkdir -m 700 "$T/cm"
for ((k = 1; k <= vms; k++)); do
  ssh -F "$T/ssh_config" -o ControlMaster=yes -o "ControlPath=$T/cm/%C" -o ControlPersist=300 "vm$k" true
done
{
  echo '#!/usr/bin/env bash'
  echo "# rsync -az --delete of the repo into $small folders, spread over the $vms VMs, 10 at a time"
  echo "seq 0 $((small - 1)) | xargs -P 10 -I{} bash -c 'k=\$(( {} % $vms + 1 )); rsync -az --delete --mkpath -e \"ssh -F $T/ssh_config -o ControlPath=$T/cm/%C\" $T/repo/ vm\$k:$T/vm\$k/rsync/w{}/'"
} >"$T/rsync-all.sh"
chmod +x "$T/rsync-all.sh"
hyperfine --runs "$runs" --export-json "$T/rsync-new.json" --prepare "rm -rf $T/vm*/rsync" \
  -n "floor: $small x rsync into new folders through masters" "$T/rsync-all.sh"
hyperfine --runs "$runs" --export-json "$T/rsync-one.json" --prepare "date +%s%N >$T/repo/src/M1.hs" \
  -n "floor: $small x rsync, 1 file changed, through masters" "$T/rsync-all.sh"
count=$(find "$T"/vm*/rsync -mindepth 1 -maxdepth 1 -name 'w*' | wc -l)
[ "$count" = "$small" ] || { echo "the rsync floor made $count folders, not $small" >&2; exit 1; }
for ((k = 1; k <= vms; k++)); do
  ssh -F "$T/ssh_config" -o "ControlPath=$T/cm/%C" -O exit "vm$k" 2>/dev/null || true
done

plan_ms=$(median_ms "$T/plan.json")
probe_ms=$(median_ms "$T/probe.json")
floor_ms=$(median_ms "$T/floor.json")
apply_ms=$(median_ms "$T/apply.json")
resync_ms=$(median_ms "$T/resync.json")
rsync_new_ms=$(median_ms "$T/rsync-new.json")
rsync_one_ms=$(median_ms "$T/rsync-one.json")

echo
echo "ssh workspaces: $vms VMs (medians of $runs runs, hyperfine)"
echo "  no-change plan, $big sandboxes:          ${plan_ms} ms"
echo "  floor (ssh vmK true x$vms, parallel):      ${floor_ms} ms"
echo "  plan / floor:                             $(awk -v a="$plan_ms" -v b="$floor_ms" 'BEGIN { printf "%.2f", a / b }')"
echo "  ssh logins per VM per plan:               $per_plan"
echo "  the same plan, every VM probed:           ${probe_ms} ms"
echo "  apply, $small new workspaces x $files files:  ${apply_ms} ms"
echo "  resync, 1 file changed, $small workspaces:   ${resync_ms} ms"
echo "  floor: $small plain rsyncs, new folders:     ${rsync_new_ms} ms"
echo "  floor: $small plain rsyncs, 1 file changed:  ${rsync_one_ms} ms"
echo "  (setup: first apply of $big workspaces:   ${first_apply_ms} ms, one run)"
echo "  machine:   $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/.*: //')"
echo "  sandboxer: $("$bin" --version), $(rustc --version), $(ssh -V 2>&1), $(rsync --version | head -1)"
