//! Warm ssh masters across runs (`--ssh-persist`), on loopback sshd "VMs"
//! (`tests/support/vms.rs`).
//!
//! Each test gives sandboxer its own `XDG_RUNTIME_DIR` (a [`RuntimeDir`], mode
//! 0700), so no two tests share a master and the user's own folders are never
//! touched; dropping it tells the masters there to exit. Logins are counted in
//! the VM's sshd log (`Accepted publickey`).

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

use support::manifests::{entry, manifest};
use support::vms::{RuntimeDir, TestBed};
use support::{Cli, Sandboxer, Workdir, eventually, read, sandboxer, wait_until};

/// How long a test waits for a condition before it fails.
const DEADLINE: Duration = Duration::from_secs(30);

/// One VM, a work folder with a repo and a manifest of one sandbox on the VM,
/// and the runtime folder of every run.
struct World {
    /// First: its masters are told to exit before the VM stops.
    run: RuntimeDir,
    bed: TestBed,
    work: Workdir,
}

impl World {
    fn start() -> World {
        World::with_profile("profile.vm-haskell-build")
    }

    fn with_profile(profile: &str) -> World {
        let bed = TestBed::start(1);
        let work = Workdir::new();
        work.write("repo/README.md", "hello\n");
        let inputs = format!(
            "    inputs:\n      vm: vm1\n      repo: ./repo\n      workspace_root: \"{}\"\n      connect_timeout: 2s\n",
            bed.vm(1).build_root().display()
        );
        work.write("sandboxes.yaml", manifest("persist", &[entry("one", profile, &inputs)]));
        World {
            run: RuntimeDir::new(),
            bed,
            work,
        }
    }

    fn logins(&self) -> usize {
        self.bed.accepted_connections(1)
    }

    /// Names in the control folder (sockets and logs).
    fn control_entries(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.run.sockets_dir())
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

impl Cli for World {
    /// `sandboxer --ssh-config T/ssh_config --state-dir S` in the work folder,
    /// with this world's `XDG_RUNTIME_DIR`.
    fn cmd(&self) -> Sandboxer {
        sandboxer()
            .current_dir(self.work.path())
            .env("XDG_RUNTIME_DIR", self.run.path())
            .env("SANDBOXER_SSH_PERSIST", "60s")
            .arg("--ssh-config")
            .arg(self.bed.ssh_config())
            .arg("--state-dir")
            .arg(self.work.path().join("state"))
    }
}

/// Within the window, the next runs (plan, then apply with its rsync) reuse the
/// master of the first: no new login. A master killed under its socket is
/// replaced by the next run.
#[test]
fn runs_within_the_window_reuse_the_master() {
    let w = World::start();
    let before = w.logins();
    let out = w.expect(0, &["plan"]);
    assert!(out.stdout.contains("Plan: 1 to create"), "{out}");
    assert_eq!(w.logins(), before + 1, "the first plan logs in");

    // The master is still up, alone in a private folder.
    let masters = w.run.ssh_processes();
    assert_eq!(masters.len(), 1, "one master left running: {masters:?}");
    assert!(masters[0].1.contains("ControlPersist=60s"), "{masters:?}");
    let mode = std::fs::metadata(w.run.sockets_dir())
        .expect("the control folder")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700);
    assert_eq!(w.run.sockets().len(), 1, "{:?}", w.control_entries());

    let out = w.expect(0, &["plan"]);
    assert!(out.stdout.contains("Plan: 1 to create"), "{out}");
    let out = w.expect(0, &["apply", "--auto-approve"]);
    assert!(out.stderr.contains("1 created"), "{out}");
    assert_eq!(
        w.logins(),
        before + 1,
        "plan and apply (rsync included) reuse the master"
    );
    let workspaces = support::workspaces::with_marker(w.bed.vm(1).build_root());
    assert_eq!(workspaces.len(), 1);
    assert_eq!(
        read(workspaces[0].path.join("README.md")),
        "hello\n",
        "rsync went through"
    );

    // A master gone without removing its socket: the next run opens a new one there.
    let (pid, _) = w.run.ssh_processes()[0].clone();
    support::processes::kill("KILL", pid);
    wait_until("the master is gone", DEADLINE, || !support::processes::alive(pid));
    assert_eq!(w.run.sockets().len(), 1, "the stale socket is still there");
    let out = w.expect(0, &["plan"]);
    assert!(out.stdout.contains("No changes"), "{out}");
    assert_eq!(w.logins(), before + 2, "a new master after the old one died");
    let masters = w.run.ssh_processes();
    assert_eq!(masters.len(), 1, "{masters:?}");
    assert_ne!(masters[0].0, pid);
}

/// `--ssh-persist 0`: the run's master exits with it and nothing is left in the
/// control folder; the next run logs in again.
#[test]
fn persist_zero_leaves_nothing_after_exit() {
    let w = World::start();
    let before = w.logins();
    w.expect(0, &["--ssh-persist", "0", "plan"]);
    let mut left = Vec::new();
    let gone = eventually(DEADLINE, || {
        left = w.run.ssh_processes();
        left.is_empty()
    });
    assert!(gone, "ssh processes left after the run: {left:?}");
    assert_eq!(
        w.control_entries(),
        Vec::<String>::new(),
        "nothing left in the control folder"
    );

    let out = w.cmd().env("SANDBOXER_SSH_PERSIST", "0").args(["plan"]).run();
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(w.logins(), before + 2, "each run logs in");
    assert!(
        eventually(DEADLINE, || w.run.ssh_processes().is_empty()),
        "{:?}",
        w.run.ssh_processes()
    );
}

/// A sandboxer killed with SIGKILL mid-apply leaves its master (until the window
/// ends) and nothing else: no temporary control folder, nothing in TMPDIR.
#[test]
fn a_sigkilled_run_leaves_only_its_master() {
    let started_at = Workdir::new();
    let started = started_at.path().join("started");
    let release = started_at.path().join("release");
    let profile = read(concat!(env!("CARGO_MANIFEST_DIR"), "/profiles/vm-haskell-build.yaml"))
        .replace("name: profile.vm-haskell-build", "name: profile.vm-gated")
        .replace(
            "setup: []",
            &format!(
                "setup:\n  - 'touch \"{}\"; i=0; while [ ! -e \"{}\" ] && [ $i -lt 3000 ]; do sleep 0.02; i=$((i+1)); done'",
                started.display(),
                release.display()
            ),
        );
    let w = World::with_profile("profile.vm-gated");
    w.work.write("profiles/vm-gated.yaml", profile);
    let tmp = Workdir::new();

    let apply = w
        .cmd()
        .env("TMPDIR", tmp.path())
        .args(["--ssh-persist", "10m", "apply", "--auto-approve"])
        .spawn();
    wait_until("the setup runs on the VM", DEADLINE, || started.exists());
    apply.signal("KILL");
    let out = apply.wait();
    assert_eq!(out.code, -1, "{out}");

    let masters = w.run.ssh_processes();
    assert_eq!(masters.len(), 1, "the master stays: {masters:?}");
    assert!(masters[0].1.contains("ControlPersist=600s"), "{masters:?}");
    let names = w.control_entries();
    assert_eq!(names.len(), 2, "a socket and its log: {names:?}");
    assert_eq!(w.run.sockets().len(), 1, "{names:?}");
    assert_eq!(tmp.entries(), Vec::<String>::new(), "nothing in TMPDIR");
    std::fs::write(&release, "").expect("release the setup");
}

/// A control folder others may enter is refused, with what is wrong and the way out.
#[test]
fn a_control_folder_open_to_others_is_refused() {
    let w = World::start();
    let dir: PathBuf = w.run.sockets_dir();
    std::fs::create_dir(&dir).expect("make the folder");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let before = w.logins();
    let out = w.expect(1, &["plan"]);
    assert!(
        out.stderr
            .contains(&format!("refusing the ssh control folder {}", dir.display())),
        "{out}"
    );
    assert!(out.stderr.contains("others may enter it (mode 755)"), "{out}");
    assert!(out.stderr.contains(&format!("chmod 700 {}", dir.display())), "{out}");
    assert_eq!(w.logins(), before, "no login");
    assert!(w.run.ssh_processes().is_empty());
}
