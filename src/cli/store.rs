//! Opening a command's state store, and holding its lock around the work.

use std::path::Path;
use std::time::Duration;

use sandboxer::manifest::HubSpec;
use sandboxer::state::hub::HubCa;
use sandboxer::state::{AnyLock, AnyStore, EmbeddedStore, HubStore};

use super::Settings;

/// The store of a command: the State Hub when `--hub`/`SANDBOXER_HUB_URL` or the
/// manifest names one, else the embedded store in `state_dir`.
pub fn open(settings: &Settings, state_dir: &Path, hub: Option<&HubSpec>) -> anyhow::Result<AnyStore> {
    let url = settings.hub_url.clone().or_else(|| hub.map(|h| h.url.clone()));
    let Some(url) = url else {
        return Ok(AnyStore::Embedded(EmbeddedStore::new(state_dir)));
    };
    let token_env = hub
        .and_then(|h| h.token_env.clone())
        .unwrap_or_else(|| "SANDBOXER_HUB_TOKEN".to_string());
    // The one place the token is read; it goes into the client and nowhere else
    // (no child process inherits the variable).
    sandboxer::secret_env::register(&token_env);
    let token = sandboxer::secret_env::var(&token_env).filter(|t| !t.is_empty());
    // Read before the client exists, so a bad file is refused before anything is sent.
    let ca = settings.hub_ca.as_deref().map(HubCa::read).transpose()?;
    let mut hub = HubStore::trusting(&url, token, &token_env, ca.as_ref())?;
    // Undocumented in --help: shorter leases for tests of lease expiry (docs/state-hub.md).
    if let Some(ttl) = settings.env.get("SANDBOXER_HUB_LEASE_TTL") {
        let ttl = sandboxer::duration::parse(ttl).map_err(|e| anyhow::anyhow!("SANDBOXER_HUB_LEASE_TTL: {e}"))?;
        hub = hub.with_lease_ttl(ttl);
    }
    Ok(AnyStore::Hub(hub))
}

/// Runs `work` holding the state lock of `project`, and releases it whatever
/// `work` returns, the embedded state compacted first (`release`). (`work` is a
/// future: nothing of it runs before the lock is held.)
pub async fn locked<T>(
    store: &AnyStore,
    project: &str,
    command: &str,
    timeout: Duration,
    work: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    let lock = store.lock(project, command, timeout).await?;
    let result = work.await;
    let released = release(store, lock).await;
    let value = result?;
    released?;
    Ok(value)
}

/// Releases `lock` of `store`. The embedded store folds its journal into
/// `state.json` first, while still holding the lock: every command that ends
/// leaves a complete snapshot. A compaction that fails loses nothing (the
/// journal keeps the changes for the next command) and is reported.
pub async fn release(store: &AnyStore, lock: AnyLock) -> anyhow::Result<()> {
    let compacted = match store {
        AnyStore::Embedded(embedded) => embedded.compact(),
        AnyStore::Hub(_) => Ok(()),
    };
    lock.release().await;
    compacted.map_err(|e| anyhow::Error::new(e).context("the state was saved in its journal, but not compacted"))
}
