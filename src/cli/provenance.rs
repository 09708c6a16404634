//! Provenance of a command's records: who runs it (`user@host`) and the git
//! commit of the manifest's work tree, read once per command and handed to
//! the engine as data (`sandboxer::provenance`).
//!
//! Git is asked with `git -C <manifest folder>`, hardened: stdin closed, no
//! optional locks (a read never writes the index), no fsmonitor hook, the
//! secrets of `secret_env` and any `GIT_DIR`-style variable left out, its own
//! process group, killed at a short deadline. No git, no work tree, no commit
//! yet, or no answer in time: no git fields, and the command goes on.
//!
//! Dirty means `git status --porcelain --untracked-files=no` lists something
//! (a tracked file changed, staged or not; a submodule at another commit), or
//! the manifest itself is not tracked. Untracked files do not count: the state
//! folder `.sandboxer/` next to the manifest and build output are untracked in
//! most trees, so counting them would call nearly every tree dirty, and
//! finding them is the slow part of `git status` in a large tree. What is
//! recorded is the user, the host, sandboxer's version and what git says of
//! `HEAD`: never a remote URL, a variable's value or a file's content.

use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sandboxer::plan::{Action, Plan};
use sandboxer::provenance::{GitSource, Provenance};

use super::Settings;

/// How long the git calls of one command may take together.
const GIT_TIMEOUT: Duration = Duration::from_secs(3);

/// The most of git's output kept: more of `git status` says no more than "dirty".
const OUTPUT_KEPT: usize = 64 * 1024;

/// Variables that would point git at another repository than the manifest's
/// (set, for one, when sandboxer runs from a git hook).
const GIT_REPO_VARS: &[&str] = &[
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_COMMON_DIR",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_NAMESPACE",
];

/// The provenance of the records `plan` writes when applied, or none when it
/// writes none (only deletes): git is then not asked at all. `manifest` is
/// read as a file only when it is one (`create` has no manifest). Git runs on
/// a blocking thread, off the runtime's workers (a hub lease is renewed there).
pub async fn for_apply(plan: &Plan, manifest: &Path, settings: &Settings) -> Option<Arc<Provenance>> {
    let writes = plan
        .changes
        .iter()
        .any(|c| matches!(c.action, Action::Create | Action::Update | Action::Replace));
    if !writes {
        return None;
    }
    let (manifest, user) = (manifest.to_path_buf(), settings.user.clone());
    let read = tokio::task::spawn_blocking(move || Provenance::new(applied_by(user), Git::default().read(&manifest)));
    match read.await {
        Ok(provenance) => Some(Arc::new(provenance)),
        Err(e) => {
            tracing::warn!("records carry no provenance: reading it failed: {e}");
            None
        }
    }
}

/// `user@host` (`user` when the host name cannot be read), `user` being the
/// one `Settings` read from the environment, else this process's user.
fn applied_by(user: Option<String>) -> Option<String> {
    // Every record of the apply holds it: an absurdly long variable is not taken.
    let user = user.filter(|u| u.len() <= 256).or_else(uid_name)?;
    Some(match host_name() {
        Some(host) => format!("{user}@{host}"),
        None => user,
    })
}

/// The machine's host name, from the kernel.
fn host_name() -> Option<String> {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|path| std::fs::read_to_string(path).ok())
        .map(|text| text.trim().to_string())
        .filter(|host| !host.is_empty() && host.len() <= 255)
}

/// The name of this process's user in `/etc/passwd`, else its uid as a number.
fn uid_name() -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    // /proc/self belongs to the process's effective user.
    let uid = std::fs::metadata("/proc/self").ok()?.uid();
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let name = passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.len() > 2 && fields[2] == uid.to_string()).then(|| fields[0].to_string())
    });
    Some(name.filter(|n| !n.is_empty()).unwrap_or_else(|| uid.to_string()))
}

/// How git is run: the program and, for tests, the `PATH` it is looked up in.
#[derive(Debug, Clone)]
pub struct Git {
    program: OsString,
    path: Option<OsString>,
    timeout: Duration,
}

impl Default for Git {
    fn default() -> Self {
        Git {
            program: "git".into(),
            path: None,
            timeout: GIT_TIMEOUT,
        }
    }
}

impl Git {
    /// The commit, branch and dirtiness of the work tree the file `manifest`
    /// is in; none when it is in none, is not a file, or git cannot say.
    pub fn read(&self, manifest: &Path) -> Option<GitSource> {
        let manifest = std::path::absolute(manifest).ok()?;
        if !manifest.is_file() {
            return None;
        }
        let (dir, name) = (manifest.parent()?, manifest.file_name()?);
        let deadline = Instant::now() + self.timeout;
        let head = self.run(
            dir,
            &[
                "rev-parse",
                "--is-inside-work-tree",
                "HEAD",
                "--symbolic-full-name",
                "HEAD",
            ],
            deadline,
        )?;
        let mut lines = head.lines();
        if lines.next() != Some("true") {
            return None; // inside a .git folder: no work tree
        }
        let commit = lines.next().filter(|c| is_hash(c))?.to_string();
        let branch = lines
            .next()
            .and_then(|r| r.strip_prefix("refs/heads/"))
            .filter(|b| !b.is_empty())
            .map(str::to_string);
        let status = self.run(
            dir,
            &[
                "status",
                "--porcelain",
                "--untracked-files=no",
                "--ignore-submodules=dirty",
            ],
            deadline,
        )?;
        let tracked = self.run(dir, &[OsStr::new("ls-files"), OsStr::new("--"), name], deadline)?;
        Some(GitSource {
            commit: commit.into(),
            branch: branch.map(Into::into),
            dirty: !status.trim().is_empty() || tracked.trim().is_empty(),
        })
    }

    /// Runs one git command in `dir`; its stdout if it succeeds before `deadline`.
    fn run<S: AsRef<OsStr>>(&self, dir: &Path, args: &[S], deadline: Instant) -> Option<String> {
        let mut command = Command::new(&self.program);
        command
            .arg("-C")
            .arg(dir)
            .args([
                "--no-optional-locks",
                "--literal-pathspecs",
                "-c",
                "core.fsmonitor=false",
            ])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .env("GIT_TERMINAL_PROMPT", "0")
            // A Ctrl-C at the terminal is sandboxer's to handle, not git's.
            .process_group(0);
        for var in GIT_REPO_VARS {
            command.env_remove(var);
        }
        if let Some(path) = &self.path {
            command.env("PATH", path);
        }
        sandboxer::secret_env::scrub(&mut command);
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(e) => {
                tracing::debug!("no git provenance: cannot run git: {e}");
                return None;
            }
        };
        let _group = sandboxer::process_group::register(child.id());
        let mut stdout = child.stdout.take()?;
        // Read on a thread, to the end, so that git never blocks on a full pipe.
        let reader = std::thread::spawn(move || {
            let (mut kept, mut chunk) = (Vec::new(), [0u8; 8192]);
            while let Ok(n) = stdout.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                let room = OUTPUT_KEPT.saturating_sub(kept.len());
                kept.extend_from_slice(&chunk[..n.min(room)]);
            }
            kept
        });
        loop {
            match child.try_wait() {
                Ok(Some(status)) => {
                    let out = reader.join().ok()?;
                    if !status.success() {
                        tracing::debug!("no git provenance: git in {} exited with {status}", dir.display());
                        return None;
                    }
                    return Some(String::from_utf8_lossy(&out).into_owned());
                }
                Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
                outcome => {
                    sandboxer::process_group::signal(child.id(), "-KILL");
                    let _ = child.kill();
                    let _ = child.wait();
                    let _ = reader.join();
                    if let Err(e) = outcome {
                        tracing::warn!("no git provenance: cannot wait for git: {e}");
                    } else {
                        tracing::warn!(
                            "git did not answer within {}s in {}; records carry no commit",
                            self.timeout.as_secs(),
                            dir.display()
                        );
                    }
                    return None;
                }
            }
        }
    }
}

/// A full commit hash: 40 (SHA-1) or 64 (SHA-256) hex digits.
fn is_hash(text: &str) -> bool {
    matches!(text.len(), 40 | 64) && text.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs git in `dir` for a test, independent of the machine's git config.
    fn git(dir: &Path, args: &[&str]) -> String {
        let out = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "Test")
            .env("GIT_AUTHOR_EMAIL", "test@example.com")
            .env("GIT_COMMITTER_NAME", "Test")
            .env("GIT_COMMITTER_EMAIL", "test@example.com")
            .stdin(Stdio::null())
            .output()
            .expect("run git");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// A repo on branch `main` with one commit holding `sandboxes.yaml`.
    fn repo() -> (tempfile::TempDir, std::path::PathBuf, String) {
        let dir = tempfile::tempdir().expect("tempdir");
        git(dir.path(), &["init", "-q", "-b", "main"]);
        let manifest = dir.path().join("sandboxes.yaml");
        std::fs::write(&manifest, "version: 1\n").expect("write");
        git(dir.path(), &["add", "sandboxes.yaml"]);
        git(dir.path(), &["commit", "-q", "-m", "first"]);
        let head = git(dir.path(), &["rev-parse", "HEAD"]);
        (dir, manifest, head)
    }

    #[test]
    fn a_clean_tree_gives_its_commit_and_branch_and_untracked_files_do_not_count() {
        let (dir, manifest, head) = repo();
        std::fs::write(dir.path().join("build.log"), "untracked\n").expect("write");
        std::fs::create_dir(dir.path().join(".sandboxer")).expect("mkdir");
        std::fs::write(dir.path().join(".sandboxer/state.json"), "{}").expect("write");
        let read = Git::default().read(&manifest).expect("a git source");
        assert_eq!(
            read,
            GitSource {
                commit: head.into(),
                branch: Some("main".into()),
                dirty: false
            }
        );
    }

    #[test]
    fn an_edit_staged_or_not_makes_the_tree_dirty() {
        let (dir, manifest, head) = repo();
        std::fs::write(&manifest, "version: 1\n# edited\n").expect("write");
        let read = Git::default().read(&manifest).expect("a git source");
        assert!(read.dirty, "{read:?}");
        assert_eq!(read.commit, head);
        git(dir.path(), &["add", "sandboxes.yaml"]);
        assert!(Git::default().read(&manifest).expect("staged").dirty);
    }

    #[test]
    fn a_manifest_that_is_not_tracked_is_dirty() {
        let (dir, _, _) = repo();
        let other = dir.path().join("other.yaml");
        std::fs::write(&other, "version: 1\n").expect("write");
        assert!(Git::default().read(&other).expect("a git source").dirty);
    }

    #[test]
    fn a_detached_head_has_no_branch() {
        let (dir, manifest, head) = repo();
        git(dir.path(), &["checkout", "-q", "--detach"]);
        let read = Git::default().read(&manifest).expect("a git source");
        assert_eq!(read.branch, None);
        assert_eq!(read.commit, head);
        assert!(!read.dirty);
    }

    #[test]
    fn a_manifest_in_a_subfolder_reads_the_tree_above() {
        let (dir, _, head) = repo();
        let manifest = dir.path().join("deploy/sandboxes.yaml");
        std::fs::create_dir(dir.path().join("deploy")).expect("mkdir");
        std::fs::write(&manifest, "version: 1\n").expect("write");
        git(dir.path(), &["add", "deploy"]);
        git(dir.path(), &["commit", "-q", "-m", "second"]);
        let read = Git::default().read(&manifest).expect("a git source");
        assert_ne!(read.commit, head);
        assert!(!read.dirty);
    }

    #[test]
    fn outside_a_work_tree_without_a_commit_or_without_git_there_is_nothing() {
        let plain = tempfile::tempdir().expect("tempdir");
        let manifest = plain.path().join("sandboxes.yaml");
        std::fs::write(&manifest, "version: 1\n").expect("write");
        assert_eq!(Git::default().read(&manifest), None, "not a repo");

        git(plain.path(), &["init", "-q"]);
        assert_eq!(Git::default().read(&manifest), None, "no commit yet");

        let (_dir, manifest, _) = repo();
        let empty = tempfile::tempdir().expect("tempdir");
        let no_git_on_path = Git {
            path: Some(empty.path().as_os_str().to_owned()),
            ..Git::default()
        };
        assert_eq!(no_git_on_path.read(&manifest), None, "no git on PATH");
        let no_such_program = Git {
            program: "git-that-is-not-installed".into(),
            ..Git::default()
        };
        assert_eq!(no_such_program.read(&manifest), None);
        assert_eq!(Git::default().read(Path::new("<command line>")), None, "no manifest");
    }

    #[test]
    fn a_git_that_does_not_answer_in_time_is_stopped_and_gives_nothing() {
        let (_dir, manifest, _) = repo();
        let bin = tempfile::tempdir().expect("tempdir");
        let slow = bin.path().join("git");
        std::fs::write(&slow, "#!/bin/sh\n[ \"$1\" = ready ] && exit 0\nexec sleep 30\n").expect("write");
        std::fs::set_permissions(&slow, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
        // A script just written may be busy for a moment (a fork of another
        // test's thread holding it open): wait until it runs.
        let ready = || Command::new(&slow).arg("ready").status().is_ok_and(|s| s.success());
        let since = Instant::now();
        while !ready() {
            assert!(since.elapsed() < Duration::from_secs(10), "the script never ran");
            std::thread::sleep(Duration::from_millis(20));
        }
        let hanging = Git {
            program: slow.into_os_string(),
            path: None,
            timeout: Duration::from_millis(200),
        };
        let started = Instant::now();
        assert_eq!(hanging.read(&manifest), None);
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(200) && took < Duration::from_secs(10),
            "{took:?}"
        );
    }

    #[test]
    fn a_hash_is_40_or_64_hex_digits() {
        assert!(is_hash(&"a".repeat(40)));
        assert!(is_hash(&"0".repeat(64)));
        assert!(!is_hash("HEAD"));
        assert!(!is_hash(&"g".repeat(40)));
    }
}
