//! `sandboxer ssh-config [--registry FILE] [--check]`: OpenSSH `Host` blocks for
//! every VM slot of the port registry, or (`--check`) where the operator's ssh
//! config resolves those aliases differently.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use anyhow::Context;
use clap::Args;

use sandboxer::port_registry::{self, LoadedRegistry};
use sandboxer::safety::printable;
use sandboxer::ssh_config::{self, Difference, Slot};

use super::Settings;
use super::output::Hinted;

#[derive(Debug, Args)]
pub struct Opts {
    /// The port registry [default: the manifest's `port_registry:`, else SANDBOXER_PORT_REGISTRY]
    #[arg(long, value_name = "FILE")]
    pub registry: Option<PathBuf>,
    /// The manifest whose `port_registry:` is used [default: sandboxes.yaml if present]
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Compare with what `ssh -G <alias>` resolves (with --ssh-config if given); exit 1 on any difference
    #[arg(long)]
    pub check: bool,
}

pub fn run(opts: &Opts, settings: &Settings) -> anyhow::Result<ExitCode> {
    let path = registry_path(opts, settings)?;
    let registry = port_registry::load(&path).map_err(sandboxer::diagnostic::Diagnostics)?;
    if !opts.check {
        super::output::print_data(&ssh_config::render(&registry))?;
        return Ok(ExitCode::SUCCESS);
    }
    check(&registry, settings)
}

/// Where the registry comes from: `--registry`, else as `validate` and `plan`
/// find it.
fn registry_path(opts: &Opts, settings: &Settings) -> anyhow::Result<PathBuf> {
    if let Some(path) = &opts.registry {
        return Ok(path.clone());
    }
    match settings.port_registry_path(opts.file.as_deref())? {
        Some(path) => Ok(path),
        None => Err(Hinted {
            message: "no port registry to generate the ssh config from".into(),
            hint: "give `--registry FILE`, a manifest with `port_registry:` (-f FILE), or set SANDBOXER_PORT_REGISTRY"
                .into(),
        }
        .into()),
    }
}

/// Each slot's block against `ssh -G <alias>`; every difference on stdout.
fn check(registry: &LoadedRegistry, settings: &Settings) -> anyhow::Result<ExitCode> {
    let mut differences: Vec<Difference> = Vec::new();
    let slots = ssh_config::slots(registry);
    for slot in &slots {
        let resolved = resolve(slot, settings.ssh_config.as_deref())?;
        differences.extend(ssh_config::compare(slot, &resolved));
    }
    let config = match &settings.ssh_config {
        Some(file) => file.display().to_string(),
        None => "your ssh config".into(),
    };
    if differences.is_empty() {
        if !settings.quiet {
            eprintln!(
                "{config} resolves the {} VM alias(es) of {} as generated.",
                slots.len(),
                registry.path.display()
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = String::new();
    for d in &differences {
        out.push_str(&format!(
            "{}: {}: generated {}, ssh config resolves {}\n",
            d.alias,
            d.setting,
            d.expected,
            printable(&d.resolved)
        ));
    }
    super::output::print_data(&out)?;
    if !settings.quiet {
        eprintln!(
            "{} difference(s) between {config} and the port registry {}\n\
             hint: include the output of `sandboxer ssh-config` in {config} before any block that sets these hosts",
            differences.len(),
            registry.path.display()
        );
    }
    Ok(ExitCode::FAILURE)
}

/// What `ssh -G` prints for the slot's alias (the alias was checked by the
/// registry loader: never an option).
fn resolve(slot: &Slot, config: Option<&Path>) -> anyhow::Result<String> {
    let mut ssh = Command::new("ssh");
    sandboxer::secret_env::scrub(&mut ssh);
    ssh.arg("-G");
    if let Some(config) = config {
        ssh.arg("-F").arg(config);
    }
    let output = ssh
        .arg(&slot.alias)
        .stdin(Stdio::null())
        .output()
        .context("cannot run `ssh -G` (is the OpenSSH client installed?)")?;
    if !output.status.success() {
        return Err(Hinted {
            message: format!(
                "`ssh -G {}` failed: {}",
                slot.alias,
                printable(String::from_utf8_lossy(&output.stderr).trim())
            ),
            hint: "fix the ssh config it names (`--ssh-config FILE` or ~/.ssh/config)".into(),
        }
        .into());
    }
    String::from_utf8(output.stdout)
        .with_context(|| format!("`ssh -G {}` printed something that is not UTF-8", slot.alias))
}
