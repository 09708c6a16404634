//! `sandboxer plan`: what apply would do, and why.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, ValueEnum};

use sandboxer::address::Address;
use sandboxer::plan::Plan;
use sandboxer::plan::render::{self, Style};

use super::Settings;
use super::common::{self, ManifestArg};
use super::validate::load_desired;

#[derive(Debug, Args)]
pub struct Opts {
    #[command(flatten)]
    pub manifest: ManifestArg,
    /// Plan only these resources (and what they depend on); repeatable
    #[arg(long = "target", value_name = "ADDR")]
    pub targets: Vec<Address>,
    /// Save the plan to apply it later with `sandboxer apply PLAN`
    #[arg(long, value_name = "PLAN")]
    pub out: Option<PathBuf>,
    /// Print the plan as JSON (schemas/plan.schema.json)
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Exit 0 when there is nothing to do, 2 when there are changes, 1 on error
    #[arg(long)]
    pub detailed_exitcode: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
    Markdown,
}

pub fn run(opts: &Opts, settings: &Settings, color: bool) -> anyhow::Result<ExitCode> {
    let desired = load_desired(&opts.manifest.file, settings)?;
    let state_dir = settings.state_dir_for(&opts.manifest.dir());
    let store = common::store(settings, &state_dir, desired.hub.as_ref())?;
    let drivers = common::drivers(&state_dir, settings);
    let (plan, observed) = common::run_with(&drivers, common::plan(&desired, &store, &drivers, &opts.targets))?;
    if let Some(path) = &opts.out {
        save(&plan, path)?;
    }
    let format = if opts.json { Format::Json } else { opts.format };
    let text = match format {
        Format::Json => serde_json::to_string_pretty(&plan)? + "\n",
        Format::Markdown => render::markdown(&plan),
        Format::Text => render::text(
            &plan,
            Style {
                color: color && std::io::stdout().is_terminal(),
            },
        ),
    };
    print_data(&text)?;
    if let Some(path) = &opts.out
        && !settings.quiet
    {
        eprintln!(
            "Saved the plan to {}; apply it with: sandboxer apply {}",
            path.display(),
            path.display()
        );
    }
    // A plan made without looking at a VM is not one to trust: say so, exit 1.
    if !observed.location_errors.is_empty() {
        let mut message = format!(
            "could not observe {} location{}; the plan above does not know what is there",
            observed.location_errors.len(),
            if observed.location_errors.len() == 1 { "" } else { "s" }
        );
        for (location, error) in &observed.location_errors {
            message.push_str(&format!("\n  {location}: {error}"));
        }
        return Err(super::output::Reported(message).into());
    }
    Ok(if opts.detailed_exitcode && plan.summary.has_changes() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

/// Writes data on stdout; a closed pipe (`plan | head`) is not an error.
pub fn print_data(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("cannot write to stdout"),
    }
}

fn save(plan: &Plan, path: &std::path::Path) -> anyhow::Result<()> {
    let bytes = serde_json::to_vec_pretty(plan)?;
    sandboxer::fsutil::write_atomic(path, &bytes).with_context(|| format!("cannot save the plan to {}", path.display()))
}
