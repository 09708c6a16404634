//! `sandboxer state list|show|rm|mv`: reading and editing the records of the
//! manifest's project, on the embedded store or the State Hub, under the
//! project's lock.
//!
//! `rm` and `mv` refuse an address that is not recorded before anything is
//! written, keep a backup of the project's records first, and rewrite the
//! workspace's marker so that the next plan sees what the operator meant: a
//! forgotten workspace is released (its marker no longer names this state, so
//! no plan adopts it or deletes it), a moved one names its new address. Neither
//! touches a workspace's content.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use sandboxer::address::Address;
use sandboxer::driver::{DriverError, MarkerEdit};
use sandboxer::state::{AnyStore, Record, StateStore};

use super::Settings;
use super::args::ManifestArg;
use super::engine::Engine;
use super::output::{Hinted, print_data};
use super::validate::load_desired;
use sandboxer::safety::printable;

/// Flags every edit takes.
#[derive(Debug, Args)]
pub struct EditOpts {
    #[command(flatten)]
    pub manifest: ManifestArg,
    /// How long to wait for the project's lock
    #[arg(long, default_value = "0", value_name = "DURATION", value_parser = sandboxer::duration::parse)]
    pub lock_timeout: Duration,
}

/// `state list`.
#[derive(Debug, Args)]
pub struct ListOpts {
    #[command(flatten)]
    pub manifest: ManifestArg,
}

/// `state show ADDR`.
#[derive(Debug, Args)]
pub struct ShowOpts {
    /// The recorded address (`sandbox.app`, `image.haskell-build`)
    pub address: Address,
    #[command(flatten)]
    pub manifest: ManifestArg,
}

/// `state rm ADDR...`.
#[derive(Debug, Args)]
pub struct RmOpts {
    /// The recorded addresses to forget
    #[arg(required = true)]
    pub addresses: Vec<Address>,
    #[command(flatten)]
    pub edit: EditOpts,
}

/// `state mv FROM TO`.
#[derive(Debug, Args)]
pub struct MvOpts {
    /// The recorded address
    pub from: Address,
    /// Its new address (not recorded yet, of the same kind)
    pub to: Address,
    #[command(flatten)]
    pub edit: EditOpts,
}

/// The manifest's project, its store and the drivers that reach its workspaces.
struct Project {
    name: String,
    store: AnyStore,
    engine: Engine,
    state_dir: PathBuf,
}

fn open(manifest: &ManifestArg, settings: &Settings) -> anyhow::Result<Project> {
    let desired = load_desired(&manifest.file, settings)?;
    let state_dir = settings.state_dir_for(&manifest.dir());
    let store = super::store::open(settings, &state_dir, desired.hub.as_ref())?;
    let engine = Engine::new(&state_dir, settings);
    Ok(Project {
        name: desired.project,
        store,
        engine,
        state_dir,
    })
}

/// `state list`: the project's recorded addresses, one a line.
pub fn list(opts: &ListOpts, settings: &Settings) -> anyhow::Result<ExitCode> {
    let project = open(&opts.manifest, settings)?;
    let snapshot = super::engine::runtime()?.block_on(project.store.load(&project.name))?;
    let text: String = snapshot.records.keys().map(|a| format!("{a}\n")).collect();
    print_data(&text)?;
    Ok(ExitCode::SUCCESS)
}

/// `state show ADDR`: the record, as JSON.
pub fn show(opts: &ShowOpts, settings: &Settings) -> anyhow::Result<ExitCode> {
    let project = open(&opts.manifest, settings)?;
    let snapshot = super::engine::runtime()?.block_on(project.store.load(&project.name))?;
    let record = recorded(&snapshot.records, &opts.address, &project)?;
    print_data(&(serde_json::to_string_pretty(record)? + "\n"))?;
    Ok(ExitCode::SUCCESS)
}

/// `state rm`: forgets records; their workspaces stay, released.
pub fn rm(opts: &RmOpts, settings: &Settings) -> anyhow::Result<ExitCode> {
    let project = open(&opts.edit.manifest, settings)?;
    let work = async {
        let snapshot = project.store.load(&project.name).await?;
        // Every address is checked before anything is written.
        let mut records = Vec::new();
        for address in &opts.addresses {
            records.push(recorded(&snapshot.records, address, &project)?.clone());
        }
        let backup = backup(&project, &snapshot.records).await?;
        let mut failed = Vec::new();
        for record in &records {
            match release(&project, record).await {
                Ok(workspace) => {
                    project.store.remove(&project.name, &record.address).await?;
                    if !settings.quiet {
                        eprintln!(
                            "Removed {} (id {}) from the state; {}.",
                            record.address,
                            printable(&record.id),
                            printable(&workspace)
                        );
                    }
                }
                Err(e) => failed.push(format!(
                    "{}: its workspace's marker could not be released, so the record is kept: {}",
                    record.address,
                    printable(&e.to_string())
                )),
            }
        }
        if !settings.quiet {
            eprintln!("The records before: {backup}");
        }
        if failed.is_empty() {
            Ok(ExitCode::SUCCESS)
        } else {
            Err(Hinted {
                message: failed.join("\n"),
                hint: "run `sandboxer state rm` again once the workspace's VM can be reached".into(),
            }
            .into())
        }
    };
    run_locked(&project, "state rm", opts.edit.lock_timeout, work)
}

/// `state mv FROM TO`: the record and its workspace's marker take the new address.
pub fn mv(opts: &MvOpts, settings: &Settings) -> anyhow::Result<ExitCode> {
    if opts.from.kind != opts.to.kind {
        return Err(Hinted {
            message: format!("cannot move {} to {}: an address keeps its kind", opts.from, opts.to),
            hint: match opts.from.kind {
                sandboxer::address::ResourceKind::Sandbox => "move it to another sandbox.<name>".into(),
                sandboxer::address::ResourceKind::Image => "move it to another image.<name>".into(),
            },
        }
        .into());
    }
    let project = open(&opts.edit.manifest, settings)?;
    let work = async {
        let snapshot = project.store.load(&project.name).await?;
        let record = recorded(&snapshot.records, &opts.from, &project)?.clone();
        if let Some(taken) = snapshot.records.get(&opts.to) {
            return Err(Hinted {
                message: format!(
                    "{} is recorded already (id {}); refusing to overwrite it",
                    opts.to, taken.id
                ),
                hint: format!("`sandboxer state rm {}` first if that record should go", opts.to),
            }
            .into());
        }
        let backup = backup(&project, &snapshot.records).await?;
        // The marker first: a kill after it leaves the record under its old
        // address, which still finds the workspace by id. Then the new record
        // is written before the old one goes: a kill between leaves two
        // records of one workspace, and the next plan keeps the workspace for
        // the one the manifest declares and removes only the other record.
        if let Some(workspace) = sandboxer::observe::recorded_workspace(&record) {
            let driver = project.engine.drivers.get(&record.driver)?;
            match driver
                .relabel(&project.name, &workspace, &MarkerEdit::Readdress(opts.to.clone()))
                .await
            {
                // Gone, or not its marker: nothing to rewrite; the record moves.
                Ok(()) | Err(DriverError::Refused { .. }) => {}
                Err(e) => {
                    return Err(anyhow::Error::new(e)
                        .context(format!("cannot rewrite the marker of {}", printable(&workspace.path))));
                }
            }
        }
        let moved = Record {
            address: opts.to.clone(),
            ..record
        };
        project.store.put(&project.name, &moved).await?;
        project.store.remove(&project.name, &opts.from).await?;
        if !settings.quiet {
            eprintln!(
                "Moved {} to {} (id {}); its workspace is kept as it is.",
                opts.from,
                opts.to,
                printable(&moved.id)
            );
            eprintln!("The records before: {backup}");
        }
        Ok(ExitCode::SUCCESS)
    };
    run_locked(&project, "state mv", opts.edit.lock_timeout, work)
}

fn run_locked(
    project: &Project,
    command: &str,
    timeout: Duration,
    work: impl std::future::Future<Output = anyhow::Result<ExitCode>>,
) -> anyhow::Result<ExitCode> {
    project.engine.run(super::store::locked(
        &project.store,
        &project.name,
        command,
        timeout,
        work,
    ))
}

/// The record of `address`, or a refusal naming what is recorded.
fn recorded<'a>(
    records: &'a std::collections::BTreeMap<Address, Record>,
    address: &Address,
    project: &Project,
) -> anyhow::Result<&'a Record> {
    records.get(address).ok_or_else(|| {
        let known: Vec<String> = records.keys().map(ToString::to_string).collect();
        Hinted {
            message: format!(
                "{address} is not recorded for project {} in {}",
                project.name,
                project.store.describe()
            ),
            hint: if known.is_empty() {
                "nothing is recorded for this project".into()
            } else {
                format!("recorded: {}", known.join(", "))
            },
        }
        .into()
    })
}

/// Releases the record's workspace, if it has one; says what became of it.
async fn release(project: &Project, record: &Record) -> Result<String, anyhow::Error> {
    let Some(workspace) = sandboxer::observe::recorded_workspace(record) else {
        return Ok("it has no workspace".into());
    };
    let shown = workspace.location.show_path(&workspace.path);
    let driver = project.engine.drivers.get(&record.driver)?;
    match driver.relabel(&project.name, &workspace, &MarkerEdit::Release).await {
        Ok(()) => Ok(format!(
            "its workspace {shown} is left as it is, released: no plan of this state adopts or deletes it"
        )),
        // Gone, or someone else's marker already: nothing of this state to release.
        Err(DriverError::Refused { .. }) => Ok(format!(
            "its workspace {shown} does not carry its marker (gone, or someone else's): left alone"
        )),
        Err(e) => Err(e.into()),
    }
}

/// Writes the project's records as they are before the edit; says where.
/// The embedded store keeps `state.json.backup` next to `state.json` (the
/// whole state, journal folded in); a hub's records go to a file of their own
/// in the state folder, named by project and serial.
async fn backup(project: &Project, records: &std::collections::BTreeMap<Address, Record>) -> anyhow::Result<String> {
    let (path, bytes) = match &project.store {
        AnyStore::Embedded(embedded) => {
            embedded.compact()?;
            let state = embedded.dir().join("state.json");
            let bytes = match sandboxer::fsutil::read_input_bytes(&state) {
                Ok(bytes) => bytes,
                Err(e) => return Err(anyhow::Error::new(e).context(format!("cannot read {}", state.display()))),
            };
            (embedded.dir().join("state.json.backup"), bytes)
        }
        AnyStore::Hub(_) => {
            let serial = project.store.load(&project.name).await?.serial;
            let dir = project.state_dir.join("hub-backups");
            let path = dir.join(format!("{}.{serial}.json", project.name));
            let bytes = serde_json::to_vec_pretty(&serde_json::json!({
                "hub": project.store.describe(),
                "project": project.name,
                "serial": serial,
                "records": records,
            }))?;
            make_private_dir(&dir)?;
            (path, bytes)
        }
    };
    sandboxer::fsutil::write_atomic(&path, &bytes)
        .with_context(|| format!("cannot write the backup {}", path.display()))?;
    Ok(path.display().to_string())
}

/// The backups folder: ours alone (0700, also when it was there), and kept
/// out of git: it sits next to a manifest that lives in a repository, and
/// holds every record of a project.
fn make_private_dir(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    let meta = std::fs::symlink_metadata(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    if !meta.is_dir() {
        anyhow::bail!("{} is not a folder", dir.display());
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("cannot make {} private", dir.display()))?;
    let ignore = dir.join(".gitignore");
    if std::fs::symlink_metadata(&ignore).is_err() {
        sandboxer::fsutil::write_atomic(&ignore, b"# backups of state records: never committed\n*\n")
            .with_context(|| format!("cannot write {}", ignore.display()))?;
    }
    Ok(())
}
