# shellcheck shell=bash
# The loopback "VMs" of the ssh benchmarks, sourced by bench/ssh.sh and
# bench/peers.sh (not run on its own). One `sshd -D` per VM on 127.0.0.1, each
# with its own host key and port, key-only, strict host key checking through the
# ssh_config and known_hosts it writes (docs/testing.md describes the test bed).
#
#   testbed_init                      # TB_DIR: a new short folder under /tmp (a tmpfs with BENCH_TMPFS=1)
#   testbed_start_vms N [BASE_PORT]   # vm1..vmN, $TB_DIR/ssh_config, $TB_DIR/known_hosts
#   testbed_wait_ready                # each sshd listens, greets and answers as itself
#   testbed_logins K                  # "Accepted publickey" lines of vmK so far
#   testbed_make_repo DIR FILES       # FILES files of about 2 KiB in DIR/src
#   testbed_manifest FILE PROJECT COUNT ROOTNAME REPO   # COUNT sandboxes over the VMs
#   testbed_close_masters DIR         # end the ssh masters whose sockets are in DIR
#   testbed_teardown                  # stop the sshd listeners and their children, remove TB_DIR
#
# The caller needs root (sshd), sets its own EXIT trap and calls
# testbed_teardown from it. Every wait here has a deadline.

TB_DIR=
TB_VMS=0
TB_LISTENERS=()
TB_PORTS=()
TB_SSHD=${TB_SSHD:-/usr/sbin/sshd}

testbed_init() {
  # A short folder: ssh control socket paths must fit 107 bytes.
  TB_DIR=$(mktemp -d /tmp/sbxb.XXXXXX)
  # BENCH_TMPFS=1: the folder (VMs' workspace roots, repo, state) on a fresh
  # tmpfs, where no inode allocation or fsync waits for a disk: what is left is
  # the contestants' own work. On ext4, a first apply right after the last
  # round removed its 10,000 files spends much of its time finding inodes.
  TB_MOUNTED=
  if [ -n "${BENCH_TMPFS:-}" ] && [ "${BENCH_TMPFS}" != 0 ]; then
    mount -t tmpfs -o size=4g,mode=0700 sandboxer-bench "$TB_DIR" && TB_MOUNTED=$TB_DIR
  fi
  TB_VMS=0
  TB_LISTENERS=()
  TB_PORTS=()
}

# pid -> every live process below it (from /proc/*/stat), by pid
testbed_descendants() {
  local parent=$1 stat line rest pid
  local -a fields
  for stat in /proc/[0-9]*/stat; do
    { IFS= read -r line <"$stat"; } 2>/dev/null || continue
    rest=${line##*) }
    read -r -a fields <<<"$rest" # state, ppid, ...
    if [ "${fields[1]:-}" = "$parent" ] && [ "${fields[0]}" != Z ]; then
      pid=${stat#/proc/}
      pid=${pid%/stat}
      echo "$pid"
      testbed_descendants "$pid"
    fi
  done
}

# pids of ssh masters whose control socket is in DIR: "ssh -S <socket> -M ..."
# (started as masters), or "ssh: <socket> [mux]" (backgrounded by ControlPersist)
testbed_master_pids() {
  pgrep -f -- "^ssh(: | .* -S )$1/" || true
}

testbed_close_masters() {
  local dir=$1 socket pid
  [ -d "$dir" ] || return 0
  for socket in "$dir"/*; do
    [ -S "$socket" ] || continue
    timeout 5 ssh -F /dev/null -o "ControlPath=$socket" -O exit _testbed >/dev/null 2>&1 || true
  done
  # A master that did not take the exit, or whose socket is gone: by pid.
  for pid in $(testbed_master_pids "$dir"); do
    kill -TERM "$pid" 2>/dev/null || true
  done
}

testbed_teardown() {
  local pid
  local -a kids
  for pid in "${TB_LISTENERS[@]}"; do
    # Per-connection sshd processes outlive the listener: find them first.
    mapfile -t kids < <(testbed_descendants "$pid")
    kill -TERM "$pid" "${kids[@]}" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  TB_LISTENERS=()
  if [ -n "${TB_MOUNTED:-}" ]; then
    umount "$TB_MOUNTED" 2>/dev/null || umount -l "$TB_MOUNTED" 2>/dev/null || true
    TB_MOUNTED=
  fi
  if [ -n "$TB_DIR" ] && [ -d "$TB_DIR" ]; then
    rm -rf "$TB_DIR"
  fi
}

testbed_port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

testbed_start_vms() {
  local n=$1 port=${2:-14220} k d
  TB_VMS=$n
  mkdir -p /run/sshd && chmod 0755 /run/sshd
  ssh-keygen -q -t ed25519 -N '' -C bench-client -f "$TB_DIR/id_ed25519"
  cp "$TB_DIR/id_ed25519.pub" "$TB_DIR/authorized_keys"
  : >"$TB_DIR/known_hosts"
  : >"$TB_DIR/ssh_config"
  for ((k = 1; k <= n; k++)); do
    while ! testbed_port_free "$port"; do port=$((port + 1)); done
    d=$TB_DIR/vm$k
    mkdir -p "$d/build"
    ssh-keygen -q -t ed25519 -N '' -C "vm$k" -f "$d/ssh_host_ed25519_key"
    cat >"$d/sshd_config" <<EOF
Port $port
ListenAddress 127.0.0.1
HostKey $d/ssh_host_ed25519_key
PidFile none
AuthorizedKeysFile $TB_DIR/authorized_keys
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
    "$TB_SSHD" -D -e -f "$d/sshd_config" 2>>"$d/sshd.log" </dev/null &
    TB_LISTENERS+=("$!")
    echo "[127.0.0.1]:$port $(cut -d' ' -f1,2 "$d/ssh_host_ed25519_key.pub")" >>"$TB_DIR/known_hosts"
    cat >>"$TB_DIR/ssh_config" <<EOF
Host vm$k
  HostName 127.0.0.1
  Port $port
  User root
  IdentityFile $TB_DIR/id_ed25519
  IdentitiesOnly yes
  UserKnownHostsFile $TB_DIR/known_hosts
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
  UpdateHostKeys no
  CheckHostIP no
  BatchMode yes

EOF
    TB_PORTS[k]=$port
    port=$((port + 1))
  done
  cat >>"$TB_DIR/ssh_config" <<EOF
# last: an unknown alias hits a closed loopback port instead of DNS
Host *
  HostName 127.0.0.1
  Port 1
  BatchMode yes
EOF
}

# Readiness: each sshd logged that it listens and answers with its banner (5 s
# each at most), then each VM answers a login as itself.
testbed_wait_ready() {
  local k p try
  for ((k = 1; k <= TB_VMS; k++)); do
    p=${TB_PORTS[k]}
    for ((try = 0; ; try++)); do
      if grep -q "Server listening on 127.0.0.1 port $p" "$TB_DIR/vm$k/sshd.log" 2>/dev/null &&
        [ "$(timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$p; head -c 7 <&3" 2>/dev/null)" = SSH-2.0 ]; then
        break
      fi
      ((try < 250)) || { echo "vm$k did not start:" >&2; cat "$TB_DIR/vm$k/sshd.log" >&2; return 1; }
      sleep 0.02
    done
  done
  for ((k = 1; k <= TB_VMS; k++)); do
    # shellcheck disable=SC2016 # expanded on the VM
    [ "$(timeout 20 ssh -F "$TB_DIR/ssh_config" "vm$k" 'echo $TESTBED_VM')" = "vm$k" ] ||
      { echo "vm$k does not answer" >&2; return 1; }
  done
}

testbed_logins() { # vm number -> "Accepted publickey" lines so far
  grep -c "Accepted publickey" "$TB_DIR/vm$1/sshd.log" || true
}

testbed_make_repo() { # folder files
  local dir=$1 files=$2 i l
  mkdir -p "$dir/src"
  for ((i = 1; i <= files; i++)); do
    # about 2 KiB of text each
    for ((l = 0; l < 40; l++)); do echo "module M$i where -- line $l of file $i, some text"; done >"$dir/src/M$i.hs"
  done
}

# Sandbox app-NNNN goes to VM (NNNN mod N) + 1, under <that VM's folder>/ROOTNAME.
testbed_manifest() { # file project count root-folder-name repo
  local file=$1 project=$2 n=$3 rootname=$4 repo=$5 i k
  {
    echo "version: 1"
    echo "project: $project"
    echo "sandboxes:"
    for ((i = 0; i < n; i++)); do
      k=$((i % TB_VMS + 1))
      printf '  app-%04d:\n    profile: profile.vm-haskell-build\n    inputs:\n      vm: vm%d\n      workspace_root: %s\n      repo: %s\n' \
        "$i" "$k" "$TB_DIR/vm$k/$rootname" "$repo"
    done
  } >"$file"
}
