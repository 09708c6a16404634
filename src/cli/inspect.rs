//! `sandboxer inspect <id|address>`: the record, what is observed now, the last notes.

use std::process::ExitCode;

use clap::Args;
use serde_json::json;

use sandboxer::address::Address;
use sandboxer::driver::Location;
use sandboxer::driver::local::read_marker;
use sandboxer::safety::printable;
use sandboxer::state::{Record, StateStore};

use super::Settings;
use super::args::StateArg;
use super::output::Hinted;

#[derive(Debug, Args)]
pub struct Opts {
    /// A sandbox id, or an address such as sandbox.my-app
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
    let store = opts.state.store(settings)?;
    super::engine::runtime()?.block_on(async {
        let projects = store.load_all().await?;
        let address: Option<Address> = opts.what.parse().ok();
        let found: Vec<(&String, &Record)> = projects
            .iter()
            .flat_map(|(p, s)| s.records.values().map(move |r| (p, r)))
            .filter(|(_, r)| r.id == opts.what || Some(&r.address) == address.as_ref())
            .collect();
        let (project, record) = match found.as_slice() {
            [one] => *one,
            [] => {
                return Err(Hinted {
                    message: format!("no sandbox or image `{}` in {}", opts.what, store.describe()),
                    hint: "`sandboxer list` shows what is recorded".into(),
                }
                .into());
            }
            many => {
                let projects: Vec<&str> = many.iter().map(|(p, _)| p.as_str()).collect();
                return Err(Hinted {
                    message: format!(
                        "`{}` is recorded in several projects: {}",
                        opts.what,
                        projects.join(", ")
                    ),
                    hint: "inspect it by id".into(),
                }
                .into());
            }
        };
        let here = sandboxer::observe::record_location(record) == Location::Local;
        let workspace = record.facts.get("workspace");
        let marker = workspace
            .filter(|_| here)
            .and_then(|path| read_marker(std::path::Path::new(path)));
        // Unreadable notes do not hide the record: it is shown, then the error.
        let notes = store.notes(&record.id, opts.notes).await;
        if opts.json {
            let (list, error) = match &notes {
                Ok(list) => (json!(list), None),
                Err(e) => (serde_json::Value::Null, Some(e.to_string())),
            };
            let value = json!({"project": project, "record": record, "observed": {"marker": marker}, "notes": list, "notes_error": error});
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
            // A note's own lines stay lines; anything else is escaped.
            let text: Vec<String> = n.text.split('\n').map(p).collect();
            out.push_str(&format!(
                "    {} {:5} {}\n",
                p(&n.at),
                p(&n.level),
                text.join("\n      ")
            ));
        }
        super::output::print_data(&out)?;
        notes.map(|_| ExitCode::SUCCESS).map_err(Into::into)
    })
}
