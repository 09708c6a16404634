//! `sandboxer destroy`: remove every resource of the manifest's project, in
//! reverse dependency order, after asking.

use std::process::ExitCode;

use clap::Args;

use sandboxer::plan::render::{self, Style};

use super::Settings;
use super::apply::{RunOpts, execute, finish, lock_hint};
use super::common::{self, ManifestArg};
use super::validate::load_desired;

#[derive(Debug, Args)]
pub struct Opts {
    #[command(flatten)]
    pub manifest: ManifestArg,
    #[command(flatten)]
    pub run: RunOpts,
}

pub fn run(opts: &Opts, settings: &Settings, color: bool) -> anyhow::Result<ExitCode> {
    let mut desired = load_desired(&opts.manifest.file, settings)?;
    // Nothing desired: every record and marked workspace of the project goes.
    desired.resources.clear();
    let store = common::store(settings, &opts.manifest.dir());
    let drivers = common::drivers(&store, settings);
    common::runtime()?.block_on(async {
        let result = destroy(opts, settings, color, desired, &store, &drivers).await;
        drivers.ssh.pool().close().await;
        result
    })
}

async fn destroy(
    opts: &Opts,
    settings: &Settings,
    color: bool,
    desired: sandboxer::desired::Desired,
    store: &sandboxer::state::EmbeddedStore,
    drivers: &sandboxer::observe::Drivers,
) -> anyhow::Result<ExitCode> {
    {
        let _lock = store.lock("destroy", opts.run.lock_timeout).map_err(lock_hint)?;
        let (plan, observed) = common::plan(&desired, store, drivers, &[]).await?;
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
        let known = common::known_ids(&observed);
        let outcome = execute(
            &plan,
            desired,
            observed.records,
            known,
            store,
            drivers,
            &opts.run,
            settings,
            color,
        )
        .await?;
        finish(&outcome, settings)
    }
}
