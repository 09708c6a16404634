//! The live view of an apply on a terminal: one spinner line per running change
//! (address, current step, elapsed time) redrawn in place by `indicatif`, each
//! clipped to the terminal's width so that none wraps and the redraw stays
//! exact. Finished changes, notices and log lines are printed above those
//! lines, once, and may wrap there.

use std::collections::HashMap;
use std::io::{self, Write};
use std::sync::OnceLock;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressState, ProgressStyle};
use tokio::sync::mpsc;

use crate::address::Address;
use crate::apply::Event;
use crate::duration::format_elapsed;
use crate::safety::printable;

use super::{line, verb};

/// How often the spinners turn and the elapsed times move on.
const TICK: Duration = Duration::from_millis(100);

/// The running lines of this process, on stderr. One for the whole process, so
/// that log lines ([`LogWriter`]) know what to print above.
fn bars() -> &'static MultiProgress {
    static BARS: OnceLock<MultiProgress> = OnceLock::new();
    BARS.get_or_init(MultiProgress::new)
}

/// Whether stderr takes the live view: a terminal whose `TERM` is set and is
/// not `dumb`. This is indicatif's own rule, asked of it, so the reporter
/// never chooses a view that indicatif would not draw; anything else gets
/// plain lines.
pub fn stderr_redraws() -> bool {
    !bars().is_hidden()
}

/// Prints events on this process's stderr until the channel closes.
pub(super) async fn run(events: mpsc::UnboundedReceiver<Event>, color: bool) {
    draw(events, color, bars()).await;
}

/// One running line: the spinner, the address and step (clipped to what the
/// width leaves), then the elapsed time, which is never clipped.
fn style() -> ProgressStyle {
    let took = |state: &ProgressState, out: &mut dyn std::fmt::Write| {
        let _ = write!(out, "({})", format_elapsed(state.elapsed()));
    };
    ProgressStyle::with_template("  {spinner} {wide_msg} {took}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
        .with_key("took", took)
}

/// A line that stays: printed above the running lines, never redrawn.
fn above(bars: &MultiProgress, text: &str) {
    if bars.is_hidden() {
        // indicatif drops `println` on a hidden target; the line must not be lost.
        let _ = writeln!(io::stderr().lock(), "{text}");
    } else {
        let _ = bars.println(text);
    }
}

/// The live view on `bars` until the channel closes; the running lines are
/// gone from the terminal when it returns.
async fn draw(mut events: mpsc::UnboundedReceiver<Event>, color: bool, bars: &MultiProgress) {
    let style = style();
    let mut running: HashMap<Address, ProgressBar> = HashMap::new();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            event = events.recv() => {
                let Some(event) = event else { break };
                match &event {
                    Event::Started { address, action } => {
                        let bar = ProgressBar::new_spinner()
                            .with_style(style.clone())
                            .with_message(format!("{address}: {}...", verb(*action).0));
                        let bar = bars.add(bar);
                        bar.tick();
                        if let Some(old) = running.insert(address.clone(), bar) {
                            bars.remove(&old);
                        }
                    }
                    Event::Progress { address, message } => {
                        if let Some(bar) = running.get(address) {
                            bar.set_message(format!("{address}: {}", printable(message)));
                        }
                    }
                    Event::Finished { address, .. } | Event::Failed { address, .. } => {
                        if let Some(bar) = running.remove(address) {
                            // Removed before it is dropped: a dropped bar would leave its last line.
                            bars.remove(&bar);
                        }
                        above(bars, &line(&event, color));
                    }
                    Event::Skipped { .. } | Event::Notice { .. } => above(bars, &line(&event, color)),
                }
            }
            _ = tick.tick() => running.values().for_each(ProgressBar::tick),
        }
    }
    for bar in running.values() {
        bars.remove(bar);
    }
    let _ = bars.clear();
}

/// The `tracing` subscriber's writer: log lines go to stderr above the running
/// lines (those are taken away, the line written, and they are drawn again
/// below it), never into them. Without running lines it writes straight on.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        bars().suspend(|| io::stderr().write(buf))
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        // The subscriber writes each event with one call: one line, one suspension.
        bars().suspend(|| io::stderr().write_all(buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogWriter;

    fn make_writer(&'a self) -> Self::Writer {
        *self
    }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU16;
    use std::sync::{Arc, Mutex, PoisonError};
    use std::time::Instant;

    use indicatif::{ProgressDrawTarget, TermLike};

    use super::*;
    use crate::plan::Action;

    const COLS: u16 = 80;

    /// A terminal of 80 columns that keeps every byte it is sent, as a real
    /// one gets them (the escape sequences console writes for these calls).
    #[derive(Debug, Clone, Default)]
    struct Recorder(Arc<Mutex<Vec<u8>>>);

    impl Recorder {
        fn put(&self, text: &str) -> io::Result<()> {
            self.0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .extend_from_slice(text.as_bytes());
            Ok(())
        }

        fn move_by(&self, n: usize, code: char) -> io::Result<()> {
            if n > 0 {
                self.put(&format!("\x1b[{n}{code}"))
            } else {
                Ok(())
            }
        }

        /// What an 80-column terminal shows now: each row, trailing blanks cut.
        fn screen(&self) -> Vec<String> {
            let bytes = self.0.lock().unwrap_or_else(PoisonError::into_inner).clone();
            let mut parser = vt100::Parser::new(
                NonZeroU16::new(200).expect("rows"),
                NonZeroU16::new(COLS).expect("cols"),
                0,
            );
            parser.process(&bytes);
            let mut rows: Vec<String> = parser
                .screen()
                .rows(0, COLS)
                .map(|r| r.trim_end().to_string())
                .collect();
            while rows.last().is_some_and(String::is_empty) {
                rows.pop();
            }
            rows
        }
    }

    impl TermLike for Recorder {
        fn width(&self) -> u16 {
            COLS
        }
        fn height(&self) -> u16 {
            24
        }
        fn move_cursor_up(&self, n: usize) -> io::Result<()> {
            self.move_by(n, 'A')
        }
        fn move_cursor_down(&self, n: usize) -> io::Result<()> {
            self.move_by(n, 'B')
        }
        fn move_cursor_right(&self, n: usize) -> io::Result<()> {
            self.move_by(n, 'C')
        }
        fn move_cursor_left(&self, n: usize) -> io::Result<()> {
            self.move_by(n, 'D')
        }
        fn write_line(&self, s: &str) -> io::Result<()> {
            self.put(&format!("{s}\r\n"))
        }
        fn write_str(&self, s: &str) -> io::Result<()> {
            self.put(s)
        }
        fn clear_line(&self) -> io::Result<()> {
            self.put("\r\x1b[2K")
        }
        fn flush(&self) -> io::Result<()> {
            Ok(())
        }
    }

    /// Waits (polling, with a deadline) until the screen satisfies `done`.
    async fn screen_until(term: &Recorder, what: &str, done: impl Fn(&[String]) -> bool) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let screen = term.screen();
            if done(&screen) {
                return screen;
            }
            assert!(Instant::now() < deadline, "timed out waiting until {what}: {screen:#?}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test]
    async fn a_running_line_is_clipped_to_the_width_and_keeps_its_elapsed_time() {
        let term = Recorder::default();
        let bars = MultiProgress::with_draw_target(ProgressDrawTarget::term_like(Box::new(term.clone())));
        let (tx, rx) = mpsc::unbounded_channel();
        let view = tokio::spawn(async move { draw(rx, false, &bars).await });
        let address = Address::sandbox("app");
        let other = Address::sandbox("db");
        for a in [&address, &other] {
            tx.send(Event::Started {
                address: a.clone(),
                action: Action::Create,
            })
            .expect("send");
        }
        // What a VM says: wide characters, accents, an escape that would clear
        // the screen and a line break, far past 80 columns.
        let said = format!(
            "編譯 modules — café {} \x1b[2J done\nnext {}",
            "ß→".repeat(20),
            "x".repeat(60)
        );
        tx.send(Event::Progress {
            address: address.clone(),
            message: said,
        })
        .expect("send");
        let screen = screen_until(&term, "both running lines are drawn", |rows| {
            rows.iter().any(|r| r.contains("sandbox.app: 編譯")) && rows.iter().any(|r| r.contains("sandbox.db"))
        })
        .await;
        assert_eq!(screen.len(), 2, "one row per running change: {screen:#?}");
        let app = &screen[0];
        assert!(app.starts_with("  "), "{app:?}");
        assert!(app.contains("sandbox.app: 編譯 modules — café ß→"), "{app:?}");
        assert!(!app.contains("next"), "the step is clipped: {app:?}");
        assert!(app.ends_with("s)"), "the elapsed time stays at the end: {app:?}");
        assert!(
            screen[1].contains("sandbox.db: creating...") && screen[1].ends_with("s)"),
            "{screen:#?}"
        );

        tx.send(Event::Finished {
            address: address.clone(),
            action: Action::Create,
            id: Some("k3x9q2ab".into()),
            workspace: Some("/w/sbx-k3x9q2ab".into()),
            elapsed: Duration::from_millis(1500),
        })
        .expect("send");
        tx.send(Event::Failed {
            address: other.clone(),
            action: Action::Create,
            error: format!("setup failed: {}", "e".repeat(100)),
            elapsed: Duration::from_secs(2),
        })
        .expect("send");
        drop(tx);
        view.await.expect("the view ends");
        let screen = term.screen().join("\n");
        assert!(
            screen.starts_with("sandbox.app: created after 1.5s (id k3x9q2ab, /w/sbx-k3x9q2ab)\nsandbox.db: create failed after 2.0s: setup failed: eeee"),
            "{screen}"
        );
        assert!(!screen.contains("編譯"), "a running line is left: {screen}");
        assert_eq!(screen.matches("sandbox.db").count(), 1, "{screen}");
    }

    #[tokio::test]
    async fn notices_and_skips_print_above_the_running_lines() {
        let term = Recorder::default();
        let bars = MultiProgress::with_draw_target(ProgressDrawTarget::term_like(Box::new(term.clone())));
        let (tx, rx) = mpsc::unbounded_channel();
        let view = tokio::spawn(async move { draw(rx, false, &bars).await });
        tx.send(Event::Started {
            address: Address::sandbox("app"),
            action: Action::Update,
        })
        .expect("send");
        screen_until(&term, "the running line is drawn", |rows| {
            rows.iter().any(|r| r.contains("sandbox.app: updating..."))
        })
        .await;
        tx.send(Event::Notice {
            message: "Interrupt received".into(),
        })
        .expect("send");
        tx.send(Event::Skipped {
            address: Address::sandbox("web"),
            action: Action::Create,
            because: Address::sandbox("app"),
        })
        .expect("send");
        let screen = screen_until(&term, "the notice is printed", |rows| rows.len() == 3).await;
        assert_eq!(screen[0], "Interrupt received");
        assert_eq!(
            screen[1],
            "sandbox.web: create skipped: dependency failed (sandbox.app)"
        );
        assert!(screen[2].contains("sandbox.app: updating..."), "{screen:#?}");
        drop(tx);
        view.await.expect("the view ends");
        let screen = term.screen();
        assert_eq!(screen.len(), 2, "the running line is cleared at the end: {screen:#?}");
    }
}
