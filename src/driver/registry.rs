//! The one registry of drivers, by the name profiles give them.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use super::local::LocalDriver;
use super::packer::{PackerDriver, PackerOptions};
use super::ssh::SshDriver;
use super::{Driver, DriverError, DriverName};
use crate::remote::{SshOptions, SshPool};

/// The drivers of one command, by name. Cloning shares the drivers (and so
/// their connections).
#[derive(Debug, Clone, Default)]
pub struct Registry {
    drivers: BTreeMap<DriverName, Arc<dyn Driver>>,
}

/// What the built-in drivers need.
#[derive(Debug, Clone)]
pub struct BuiltinOptions {
    /// Where repo digest caches live.
    pub cache_dir: PathBuf,
    /// How VMs are reached.
    pub ssh: SshOptions,
    /// How Packer is run.
    pub packer: PackerOptions,
}

impl Registry {
    /// A registry with no driver.
    pub fn new() -> Self {
        Registry::default()
    }

    /// The built-in drivers: `local-workspace`, `ssh-workspace`, `packer`.
    pub fn builtin(options: BuiltinOptions) -> Self {
        let pool = Arc::new(SshPool::new(options.ssh));
        Registry::new()
            .with(Arc::new(LocalDriver::new(&options.cache_dir)))
            .with(Arc::new(SshDriver::new(pool, &options.cache_dir)))
            .with(Arc::new(PackerDriver::new(options.packer)))
    }

    /// Adds (or replaces) the driver of its name.
    #[must_use]
    pub fn with(mut self, driver: Arc<dyn Driver>) -> Self {
        self.drivers.insert(driver.name(), driver);
        self
    }

    /// The driver of `name`.
    pub fn get(&self, name: &DriverName) -> Result<&Arc<dyn Driver>, DriverError> {
        self.drivers.get(name).ok_or_else(|| DriverError::Unknown {
            name: name.clone(),
            known: self.names().map(|n| n.to_string()).collect(),
        })
    }

    /// Every registered name, in order.
    pub fn names(&self) -> impl Iterator<Item = &DriverName> {
        self.drivers.keys()
    }

    /// Closes every driver (ssh masters, temporary folders).
    pub async fn close(&self) {
        for driver in self.drivers.values() {
            driver.close().await;
        }
    }
}
