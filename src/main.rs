//! The `sandboxer` binary: parse, run, map the outcome to an exit code.

mod cli;

use std::process::ExitCode;

use clap::Parser;

/// The hub token's default variable leaves the process environment before
/// anything else runs, so that no child process inherits it (the ssh masters,
/// which a library starts with this process's environment, included); the hub
/// client gets its value from [`sandboxer::secret_env::var`].
#[allow(unsafe_code)]
fn take_the_token_out_of_the_environment() {
    let name = sandboxer::secret_env::DEFAULT_TOKEN_ENV;
    if let Some(value) = std::env::var_os(name) {
        sandboxer::secret_env::keep(name, value.to_string_lossy().into_owned());
        // SAFETY: the first thing main does, before any thread exists that could
        // read or write the environment at the same time.
        unsafe { std::env::remove_var(name) };
    }
}

fn main() -> ExitCode {
    take_the_token_out_of_the_environment();
    // The completion scripts' helper is parsed on its own (see cli::completions).
    if std::env::args_os()
        .nth(1)
        .is_some_and(|first| first == cli::completions::COMPLETE)
    {
        return cli::completions::complete(std::env::args_os().skip(1));
    }
    let args = match cli::Cli::try_parse() {
        Ok(args) => args,
        // `--help` and `--version` succeed; a usage error is a failure like any
        // other (exit 1: 2 means "changes present" under --detailed-exitcode).
        Err(usage) => {
            let _ = usage.print();
            return ExitCode::from(if usage.use_stderr() { 1 } else { 0 });
        }
    };
    let colors = cli::output::init(&args.global);
    match cli::run(args, colors) {
        Ok(code) => code,
        Err(error) => {
            cli::output::print_error(&error, colors.stderr);
            ExitCode::from(1)
        }
    }
}
