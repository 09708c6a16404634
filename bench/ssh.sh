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
sshd_bin=/usr/sbin/sshd

for tool in "$sshd_bin" ssh ssh-keygen rsync hyperfine; do
  command -v "$tool" >/dev/null || { echo "bench/ssh.sh needs $tool" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "bench/ssh.sh runs sshd and must run as root" >&2; exit 1; }

# A short folder: ssh control socket paths must fit 107 bytes.
T=$(mktemp -d /tmp/sbxb.XXXXXX)
listeners=()

# --- teardown ------------------------------------------------------------------
descendants() { # pid -> every live process below it (from /proc/*/stat), by pid
  local parent=$1 stat rest pid
  for stat in /proc/[0-9]*/stat; do
    { IFS= read -r line <"$stat"; } 2>/dev/null || continue
    rest=${line##*) }
    set -- $rest # $1 state, $2 ppid
    if [ "${2:-}" = "$parent" ] && [ "$1" != Z ]; then
      pid=${stat#/proc/}
      pid=${pid%/stat}
      echo "$pid"
      descendants "$pid"
    fi
  done
}

cleanup() {
  local pid kids socket
  for socket in "$T"/cm/*; do # masters of the rsync floor, if the script stopped early
    [ -S "$socket" ] && ssh -o "ControlPath=$socket" -O exit _bench 2>/dev/null
  done
  for pid in "${listeners[@]}"; do
    # Per-connection sshd processes outlive the listener: find them first.
    kids=$(descendants "$pid" | tr '\n' ' ')
    kill -TERM "$pid" $kids 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$T"
}
trap cleanup EXIT

# --- the VMs -------------------------------------------------------------------
mkdir -p /run/sshd && chmod 0755 /run/sshd
ssh-keygen -q -t ed25519 -N '' -C bench-client -f "$T/id_ed25519"
cp "$T/id_ed25519.pub" "$T/authorized_keys"

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

port=$base_port
: >"$T/known_hosts"
: >"$T/ssh_config"
for ((k = 1; k <= vms; k++)); do
  while ! port_free "$port"; do port=$((port + 1)); done
  d=$T/vm$k
  mkdir -p "$d/build"
  ssh-keygen -q -t ed25519 -N '' -C "vm$k" -f "$d/ssh_host_ed25519_key"
  cat >"$d/sshd_config" <<EOF
Port $port
ListenAddress 127.0.0.1
HostKey $d/ssh_host_ed25519_key
PidFile none
AuthorizedKeysFile $T/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
UseDNS no
PrintMotd no
PrintLastLog no
X11Forwarding no
MaxSessions 256
MaxStartups 200:30:400
LogLevel INFO
SetEnv SHLVL=1 TESTBED_VM=vm$k TESTBED_ROOT=$d/build
Subsystem sftp internal-sftp
EOF
  "$sshd_bin" -D -e -f "$d/sshd_config" 2>>"$d/sshd.log" </dev/null &
  listeners+=($!)
  echo "[127.0.0.1]:$port $(cut -d' ' -f1,2 "$d/ssh_host_ed25519_key.pub")" >>"$T/known_hosts"
  cat >>"$T/ssh_config" <<EOF
Host vm$k
  HostName 127.0.0.1
  Port $port
  User root
  IdentityFile $T/id_ed25519
  IdentitiesOnly yes
  UserKnownHostsFile $T/known_hosts
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
  UpdateHostKeys no
  CheckHostIP no
  BatchMode yes

EOF
  eval "port_$k=$port"
  port=$((port + 1))
done
cat >>"$T/ssh_config" <<EOF
# last: an unknown alias hits a closed loopback port instead of DNS
Host *
  HostName 127.0.0.1
  Port 1
  BatchMode yes
EOF

# Readiness: each sshd logged that it listens and answers with its banner.
for ((k = 1; k <= vms; k++)); do
  eval "p=\$port_$k"
  for ((try = 0; ; try++)); do
    if grep -q "Server listening on 127.0.0.1 port $p" "$T/vm$k/sshd.log" 2>/dev/null &&
      [ "$(timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$p; head -c 7 <&3" 2>/dev/null)" = SSH-2.0 ]; then
      break
    fi
    ((try < 250)) || { echo "vm$k did not start:" >&2; cat "$T/vm$k/sshd.log" >&2; exit 1; }
    sleep 0.02
  done
done
for ((k = 1; k <= vms; k++)); do
  [ "$(ssh -F "$T/ssh_config" "vm$k" 'echo $TESTBED_VM')" = "vm$k" ] || { echo "vm$k does not answer" >&2; exit 1; }
done
logins() { # vm number -> "Accepted publickey" lines so far
  grep -c "Accepted publickey" "$T/vm$1/sshd.log" || true
}

# --- the repo and the manifests ------------------------------------------------
mkdir -p "$T/repo/src"
for ((i = 1; i <= files; i++)); do
  # about 2 KiB of text each
  for ((l = 0; l < 40; l++)); do echo "module M$i where -- line $l of file $i, some text"; done >"$T/repo/src/M$i.hs"
done

manifest() { # file project count root-folder-name
  local file=$1 project=$2 n=$3 rootname=$4 i k
  {
    echo "version: 1"
    echo "project: $project"
    echo "sandboxes:"
    for ((i = 0; i < n; i++)); do
      k=$((i % vms + 1))
      printf '  app-%04d:\n    profile: profile.vm-haskell-build\n    inputs:\n      vm: vm%d\n      workspace_root: %s\n      repo: %s\n' \
        "$i" "$k" "$T/vm$k/$rootname" "$T/repo"
    done
  } >"$file"
}
manifest "$T/big.yaml" big "$big" build
manifest "$T/small.yaml" small "$small" b100

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
echo "  apply, $small new workspaces x $files files:  ${apply_ms} ms"
echo "  resync, 1 file changed, $small workspaces:   ${resync_ms} ms"
echo "  floor: $small plain rsyncs, new folders:     ${rsync_new_ms} ms"
echo "  floor: $small plain rsyncs, 1 file changed:  ${rsync_one_ms} ms"
echo "  (setup: first apply of $big workspaces:   ${first_apply_ms} ms, one run)"
echo "  machine:   $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/.*: //')"
echo "  sandboxer: $("$bin" --version), $(rustc --version), $(ssh -V 2>&1), $(rsync --version | head -1)"
