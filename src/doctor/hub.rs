//! The State Hub, once: it answers, it accepts the token (a read of the
//! project's records), and who holds the project's lease (looked at, never
//! taken). Nothing is written.

use std::time::Duration;

use super::{Checklist, Finding, Planned, within};
use crate::safety::printable;
use crate::state::{HubError, HubStore, StateError, StateStore};

/// Checks the hub `store` for `project`.
pub async fn check(store: &HubStore, project: &str, timeout: Duration) -> Vec<Finding> {
    let mut list = Checklist::new(
        "hub",
        vec![
            Planned::check("reachable"),
            Planned::check("token"),
            Planned::check("lease"),
        ],
    );
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
        // A certificate refused is the hub not reached: the token was never sent.
        Ok(Err(StateError::Hub(
            error @ (HubError::Unreachable { .. } | HubError::Timeout { .. } | HubError::Untrusted { .. }),
        ))) => {
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
    // A held lease is no failure: it says who is writing now (and what `apply` would wait for).
    match within(timeout, &url, store.lease(project)).await {
        Ok(Ok(None)) => list.pass("free"),
        Ok(Ok(Some(lease))) => {
            let holder = &lease.holder;
            list.pass(format!(
                "held by {} by {}@{} (pid {}) since {}, until {}",
                printable(&holder.command),
                printable(&holder.user),
                printable(&holder.host),
                holder.pid,
                printable(&holder.since),
                printable(&lease.expires_at)
            ));
        }
        Ok(Err(error)) => {
            let hint = error.hint().unwrap_or_else(|| {
                "a hub older than this sandboxer cannot say who holds the lease: upgrade the hub".to_string()
            });
            return list.fail(error.to_string(), hint);
        }
        Err(problem) => return list.fail(problem, unreachable_hint()),
    }
    list.finish()
}
