//! One change through its driver: what it does to the workspace and what the
//! state must record afterwards.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, watch};

use super::Event;
use crate::address::Address;
use crate::desired::{Desired, DesiredResource};
use crate::driver::packer::{ProgressKind, ProgressSink};
use crate::driver::{DriverError, Made, Owner};
use crate::observe::Drivers;
use crate::plan::{Action, Change};
use crate::profile::DriverKind;
use crate::remote::Target;
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
}

/// The result of one change.
#[derive(Debug, Clone)]
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
    pub error: Option<String>,
}

impl OpResult {
    fn failed(record: RecordUpdate, id: Option<String>, error: DriverError) -> Self {
        OpResult {
            record,
            id,
            workspace: None,
            notes: Vec::new(),
            error: Some(error.0),
        }
    }
}

/// Runs changes; shared by the walker's tasks.
pub struct Executor {
    desired: Arc<Desired>,
    drivers: Drivers,
    ids: Mutex<HashSet<String>>,
    records: BTreeMap<Address, Record>,
    events: mpsc::UnboundedSender<Event>,
    notes: mpsc::UnboundedSender<(String, Note)>,
    cancel: watch::Receiver<bool>,
    /// Lineage of the state, written into every new workspace's marker.
    lineage: String,
}

impl Executor {
    /// An executor for one apply.
    pub fn new(
        desired: Arc<Desired>,
        drivers: Drivers,
        known_ids: HashSet<String>,
        records: BTreeMap<Address, Record>,
        events: mpsc::UnboundedSender<Event>,
        notes: mpsc::UnboundedSender<(String, Note)>,
        cancel: watch::Receiver<bool>,
    ) -> Self {
        Executor {
            desired,
            drivers,
            ids: Mutex::new(known_ids),
            records,
            events,
            notes,
            cancel,
            lineage: String::new(),
        }
    }

    /// Marks new workspaces as made for the state of `lineage`.
    #[must_use]
    pub fn with_lineage(mut self, lineage: &str) -> Self {
        self.lineage = lineage.to_string();
        self
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
                let note = Note {
                    at: now_rfc3339(),
                    address: address.clone(),
                    level: level.into(),
                    text: text.to_string(),
                };
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

    /// Carries out one change.
    pub async fn execute(&self, change: &Change) -> OpResult {
        let project = self.desired.project.clone();
        let resource = self.desired.resources.get(&change.address).cloned();
        match (change.action, resource) {
            (Action::NoOp, _) => OpResult {
                record: RecordUpdate::Keep,
                id: change.id.clone(),
                workspace: None,
                notes: Vec::new(),
                error: None,
            },
            (Action::Delete, _) => {
                let result = self.delete(&project, change).await;
                // An orphan delete (no record of this id) leaves the record of the address alone.
                let recorded = self
                    .records
                    .get(&change.address)
                    .is_some_and(|r| Some(&r.id) == change.id.as_ref());
                let record = if recorded {
                    RecordUpdate::Remove
                } else {
                    RecordUpdate::Keep
                };
                match result {
                    Ok(()) => OpResult {
                        record,
                        id: change.id.clone(),
                        workspace: None,
                        notes: Vec::new(),
                        error: None,
                    },
                    Err(e) => OpResult::failed(RecordUpdate::Keep, change.id.clone(), e),
                }
            }
            (action, None) => OpResult::failed(
                RecordUpdate::Keep,
                change.id.clone(),
                DriverError(format!("{} is not in the manifest; cannot {action} it", change.address)),
            ),
            (Action::Create, Some(resource)) => self.create(&project, &resource).await,
            (Action::Update, Some(resource)) => {
                let (Some(id), Some(workspace)) = (change.id.clone(), change.workspace.clone()) else {
                    return self.create(&project, &resource).await;
                };
                let result = self.run_update(&resource, &workspace.path, &id).await;
                match result {
                    Ok(made) => self.made(&resource, id, made),
                    Err(e) => OpResult::failed(RecordUpdate::Keep, Some(id), e),
                }
            }
            (Action::Replace, Some(resource)) => {
                if let Err(e) = self.delete(&project, change).await {
                    return OpResult::failed(RecordUpdate::Keep, change.id.clone(), e);
                }
                let mut result = self.create(&project, &resource).await;
                // The old workspace is gone: the record must not claim it. An image's
                // delete removes nothing (its artifacts stay), so its record of the last
                // good build stays: the next plan rebuilds it and re-makes its dependents.
                if result.error.is_some() && resource.driver != DriverKind::Packer {
                    result.record = RecordUpdate::Remove;
                }
                result
            }
        }
    }

    async fn create(&self, project: &str, resource: &DesiredResource) -> OpResult {
        let id = self.new_id();
        let owner = Owner {
            project: project.to_string(),
            lineage: self.lineage.clone(),
        };
        let result = match resource.driver {
            DriverKind::LocalWorkspace => {
                let driver = self.drivers.local.clone();
                let (resource, id) = (resource.clone(), id.clone());
                blocking(move || driver.create(&owner, &resource, &id)).await
            }
            DriverKind::SshWorkspace => self.drivers.ssh.create(&owner, resource, &id).await,
            DriverKind::Packer => {
                let sink = self.progress_sink(&resource.address, &id);
                self.drivers
                    .packer
                    .build(resource, &id, sink, self.cancel.clone())
                    .await
            }
        };
        match result {
            Ok(made) => self.made(resource, id, made),
            // A create that failed half-way left a marked workspace; the next plan adopts or removes it.
            Err(e) => OpResult::failed(RecordUpdate::Keep, Some(id), e),
        }
    }

    async fn run_update(&self, resource: &DesiredResource, path: &str, id: &str) -> Result<Made, DriverError> {
        match resource.driver {
            DriverKind::LocalWorkspace => {
                let driver = self.drivers.local.clone();
                let (resource, path, id) = (resource.clone(), path.to_string(), id.to_string());
                blocking(move || driver.update(&resource, &path, &id)).await
            }
            DriverKind::SshWorkspace => self.drivers.ssh.update(resource, path, id).await,
            DriverKind::Packer => {
                let sink = self.progress_sink(&resource.address, id);
                self.drivers.packer.build(resource, id, sink, self.cancel.clone()).await
            }
        }
    }

    async fn delete(&self, project: &str, change: &Change) -> Result<(), DriverError> {
        // An image has no workspace: its record is forgotten; its artifacts belong to
        // the operator and stay.
        let Some(workspace) = change.workspace.clone() else {
            return Ok(()); // nothing on disk: only the record goes
        };
        // Where the workspace is, not the driver the manifest wants now, says how to
        // remove it: a replace may move a sandbox from this machine to a VM or back.
        if workspace.location == crate::driver::local::LOCATION {
            let driver = self.drivers.local.clone();
            let project = project.to_string();
            return blocking(move || driver.delete(&project, &workspace.path, &workspace.id)).await;
        }
        let target = Target::from_location(&workspace.location)
            .ok_or_else(|| DriverError(format!("cannot tell which VM `{}` is", workspace.location)))?;
        let timeout = self
            .desired
            .resources
            .get(&change.address)
            .filter(|r| r.driver == DriverKind::SshWorkspace)
            .map_or(
                crate::driver::ssh::DEFAULT_CONNECT_TIMEOUT,
                crate::driver::ssh::connect_timeout_of,
            );
        self.drivers
            .ssh
            .delete(project, &target, &workspace.path, &workspace.id, timeout)
            .await
    }

    /// The record of a resource after a successful create or update.
    fn made(&self, resource: &DesiredResource, id: String, made: Made) -> OpResult {
        let now = now_rfc3339();
        let created_at = self
            .records
            .get(&resource.address)
            .filter(|r| r.id == id)
            .map(|r| r.created_at.clone())
            .unwrap_or_else(|| now.clone());
        let mut facts = made.facts.clone();
        match resource.driver {
            DriverKind::LocalWorkspace => {
                facts.insert("workspace".into(), made.path.clone());
                facts.insert("location".into(), crate::driver::local::LOCATION.into());
            }
            DriverKind::SshWorkspace => {
                facts.insert("workspace".into(), made.path.clone());
                facts.insert("location".into(), crate::plan::diff::location_of(resource));
            }
            DriverKind::Packer => {
                if let Some(vm) = resource.vm() {
                    facts.insert("vm".into(), vm.to_string());
                }
            }
        }
        if resource.driver != DriverKind::Packer
            && let Some(root) = resource.input_str("workspace_root")
        {
            facts.insert("root".into(), root.to_string());
        }
        let record = Record {
            address: resource.address.clone(),
            id: id.clone(),
            profile: resource.profile.clone(),
            driver: resource.driver,
            attributes: resource.attributes(),
            spec_hash: resource.spec_hash(),
            digests: made
                .repo_digest
                .iter()
                .map(|d| ("repo".to_string(), d.clone()))
                .chain(made.digests.clone())
                .collect(),
            facts,
            depends_on: resource.depends_on.iter().cloned().collect(),
            created_at,
            updated_at: now,
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

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, DriverError> + Send + 'static,
) -> Result<T, DriverError> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(DriverError(format!("driver task failed: {e}"))))
}
