//! Work that runs side by side and may end without an answer: what a panic
//! or a cancelled task says, and futures run together on one task.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::Poll;

use tokio::task::JoinError;

/// The message of a task that panicked, or why it did not finish.
pub fn join_error_text(error: JoinError) -> String {
    if error.is_cancelled() {
        return "cancelled".into();
    }
    match error.try_into_panic() {
        Ok(payload) => panic_text(payload.as_ref()),
        Err(error) => error.to_string(),
    }
}

/// `panicked: <message>` of a panic's payload.
fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into());
    format!("panicked: {message}")
}

/// Runs `futures` side by side on the calling task, each to its end, and
/// returns their outputs in order. A future that panics gives
/// `Err("panicked: ...")` and is not polled again; the others go on.
///
/// Unlike spawned tasks, the futures may borrow: nothing is cloned to make
/// them `'static`. They share one task, so each must await rather than block.
pub async fn join_all<F: Future>(futures: Vec<F>) -> Vec<Result<F::Output, String>> {
    let mut futures: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<Result<F::Output, String>>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_some() {
                continue;
            }
            match std::panic::catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx))) {
                Ok(Poll::Ready(value)) => *output = Some(Ok(value)),
                Ok(Poll::Pending) => pending = true,
                Err(payload) => *output = Some(Err(panic_text(payload.as_ref()))),
            }
        }
        if pending { Poll::Pending } else { Poll::Ready(()) }
    })
    .await;
    outputs
        .into_iter()
        .map(|o| o.unwrap_or_else(|| Err("never finished".into())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn futures_run_side_by_side_and_a_panic_fails_only_its_own() {
        let (tx, rx) = tokio::sync::oneshot::channel::<u32>();
        let futures: Vec<Pin<Box<dyn Future<Output = u32> + Send>>> = vec![
            // Waits for the third: only side by side can both finish.
            Box::pin(async move { rx.await.unwrap_or(0) + 1 }),
            Box::pin(async { panic!("second broke") }),
            Box::pin(async move {
                tokio::task::yield_now().await;
                let _ = tx.send(41);
                3
            }),
        ];
        let outputs = join_all(futures).await;
        assert_eq!(outputs[0], Ok(42));
        assert_eq!(outputs[1], Err("panicked: second broke".to_string()));
        assert_eq!(outputs[2], Ok(3));
    }

    #[tokio::test]
    async fn a_panic_says_its_message() {
        let joined = tokio::spawn(async { panic!("boom {}", 7) }).await;
        let error = joined.expect_err("it panicked");
        assert_eq!(join_error_text(error), "panicked: boom 7");
    }
}
