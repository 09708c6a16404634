//! The `sandboxer` binary: parse, run, map the outcome to an exit code.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    let colors = cli::output::init(&args.global);
    match cli::run(args, colors) {
        Ok(code) => code,
        Err(error) => {
            cli::output::print_error(&error, colors.stderr);
            ExitCode::from(1)
        }
    }
}
