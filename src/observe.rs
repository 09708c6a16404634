//! Observe: what is really there now. State records, merged with what the
//! drivers find (workspaces and their markers, repo digests), batched per location.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::address::Address;
use crate::desired::Desired;
use crate::driver::FoundWorkspace;
use crate::driver::local::{self, LocalDriver};
use crate::driver::packer::{self, PackerDriver};
use crate::driver::ssh::{self, Lookup, SshDriver};
use crate::profile::DriverKind;
use crate::remote::Target;
use crate::state::{Record, Snapshot};

/// The drivers of one run.
#[derive(Debug, Clone)]
pub struct Drivers {
    /// Local workspaces.
    pub local: LocalDriver,
    /// Workspaces on VMs over ssh.
    pub ssh: SshDriver,
    /// Images built by Packer.
    pub packer: PackerDriver,
}

/// Records and facts, as found at plan time.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// Lineage of the state read.
    pub lineage: String,
    /// Serial of the state read.
    pub serial: u64,
    /// The project's records.
    pub records: BTreeMap<Address, Record>,
    /// Workspaces of the project found at every location looked at.
    pub workspaces: Vec<FoundWorkspace>,
    /// Current repo digest of each desired resource that syncs a repo.
    pub repo_digests: BTreeMap<Address, Result<String, String>>,
    /// Locations that could not be looked at, with why.
    pub location_errors: BTreeMap<String, String>,
    /// Template files and their digests now, for each image Packer builds.
    pub template_digests: BTreeMap<Address, Result<BTreeMap<String, String>, String>>,
    /// Recorded artifact files of each image that are gone or changed.
    pub missing_artifacts: BTreeMap<Address, Vec<String>>,
}

/// The location a record's workspace is at.
pub fn record_location(record: &Record) -> String {
    record
        .facts
        .get("location")
        .cloned()
        .unwrap_or_else(|| local::LOCATION.to_string())
}

/// Looks at every location the desired state or the records point to.
pub async fn observe(desired: &Desired, snapshot: Snapshot, drivers: &Drivers) -> Observed {
    let mut observed = Observed {
        lineage: snapshot.lineage,
        serial: snapshot.serial,
        records: snapshot.records,
        ..Observed::default()
    };

    let mut local_roots: BTreeSet<String> = desired
        .resources
        .values()
        .filter(|r| r.driver == DriverKind::LocalWorkspace)
        .filter_map(|r| r.input_str("workspace_root").map(str::to_string))
        .collect();
    local_roots.extend(
        observed
            .records
            .values()
            .filter(|r| r.driver == DriverKind::LocalWorkspace)
            .filter_map(|r| r.facts.get("root").cloned()),
    );

    let local = drivers.local.clone();
    let project = desired.project.clone();
    let found = tokio::task::spawn_blocking(move || local.observe(&project, &local_roots)).await;
    match found {
        Ok(Ok(found)) => observed.workspaces.extend(found),
        Ok(Err(e)) => {
            observed.location_errors.insert(local::LOCATION.into(), e.to_string());
        }
        Err(e) => {
            observed
                .location_errors
                .insert(local::LOCATION.into(), format!("observe task failed: {e}"));
        }
    }

    // One remote command per VM, all VMs at once.
    let mut lookups: BTreeMap<Target, Lookup> = BTreeMap::new();
    for r in desired
        .resources
        .values()
        .filter(|r| r.driver == DriverKind::SshWorkspace)
    {
        let lookup = lookups.entry(ssh::target_of(r)).or_default();
        lookup.roots.extend(r.input_str("workspace_root").map(str::to_string));
        lookup.dirs.extend(r.input_str("workspace_dir").map(str::to_string));
        lookup.timeout = lookup.timeout.max(ssh::connect_timeout_of(r));
    }
    for r in observed
        .records
        .values()
        .filter(|r| r.driver == DriverKind::SshWorkspace)
    {
        let Some(target) = Target::from_location(&record_location(r)) else {
            continue;
        };
        let lookup = lookups.entry(target).or_default();
        lookup.roots.extend(r.facts.get("root").cloned());
        lookup.dirs.extend(r.facts.get("workspace").cloned());
        if lookup.timeout.is_zero() {
            lookup.timeout = ssh::DEFAULT_CONNECT_TIMEOUT;
        }
    }
    let mut tasks = tokio::task::JoinSet::new();
    for (target, lookup) in lookups {
        let driver = drivers.ssh.clone();
        let project = desired.project.clone();
        tasks.spawn(async move {
            let result = driver.observe(&project, &target, &lookup).await;
            (target, result)
        });
    }
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((_, Ok(found))) => observed.workspaces.extend(found),
            Ok((target, Err(e))) => {
                observed.location_errors.insert(target.location(), e.to_string());
            }
            Err(e) => tracing::error!("an observe task failed: {e}"),
        }
    }
    observed
        .workspaces
        .sort_by(|a, b| (&a.location, &a.path).cmp(&(&b.location, &b.path)));

    // Images: template files now, and whether recorded artifacts are still there.
    for r in desired.resources.values().filter(|r| r.is_packer_build()) {
        if let Some(template) = r.input_str("packer_template") {
            observed.template_digests.insert(
                r.address.clone(),
                packer::template_digests(std::path::Path::new(template)),
            );
        }
    }
    for r in observed.records.values().filter(|r| r.driver == DriverKind::Packer) {
        let missing = packer::missing_artifacts(&r.facts);
        if !missing.is_empty() {
            observed.missing_artifacts.insert(r.address.clone(), missing);
        }
    }

    // One digest per distinct (repo, excludes): many sandboxes often sync one repo.
    let mut by_source: HashMap<(String, Vec<String>), Vec<Address>> = HashMap::new();
    let mut sample = HashMap::new();
    for r in desired.resources.values() {
        if let Some(repo) = r.input_str("repo") {
            let key = (repo.to_string(), r.sync.excludes.clone());
            sample.entry(key.clone()).or_insert_with(|| r.clone());
            by_source.entry(key).or_default().push(r.address.clone());
        }
    }
    let local = drivers.local.clone();
    let digests = tokio::task::spawn_blocking(move || {
        sample
            .into_iter()
            .map(|(key, r)| (key, local.repo_digest(&r)))
            .collect::<HashMap<_, _>>()
    })
    .await
    .unwrap_or_default();
    for (key, addresses) in by_source {
        if let Some(Some(digest)) = digests.get(&key) {
            for address in addresses {
                observed.repo_digests.insert(address, digest.clone());
            }
        }
    }
    observed
}
