//! `sandboxer plan`: what apply would do, and why.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, ValueEnum};

use sandboxer::address::Address;
use sandboxer::plan::Plan;
use sandboxer::plan::render::{self, Style};
use sandboxer::plan::saved::PlanDocument;

use super::Settings;
use super::args::ManifestArg;
use super::engine::{Engine, PlanScope};
use super::output::{Reported, print_data};
use super::provenance::Git;
use super::validate::load_desired;

#[derive(Debug, Args)]
pub struct Opts {
    #[command(flatten)]
    pub manifest: ManifestArg,
    /// Plan only these resources (and what they depend on); repeatable
    #[arg(long = "target", value_name = "ADDR")]
    pub targets: Vec<Address>,
    /// Plan to destroy this resource and make it anew although nothing changed (an image is rebuilt, and what depends on it replaced); repeatable
    #[arg(long = "replace", value_name = "ADDR", conflicts_with = "destroy")]
    pub replace: Vec<Address>,
    /// Show what `sandboxer destroy` would do (with --target: those resources and what depends on them)
    #[arg(long, conflicts_with = "out")]
    pub destroy: bool,
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

pub fn run(opts: &Opts, settings: &Settings) -> anyhow::Result<ExitCode> {
    let desired = load_desired(&opts.manifest.file, settings)?;
    let state_dir = settings.state_dir_for(&opts.manifest.dir());
    let store = super::store::open(settings, &state_dir, desired.hub.as_ref())?;
    let engine = Engine::new(&state_dir, settings);
    let mut desired = desired;
    let (plan, observed) = engine.run(async {
        engine.key(&mut desired, &store).await?;
        let scope = PlanScope {
            targets: opts.targets.clone(),
            replace: opts.replace.clone(),
            destroy: opts.destroy,
        };
        let (plan, observed) = engine.plan(&desired, &store, &scope).await?;
        scope.check_destroyed(&desired, &plan)?;
        Ok((plan, observed))
    })?;
    if let Some(path) = &opts.out {
        save(&document_text(&plan)?, path)?;
    }
    let format = if opts.json { Format::Json } else { opts.format };
    // Git is asked only for what shows it: the Markdown heading, the text's note.
    let git = match format {
        Format::Markdown => Git::default().read(&opts.manifest.file),
        Format::Text if !settings.quiet => Git::default().read(&opts.manifest.file),
        _ => None,
    };
    let text = match format {
        // The document --out saves, digest included: one format and one schema
        // (schemas/plan.schema.json), and a plan kept from `plan --json > FILE`
        // is checked by apply as one saved with --out is.
        Format::Json => document_text(&plan)?,
        Format::Markdown => render::markdown(&plan, git.as_ref()),
        Format::Text => render::text(
            &plan,
            Style {
                color: settings.colors.stdout,
            },
        ),
    };
    print_data(&text)?;
    if format == Format::Text
        && let Some(git) = git.as_ref().filter(|g| g.dirty)
    {
        eprintln!(
            "note: the git work tree of {} has uncommitted changes (HEAD {}{}); records applied now say dirty",
            opts.manifest.file.display(),
            git.short_commit(),
            git.branch.as_ref().map(|b| format!(" on {b}")).unwrap_or_default()
        );
    }
    if let Some(path) = &opts.out
        && !settings.quiet
    {
        eprintln!(
            "Saved the plan to {}; apply it with: sandboxer apply {}",
            path.display(),
            path.display()
        );
    }
    // A plan made without looking at a VM, or at a repo, is not one to trust: say so, exit 1.
    let unread: Vec<String> = observed
        .repo_digests
        .iter()
        .filter_map(|(address, digest)| digest.as_ref().err().map(|e| format!("\n  {address}: {e}")))
        .collect();
    if !observed.location_errors.is_empty() || !unread.is_empty() {
        let n = observed.location_errors.len();
        let mut message = if n > 0 {
            format!(
                "could not observe {n} location{}; the plan above does not know what is there",
                if n == 1 { "" } else { "s" }
            )
        } else {
            format!(
                "could not read the repo of {} sandbox(es); their changes above are guesses",
                unread.len()
            )
        };
        for (site, error) in &observed.location_errors {
            message.push_str(&format!("\n  {}: {error}", site.location));
            if let Some(hint) = error.hint() {
                message.push_str(&format!("\n    hint: {hint}"));
            }
        }
        if n > 0 && !unread.is_empty() {
            message.push_str("\nand could not read these repos:");
        }
        message.extend(unread);
        return Err(Reported(message).into());
    }
    if plan.summary.refused > 0 {
        return Err(Reported(super::output::refused_message(&plan)).into());
    }
    Ok(if opts.detailed_exitcode && plan.summary.has_changes() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

/// The plan as a JSON document, sealed with its digest (only JSON carries one:
/// text and Markdown are for people, and are never applied).
fn document_text(plan: &Plan) -> anyhow::Result<String> {
    let document = PlanDocument::seal(plan.clone()).context("cannot write the plan as JSON")?;
    Ok(serde_json::to_string_pretty(&document)? + "\n")
}

fn save(text: &str, path: &std::path::Path) -> anyhow::Result<()> {
    sandboxer::fsutil::write_atomic(path, text.as_bytes())
        .with_context(|| format!("cannot save the plan to {}", path.display()))
}
