//! The State Hub: the team's HTTP service that records which sandboxes and images
//! exist, holds a lock per project, and receives progress notes. [`api`] is the
//! contract shared by the server ([`server`], `sandboxer hub serve`) and the
//! client (`state::hub::HubStore`); docs/state-hub.md writes it down.

pub mod api;
pub mod backend;
pub mod dashboard;
pub mod file;
pub mod postgres;
pub mod server;
pub mod store;
