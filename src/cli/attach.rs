//! What `exec` and `ssh` share: find a sandbox's workspace by id or address
//! (as `inspect` finds a record), reach it, and run a process there attached
//! to this terminal, passing its exit code on.
//!
//! Ctrl-C: with stdin on a terminal the process gets a terminal too (a
//! pseudo-terminal on the VM), and Ctrl-C reaches it as a terminal's does;
//! SIGTERM to sandboxer ends the process (on a VM: ssh, and the VM's terminal
//! hangs up on the command), a second one kills it.
//! Without one, the process runs in a process group of its own (on the VM:
//! the session sshd makes for it), and SIGINT or SIGTERM to sandboxer is sent
//! to that whole group; a second one sends SIGKILL.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

use sandboxer::driver::Location;
use sandboxer::driver::ssh::DEFAULT_CONNECT_TIMEOUT;
use sandboxer::profile::DriverName;
use sandboxer::remote::{Connection, GroupSignal, SshPool, Target};
use sandboxer::safety::printable;
use sandboxer::state::{Record, StateStore};
use sandboxer::workspace_shell::{Job, SCRIPT_NAME, Script, announced_group};

use super::Settings;
use super::args::StateArg;
use super::output::Hinted;

/// A sandbox found in the state, and where its workspace is.
#[derive(Debug)]
pub struct Sandbox {
    /// Its record.
    pub record: Record,
    /// Where its workspace is.
    pub place: Place,
    /// Its profile's `shell_prelude`.
    pub prelude: Option<String>,
}

/// Where a workspace is.
#[derive(Debug)]
pub enum Place {
    /// A folder on this machine.
    Here(PathBuf),
    /// A folder on a VM.
    Vm {
        target: Target,
        workspace: String,
        connect_timeout: Duration,
    },
}

/// The sandbox `what` (an id or an address) of the state of `state`: with
/// `-f FILE`, only the manifest's project is looked in; else every project.
pub fn find(what: &str, state: &StateArg, settings: &Settings) -> anyhow::Result<Sandbox> {
    let project = match &state.file {
        Some(file) => Some(
            sandboxer::manifest::load(file)
                .map_err(anyhow::Error::from)?
                .manifest
                .project,
        ),
        None => None,
    };
    let store = state.store(settings)?;
    let projects = super::engine::runtime()?.block_on(store.load_all())?;
    let found = super::inspect::records_named(&projects, what, project.as_deref());
    let record = match found.as_slice() {
        [(_, record)] => (*record).clone(),
        [] => {
            let scope = project.map_or_else(String::new, |p| format!(" of project {p}"));
            return Err(Hinted {
                message: format!("no sandbox `{}`{scope} in {}", printable(what), store.describe()),
                hint: "`sandboxer list` shows the recorded sandboxes (use -f FILE or --state-dir for another state)"
                    .into(),
            }
            .into());
        }
        many => {
            return Err(super::inspect::in_several_projects(
                what,
                many,
                "give its id, or the manifest of its project with -f FILE",
            ));
        }
    };
    let place = place_of(&record)?;
    let prelude = prelude_of(&record, state, settings)?;
    Ok(Sandbox { record, place, prelude })
}

/// Where the record says its workspace is, checked: a record may come from a
/// hub, and its path reaches a shell (quoted).
fn place_of(record: &Record) -> anyhow::Result<Place> {
    let unusable = |why: String| Hinted {
        message: format!("{} (id {}) {why}", record.address, printable(&record.id)),
        hint: "`sandboxer inspect` shows the record; `sandboxer apply` makes the workspace anew".into(),
    };
    let Some(workspace) = record.facts.get("workspace") else {
        return Err(unusable("has no workspace".into()).into());
    };
    if record.driver == DriverName::LOCAL_WORKSPACE {
        return Ok(Place::Here(PathBuf::from(workspace)));
    }
    if record.driver != DriverName::SSH_WORKSPACE {
        return Err(unusable(format!(
            "is made by the {} driver, which has no workspace to run in",
            record.driver
        ))
        .into());
    }
    sandboxer::safety::check_remote_path(workspace)
        .map_err(|e| unusable(format!("has an unusable workspace path: {e}")))?;
    let location = record.facts.get("location").map(|l| l.parse::<Location>());
    let Some(Ok(Location::Vm(target))) = location else {
        return Err(unusable("has no VM in its record".into()).into());
    };
    let connect_timeout = record
        .attributes
        .get("inputs.connect_timeout")
        .and_then(|v| v.as_str())
        .and_then(|t| sandboxer::duration::parse(t).ok())
        .unwrap_or(DEFAULT_CONNECT_TIMEOUT);
    Ok(Place::Vm {
        target,
        workspace: workspace.clone(),
        connect_timeout,
    })
}

/// The `shell_prelude` of the record's profile, from the profiles of the
/// manifest's folder (`-f FILE`, else this folder) as `apply` finds them.
fn prelude_of(record: &Record, state: &StateArg, settings: &Settings) -> anyhow::Result<Option<String>> {
    let dir = super::args::manifest_dir(state.file.as_deref().unwrap_or(Path::new("sandboxes.yaml")));
    let catalog = settings.catalog(&dir).map_err(anyhow::Error::from)?;
    match catalog.get(&record.profile) {
        Some(profile) => Ok(profile.shell_prelude.clone()),
        None => {
            tracing::warn!(
                "the profile {} of {} is not found; running without its shell_prelude",
                printable(&record.profile),
                record.address
            );
            Ok(None)
        }
    }
}

/// Runs `job` (with `words` for a command) in the workspace of `sandbox`.
pub fn run(sandbox: &Sandbox, job: Job, words: &[String], settings: &Settings) -> anyhow::Result<ExitCode> {
    let terminal = std::io::stdin().is_terminal();
    let runtime = super::engine::runtime()?;
    match &sandbox.place {
        Place::Here(dir) => runtime.block_on(async {
            let workspace = dir.to_string_lossy();
            let mut command = tokio::process::Command::new("sh");
            sandboxer::secret_env::scrub_async(&mut command);
            command
                .arg("-c")
                .arg(script(sandbox, &workspace, job, terminal).text())
                .arg(SCRIPT_NAME)
                .args(words);
            attend(command, terminal, Remote::None).await
        }),
        Place::Vm {
            target,
            workspace,
            connect_timeout,
        } => runtime.block_on(async {
            let pool = SshPool::new(super::engine::ssh_options(settings));
            let result = async {
                let connection = pool.get(target, *connect_timeout).await?;
                let line = script(sandbox, workspace, job, terminal).remote_command(words);
                let command = connection.attached_ssh(&line, terminal);
                attend(command, terminal, Remote::Vm(&connection)).await
            }
            .await;
            pool.close().await;
            result
        }),
    }
}

/// The script that runs `job` in `workspace`, the workspace of `sandbox`.
fn script<'a>(sandbox: &'a Sandbox, workspace: &'a str, job: Job, terminal: bool) -> Script<'a> {
    Script {
        workspace,
        profile: &sandbox.record.profile,
        prelude: sandbox.prelude.as_deref(),
        job,
        // Without a terminal on the VM, the script says which process group
        // to signal on Ctrl-C (an ssh without a terminal forwards none).
        announce_group: job == Job::Command && !terminal && matches!(sandbox.place, Place::Vm { .. }),
        // Here sandboxer waits for the script's process itself: the command
        // takes it over, so SIGTERM on a terminal reaches the command, not a
        // shell that would defer it and leave the command behind.
        replace_script: !matches!(sandbox.place, Place::Vm { .. }),
    }
}

/// Who runs the process, for signalling it.
#[derive(Clone, Copy)]
enum Remote<'a> {
    /// On this machine: its group is its pid.
    None,
    /// On a VM: the script announces its group on stderr.
    Vm(&'a Connection),
}

/// Starts `command` attached to this terminal and waits for it, forwarding
/// Ctrl-C and SIGTERM (see the module's words); its exit code, 128+N when a
/// signal ended it.
async fn attend(mut command: tokio::process::Command, terminal: bool, remote: Remote<'_>) -> anyhow::Result<ExitCode> {
    // Listening before the start: from now on a signal does not end sandboxer
    // and leave the process behind.
    let mut interrupts = signal(SignalKind::interrupt()).context("cannot listen for Ctrl-C")?;
    let mut terminations = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    // A closed terminal or session (SIGHUP) and SIGQUIT end the command as
    // SIGTERM does, instead of ending sandboxer alone and leaving it running.
    let mut hangups = signal(SignalKind::hangup()).context("cannot listen for SIGHUP")?;
    let mut quits = signal(SignalKind::quit()).context("cannot listen for SIGQUIT")?;
    let announced = !terminal && matches!(remote, Remote::Vm(_));
    if !terminal {
        // Out of the terminal's group: a Ctrl-C comes to sandboxer alone,
        // which passes it to the whole group at the other end.
        command.process_group(0);
    }
    if announced {
        command.stderr(std::process::Stdio::piped());
    }
    let program = match remote {
        Remote::None => "sh",
        Remote::Vm(_) => "ssh",
    };
    let mut child = command.spawn().with_context(|| format!("cannot run {program}"))?;
    let pid = child.id();
    let (groups, mut group_found) = mpsc::channel::<u32>(1);
    let relay = child
        .stderr
        .take()
        .map(|stderr| tokio::spawn(relay_stderr(stderr, groups)));
    let mut group = match remote {
        Remote::None if !terminal => pid,
        _ => None,
    };
    let mut pending: Option<GroupSignal> = None;
    let mut signalled = false;
    let status = loop {
        let wanted = tokio::select! {
            status = child.wait() => break status.with_context(|| format!("waiting for {program}"))?,
            Some(found) = group_found.recv(), if group.is_none() => {
                group = Some(found);
                pending.take()
            }
            _ = interrupts.recv() => Some(GroupSignal::Interrupt),
            _ = terminations.recv() => Some(GroupSignal::Terminate),
            _ = hangups.recv() => Some(GroupSignal::Terminate),
            _ = quits.recv() => Some(GroupSignal::Terminate),
        };
        let Some(wanted) = wanted else { continue };
        if terminal {
            // The terminal gave Ctrl-C to the process already (or to the VM's
            // terminal, through ssh), however often it is pressed. SIGTERM
            // ends ssh or the process (a VM's terminal then hangs up on the
            // command); a second one kills it.
            if wanted == GroupSignal::Interrupt {
                continue;
            }
            if let Some(pid) = pid {
                signal_process(pid, if signalled { GroupSignal::Kill } else { wanted });
            }
            signalled = true;
            continue;
        }
        let wanted = if signalled { GroupSignal::Kill } else { wanted };
        match (group, remote) {
            (Some(group), Remote::Vm(connection)) => {
                if let Err(e) = connection.signal_group(group, wanted).await {
                    tracing::warn!(
                        "could not pass the signal on to the command on {}: {e}",
                        connection.target()
                    );
                }
            }
            (Some(group), Remote::None) => sandboxer::process_group::signal(group, &format!("-{}", name_of(wanted))),
            // Not started yet: the signal goes as soon as its group is known,
            // as it was asked (a parked one does not count as sent).
            (None, _) => {
                pending = Some(wanted);
                continue;
            }
        }
        signalled = true;
    };
    if let Some(relay) = relay {
        // The rest of its stderr, to the end.
        let _ = relay.await;
    }
    Ok(exit_code_of(status))
}

/// `INT`, `TERM`, `KILL`.
fn name_of(signal: GroupSignal) -> &'static str {
    match signal {
        GroupSignal::Interrupt => "INT",
        GroupSignal::Terminate => "TERM",
        GroupSignal::Kill => "KILL",
    }
}

/// Sends `signal` to the process `pid` alone.
fn signal_process(pid: u32, signal: GroupSignal) {
    let mut kill = std::process::Command::new("kill");
    sandboxer::secret_env::scrub(&mut kill);
    let _ = kill
        .arg(format!("-{}", name_of(signal)))
        .arg(pid.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
}

/// The exit code as a shell gives it: the process's own, or 128+N when
/// signal N ended it.
fn exit_code_of(status: std::process::ExitStatus) -> ExitCode {
    use std::os::unix::process::ExitStatusExt;
    let code = status.code().or_else(|| status.signal().map(|n| 128 + n)).unwrap_or(1);
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

/// Copies the remote stderr to ours as it comes, but for the script's line
/// announcing its process group, which goes to `groups` instead. (Lines
/// before it come from the prelude or say why the command did not start.)
async fn relay_stderr(stderr: impl AsyncRead + Unpin, groups: mpsc::Sender<u32>) {
    let mut reader = tokio::io::BufReader::new(stderr);
    let mut out = tokio::io::stderr();
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        // The marker may follow what the login shell wrote without a line end.
        let text = String::from_utf8_lossy(&line);
        if let Some(at) = text.find(sandboxer::workspace_shell::GROUP_ANNOUNCEMENT)
            && let Some(group) = announced_group(&text[at..])
        {
            let _ = out.write_all(&text.as_bytes()[..at]).await;
            let _ = groups.send(group).await;
            break;
        }
        if out.write_all(&line).await.is_err() || out.flush().await.is_err() {
            return;
        }
    }
    let mut buffer = vec![0u8; 8192];
    loop {
        let n = match reader.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if out.write_all(&buffer[..n]).await.is_err() || out.flush().await.is_err() {
            return;
        }
    }
}

/// Refuses to go on without a terminal (an interactive shell needs one).
pub fn require_terminal(what: &str) -> anyhow::Result<()> {
    if std::io::stdin().is_terminal() {
        return Ok(());
    }
    Err(Hinted {
        message: format!("{what} needs a terminal: its standard input is not one"),
        hint: "run a command with `sandboxer exec <id> -- COMMAND...` instead".into(),
    }
    .into())
}
