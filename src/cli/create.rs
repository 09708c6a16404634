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
use sandboxer::driver::DriverName;
use sandboxer::plan;
use sandboxer::profile::InputValue;
use sandboxer::state::{AnyStore, StateStore};

use super::Settings;
use super::args::StateArg;
use super::engine::Engine;
use super::output::{Hinted, print_data};
use super::run::{Execution, RunOpts};

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
                if inputs
                    .insert(k.to_string(), InputValue::String(v.to_string()))
                    .is_some()
                {
                    problems.push(
                        Diagnostic::new(
                            Path::new("<command line>"),
                            None,
                            format!("--input {k}"),
                            format!("`{k}` is given more than once"),
                        )
                        .with_hint("give each input once; the last one does not silently win"),
                    );
                }
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

pub fn run(opts: &Opts, settings: &Settings) -> anyhow::Result<ExitCode> {
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
        state_dir: state_dir.clone(),
        port_registry: settings.env.get("SANDBOXER_PORT_REGISTRY").map(Into::into),
        drivers: Default::default(),
    };
    let is_image = catalog
        .get(&opts.profile)
        .is_some_and(|p| p.driver == DriverName::PACKER)
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
        requires: None,
        provides: None,
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
        moves: Vec::new(),
    };
    let engine = Engine::new(&state_dir, settings);
    let project = desired.project.clone();
    let work = create_locked(opts, settings, desired, &address, &store, &engine);
    engine.run(super::store::locked(
        &store,
        &project,
        "create",
        opts.run.lock_timeout,
        work,
    ))
}

async fn create_locked(
    opts: &Opts,
    settings: &Settings,
    mut desired: Desired,
    address: &Address,
    store: &AnyStore,
    engine: &Engine,
) -> anyhow::Result<ExitCode> {
    engine.key(&mut desired, store).await?;
    let observed = engine.observe(&desired, store).await?;
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
    let code = Execution {
        plan: &plan,
        desired,
        observed,
        store,
        engine,
        opts: &opts.run,
        settings,
    }
    .run()
    .await?;
    let snapshot = store.load(&plan.project).await?;
    if let Some(record) = snapshot.records.get(address) {
        let workspace = record.facts.get("workspace").cloned().unwrap_or_default();
        let location = sandboxer::observe::record_location(record);
        let text = if opts.run.json {
            json!({"id": record.id, "address": address, "project": plan.project, "location": location, "workspace": workspace}).to_string()
        } else if address.kind == ResourceKind::Image {
            format!("{}\n", record.id)
        } else {
            format!("{}\t{}\n", record.id, location.show_path(&workspace))
        };
        print_data(&text)?;
    }
    Ok(code)
}
