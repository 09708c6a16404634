//! `sandboxer destroy`: remove every resource of the manifest's project, in
//! reverse dependency order, after asking; or one sandbox by id (`destroy <id>`,
//! the v0 command), whatever project it is in.
//!
//! `destroy -f FILE` looks everywhere the manifest's resources and the records
//! point (every workspace root and VM), then plans as if nothing were desired:
//! the records go, and so do the marked workspaces of this project and state
//! that have no record (a create killed before its record was written).

use std::collections::BTreeMap;
use std::process::ExitCode;

use clap::Args;

use sandboxer::desired::Desired;
use sandboxer::observe::Observed;
use sandboxer::plan::{self, Action};
use sandboxer::state::{AnyStore, StateStore};

use super::Settings;
use super::args::{ManifestArg, StateArg};
use super::engine::{Engine, PlanScope};
use super::output::{Hinted, print_plan};
use super::prompt::confirm;
use super::run::{Execution, RunOpts};
use super::validate::load_desired;

#[derive(Debug, Args)]
pub struct Opts {
    /// Destroy only this sandbox (by id), whatever project it is in; the VM stays running
    pub id: Option<String>,
    /// Destroy only this resource of the manifest's project, and what depends on it; repeatable
    #[arg(long = "target", value_name = "ADDR", conflicts_with = "id")]
    pub targets: Vec<sandboxer::address::Address>,
    /// The manifest whose project is destroyed
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub run: RunOpts,
}

pub fn run(opts: &Opts, settings: &Settings) -> anyhow::Result<ExitCode> {
    if let Some(id) = &opts.id {
        let state = StateArg {
            file: opts.file.clone(),
        };
        return destroy_by_id(id, &state, &opts.run, settings);
    }
    let manifest = ManifestArg {
        file: opts.file.clone().unwrap_or_else(|| "sandboxes.yaml".into()),
    };
    let desired = load_desired(&manifest.file, settings)?;
    let state_dir = settings.state_dir_for(&manifest.dir());
    let store = super::store::open(settings, &state_dir, desired.hub.as_ref())?;
    let mut engine = Engine::new(&state_dir, settings);
    // Nothing destroyed is checked against a VM's capabilities.
    engine.probing.ttl = None;
    let project = desired.project.clone();
    let work = destroy_locked(opts, settings, desired, &store, &engine);
    engine.run(super::store::locked(
        &store,
        &project,
        "destroy",
        opts.run.lock_timeout,
        work,
    ))
}

async fn destroy_locked(
    opts: &Opts,
    settings: &Settings,
    desired: Desired,
    store: &AnyStore,
    engine: &Engine,
) -> anyhow::Result<ExitCode> {
    let scope = PlanScope {
        targets: opts.targets.clone(),
        replace: Vec::new(),
        destroy: true,
    };
    let (plan, observed) = engine.plan(&desired, store, &scope).await?;
    scope.check_destroyed(&desired, &plan)?;
    warn_unobserved(&observed, settings);
    // What goes is carried out with nothing desired.
    let desired = Desired {
        resources: BTreeMap::new(),
        moves: Vec::new(),
        ..desired
    };
    if !plan.summary.has_changes() {
        let what = if opts.targets.is_empty() {
            format!("project {} has no resources", plan.project)
        } else {
            let targets: Vec<String> = opts.targets.iter().map(ToString::to_string).collect();
            format!(
                "{} of project {} has no record or workspace",
                targets.join(", "),
                plan.project
            )
        };
        let words = format!("Nothing to destroy: {what}.");
        super::output::print_nothing_to_do(opts.run.json, settings.quiet, &plan.project, &words)?;
        return Ok(ExitCode::SUCCESS);
    }
    if !opts.run.json && !settings.quiet {
        print_plan(&plan, settings.colors)?;
    }
    let question = if opts.targets.is_empty() {
        format!(
            "Do you really want to destroy all {} resources of project {}?",
            plan.summary.delete, plan.project
        )
    } else {
        format!(
            "Do you really want to destroy these {} resources of project {}?",
            plan.summary.delete, plan.project
        )
    };
    if !opts.run.auto_approve && !confirm(&question)? {
        eprintln!("Destroy cancelled; nothing was changed.");
        return Ok(ExitCode::from(1));
    }
    Execution {
        plan: &plan,
        desired,
        observed,
        store,
        engine,
        opts: &opts.run,
        settings,
    }
    .run()
    .await
}

/// A location that could not be looked at may hold workspaces this destroy
/// cannot see: say so (the records there are still planned for deletion).
fn warn_unobserved(observed: &Observed, settings: &Settings) {
    if settings.quiet {
        return;
    }
    for (site, error) in &observed.location_errors {
        eprintln!(
            "warning: could not look at {} ({error}); workspaces there without a record are not destroyed",
            site.location
        );
        eprintln!("  hint: run the destroy again once {} can be reached", site.location);
    }
}

/// `destroy <id>`: one resource by id, whatever project it is in; the VM stays.
fn destroy_by_id(id: &str, state: &StateArg, run: &RunOpts, settings: &Settings) -> anyhow::Result<ExitCode> {
    let store = state.store(settings)?;
    let mut engine = Engine::new(&state.state_dir(settings), settings);
    engine.probing.ttl = None;
    engine.run(destroy_one(id, run, settings, &store, &engine))
}

async fn destroy_one(
    id: &str,
    run: &RunOpts,
    settings: &Settings,
    store: &AnyStore,
    engine: &Engine,
) -> anyhow::Result<ExitCode> {
    let projects = store.load_all().await?;
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
            moves: Vec::new(),
        };
        let observed = engine.observe(&desired, store).await?;
        let mut plan = plan::make(&desired, &observed, std::slice::from_ref(&record.address));
        plan.changes
            .retain(|c| c.id.as_deref() == Some(id) && c.action == Action::Delete);
        super::engine::say_why(&mut plan.changes);
        plan.summary = plan::Summary::of(&plan.changes);
        if !settings.quiet && !run.json {
            print_plan(&plan, settings.colors)?;
        }
        Execution {
            plan: &plan,
            desired,
            observed,
            store,
            engine,
            opts: run,
            settings,
        }
        .run()
        .await
    };
    super::store::locked(store, &project, "destroy", run.lock_timeout, work).await
}
