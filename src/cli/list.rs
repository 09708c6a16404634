//! `sandboxer list`: every recorded resource, as a table or JSON.

use std::process::ExitCode;

use clap::Args;
use serde_json::json;

use sandboxer::state::StateStore;

use super::Settings;
use super::args::StateArg;

#[derive(Debug, Args)]
pub struct Opts {
    /// The manifest whose state folder is listed (all of its projects)
    #[command(flatten)]
    pub state: StateArg,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

pub fn run(opts: &Opts, settings: &Settings) -> anyhow::Result<ExitCode> {
    let store = opts.state.store(settings)?;
    let projects = super::engine::runtime()?.block_on(store.load_all())?;
    if opts.json {
        let rows: Vec<_> = projects
            .iter()
            .flat_map(|(project, snap)| {
                snap.records
                    .values()
                    .map(move |r| json!({"project": project, "record": r}))
            })
            .collect();
        super::output::print_data(&(serde_json::to_string_pretty(&rows)? + "\n"))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut rows = vec![
        ["PROJECT", "ADDRESS", "ID", "DRIVER", "WHERE", "UPDATED"]
            .map(String::from)
            .to_vec(),
    ];
    for (project, snap) in &projects {
        for r in snap.records.values() {
            let location = r.facts.get("location").map(String::as_str).unwrap_or("-");
            let place = match (location, r.facts.get("workspace")) {
                ("local", Some(w)) => w.clone(),
                (vm, Some(w)) => format!("{vm}:{w}"),
                (vm, None) => vm.to_string(),
            };
            rows.push(vec![
                project.clone(),
                r.address.to_string(),
                r.id.clone(),
                r.driver.to_string(),
                place,
                r.updated_at.clone(),
            ]);
        }
    }
    if rows.len() == 1 {
        if !settings.quiet {
            eprintln!("No resources recorded in {}.", store.describe());
        }
        return Ok(ExitCode::SUCCESS);
    }
    super::output::print_data(&table(&rows))?;
    Ok(ExitCode::SUCCESS)
}

/// Left-aligned columns separated by two spaces.
pub fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(c, s)| format!("{s:width$}", width = widths[c]))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}
