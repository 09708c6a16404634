//! `sandboxer apply`: show the plan, ask, carry it out; or apply a saved plan.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use tokio::sync::mpsc;

use sandboxer::address::Address;
use sandboxer::apply::{self, ApplyOptions, Outcome};
use sandboxer::desired::Desired;
use sandboxer::observe::{Drivers, Observed};
use sandboxer::plan::render::{self, Style};
use sandboxer::plan::{Action, PLAN_FORMAT_VERSION, Plan};
use sandboxer::report::{self, Mode};
use sandboxer::state::{AnyStore, StateStore};

use super::Settings;
use super::common::{self, ManifestArg};
use super::output::{Hinted, Reported};
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

/// Flags of every command that changes things.
#[derive(Debug, Clone, Args)]
pub struct RunOpts {
    /// Do not ask for confirmation
    #[arg(long)]
    pub auto_approve: bool,
    /// Changes running at once
    #[arg(long, default_value_t = 10, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub parallelism: u16,
    /// How long to wait for the state lock (e.g. 30s); 0 fails at once
    #[arg(long, default_value = "0", value_name = "DURATION", value_parser = parse_duration)]
    pub lock_timeout: Duration,
    /// Progress as JSON lines on stdout
    #[arg(long)]
    pub json: bool,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    sandboxer::duration::parse(s)
}

pub fn run(opts: &Opts, settings: &Settings, color: bool) -> anyhow::Result<ExitCode> {
    let saved = opts.plan.as_deref().map(read_plan).transpose()?;
    let manifest = match &saved {
        Some(plan) => PathBuf::from(&plan.manifest),
        None => opts.manifest.file.clone(),
    };
    let desired = load_desired(&manifest, settings)?;
    let manifest_dir = manifest_dir(&manifest);
    let state_dir = settings.state_dir_for(&manifest_dir);
    let store = common::store(settings, &state_dir, desired.hub.as_ref())?;
    let drivers = common::drivers(&state_dir, settings);
    let project = desired.project.clone();
    let work = apply_locked(opts, settings, color, saved, desired, &store, &drivers);
    common::run_with(
        &drivers,
        common::locked(&store, &project, "apply", opts.run.lock_timeout, work),
    )
}

async fn apply_locked(
    opts: &Opts,
    settings: &Settings,
    color: bool,
    saved: Option<Plan>,
    desired: Desired,
    store: &AnyStore,
    drivers: &Drivers,
) -> anyhow::Result<ExitCode> {
    let (plan, observed) = match saved {
        Some(plan) => {
            check_saved(&plan, &desired, store).await?;
            let observed = common::observe(&desired, store, drivers).await?;
            (plan, observed)
        }
        None => common::plan(&desired, store, drivers, &opts.targets).await?,
    };
    if !plan.summary.has_changes() {
        if !settings.quiet {
            println!("{}", render::NO_CHANGES);
        }
        return Ok(ExitCode::SUCCESS);
    }
    if !opts.run.json && !settings.quiet {
        super::plan::print_data(&render::text(&plan, Style { color }))?;
    }
    if !opts.run.auto_approve && opts.plan.is_none() && !common::confirm("Do you want to perform these actions?")? {
        eprintln!("Apply cancelled; nothing was changed.");
        return Ok(ExitCode::from(1));
    }
    execute(&plan, desired, observed, store, drivers, &opts.run, settings, color).await
}

/// Walks a plan with a reporter attached; the closing summary decides the exit code.
#[allow(clippy::too_many_arguments)]
pub async fn execute(
    plan: &Plan,
    desired: Desired,
    observed: Observed,
    store: &AnyStore,
    drivers: &Drivers,
    run: &RunOpts,
    settings: &Settings,
    color: bool,
) -> anyhow::Result<ExitCode> {
    let cancel = common::interrupt_handler(settings.quiet);
    execute_with_cancel(plan, desired, observed, store, drivers, run, settings, color, cancel).await
}

/// [`execute`] under a cancel signal the caller owns (`watch` shares one across cycles).
#[allow(clippy::too_many_arguments)]
pub async fn execute_with_cancel(
    plan: &Plan,
    desired: Desired,
    observed: Observed,
    store: &AnyStore,
    drivers: &Drivers,
    run: &RunOpts,
    settings: &Settings,
    color: bool,
    cancel: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<ExitCode> {
    let (tx, rx) = mpsc::unbounded_channel();
    let mode = if run.json {
        Mode::Json
    } else if settings.quiet {
        Mode::Quiet
    } else if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        Mode::Live { color }
    } else {
        Mode::Lines { color }
    };
    // Before the first marker is written: markers name the state that made them.
    let lineage = store.ensure_lineage(&plan.project).await?;
    let reporter = tokio::spawn(report::run(rx, mode));
    let options = ApplyOptions {
        parallelism: usize::from(run.parallelism),
        lineage,
    };
    let known = common::known_ids(&observed);
    let desired = Arc::new(desired);
    let result = apply::apply(
        plan,
        desired,
        observed.records,
        known,
        store,
        drivers.clone(),
        options,
        tx,
        cancel,
    )
    .await;
    let _ = reporter.await;
    finish(&result?, settings)
}

/// The closing summary and exit code.
fn finish(outcome: &Outcome, settings: &Settings) -> anyhow::Result<ExitCode> {
    let count = |a: Action| outcome.done.get(&a).copied().unwrap_or(0);
    let done = format!(
        "{} created, {} updated, {} replaced, {} deleted",
        count(Action::Create),
        count(Action::Update),
        count(Action::Replace),
        count(Action::Delete)
    );
    if outcome.is_success() {
        if !settings.quiet {
            eprintln!("Apply complete: {done}.");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut message = format!("apply incomplete: {done}");
    if !outcome.failed.is_empty() {
        message.push_str(&format!("; {} failed", outcome.failed.len()));
    }
    if !outcome.skipped.is_empty() {
        message.push_str(&format!("; {} skipped (dependency failed)", outcome.skipped.len()));
    }
    if !outcome.not_started.is_empty() {
        message.push_str(&format!("; {} not started (interrupted)", outcome.not_started.len()));
    }
    for (address, error) in &outcome.failed {
        message.push_str(&format!("\n  {address}: {error}"));
    }
    Err(Reported(message).into())
}

fn read_plan(path: &Path) -> anyhow::Result<Plan> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read the saved plan {}", path.display()))?;
    let plan: Plan =
        serde_json::from_slice(&bytes).with_context(|| format!("{} is not a sandboxer plan", path.display()))?;
    if plan.format_version != PLAN_FORMAT_VERSION {
        anyhow::bail!(
            "{} has plan format {}, this sandboxer reads {PLAN_FORMAT_VERSION}",
            path.display(),
            plan.format_version
        );
    }
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

fn manifest_dir(manifest: &Path) -> PathBuf {
    let absolute = std::path::absolute(manifest).unwrap_or_else(|_| manifest.to_path_buf());
    absolute.parent().map(Path::to_path_buf).unwrap_or_default()
}

/// Adds the way out to a lock error.
pub fn lock_hint(e: sandboxer::state::StateError) -> anyhow::Error {
    match e {
        sandboxer::state::StateError::Lock(sandboxer::state::LockError::Held { holder }) => Hinted {
            message: format!("the state is locked: {holder}"),
            hint: "wait for it with --lock-timeout 5m; if that process is gone for good, run `sandboxer force-unlock <lock id>`".into(),
        }
        .into(),
        other => other.into(),
    }
}
