//! Apply: walk the plan's DAG with bounded parallelism, run each change through
//! its driver, save the state after every change, and report typed events.
//!
//! A failed change skips its dependents (transitively), never unrelated changes.
//! Cancellation drains: no new change starts, running ones finish and are saved.

mod execute;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use crate::address::Address;
use crate::desired::Desired;
use crate::observe::Drivers;
use crate::plan::graph::ChangeGraph;
use crate::plan::{Action, Plan};
use crate::state::{Note, Record, StateError, StateStore, now_rfc3339};

pub use execute::{Executor, OpResult, RecordUpdate};

/// What the reporter hears.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A change started.
    Started {
        /// The resource.
        address: Address,
        /// What is being done.
        action: Action,
    },
    /// Progress of a running change.
    Progress {
        /// The resource.
        address: Address,
        /// What is happening.
        message: String,
    },
    /// A change succeeded.
    Finished {
        /// The resource.
        address: Address,
        /// What was done.
        action: Action,
        /// Its id now.
        id: Option<String>,
        /// The workspace folder, if any.
        workspace: Option<String>,
        /// How long it took.
        elapsed: Duration,
    },
    /// A change failed.
    Failed {
        /// The resource.
        address: Address,
        /// What was attempted.
        action: Action,
        /// Why it failed.
        error: String,
        /// How long it ran.
        elapsed: Duration,
    },
    /// A change was not attempted because something it depends on failed.
    Skipped {
        /// The resource.
        address: Address,
        /// What would have been done.
        action: Action,
        /// The failed dependency.
        because: Address,
    },
}

/// The result of an apply.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Changes done, by action.
    pub done: BTreeMap<Action, usize>,
    /// Failed changes with their error.
    pub failed: Vec<(Address, String)>,
    /// Changes skipped because a dependency failed.
    pub skipped: Vec<Address>,
    /// Changes not started because the apply was interrupted.
    pub not_started: Vec<Address>,
    /// The apply was interrupted (Ctrl-C).
    pub interrupted: bool,
}

impl Outcome {
    /// Everything went through.
    pub fn is_success(&self) -> bool {
        self.failed.is_empty() && self.skipped.is_empty() && self.not_started.is_empty() && !self.interrupted
    }
}

/// Options of one apply.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// Changes running at once.
    pub parallelism: usize,
    /// Lineage of the state applied to (see [`crate::state::StateStore::ensure_lineage`]).
    pub lineage: String,
}

/// Carries out `plan`. `records` are the project's records as observed when the
/// plan was made; `known_ids` every id in use (records and markers found).
#[allow(clippy::too_many_arguments)]
pub async fn apply<S: StateStore>(
    plan: &Plan,
    desired: Arc<Desired>,
    records: BTreeMap<Address, Record>,
    known_ids: HashSet<String>,
    store: &S,
    drivers: Drivers,
    options: ApplyOptions,
    events: mpsc::UnboundedSender<Event>,
    mut cancel: watch::Receiver<bool>,
) -> Result<Outcome, StateError> {
    let graph = ChangeGraph::build(&plan.changes).map_err(|message| StateError::Io {
        path: "plan".into(),
        message,
    })?;
    let (notes_tx, mut notes_rx) = mpsc::unbounded_channel::<(String, Note)>();
    let executor = Arc::new(
        Executor::new(
            desired.clone(),
            drivers,
            known_ids,
            records,
            events.clone(),
            notes_tx,
            cancel.clone(),
        )
        .with_lineage(&options.lineage),
    );
    let n = plan.changes.len();
    let mut waiting: Vec<usize> = (0..n).map(|i| graph.dependencies(i).len()).collect();
    let mut ready: BTreeSet<usize> = (0..n).filter(|&i| waiting[i] == 0).collect();
    let mut settled = vec![false; n];
    let mut running: JoinSet<(usize, OpResult, Duration)> = JoinSet::new();
    let mut outcome = Outcome::default();
    let parallelism = options.parallelism.max(1);
    let mut draining = *cancel.borrow();

    loop {
        // A Ctrl-C that came with the last finished change is seen before anything new starts.
        if *cancel.borrow() {
            draining = true;
        }
        while !draining && running.len() < parallelism {
            let Some(i) = ready.pop_first() else { break };
            let change = plan.changes[i].clone();
            if change.action == Action::NoOp {
                settled[i] = true;
                release(&graph, i, &mut waiting, &mut ready, &settled);
                continue;
            }
            let _ = events.send(Event::Started {
                address: change.address.clone(),
                action: change.action,
            });
            let executor = executor.clone();
            running.spawn(async move {
                let started = Instant::now();
                let result = executor.execute(&change).await;
                (i, result, started.elapsed())
            });
        }
        if running.is_empty() {
            break;
        }
        tokio::select! {
            joined = running.join_next() => {
                let Some(joined) = joined else { continue };
                let (i, result, elapsed) = match joined {
                    Ok(r) => r,
                    Err(e) => {
                        // A panicking driver is a bug; it fails only its own change.
                        tracing::error!("a change task failed: {e}");
                        continue;
                    }
                };
                settled[i] = true;
                let change = &plan.changes[i];
                save(store, &plan.project, &change.address, &result.record).await?;
                if let Some(id) = result.id.as_deref() {
                    for text in &result.notes {
                        let note = Note { at: now_rfc3339(), address: change.address.clone(), level: "info".into(), text: text.clone() };
                        if let Err(e) = store.add_note(id, &note).await {
                            tracing::warn!("note for {} not saved: {e}", change.address);
                        }
                    }
                }
                match result.error {
                    None => {
                        *outcome.done.entry(change.action).or_default() += 1;
                        let _ = events.send(Event::Finished {
                            address: change.address.clone(),
                            action: change.action,
                            id: result.id.clone(),
                            workspace: result.workspace.clone(),
                            elapsed,
                        });
                        release(&graph, i, &mut waiting, &mut ready, &settled);
                    }
                    Some(error) => {
                        if let Some(id) = result.id.as_deref() {
                            let note = Note { at: now_rfc3339(), address: change.address.clone(), level: "error".into(), text: error.clone() };
                            let _ = store.add_note(id, &note).await;
                        }
                        let _ = events.send(Event::Failed { address: change.address.clone(), action: change.action, error: error.clone(), elapsed });
                        outcome.failed.push((change.address.clone(), error));
                        skip_dependents(plan, &graph, i, &mut settled, &mut outcome, &events);
                    }
                }
            }
            Some((id, note)) = notes_rx.recv() => {
                if let Err(e) = store.add_note(&id, &note).await {
                    tracing::warn!("note for {} not saved: {e}", note.address);
                }
            }
            changed = cancel.changed(), if !draining => {
                if changed.is_err() || *cancel.borrow() {
                    draining = true;
                    outcome.interrupted = true;
                }
            }
        }
    }
    // Notes sent by the last changes before they finished.
    while let Ok((id, note)) = notes_rx.try_recv() {
        let _ = store.add_note(&id, &note).await;
    }
    outcome.interrupted |= draining;
    for (i, done) in settled.iter().enumerate() {
        if !done && plan.changes[i].action != Action::NoOp {
            outcome.not_started.push(plan.changes[i].address.clone());
        }
    }
    Ok(outcome)
}

/// Marks change `i` done for its dependents; those with nothing left to wait for become ready.
fn release(graph: &ChangeGraph, i: usize, waiting: &mut [usize], ready: &mut BTreeSet<usize>, settled: &[bool]) {
    for j in graph.dependents(i) {
        waiting[j] = waiting[j].saturating_sub(1);
        if waiting[j] == 0 && !settled[j] {
            ready.insert(j);
        }
    }
}

/// Every transitive dependent of a failed change is skipped.
fn skip_dependents(
    plan: &Plan,
    graph: &ChangeGraph,
    failed: usize,
    settled: &mut [bool],
    outcome: &mut Outcome,
    events: &mpsc::UnboundedSender<Event>,
) {
    let because = plan.changes[failed].address.clone();
    let mut stack = graph.dependents(failed);
    while let Some(j) = stack.pop() {
        if settled[j] {
            continue;
        }
        settled[j] = true;
        let c = &plan.changes[j];
        let _ = events.send(Event::Skipped {
            address: c.address.clone(),
            action: c.action,
            because: because.clone(),
        });
        outcome.skipped.push(c.address.clone());
        stack.extend(graph.dependents(j));
    }
}

async fn save<S: StateStore>(
    store: &S,
    project: &str,
    address: &Address,
    update: &RecordUpdate,
) -> Result<(), StateError> {
    match update {
        RecordUpdate::Put(record) => store.put(project, record).await.map(|_| ()),
        RecordUpdate::Remove => store.remove(project, address).await.map(|_| ()),
        RecordUpdate::Keep => Ok(()),
    }
}
