//! `sandboxer create`: the v0 imperative command, on the same engine. One
//! resource from a profile and `--input k=v` words, checked exactly like a
//! manifest entry, recorded in project `adhoc` unless `--project` says otherwise.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

use clap::Args;
use serde_json::json;

use sandboxer::address::{Address, ResourceKind};
use sandboxer::desired::{self, BuildContext, Desired, EntrySpec, Reporter};
use sandboxer::diagnostic::{Diagnostic, Diagnostics};
use sandboxer::plan::{self, Action};
use sandboxer::profile::{DriverKind, InputValue};

use super::Settings;
use super::apply::{RunOpts, execute};
use super::common::{self, StateArg};
use super::output::Hinted;

#[derive(Debug, Args)]
pub struct Opts {
    /// Profile, e.g. profile.vm-haskell-build
    #[arg(long)]
    pub profile: String,
    /// An input, `name=value`; repeatable
    #[arg(long = "input", value_name = "NAME=VALUE")]
    pub inputs: Vec<String>,
    /// Where sandboxer runs from to reach the VM: localhost, or an SSH jump host
    #[arg(long)]
    pub host: Option<String>,
    /// Name of the sandbox (its address is sandbox.<name>) [default: <vm>-<random>]
    #[arg(long)]
    pub name: Option<String>,
    /// Project to record it in
    #[arg(long, default_value = "adhoc")]
    pub project: String,
    #[command(flatten)]
    pub state: StateArg,
    #[command(flatten)]
    pub run: RunOpts,
}

/// Diagnostics of command-line inputs point at the flag.
struct CommandLine;

impl Reporter for CommandLine {
    fn at(&self, key_path: &str, message: String) -> Diagnostic {
        // sandboxes.<name>.inputs.<k> → --input <k>; sandboxes.<name>.host → --host
        let flag = match key_path.split('.').collect::<Vec<_>>().as_slice() {
            [_, _, "inputs", k, ..] => format!("--input {k}"),
            [_, _, "inputs"] => "--input".to_string(),
            [_, _, field] => format!("--{field}"),
            _ => "--name".to_string(),
        };
        Diagnostic::new(Path::new("<command line>"), None, flag, message)
    }
}

fn parse_inputs(words: &[String]) -> Result<BTreeMap<String, InputValue>, Diagnostics> {
    let mut inputs = BTreeMap::new();
    let mut problems = Vec::new();
    for word in words {
        match word.split_once('=') {
            Some((k, v)) if !k.is_empty() => {
                inputs.insert(k.to_string(), InputValue::String(v.to_string()));
            }
            _ => problems.push(
                Diagnostic::new(
                    Path::new("<command line>"),
                    None,
                    "--input",
                    format!("`{word}` is not NAME=VALUE"),
                )
                .with_hint("write e.g. --input vm=haskell-build"),
            ),
        }
    }
    if problems.is_empty() {
        Ok(inputs)
    } else {
        Err(Diagnostics(problems))
    }
}

pub fn run(opts: &Opts, settings: &Settings, color: bool) -> anyhow::Result<ExitCode> {
    let inputs = parse_inputs(&opts.inputs)?;
    let cwd = std::env::current_dir()?;
    let state_dir = settings.state_dir_without_manifest(opts.state.file.as_deref());
    let store = opts.state.store(settings)?;
    let catalog = settings.catalog(&cwd)?;
    let ctx = BuildContext {
        resolve: sandboxer::profile::ResolveContext {
            base_dir: cwd.clone(),
            home: settings.home.clone(),
            env: settings.env.clone(),
        },
        default_local_root: state_dir.join("workspaces"),
        port_registry: settings.env.get("SANDBOXER_PORT_REGISTRY").map(Into::into),
    };
    let is_image = catalog
        .get(&opts.profile)
        .is_some_and(|p| p.driver == DriverKind::Packer)
        && inputs.get("mode").is_none_or(|m| m.to_string() != "attach");
    let name = opts.name.clone().unwrap_or_else(|| {
        let base = ["vm", "vm_name", "ssh_target"]
            .iter()
            .find_map(|k| inputs.get(*k))
            .map_or("local".to_string(), ToString::to_string);
        let base = if sandboxer::safety::check_name(&base).is_ok() && base.len() <= 48 {
            base
        } else {
            "sandbox".into()
        };
        format!("{base}-{}", sandboxer::id::random_id(6))
    });
    let address = if is_image {
        Address::image(&name)
    } else {
        Address::sandbox(&name)
    };
    let mut problems = Vec::new();
    if let Err(e) = sandboxer::safety::check_name(&opts.project) {
        problems.push(Diagnostic::new(Path::new("<command line>"), None, "--project", e));
    }
    let entry = EntrySpec {
        address: address.clone(),
        key_path: format!("sandboxes.{name}"),
        profile: &opts.profile,
        host: opts.host.as_deref(),
        inputs: &inputs,
        depends_on: &[],
        replace_on_image_change: None,
    };
    let mut resource = match desired::build_entry(&CommandLine, &entry, &catalog, &ctx.resolve, &ctx) {
        Ok(r) => Some(r),
        Err(mut p) => {
            problems.append(&mut p);
            None
        }
    };
    if let (Some(r), Some(path)) = (resource.as_mut(), &ctx.port_registry) {
        match sandboxer::port_registry::load(path) {
            Ok(registry) => {
                if let Err(d) = desired::apply_registry(&CommandLine, &format!("sandboxes.{name}.inputs"), r, &registry)
                {
                    problems.push(d);
                }
            }
            Err(mut p) => problems.append(&mut p),
        }
    }
    let Some(resource) = resource.filter(|_| problems.is_empty()) else {
        return Err(Diagnostics(problems).into());
    };
    let desired = Desired {
        project: opts.project.clone(),
        manifest_path: "<command line>".into(),
        manifest_digest: String::new(),
        hub: None,
        resources: BTreeMap::from([(address.clone(), resource)]),
    };
    let drivers = common::drivers(&state_dir, settings);
    let project = desired.project.clone();
    let work = create_locked(opts, settings, color, desired, &address, &store, &drivers);
    common::run_with(
        &drivers,
        common::locked(&store, &project, "create", opts.run.lock_timeout, work),
    )
}

async fn create_locked(
    opts: &Opts,
    settings: &Settings,
    color: bool,
    desired: Desired,
    address: &Address,
    store: &sandboxer::state::AnyStore,
    drivers: &sandboxer::observe::Drivers,
) -> anyhow::Result<ExitCode> {
    let observed = common::observe(&desired, store, drivers).await?;
    if let Some(existing) = observed.records.get(address) {
        return Err(Hinted {
            message: format!(
                "{address} exists already in project {} (id {})",
                desired.project, existing.id
            ),
            hint: "pick another --name, or remove it with `sandboxer destroy <id>`".into(),
        }
        .into());
    }
    let plan = plan::make(&desired, &observed, std::slice::from_ref(address));
    let code = execute(&plan, desired, observed, store, drivers, &opts.run, settings, color).await?;
    let snapshot = sandboxer::state::StateStore::load(store, &plan.project).await?;
    if let Some(record) = snapshot.records.get(address) {
        let workspace = record.facts.get("workspace").cloned().unwrap_or_default();
        let location = record.facts.get("location").cloned().unwrap_or_default();
        let text = if opts.run.json {
            json!({"id": record.id, "address": address, "project": plan.project, "location": location, "workspace": workspace}).to_string()
        } else if address.kind == ResourceKind::Image {
            format!("{}\n", record.id)
        } else {
            let at = if location == "local" {
                String::new()
            } else {
                format!("{location}:")
            };
            format!("{}\t{at}{workspace}\n", record.id)
        };
        super::plan::print_data(&text)?;
    }
    Ok(code)
}

/// `destroy <id>`: one resource by id, whatever project it is in; the VM stays.
pub fn destroy_by_id(
    id: &str,
    state: &StateArg,
    run: &RunOpts,
    settings: &Settings,
    color: bool,
) -> anyhow::Result<ExitCode> {
    let store = state.store(settings)?;
    let drivers = common::drivers(&state.state_dir(settings), settings);
    common::run_with(&drivers, destroy_one(id, run, settings, color, &store, &drivers))
}

async fn destroy_one(
    id: &str,
    run: &RunOpts,
    settings: &Settings,
    color: bool,
    store: &sandboxer::state::AnyStore,
    drivers: &sandboxer::observe::Drivers,
) -> anyhow::Result<ExitCode> {
    let projects = sandboxer::state::StateStore::load_all(store).await?;
    let Some((project, record)) = projects
        .iter()
        .find_map(|(p, s)| s.records.values().find(|r| r.id == id).map(|r| (p.clone(), r.clone())))
    else {
        return Err(Hinted {
            message: format!("no sandbox with id `{id}` in {}", store.describe()),
            hint: "`sandboxer list` shows the recorded ids (use -f FILE or --state-dir for another state)".into(),
        }
        .into());
    };
    let work = async {
        let desired = Desired {
            project: project.clone(),
            manifest_path: "<command line>".into(),
            manifest_digest: String::new(),
            hub: None,
            resources: BTreeMap::new(),
        };
        let observed = common::observe(&desired, store, drivers).await?;
        let mut plan = plan::make(&desired, &observed, std::slice::from_ref(&record.address));
        plan.changes
            .retain(|c| c.id.as_deref() == Some(id) && c.action == Action::Delete);
        super::destroy::say_why(&mut plan.changes);
        plan.summary = plan::Summary::of(&plan.changes);
        if !settings.quiet && !run.json {
            super::plan::print_data(&plan::render::text(&plan, plan::render::Style { color }))?;
        }
        execute(&plan, desired, observed, store, drivers, run, settings, color).await
    };
    common::locked(store, &project, "destroy", run.lock_timeout, work).await
}
