//! `sandboxer hub serve`: run the State Hub.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::builder::RangedU64ValueParser;
use clap::{Args, Subcommand};

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
}

#[derive(Debug, Args)]
pub struct ServeOpts {
    /// Address to listen on; loopback unless you say otherwise
    #[arg(long, default_value = "127.0.0.1:7878")]
    pub listen: SocketAddr,
    /// Data folder [default: <--state-dir or the user's state folder>/hub]
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
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
    let text = sandboxer::fsutil::read_input(file).map_err(|e| super::output::Hinted {
        message: format!("cannot read the token file {}: {e}", file.display()),
        hint: "give a readable file holding the token, or leave --token-file out".into(),
    })?;
    let token = text.trim_end_matches(['\n', '\r']);
    if token.is_empty() || token.contains(['\n', '\r']) {
        return Err(super::output::Hinted {
            message: format!(
                "the token file {} holds no token, or more than one line",
                file.display()
            ),
            hint: "put the token alone on one line".into(),
        }
        .into());
    }
    Ok(token.to_string())
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
    let HubCommand::Serve(serve) = &opts.command;
    // Not next to a `sandboxes.yaml` that happens to be in the current folder:
    // the hub's data is the team's, not one project's.
    let data = serve.data.clone().unwrap_or_else(|| {
        settings
            .state_dir
            .clone()
            .unwrap_or_else(|| settings.user_state_dir())
            .join("hub")
    });
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
    let quiet = settings.quiet;
    let options = ServeOptions {
        listen: serve.listen,
        store: server::StoreSpec::Files(data.clone()),
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
                eprintln!("State Hub listening on http://{addr} (data {}, {auth})", data.display());
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
