//! Pieces the state-touching commands share: the manifest flag, opening the
//! store, observing and planning, confirmation, Ctrl-C, the async runtime.

use std::collections::HashSet;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use tokio::sync::watch;

use sandboxer::address::Address;
use sandboxer::desired::Desired;
use sandboxer::driver::local::LocalDriver;
use sandboxer::driver::packer::{PackerDriver, PackerOptions};
use sandboxer::driver::ssh::SshDriver;
use sandboxer::manifest::HubSpec;
use sandboxer::observe::{self, Drivers, Observed};
use sandboxer::plan::{self, Plan};
use sandboxer::remote::{SshOptions, SshPool};
use sandboxer::state::{AnyStore, EmbeddedStore, HubStore, StateStore};

use super::Settings;
use super::output::Hinted;

/// `-f FILE`.
#[derive(Debug, Clone, Args)]
pub struct ManifestArg {
    /// The manifest
    #[arg(short = 'f', long = "file", default_value = "sandboxes.yaml", value_name = "FILE")]
    pub file: PathBuf,
}

impl ManifestArg {
    /// The folder the manifest is in (where its state lives by default).
    pub fn dir(&self) -> PathBuf {
        let absolute = std::path::absolute(&self.file).unwrap_or_else(|_| self.file.clone());
        absolute.parent().map(Path::to_path_buf).unwrap_or_default()
    }
}

/// `-f FILE` for commands that only need the state folder: the manifest's when a
/// manifest is given or `sandboxes.yaml` is here, else the user's state folder.
#[derive(Debug, Clone, Args)]
pub struct StateArg {
    /// The manifest whose state to use [default: sandboxes.yaml if present, else the user's state]
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<PathBuf>,
}

impl StateArg {
    /// The local state folder of this command.
    pub fn state_dir(&self, settings: &Settings) -> PathBuf {
        settings.state_dir_without_manifest(self.file.as_deref())
    }

    /// The store this command uses: the State Hub when `--hub` names one or the
    /// manifest (`-f FILE`, else `./sandboxes.yaml` if present) has `hub:`.
    pub fn store(&self, settings: &Settings) -> anyhow::Result<AnyStore> {
        let hub = self.manifest_hub()?;
        store(settings, &self.state_dir(settings), hub.as_ref())
    }

    /// The `hub:` of this command's manifest. A manifest given with `-f` must
    /// load; a `./sandboxes.yaml` that does not is skipped with a warning.
    fn manifest_hub(&self) -> anyhow::Result<Option<HubSpec>> {
        let (path, explicit) = match &self.file {
            Some(file) => (file.clone(), true),
            None => {
                let here = PathBuf::from("sandboxes.yaml");
                if !here.is_file() {
                    return Ok(None);
                }
                (here, false)
            }
        };
        match sandboxer::manifest::load(&path) {
            Ok(loaded) => Ok(loaded.manifest.hub),
            Err(diagnostics) if explicit => Err(diagnostics.into()),
            Err(_) => {
                tracing::warn!(
                    "{} does not load; its `hub:` is not used (run `sandboxer validate`)",
                    path.display()
                );
                Ok(None)
            }
        }
    }
}

/// Runs a command's `work` on a fresh runtime, then closes the ssh masters the
/// run opened, whatever `work` returned.
pub fn run_with<T>(drivers: &Drivers, work: impl std::future::Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    runtime()?.block_on(async {
        let result = work.await;
        drivers.ssh.pool().close().await;
        result
    })
}

/// A tokio runtime for one command.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// The store of a command: the State Hub when `--hub`/`SANDBOXER_HUB_URL` or the
/// manifest names one, else the embedded store in `state_dir`.
pub fn store(settings: &Settings, state_dir: &Path, hub: Option<&HubSpec>) -> anyhow::Result<AnyStore> {
    let url = settings.hub_url.clone().or_else(|| hub.map(|h| h.url.clone()));
    let Some(url) = url else {
        return Ok(AnyStore::Embedded(EmbeddedStore::new(state_dir)));
    };
    let token_env = hub
        .and_then(|h| h.token_env.clone())
        .unwrap_or_else(|| "SANDBOXER_HUB_TOKEN".to_string());
    // The one place the token is read; it goes into the client and nowhere else.
    let token = std::env::var(&token_env).ok().filter(|t| !t.is_empty());
    let mut hub = HubStore::new(&url, token, &token_env)?;
    // Undocumented in --help: shorter leases for tests of lease expiry (docs/state-hub.md).
    if let Some(ttl) = settings.env.get("SANDBOXER_HUB_LEASE_TTL") {
        let ttl = sandboxer::duration::parse(ttl).map_err(|e| anyhow::anyhow!("SANDBOXER_HUB_LEASE_TTL: {e}"))?;
        hub = hub.with_lease_ttl(ttl);
    }
    Ok(AnyStore::Hub(hub))
}

/// The drivers of one command; its ssh connections are shared by every step.
pub fn drivers(state_dir: &Path, settings: &Settings) -> Drivers {
    let options = SshOptions {
        config_file: settings.ssh_config.clone(),
        accept_new_host_keys: settings.ssh_accept_new,
    };
    Drivers {
        local: LocalDriver::new(&state_dir.join("cache").join("repos")),
        ssh: SshDriver::new(Arc::new(SshPool::new(options)), &state_dir.join("cache").join("repos")),
        packer: PackerDriver::new(PackerOptions {
            binary: settings
                .env
                .get("SANDBOXER_PACKER")
                .map_or_else(|| PathBuf::from("packer"), PathBuf::from),
            disable_checkpoint: !settings.checkpoint_set,
            logs_dir: state_dir.join("logs"),
            note_every: std::time::Duration::from_secs(5),
        }),
    }
}

/// Reads the state and observes what is there.
pub async fn observe(desired: &Desired, store: &AnyStore, drivers: &Drivers) -> anyhow::Result<Observed> {
    let snapshot = store.load(&desired.project).await?;
    Ok(observe::observe(desired, snapshot, drivers).await)
}

/// Observes and plans.
pub async fn plan(
    desired: &Desired,
    store: &AnyStore,
    drivers: &Drivers,
    targets: &[Address],
) -> anyhow::Result<(Plan, Observed)> {
    for t in targets {
        if !desired.resources.contains_key(t) {
            let known: Vec<String> = desired.resources.keys().map(ToString::to_string).collect();
            return Err(Hinted {
                message: format!("--target {t} is not declared in {}", desired.manifest_path.display()),
                hint: format!("declared: {}", known.join(", ")),
            }
            .into());
        }
    }
    let observed = observe(desired, store, drivers).await?;
    Ok((plan::make(desired, &observed, targets), observed))
}

/// Runs `work` holding the state lock of `project`, and releases it whatever
/// `work` returns. (`work` is a future: nothing of it runs before the lock is held.)
pub async fn locked<T>(
    store: &AnyStore,
    project: &str,
    command: &str,
    timeout: std::time::Duration,
    work: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    let lock = store
        .lock(project, command, timeout)
        .await
        .map_err(super::apply::lock_hint)?;
    let result = work.await;
    lock.release().await;
    result
}

/// Every id in use: records and markers found.
pub fn known_ids(observed: &Observed) -> HashSet<String> {
    observed
        .records
        .values()
        .map(|r| r.id.clone())
        .chain(observed.workspaces.iter().map(|w| w.marker.id.clone()))
        .collect()
}

/// Asks for `yes` on stdin; a closed stdin is a refusal with a hint.
pub fn confirm(question: &str) -> anyhow::Result<bool> {
    let mut err = std::io::stderr().lock();
    write!(err, "{question}\n  Only 'yes' will be accepted.\n\n  Enter a value: ")?;
    err.flush()?;
    drop(err);
    let mut answer = String::new();
    let n = std::io::stdin().lock().read_line(&mut answer)?;
    if n == 0 && !std::io::stdin().is_terminal() {
        return Err(Hinted {
            message: "no confirmation: standard input is closed".into(),
            hint: "pass --auto-approve to apply without asking".into(),
        }
        .into());
    }
    Ok(answer.trim() == "yes")
}

/// Ctrl-C: the first drains (no new changes start), the second stops at once.
pub fn interrupt_handler(quiet: bool) -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    let tx = Arc::new(tx);
    // Registered here, not at the task's first poll: a Ctrl-C right after this
    // returns (when the first changes start) must drain, not kill.
    let interrupts = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt());
    tokio::spawn(async move {
        let Ok(mut interrupts) = interrupts else {
            // No Ctrl-C handling: the apply runs to its end (the sender stays alive).
            return std::future::pending::<()>().await;
        };
        if interrupts.recv().await.is_none() {
            return;
        }
        if !quiet {
            eprintln!(
                "\nInterrupt received: finishing the changes that are running, starting no new ones. Press Ctrl-C again to stop at once."
            );
        }
        let _ = tx.send(true);
        if interrupts.recv().await.is_some() {
            eprintln!("\nStopped at once. The state holds every change that finished; run plan to see the rest.");
            // Builds run in their own process groups: end them, or they outlive us.
            sandboxer::process_group::kill_all();
            std::process::exit(130);
        }
    });
    rx
}
