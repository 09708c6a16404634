//! The command-line layer: clap types, settings from raw arguments and the
//! environment, and one module per subcommand. Only this layer prints.

pub mod apply;
pub mod args;
pub mod attach;
pub mod completions;
pub mod create;
pub mod destroy;
pub mod doctor;
pub mod engine;
pub mod exec;
pub mod force_unlock;
pub mod hub;
pub mod inspect;
pub mod list;
pub mod man;
pub mod output;
pub mod plan;
pub mod prompt;
pub mod provenance;
pub mod run;
pub mod schema;
pub mod settings;
pub mod ssh;
pub mod ssh_config;
pub mod state;
pub mod state_edit;
pub mod store;
pub mod validate;
pub mod vm;
pub mod watch;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use settings::{GlobalOpts, Settings};

/// Keeps build workspaces and VM images in the state declared in sandboxes.yaml.
#[derive(Debug, Parser)]
#[command(name = "sandboxer", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalOpts,
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a manifest: syntax, schema, profiles, inputs, dependencies. Changes nothing.
    Validate(validate::Opts),
    /// Apply, then apply again whenever the manifest, a repo or a template changes.
    Watch(watch::Opts),
    /// Create one sandbox (or image) from a profile, without a manifest.
    Create(create::Opts),
    /// Show what apply would change, and why.
    Plan(plan::Opts),
    /// Carry out the plan (or a saved plan).
    Apply(apply::Opts),
    /// Remove every resource of the manifest's project, or one sandbox by id.
    Destroy(destroy::Opts),
    /// List recorded resources.
    List(list::Opts),
    /// Show one resource: its record, what is there now, its notes.
    Inspect(inspect::Opts),
    /// Run a command in a sandbox's workspace (on its VM, or here); its exit code is sandboxer's.
    Exec(exec::Opts),
    /// Open an interactive login shell in a sandbox's workspace.
    Ssh(ssh::Opts),
    /// Print ssh `Host` blocks for the VM slots of the port registry, or check your ssh config against them.
    SshConfig(ssh_config::Opts),
    /// Check the bridge to the build machines: tunnels, ssh, rsync, disk, Packer, the State Hub. Changes nothing.
    Doctor(doctor::Opts),
    /// Write the JSON Schemas of the manifest, profiles and plans.
    Schema(schema::Opts),
    /// The State Hub server.
    Hub(hub::Opts),
    /// The state of the manifest's project: list, show, rm, mv; push/pull between the embedded store and a State Hub.
    State(state::Opts),
    /// Remove a state lock whose holder is stuck.
    ForceUnlock(force_unlock::Opts),
    /// Print the shell completion script for bash, zsh or fish.
    Completions(completions::Opts),
    /// Write the manual pages: sandboxer.1 and one per subcommand.
    Man(man::Opts),
}

/// Runs a parsed command line.
pub fn run(cli: Cli, colors: settings::Colors) -> anyhow::Result<ExitCode> {
    let settings = Settings::from_opts(&cli.global, colors)?;
    match cli.command {
        Command::Validate(opts) => validate::run(&opts, &settings),
        Command::Doctor(opts) => doctor::run(&opts, &settings),
        Command::Watch(opts) => watch::run(&opts, &settings),
        Command::Create(opts) => create::run(&opts, &settings),
        Command::Plan(opts) => plan::run(&opts, &settings),
        Command::Apply(opts) => apply::run(&opts, &settings),
        Command::Destroy(opts) => destroy::run(&opts, &settings),
        Command::List(opts) => list::run(&opts, &settings),
        Command::Inspect(opts) => inspect::run(&opts, &settings),
        Command::Exec(opts) => exec::run(&opts, &settings),
        Command::Ssh(opts) => ssh::run(&opts, &settings),
        Command::SshConfig(opts) => ssh_config::run(&opts, &settings),
        Command::Schema(opts) => schema::run(&opts, &settings),
        Command::Hub(opts) => hub::run(&opts, &settings),
        Command::State(opts) => state::run(&opts, &settings),
        Command::ForceUnlock(opts) => force_unlock::run(&opts, &settings),
        Command::Completions(opts) => completions::run(&opts),
        Command::Man(opts) => man::run(&opts),
    }
}
