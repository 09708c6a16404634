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

use super::ssh::{SshDriver, made_for, parent, workspace_path};
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
    // 1. Markers first, every workspace at once over the VM's one connection.
    let prepared = crate::task::join_all(items.iter().map(|item| prepare(driver, item)).collect()).await;
    let mut results: Vec<Option<Result<Made, DriverError>>> = Vec::with_capacity(items.len());
    let mut ready: Vec<(usize, Ready<'_>)> = Vec::new();
    for (i, outcome) in prepared.into_iter().enumerate() {
        match outcome {
            Ok(Ok(r)) => {
                results.push(None);
                ready.push((i, r));
            }
            Ok(Err(e)) => results.push(Some(Err(e))),
            Err(panic) => results.push(Some(Err(DriverError::other(format!(
                "the create or update panicked: {panic}"
            ))))),
        }
    }

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
                // The first keeps the error itself (with its hint); the others say it.
                let text = e.to_string();
                let mut e = Some(e);
                for &n in members {
                    made[n] = Err(e.take().unwrap_or_else(|| DriverError::other(text.clone())));
                }
            }
        }
    }

    // 3. Setup and the complete marker, each workspace by itself.
    let finished = crate::task::join_all(
        ready
            .iter_mut()
            .zip(made)
            .map(|((_, r), m)| async move {
                let m = m?;
                driver
                    .finish(&r.connection, r.resource, &r.path, &mut r.marker, m)
                    .await
            })
            .collect(),
    )
    .await;
    for ((i, _), outcome) in ready.iter().zip(finished) {
        results[*i] =
            Some(outcome.unwrap_or_else(|panic| Err(DriverError::other(format!("the setup panicked: {panic}")))));
    }
    results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(DriverError::other("no outcome"))))
        .collect()
}

async fn prepare<'a>(driver: &SshDriver, item: &BatchItem<'a>) -> Result<Ready<'a>, DriverError> {
    let resource = item.request.resource;
    match &item.workspace {
        Some(workspace) => {
            let (connection, marker) = driver.begin_update_on(resource, &workspace.path, &workspace.id).await?;
            Ok(Ready {
                resource,
                connection,
                path: workspace.path.clone(),
                marker,
            })
        }
        None => {
            let (connection, path, marker) = driver
                .begin_create(item.request.owner, resource, item.request.id)
                .await?;
            debug_assert_eq!(path, workspace_path(resource, item.request.id));
            Ok(Ready {
                resource,
                connection,
                path,
                marker,
            })
        }
    }
}

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
    let dests: Vec<String> = members.iter().map(|&n| quote(&ready[n].1.path)).collect();
    let script = format!(
        "for d in {dests}; do if out=$({rsync} {cache}/ \"$d\"/ 2>&1); then printf '@@ok\\t%s\\n' \"$d\"; \
         else printf '@@fail\\t%s\\t%s\\n' \"$d\" \"$(printf '%s' \"$out\" | tr '\\n\\t' '  ' | cut -c1-300)\"; fi; done; echo @@end",
        dests = dests.join(" "),
        rsync = rsync.join(" "),
        cache = quote(&cache),
    );
    let out = connection.run(&script).await?;
    if !out.stdout.lines().any(|l| l == "@@end") {
        return Err(connection
            .bad_output("copying the repo cache into the workspaces", "output cut short")
            .into());
    }
    let mut outcomes: BTreeMap<&str, Result<(), String>> = BTreeMap::new();
    for line in out.stdout.lines() {
        let mut parts = line.split('\t');
        match (parts.next(), parts.next()) {
            (Some("@@ok"), Some(dest)) => {
                outcomes.insert(dest, Ok(()));
            }
            (Some("@@fail"), Some(dest)) => {
                outcomes.insert(dest, Err(parts.next().unwrap_or_default().to_string()));
            }
            _ => {}
        }
    }
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
