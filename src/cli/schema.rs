//! `sandboxer schema [NAME] [--out DIR]`: the JSON Schemas sandboxer publishes
//! (the manifest, profiles, plans, port registries, the State Hub's bodies);
//! `sandboxer schema manifest -f FILE`: the manifest schema of one project.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use super::args::manifest_dir;
use super::output::{Hinted, print_data};
use super::settings::Settings;

#[derive(Debug, Args)]
pub struct Opts {
    /// The schema to print: manifest (the default), profile, plan, port-registry, state-hub, or what a --json command prints: validate-output, doctor-output, list-output, vms-output, inspect-output, inspect-vm-output, apply-events
    #[arg(value_name = "NAME", conflicts_with = "out")]
    pub name: Option<String>,
    /// Write every schema into this folder, one file each (`<name>.schema.json`)
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Print the manifest schema of this manifest's project: the built-in profiles and those of its `profiles/` folder and `--profiles`, and no other profile name (a misspelt one is an error)
    #[arg(short = 'f', long = "file", value_name = "FILE", conflicts_with = "out")]
    pub file: Option<PathBuf>,
}

pub fn run(opts: &Opts, settings: &Settings) -> anyhow::Result<ExitCode> {
    if let Some(file) = &opts.file {
        return project_manifest_schema(opts.name.as_deref(), file, settings);
    }
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

/// The manifest schema with the profiles `file`'s project has, and no others.
fn project_manifest_schema(
    name: Option<&str>,
    file: &std::path::Path,
    settings: &Settings,
) -> anyhow::Result<ExitCode> {
    if name.is_some_and(|n| n != "manifest") {
        return Err(Hinted {
            message: "`-f` makes the manifest schema of a project; other schemas are the same for every project".into(),
            hint: "`sandboxer schema manifest -f sandboxes.yaml`".into(),
        }
        .into());
    }
    use sandboxer::manifest::editor::{self, ProfileNames};
    let catalog = settings.catalog(&manifest_dir(file))?;
    // No `$id`: the published schema's names every project's manifest; this
    // one is of one project only, and must not pass for the other.
    let schema = editor::schema(&catalog, ProfileNames::Closed);
    print_data(&sandboxer::schema::render(&schema))?;
    Ok(ExitCode::SUCCESS)
}
