//! `sandboxer doctor [-f FILE] [--vm NAME]... [--json]`: the status of the
//! bridge to the build machines. Every VM the manifest or the port registry
//! names is checked at once (tunnel port, banner, host key, login, rsync,
//! workspace roots, free space, capabilities), then Packer and the image
//! templates, then the State Hub. One line per check; exit 1 when any check fails.
//!
//! It changes nothing but the capability catalog of the VMs it probed: no
//! state is written, no lock is taken, no file is written but the catalog's
//! and ssh's own control socket.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use serde_json::json;

use sandboxer::address::ResourceKind;
use sandboxer::desired::Desired;
use sandboxer::doctor::packer::ImageProbe;
use sandboxer::doctor::vm::{VmCheckOptions, VmProbe};
use sandboxer::doctor::{self, Finding, Status};
use sandboxer::driver::ssh::target_of;
use sandboxer::profile::DriverName;
use sandboxer::remote::{SshPool, Target};
use sandboxer::state::AnyStore;

use super::Settings;
use super::args::ManifestArg;
use super::output::{Hinted, print_data};

#[derive(Debug, Args)]
pub struct Opts {
    #[command(flatten)]
    pub manifest: ManifestArg,
    /// Check only this VM (its SSH alias); may be repeated
    #[arg(long = "vm", value_name = "NAME")]
    pub vms: Vec<String>,
    /// How long each check may take
    #[arg(long, default_value = "10s", value_name = "DURATION", value_parser = sandboxer::duration::parse)]
    pub timeout: Duration,
    /// Print the checks as a JSON array on stdout
    #[arg(long)]
    pub json: bool,
}

pub fn run(opts: &Opts, settings: &Settings) -> anyhow::Result<ExitCode> {
    let loaded = sandboxer::manifest::load(&opts.manifest.file).map_err(anyhow::Error::from)?;
    let catalog = settings.catalog(&loaded.dir).map_err(anyhow::Error::from)?;
    let context = settings.build_context(&loaded);
    let desired = sandboxer::desired::build(&loaded, &catalog, &context).map_err(anyhow::Error::from)?;
    let registry_path = loaded
        .manifest
        .port_registry
        .as_deref()
        .map(|p| sandboxer::profile::resolve::local_path(p, &context.resolve))
        .or(context.port_registry.clone());
    let registry = match registry_path {
        // `desired::build` read it already: a failure here is a race, said as it is.
        Some(path) => Some(
            sandboxer::port_registry::load(&path)
                .map_err(|d| anyhow::Error::from(sandboxer::diagnostic::Diagnostics(d)))?,
        ),
        None => None,
    };
    let probes = select(vm_probes(&desired, registry.as_ref()), &opts.vms)?;
    let images: Vec<ImageProbe> = desired
        .resources
        .values()
        .filter(|r| r.address.kind == ResourceKind::Image && r.driver == DriverName::PACKER)
        .map(ImageProbe::of)
        .collect();
    let store = super::store::open(settings, &context.state_dir, desired.hub.as_ref())?;
    let hub = match &store {
        AnyStore::Hub(hub) => Some(hub),
        AnyStore::Embedded(_) => None,
    };
    // `--vm` asks about VMs only.
    let images = if opts.vms.is_empty() { images } else { Vec::new() };
    let hub = hub.filter(|_| opts.vms.is_empty());

    let packer_binary = settings
        .env
        .get("SANDBOXER_PACKER")
        .map_or_else(|| PathBuf::from("packer"), PathBuf::from);
    let vm_options = VmCheckOptions {
        ssh_config: settings.ssh_config.clone(),
        timeout: opts.timeout,
    };
    let findings: Vec<Finding> = super::engine::runtime()?.block_on(async {
        // Doctor writes no known_hosts line: a VM seen for the first
        // time fails its host-key check, whatever --ssh-accept-new says.
        let mut options = super::engine::ssh_options(settings);
        options.accept_new_host_keys = false;
        let pool = SshPool::new(options);
        let vms = sandboxer::task::join_all(
            probes
                .iter()
                .map(|probe| doctor::vm::check(&pool, probe, &vm_options))
                .collect(),
        );
        let packer = async {
            if images.is_empty() {
                Vec::new()
            } else {
                doctor::packer::check(&packer_binary, &images, opts.timeout).await
            }
        };
        let hub = async {
            match &hub {
                Some(hub) => doctor::hub::check(hub, &desired.project, opts.timeout).await,
                None => Vec::new(),
            }
        };
        let (vms, packer, hub) = tokio::join!(vms, packer, hub);
        pool.close().await;
        let mut findings = Vec::new();
        let mut catalog = Vec::new();
        for (probe, result) in probes.iter().zip(vms) {
            match result {
                Ok((lines, entry)) => {
                    findings.extend(lines);
                    catalog.extend(entry);
                }
                Err(panic) => findings.push(Finding {
                    scope: probe.target.vm.clone(),
                    check: "doctor",
                    status: Status::Fail,
                    detail: format!("the checks of this VM ended early: {panic}"),
                    hint: Some("run `sandboxer -vv doctor --vm` with this VM to see where".into()),
                }),
            }
        }
        findings.extend(packer);
        findings.extend(hub);
        // What was probed goes to the catalog: the one thing doctor writes.
        for entry in &catalog {
            if let Err(e) = store.put_vm_capabilities(entry).await {
                findings.push(Finding {
                    scope: entry.name.clone(),
                    check: "catalog",
                    status: Status::Fail,
                    detail: format!("cannot save its capabilities to {}: {e}", store.describe()),
                    hint: e.hint(),
                });
            }
        }
        findings
    });

    if opts.json {
        print_data(&format!("{}\n", serde_json::to_string_pretty(&as_json(&findings))?))?;
    } else if findings.is_empty() {
        if !settings.quiet {
            eprintln!("{}: no VM, image or State Hub to check", opts.manifest.file.display());
        }
    } else {
        print_data(&table(&findings))?;
    }
    let failed = findings.iter().filter(|f| f.status == Status::Fail).count();
    if failed > 0 && !opts.json && !settings.quiet {
        let mut err = std::io::stderr().lock();
        writeln!(err, "{failed} check{} failed", if failed == 1 { "" } else { "s" })
            .context("cannot write to stderr")?;
    }
    Ok(if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// The VMs to check: each ssh target of the manifest's sandboxes with the
/// workspace roots it gets, then each VM of the port registry not named yet.
fn vm_probes(desired: &Desired, registry: Option<&sandboxer::port_registry::LoadedRegistry>) -> Vec<VmProbe> {
    let mut probes: BTreeMap<Target, VmProbe> = BTreeMap::new();
    let sandboxes = desired
        .resources
        .values()
        .filter(|r| r.driver == DriverName::SSH_WORKSPACE);
    let mut by_target: BTreeMap<Target, Vec<&sandboxer::desired::DesiredResource>> = BTreeMap::new();
    for resource in sandboxes {
        let target = target_of(resource);
        let probe = probes.entry(target.clone()).or_insert_with(|| VmProbe {
            target: target.clone(),
            roots: Default::default(),
            capabilities: facts_only(),
        });
        probe
            .roots
            .extend(resource.input_str("workspace_root").map(str::to_string));
        by_target.entry(target).or_default().push(resource);
    }
    for (target, resources) in by_target {
        if let (Some(probe), Some(spec)) = (probes.get_mut(&target), sandboxer::observe::probe_spec(&resources)) {
            probe.capabilities = spec;
        }
    }
    if let Some(registry) = registry {
        for (port, vm) in &registry.registry.ports {
            let named = probes.keys().any(|t| &t.vm == vm && t.jump.is_none());
            if !named {
                let target = Target {
                    vm: vm.clone(),
                    port: Some(*port),
                    jump: None,
                };
                probes.insert(
                    target.clone(),
                    VmProbe {
                        target,
                        roots: Default::default(),
                        capabilities: facts_only(),
                    },
                );
            }
        }
    }
    probes.into_values().collect()
}

/// The probes of the VMs `--vm` names (all without it); a name that is
/// neither in the manifest nor in the registry is refused.
fn select(probes: Vec<VmProbe>, wanted: &[String]) -> anyhow::Result<Vec<VmProbe>> {
    if wanted.is_empty() {
        return Ok(probes);
    }
    if let Some(unknown) = wanted.iter().find(|w| !probes.iter().any(|p| &&p.target.vm == w)) {
        let known: Vec<&str> = probes.iter().map(|p| p.target.vm.as_str()).collect();
        return Err(Hinted {
            message: format!(
                "--vm {}: neither the manifest nor the port registry names this VM",
                sandboxer::safety::printable(unknown)
            ),
            hint: if known.is_empty() {
                "the manifest has no sandbox on a VM and no port registry".into()
            } else {
                format!("known VMs: {}", known.join(", "))
            },
        }
        .into());
    }
    Ok(probes.into_iter().filter(|p| wanted.contains(&p.target.vm)).collect())
}

/// One line per check, aligned; a failure's hint on the line below it.
fn table(findings: &[Finding]) -> String {
    let scope_width = findings.iter().map(|f| f.scope.len()).max().unwrap_or(0).max(5);
    let check_width = findings.iter().map(|f| f.check.len()).max().unwrap_or(0).max(5);
    let mut text = format!(
        "{:scope_width$}  {:check_width$}  {:7}  DETAIL\n",
        "SCOPE", "CHECK", "STATUS"
    );
    for f in findings {
        text.push_str(&format!(
            "{:scope_width$}  {:check_width$}  {:7}  {}\n",
            f.scope,
            f.check,
            f.status.word(),
            f.detail
        ));
        if let Some(hint) = &f.hint {
            text.push_str(&format!(
                "{:scope_width$}  {:check_width$}  {:7}  hint: {hint}\n",
                "", "", ""
            ));
        }
    }
    text
}

/// `[{scope, check, ok, detail, hint}]`: `ok` is null for a skipped check.
fn as_json(findings: &[Finding]) -> serde_json::Value {
    findings
        .iter()
        .map(|f| {
            let ok = match f.status {
                Status::Ok => json!(true),
                Status::Fail => json!(false),
                Status::Skipped => serde_json::Value::Null,
            };
            json!({"scope": f.scope, "check": f.check, "ok": ok, "detail": f.detail, "hint": f.hint})
        })
        .collect()
}

/// The probe of a VM no resource of the manifest is on: its facts.
fn facts_only() -> sandboxer::capability::ProbeSpec {
    sandboxer::capability::ProbeSpec {
        timeout: sandboxer::capability::probe::DEFAULT_PROBE_TIMEOUT,
        ..Default::default()
    }
}
