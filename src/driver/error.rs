//! What a driver operation can fail with, and what the operator can do about it.

use std::path::PathBuf;

use super::DriverName;
use crate::remote::RemoteError;

/// A driver operation failed.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// Reaching the VM or running something on it failed.
    #[error(transparent)]
    Remote(#[from] RemoteError),
    /// A file operation on this machine failed.
    #[error("{what}")]
    Io {
        /// What was being done, with the path.
        what: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A folder is not ours to touch: no marker, or another sandbox's.
    #[error("{message}")]
    Refused {
        /// What was refused and why.
        message: String,
    },
    /// A profile's setup command failed in the workspace.
    #[error("setup `{command}` failed{on} ({status}): {output}")]
    Setup {
        /// The command.
        command: String,
        /// ` on <vm>` for a VM, empty here.
        on: String,
        /// Its exit status.
        status: String,
        /// The end of its output.
        output: String,
    },
    /// The repo to sync cannot be read.
    #[error("cannot read repo {repo}: {message}")]
    Repo {
        /// The repo folder.
        repo: String,
        /// What failed.
        message: String,
    },
    /// Packer could not be run or the build failed.
    #[error("{message}")]
    Packer {
        /// What failed, with the end of Packer's output.
        message: String,
        /// The full log, when there is one.
        log: Option<PathBuf>,
    },
    /// The operator interrupted the operation.
    #[error("cancelled: {message}")]
    Cancelled {
        /// What was stopped.
        message: String,
    },
    /// A task of the driver ended without an answer (a panic: a bug).
    #[error("the {task} task failed: {message}")]
    Task {
        /// Which task.
        task: String,
        /// The panic message or join error.
        message: String,
    },
    /// No driver of that name is registered.
    #[error("no driver `{name}` in this sandboxer")]
    Unknown {
        /// The name asked for.
        name: DriverName,
        /// The names registered.
        known: Vec<String>,
    },
    /// Anything else a driver reports.
    #[error("{message}")]
    Other {
        /// What failed.
        message: String,
    },
}

impl DriverError {
    /// A file operation that failed: `what` names it and its path.
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        DriverError::Io {
            what: what.into(),
            source,
        }
    }

    /// A refusal to touch a folder.
    pub fn refused(message: impl Into<String>) -> Self {
        DriverError::Refused {
            message: message.into(),
        }
    }

    /// Any other failure.
    pub fn other(message: impl Into<String>) -> Self {
        DriverError::Other {
            message: message.into(),
        }
    }

    /// A task that panicked or was cancelled.
    pub fn task(task: impl Into<String>, error: tokio::task::JoinError) -> Self {
        DriverError::Task {
            task: task.into(),
            message: crate::task::join_error_text(error),
        }
    }

    /// What the operator can do about it, when there is something to say.
    pub fn hint(&self) -> Option<String> {
        match self {
            DriverError::Remote(e) => e.hint(),
            DriverError::Refused { .. } => Some(
                "sandboxer only touches folders that carry its marker for this project and id; move the folder away if it is in the way"
                    .into(),
            ),
            DriverError::Setup { .. } => Some(
                "fix the profile's setup command; the workspace is kept and the next apply runs the setup again".into(),
            ),
            DriverError::Packer { log: Some(log), .. } => Some(format!("the whole build output is in {}", log.display())),
            DriverError::Unknown { known, .. } => Some(format!("known drivers: {}", known.join(", "))),
            DriverError::Task { .. } => Some("this is a bug in sandboxer; the next plan sees what the change left".into()),
            _ => None,
        }
    }
}
