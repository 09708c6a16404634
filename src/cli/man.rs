//! `sandboxer man`: manual pages made by `clap_mangen` from the command line's
//! own definition, `sandboxer.1` and one page per subcommand.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, CommandFactory};

use super::Cli;

#[derive(Debug, Args)]
pub struct Opts {
    /// Folder to write the pages into (made when missing)
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

pub fn run(opts: &Opts) -> anyhow::Result<ExitCode> {
    let dir = &opts.out;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for (name, page) in pages()? {
        let path = dir.join(name);
        sandboxer::fsutil::write_atomic(&path, &page).with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Every page: its file name (`sandboxer.1`, `sandboxer-state-rm.1`) and its
/// roff. No date in them, so that the same sandboxer writes the same pages.
pub fn pages() -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    // No `help` subcommand: `--help` is on every page already.
    let mut command = Cli::command().disable_help_subcommand(true);
    command.build();
    let mut pages = Vec::new();
    add(&command, &mut pages)?;
    Ok(pages)
}

/// The page of `command` and those of its visible subcommands.
fn add(command: &clap::Command, pages: &mut Vec<(String, Vec<u8>)>) -> anyhow::Result<()> {
    // The source is the program, also on a subcommand's page (clap_mangen
    // would name the subcommand alone: `rm 0.1.0`).
    let man = clap_mangen::Man::new(command.clone()).source(format!("sandboxer {}", env!("CARGO_PKG_VERSION")));
    let mut page = Vec::new();
    man.render(&mut page)
        .with_context(|| format!("cannot render the page of {}", command.get_name()))?;
    pages.push((man.get_filename(), page));
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        add(sub, pages)?;
    }
    Ok(())
}
