//! Flags several commands share: which manifest, which state.

use std::path::{Path, PathBuf};

use clap::Args;

use sandboxer::manifest::HubSpec;
use sandboxer::state::AnyStore;

use super::Settings;

/// `-f FILE`.
#[derive(Debug, Clone, Args)]
pub struct ManifestArg {
    /// The manifest
    #[arg(short = 'f', long = "file", default_value = "sandboxes.yaml", value_name = "FILE")]
    pub file: PathBuf,
}

impl ManifestArg {
    /// The folder the manifest is in (where its state lives by default).
    pub fn dir(&self) -> PathBuf {
        manifest_dir(&self.file)
    }
}

/// The folder a manifest is in, absolute.
pub fn manifest_dir(manifest: &Path) -> PathBuf {
    let absolute = std::path::absolute(manifest).unwrap_or_else(|_| manifest.to_path_buf());
    absolute.parent().map(Path::to_path_buf).unwrap_or_default()
}

/// `-f FILE` for commands that only need the state folder: the manifest's when a
/// manifest is given or `sandboxes.yaml` is here, else the user's state folder.
#[derive(Debug, Clone, Args)]
pub struct StateArg {
    /// The manifest whose state to use [default: sandboxes.yaml if present, else the user's state]
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<PathBuf>,
}

impl StateArg {
    /// The local state folder of this command.
    pub fn state_dir(&self, settings: &Settings) -> PathBuf {
        settings.state_dir_without_manifest(self.file.as_deref())
    }

    /// The store this command uses: the State Hub when `--hub` names one or the
    /// manifest (`-f FILE`, else `./sandboxes.yaml` if present) has `hub:`.
    pub fn store(&self, settings: &Settings) -> anyhow::Result<AnyStore> {
        let hub = self.manifest_hub()?;
        super::store::open(settings, &self.state_dir(settings), hub.as_ref())
    }

    /// The `hub:` of this command's manifest. A manifest given with `-f` must
    /// load; a `./sandboxes.yaml` that does not is skipped with a warning.
    fn manifest_hub(&self) -> anyhow::Result<Option<HubSpec>> {
        let (path, explicit) = match &self.file {
            Some(file) => (file.clone(), true),
            None => {
                let here = PathBuf::from("sandboxes.yaml");
                if !here.is_file() {
                    return Ok(None);
                }
                (here, false)
            }
        };
        match sandboxer::manifest::load(&path) {
            Ok(loaded) => Ok(loaded.manifest.hub),
            Err(diagnostics) if explicit => Err(diagnostics.into()),
            Err(_) => {
                tracing::warn!(
                    "{} does not load; its `hub:` is not used (run `sandboxer validate`)",
                    path.display()
                );
                Ok(None)
            }
        }
    }
}
