//! `sandboxer watch`: apply, then apply again whenever the manifest, a profile, a
//! synced repo or a Packer template changes (and, with `--interval`, every so
//! often to catch drift on the VMs). Changes are applied without asking.
//!
//! A cycle never mass-deletes: when its plan would delete more recorded
//! resources than `--max-delete` allows (default: a quarter of the project's
//! records, at least 1), or every recorded sandbox of the project, those deletes
//! are held back and the rest of the plan is applied. Deletes of workspaces
//! without a record (leftovers of an interrupted apply, orphans, duplicates) are
//! not counted and go on.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use notify::{RecursiveMode, Watcher};
use tokio::sync::{mpsc, watch};

use sandboxer::address::{Address, ResourceKind};
use sandboxer::plan::{self, Action, Change, Plan, render};
use sandboxer::state::Record;
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
    /// Most deletes of recorded resources one cycle carries out [default: a
    /// quarter of the project's records, at least 1]; a cycle that would delete
    /// more, or every sandbox of the project, applies the rest and deletes none
    #[arg(long, value_name = "N")]
    pub max_delete: Option<usize>,
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
    let mut desired = desired;
    let work = async {
        engine.key(&mut desired, &store).await?;
        let (mut plan, observed) = engine
            .plan(&desired, &store, &super::engine::PlanScope::default())
            .await?;
        let held = hold_back(&mut plan, &observed.records, opts.max_delete);
        let say_held = |plan: &Plan| {
            if let Some(held) = &held {
                eprintln!("{}", held.message(plan, &opts.manifest.file));
            }
        };
        if !plan.summary.has_changes() {
            if plan.summary.refused > 0 {
                // Nothing to do but what the plan refuses: the cycle fails and says why.
                if !settings.quiet && !opts.run.json {
                    print_plan(&plan, settings.colors)?;
                }
                say_held(&plan);
                return Err(super::output::Reported(super::output::refused_message(&plan)).into());
            } else if held.is_some() {
                say_held(&plan);
            } else {
                super::output::print_nothing_to_do(opts.run.json, settings.quiet, &plan.project, render::NO_CHANGES)?;
            }
            return Ok(());
        }
        if !settings.quiet && !opts.run.json {
            print_plan(&plan, settings.colors)?;
        }
        say_held(&plan);
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

/// Why a cycle holds its deletes of recorded resources back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trip {
    /// More deletes than `limit` (`explicit`: given with `--max-delete`; else a
    /// quarter of the `recorded` resources, at least 1).
    TooMany {
        limit: usize,
        explicit: bool,
        recorded: usize,
    },
    /// They would delete every one of the project's `sandboxes` recorded sandboxes.
    EverySandbox { sandboxes: usize },
}

/// A plan's deletes of recorded resources, counted against the project's records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DeleteCounts {
    /// The project's records (sandboxes and images).
    recorded: usize,
    /// The project's recorded sandboxes.
    recorded_sandboxes: usize,
    /// Deletes of records (a replace is not a delete).
    deletes: usize,
    /// Of which deletes of sandboxes.
    sandbox_deletes: usize,
}

/// How many deletes of recorded resources one cycle may carry out: `--max-delete`,
/// else a quarter of the `recorded` resources, at least 1.
fn delete_limit(max_delete: Option<usize>, recorded: usize) -> usize {
    max_delete.unwrap_or((recorded / 4).max(1))
}

/// Whether (and why) deletes so counted are held back. Deleting every recorded
/// sandbox is held back whatever `--max-delete` says: a watch never empties a
/// project.
fn trip(counts: DeleteCounts, max_delete: Option<usize>) -> Option<Trip> {
    if counts.recorded_sandboxes > 0 && counts.sandbox_deletes >= counts.recorded_sandboxes {
        return Some(Trip::EverySandbox {
            sandboxes: counts.recorded_sandboxes,
        });
    }
    let limit = delete_limit(max_delete, counts.recorded);
    (counts.deletes > limit).then_some(Trip::TooMany {
        limit,
        explicit: max_delete.is_some(),
        recorded: counts.recorded,
    })
}

/// Whether `change` deletes a recorded resource, rather than a workspace without
/// a record (a leftover of an interrupted apply, an orphan, a duplicate).
fn deletes_record(change: &Change, records: &BTreeMap<Address, Record>) -> bool {
    change.action == Action::Delete
        && records
            .get(&change.address)
            .is_some_and(|r| change.id.as_deref() == Some(r.id.as_str()))
}

/// The deletes a cycle took out of its plan, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
struct HeldBack {
    /// The resources whose deletes were taken out.
    addresses: Vec<Address>,
    /// Why.
    trip: Trip,
}

/// Takes the deletes of recorded resources out of `plan` when they trip the
/// guard (see [`trip`]); the rest of the plan stays as it is.
fn hold_back(plan: &mut Plan, records: &BTreeMap<Address, Record>, max_delete: Option<usize>) -> Option<HeldBack> {
    let doomed: Vec<&Change> = plan.changes.iter().filter(|c| deletes_record(c, records)).collect();
    let counts = DeleteCounts {
        recorded: records.len(),
        recorded_sandboxes: records.keys().filter(|a| a.kind == ResourceKind::Sandbox).count(),
        deletes: doomed.len(),
        sandbox_deletes: doomed
            .iter()
            .filter(|c| c.address.kind == ResourceKind::Sandbox)
            .count(),
    };
    let tripped = trip(counts, max_delete)?;
    let addresses = doomed.iter().map(|c| c.address.clone()).collect();
    plan.changes.retain(|c| !deletes_record(c, records));
    plan.summary = plan::Summary::of(&plan.changes);
    Some(HeldBack {
        addresses,
        trip: tripped,
    })
}

impl HeldBack {
    /// What the operator reads: how many, why, which, and how to go on. `plan`
    /// is what the cycle carries out instead.
    fn message(&self, plan: &Plan, manifest: &Path) -> String {
        let n = self.addresses.len();
        let deletes = if n == 1 { "delete" } else { "deletes" };
        let why = match self.trip {
            Trip::TooMany {
                limit, explicit: true, ..
            } => format!("more than --max-delete {limit}"),
            Trip::TooMany { limit, recorded, .. } => format!(
                "more than --max-delete {limit} (a quarter of the {recorded} recorded resources of project {}, at least 1)",
                plan.project
            ),
            Trip::EverySandbox { sandboxes } => format!(
                "they would delete every recorded sandbox of project {} ({sandboxes} of {sandboxes})",
                plan.project
            ),
        };
        let shown: Vec<String> = self.addresses.iter().take(5).map(ToString::to_string).collect();
        let more = if n > 5 {
            format!(" and {} more", n - 5)
        } else {
            String::new()
        };
        let rest = if plan.summary.has_changes() {
            "the other changes are applied"
        } else {
            "there are no other changes"
        };
        let apply = format!("run `sandboxer apply -f {}` once", manifest.display());
        let hint = match self.trip {
            Trip::TooMany { .. } => format!(
                "if the manifest is meant to drop them, {apply} (it shows the deletes and asks), or restart the watch with `--max-delete {n}`"
            ),
            Trip::EverySandbox { .. } => format!(
                "if the manifest is meant to drop them, {apply} (it shows the deletes and asks); a watch never deletes every recorded sandbox of a project, whatever --max-delete says"
            ),
        };
        format!(
            "warning: held back {n} {deletes} of recorded resources: {why}\n  held back: {}{more}\n  {rest}; this watch deletes no recorded resource\n  hint: {hint}",
            shown.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sandboxer::driver::DriverName;
    use sandboxer::shared_str::SharedStr;

    fn counts(recorded: usize, recorded_sandboxes: usize, deletes: usize, sandbox_deletes: usize) -> DeleteCounts {
        DeleteCounts {
            recorded,
            recorded_sandboxes,
            deletes,
            sandbox_deletes,
        }
    }

    #[test]
    fn the_default_limit_is_a_quarter_of_the_records_and_at_least_one() {
        assert_eq!(delete_limit(None, 8), 2);
        assert_eq!(delete_limit(None, 11), 2, "a quarter, rounded down");
        assert_eq!(delete_limit(None, 100), 25);
        assert_eq!(delete_limit(None, 3), 1, "at least 1");
        assert_eq!(delete_limit(None, 0), 1);
        assert_eq!(trip(counts(8, 8, 2, 2), None), None, "2 of 8 is allowed");
        assert_eq!(
            trip(counts(8, 8, 3, 3), None),
            Some(Trip::TooMany {
                limit: 2,
                explicit: false,
                recorded: 8
            })
        );
        assert_eq!(
            trip(counts(8, 8, 6, 6), None).map(|t| matches!(t, Trip::TooMany { .. })),
            Some(true)
        );
        assert_eq!(trip(counts(3, 3, 1, 1), None), None, "1 of 3 is allowed");
        assert!(trip(counts(3, 3, 2, 2), None).is_some());
    }

    #[test]
    fn an_explicit_max_delete_replaces_the_quarter() {
        assert_eq!(delete_limit(Some(6), 8), 6);
        assert_eq!(trip(counts(8, 8, 6, 6), Some(6)), None);
        assert_eq!(
            trip(counts(8, 8, 7, 7), Some(6)),
            Some(Trip::TooMany {
                limit: 6,
                explicit: true,
                recorded: 8
            })
        );
        assert_eq!(delete_limit(Some(0), 8), 0, "0: no deletes of records at all");
        assert!(trip(counts(8, 8, 1, 1), Some(0)).is_some());
        assert_eq!(trip(counts(8, 8, 0, 0), Some(0)), None);
    }

    #[test]
    fn deleting_every_sandbox_is_held_back_whatever_the_limit() {
        // One sandbox: the quarter rule allows one delete, this rule does not.
        assert_eq!(
            trip(counts(1, 1, 1, 1), None),
            Some(Trip::EverySandbox { sandboxes: 1 })
        );
        assert_eq!(
            trip(counts(3, 3, 3, 3), Some(100)),
            Some(Trip::EverySandbox { sandboxes: 3 })
        );
        // Images aside: every sandbox is every sandbox, even if images stay.
        assert_eq!(
            trip(counts(12, 2, 2, 2), None),
            Some(Trip::EverySandbox { sandboxes: 2 })
        );
        // A project of images only has no sandbox to lose.
        assert_eq!(trip(counts(4, 0, 1, 0), None), None);
        // Nothing deleted, nothing held back.
        assert_eq!(trip(counts(0, 0, 0, 0), None), None);
    }

    fn address(a: &str) -> Address {
        a.parse().expect("address")
    }

    fn change(a: &str, action: Action, id: &str) -> Change {
        Change {
            address: address(a),
            action,
            id: Some(id.to_string()),
            driver: DriverName::LOCAL_WORKSPACE,
            reasons: Vec::new(),
            attributes: Vec::new(),
            depends_on: Vec::new(),
            workspace: None,
            moved_from: None,
        }
    }

    fn record(a: &str, id: &str) -> (Address, Record) {
        let record = Record {
            address: address(a),
            id: id.to_string(),
            profile: "profile.local-workspace".into(),
            driver: DriverName::LOCAL_WORKSPACE,
            attributes: Default::default(),
            spec_hash: SharedStr::default(),
            digests: Default::default(),
            facts: Default::default(),
            depends_on: Vec::new(),
            created_at: SharedStr::default(),
            updated_at: SharedStr::default(),
            provenance: None,
        };
        (record.address.clone(), record)
    }

    fn plan_of(changes: Vec<Change>) -> Plan {
        Plan {
            format_version: plan::PLAN_FORMAT_VERSION,
            project: "p".into(),
            manifest: "sandboxes.yaml".into(),
            manifest_digest: String::new(),
            state_lineage: String::new(),
            state_serial: 0,
            targets: Vec::new(),
            replace: Vec::new(),
            summary: plan::Summary::of(&changes),
            changes,
        }
    }

    #[test]
    fn only_deletes_of_records_count_and_only_they_are_held_back() {
        let records: BTreeMap<Address, Record> = ["a", "b", "c", "d"]
            .iter()
            .map(|n| record(&format!("sandbox.{n}"), &format!("id{n}")))
            .collect();
        let mut plan = plan_of(vec![
            change("sandbox.a", Action::Replace, "ida"),
            change("sandbox.b", Action::Delete, "idb"),
            change("sandbox.b", Action::Delete, "orphan1"),
            change("sandbox.c", Action::Delete, "idc"),
            change("sandbox.new", Action::Create, "new1"),
        ]);
        // Two deletes of records, over the limit of 1 (a quarter of 4).
        let held = hold_back(&mut plan, &records, None).expect("held back");
        assert_eq!(held.addresses, [address("sandbox.b"), address("sandbox.c")]);
        let kept: Vec<(String, Action, Option<String>)> = plan
            .changes
            .iter()
            .map(|c| (c.address.to_string(), c.action, c.id.clone()))
            .collect();
        assert_eq!(
            kept,
            [
                ("sandbox.a".to_string(), Action::Replace, Some("ida".to_string())),
                ("sandbox.b".to_string(), Action::Delete, Some("orphan1".to_string())),
                ("sandbox.new".to_string(), Action::Create, Some("new1".to_string())),
            ],
            "the replace, the orphan's delete and the create go on"
        );
        assert_eq!(
            (plan.summary.delete, plan.summary.replace, plan.summary.create),
            (1, 1, 1)
        );

        // A replace is not a delete: one record delete is within the limit.
        let mut plan = plan_of(vec![
            change("sandbox.a", Action::Replace, "ida"),
            change("sandbox.b", Action::Replace, "idb"),
            change("sandbox.c", Action::Delete, "idc"),
        ]);
        assert_eq!(hold_back(&mut plan, &records, None), None);
        assert_eq!(plan.changes.len(), 3);
    }

    #[test]
    fn the_message_names_the_count_the_limit_and_the_way_out() {
        let held = HeldBack {
            addresses: (0..6).map(|i| address(&format!("sandbox.s{i}"))).collect(),
            trip: Trip::TooMany {
                limit: 2,
                explicit: false,
                recorded: 8,
            },
        };
        let plan = plan_of(vec![change("sandbox.new", Action::Create, "n")]);
        let text = held.message(&plan, Path::new("sandboxes.yaml"));
        assert_eq!(
            text,
            "warning: held back 6 deletes of recorded resources: more than --max-delete 2 (a quarter of the 8 recorded resources of project p, at least 1)\n  \
             held back: sandbox.s0, sandbox.s1, sandbox.s2, sandbox.s3, sandbox.s4 and 1 more\n  \
             the other changes are applied; this watch deletes no recorded resource\n  \
             hint: if the manifest is meant to drop them, run `sandboxer apply -f sandboxes.yaml` once (it shows the deletes and asks), or restart the watch with `--max-delete 6`"
        );
        let every = HeldBack {
            addresses: vec![address("sandbox.only")],
            trip: Trip::EverySandbox { sandboxes: 1 },
        };
        let text = every.message(&plan_of(Vec::new()), Path::new("sandboxes.yaml"));
        assert!(
            text.starts_with(
                "warning: held back 1 delete of recorded resources: they would delete every recorded sandbox of project p (1 of 1)\n"
            ),
            "{text}"
        );
        assert!(text.contains("  there are no other changes;"), "{text}");
        assert!(
            text.contains("run `sandboxer apply -f sandboxes.yaml` once (it shows the deletes and asks); a watch never deletes every recorded sandbox"),
            "{text}"
        );
    }
}
