//! Commands attached to the operator's terminal through a connection's master
//! (`sandboxer exec`, `sandboxer ssh`): the output streams as it comes, the
//! exit code is the remote command's.

use super::{Connection, RemoteError, quote};

/// A signal sent to a remote process group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupSignal {
    /// Ctrl-C.
    Interrupt,
    /// A polite end.
    Terminate,
    /// The end.
    Kill,
}

impl GroupSignal {
    fn name(self) -> &'static str {
        match self {
            GroupSignal::Interrupt => "INT",
            GroupSignal::Terminate => "TERM",
            GroupSignal::Kill => "KILL",
        }
    }
}

impl Connection {
    /// An `ssh` command that runs `remote_command` (a command line of words
    /// quoted with [`quote()`]) on the VM through this connection's master,
    /// with the master's host-key policy; `tty`: on a pseudo-terminal of the
    /// VM (`-t`), else without one (`-T`). No secret is in its environment
    /// (and so none reaches the VM). Its standard streams are the caller's to set.
    pub fn attached_ssh(&self, remote_command: &str, tty: bool) -> tokio::process::Command {
        let mut command = tokio::process::Command::new("ssh");
        crate::secret_env::scrub_async(&mut command);
        command
            .arg("-S")
            .arg(self.session.control_socket())
            .args(["-o", "ControlMaster=no"]);
        if let Some(config) = &self.options.config_file {
            command.arg("-F").arg(config);
        }
        // Should the master be gone, ssh connects by itself: to the same VM, then.
        if let Some(port) = self.target.port {
            command.arg("-p").arg(port.to_string());
        }
        if let Some(jump) = &self.target.jump {
            command.arg("-J").arg(jump);
        }
        command
            .args(["-o", "BatchMode=yes", "-o"])
            .arg(if self.options.accept_new_host_keys {
                "StrictHostKeyChecking=accept-new"
            } else {
                "StrictHostKeyChecking=yes"
            })
            .args(["-o", "UpdateHostKeys=no"])
            // Errors still show; "Shared connection to vm closed." does not.
            .args(["-o", "LogLevel=ERROR"])
            .arg(if tty { "-t" } else { "-T" })
            .arg("--")
            .arg(&self.target.vm)
            .arg(remote_command)
            .kill_on_drop(true);
        command
    }

    /// Sends `signal` to the process group `group` on the VM, through the
    /// master (a command of its own, beside the one running there).
    pub async fn signal_group(&self, group: u32, signal: GroupSignal) -> Result<(), RemoteError> {
        let script = format!("kill -s {} -- {}", signal.name(), quote(&format!("-{group}")));
        let out = self.run(&script).await?;
        if out.code == Some(0) {
            Ok(())
        } else {
            Err(self.failed("signal the command's process group", &out))
        }
    }
}
