//! `sandboxer ssh <id|address> [-f FILE]`: an interactive login shell in a
//! sandbox's workspace, on its VM (with a terminal there) or here, after its
//! profile's `shell_prelude`; the shell's exit code is sandboxer's.

use std::process::ExitCode;

use clap::Args;

use sandboxer::workspace_shell::Job;

use super::Settings;
use super::args::StateArg;
use super::attach::Place;

#[derive(Debug, Args)]
pub struct Opts {
    /// A sandbox id, or an address such as sandbox.my-app
    pub what: String,
    #[command(flatten)]
    pub state: StateArg,
}

pub fn run(opts: &Opts, settings: &Settings) -> anyhow::Result<ExitCode> {
    super::attach::require_terminal("sandboxer ssh")?;
    let sandbox = super::attach::find(&opts.what, &opts.state, settings)?;
    // On a VM, a login shell as ssh gives one; here, the operator's shell as it is.
    let login = matches!(sandbox.place, Place::Vm { .. });
    super::attach::run(&sandbox, Job::Shell { login }, &[], settings)
}
