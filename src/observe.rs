//! Observe: what is really there now. State records, merged with what the
//! drivers find: one call per driver and location, all at once, plus the
//! current digest of every repo that a resource syncs.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::address::Address;
use crate::capability::{ProbeSpec, VmCapabilities};
use crate::desired::{Desired, DesiredResource};
use crate::driver::{DriverError, DriverName, FoundWorkspace, Location, Registry, Scope};
use crate::reason::Reason;
use crate::shared_str::SharedStr;
use crate::state::{Record, Snapshot};

/// Why a repo's digest could not be taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DigestError(pub String);

/// One observe call: a driver at a location.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Site {
    /// The driver.
    pub driver: DriverName,
    /// The location.
    pub location: Location,
}

/// Records and facts, as found at plan time.
#[derive(Debug, Default)]
pub struct Observed {
    /// Lineage of the state read.
    pub lineage: String,
    /// Serial of the state read.
    pub serial: u64,
    /// The project's records.
    pub records: BTreeMap<Address, Record>,
    /// Where each desired resource lives, as its driver says.
    pub locations: BTreeMap<Address, Location>,
    /// Workspaces of the project found at every location looked at.
    pub workspaces: Vec<FoundWorkspace>,
    /// Current repo digest of each desired resource that syncs a repo.
    pub repo_digests: BTreeMap<Address, Result<SharedStr, DigestError>>,
    /// Sites that could not be looked at, with why.
    pub location_errors: BTreeMap<Site, DriverError>,
    /// Reasons drivers found to make a recorded resource anew (an image's template changed).
    pub replace_reasons: BTreeMap<Address, Vec<Reason>>,
    /// The capability catalog of the VMs of the desired resources, by VM name:
    /// probed now, or as the store had it when young enough.
    pub catalog: BTreeMap<String, VmCapabilities>,
    /// The VMs of `catalog` probed by this observe: the entries to write back.
    pub probed: BTreeSet<String>,
}

/// How observe uses the capability catalog.
#[derive(Debug, Clone, Default)]
pub struct CapabilityPolicy {
    /// The catalog's entries, by VM name, as the store has them.
    pub cached: BTreeMap<String, VmCapabilities>,
    /// Entries older than this are probed again; none: never probe (a
    /// command that checks no requirement, such as `destroy`).
    pub ttl: Option<Duration>,
    /// Probe every VM looked at, however young its entry.
    pub refresh: bool,
}

impl CapabilityPolicy {
    /// Probes only what the store does not have: the default TTL.
    pub fn with_ttl(cached: BTreeMap<String, VmCapabilities>, ttl: Duration, refresh: bool) -> Self {
        CapabilityPolicy {
            cached,
            ttl: Some(ttl),
            refresh,
        }
    }
}

impl Observed {
    /// Every id in use: records and markers found. New ids avoid them all.
    pub fn known_ids(&self) -> std::collections::HashSet<String> {
        self.records
            .values()
            .map(|r| r.id.clone())
            .chain(self.workspaces.iter().map(|w| w.marker.id.clone()))
            .collect()
    }

    /// Why the site of a desired resource could not be observed, if it could not.
    pub fn site_error(&self, resource: &DesiredResource) -> Option<(&Location, &DriverError)> {
        let location = self.locations.get(&resource.address)?;
        let site = Site {
            driver: resource.driver.clone(),
            location: location.clone(),
        };
        self.location_errors.get(&site).map(|e| (location, e))
    }
}

/// Where a record's workspace is; records of drivers without workspaces (images)
/// are here.
pub fn record_location(record: &Record) -> Location {
    record
        .facts
        .get("location")
        .and_then(|l| l.parse().ok())
        .unwrap_or(Location::Local)
}

/// The workspace a record names, where the record says it was made; none for
/// a resource without one (an image).
pub fn recorded_workspace(record: &Record) -> Option<crate::driver::WorkspaceRef> {
    record.facts.get("workspace").map(|path| crate::driver::WorkspaceRef {
        driver: record.driver.clone(),
        location: record_location(record),
        path: path.clone(),
        id: record.id.clone(),
    })
}

/// Looks at every location the desired state or the records point to; no
/// capability is probed.
pub async fn observe(desired: &Desired, snapshot: Snapshot, drivers: &Registry, cache_dir: &Path) -> Observed {
    observe_with(desired, snapshot, drivers, cache_dir, CapabilityPolicy::default()).await
}

/// [`observe`], probing the capabilities of each VM as `policy` says.
pub async fn observe_with(
    desired: &Desired,
    snapshot: Snapshot,
    drivers: &Registry,
    cache_dir: &Path,
    policy: CapabilityPolicy,
) -> Observed {
    let mut observed = Observed {
        lineage: snapshot.lineage,
        serial: snapshot.serial,
        records: snapshot.records,
        ..Observed::default()
    };

    // Who is where: desired resources by their driver's word, records where they were made.
    let records = std::mem::take(&mut observed.records);
    let mut sites: BTreeMap<Site, (Vec<&DesiredResource>, Vec<&Record>)> = BTreeMap::new();
    let mut locations = Vec::with_capacity(desired.resources.len());
    for r in desired.resources.values() {
        let Ok(driver) = drivers.get(&r.driver) else {
            continue; // validate refuses unknown drivers; nothing to observe for one
        };
        let location = driver.location(r);
        let site = Site {
            driver: r.driver.clone(),
            location: location.clone(),
        };
        sites.entry(site).or_default().0.push(r);
        locations.push((r.address.clone(), location));
    }
    // Collected at once: full tree nodes, not half empty ones.
    observed.locations = locations.into_iter().collect();
    for r in records.values() {
        let site = Site {
            driver: r.driver.clone(),
            location: record_location(r),
        };
        sites.entry(site).or_default().1.push(r);
    }

    // What to probe where: the VMs of desired resources whose catalog entry
    // does not answer for them.
    let now = SystemTime::now();
    let built = images_built_at(desired, &records);
    let specs: BTreeMap<&Site, ProbeSpec> = sites
        .iter()
        .filter_map(|(site, (resources, _))| {
            let vm = site.location.vm()?;
            let spec = probe_spec(resources)?;
            let ttl = policy.ttl?;
            let since = built.get(vm).copied();
            let answered = policy.cached.get(vm).is_some_and(|e| e.answers(&spec, ttl, now, since));
            (policy.refresh || !answered).then_some((site, spec))
        })
        .collect();

    // One call per site, all at once. A call that ends without an answer (a
    // panic) fails its site as an unreachable VM would: nothing is planned on a guess.
    let mut calls = Vec::new();
    let mut called = Vec::new();
    for (site, (resources, site_records)) in &sites {
        match drivers.get(&site.driver) {
            Ok(driver) => {
                let scope = Scope {
                    project: &desired.project,
                    location: &site.location,
                    desired: resources,
                    records: site_records,
                    probe: specs.get(site),
                };
                calls.push(driver.observe(scope));
                called.push(site);
            }
            Err(e) => {
                observed.location_errors.insert(site.clone(), e);
            }
        }
    }
    let results = crate::task::join_all(calls).await;
    for (site, result) in called.into_iter().zip(results) {
        let result = result.unwrap_or_else(|panic| {
            Err(DriverError::Task {
                task: "observe".into(),
                message: panic,
            })
        });
        match result {
            Ok(found) => {
                if observed.workspaces.is_empty() {
                    // Moved, not copied: one site often finds all of them.
                    observed.workspaces = found.workspaces;
                } else {
                    observed.workspaces.extend(found.workspaces);
                }
                observed.replace_reasons.extend(found.replace_reasons);
                if let (Some(report), Some(spec), Some(vm)) = (found.capabilities, specs.get(site), site.location.vm())
                {
                    if report.complete {
                        let at = humantime::format_rfc3339_seconds(now).to_string();
                        let fresh = report.entry(vm, spec, &at);
                        // What others probed on this VM stays, unless the VM was rebuilt since.
                        let entry = match policy.cached.get(vm) {
                            Some(old) if !rebuilt_since(old, built.get(vm)) => old.clone().merged_with(fresh),
                            _ => fresh,
                        };
                        observed.catalog.insert(vm.to_string(), entry);
                        observed.probed.insert(vm.to_string());
                    } else {
                        tracing::warn!("{vm}: the capability probe did not finish; keeping what the catalog had");
                    }
                }
            }
            Err(e) => {
                observed.location_errors.insert(site.clone(), e);
            }
        }
    }
    // The VMs not probed now keep what the catalog has of them, unless
    // their image was built since (their probe failed, or probing is off).
    for (site, (resources, _)) in &sites {
        if let Some(vm) = site.location.vm()
            && !resources.is_empty()
            && !observed.catalog.contains_key(vm)
            && let Some(entry) = policy.cached.get(vm)
            && !rebuilt_since(entry, built.get(vm))
        {
            observed.catalog.insert(vm.to_string(), entry.clone());
        }
    }
    drop(specs);
    drop(sites);
    observed.records = records;
    observed
        .workspaces
        .sort_by(|a, b| (&a.location, &a.path).cmp(&(&b.location, &b.path)));

    observed.repo_digests = repo_digests(desired, cache_dir).await;
    observed
}

/// When the image that builds each VM of the manifest was last built (its
/// record's `updated_at`): what the catalog saw of that VM before is of the
/// machine the build replaced.
fn images_built_at(desired: &Desired, records: &BTreeMap<Address, Record>) -> BTreeMap<String, SystemTime> {
    desired
        .resources
        .values()
        .filter(|r| r.immutable)
        .filter_map(|r| {
            let vm = r.vm()?;
            let record = records.get(&r.address)?;
            let at = humantime::parse_rfc3339_weak(&record.updated_at).ok()?;
            Some((vm.to_string(), at))
        })
        .collect()
}

/// Whether the VM was rebuilt after `entry` was last probed.
fn rebuilt_since(entry: &VmCapabilities, built: Option<&SystemTime>) -> bool {
    built.is_some_and(|built| humantime::parse_rfc3339_weak(&entry.observed_at).is_ok_and(|at| at < *built))
}

/// What to probe on the VM of a site: each profile's probes after its
/// prelude, its capabilities file, and the free space under each workspace
/// root; none when no desired resource is there.
pub fn probe_spec(resources: &[&DesiredResource]) -> Option<ProbeSpec> {
    if resources.is_empty() {
        return None;
    }
    let mut spec = ProbeSpec {
        timeout: crate::capability::probe::DEFAULT_PROBE_TIMEOUT,
        ..ProbeSpec::default()
    };
    let mut timeouts = Vec::new();
    for r in resources {
        if let Some(root) = workspace_root(r) {
            spec.roots.insert(root);
        }
        if let Some(probes) = &r.probes {
            spec.add(probes.prelude.as_deref(), &probes.commands);
            spec.files.extend(probes.file.clone());
            timeouts.push(probes.timeout);
        }
    }
    if let Some(longest) = timeouts.into_iter().max() {
        spec.timeout = longest;
    }
    Some(spec)
}

/// The folder a workspace of `resource` is made under on its VM.
pub fn workspace_root(resource: &DesiredResource) -> Option<String> {
    match resource.input_str("workspace_dir") {
        Some(dir) => {
            let parent = dir.trim_end_matches('/').rsplit_once('/').map(|(p, _)| p)?;
            Some(if parent.is_empty() {
                "/".into()
            } else {
                parent.to_string()
            })
        }
        None => resource.input_str("workspace_root").map(str::to_string),
    }
}

/// A repo folder and the excludes it is synced with.
type RepoSource = (String, Vec<String>);

/// One digest per distinct (repo, excludes): many sandboxes often sync one repo.
/// A digest that could not be taken is an error of each sandbox that syncs it.
async fn repo_digests(desired: &Desired, cache_dir: &Path) -> BTreeMap<Address, Result<SharedStr, DigestError>> {
    let mut by_source: HashMap<RepoSource, Vec<Address>> = HashMap::new();
    for r in desired.resources.values() {
        if let Some(repo) = r.input_str("repo") {
            let key = (repo.to_string(), r.sync.excludes.clone());
            by_source.entry(key).or_default().push(r.address.clone());
        }
    }
    let sources: Vec<RepoSource> = by_source.keys().cloned().collect();
    let cache_dir: PathBuf = cache_dir.to_path_buf();
    let digests = tokio::task::spawn_blocking(move || {
        sources
            .into_iter()
            .map(|key| {
                let digest = crate::repo::cached_repo_digest(&cache_dir, Path::new(&key.0), &key.1)
                    .map_err(|e| DigestError(format!("cannot read repo: {e}")));
                (key, digest)
            })
            .collect::<HashMap<_, _>>()
    })
    .await
    .map_err(|e| {
        DigestError(format!(
            "the repo digest task failed: {}",
            crate::task::join_error_text(e)
        ))
    });
    spread_digests(by_source, digests)
}

/// Each sandbox gets the digest of its source (one copy that they share), or
/// the error that kept it from being taken.
fn spread_digests(
    by_source: HashMap<RepoSource, Vec<Address>>,
    digests: Result<HashMap<RepoSource, Result<String, DigestError>>, DigestError>,
) -> BTreeMap<Address, Result<SharedStr, DigestError>> {
    let mut out = Vec::new();
    for (key, addresses) in by_source {
        let digest = match &digests {
            Ok(digests) => match digests.get(&key) {
                Some(Ok(digest)) => Ok(SharedStr::from(digest)),
                Some(Err(e)) => Err(e.clone()),
                None => Err(DigestError("no digest was taken".into())),
            },
            Err(e) => Err(e.clone()),
        };
        out.extend(addresses.into_iter().map(|address| (address, digest.clone())));
    }
    // Collected at once: full tree nodes, not half empty ones.
    out.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_digest_task_is_an_error_of_every_sandbox_syncing_that_repo() {
        let key = ("/repo".to_string(), Vec::new());
        let by_source: HashMap<_, _> = [(key, vec![Address::sandbox("a"), Address::sandbox("b")])].into();
        let failed = DigestError("the repo digest task failed: panicked: x".into());
        let spread = spread_digests(by_source, Err(failed.clone()));
        assert_eq!(spread.len(), 2);
        for digest in spread.values() {
            assert_eq!(digest, &Err(failed.clone()));
        }
    }
}
