//! The `sh` script that `sandboxer exec` and `sandboxer ssh` run in a
//! workspace, on a VM or on this machine: enter the folder, run the profile's
//! `shell_prelude`, then the operator's command (as exact words) or a shell.
//!
//! The command's words are never pasted into the script: they are the script's
//! positional parameters, run as `"$@"`, so a word with spaces, quotes, `$()` or
//! `;` arrives as it was given and nothing else runs.

use crate::remote::quote;

/// What runs in the workspace once the prelude has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    /// The words given to the script (`"$@"`), as a child of the script, whose
    /// exit code the script passes on (128+N when a signal ended it, as a
    /// shell says it).
    Command,
    /// The user's `$SHELL` (`/bin/sh` without one) in place of the script; a
    /// login shell when `login`.
    Shell {
        /// `-l`: reads the login profile, as an ssh login does.
        login: bool,
    },
}

/// The first line the script writes on stderr when asked to announce its
/// process group, followed by the group id: what `exec` signals on Ctrl-C
/// when the command runs without a terminal.
pub const GROUP_ANNOUNCEMENT: &str = "@@sandboxer-exec-group";

/// The name the script gets as `$0` (in the shell's own error messages).
pub const SCRIPT_NAME: &str = "sandboxer-exec";

/// What the script needs.
#[derive(Debug, Clone, Copy)]
pub struct Script<'a> {
    /// The workspace folder.
    pub workspace: &'a str,
    /// The profile, named when its prelude fails.
    pub profile: &'a str,
    /// The profile's `shell_prelude`, if any.
    pub prelude: Option<&'a str>,
    /// What to run.
    pub job: Job,
    /// Write [`GROUP_ANNOUNCEMENT`] and `$$` on stderr before the command:
    /// the script is the leader of its process group (sshd starts a session
    /// for a command without a terminal, and `exec sh` keeps its process).
    pub announce_group: bool,
    /// The command takes the script's process (`exec`) instead of running as
    /// its child: where sandboxer waits for that process itself (on this
    /// machine) and sees how it ended, a signal sent to it reaches the command
    /// and nothing is left running behind a killed script.
    pub replace_script: bool,
}

impl Script<'_> {
    /// The script's text, for `sh -c TEXT sandboxer-exec WORD...`.
    pub fn text(&self) -> String {
        let failed = |what: String| format!("{{ printf '%s\\n' {} >&2; exit 1; }}", quote(&what));
        let mut text = String::new();
        if self.announce_group && self.job == Job::Command {
            // First of all: a Ctrl-C during the prelude is passed on too.
            text.push_str(&format!("printf '%s %s\\n' {GROUP_ANNOUNCEMENT} \"$$\" >&2\n"));
        }
        text.push_str(&format!(
            "cd -- {workspace} 2>/dev/null || {fail}\n",
            workspace = quote(self.workspace),
            fail = failed(format!(
                "sandboxer: cannot enter the workspace {} (run `sandboxer plan` to see whether it is there)",
                self.workspace
            )),
        ));
        if let Some(prelude) = self.prelude.filter(|p| !p.trim().is_empty()) {
            // In this shell, so that what it exports reaches the command; its
            // input is not the command's.
            text.push_str(&format!(
                "{{\n{prelude}\n}} </dev/null || {{ printf 'sandboxer: the shell_prelude of %s failed (exit %s)\\n' {profile} \"$?\" >&2; exit 1; }}\n",
                profile = quote(self.profile),
            ));
        }
        match self.job {
            Job::Command => {
                if self.replace_script {
                    text.push_str("exec \"$@\"\n");
                } else {
                    // On a VM: a trap (not an ignored signal, which the command
                    // would inherit) keeps the script alive through a Ctrl-C of
                    // its group, so that it reports how the command ended (130
                    // after SIGINT) instead of ssh's 255 for a killed one.
                    text.push_str("trap : INT TERM\n");
                    text.push_str("\"$@\"\nexit \"$?\"\n");
                }
            }
            Job::Shell { login } => {
                text.push_str("exec \"${SHELL:-/bin/sh}\"");
                if login {
                    text.push_str(" -l");
                }
                text.push('\n');
            }
        }
        text
    }

    /// One command line for a remote login shell: `exec sh -c SCRIPT
    /// sandboxer-exec WORD...`, every part quoted. `exec` keeps the process
    /// that sshd made the leader of the session.
    pub fn remote_command(&self, words: &[String]) -> String {
        let mut line = format!("exec sh -c {} {SCRIPT_NAME}", quote(&self.text()));
        for word in words {
            line.push(' ');
            line.push_str(&quote(word));
        }
        line
    }
}

/// The process group a script announced in `line` (its first line on stderr).
pub fn announced_group(line: &str) -> Option<u32> {
    let id = line.trim_end().strip_prefix(GROUP_ANNOUNCEMENT)?.strip_prefix(' ')?;
    id.parse().ok().filter(|g| *g > 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn script<'a>(workspace: &'a str, prelude: Option<&'a str>, job: Job) -> Script<'a> {
        Script {
            workspace,
            profile: "profile.test",
            prelude,
            job,
            announce_group: false,
            replace_script: false,
        }
    }

    /// Runs the remote command line the way a login shell does.
    fn through_login_shell(line: &str) -> std::process::Output {
        Command::new("sh").arg("-c").arg(line).output().expect("run sh")
    }

    #[test]
    fn words_arrive_as_given_and_nothing_else_runs() {
        let dir = tempfile::tempdir().expect("a folder");
        let workspace = dir.path().to_str().expect("a UTF-8 path");
        let words: Vec<String> = [
            "printf",
            "%s\\n",
            "a b",
            "'q'",
            "$(touch canary)",
            ";",
            "`touch canary`",
            "x\ny",
        ]
        .map(String::from)
        .to_vec();
        let out = through_login_shell(&script(workspace, None, Job::Command).remote_command(&words));
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "a b\n'q'\n$(touch canary)\n;\n`touch canary`\nx\ny\n"
        );
        assert!(!dir.path().join("canary").exists());
    }

    #[test]
    fn a_first_word_that_looks_like_an_assignment_or_keyword_is_a_command() {
        let dir = tempfile::tempdir().expect("a folder");
        let workspace = dir.path().to_str().expect("a UTF-8 path");
        for first in ["A=b", "if", "!", "{"] {
            let words = vec![first.to_string(), "true".to_string()];
            let out = through_login_shell(&script(workspace, None, Job::Command).remote_command(&words));
            assert_eq!(out.status.code(), Some(127), "{first}: {out:?}");
        }
    }

    #[test]
    fn the_command_runs_in_the_workspace_after_the_prelude_with_its_exit_code() {
        let dir = tempfile::tempdir().expect("a folder");
        let workspace = dir.path().to_str().expect("a UTF-8 path");
        let words = ["sh", "-c", "pwd; echo \"$FROM_PRELUDE\"; exit 7"]
            .map(String::from)
            .to_vec();
        let line = script(workspace, Some("export FROM_PRELUDE=yes"), Job::Command).remote_command(&words);
        let out = through_login_shell(&line);
        assert_eq!(out.status.code(), Some(7), "{out:?}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), format!("{workspace}\nyes\n"));
    }

    #[test]
    fn a_failing_prelude_or_a_missing_workspace_stops_with_exit_1_and_says_why() {
        let dir = tempfile::tempdir().expect("a folder");
        let workspace = dir.path().to_str().expect("a UTF-8 path");
        let words = vec!["touch".to_string(), "ran".to_string()];
        let out = through_login_shell(&script(workspace, Some("false"), Job::Command).remote_command(&words));
        assert_eq!(out.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&out.stderr).contains("the shell_prelude of profile.test failed (exit 1)"));
        assert!(!dir.path().join("ran").exists());
        let gone = dir.path().join("gone");
        let gone = gone.to_str().expect("a UTF-8 path");
        let out = through_login_shell(&script(gone, None, Job::Command).remote_command(&words));
        assert_eq!(out.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&out.stderr).contains("cannot enter the workspace"));
    }

    #[test]
    fn the_announced_group_is_read_back_and_nothing_else_is() {
        assert_eq!(announced_group("@@sandboxer-exec-group 4242\n"), Some(4242));
        for other in [
            "@@sandboxer-exec-group",
            "@@sandboxer-exec-group x",
            "hello",
            "@@sandboxer-exec-group 1",
        ] {
            assert_eq!(announced_group(other), None, "{other}");
        }
    }
}
