//! The `packer` driver: builds a VM image with `packer build -machine-readable`,
//! turns its output into progress (steps, errors) and throttled notes, keeps the
//! full log in the state folder, and stops Packer cleanly on cancel.

pub mod machine_readable;

use std::collections::BTreeMap;
use std::io::Write;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::watch;

use async_trait::async_trait;

use self::machine_readable::{PackerEvent, UiLevel, parse_line, step_of};
use super::{
    ChangeLimit, Driver, DriverError, DriverName, Location, Made, Observation, ProgressKind, ProgressSink, Removal,
    Request, Scope, WorkspaceRef,
};
use crate::desired::DesiredResource;
use crate::reason::Reason;
use crate::shared_str::SharedStr;
use crate::sorted_map::SortedMap;
use crate::state::Record;

/// Prefix of the inputs that become `-var` words.
pub const VAR_PREFIX: &str = "packer_var_";

/// How long Packer gets to stop after an interrupt before its group is killed.
pub const CANCEL_GRACE: Duration = Duration::from_secs(15);

/// Notes at most every `every`, plus every step change and every error.
#[derive(Debug, Clone)]
pub struct NoteThrottle {
    every: Duration,
    last: Option<Instant>,
}

impl NoteThrottle {
    /// A throttle letting a message through at most every `every`.
    pub fn new(every: Duration) -> Self {
        NoteThrottle { every, last: None }
    }

    /// Whether a line of `kind` seen at `now` becomes a note.
    pub fn admit(&mut self, kind: ProgressKind, now: Instant) -> bool {
        let due = self.last.is_none_or(|last| now.duration_since(last) >= self.every);
        if kind != ProgressKind::Message || due {
            self.last = Some(now);
            true
        } else {
            false
        }
    }
}

/// How Packer is run.
#[derive(Debug, Clone)]
pub struct PackerOptions {
    /// The binary (`packer` on PATH, or `SANDBOXER_PACKER`).
    pub binary: PathBuf,
    /// Set `CHECKPOINT_DISABLE=1` (unless the operator set it): no update check from automation.
    pub disable_checkpoint: bool,
    /// Folder for full build logs.
    pub logs_dir: PathBuf,
    /// Minimum time between two throttled notes.
    pub note_every: Duration,
    /// Builds running at once (`--parallel-builds`); `None`: only
    /// `--parallelism` bounds them.
    pub parallel_builds: Option<NonZeroUsize>,
}

/// The packer driver.
#[derive(Debug, Clone)]
pub struct PackerDriver {
    options: PackerOptions,
}

/// Folders inside a template directory that are Packer's own output, never input.
const NOT_TEMPLATE: &[&str] = &["output-*/", "packer_cache/", ".git/"];

/// Every file of a template directory (templates, var files, the scripts and
/// files they use, in subfolders too) with its sha256, by relative path. Packer's
/// output folders are left out, so a build never makes its own template "change".
pub fn template_digests(dir: &Path) -> Result<BTreeMap<String, String>, TemplateError> {
    let excludes = crate::repo::Excludes::new(NOT_TEMPLATE);
    let entries = crate::repo::walk::walk(dir, &excludes, &[])
        .map_err(|e| TemplateError(format!("cannot read template folder {}: {e}", dir.display())))?;
    let mut digests = BTreeMap::new();
    for entry in entries.iter().filter(|e| e.kind == crate::repo::walk::EntryKind::File) {
        let path = dir.join(&entry.relative);
        let bytes = std::fs::read(&path).map_err(|e| TemplateError(format!("cannot read {}: {e}", path.display())))?;
        digests.insert(entry.relative.clone(), format!("sha256:{:x}", Sha256::digest(&bytes)));
    }
    let has_template = digests
        .keys()
        .any(|f| !f.contains('/') && (f.ends_with(".pkr.hcl") || f.ends_with(".pkr.json")));
    if !has_template {
        return Err(TemplateError(format!("{} holds no *.pkr.hcl template", dir.display())));
    }
    Ok(digests)
}

/// A template folder that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TemplateError(String);

/// Why an image must be rebuilt although its inputs are the same: template
/// files changed since `record`, or its artifacts are gone.
fn rebuild_reasons(resource: &DesiredResource, record: &Record) -> Vec<Reason> {
    let mut reasons = Vec::new();
    let recorded: BTreeMap<&str, &SharedStr> = record
        .digests
        .iter()
        .filter_map(|(k, v)| k.strip_prefix("template:").map(|f| (f, v)))
        .collect();
    if let Some(template) = resource.input_str("packer_template") {
        match template_digests(Path::new(template)) {
            Ok(now) => {
                let mut files: Vec<String> = now
                    .iter()
                    .filter(|(file, digest)| recorded.get(file.as_str()).map(|d| d.as_str()) != Some(digest.as_str()))
                    .map(|(file, _)| file.clone())
                    .collect();
                files.extend(
                    recorded
                        .keys()
                        .filter(|f| !now.contains_key(**f))
                        .map(|f| (*f).to_string()),
                );
                files.sort_unstable();
                if !files.is_empty() {
                    reasons.push(Reason::TemplateChanged { files });
                }
            }
            Err(e) => reasons.push(Reason::TemplateUnreadable { error: e.to_string() }),
        }
    }
    let files = missing_artifacts(&record.facts);
    if !files.is_empty() {
        reasons.push(Reason::ArtifactMissing { files });
    }
    reasons
}

#[async_trait]
impl Driver for PackerDriver {
    fn name(&self) -> DriverName {
        DriverName::PACKER
    }

    /// Packer runs here; what it builds is files here.
    fn location(&self, _: &DesiredResource) -> Location {
        Location::Local
    }

    /// Template files now against the record, and whether recorded artifacts
    /// are still there. A VM that is down changes nothing: the image is built
    /// here, not observed on its VM.
    async fn observe(&self, scope: Scope<'_>) -> Result<Observation, DriverError> {
        let pairs: Vec<(DesiredResource, Record)> = scope
            .desired
            .iter()
            .filter_map(|r| {
                scope
                    .records
                    .iter()
                    .find(|rec| rec.address == r.address)
                    .map(|rec| ((*r).clone(), (*rec).clone()))
            })
            .collect();
        let replace_reasons = tokio::task::spawn_blocking(move || {
            pairs
                .iter()
                .map(|(r, rec)| (r.address.clone(), rebuild_reasons(r, rec)))
                .filter(|(_, reasons)| !reasons.is_empty())
                .collect()
        })
        .await
        .map_err(|e| DriverError::task("packer observe", e))?;
        Ok(Observation {
            replace_reasons,
            ..Observation::default()
        })
    }

    async fn create(&self, request: Request<'_>) -> Result<Made, DriverError> {
        self.build(request.resource, request.id, request.progress, request.cancel)
            .await
    }

    /// An image is never patched: an update builds it again.
    async fn update(&self, request: Request<'_>, _: &WorkspaceRef) -> Result<Made, DriverError> {
        self.build(request.resource, request.id, request.progress, request.cancel)
            .await
    }

    /// Each build boots a VM of its own here: `--parallel-builds` of them at once.
    fn change_limit(&self) -> Option<ChangeLimit> {
        self.options.parallel_builds.map(|n| ChangeLimit {
            at_once: n.get(),
            waiting: format!(
                "waiting: {n} Packer build{s} at a time (--parallel-builds)",
                s = if n.get() == 1 { "" } else { "s" }
            ),
        })
    }

    /// The artifacts of an image belong to the operator: a delete forgets the
    /// record and leaves every file.
    async fn delete(&self, _: Removal<'_>) -> Result<(), DriverError> {
        Ok(())
    }
}

/// The `-var` words of a resource, in a stable order: `vm_name` first.
pub fn var_words(resource: &DesiredResource) -> Vec<String> {
    let mut words = Vec::new();
    if let Some(vm) = resource.input_str("vm_name") {
        words.push("-var".to_string());
        words.push(format!("vm_name={vm}"));
    }
    for (name, value) in &resource.inputs.values {
        if let Some(var) = name.strip_prefix(VAR_PREFIX) {
            words.push("-var".to_string());
            words.push(format!("{var}={value}"));
        }
    }
    words
}

impl PackerDriver {
    /// A driver with these options.
    pub fn new(options: PackerOptions) -> Self {
        PackerDriver { options }
    }

    fn command(&self) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(&self.options.binary);
        // A template's provisioners run what they like: no secret of sandboxer's reaches them.
        crate::secret_env::scrub_async(&mut command);
        if self.options.disable_checkpoint {
            command.env("CHECKPOINT_DISABLE", "1");
        }
        command.stdin(Stdio::null());
        command
    }

    /// Packer's version, e.g. `1.6.6`.
    async fn version(&self) -> Result<String, DriverError> {
        let output = self
            .command()
            .arg("version")
            .arg("-machine-readable")
            .output()
            .await
            .map_err(|e| self.cannot_run(&e))?;
        let text = String::from_utf8_lossy(&output.stdout);
        Ok(text
            .lines()
            .find_map(|l| match parse_line(l) {
                Some(PackerEvent::Version(v)) => Some(v),
                _ => None,
            })
            .unwrap_or_default())
    }

    fn cannot_run(&self, error: &std::io::Error) -> DriverError {
        DriverError::Packer {
            message: format!(
                "cannot run {}: {error} (install Packer, or set SANDBOXER_PACKER to its path)",
                self.options.binary.display()
            ),
            log: None,
        }
    }

    /// Builds the image.
    ///
    /// Guarantees: on `Ok`, Packer exited 0 without errors, and the result holds
    /// the template digests and the artifacts (files with size and sha256, ids).
    /// Assumptions: the template's own outputs are its business (sandboxer never
    /// deletes artifacts). Caveats: cancelled (or killed), the image counts as not
    /// built: no record is written, the next plan builds it again.
    async fn build(
        &self,
        resource: &DesiredResource,
        id: &str,
        progress: ProgressSink,
        mut cancel: watch::Receiver<bool>,
    ) -> Result<Made, DriverError> {
        let template = PathBuf::from(resource.input_str("packer_template").unwrap_or("."));
        let digests = {
            let template = template.clone();
            tokio::task::spawn_blocking(move || template_digests(&template))
                .await
                .map_err(|e| DriverError::task("template digest", e))?
                .map_err(|e| DriverError::Packer {
                    message: e.to_string(),
                    log: None,
                })?
        };
        let version = self.version().await?;
        if needs_init(&version) && uses_plugins(&template) {
            progress(ProgressKind::Step, &format!("packer init {}", template.display()), true);
            let out = self
                .command()
                .arg("init")
                .arg(&template)
                .output()
                .await
                .map_err(|e| self.cannot_run(&e))?;
            if !out.status.success() {
                return Err(DriverError::Packer {
                    message: format!(
                        "packer init failed ({}): {}",
                        out.status,
                        String::from_utf8_lossy(&out.stderr).trim()
                    ),
                    log: None,
                });
            }
        }

        std::fs::create_dir_all(&self.options.logs_dir).map_err(|e| {
            DriverError::io(
                format!("cannot create the logs folder {}", self.options.logs_dir.display()),
                e,
            )
        })?;
        let log_path = self
            .options
            .logs_dir
            .join(format!("{}-{id}.log", resource.address.name));
        let mut log = std::fs::File::create(&log_path)
            .map_err(|e| DriverError::io(format!("cannot create {}", log_path.display()), e))?;

        let mut command = self.command();
        command
            .arg("build")
            .arg("-machine-readable")
            .args(var_words(resource))
            .arg(&template)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        let mut child = command.spawn().map_err(|e| self.cannot_run(&e))?;
        let pgid = child.id();
        let registered = pgid.map(crate::process_group::register);
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| DriverError::other("packer stdout unavailable"))?;
        let stderr = child
            .stderr
            .take()
            .ok_or_else(|| DriverError::other("packer stderr unavailable"))?;
        let stderr_task = tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            let mut text = Vec::new();
            while let Ok(Some(line)) = lines.next_line().await {
                text.push(line);
            }
            text
        });

        let mut lines = BufReader::new(stdout).lines();
        let mut throttle = NoteThrottle::new(self.options.note_every);
        let mut errors: Vec<String> = Vec::new();
        let mut build_errors: Vec<String> = Vec::new();
        let mut facts = BTreeMap::new();
        let mut cancelled = false;
        let mut kill_at: Option<tokio::time::Instant> = None;
        let mut exited: Option<std::process::ExitStatus> = None;
        loop {
            let deadline = kill_at.unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(86_400));
            tokio::select! {
                line = lines.next_line() => {
                    let Ok(Some(line)) = line else { break };
                    let _ = writeln!(log, "{line}");
                    match parse_line(&line) {
                        Some(PackerEvent::Ui { level, text }) => {
                            let text = text.trim_end().to_string();
                            let kind = match level {
                                UiLevel::Error => {
                                    errors.push(text.trim().to_string());
                                    ProgressKind::Error
                                }
                                UiLevel::Say if step_of(&text).is_some() => ProgressKind::Step,
                                _ => ProgressKind::Message,
                            };
                            let shown = step_of(&text).unwrap_or(text.trim());
                            if !shown.is_empty() {
                                let keep = throttle.admit(kind, Instant::now());
                                progress(kind, shown, keep);
                            }
                        }
                        Some(PackerEvent::Artifact { target, index, key, value }) => {
                            record_artifact(&mut facts, &target, index, &key, &value);
                        }
                        Some(PackerEvent::BuildError { target, reason }) => build_errors.push(format!("{target}: {reason}")),
                        _ => {}
                    }
                }
                changed = cancel.changed(), if !cancelled && exited.is_none() => {
                    if changed.is_err() || *cancel.borrow() {
                        cancelled = true;
                        progress(ProgressKind::Error, "interrupt: stopping Packer", true);
                        signal_group(pgid, "-INT");
                        kill_at = Some(tokio::time::Instant::now() + CANCEL_GRACE);
                    }
                }
                status = child.wait(), if exited.is_none() => {
                    exited = Some(status.map_err(|e| DriverError::io("waiting for packer", e))?);
                    // Packer is gone: what is left of its group are orphans (a script
                    // ignoring SIGINT) that would hold the output pipe open.
                    signal_group(pgid, "-KILL");
                    kill_at = None;
                }
                () = tokio::time::sleep_until(deadline), if kill_at.is_some() => {
                    progress(ProgressKind::Error, "Packer did not stop in time: killed", true);
                    signal_group(pgid, "-KILL");
                    kill_at = None;
                }
            }
        }
        let status = match exited {
            Some(status) => status,
            None => {
                let status = child
                    .wait()
                    .await
                    .map_err(|e| DriverError::io("waiting for packer", e))?;
                signal_group(pgid, "-KILL");
                status
            }
        };
        drop(registered);
        let stderr_lines = stderr_task.await.unwrap_or_default();
        for line in &stderr_lines {
            let _ = writeln!(log, "stderr: {line}");
        }
        facts.insert("log".into(), log_path.to_string_lossy().into_owned());
        if cancelled {
            return Err(DriverError::Cancelled {
                message: format!(
                    "Packer was interrupted; the image is not built (log: {})",
                    log_path.display()
                ),
            });
        }
        if !status.success() || !build_errors.is_empty() {
            let mut last: Vec<String> = if build_errors.is_empty() { errors } else { build_errors };
            last.extend(stderr_lines.into_iter().rev().take(3));
            let tail: Vec<String> = last.iter().rev().take(5).rev().map(|l| l.replace('\n', " ")).collect();
            return Err(DriverError::Packer {
                message: format!(
                    "packer build failed ({status}): {} (full log: {})",
                    tail.join(" | "),
                    log_path.display()
                ),
                log: Some(log_path),
            });
        }
        let mut notes = vec![format!(
            "packer {version} built {} (log: {})",
            template.display(),
            log_path.display()
        )];
        for problem in hash_artifact_files(&mut facts).await {
            // The image is built; its artifact's size and digest are not recorded,
            // so the next plan cannot tell if it changed: say so.
            tracing::warn!("{}: {problem}", resource.address);
            progress(ProgressKind::Error, &problem, true);
            notes.push(problem);
        }
        if let Some(vm) = resource.vm() {
            facts.insert("vm".into(), vm.to_string());
        }
        Ok(Made {
            path: String::new(),
            repo_digest: None,
            notes,
            digests: digests
                .into_iter()
                .map(|(file, d)| (format!("template:{file}"), d))
                .collect(),
            facts,
        })
    }
}

/// `artifact.<target>.<i>.id` = id; `artifact_file:<path>` = `<size>` (hashed later).
fn record_artifact(facts: &mut BTreeMap<String, String>, target: &str, index: usize, key: &str, value: &[String]) {
    match (key, value) {
        ("id", [id, ..]) => {
            facts.insert(format!("artifact.{target}.{index}.id"), id.clone());
        }
        ("file", [_, path, ..]) => {
            facts.insert(format!("artifact_file:{path}"), String::new());
        }
        _ => {}
    }
}

/// Fills in `<size> sha256:<hex>` for every artifact file; returns what could
/// not be hashed.
async fn hash_artifact_files(facts: &mut BTreeMap<String, String>) -> Vec<String> {
    let mut problems = Vec::new();
    let files: Vec<String> = facts
        .keys()
        .filter_map(|k| k.strip_prefix("artifact_file:"))
        .map(str::to_string)
        .collect();
    for path in files {
        let p = path.clone();
        let summary = tokio::task::spawn_blocking(move || -> std::io::Result<String> {
            let mut file = std::fs::File::open(&p)?;
            let size = file.metadata()?.len();
            let mut hasher = Sha256::new();
            std::io::copy(&mut file, &mut hasher)?;
            Ok(format!("{size} sha256:{:x}", hasher.finalize()))
        })
        .await;
        match summary {
            Ok(Ok(summary)) => {
                facts.insert(format!("artifact_file:{path}"), summary);
            }
            Ok(Err(e)) => problems.push(format!("artifact {path} cannot be hashed: {e}")),
            Err(e) => problems.push(format!(
                "artifact {path} cannot be hashed: {}",
                crate::task::join_error_text(e)
            )),
        }
    }
    problems
}

/// Artifact files recorded for an image that are gone or changed size.
pub fn missing_artifacts(facts: &SortedMap<SharedStr, String>) -> Vec<String> {
    facts
        .iter()
        .filter_map(|(k, v)| k.strip_prefix("artifact_file:").map(|path| (path, v)))
        .filter(|(path, summary)| {
            let size: Option<u64> = summary.split(' ').next().and_then(|s| s.parse().ok());
            match std::fs::metadata(path) {
                Ok(m) => size.is_some_and(|s| s != m.len()),
                Err(_) => true,
            }
        })
        .map(|(path, _)| path.to_string())
        .collect()
}

/// `packer init` exists from 1.7 on.
fn needs_init(version: &str) -> bool {
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    major > 1 || (major == 1 && minor >= 7)
}

fn uses_plugins(template: &Path) -> bool {
    std::fs::read_dir(template)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".pkr.hcl"))
        .any(|e| std::fs::read_to_string(e.path()).is_ok_and(|t| t.contains("required_plugins")))
}

/// Signals Packer's whole process group: the wrapper alone ignores SIGINT, and
/// its provisioners would keep the output pipe open.
fn signal_group(pgid: Option<u32>, signal: &str) {
    if let Some(pgid) = pgid {
        crate::process_group::signal(pgid, signal);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_lets_steps_and_errors_through_and_messages_every_few_seconds() {
        let mut t = NoteThrottle::new(Duration::from_secs(5));
        let start = Instant::now();
        assert!(t.admit(ProgressKind::Message, start));
        assert!(!t.admit(ProgressKind::Message, start + Duration::from_secs(1)));
        assert!(t.admit(ProgressKind::Step, start + Duration::from_secs(2)));
        assert!(t.admit(ProgressKind::Error, start + Duration::from_secs(2)));
        assert!(!t.admit(ProgressKind::Message, start + Duration::from_secs(6)));
        assert!(t.admit(ProgressKind::Message, start + Duration::from_secs(8)));
    }

    #[test]
    fn template_digests_cover_subfolders_but_not_packer_output() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        for (path, text) in [
            ("build.pkr.hcl", "b"),
            ("scripts/provision.sh", "p"),
            ("output-vm/disk.img", "d"),
            ("packer_cache/x", "c"),
        ] {
            let file = root.join(path);
            std::fs::create_dir_all(file.parent().expect("parent")).expect("mkdir");
            std::fs::write(file, text).expect("write");
        }
        let digests = template_digests(root).expect("digests");
        assert_eq!(
            digests.keys().collect::<Vec<_>>(),
            ["build.pkr.hcl", "scripts/provision.sh"]
        );
        std::fs::remove_file(root.join("build.pkr.hcl")).expect("rm");
        assert!(
            template_digests(root)
                .expect_err("no template")
                .to_string()
                .contains("no *.pkr.hcl")
        );
    }

    #[tokio::test]
    async fn an_artifact_that_cannot_be_hashed_is_reported_not_skipped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let good = dir.path().join("disk.img");
        std::fs::write(&good, "disk").expect("write");
        let folder = dir.path().join("a-folder");
        std::fs::create_dir(&folder).expect("mkdir");
        let mut facts = BTreeMap::new();
        for path in [&good, &folder, &dir.path().join("gone.img")] {
            facts.insert(format!("artifact_file:{}", path.display()), String::new());
        }
        let problems = hash_artifact_files(&mut facts).await;
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("a-folder")), "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("gone.img")), "{problems:?}");
        let recorded = &facts[&format!("artifact_file:{}", good.display())];
        assert!(recorded.starts_with("4 sha256:"), "{recorded}");
    }

    #[test]
    fn init_only_from_1_7() {
        assert!(!needs_init("1.6.6"));
        assert!(needs_init("1.7.0"));
        assert!(needs_init("1.11.2"));
    }
}
