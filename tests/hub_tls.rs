//! The State Hub over TLS: a real `sandboxer hub serve` on a loopback port,
//! behind a real TLS terminator (Debian's `stunnel4`) on another, with a CA
//! and a server certificate for `127.0.0.1`/`localhost` made by the test with
//! the `openssl` command line (`support::tls`).
//!
//! The manifests name only the TLS port (`https://127.0.0.1:PORT`), so every
//! request goes through stunnel. With `--hub-ca` (or `SANDBOXER_HUB_CA`) naming
//! the test's CA, `apply` records on the hub; without it the client refuses the
//! certificate as of an unknown issuer and says to pass `--hub-ca`; a CA file
//! that is not PEM is refused, naming it, before anything is sent (stunnel
//! logs no connection). The team token appears in no output.

mod support;

use std::path::{Path, PathBuf};

use serde_json::Value;
use support::hub::HubProcess;
use support::manifests::{local, manifest_with};
use support::tls::{Stunnel, TestCa};
use support::{Cli, Output, Sandboxer, Workdir, sandboxer};

/// The variable the manifests name in `hub.token_env`.
const TOKEN_ENV: &str = "SBX_TEAM_TOKEN";
/// The team token: never printed.
const TOKEN: &str = "tls-team-token-5f0c1e9a";
/// The manifests' project.
const PROJECT: &str = "tls-team";

/// A test's folder W, its hub, the certificates in `W/tls` and stunnel in
/// front of the hub; `W/sandboxes.yaml` names the hub by its https URL.
struct World {
    work: Workdir,
    ca: TestCa,
    // Dropped before the hub: nothing forwards to a hub that is gone.
    stunnel: Stunnel,
    hub: HubProcess,
}

impl World {
    fn new() -> World {
        let work = Workdir::new();
        let hub = HubProcess::start(&work.path().join("hub-data"), Some(TOKEN));
        let tls = work.path().join("tls");
        let ca = TestCa::make(&tls);
        let stunnel = Stunnel::start(&tls, &ca, hub.addr());
        let hub_line = format!("hub: {{ url: '{}', token_env: {TOKEN_ENV} }}\n", stunnel.url());
        work.write("sandboxes.yaml", manifest_with(PROJECT, &hub_line, &[local("a", "")]));
        World { work, ca, stunnel, hub }
    }

    fn dir(&self) -> &Path {
        self.work.path()
    }

    /// The addresses of the project's records, as the hub has them (asked
    /// over plain HTTP, straight to the hub).
    fn records(&self) -> Vec<String> {
        let reply = self.hub.call("GET", &format!("/v1/projects/{PROJECT}/resources"), None);
        assert_eq!(reply.status, 200, "{reply:?}");
        let list = reply.json();
        list["resources"]
            .as_array()
            .expect("resources")
            .iter()
            .map(|entry| entry["record"]["address"].as_str().expect("an address").to_string())
            .collect()
    }

    /// Whether anyone holds the project's lease.
    fn lease_held(&self) -> bool {
        let reply = self.hub.call("GET", &format!("/v1/projects/{PROJECT}/lock"), None);
        assert_eq!(reply.status, 200, "{reply:?}");
        reply.json()["lease"] != Value::Null
    }

    /// Workspaces made next to the manifest.
    fn workspaces(&self) -> usize {
        std::fs::read_dir(self.dir().join(".sandboxer/workspaces"))
            .map(|entries| entries.count())
            .unwrap_or(0)
    }

    /// A CA file that is not one, written in W.
    fn not_pem(&self) -> PathBuf {
        self.work.write("not-a-ca.pem", "this is a note, not a certificate\n")
    }
}

impl Cli for World {
    /// `sandboxer` in W with the team token in `SBX_TEAM_TOKEN`.
    fn cmd(&self) -> Sandboxer {
        sandboxer().current_dir(self.dir()).env(TOKEN_ENV, TOKEN)
    }
}

/// The token is in neither stream.
fn assert_no_token(out: &Output) {
    assert!(
        !out.stdout.contains(TOKEN) && !out.stderr.contains(TOKEN),
        "the token was printed\n{out}"
    );
}

#[test]
fn apply_with_hub_ca_reaches_the_hub_through_the_tls_proxy_and_records_there() {
    let w = World::new();
    let before = w.stunnel.connections();
    // Relative to the current folder, like the other path flags.
    let out = w.ok(&["apply", "--auto-approve", "--hub-ca", "tls/ca.pem"]);
    assert_no_token(&out);
    assert!(out.stderr.contains("Apply complete: 1 created"), "{out}");
    assert_eq!(w.records(), ["sandbox.a"]);
    assert!(!w.lease_held(), "the lease was released");
    assert!(w.stunnel.connections() > before, "{}", w.stunnel.log());

    // Converged: nothing to do the second time, over TLS again.
    let again = w.ok(&["apply", "--auto-approve", "--hub-ca", "tls/ca.pem"]);
    assert!(again.stdout.contains("No changes"), "{again}");
    assert_eq!(w.records(), ["sandbox.a"]);
}

#[test]
fn without_hub_ca_the_certificate_is_refused_as_of_an_unknown_ca_with_the_hint() {
    let w = World::new();
    // -v logs retries: a refused certificate is not retried.
    let out = w.expect(1, &["-v", "apply", "--auto-approve"]);
    assert_no_token(&out);
    let url = w.stunnel.url();
    assert!(
        out.stderr.contains(&format!(
            "error: State Hub at {url}: its TLS certificate is not trusted: unknown issuer"
        )),
        "{out}"
    );
    assert!(
        out.stderr
            .contains("hint: pass --hub-ca FILE (or set SANDBOXER_HUB_CA) with the PEM certificate of the CA"),
        "{out}"
    );
    assert!(!out.stderr.contains("unreachable"), "{out}");
    assert!(!out.stderr.contains("retrying"), "{out}");
    assert!(w.records().is_empty() && !w.lease_held());
    assert_eq!(w.workspaces(), 0, "nothing was made");

    // A CA that did not sign the hub's certificate is no better, and the hint names it.
    let other = TestCa::make_ca(&w.dir().join("tls"), "other", "another CA");
    let out = w.expect(
        1,
        &["apply", "--auto-approve", "--hub-ca", &other.display().to_string()],
    );
    assert_no_token(&out);
    assert!(out.stderr.contains("unknown issuer"), "{out}");
    assert!(
        out.stderr.contains(&format!(
            "hint: neither {} (--hub-ca) nor the system's CA store",
            other.display()
        )),
        "{out}"
    );
    assert!(w.records().is_empty());
}

#[test]
fn sandboxer_hub_ca_in_the_environment_works_like_the_flag() {
    let w = World::new();
    let out = w
        .cmd()
        .env("SANDBOXER_HUB_CA", w.ca.ca_pem())
        .args(["apply", "--auto-approve"])
        .run();
    assert_eq!(out.code, 0, "{out}");
    assert_no_token(&out);
    assert_eq!(w.records(), ["sandbox.a"]);

    let listed = w.cmd().env("SANDBOXER_HUB_CA", w.ca.ca_pem()).args(["list"]).run();
    assert_eq!(listed.code, 0, "{listed}");
    assert!(listed.stdout.contains(PROJECT), "{listed}");

    // The variable set to a file that is not PEM is refused like the flag.
    let refused = w.cmd().env("SANDBOXER_HUB_CA", w.not_pem()).args(["list"]).run();
    assert_eq!(refused.code, 1, "{refused}");
    assert!(
        refused.stderr.contains("not-a-ca.pem: no certificate in it"),
        "{refused}"
    );
}

#[test]
fn a_hub_ca_file_that_is_not_pem_is_refused_with_its_name_before_anything_is_sent() {
    let w = World::new();
    let before = w.stunnel.connections();
    let file = w.not_pem();
    let out = w.expect(1, &["apply", "--auto-approve", "--hub-ca", "not-a-ca.pem"]);
    assert_no_token(&out);
    assert!(
        out.stderr.contains(&format!(
            "error: hub CA file {}: no certificate in it (expected PEM",
            file.display()
        )),
        "{out}"
    );
    assert!(
        out.stderr
            .contains("hint: give --hub-ca (or SANDBOXER_HUB_CA) a readable PEM file"),
        "{out}"
    );

    // A file that is not there is refused the same way.
    let out = w.expect(1, &["apply", "--auto-approve", "--hub-ca", "missing.pem"]);
    let missing = w.dir().join("missing.pem");
    assert!(
        out.stderr
            .contains(&format!("error: hub CA file {}: cannot read it", missing.display())),
        "{out}"
    );

    assert_eq!(w.stunnel.connections(), before, "{}", w.stunnel.log());
    assert!(w.records().is_empty() && !w.lease_held());
    assert_eq!(w.workspaces(), 0, "nothing was made");
}
