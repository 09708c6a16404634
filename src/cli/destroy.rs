//! `sandboxer destroy`: remove every resource of the manifest's project, in
//! reverse dependency order, after asking.

use std::process::ExitCode;

use clap::Args;

use sandboxer::plan::render::{self, Style};

use super::Settings;
use super::apply::{RunOpts, execute};
use super::common::{self, ManifestArg};
use super::validate::load_desired;

#[derive(Debug, Args)]
pub struct Opts {
    /// Destroy only this sandbox (by id), whatever project it is in; the VM stays running
    pub id: Option<String>,
    /// The manifest whose project is destroyed
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub run: RunOpts,
}

pub fn run(opts: &Opts, settings: &Settings, color: bool) -> anyhow::Result<ExitCode> {
    if let Some(id) = &opts.id {
        let state = super::common::StateArg {
            file: opts.file.clone(),
        };
        return super::create::destroy_by_id(id, &state, &opts.run, settings, color);
    }
    let manifest = ManifestArg {
        file: opts.file.clone().unwrap_or_else(|| "sandboxes.yaml".into()),
    };
    let mut desired = load_desired(&manifest.file, settings)?;
    // Nothing desired: every record and marked workspace of the project goes.
    desired.resources.clear();
    let state_dir = settings.state_dir_for(&manifest.dir());
    let store = common::store(settings, &state_dir, desired.hub.as_ref())?;
    let drivers = common::drivers(&state_dir, settings);
    let project = desired.project.clone();
    let work = destroy_locked(opts, settings, color, desired, &store, &drivers);
    common::run_with(
        &drivers,
        common::locked(&store, &project, "destroy", opts.run.lock_timeout, work),
    )
}

async fn destroy_locked(
    opts: &Opts,
    settings: &Settings,
    color: bool,
    desired: sandboxer::desired::Desired,
    store: &sandboxer::state::AnyStore,
    drivers: &sandboxer::observe::Drivers,
) -> anyhow::Result<ExitCode> {
    let (mut plan, observed) = common::plan(&desired, store, drivers, &[]).await?;
    say_why(&mut plan.changes);
    if !plan.summary.has_changes() {
        if !settings.quiet {
            println!("Nothing to destroy: project {} has no resources.", plan.project);
        }
        return Ok(ExitCode::SUCCESS);
    }
    if !opts.run.json && !settings.quiet {
        super::plan::print_data(&render::text(&plan, Style { color }))?;
    }
    let question = format!(
        "Do you really want to destroy all {} resources of project {}?",
        plan.summary.delete, plan.project
    );
    if !opts.run.auto_approve && !common::confirm(&question)? {
        eprintln!("Destroy cancelled; nothing was changed.");
        return Ok(ExitCode::from(1));
    }
    execute(&plan, desired, observed, store, drivers, &opts.run, settings, color).await
}

/// In a destroy, records go because the operator asked, not because the manifest lost them.
pub fn say_why(changes: &mut [sandboxer::plan::Change]) {
    for change in changes {
        for reason in &mut change.reasons {
            if reason == "gone from manifest" {
                *reason = "destroy requested".into();
            }
        }
    }
}
