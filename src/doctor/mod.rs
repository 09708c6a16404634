//! `sandboxer doctor`: the status of the bridge to the build machines, checked
//! without changing anything. Each VM is checked over one ssh master, as
//! `apply` reaches it (`vm`); Packer and the image templates once (`packer`);
//! the State Hub once (`hub`). Every check gives one [`Finding`]; after a failed
//! check the later checks of the same scope are not run and say so
//! ([`Status::Skipped`]).
//!
//! Nothing is written but the capability catalog of the VMs probed (by the
//! command, through the store): no state, no lock, no file but ssh's own
//! control socket (and, with `--ssh-persist`, its log).

pub mod hub;
pub mod packer;
pub mod vm;

use std::time::Duration;

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// It passed.
    Ok,
    /// It failed; the finding has a hint.
    Fail,
    /// Not run: an earlier check of the same scope failed.
    Skipped,
}

impl Status {
    /// The word shown in the table.
    pub fn word(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Fail => "fail",
            Status::Skipped => "skipped",
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// What was checked: a VM alias, `packer`, an image address, `hub`.
    pub scope: String,
    /// Which check: `tcp`, `banner`, `host-key`, ...
    pub check: &'static str,
    /// How it went.
    pub status: Status,
    /// What was found (a figure, a path, the error).
    pub detail: String,
    /// For a failure: what to run or change.
    pub hint: Option<String>,
}

/// The checks of one scope, run in order: the first failure skips the rest.
///
/// The checks are declared up front ([`Checklist::new`]), so that a scope
/// that fails early still lists every check it did not get to.
#[derive(Debug)]
pub(crate) struct Checklist {
    scope: String,
    planned: Vec<Planned>,
    findings: Vec<Finding>,
}

/// A check to come, with what it is about (a workspace root) when it has a subject.
#[derive(Debug, Clone)]
pub(crate) struct Planned {
    pub check: &'static str,
    pub subject: Option<String>,
}

impl Planned {
    /// A check with no subject.
    pub fn check(check: &'static str) -> Planned {
        Planned { check, subject: None }
    }

    /// A check of `subject`.
    pub fn of(check: &'static str, subject: &str) -> Planned {
        Planned {
            check,
            subject: Some(subject.to_string()),
        }
    }
}

impl Checklist {
    pub fn new(scope: &str, planned: Vec<Planned>) -> Checklist {
        Checklist {
            scope: scope.to_string(),
            planned,
            findings: Vec::new(),
        }
    }

    /// The check whose turn it is.
    fn current(&self) -> Option<&Planned> {
        self.planned.get(self.findings.len())
    }

    fn push(&mut self, status: Status, detail: String, hint: Option<String>) {
        let Some(planned) = self.current() else {
            return;
        };
        let check = planned.check;
        self.findings.push(Finding {
            scope: self.scope.clone(),
            check,
            status,
            detail,
            hint,
        });
    }

    /// The current check passed.
    pub fn pass(&mut self, detail: impl Into<String>) {
        self.push(Status::Ok, detail.into(), None);
    }

    /// The current check failed: every later one is skipped.
    pub fn fail(mut self, detail: impl Into<String>, hint: impl Into<String>) -> Vec<Finding> {
        let failed = self.current().map_or("", |p| p.check);
        self.push(Status::Fail, detail.into(), Some(hint.into()));
        while let Some(planned) = self.current() {
            let detail = match &planned.subject {
                Some(subject) => format!("{subject}: not checked ({failed} failed)"),
                None => format!("not checked ({failed} failed)"),
            };
            self.push(Status::Skipped, detail, None);
        }
        self.findings
    }

    /// The findings so far (every check passed).
    pub fn finish(self) -> Vec<Finding> {
        self.findings
    }
}

/// Runs `work` with `timeout`; on expiry, the error says what took too long.
pub(crate) async fn within<T>(
    timeout: Duration,
    what: &str,
    work: impl std::future::Future<Output = T>,
) -> Result<T, String> {
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| format!("{what}: no answer within {timeout:?}"))
}

/// The first non-empty lines of `text`, joined into one line of at most
/// `MAX_DETAIL` characters, with control characters made visible.
pub(crate) fn one_line(text: &str) -> String {
    const MAX_DETAIL: usize = 300;
    let joined = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let printable = crate::safety::printable(&joined);
    match printable.char_indices().nth(MAX_DETAIL) {
        Some((cut, _)) => format!("{}...", &printable[..cut]),
        None => printable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_skips_every_later_check_of_its_scope() {
        let mut list = Checklist::new(
            "vm1",
            vec![
                Planned::check("tcp"),
                Planned::check("banner"),
                Planned::of("workspace-root", "/build"),
            ],
        );
        list.pass("127.0.0.1:12221 accepts");
        let findings = list.fail("no banner", "check the tunnel");
        let statuses: Vec<(&str, Status)> = findings.iter().map(|f| (f.check, f.status)).collect();
        assert_eq!(
            statuses,
            [
                ("tcp", Status::Ok),
                ("banner", Status::Fail),
                ("workspace-root", Status::Skipped)
            ]
        );
        assert_eq!(findings[2].detail, "/build: not checked (banner failed)");
        assert_eq!(findings[1].hint.as_deref(), Some("check the tunnel"));
    }

    #[test]
    fn details_are_one_short_printable_line() {
        let line = one_line("\n  a\n\nb \x1b[31m\n");
        assert!(line.starts_with("a b "), "{line}");
        assert!(!line.contains('\x1b'), "{line}");
        assert!(one_line(&"x".repeat(1000)).ends_with("..."));
    }
}
