#!/usr/bin/env bash
# sandboxer against its peers on ssh workspaces (not a test: nothing fails on a
# slow result). Starts the loopback test bed of bench/testbed.sh (one sshd per
# "VM", own host key and port, key-only, strict host key checking), by default
# 10 VMs x 10 workspaces of a 50-file repo (profile.vm-haskell-build), and times,
# each command as a whole process, in alternating rounds (round 1: the loop
# first, round 2: sandboxer first, ...):
#
#   1. first apply: the 100 workspaces from scratch (state and folders removed
#      before each round);
#   2. no-change plan, cold: `--ssh-persist 0`, no ssh master alive before or
#      after (checked), against the floor: one fresh `ssh vmK true` per VM, all
#      in parallel;
#   3. no-change plan, warm: a plan within the persist window of a previous run
#      (default `--ssh-persist 60s`), against the same floor;
#   4. no-change apply (`apply --auto-approve`), against the loop run again;
#   5. one-file edit then apply: one repo file rewritten with a unique stamp
#      before each run, in a later second than the edit before (rsync's quick
#      check takes a file of the same size and mtime second as unchanged); the
#      stamp is checked in every workspace afterwards.
#
# The loop is what operators run by hand: one ssh master per VM (opened before
# timing, ControlMaster=yes, ControlPersist=300) and one `rsync -az --delete` of
# the repo per workspace into its own folder, all at once (`&` each, then
# `wait`), or `xargs -P N` with LOOP_PARALLEL=N. With --ansible, an Ansible
# playbook does the same work for 1, 4 and 5 (`file` makes the folders,
# `ansible.posix.synchronize` copies the repo into each, forks 10, the same
# ssh_config and strict known_hosts, pipelining on, its own masters kept 60 s;
# synchronize opens a fresh ssh connection per copy, its default). Figures: median, min and max of the rounds, ssh logins per
# VM per run ("Accepted publickey" in vm1's log), and the ratio to the loop (or
# the floor).
#
# Then `sandboxer watch --debounce 200ms` on a manifest of WATCH_SANDBOXES
# workspaces (default 1, on VM 1; 100 gives the 10 x 10 of the figures above)
# syncing the same repo: SAVES times, one repo file gets a unique stamp, and the
# time until the stamp is in the first workspace of VM 1 and in all of them is
# taken (polled every 5 ms, 30 s
# at most), watch idle again before the next save; p50 and p95 of both. Then the
# CPU watch uses while left alone IDLE_SECONDS seconds (utime+stime from
# /proc/PID/stat), as % of one core.
#
#   bench/peers.sh [--ansible]
#   VMS=4 PER_VM=25 FILES=200 bench/peers.sh   # test bed size (default 10 x 10 x 50)
#   ROUNDS=9 bench/peers.sh                    # rounds per figure (default 5)
#   LOOP_PARALLEL=10 bench/peers.sh            # the loop through xargs -P 10 (default: all at once)
#   DEBOUNCE=500ms SAVES=20 IDLE_SECONDS=30 bench/peers.sh   # watch (default 200ms, 50, 60)
#   WATCH_SANDBOXES=100 bench/peers.sh         # workspaces watch keeps in sync (default 1)
#   BENCH_BASE_PORT=15000 bench/peers.sh       # first port tried for the VMs (default 14320)
#   BIN=target/release/sandboxer bench/peers.sh   # skip the build, time this binary
#   BENCH_TMPFS=1 bench/peers.sh               # everything on a fresh tmpfs: no disk in the figures
#
# Needs root (sshd), openssh-server, openssh-client, rsync, python3; ansible for
# --ansible. Everything it starts (sshd listeners and their children, ssh
# masters: sandboxer's live under its own XDG_RUNTIME_DIR in the temporary folder)
# is stopped by pid on exit. All traffic stays on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { echo "usage: bench/peers.sh [--ansible]   (knobs: VMS PER_VM FILES ROUNDS LOOP_PARALLEL DEBOUNCE SAVES IDLE_SECONDS BENCH_BASE_PORT BIN)"; }
with_ansible=false
for arg in "$@"; do
  case $arg in
    --ansible) with_ansible=true ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done

vms=${VMS:-10}
per_vm=${PER_VM:-10}
files=${FILES:-50}
rounds=${ROUNDS:-5}
loop_parallel=${LOOP_PARALLEL:-0}
debounce=${DEBOUNCE:-200ms}
saves=${SAVES:-50}
idle_seconds=${IDLE_SECONDS:-60}
watch_n=${WATCH_SANDBOXES:-1}
base_port=${BENCH_BASE_PORT:-14320}
for knob in vms per_vm files rounds loop_parallel saves idle_seconds watch_n base_port; do
  [[ ${!knob} =~ ^[0-9]+$ ]] || { echo "bench/peers.sh: ${knob^^} must be a whole number, not '${!knob}'" >&2; exit 2; }
done
((vms >= 1 && per_vm >= 1 && files >= 1 && rounds >= 1 && saves >= 1 && watch_n >= 1)) ||
  { echo "bench/peers.sh: VMS, PER_VM, FILES, ROUNDS, SAVES and WATCH_SANDBOXES must be at least 1" >&2; exit 2; }
n=$((vms * per_vm))

for tool in /usr/sbin/sshd ssh ssh-keygen rsync python3 pgrep timeout xargs getconf; do
  command -v "$tool" >/dev/null || { echo "bench/peers.sh needs $tool" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "bench/peers.sh runs sshd and must run as root" >&2; exit 1; }
if $with_ansible && ! command -v ansible-playbook >/dev/null; then
  echo "bench/peers.sh: ansible-playbook is not installed: the Ansible figures are skipped"
  with_ansible=false
fi

# shellcheck source=bench/testbed.sh
. bench/testbed.sh
testbed_init
T=$TB_DIR
watch_pid=

stop_watch() { # SIGTERM, then at most 30 s for it to end (SIGKILL after)
  local pid=$watch_pid state try
  [ -n "$pid" ] || return 0
  watch_pid=
  kill -TERM "$pid" 2>/dev/null || true
  for ((try = 0; try < 600; try++)); do
    state=$(awk '{ sub(/.*\) /, ""); print $1 }' "/proc/$pid/stat" 2>/dev/null || echo gone)
    case $state in Z | gone) break ;; esac
    sleep 0.05
  done
  case $state in Z | gone) ;; *) echo "watch did not stop within 30 s: killed" >&2; kill -KILL "$pid" 2>/dev/null || true ;; esac
  local rc=0
  wait "$pid" 2>/dev/null || rc=$?
  return "$rc"
}

cleanup() {
  stop_watch || true
  testbed_close_masters "$T/cm"
  testbed_close_masters "$T/run/sandboxer"
  testbed_close_masters "$T/ansible/cp"
  testbed_teardown
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# sandboxer's masters go to $XDG_RUNTIME_DIR/sandboxer: ours, inside the folder.
export XDG_RUNTIME_DIR=$T/run
mkdir -m 700 "$XDG_RUNTIME_DIR"
mkdir -p "$T/times" "$T/out"

# --- the VMs, the repo, the manifest --------------------------------------------
testbed_start_vms "$vms" "$base_port"
testbed_wait_ready
testbed_make_repo "$T/repo" "$files"
testbed_manifest "$T/peers.yaml" peers "$n" ws "$T/repo"
testbed_manifest "$T/watch.yaml" watch "$watch_n" wws "$T/repo"
edited=$T/repo/src/M1.hs

# --- the binary ----------------------------------------------------------------
if [ -n "${BIN:-}" ]; then
  bin=$(realpath "$BIN")
else
  cargo build --release --quiet
  bin=$PWD/target/release/sandboxer
fi
sbx=("$bin" --ssh-config "$T/ssh_config" --state-dir "$T/state")
wsbx=("$bin" --ssh-config "$T/ssh_config" --state-dir "$T/watch-state")

echo "== bench/peers.sh: $vms VMs x $per_vm workspaces x $files files, $rounds rounds"
echo "   machine:   $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/.*: //'), load average $(cut -d' ' -f1-3 /proc/loadavg), work folder on $(if [ -n "${TB_MOUNTED:-}" ]; then echo tmpfs; else df -PT "$T" | awk 'NR == 2 { print $2 }'; fi)"
echo "   versions:  $("$bin" --version), $(ssh -V 2>&1), $(rsync --version | sed -n '1s/  */ /gp'), $(python3 --version)"
if $with_ansible; then
  echo "   ansible:   $(ansible-playbook --version 2>&1 | sed -n 1p)"
fi

# --- the loop ---------------------------------------------------------------------
for ((i = 0; i < n; i++)); do
  k=$((i % vms + 1))
  echo "vm$k:$T/vm$k/loop/w$i/"
done >"$T/loop.dests"
mkdir -m 700 "$T/cm"
if ((loop_parallel > 0)); then
  fan_out="xargs -P $loop_parallel -I{} rsync -az --delete --mkpath -e \"\$e\" $T/repo/ {} <$T/loop.dests"
else
  fan_out="while read -r d; do rsync -az --delete --mkpath -e \"\$e\" $T/repo/ \"\$d\" & pids+=(\$!); done <$T/loop.dests"
fi
cat >"$T/loop.sh" <<EOF
#!/usr/bin/env bash
# rsync -az --delete of the repo into $n folders on $vms VMs, through one master per VM
set -u
e='ssh -F $T/ssh_config -o ControlPath=$T/cm/%C'
pids=()
$fan_out || exit 1
rc=0
for p in "\${pids[@]}"; do wait "\$p" || rc=1; done
exit \$rc
EOF
cat >"$T/floor.sh" <<EOF
#!/usr/bin/env bash
# one fresh ssh login per VM, all at once
pids=()
for k in \$(seq $vms); do ssh -F $T/ssh_config -o ControlPath=none vm\$k true & pids+=(\$!); done
rc=0
for p in "\${pids[@]}"; do wait "\$p" || rc=1; done
exit \$rc
EOF
chmod +x "$T/loop.sh" "$T/floor.sh"

loop_masters() { # the loop's masters, opened (untimed) where not alive
  local k
  for ((k = 1; k <= vms; k++)); do
    ssh -F "$T/ssh_config" -o "ControlPath=$T/cm/%C" -O check "vm$k" 2>/dev/null ||
      timeout 30 ssh -F "$T/ssh_config" -o ControlMaster=yes -o "ControlPath=$T/cm/%C" -o ControlPersist=300 "vm$k" true
  done
}

# --- ansible ------------------------------------------------------------------------
if $with_ansible; then
  A=$T/ansible
  mkdir -p "$A/home" "$A/local" "$A/remote"
  mkdir -m 700 "$A/cp"
  {
    echo "all:"
    echo "  children:"
    echo "    vms:"
    echo "      vars:"
    echo "        ansible_connection: ssh"
    echo "        ansible_ssh_common_args: -F $T/ssh_config"
    echo "        ansible_python_interpreter: /usr/bin/python3"
    echo "        bench_repo: $T/repo"
    echo "        bench_per_vm: $per_vm"
    echo "      hosts:"
    for ((k = 1; k <= vms; k++)); do
      echo "        vm$k: { bench_root: $T/vm$k/ans }"
    done
  } >"$A/inventory.yml"
  cat >"$A/playbook.yml" <<'EOF'
- hosts: vms
  gather_facts: false
  tasks:
    - name: workspace folders
      ansible.builtin.file:
        path: "{{ bench_root }}/w{{ item }}"
        state: directory
      loop: "{{ range(bench_per_vm | int) | list }}"
    - name: the repo in each workspace (rsync -az --delete)
      ansible.posix.synchronize:
        src: "{{ bench_repo }}/"
        dest: "{{ bench_root }}/w{{ item }}/"
        delete: true
        verify_host: true
        use_ssh_args: true
      loop: "{{ range(bench_per_vm | int) | list }}"
EOF
  cat >"$A/ansible.cfg" <<EOF
[defaults]
inventory = $A/inventory.yml
forks = 10
gathering = explicit
host_key_checking = True
local_tmp = $A/local
remote_tmp = $A/remote
retry_files_enabled = False
pipelining = True
interpreter_python = /usr/bin/python3
nocolor = True

[ssh_connection]
control_path_dir = $A/cp
EOF
  ansible_run() {
    env HOME="$A/home" ANSIBLE_HOME="$A/home/.ansible" ANSIBLE_CONFIG="$A/ansible.cfg" \
      ANSIBLE_LOCAL_TEMP="$A/local" ANSIBLE_REMOTE_TEMP="$A/remote" ANSIBLE_HOST_KEY_CHECKING=True \
      ANSIBLE_NOCOLOR=1 ANSIBLE_FORKS=10 ANSIBLE_GATHERING=explicit ANSIBLE_PIPELINING=True \
      ansible-playbook "$A/playbook.yml"
  }
fi

# --- contestants ----------------------------------------------------------------------
# run_<figure>_<who> is timed; prep_/check_ functions around it are not.
# Workspace folders of each contestant, for the checks:
ws_sandboxer() { printf '%s\n' "$T"/vm*/ws/sbx-*; }
ws_loop() { printf '%s\n' "$T"/vm*/loop/w*; }
ws_ansible() { printf '%s\n' "$T"/vm*/ans/w*; }

count_ws() { # who -> folders that hold the whole repo
  local d c=0
  while read -r d; do
    [ -f "$d/src/M$files.hs" ] && c=$((c + 1))
  done < <("ws_$1")
  echo "$c"
}

expect_all() { # who
  local c
  c=$(count_ws "$1")
  [ "$c" = "$n" ] || { echo "$1: expected $n workspaces with the repo, found $c" >&2; exit 1; }
}

expect_stamp() { # who stamp
  local c
  c=$("ws_$1" | sed 's|$|/src/M1.hs|' | { xargs grep -lxF -- "$2" || true; } | wc -l)
  [ "$c" = "$n" ] || { echo "$1: the edit reached $c of $n workspaces" >&2; exit 1; }
}

expect_no_changes() { # output file
  grep -q '^No changes\.' "$1" || { echo "sandboxer changed something where nothing should:" >&2; tail -5 "$1" >&2; exit 1; }
}

sbx_masters() { testbed_master_pids "$T/run/sandboxer" | wc -l; }

no_sbx_master_left() { # 5 s at most for them to go
  local try
  for ((try = 0; try < 100; try++)); do
    [ "$(sbx_masters)" = 0 ] && return 0
    sleep 0.05
  done
  echo "sandboxer's ssh masters are still alive:" >&2
  ps -o pid,args -p "$(testbed_master_pids "$T/run/sandboxer" | paste -sd,)" >&2 || true
  exit 1
}

# Like the loop's, sandboxer's masters are up before a timed apply: a run longer
# than the persist window in between (Ansible's) lets them go, so an untimed plan
# opens them again.
sbx_warm() {
  if [ "$(sbx_masters)" != "$vms" ]; then
    "${sbx[@]}" plan -f "$T/peers.yaml" >"$T/out/warm-up.log" 2>&1 || { tail -5 "$T/out/warm-up.log" >&2; exit 1; }
  fi
}

# 1. first apply
prep_first_loop() { rm -rf "$T"/vm*/loop; loop_masters; }
run_first_loop() { "$T/loop.sh"; }
check_first_loop() { expect_all loop; }
prep_first_sandboxer() { sbx_warm; rm -rf "$T/state" "$T"/vm*/ws; }
run_first_sandboxer() { "${sbx[@]}" apply -f "$T/peers.yaml" --auto-approve; }
check_first_sandboxer() { expect_all sandboxer; }
prep_first_ansible() { rm -rf "$T"/vm*/ans; }
run_first_ansible() { ansible_run; }
check_first_ansible() { expect_all ansible; }

# 2. no-change plan, cold
prep_cold_floor() { :; }
run_cold_floor() { "$T/floor.sh"; }
prep_cold_sandboxer() {
  testbed_close_masters "$T/run/sandboxer"
  no_sbx_master_left
}
run_cold_sandboxer() { "${sbx[@]}" --ssh-persist 0 plan -f "$T/peers.yaml"; }
check_cold_sandboxer() {
  expect_no_changes "$1"
  no_sbx_master_left
}

# 3. no-change plan, warm (the floor is timed again in these rounds)
run_warm_floor() { "$T/floor.sh"; }
prep_warm_sandboxer() {
  "${sbx[@]}" plan -f "$T/peers.yaml" >/dev/null
  [ "$(sbx_masters)" = "$vms" ] || { echo "expected $vms warm sandboxer masters, found $(sbx_masters)" >&2; exit 1; }
}
run_warm_sandboxer() { "${sbx[@]}" plan -f "$T/peers.yaml"; }
check_warm_sandboxer() { expect_no_changes "$1"; }

# 4. no-change apply
prep_noop_loop() { loop_masters; }
run_noop_loop() { "$T/loop.sh"; }
prep_noop_sandboxer() { sbx_warm; }
run_noop_sandboxer() { "${sbx[@]}" apply -f "$T/peers.yaml" --auto-approve; }
check_noop_sandboxer() { expect_no_changes "$1"; }
run_noop_ansible() { ansible_run; }
check_noop_ansible() {
  ! grep -q 'changed=[1-9]' "$1" || { echo "ansible changed something in a no-change run" >&2; exit 1; }
}

# 5. one-file edit then apply
# rsync's quick check takes a file of the same size and the same mtime second as
# unchanged: each edit is written in a later second than the one before (up to
# 1 s untimed), else the loop and Ansible would miss it.
stamp=
stamp_second=0
new_stamp() { # who
  local try mtime
  for ((try = 0; try < 100; try++)); do
    stamp="stamp $(date +%s%N) $1"
    echo "$stamp" >"$edited"
    mtime=$(stat -c %Y "$edited")
    if ((mtime > stamp_second)); then
      stamp_second=$mtime
      return 0
    fi
    sleep 0.03
  done
  echo "the clock did not move on within 3 s" >&2
  exit 1
}
prep_edit_loop() { new_stamp loop; loop_masters; }
run_edit_loop() { "$T/loop.sh"; }
check_edit_loop() { expect_stamp loop "$stamp"; }
prep_edit_sandboxer() { sbx_warm; new_stamp sandboxer; }
run_edit_sandboxer() { "${sbx[@]}" apply -f "$T/peers.yaml" --auto-approve; }
check_edit_sandboxer() { expect_stamp sandboxer "$stamp"; }
prep_edit_ansible() { new_stamp ansible; }
run_edit_ansible() { ansible_run; }
check_edit_ansible() { expect_stamp ansible "$stamp"; }

# One timed run: prep, the run as a whole process, its logins on vm1, check.
timed() { # figure who round
  local fig=$1 who=$2 round=$3 log t0 t1 before
  log=$T/out/$fig.$who.$round.log
  if declare -F "prep_${fig}_$who" >/dev/null; then "prep_${fig}_$who"; fi
  before=$(testbed_logins 1)
  t0=$(date +%s%N)
  if ! "run_${fig}_$who" >"$log" 2>&1; then
    echo "$who failed in figure '$fig', round $round:" >&2
    tail -20 "$log" >&2
    exit 1
  fi
  t1=$(date +%s%N)
  echo $(((t1 - t0) / 1000000)) >>"$T/times/$fig.$who"
  echo $(($(testbed_logins 1) - before)) >>"$T/times/$fig.$who.logins"
  if declare -F "check_${fig}_$who" >/dev/null; then "check_${fig}_$who" "$log"; fi
}

rounds_of() { # figure who... (in round 1's order; every other round reversed)
  local fig=$1 r i
  shift
  local -a who=("$@")
  for ((r = 1; r <= rounds; r++)); do
    if ((r % 2 == 1)); then
      for ((i = 0; i < ${#who[@]}; i++)); do timed "$fig" "${who[i]}" "$r"; done
    else
      for ((i = ${#who[@]} - 1; i >= 0; i--)); do timed "$fig" "${who[i]}" "$r"; done
    fi
    printf '.'
  done
  echo
}

peers=(loop sandboxer)
if $with_ansible; then peers+=(ansible); fi

# --- set-up (untimed): each contestant once, which also checks it works --------
echo "== set-up: one untimed run of each"
"${sbx[@]}" apply -f "$T/peers.yaml" --auto-approve >"$T/out/setup.sandboxer.log" 2>&1 ||
  { tail -20 "$T/out/setup.sandboxer.log" >&2; exit 1; }
expect_all sandboxer
"${sbx[@]}" plan -f "$T/peers.yaml" >"$T/out/setup.plan.log" 2>&1 || { tail -5 "$T/out/setup.plan.log" >&2; exit 1; }
expect_no_changes "$T/out/setup.plan.log"
loop_masters
"$T/loop.sh" >"$T/out/setup.loop.log" 2>&1 || { tail -20 "$T/out/setup.loop.log" >&2; exit 1; }
expect_all loop
if $with_ansible; then
  ansible_run >"$T/out/setup.ansible.log" 2>&1 || { tail -30 "$T/out/setup.ansible.log" >&2; exit 1; }
  expect_all ansible
fi

echo "== 1. first apply ($rounds rounds: ${peers[*]})"
rounds_of first "${peers[@]}"
echo "== 2. no-change plan, cold"
rounds_of cold floor sandboxer
echo "== 3. no-change plan, warm"
rounds_of warm floor sandboxer
echo "== 4. no-change apply"
rounds_of noop "${peers[@]}"
echo "== 5. one-file edit, then apply"
rounds_of edit "${peers[@]}"

# --- watch ------------------------------------------------------------------------
echo "== watch: $watch_n workspace(s), $saves saves, debounce $debounce, then ${idle_seconds} s idle"
"${wsbx[@]}" apply -f "$T/watch.yaml" --auto-approve >"$T/out/watch-setup.log" 2>&1 ||
  { tail -20 "$T/out/watch-setup.log" >&2; exit 1; }
first_ws=$("${wsbx[@]}" inspect sandbox.app-0000 -f "$T/watch.yaml" --json |
  grep -o "$T/vm1/wws/sbx-[a-z0-9]*" | sed -n 1p)
[ -d "$first_ws" ] || { echo "cannot find the workspace of sandbox.app-0000 on vm1" >&2; exit 1; }
printf '%s\n' "$T"/vm*/wws/sbx-* >"$T/watch.ws"
[ "$(wc -l <"$T/watch.ws")" = "$watch_n" ] || { echo "expected $watch_n workspaces before watch" >&2; exit 1; }

"${wsbx[@]}" watch -f "$T/watch.yaml" --debounce "$debounce" >"$T/watch.out" 2>"$T/watch.err" &
watch_pid=$!

# Watch prints "Changed: ..." on stderr when a cycle starts and "Watching ... for
# changes" when it ends; it is idle when there is one more of the latter.
cat >"$T/watch.py" <<'EOF'
import os, sys, time

err, edited, first_ws, ws_list, saves, out = sys.argv[1:7]
saves = int(saves)
workspaces = [line.strip() for line in open(ws_list) if line.strip()]
pid = int(os.environ["WATCH_PID"])

def counts():
    with open(err, errors="replace") as f:
        text = f.read()
    return text.count("\nChanged: ") + text.startswith("Changed: "), text.count("Watching ")

def alive():
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(") ", 1)[1].split()[0] != "Z"
    except OSError:
        return False

def wait_idle(cycles_at_least, deadline_s):
    end = time.monotonic() + deadline_s
    while True:
        changed, watching = counts()
        if changed >= cycles_at_least and watching == changed + 1:
            return changed
        if not alive():
            sys.exit("watch exited")
        if time.monotonic() > end:
            sys.exit(f"watch not idle after {deadline_s} s (cycles {changed}, idle lines {watching})")
        time.sleep(0.02)

def has(path, stamp):
    try:
        with open(path + "/src/M1.hs") as f:
            return f.read() == stamp
    except OSError:
        return False

cycles = wait_idle(0, 120)
with open(out, "w") as results:
    for i in range(saves):
        stamp = f"save {i} {time.time_ns()}\n"
        with open(edited, "w") as f:
            f.write(stamp)
        t0 = time.monotonic()
        first = None
        pending = set(workspaces)
        while True:
            now = time.monotonic()
            if first is None and has(first_ws, stamp):
                first = now - t0
            pending = {w for w in pending if not has(w, stamp)}
            if first is not None and not pending:
                every = now - t0
                break
            if now - t0 > 30:
                sys.exit(f"save {i}: the stamp reached {len(workspaces) - len(pending)} of {len(workspaces)} workspaces in 30 s")
            time.sleep(0.005)
        after = wait_idle(cycles + 1, 60)
        results.write(f"{first * 1000:.1f} {every * 1000:.1f} {after - cycles}\n")
        cycles = after
        print(".", end="", flush=True)
print()
EOF
WATCH_PID=$watch_pid python3 "$T/watch.py" "$T/watch.err" "$edited" "$first_ws" "$T/watch.ws" "$saves" "$T/times/watch" ||
  { echo "watch scenario failed; watch said:" >&2; tail -20 "$T/watch.err" >&2; exit 1; }

cpu_ticks() { # utime + stime of a process
  awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"
}
cycles_before=$(grep -c '^Changed: ' "$T/watch.err" || true)
ticks0=$(cpu_ticks "$watch_pid")
t0=$(date +%s%N)
sleep "$idle_seconds"
ticks1=$(cpu_ticks "$watch_pid")
t1=$(date +%s%N)
cycles_idle=$(($(grep -c '^Changed: ' "$T/watch.err" || true) - cycles_before))
clk_tck=$(getconf CLK_TCK)
idle_cpu=$(awk -v d=$((ticks1 - ticks0)) -v hz="$clk_tck" -v ns=$((t1 - t0)) 'BEGIN { printf "%.3f", d / hz / (ns / 1e9) * 100 }')
idle_ticks=$((ticks1 - ticks0))
stop_watch || { echo "watch exited with status $? on SIGTERM" >&2; tail -5 "$T/watch.err" >&2; exit 1; }
grep -q '^Stopped watching\.' "$T/watch.err" || { echo "watch did not say it stopped" >&2; tail -5 "$T/watch.err" >&2; exit 1; }

# --- summary --------------------------------------------------------------------------
echo
python3 - "$T/times" "$n" "$files" "$rounds" "$debounce" "$saves" "$idle_seconds" "$idle_cpu" "$idle_ticks" "$clk_tck" "$cycles_idle" "$loop_parallel" "$watch_n" <<'EOF'
import math, os, statistics, sys

times, n, files, rounds, debounce, saves, idle_s, idle_cpu, idle_ticks, hz, cycles_idle, loop_parallel, watch_n = sys.argv[1:]

def samples(name):
    path = os.path.join(times, name)
    if not os.path.exists(path):
        return None
    return [float(x) for x in open(path).read().split()]

def s(ms):
    return f"{ms / 1000:.3f} s" if ms >= 1000 else f"{ms:.0f} ms"

loop_how = f"xargs -P {loop_parallel}" if loop_parallel != "0" else "all at once"
figures = [
    ("first", f"1. first apply, {n} new workspaces x {files} files", "loop", "first apply"),
    ("cold", "2. no-change plan, cold (--ssh-persist 0)", "floor", "cold plan"),
    ("warm", "3. no-change plan, warm masters", "floor", "warm plan"),
    ("noop", "4. no-change apply", "loop", "no-change apply"),
    ("edit", f"5. one-file edit, apply to {n} workspaces", "loop", "one-file edit"),
]
names = {"loop": f"loop ({loop_how})", "floor": "floor: ssh vmK true, fresh", "sandboxer": "sandboxer", "ansible": "ansible"}
print(f"sandboxer vs peers: medians of {rounds} alternating rounds (min-max), ssh logins per VM per run")
ratios = []
for fig, title, base, short in figures:
    print(f"  {title}")
    base_ms = statistics.median(samples(f"{fig}.{base}"))
    for who in (base, "sandboxer", "ansible"):
        xs = samples(f"{fig}.{who}")
        if xs is None:
            continue
        logins = statistics.median(samples(f"{fig}.{who}.logins"))
        med = statistics.median(xs)
        ratio = "" if who == base else f"   {med / base_ms:.2f}x the {base}"
        print(f"    {names[who]:<28} {s(med):>9}  ({s(min(xs))}-{s(max(xs))})  logins {logins:g}{ratio}")
        if who != base:
            ratios.append((short + ("" if who == "sandboxer" else " (ansible)"), med / base_ms))
print("  ratios:", ", ".join(f"{t}: {r:.2f}x" for t, r in ratios))

w = [line.split() for line in open(os.path.join(times, "watch"))]
first = sorted(float(x[0]) for x in w)
every = sorted(float(x[1]) for x in w)
cycles = [int(x[2]) for x in w]
def pct(xs, p):
    return xs[max(0, math.ceil(p / 100 * len(xs)) - 1)]
print(f"  watch of {watch_n} workspace(s), debounce {debounce}, {saves} saves of one repo file (cycles per save: {min(cycles)}-{max(cycles)})")
print(f"    save -> first workspace of vm1:     p50 {s(pct(first, 50))}, p95 {s(pct(first, 95))} (max {s(first[-1])})")
print(f"    save -> all {watch_n} workspace(s):       p50 {s(pct(every, 50))}, p95 {s(pct(every, 95))} (max {s(every[-1])})")
print(f"    idle CPU over {idle_s} s:               {idle_cpu}% of one core ({idle_ticks} ticks at {hz}/s; {cycles_idle} cycles meanwhile)")
EOF
echo "  load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
