//! The driver seam: a driver defined only here, registered through the
//! registry, runs through validate, observe, plan and apply with no change to
//! the engine. It keeps its "workspaces" in memory, so the tests can also make
//! it misbehave (panic in a change or in observe) and check what the engine
//! makes of that.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tokio::sync::{mpsc, watch};

use sandboxer::address::Address;
use sandboxer::apply::{self, ApplyOptions, Job, Outcome};
use sandboxer::desired::{self, BuildContext, Desired, DesiredResource};
use sandboxer::driver::{
    BatchItem, Driver, DriverError, DriverName, FoundWorkspace, Location, Made, Marker, Observation, Registry, Removal,
    Request, Scope,
};
use sandboxer::observe::{self, Observed};
use sandboxer::plan::render::{self, Style};
use sandboxer::plan::{self, Action, Plan, Reason, WorkspaceRef};
use sandboxer::profile::Catalog;
use sandboxer::provenance::Provenance;
use sandboxer::state::{EmbeddedStore, StateStore};

/// The test driver's world: workspaces by path, and what it was asked to do.
#[derive(Debug, Default)]
struct Shelf {
    workspaces: Mutex<BTreeMap<String, Marker>>,
    batches: Mutex<Vec<usize>>,
    /// Creates of this sandbox leave a marked workspace, then panic.
    panic_on_create: Mutex<Option<String>>,
    observe_panics: AtomicBool,
    batching: AtomicBool,
}

#[derive(Debug, Clone)]
struct ShelfDriver(Arc<Shelf>);

fn shelf_name() -> DriverName {
    DriverName::new("shelf").expect("a driver name")
}

#[async_trait]
impl Driver for ShelfDriver {
    fn name(&self) -> DriverName {
        shelf_name()
    }

    fn location(&self, _: &DesiredResource) -> Location {
        Location::Local
    }

    async fn observe(&self, scope: Scope<'_>) -> Result<Observation, DriverError> {
        assert!(!self.0.observe_panics.load(Ordering::SeqCst), "the shelf fell over");
        let workspaces = self.0.workspaces.lock().expect("shelf");
        Ok(Observation {
            workspaces: workspaces
                .iter()
                .filter(|(_, m)| m.project == scope.project)
                .map(|(path, marker)| FoundWorkspace {
                    driver: shelf_name(),
                    location: Location::Local,
                    path: path.clone(),
                    marker: marker.clone(),
                    leftover: false,
                })
                .collect(),
            ..Observation::default()
        })
    }

    async fn create(&self, request: Request<'_>) -> Result<Made, DriverError> {
        let path = format!("shelf/sbx-{}", request.id);
        let mut marker = Marker::new(request.owner, request.resource, request.id);
        self.0
            .workspaces
            .lock()
            .expect("shelf")
            .insert(path.clone(), marker.clone());
        let doomed = self.0.panic_on_create.lock().expect("shelf").clone();
        if doomed.as_deref() == Some(request.resource.address.name.as_str()) {
            panic!("shelf broke while making {}", request.resource.address);
        }
        marker.complete = true;
        self.0.workspaces.lock().expect("shelf").insert(path.clone(), marker);
        Ok(Made {
            path,
            ..Made::default()
        })
    }

    async fn update(&self, request: Request<'_>, workspace: &WorkspaceRef) -> Result<Made, DriverError> {
        let mut workspaces = self.0.workspaces.lock().expect("shelf");
        let marker = workspaces
            .get_mut(&workspace.path)
            .filter(|m| m.id == workspace.id)
            .ok_or_else(|| DriverError::refused(format!("{} is not sandbox {}", workspace.path, workspace.id)))?;
        marker.spec_hash = request.resource.spec_hash();
        marker.complete = true;
        Ok(Made {
            path: workspace.path.clone(),
            ..Made::default()
        })
    }

    async fn delete(&self, removal: Removal<'_>) -> Result<(), DriverError> {
        self.0.workspaces.lock().expect("shelf").remove(&removal.workspace.path);
        Ok(())
    }

    fn batches(&self) -> bool {
        self.0.batching.load(Ordering::SeqCst)
    }

    async fn apply_batch(&self, _: &Location, items: Vec<BatchItem<'_>>) -> Vec<Result<Made, DriverError>> {
        self.0.batches.lock().expect("shelf").push(items.len());
        let mut results = Vec::new();
        for item in items {
            results.push(match &item.workspace {
                Some(w) => self.update(item.request, w).await,
                None => self.create(item.request).await,
            });
        }
        results
    }
}

/// A manifest folder with a profile of the shelf driver and `sandboxes` (name, depends_on).
struct World {
    dir: tempfile::TempDir,
    shelf: Arc<Shelf>,
    store: EmbeddedStore,
}

impl World {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("profiles")).expect("profiles");
        std::fs::write(
            dir.path().join("profiles/shelf.yaml"),
            "name: profile.shelf\ndescription: a workspace kept in memory\ndriver: shelf\n",
        )
        .expect("profile");
        let store = EmbeddedStore::new(&dir.path().join(".sandboxer"));
        World {
            dir,
            shelf: Arc::default(),
            store,
        }
    }

    fn manifest(&self, sandboxes: &[(&str, &[&str])]) -> std::path::PathBuf {
        let mut text = String::from("version: 1\nproject: seam\nsandboxes:\n");
        for (name, deps) in sandboxes {
            text.push_str(&format!("  {name}:\n    profile: profile.shelf\n"));
            if !deps.is_empty() {
                text.push_str(&format!("    depends_on: [{}]\n", deps.join(", ")));
            }
        }
        let path = self.dir.path().join("sandboxes.yaml");
        std::fs::write(&path, text).expect("manifest");
        path
    }

    fn desired(&self, manifest: &Path) -> Desired {
        let loaded = sandboxer::manifest::load(manifest).expect("the manifest loads");
        let mut catalog = Catalog::builtin();
        catalog
            .add_dir(&self.dir.path().join("profiles"))
            .expect("profiles load");
        let ctx = BuildContext {
            drivers: DriverName::builtin().into_iter().chain([shelf_name()]).collect(),
            ..BuildContext::default()
        };
        desired::build(&loaded, &catalog, &ctx).expect("the manifest is valid")
    }

    fn drivers(&self) -> Registry {
        Registry::new().with(Arc::new(ShelfDriver(self.shelf.clone())))
    }

    async fn plan(&self, desired: &Desired) -> (Plan, Observed) {
        let snapshot = self.store.load(&desired.project).await.expect("state");
        let observed = observe::observe(desired, snapshot, &self.drivers(), &self.dir.path().join("cache")).await;
        (plan::make(desired, &observed, &[]), observed)
    }

    async fn apply(&self, desired: Desired) -> (Plan, Outcome) {
        let (plan, observed) = self.plan(&desired).await;
        let lineage = self.store.ensure_lineage(&desired.project).await.expect("lineage");
        let (events, mut heard) = mpsc::unbounded_channel();
        let (_cancel, cancel_rx) = watch::channel(false);
        let job = Job {
            plan: &plan,
            desired: Arc::new(desired),
            observed,
            store: &self.store,
            drivers: self.drivers(),
            options: ApplyOptions {
                parallelism: 4,
                lineage,
                provenance: Some(Arc::new(Provenance::new(Some("seam@test".into()), None))),
            },
        };
        let outcome = apply::apply(job, events, cancel_rx).await.expect("apply runs");
        while heard.try_recv().is_ok() {}
        (plan, outcome)
    }

    fn shelf_paths(&self) -> Vec<String> {
        self.shelf.workspaces.lock().expect("shelf").keys().cloned().collect()
    }
}

fn actions(plan: &Plan) -> Vec<(String, Action)> {
    plan.changes.iter().map(|c| (c.address.to_string(), c.action)).collect()
}

#[tokio::test]
async fn a_driver_defined_outside_the_engine_runs_through_plan_and_apply() {
    let w = World::new();
    w.shelf.batching.store(true, Ordering::SeqCst);
    let manifest = w.manifest(&[("a", &[]), ("b", &[]), ("c", &[])]);

    let (plan, outcome) = w.apply(w.desired(&manifest)).await;
    assert!(outcome.is_success(), "{outcome:?}");
    assert_eq!(outcome.done.get(&Action::Create), Some(&3));
    assert!(plan.changes.iter().all(|c| c.reasons == [Reason::NewInManifest]));
    let text = render::text(&plan, Style { color: false });
    assert!(
        text.contains("  + sandbox.a will be created\n      because: new in manifest\n"),
        "{text}"
    );
    // The three creates at one location reached the driver as one batch.
    assert_eq!(*w.shelf.batches.lock().expect("shelf"), [3]);
    assert_eq!(w.shelf_paths().len(), 3);
    let records = w.store.load("seam").await.expect("state").records;
    assert_eq!(records.len(), 3);
    for record in records.values() {
        assert_eq!(record.driver, shelf_name());
        assert_eq!(record.facts.get("workspace"), Some(&format!("shelf/sbx-{}", record.id)));
        assert_eq!(record.facts.get("location").map(String::as_str), Some("local"));
        assert_eq!(
            record.provenance.as_ref().and_then(|p| p.applied_by.as_deref()),
            Some("seam@test")
        );
    }
    // The records of one apply hold one provenance, not a copy each.
    let shared: Vec<_> = records.values().filter_map(|r| r.provenance.as_ref()).collect();
    assert!(shared.windows(2).all(|w| Arc::ptr_eq(w[0], w[1])), "{shared:?}");

    // Converged: nothing to do.
    let (again, _) = w.plan(&w.desired(&manifest)).await;
    assert!(!again.summary.has_changes(), "{:?}", actions(&again));

    // Drift: a workspace gone from the shelf is made again.
    let gone = w.shelf_paths()[0].clone();
    w.shelf.workspaces.lock().expect("shelf").remove(&gone);
    let (drift, _) = w.plan(&w.desired(&manifest)).await;
    let creates: Vec<&plan::Change> = drift.changes.iter().filter(|c| c.action == Action::Create).collect();
    assert_eq!(creates.len(), 1, "{:?}", actions(&drift));
    assert_eq!(
        creates[0].reasons,
        [Reason::DriftMissing {
            path: Some(gone.clone())
        }]
    );

    // A sandbox taken out of the manifest is deleted through the driver that made it.
    let manifest = w.manifest(&[("a", &[]), ("b", &[])]);
    let (plan, outcome) = w.apply(w.desired(&manifest)).await;
    assert!(outcome.is_success(), "{outcome:?}");
    let delete = plan
        .changes
        .iter()
        .find(|c| c.action == Action::Delete)
        .expect("a delete");
    assert_eq!(delete.address, Address::sandbox("c"));
    assert_eq!(delete.workspace.as_ref().map(|w| w.driver.clone()), Some(shelf_name()));
    assert_eq!(w.store.load("seam").await.expect("state").records.len(), 2);
}

#[tokio::test]
async fn a_panic_in_a_change_fails_that_change_skips_its_dependents_and_is_adopted_next_time() {
    let w = World::new();
    *w.shelf.panic_on_create.lock().expect("shelf") = Some("boom".into());
    let manifest = w.manifest(&[("boom", &[]), ("after", &["sandbox.boom"]), ("other", &[])]);

    let (_, outcome) = w.apply(w.desired(&manifest)).await;
    assert_eq!(outcome.failed.len(), 1, "{outcome:?}");
    let failure = &outcome.failed[0];
    assert_eq!(failure.address, Address::sandbox("boom"));
    assert!(
        failure
            .error
            .contains("panicked: shelf broke while making sandbox.boom"),
        "{failure:?}"
    );
    assert_eq!(outcome.skipped, [Address::sandbox("after")]);
    assert!(outcome.not_started.is_empty(), "a panic is no interrupt: {outcome:?}");
    assert!(!outcome.interrupted);
    assert_eq!(outcome.done.get(&Action::Create), Some(&1), "the unrelated one is made");

    // What the panicking change left (a marked workspace, no record) is adopted.
    *w.shelf.panic_on_create.lock().expect("shelf") = None;
    let (plan, _) = w.plan(&w.desired(&manifest)).await;
    let boom = plan
        .changes
        .iter()
        .find(|c| c.address == Address::sandbox("boom"))
        .expect("boom is planned");
    assert_eq!(boom.action, Action::Update, "{:?}", boom.reasons);
    assert!(matches!(boom.reasons[0], Reason::Adopt { .. }), "{:?}", boom.reasons);
    let (_, outcome) = w.apply(w.desired(&manifest)).await;
    assert!(outcome.is_success(), "{outcome:?}");
    assert_eq!(w.shelf_paths().len(), 3, "no second workspace for boom");
}

#[tokio::test]
async fn a_site_whose_observe_panics_is_treated_as_unreachable_not_as_drift() {
    let w = World::new();
    let manifest = w.manifest(&[("a", &[]), ("b", &[])]);
    let (_, outcome) = w.apply(w.desired(&manifest)).await;
    assert!(outcome.is_success(), "{outcome:?}");

    w.shelf.observe_panics.store(true, Ordering::SeqCst);
    let (plan, observed) = w.plan(&w.desired(&manifest)).await;
    assert_eq!(observed.location_errors.len(), 1, "{:?}", observed.location_errors);
    let error = observed.location_errors.values().next().expect("one").to_string();
    assert!(error.contains("panicked: the shelf fell over"), "{error}");
    for change in &plan.changes {
        assert_eq!(change.action, Action::Update, "{change:?}");
        assert!(
            matches!(change.reasons[..], [Reason::LocationUnobserved { .. }]),
            "nothing is re-created on a guess: {:?}",
            change.reasons
        );
        assert!(change.id.is_some(), "the recorded workspace is kept: {change:?}");
    }
}
