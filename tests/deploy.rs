//! The systemd units in `docs/deploy/`: each passes `systemd-analyze verify`
//! (where systemd's tools are installed; the binary's path swapped for the one
//! built here, which the check wants to exist), holds no secret, and runs
//! hardened (no token, no database password). (`hub serve --token-file`,
//! which the hub's units rely on, is tested in `hub.rs`.)

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::Workdir;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn units() -> Vec<PathBuf> {
    let mut units: Vec<PathBuf> = std::fs::read_dir(Path::new(ROOT).join("docs/deploy"))
        .expect("list docs/deploy")
        .map(|e| e.expect("an entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "service"))
        .collect();
    units.sort();
    units
}

#[test]
fn the_units_verify_hold_no_secret_and_run_hardened() {
    let units = units();
    assert_eq!(units.len(), 3, "{units:?}");
    let work = Workdir::new();
    let analyze = Command::new("systemd-analyze").arg("--version").output().is_ok();
    for unit in &units {
        let text = std::fs::read_to_string(unit).expect("read a unit");
        for option in [
            "NoNewPrivileges=yes",
            "ProtectSystem=",
            "PrivateTmp=yes",
            "LoadCredential=hub-token:",
        ] {
            assert!(text.contains(option), "{}: no {option}", unit.display());
        }
        assert!(
            !text.contains("Environment=SANDBOXER_HUB_TOKEN"),
            "{}: a token in the unit",
            unit.display()
        );
        // A database URL names its user, never a password (`user:password@`).
        let passwords: Vec<&str> = text
            .split("postgres://")
            .skip(1)
            .filter(|url| url.split(['@', '/', ' ']).next().is_some_and(|user| user.contains(':')))
            .collect();
        assert!(
            !text.contains("PGPASSWORD") && passwords.is_empty(),
            "{}: a database password in the unit",
            unit.display()
        );
        if !analyze {
            eprintln!("systemd-analyze is not installed: {} not verified", unit.display());
            continue;
        }
        // A template is verified as one of its instances.
        let name = unit
            .file_name()
            .expect("a name")
            .to_string_lossy()
            .replace("@.service", "@check.service");
        let copy = work.write(
            &name,
            text.replace("/usr/local/bin/sandboxer", env!("CARGO_BIN_EXE_sandboxer")),
        );
        let out = Command::new("systemd-analyze")
            .arg("verify")
            .arg(&copy)
            .output()
            .expect("run systemd-analyze");
        assert!(
            out.status.success(),
            "{}: {}{}",
            unit.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
