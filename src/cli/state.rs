//! `sandboxer state push|pull`: move a project's records between the embedded
//! store and a State Hub, never overwriting a newer record; `state
//! list|show|rm|mv` are in [`super::state_edit`].

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};

use sandboxer::state::{AnyStore, EmbeddedStore, Record, StateStore};

use super::Settings;
use super::args::ManifestArg;
use super::output::{Hinted, Reported};
use super::validate::load_desired;

#[derive(Debug, Args)]
pub struct Opts {
    #[command(subcommand)]
    pub command: StateCommand,
}

#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// The addresses recorded for the manifest's project, one a line.
    List(super::state_edit::ListOpts),
    /// One record, as JSON.
    Show(super::state_edit::ShowOpts),
    /// Forget records; their workspaces stay as they are, released (no plan adopts or deletes them). Backs up first.
    Rm(super::state_edit::RmOpts),
    /// Give a record a new address; its workspace and id are kept, its marker names the new address. Backs up first.
    Mv(super::state_edit::MvOpts),
    /// Copy the manifest project's records from the embedded store to the hub.
    Push(MoveOpts),
    /// Copy the manifest project's records from the hub to the embedded store.
    Pull(MoveOpts),
}

#[derive(Debug, Args)]
pub struct MoveOpts {
    #[command(flatten)]
    pub manifest: ManifestArg,
    /// How long to wait for the locks
    #[arg(long, default_value = "0", value_name = "DURATION", value_parser = sandboxer::duration::parse)]
    pub lock_timeout: Duration,
}

pub fn run(opts: &Opts, settings: &Settings) -> anyhow::Result<ExitCode> {
    let (move_opts, push) = match &opts.command {
        StateCommand::Push(o) => (o, true),
        StateCommand::Pull(o) => (o, false),
        StateCommand::List(o) => return super::state_edit::list(o, settings),
        StateCommand::Show(o) => return super::state_edit::show(o, settings),
        StateCommand::Rm(o) => return super::state_edit::rm(o, settings),
        StateCommand::Mv(o) => return super::state_edit::mv(o, settings),
    };
    let desired = load_desired(&move_opts.manifest.file, settings)?;
    let state_dir = settings.state_dir_for(&move_opts.manifest.dir());
    let embedded = AnyStore::Embedded(EmbeddedStore::new(&state_dir));
    let hub = match super::store::open(settings, &state_dir, desired.hub.as_ref())? {
        AnyStore::Hub(hub) => AnyStore::Hub(hub),
        AnyStore::Embedded(_) => {
            return Err(Hinted {
                message: "no State Hub to move records to or from".into(),
                hint: "add `hub: { url: ..., token_env: ... }` to the manifest, or pass --hub URL".into(),
            }
            .into());
        }
    };
    let (from, to) = if push { (&embedded, &hub) } else { (&hub, &embedded) };
    let project = desired.project.clone();
    super::engine::runtime()?.block_on(async {
        let to_lock = to.lock(&project, "state move", move_opts.lock_timeout).await?;
        let from_lock = from.lock(&project, "state move", move_opts.lock_timeout).await;
        let result = match from_lock {
            Ok(from_lock) => {
                let r = copy(&project, from, to).await;
                let released = super::store::release(from, from_lock).await;
                r.and_then(|r| released.map(|()| r))
            }
            Err(e) => Err(e.into()),
        };
        let released = super::store::release(to, to_lock).await;
        let (copied, same, refused) = result?;
        released?;
        if !settings.quiet {
            eprintln!(
                "{} project {project}: {copied} record{} copied to {}, {same} already there.",
                if push { "Pushed" } else { "Pulled" },
                if copied == 1 { "" } else { "s" },
                to.describe()
            );
        }
        if refused.is_empty() {
            Ok(ExitCode::SUCCESS)
        } else {
            let mut message = format!(
                "{} record{} not copied: newer at the destination",
                refused.len(),
                if refused.len() == 1 { "" } else { "s" }
            );
            for r in &refused {
                message.push_str(&format!("\n  {r}"));
            }
            Err(Reported(message).into())
        }
    })
}

/// Copies every record of `project` that the destination does not have in a newer version.
async fn copy(project: &str, from: &AnyStore, to: &AnyStore) -> anyhow::Result<(usize, usize, Vec<String>)> {
    let source = from.load(project).await?;
    let destination = to.load(project).await?;
    let (mut copied, mut same, mut refused) = (0, 0, Vec::new());
    for (address, record) in &source.records {
        match destination.records.get(address) {
            Some(existing) if existing == record => same += 1,
            Some(existing) if newer(existing, record) => refused.push(format!(
                "{address}: id {} updated {} at the destination, id {} updated {} here",
                existing.id, existing.updated_at, record.id, record.updated_at
            )),
            _ => {
                to.put(project, record).await?;
                copied += 1;
            }
        }
    }
    Ok((copied, same, refused))
}

fn newer(a: &Record, b: &Record) -> bool {
    a.updated_at > b.updated_at
}
