//! `sandboxer validate`: every check of a manifest, nothing written.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use serde_json::json;

use sandboxer::address::ResourceKind;
use sandboxer::desired::{self, Desired};
use sandboxer::diagnostic::Diagnostics;
use sandboxer::manifest;

use super::Settings;

#[derive(Debug, Args)]
pub struct Opts {
    /// The manifest
    #[arg(short = 'f', long = "file", default_value = "sandboxes.yaml", value_name = "FILE")]
    pub file: PathBuf,
    /// Print the result as JSON on stdout
    #[arg(long)]
    pub json: bool,
}

/// Loads a manifest and builds its desired state, or every problem found.
pub fn load_desired(file: &std::path::Path, settings: &Settings) -> Result<Desired, Diagnostics> {
    let loaded = manifest::load(file)?;
    let catalog = settings.catalog(&loaded.dir)?;
    desired::build(&loaded, &catalog, &settings.build_context(&loaded))
}

pub fn run(opts: &Opts, settings: &Settings) -> anyhow::Result<ExitCode> {
    let result = load_desired(&opts.file, settings);
    if opts.json {
        let value = match &result {
            Ok(d) => json!({ "valid": true, "project": d.project, "resources": d.resources.len(), "diagnostics": [] }),
            Err(problems) => json!({
                "valid": false,
                "diagnostics": problems.0.iter().map(|d| json!({
                    "file": d.file, "line": d.location.map(|l| l.line), "column": d.location.map(|l| l.column),
                    "key_path": d.key_path, "message": d.message, "hint": d.hint,
                })).collect::<Vec<_>>(),
            }),
        };
        super::output::print_data(&(serde_json::to_string_pretty(&value)? + "\n"))?;
        return Ok(ExitCode::from(u8::from(result.is_err())));
    }
    let desired = result?;
    let images = desired
        .resources
        .keys()
        .filter(|a| a.kind == ResourceKind::Image)
        .count();
    let sandboxes = desired.resources.len() - images;
    if !settings.quiet {
        super::output::print_data(&format!(
            "{}: valid (project {}, {images} image{}, {sandboxes} sandbox{})\n",
            opts.file.display(),
            desired.project,
            if images == 1 { "" } else { "s" },
            if sandboxes == 1 { "" } else { "es" },
        ))?;
    }
    Ok(ExitCode::SUCCESS)
}
