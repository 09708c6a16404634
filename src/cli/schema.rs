//! `sandboxer schema [NAME] [--out DIR]`: the JSON Schemas sandboxer publishes
//! (the manifest, profiles, plans, port registries, the State Hub's bodies).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use super::output::{Hinted, print_data};

#[derive(Debug, Args)]
pub struct Opts {
    /// The schema to print: manifest (the default), profile, plan, port-registry, state-hub, or what a --json command prints: validate-output, doctor-output, list-output, vms-output, apply-events
    #[arg(value_name = "NAME", conflicts_with = "out")]
    pub name: Option<String>,
    /// Write every schema into this folder, one file each (`<name>.schema.json`)
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

pub fn run(opts: &Opts) -> anyhow::Result<ExitCode> {
    if let Some(dir) = &opts.out {
        let written = sandboxer::schema::write_all(dir)
            .with_context(|| format!("cannot write schemas into {}", dir.display()))?;
        for path in written {
            eprintln!("wrote {}", path.display());
        }
        return Ok(ExitCode::SUCCESS);
    }
    let wanted = opts.name.as_deref().unwrap_or("manifest");
    let all = sandboxer::schema::all();
    let Some((_, schema)) = all.iter().find(|(file, _)| schema_name(file) == wanted) else {
        let names: Vec<&str> = all.iter().map(|(file, _)| schema_name(file)).collect();
        return Err(Hinted {
            message: format!("there is no schema called `{}`", sandboxer::safety::printable(wanted)),
            hint: format!("one of: {}", names.join(", ")),
        }
        .into());
    };
    // A closed pipe (`| head`) ends the output quietly.
    print_data(&sandboxer::schema::render(schema))?;
    Ok(ExitCode::SUCCESS)
}

/// `manifest.schema.json` -> `manifest`.
fn schema_name(file: &str) -> &str {
    file.strip_suffix(".schema.json").unwrap_or(file)
}
