//! Raw global flags and the environment, turned into the settings the commands use.

use std::collections::BTreeMap;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, ValueEnum};

use sandboxer::desired::BuildContext;
use sandboxer::diagnostic::Diagnostics;
use sandboxer::manifest::LoadedManifest;
use sandboxer::profile::{Catalog, ResolveContext};

/// Flags accepted before or after any subcommand.
// Under their own heading, so that each subcommand's own flags come first.
#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalOpts {
    /// Folder of the embedded state store [default: .sandboxer next to the manifest]
    #[arg(long, global = true, env = "SANDBOXER_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// ssh config file used to reach VMs [default: the operator's ~/.ssh/config]
    #[arg(long, global = true, env = "SANDBOXER_SSH_CONFIG", value_name = "FILE")]
    pub ssh_config: Option<PathBuf>,
    /// Accept the host key of a VM seen for the first time (changed keys are always refused)
    #[arg(long, global = true)]
    pub ssh_accept_new: bool,
    /// How long an ssh master outlives the run, for the next runs to reuse; 0 closes masters at exit
    #[arg(
        long,
        global = true,
        env = "SANDBOXER_SSH_PERSIST",
        default_value = "60s",
        value_name = "DURATION",
        value_parser = sandboxer::duration::parse
    )]
    pub ssh_persist: std::time::Duration,
    /// VMs connected to or observed at once (opening ssh masters, looking for workspaces): a number, or `unlimited`
    #[arg(
        long,
        global = true,
        env = "SANDBOXER_MAX_CONNECTIONS",
        default_value = "16",
        value_name = "N",
        value_parser = parse_limit
    )]
    pub max_connections: Limit,
    /// Packer builds running at once: a number, or `unlimited`
    #[arg(
        long,
        global = true,
        env = "SANDBOXER_PARALLEL_BUILDS",
        default_value = "2",
        value_name = "N",
        value_parser = parse_limit
    )]
    pub parallel_builds: Limit,
    /// How long a VM's probed capabilities are trusted before they are probed again
    #[arg(
        long,
        global = true,
        env = "SANDBOXER_CAPABILITIES_TTL",
        default_value = "1h",
        value_name = "DURATION",
        value_parser = sandboxer::duration::parse
    )]
    pub capabilities_ttl: std::time::Duration,
    /// State Hub URL; overrides the manifest's `hub.url`
    #[arg(long, global = true, env = "SANDBOXER_HUB_URL", value_name = "URL")]
    pub hub: Option<String>,
    /// PEM file of a private CA (one or more certificates) trusted for an https hub, besides the system's CA store
    #[arg(long, global = true, env = "SANDBOXER_HUB_CA", value_name = "FILE")]
    pub hub_ca: Option<PathBuf>,
    /// Extra folder of profiles [default: profiles/ next to the manifest]
    #[arg(long, global = true, value_name = "DIR")]
    pub profiles: Option<PathBuf>,
    /// More log output (-v info, -vv debug); RUST_LOG overrides
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors on stderr
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Colour in output
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,
}

/// A bound on things at once: a positive number, or none (`unlimited`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit(pub Option<NonZeroUsize>);

/// The word for no bound.
const UNLIMITED: &str = "unlimited";

/// `16` or `unlimited`; `0` and anything else are refused with what to give instead.
pub fn parse_limit(text: &str) -> Result<Limit, String> {
    let hint = format!("give a positive whole number such as 8, or `{UNLIMITED}` for no bound");
    if text == UNLIMITED {
        return Ok(Limit(None));
    }
    match text.parse::<usize>() {
        Ok(0) => Err(format!("0 would let nothing run; {hint}")),
        Ok(n) => Ok(Limit(NonZeroUsize::new(n))),
        Err(_) => Err(format!("`{text}` is not a number; {hint}")),
    }
}

/// When to colour output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// On a terminal, unless NO_COLOR is set.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// Environment variables that profiles may fall back to are read once, here.
const ENV_PREFIXES: &[&str] = &["SANDBOXER_", "PACKER_"];

/// What every command knows, from flags and the environment.
#[derive(Debug, Clone)]
pub struct Settings {
    pub state_dir: Option<PathBuf>,
    pub ssh_config: Option<PathBuf>,
    pub ssh_accept_new: bool,
    /// How long ssh masters outlive a run.
    pub ssh_persist: std::time::Duration,
    /// VMs connected to or observed at once; `None`: no bound.
    pub max_connections: Option<NonZeroUsize>,
    /// Packer builds at once; `None`: no bound.
    pub parallel_builds: Option<NonZeroUsize>,
    /// How long probed capabilities are trusted.
    pub capabilities_ttl: std::time::Duration,
    /// `$XDG_RUNTIME_DIR`, where ssh control sockets go when it is usable.
    pub runtime_dir: Option<PathBuf>,
    pub hub_url: Option<String>,
    /// `--hub-ca`: a private CA's PEM file, read when a hub client is made.
    pub hub_ca: Option<PathBuf>,
    pub profiles_dir: Option<PathBuf>,
    pub quiet: bool,
    /// Snapshot of the environment variables profiles and manifests may name.
    pub env: BTreeMap<String, String>,
    pub home: Option<PathBuf>,
    /// `$USER`, else `$LOGNAME`: who applies, for the records' provenance.
    pub user: Option<String>,
    pub xdg_state_home: Option<PathBuf>,
    /// The operator set CHECKPOINT_DISABLE themselves (sandboxer then leaves it alone).
    pub checkpoint_set: bool,
    /// Whether each stream gets colour.
    pub colors: Colors,
}

/// Colour, decided per stream: `apply > out.txt` run from a terminal colours
/// its progress on stderr and writes no escape codes into the file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Colors {
    /// Data on stdout (the plan).
    pub stdout: bool,
    /// Progress, logs and errors on stderr.
    pub stderr: bool,
}

impl Colors {
    /// What `--color` and `NO_COLOR` say for each stream.
    pub fn decide(choice: ColorChoice) -> Self {
        use std::io::IsTerminal;
        let auto = |terminal: bool| std::env::var_os("NO_COLOR").is_none() && terminal;
        match choice {
            ColorChoice::Always => Colors {
                stdout: true,
                stderr: true,
            },
            ColorChoice::Never => Colors::default(),
            ColorChoice::Auto => Colors {
                stdout: auto(std::io::stdout().is_terminal()),
                stderr: auto(std::io::stderr().is_terminal()),
            },
        }
    }
}

impl Settings {
    pub fn from_opts(opts: &GlobalOpts, colors: Colors) -> anyhow::Result<Self> {
        let env = std::env::vars()
            .filter(|(k, _)| ENV_PREFIXES.iter().any(|p| k.starts_with(p)))
            .collect();
        let home = std::env::var_os("HOME").map(PathBuf::from);
        let absolute = |p: &Option<PathBuf>| -> anyhow::Result<Option<PathBuf>> {
            p.as_ref()
                .map(|p| std::path::absolute(p).with_context(|| format!("cannot resolve {}", p.display())))
                .transpose()
        };
        Ok(Settings {
            state_dir: absolute(&opts.state_dir)?,
            ssh_config: absolute(&opts.ssh_config)?,
            ssh_accept_new: opts.ssh_accept_new,
            ssh_persist: opts.ssh_persist,
            max_connections: opts.max_connections.0,
            parallel_builds: opts.parallel_builds.0,
            capabilities_ttl: opts.capabilities_ttl,
            runtime_dir: std::env::var_os("XDG_RUNTIME_DIR")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
            hub_url: opts.hub.clone(),
            hub_ca: absolute(&opts.hub_ca)?,
            profiles_dir: absolute(&opts.profiles)?,
            quiet: opts.quiet,
            env,
            home,
            user: ["USER", "LOGNAME"]
                .iter()
                .filter_map(|name| std::env::var(name).ok())
                .find(|user| !user.is_empty()),
            checkpoint_set: std::env::var_os("CHECKPOINT_DISABLE").is_some(),
            colors,
            xdg_state_home: std::env::var_os("XDG_STATE_HOME")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
        })
    }

    /// The state folder for a manifest in `manifest_dir`.
    pub fn state_dir_for(&self, manifest_dir: &Path) -> PathBuf {
        self.state_dir
            .clone()
            .unwrap_or_else(|| manifest_dir.join(".sandboxer"))
    }

    /// The state folder of commands that may run without a manifest (`create`,
    /// `destroy <id>`, `list`, `inspect`): `--state-dir`; else next to the given
    /// manifest, or to `./sandboxes.yaml` if there is one; else the user's state
    /// folder (`$XDG_STATE_HOME/sandboxer`, `~/.local/state/sandboxer`).
    pub fn state_dir_without_manifest(&self, manifest: Option<&Path>) -> PathBuf {
        if let Some(dir) = &self.state_dir {
            return dir.clone();
        }
        let manifest = manifest.map(Path::to_path_buf).or_else(|| {
            let here = PathBuf::from("sandboxes.yaml");
            here.is_file().then_some(here)
        });
        if let Some(m) = manifest {
            let absolute = std::path::absolute(&m).unwrap_or(m);
            return self.state_dir_for(absolute.parent().unwrap_or(Path::new(".")));
        }
        self.user_state_dir()
    }

    /// The user's state folder: `$XDG_STATE_HOME/sandboxer`, else
    /// `~/.local/state/sandboxer` (`.sandboxer` without a home).
    pub fn user_state_dir(&self) -> PathBuf {
        match (&self.xdg_state_home, &self.home) {
            (Some(xdg), _) => xdg.join("sandboxer"),
            (None, Some(home)) => home.join(".local/state/sandboxer"),
            (None, None) => PathBuf::from(".sandboxer"),
        }
    }

    /// Built-in profiles, then `profiles/` next to the manifest, then `--profiles`.
    pub fn catalog(&self, manifest_dir: &Path) -> Result<Catalog, Diagnostics> {
        let mut catalog = Catalog::builtin();
        let mut problems = Vec::new();
        for dir in std::iter::once(manifest_dir.join("profiles")).chain(self.profiles_dir.clone()) {
            if let Err(mut p) = catalog.add_dir(&dir) {
                problems.append(&mut p);
            }
        }
        // A sensitive input's env fallback holds a secret: no child process gets it.
        for name in catalog.names() {
            let inputs = catalog.get(name).into_iter().flat_map(|p| p.inputs.values());
            for var in inputs.filter(|i| i.sensitive).filter_map(|i| i.env.as_deref()) {
                sandboxer::secret_env::register(var);
            }
        }
        if problems.is_empty() {
            Ok(catalog)
        } else {
            Err(Diagnostics(problems))
        }
    }

    /// The port registry as `validate` and `plan` find it: the manifest's
    /// `port_registry:` (relative to the manifest; `manifest`, else
    /// `./sandboxes.yaml` if present), else `SANDBOXER_PORT_REGISTRY`.
    pub fn port_registry_path(&self, manifest: Option<&Path>) -> Result<Option<PathBuf>, Diagnostics> {
        let manifest = manifest.map(Path::to_path_buf).or_else(|| {
            let here = PathBuf::from("sandboxes.yaml");
            here.is_file().then_some(here)
        });
        if let Some(manifest) = manifest {
            let loaded = sandboxer::manifest::load(&manifest)?;
            if let Some(named) = loaded.manifest.port_registry.as_deref() {
                let context = self.build_context(&loaded).resolve;
                return Ok(Some(sandboxer::profile::resolve::local_path(named, &context)));
            }
        }
        Ok(self
            .env
            .get("SANDBOXER_PORT_REGISTRY")
            .filter(|p| !p.is_empty())
            .map(PathBuf::from))
    }

    /// What building the desired state of a manifest needs.
    pub fn build_context(&self, loaded: &LoadedManifest) -> BuildContext {
        BuildContext {
            resolve: ResolveContext {
                base_dir: loaded.dir.clone(),
                home: self.home.clone(),
                env: self.env.clone(),
            },
            default_local_root: self.state_dir_for(&loaded.dir).join("workspaces"),
            state_dir: self.state_dir_for(&loaded.dir),
            port_registry: self.env.get("SANDBOXER_PORT_REGISTRY").map(PathBuf::from),
            drivers: Default::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limit_is_a_positive_number_or_unlimited() {
        assert_eq!(parse_limit("16"), Ok(Limit(NonZeroUsize::new(16))));
        assert_eq!(parse_limit("unlimited"), Ok(Limit(None)));
        for bad in ["0", "-1", "two", "", "1.5", "Unlimited"] {
            let error = parse_limit(bad).expect_err(bad);
            assert!(error.contains("give a positive whole number"), "{bad}: {error}");
        }
    }
}
