//! `sandboxer force-unlock LOCK_ID`: remove a lock whose holder is stuck.

use std::process::ExitCode;

use clap::Args;

use sandboxer::state::lock;

use super::Settings;
use super::common::StateArg;

#[derive(Debug, Args)]
pub struct Opts {
    /// The lock id, as the "state is locked" error shows it
    pub lock_id: String,
    #[command(flatten)]
    pub state: StateArg,
}

pub fn run(opts: &Opts, settings: &Settings) -> anyhow::Result<ExitCode> {
    let store = opts.state.store(settings);
    let info = lock::force_unlock(&store.lock_path(), &opts.lock_id)?;
    if !settings.quiet {
        eprintln!("Removed the lock held by {info}.");
    }
    Ok(ExitCode::SUCCESS)
}
