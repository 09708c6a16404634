//! Manifest text for the tests: a manifest is `version: 1`, a `project:`, any
//! other top-level lines, then `sandboxes:` with one entry per sandbox. Entries
//! are YAML text indented by two spaces, their keys by four; join them with
//! [`manifest`] or [`manifest_with`]. Image manifests are in `super::packer`.

#![allow(dead_code)] // each test file uses its own part of this module

/// A manifest of `project` with these sandbox entries.
pub fn manifest(project: &str, entries: &[String]) -> String {
    manifest_with(project, "", entries)
}

/// A manifest of `project` with top-level lines `top` (e.g. `hub: ...\n`) before
/// the sandbox entries.
pub fn manifest_with(project: &str, top: &str, entries: &[String]) -> String {
    format!("version: 1\nproject: {project}\n{top}sandboxes:\n{}", entries.concat())
}

/// A sandbox entry of `profile` followed by `extra` (YAML lines at the entry's
/// key indentation, four spaces).
pub fn entry(name: &str, profile: &str, extra: &str) -> String {
    format!("  {name}:\n    profile: {profile}\n{extra}")
}

/// A sandbox entry of `profile` with no inputs.
pub fn of_profile(name: &str, profile: &str) -> String {
    entry(name, profile, "")
}

/// A `profile.local-workspace` sandbox entry followed by `extra`.
pub fn local(name: &str, extra: &str) -> String {
    entry(name, "profile.local-workspace", extra)
}

/// A `profile.local-workspace` sandbox entry syncing `repo`.
pub fn with_repo(name: &str, repo: &str) -> String {
    local(name, &format!("    inputs:\n      repo: {repo}\n"))
}
