//! The `local-workspace` driver: `<workspace_root>/sbx-<id>` on this machine, with
//! the repo copied natively (no rsync binary).

use std::collections::{BTreeSet, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::{
    Driver, DriverError, DriverName, FoundWorkspace, Location, MARKER_FILE, Made, Marker, Observation, Owner, Removal,
    Request, Scope, WorkspaceRef, is_leftover_name, workspace_dir_name,
};
use crate::desired::DesiredResource;
use crate::repo::copy::{copy_into_new, sync_entries};
use crate::repo::{RESERVED_PREFIX, RepoTrees};
use crate::state::now_rfc3339;

/// The local driver; `cache_dir` keeps repo digest caches.
#[derive(Debug, Clone)]
pub struct LocalDriver {
    cache_dir: PathBuf,
    /// Roots already rid of unmarked staging folders by this run (shared by clones).
    swept: Arc<Mutex<HashSet<PathBuf>>>,
}

#[async_trait]
impl Driver for LocalDriver {
    fn name(&self) -> DriverName {
        DriverName::LOCAL_WORKSPACE
    }

    fn location(&self, _: &DesiredResource) -> Location {
        Location::Local
    }

    async fn observe(&self, scope: Scope<'_>) -> Result<Observation, DriverError> {
        let mut roots: BTreeSet<String> = scope
            .desired
            .iter()
            .filter_map(|r| r.input_str("workspace_root").map(str::to_string))
            .collect();
        roots.extend(scope.records.iter().filter_map(|r| r.facts.get("root").cloned()));
        // Listed on this thread, not a blocking one: the markers read live
        // through the plan, and made on another thread they would fill a second
        // allocator arena (3 MiB more RSS for a plan of 10,000). The other
        // sites' observations are let go first, so that they wait on their
        // hosts while this lists.
        tokio::task::yield_now().await;
        let workspaces = self.find(scope.project, &roots)?;
        Ok(Observation {
            workspaces,
            ..Observation::default()
        })
    }

    async fn create(&self, request: Request<'_>) -> Result<Made, DriverError> {
        let (this, owner, resource, id, repos) = (
            self.clone(),
            request.owner.clone(),
            request.resource.clone(),
            request.id.to_string(),
            request.repos,
        );
        blocking("local create", move || this.create_here(&owner, &resource, &id, &repos)).await
    }

    async fn update(&self, request: Request<'_>, workspace: &WorkspaceRef) -> Result<Made, DriverError> {
        let (this, resource, path, id, repos) = (
            self.clone(),
            request.resource.clone(),
            workspace.path.clone(),
            workspace.id.clone(),
            request.repos,
        );
        blocking("local update", move || this.update_here(&resource, &path, &id, &repos)).await
    }

    async fn relabel(
        &self,
        project: &str,
        workspace: &WorkspaceRef,
        edit: &super::MarkerEdit,
    ) -> Result<(), DriverError> {
        let (project, path, id, edit) = (
            project.to_string(),
            workspace.path.clone(),
            workspace.id.clone(),
            edit.clone(),
        );
        blocking("local relabel", move || {
            relabel_here(&project, Path::new(&path), &id, &edit)
        })
        .await
    }

    async fn delete(&self, removal: Removal<'_>) -> Result<(), DriverError> {
        let (this, project, path, id) = (
            self.clone(),
            removal.project.to_string(),
            removal.workspace.path.clone(),
            removal.workspace.id.clone(),
        );
        blocking("local delete", move || this.delete_here(&project, &path, &id)).await
    }
}

/// What a sync copies into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dest {
    /// A workspace this create has just made: nothing in it but the marker.
    New,
    /// A workspace that exists: compared with the repo, extras removed.
    Existing,
}

/// Runs blocking file work off the async threads; a panic there fails the operation.
async fn blocking<T: Send + 'static>(
    task: &str,
    work: impl FnOnce() -> Result<T, DriverError> + Send + 'static,
) -> Result<T, DriverError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| DriverError::task(task, e))?
}

impl LocalDriver {
    /// A driver that caches repo digests under `cache_dir`.
    pub fn new(cache_dir: &Path) -> Self {
        LocalDriver {
            cache_dir: cache_dir.to_path_buf(),
            swept: Arc::default(),
        }
    }

    /// Once per root and run, before this run stages anything there: removes the
    /// `.sbx-*.creating` / `.sbx-*.deleting` folders that a kill left without a
    /// marker (killed between `mkdir` and the marker's rename, or after the last
    /// file of a delete). Such a folder holds nothing but marker temp files, so
    /// nothing is lost; a folder with anything else in it is left alone.
    ///
    /// Every create and delete of this driver calls it first, and waits for it, so
    /// it never races a staging folder of its own run.
    fn sweep_unmarked_staging(&self, root: &Path) {
        let mut swept = self.swept.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if !swept.insert(root.to_path_buf()) {
            return;
        }
        let Ok(entries) = fs::read_dir(root) else { return };
        // The marker's temp file, as named now and by earlier versions.
        let temp_prefixes = [format!("{MARKER_FILE}.tmp-"), format!(".{MARKER_FILE}.tmp-")];
        for entry in entries.filter_map(Result::ok) {
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            if !is_leftover_name(&name) || !entry.file_type().is_ok_and(|t| t.is_dir()) || read_marker(&path).is_some()
            {
                continue;
            }
            let Ok(inside) = fs::read_dir(&path) else { continue };
            let inside: Vec<fs::DirEntry> = inside.filter_map(Result::ok).collect();
            if !inside.iter().all(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                temp_prefixes.iter().any(|p| name.starts_with(p.as_str()))
            }) {
                continue;
            }
            for e in &inside {
                let _ = fs::remove_file(e.path());
            }
            // Not recursive: fails, and keeps the folder, if anything else appeared meanwhile.
            if let Err(e) = fs::remove_dir(&path) {
                tracing::debug!("unmarked staging folder {} not removed: {e}", path.display());
            }
        }
    }

    /// Lists the workspaces of `project` under each root.
    ///
    /// Guarantees: reads only. A root that does not exist holds nothing.
    /// Caveats: folders without a readable marker of `project` are not reported
    /// (and so never touched).
    fn find(&self, project: &str, roots: &BTreeSet<String>) -> Result<Vec<FoundWorkspace>, DriverError> {
        let mut found = Vec::new();
        for root in roots {
            let entries = match fs::read_dir(root) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(DriverError::io(format!("cannot list workspace root {root}"), e)),
            };
            // Room for every folder at once: grown step by step, a vector of
            // thousands leaves the steps behind as free memory.
            let entries: Vec<fs::DirEntry> = entries.filter_map(Result::ok).collect();
            found.reserve(entries.len());
            for entry in entries {
                let name = entry.file_name().to_string_lossy().into_owned();
                let leftover = is_leftover_name(&name);
                if !(name.starts_with("sbx-") || leftover) {
                    continue;
                }
                let path = entry.path();
                let Some(marker) = read_marker(&path) else {
                    if path.join(MARKER_FILE).exists() {
                        tracing::warn!(
                            "{}: unreadable marker (not a small JSON document); left alone",
                            crate::safety::printable(&path.display().to_string())
                        );
                    }
                    continue;
                };
                if marker.project != project {
                    continue;
                }
                found.push(FoundWorkspace {
                    driver: DriverName::LOCAL_WORKSPACE,
                    location: Location::Local,
                    path: path.to_string_lossy().into_owned(),
                    marker,
                    leftover,
                });
            }
        }
        found.sort_by(|a, b| a.path.cmp(&b.path));
        // Kept through the plan: without room for folders that were no workspaces.
        found.shrink_to_fit();
        Ok(found)
    }

    /// Makes `<root>/sbx-<id>` with the marker, the repo and the setup.
    ///
    /// Guarantees: on `Ok`, the folder holds the repo (excludes left out) and a
    /// complete marker. Assumptions: `id` is new. Caveats: killed before the
    /// rename, a `.sbx-<id>.creating` folder with our marker is left (the next plan
    /// deletes it); after, `sbx-<id>` with an incomplete marker (the next plan
    /// adopts and completes it). Killed before the marker landed, an unmarked
    /// `.sbx-<id>.creating` holding at most a marker temp file is left; the next
    /// create or delete in that root removes it (the resource has no record nor
    /// marked workspace, so the next apply re-creates it).
    fn create_here(
        &self,
        owner: &Owner,
        resource: &DesiredResource,
        id: &str,
        repos: &RepoTrees,
    ) -> Result<Made, DriverError> {
        let root = PathBuf::from(resource.input_str("workspace_root").unwrap_or("."));
        fs::create_dir_all(&root)
            .map_err(|e| DriverError::io(format!("cannot create workspace root {}", root.display()), e))?;
        self.sweep_unmarked_staging(&root);
        let final_path = root.join(workspace_dir_name(id));
        let staging = root.join(format!(".{}.creating", workspace_dir_name(id)));
        fs::create_dir(&staging).map_err(|e| DriverError::io(format!("cannot create {}", staging.display()), e))?;
        let mut marker = Marker::new(owner, resource, id);
        write_marker(&staging, &marker)?;
        if final_path.exists() {
            return Err(DriverError::refused(format!(
                "{} exists already; refusing to reuse it",
                final_path.display()
            )));
        }
        fs::rename(&staging, &final_path)
            .map_err(|e| DriverError::io(format!("cannot move {} into place", staging.display()), e))?;
        self.sync(resource, &final_path, &mut marker, Dest::New, repos)
    }

    /// Resyncs the repo into an existing workspace.
    ///
    /// Guarantees: on `Ok`, the folder holds the repo as now and a complete marker.
    /// Assumptions: `path` carries our marker with `id` (checked). Caveats: killed
    /// mid-sync, the marker says incomplete; the next plan updates again.
    fn update_here(
        &self,
        resource: &DesiredResource,
        path: &str,
        id: &str,
        repos: &RepoTrees,
    ) -> Result<Made, DriverError> {
        let path = PathBuf::from(path);
        let mut marker = read_marker(&path).filter(|m| m.id == id).ok_or_else(|| {
            DriverError::refused(format!(
                "{} does not carry the marker of sandbox {id}; refusing to sync into it",
                path.display()
            ))
        })?;
        marker.spec_hash = resource.spec_hash();
        self.sync(resource, &path, &mut marker, Dest::Existing, repos)
    }

    /// Copies the repo in (from the tree this apply read of it) and runs the
    /// setup still pending, between an incomplete and a complete marker.
    fn sync(
        &self,
        resource: &DesiredResource,
        path: &Path,
        marker: &mut Marker,
        dest: Dest,
        repos: &RepoTrees,
    ) -> Result<Made, DriverError> {
        let mut made = Made {
            path: path.to_string_lossy().into_owned(),
            ..Made::default()
        };
        if let Some(root) = resource.input_str("workspace_root") {
            made.facts.insert("root".into(), root.to_string());
        }
        if dest == Dest::Existing {
            // A new workspace's marker says incomplete from its first moment.
            marker.complete = false;
            write_marker(path, marker)?;
        }
        if let Some(repo) = resource.input_str("repo") {
            let source = Path::new(repo);
            let tree = repos
                .get(&self.cache_dir, source, &resource.sync.excludes)
                .map_err(|e| DriverError::Repo {
                    repo: repo.to_string(),
                    message: e.to_string(),
                })?;
            let stats = match dest {
                Dest::New => copy_into_new(source, &tree.entries, path),
                Dest::Existing => sync_entries(
                    source,
                    &tree.entries,
                    path,
                    &tree.excludes,
                    resource.sync.delete,
                    &[RESERVED_PREFIX],
                ),
            }
            .map_err(|e| DriverError::io(format!("cannot copy {repo} into {}", path.display()), e))?;
            made.notes.push(format!(
                "synced {repo}: {} copied, {} deleted, {} unchanged",
                stats.copied, stats.deleted, stats.unchanged
            ));
            made.repo_digest = Some(tree.digest.clone());
        }
        if marker.setup_pending {
            for command in &resource.setup {
                made.notes.push(run_setup(command, path, &marker.id)?);
            }
            marker.setup_pending = false;
        }
        marker.repo_digest.clone_from(&made.repo_digest);
        marker.complete = true;
        marker.updated_at = now_rfc3339();
        write_marker(path, marker)?;
        Ok(made)
    }

    /// Removes a workspace that carries our marker with `id`.
    ///
    /// Guarantees: removes nothing without our marker and id; on `Ok` the folder is
    /// gone. Caveats: killed mid-removal, a `.sbx-<id>.deleting` folder with the
    /// marker is left; the next plan deletes it. Killed after the marker went, an
    /// empty `.sbx-<id>.deleting` is left; the next create or delete in that root
    /// removes it.
    fn delete_here(&self, project: &str, path: &str, id: &str) -> Result<(), DriverError> {
        let path = PathBuf::from(path);
        if let Some(root) = path.parent() {
            self.sweep_unmarked_staging(root);
        }
        if !path.exists() {
            return Ok(());
        }
        match read_marker(&path) {
            Some(m) if m.id == id && m.project == project => {}
            Some(m) => {
                return Err(DriverError::refused(format!(
                    "{} belongs to sandbox {} of project {}, not {id} of {project}; refusing to delete it",
                    path.display(),
                    m.id,
                    m.project
                )));
            }
            None => {
                return Err(DriverError::refused(format!(
                    "{} has no sandboxer marker; refusing to delete it",
                    path.display()
                )));
            }
        }
        let doomed = if path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().ends_with(".deleting"))
        {
            path
        } else {
            let doomed = path.with_file_name(format!(".{}.deleting", workspace_dir_name(id)));
            fs::rename(&path, &doomed).map_err(|e| DriverError::io(format!("cannot remove {}", path.display()), e))?;
            doomed
        };
        // Everything but the marker first, so a half-removed folder is still recognisable.
        for entry in
            fs::read_dir(&doomed).map_err(|e| DriverError::io(format!("cannot list {}", doomed.display()), e))?
        {
            let entry = entry.map_err(|e| DriverError::io(format!("cannot list {}", doomed.display()), e))?;
            if entry.file_name() == MARKER_FILE {
                continue;
            }
            let p = entry.path();
            let result = if entry.file_type().is_ok_and(|t| t.is_dir()) {
                fs::remove_dir_all(&p)
            } else {
                fs::remove_file(&p)
            };
            result.map_err(|e| DriverError::io(format!("cannot remove {}", p.display()), e))?;
        }
        fs::remove_dir_all(&doomed).map_err(|e| DriverError::io(format!("cannot remove {}", doomed.display()), e))
    }
}

/// The largest marker read: markers are one small JSON document.
const MARKER_MAX_BYTES: u64 = 64 * 1024;

/// Reads the marker of a workspace folder: a regular file (not a link) of at
/// most 64 KiB holding a marker. Anything else is no marker of ours.
pub fn read_marker(dir: &Path) -> Option<Marker> {
    use std::io::Read;
    let path = dir.join(MARKER_FILE);
    if !fs::symlink_metadata(&path).ok()?.is_file() {
        return None;
    }
    let mut bytes = Vec::new();
    fs::File::open(&path)
        .ok()?
        .take(MARKER_MAX_BYTES + 1)
        .read_to_end(&mut bytes)
        .ok()?;
    if bytes.len() as u64 > MARKER_MAX_BYTES {
        return None;
    }
    serde_json::from_slice(&bytes).ok()
}

/// Rewrites the marker in `dir` when it is the marker of `project` and `id`.
fn relabel_here(project: &str, dir: &Path, id: &str, edit: &super::MarkerEdit) -> Result<(), DriverError> {
    let mut marker = read_marker(dir)
        .filter(|m| m.project == project && m.id == id)
        .ok_or_else(|| {
            DriverError::refused(format!(
                "{} does not carry the marker of sandbox {id} of project {project}; leaving it alone",
                dir.display()
            ))
        })?;
    edit.apply(&mut marker);
    write_marker(dir, &marker)
}

fn write_marker(dir: &Path, marker: &Marker) -> Result<(), DriverError> {
    let bytes =
        serde_json::to_vec_pretty(marker).map_err(|e| DriverError::other(format!("cannot encode marker: {e}")))?;
    crate::fsutil::write_atomic(&dir.join(MARKER_FILE), &bytes)
        .map_err(|e| DriverError::io(format!("cannot write marker in {}", dir.display()), e))
}

/// Runs one setup command in the workspace; its output becomes a note.
///
/// It runs in a process group of its own, so a terminal's Ctrl-C (which drains)
/// does not reach it; the second Ctrl-C ends it ([`crate::process_group::kill_all`]).
fn run_setup(command: &str, dir: &Path, id: &str) -> Result<String, DriverError> {
    use std::os::unix::process::CommandExt;
    use std::process::Stdio;
    let mut sh = Command::new("sh");
    // Setup commands come from profiles; secrets sandboxer holds are not theirs.
    crate::secret_env::scrub(&mut sh);
    let child = sh
        .arg("-c")
        .arg(command)
        .current_dir(dir)
        .env("SANDBOXER_WORKSPACE", dir)
        .env("SANDBOXER_SANDBOX_ID", id)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| DriverError::io(format!("cannot run setup `{command}`"), e))?;
    let registered = crate::process_group::register(child.id());
    let output = child.wait_with_output();
    drop(registered);
    let output = output.map_err(|e| DriverError::io(format!("cannot run setup `{command}`"), e))?;
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    let tail = tail(&text, 2000);
    if !output.status.success() {
        return Err(DriverError::Setup {
            command: command.to_string(),
            on: String::new(),
            status: output.status.to_string(),
            output: tail,
        });
    }
    Ok(format!("setup `{command}`: {tail}"))
}

/// The last `max` bytes of `text`, on a char boundary.
pub fn tail(text: &str, max: usize) -> String {
    let text = text.trim();
    let mut start = text.len().saturating_sub(max);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    text[start..].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staging_folders_killed_before_their_marker_are_swept_once_and_nothing_else() {
        let root = tempfile::tempdir().expect("tempdir");
        let mkdir = |name: &str| {
            let p = root.path().join(name);
            fs::create_dir(&p).expect("mkdir");
            p
        };
        mkdir(".sbx-empty.creating");
        let temp_only = mkdir(".sbx-temp.creating");
        fs::write(temp_only.join(format!("{MARKER_FILE}.tmp-42")), "{").expect("write");
        let with_data = mkdir(".sbx-data.creating");
        fs::write(with_data.join("keep.txt"), "x").expect("write");
        mkdir(".sbx-gone.deleting");
        mkdir("sbx-plain");
        let driver = LocalDriver::new(&root.path().join("cache"));

        driver.clone().sweep_unmarked_staging(root.path());
        let mut left: Vec<String> = fs::read_dir(root.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, [".sbx-data.creating", "sbx-plain"]);

        // Once per root and run: a folder staged later by this run is not touched.
        mkdir(".sbx-later.creating");
        driver.sweep_unmarked_staging(root.path());
        assert!(root.path().join(".sbx-later.creating").exists());
    }
}
