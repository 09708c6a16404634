//! One change (or one batch of changes at one location) through its driver:
//! what it does to the world and what the state must record afterwards.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, watch};

use super::Event;
use crate::address::Address;
use crate::desired::{Desired, DesiredResource};
use crate::driver::{
    BatchItem, Driver, DriverError, Made, Owner, ProgressKind, ProgressSink, Registry, Removal, Request,
};
use crate::observe::Site;
use crate::plan::{Action, Change};
use crate::provenance::Provenance;
use crate::shared_str::SharedStr;
use crate::sorted_map::SortedMap;
use crate::state::{Note, Record, now_rfc3339};

/// What the state must do after a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordUpdate {
    /// Write this record.
    Put(Box<Record>),
    /// Remove the record of the change's address.
    Remove,
    /// Leave the state as it is.
    Keep,
    /// A rename (`moved:`): this update of the change's address, then the
    /// record of `from` removed. A kill between leaves two records naming one
    /// workspace: the next plan keeps the workspace for the declared one and
    /// removes only the other record (never no record, which would leave the
    /// workspace to be deleted as an orphan while the manifest names `from`).
    Moved {
        /// The address the record had.
        from: Address,
        /// What becomes of the record under its new address.
        then: Box<RecordUpdate>,
    },
}

/// The result of one change.
#[derive(Debug)]
pub struct OpResult {
    /// The state update, also when the change failed half-way.
    pub record: RecordUpdate,
    /// The resource's id after the change (for notes).
    pub id: Option<String>,
    /// The workspace folder after the change.
    pub workspace: Option<String>,
    /// Lines for the resource's notes.
    pub notes: Vec<String>,
    /// Why it failed.
    pub error: Option<DriverError>,
}

impl OpResult {
    /// A change that failed.
    pub fn failed(record: RecordUpdate, id: Option<String>, error: DriverError) -> Self {
        OpResult {
            record,
            id,
            workspace: None,
            notes: Vec::new(),
            error: Some(error),
        }
    }

    fn done(record: RecordUpdate, id: Option<String>) -> Self {
        OpResult {
            record,
            id,
            workspace: None,
            notes: Vec::new(),
            error: None,
        }
    }
}

/// Runs changes; shared by the walker's tasks.
pub struct Executor {
    desired: Arc<Desired>,
    drivers: Registry,
    ids: Mutex<HashSet<String>>,
    records: BTreeMap<Address, Record>,
    events: mpsc::UnboundedSender<Event>,
    notes: mpsc::UnboundedSender<(String, Note)>,
    cancel: watch::Receiver<bool>,
    owner: Owner,
    /// The repo trees of this apply, handed to every change.
    repos: Arc<crate::repo::RepoTrees>,
    /// Shared by every record this apply writes.
    provenance: Option<Arc<Provenance>>,
}

/// What an executor needs besides the drivers.
pub struct ExecutorParts {
    /// The desired state applied.
    pub desired: Arc<Desired>,
    /// Every id in use (records and markers found): new ids avoid them.
    pub known_ids: HashSet<String>,
    /// The project's records as observed.
    pub records: BTreeMap<Address, Record>,
    /// Lineage of the state, written into every new workspace's marker.
    pub lineage: String,
    /// Who applies, with which sandboxer, from which commit: on every record written.
    pub provenance: Option<Arc<Provenance>>,
    /// Where events go.
    pub events: mpsc::UnboundedSender<Event>,
    /// Where progress notes go.
    pub notes: mpsc::UnboundedSender<(String, Note)>,
    /// The operator's interrupt.
    pub cancel: watch::Receiver<bool>,
}

impl Executor {
    /// An executor for one apply.
    pub fn new(drivers: Registry, parts: ExecutorParts) -> Self {
        let owner = Owner {
            project: parts.desired.project.clone(),
            lineage: parts.lineage,
        };
        Executor {
            desired: parts.desired,
            drivers,
            ids: Mutex::new(parts.known_ids),
            records: parts.records,
            events: parts.events,
            notes: parts.notes,
            cancel: parts.cancel,
            owner,
            repos: Arc::default(),
            provenance: parts.provenance,
        }
    }

    /// Progress of a long operation: shown live, and kept as a note when throttling admits it.
    fn progress_sink(&self, address: &Address, id: &str) -> ProgressSink {
        let (events, notes) = (self.events.clone(), self.notes.clone());
        let (address, id) = (address.clone(), id.to_string());
        Arc::new(move |kind: ProgressKind, text: &str, keep: bool| {
            if kind != ProgressKind::Message {
                let _ = events.send(Event::Progress {
                    address: address.clone(),
                    message: text.to_string(),
                });
            }
            if keep {
                let level = if kind == ProgressKind::Error { "error" } else { "info" };
                let note = Note::new(&address, level, text);
                let _ = notes.send((id.clone(), note));
            }
        })
    }

    /// A new id, never used before in this state.
    fn new_id(&self) -> String {
        let mut ids = self.ids.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        loop {
            let id = crate::id::random_id(8);
            if ids.insert(id.clone()) {
                return id;
            }
        }
    }

    fn request<'a>(&'a self, resource: &'a DesiredResource, id: &'a str) -> Request<'a> {
        Request {
            owner: &self.owner,
            resource,
            id,
            progress: self.progress_sink(&resource.address, id),
            cancel: self.cancel.clone(),
            repos: self.repos.clone(),
        }
    }

    fn driver_of(&self, resource: &DesiredResource) -> Result<&Arc<dyn Driver>, DriverError> {
        self.drivers.get(&resource.driver)
    }

    /// The site whose driver takes this change in a batch with others there, if any.
    pub fn batch_site(&self, change: &Change) -> Option<Site> {
        // A rename rewrites the marker first: one by one.
        if !matches!(change.action, Action::Create | Action::Update) || change.moved_from.is_some() {
            return None;
        }
        let resource = self.desired.resources.get(&change.address)?;
        let driver = self.driver_of(resource).ok()?;
        driver.batches().then(|| Site {
            driver: resource.driver.clone(),
            location: driver.location(resource),
        })
    }

    /// Carries out one change.
    pub async fn execute(&self, change: &Change) -> OpResult {
        match &change.moved_from {
            Some(from) => self.execute_moved(change, from).await,
            None => self.execute_in_place(change).await,
        }
    }

    /// A renamed resource: its workspace's marker takes the new address, then
    /// the change is carried out, and its record moves.
    async fn execute_moved(&self, change: &Change, from: &Address) -> OpResult {
        if let Some(workspace) = change.workspace.as_ref().filter(|_| change.action != Action::Create) {
            let relabelled = match self.drivers.get(&workspace.driver) {
                Ok(driver) => {
                    driver
                        .relabel(
                            &self.owner.project,
                            workspace,
                            &crate::driver::MarkerEdit::Readdress(change.address.clone()),
                        )
                        .await
                }
                Err(e) => Err(e),
            };
            if let Err(e) = relabelled {
                return OpResult::failed(RecordUpdate::Keep, change.id.clone(), e);
            }
        }
        let mut result = if change.action == Action::NoOp {
            OpResult::done(RecordUpdate::Keep, change.id.clone())
        } else {
            let in_place = Change {
                moved_from: None,
                ..change.clone()
            };
            self.execute_in_place(&in_place).await
        };
        // The record moves whatever became of the change, since the marker
        // names the new address now: kept as it was (a rename, or a change
        // that failed before touching the record) it is the old record under
        // the new address; written or removed by the change, that.
        let then = match std::mem::replace(&mut result.record, RecordUpdate::Keep) {
            RecordUpdate::Keep => match self.records.get(from) {
                Some(record) => RecordUpdate::Put(Box::new(Record {
                    address: change.address.clone(),
                    ..record.clone()
                })),
                None => RecordUpdate::Keep,
            },
            other => other,
        };
        result.record = RecordUpdate::Moved {
            from: from.clone(),
            then: Box::new(then),
        };
        result
    }

    /// Carries out one change at its own address.
    async fn execute_in_place(&self, change: &Change) -> OpResult {
        let resource = self.desired.resources.get(&change.address);
        match (change.action, resource) {
            (Action::NoOp, _) => OpResult::done(RecordUpdate::Keep, change.id.clone()),
            // Refused at plan time: nothing is touched, and what depends on it is skipped.
            (Action::Refused, _) => {
                let why: Vec<String> = change.reasons.iter().map(ToString::to_string).collect();
                OpResult::failed(
                    RecordUpdate::Keep,
                    change.id.clone(),
                    DriverError::other(format!("refused by the plan: {}", why.join("; "))),
                )
            }
            (Action::Delete, _) => {
                let result = self.delete(change, None).await;
                // An orphan delete (no record of this id) leaves the record of the address alone.
                let recorded = self
                    .records
                    .get(&change.address)
                    .is_some_and(|r| Some(&r.id) == change.id.as_ref());
                match result {
                    Ok(()) if recorded => OpResult::done(RecordUpdate::Remove, change.id.clone()),
                    Ok(()) => OpResult::done(RecordUpdate::Keep, change.id.clone()),
                    Err(e) => OpResult::failed(RecordUpdate::Keep, change.id.clone(), e),
                }
            }
            (action, None) => OpResult::failed(
                RecordUpdate::Keep,
                change.id.clone(),
                DriverError::other(format!("{} is not in the manifest; cannot {action} it", change.address)),
            ),
            (Action::Create, Some(resource)) => self.create(resource).await,
            (Action::Update, Some(resource)) => {
                let (Some(id), Some(workspace)) = (change.id.clone(), change.workspace.clone()) else {
                    return self.create(resource).await;
                };
                let result = match self.driver_of(resource) {
                    Ok(driver) => driver.update(self.request(resource, &id), &workspace).await,
                    Err(e) => Err(e),
                };
                match result {
                    Ok(made) => self.made(resource, id, made),
                    Err(e) => OpResult::failed(RecordUpdate::Keep, Some(id), e),
                }
            }
            (Action::Replace, Some(resource)) => {
                if let Err(e) = self.delete(change, Some(resource)).await {
                    return OpResult::failed(RecordUpdate::Keep, change.id.clone(), e);
                }
                let mut result = self.create(resource).await;
                // The old workspace is gone: the record must not claim it. A resource
                // without a workspace (an image: its delete removes nothing) keeps its
                // record of the last good build: the next plan rebuilds it and re-makes
                // its dependents.
                if result.error.is_some() && change.workspace.is_some() {
                    result.record = RecordUpdate::Remove;
                }
                result
            }
        }
    }

    /// Carries out creates and updates of one site together; one result per change, in order.
    pub async fn execute_batch(&self, site: &Site, changes: &[Change]) -> Vec<OpResult> {
        let Ok(driver) = self.drivers.get(&site.driver) else {
            let mut results = Vec::new();
            for change in changes {
                results.push(self.execute(change).await);
            }
            return results;
        };
        // Each item's id: the workspace's for an update, a new one for a create.
        let mut planned: Vec<(&DesiredResource, String, Option<crate::plan::WorkspaceRef>)> = Vec::new();
        let mut results: Vec<Option<OpResult>> = Vec::new();
        for change in changes {
            match self.desired.resources.get(&change.address) {
                Some(resource) => {
                    let (id, workspace) = match (change.action, &change.id, &change.workspace) {
                        (Action::Update, Some(id), Some(w)) => (id.clone(), Some(w.clone())),
                        _ => (self.new_id(), None),
                    };
                    planned.push((resource, id, workspace));
                    results.push(None);
                }
                None => results.push(Some(self.execute(change).await)),
            }
        }
        let items: Vec<BatchItem<'_>> = planned
            .iter()
            .map(|(resource, id, workspace)| BatchItem {
                request: self.request(resource, id),
                workspace: workspace.clone(),
            })
            .collect();
        let mut outcomes = driver.apply_batch(&site.location, items).await.into_iter();
        let mut planned = planned.into_iter();
        for slot in results.iter_mut().filter(|r| r.is_none()) {
            let Some((resource, id, _)) = planned.next() else { break };
            *slot = Some(match outcomes.next() {
                Some(Ok(made)) => self.made(resource, id, made),
                Some(Err(e)) => OpResult::failed(RecordUpdate::Keep, Some(id), e),
                None => OpResult::failed(
                    RecordUpdate::Keep,
                    Some(id),
                    DriverError::other(format!("the {} driver returned no result for this change", site.driver)),
                ),
            });
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| OpResult::failed(RecordUpdate::Keep, None, DriverError::other("no result"))))
            .collect()
    }

    async fn create(&self, resource: &DesiredResource) -> OpResult {
        let id = self.new_id();
        let result = match self.driver_of(resource) {
            Ok(driver) => driver.create(self.request(resource, &id)).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(made) => self.made(resource, id, made),
            // A create that failed half-way left a marked workspace; the next plan adopts or removes it.
            Err(e) => OpResult::failed(RecordUpdate::Keep, Some(id), e),
        }
    }

    /// Removes the workspace a change acts on, through the driver that made it,
    /// where it is: a replace may move a sandbox to another driver or VM.
    async fn delete(&self, change: &Change, resource: Option<&DesiredResource>) -> Result<(), DriverError> {
        let Some(workspace) = &change.workspace else {
            return Ok(()); // nothing made (an image): only the record goes
        };
        let driver = self.drivers.get(&workspace.driver)?;
        driver
            .delete(Removal {
                project: &self.owner.project,
                workspace,
                resource,
            })
            .await
    }

    /// The record of a resource after a successful create or update.
    fn made(&self, resource: &DesiredResource, id: String, made: Made) -> OpResult {
        let now = SharedStr::from(now_rfc3339());
        let created_at = self
            .records
            .get(&resource.address)
            .filter(|r| r.id == id)
            .map(|r| r.created_at.clone())
            .unwrap_or_else(|| now.clone());
        let mut facts: SortedMap<SharedStr, String> = made.facts.into_iter().map(|(k, v)| (k.into(), v)).collect();
        if !made.path.is_empty() {
            facts.insert("workspace".into(), made.path.clone());
            if let Ok(driver) = self.driver_of(resource) {
                facts.insert("location".into(), driver.location(resource).to_string());
            }
        }
        let record = Record {
            address: resource.address.clone(),
            id: id.clone(),
            profile: resource.profile.as_str().into(),
            driver: resource.driver.clone(),
            attributes: resource.attributes(),
            spec_hash: resource.spec_hash().into(),
            digests: made
                .repo_digest
                .map(|d| ("repo".into(), d.into()))
                .into_iter()
                .chain(made.digests.into_iter().map(|(k, v)| (k.into(), v.into())))
                .collect(),
            facts,
            depends_on: resource.depends_on.iter().cloned().collect(),
            created_at,
            updated_at: now,
            provenance: self.provenance.clone(),
        };
        OpResult {
            record: RecordUpdate::Put(Box::new(record)),
            id: Some(id),
            workspace: Some(made.path).filter(|p| !p.is_empty()),
            notes: made.notes,
            error: None,
        }
    }
}
