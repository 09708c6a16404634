//! Drivers that bound their own changes (Packer builds, `--parallel-builds`):
//! how many of each driver's changes run now, and which ready changes wait.
//!
//! A change held back stays ready and takes no place of `--parallelism`: the
//! walk starts another ready change instead, and starts it once one of its
//! driver's running changes is done.

use std::collections::{BTreeMap, BTreeSet};

use crate::driver::{ChangeLimit, DriverName, Registry};
use crate::plan::{Action, Change};

/// Running changes of every driver with a [`ChangeLimit`].
#[derive(Debug, Default)]
pub struct DriverLimits {
    limits: BTreeMap<DriverName, ChangeLimit>,
    running: BTreeMap<DriverName, usize>,
    /// Changes told that they wait, by index: each is told once.
    told: BTreeSet<usize>,
}

impl DriverLimits {
    /// The limits the drivers of `drivers` put on themselves.
    pub fn of(drivers: &Registry) -> Self {
        let limits = drivers
            .names()
            .filter_map(|name| {
                let limit = drivers.get(name).ok()?.change_limit()?;
                Some((name.clone(), limit))
            })
            .collect();
        DriverLimits {
            limits,
            ..DriverLimits::default()
        }
    }

    /// The limit `change` counts against: deletes and no-ops count against none
    /// (an image's delete forgets a record; it builds nothing).
    fn limit_of(&self, change: &Change) -> Option<&ChangeLimit> {
        if matches!(change.action, Action::Delete | Action::NoOp) {
            return None;
        }
        self.limits.get(&change.driver)
    }

    /// Whether `change` may start now.
    pub fn has_room(&self, change: &Change) -> bool {
        self.limit_of(change)
            .is_none_or(|limit| self.running.get(&change.driver).copied().unwrap_or(0) < limit.at_once)
    }

    /// `change` starts.
    pub fn start(&mut self, change: &Change) {
        if self.limit_of(change).is_some() {
            *self.running.entry(change.driver.clone()).or_default() += 1;
        }
    }

    /// `change` is done (or failed).
    pub fn finish(&mut self, change: &Change) {
        if self.limit_of(change).is_some()
            && let Some(n) = self.running.get_mut(&change.driver)
        {
            *n = n.saturating_sub(1);
        }
    }

    /// What change `i` says the first time it is ready but held back by its
    /// driver's limit; `None` when it has room or was told already.
    pub fn first_wait(&mut self, i: usize, change: &Change) -> Option<String> {
        if self.has_room(change) || !self.told.insert(i) {
            return None;
        }
        self.limit_of(change).map(|limit| limit.waiting.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::address::Address;

    fn change(name: &str, action: Action, driver: DriverName) -> Change {
        Change {
            address: Address::image(name),
            action,
            id: None,
            driver,
            reasons: Vec::new(),
            attributes: Vec::new(),
            depends_on: Vec::new(),
            workspace: None,
            moved_from: None,
        }
    }

    fn one_build_at_a_time() -> DriverLimits {
        DriverLimits {
            limits: [(
                DriverName::PACKER,
                ChangeLimit {
                    at_once: 1,
                    waiting: "waiting".into(),
                },
            )]
            .into(),
            ..DriverLimits::default()
        }
    }

    #[test]
    fn a_second_build_waits_until_the_first_is_done_and_is_told_once() {
        let mut limits = one_build_at_a_time();
        let (a, b) = (
            change("a", Action::Create, DriverName::PACKER),
            change("b", Action::Replace, DriverName::PACKER),
        );
        assert!(limits.has_room(&a));
        limits.start(&a);
        assert!(!limits.has_room(&b));
        assert_eq!(limits.first_wait(1, &b), Some("waiting".into()));
        assert_eq!(limits.first_wait(1, &b), None);
        limits.finish(&a);
        assert!(limits.has_room(&b));
    }

    #[test]
    fn deletes_and_other_drivers_never_wait_for_builds() {
        let mut limits = one_build_at_a_time();
        limits.start(&change("a", Action::Update, DriverName::PACKER));
        assert!(limits.has_room(&change("b", Action::Delete, DriverName::PACKER)));
        assert!(limits.has_room(&change("c", Action::Create, DriverName::SSH_WORKSPACE)));
    }
}
