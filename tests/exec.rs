//! `sandboxer exec` and `sandboxer ssh`: a command or a shell in a sandbox's
//! workspace, run as the real binary against real sshd "VMs" on loopback
//! (`tests/support/vms.rs`) after a real `apply`, and in a local workspace.
//!
//! The VMs share this machine's filesystem: a test makes files in a workspace
//! "on the VM" by writing below `vm(k).build_root()`. Nothing waits for a fixed
//! time: each run is awaited to its end, and a running one is watched with
//! `wait_until`.

mod support;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use support::manifests::{entry, manifest};
use support::records;
use support::vms::{RuntimeDir, TestBed};
use support::{Cli, Sandboxer, Workdir, read, sandboxer, wait_until};

/// How long a test waits for a condition before it fails.
const DEADLINE: Duration = Duration::from_secs(30);

/// A bed of VMs and a folder to run sandboxer in (as in `tests/ssh.rs`).
struct World {
    /// `XDG_RUNTIME_DIR` of every run (first: masters exit before the VMs stop).
    run: RuntimeDir,
    bed: TestBed,
    work: Workdir,
}

impl World {
    /// One VM and a work folder holding a small repo in `repo/`.
    fn start() -> World {
        let bed = TestBed::start(1);
        let work = Workdir::new();
        work.write("repo/README.md", "hello\n");
        World {
            run: RuntimeDir::new(),
            bed,
            work,
        }
    }

    /// Writes `sandboxes.yaml` with sandbox `app` of `profile` on vm1, applies
    /// it, and returns the workspace's path.
    fn apply_app(&self, profile: &str) -> PathBuf {
        let root = self.bed.vm(1).build_root().display().to_string();
        let inputs = format!(
            "    inputs:\n      vm: vm1\n      workspace_root: \"{root}\"\n      repo: ./repo\n      connect_timeout: 2s\n"
        );
        self.work
            .write("sandboxes.yaml", manifest("ops", &[entry("app", profile, &inputs)]));
        self.ok(&["apply", "--auto-approve"]);
        workspace_of(self, "sandbox.app")
    }

    /// The flags of every run, as words (for a run through a pseudo-terminal).
    fn flags(&self) -> Vec<String> {
        vec![
            "--ssh-config".into(),
            self.bed.ssh_config().display().to_string(),
            "--state-dir".into(),
            self.work.path().join("state").display().to_string(),
        ]
    }
}

impl Cli for World {
    fn cmd(&self) -> Sandboxer {
        sandboxer()
            .current_dir(self.work.path())
            .env("XDG_RUNTIME_DIR", self.run.path())
            .args(self.flags())
    }
}

/// The workspace of `address`, from `list --json`.
fn workspace_of(cli: &(impl Cli + ?Sized), address: &str) -> PathBuf {
    let out = cli.ok(&["list", "--json"]);
    let listed = records::listed(&out);
    let found = listed
        .iter()
        .find(|r| r.address == address)
        .unwrap_or_else(|| panic!("{address} is not recorded\n{out}"));
    PathBuf::from(&found.workspace)
}

// ---------------------------------------------------------------------------
// exec on a VM

#[test]
fn exec_runs_in_the_workspace_on_the_vm_and_returns_the_remote_exit_code() {
    let world = World::start();
    let workspace = world.apply_app("profile.vm-haskell-build");
    assert!(
        workspace.starts_with(world.bed.vm(1).build_root()),
        "{}",
        workspace.display()
    );

    let out = world.expect(
        7,
        &[
            "exec",
            "sandbox.app",
            "--",
            "sh",
            "-c",
            "echo out; echo err >&2; exit 7",
        ],
    );
    assert_eq!(out.stdout, "out\n", "{out}");
    assert_eq!(out.stderr, "err\n", "nothing but the command's own stderr\n{out}");

    let out = world.ok(&["exec", "sandbox.app", "--", "pwd"]);
    assert_eq!(out.stdout.trim_end(), workspace.display().to_string(), "{out}");
    let out = world.ok(&["exec", "sandbox.app", "--", "cat", "README.md"]);
    assert_eq!(out.stdout, "hello\n", "{out}");

    // By id too; a signal that ends the remote command gives 128+N, as a shell says.
    let id = workspace
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix("sbx-"))
        .expect("a workspace sbx-<id>")
        .to_string();
    world.expect(130, &["exec", &id, "--", "sh", "-c", "kill -INT $$"]);
    world.expect(0, &["exec", "-f", "sandboxes.yaml", &id, "--", "true"]);
}

#[test]
fn exec_streams_the_output_while_the_command_runs() {
    let world = World::start();
    let workspace = world.apply_app("profile.vm-haskell-build");
    let go = workspace.join("go");
    // The remote command waits for a file the test makes, with a deadline of its own.
    let script = "echo first; i=0; while [ ! -e go ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done; echo second";
    let mut running = world
        .cmd()
        .args(["exec", "sandbox.app", "--", "sh", "-c", script])
        .spawn();
    wait_until("the first line is out", DEADLINE, || {
        running.stdout_so_far() == "first\n"
    });
    assert!(running.is_running(), "the command ended before the test let it go");
    assert!(!running.stdout_so_far().contains("second"));
    std::fs::write(&go, "").expect("make the file the command waits for");
    let out = running.wait();
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(out.stdout, "first\nsecond\n", "{out}");
}

#[test]
fn exec_passes_each_word_as_it_is_and_runs_nothing_else() {
    let world = World::start();
    let workspace = world.apply_app("profile.vm-haskell-build");
    let canary = workspace.join("canary");
    let words = [
        "a b",
        "'q'",
        "\"dq\"",
        "$(touch canary)",
        "`touch canary`",
        ";",
        "; touch canary",
        "&& touch canary",
        "$HOME",
        "*",
        "-n",
    ];
    let mut args = vec!["exec", "sandbox.app", "--", "printf", "%s\\n"];
    args.extend(words);
    let out = world.ok(&args);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines, words, "{out}");
    assert!(!canary.exists(), "a word was run by a shell\n{out}");
    // A first word that looks like an assignment or a keyword is a command name.
    let out = world.expect(127, &["exec", "sandbox.app", "--", "X=1", "true"]);
    assert!(!out.stderr.is_empty(), "{out}");
}

#[test]
fn exec_runs_the_profile_shell_prelude_first() {
    let world = World::start();
    // A profile of the test, next to the manifest: the built-in one with a prelude.
    let builtin = read(Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/vm-haskell-build.yaml"));
    let profile: String = builtin
        .lines()
        .filter(|l| !l.starts_with("shell_prelude:"))
        .map(|l| {
            if l.starts_with("name:") {
                "name: profile.vm-prelude".to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    world.work.write(
        "profiles/vm-prelude.yaml",
        format!("{profile}\nshell_prelude: |\n  export SBX_FROM_PRELUDE=\"set by the prelude in $(pwd)\"\n"),
    );
    let workspace = world.apply_app("profile.vm-prelude");
    let out = world.ok(&["exec", "sandbox.app", "--", "sh", "-c", "echo \"$SBX_FROM_PRELUDE\""]);
    assert_eq!(
        out.stdout,
        format!("set by the prelude in {}\n", workspace.display()),
        "{out}"
    );

    // A prelude that fails stops the command: exit 1 and why.
    world.work.write(
        "profiles/vm-prelude.yaml",
        format!("{profile}\nshell_prelude: \"false\"\n"),
    );
    let out = world.expect(1, &["exec", "sandbox.app", "--", "touch", "ran"]);
    assert!(
        out.stderr.contains("shell_prelude of profile.vm-prelude failed"),
        "{out}"
    );
    assert!(!workspace.join("ran").exists());
}

#[test]
fn ctrl_c_reaches_the_remote_command_without_a_terminal() {
    let world = World::start();
    let workspace = world.apply_app("profile.vm-haskell-build");
    let script = "trap 'echo got INT; exit 42' INT; echo ready; i=0; while [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done; echo not interrupted";
    let mut running = world
        .cmd()
        .args(["exec", "sandbox.app", "--", "sh", "-c", script])
        .spawn();
    wait_until("the command is ready", DEADLINE, || {
        running.stdout_so_far() == "ready\n"
    });
    assert!(running.is_running());
    running.signal("INT");
    let out = running.wait();
    assert_eq!(out.code, 42, "the command's own exit code after its INT trap\n{out}");
    assert_eq!(out.stdout, "ready\ngot INT\n", "{out}");
    assert!(workspace.is_dir());
}

// ---------------------------------------------------------------------------
// ssh

/// Runs `program args` on a pseudo-terminal (python3's `pty`), types `input`,
/// and returns what the terminal showed and the exit code.
fn on_a_terminal(dir: &Path, env: &[(&str, &Path)], program: &str, args: &[String], input: &str) -> (String, i32) {
    const DRIVER: &str = r#"
import os, pty, select, sys, time
pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.argv[2], sys.argv[2:])
os.write(fd, sys.argv[1].encode())
out = b""
deadline = time.time() + 30
while time.time() < deadline:
    ready, _, _ = select.select([fd], [], [], deadline - time.time())
    if not ready:
        break
    try:
        data = os.read(fd, 4096)
    except OSError:
        break
    if not data:
        break
    out += data
_, status = os.waitpid(pid, 0)
sys.stdout.buffer.write(out)
sys.exit(os.waitstatus_to_exitcode(status))
"#;
    let mut command = Command::new("python3");
    command.arg("-c").arg(DRIVER).arg(input).arg(program).args(args);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("SANDBOXER_") {
            command.env_remove(name);
        }
    }
    command.env("NO_COLOR", "1").env("SANDBOXER_SSH_PERSIST", "0");
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("run python3");
    let mut shown = String::new();
    child
        .stdout
        .take()
        .expect("stdout is piped")
        .read_to_string(&mut shown)
        .expect("read the terminal");
    let status = child.wait().expect("wait for python3");
    (shown, status.code().unwrap_or(-1))
}

#[test]
fn ssh_opens_a_shell_in_the_workspace_on_a_terminal_and_passes_its_exit_code_on() {
    let world = World::start();
    let workspace = world.apply_app("profile.vm-haskell-build");
    let mut args = world.flags();
    args.extend(["ssh".to_string(), "sandbox.app".to_string()]);
    let (shown, code) = on_a_terminal(
        world.work.path(),
        &[("XDG_RUNTIME_DIR", world.run.path())],
        env!("CARGO_BIN_EXE_sandboxer"),
        &args,
        "pwd; exit 3\n",
    );
    assert_eq!(code, 3, "{shown}");
    let path = workspace.display().to_string();
    assert!(
        shown.lines().any(|l| l.trim_end_matches('\r').ends_with(&path)),
        "pwd did not show {path}:\n{shown}"
    );

    // exec from a terminal: the command gets a terminal on the VM too.
    let mut args = world.flags();
    args.extend(
        [
            "exec",
            "sandbox.app",
            "--",
            "sh",
            "-c",
            "[ -t 0 ] && [ -t 1 ] && echo on-a-terminal; exit 6",
        ]
        .map(String::from),
    );
    let (shown, code) = on_a_terminal(
        world.work.path(),
        &[("XDG_RUNTIME_DIR", world.run.path())],
        env!("CARGO_BIN_EXE_sandboxer"),
        &args,
        "",
    );
    assert_eq!(code, 6, "{shown}");
    assert!(shown.contains("on-a-terminal"), "{shown}");
}

#[test]
fn ssh_without_a_terminal_is_refused_with_a_hint() {
    let world = World::start();
    world.apply_app("profile.vm-haskell-build");
    let out = world.expect(1, &["ssh", "sandbox.app"]);
    assert!(
        out.stderr.contains("needs a terminal") && out.stderr.contains("hint:"),
        "{out}"
    );
}

// ---------------------------------------------------------------------------
// a local workspace, and what is not there

/// A work folder whose manifest (project `here`) has one applied local
/// sandbox, `sandbox.app`, syncing `repo/` (one file, `a.txt`).
fn applied_local_sandbox() -> Workdir {
    let dir = Workdir::new();
    dir.write("repo/a.txt", "local\n");
    dir.write(
        "sandboxes.yaml",
        manifest(
            "here",
            &[entry(
                "app",
                "profile.local-workspace",
                "    inputs:\n      repo: ./repo\n",
            )],
        ),
    );
    dir.path().ok(&["apply", "--auto-approve"]);
    dir
}

#[test]
fn exec_and_ssh_work_in_a_local_workspace() {
    let dir = applied_local_sandbox();
    let cli = dir.path();
    let workspace = workspace_of(cli, "sandbox.app");

    let out = cli.ok(&["exec", "sandbox.app", "--", "sh", "-c", "pwd; cat a.txt"]);
    assert_eq!(out.stdout, format!("{}\nlocal\n", workspace.display()), "{out}");
    cli.expect(5, &["exec", "sandbox.app", "--", "sh", "-c", "exit 5"]);
    cli.expect(130, &["exec", "sandbox.app", "--", "sh", "-c", "kill -INT $$"]);
    // A sensitive input's value, given through its variable, is never in the
    // command's environment (nor the hub token's default variable).
    dir.write(
        "profiles/secretive.yaml",
        "name: profile.secretive\ndriver: local-workspace\ninputs:\n  repo: {type: local_path}\n  \
         api_key: {type: string, sensitive: true, env: SBX_EXEC_TEST_API_KEY}\n",
    );
    dir.write(
        "secret.yaml",
        manifest(
            "secret",
            &[entry("vault", "profile.secretive", "    inputs:\n      repo: ./repo\n")],
        ),
    );
    let with_secret = |args: &[&str]| {
        cli.cmd()
            .env("SBX_EXEC_TEST_API_KEY", "api-s3cret")
            .env("SANDBOXER_HUB_TOKEN", "hub-s3cret")
            .args(args)
            .run()
    };
    let applied = with_secret(&["apply", "-f", "secret.yaml", "--auto-approve"]);
    assert_eq!(applied.code, 0, "{applied}");
    let out = with_secret(&["exec", "-f", "secret.yaml", "sandbox.vault", "--", "sh", "-c", "env"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stdout.contains("PATH="), "the command saw an environment: {out}");
    for secret in ["api-s3cret", "hub-s3cret"] {
        assert!(!out.stdout.contains(secret), "{secret} reached the command: {out}");
    }

    let (shown, code) = on_a_terminal(
        dir.path(),
        &[("SHELL", Path::new("/bin/sh"))],
        env!("CARGO_BIN_EXE_sandboxer"),
        &["ssh".to_string(), "sandbox.app".to_string()],
        "pwd; exit 4\n",
    );
    assert_eq!(code, 4, "{shown}");
    let path = workspace.display().to_string();
    assert!(
        shown.lines().any(|l| l.trim_end_matches('\r').ends_with(&path)),
        "{shown}"
    );
}

#[test]
fn an_unknown_sandbox_exits_1_with_a_hint() {
    let dir = Workdir::new();
    dir.write(
        "sandboxes.yaml",
        manifest("here", &[entry("app", "profile.local-workspace", "")]),
    );
    let cli = dir.path();
    cli.ok(&["apply", "--auto-approve"]);
    for what in ["nope", "sandbox.nope"] {
        let out = cli.expect(1, &["exec", what, "--", "touch", "ran"]);
        assert!(out.stderr.contains(&format!("no sandbox `{what}`")), "{out}");
        assert!(out.stderr.contains("hint: `sandboxer list`"), "{out}");
    }
    assert!(!dir.path().join("ran").exists());
}

#[test]
fn a_vm_that_is_down_exits_1_with_a_hint() {
    let mut world = World::start();
    world.apply_app("profile.vm-haskell-build");
    world.bed.stop_vm(1);
    let out = world.expect(1, &["exec", "sandbox.app", "--", "true"]);
    assert!(out.stderr.starts_with("error: cannot connect to vm1"), "{out}");
    assert!(out.stderr.contains("hint:"), "{out}");
}

/// A local `exec` on a terminal: SIGTERM to sandboxer reaches the command
/// itself (no shell in between defers it), the exit code says so, and nothing
/// is left running.
#[test]
fn sigterm_to_a_local_exec_on_a_terminal_ends_the_command() {
    let dir = applied_local_sandbox();
    let folder = dir.path().to_path_buf();
    // The command says who it is and who waits for it, then waits for good.
    let script = "echo $PPID > parent.pid; echo $$ > command.pid; exec sleep 600";
    let running = std::thread::spawn(move || {
        on_a_terminal(
            &folder,
            &[],
            env!("CARGO_BIN_EXE_sandboxer"),
            &["exec", "sandbox.app", "--", "sh", "-c", script].map(String::from),
            "",
        )
    });
    let workspace = workspace_of(dir.path(), "sandbox.app");
    let pid_in = |name: &str| -> Option<u32> { read(workspace.join(name)).trim().parse().ok() };
    wait_until("the command runs", DEADLINE, || {
        workspace.join("command.pid").exists() && pid_in("parent.pid").is_some()
    });
    let (command, parent) = (pid_in("command.pid"), pid_in("parent.pid"));
    let (Some(command), Some(parent)) = (command, parent) else {
        panic!("no pids written");
    };
    let sent = Command::new("kill").args(["-TERM", &parent.to_string()]).status();
    assert!(sent.is_ok_and(|s| s.success()), "SIGTERM to sandboxer ({parent})");
    wait_until("the command is gone", DEADLINE, || {
        !Path::new(&format!("/proc/{command}")).exists()
    });
    let (shown, code) = running.join().expect("the terminal driver");
    assert_eq!(code, 128 + 15, "{shown}");
}
