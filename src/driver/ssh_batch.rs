//! Several creates and updates on one VM at once: each repo is sent to the VM
//! once, into a cache folder sandboxer owns there, and copied on the VM into
//! every workspace that syncs it, in one remote command.
//!
//! The cache is `<workspace root>/.sandboxer-cache/<key>/`, keyed by the local
//! repo's path and excludes (not by content: the next sync of an edited repo is
//! incremental). Names starting with `.sandboxer-` are never workspaces: observe
//! lists only `sbx-*` and leftovers of interrupted creates and deletes, and
//! validate refuses a `workspace_dir` named so. The copy on the VM is
//! `rsync -a` with the same excludes as a sync from here, so an excluded
//! `dist-newstyle/` in a workspace is kept. Markers come first as in a single
//! create or update; each workspace succeeds or fails by itself.

use std::collections::BTreeMap;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::ssh::{SshDriver, made_for, parent};
use super::{BatchItem, DriverError, Made, Marker};
use crate::desired::DesiredResource;
use crate::remote::{Connection, quote};
use crate::repo::{RESERVED_PREFIX, RepoTrees, exclude};

/// The folder under a workspace root that holds the repo caches.
pub const CACHE_DIR: &str = ".sandboxer-cache";

/// One workspace, ready for its content: marker written, incomplete.
struct Ready<'a> {
    resource: &'a DesiredResource,
    connection: Arc<Connection>,
    path: String,
    marker: Marker,
}

/// What each repo sync needs in common: the VM folder it goes to and how.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct CacheKey {
    project: String,
    root: String,
    repo: String,
    excludes: Vec<String>,
    /// The profile's `sync.delete`: what the copy into a workspace deletes. The
    /// cache itself always mirrors the repo, so this is not part of its name.
    delete: bool,
}

impl CacheKey {
    /// `<root>/.sandboxer-cache`: the folder of every cache under the root.
    fn caches(&self) -> String {
        format!("{}/{CACHE_DIR}", self.root.trim_end_matches('/'))
    }

    /// `<root>/.sandboxer-cache/<project>.<16 hex digits of the repo and its
    /// excludes>`: a project's caches go with its last workspace there.
    fn folder(&self) -> String {
        let mut hash = Sha256::new();
        hash.update(self.repo.as_bytes());
        for pattern in &self.excludes {
            hash.update([0]);
            hash.update(pattern.as_bytes());
        }
        let digest = format!("{:x}", hash.finalize());
        format!("{}{}", cache_prefix(&self.root, &self.project), &digest[..16])
    }

    /// `<cache>.links`: one link per workspace of the cache, named as the
    /// workspace and pointing at the cache, so that one `rsync -R` on the VM
    /// copies the cache into many workspaces (see [`copy_together`]).
    fn links(&self) -> String {
        format!("{}.links", self.folder())
    }
}

/// `<root>/.sandboxer-cache/<project>.`: what the names of a project's caches
/// (and of their scratch folders) under `root` start with.
fn cache_prefix(root: &str, project: &str) -> String {
    format!("{}/{CACHE_DIR}/{project}.", root.trim_end_matches('/'))
}

/// After the last workspace of `project` under `root` is removed: removes the
/// project's repo caches there (a script to append to the removal's).
pub fn drop_unused_caches(project: &str, root: &str) -> String {
    let root = root.trim_end_matches('/');
    let caches = format!("{root}/{CACHE_DIR}");
    // Markers are compact JSON written by this driver; project names are plain
    // (letters, digits, `_`, `-`), so the glob below matches only their caches.
    format!(
        "if ! grep -q -s -F {needle} {root_q}/sbx-*/{m} {root_q}/.sbx-*/{m}; then \
         [ -L {caches_q} ] || {{ rm -rf -- {prefix}*; rmdir -- {caches_q} 2>/dev/null || :; }}; fi",
        needle = quote(&format!("\"project\":\"{project}\"")),
        root_q = quote(root),
        m = quote(super::MARKER_FILE),
        caches_q = quote(&caches),
        prefix = quote(&cache_prefix(root, project)),
    )
}

/// Carries out `items` (creates and updates on one VM); one result per item, in order.
pub async fn apply(driver: &SshDriver, items: Vec<BatchItem<'_>>) -> Vec<Result<Made, DriverError>> {
    let started = std::time::Instant::now();
    // 1. Markers first: the creates' in one remote command, the updates' in
    // another, both over the VM's one connection.
    let creates: Vec<usize> = (0..items.len()).filter(|&i| items[i].workspace.is_none()).collect();
    let updates: Vec<usize> = (0..items.len()).filter(|&i| items[i].workspace.is_some()).collect();
    let caches = cache_keys(&items);
    // The apply's repo trees: a repo synced to many VMs is read once.
    let repos = items.first().map(|item| &item.request.repos);
    let (created, updated) = tokio::join!(
        begin_creates(driver, &items, &creates),
        begin_updates(driver, &items, &updates),
    );
    tracing::debug!(elapsed = ?started.elapsed(), "ssh batch: markers begun");
    let mut results: Vec<Option<Result<Made, DriverError>>> = items.iter().map(|_| None).collect();
    let mut ready: Vec<(usize, Ready<'_>)> = Vec::new();
    for (i, outcome) in created.into_iter().chain(updated) {
        match outcome {
            Ok(r) => ready.push((i, r)),
            Err(e) => results[i] = Some(Err(e)),
        }
    }
    ready.sort_by_key(|(i, _)| *i);

    // 2. Each repo once to the VM, then copied there into its workspaces; the
    // complete marker of a workspace without setup goes with its copy.
    let mut groups: BTreeMap<&CacheKey, Vec<usize>> = BTreeMap::new();
    for (n, (i, _)) in ready.iter().enumerate() {
        if let Some(key) = &caches[*i] {
            groups.entry(key).or_default().push(n);
        }
    }
    let mut made: Vec<Result<Made, DriverError>> =
        ready.iter().map(|(_, r)| Ok(made_for(r.resource, &r.path))).collect();
    let mut finished: Vec<bool> = vec![false; ready.len()];
    // The caches this batch copies from: no group removes another's.
    let in_use: Vec<String> = groups
        .iter()
        .filter(|(_, members)| members.len() > 1)
        .map(|(key, _)| key.folder())
        .collect();
    let synced = crate::task::join_all(
        groups
            .iter()
            .map(|(key, members)| sync_group(driver, repos, key, members, &ready, &in_use))
            .collect(),
    )
    .await;
    for ((_, members), outcome) in groups.iter().zip(synced) {
        let outcome = outcome.unwrap_or_else(|panic| Err(DriverError::other(format!("the sync panicked: {panic}"))));
        match outcome {
            Ok(per_member) => {
                for (&n, result) in members.iter().zip(per_member) {
                    match (result, &mut made[n]) {
                        (Ok(copied), Ok(m)) => {
                            m.repo_digest = Some(copied.digest);
                            m.notes.push(copied.note);
                            finished[n] = copied.marker_complete;
                        }
                        (Err(e), slot) => *slot = Err(e),
                        _ => {}
                    }
                }
            }
            Err(e) => {
                for (n, failed) in spread::<Made>(members, e) {
                    made[n] = failed;
                }
            }
        }
    }
    tracing::debug!(elapsed = ?started.elapsed(), "ssh batch: repos synced");

    // 3. Setup (a new workspace's, by itself), then the complete markers not
    // yet written (of workspaces without a repo) in one remote command.
    let mut with_setup = Vec::new();
    let mut without = Vec::new();
    for ((entry, m), done) in ready.iter_mut().zip(made).zip(finished) {
        if done {
            results[entry.0] = Some(m);
        } else if entry.1.marker.setup_pending && m.is_ok() {
            with_setup.push((entry, m));
        } else {
            without.push((entry, m));
        }
    }
    let finished = crate::task::join_all(
        with_setup
            .into_iter()
            .map(|((i, r), m)| async move {
                let outcome = match m {
                    Ok(m) => {
                        driver
                            .finish(&r.connection, r.resource, &r.path, &mut r.marker, m)
                            .await
                    }
                    Err(e) => Err(e),
                };
                (*i, outcome)
            })
            .collect(),
    )
    .await;
    for outcome in finished {
        match outcome {
            Ok((i, outcome)) => results[i] = Some(outcome),
            Err(panic) => tracing::error!("a setup panicked: {panic}"),
        }
    }
    for (i, outcome) in complete_markers(without).await {
        results[i] = Some(outcome);
    }
    tracing::debug!(elapsed = ?started.elapsed(), "ssh batch: markers complete");
    results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(DriverError::other("no outcome"))))
        .collect()
}

/// The repo cache each item syncs through, if it has a repo.
fn cache_keys(items: &[BatchItem<'_>]) -> Vec<Option<CacheKey>> {
    items
        .iter()
        .map(|item| {
            let resource = item.request.resource;
            let repo = resource.input_str("repo")?;
            let path = match &item.workspace {
                Some(workspace) => workspace.path.clone(),
                None => super::ssh::workspace_path(resource, item.request.id),
            };
            Some(CacheKey {
                project: item.request.owner.project.clone(),
                root: parent(&path).to_string(),
                repo: repo.to_string(),
                excludes: resource.sync.excludes.clone(),
                delete: resource.sync.delete,
            })
        })
        .collect()
}

/// What runs on the VM before the repo is received into the cache of `key`,
/// in the same session: makes the cache folders (ours only, never through a
/// link planted where they go) and the link of each workspace `names` that
/// will be copied from it (which marks the cache as in use before it is
/// filled, see [`drop_unlinked`]), and says why it cannot. Only a missing
/// folder or link costs a process: a resync finds them all.
fn cache_prelude(key: &CacheKey, names: &[&str]) -> String {
    let cache = key.folder();
    let names: Vec<String> = names.iter().map(|n| quote(n)).collect();
    format!(
        "c={caches}; {{ [ ! -L \"$c\" ] && {{ [ -d \"$c\" ] || {{ mkdir -p -- \"$c\" && chmod 700 \"$c\"; }}; }} && \
         [ ! -L {cache_q} ] && {{ [ -d {cache_q} ] || mkdir -- {cache_q}; }} && \
         [ ! -L {links_q} ] && {{ [ -d {links_q} ] || mkdir -- {links_q}; }} && \
         for n in {names}; do [ -L {links_q}/\"$n\" ] || ln -s -- {cache_q} {links_q}/\"$n\" || exit 5; done; }} || \
         {{ echo {failed} >&2; exit 5; }}",
        caches = quote(&key.caches()),
        cache_q = quote(&cache),
        links_q = quote(&key.links()),
        names = names.join(" "),
        failed = quote(&format!(
            "cannot make the repo cache {cache}: a link, or no folder, where its folders go"
        )),
    )
}

/// Writes the complete marker of every workspace in `done` (its repo in, no
/// setup pending) in one remote command; a workspace whose sync failed keeps
/// its incomplete marker and its error.
async fn complete_markers(
    done: Vec<(&mut Indexed<'_>, Result<Made, DriverError>)>,
) -> Vec<(usize, Result<Made, DriverError>)> {
    let mut outcomes = Vec::new();
    let mut pending: Vec<(usize, Arc<Connection>, String, Made)> = Vec::new();
    let mut scratch: Option<Scratch> = None;
    let mut script = String::new();
    for ((i, r), made) in done {
        let made = match made {
            Ok(made) => made,
            Err(e) => {
                outcomes.push((*i, Err(e)));
                continue;
            }
        };
        let scratch = scratch.get_or_insert_with(|| Scratch::new(&r.marker.project));
        match complete_marker_write(scratch, &r.path, &mut r.marker, made.repo_digest.clone()) {
            Ok(write) => script.push_str(&step(&write, &r.path)),
            Err(e) => {
                outcomes.push((*i, Err(e)));
                continue;
            }
        }
        pending.push((*i, r.connection.clone(), r.path.clone(), made));
    }
    let (Some(connection), Some(scratch)) = (pending.first().map(|(_, c, _, _)| c.clone()), scratch) else {
        return outcomes;
    };
    let stdout = match run_steps(&connection, scratch.around(&script), "writing the markers").await {
        Ok(stdout) => stdout,
        Err(e) => {
            let indices: Vec<usize> = pending.iter().map(|(i, _, _, _)| *i).collect();
            outcomes.extend(spread(&indices, e));
            return outcomes;
        }
    };
    let status = statuses(&stdout);
    for (i, connection, path, made) in pending {
        let outcome = match status.get(path.as_str()) {
            Some(Ok(())) => Ok(made),
            failed => Err(DriverError::other(format!(
                "writing the marker of {path} on {} failed: {}",
                connection.target().vm,
                match failed {
                    Some(Err(printed)) => printed,
                    _ => "no outcome reported",
                }
            ))),
        };
        outcomes.push((i, outcome));
    }
    outcomes
}

/// Marks `marker` complete with `repo_digest` and gives the command that
/// writes it into the workspace at `path`: the new marker into a file of
/// `scratch`, then renamed over the old one.
fn complete_marker_write(
    scratch: &mut Scratch,
    path: &str,
    marker: &mut Marker,
    repo_digest: Option<String>,
) -> Result<String, DriverError> {
    marker.repo_digest = repo_digest;
    marker.complete = true;
    marker.updated_at = crate::state::now_rfc3339();
    let json = super::ssh::encode_marker(marker)?;
    let file = format!("{}/{}", path.trim_end_matches('/'), super::MARKER_FILE);
    let temporary = scratch.file(parent(path));
    Ok(format!(
        "printf '%s\\n' {json} > {temporary} && mv -f -- {temporary} {f}",
        f = quote(&file),
        json = quote(&json),
    ))
}

/// Private folders for the temporary files of one remote script, one per
/// workspace root so that each rename stays on one file system:
/// `<root>/.sandboxer-cache/<project>.tmp-XXXXXXXX`, mode 0700, made at the
/// script's start and removed at its end (a killed script's go with the
/// project's caches). Nobody else can plant a link in them, so a file there
/// needs no `mktemp` of its own: one process less per marker.
struct Scratch {
    project: String,
    roots: Vec<String>,
    files: usize,
}

impl Scratch {
    fn new(project: &str) -> Scratch {
        Scratch {
            project: project.to_string(),
            roots: Vec::new(),
            files: 0,
        }
    }

    /// A new file in the scratch folder of `root`, as a shell word.
    fn file(&mut self, root: &str) -> String {
        let root = root.trim_end_matches('/');
        let n = match self.roots.iter().position(|r| r == root) {
            Some(n) => n,
            None => {
                self.roots.push(root.to_string());
                self.roots.len() - 1
            }
        };
        self.files += 1;
        format!("\"$s{n}/{}\"", self.files)
    }

    /// `body` between the making and the removal of the folders.
    fn around(&self, body: &str) -> String {
        let mut script = String::new();
        for (n, root) in self.roots.iter().enumerate() {
            let caches = format!("{root}/{CACHE_DIR}");
            script.push_str(&format!(
                "c={caches_q}; [ ! -L \"$c\" ] && {{ [ -d \"$c\" ] || {{ mkdir -p -- \"$c\" && chmod 700 \"$c\"; }}; }} && \
                 s{n}=$(mktemp -d {template}) || {{ echo {failed} >&2; exit 5; }}; ",
                caches_q = quote(&caches),
                template = quote(&format!("{}tmp-XXXXXXXX", cache_prefix(root, &self.project))),
                failed = quote(&format!("cannot make a scratch folder in {caches}")),
            ));
        }
        script.push_str(body);
        if !self.roots.is_empty() {
            let folders: Vec<String> = (0..self.roots.len()).map(|n| format!("\"$s{n}\"")).collect();
            script.push_str(&format!("rm -rf -- {}; ", folders.join(" ")));
        }
        script
    }
}

/// Checks each update's workspace carries the marker of its sandbox and marks
/// it incomplete, for every update in one remote command (as
/// `ssh::begin_update` does for one).
async fn begin_updates<'a>(
    driver: &SshDriver,
    items: &[BatchItem<'a>],
    updates: &[usize],
) -> Vec<(usize, Result<Ready<'a>, DriverError>)> {
    let Some(&first) = updates.first() else {
        return Vec::new();
    };
    let resource = items[first].request.resource;
    let timeout = updates
        .iter()
        .map(|&i| super::ssh::connect_timeout_of(items[i].request.resource))
        .max()
        .unwrap_or(super::ssh::DEFAULT_CONNECT_TIMEOUT);
    let connection = match driver.connect(&super::ssh::target_of(resource), timeout).await {
        Ok(c) => c,
        Err(e) => return spread(updates, e),
    };
    let mut scratch = Scratch::new(&items[first].request.owner.project);
    let mut script = String::new();
    for &i in updates {
        let Some(workspace) = &items[i].workspace else { continue };
        let marker = format!("{}/{}", workspace.path.trim_end_matches('/'), super::MARKER_FILE);
        // Markers are one line of compact JSON written by this driver, and ids
        // use a plain alphabet: the shell's own `read`, `case` and expansions
        // check and rewrite it (no process per marker but the rename).
        script.push_str(&format!(
            "m={m}; j=; if [ -f \"$m\" ] && [ ! -L \"$m\" ] && {{ IFS= read -r j || [ -n \"$j\" ]; }} < \"$m\" && \
             case $j in *{needle}*) true ;; *) false ;; esac; then \
             k='\"complete\":true'; case $j in *\"$k\"*) j=${{j%%\"$k\"*}}'\"complete\":false'${{j#*\"$k\"}} ;; esac; \
             if printf '%s\\n' \"$j\" > {t} && mv -f -- {t} \"$m\"; then printf '@@m\\t%s\\t%s\\n' {d} \"$j\"; \
             else printf '@@no\\t%s\\n' {d}; fi; else printf '@@no\\t%s\\n' {d}; fi; ",
            m = quote(&marker),
            needle = quote(&format!("\"id\":\"{}\"", workspace.id)),
            t = scratch.file(parent(&workspace.path)),
            d = quote(&workspace.path),
        ));
    }
    let script = scratch.around(&script);
    let stdout = match run_steps(&connection, script, "marking the workspaces for a resync").await {
        Ok(stdout) => stdout,
        Err(e) => return spread(updates, e),
    };
    let mut markers: BTreeMap<&str, &str> = BTreeMap::new();
    for line in stdout.lines() {
        if let Some(rest) = line.strip_prefix("@@m\t")
            && let Some((dir, json)) = rest.split_once('\t')
        {
            markers.insert(dir, json);
        }
    }
    updates
        .iter()
        .filter_map(|&i| {
            let workspace = items[i].workspace.as_ref()?;
            let resource = items[i].request.resource;
            let marker = markers
                .get(workspace.path.as_str())
                .and_then(|json| serde_json::from_str::<Marker>(json).ok())
                .filter(|m| m.id == workspace.id);
            Some((
                i,
                match marker {
                    Some(mut marker) => {
                        marker.spec_hash = resource.spec_hash();
                        Ok(Ready {
                            resource,
                            connection: connection.clone(),
                            path: workspace.path.clone(),
                            marker,
                        })
                    }
                    None => Err(DriverError::refused(format!(
                        "{}:{} does not carry the marker of sandbox {}; refusing to sync into it",
                        connection.target().vm,
                        workspace.path,
                        workspace.id
                    ))),
                },
            ))
        })
        .collect()
}

/// Makes every create's workspace with its marker (incomplete), before any
/// content, in one remote command (as `SshDriver::begin_create` does for one).
async fn begin_creates<'a>(
    driver: &SshDriver,
    items: &[BatchItem<'a>],
    creates: &[usize],
) -> Vec<(usize, Result<Ready<'a>, DriverError>)> {
    let Some(&first) = creates.first() else {
        return Vec::new();
    };
    let timeout = creates
        .iter()
        .map(|&i| super::ssh::connect_timeout_of(items[i].request.resource))
        .max()
        .unwrap_or(super::ssh::DEFAULT_CONNECT_TIMEOUT);
    let connection = match driver
        .connect(&super::ssh::target_of(items[first].request.resource), timeout)
        .await
    {
        Ok(c) => c,
        Err(e) => return spread(creates, e),
    };
    let mut outcomes = Vec::new();
    let mut made: Vec<(usize, String, Marker)> = Vec::new();
    let mut script = String::new();
    for &i in creates {
        let request = &items[i].request;
        match super::ssh::create_script(request.owner, request.resource, request.id) {
            Ok((path, marker, one)) => {
                script.push_str(&step(&one, &path));
                made.push((i, path, marker));
            }
            Err(e) => outcomes.push((i, Err(e))),
        }
    }
    if made.is_empty() {
        return outcomes;
    }
    let stdout = match run_steps(&connection, script, "creating the workspaces").await {
        Ok(stdout) => stdout,
        Err(e) => {
            outcomes.extend(spread(&made.iter().map(|(i, _, _)| *i).collect::<Vec<_>>(), e));
            return outcomes;
        }
    };
    let status = statuses(&stdout);
    for (i, path, marker) in made {
        let outcome = match status.get(path.as_str()) {
            Some(Ok(())) => Ok(Ready {
                resource: items[i].request.resource,
                connection: connection.clone(),
                path,
                marker,
            }),
            Some(Err(stderr)) => Err(DriverError::other(format!(
                "creating {path} on {} failed: {stderr}",
                connection.target().vm
            ))),
            None => Err(DriverError::other(format!(
                "creating {path} on {}: no outcome reported",
                connection.target().vm
            ))),
        };
        outcomes.push((i, outcome));
    }
    outcomes
}

/// How many VM-local copies of a cache run at once on one VM: a copy mostly
/// waits on its own processes, so a few side by side finish in the time of one.
const COPIES_AT_ONCE: usize = 8;

/// A script that runs `steps` (each from [`step`]) `width` at a time, each
/// printing its status line into a file of its own (`outputs`, as many, shell
/// words) so that no two steps' lines interleave, then prints those lines.
fn side_by_side(steps: &[String], outputs: &[String], width: usize) -> String {
    let mut script = String::new();
    let width = width.max(1);
    for (chunk, files) in steps.chunks(width).zip(outputs.chunks(width)) {
        for (one, file) in chunk.iter().zip(files) {
            script.push_str(&format!("( {one}) > {file} & "));
        }
        script.push_str("wait; ");
    }
    if !outputs.is_empty() {
        script.push_str(&format!("cat -- {} 2>/dev/null; ", outputs.join(" ")));
    }
    script
}

/// One step of a script for many workspaces: `command`, then a status line
/// for `path`: `@@ok<TAB>path`, or `@@fail<TAB>path<TAB>` and what it printed.
fn step(command: &str, path: &str) -> String {
    format!(
        "if out=$( {{ {command}; }} 2>&1 ); then printf '@@ok\\t%s\\n' {d}; \
         else printf '@@fail\\t%s\\t%s\\n' {d} \"$(printf '%s' \"$out\" | tr '\\n\\t' '  ' | cut -c1-300)\"; fi; ",
        d = quote(path),
    )
}

/// The status lines of [`step`]s, by path: `Err` holds what the step printed.
fn statuses(stdout: &str) -> BTreeMap<&str, Result<(), &str>> {
    let mut found = BTreeMap::new();
    for line in stdout.lines() {
        let mut parts = line.splitn(3, '\t');
        match (parts.next(), parts.next()) {
            (Some("@@ok"), Some(path)) => {
                found.insert(path, Ok(()));
            }
            (Some("@@fail"), Some(path)) => {
                found.insert(path, Err(parts.next().unwrap_or_default()));
            }
            _ => {}
        }
    }
    found
}

/// Runs a script of one step per workspace (each printing its status line) and
/// checks it ran to its end: its output, or why there is none.
async fn run_steps(connection: &Connection, mut script: String, what: &str) -> Result<String, DriverError> {
    script.push_str("echo @@end");
    let out = connection.run(&script).await?;
    if !out.stdout.lines().any(|l| l == "@@end") {
        return Err(connection.bad_output(what, "output cut short").into());
    }
    Ok(out.stdout)
}

/// One error for every item of `indices`: the first keeps it (with its hint),
/// the others say it.
fn spread<T>(indices: &[usize], error: DriverError) -> Vec<(usize, Result<T, DriverError>)> {
    let text = error.to_string();
    let mut error = Some(error);
    indices
        .iter()
        .map(|&i| (i, Err(error.take().unwrap_or_else(|| DriverError::other(text.clone())))))
        .collect()
}

/// The words of the VM-local `rsync -a` that copies a repo cache into one
/// workspace: no devices, modification times to the nanosecond, never
/// sandboxer's own names, `--delete` where the profile says so, and the
/// profile's excludes.
fn vm_copy_words(excludes: &[String], delete: bool) -> Vec<String> {
    copy_words("-a", None, &copy_patterns(excludes), delete)
}

/// The same for a copy into several workspaces at once, whose transfer root is
/// their folder (`rsync -aR`, see [`copy_together`]): every workspace is taken
/// whole and each pattern is rewritten for that root; `None` when one cannot be.
fn vm_copy_words_together(excludes: &[String], delete: bool) -> Option<Vec<String>> {
    let patterns = copy_patterns(excludes)
        .iter()
        .map(|p| exclude::one_folder_down(p))
        .collect::<Option<Vec<_>>>()?;
    // First match wins: a name pattern (`s*`) never leaves out a workspace.
    Some(copy_words("-aR", Some(exclude::TOP_FOLDERS_WHOLE), &patterns, delete))
}

/// sandboxer's own names, then the profile's excludes.
fn copy_patterns(excludes: &[String]) -> Vec<String> {
    let mut patterns = vec![format!("/{RESERVED_PREFIX}*")];
    patterns.extend(excludes.iter().cloned());
    patterns
}

fn copy_words(archive: &str, include: Option<&str>, patterns: &[String], delete: bool) -> Vec<String> {
    let mut words: Vec<String> = ["rsync", archive, "--no-D", "--modify-window=-1"]
        .map(String::from)
        .into();
    words.extend(include.map(|p| format!("--include={p}")));
    if delete {
        words.push("--delete".into());
    }
    words.extend(patterns.iter().map(|p| format!("--exclude={p}")));
    words
}

/// One command that copies the cache of `key` into every workspace of
/// `members` (path, and whether its marker is written after) at once: one
/// `rsync -aR` of `<links>/./<name>/` for each into their common folder, where
/// `<links>/<name>` is the link to the cache that [`cache_prelude`] made. The links are read through (a trailing `/`) on
/// the sending side only; the receiving side is rsync's as for one workspace,
/// so a link planted in a workspace is replaced, never followed. `None` when
/// an exclude would mean something else that way.
fn copy_together(key: &CacheKey, members: &[(&str, Option<String>)]) -> Option<String> {
    if members.len() < 2 {
        return None;
    }
    let words: Vec<String> = vm_copy_words_together(&key.excludes, key.delete)?
        .iter()
        .map(|w| quote(w))
        .collect();
    let root = key.root.trim_end_matches('/');
    let names: Vec<String> = members
        .iter()
        .map(|(path, _)| workspace_name(&key.root, path).map(quote))
        .collect::<Option<_>>()?;
    let sources: Vec<String> = names.iter().map(|n| format!("\"$l\"/./{n}/")).collect();
    Some(format!(
        "l={links}; {rsync} {sources} {root_q}/",
        links = quote(&key.links()),
        rsync = words.join(" "),
        sources = sources.join(" "),
        root_q = quote(if root.is_empty() { "/" } else { root }),
    ))
}

/// The name of the workspace at `path` in `root`, its folder right under it
/// (how the members of a cache's group live: they were grouped by it).
fn workspace_name<'p>(root: &str, path: &'p str) -> Option<&'p str> {
    let name = path
        .trim_end_matches('/')
        .strip_prefix(root.trim_end_matches('/'))?
        .strip_prefix('/')?;
    (!name.is_empty() && !name.contains('/')).then_some(name)
}

/// A command (one brace group) that never fails: takes the workspaces `names` under `root` out
/// of the `.links` folders of `project`'s caches there (all but `current`'s,
/// the cache they are copied from now, if any), then removes every cache of
/// the project there whose `.links` folder holds no link any more, but those
/// of `keep` (the caches of the batch running). Nothing is started on the VM
/// unless there is something to remove.
///
/// A cache is in use while some workspace's link is in its `.links` folder:
/// the link is made before the cache is filled ([`cache_prelude`]), so a
/// removal never takes a cache a copy is about to read. A removed cache is
/// first renamed away, so that a copy that was reading it fails loudly
/// instead of copying from a half-removed folder. It runs in a subshell: it
/// uses the positional parameters, which a prelude must pass on to rsync.
pub(super) fn drop_unlinked(
    root: &str,
    project: &str,
    names: &[&str],
    current: Option<&str>,
    keep: &[String],
) -> String {
    let prefix = quote(&cache_prefix(root, project));
    let names: Vec<String> = names.iter().map(|n| quote(n)).collect();
    let links_of = |cache: &str| quote(&format!("{cache}.links"));
    let unlink = match current {
        Some(current) => format!("case $f in {}/*) ;; *) set -- \"$@\" \"$f\" ;; esac", links_of(current)),
        None => "set -- \"$@\" \"$f\"".to_string(),
    };
    let kept: Vec<String> = keep.iter().map(|k| links_of(k)).collect();
    let skip = if kept.is_empty() {
        String::new()
    } else {
        format!("case $l in {}) continue ;; esac; ", kept.join("|"))
    };
    format!(
        "{{ ( p={prefix}; set --; for n in {names}; do for f in \"$p\"*.links/\"$n\"; do \
         if [ -L \"$f\" ]; then {unlink}; fi; done; done; [ $# -eq 0 ] || rm -f -- \"$@\"; \
         for l in \"$p\"*.links; do [ -d \"$l\" ] && [ ! -L \"$l\" ] || continue; {skip}u=; \
         for f in \"$l\"/* \"$l\"/.[!.]* \"$l\"/..?*; do if [ -L \"$f\" ]; then u=1; break; fi; done; \
         [ -z \"$u\" ] || continue; g=\"$p\"gone-$$; rm -rf -- \"$g\" \"$g.links\"; \
         mv -- \"${{l%.links}}\" \"$g\"; mv -- \"$l\" \"$g.links\" && rm -rf -- \"$g\" \"$g.links\"; \
         done ) 2>/dev/null; :; }}",
        names = names.join(" "),
    )
}

/// A ready workspace with the index of its item.
type Indexed<'a> = (usize, Ready<'a>);

/// A workspace the repo was copied into.
struct Copied {
    /// The digest of what was copied.
    digest: String,
    /// What the copy did, for the change's notes.
    note: String,
    /// Its complete marker was written with the copy (no setup pending).
    marker_complete: bool,
}

/// Sends the repo of `key` into its cache on the VM (made first, in the same
/// session), then copies it into each member's workspace and, where
/// no setup is pending, writes its complete marker; one result per member.
async fn sync_group(
    driver: &SshDriver,
    repos: Option<&Arc<RepoTrees>>,
    key: &CacheKey,
    members: &[usize],
    ready: &[(usize, Ready<'_>)],
    in_use: &[String],
) -> Result<Vec<Result<Copied, DriverError>>, DriverError> {
    let first = &ready[members[0]].1;
    let connection = &first.connection;
    // The digest before the copy: a repo edited during the sync shows up in the next plan.
    let digest = driver.repo_digest(repos, &key.repo, &key.excludes).await?;
    if let [only] = members {
        // One workspace: straight into it, as a sync of its own. Through the
        // cache it would take one more rsync on the VM (about 50 ms, most of
        // it rsync waiting for its own processes) and share nothing.
        let path = &ready[*only].1.path;
        // It copies from no cache now: its links to caches go, and caches
        // nobody links to any more with them.
        let names: Vec<&str> = workspace_name(&key.root, path).into_iter().collect();
        let prelude = drop_unlinked(&key.root, &key.project, &names, None, in_use);
        let sent = connection
            .rsync(
                std::path::Path::new(&key.repo),
                path,
                &key.excludes,
                key.delete,
                Some(&prelude),
            )
            .await?;
        return Ok(vec![Ok(Copied {
            digest,
            note: format!(
                "{sent} straight into the workspace (the only one of this batch on the VM to sync this repo)"
            ),
            marker_complete: false,
        })]);
    }
    let cache = key.folder();
    let names: Vec<&str> = members
        .iter()
        .filter_map(|&n| workspace_name(&key.root, &ready[n].1.path))
        .collect();
    // The cache mirrors the repo (deletes included); a workspace keeps what the
    // profile says (`sync.delete`).
    let sent = connection
        .rsync(
            std::path::Path::new(&key.repo),
            &cache,
            &key.excludes,
            true,
            Some(&cache_prelude(key, &names)),
        )
        .await?;
    tracing::debug!(cache, "ssh batch: repo sent to the cache");
    let mut scratch = Scratch::new(&key.project);
    let mut completes = Vec::new();
    // Per member: its path and the command that writes its complete marker,
    // if no setup is pending.
    let mut finishes: Vec<(&str, Option<String>)> = Vec::new();
    for &n in members {
        let r = &ready[n].1;
        let complete = !r.marker.setup_pending;
        let write = if complete {
            let mut marker = r.marker.clone();
            Some(complete_marker_write(
                &mut scratch,
                &r.path,
                &mut marker,
                Some(digest.clone()),
            )?)
        } else {
            None
        };
        finishes.push((r.path.as_str(), write));
        completes.push(complete);
    }
    // Apart: one `rsync` per workspace, each reporting by itself.
    let apart_words: Vec<String> = vm_copy_words(&key.excludes, key.delete)
        .iter()
        .map(|w| quote(w))
        .collect();
    let apart: Vec<String> = finishes
        .iter()
        .map(|(path, write)| {
            let mut command = format!("{} {}/ {}/", apart_words.join(" "), quote(&cache), quote(path));
            if let Some(write) = write {
                command.push_str(" && ");
                command.push_str(write);
            }
            step(&command, path)
        })
        .collect();
    let outputs: Vec<String> = apart.iter().map(|_| scratch.file(&key.root)).collect();
    let apart = side_by_side(&apart, &outputs, COPIES_AT_ONCE);
    let together = copy_together(key, &finishes);
    let tried_together = together.is_some();
    let body = match together {
        // Together: one `rsync` for all; should it fail, each workspace is
        // copied apart, so that one bad workspace fails alone.
        Some(together) => {
            let markers: String = finishes
                .iter()
                .map(|(path, write)| step(write.as_deref().unwrap_or(":"), path))
                .collect();
            format!(
                "if out=$( {{ {together}; }} 2>&1 ); then {markers}else \
                 printf '@@apart\\t%s\\n' \"$(printf '%s' \"$out\" | tr '\\n\\t' '  ' | cut -c1-300)\"; {apart}fi; "
            )
        }
        None => apart,
    };
    // Its members copy from this cache only now: their links elsewhere go, and
    // the caches nobody links to any more with them.
    let body = format!(
        "{body}{}; ",
        drop_unlinked(&key.root, &key.project, &names, Some(&cache), in_use)
    );
    let script = scratch.around(&body);
    let stdout = run_steps(connection, script, "copying the repo cache into the workspaces").await?;
    let shared = members.len();
    let how = match stdout.lines().find_map(|l| l.strip_prefix("@@apart\t")) {
        Some(why) => format!("one by one (all at once failed: {})", why.trim()),
        None if tried_together => "into all at once".to_string(),
        None => "one by one".to_string(),
    };
    let outcomes = statuses(&stdout);
    Ok(members
        .iter()
        .zip(completes)
        .map(|(&n, marker_complete)| {
            let path = ready[n].1.path.as_str();
            match outcomes.get(path) {
                Some(Ok(())) => Ok(Copied {
                    digest: digest.clone(),
                    note: format!(
                        "{sent} to the VM's repo cache (once for {shared} workspace(s)), then copied on the VM {how}"
                    ),
                    marker_complete,
                }),
                Some(Err(stderr)) => Err(DriverError::other(format!(
                    "copying the repo cache into {path} on {} failed: {stderr}",
                    connection.target().vm
                ))),
                None => Err(DriverError::other(format!(
                    "copying the repo cache into {path} on {}: no outcome reported",
                    connection.target().vm
                ))),
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_folder_is_keyed_by_repo_and_excludes_under_the_root() {
        let key = |repo: &str, excludes: &[&str]| CacheKey {
            project: "p".into(),
            root: "/build/".into(),
            repo: repo.into(),
            excludes: excludes.iter().map(|e| e.to_string()).collect(),
            delete: true,
        };
        let a = key("/src/app", &[".git/"]).folder();
        assert!(a.starts_with("/build/.sandboxer-cache/p."), "{a}");
        assert_eq!(a.len(), "/build/.sandboxer-cache/p.".len() + 16);
        assert_eq!(a, key("/src/app", &[".git/"]).folder());
        assert_ne!(a, key("/src/app", &[]).folder());
        assert_ne!(a, key("/src/other", &[".git/"]).folder());
        // Two excludes are not one with a NUL in it.
        assert_ne!(key("/r", &["a", "b"]).folder(), key("/r", &["ab"]).folder());
        // What a copy into a workspace deletes is not the cache's business.
        let keeping = CacheKey {
            delete: false,
            ..key("/src/app", &[".git/"])
        };
        assert_eq!(keeping.folder(), a);
        assert_eq!(keeping.links(), format!("{a}.links"));
    }

    #[test]
    fn the_copy_into_all_at_once_takes_every_workspace_whole_and_anchors_excludes_in_each() {
        let key = CacheKey {
            project: "p".into(),
            root: "/build".into(),
            repo: "/src/app".into(),
            excludes: vec!["dist-newstyle/".into(), "/local/".into()],
            delete: true,
        };
        let members = [("/build/sbx-a", None), ("/build/sbx-b", Some("true".to_string()))];
        let command = copy_together(&key, &members).expect("simple excludes");
        for part in [
            "rsync -aR --no-D --modify-window=-1 '--include=/*/' --delete '--exclude=/*/.sandboxer-*'",
            "--exclude=dist-newstyle/ '--exclude=/*/local/'",
            "\"$l\"/./sbx-a/ \"$l\"/./sbx-b/ /build/",
        ] {
            assert!(command.contains(part), "{part} in {command}");
        }
        // One workspace: nothing to share. A pattern over several folders: each apart.
        assert_eq!(copy_together(&key, &members[..1]), None);
        let crossing = CacheKey {
            excludes: vec!["docs/*.pdf".into()],
            ..key
        };
        assert_eq!(copy_together(&crossing, &members), None);
    }
}
