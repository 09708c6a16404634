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
use crate::repo::RESERVED_PREFIX;

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
}

impl CacheKey {
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
        format!(
            "{}/{CACHE_DIR}/{}.{}",
            self.root.trim_end_matches('/'),
            self.project,
            &digest[..16]
        )
    }
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
        prefix = quote(&format!("{caches}/{project}.")),
    )
}

/// Carries out `items` (creates and updates on one VM); one result per item, in order.
pub async fn apply(driver: &SshDriver, items: Vec<BatchItem<'_>>) -> Vec<Result<Made, DriverError>> {
    // 1. Markers first: the creates' each by itself, the updates' in one
    // remote command; all over the VM's one connection.
    let creates: Vec<usize> = (0..items.len()).filter(|&i| items[i].workspace.is_none()).collect();
    let updates: Vec<usize> = (0..items.len()).filter(|&i| items[i].workspace.is_some()).collect();
    let (created, updated) = tokio::join!(
        begin_creates(driver, &items, &creates),
        begin_updates(driver, &items, &updates),
    );
    let mut results: Vec<Option<Result<Made, DriverError>>> = items.iter().map(|_| None).collect();
    let mut ready: Vec<(usize, Ready<'_>)> = Vec::new();
    for (i, outcome) in created.into_iter().chain(updated) {
        match outcome {
            Ok(r) => ready.push((i, r)),
            Err(e) => results[i] = Some(Err(e)),
        }
    }
    ready.sort_by_key(|(i, _)| *i);

    // 2. Each repo once to the VM, then copied there into its workspaces.
    let mut groups: BTreeMap<CacheKey, Vec<usize>> = BTreeMap::new();
    for (n, (_, r)) in ready.iter().enumerate() {
        if let Some(repo) = r.resource.input_str("repo") {
            let key = CacheKey {
                project: r.marker.project.clone(),
                root: parent(&r.path).to_string(),
                repo: repo.to_string(),
                excludes: r.resource.sync.excludes.clone(),
            };
            groups.entry(key).or_default().push(n);
        }
    }
    let mut made: Vec<Result<Made, DriverError>> =
        ready.iter().map(|(_, r)| Ok(made_for(r.resource, &r.path))).collect();
    let synced = crate::task::join_all(
        groups
            .iter()
            .map(|(key, members)| sync_group(driver, key, members, &ready))
            .collect(),
    )
    .await;
    for ((_, members), outcome) in groups.iter().zip(synced) {
        let outcome = outcome.unwrap_or_else(|panic| Err(DriverError::other(format!("the sync panicked: {panic}"))));
        match outcome {
            Ok(per_member) => {
                for (&n, result) in members.iter().zip(per_member) {
                    match (result, &mut made[n]) {
                        (Ok((digest, note)), Ok(m)) => {
                            m.repo_digest = Some(digest);
                            m.notes.push(note);
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

    // 3. Setup (a new workspace's, by itself), then the complete markers: those
    // without setup in one remote command for the VM.
    let (with_setup, without): (Vec<_>, Vec<_>) = ready
        .iter_mut()
        .zip(made)
        .partition(|((_, r), m)| r.marker.setup_pending && m.is_ok());
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
    results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(DriverError::other("no outcome"))))
        .collect()
}

/// Writes the complete marker of every workspace in `done` (its repo in, no
/// setup pending) in one remote command; a workspace whose sync failed keeps
/// its incomplete marker and its error.
async fn complete_markers(
    done: Vec<(&mut Indexed<'_>, Result<Made, DriverError>)>,
) -> Vec<(usize, Result<Made, DriverError>)> {
    let mut outcomes = Vec::new();
    let mut pending: Vec<(usize, Arc<Connection>, String, Made)> = Vec::new();
    let mut script = String::new();
    for ((i, r), made) in done {
        let made = match made {
            Ok(made) => made,
            Err(e) => {
                outcomes.push((*i, Err(e)));
                continue;
            }
        };
        r.marker.repo_digest.clone_from(&made.repo_digest);
        r.marker.complete = true;
        r.marker.updated_at = crate::state::now_rfc3339();
        let json = match super::ssh::encode_marker(&r.marker) {
            Ok(json) => json,
            Err(e) => {
                outcomes.push((*i, Err(e)));
                continue;
            }
        };
        let file = format!("{}/{}", r.path.trim_end_matches('/'), super::MARKER_FILE);
        // As a single marker write: a new file under a random name (never a
        // link), then the rename; one status line per workspace.
        let write = format!(
            "t=$(mktemp {f}.tmp-XXXXXXXX) && printf '%s\\n' {json} > \"$t\" && mv -f -- \"$t\" {f}",
            f = quote(&file),
            json = quote(&json),
        );
        script.push_str(&step(&write, &r.path));
        pending.push((*i, r.connection.clone(), r.path.clone(), made));
    }
    let Some(connection) = pending.first().map(|(_, c, _, _)| c.clone()) else {
        return outcomes;
    };
    let stdout = match run_steps(&connection, script, "writing the markers").await {
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
    let mut script = String::new();
    for &i in updates {
        let Some(workspace) = &items[i].workspace else { continue };
        let marker = format!("{}/{}", workspace.path.trim_end_matches('/'), super::MARKER_FILE);
        // Markers are compact JSON written by this driver, and ids use a plain
        // alphabet; the new marker goes through a file mktemp makes, then the rename.
        script.push_str(&format!(
            "if ( m={m}; [ -f \"$m\" ] && [ ! -L \"$m\" ] || exit 3; grep -q -F {needle} \"$m\" || exit 3; \
             t=$(mktemp \"$m.tmp-XXXXXXXX\") || exit 4; \
             sed 's/\"complete\":true/\"complete\":false/' \"$m\" > \"$t\" && mv -f -- \"$t\" \"$m\" ); \
             then printf '@@m\\t%s\\t' {d}; cat -- {m}; else printf '@@no\\t%s\\n' {d}; fi; ",
            m = quote(&marker),
            needle = quote(&format!("\"id\":\"{}\"", workspace.id)),
            d = quote(&workspace.path),
        ));
    }
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

/// A ready workspace with the index of its item.
type Indexed<'a> = (usize, Ready<'a>);

type MemberResult = Result<(String, String), DriverError>;

/// Sends the repo of `key` into its cache on the VM, then copies it into each
/// member's workspace; one result (digest, note) per member.
async fn sync_group(
    driver: &SshDriver,
    key: &CacheKey,
    members: &[usize],
    ready: &[(usize, Ready<'_>)],
) -> Result<Vec<MemberResult>, DriverError> {
    let first = &ready[members[0]].1;
    let connection = &first.connection;
    let delete = first.resource.sync.delete;
    // The digest before the copy: a repo edited during the sync shows up in the next plan.
    let digest = driver.repo_digest(&key.repo, &key.excludes).await?;
    let cache = key.folder();
    let caches = format!("{}/{CACHE_DIR}", key.root.trim_end_matches('/'));
    // Our folders only: never through a link planted where they go.
    let prepare = format!(
        "c={caches}; [ ! -L \"$c\" ] || exit 5; mkdir -p -- \"$c\" && chmod 700 \"$c\" && \
         [ ! -L {cache} ] || exit 5; mkdir -p -- {cache}",
        caches = quote(&caches),
        cache = quote(&cache),
    );
    connection
        .run_ok(&prepare, &format!("making the repo cache {cache}"))
        .await?;
    // The cache mirrors the repo (deletes included); a workspace keeps what the
    // profile says (`sync.delete`).
    let sent = connection
        .rsync(std::path::Path::new(&key.repo), &cache, &key.excludes, true)
        .await?;
    let mut words = vec![
        "rsync".to_string(),
        "-a".into(),
        "--no-D".into(),
        "--modify-window=-1".into(),
        format!("--exclude=/{RESERVED_PREFIX}*"),
    ];
    if delete {
        words.push("--delete".into());
    }
    words.extend(key.excludes.iter().map(|p| format!("--exclude={p}")));
    let rsync: Vec<String> = words.iter().map(|w| quote(w)).collect();
    let copy = format!("{} {}/", rsync.join(" "), quote(&cache));
    let mut script = String::new();
    for &n in members {
        let path = &ready[n].1.path;
        script.push_str(&step(&format!("{copy} {}/", quote(path)), path));
    }
    let stdout = run_steps(connection, script, "copying the repo cache into the workspaces").await?;
    let outcomes = statuses(&stdout);
    let shared = members.len();
    Ok(members
        .iter()
        .map(|&n| {
            let path = ready[n].1.path.as_str();
            match outcomes.get(path) {
                Some(Ok(())) => Ok((
                    digest.clone(),
                    format!("{sent} to the VM's repo cache (once for {shared} workspace(s)), then copied on the VM"),
                )),
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
        };
        let a = key("/src/app", &[".git/"]).folder();
        assert!(a.starts_with("/build/.sandboxer-cache/p."), "{a}");
        assert_eq!(a.len(), "/build/.sandboxer-cache/p.".len() + 16);
        assert_eq!(a, key("/src/app", &[".git/"]).folder());
        assert_ne!(a, key("/src/app", &[]).folder());
        assert_ne!(a, key("/src/other", &[".git/"]).folder());
        // Two excludes are not one with a NUL in it.
        assert_ne!(key("/r", &["a", "b"]).folder(), key("/r", &["ab"]).folder());
    }
}
