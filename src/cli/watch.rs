//! `sandboxer watch`: apply, then apply again whenever the manifest, a profile, a
//! synced repo or a Packer template changes (and, with `--interval`, every so
//! often to catch drift on the VMs). Changes are applied without asking.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use notify::{RecursiveMode, Watcher};
use tokio::sync::{mpsc, watch};

use sandboxer::plan::render;
use sandboxer::watch::{WatchSet, next_burst};

use super::Settings;
use super::args::ManifestArg;
use super::engine::{Engine, runtime};
use super::output::{print_diagnostics, print_error, print_plan};
use super::run::{Execution, RunOpts, interrupt_handler};
use super::validate::load_desired;

#[derive(Debug, Args)]
pub struct Opts {
    #[command(flatten)]
    pub manifest: ManifestArg,
    /// Quiet time after the last file event before reapplying
    #[arg(long, default_value = "500ms", value_name = "DURATION", value_parser = sandboxer::duration::parse)]
    pub debounce: Duration,
    /// Also re-plan this often without a file change (drift on VMs); 0 = only on changes
    #[arg(long, default_value = "0", value_name = "DURATION", value_parser = sandboxer::duration::parse)]
    pub interval: Duration,
    #[command(flatten)]
    pub run: RunOpts,
}

pub fn run(opts: &Opts, settings: &Settings) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(watch_loop(opts, settings))
}

async fn watch_loop(opts: &Opts, settings: &Settings) -> anyhow::Result<ExitCode> {
    let (tx, mut events) = mpsc::unbounded_channel::<PathBuf>();
    let mut watcher = notify::recommended_watcher(move |result: notify::Result<notify::Event>| {
        // Reads (ours included: planning reads every repo file) are not changes.
        if let Ok(event) = result
            && is_change(&event.kind)
        {
            for path in event.paths {
                let _ = tx.send(path);
            }
        }
    })?;
    let stop = interrupt_handler();
    let mut watched: Vec<(PathBuf, bool)> = Vec::new();
    let mut set = WatchSet::default();
    let mut failures = 0u32;
    loop {
        let (new_set, result) = cycle(opts, settings, stop.clone()).await;
        if let Some(new_set) = new_set {
            set = new_set;
        }
        if set.files.is_empty() {
            // No good manifest yet: at least its own file is watched.
            set.files
                .insert(std::path::absolute(&opts.manifest.file).unwrap_or_else(|_| opts.manifest.file.clone()));
        }
        if let Err(e) = result {
            failures += 1;
            print_error(&e, settings.colors.stderr);
        }
        if *stop.borrow() {
            break;
        }
        // Follow the inputs as they are now (a new repo, a removed template).
        let roots = set.watch_roots();
        if roots != watched {
            for (path, _) in &watched {
                let _ = watcher.unwatch(path);
            }
            for (path, recursive) in &roots {
                let mode = if *recursive {
                    RecursiveMode::Recursive
                } else {
                    RecursiveMode::NonRecursive
                };
                if let Err(e) = watcher.watch(path, mode) {
                    tracing::warn!("cannot watch {}: {e}", path.display());
                }
            }
            watched = roots;
        }
        if !settings.quiet {
            eprintln!(
                "Watching {} for changes (Ctrl-C to stop).",
                opts.manifest.file.display()
            );
        }
        let reason = wait_for_change(&mut events, &set, opts, stop.clone()).await;
        match reason {
            None => break,
            Some(paths) if !settings.quiet => {
                let shown: Vec<String> = paths.iter().take(3).map(|p| p.display().to_string()).collect();
                let more = if paths.len() > 3 {
                    format!(" and {} more", paths.len() - 3)
                } else {
                    String::new()
                };
                eprintln!("\nChanged: {}{more}", shown.join(", "));
            }
            Some(_) => {}
        }
    }
    if !settings.quiet {
        eprintln!("Stopped watching.");
    }
    Ok(if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn is_change(kind: &notify::EventKind) -> bool {
    use notify::EventKind;
    use notify::event::{MetadataKind, ModifyKind};
    match kind {
        EventKind::Access(_) | EventKind::Modify(ModifyKind::Metadata(MetadataKind::AccessTime)) => false,
        EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_) | EventKind::Any | EventKind::Other => true,
    }
}

/// Waits for a relevant burst of file events, the interval, or a stop.
async fn wait_for_change(
    events: &mut mpsc::UnboundedReceiver<PathBuf>,
    set: &WatchSet,
    opts: &Opts,
    mut stop: watch::Receiver<bool>,
) -> Option<Vec<PathBuf>> {
    let interval = async {
        if opts.interval.is_zero() {
            std::future::pending::<()>().await;
        }
        tokio::time::sleep(opts.interval).await;
    };
    tokio::pin!(interval);
    loop {
        tokio::select! {
            burst = next_burst(events, opts.debounce) => {
                let relevant: Vec<PathBuf> = burst?.into_iter().filter(|p| set.is_relevant(p)).collect();
                if !relevant.is_empty() {
                    return Some(relevant);
                }
            }
            () = &mut interval => return Some(vec![PathBuf::from("(interval)")]),
            _ = stop.changed() => return None,
        }
    }
}

/// One plan-and-apply; returns what to watch next (None when the manifest is
/// invalid: the last good set stays) and how the apply went.
async fn cycle(
    opts: &Opts,
    settings: &Settings,
    stop: watch::Receiver<bool>,
) -> (Option<WatchSet>, anyhow::Result<()>) {
    let desired = match load_desired(&opts.manifest.file, settings) {
        Ok(d) => d,
        Err(problems) => {
            print_diagnostics(&problems, settings.colors.stderr);
            eprintln!("Fix the manifest; watching for the next change.");
            return (None, Ok(()));
        }
    };
    let state_dir = settings.state_dir_for(&opts.manifest.dir());
    let profile_dirs: Vec<PathBuf> = std::iter::once(opts.manifest.dir().join("profiles"))
        .chain(settings.profiles_dir.clone())
        .collect();
    let registry = settings.env.get("SANDBOXER_PORT_REGISTRY").map(PathBuf::from);
    let set = WatchSet::of(&desired, &profile_dirs, &state_dir, registry.as_deref());
    let store = match super::store::open(settings, &state_dir, desired.hub.as_ref()) {
        Ok(store) => store,
        Err(e) => return (Some(set), Err(e)),
    };
    let engine = Engine::new(&state_dir, settings);
    let project = desired.project.clone();
    let work = async {
        let (plan, observed) = engine.plan(&desired, &store, &[]).await?;
        if !plan.summary.has_changes() {
            if !settings.quiet {
                println!("{}", render::NO_CHANGES);
            }
            return Ok(());
        }
        if !settings.quiet && !opts.run.json {
            print_plan(&plan, settings.colors)?;
        }
        Execution {
            plan: &plan,
            desired,
            observed,
            store: &store,
            engine: &engine,
            opts: &opts.run,
            settings,
        }
        .run_with_cancel(stop)
        .await
        .map(|_| ())
    };
    // Another apply may be running: wait for it a while rather than fail the cycle.
    let timeout = opts.run.lock_timeout.max(Duration::from_secs(30));
    let result = super::store::locked(&store, &project, "watch", timeout, work).await;
    engine.drivers.close().await;
    (Some(set), result)
}
