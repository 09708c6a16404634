//! The desired state: every resource of a manifest with its profile, resolved
//! inputs and dependency edges, after every semantic check has passed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use petgraph::graphmap::DiGraphMap;
use sha2::{Digest, Sha256};

use crate::address::{Address, ResourceKind};
use crate::capability::{Probes, Requirement};
use crate::diagnostic::{Diagnostic, Diagnostics, did_you_mean};
use crate::manifest::{Bound, HubSpec, LoadedManifest};
use crate::profile::DriverName;
use crate::profile::{Catalog, InputValue, Profile, ResolveContext, ResolvedInputs, SyncSpec, Value, resolve};
use crate::safety;
use crate::shared_str::SharedStr;
use crate::sorted_map::SortedMap;

/// Host that means "run from this machine".
pub const LOCALHOST: &str = "localhost";

/// One resource as the manifest wants it.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredResource {
    /// `image.<name>` or `sandbox.<name>`.
    pub address: Address,
    /// Profile name.
    pub profile: String,
    /// The driver that carries it out (the profile's; `ssh-workspace` for an
    /// image in mode attach, which is a workspace on that VM).
    pub driver: DriverName,
    /// Where sandboxer runs from to reach the VM.
    pub host: String,
    /// Resolved inputs.
    pub inputs: ResolvedInputs,
    /// Resources that must be applied first (explicit and inferred).
    pub depends_on: BTreeSet<Address>,
    /// Re-make this workspace when an image it depends on is rebuilt.
    pub replace_on_image_change: bool,
    /// The profile's sync rules (one copy for the resources of a profile,
    /// unless their own folders add excludes).
    pub sync: Arc<SyncSpec>,
    /// The profile's setup commands.
    pub setup: Vec<String>,
    /// Inputs whose change replaces the resource, in order (a vector: a tree
    /// of one or two names costs a node per resource).
    pub forces_replace: Vec<String>,
    /// Rebuilt, never patched: any change of any input replaces it (an image
    /// that Packer builds).
    pub immutable: bool,
    /// The key sensitive values are hashed with (the state's); until it is
    /// known (validate), a plain hash is shown.
    pub sensitive_key: Option<Arc<crate::sensitive::SensitiveKey>>,
    /// The profile's capability probes (one copy for its resources); none
    /// when it declares none.
    pub probes: Option<Arc<Probes>>,
    /// What the VM must offer.
    pub requires: Vec<Requirement>,
    /// What the VM an image builds offers once built.
    pub provides: BTreeMap<String, String>,
}

impl DesiredResource {
    /// The attributes a plan shows and a record keeps, sensitive values as a hash.
    /// `profile`, `host` and every input (`inputs.<name>`).
    pub fn attributes(&self) -> SortedMap<SharedStr, Value> {
        let mut attributes = SortedMap::new();
        attributes.insert("profile".into(), Value::String(self.profile.clone()));
        if self.address.kind == ResourceKind::Sandbox {
            attributes.insert("host".into(), Value::String(self.host.clone()));
        }
        for (name, value) in &self.inputs.values {
            let shown = if self.inputs.sensitive.contains(name) {
                Value::String(match &self.sensitive_key {
                    Some(key) => key.hash(&self.address, name, value),
                    None => sensitive_hash(&self.address, name, value),
                })
            } else {
                value.clone()
            };
            attributes.insert(format!("inputs.{name}").into(), shown);
        }
        attributes
    }

    /// Attributes whose change replaces rather than updates. Every input of an
    /// image does: an image is rebuilt, never patched.
    pub fn replace_attributes(&self) -> BTreeSet<String> {
        if self.immutable {
            return self.attributes().into_keys().map(String::from).collect();
        }
        let mut names: BTreeSet<String> = ["profile".to_string(), "host".to_string()].into();
        names.extend(self.forces_replace.iter().map(|n| format!("inputs.{n}")));
        names
    }

    /// A digest of everything that defines the resource (not its repo content).
    pub fn spec_hash(&self) -> String {
        let mut hasher = Sha256::new();
        for (key, value) in self.attributes() {
            hasher.update(key.as_bytes());
            hasher.update([0]);
            hasher.update(value.to_string().as_bytes());
            hasher.update([0]);
        }
        format!("sha256:{:x}", hasher.finalize())
    }

    /// A string input.
    pub fn input_str(&self, name: &str) -> Option<&str> {
        self.inputs.values.get(name).and_then(Value::as_str)
    }

    /// The VM this resource lives on or builds, if any.
    pub fn vm(&self) -> Option<&str> {
        self.input_str("vm").or_else(|| self.input_str("vm_name"))
    }
}

/// How a sensitive value is shown before the state's key is known (validate):
/// a plain hash bound to its address and input name. Plans, the state and the
/// hub keep the keyed hash ([`crate::sensitive`]) instead.
pub fn sensitive_hash(address: &Address, name: &str, value: &Value) -> String {
    let digest = format!(
        "{:x}",
        Sha256::digest(format!("sandboxer-sensitive\0{address}\0{name}\0{value}").as_bytes())
    );
    format!("(sensitive, sha256:{})", &digest[..16])
}

/// The whole desired state of one manifest.
#[derive(Debug, Clone)]
pub struct Desired {
    /// The project the manifest owns.
    pub project: String,
    /// The manifest file.
    pub manifest_path: PathBuf,
    /// Digest of the manifest's bytes.
    pub manifest_digest: String,
    /// The State Hub, if the manifest names one.
    pub hub: Option<HubSpec>,
    /// Every resource, by address.
    pub resources: BTreeMap<Address, DesiredResource>,
    /// The manifest's `moved:` renames, `(from, to)`, checked: `to` declared,
    /// `from` not, one kind, no chain, no address twice.
    pub moves: Vec<(Address, Address)>,
}

/// What building the desired state needs besides the manifest and the profiles.
#[derive(Debug, Clone, Default)]
pub struct BuildContext {
    /// Environment snapshot and home folder (the base folder is the manifest's).
    pub resolve: ResolveContext,
    /// Where local workspaces go when the manifest says nothing: `<state dir>/workspaces`.
    pub default_local_root: PathBuf,
    /// The state folder (never synced from a repo that holds it).
    pub state_dir: PathBuf,
    /// The port registry when the manifest does not name one (`SANDBOXER_PORT_REGISTRY`).
    pub port_registry: Option<PathBuf>,
    /// The drivers this sandboxer has (a profile naming another is refused);
    /// empty means the built-in ones.
    pub drivers: BTreeSet<DriverName>,
}

impl Desired {
    /// Whether any resource has a sensitive input (and so needs the state's key).
    pub fn has_sensitive_inputs(&self) -> bool {
        self.resources.values().any(|r| !r.inputs.sensitive.is_empty())
    }

    /// Hashes sensitive values with `key` from now on.
    pub fn set_sensitive_key(&mut self, key: crate::sensitive::SensitiveKey) {
        let key = Arc::new(key);
        for r in self.resources.values_mut() {
            r.sensitive_key = Some(key.clone());
        }
    }
}

impl BuildContext {
    /// The drivers a profile may name: the given ones, or the built-in ones.
    fn drivers(&self) -> Vec<DriverName> {
        if self.drivers.is_empty() {
            DriverName::builtin().to_vec()
        } else {
            self.drivers.iter().cloned().collect()
        }
    }
}

/// How a resource entry looks, whatever section it is in.
pub struct EntrySpec<'a> {
    /// The address.
    pub address: Address,
    /// Key path of the entry (`sandboxes.<name>`).
    pub key_path: String,
    /// Profile name as written.
    pub profile: &'a str,
    /// Host as written.
    pub host: Option<&'a str>,
    /// Inputs as written.
    pub inputs: &'a BTreeMap<String, InputValue>,
    /// Explicit dependencies as written.
    pub depends_on: &'a [String],
    /// `replace_on_image_change` as written.
    pub replace_on_image_change: Option<bool>,
    /// `requires:` as written.
    pub requires: Option<&'a BTreeMap<String, Bound>>,
    /// An image's `provides:` as written.
    pub provides: Option<&'a BTreeMap<String, Bound>>,
}

/// Where a diagnostic about an entry points: a manifest, or the command line.
pub trait Reporter {
    /// A diagnostic at a key path.
    fn at(&self, key_path: &str, message: String) -> Diagnostic;
}

impl Reporter for LoadedManifest {
    fn at(&self, key_path: &str, message: String) -> Diagnostic {
        self.diagnostic(key_path, message)
    }
}

/// Builds the desired state of `loaded`, or every problem found.
pub fn build(loaded: &LoadedManifest, catalog: &Catalog, ctx: &BuildContext) -> Result<Desired, Diagnostics> {
    let m = &loaded.manifest;
    let mut problems = Vec::new();
    let mut resolve_ctx = ctx.resolve.clone();
    resolve_ctx.base_dir = loaded.dir.clone();

    if let Err(e) = safety::check_name(&m.project) {
        problems.push(
            loaded
                .diagnostic(
                    "project",
                    format!("invalid project name `{}`: {e}", safety::printable(&m.project)),
                )
                .with_hint("a name of up to 63 letters, digits, `_` or `-`, starting with a letter or digit"),
        );
    }
    if let Some(hub) = &m.hub {
        if !(hub.url.starts_with("http://") || hub.url.starts_with("https://")) {
            problems.push(
                loaded
                    .diagnostic(
                        "hub.url",
                        format!("`{}` is not an http(s) URL", safety::printable(&hub.url)),
                    )
                    .with_hint("write e.g. http://statehub.internal:8080"),
            );
        }
        if let Some(var) = &hub.token_env
            && !is_env_name(var)
        {
            problems.push(
                loaded
                    .diagnostic(
                        "hub.token_env",
                        format!("`{}` is not an environment variable name", safety::printable(var)),
                    )
                    .with_hint(
                        "name the variable that holds the token, e.g. SANDBOXER_HUB_TOKEN; never the token itself",
                    ),
            );
        }
    }

    let entries = m
        .images
        .iter()
        .map(|(name, spec)| EntrySpec {
            address: Address::image(name),
            key_path: format!("images.{name}"),
            profile: &spec.profile,
            host: None,
            inputs: &spec.inputs,
            depends_on: &spec.depends_on,
            replace_on_image_change: None,
            requires: Some(&spec.requires),
            provides: Some(&spec.provides),
        })
        .chain(m.sandboxes.iter().map(|(name, spec)| EntrySpec {
            address: Address::sandbox(name),
            key_path: format!("sandboxes.{name}"),
            profile: &spec.profile,
            host: spec.host.as_deref(),
            inputs: &spec.inputs,
            depends_on: &spec.depends_on,
            replace_on_image_change: spec.replace_on_image_change,
            requires: Some(&spec.requires),
            provides: None,
        }));

    let mut built = Vec::with_capacity(m.images.len() + m.sandboxes.len());
    // Every declared edge, also of entries that failed their checks, so that a
    // cycle is reported in the same run as the other problems.
    let mut edges: BTreeMap<Address, BTreeSet<Address>> = BTreeMap::new();
    let mut explicit_deps: Vec<(Address, String, String)> = Vec::new();
    for entry in entries {
        for (i, dep) in entry.depends_on.iter().enumerate() {
            explicit_deps.push((
                entry.address.clone(),
                format!("{}.depends_on[{i}]", entry.key_path),
                dep.clone(),
            ));
        }
        match build_entry(loaded, &entry, catalog, &resolve_ctx, ctx) {
            Ok(resource) => built.push(resource),
            Err(mut p) => problems.append(&mut p),
        }
    }

    // Collected at once, the map's nodes are full: inserted one by one, they
    // are half empty (a plan of 10,000 sandboxes held 3 MiB more).
    let mut resources: BTreeMap<Address, DesiredResource> = built.into_iter().map(|r| (r.address.clone(), r)).collect();

    // Explicit dependencies must name declared resources.
    let declared: BTreeSet<String> = m
        .images
        .keys()
        .map(|n| format!("image.{n}"))
        .chain(m.sandboxes.keys().map(|n| format!("sandbox.{n}")))
        .collect();
    for (from, key_path, dep) in explicit_deps {
        match dep.parse::<Address>() {
            Ok(target) if declared.contains(&dep) => {
                edges.entry(from.clone()).or_default().insert(target.clone());
                if let Some(r) = resources.get_mut(&from) {
                    r.depends_on.insert(target);
                }
            }
            Ok(_) => {
                let hint = did_you_mean(&dep, declared.iter().map(String::as_str))
                    .map(|s| format!("did you mean `{s}`?"))
                    .or_else(|| {
                        Some(if declared.is_empty() {
                            "declare it under `images:` or `sandboxes:`, or remove it from depends_on".to_string()
                        } else {
                            let names: Vec<&str> = declared.iter().map(String::as_str).take(10).collect();
                            format!("declared here: {}", names.join(", "))
                        })
                    });
                problems.push(
                    loaded
                        .diagnostic(&key_path, format!("depends on `{dep}`, which is not declared"))
                        .with_optional_hint(hint),
                );
            }
            Err(e) => problems.push(
                loaded
                    .diagnostic(&key_path, e)
                    .with_hint("name a declared resource: `image.<name>` or `sandbox.<name>`"),
            ),
        }
    }

    problems.extend(check_images(loaded, &resources));
    let registry_path = m
        .port_registry
        .as_deref()
        .map(|p| crate::profile::resolve::local_path(p, &resolve_ctx))
        .or_else(|| ctx.port_registry.clone());
    if let Some(path) = registry_path {
        match crate::port_registry::load(&path) {
            Ok(registry) => {
                for r in resources.values_mut() {
                    let key_path = format!("{}.inputs", section_key(&r.address));
                    if let Err(d) = apply_registry(loaded, &key_path, r, &registry) {
                        problems.push(d);
                    }
                }
            }
            Err(mut p) => problems.append(&mut p),
        }
    }
    infer_image_dependencies(&mut resources);
    let moves = check_moves(loaded, &m.moved, &resources, &mut problems);
    for r in resources.values() {
        edges
            .entry(r.address.clone())
            .or_default()
            .extend(r.depends_on.iter().cloned());
    }
    if let Some(cycle) = find_cycle(&edges) {
        let first = &cycle[0];
        let key_path = match first.kind {
            ResourceKind::Image => format!("images.{}.depends_on", first.name),
            ResourceKind::Sandbox => format!("sandboxes.{}.depends_on", first.name),
        };
        let text: Vec<String> = cycle.iter().map(ToString::to_string).collect();
        problems.push(
            loaded
                .diagnostic(&key_path, format!("dependency cycle: {}", text.join(" -> ")))
                .with_hint("remove one of these dependencies (a sandbox depends on an image when its `vm` is the image's `vm_name`)"),
        );
    }

    if !problems.is_empty() {
        return Err(Diagnostics(problems).sorted());
    }
    Ok(Desired {
        project: m.project.clone(),
        manifest_path: loaded.path.clone(),
        manifest_digest: loaded.digest.clone(),
        hub: m.hub.clone(),
        resources,
        moves,
    })
}

/// The `moved:` renames, each problem at its key: addresses, `to` declared and
/// `from` not, one kind, and no address in two moves (which also rules out
/// chains: `a -> b, b -> c` says `b` twice; write `a -> c`).
fn check_moves(
    loaded: &LoadedManifest,
    moved: &[crate::manifest::MovedSpec],
    resources: &BTreeMap<Address, DesiredResource>,
    problems: &mut Vec<Diagnostic>,
) -> Vec<(Address, Address)> {
    let mut moves = Vec::new();
    let mut seen: BTreeMap<Address, usize> = BTreeMap::new();
    for (i, spec) in moved.iter().enumerate() {
        let at = |key: &str| format!("moved[{i}].{key}");
        let (from, to) = match (spec.from.parse::<Address>(), spec.to.parse::<Address>()) {
            (Ok(from), Ok(to)) => (from, to),
            (Err(e), _) => {
                problems.push(loaded.diagnostic(&at("from"), format!("`{}`: {e}", safety::printable(&spec.from))));
                continue;
            }
            (_, Err(e)) => {
                problems.push(loaded.diagnostic(&at("to"), format!("`{}`: {e}", safety::printable(&spec.to))));
                continue;
            }
        };
        let problem = if from.kind != to.kind {
            Some((
                "to",
                format!("{from} cannot move to {to}: an address keeps its kind"),
                "move it to an address of its kind".to_string(),
            ))
        } else if from == to {
            Some((
                "to",
                format!("{from} is moved to itself"),
                "remove this entry".to_string(),
            ))
        } else if !resources.contains_key(&to) {
            Some((
                "to",
                format!("{to} is not declared"),
                format!("declare {to} (the entry {from} was), or fix the address"),
            ))
        } else if resources.contains_key(&from) {
            Some((
                "from",
                format!("{from} is still declared"),
                format!("remove the entry {from}: it is now {to}"),
            ))
        } else if let Some(first) = seen.get(&from).or_else(|| seen.get(&to)) {
            Some((
                if seen.contains_key(&from) { "from" } else { "to" },
                format!("an address of this move is in moved[{first}] too"),
                "one move per address: a chain a -> b, b -> c is written a -> c".to_string(),
            ))
        } else {
            None
        };
        if let Some((key, message, hint)) = problem {
            problems.push(loaded.diagnostic(&at(key), message).with_hint(hint));
            continue;
        }
        seen.insert(from.clone(), i);
        seen.insert(to.clone(), i);
        moves.push((from, to));
    }
    moves
}

/// Checks one entry against its profile and resolves its inputs.
pub fn build_entry(
    reporter: &dyn Reporter,
    entry: &EntrySpec<'_>,
    catalog: &Catalog,
    resolve_ctx: &ResolveContext,
    ctx: &BuildContext,
) -> Result<DesiredResource, Vec<Diagnostic>> {
    let key_path = &entry.key_path;
    let mut problems = Vec::new();
    if let Err(e) = safety::check_name(&entry.address.name) {
        problems.push(
            reporter
                .at(
                    key_path,
                    format!("invalid name `{}`: {e}", safety::printable(&entry.address.name)),
                )
                .with_hint("a name of up to 63 letters, digits, `_` or `-`, starting with a letter or digit"),
        );
    }
    let host = entry.host.unwrap_or(LOCALHOST).to_string();
    if let Err(e) = safety::check_ssh_alias(&host) {
        problems.push(
            reporter
                .at(
                    &format!("{key_path}.host"),
                    format!("`{}`: {e}", safety::printable(&host)),
                )
                .with_hint("`localhost`, or the SSH alias of a jump host"),
        );
    }
    let Some(profile) = catalog.get(entry.profile) else {
        let hint = did_you_mean(entry.profile, catalog.names())
            .map(|s| format!("did you mean `{s}`?"))
            .unwrap_or_else(|| format!("known profiles: {}", catalog.names().collect::<Vec<_>>().join(", ")));
        problems.push(
            reporter
                .at(
                    &format!("{key_path}.profile"),
                    format!("unknown profile `{}`", safety::printable(entry.profile)),
                )
                .with_hint(hint),
        );
        return Err(problems);
    };
    let drivers = ctx.drivers();
    if !drivers.contains(&profile.driver) {
        problems.push(
            reporter
                .at(
                    &format!("{key_path}.profile"),
                    format!(
                        "{} uses driver `{}`, which this sandboxer does not have",
                        profile.name, profile.driver
                    ),
                )
                .with_hint(format!(
                    "drivers: {}",
                    drivers.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
                )),
        );
        return Err(problems);
    }
    match (entry.address.kind, &profile.driver) {
        (ResourceKind::Image, driver) if *driver == DriverName::PACKER => {}
        (ResourceKind::Sandbox, _) => {}
        (ResourceKind::Image, driver) => problems.push(
            reporter
                .at(
                    &format!("{key_path}.profile"),
                    format!("{} (driver {driver}) makes workspaces, not images", profile.name),
                )
                .with_hint("declare it under `sandboxes:`, or use profile.vm-packer-build here"),
        ),
    }

    let (mut inputs, input_problems) = resolve(profile, entry.inputs, resolve_ctx);
    for p in input_problems {
        let at = if p.missing {
            format!("{key_path}.inputs")
        } else {
            format!("{key_path}.inputs.{}", p.key)
        };
        problems.push(reporter.at(&at, p.message).with_optional_hint(p.hint));
    }
    problems.extend(check_driver_rules(reporter, key_path, profile, &inputs));
    let packer = profile.driver == DriverName::PACKER;
    let attach = packer && inputs.values.get("mode").and_then(Value::as_str) == Some("attach");
    let on_vm = ["vm", "vm_name"].iter().any(|k| inputs.values.contains_key(*k))
        && profile.driver != DriverName::LOCAL_WORKSPACE;
    let (requires, provides) = capability_terms(reporter, entry, packer && !attach, on_vm, &mut problems);
    if profile.driver == DriverName::LOCAL_WORKSPACE && !inputs.values.contains_key("workspace_root") {
        let root = ctx.default_local_root.to_string_lossy().into_owned();
        inputs.values.insert("workspace_root".into(), Value::String(root));
        inputs
            .origins
            .insert("workspace_root".into(), crate::profile::resolve::Origin::Default);
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    // Kept for the whole command, thousands of times: no room to grow.
    inputs.values.shrink_to_fit();
    inputs.origins.shrink_to_fit();
    // A packer entry in mode attach is a workspace on that VM, like profile.vm-haskell-build.
    let sync = own_folders_excluded(profile.sync.clone(), &inputs, &ctx.state_dir);
    Ok(DesiredResource {
        address: entry.address.clone(),
        profile: profile.name.clone(),
        driver: if attach {
            DriverName::SSH_WORKSPACE
        } else {
            profile.driver.clone()
        },
        immutable: packer && !attach,
        sensitive_key: None,
        host,
        inputs,
        depends_on: BTreeSet::new(),
        replace_on_image_change: entry.replace_on_image_change.unwrap_or(true),
        sync,
        setup: profile.setup.clone(),
        forces_replace: profile
            .inputs
            .iter()
            .chain(profile.input_patterns.iter())
            .filter(|(_, spec)| spec.forces_replace)
            .map(|(name, _)| name.clone())
            .collect(),
        probes: profile.probes.clone(),
        requires,
        provides,
    })
}

/// An entry's `requires:` read, and an image's `provides:`; each problem at its key.
fn capability_terms(
    reporter: &dyn Reporter,
    entry: &EntrySpec<'_>,
    builds: bool,
    on_vm: bool,
    problems: &mut Vec<Diagnostic>,
) -> (Vec<Requirement>, BTreeMap<String, String>) {
    let key_path = &entry.key_path;
    let mut requires = Vec::new();
    for (name, bound) in entry.requires.into_iter().flatten() {
        let at = format!("{key_path}.requires.{name}");
        if !builds && !on_vm {
            problems.push(
                reporter
                    .at(
                        &at,
                        format!(
                            "{} is not on a VM: there is no catalog to check `{name}` against",
                            entry.address
                        ),
                    )
                    .with_hint("`requires:` is for sandboxes on build VMs (a profile with `vm`); remove it here"),
            );
            continue;
        }
        if builds {
            problems.push(
                reporter
                    .at(&at, format!("an image that Packer builds has no VM to check `{name}` on yet"))
                    .with_hint("say what its template installs with `provides:`; `requires:` is for sandboxes and images in mode attach"),
            );
            continue;
        }
        match Requirement::parse(name, &bound.to_string()) {
            Ok(requirement) => requires.push(requirement),
            Err(e) => problems.push(
                reporter
                    .at(&at, format!("{name}: {}", safety::printable(&e.message)))
                    .with_hint(e.hint),
            ),
        }
    }
    let mut provides = BTreeMap::new();
    for (name, value) in entry.provides.into_iter().flatten() {
        if !builds {
            problems.push(
                reporter
                    .at(
                        &format!("{key_path}.provides.{name}"),
                        "only an image that Packer builds says what its VM will offer".to_string(),
                    )
                    .with_hint("in mode attach the VM is there: its probed capabilities are what counts"),
            );
            continue;
        }
        let value = value.to_string();
        if let Err(e) = safety::check_no_control(&value) {
            problems.push(reporter.at(&format!("{key_path}.provides.{name}"), format!("{name}: {e}")));
            continue;
        }
        provides.insert(name.clone(), value);
    }
    (requires, provides)
}

/// The sync rules, plus an exclude for each of sandboxer's own folders inside
/// the synced repo (the state folder, a local workspace root): with `repo: .`
/// next to the manifest, a sync never copies the state or the workspaces into
/// themselves, and the next plan settles.
fn own_folders_excluded(mut sync: Arc<SyncSpec>, inputs: &ResolvedInputs, state_dir: &Path) -> Arc<SyncSpec> {
    use crate::profile::resolve::normalize;
    let Some(repo) = inputs.values.get("repo").and_then(Value::as_str) else {
        return sync;
    };
    let repo = normalize(Path::new(repo));
    let root = inputs
        .values
        .get("workspace_root")
        .and_then(Value::as_str)
        .map(PathBuf::from);
    let own = std::iter::once(state_dir.to_path_buf()).chain(root.filter(|r| r.is_absolute() && r.starts_with(&repo)));
    for folder in own {
        if folder.as_os_str().is_empty() {
            continue;
        }
        if let Ok(inside) = normalize(&folder).strip_prefix(&repo)
            && !inside.as_os_str().is_empty()
        {
            let pattern = format!("/{}/", escape_pattern(&inside.to_string_lossy()));
            if !sync.excludes.contains(&pattern) {
                Arc::make_mut(&mut sync).excludes.push(pattern);
            }
        }
    }
    sync
}

/// `/` and the folders of the system and of users: never a workspace root by accident.
fn is_system_folder(path: &Path) -> bool {
    const SYSTEM: &[&str] = &[
        "/",
        "/bin",
        "/boot",
        "/dev",
        "/etc",
        "/home",
        "/lib",
        "/lib32",
        "/lib64",
        "/opt",
        "/proc",
        "/root",
        "/run",
        "/sbin",
        "/srv",
        "/sys",
        "/tmp",
        "/usr",
        "/usr/local",
        "/var",
    ];
    let path = crate::profile::resolve::normalize(path);
    SYSTEM.iter().any(|s| path == Path::new(s))
}

/// A path as an exclude pattern that matches only itself: wildcard characters
/// are escaped (the backslash then counts, since the pattern has a wildcard).
fn escape_pattern(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        if matches!(c, '*' | '?' | '[' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Rules that tie inputs together for a driver.
fn check_driver_rules(
    reporter: &dyn Reporter,
    key_path: &str,
    profile: &Profile,
    inputs: &ResolvedInputs,
) -> Vec<Diagnostic> {
    let mut problems = Vec::new();
    let get = |name: &str| inputs.values.get(name).and_then(Value::as_str);
    if profile.driver == DriverName::PACKER && get("mode") != Some("attach") && get("packer_template").is_none() {
        problems.push(
            reporter
                .at(
                    &format!("{key_path}.inputs"),
                    "required input `packer_template` is missing (mode build)".into(),
                )
                .with_hint(
                    "add `packer_template: <directory of *.pkr.hcl>`, or `mode: attach` to only attach to the VM",
                ),
        );
    }
    // Orphan workspaces under a root are removed: a system folder as the root
    // needs the operator's word that it is meant.
    if let Some(root) = get("workspace_root")
        && is_system_folder(Path::new(root))
        && inputs.values.get("system_root_ok").and_then(Value::as_bool) != Some(true)
    {
        problems.push(
            reporter
                .at(
                    &format!("{key_path}.inputs.workspace_root"),
                    format!("`{}` is / or a system folder", safety::printable(root)),
                )
                .with_hint(
                    "give workspaces a folder of their own, e.g. /build; if you mean it, add `system_root_ok: true`",
                ),
        );
    }
    // Directly under the root: that is where workspaces, and what an interrupted
    // create or delete leaves, are looked for.
    if let (Some(root), Some(dir)) = (get("workspace_root"), get("workspace_dir"))
        && crate::profile::resolve::normalize(Path::new(dir)).parent()
            != Some(&crate::profile::resolve::normalize(Path::new(root)))
    {
        problems.push(
            reporter
                .at(
                    &format!("{key_path}.inputs.workspace_dir"),
                    format!("`{dir}` is not directly under the workspace root `{root}`"),
                )
                .with_hint(format!(
                    "name a folder in {root}, e.g. {}/my-workspace",
                    root.trim_end_matches('/')
                )),
        );
    }
    // sandboxer's own folders on a VM (the repo cache) and in a workspace are
    // named `.sandboxer-*`; a workspace there would be synced over, or removed.
    if let Some(dir) = get("workspace_dir")
        && Path::new(dir).components().any(|c| {
            c.as_os_str()
                .to_string_lossy()
                .starts_with(crate::repo::RESERVED_PREFIX)
        })
    {
        problems.push(
            reporter
                .at(
                    &format!("{key_path}.inputs.workspace_dir"),
                    format!(
                        "`{}` is inside sandboxer's own folders (`{}*`)",
                        safety::printable(dir),
                        crate::repo::RESERVED_PREFIX
                    ),
                )
                .with_hint("name a folder that does not start with `.sandboxer-`, e.g. /build/my-workspace"),
        );
    }
    problems
}

/// `images.<name>` or `sandboxes.<name>`.
fn section_key(address: &Address) -> String {
    match address.kind {
        ResourceKind::Image => format!("images.{}", address.name),
        ResourceKind::Sandbox => format!("sandboxes.{}", address.name),
    }
}

/// Checks a resource's tunnel port against the registry, or takes its port from it.
pub fn apply_registry(
    reporter: &dyn Reporter,
    inputs_key: &str,
    resource: &mut DesiredResource,
    registry: &crate::port_registry::LoadedRegistry,
) -> Result<(), Diagnostic> {
    let takes_port = resource.driver == DriverName::SSH_WORKSPACE;
    if !takes_port {
        return Ok(());
    }
    let vm = resource.vm().unwrap_or_default().to_string();
    match resource.inputs.values.get("tunnel_port").and_then(Value::as_int) {
        Some(port) => {
            let registered = u16::try_from(port).ok().and_then(|p| registry.vm_at(p));
            match registered {
                None => Err(reporter
                    .at(
                        &format!("{inputs_key}.tunnel_port"),
                        format!(
                            "tunnel port {port} is not in the port registry {}",
                            registry.path.display()
                        ),
                    )
                    .with_hint(format!("registered ports: {}", registry.ports_text()))),
                Some(other) if other != vm => Err(reporter
                    .at(
                        &format!("{inputs_key}.tunnel_port"),
                        format!("tunnel port {port} reaches VM `{other}`, not `{vm}`"),
                    )
                    .with_hint(match registry.port_of(&vm) {
                        Some(p) => format!("{vm} is registered at port {p}"),
                        None => format!("registered ports: {}", registry.ports_text()),
                    })),
                Some(_) => Ok(()),
            }
        }
        None => {
            if let Some(port) = registry.port_of(&vm) {
                resource
                    .inputs
                    .values
                    .insert("tunnel_port".into(), Value::Int(i64::from(port)));
                resource
                    .inputs
                    .origins
                    .insert("tunnel_port".into(), crate::profile::resolve::Origin::Default);
            }
            Ok(())
        }
    }
}

/// Two images must not build the same VM.
fn check_images(loaded: &LoadedManifest, resources: &BTreeMap<Address, DesiredResource>) -> Vec<Diagnostic> {
    let mut seen: BTreeMap<&str, &Address> = BTreeMap::new();
    let mut problems = Vec::new();
    for r in resources.values().filter(|r| r.immutable) {
        let Some(vm) = r.vm() else { continue };
        if let Some(first) = seen.insert(vm, &r.address) {
            problems.push(
                loaded
                    .diagnostic(
                        &format!("images.{}.inputs.vm_name", r.address.name),
                        format!("vm_name `{vm}` is already built by {first}"),
                    )
                    .with_hint("each VM is built by one image entry; give this one another vm_name"),
            );
        }
    }
    problems
}

/// A resource that lives on a VM depends on the image that builds that VM.
pub fn infer_image_dependencies(resources: &mut BTreeMap<Address, DesiredResource>) {
    let builders: BTreeMap<String, Address> = resources
        .values()
        .filter(|r| r.immutable)
        .filter_map(|r| r.vm().map(|vm| (vm.to_string(), r.address.clone())))
        .collect();
    for r in resources.values_mut() {
        if r.immutable {
            continue;
        }
        if let Some(image) = r.vm().and_then(|vm| builders.get(vm)) {
            r.depends_on.insert(image.clone());
        }
    }
}

/// A dependency cycle, written from one resource back to itself.
pub fn find_cycle(edges: &BTreeMap<Address, BTreeSet<Address>>) -> Option<Vec<Address>> {
    let mut graph: DiGraphMap<&Address, ()> = DiGraphMap::new();
    for (from, targets) in edges {
        graph.add_node(from);
        for to in targets {
            graph.add_edge(from, to, ());
        }
    }
    for component in petgraph::algo::tarjan_scc(&graph) {
        let Some(&start) = component.iter().min() else { continue };
        if component.len() == 1 && !graph.contains_edge(start, start) {
            continue;
        }
        // Breadth-first inside the component from `start` until an edge leads back
        // to it; a strongly connected component always has such a path.
        let members: BTreeSet<&Address> = component.iter().copied().collect();
        let mut came_from: BTreeMap<&Address, &Address> = BTreeMap::new();
        let mut queue = std::collections::VecDeque::from([start]);
        while let Some(node) = queue.pop_front() {
            let mut next_nodes: Vec<&Address> = graph.neighbors(node).filter(|n| members.contains(n)).collect();
            next_nodes.sort();
            if next_nodes.contains(&start) {
                let mut middle = Vec::new();
                let mut at = node;
                while at != start {
                    middle.push(at);
                    at = came_from[at];
                }
                middle.reverse();
                let path = std::iter::once(start).chain(middle).chain(std::iter::once(start));
                return Some(path.cloned().collect());
            }
            for next in next_nodes {
                if next != start && !came_from.contains_key(next) {
                    came_from.insert(next, node);
                    queue.push_back(next);
                }
            }
        }
    }
    None
}

fn is_env_name(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with(|c: char| c.is_ascii_digit())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}
