//! The PostgreSQL store: several hubs on one database serve one consistent
//! state. `sandboxer hub serve --store postgres://USER@HOST:PORT/DB`.
//!
//! Every write is one transaction that first locks its parent row (the
//! project's for records and leases, the sandbox's note log for notes), so the
//! writes of one project, or one sandbox's notes, go one at a time across every
//! hub; different ones go side by side. A record write is a conditional UPDATE
//! on the version the writer read (an INSERT that must not conflict for a new
//! one): a stale write changes nothing and is a 409. Lease expiry and the time
//! a note was received come from the database's clock, so hubs whose clocks
//! differ still agree. Reads take no lock.
//!
//! The schema comes from versioned SQL migrations embedded in the binary
//! ([`migrate`]), applied at start under an advisory lock, so hubs starting
//! together do not race. A lost database is a 503 naming it; the pool makes new
//! connections once it is back, with no restart.

pub mod import;
mod url;

use std::time::Duration;

use async_trait::async_trait;
use axum::http::StatusCode;
use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime, Transaction};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{IsolationLevel, NoTls, Row};

pub use url::{PasswordSource, StoreUrl, StoreUrlError};

use super::api::{
    LockRequest, NoteList, RenewRequest, ResourceEntry, SandboxEntry, StoreHealth, VmCapabilities, Written,
};
use super::backend::{self, ApiError, Backend, Lease, NoteLogSummary, RecordSummary};
use super::server::NotesPolicy;
use crate::state::{Note, Record};

/// The migrations, in order: (version, name, SQL). A version, once shipped,
/// never changes; a new schema is a new migration.
pub const MIGRATIONS: &[(i32, &str, &str)] = &[(1, "initial", include_str!("migrations/0001_initial.sql"))];

/// The advisory lock migrations run under (any constant all hubs share).
const MIGRATION_LOCK: i64 = 0x5344_424f_5845_5231; // "SDBOXER1"

/// How a hub's connections name themselves to the server (`pg_stat_activity`).
pub const APPLICATION_NAME: &str = "sandboxer-hub";

/// Connections a hub keeps to its database at most, unless told otherwise.
pub const DEFAULT_CONNECTIONS: usize = 16;

/// How long a request waits for a connection, and a new connection for the server.
const CONNECT_WAIT: Duration = Duration::from_secs(5);

/// The database's clock, Unix milliseconds.
const NOW_MS: &str = "(extract(epoch FROM clock_timestamp()) * 1000)::bigint";

/// Errors opening the store or migrating it.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    /// The database cannot be reached or refused the connection.
    #[error("cannot connect to the hub's database {url}: {message}")]
    Connect {
        /// The URL, without its password.
        url: String,
        /// Why.
        message: String,
    },
    /// A statement failed.
    #[error("the hub's database {url}: {message}")]
    Query {
        /// The URL, without its password.
        url: String,
        /// What failed.
        message: String,
    },
    /// The database was migrated by a newer sandboxer.
    #[error(
        "the hub's database {url} has schema version {found}; this sandboxer knows up to version {known}: run a newer sandboxer"
    )]
    TooNew {
        /// The URL, without its password.
        url: String,
        /// The newest version applied.
        found: i32,
        /// The newest version this binary has.
        known: i32,
    },
}

/// How long one statement may run, and wait for a row lock; and how long a
/// transaction may sit idle. A hub that stopped half-way through a
/// transaction (frozen, cut off) so holds a project's lock for seconds, not
/// until the server's TCP gives up on it, and no request of another hub
/// waits past these.
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(20);
const LOCK_TIMEOUT: Duration = Duration::from_secs(10);
const IDLE_IN_TRANSACTION_TIMEOUT: Duration = Duration::from_secs(30);

/// The server settings every connection of a hub starts with.
fn session_options() -> String {
    format!(
        "-c statement_timeout={} -c lock_timeout={} -c idle_in_transaction_session_timeout={}",
        STATEMENT_TIMEOUT.as_millis(),
        LOCK_TIMEOUT.as_millis(),
        IDLE_IN_TRANSACTION_TIMEOUT.as_millis()
    )
}

/// A pool of connections to the database at `url`, named as a hub's.
pub fn pool(url: &StoreUrl, connections: usize) -> Result<Pool, PgError> {
    pool_named(url, connections, APPLICATION_NAME)
}

/// A pool whose connections name themselves `name` to the server.
pub fn pool_named(url: &StoreUrl, connections: usize, name: &str) -> Result<Pool, PgError> {
    let mut config = url.config().clone();
    config.connect_timeout(CONNECT_WAIT);
    config.options(session_options());
    // A database that went away is noticed within a minute on a busy
    // connection (unacknowledged data) and on an idle one (keepalives).
    config.tcp_user_timeout(Duration::from_secs(30));
    config.keepalives(true);
    config.keepalives_idle(Duration::from_secs(30));
    config.keepalives_interval(Duration::from_secs(10));
    config.keepalives_retries(3);
    config.application_name(name);
    let recycling = ManagerConfig {
        recycling_method: RecyclingMethod::Fast,
    };
    let manager = if url.tls() {
        Manager::from_config(config, tls_connector(url)?, recycling)
    } else {
        Manager::from_config(config, NoTls, recycling)
    };
    Pool::builder(manager)
        .max_size(connections.max(1))
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(CONNECT_WAIT))
        .create_timeout(Some(CONNECT_WAIT))
        .recycle_timeout(Some(CONNECT_WAIT))
        .build()
        .map_err(|e| PgError::Connect {
            url: url.shown().to_string(),
            message: e.to_string(),
        })
}

/// TLS for `sslmode=require`: the server's certificate must chain to a CA of
/// the system's store or of `--store-ca`, and name the URL's host (as
/// libpq's `verify-full`: an unchecked certificate would only hide a man in
/// the middle).
fn tls_connector(url: &StoreUrl) -> Result<tokio_postgres_rustls::MakeRustlsConnect, PgError> {
    let refused = |message: String| PgError::Connect {
        url: url.shown().to_string(),
        message,
    };
    let mut roots = rustls::RootCertStore::empty();
    for certificate in rustls_native_certs::load_native_certs().certs {
        // A certificate of the system's store that rustls cannot use is skipped, as reqwest does.
        let _ = roots.add(certificate);
    }
    for certificate in url.ca() {
        roots
            .add(certificate.clone())
            .map_err(|e| refused(format!("a certificate of --store-ca is not a usable CA: {e}")))?;
    }
    if roots.is_empty() {
        return Err(refused(
            "sslmode=require, and no CA certificate to check the database's certificate with: give --store-ca FILE"
                .into(),
        ));
    }
    let config =
        rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| refused(format!("TLS: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// Applies the migrations the database lacks, under the advisory lock, each
/// in one transaction with its row in `sandboxer_migrations`; makes the
/// lineage if there is none. Returns the versions applied now.
pub async fn migrate(pool: &Pool, url: &StoreUrl) -> Result<Vec<i32>, PgError> {
    let failed = |e: &dyn std::fmt::Display| PgError::Query {
        url: url.shown().to_string(),
        message: e.to_string(),
    };
    let mut client = pool.get().await.map_err(|e| PgError::Connect {
        url: url.shown().to_string(),
        message: chain(&e),
    })?;
    // A database already up to date needs no lock and no rights to create
    // tables: a hub's role may be one that only reads and writes rows.
    if up_to_date(&client).await.map_err(|e| failed(&chain(&e)))? {
        return Ok(Vec::new());
    }
    // Session-level: held across the transactions below, let go at the end
    // (or when the connection drops, if this process dies first). Taken in
    // turns, saying so while another hub holds it.
    let mut waited = std::time::Instant::now();
    loop {
        let locked: bool = client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(|e| failed(&chain(&e)))?
            .get(0);
        if locked {
            break;
        }
        if waited.elapsed() >= Duration::from_secs(5) {
            tracing::info!(
                "hub database {}: waiting for another hub to finish migrating it",
                url.shown()
            );
            waited = std::time::Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let applied = apply_migrations(&mut client, url).await;
    let unlocked = client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await;
    let applied = applied?;
    unlocked.map_err(|e| failed(&chain(&e)))?;
    Ok(applied)
}

/// Whether every migration this binary has is applied (and the lineage made).
async fn up_to_date(client: &Object) -> Result<bool, tokio_postgres::Error> {
    let exists: bool = client
        .query_one("SELECT to_regclass('sandboxer_migrations') IS NOT NULL", &[])
        .await?
        .get(0);
    if !exists {
        return Ok(false);
    }
    let newest: Option<i32> = client
        .query_one("SELECT max(version) FROM sandboxer_migrations", &[])
        .await?
        .get(0);
    let known = MIGRATIONS.iter().map(|(v, _, _)| *v).max().unwrap_or(0);
    // A newer database goes on to apply_migrations, which names the problem.
    Ok(newest == Some(known))
}

async fn apply_migrations(client: &mut Object, url: &StoreUrl) -> Result<Vec<i32>, PgError> {
    let failed = |e: &dyn std::fmt::Display| PgError::Query {
        url: url.shown().to_string(),
        message: e.to_string(),
    };
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS sandboxer_migrations (
                version    integer PRIMARY KEY,
                name       text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )",
        )
        .await
        .map_err(|e| failed(&chain(&e)))?;
    let done: Vec<i32> = client
        .query("SELECT version FROM sandboxer_migrations ORDER BY version", &[])
        .await
        .map_err(|e| failed(&chain(&e)))?
        .iter()
        .map(|row| row.get(0))
        .collect();
    let known = MIGRATIONS.iter().map(|(v, _, _)| *v).max().unwrap_or(0);
    if let Some(found) = done.iter().copied().max().filter(|found| *found > known) {
        return Err(PgError::TooNew {
            url: url.shown().to_string(),
            found,
            known,
        });
    }
    let mut applied = Vec::new();
    for (version, name, sql) in MIGRATIONS {
        if done.contains(version) {
            continue;
        }
        let tx = client.transaction().await.map_err(|e| failed(&chain(&e)))?;
        tx.batch_execute(sql)
            .await
            .map_err(|e| failed(&format!("migration {version} ({name}): {}", chain(&e))))?;
        tx.execute(
            "INSERT INTO sandboxer_migrations (version, name) VALUES ($1, $2)",
            &[version, name],
        )
        .await
        .map_err(|e| failed(&chain(&e)))?;
        // The lineage commits with the schema: a database is never up to date without one.
        tx.execute(
            "INSERT INTO hub_meta (key, value) VALUES ('lineage', $1) ON CONFLICT (key) DO NOTHING",
            &[&crate::id::random_id(16)],
        )
        .await
        .map_err(|e| failed(&chain(&e)))?;
        tx.commit().await.map_err(|e| failed(&chain(&e)))?;
        tracing::info!("hub database {}: applied migration {version} ({name})", url.shown());
        applied.push(*version);
    }
    Ok(applied)
}

/// The PostgreSQL store behind a hub.
pub struct PgBackend {
    pool: Pool,
    shown: String,
    lineage: String,
    notes_policy: NotesPolicy,
}

impl PgBackend {
    /// Connects, migrates and reads the lineage.
    pub async fn open(url: &StoreUrl, connections: usize, notes_policy: NotesPolicy) -> Result<PgBackend, PgError> {
        let pool = pool(url, connections)?;
        migrate(&pool, url).await?;
        let client = pool.get().await.map_err(|e| PgError::Connect {
            url: url.shown().to_string(),
            message: chain(&e),
        })?;
        let lineage: String = client
            .query_one("SELECT value FROM hub_meta WHERE key = 'lineage'", &[])
            .await
            .map_err(|e| PgError::Query {
                url: url.shown().to_string(),
                message: chain(&e),
            })?
            .get(0);
        Ok(PgBackend {
            pool,
            shown: url.shown().to_string(),
            lineage,
            notes_policy,
        })
    }

    /// `sql` prepared on `client`'s connection once and kept there (deadpool
    /// caches it): a statement then costs one round trip, not two.
    async fn prepared(&self, client: &impl GenericClient, sql: &str) -> Result<tokio_postgres::Statement, ApiError> {
        client
            .prepare_cached(sql)
            .await
            .map_err(|e| self.failed("preparing a statement", e))
    }

    /// Runs `sql` on `client` (prepared once per connection, so a statement
    /// costs one round trip) with `params`; `what` names it in errors.
    async fn exec(
        &self,
        client: &impl GenericClient,
        what: &str,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, ApiError> {
        let statement = self.prepared(client, sql).await?;
        client
            .execute(&statement, params)
            .await
            .map_err(|e| self.failed(what, e))
    }

    /// The rows of `sql`, as [`PgBackend::exec`] runs it.
    async fn rows(
        &self,
        client: &impl GenericClient,
        what: &str,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, ApiError> {
        let statement = self.prepared(client, sql).await?;
        client.query(&statement, params).await.map_err(|e| self.failed(what, e))
    }

    /// The one row of `sql`.
    async fn row(
        &self,
        client: &impl GenericClient,
        what: &str,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Row, ApiError> {
        let statement = self.prepared(client, sql).await?;
        client
            .query_one(&statement, params)
            .await
            .map_err(|e| self.failed(what, e))
    }

    /// The row of `sql`, if there is one.
    async fn row_opt(
        &self,
        client: &impl GenericClient,
        what: &str,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, ApiError> {
        let statement = self.prepared(client, sql).await?;
        client
            .query_opt(&statement, params)
            .await
            .map_err(|e| self.failed(what, e))
    }

    async fn client(&self) -> Result<Object, ApiError> {
        self.pool.get().await.map_err(|e| match e {
            // Every connection busy for the whole wait: load, not an outage.
            deadpool_postgres::PoolError::Timeout(deadpool_postgres::TimeoutType::Wait) => {
                ApiError::unavailable(format!(
                    "the hub's {} connections to its database are all busy; try again",
                    self.pool.status().max_size
                ))
            }
            e => ApiError::unavailable(format!(
                "the hub's database {} is unreachable: {}; try again once it is back",
                self.shown,
                chain(&e)
            )),
        })
    }

    /// The error answer for a failed statement: the database gone (or going
    /// away) is a 503; anything else it says is a 500 with its words.
    fn failed(&self, what: &str, e: tokio_postgres::Error) -> ApiError {
        match e.code().map(failure_of) {
            None | Some(Failure::Away) => ApiError::unavailable(format!(
                "the hub's database {} is unreachable ({what}): {}; try again once it is back",
                self.shown,
                chain(&e)
            )),
            Some(Failure::Busy) => ApiError::unavailable(format!(
                "the hub's database {} is busy ({what}): {}; try again",
                self.shown,
                chain(&e)
            )),
            Some(Failure::Other) => {
                ApiError::internal(format!("the hub's database {} ({what}): {}", self.shown, chain(&e)))
            }
        }
    }

    /// The record's version, 0 when there is none.
    async fn current_version(
        &self,
        client: &impl GenericClient,
        project: &str,
        address: &str,
    ) -> Result<u64, ApiError> {
        let row = self
            .row_opt(
                client,
                "reading a record",
                "SELECT version FROM resources WHERE project = $1 AND address = $2",
                &[&project, &address],
            )
            .await?;
        Ok(row.map_or(0, |row| to_u64(row.get(0))))
    }

    /// The project's lease as the transaction sees it.
    async fn lease_in(&self, client: &impl GenericClient, project: &str) -> Result<Option<Lease>, ApiError> {
        let row = self
            .row_opt(
                client,
                "reading a lease",
                "SELECT lock_id, holder, expires_unix_ms FROM leases WHERE project = $1",
                &[&project],
            )
            .await?;
        row.map(|row| {
            let holder: serde_json::Value = row.get(1);
            Ok(Lease {
                lock_id: row.get(0),
                holder: serde_json::from_value(holder)
                    .map_err(|e| ApiError::internal(format!("a lease of project {project} in the database: {e}")))?,
                expires_unix_ms: to_u64(row.get(2)),
            })
        })
        .transpose()
    }

    /// Makes the project's row if need be and locks it: the writes of one
    /// project go one at a time, whichever hub takes them. Returns its serial
    /// and the database's time.
    async fn lock_project(&self, tx: &Transaction<'_>, project: &str) -> Result<(u64, u64), ApiError> {
        // One statement: made if need be, and locked either way (an upsert
        // locks the row it finds, and returns its latest serial).
        let sql = format!(
            "INSERT INTO projects (name) VALUES ($1)
             ON CONFLICT (name) DO UPDATE SET serial = projects.serial
             RETURNING serial, {NOW_MS}"
        );
        let row = self.row(tx, "locking a project", &sql, &[&project]).await?;
        Ok((to_u64(row.get(0)), to_u64(row.get(1))))
    }

    async fn set_lease(&self, tx: &Transaction<'_>, project: &str, lease: &Lease) -> Result<(), ApiError> {
        let holder = serde_json::to_value(&lease.holder).map_err(|e| ApiError::internal(e.to_string()))?;
        self.exec(
            tx,
            "writing a lease",
            "INSERT INTO leases (project, lock_id, holder, expires_unix_ms) VALUES ($1, $2, $3, $4)
             ON CONFLICT (project) DO UPDATE
             SET lock_id = EXCLUDED.lock_id, holder = EXCLUDED.holder, expires_unix_ms = EXCLUDED.expires_unix_ms",
            &[&project, &lease.lock_id, &holder, &to_i64(lease.expires_unix_ms)?],
        )
        .await?;
        Ok(())
    }

    /// How many of a sandbox's oldest notes are gone at `now`, of the
    /// `stored` ones (numbered up to `stored`) with `incoming` more about to
    /// be added: those before the last `keep`, and those received before
    /// `max_age` — oldest first, a note going with every note before it, as
    /// on the file store.
    async fn dropped_at(
        &self,
        client: &impl GenericClient,
        id: &str,
        stored: u64,
        incoming: u64,
        dropped: u64,
        now: u64,
    ) -> Result<u64, ApiError> {
        let keep = u64::try_from(self.notes_policy.keep.max(1)).unwrap_or(u64::MAX);
        let mut gone = dropped.max((stored + incoming).saturating_sub(keep));
        if let Some(age) = self.notes_policy.max_age.filter(|age| !age.is_zero())
            && gone < stored
        {
            let cutoff = now.saturating_sub(u64::try_from(age.as_millis()).unwrap_or(u64::MAX));
            // The oldest note young enough to stay: every one before it goes.
            let young: Option<i64> = self
                .row(
                    client,
                    "reading notes",
                    "SELECT min(n) FROM notes WHERE sandbox_id = $1 AND n > $2 AND received_unix_ms >= $3",
                    &[&id, &to_i64(gone)?, &to_i64(cutoff)?],
                )
                .await?
                .get(0);
            gone = gone.max(young.map_or(stored, |n| to_u64(n).saturating_sub(1)));
        }
        Ok(gone.min(stored))
    }
}

#[async_trait]
impl Backend for PgBackend {
    fn lineage(&self) -> &str {
        &self.lineage
    }

    async fn health(&self) -> StoreHealth {
        let answer = async {
            let client = self.client().await.map_err(|e| e.1.error)?;
            client
                .query_one("SELECT 1", &[])
                .await
                .map_err(|e| self.failed("health", e).1.error)?;
            Ok::<(), String>(())
        };
        let error = match tokio::time::timeout(CONNECT_WAIT, answer).await {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e),
            Err(_) => Some(format!(
                "the hub's database {} did not answer within {CONNECT_WAIT:?}",
                self.shown
            )),
        };
        StoreHealth {
            kind: "postgres".into(),
            reachable: error.is_none(),
            error,
        }
    }

    async fn list_resources(&self, project: &str) -> Result<(u64, Vec<ResourceEntry>), ApiError> {
        let client = self.client().await?;
        // One statement: the serial and the records of one snapshot.
        let rows = self
            .rows(
                &client,
                "listing records",
                "SELECT p.serial, r.record, r.version FROM projects p
                 LEFT JOIN resources r ON r.project = p.name
                 WHERE p.name = $1 ORDER BY r.address COLLATE \"C\"",
                &[&project],
            )
            .await?;
        let serial = rows.first().map_or(0, |row| to_u64(row.get(0)));
        let mut resources = Vec::with_capacity(rows.len());
        for row in &rows {
            let record: Option<serde_json::Value> = row.get(1);
            if let Some(record) = record {
                resources.push(entry(project, record, row.get(2))?);
            }
        }
        Ok((serial, resources))
    }

    async fn get_resource(&self, project: &str, address: &str) -> Result<Option<ResourceEntry>, ApiError> {
        let client = self.client().await?;
        let row = self
            .row_opt(
                &client,
                "reading a record",
                "SELECT record, version FROM resources WHERE project = $1 AND address = $2",
                &[&project, &address],
            )
            .await?;
        row.map(|row| entry(project, row.get(0), row.get(1))).transpose()
    }

    async fn put_resource(
        &self,
        project: &str,
        address: &str,
        record: Record,
        expected: u64,
        lock: Option<&str>,
    ) -> Result<Written, ApiError> {
        let vm = backend::record_vm(&record);
        let json = serde_json::to_value(&record).map_err(|e| ApiError::internal(e.to_string()))?;
        let mut client = self.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(|e| self.failed("starting a write", e))?;
        let (serial, now) = self.lock_project(&tx, project).await?;
        backend::check_write_lock(self.lease_in(&tx, project).await?.as_ref(), project, lock, now)?;
        let changed = if expected == 0 {
            self.exec(
                &tx,
                "writing a record",
                "INSERT INTO resources (project, address, version, record, vm) VALUES ($1, $2, 1, $3, $4)
                 ON CONFLICT (project, address) DO NOTHING",
                &[&project, &address, &json, &vm],
            )
            .await?
        } else {
            self.exec(
                &tx,
                "writing a record",
                "UPDATE resources SET version = version + 1, record = $3, vm = $4
                 WHERE project = $1 AND address = $2 AND version = $5",
                &[&project, &address, &json, &vm, &to_i64(expected)?],
            )
            .await?
        };
        if changed == 0 {
            let current = self.current_version(&tx, project, address).await?;
            return Err(backend::stale_write(address, current, expected));
        }
        let serial = backend::next_serial(serial)?;
        self.exec(
            &tx,
            "writing a record",
            "UPDATE projects SET serial = $2 WHERE name = $1",
            &[&project, &to_i64(serial)?],
        )
        .await?;
        tx.commit().await.map_err(|e| self.failed("committing a write", e))?;
        Ok(Written {
            version: expected + 1,
            serial,
        })
    }

    async fn delete_resource(
        &self,
        project: &str,
        address: &str,
        expected: Option<u64>,
        lock: Option<&str>,
    ) -> Result<Written, ApiError> {
        let mut client = self.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(|e| self.failed("starting a delete", e))?;
        let (serial, now) = self.lock_project(&tx, project).await?;
        backend::check_write_lock(self.lease_in(&tx, project).await?.as_ref(), project, lock, now)?;
        let current = self.current_version(&tx, project, address).await?;
        if current == 0 {
            return Err(backend::no_resource(project, address));
        }
        if let Some(expected) = expected
            && expected != current
        {
            return Err(backend::stale_delete(address, current, expected));
        }
        let removed = self
            .exec(
                &tx,
                "deleting a record",
                "DELETE FROM resources WHERE project = $1 AND address = $2 AND version = $3",
                &[&project, &address, &to_i64(current)?],
            )
            .await?;
        if removed == 0 {
            return Err(backend::stale_delete(address, current, expected.unwrap_or(current)));
        }
        let serial = backend::next_serial(serial)?;
        self.exec(
            &tx,
            "deleting a record",
            "UPDATE projects SET serial = $2 WHERE name = $1",
            &[&project, &to_i64(serial)?],
        )
        .await?;
        tx.commit().await.map_err(|e| self.failed("committing a delete", e))?;
        Ok(Written { version: 0, serial })
    }

    async fn sensitive_key(&self, project: &str) -> Result<String, ApiError> {
        let client = self.client().await?;
        let known: Option<String> = self
            .row_opt(
                &client,
                "reading a project",
                "SELECT sensitive_key FROM projects WHERE name = $1",
                &[&project],
            )
            .await?
            .and_then(|row| row.get(0));
        if let Some(key) = known {
            return Ok(key);
        }
        let key = crate::sensitive::SensitiveKey::generate_hex()
            .map_err(|e| ApiError::internal(format!("no random key: {e}")))?;
        // Whoever comes first sets it; everyone gets the one that was set.
        let row = self.row(&client, "writing a project's key", "INSERT INTO projects (name, sensitive_key) VALUES ($1, $2)
                 ON CONFLICT (name) DO UPDATE SET sensitive_key = COALESCE(projects.sensitive_key, EXCLUDED.sensitive_key)
                 RETURNING sensitive_key", &[&project, &key]).await?;
        Ok(row.get(0))
    }

    async fn lease_status(&self, project: &str) -> Result<Option<Lease>, ApiError> {
        let client = self.client().await?;
        let now: i64 = self
            .row(&client, "reading the time", &format!("SELECT {NOW_MS}"), &[])
            .await?
            .get(0);
        let lease = self.lease_in(&client, project).await?;
        Ok(lease.filter(|l| l.live(to_u64(now))))
    }

    async fn acquire_lock(&self, project: &str, request: LockRequest) -> Result<Lease, ApiError> {
        let mut client = self.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(|e| self.failed("taking a lease", e))?;
        let (_, now) = self.lock_project(&tx, project).await?;
        if let Some(lease) = self.lease_in(&tx, project).await?.filter(|l| l.live(now)) {
            return Err(backend::locked(project, &lease));
        }
        let lease = backend::new_lease(request, now);
        self.set_lease(&tx, project, &lease).await?;
        tx.commit().await.map_err(|e| self.failed("taking a lease", e))?;
        Ok(lease)
    }

    async fn renew_lock(&self, project: &str, request: RenewRequest) -> Result<Lease, ApiError> {
        let mut client = self.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(|e| self.failed("renewing a lease", e))?;
        let (_, now) = self.lock_project(&tx, project).await?;
        let Some(held) = self
            .lease_in(&tx, project)
            .await?
            .filter(|l| l.lock_id == request.lock_id && l.live(now))
        else {
            return Err(backend::not_held(project, &request.lock_id));
        };
        let lease = Lease {
            expires_unix_ms: now + backend::ttl_ms(request.ttl_seconds),
            ..held
        };
        self.set_lease(&tx, project, &lease).await?;
        tx.commit().await.map_err(|e| self.failed("renewing a lease", e))?;
        Ok(lease)
    }

    async fn release_lock(&self, project: &str, lock_id: &str) -> Result<(), ApiError> {
        let mut client = self.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(|e| self.failed("releasing a lease", e))?;
        self.lock_project(&tx, project).await?;
        match self.lease_in(&tx, project).await? {
            Some(lease) if lease.lock_id == lock_id => {
                self.exec(
                    &tx,
                    "releasing a lease",
                    "DELETE FROM leases WHERE project = $1",
                    &[&project],
                )
                .await?;
                tx.commit().await.map_err(|e| self.failed("releasing a lease", e))?;
                Ok(())
            }
            None => Ok(()),
            Some(_) => Err(backend::not_the_lock(project, lock_id)),
        }
    }

    async fn append_note(&self, id: &str, note: Note) -> Result<u64, ApiError> {
        let json = serde_json::to_value(&note).map_err(|e| ApiError::internal(e.to_string()))?;
        let mut client = self.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(|e| self.failed("appending a note", e))?;
        // The sandbox's lock, made if need be: one note at a time takes the next number.
        let sql = format!(
            "INSERT INTO note_logs (sandbox_id) VALUES ($1)
             ON CONFLICT (sandbox_id) DO UPDATE SET latest = note_logs.latest
             RETURNING latest, dropped, last_received_unix_ms, {NOW_MS}"
        );
        let row = self.row(&tx, "appending a note", &sql, &[&id]).await?;
        let (latest, dropped, last, now) = (
            to_u64(row.get(0)),
            to_u64(row.get(1)),
            to_u64(row.get(2)),
            to_u64(row.get(3)),
        );
        let n = latest
            .checked_add(1)
            .ok_or_else(|| ApiError::internal("the sandbox's note number is at its largest value"))?;
        // Never before the last one, so the oldest notes are always the first.
        let received = now.max(last);
        let gone = self.dropped_at(&tx, id, latest, 1, dropped, now).await?;
        self.exec(
            &tx,
            "appending a note",
            "INSERT INTO notes (sandbox_id, n, received_unix_ms, note) VALUES ($1, $2, $3, $4)",
            &[&id, &to_i64(n)?, &to_i64(received)?, &json],
        )
        .await?;
        if gone > dropped {
            self.exec(
                &tx,
                "dropping old notes",
                "DELETE FROM notes WHERE sandbox_id = $1 AND n <= $2",
                &[&id, &to_i64(gone)?],
            )
            .await?;
        }
        self.exec(
            &tx,
            "appending a note",
            "UPDATE note_logs SET latest = $2, dropped = $3, last_received_unix_ms = $4 WHERE sandbox_id = $1",
            &[&id, &to_i64(n)?, &to_i64(gone)?, &to_i64(received)?],
        )
        .await?;
        tx.commit().await.map_err(|e| self.failed("committing a note", e))?;
        Ok(n)
    }

    async fn list_notes(&self, id: &str, since: u64, limit: usize) -> Result<NoteList, ApiError> {
        let mut client = self.client().await?;
        // One snapshot for the counts and the page.
        let tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(|e| self.failed("reading notes", e))?;
        let sql = format!(
            "SELECT COALESCE(max(latest), 0), COALESCE(max(dropped), 0), {NOW_MS} FROM note_logs WHERE sandbox_id = $1"
        );
        let row = self.row(&tx, "reading notes", &sql, &[&id]).await?;
        let (latest, dropped, now) = (to_u64(row.get(0)), to_u64(row.get(1)), to_u64(row.get(2)));
        let dropped = self.dropped_at(&tx, id, latest, 0, dropped, now).await?;
        let start = since.min(latest).max(dropped);
        let rows = self
            .rows(
                &tx,
                "reading notes",
                "SELECT note FROM notes WHERE sandbox_id = $1 AND n > $2 ORDER BY n LIMIT $3",
                &[&id, &to_i64(start)?, &i64::try_from(limit).unwrap_or(i64::MAX)],
            )
            .await?;
        let notes = rows
            .iter()
            .map(|row| {
                serde_json::from_value::<Note>(row.get(0))
                    .map_err(|e| ApiError::internal(format!("a note of sandbox {id} in the database: {e}")))
            })
            .collect::<Result<Vec<Note>, ApiError>>()?;
        let cursor = start + notes.len() as u64;
        Ok(NoteList {
            notes,
            cursor,
            more: cursor < latest,
            dropped,
            latest,
        })
    }

    async fn recent_note_logs(&self, since: u64, limit: usize) -> Result<Vec<NoteLogSummary>, ApiError> {
        let client = self.client().await?;
        let rows = self
            .rows(
                &client,
                "listing recent notes",
                "SELECT l.sandbox_id, l.latest, l.last_received_unix_ms, n.note FROM note_logs l
                         JOIN notes n ON n.sandbox_id = l.sandbox_id AND n.n = l.latest
                         WHERE l.last_received_unix_ms >= $1
                         ORDER BY l.last_received_unix_ms DESC LIMIT $2",
                &[&to_i64(since)?, &i64::try_from(limit).unwrap_or(i64::MAX)],
            )
            .await?;
        rows.iter()
            .map(|row| {
                let id: String = row.get(0);
                let last = serde_json::from_value::<Note>(row.get(3))
                    .map_err(|e| ApiError::internal(format!("a note of sandbox {id} in the database: {e}")))?;
                Ok(NoteLogSummary {
                    id,
                    latest: to_u64(row.get(1)),
                    last_received_unix_ms: to_u64(row.get(2)),
                    last,
                })
            })
            .collect()
    }

    async fn last_note(&self, id: &str) -> Result<Option<Note>, ApiError> {
        // One statement: the log's newest note, if it is still kept.
        let client = self.client().await?;
        let sql = format!(
            "SELECT n.note, n.received_unix_ms, {NOW_MS} FROM note_logs l
             JOIN notes n ON n.sandbox_id = l.sandbox_id AND n.n = l.latest
             WHERE l.sandbox_id = $1 AND l.latest > l.dropped"
        );
        let Some(row) = self.row_opt(&client, "reading notes", &sql, &[&id]).await? else {
            return Ok(None);
        };
        let (received, now) = (to_u64(row.get(1)), to_u64(row.get(2)));
        // Past --notes-max-age it is no longer served, as on the file store.
        let aged = self
            .notes_policy
            .max_age
            .filter(|age| !age.is_zero())
            .is_some_and(|age| received < now.saturating_sub(u64::try_from(age.as_millis()).unwrap_or(u64::MAX)));
        if aged {
            return Ok(None);
        }
        serde_json::from_value(row.get(0))
            .map(Some)
            .map_err(|e| ApiError::internal(format!("a note of sandbox {id} in the database: {e}")))
    }

    async fn list_sandboxes(&self, vm: Option<&str>) -> Result<Vec<SandboxEntry>, ApiError> {
        let client = self.client().await?;
        let rows = match vm {
            Some(vm) => {
                self.rows(
                    &client,
                    "listing sandboxes",
                    "SELECT project, record, version FROM resources WHERE vm = $1
                     ORDER BY project COLLATE \"C\", address COLLATE \"C\"",
                    &[&vm],
                )
                .await?
            }
            None => {
                self.rows(
                    &client,
                    "listing sandboxes",
                    "SELECT project, record, version FROM resources
                     ORDER BY project COLLATE \"C\", address COLLATE \"C\"",
                    &[],
                )
                .await?
            }
        };
        rows.iter()
            .map(|row| {
                let project: String = row.get(0);
                let ResourceEntry { record, version } = entry(&project, row.get(1), row.get(2))?;
                Ok(SandboxEntry {
                    project,
                    record,
                    version,
                })
            })
            .collect()
    }

    async fn list_summaries(&self) -> Result<Vec<RecordSummary>, ApiError> {
        // The columns the lists show, not whole records: no record is decoded.
        let client = self.client().await?;
        let rows = self
            .rows(
                &client,
                "listing records",
                "SELECT project, address, record->>'id', record->>'updated_at', vm, record->'provenance'
                         FROM resources ORDER BY project COLLATE \"C\", address COLLATE \"C\"",
                &[],
            )
            .await?;
        rows.iter()
            .map(|row| {
                let project: String = row.get(0);
                let provenance: Option<serde_json::Value> = row.get(5);
                let provenance = match provenance {
                    Some(value) if !value.is_null() => {
                        Some(std::sync::Arc::new(serde_json::from_value(value).map_err(|e| {
                            ApiError::internal(format!("a record's provenance in project {project}: {e}"))
                        })?))
                    }
                    _ => None,
                };
                Ok(RecordSummary {
                    address: row.get(1),
                    id: row.get::<_, Option<String>>(2).unwrap_or_default(),
                    updated_at: row.get::<_, Option<String>>(3).unwrap_or_default(),
                    vm: row.get(4),
                    provenance,
                    project,
                })
            })
            .collect()
    }

    async fn list_vms(&self) -> Result<Vec<VmCapabilities>, ApiError> {
        let client = self.client().await?;
        let rows = self
            .rows(
                &client,
                "listing VMs",
                "SELECT entry FROM vms ORDER BY name COLLATE \"C\"",
                &[],
            )
            .await?;
        rows.iter().map(|row| vm_entry(row.get(0))).collect()
    }

    async fn get_vm(&self, name: &str) -> Result<Option<VmCapabilities>, ApiError> {
        let client = self.client().await?;
        let row = self
            .row_opt(
                &client,
                "reading a VM",
                "SELECT entry FROM vms WHERE name = $1",
                &[&name],
            )
            .await?;
        row.map(|row| vm_entry(row.get(0))).transpose()
    }

    async fn put_vm(&self, entry: VmCapabilities) -> Result<(), ApiError> {
        let json = serde_json::to_value(&entry).map_err(|e| ApiError::internal(e.to_string()))?;
        let client = self.client().await?;
        self.exec(
            &client,
            "writing a VM",
            "INSERT INTO vms (name, entry) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET entry = EXCLUDED.entry",
            &[&entry.name, &json],
        )
        .await?;
        Ok(())
    }

    async fn close(&self) {
        self.pool.close();
    }
}

/// What a server error means for the client.
enum Failure {
    /// The server is going or gone, or takes no connection now: 503, try later.
    Away,
    /// A timeout, a lock not had in time, a conflict between transactions: 503, try again.
    Busy,
    /// Anything else the server says: 500 with its words.
    Other,
}

fn failure_of(code: &SqlState) -> Failure {
    let class = &code.code()[..2];
    if [
        SqlState::ADMIN_SHUTDOWN,
        SqlState::CRASH_SHUTDOWN,
        SqlState::CANNOT_CONNECT_NOW,
        SqlState::TOO_MANY_CONNECTIONS,
        SqlState::READ_ONLY_SQL_TRANSACTION,
    ]
    .contains(code)
        // Connection exceptions; insufficient resources (a full disk, out of memory).
        || class == "08"
        || class == "53"
    {
        Failure::Away
    } else if [
        SqlState::QUERY_CANCELED,
        SqlState::LOCK_NOT_AVAILABLE,
        SqlState::T_R_DEADLOCK_DETECTED,
        SqlState::T_R_SERIALIZATION_FAILURE,
        SqlState::IDLE_IN_TRANSACTION_SESSION_TIMEOUT,
    ]
    .contains(code)
    {
        Failure::Busy
    } else {
        Failure::Other
    }
}

fn entry(project: &str, record: serde_json::Value, version: i64) -> Result<ResourceEntry, ApiError> {
    let record: Record = serde_json::from_value(record)
        .map_err(|e| ApiError::internal(format!("a record of project {project} in the database: {e}")))?;
    Ok(ResourceEntry {
        record,
        version: to_u64(version),
    })
}

fn vm_entry(json: serde_json::Value) -> Result<VmCapabilities, ApiError> {
    serde_json::from_value(json).map_err(|e| ApiError::internal(format!("a VM's entry in the database: {e}")))
}

/// Columns are `bigint`; nothing written is negative (the schema checks).
fn to_u64(value: i64) -> u64 {
    u64::try_from(value).unwrap_or_default()
}

fn to_i64(value: u64) -> Result<i64, ApiError> {
    i64::try_from(value)
        .map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, format!("{value} is past what the hub keeps")))
}

/// An error with its sources, one line: tokio-postgres says "db error" and
/// keeps what the server said in the source.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        let words = inner.to_string();
        if !text.contains(&words) {
            text.push_str(": ");
            text.push_str(&words);
        }
        source = inner.source();
    }
    text
}
