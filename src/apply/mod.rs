//! Apply: walk the plan's DAG with bounded parallelism, run each change through
//! its driver, save the state after every change, and report typed events.
//!
//! A failed change skips its dependents (transitively), never unrelated changes.
//! Cancellation drains: no new change starts, running ones finish and are saved.

mod error;
mod execute;
mod limits;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use crate::address::Address;
use crate::desired::Desired;
use crate::driver::{DriverError, Registry};
use crate::observe::Observed;
use crate::plan::graph::ChangeGraph;
use crate::plan::{Action, Plan};
use crate::provenance::Provenance;
use crate::state::{Note, StateStore};

pub use error::ApplyError;
pub use execute::{Executor, ExecutorParts, OpResult, RecordUpdate};

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
    /// Something the operator should know that is not a change's outcome (a
    /// note that could not be saved, an interrupt).
    Notice {
        /// What to say.
        message: String,
    },
}

/// A change that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The resource.
    pub address: Address,
    /// The error and its causes, in words.
    pub error: String,
    /// What the operator can do, when there is something to say.
    pub hint: Option<String>,
}

impl Failure {
    fn of(address: &Address, error: &DriverError) -> Self {
        let mut text = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            let more = cause.to_string();
            if !text.contains(&more) {
                text = format!("{text}: {more}");
            }
            source = cause.source();
        }
        Failure {
            address: address.clone(),
            error: text,
            hint: error.hint(),
        }
    }
}

/// The result of an apply.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Changes done, by action.
    pub done: BTreeMap<Action, usize>,
    /// Failed changes with their error.
    pub failed: Vec<Failure>,
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
    /// Changes (or batches of changes at one location) running at once.
    pub parallelism: usize,
    /// Lineage of the state applied to (see [`crate::state::StateStore::ensure_lineage`]).
    pub lineage: String,
    /// Put on every record a change writes (the command layer reads it once).
    pub provenance: Option<Arc<Provenance>>,
}

/// Everything one apply works on.
pub struct Job<'a, S: StateStore> {
    /// The plan to carry out.
    pub plan: &'a Plan,
    /// The desired state it was made from.
    pub desired: Arc<Desired>,
    /// What was observed when it was made (records, ids in use).
    pub observed: Observed,
    /// Where records and notes go.
    pub store: &'a S,
    /// The drivers.
    pub drivers: Registry,
    /// How.
    pub options: ApplyOptions,
}

/// Changes running together: one, or a batch at one site; and their start.
type Running = JoinSet<Vec<(usize, OpResult, Duration)>>;

/// Carries out a plan; events go to `events`, `cancel` drains.
pub async fn apply<S: StateStore>(
    job: Job<'_, S>,
    events: mpsc::UnboundedSender<Event>,
    mut cancel: watch::Receiver<bool>,
) -> Result<Outcome, ApplyError> {
    let Job {
        plan,
        desired,
        observed,
        store,
        drivers,
        options,
    } = job;
    let graph = ChangeGraph::build(&plan.changes)?;
    let mut limits = limits::DriverLimits::of(&drivers);
    let (notes_tx, mut notes_rx) = mpsc::unbounded_channel::<(String, Note)>();
    let executor = Arc::new(Executor::new(
        drivers,
        ExecutorParts {
            desired,
            known_ids: observed.known_ids(),
            records: observed.records,
            lineage: options.lineage.clone(),
            provenance: options.provenance.clone(),
            events: events.clone(),
            notes: notes_tx,
            cancel: cancel.clone(),
        },
    ));
    let n = plan.changes.len();
    let mut waiting: Vec<usize> = (0..n).map(|i| graph.dependencies(i).len()).collect();
    let mut ready: BTreeSet<usize> = (0..n).filter(|&i| waiting[i] == 0).collect();
    let mut settled = vec![false; n];
    let mut running: Running = JoinSet::new();
    let mut in_task: HashMap<tokio::task::Id, (Vec<usize>, Instant)> = HashMap::new();
    let mut outcome = Outcome::default();
    let parallelism = options.parallelism.max(1);
    let mut draining = *cancel.borrow();

    loop {
        // A Ctrl-C that came with the last finished change is seen before anything new starts.
        if *cancel.borrow() {
            draining = true;
        }
        while !draining && running.len() < parallelism {
            // The first ready change whose driver has room: one held back by
            // its driver's own limit leaves its place to the others, and says
            // so the first time it is passed over.
            let Some(i) = ready.iter().copied().find(|&j| {
                let change = &plan.changes[j];
                if let Some(message) = limits.first_wait(j, change) {
                    let address = change.address.clone();
                    let _ = events.send(Event::Progress { address, message });
                }
                limits.has_room(change)
            }) else {
                break;
            };
            ready.remove(&i);
            if plan.changes[i].action == Action::NoOp && plan.changes[i].moved_from.is_none() {
                settled[i] = true;
                release(&graph, i, &mut waiting, &mut ready, &settled);
                continue;
            }
            // Creates and updates at one site of a batching driver go together.
            limits.start(&plan.changes[i]);
            let site = executor.batch_site(&plan.changes[i]);
            let mut group = vec![i];
            if let Some(site) = &site {
                let same: Vec<usize> = ready
                    .iter()
                    .copied()
                    .filter(|&j| executor.batch_site(&plan.changes[j]).as_ref() == Some(site))
                    .collect();
                for j in same {
                    if !limits.has_room(&plan.changes[j]) {
                        break;
                    }
                    limits.start(&plan.changes[j]);
                    ready.remove(&j);
                    group.push(j);
                }
            }
            for &g in &group {
                let _ = events.send(Event::Started {
                    address: plan.changes[g].address.clone(),
                    action: plan.changes[g].action,
                });
            }
            let executor = executor.clone();
            let changes: Vec<crate::plan::Change> = group.iter().map(|&g| plan.changes[g].clone()).collect();
            let indices = group.clone();
            let handle = running.spawn(async move {
                let started = Instant::now();
                let results = match &site {
                    Some(site) => executor.execute_batch(site, &changes).await,
                    None => vec![executor.execute(&changes[0]).await],
                };
                let elapsed = started.elapsed();
                indices.into_iter().zip(results).map(|(i, r)| (i, r, elapsed)).collect()
            });
            in_task.insert(handle.id(), (group, Instant::now()));
        }
        if running.is_empty() {
            break;
        }
        tokio::select! {
            joined = running.join_next_with_id() => {
                let Some(joined) = joined else { continue };
                let results = match joined {
                    Ok((id, results)) => {
                        in_task.remove(&id);
                        results
                    }
                    Err(e) => {
                        // A panic is a bug; it fails its own changes (and so skips their
                        // dependents), nothing else. What it left is found by the next plan.
                        let Some((group, started)) = in_task.remove(&e.id()) else { continue };
                        let message = crate::task::join_error_text(e);
                        group
                            .into_iter()
                            .map(|i| {
                                let failure = DriverError::Task { task: "change".into(), message: message.clone() };
                                (i, OpResult::failed(RecordUpdate::Keep, plan.changes[i].id.clone(), failure), started.elapsed())
                            })
                            .collect()
                    }
                };
                for (i, result, elapsed) in results {
                    settled[i] = true;
                    let change = &plan.changes[i];
                    limits.finish(change);
                    save(store, &plan.project, &change.address, &result.record).await?;
                    if let Some(id) = result.id.as_deref() {
                        for text in &result.notes {
                            add_note(store, id, Note::new(&change.address, "info", text), &events).await;
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
                            let failure = Failure::of(&change.address, &error);
                            if let Some(id) = result.id.as_deref() {
                                add_note(store, id, Note::new(&change.address, "error", &failure.error), &events).await;
                            }
                            let _ = events.send(Event::Failed { address: change.address.clone(), action: change.action, error: failure.error.clone(), elapsed });
                            outcome.failed.push(failure);
                            skip_dependents(plan, &graph, i, &mut settled, &mut outcome, &events);
                        }
                    }
                }
            }
            Some((id, note)) = notes_rx.recv() => {
                add_note(store, &id, note, &events).await;
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
        add_note(store, &id, note, &events).await;
    }
    outcome.interrupted |= draining;
    for (i, done) in settled.iter().enumerate() {
        if !done && (plan.changes[i].action != Action::NoOp || plan.changes[i].moved_from.is_some()) {
            outcome.not_started.push(plan.changes[i].address.clone());
        }
    }
    Ok(outcome)
}

/// Saves a progress note; one that cannot be saved is said, not swallowed (the
/// change itself is not failed for it).
async fn add_note<S: StateStore>(store: &S, id: &str, note: Note, events: &mpsc::UnboundedSender<Event>) {
    if let Err(e) = store.add_note(id, &note).await {
        tracing::warn!("note for {} not saved: {e}", note.address);
        let _ = events.send(Event::Notice {
            message: format!("warning: a note for {} was not saved: {e}", note.address),
        });
    }
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
) -> Result<(), crate::state::StateError> {
    match update {
        RecordUpdate::Put(record) => store.put(project, record).await.map(|_| ()),
        RecordUpdate::Remove => store.remove(project, address).await.map(|_| ()),
        RecordUpdate::Keep => Ok(()),
        RecordUpdate::Moved { from, then } => {
            Box::pin(save(store, project, address, then)).await?;
            store.remove(project, from).await.map(|_| ())
        }
    }
}
