//! `sandboxer inspect <id|address>`: the record, what is observed now, the last notes.
//! `sandboxer inspect vm/NAME`: every sandbox and image on one VM across projects,
//! what its workspace roots hold now, its tunnel port, each one's last notes.

use std::collections::{BTreeMap, BTreeSet};
use std::process::ExitCode;

use clap::Args;

use sandboxer::address::Address;
use sandboxer::driver::Location;
use sandboxer::driver::local::read_marker;
use sandboxer::report::outputs::{InspectOutput, ObservedMarker, VmInspectOutput, VmResource, WorkspaceSeen};
use sandboxer::safety::printable;
use sandboxer::state::{Record, Snapshot, StateStore};

use super::Settings;
use super::args::StateArg;
use super::output::Hinted;

#[derive(Debug, Args)]
pub struct Opts {
    /// A sandbox id, an address such as sandbox.my-app, or a VM as vm/NAME
    pub what: String,
    #[command(flatten)]
    pub state: StateArg,
    /// How many of the last notes to show
    #[arg(long, default_value_t = 20)]
    pub notes: usize,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

pub fn run(opts: &Opts, settings: &Settings) -> anyhow::Result<ExitCode> {
    if let Some(vm) = super::vm::parse_vm_address(&opts.what) {
        return inspect_vm(vm?, opts, settings);
    }
    let store = opts.state.store(settings)?;
    super::engine::runtime()?.block_on(async {
        let projects = store.load_all().await?;
        let found = records_named(&projects, &opts.what, None);
        let (project, record) = match found.as_slice() {
            [one] => *one,
            [] => {
                return Err(Hinted {
                    message: format!("no sandbox or image `{}` in {}", opts.what, store.describe()),
                    hint: "`sandboxer list` shows what is recorded".into(),
                }
                .into());
            }
            many => return Err(in_several_projects(&opts.what, many, "inspect it by id")),
        };
        let here = sandboxer::observe::record_location(record) == Location::Local;
        let workspace = record.facts.get("workspace");
        let marker = workspace
            .filter(|_| here)
            .and_then(|path| read_marker(std::path::Path::new(path)));
        // Unreadable notes do not hide the record: it is shown, then the error.
        let notes = store.notes(&record.id, opts.notes).await;
        if opts.json {
            let value = InspectOutput {
                project: project.clone(),
                record: record.clone(),
                observed: ObservedMarker { marker },
                notes: notes.as_ref().ok().cloned(),
                notes_error: notes.as_ref().err().map(ToString::to_string),
            };
            super::output::print_data(&(serde_json::to_string_pretty(&value)? + "\n"))?;
            return notes.map(|_| ExitCode::SUCCESS).map_err(Into::into);
        }
        // Everything below comes from the state or a hub: escaped for the terminal.
        let p = |s: &str| printable(s);
        let mut out = format!(
            "{} (id {})\n  project:  {}\n  profile:  {}\n  driver:   {}\n",
            record.address,
            p(&record.id),
            p(project),
            p(&record.profile),
            record.driver
        );
        for (k, v) in &record.facts {
            out.push_str(&format!("  {}: {}\n", p(k), p(v)));
        }
        out.push_str(&format!(
            "  created:  {}\n  updated:  {}\n",
            p(&record.created_at),
            p(&record.updated_at)
        ));
        push_provenance(&mut out, record.provenance.as_deref());
        out.push_str("  attributes:\n");
        for (k, v) in &record.attributes {
            out.push_str(&format!("    {} = {}\n", p(k), p(&v.to_string())));
        }
        for (k, v) in &record.digests {
            out.push_str(&format!("    {}_digest = {}\n", p(k), p(v)));
        }
        out.push_str("  observed:\n");
        match (&marker, here && workspace.is_some()) {
            (Some(m), _) => out.push_str(&format!(
                "    workspace present, marker id {}, {}\n",
                p(&m.id),
                if m.complete {
                    "complete"
                } else {
                    "incomplete (interrupted)"
                }
            )),
            (None, true) => out.push_str("    workspace missing (the next plan re-creates it)\n"),
            (None, false) => out.push_str("    not looked at (run `sandboxer plan` to observe remote resources)\n"),
        }
        out.push_str(&format!("  notes (last {}):\n", opts.notes));
        let list = notes.as_deref().unwrap_or_default();
        match &notes {
            Err(_) => out.push_str("    (unreadable: see the error below)\n"),
            Ok(list) if list.is_empty() => out.push_str("    (none)\n"),
            Ok(_) => {}
        }
        for n in list {
            push_note(&mut out, n, "    ");
        }
        super::output::print_data(&out)?;
        notes.map(|_| ExitCode::SUCCESS).map_err(Into::into)
    })
}

/// `inspect vm/NAME`: the records on the VM from the store (hub or local), then
/// one listing on the VM; a VM that does not answer is reported, the records
/// are still shown.
fn inspect_vm(vm: &str, opts: &Opts, settings: &Settings) -> anyhow::Result<ExitCode> {
    let store = opts.state.store(settings)?;
    let runtime = super::engine::runtime()?;
    let projects = runtime.block_on(store.load_all())?;
    let found: Vec<(&String, &Record)> = projects
        .iter()
        .flat_map(|(p, s)| s.records.values().map(move |r| (p, r)))
        .filter(|(_, r)| super::vm::is_on(r, vm))
        .collect();
    let mut target = super::vm::target_of(found.iter().map(|(_, r)| *r), vm);
    if target.port.is_none() {
        target.port = registered_port(vm, opts, settings);
    }
    let roots: BTreeSet<String> = found
        .iter()
        .filter_map(|(_, r)| r.facts.get("workspace"))
        .filter_map(|w| std::path::Path::new(w).parent())
        .map(|root| root.to_string_lossy().into_owned())
        .collect();
    let listing = super::vm::list_workspaces(&target, &roots, settings)?;
    let catalog = runtime
        .block_on(store.vm_capabilities())
        .map(|mut all| all.remove(vm))
        .map_err(|e| e.to_string());
    let mut notes = Vec::with_capacity(found.len());
    for (_, record) in &found {
        notes.push(runtime.block_on(store.notes(&record.id, opts.notes)));
    }
    let state_of = |record: &Record| -> WorkspaceSeen {
        match (record.facts.get("workspace"), &listing) {
            (None, _) => WorkspaceSeen::NoWorkspace,
            (Some(_), Err(_)) => WorkspaceSeen::NotLookedAt,
            (Some(w), Ok(seen)) if seen.contains(w) => WorkspaceSeen::Present,
            (Some(_), Ok(_)) => WorkspaceSeen::Missing,
        }
    };
    let recorded: BTreeSet<&String> = found.iter().filter_map(|(_, r)| r.facts.get("workspace")).collect();
    let unrecorded: Vec<&String> = match &listing {
        Ok(seen) => seen.iter().filter(|w| !recorded.contains(w)).collect(),
        Err(_) => Vec::new(),
    };
    if opts.json {
        let resources = found
            .iter()
            .zip(&notes)
            .map(|((project, record), notes)| VmResource {
                project: (*project).clone(),
                record: (*record).clone(),
                observed: state_of(record),
                notes: notes.as_ref().ok().cloned(),
                notes_error: notes.as_ref().err().map(ToString::to_string),
            })
            .collect();
        let value = VmInspectOutput {
            vm: vm.to_string(),
            tunnel_port: target.port,
            reachable: listing.is_ok(),
            error: listing.as_ref().err().cloned(),
            resources,
            unrecorded_workspaces: unrecorded.into_iter().cloned().collect(),
            capabilities: catalog.as_ref().ok().cloned().flatten(),
            capabilities_error: catalog.as_ref().err().cloned(),
        };
        super::output::print_data(&(serde_json::to_string_pretty(&value)? + "\n"))?;
        return Ok(ExitCode::SUCCESS);
    }
    let p = |s: &str| printable(s);
    let mut out = format!("vm/{vm}\n");
    out.push_str(&format!(
        "  tunnel port: {}\n",
        target
            .port
            .map_or("(the ssh config's)".to_string(), |port| port.to_string())
    ));
    match &listing {
        Ok(seen) => out.push_str(&format!("  reachable: yes ({} sbx-* folder(s) found)\n", seen.len())),
        Err(e) => out.push_str(&format!("  reachable: no: {}\n", p(e))),
    }
    out.push_str(&format!("  resources ({}):\n", found.len()));
    if found.is_empty() {
        out.push_str(&format!("    (none recorded in {})\n", store.describe()));
    }
    for ((project, record), notes) in found.iter().zip(&notes) {
        out.push_str(&format!(
            "    {} {} (id {}) {}: {}\n",
            p(project),
            record.address,
            p(&record.id),
            record.facts.get("workspace").map_or("-".to_string(), |w| p(w)),
            state_of(record).as_str()
        ));
        match notes {
            Err(e) => out.push_str(&format!("      notes unreadable: {}\n", p(&e.to_string()))),
            Ok(list) => {
                for n in list {
                    push_note(&mut out, n, "      ");
                }
            }
        }
    }
    if !unrecorded.is_empty() {
        out.push_str("  workspaces without a record:\n");
        for w in &unrecorded {
            out.push_str(&format!("    {}\n", p(w)));
        }
    }
    match &catalog {
        Err(e) => out.push_str(&format!("  capabilities: unreadable: {}\n", p(e))),
        Ok(None) => out.push_str("  capabilities: none recorded (`sandboxer doctor --vm NAME` probes them)\n"),
        Ok(Some(entry)) => {
            out.push_str(&format!("  capabilities (observed {}):\n", p(&entry.observed_at)));
            let rows = entry.rows();
            let width = rows.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
            for (name, capability) in rows {
                let shown_as = if name.starts_with("free_disk") {
                    "free_disk"
                } else {
                    &name
                };
                out.push_str(&format!(
                    "    {:width$}  {}  ({})\n",
                    p(&name),
                    p(&capability.shown(shown_as)),
                    p(&capability.source)
                ));
            }
        }
    }
    super::output::print_data(&out)?;
    Ok(ExitCode::SUCCESS)
}

/// The VM's port in the port registry, when there is one that loads (a view,
/// not a check: a broken registry is only logged).
fn registered_port(vm: &str, opts: &Opts, settings: &Settings) -> Option<u16> {
    let path = match settings.port_registry_path(opts.state.file.as_deref()) {
        Ok(path) => path?,
        Err(e) => {
            tracing::warn!("the port registry is not used: {e}");
            return None;
        }
    };
    match sandboxer::port_registry::load(&path) {
        Ok(registry) => registry.port_of(vm),
        Err(problems) => {
            tracing::warn!(
                "the port registry is not used: {}",
                sandboxer::diagnostic::Diagnostics(problems)
            );
            None
        }
    }
}

/// Who applied the record, with which sandboxer, from which commit of the manifest.
fn push_provenance(out: &mut String, provenance: Option<&sandboxer::provenance::Provenance>) {
    let Some(provenance) = provenance else {
        out.push_str("  applied by: (not recorded: written before sandboxer recorded it)\n");
        return;
    };
    let p = |s: &str| printable(s);
    out.push_str(&format!(
        "  applied by: {}\n  sandboxer:  {}\n",
        provenance.applied_by.as_deref().map_or("(unknown)".to_string(), p),
        p(&provenance.sandboxer_version)
    ));
    match &provenance.git {
        None => out.push_str("  commit:     (none: not applied from a manifest in a git work tree)\n"),
        Some(git) => out.push_str(&format!(
            "  commit:     {}\n  branch:     {}\n  dirty:      {}\n",
            p(&git.commit),
            git.branch.as_deref().map_or("(detached HEAD)".to_string(), p),
            if git.dirty {
                "yes (uncommitted changes when applied)"
            } else {
                "no"
            }
        )),
    }
}

/// One progress note as `at level text`, after `indent`: a note's own lines
/// stay lines (indented two more), anything else is escaped.
fn push_note(out: &mut String, note: &sandboxer::state::Note, indent: &str) {
    let text: Vec<String> = note.text.split('\n').map(printable).collect();
    out.push_str(&format!(
        "{indent}{} {:5} {}\n",
        printable(&note.at),
        printable(&note.level),
        text.join(&format!("\n{indent}  "))
    ));
}

/// The records named `what` (an id or an address) in `projects`, with their
/// project; only those of `project` when one is given.
pub fn records_named<'a>(
    projects: &'a BTreeMap<String, Snapshot>,
    what: &str,
    project: Option<&str>,
) -> Vec<(&'a String, &'a Record)> {
    let address: Option<Address> = what.parse().ok();
    projects
        .iter()
        .filter(|(p, _)| project.is_none_or(|wanted| wanted == p.as_str()))
        .flat_map(|(p, s)| s.records.values().map(move |r| (p, r)))
        .filter(|(_, r)| r.id == what || Some(&r.address) == address.as_ref())
        .collect()
}

/// The refusal of a name (`what`) recorded in the projects of `many`.
pub fn in_several_projects(what: &str, many: &[(&String, &Record)], hint: &str) -> anyhow::Error {
    let projects: Vec<&str> = many.iter().map(|(p, _)| p.as_str()).collect();
    Hinted {
        message: format!(
            "`{}` is recorded in several projects: {}",
            printable(what),
            projects.join(", ")
        ),
        hint: hint.into(),
    }
    .into()
}
