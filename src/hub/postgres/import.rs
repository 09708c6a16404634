//! `sandboxer hub migrate-store --from DIR --to postgres://...`: copies a file
//! store into a PostgreSQL database, in one transaction, so a team moves its
//! hub without losing history. Records keep their versions, projects their
//! serials and keys, notes their numbers (cursors stay valid), leases their
//! holders. A record the database holds at a newer version (or at the same
//! version with other contents) is never overwritten: the whole copy is
//! refused, naming each one. Running it again copies nothing twice.

use deadpool_postgres::Transaction;

use super::{APPLICATION_NAME, PgError, StoreUrl, chain, migrate, pool_named};
use crate::hub::file::FileContents;

/// What a copy did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Imported {
    /// Projects copied (made or brought up to date).
    pub projects: usize,
    /// Records written.
    pub records: usize,
    /// Records the database already held, the same.
    pub records_already: usize,
    /// Leases copied (live ones only).
    pub leases: usize,
    /// Leases left out: expired, or the database's own is live.
    pub leases_skipped: usize,
    /// Notes copied.
    pub notes: usize,
    /// Sandboxes whose notes were copied.
    pub note_logs: usize,
    /// VM catalog entries copied.
    pub vms: usize,
    /// VM catalog entries the database already held (kept).
    pub vms_kept: usize,
}

/// Why nothing was copied.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The database.
    #[error(transparent)]
    Pg(#[from] PgError),
    /// Records or keys the database holds newer or different.
    #[error("the database holds newer or different state; nothing was copied:\n{}", .0.join("\n"))]
    Refused(Vec<String>),
    /// Hubs serve the database while its lineage would change under them.
    #[error(
        "{0} hub connection(s) are open on the database: stop its hubs before the first copy, which gives the database the files' lineage"
    )]
    HubsRunning(i64),
    /// The database holds the state of another hub.
    #[error(
        "the database already holds the state of another hub (lineage {database}, the files' is {files}); nothing was copied"
    )]
    OtherLineage {
        /// The database's lineage.
        database: String,
        /// The file store's lineage.
        files: String,
    },
}

/// Copies `contents` into the database at `url` (migrated first if need be).
pub async fn import(contents: &FileContents, url: &StoreUrl) -> Result<Imported, ImportError> {
    let pool = pool_named(url, 2, "sandboxer-migrate-store")?;
    migrate(&pool, url).await?;
    let query = |e: tokio_postgres::Error| {
        ImportError::Pg(PgError::Query {
            url: url.shown().to_string(),
            message: chain(&e),
        })
    };
    let mut client = pool.get().await.map_err(|e| PgError::Connect {
        url: url.shown().to_string(),
        message: chain(&e),
    })?;
    let tx = client.transaction().await.map_err(query)?;
    // Hubs on the database may read meanwhile; their writes wait for the copy.
    tx.batch_execute("LOCK TABLE hub_meta, projects, resources, leases, note_logs, notes, vms IN EXCLUSIVE MODE")
        .await
        .map_err(query)?;
    adopt_lineage(&tx, contents).await.map_err(|e| e.into_import(url))?;
    let mut done = Imported::default();
    copy_projects(&tx, contents, &mut done)
        .await
        .map_err(|e| e.into_import(url))?;
    copy_leases(&tx, contents, &mut done)
        .await
        .map_err(|e| e.into_import(url))?;
    copy_notes(&tx, contents, &mut done)
        .await
        .map_err(|e| e.into_import(url))?;
    copy_vms(&tx, contents, &mut done)
        .await
        .map_err(|e| e.into_import(url))?;
    tx.commit().await.map_err(query)?;
    Ok(done)
}

/// A step's failure, before it knows the URL.
enum Failed {
    Query(tokio_postgres::Error),
    HubsRunning(i64),
    Refused(Vec<String>),
    OtherLineage { database: String, files: String },
    Encode(String),
}

impl Failed {
    fn into_import(self, url: &StoreUrl) -> ImportError {
        match self {
            Failed::Query(e) => ImportError::Pg(PgError::Query {
                url: url.shown().to_string(),
                message: chain(&e),
            }),
            Failed::Encode(message) => ImportError::Pg(PgError::Query {
                url: url.shown().to_string(),
                message,
            }),
            Failed::Refused(problems) => ImportError::Refused(problems),
            Failed::HubsRunning(n) => ImportError::HubsRunning(n),
            Failed::OtherLineage { database, files } => ImportError::OtherLineage { database, files },
        }
    }
}

impl From<tokio_postgres::Error> for Failed {
    fn from(e: tokio_postgres::Error) -> Self {
        Failed::Query(e)
    }
}

fn json(value: &impl serde::Serialize) -> Result<serde_json::Value, Failed> {
    serde_json::to_value(value).map_err(|e| Failed::Encode(e.to_string()))
}

fn int(value: u64) -> Result<i64, Failed> {
    i64::try_from(value).map_err(|_| Failed::Encode(format!("{value} is past what the database keeps")))
}

/// The database takes the files' lineage while it holds nothing, so clients
/// and workspace markers go on recognising their state; a database with
/// another hub's state is refused.
async fn adopt_lineage(tx: &Transaction<'_>, contents: &FileContents) -> Result<(), Failed> {
    let database: String = tx
        .query_one("SELECT value FROM hub_meta WHERE key = 'lineage'", &[])
        .await?
        .get(0);
    if database == contents.lineage {
        return Ok(());
    }
    let holds: bool = tx
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM projects) OR EXISTS (SELECT 1 FROM note_logs) OR EXISTS (SELECT 1 FROM vms)",
            &[],
        )
        .await?
        .get(0);
    if holds {
        return Err(Failed::OtherLineage {
            database,
            files: contents.lineage.clone(),
        });
    }
    // A hub read the lineage when it started and would go on serving the old one.
    let hubs: i64 = tx
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1",
            &[&APPLICATION_NAME],
        )
        .await?
        .get(0);
    if hubs > 0 {
        return Err(Failed::HubsRunning(hubs));
    }
    tx.execute(
        "UPDATE hub_meta SET value = $1 WHERE key = 'lineage'",
        &[&contents.lineage],
    )
    .await?;
    Ok(())
}

async fn copy_projects(tx: &Transaction<'_>, contents: &FileContents, done: &mut Imported) -> Result<(), Failed> {
    let mut refused = Vec::new();
    for (project, data) in &contents.projects {
        let known = tx
            .query_opt("SELECT serial, sensitive_key FROM projects WHERE name = $1", &[project])
            .await?;
        let (serial, key): (i64, Option<String>) = known.map_or((0, None), |row| (row.get(0), row.get(1)));
        let serial = u64::try_from(serial).unwrap_or_default();
        if let (Some(theirs), Some(ours)) = (&key, &data.sensitive_key)
            && theirs != ours
        {
            refused.push(format!(
                "  project {project}: the database has another key for sensitive values (its hashes would not match)"
            ));
            continue;
        }
        // Serials count a project's writes: a database past the files' has
        // written since it was copied (a record made, updated or destroyed
        // there), and copying the files again would undo that.
        if serial > data.serial {
            refused.push(format!(
                "  project {project}: the database is at serial {serial}, the files at {}: it has moved on since they were copied",
                data.serial
            ));
            continue;
        }
        tx.execute(
            "INSERT INTO projects (name, serial, sensitive_key) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO UPDATE
             SET serial = GREATEST(projects.serial, EXCLUDED.serial),
                 sensitive_key = COALESCE(projects.sensitive_key, EXCLUDED.sensitive_key)",
            &[project, &int(data.serial.max(serial))?, &data.sensitive_key],
        )
        .await?;
        done.projects += 1;
        // Behind the files: what the files no longer hold was destroyed since.
        if serial < data.serial {
            let addresses: Vec<&String> = data.resources.keys().collect();
            tx.execute(
                "DELETE FROM resources WHERE project = $1 AND NOT (address = ANY($2))",
                &[project, &addresses],
            )
            .await?;
        }
        for (address, entry) in &data.resources {
            let record = json(&entry.record)?;
            let theirs = tx
                .query_opt(
                    "SELECT version, record FROM resources WHERE project = $1 AND address = $2",
                    &[project, address],
                )
                .await?;
            if let Some(row) = theirs {
                let version = u64::try_from(row.get::<_, i64>(0)).unwrap_or_default();
                let stored: serde_json::Value = row.get(1);
                if version > entry.version {
                    refused.push(format!(
                        "  {project} {address}: version {version} in the database, {} in the files",
                        entry.version
                    ));
                    continue;
                }
                if version == entry.version {
                    if stored == record {
                        done.records_already += 1;
                    } else {
                        refused.push(format!(
                            "  {project} {address}: version {version} in both, with other contents"
                        ));
                    }
                    continue;
                }
            }
            let vm = crate::hub::backend::record_vm(&entry.record);
            tx.execute(
                "INSERT INTO resources (project, address, version, record, vm) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (project, address) DO UPDATE
                 SET version = EXCLUDED.version, record = EXCLUDED.record, vm = EXCLUDED.vm",
                &[project, address, &int(entry.version)?, &record, &vm],
            )
            .await?;
            done.records += 1;
        }
    }
    if refused.is_empty() {
        Ok(())
    } else {
        Err(Failed::Refused(refused))
    }
}

/// Live leases go with their holders; a live one of the database's stays.
async fn copy_leases(tx: &Transaction<'_>, contents: &FileContents, done: &mut Imported) -> Result<(), Failed> {
    let now: i64 = tx.query_one(&format!("SELECT {}", super::NOW_MS), &[]).await?.get(0);
    for (project, lease) in &contents.leases {
        let expires = int(lease.expires_unix_ms)?;
        let theirs_live: bool = tx
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM leases WHERE project = $1 AND expires_unix_ms > $2)",
                &[project, &now],
            )
            .await?
            .get(0);
        if expires <= now || theirs_live {
            done.leases_skipped += 1;
            continue;
        }
        tx.execute(
            "INSERT INTO projects (name) VALUES ($1) ON CONFLICT (name) DO NOTHING",
            &[project],
        )
        .await?;
        tx.execute(
            "INSERT INTO leases (project, lock_id, holder, expires_unix_ms) VALUES ($1, $2, $3, $4)
             ON CONFLICT (project) DO UPDATE
             SET lock_id = EXCLUDED.lock_id, holder = EXCLUDED.holder, expires_unix_ms = EXCLUDED.expires_unix_ms",
            &[project, &lease.lock_id, &json(&lease.holder)?, &expires],
        )
        .await?;
        done.leases += 1;
    }
    Ok(())
}

/// Notes keep their numbers: those past what the database holds of the
/// sandbox are added, so a second run adds none.
async fn copy_notes(tx: &Transaction<'_>, contents: &FileContents, done: &mut Imported) -> Result<(), Failed> {
    for (id, (dropped, held)) in &contents.notes {
        let latest = dropped + held.len() as u64;
        let theirs = tx
            .query_opt("SELECT latest FROM note_logs WHERE sandbox_id = $1", &[id])
            .await?
            .map_or(0, |row| u64::try_from(row.get::<_, i64>(0)).unwrap_or_default());
        if latest <= theirs {
            continue;
        }
        tx.execute(
            "INSERT INTO note_logs (sandbox_id) VALUES ($1) ON CONFLICT (sandbox_id) DO NOTHING",
            &[id],
        )
        .await?;
        let mut last_received = 0;
        for (i, (note, received)) in held.iter().enumerate() {
            let n = dropped + i as u64 + 1;
            last_received = *received;
            if n <= theirs {
                continue;
            }
            tx.execute(
                "INSERT INTO notes (sandbox_id, n, received_unix_ms, note) VALUES ($1, $2, $3, $4)",
                &[id, &int(n)?, &int(*received)?, &json(note)?],
            )
            .await?;
            done.notes += 1;
        }
        tx.execute(
            "UPDATE note_logs SET latest = $2, dropped = GREATEST(dropped, $3),
                 last_received_unix_ms = GREATEST(last_received_unix_ms, $4)
             WHERE sandbox_id = $1",
            &[id, &int(latest)?, &int(*dropped)?, &int(last_received)?],
        )
        .await?;
        done.note_logs += 1;
    }
    Ok(())
}

/// The catalog is an observation cache: an entry the database has stays.
async fn copy_vms(tx: &Transaction<'_>, contents: &FileContents, done: &mut Imported) -> Result<(), Failed> {
    for (name, entry) in &contents.vms {
        let added = tx
            .execute(
                "INSERT INTO vms (name, entry) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                &[name, &json(entry)?],
            )
            .await?;
        if added == 1 {
            done.vms += 1;
        } else {
            done.vms_kept += 1;
        }
    }
    Ok(())
}
