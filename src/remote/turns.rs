//! `--max-connections`: how many VMs are being connected to or observed at
//! once. A VM takes a turn to open its master (the handshake), and keeps it
//! through its observe; later commands on an open master take none. A turn
//! is never held while waiting for something else of the pool, so turns
//! cannot deadlock, whatever the number of VMs.

use std::num::NonZeroUsize;
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::{RemoteError, Target};

/// The turns of one pool.
#[derive(Debug)]
pub(super) struct Turns {
    /// `None`: unlimited.
    semaphore: Option<Arc<Semaphore>>,
    at_once: usize,
}

/// One VM's turn; it ends when this is dropped.
#[derive(Debug, Default)]
#[must_use = "the turn ends when it is dropped"]
pub struct Turn {
    _permit: Option<OwnedSemaphorePermit>,
}

impl Turns {
    /// `at_once` turns, or unlimited.
    pub(super) fn new(at_once: Option<NonZeroUsize>) -> Self {
        Turns {
            semaphore: at_once.map(|n| Arc::new(Semaphore::new(n.get()))),
            at_once: at_once.map_or(0, NonZeroUsize::get),
        }
    }

    /// A turn for `target`, waiting for one to end when all are taken (said
    /// at `-v`, so that a slow plan explains itself).
    pub(super) async fn take(&self, target: &Target) -> Result<Turn, RemoteError> {
        let Some(semaphore) = &self.semaphore else {
            return Ok(Turn::default());
        };
        if let Ok(permit) = semaphore.clone().try_acquire_owned() {
            return Ok(Turn { _permit: Some(permit) });
        }
        tracing::info!(
            vm = %target,
            "waiting for a connection turn: {} VMs are connected to or observed at once (--max-connections)",
            self.at_once
        );
        let permit = semaphore
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| RemoteError::Session {
                target: target.clone(),
                detail: "the connection limit was closed".into(),
            })?;
        Ok(Turn { _permit: Some(permit) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(vm: &str) -> Target {
        Target {
            vm: vm.into(),
            port: None,
            jump: None,
        }
    }

    #[tokio::test]
    async fn a_turn_waits_for_one_to_end_when_all_are_taken() {
        let turns = Arc::new(Turns::new(NonZeroUsize::new(1)));
        let first = turns.take(&target("a")).await.expect("a turn");
        let waiting = tokio::spawn({
            let turns = turns.clone();
            async move { turns.take(&target("b")).await.map(drop) }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        drop(first);
        waiting.await.expect("the task").expect("a turn once the first ended");
    }

    #[tokio::test]
    async fn unlimited_turns_never_wait() {
        let turns = Turns::new(None);
        let mut held = Vec::new();
        for k in 0..100 {
            held.push(turns.take(&target(&format!("vm{k}"))).await.expect("a turn"));
        }
        assert_eq!(held.len(), 100);
    }
}
