//! `sandboxer apply`: show the plan, ask, carry it out; or apply a saved plan.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use sandboxer::address::Address;
use sandboxer::desired::Desired;
use sandboxer::plan::render;
use sandboxer::plan::{PLAN_FORMAT_VERSION, Plan};
use sandboxer::state::{AnyStore, StateStore};

use super::Settings;
use super::args::{ManifestArg, manifest_dir};
use super::engine::Engine;
use super::output::{Hinted, print_plan};
use super::prompt::confirm;
use super::run::{Execution, RunOpts};
use super::validate::load_desired;

#[derive(Debug, Args)]
pub struct Opts {
    #[command(flatten)]
    pub manifest: ManifestArg,
    /// A plan saved with `plan --out`; applied as it is, if the state has not moved since
    pub plan: Option<PathBuf>,
    /// Apply only these resources (and what they depend on); repeatable
    #[arg(long = "target", value_name = "ADDR", conflicts_with = "plan")]
    pub targets: Vec<Address>,
    #[command(flatten)]
    pub run: RunOpts,
}

pub fn run(opts: &Opts, settings: &Settings) -> anyhow::Result<ExitCode> {
    let saved = opts.plan.as_deref().map(read_plan).transpose()?;
    let manifest = match &saved {
        Some(plan) => PathBuf::from(&plan.manifest),
        None => opts.manifest.file.clone(),
    };
    let desired = load_desired(&manifest, settings)?;
    let state_dir = settings.state_dir_for(&manifest_dir(&manifest));
    let store = super::store::open(settings, &state_dir, desired.hub.as_ref())?;
    let engine = Engine::new(&state_dir, settings);
    let project = desired.project.clone();
    let work = apply_locked(opts, settings, saved, desired, &store, &engine);
    engine.run(super::store::locked(
        &store,
        &project,
        "apply",
        opts.run.lock_timeout,
        work,
    ))
}

async fn apply_locked(
    opts: &Opts,
    settings: &Settings,
    saved: Option<Plan>,
    mut desired: Desired,
    store: &AnyStore,
    engine: &Engine,
) -> anyhow::Result<ExitCode> {
    engine.key(&mut desired, store).await?;
    let (plan, observed) = match saved {
        Some(plan) => {
            check_saved(&plan, &desired, store).await?;
            let observed = engine.observe(&desired, store).await?;
            (plan, observed)
        }
        None => engine.plan(&desired, store, &opts.targets).await?,
    };
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
        if !settings.quiet {
            println!("{}", render::NO_CHANGES);
        }
        return Ok(ExitCode::SUCCESS);
    }
    if !opts.run.json && !settings.quiet {
        print_plan(&plan, settings.colors)?;
    }
    if !opts.run.auto_approve && opts.plan.is_none() && !confirm("Do you want to perform these actions?")? {
        eprintln!("Apply cancelled; nothing was changed.");
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

fn read_plan(path: &Path) -> anyhow::Result<Plan> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read the saved plan {}", path.display()))?;
    let version = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| v.get("format_version").and_then(serde_json::Value::as_u64));
    if let Some(version) = version.filter(|v| *v != u64::from(PLAN_FORMAT_VERSION)) {
        return Err(Hinted {
            message: format!(
                "{} has plan format {version}, this sandboxer reads {PLAN_FORMAT_VERSION}",
                path.display()
            ),
            hint: "make the plan again with this sandboxer: `sandboxer plan --out PLAN`".into(),
        }
        .into());
    }
    let plan: Plan =
        serde_json::from_slice(&bytes).with_context(|| format!("{} is not a sandboxer plan", path.display()))?;
    Ok(plan)
}

async fn check_saved(plan: &Plan, desired: &Desired, store: &AnyStore) -> anyhow::Result<()> {
    if plan.manifest_digest != desired.manifest_digest {
        return Err(Hinted {
            message: format!("the manifest {} changed since the plan was made", plan.manifest),
            hint: "run `sandboxer plan --out PLAN` again".into(),
        }
        .into());
    }
    let snapshot = store.load(&plan.project).await?;
    if snapshot.lineage != plan.state_lineage || snapshot.serial != plan.state_serial {
        return Err(Hinted {
            message: format!(
                "the state changed since the plan was made (serial {} then, {} now); the saved plan is stale",
                plan.state_serial, snapshot.serial
            ),
            hint: "run `sandboxer plan --out PLAN` again and apply the new plan".into(),
        }
        .into());
    }
    Ok(())
}
