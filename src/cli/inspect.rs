//! `sandboxer inspect <id|address>`: the record, what is observed now, the last notes.

use std::process::ExitCode;

use clap::Args;
use serde_json::json;

use sandboxer::address::Address;
use sandboxer::driver::local::read_marker;
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
        let marker = match (
            record.facts.get("location").map(String::as_str),
            record.facts.get("workspace"),
        ) {
            (Some("local"), Some(path)) => read_marker(std::path::Path::new(path)),
            _ => None,
        };
        let notes = store.notes(&record.id, opts.notes).await?;
        if opts.json {
            let value = json!({"project": project, "record": record, "observed": {"marker": marker}, "notes": notes});
            super::output::print_data(&(serde_json::to_string_pretty(&value)? + "\n"))?;
            return Ok(ExitCode::SUCCESS);
        }
        let mut out = format!(
            "{} (id {})\n  project:  {project}\n  profile:  {}\n  driver:   {}\n",
            record.address, record.id, record.profile, record.driver
        );
        for (k, v) in &record.facts {
            out.push_str(&format!("  {k}: {v}\n"));
        }
        out.push_str(&format!(
            "  created:  {}\n  updated:  {}\n",
            record.created_at, record.updated_at
        ));
        out.push_str("  attributes:\n");
        for (k, v) in &record.attributes {
            out.push_str(&format!("    {k} = {v}\n"));
        }
        for (k, v) in &record.digests {
            out.push_str(&format!("    {k}_digest = {v}\n"));
        }
        out.push_str("  observed:\n");
        match (&marker, record.facts.get("location").map(String::as_str)) {
            (Some(m), _) => out.push_str(&format!(
                "    workspace present, marker id {}, {}\n",
                m.id,
                if m.complete {
                    "complete"
                } else {
                    "incomplete (interrupted)"
                }
            )),
            (None, Some("local")) => out.push_str("    workspace missing (the next plan re-creates it)\n"),
            (None, _) => out.push_str("    not looked at (run `sandboxer plan` to observe remote resources)\n"),
        }
        out.push_str(&format!("  notes (last {}):\n", opts.notes));
        if notes.is_empty() {
            out.push_str("    (none)\n");
        }
        for n in &notes {
            out.push_str(&format!(
                "    {} {:5} {}\n",
                n.at,
                n.level,
                n.text.replace('\n', "\n      ")
            ));
        }
        super::output::print_data(&out)?;
        Ok(ExitCode::SUCCESS)
    })
}
