//! `sandboxer force-unlock LOCK_ID`: remove a lock whose holder is stuck.

use std::process::ExitCode;

use clap::Args;

use sandboxer::state::{AnyStore, lock};

use super::Settings;
use super::args::StateArg;

#[derive(Debug, Args)]
pub struct Opts {
    /// The lock id, as the "state is locked" error shows it
    pub lock_id: String,
    /// The project whose lock it is (with a State Hub)
    #[arg(long)]
    pub project: Option<String>,
    #[command(flatten)]
    pub state: StateArg,
}

pub fn run(opts: &Opts, settings: &Settings) -> anyhow::Result<ExitCode> {
    match opts.state.store(settings)? {
        AnyStore::Embedded(store) => {
            let info = lock::force_unlock(&store.lock_path(), &opts.lock_id)?;
            if !settings.quiet {
                eprintln!("Removed the lock held by {info}.");
            }
        }
        AnyStore::Hub(hub) => {
            let Some(project) = &opts.project else {
                anyhow::bail!("with a State Hub, say whose lock it is: --project NAME");
            };
            super::engine::runtime()?.block_on(hub.force_unlock(project, &opts.lock_id))?;
            if !settings.quiet {
                eprintln!("Removed lock {} of project {project} on {}.", opts.lock_id, hub.url());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
