//! Watch: which files a manifest's state depends on, and turning a burst of file
//! events into one change (debounce), so `sandboxer watch` reapplies once per edit.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::desired::Desired;
use crate::driver::DriverName;

/// What a watch cycle looks at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WatchSet {
    /// Files whose change matters (the manifest, the port registry).
    pub files: BTreeSet<PathBuf>,
    /// Folders whose every change matters, recursively (repos, templates, profiles).
    pub trees: BTreeSet<PathBuf>,
    /// Folders whose changes never matter (the state folder, local workspace roots):
    /// sandboxer writes there itself.
    pub ignored: BTreeSet<PathBuf>,
}

impl WatchSet {
    /// The inputs of `desired`: its manifest, profile folders, synced repos,
    /// Packer templates and port registry; the state folder and local workspace
    /// roots are ignored.
    pub fn of(desired: &Desired, profile_dirs: &[PathBuf], state_dir: &Path, registry: Option<&Path>) -> Self {
        let mut set = WatchSet::default();
        set.files.insert(absolute(&desired.manifest_path));
        set.files.extend(registry.map(absolute));
        set.trees.extend(profile_dirs.iter().map(|d| absolute(d)));
        for r in desired.resources.values() {
            for input in ["repo", "packer_template"] {
                if let Some(path) = r.input_str(input) {
                    set.trees.insert(PathBuf::from(path));
                }
            }
            if r.driver == DriverName::LOCAL_WORKSPACE
                && let Some(root) = r.input_str("workspace_root")
            {
                set.ignored.insert(PathBuf::from(root));
            }
        }
        set.ignored.insert(absolute(state_dir));
        set
    }

    /// Folders to give the OS watcher: each file's folder (editors replace files
    /// by renaming, which a watch on the file itself misses) and each tree.
    pub fn watch_roots(&self) -> Vec<(PathBuf, bool)> {
        let mut roots: BTreeSet<(PathBuf, bool)> = BTreeSet::new();
        for f in &self.files {
            if let Some(parent) = f.parent() {
                roots.insert((parent.to_path_buf(), false));
            }
        }
        for t in &self.trees {
            roots.insert((t.clone(), true));
        }
        roots.into_iter().collect()
    }

    /// Whether a change at `path` is one of ours to react to.
    pub fn is_relevant(&self, path: &Path) -> bool {
        if self.ignored.iter().any(|i| path.starts_with(i)) {
            return false;
        }
        self.files.iter().any(|f| f == path) || self.trees.iter().any(|t| path.starts_with(t))
    }
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// Waits for the next burst of changes: the first path, then every path until
/// none came for `quiet`. `None` when the sender is gone.
pub async fn next_burst(events: &mut mpsc::UnboundedReceiver<PathBuf>, quiet: Duration) -> Option<BTreeSet<PathBuf>> {
    let first = events.recv().await?;
    let mut burst = BTreeSet::from([first]);
    loop {
        match tokio::time::timeout(quiet, events.recv()).await {
            Ok(Some(path)) => {
                burst.insert(path);
            }
            Ok(None) | Err(_) => return Some(burst),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_burst_ends_after_a_quiet_period() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let sender = tokio::spawn(async move {
            for i in 0..5 {
                let _ = tx.send(PathBuf::from(format!("/repo/f{i}")));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
            let _ = tx.send(PathBuf::from("/repo/late"));
            tokio::time::sleep(Duration::from_secs(1)).await;
        });
        let start = tokio::time::Instant::now();
        let burst = next_burst(&mut rx, Duration::from_millis(300)).await.expect("a burst");
        assert_eq!(burst.len(), 5, "{burst:?}");
        // Last event at 400 ms, then 300 ms of quiet.
        assert_eq!(start.elapsed(), Duration::from_millis(700));
        let late = next_burst(&mut rx, Duration::from_millis(300))
            .await
            .expect("a second burst");
        assert_eq!(late, BTreeSet::from([PathBuf::from("/repo/late")]));
        sender.await.expect("sender");
        assert_eq!(next_burst(&mut rx, Duration::from_millis(300)).await, None);
    }

    #[test]
    fn state_and_workspaces_are_ignored_inputs_are_not() {
        let set = WatchSet {
            files: BTreeSet::from([PathBuf::from("/m/sandboxes.yaml")]),
            trees: BTreeSet::from([PathBuf::from("/m/repo"), PathBuf::from("/m")]),
            ignored: BTreeSet::from([PathBuf::from("/m/.sandboxer")]),
        };
        assert!(set.is_relevant(Path::new("/m/sandboxes.yaml")));
        assert!(set.is_relevant(Path::new("/m/repo/src/Main.hs")));
        assert!(!set.is_relevant(Path::new("/m/.sandboxer/state.json")));
        assert!(!set.is_relevant(Path::new("/elsewhere/x")));
    }
}
