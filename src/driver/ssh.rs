//! The `ssh-workspace` driver: `<workspace_root>/sbx-<id>/` on a build VM, reached
//! over one ssh master connection per VM, with the repo rsynced through it.
//!
//! Every remote command is a script of words quoted with [`quote`]; the VM itself
//! is never touched beyond the workspace folders.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::{
    BatchItem, Driver, DriverError, DriverName, FoundWorkspace, Location, MARKER_FILE, Made, Marker, Observation,
    Removal, Request, Scope, WorkspaceRef, workspace_dir_name,
};
use crate::capability::{ProbeReport, ProbeSpec};
use crate::desired::{DesiredResource, LOCALHOST};
use crate::remote::{Connection, SshPool, Target, quote};
use crate::repo::{RepoTrees, cached_repo_digest};
use crate::state::now_rfc3339;

/// Connect timeout when a resource does not say.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(60);

/// What the listing and the capability probe may take beyond the probes'
/// own limit (the facts, `df` and the files, each bounded on the VM).
const PROBE_MARGIN: Duration = Duration::from_secs(60);

/// Where to look on one VM.
#[derive(Debug, Clone, Default)]
pub struct Lookup {
    /// Workspace roots to list.
    pub roots: BTreeSet<String>,
    /// Workspace folders named explicitly (`workspace_dir`, recorded paths).
    pub dirs: BTreeSet<String>,
    /// How long to try to connect.
    pub timeout: Duration,
}

/// The ssh driver; connections are shared by every operation of a run.
#[derive(Debug, Clone)]
pub struct SshDriver {
    pool: Arc<SshPool>,
    /// Repo digest caches (shared with the local driver's).
    cache_dir: std::path::PathBuf,
}

#[async_trait]
impl Driver for SshDriver {
    fn name(&self) -> DriverName {
        DriverName::SSH_WORKSPACE
    }

    fn location(&self, resource: &DesiredResource) -> Location {
        Location::Vm(target_of(resource))
    }

    async fn observe(&self, scope: Scope<'_>) -> Result<Observation, DriverError> {
        let target = vm_of(scope.location)?;
        let mut lookup = Lookup::default();
        for r in scope.desired {
            lookup.roots.extend(r.input_str("workspace_root").map(str::to_string));
            lookup.dirs.extend(r.input_str("workspace_dir").map(str::to_string));
            lookup.timeout = lookup.timeout.max(connect_timeout_of(r));
        }
        for r in scope.records {
            lookup.roots.extend(r.facts.get("root").cloned());
            lookup.dirs.extend(r.facts.get("workspace").cloned());
        }
        if lookup.timeout.is_zero() {
            lookup.timeout = DEFAULT_CONNECT_TIMEOUT;
        }
        let (workspaces, capabilities) = self.find(scope.project, target, &lookup, scope.probe).await?;
        Ok(Observation {
            workspaces,
            capabilities,
            ..Observation::default()
        })
    }

    async fn create(&self, request: Request<'_>) -> Result<Made, DriverError> {
        self.create_on(request.owner, request.resource, request.id).await
    }

    async fn update(&self, request: Request<'_>, workspace: &WorkspaceRef) -> Result<Made, DriverError> {
        self.update_on(request.resource, &workspace.path, &workspace.id).await
    }

    /// Creates and updates on one VM go together, so that each repo is sent
    /// to the VM once and copied there into every workspace that syncs it.
    fn batches(&self) -> bool {
        true
    }

    async fn apply_batch(&self, location: &Location, items: Vec<BatchItem<'_>>) -> Vec<Result<Made, DriverError>> {
        if vm_of(location).is_err() {
            return items
                .iter()
                .map(|_| Err(DriverError::other("the ssh-workspace driver only reaches VMs")))
                .collect();
        }
        super::ssh_batch::apply(self, items).await
    }

    async fn delete(&self, removal: Removal<'_>) -> Result<(), DriverError> {
        // Where the workspace is, not where the manifest wants it now, says which
        // VM to reach: a replace may move a sandbox to another VM.
        let target = vm_of(&removal.workspace.location)?;
        let timeout = removal
            .resource
            .filter(|r| self.location(r) == removal.workspace.location)
            .map_or(DEFAULT_CONNECT_TIMEOUT, connect_timeout_of);
        self.delete_on(
            removal.project,
            target,
            &removal.workspace.path,
            &removal.workspace.id,
            timeout,
        )
        .await
    }

    async fn relabel(
        &self,
        project: &str,
        workspace: &WorkspaceRef,
        edit: &super::MarkerEdit,
    ) -> Result<(), DriverError> {
        let target = vm_of(&workspace.location)?;
        let connection = self.connect(target, DEFAULT_CONNECT_TIMEOUT).await?;
        let marker_path = format!("{}/{MARKER_FILE}", workspace.path.trim_end_matches('/'));
        // Read as the listing reads it: one line, from a regular file, not a link.
        // 3: no marker there; 5: a link where the marker should be (never
        // written through, and not "gone" either: the listing sees it).
        let read = format!(
            "m={m}; [ -L \"$m\" ] && exit 5; [ -f \"$m\" ] || exit 3; IFS= read -r line < \"$m\"; printf '%s\\n' \"$line\"",
            m = quote(&marker_path)
        );
        let refused = || {
            DriverError::refused(format!(
                "{target}:{} does not carry the marker of sandbox {} of project {project}; leaving it alone",
                workspace.path, workspace.id
            ))
        };
        let out = connection.run(&read).await?;
        match out.code {
            Some(0) => {}
            Some(3) => return Err(refused()),
            Some(5) => {
                return Err(DriverError::other(format!(
                    "{target}:{marker_path} is a symbolic link; its marker is not rewritten"
                )));
            }
            code => {
                return Err(DriverError::other(format!(
                    "{target}: reading {marker_path} failed (exit {}): {}",
                    code.map_or_else(|| "by a signal".to_string(), |c| c.to_string()),
                    crate::safety::printable(out.stderr.trim())
                )));
            }
        }
        let mut marker: Marker = serde_json::from_str(out.stdout.trim()).map_err(|_| refused())?;
        if marker.project != project || marker.id != workspace.id {
            return Err(refused());
        }
        edit.apply(&mut marker);
        write_marker(&connection, &workspace.path, &marker).await
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}

/// The VM of a location this driver was handed.
fn vm_of(location: &Location) -> Result<&Target, DriverError> {
    match location {
        Location::Vm(target) => Ok(target),
        Location::Local => Err(DriverError::other(
            "the ssh-workspace driver was asked about this machine; it only reaches VMs",
        )),
    }
}

/// The connection target of a resource.
pub fn target_of(resource: &DesiredResource) -> Target {
    Target {
        vm: resource.vm().unwrap_or_default().to_string(),
        port: resource
            .inputs
            .values
            .get("tunnel_port")
            .and_then(|v| v.as_int())
            .and_then(|p| u16::try_from(p).ok()),
        jump: (resource.host != LOCALHOST).then(|| resource.host.clone()),
    }
}

/// The connect timeout of a resource.
pub fn connect_timeout_of(resource: &DesiredResource) -> Duration {
    resource
        .input_str("connect_timeout")
        .and_then(|t| crate::duration::parse(t).ok())
        .unwrap_or(DEFAULT_CONNECT_TIMEOUT)
}

/// The workspace folder of a resource with id `id`.
pub fn workspace_path(resource: &DesiredResource, id: &str) -> String {
    match resource.input_str("workspace_dir") {
        Some(dir) => dir.to_string(),
        None => format!(
            "{}/{}",
            resource
                .input_str("workspace_root")
                .unwrap_or("/build")
                .trim_end_matches('/'),
            workspace_dir_name(id)
        ),
    }
}

/// The remote script that makes a new workspace with its (incomplete) marker
/// in a staging folder and renames it into place; with the path and marker.
pub(super) fn create_script(
    owner: &super::Owner,
    resource: &DesiredResource,
    id: &str,
) -> Result<(String, Marker, String), DriverError> {
    let root = resource.input_str("workspace_root").unwrap_or("/build");
    let path = workspace_path(resource, id);
    let staging = format!(
        "{}/.{}.creating",
        parent(&path).trim_end_matches('/'),
        workspace_dir_name(id)
    );
    let marker = Marker::new(owner, resource, id);
    let json = encode_marker(&marker)?;
    // A folder that is there costs no process: a batch of creates under one
    // root makes it once.
    let script = format!(
        "{{ [ -d {parent} ] || mkdir -p -- {root} {parent}; }} && mkdir -- {staging} && printf '%s\\n' {json} > {staging}/{m} && \
         if [ -e {path} ]; then echo {exists} >&2; exit 17; fi && mv -- {staging} {path}",
        root = quote(root),
        parent = quote(parent(&path)),
        staging = quote(&staging),
        json = quote(&json),
        m = quote(MARKER_FILE),
        path = quote(&path),
        exists = quote(&format!("{path} exists already; refusing to reuse it")),
    );
    Ok((path, marker, script))
}

/// A workspace's result before its repo is in: its path and the facts.
pub(super) fn made_for(resource: &DesiredResource, path: &str) -> Made {
    let mut made = Made {
        path: path.to_string(),
        ..Made::default()
    };
    if let Some(root) = resource.input_str("workspace_root") {
        made.facts.insert("root".into(), root.to_string());
    }
    made
}

pub(super) fn parent(path: &str) -> &str {
    match path.trim_end_matches('/').rfind('/') {
        Some(0) => "/",
        Some(i) => &path[..i],
        None => ".",
    }
}

impl SshDriver {
    /// A driver over `pool`.
    pub fn new(pool: Arc<SshPool>, cache_dir: &Path) -> Self {
        SshDriver {
            pool,
            cache_dir: cache_dir.to_path_buf(),
        }
    }

    pub(super) async fn connect(&self, target: &Target, timeout: Duration) -> Result<Arc<Connection>, DriverError> {
        Ok(self.pool.get(target, timeout).await?)
    }

    /// Lists the workspaces of `project` on one VM with a single remote command,
    /// whatever the number of sandboxes there.
    ///
    /// Guarantees: reads only. Caveats: folders without a readable marker of
    /// `project` are not reported (and so never touched).
    ///
    /// Runs in a turn of `--max-connections`, from the connection's opening to
    /// the listing's end.
    /// The project's workspaces on `target`, and what `probe` printed there:
    /// one remote command on the VM's master.
    async fn find(
        &self,
        project: &str,
        target: &Target,
        lookup: &Lookup,
        probe: Option<&ProbeSpec>,
    ) -> Result<(Vec<FoundWorkspace>, Option<ProbeReport>), DriverError> {
        let (connection, _turn) = self.pool.get_for_a_turn(target, lookup.timeout).await?;
        // A marker is one line of JSON (as written below): the shell's own `read`
        // takes it, so listing 100 workspaces starts no process per workspace.
        let show = format!(
            "if [ -f \"$d\"/{m} ]; then m=; IFS= read -r m < \"$d\"/{m}; printf '@@sbx\\t%s\\t%s\\n' \"$d\" \"$m\"; fi",
            m = quote(MARKER_FILE)
        );
        let mut script = String::new();
        if !lookup.roots.is_empty() {
            let roots: Vec<String> = lookup.roots.iter().map(|r| quote(r)).collect();
            script.push_str(&format!(
                "for r in {}; do for d in \"$r\"/sbx-* \"$r\"/.sbx-*.creating \"$r\"/.sbx-*.deleting; do {show}; done; done; ",
                roots.join(" ")
            ));
        }
        if !lookup.dirs.is_empty() {
            let dirs: Vec<String> = lookup.dirs.iter().map(|r| quote(r)).collect();
            script.push_str(&format!("for d in {}; do {show}; done; ", dirs.join(" ")));
        }
        // The listing ends here: lines of the probe that follows are never
        // read as workspaces.
        script.push_str("echo @@listed; ");
        if let Some(probe) = probe {
            script.push_str(&probe.script());
        }
        script.push_str("echo @@end");
        let run = connection.run_ok(&script, "listing workspaces");
        let out = match probe {
            // Each part of the probe is bounded on the VM; this bounds the
            // whole, should the VM's shell itself stall.
            Some(probe) => {
                let bound = probe.timeout + PROBE_MARGIN;
                tokio::time::timeout(bound, run).await.map_err(|_| {
                    DriverError::other(format!(
                        "{target}: listing workspaces and probing capabilities did not end within {}s",
                        bound.as_secs()
                    ))
                })??
            }
            None => run.await?,
        };
        if !out.lines().any(|l| l == "@@end") {
            return Err(connection.bad_output("listing workspaces", "output cut short").into());
        }
        let mut found: BTreeMap<String, FoundWorkspace> = BTreeMap::new();
        for line in out.lines().take_while(|l| *l != "@@listed") {
            let Some(rest) = line.strip_prefix("@@sbx\t") else {
                continue;
            };
            let Some((path, json)) = rest.split_once('\t') else {
                continue;
            };
            let Ok(marker) = serde_json::from_str::<Marker>(json) else {
                tracing::warn!("{target}: unreadable marker in {path}; leaving it alone");
                continue;
            };
            if marker.project != project {
                continue;
            }
            let name = path.rsplit('/').next().unwrap_or(path);
            found.insert(
                path.to_string(),
                FoundWorkspace {
                    driver: DriverName::SSH_WORKSPACE,
                    location: Location::Vm(target.clone()),
                    path: path.to_string(),
                    leftover: name.starts_with(".sbx-"),
                    marker,
                },
            );
        }
        let report = probe.map(|_| ProbeReport::parse(&out));
        Ok((found.into_values().collect(), report))
    }

    /// Makes the workspace with its marker, rsyncs the repo, runs the setup.
    ///
    /// Guarantees: on `Ok`, the folder holds the repo (excludes left out) and a
    /// complete marker. Assumptions: `id` is new; the VM has `rsync` when a repo is
    /// synced. Caveats: killed before the rename, `.sbx-<id>.creating` with our
    /// marker is left (the next plan deletes it); after, the workspace has an
    /// incomplete marker (the next plan adopts and completes it).
    async fn create_on(&self, owner: &super::Owner, resource: &DesiredResource, id: &str) -> Result<Made, DriverError> {
        let (connection, path, mut marker) = self.begin_create(owner, resource, id).await?;
        self.sync(&connection, resource, &path, &mut marker).await
    }

    /// The workspace folder with its marker (incomplete), before any content.
    pub(super) async fn begin_create(
        &self,
        owner: &super::Owner,
        resource: &DesiredResource,
        id: &str,
    ) -> Result<(Arc<Connection>, String, Marker), DriverError> {
        let target = target_of(resource);
        let connection = self.connect(&target, connect_timeout_of(resource)).await?;
        let (path, marker, script) = create_script(owner, resource, id)?;
        connection.run_ok(&script, &format!("creating {path}")).await?;
        Ok((connection, path, marker))
    }

    /// Resyncs the repo into an existing workspace.
    ///
    /// Guarantees: on `Ok`, the folder holds the repo as now and a complete marker.
    /// Assumptions: `path` carries our marker with `id` (checked first). Caveats:
    /// killed mid-sync, the marker says incomplete; the next plan updates again.
    async fn update_on(&self, resource: &DesiredResource, path: &str, id: &str) -> Result<Made, DriverError> {
        let (connection, mut marker) = self.begin_update_on(resource, path, id).await?;
        self.sync(&connection, resource, path, &mut marker).await
    }

    /// Checks the workspace's marker and marks it incomplete, before a resync.
    pub(super) async fn begin_update_on(
        &self,
        resource: &DesiredResource,
        path: &str,
        id: &str,
    ) -> Result<(Arc<Connection>, Marker), DriverError> {
        let target = target_of(resource);
        let connection = self.connect(&target, connect_timeout_of(resource)).await?;
        let mut marker = begin_update(&connection, path, id).await?;
        marker.spec_hash = resource.spec_hash();
        Ok((connection, marker))
    }

    async fn sync(
        &self,
        connection: &Connection,
        resource: &DesiredResource,
        path: &str,
        marker: &mut Marker,
    ) -> Result<Made, DriverError> {
        let mut made = made_for(resource, path);
        // The marker on the VM says incomplete already (made so by create, or by
        // begin_update): a kill from here on leaves a workspace the next plan syncs.
        if let Some(repo) = resource.input_str("repo") {
            // The digest is taken before the copy: a repo edited during the sync
            // shows up as a change in the next plan.
            let digest = self.repo_digest(None, repo, &resource.sync.excludes).await?;
            let note = connection
                .rsync(
                    Path::new(repo),
                    path,
                    &resource.sync.excludes,
                    resource.sync.delete,
                    None,
                )
                .await?;
            made.notes.push(note);
            made.repo_digest = Some(digest);
        }
        self.finish(connection, resource, path, marker, made).await
    }

    /// The digest of a repo (with its excludes), from the cache when it is
    /// fresh; with the apply's `repos`, read once for all its workspaces on
    /// every VM.
    pub(super) async fn repo_digest(
        &self,
        repos: Option<&Arc<RepoTrees>>,
        repo: &str,
        excludes: &[String],
    ) -> Result<String, DriverError> {
        let (cache_dir, source, excludes) = (self.cache_dir.clone(), repo.to_string(), excludes.to_vec());
        let repos = repos.cloned();
        tokio::task::spawn_blocking(move || match repos {
            Some(repos) => repos
                .get(&cache_dir, Path::new(&source), &excludes)
                .map(|tree| tree.digest.clone()),
            None => cached_repo_digest(&cache_dir, Path::new(&source), &excludes),
        })
        .await
        .map_err(|e| DriverError::task("repo digest", e))?
        .map_err(|e| DriverError::Repo {
            repo: repo.to_string(),
            message: e.to_string(),
        })
    }

    /// After the repo is in: the setup commands of a new workspace, then the
    /// marker that says complete.
    pub(super) async fn finish(
        &self,
        connection: &Connection,
        resource: &DesiredResource,
        path: &str,
        marker: &mut Marker,
        mut made: Made,
    ) -> Result<Made, DriverError> {
        if marker.setup_pending {
            for command in &resource.setup {
                let script = format!(
                    "cd -- {p} && SANDBOXER_WORKSPACE={p} SANDBOXER_SANDBOX_ID={id} sh -c {c}",
                    p = quote(path),
                    id = quote(&marker.id),
                    c = quote(command)
                );
                let out = connection.run(&script).await?;
                let text = super::local::tail(&format!("{}{}", out.stdout, out.stderr), 2000);
                if out.code != Some(0) {
                    return Err(DriverError::Setup {
                        command: command.clone(),
                        on: format!(" on {}", connection.target().vm),
                        status: out
                            .code
                            .map_or("killed by a signal".to_string(), |c| format!("exit status: {c}")),
                        output: text,
                    });
                }
                made.notes.push(format!("setup `{command}`: {text}"));
            }
            marker.setup_pending = false;
        }
        marker.repo_digest.clone_from(&made.repo_digest);
        marker.complete = true;
        marker.updated_at = now_rfc3339();
        write_marker(connection, path, marker).await?;
        Ok(made)
    }

    /// Removes a workspace that carries our marker with `id`; the VM stays as it is.
    ///
    /// Guarantees: removes nothing without our marker, project and id; on `Ok` the
    /// folder is gone. Caveats: killed mid-removal, `.sbx-<id>.deleting` with the
    /// marker is left; the next plan deletes it.
    async fn delete_on(
        &self,
        project: &str,
        target: &Target,
        path: &str,
        id: &str,
        timeout: Duration,
    ) -> Result<(), DriverError> {
        let connection = self.connect(target, timeout).await?;
        let exists = connection.run(&format!("[ -e {} ]", quote(path))).await?;
        if exists.code == Some(1) {
            return Ok(());
        }
        match read_marker(&connection, path).await? {
            Some(m) if m.id == id && m.project == project => {}
            Some(m) => {
                return Err(DriverError::refused(format!(
                    "{}:{path} belongs to sandbox {} of project {}, not {id} of {project}; refusing to delete it",
                    target.vm, m.id, m.project
                )));
            }
            None => {
                return Err(DriverError::refused(format!(
                    "{}:{path} has no sandboxer marker; refusing to delete it",
                    target.vm
                )));
            }
        }
        let name = path.rsplit('/').next().unwrap_or(path);
        let doomed = if name.ends_with(".deleting") {
            path.to_string()
        } else {
            format!(
                "{}/.{}.deleting",
                parent(path).trim_end_matches('/'),
                workspace_dir_name(id)
            )
        };
        let mut script = String::new();
        if doomed != path {
            script.push_str(&format!("mv -- {} {} && ", quote(path), quote(&doomed)));
        }
        // Everything but the marker first, so a half-removed folder stays recognisable.
        script.push_str(&format!(
            "find {d} -mindepth 1 -maxdepth 1 ! -name {m} -exec rm -rf -- {{}} + && rm -rf -- {d}",
            d = quote(&doomed),
            m = quote(MARKER_FILE)
        ));
        // Its links to repo caches go, and the caches nobody links to any more;
        // a project's repo caches under this root go with its last workspace there.
        let name = path.trim_end_matches('/').rsplit('/').next().unwrap_or_default();
        script.push_str(" && ");
        script.push_str(&super::ssh_batch::drop_unlinked(
            parent(path),
            project,
            &[name],
            None,
            &[],
        ));
        script.push_str(" && ");
        script.push_str(&super::ssh_batch::drop_unused_caches(project, parent(path)));
        connection.run_ok(&script, &format!("removing {path}")).await?;
        Ok(())
    }
}

/// Checks that `dir` carries the marker of sandbox `id` and marks it incomplete,
/// in one remote command; returns the marker as it is now.
async fn begin_update(connection: &Connection, dir: &str, id: &str) -> Result<Marker, DriverError> {
    let marker = format!("{}/{MARKER_FILE}", dir.trim_end_matches('/'));
    // Markers are compact JSON written by this driver, and ids use a plain alphabet.
    // The new marker goes through a file that mktemp makes (new, random name,
    // never a link), then replaces the marker by rename.
    let script = format!(
        "m={m}; [ -f \"$m\" ] && [ ! -L \"$m\" ] || exit 3; grep -q -F {needle} \"$m\" || exit 3; \
         t=$(mktemp \"$m.tmp-XXXXXXXX\") || exit 4; \
         sed 's/\"complete\":true/\"complete\":false/' \"$m\" > \"$t\" && mv -f -- \"$t\" \"$m\" && cat -- \"$m\"",
        m = quote(&marker),
        needle = quote(&format!("\"id\":\"{id}\"")),
    );
    let out = connection.run(&script).await?;
    let refuse = || {
        DriverError::refused(format!(
            "{}:{dir} does not carry the marker of sandbox {id}; refusing to sync into it",
            connection.target().vm
        ))
    };
    if out.code != Some(0) {
        return Err(refuse());
    }
    serde_json::from_str::<Marker>(out.stdout.trim())
        .ok()
        .filter(|m| m.id == id)
        .ok_or_else(refuse)
}

async fn read_marker(connection: &Connection, dir: &str) -> Result<Option<Marker>, DriverError> {
    let out = connection
        .run(&format!("cat -- {}/{}", quote(dir), quote(MARKER_FILE)))
        .await?;
    if out.code != Some(0) {
        return Ok(None);
    }
    Ok(serde_json::from_str(out.stdout.trim()).ok())
}

async fn write_marker(connection: &Connection, dir: &str, marker: &Marker) -> Result<(), DriverError> {
    let json = encode_marker(marker)?;
    let file = format!("{}/{MARKER_FILE}", dir.trim_end_matches('/'));
    // mktemp makes a new file under a random name (never a link a repo or a
    // build planted); the rename then replaces whatever is at the marker's name.
    let script = format!(
        "t=$(mktemp {f}.tmp-XXXXXXXX) && printf '%s\\n' {} > \"$t\" && mv -f -- \"$t\" {f}",
        quote(&json),
        f = quote(&file)
    );
    connection
        .run_ok(&script, &format!("writing the marker of {dir}"))
        .await?;
    Ok(())
}

pub(super) fn encode_marker(marker: &Marker) -> Result<String, DriverError> {
    serde_json::to_string(marker).map_err(|e| DriverError::other(format!("cannot encode marker: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents() {
        assert_eq!(parent("/build/sbx-a"), "/build");
        assert_eq!(parent("/sbx-a"), "/");
    }

    #[test]
    fn locations_round_trip() {
        let t = Target {
            vm: "haskell-build".into(),
            port: Some(12222),
            jump: Some("bastion".into()),
        };
        assert_eq!(t.location(), "bastion/haskell-build:12222");
        assert_eq!(Target::from_location(&t.location()), Some(t));
        assert_eq!(Target::from_location("vm1").map(|t| t.port), Some(None));
    }
}
