//! Environment variables that hold secrets (the hub token, sensitive inputs'
//! env fallbacks): sandboxer reads them, and no child process it starts
//! (setup commands, Packer, rsync) inherits them.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// The variable the hub token is read from when a manifest names no other.
pub const DEFAULT_TOKEN_ENV: &str = "SANDBOXER_HUB_TOKEN";

static NAMES: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

/// Secret values taken out of the process environment at start (see [`keep`]).
static KEPT: Mutex<BTreeMap<String, String>> = Mutex::new(BTreeMap::new());

/// Keeps the value of `name`, which the binary takes out of the process
/// environment at start: then no child process at all inherits it, ssh
/// masters started by a library included.
pub fn keep(name: &str, value: String) {
    KEPT.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(name.to_string(), value);
    register(name);
}

/// The value of a secret variable: kept at start, or still in the environment.
pub fn var(name: &str) -> Option<String> {
    let kept = KEPT.lock().unwrap_or_else(PoisonError::into_inner).get(name).cloned();
    kept.or_else(|| std::env::var(name).ok())
}

fn names() -> MutexGuard<'static, BTreeSet<String>> {
    NAMES.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Marks `name` as holding a secret from now on.
pub fn register(name: &str) {
    names().insert(name.to_string());
}

/// Every variable a child must not inherit: the default token variable and
/// every one registered.
pub fn secret_names() -> Vec<String> {
    let mut all = names().clone();
    all.insert(DEFAULT_TOKEN_ENV.to_string());
    all.into_iter().collect()
}

/// Removes the secrets from a command's environment.
pub fn scrub(command: &mut std::process::Command) -> &mut std::process::Command {
    for name in secret_names() {
        command.env_remove(name);
    }
    command
}

/// Removes the secrets from an async command's environment.
pub fn scrub_async(command: &mut tokio::process::Command) -> &mut tokio::process::Command {
    for name in secret_names() {
        command.env_remove(name);
    }
    command
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_does_not_inherit_a_registered_secret() {
        register("SBX_UNIT_SECRET");
        let mut command = std::process::Command::new("sh");
        command.args([
            "-c",
            "printf '%s|%s' \"${SBX_UNIT_SECRET-unset}\" \"${SANDBOXER_HUB_TOKEN-unset}\"",
        ]);
        command
            .env("SBX_UNIT_SECRET", "hunter2")
            .env("SANDBOXER_HUB_TOKEN", "t0ken");
        scrub(&mut command);
        let out = command.output().expect("run sh");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "unset|unset");
    }
}
