//! The command-line layer: clap types, settings from raw arguments and the
//! environment, and one module per subcommand. Only this layer prints.

pub mod output;
pub mod schema;
pub mod settings;
pub mod validate;

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
    /// Write the JSON Schemas of the manifest and of profiles.
    Schema(schema::Opts),
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let settings = Settings::from_opts(&cli.global)?;
    match cli.command {
        Command::Validate(opts) => validate::run(&opts, &settings),
        Command::Schema(opts) => schema::run(&opts),
    }
}
