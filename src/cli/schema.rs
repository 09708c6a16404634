//! `sandboxer schema`: the JSON Schemas of the manifest and of profiles.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

#[derive(Debug, Args)]
pub struct Opts {
    /// Folder to write the schemas into; without it they are printed
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

pub fn run(opts: &Opts) -> anyhow::Result<ExitCode> {
    match &opts.out {
        Some(dir) => {
            let written = sandboxer::schema::write_all(dir)
                .with_context(|| format!("cannot write schemas into {}", dir.display()))?;
            for path in written {
                eprintln!("wrote {}", path.display());
            }
        }
        None => {
            for (name, schema) in sandboxer::schema::all() {
                println!("// {name}\n{}", sandboxer::schema::render(&schema));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
