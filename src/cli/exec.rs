//! `sandboxer exec <id|address> [-f FILE] [--] COMMAND...`: runs a command in a
//! sandbox's workspace, on its VM or here, after its profile's `shell_prelude`;
//! the output streams as it comes and the command's exit code is sandboxer's.

use std::process::ExitCode;

use clap::Args;

use sandboxer::workspace_shell::Job;

use super::Settings;
use super::args::StateArg;

#[derive(Debug, Args)]
pub struct Opts {
    /// A sandbox id, or an address such as sandbox.my-app
    pub what: String,
    #[command(flatten)]
    pub state: StateArg,
    /// The command and its arguments, each passed as one word (no shell splits them again)
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    pub command: Vec<String>,
}

pub fn run(opts: &Opts, settings: &Settings) -> anyhow::Result<ExitCode> {
    let sandbox = super::attach::find(&opts.what, &opts.state, settings)?;
    super::attach::run(&sandbox, Job::Command, &opts.command, settings)
}
