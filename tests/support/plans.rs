//! Saved plans (`plan --out`) as tests change them: read one as JSON, edit it,
//! write it back, and [`reseal`] it: give it the digest sandboxer computes for
//! its content, so that only the checks behind the digest can refuse it.

#![allow(dead_code)] // each test file uses its own part of this module

use std::path::Path;

use serde_json::Value;

/// Rewrites the plan at `path` with `change` applied, leaving its digest as it was.
pub fn edit(path: &Path, change: impl FnOnce(&mut Value)) {
    let mut plan = super::read_json(path);
    change(&mut plan);
    write(path, &plan);
}

/// Rewrites the plan at `path` with `change` applied and a digest that matches.
pub fn edit_sealed(path: &Path, change: impl FnOnce(&mut Value)) {
    edit(path, |plan| {
        change(plan);
        reseal(plan);
    });
}

/// Writes `plan` to `path`, pretty.
pub fn write(path: &Path, plan: &Value) {
    let text = serde_json::to_string_pretty(plan).expect("a plan is JSON");
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// Sets `digest` to the digest of the rest of `plan`.
pub fn reseal(plan: &mut Value) {
    let digest = digest_of(plan);
    plan["digest"] = Value::String(digest);
}

/// What sandboxer computes for a plan's content (docs/architecture.md, "Saved
/// plans"): `sha256:` and the hex sha256 of its JSON without the `digest`
/// member, object keys sorted, no whitespace.
pub fn digest_of(plan: &Value) -> String {
    sandboxer::plan::saved::content_digest(plan)
}

/// The index of the change of `address` (the first one) in `plan`.
pub fn change_index(plan: &Value, address: &str) -> usize {
    plan["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .position(|c| c["address"] == address)
        .unwrap_or_else(|| panic!("no change of {address} in {plan:#}"))
}
