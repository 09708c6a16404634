//! One VM across projects (`inspect vm/NAME`, `list --vm NAME`): the records
//! whose workspace is on it or whose image was built for it, and one read-only
//! listing of the workspace roots on it.

use std::collections::BTreeSet;
use std::time::Duration;

use sandboxer::location::Location;
use sandboxer::remote::{SshPool, Target, quote};
use sandboxer::state::Record;

use super::Settings;

/// How long `inspect vm/NAME` waits for a VM that does not answer.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The VM name of `vm/NAME`, checked as an ssh alias; `None` when `what` is not one.
pub fn parse_vm_address(what: &str) -> Option<anyhow::Result<&str>> {
    let name = what.strip_prefix("vm/")?;
    Some(
        sandboxer::safety::check_ssh_alias(name)
            .map(|()| name)
            .map_err(|e| anyhow::anyhow!("`{what}`: {e}\n  hint: name the VM by its ssh alias, as in the manifest's `vm:` (`inspect vm/haskell-build`)")),
    )
}

/// Whether `record` is on VM `vm`: its workspace is there, or (an image) it was
/// built for it.
pub fn is_on(record: &Record, vm: &str) -> bool {
    let location = sandboxer::observe::record_location(record);
    location.vm() == Some(vm) || record.facts.get("vm").is_some_and(|v| v == vm)
}

/// The VM target of `records` on `vm`: the tunnel port and jump host the first
/// record with a workspace there was made through.
pub fn target_of<'a>(records: impl IntoIterator<Item = &'a Record>, vm: &str) -> Target {
    records
        .into_iter()
        .find_map(|r| match sandboxer::observe::record_location(r) {
            Location::Vm(target) if target.vm == vm => Some(target),
            _ => None,
        })
        .unwrap_or(Target {
            vm: vm.to_string(),
            port: None,
            jump: None,
        })
}

/// What is on the VM: the `sbx-*` folders below each root, or why it could not be looked at.
pub type Listing = Result<BTreeSet<String>, String>;

/// Lists the `sbx-*` folders below `roots` on the VM, in one read-only command.
/// Roots that are not safe remote paths are left out (records come from a store).
pub fn list_workspaces(target: &Target, roots: &BTreeSet<String>, settings: &Settings) -> anyhow::Result<Listing> {
    let words: Vec<String> = roots
        .iter()
        .filter(|r| sandboxer::safety::check_remote_path(r).is_ok())
        .map(|r| quote(r))
        .collect();
    // Only directories named sbx-*, printed as full paths, one a line; with no
    // root to look at, the command only tells whether the VM answers.
    let script = if words.is_empty() {
        "exit 0".to_string()
    } else {
        format!(
            "for root in {}; do for d in \"$root\"/sbx-*; do [ -d \"$d\" ] && [ ! -L \"$d\" ] && printf '%s\\n' \"$d\"; done; done; exit 0",
            words.join(" ")
        )
    };
    super::engine::runtime()?.block_on(async {
        let pool = SshPool::new(super::engine::ssh_options(settings));
        let listing = async {
            let connection = pool.get(target, CONNECT_TIMEOUT).await.map_err(|e| e.to_string())?;
            let out = connection
                .run_ok(&script, "list workspaces")
                .await
                .map_err(|e| e.to_string())?;
            Ok(out.lines().map(String::from).collect())
        }
        .await;
        pool.close().await;
        Ok(listing)
    })
}
