//! sandboxer: keeps build workspaces and VM images in the state that operators
//! declare in `sandboxes.yaml`.
//!
//! The library is the engine: it loads and checks manifests and profiles, observes
//! what is really there, plans changes and applies them. It never prints and never
//! reads the process environment; the binary's `cli` layer does both.

#![forbid(unsafe_code)]

pub mod address;
pub mod apply;
pub mod capability;
pub mod desired;
pub mod diagnostic;
pub mod doctor;
pub mod document;
pub mod driver;
pub mod duration;
pub mod fsutil;
pub mod hub;
pub mod id;
pub mod location;
pub mod manifest;
pub mod observe;
pub mod plan;
pub mod port_registry;
pub mod process_group;
pub mod profile;
pub mod provenance;
pub mod reason;
pub mod remote;
pub mod repo;
pub mod report;
pub mod safety;
pub mod schema;
pub mod secret_env;
pub mod sensitive;
pub mod shared_str;
pub mod sorted_map;
pub mod source_map;
pub mod ssh_config;
pub mod state;
pub mod task;
pub mod watch;
pub mod workspace_shell;
