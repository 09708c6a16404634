//! `sandboxer apply`: show the plan, ask, carry it out; or apply a saved plan.
//!
//! A saved plan is bound to what made it: apply makes the plan again from the
//! manifest it names and the state, as `plan` would with its targets, and
//! carries it out only if that plan is the saved one. Every check that can
//! refuse on the input alone runs before the store is opened in a way that
//! creates anything, and the plan is made again once without the lock (writing
//! nothing), so a refused plan leaves the work folder as it was.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use sha2::{Digest, Sha256};

use sandboxer::address::Address;
use sandboxer::desired::Desired;
use sandboxer::observe::Observed;
use sandboxer::plan::Plan;
use sandboxer::plan::render;
use sandboxer::plan::saved::{self, PlanDocument, SavedPlanError};
use sandboxer::state::{AnyStore, StateStore};

use super::Settings;
use super::args::{ManifestArg, manifest_dir};
use super::engine::{Engine, PlanScope};
use super::output::{Hinted, Reported, print_plan, refused_message};
use super::prompt::confirm;
use super::run::{Execution, RunOpts};
use super::validate::load_desired;

#[derive(Debug, Args)]
pub struct Opts {
    #[command(flatten)]
    pub manifest: ManifestArg,
    /// A plan saved with `plan --out`; applied only while the manifest, the state and what is there still give it
    pub plan: Option<PathBuf>,
    /// Apply only these resources (and what they depend on); repeatable
    #[arg(long = "target", value_name = "ADDR", conflicts_with = "plan")]
    pub targets: Vec<Address>,
    /// Destroy this resource and make it anew although nothing changed (an image is rebuilt, and what depends on it replaced); repeatable
    #[arg(long = "replace", value_name = "ADDR", conflicts_with = "plan")]
    pub replace: Vec<Address>,
    /// Probe every VM's capabilities now, however young the catalog's entry (`--capabilities-ttl`)
    #[arg(long)]
    pub refresh_capabilities: bool,
    #[command(flatten)]
    pub run: RunOpts,
}

/// What the refusals of a saved plan advise.
const PLAN_AGAIN: &str = "run `sandboxer plan --out PLAN` again and apply the new plan";

pub fn run(opts: &Opts, settings: &Settings) -> anyhow::Result<ExitCode> {
    match &opts.plan {
        Some(path) => apply_saved(path, opts, settings),
        None => apply_manifest(opts, settings),
    }
}

fn apply_manifest(opts: &Opts, settings: &Settings) -> anyhow::Result<ExitCode> {
    let desired = load_desired(&opts.manifest.file, settings)?;
    // Before the store and its lock: a refusal of the input makes nothing.
    PlanScope {
        targets: opts.targets.clone(),
        replace: opts.replace.clone(),
        destroy: false,
    }
    .check(&desired)?;
    let state_dir = settings.state_dir_for(&opts.manifest.dir());
    let store = super::store::open(settings, &state_dir, desired.hub.as_ref())?;
    let mut engine = Engine::new(&state_dir, settings);
    engine.probing.refresh = opts.refresh_capabilities;
    let project = desired.project.clone();
    let work = plan_and_apply(opts, settings, desired, &store, &engine);
    engine.run(super::store::locked(
        &store,
        &project,
        "apply",
        opts.run.lock_timeout,
        work,
    ))
}

async fn plan_and_apply(
    opts: &Opts,
    settings: &Settings,
    mut desired: Desired,
    store: &AnyStore,
    engine: &Engine,
) -> anyhow::Result<ExitCode> {
    engine.key(&mut desired, store).await?;
    let scope = PlanScope {
        targets: opts.targets.clone(),
        replace: opts.replace.clone(),
        destroy: false,
    };
    let (plan, observed) = engine.plan(&desired, store, &scope).await?;
    carry_out(opts, settings, &plan, desired, observed, store, engine).await
}

fn apply_saved(path: &Path, opts: &Opts, settings: &Settings) -> anyhow::Result<ExitCode> {
    let plan = open_saved(path)?;
    let manifest = saved_manifest(&plan)?;
    let desired = load_desired(&manifest, settings)?;
    check_against_manifest(&plan, &desired)?;
    // Opening the store creates nothing; its lock file is made only once every
    // check of the input has passed, and the sensitive key is never made here.
    let state_dir = settings.state_dir_for(&manifest_dir(&manifest));
    let store = super::store::open(settings, &state_dir, desired.hub.as_ref())?;
    let mut engine = Engine::new(&state_dir, settings);
    engine.probing.refresh = opts.refresh_capabilities;
    engine.run(check_then_apply(path, opts, settings, plan, desired, &store, &engine))
}

async fn check_then_apply(
    path: &Path,
    opts: &Opts,
    settings: &Settings,
    plan: Plan,
    mut desired: Desired,
    store: &AnyStore,
    engine: &Engine,
) -> anyhow::Result<ExitCode> {
    check_state(&plan, store).await?;
    if !engine.existing_key(&mut desired, store).await? {
        return Err(Hinted {
            message: format!(
                "{} has no key to hash the sensitive inputs of {} with, so the saved plan was not made against it",
                store.describe(),
                plan.manifest
            ),
            hint: PLAN_AGAIN.into(),
        }
        .into());
    }
    // Made again without the lock first, writing nothing: a plan that is not
    // the one the manifest and state give is refused before a lock file exists.
    let (again, observed) = engine.plan_read_only(&desired, store, &PlanScope::of(&plan)).await?;
    check_same(path, &plan, &again, &observed)?;
    let project = plan.project.clone();
    let work = apply_if_same(path, opts, settings, plan, desired, store, engine);
    super::store::locked(store, &project, "apply", opts.run.lock_timeout, work).await
}

/// Under the lock: nothing moved since the checks, then the saved plan is carried out.
async fn apply_if_same(
    path: &Path,
    opts: &Opts,
    settings: &Settings,
    plan: Plan,
    desired: Desired,
    store: &AnyStore,
    engine: &Engine,
) -> anyhow::Result<ExitCode> {
    check_state(&plan, store).await?;
    let (again, observed) = engine.plan(&desired, store, &PlanScope::of(&plan)).await?;
    check_same(path, &plan, &again, &observed)?;
    carry_out(opts, settings, &plan, desired, observed, store, engine).await
}

/// Shows the plan, asks (unless `--auto-approve` or a saved plan), carries it out.
async fn carry_out(
    opts: &Opts,
    settings: &Settings,
    plan: &Plan,
    desired: Desired,
    observed: Observed,
    store: &AnyStore,
    engine: &Engine,
) -> anyhow::Result<ExitCode> {
    // What was not looked at is said before anything is done (plan exits 1 for it).
    if !settings.quiet {
        for (site, error) in &observed.location_errors {
            eprintln!(
                "warning: could not observe {}: {}; changes there will fail",
                site.location,
                super::output::escaped(&error.to_string())
            );
            if let Some(hint) = error.hint() {
                eprintln!("  hint: {}", super::output::escaped(&hint));
            }
        }
    }
    if !plan.summary.has_changes() {
        if plan.summary.refused > 0 {
            // Nothing to do but what the plan refuses: said, not asked about.
            if !opts.run.json && !settings.quiet {
                print_plan(plan, settings.colors)?;
            }
            return Err(Reported(refused_message(plan)).into());
        }
        super::output::print_nothing_to_do(opts.run.json, settings.quiet, &plan.project, render::NO_CHANGES)?;
        return Ok(ExitCode::SUCCESS);
    }
    if !opts.run.json && !settings.quiet {
        print_plan(plan, settings.colors)?;
    }
    // A saved plan was shown and agreed to when it was made.
    if !opts.run.auto_approve && opts.plan.is_none() && !confirm("Do you want to perform these actions?")? {
        eprintln!("Apply cancelled; nothing was changed.");
        return Ok(ExitCode::from(1));
    }
    Execution {
        plan,
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

/// Reads a saved plan file: its format version, then the document.
fn read_plan(path: &Path) -> anyhow::Result<PlanDocument> {
    Ok(sandboxer::plan::read::read(path)?)
}

/// The saved plan at `path`, if it is as `plan` wrote it: unedited, its summary
/// its changes', one change per resource, no cycle.
fn open_saved(path: &Path) -> anyhow::Result<Plan> {
    let refused = |e: SavedPlanError| -> anyhow::Error {
        let message = match &e {
            SavedPlanError::Edited => format!(
                "{} was edited since it was made: its digest does not match its content",
                path.display()
            ),
            other => format!("the saved plan {} cannot be applied: {other}", path.display()),
        };
        Hinted {
            message,
            hint: e.hint(),
        }
        .into()
    };
    let plan = read_plan(path)?.unseal().map_err(refused)?;
    saved::check(&plan).map_err(refused)?;
    Ok(plan)
}

/// The manifest the plan names: an absolute path to a regular file whose bytes
/// are those the plan was made from. Checked before the manifest is loaded, so
/// another file is never read as a manifest.
fn saved_manifest(plan: &Plan) -> anyhow::Result<PathBuf> {
    let manifest = PathBuf::from(&plan.manifest);
    if !manifest.is_absolute() {
        return Err(Hinted {
            message: format!(
                "the saved plan names the manifest {}, which is not an absolute path",
                plan.manifest
            ),
            hint: PLAN_AGAIN.into(),
        }
        .into());
    }
    let text = sandboxer::fsutil::read_input(&manifest).map_err(|e| Hinted {
        message: format!("cannot read the manifest {} the saved plan names: {e}", plan.manifest),
        hint: PLAN_AGAIN.into(),
    })?;
    // As manifest::load computes it; its own digest is compared again once loaded.
    if format!("sha256:{:x}", Sha256::digest(text.as_bytes())) != plan.manifest_digest {
        return Err(manifest_changed(plan));
    }
    Ok(manifest)
}

fn manifest_changed(plan: &Plan) -> anyhow::Error {
    Hinted {
        message: format!("the manifest {} changed since the plan was made", plan.manifest),
        hint: PLAN_AGAIN.into(),
    }
    .into()
}

/// What the plan says of its manifest: its digest, its project, its targets.
fn check_against_manifest(plan: &Plan, desired: &Desired) -> anyhow::Result<()> {
    if plan.manifest_digest != desired.manifest_digest {
        return Err(manifest_changed(plan));
    }
    if plan.project != desired.project {
        return Err(Hinted {
            message: format!(
                "the saved plan is for project {}, but the manifest {} declares project {}",
                plan.project, plan.manifest, desired.project
            ),
            hint: PLAN_AGAIN.into(),
        }
        .into());
    }
    if let Some(t) = plan.targets.iter().find(|t| !desired.resources.contains_key(*t)) {
        return Err(Hinted {
            message: format!(
                "the saved plan targets {t}, which the manifest {} does not declare",
                plan.manifest
            ),
            hint: PLAN_AGAIN.into(),
        }
        .into());
    }
    Ok(())
}

/// The state is the one the plan was made against, at the same serial.
async fn check_state(plan: &Plan, store: &AnyStore) -> anyhow::Result<()> {
    let snapshot = store.load(&plan.project).await?;
    let lineage = |l: &str| {
        if l.is_empty() {
            "none".to_string()
        } else {
            l.to_string()
        }
    };
    if snapshot.lineage != plan.state_lineage {
        return Err(Hinted {
            message: format!(
                "the saved plan was made against another state (lineage {} then, {} in {} now); the saved plan is stale",
                lineage(&plan.state_lineage),
                lineage(&snapshot.lineage),
                store.describe()
            ),
            hint: PLAN_AGAIN.into(),
        }
        .into());
    }
    if snapshot.serial != plan.state_serial {
        return Err(Hinted {
            message: format!(
                "the state changed since the plan was made (serial {} then, {} now); the saved plan is stale",
                plan.state_serial, snapshot.serial
            ),
            hint: PLAN_AGAIN.into(),
        }
        .into());
    }
    Ok(())
}

/// The plan made again is the saved one; else the first difference, and what
/// could not be looked at (a VM that is down changes what is planned there).
fn check_same(path: &Path, plan: &Plan, again: &Plan, observed: &Observed) -> anyhow::Result<()> {
    let Some(difference) = saved::first_difference(plan, again) else {
        return Ok(());
    };
    let mut message = format!(
        "the saved plan {} is not what the manifest and state give now: {difference}",
        path.display()
    );
    for (site, error) in &observed.location_errors {
        message.push_str(&format!("\n  could not observe {}: {error}", site.location));
    }
    Err(Hinted {
        message,
        hint: PLAN_AGAIN.into(),
    }
    .into())
}
