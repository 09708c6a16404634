//! What reaching a VM can fail with, sorted so that the operator gets the way out.

use super::Target;

/// Why a connection to a VM failed, as far as ssh's words tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectFailure {
    /// The VM refused every key offered.
    AuthRefused,
    /// The VM's host key differs from the one in known_hosts.
    HostKeyChanged,
    /// The VM's host key is not in known_hosts.
    HostKeyUnknown,
    /// Nothing answered (tunnel down, VM booting, wrong port).
    Unreachable,
    /// The ssh config or an option is wrong.
    Config,
    /// Anything else.
    Other,
}

impl ConnectFailure {
    /// Sorts ssh's words.
    pub fn classify(text: &str) -> Self {
        if text.contains("IDENTIFICATION HAS CHANGED") {
            ConnectFailure::HostKeyChanged
        } else if text.contains("Host key verification failed") || text.contains("No host key is known") {
            ConnectFailure::HostKeyUnknown
        } else if text.contains("Permission denied") {
            ConnectFailure::AuthRefused
        } else if text.contains("Bad configuration option")
            || text.contains("Could not resolve hostname")
            || text.contains("No such file or directory")
            || text.contains("terminating,")
        {
            ConnectFailure::Config
        } else if text.contains("Connection refused")
            || text.contains("Connection timed out")
            || text.contains("timed out")
            || text.contains("Connection closed")
            || text.contains("Connection reset")
            || text.contains("No route to host")
        {
            ConnectFailure::Unreachable
        } else {
            ConnectFailure::Other
        }
    }

    /// Waiting will not fix it.
    pub fn is_permanent(self) -> bool {
        matches!(
            self,
            ConnectFailure::AuthRefused
                | ConnectFailure::HostKeyChanged
                | ConnectFailure::HostKeyUnknown
                | ConnectFailure::Config
        )
    }
}

/// Reaching a VM or running something there failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RemoteError {
    /// No connection could be made.
    #[error("cannot connect to {target}{}: {detail}", attempts_text(*attempts))]
    Connect {
        /// The VM.
        target: Target,
        /// How many times it was tried.
        attempts: u32,
        /// What kind of failure.
        kind: ConnectFailure,
        /// ssh's words (for a changed host key, without its warning banner).
        detail: String,
        /// The `ssh-keygen -R` line ssh suggested, for a changed host key.
        keygen: Option<String>,
    },
    /// The folder for the ssh control sockets cannot be made.
    #[error("cannot create the ssh control folder {path}: {message}")]
    ControlDir {
        /// The folder.
        path: String,
        /// The OS error.
        message: String,
    },
    /// The folder for the ssh control sockets exists but must not hold them.
    #[error("refusing the ssh control folder {path}: {problem}")]
    ControlDirUnsafe {
        /// The folder.
        path: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The connection broke while a command ran.
    #[error("ssh {target}: {detail}")]
    Session {
        /// The VM.
        target: Target,
        /// ssh's words.
        detail: String,
    },
    /// A remote command exited non-zero.
    #[error("{what} on {vm} failed ({status}): {stderr}")]
    Command {
        /// The VM's alias.
        vm: String,
        /// What the command was for.
        what: String,
        /// `exit N` or `a signal`.
        status: String,
        /// Its standard error.
        stderr: String,
    },
    /// What a remote command printed is not what was expected.
    #[error("{what} on {vm}: {problem}")]
    Output {
        /// The VM's alias.
        vm: String,
        /// What the command was for.
        what: String,
        /// What is wrong with the output.
        problem: String,
    },
    /// rsync could not be started here.
    #[error("cannot run rsync: {message}")]
    RsyncSpawn {
        /// Why.
        message: String,
    },
    /// rsync ran and failed.
    #[error("rsync to {vm}:{dest} failed ({status}): {stderr}")]
    Rsync {
        /// The VM's alias.
        vm: String,
        /// The destination folder.
        dest: String,
        /// rsync's exit status.
        status: String,
        /// Its standard error.
        stderr: String,
        /// The VM has no rsync.
        missing_on_vm: bool,
    },
}

fn attempts_text(attempts: u32) -> String {
    if attempts > 1 {
        format!(" (after {attempts} attempts)")
    } else {
        String::new()
    }
}

impl RemoteError {
    /// What the operator can do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            RemoteError::Connect {
                target, kind, keygen, ..
            } => {
                let vm = &target.vm;
                Some(match kind {
                    ConnectFailure::AuthRefused => format!(
                        "{vm} refused every key offered: check that the ssh agent holds the key (`ssh-add -l`) or that `IdentityFile` in the ssh config of `{vm}` names it; `ssh {vm} true` shows the same"
                    ),
                    ConnectFailure::HostKeyChanged => match keygen {
                        Some(line) => format!(
                            "the host key of {vm} changed: if the VM was rebuilt, check the new key with its operator, then remove the old one with `{line}`"
                        ),
                        None => format!(
                            "the host key of {vm} changed: if the VM was rebuilt, check the new key, then remove the old one with `ssh-keygen -R <host>` (for a tunnel port: `ssh-keygen -R '[127.0.0.1]:PORT'`)"
                        ),
                    },
                    ConnectFailure::HostKeyUnknown => format!(
                        "the host key of {vm} is not in known_hosts: check it and add it, or pass --ssh-accept-new to accept keys seen for the first time (changed keys are still refused)"
                    ),
                    ConnectFailure::Unreachable => match target.port {
                        Some(port) => format!(
                            "nothing answers on tunnel port {port}: check that the reverse tunnel of {vm} is up (`ssh -p {port} {vm} true`)"
                        ),
                        None => format!("check that {vm} is up and its tunnel is open (`ssh {vm} true`)"),
                    },
                    ConnectFailure::Config => format!(
                        "check the ssh config entry of `{vm}` (`ssh -G {vm}` shows what ssh uses), or --ssh-config / SANDBOXER_SSH_CONFIG"
                    ),
                    ConnectFailure::Other => format!("`ssh -v {vm} true` shows what ssh does"),
                })
            }
            RemoteError::Rsync {
                missing_on_vm: true,
                vm,
                ..
            } => Some(format!(
                "install rsync on {vm} (Debian: `apt-get install rsync`; bake it into the image's template)"
            )),
            RemoteError::ControlDirUnsafe { problem, .. } if problem.starts_with("too long") => Some(
                "set XDG_RUNTIME_DIR to a short private folder of yours (mode 0700), e.g. /run/user/$(id -u)".into(),
            ),
            RemoteError::ControlDirUnsafe { path, .. } => Some(format!(
                "ssh control sockets let anyone who reaches them run commands on your VMs: make {path} a folder of your own with `chmod 700 {path}` (or remove it: sandboxer makes it again)"
            )),
            RemoteError::RsyncSpawn { .. } => {
                Some("install rsync on this machine (Debian: `apt-get install rsync`)".into())
            }
            _ => None,
        }
    }
}

/// Whether rsync's words say the far side has no rsync: the VM's shell says
/// `rsync: not found` (dash) or `rsync: command not found` (bash).
pub fn rsync_missing_on_vm(stderr: &str) -> bool {
    stderr.contains("rsync: not found") || stderr.contains("rsync: command not found")
}

/// ssh's own suggestion for a changed host key: the `ssh-keygen ... -R ...` line.
pub fn keygen_line(text: &str) -> Option<String> {
    let start = text.find("ssh-keygen")?;
    let rest = &text[start..];
    let end = rest.find(['\n', '\r']).unwrap_or(rest.len());
    let line = rest[..end].trim();
    // ssh may run on, in one line, into "Host key for ... has changed": cut there.
    let line = line.split("  ").next().unwrap_or(line);
    line.contains(" -R ").then(|| line.to_string())
}

/// ssh's words without the warning banner of a changed host key (a box of
/// `@` lines and advice that the hint says better).
pub fn without_banner(text: &str) -> String {
    if !text.contains("IDENTIFICATION HAS CHANGED") {
        return text.to_string();
    }
    let mut kept = vec!["REMOTE HOST IDENTIFICATION HAS CHANGED".to_string()];
    kept.extend(
        text.split(['\n', '\r'])
            .map(str::trim)
            .filter(|l| {
                l.starts_with("Offending") || l.starts_with("Host key for") || l.starts_with("Host key verification")
            })
            .map(str::to_string),
    );
    kept.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHANGED: &str = "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n\
@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n\
@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n\
IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!\n\
Offending ED25519 key in /tmp/t/known_hosts:1\n\
  remove with:\n\
  ssh-keygen -f \"/tmp/t/known_hosts\" -R \"[127.0.0.1]:12222\"\n\
Host key for [127.0.0.1]:12222 has changed and you have requested strict checking.\n\
Host key verification failed.\n";

    #[test]
    fn a_changed_host_key_is_told_apart_and_the_keygen_line_kept() {
        assert_eq!(ConnectFailure::classify(CHANGED), ConnectFailure::HostKeyChanged);
        assert_eq!(
            keygen_line(CHANGED).as_deref(),
            Some("ssh-keygen -f \"/tmp/t/known_hosts\" -R \"[127.0.0.1]:12222\"")
        );
        let short = without_banner(CHANGED);
        assert!(!short.contains("@@@"), "{short}");
        assert!(
            short.contains("Offending ED25519 key in /tmp/t/known_hosts:1"),
            "{short}"
        );
    }

    #[test]
    fn rsync_missing_on_the_vm_is_told_apart_and_says_what_to_install() {
        let dash = "sh: 1: rsync: not found\nrsync: connection unexpectedly closed (0 bytes received so far) [sender]\nrsync error: error in rsync protocol data stream (code 12)";
        let bash = "bash: line 1: rsync: command not found\nrsync: connection unexpectedly closed";
        assert!(rsync_missing_on_vm(dash));
        assert!(rsync_missing_on_vm(bash));
        assert!(!rsync_missing_on_vm("rsync: [sender] write error: Broken pipe (32)"));
        let e = RemoteError::Rsync {
            vm: "vm1".into(),
            dest: "/build/sbx-a".into(),
            status: "exit status: 12".into(),
            stderr: dash.into(),
            missing_on_vm: true,
        };
        assert!(
            e.hint().is_some_and(|h| h.contains("install rsync on vm1")),
            "{:?}",
            e.hint()
        );
    }

    #[test]
    fn failures_are_sorted() {
        assert_eq!(
            ConnectFailure::classify("root@127.0.0.1: Permission denied (publickey)."),
            ConnectFailure::AuthRefused
        );
        assert_eq!(
            ConnectFailure::classify("Host key verification failed."),
            ConnectFailure::HostKeyUnknown
        );
        assert_eq!(
            ConnectFailure::classify("ssh: connect to host 127.0.0.1 port 1: Connection refused"),
            ConnectFailure::Unreachable
        );
        assert!(ConnectFailure::AuthRefused.is_permanent());
        assert!(!ConnectFailure::Unreachable.is_permanent());
    }
}
