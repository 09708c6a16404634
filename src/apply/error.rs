//! What ends an apply as a whole (a failed change does not: it is an outcome).

use crate::plan::graph::CycleError;
use crate::state::StateError;

/// An apply could not go on.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The plan's changes depend on each other in a circle.
    #[error("the plan cannot be applied")]
    Cycle(#[from] CycleError),
    /// The state could not be written after a change: what happened is on disk
    /// or on the VM, and the next plan sees it.
    #[error("the state could not be saved")]
    State(#[from] StateError),
}

impl ApplyError {
    /// What the operator can do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            ApplyError::Cycle(_) => Some("make the plan again with `sandboxer plan`; a saved plan must not be edited".into()),
            ApplyError::State(e) => e.hint().or_else(|| {
                Some("the changes made so far are found by the next plan (markers); run `sandboxer plan` once the state store is back".into())
            }),
        }
    }
}
