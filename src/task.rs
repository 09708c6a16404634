//! Tasks that end without an answer: what a panic or a cancelled task says.

use tokio::task::JoinError;

/// The message of a task that panicked, or why it did not finish.
pub fn join_error_text(error: JoinError) -> String {
    if error.is_cancelled() {
        return "cancelled".into();
    }
    match error.try_into_panic() {
        Ok(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(no message)".into());
            format!("panicked: {message}")
        }
        Err(error) => error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_says_its_message() {
        let joined = tokio::spawn(async { panic!("boom {}", 7) }).await;
        let error = joined.expect_err("it panicked");
        assert_eq!(join_error_text(error), "panicked: boom 7");
    }
}
