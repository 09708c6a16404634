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
    /// Only the sandboxes and images on this VM (its ssh alias)
    #[arg(long, value_name = "NAME")]
    pub vm: Option<String>,
    /// The capability catalog instead: what each VM was last seen to offer
    #[arg(long, conflicts_with = "vm")]
    pub vms: bool,
}

pub fn run(opts: &Opts, settings: &Settings) -> anyhow::Result<ExitCode> {
    let store = opts.state.store(settings)?;
    if opts.vms {
        return list_vms(opts, settings, &store);
    }
    let mut projects = super::engine::runtime()?.block_on(store.load_all())?;
    if let Some(vm) = &opts.vm {
        for snap in projects.values_mut() {
            snap.records.retain(|_, r| super::vm::is_on(r, vm));
        }
    }
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
        [
            "PROJECT",
            "ADDRESS",
            "ID",
            "DRIVER",
            "WHERE",
            "UPDATED",
            "APPLIED BY",
            "COMMIT",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for (project, snap) in &projects {
        for r in snap.records.values() {
            let place = match (r.facts.get("location"), r.facts.get("workspace")) {
                (_, Some(w)) => sandboxer::observe::record_location(r).show_path(w),
                (Some(location), None) => location.clone(),
                (None, None) => "-".to_string(),
            };
            let provenance = r.provenance.as_deref();
            rows.push(vec![
                project.clone(),
                r.address.to_string(),
                r.id.clone(),
                r.driver.to_string(),
                place,
                r.updated_at.to_string(),
                provenance
                    .and_then(|p| p.applied_by.as_ref())
                    .map_or("-".to_string(), ToString::to_string),
                provenance
                    .and_then(|p| p.git.as_ref())
                    .map_or("-".to_string(), |g| g.short()),
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

/// `list --vms`: one row per VM of the catalog.
fn list_vms(opts: &Opts, settings: &Settings, store: &sandboxer::state::AnyStore) -> anyhow::Result<ExitCode> {
    let catalog = super::engine::runtime()?.block_on(store.vm_capabilities())?;
    if opts.json {
        let entries: Vec<_> = catalog.values().collect();
        super::output::print_data(&(serde_json::to_string_pretty(&entries)? + "\n"))?;
        return Ok(ExitCode::SUCCESS);
    }
    if catalog.is_empty() {
        if !settings.quiet {
            eprintln!(
                "No VM capabilities recorded in {}; `sandboxer plan`, `apply` and `doctor` probe them.",
                store.describe()
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut rows = vec![
        [
            "VM",
            "OBSERVED",
            "OS",
            "ARCH",
            "CORES",
            "MEMORY",
            "FREE DISK",
            "CAPABILITIES",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for entry in catalog.values() {
        let value = |name: &str| entry.capabilities.get(name).map_or("-".to_string(), |c| c.shown(name));
        let os = format!("{} {}", value("os"), value("os_version"));
        let disk: Vec<String> = entry
            .free_disk
            .iter()
            .map(|(root, c)| format!("{root} {}", c.shown("free_disk")))
            .collect();
        let others: Vec<String> = entry
            .capabilities
            .iter()
            .filter(|(name, _)| !sandboxer::capability::FACTS.contains(&name.as_str()))
            .map(|(name, c)| format!("{name} {}", c.shown(name)))
            .collect();
        rows.push(vec![
            entry.name.clone(),
            entry.observed_at.clone(),
            os,
            value("arch"),
            value("cores"),
            value("memory"),
            if disk.is_empty() { "-".into() } else { disk.join(", ") },
            if others.is_empty() {
                "-".into()
            } else {
                others.join(", ")
            },
        ]);
    }
    super::output::print_data(&table(&rows))?;
    Ok(ExitCode::SUCCESS)
}

/// Left-aligned columns separated by two spaces. Cells come from the state or
/// a hub (untrusted): control characters are shown escaped, never sent to the
/// terminal.
pub fn table(rows: &[Vec<String>]) -> String {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(|c| sandboxer::safety::printable(c)).collect())
        .collect();
    let rows = rows.as_slice();
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
