//! `sandboxer hub serve`: run the State Hub.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::builder::RangedU64ValueParser;
use clap::{Args, Subcommand};

use sandboxer::hub::postgres::{self, PasswordSource, StoreUrl};
use sandboxer::hub::server::{self, NotesPolicy, ServeOptions};

use super::Settings;

#[derive(Debug, Args)]
pub struct Opts {
    #[command(subcommand)]
    pub command: HubCommand,
}

#[derive(Debug, Subcommand)]
pub enum HubCommand {
    /// Serve the State Hub API until SIGTERM or Ctrl-C.
    Serve(ServeOpts),
    /// Bring a PostgreSQL store's schema up to date (hub serve does it at start too).
    Migrate(MigrateOpts),
    /// Copy a file store (a stopped hub's data folder) into a PostgreSQL store.
    MigrateStore(MigrateStoreOpts),
}

/// Where a PostgreSQL store's password comes from, and whom its TLS trusts.
#[derive(Debug, Args)]
pub struct PasswordOpts {
    /// PEM file of CA certificates the database's certificate may chain to, besides the system's store (with `sslmode=require` in the URL)
    #[arg(long, value_name = "FILE", env = "SANDBOXER_HUB_STORE_CA")]
    pub store_ca: Option<PathBuf>,
    /// Environment variable holding the database password, when the URL has none [default: PGPASSWORD]
    #[arg(long, value_name = "VAR", conflicts_with = "store_password_file")]
    pub store_password_env: Option<String>,
    /// File holding the database password instead (a systemd credential, say); its last newline is not part of it
    #[arg(long, value_name = "FILE")]
    pub store_password_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct MigrateOpts {
    /// The PostgreSQL store: postgres://USER@HOST:PORT/DATABASE
    #[arg(long, value_name = "URL", env = "SANDBOXER_HUB_STORE", hide_env_values = true)]
    pub store: String,
    #[command(flatten)]
    pub password: PasswordOpts,
}

#[derive(Debug, Args)]
pub struct MigrateStoreOpts {
    /// The file store's data folder (stop the hub that serves it first)
    #[arg(long, value_name = "DIR")]
    pub from: PathBuf,
    /// The PostgreSQL store: postgres://USER@HOST:PORT/DATABASE
    #[arg(long, value_name = "URL")]
    pub to: String,
    #[command(flatten)]
    pub password: PasswordOpts,
}

#[derive(Debug, Args)]
pub struct ServeOpts {
    /// Address to listen on; loopback unless you say otherwise
    #[arg(long, default_value = "127.0.0.1:7878")]
    pub listen: SocketAddr,
    /// Data folder of the file store [default: <--state-dir or the user's state folder>/hub]
    #[arg(long, value_name = "DIR", conflicts_with = "store")]
    pub data: Option<PathBuf>,
    /// Keep the data in PostgreSQL instead, shared by every hub given the same URL: postgres://USER@HOST:PORT/DATABASE
    #[arg(long, value_name = "URL", env = "SANDBOXER_HUB_STORE", hide_env_values = true)]
    pub store: Option<String>,
    #[command(flatten)]
    pub password: PasswordOpts,
    /// Port registry whose VMs the dashboard lists (with every VM a record names)
    #[arg(long, value_name = "FILE", env = "SANDBOXER_PORT_REGISTRY")]
    pub port_registry: Option<PathBuf>,
    /// Connections to the PostgreSQL store this hub keeps at most
    #[arg(
        long,
        value_name = "N",
        default_value_t = sandboxer::hub::postgres::DEFAULT_CONNECTIONS,
        value_parser = RangedU64ValueParser::<usize>::new().range(1..=1000)
    )]
    pub store_connections: usize,
    /// Environment variable holding the bearer token clients must send; unset or empty = no token
    #[arg(long, default_value = "SANDBOXER_HUB_TOKEN", value_name = "VAR")]
    pub token_env: String,
    /// File holding the bearer token instead (a systemd credential, say); its last newline is not part of it
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Notes kept per sandbox; the oldest go first
    #[arg(
        long,
        value_name = "N",
        default_value_t = server::DEFAULT_NOTES_KEEP,
        value_parser = RangedU64ValueParser::<usize>::new().range(1..)
    )]
    pub notes_keep: usize,
    /// Drop notes the hub received longer ago than this (500ms, 30s, 5m, 24h) [default: no age limit]
    #[arg(long, value_name = "DURATION", value_parser = parse_max_age)]
    pub notes_max_age: Option<Duration>,
    /// Bytes of a note's text kept; a longer text is cut there and marked
    #[arg(
        long,
        value_name = "BYTES",
        default_value_t = server::DEFAULT_NOTE_MAX_BYTES,
        value_parser = RangedU64ValueParser::<usize>::new().range(256..=server::NOTE_MAX_BYTES_CEILING as u64)
    )]
    pub note_max_bytes: usize,
}

/// The token of `--token-file`: the file's text without its line ending; an
/// empty file is refused (an open hub is asked for by leaving the flag out).
fn read_token(file: &std::path::Path) -> anyhow::Result<String> {
    read_secret_line(file, "token", "--token-file")
}

/// A secret kept alone on one line of `file` (a token, a password): without its
/// line ending; an empty file or one of several lines is refused, naming `flag`.
fn read_secret_line(file: &std::path::Path, what: &str, flag: &str) -> anyhow::Result<String> {
    let text = sandboxer::fsutil::read_input(file).map_err(|e| super::output::Hinted {
        message: format!("cannot read the {what} file {}: {e}", file.display()),
        hint: format!("give a readable file holding the {what}, or leave {flag} out"),
    })?;
    let secret = text.trim_end_matches(['\n', '\r']);
    if secret.is_empty() || secret.contains(['\n', '\r']) {
        return Err(super::output::Hinted {
            message: format!(
                "the {what} file {} holds no {what}, or more than one line",
                file.display()
            ),
            hint: format!("put the {what} alone on one line"),
        }
        .into());
    }
    Ok(secret.to_string())
}

/// `--notes-max-age`: a duration of more than zero.
fn parse_max_age(text: &str) -> Result<Duration, String> {
    let age = sandboxer::duration::parse(text)?;
    if age.is_zero() {
        return Err("0 would drop every note; leave the flag out for no age limit".into());
    }
    Ok(age)
}

pub fn run(opts: &Opts, settings: &Settings) -> anyhow::Result<ExitCode> {
    match &opts.command {
        HubCommand::Serve(serve) => run_serve(serve, settings),
        HubCommand::Migrate(migrate) => run_migrate(migrate, settings),
        HubCommand::MigrateStore(copy) => run_migrate_store(copy, settings),
    }
}

/// A `--store` URL read, or a clear refusal.
fn store_url(url: &str, password: &PasswordOpts) -> anyhow::Result<StoreUrl> {
    // The URL may hold the password: the variable it can come from reaches no child.
    sandboxer::secret_env::register("SANDBOXER_HUB_STORE");
    let from_file = match &password.store_password_file {
        Some(file) => Some(read_secret_line(file, "database password", "--store-password-file")?),
        None => None,
    };
    let source = match (&from_file, &password.store_password_env) {
        (Some(password), _) => PasswordSource::Given(password),
        (None, Some(var)) => PasswordSource::Env(var),
        (None, None) => PasswordSource::Default,
    };
    let url = StoreUrl::parse(url, source).map_err(|e| -> anyhow::Error {
        super::output::Hinted {
            message: e.message,
            hint: e.hint,
        }
        .into()
    })?;
    Ok(match &password.store_ca {
        Some(file) => {
            use sandboxer::state::{HubError, StateError};
            let ca = sandboxer::state::hub::HubCa::read(file).map_err(|e| -> anyhow::Error {
                match e {
                    StateError::Hub(HubError::CaFile { file, problem }) => super::output::Hinted {
                        message: format!("--store-ca {file}: {problem}"),
                        hint: "give a readable PEM file with the certificate of the CA that signed the database's certificate".into(),
                    }
                    .into(),
                    other => other.into(),
                }
            })?;
            url.with_ca(ca.certificates().to_vec())
        }
        None => url,
    })
}

fn run_migrate(opts: &MigrateOpts, settings: &Settings) -> anyhow::Result<ExitCode> {
    let url = store_url(&opts.store, &opts.password)?;
    let applied = super::engine::runtime()?.block_on(async {
        let pool = postgres::pool(&url, 1)?;
        postgres::migrate(&pool, &url).await
    })?;
    if !settings.quiet {
        match applied.as_slice() {
            [] => eprintln!("{}: the schema is up to date.", url.shown()),
            versions => eprintln!(
                "{}: applied migration{} {}.",
                url.shown(),
                if versions.len() == 1 { "" } else { "s" },
                versions.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
            ),
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn run_migrate_store(opts: &MigrateStoreOpts, settings: &Settings) -> anyhow::Result<ExitCode> {
    let url = store_url(&opts.to, &opts.password)?;
    let from = opts.from.clone();
    if !from.join("hub.json").is_file() {
        return Err(super::output::Hinted {
            message: format!(
                "{} is not a State Hub's data folder (it has no hub.json)",
                from.display()
            ),
            hint: "give the folder `hub serve --data` used".into(),
        }
        .into());
    }
    let runtime = super::engine::runtime()?;
    let contents = runtime
        .block_on(async move { tokio::task::spawn_blocking(move || sandboxer::hub::file::read_contents(&from)).await })
        .context("reading the file store stopped")??;
    let done = runtime.block_on(postgres::import::import(&contents, &url))?;
    if !settings.quiet {
        eprintln!(
            "Copied {} into {}: {} records of {} projects ({} already there), {} leases ({} expired or held there), \
             {} notes of {} sandboxes, {} VM entries ({} kept as the database had them).",
            opts.from.display(),
            url.shown(),
            done.records,
            done.projects,
            done.records_already,
            done.leases,
            done.leases_skipped,
            done.notes,
            done.note_logs,
            done.vms,
            done.vms_kept
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn run_serve(serve: &ServeOpts, settings: &Settings) -> anyhow::Result<ExitCode> {
    // Not next to a `sandboxes.yaml` that happens to be in the current folder:
    // the hub's data is the team's, not one project's.
    let data = serve.data.clone().unwrap_or_else(|| {
        settings
            .state_dir
            .clone()
            .unwrap_or_else(|| settings.user_state_dir())
            .join("hub")
    });
    let (store, shown) = match &serve.store {
        Some(url) => {
            let url = store_url(url, &serve.password)?;
            let shown = format!("store {}", url.shown());
            (
                server::StoreSpec::Postgres {
                    url: Box::new(url),
                    connections: serve.store_connections,
                },
                shown,
            )
        }
        None => (
            server::StoreSpec::Files(data.clone()),
            format!("data {}", data.display()),
        ),
    };
    let token = match &serve.token_file {
        Some(file) => Some(read_token(file)?),
        None => sandboxer::secret_env::var(&serve.token_env).filter(|t| !t.is_empty()),
    };
    if token.is_none() && !serve.listen.ip().is_loopback() {
        tracing::warn!(
            "listening on {} without a token: anyone who reaches it can change the state; set {}",
            serve.listen,
            serve.token_env
        );
    }
    let auth = if token.is_some() {
        match &serve.token_file {
            Some(file) => format!("token from {} required", file.display()),
            None => format!("token from {} required", serve.token_env),
        }
    } else {
        "no token".to_string()
    };
    let registry = match &serve.port_registry {
        Some(path) => Some(sandboxer::port_registry::load(path).map_err(sandboxer::diagnostic::Diagnostics)?),
        None => None,
    };
    let quiet = settings.quiet;
    let options = ServeOptions {
        listen: serve.listen,
        store,
        registry,
        token,
        notes: NotesPolicy {
            keep: serve.notes_keep,
            max_age: serve.notes_max_age,
            max_text_bytes: serve.note_max_bytes,
        },
    };
    super::engine::runtime()?.block_on(async move {
        server::serve(options, shutdown_signal(), |addr| {
            if !quiet {
                eprintln!("State Hub listening on http://{addr} ({shown}, {auth})");
            }
        })
        .await
        .context("the State Hub stopped")
    })?;
    if !settings.quiet {
        eprintln!("State Hub stopped.");
    }
    Ok(ExitCode::SUCCESS)
}

/// SIGTERM or Ctrl-C: stop taking connections, finish the requests in flight.
async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
