//! Carrying out a plan: the flags of every command that changes things, the
//! reporter, Ctrl-C and SIGINT handling, and the closing summary and exit code.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use tokio::sync::{mpsc, watch};

use sandboxer::apply::{self, ApplyOptions, Event, Job, Outcome};
use sandboxer::desired::Desired;
use sandboxer::observe::Observed;
use sandboxer::plan::{Action, Plan};
use sandboxer::report::{self, Mode};
use sandboxer::state::{AnyStore, StateStore};

use super::Settings;
use super::engine::Engine;
use super::output::Reported;

/// Flags of every command that changes things.
#[derive(Debug, Clone, Args)]
pub struct RunOpts {
    /// Do not ask for confirmation
    #[arg(long)]
    pub auto_approve: bool,
    /// Changes running at once
    #[arg(long, default_value_t = 10, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub parallelism: u16,
    /// How long to wait for the state lock (e.g. 30s); 0 fails at once
    #[arg(long, default_value = "0", value_name = "DURATION", value_parser = sandboxer::duration::parse)]
    pub lock_timeout: Duration,
    /// Progress as JSON lines on stdout
    #[arg(long)]
    pub json: bool,
}

/// One plan to carry out, with everything it runs against.
pub struct Execution<'a> {
    /// The plan.
    pub plan: &'a Plan,
    /// The desired state it was made from.
    pub desired: Desired,
    /// What was observed when it was made.
    pub observed: Observed,
    /// The state store.
    pub store: &'a AnyStore,
    /// The drivers.
    pub engine: &'a Engine,
    /// The command's flags.
    pub opts: &'a RunOpts,
    /// Global settings.
    pub settings: &'a Settings,
}

impl Execution<'_> {
    /// Walks the plan with a reporter attached, under this process's Ctrl-C.
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        let cancel = interrupt_handler();
        self.run_with_cancel(cancel).await
    }

    /// [`Execution::run`] under a cancel signal the caller owns (`watch` shares
    /// one across cycles).
    pub async fn run_with_cancel(self, cancel: watch::Receiver<bool>) -> anyhow::Result<ExitCode> {
        let (tx, rx) = mpsc::unbounded_channel();
        let colors = self.settings.colors;
        let mode = if self.opts.json {
            Mode::Json
        } else if self.settings.quiet {
            Mode::Quiet
        } else if report::stderr_redraws() {
            // A terminal with TERM set and not `dumb`; elsewhere (a pipe, a
            // file, CI, TERM=dumb or unset) plain lines, with no cursor movement.
            Mode::Live { color: colors.stderr }
        } else {
            Mode::Lines { color: colors.stderr }
        };
        // A plan that cannot be walked is refused before the state is touched.
        sandboxer::plan::graph::ChangeGraph::build(&self.plan.changes)?;
        // Before the first marker is written: markers name the state that made them.
        let lineage = self.store.ensure_lineage(&self.plan.project).await?;
        // Read once for the whole apply, before it starts; every record shares it.
        let provenance = super::provenance::for_apply(self.plan, &self.desired.manifest_path, self.settings).await;
        let reporter = tokio::spawn(report::run(rx, mode));
        // The interrupt notice goes through the reporter, in its own form (live
        // view, plain line, JSON event).
        let notice = tokio::spawn(say_interrupt(cancel.clone(), tx.clone(), self.settings.quiet));
        let job = Job {
            plan: self.plan,
            desired: Arc::new(self.desired),
            observed: self.observed,
            store: self.store,
            drivers: self.engine.drivers.clone(),
            options: ApplyOptions {
                parallelism: usize::from(self.opts.parallelism),
                lineage,
                provenance,
            },
        };
        let result = apply::apply(job, tx, cancel).await;
        notice.abort();
        let _ = notice.await;
        let _ = reporter.await;
        finish(&result?, self.settings)
    }
}

async fn say_interrupt(mut cancel: watch::Receiver<bool>, events: mpsc::UnboundedSender<Event>, quiet: bool) {
    if cancel.wait_for(|stop| *stop).await.is_ok() && !quiet {
        let _ = events.send(Event::Notice {
            message: "Interrupt received: finishing the changes that are running, starting no new ones. Press Ctrl-C again to stop at once.".into(),
        });
    }
}

/// The closing summary and exit code.
fn finish(outcome: &Outcome, settings: &Settings) -> anyhow::Result<ExitCode> {
    let count = |a: Action| outcome.done.get(&a).copied().unwrap_or(0);
    let done = format!(
        "{} created, {} updated, {} replaced, {} deleted",
        count(Action::Create),
        count(Action::Update),
        count(Action::Replace),
        count(Action::Delete)
    );
    if outcome.is_success() {
        if !settings.quiet {
            eprintln!("Apply complete: {done}.");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut message = format!("apply incomplete: {done}");
    if !outcome.failed.is_empty() {
        message.push_str(&format!("; {} failed", outcome.failed.len()));
    }
    if !outcome.skipped.is_empty() {
        message.push_str(&format!("; {} skipped (dependency failed)", outcome.skipped.len()));
    }
    if !outcome.not_started.is_empty() {
        message.push_str(&format!("; {} not started (interrupted)", outcome.not_started.len()));
    }
    for failure in &outcome.failed {
        message.push_str(&format!("\n  {}: {}", failure.address, failure.error));
        if let Some(hint) = &failure.hint {
            message.push_str(&format!("\n    hint: {hint}"));
        }
    }
    Err(Reported(message).into())
}

/// Ctrl-C or SIGTERM: the first drains (no new changes start, running ones
/// finish or, for a Packer build, stop cleanly; the state is saved and the lock
/// released), the second stops at once.
pub fn interrupt_handler() -> watch::Receiver<bool> {
    use tokio::signal::unix::{SignalKind, signal};
    let (tx, rx) = watch::channel(false);
    let tx = Arc::new(tx);
    // Registered here, not at the task's first poll: a signal right after this
    // returns (when the first changes start) must drain, not kill.
    let streams = signal(SignalKind::interrupt()).and_then(|i| Ok((i, signal(SignalKind::terminate())?)));
    tokio::spawn(async move {
        let Ok((mut interrupts, mut terminates)) = streams else {
            // No signal handling: the apply runs to its end (the sender stays alive).
            return std::future::pending::<()>().await;
        };
        let mut next = async || {
            tokio::select! {
                got = interrupts.recv() => got.is_some(),
                got = terminates.recv() => got.is_some(),
            }
        };
        if !next().await {
            return;
        }
        let _ = tx.send(true);
        if next().await {
            // The process ends now: no reporter runs after this line.
            eprintln!("\nStopped at once. The state holds every change that finished; run plan to see the rest.");
            // Builds run in their own process groups: end them, or they outlive us;
            // ssh masters are told to exit, and their control folders go.
            sandboxer::process_group::kill_all();
            sandboxer::remote::close_all_now();
            std::process::exit(130);
        }
    });
    rx
}
