//! The State Hub, once: it answers, and it accepts the token (a read of the
//! project's records, which takes no lease and writes nothing).

use std::time::Duration;

use super::{Checklist, Finding, Planned, within};
use crate::state::{HubError, HubStore, StateError, StateStore};

/// Checks the hub `store` for `project`.
pub async fn check(store: &HubStore, project: &str, timeout: Duration) -> Vec<Finding> {
    let mut list = Checklist::new("hub", vec![Planned::check("reachable"), Planned::check("token")]);
    let url = store.url().to_string();
    let unreachable_hint = || {
        format!(
            "check that `sandboxer hub serve` runs there (`curl {url}/v1/health`), or point --hub / SANDBOXER_HUB_URL / the manifest's hub.url at the right place"
        )
    };
    match within(timeout, &url, store.load(project)).await {
        Ok(Ok(snapshot)) => {
            list.pass(format!("{url} answers"));
            list.pass(format!(
                "accepted (project {project}: {} records)",
                snapshot.records.len()
            ));
        }
        Ok(Err(StateError::Hub(error @ (HubError::Unreachable { .. } | HubError::Timeout { .. })))) => {
            let hint = error.hint().unwrap_or_else(unreachable_hint);
            return list.fail(error.to_string(), hint);
        }
        Ok(Err(error)) => {
            list.pass(format!("{url} answers"));
            let hint = error
                .hint()
                .unwrap_or_else(|| "`sandboxer -v list` shows the hub's answer".to_string());
            return list.fail(error.to_string(), hint);
        }
        Err(problem) => return list.fail(problem, unreachable_hint()),
    }
    list.finish()
}
