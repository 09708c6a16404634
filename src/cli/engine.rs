//! The engine of one command: its drivers (whose ssh connections every step
//! shares), the async runtime, observing and planning.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;

use sandboxer::address::Address;
use sandboxer::desired::Desired;
use sandboxer::driver::Registry;
use sandboxer::driver::packer::PackerOptions;
use sandboxer::driver::registry::BuiltinOptions;
use sandboxer::observe::{self, CapabilityPolicy, Observed};
use sandboxer::plan::{self, Plan, Reason};
use sandboxer::remote::{ControlRoots, SshOptions};
use sandboxer::state::{AnyStore, StateStore};

use super::Settings;
use super::output::Hinted;

/// The drivers of one command and where they keep caches.
#[derive(Debug, Clone)]
pub struct Engine {
    /// Every driver, by name.
    pub drivers: Registry,
    /// Repo digest caches.
    pub cache_dir: PathBuf,
    /// Whether and when VMs' capabilities are probed.
    pub probing: Probing,
}

/// Whether and when a command probes the capabilities of the VMs it observes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probing {
    /// Probe a VM whose catalog entry is older than this; none: never probe.
    pub ttl: Option<Duration>,
    /// Probe every VM observed, whatever the age of its entry.
    pub refresh: bool,
}

impl Engine {
    /// The built-in drivers, with caches and logs in `state_dir`.
    pub fn new(state_dir: &Path, settings: &Settings) -> Self {
        let cache_dir = state_dir.join("cache").join("repos");
        let drivers = Registry::builtin(BuiltinOptions {
            cache_dir: cache_dir.clone(),
            ssh: ssh_options(settings),
            packer: PackerOptions {
                binary: settings
                    .env
                    .get("SANDBOXER_PACKER")
                    .map_or_else(|| PathBuf::from("packer"), PathBuf::from),
                disable_checkpoint: !settings.checkpoint_set,
                logs_dir: state_dir.join("logs"),
                note_every: Duration::from_secs(5),
                parallel_builds: settings.parallel_builds,
            },
        });
        Engine {
            drivers,
            cache_dir,
            probing: Probing {
                ttl: Some(settings.capabilities_ttl),
                refresh: false,
            },
        }
    }

    /// The catalog as the store has it, and how to use it. A store that
    /// cannot give it (a hub without the catalog's routes) makes every VM
    /// probed, which is slower and still right.
    async fn capability_policy(&self, store: &AnyStore) -> CapabilityPolicy {
        let Some(ttl) = self.probing.ttl else {
            return CapabilityPolicy::default();
        };
        let cached = match store.vm_capabilities().await {
            Ok(cached) => cached,
            Err(e) => {
                tracing::warn!("cannot read the capability catalog from {}: {e}", store.describe());
                Default::default()
            }
        };
        CapabilityPolicy::with_ttl(cached, ttl, self.probing.refresh)
    }

    /// Writes the catalog entries of the VMs probed; a failure is said, and
    /// only costs the next command a probe.
    pub async fn save_catalog(&self, store: &AnyStore, observed: &Observed) {
        for vm in &observed.probed {
            if let Some(entry) = observed.catalog.get(vm)
                && let Err(e) = store.put_vm_capabilities(entry).await
            {
                tracing::warn!("cannot save the capabilities of {vm} to {}: {e}", store.describe());
            }
        }
    }

    /// Runs a command's `work` on a fresh runtime, then closes what the drivers
    /// opened (ssh masters), whatever `work` returned.
    pub fn run<T>(&self, work: impl std::future::Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
        runtime()?.block_on(async {
            let result = work.await;
            self.drivers.close().await;
            result
        })
    }

    /// Hashes the sensitive values of `desired` with the state's key (read, or
    /// made on first use, only when there are sensitive values).
    pub async fn key(&self, desired: &mut Desired, store: &AnyStore) -> anyhow::Result<()> {
        if desired.has_sensitive_inputs() {
            let key = store.sensitive_key(&desired.project).await?;
            desired.set_sensitive_key(key);
        }
        Ok(())
    }

    /// Like [`Engine::key`], but never makes a key: false when sensitive values
    /// need one and the state has none.
    pub async fn existing_key(&self, desired: &mut Desired, store: &AnyStore) -> anyhow::Result<bool> {
        if !desired.has_sensitive_inputs() {
            return Ok(true);
        }
        match store.existing_sensitive_key(&desired.project).await? {
            Some(key) => {
                desired.set_sensitive_key(key);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Reads the state and observes what is there.
    pub async fn observe(&self, desired: &Desired, store: &AnyStore) -> anyhow::Result<Observed> {
        let snapshot = store.load(&desired.project).await?;
        let policy = self.capability_policy(store).await;
        let observed = observe::observe_with(desired, snapshot, &self.drivers, &self.cache_dir, policy).await;
        self.save_catalog(store, &observed).await;
        Ok(observed)
    }

    /// Observes and plans.
    pub async fn plan(
        &self,
        desired: &Desired,
        store: &AnyStore,
        scope: &PlanScope,
    ) -> anyhow::Result<(Plan, Observed)> {
        scope.check(desired)?;
        let observed = self.observe(desired, store).await?;
        Ok((scope.make(desired, &observed), observed))
    }

    /// [`Engine::plan`] writing nothing at all: observing updates the repo digest
    /// cache in the state folder (or makes it), so this one reads a private copy
    /// of it in a temporary folder, removed after; capabilities it probes are
    /// not saved.
    pub async fn plan_read_only(
        &self,
        desired: &Desired,
        store: &AnyStore,
        scope: &PlanScope,
    ) -> anyhow::Result<(Plan, Observed)> {
        scope.check(desired)?;
        let scratch = ScratchCache::copy_of(&self.cache_dir)?;
        let snapshot = store.load(&desired.project).await?;
        // Probes if it must, and keeps what it found to itself.
        let policy = self.capability_policy(store).await;
        let observed = observe::observe_with(desired, snapshot, &self.drivers, &scratch.dir, policy).await;
        Ok((scope.make(desired, &observed), observed))
    }
}

/// How every command reaches VMs: the same config, host-key policy, warm
/// masters and bound on connections.
pub fn ssh_options(settings: &Settings) -> SshOptions {
    SshOptions {
        config_file: settings.ssh_config.clone(),
        accept_new_host_keys: settings.ssh_accept_new,
        persist: settings.ssh_persist,
        max_connections: settings.max_connections,
        control_roots: ControlRoots {
            runtime_dir: settings.runtime_dir.clone(),
            home: settings.home.clone(),
        },
    }
}

/// What a plan is limited to (`--target`) and what it makes anew (`--replace`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanScope {
    /// Only these resources and what they depend on; none: all.
    pub targets: Vec<Address>,
    /// These resources are destroyed and made anew.
    pub replace: Vec<Address>,
    /// Plan the destroy of the project (of `targets` and what depends on
    /// them, when there are targets) instead of the manifest's changes.
    pub destroy: bool,
}

impl PlanScope {
    /// The scope of a saved plan.
    pub fn of(plan: &Plan) -> Self {
        PlanScope {
            targets: plan.targets.clone(),
            replace: plan.replace.clone(),
            destroy: false,
        }
    }

    /// Refuses an address the manifest does not declare (before anything is
    /// opened); a destroy's targets are checked once the records are read
    /// ([`PlanScope::check_destroyed`]).
    pub fn check(&self, desired: &Desired) -> anyhow::Result<()> {
        if !self.destroy {
            check_declared(desired, "--target", &self.targets)?;
        }
        check_declared(desired, "--replace", &self.replace)
    }

    /// Refuses a destroy's `--target` that is neither declared nor has
    /// anything to destroy: a typo is not "nothing to do".
    pub fn check_destroyed(&self, desired: &Desired, plan: &Plan) -> anyhow::Result<()> {
        if !self.destroy {
            return Ok(());
        }
        for t in &self.targets {
            if !desired.resources.contains_key(t) && !plan.changes.iter().any(|c| &c.address == t) {
                return Err(Hinted {
                    message: format!(
                        "--target {t} is neither declared in {} nor recorded in the state",
                        desired.manifest_path.display()
                    ),
                    hint: "`sandboxer list` shows what is recorded".into(),
                }
                .into());
            }
        }
        Ok(())
    }

    fn make(&self, desired: &Desired, observed: &Observed) -> Plan {
        if !self.destroy {
            return plan::make_with(desired, observed, &self.targets, &self.replace);
        }
        // Observed with the manifest's resources (every root and VM they name
        // is looked at, not only the records'), planned with nothing desired:
        // every record and marked workspace of the project and state goes.
        let nothing = Desired {
            project: desired.project.clone(),
            manifest_path: desired.manifest_path.clone(),
            manifest_digest: desired.manifest_digest.clone(),
            hub: desired.hub.clone(),
            resources: Default::default(),
            moves: Vec::new(),
        };
        let mut plan = plan::make(&nothing, observed, &[]);
        say_why(&mut plan.changes);
        plan.changes = plan::graph::filter_destroy_targets(std::mem::take(&mut plan.changes), &self.targets);
        plan.summary = plan::Summary::of(&plan.changes);
        plan.targets = self.targets.clone();
        plan
    }
}

/// In a destroy, records go because the operator asked, not because the manifest lost them.
pub fn say_why(changes: &mut [plan::Change]) {
    for change in changes {
        for reason in &mut change.reasons {
            if *reason == Reason::GoneFromManifest {
                *reason = Reason::DestroyRequested;
            }
        }
    }
}

/// Refuses an address of `flag` the manifest does not declare.
fn check_declared(desired: &Desired, flag: &str, addresses: &[Address]) -> anyhow::Result<()> {
    for t in addresses {
        if !desired.resources.contains_key(t) {
            let known: Vec<String> = desired.resources.keys().map(ToString::to_string).collect();
            return Err(Hinted {
                message: format!("{flag} {t} is not declared in {}", desired.manifest_path.display()),
                hint: format!("declared: {}", known.join(", ")),
            }
            .into());
        }
    }
    Ok(())
}

/// A copy of the repo digest cache in a folder of its own (mode 0700) below the
/// temporary folder; removed on drop.
struct ScratchCache {
    dir: PathBuf,
}

impl ScratchCache {
    fn copy_of(cache_dir: &Path) -> anyhow::Result<Self> {
        use std::os::unix::fs::DirBuilderExt;
        let dir = std::env::temp_dir().join(format!("sandboxer-cache-{}", sandboxer::id::random_id(12)));
        // A new name, made by us alone: never a folder someone planted.
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .with_context(|| format!("cannot create a temporary folder {}", dir.display()))?;
        let scratch = ScratchCache { dir };
        // No cache yet, or a file that does not copy: the digest only takes longer.
        if let Ok(entries) = std::fs::read_dir(cache_dir) {
            for entry in entries.filter_map(Result::ok) {
                if entry.file_type().is_ok_and(|t| t.is_file()) {
                    let _ = std::fs::copy(entry.path(), scratch.dir.join(entry.file_name()));
                }
            }
        }
        Ok(scratch)
    }
}

impl Drop for ScratchCache {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            tracing::debug!("temporary folder {} not removed: {e}", self.dir.display());
        }
    }
}

/// A tokio runtime for one command.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}
