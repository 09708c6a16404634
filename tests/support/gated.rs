//! `profile.gated`: a local-workspace profile whose setup signals that it runs
//! and then waits for the test, so a test can act (signal, kill, race a second
//! command) while a change is half-way.
//!
//! [`Gate::install`] writes the profile to `profiles/gated.yaml` of a work folder
//! W (the binary reads profiles next to the manifest) and makes the folder
//! `W/signals`. Each setup then
//!
//! 1. writes its shell's pid to `W/signals/started-<sandbox id>`,
//! 2. waits until `W/release` exists, looking every 20 ms, at most 3000 times
//!    (about a minute, so that a failed test cannot leave it waiting for ever),
//! 3. leaves an empty file `setup-ran` in the workspace and succeeds, or fails
//!    when `W/release` never came.
//!
//! Manifests name it with [`gated`] entries.

#![allow(dead_code)] // each test file uses its own part of this module

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{Workdir, wait_until};

/// The profile text: setups signal in `signals` and wait for `release` (see the module docs).
pub fn gated_profile(signals: &Path, release: &Path) -> String {
    format!(
        "name: profile.gated\n\
         driver: local-workspace\n\
         inputs:\n  \
           repo: {{ type: local_path }}\n  \
           workspace_root: {{ type: local_path, forces_replace: true }}\n\
         sync: {{ excludes: [], delete: true }}\n\
         setup:\n  \
           - 'echo $$ > \"{signals}/started-$SANDBOXER_SANDBOX_ID\"; i=0; while [ ! -e \"{release}\" ] && [ $i -lt 3000 ]; do sleep 0.02; i=$((i+1)); done; [ -e \"{release}\" ] && touch setup-ran'\n",
        signals = signals.display(),
        release = release.display(),
    )
}

/// A manifest entry of `profile.gated` with no inputs.
pub fn gated(name: &str) -> String {
    super::manifests::of_profile(name, "profile.gated")
}

/// `profile.gated` installed in a work folder: where its setups signal, and the
/// file that lets them go on.
pub struct Gate {
    signals: PathBuf,
    release: PathBuf,
}

impl Gate {
    /// Writes `profiles/gated.yaml` in `work` and makes `work/signals`.
    pub fn install(work: &Workdir) -> Gate {
        let signals = work.path().join("signals");
        fs::create_dir_all(&signals).expect("mkdir signals");
        let release = work.path().join("release");
        work.write("profiles/gated.yaml", gated_profile(&signals, &release));
        Gate { signals, release }
    }

    /// `W/signals`, one `started-<id>` file per setup that began.
    pub fn signals(&self) -> &Path {
        &self.signals
    }

    /// How many setups have begun.
    pub fn started(&self) -> usize {
        fs::read_dir(&self.signals).map(Iterator::count).unwrap_or(0)
    }

    /// Creates `W/release`: running setups finish, later ones pass straight through.
    pub fn release(&self) {
        fs::write(&self.release, "").expect("release the setup");
    }

    /// The pid the first setup wrote (waits for it up to `timeout`).
    pub fn setup_pid(&self, timeout: Duration) -> u32 {
        let mut pid = None;
        wait_until("a setup wrote its pid", timeout, || {
            pid = fs::read_dir(&self.signals)
                .ok()
                .and_then(|mut e| e.next())
                .and_then(|e| {
                    fs::read_to_string(e.expect("entry").path())
                        .ok()
                        .and_then(|t| t.trim().parse().ok())
                });
            pid.is_some()
        });
        pid.expect("a pid")
    }
}
