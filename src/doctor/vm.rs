//! The checks of one VM, in the order a connection needs them: the tunnel
//! port, sshd's banner, the host key, authentication (one ssh master, opened
//! as `apply` opens it, or found warm), then through that master: rsync, each
//! workspace root, the free space under it.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use tokio::io::AsyncReadExt;

use super::{Checklist, Finding, Planned, one_line, within};
use crate::capability::{ProbeReport, ProbeSpec, VmCapabilities};
use crate::remote::{ConnectFailure, Connection, RemoteError, SshPool, Target, quote};
use crate::safety::printable;

/// Below this much free space under a workspace root, the disk check fails.
pub const MIN_FREE_BYTES: u64 = 1 << 30;

/// The longest an sshd banner (with lines before it) may be before it is given up on.
const MAX_BANNER_BYTES: usize = 1024;

/// One VM to check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmProbe {
    /// How it is reached, as `apply` reaches it.
    pub target: Target,
    /// The workspace roots the manifest puts on it (none for a VM only the port registry names).
    pub roots: BTreeSet<String>,
    /// Its capabilities to probe: the facts, the probes of the profiles of
    /// the manifest's resources there, the free space under `roots`.
    pub capabilities: ProbeSpec,
}

/// What the VM checks share.
#[derive(Debug, Clone)]
pub struct VmCheckOptions {
    /// The ssh config file the pool uses (for `ssh -G`, to find where the port is).
    pub ssh_config: Option<PathBuf>,
    /// How long each check may take.
    pub timeout: Duration,
}

/// Where ssh connects to directly: `None` through a jump host or a proxy
/// command, where no port here can be tried.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Endpoint {
    host: String,
    port: u16,
}

/// Checks one VM. Every check has a line; after the first failure the rest say
/// they were skipped.
pub async fn check(
    pool: &SshPool,
    probe: &VmProbe,
    options: &VmCheckOptions,
) -> (Vec<Finding>, Option<VmCapabilities>) {
    let mut catalog = None;
    let findings = run_checks(pool, probe, options, &mut catalog).await;
    (findings, catalog)
}

/// The checks, in order; the last probes the capabilities into `catalog`.
async fn run_checks(
    pool: &SshPool,
    probe: &VmProbe,
    options: &VmCheckOptions,
    catalog: &mut Option<VmCapabilities>,
) -> Vec<Finding> {
    let endpoint = match endpoint(&probe.target, options).await {
        Ok(endpoint) => endpoint,
        Err(problem) => {
            let mut planned = vec![Planned::check("ssh-config")];
            planned.extend(plan(probe, false));
            let hint = format!(
                "check the ssh config entry of `{vm}` (`ssh -G {vm}`), or --ssh-config / SANDBOXER_SSH_CONFIG",
                vm = probe.target.vm
            );
            return Checklist::new(&probe.target.vm, planned).fail(problem, hint);
        }
    };
    let mut list = Checklist::new(&probe.target.vm, plan(probe, endpoint.is_some()));

    if let Some(endpoint) = &endpoint {
        let address = format!("{}:{}", endpoint.host, endpoint.port);
        let connected = within(
            options.timeout,
            &address,
            tokio::net::TcpStream::connect((endpoint.host.as_str(), endpoint.port)),
        )
        .await
        .and_then(|r| r.map_err(|e| format!("{address}: {e}")));
        let mut stream = match connected {
            Ok(stream) => stream,
            Err(problem) => return list.fail(problem, tcp_hint(&probe.target, endpoint)),
        };
        list.pass(format!("{address} accepts connections"));
        match within(options.timeout, "the banner", read_banner(&mut stream)).await {
            Ok(Ok(banner)) => list.pass(banner),
            Ok(Err(problem)) | Err(problem) => {
                let hint = format!(
                    "something other than sshd answers on {address}: check where the reverse tunnel of {} ends (`ssh -G {}` shows the port ssh uses)",
                    probe.target.vm, probe.target.vm
                );
                return list.fail(problem, hint);
            }
        }
    }

    let connection = match pool.get(&probe.target, options.timeout).await {
        Ok(connection) => connection,
        Err(error) => return connect_failed(list, &error),
    };
    if connection.reused() {
        // A warm master did both when it was launched; nothing new is asked of the VM.
        list.pass("known and matching (checked when the warm ssh master was opened)");
        list.pass("warm ssh master reused (--ssh-persist)");
    } else {
        list.pass("known and matching");
        list.pass("logged in (key accepted)");
    }

    let remote = Remote {
        connection: &connection,
        timeout: options.timeout,
    };
    match remote.run("command -v rsync", "looking for rsync").await {
        Ok(out) if out.code == Some(0) => list.pass(one_line(&out.stdout)),
        Ok(_) => {
            return list.fail(
                "rsync is not on the PATH of the VM",
                format!(
                    "install rsync on {} (Debian: `apt-get install rsync`; bake it into the image's template)",
                    probe.target.vm
                ),
            );
        }
        Err((problem, hint)) => return list.fail(problem, hint),
    }

    for root in &probe.roots {
        if let Err(refused) = crate::safety::check_remote_path(root) {
            return list.fail(
                format!("{}: {refused}", printable(root)),
                "give workspace_root an absolute path of plain characters",
            );
        }
        match remote.run(&root_script(root), "checking the workspace root").await {
            Ok(out) if out.code == Some(0) => match out.stdout.trim() {
                "writable" => list.pass(format!("{root}: exists, writable")),
                "missing" => list.pass(format!("{root}: does not exist yet; apply creates it")),
                _ => {
                    return list.fail(
                        format!("{root}: exists but is not a folder"),
                        format!(
                            "move {root} away on {} or set workspace_root to a folder",
                            probe.target.vm
                        ),
                    );
                }
            },
            Ok(out) => {
                return list.fail(
                    format!("{root}: not writable: {}", one_line(&out.stderr)),
                    format!(
                        "let the ssh user of {} write into {root} (`ssh {} ls -ld {}`), or set workspace_root to a folder it owns",
                        probe.target.vm,
                        probe.target.vm,
                        quote(root)
                    ),
                );
            }
            Err((problem, hint)) => return list.fail(problem, hint),
        }
        let free = match remote.run(&df_script(root), "measuring free space").await {
            Ok(out) if out.code == Some(0) => parse_df(&out.stdout),
            Ok(out) => Err(format!("df failed: {}", one_line(&out.stderr))),
            Err((problem, hint)) => return list.fail(problem, hint),
        };
        match free {
            Ok(free) if free.bytes >= MIN_FREE_BYTES => {
                list.pass(format!("{root}: {} free on {}", gib(free.bytes), free.mount));
            }
            Ok(free) => {
                return list.fail(
                    format!(
                        "{root}: only {} free on {} (at least {} needed)",
                        gib(free.bytes),
                        free.mount,
                        gib(MIN_FREE_BYTES)
                    ),
                    format!(
                        "free space on {} under {root}: `sandboxer list` shows the workspaces, `sandboxer destroy <id>` removes one",
                        probe.target.vm
                    ),
                );
            }
            Err(problem) => {
                return list.fail(
                    format!("{root}: {problem}"),
                    format!(
                        "`ssh {} df -Pk {}` shows what the VM says",
                        probe.target.vm,
                        quote(root)
                    ),
                );
            }
        }
    }

    // Probes are bounded each; the script as a whole gets their time on top.
    let probing = Remote {
        connection: &connection,
        timeout: options.timeout + probe.capabilities.timeout + Duration::from_secs(5),
    };
    let out = match probing.run(&probe.capabilities.script(), "probing capabilities").await {
        Ok(out) => out,
        Err((problem, hint)) => return list.fail(problem, hint),
    };
    let report = ProbeReport::parse(&out.stdout);
    if !report.complete {
        return list.fail(
            format!("the capability probe did not finish: {}", one_line(&out.stderr)),
            format!(
                "`ssh {} 'uname -m; nproc; df -Pk /'` shows whether the VM answers the basic probes",
                probe.target.vm
            ),
        );
    }
    let entry = report.entry(&probe.target.vm, &probe.capabilities, &crate::state::now_rfc3339());
    list.pass(capabilities_line(&entry));
    *catalog = Some(entry);
    list.finish()
}

/// The catalog entry in one line: `os debian 12, x86_64, 8 cores, 31.3 GiB
/// memory; cabal absent (command not found), ghc 9.6.4`.
fn capabilities_line(entry: &VmCapabilities) -> String {
    let value = |name: &str| entry.capabilities.get(name).map(|c| c.shown(name));
    let mut facts = Vec::new();
    if let Some(os) = value("os") {
        let version = value("os_version").unwrap_or_default();
        facts.push(format!("os {os} {version}").trim_end().to_string());
    }
    facts.extend(value("arch"));
    facts.extend(value("cores").map(|c| format!("{c} cores")));
    facts.extend(value("memory").map(|m| format!("{m} memory")));
    let others: Vec<String> = entry
        .capabilities
        .iter()
        .filter(|(name, _)| !crate::capability::FACTS.contains(&name.as_str()))
        .map(|(name, c)| format!("{name} {}", c.shown(name)))
        .collect();
    let mut line = facts.join(", ");
    if !others.is_empty() {
        line.push_str("; ");
        line.push_str(&others.join(", "));
    }
    printable(&line)
}

/// The checks of `probe`, in order; `direct`: ssh connects to a port here
/// (no jump host, no proxy), which can be tried first.
fn plan(probe: &VmProbe, direct: bool) -> Vec<Planned> {
    let mut planned = Vec::new();
    if direct {
        planned.extend([Planned::check("tcp"), Planned::check("banner")]);
    }
    planned.extend(["host-key", "auth", "rsync"].map(Planned::check));
    for root in &probe.roots {
        planned.push(Planned::of("workspace-root", root));
        planned.push(Planned::of("disk", root));
    }
    planned.push(Planned::check("capabilities"));
    planned
}

fn tcp_hint(target: &Target, endpoint: &Endpoint) -> String {
    match target.port {
        Some(port) => format!(
            "nothing answers on tunnel port {port}: start the reverse tunnel of {} (it must end on {}:{port}), or start the VM",
            target.vm, endpoint.host
        ),
        None => format!(
            "nothing answers on {}:{}: check that {} is up and reachable",
            endpoint.host, endpoint.port, target.vm
        ),
    }
}

/// A failed ssh master, on the check it failed: a refused key is the
/// authentication's; anything before it (the host key, the handshake) is the
/// host key check's.
fn connect_failed(mut list: Checklist, error: &RemoteError) -> Vec<Finding> {
    let hint = error
        .hint()
        .unwrap_or_else(|| "`ssh -v <vm> true` shows what ssh does".to_string());
    if let RemoteError::Connect {
        kind: ConnectFailure::AuthRefused,
        ..
    } = error
    {
        list.pass("known and matching");
    }
    list.fail(one_line(&error.to_string()), hint)
}

/// Reads lines until sshd's identification line (RFC 4253 lets a server send
/// other lines first).
async fn read_banner(stream: &mut tokio::net::TcpStream) -> Result<String, String> {
    let mut seen = Vec::new();
    let mut buffer = [0u8; 256];
    loop {
        let n = stream
            .read(&mut buffer)
            .await
            .map_err(|e| format!("reading the banner: {e}"))?;
        if n == 0 {
            return Err(format!("the connection closed without an SSH banner{}", shown(&seen)));
        }
        seen.extend_from_slice(&buffer[..n]);
        let text = String::from_utf8_lossy(&seen).into_owned();
        for line in text.split_inclusive('\n').filter(|l| l.ends_with('\n')) {
            let line = line.trim_end();
            if line.starts_with("SSH-2.0-") || line.starts_with("SSH-1.99-") {
                return Ok(printable(line));
            }
            if line.starts_with("SSH-") {
                return Err(format!("an SSH version this ssh does not speak: {}", printable(line)));
            }
        }
        if seen.len() > MAX_BANNER_BYTES {
            return Err(format!("no SSH banner{}", shown(&seen)));
        }
    }
}

fn shown(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        String::new()
    } else {
        format!(" (got: {})", one_line(&String::from_utf8_lossy(bytes)))
    }
}

/// Where ssh would connect for `target`: the host and port `ssh -G` resolves
/// (the config file, the tunnel port), or `None` when it goes through a jump
/// host or a proxy command.
async fn endpoint(target: &Target, options: &VmCheckOptions) -> Result<Option<Endpoint>, String> {
    if target.jump.is_some() {
        return Ok(None);
    }
    let mut command = tokio::process::Command::new("ssh");
    crate::secret_env::scrub_async(&mut command);
    command.arg("-G");
    if let Some(port) = target.port {
        command.arg("-p").arg(port.to_string());
    }
    if let Some(config) = &options.ssh_config {
        command.arg("-F").arg(config);
    }
    command
        .arg("--")
        .arg(&target.vm)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let output = within(options.timeout, "ssh -G", command.output())
        .await?
        .map_err(|e| format!("cannot run ssh: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "ssh -G {}: {}",
            target.vm,
            one_line(&String::from_utf8_lossy(&output.stderr))
        ));
    }
    Ok(parse_ssh_g(&String::from_utf8_lossy(&output.stdout)))
}

/// The direct endpoint in `ssh -G` output, if ssh connects directly.
fn parse_ssh_g(text: &str) -> Option<Endpoint> {
    let value = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key).and_then(|rest| rest.strip_prefix(' ')))
            .map(str::trim)
    };
    let indirect = |key: &str| value(key).is_some_and(|v| !v.is_empty() && v != "none");
    if indirect("proxyjump") || indirect("proxycommand") {
        return None;
    }
    Some(Endpoint {
        host: value("hostname")?.to_string(),
        port: value("port")?.parse().ok()?,
    })
}

/// A remote command with a deadline; a failure comes with its hint.
struct Remote<'a> {
    connection: &'a Connection,
    timeout: Duration,
}

impl Remote<'_> {
    async fn run(&self, script: &str, what: &str) -> Result<crate::remote::RemoteOutput, (String, String)> {
        let vm = &self.connection.target().vm;
        let hint = || format!("`ssh -v {vm} true` shows what ssh does; run doctor again once it connects");
        match within(self.timeout, what, self.connection.run(script)).await {
            Ok(Ok(out)) => Ok(out),
            Ok(Err(error)) => Err((format!("{what}: {error}"), error.hint().unwrap_or_else(hint))),
            Err(problem) => Err((problem, hint())),
        }
    }
}

/// Prints `writable` (a fresh folder could be made and removed under the
/// root), `missing`, or `not-a-folder`; fails with mktemp's or rmdir's words.
/// The probe folder is removed at once: nothing is left on the VM.
fn root_script(root: &str) -> String {
    let root = quote(root);
    format!(
        "if [ -d {root} ]; then \
         probe=$(mktemp -d {root}/.sandboxer-doctor.XXXXXX) || exit 1; \
         rmdir \"$probe\" || exit 1; echo writable; \
         elif [ -e {root} ]; then echo not-a-folder; else echo missing; fi"
    )
}

/// `df -Pk` of the root, or of its nearest existing parent while it does not exist yet.
fn df_script(root: &str) -> String {
    let root = quote(root);
    format!("p={root}; while [ ! -e \"$p\" ]; do p=$(dirname \"$p\"); done; df -Pk \"$p\"")
}

/// Free space and the mount point it was measured on.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Free {
    bytes: u64,
    mount: String,
}

/// The last line of POSIX `df -Pk`: filesystem, 1024-blocks, used, available,
/// capacity, mount point (which may hold spaces).
fn parse_df(text: &str) -> Result<Free, String> {
    let line = text
        .lines()
        .rfind(|l| !l.trim().is_empty())
        .ok_or("df printed nothing")?;
    let fields: Vec<&str> = line.split_whitespace().collect();
    let available = fields
        .get(3)
        .and_then(|f| f.parse::<u64>().ok())
        .ok_or_else(|| format!("cannot read df's line: {}", printable(line)))?;
    Ok(Free {
        bytes: available.saturating_mul(1024),
        mount: fields.get(5..).map(|m| m.join(" ")).unwrap_or_default(),
    })
}

fn gib(bytes: u64) -> String {
    // Precision is not the point of a figure shown to a person.
    #[allow(clippy::cast_precision_loss)]
    let gib = bytes as f64 / f64::from(1u32 << 30);
    format!("{gib:.1} GiB")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn df_gives_the_available_kib_and_the_mount_point() {
        let out = "Filesystem 1024-blocks Used Available Capacity Mounted on\n/dev/vda 264212084 35404780 59881108 38% /srv/my builds\n";
        assert_eq!(
            parse_df(out),
            Ok(Free {
                bytes: 59_881_108 * 1024,
                mount: "/srv/my builds".into()
            })
        );
        assert!(parse_df("").is_err());
        assert!(parse_df("Filesystem 1024-blocks Used Available\nx y z w\n").is_err());
        assert_eq!(gib(MIN_FREE_BYTES), "1.0 GiB");
    }

    #[test]
    fn ssh_g_gives_the_direct_endpoint_or_none_through_a_proxy() {
        let direct = "user root\nhostname 127.0.0.1\nport 12221\nproxyjump none\n";
        assert_eq!(
            parse_ssh_g(direct),
            Some(Endpoint {
                host: "127.0.0.1".into(),
                port: 12221
            })
        );
        assert_eq!(parse_ssh_g("hostname h\nport 22\nproxyjump bastion\n"), None);
        assert_eq!(parse_ssh_g("hostname h\nport 22\nproxycommand nc %h %p\n"), None);
    }

    #[test]
    fn the_root_is_quoted_in_every_script() {
        let root = "/srv/it's here";
        for script in [root_script(root), df_script(root)] {
            assert!(script.contains(&quote(root)), "{script}");
            assert!(!script.contains("/srv/it's here "), "{script}");
        }
    }
}
