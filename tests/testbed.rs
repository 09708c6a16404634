//! Self-test of the loopback sshd test bed in `tests/support/vms.rs`: the VMs answer
//! as themselves, rsync reaches them, stopping, restarting and re-keying a VM behave
//! like a real host going down, coming back and being reinstalled, and dropping the
//! bed leaves no process behind.

mod support;

use std::fs;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::eventually;
use support::processes::{alive, descendants, processes_mentioning};
use support::vms::{self, TestBed};

/// Everything ssh printed, for assertion messages.
fn show(output: &Output) -> String {
    format!(
        "{}\n--- stdout ---\n{}--- stderr ---\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Starts a bed of `n` VMs and prints how long that took.
fn start(n: usize) -> TestBed {
    let started = Instant::now();
    let bed = TestBed::start(n);
    println!("TestBed::start({n}) took {:?}", started.elapsed());
    bed
}

#[test]
fn vms_answer_as_themselves_and_go_down_come_back_and_change_host_key() {
    let mut bed = start(3);
    let root = bed.root().display().to_string();
    assert!(root.len() < 30, "T must stay short for control socket paths: {root}");

    for k in 1..=3 {
        let output = bed.ssh(k, "echo $TESTBED_VM $TESTBED_ROOT");
        assert!(output.status.success(), "ssh vm{k}: {}", show(&output));
        let expected = format!("vm{k} {}\n", bed.vm(k).build_root().display());
        assert_eq!(String::from_utf8_lossy(&output.stdout), expected);
        assert_eq!(
            bed.accepted_connections(k),
            1,
            "vm{k} log:\n{}",
            fs::read_to_string(bed.vm(k).log()).unwrap()
        );
    }

    // rsync a small folder into vm2's workspace root through the ssh_config.
    let source = tempfile::tempdir().expect("a source folder");
    fs::create_dir(source.path().join("sub")).unwrap();
    fs::write(source.path().join("a.txt"), "alpha\n").unwrap();
    fs::write(source.path().join("sub/b.txt"), "beta\n").unwrap();
    let target = bed.vm(2).build_root().join("sbx-selftest");
    let rsync = Command::new("rsync")
        .arg("-a")
        .arg("-e")
        .arg(bed.rsync_shell())
        .arg(format!("{}/", source.path().display()))
        .arg(format!("vm2:{}/", target.display()))
        .stdin(Stdio::null())
        .output()
        .expect("run rsync");
    assert!(rsync.status.success(), "rsync: {}", show(&rsync));
    assert_eq!(fs::read_to_string(target.join("a.txt")).unwrap(), "alpha\n");
    assert_eq!(fs::read_to_string(target.join("sub/b.txt")).unwrap(), "beta\n");
    assert_eq!(bed.accepted_connections(2), 2);

    // vm2 goes down: its port refuses, the others still answer.
    let port = bed.vm(2).port();
    bed.stop_vm(2);
    assert!(!bed.vm(2).is_running());
    let down = bed.ssh(2, "true");
    assert!(!down.status.success());
    assert!(stderr(&down).contains("Connection refused"), "{}", show(&down));
    for k in [1, 3] {
        let output = bed.ssh(k, "echo $TESTBED_VM");
        assert_eq!(
            String::from_utf8_lossy(&output.stdout),
            format!("vm{k}\n"),
            "{}",
            show(&output)
        );
    }

    // ... and comes back on the same port with the same host key.
    bed.start_vm(2);
    assert_eq!(bed.vm(2).port(), port);
    let back = bed.ssh(2, "echo $TESTBED_VM");
    assert_eq!(String::from_utf8_lossy(&back.stdout), "vm2\n", "{}", show(&back));
    assert_eq!(bed.accepted_connections(2), 3, "the log is kept across restarts");

    // vm3 is reinstalled with a new host key: strict checking refuses it.
    let logins = bed.accepted_connections(3);
    bed.regenerate_host_key(3);
    let changed = bed.ssh(3, "true");
    assert!(!changed.status.success());
    assert!(
        stderr(&changed).contains("Host key verification failed"),
        "{}",
        show(&changed)
    );
    assert!(
        stderr(&changed).contains("REMOTE HOST IDENTIFICATION HAS CHANGED"),
        "{}",
        show(&changed)
    );
    assert_eq!(bed.accepted_connections(3), logins, "no login after the key changed");

    drop(bed);
    assert!(!Path::new(&root).exists(), "{root} is removed");
    let left = processes_mentioning(&root);
    assert!(left.is_empty(), "processes left behind: {left:?}");
}

#[test]
fn dropping_the_bed_ends_open_connections_and_their_commands() {
    let bed = start(2);
    let root = bed.root().display().to_string();
    let listener = bed.vm(1).pid().expect("vm1 runs");

    // A client holding a connection open with a long command on vm1.
    let mut client = bed
        .ssh_command(1)
        .args(["--", "sleep 300"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start ssh");
    let mut tree = Vec::new();
    let seen = eventually(Duration::from_secs(10), || {
        tree = descendants(listener);
        tree.iter().any(|pid| {
            fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| String::from_utf8_lossy(&c).starts_with("sleep"))
        })
    });
    assert!(seen, "the remote `sleep 300` never appeared below vm1's sshd");
    assert_eq!(bed.accepted_connections(1), 1);

    drop(bed);
    let gone: Vec<u32> = tree.iter().copied().filter(|pid| alive(*pid)).collect();
    assert!(gone.is_empty(), "still running after drop: {gone:?} of {tree:?}");
    assert!(!alive(listener));
    let left = processes_mentioning(&root);
    assert!(left.is_empty(), "processes left behind: {left:?}");

    // The client notices that its server went away.
    let ended = eventually(Duration::from_secs(10), || matches!(client.try_wait(), Ok(Some(_))));
    if !ended {
        let _ = client.kill();
    }
    let status = client.wait().expect("wait for ssh");
    assert!(ended && !status.success(), "ssh client: {status}");
}

#[test]
fn an_unknown_alias_stays_on_loopback() {
    let bed = start(1);
    let output = vms::ssh_command_via(&bed.ssh_config(), "no-such-vm.example.com")
        .args(["--", "true"])
        .output()
        .expect("run ssh");
    assert!(!output.status.success());
    let text = stderr(&output);
    assert!(
        text.contains("127.0.0.1 port 1: Connection refused"),
        "{}",
        show(&output)
    );
}
