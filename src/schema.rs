//! The JSON Schemas sandboxer publishes in `schemas/`, generated from the types.

use std::path::Path;

/// (file name, schema) for every published schema, each with its `$id`.
pub fn all() -> Vec<(&'static str, serde_json::Value)> {
    let mut all = published();
    for (file, schema) in &mut all {
        with_id(schema, file);
    }
    all
}

/// The stable identifier of a published schema: a name, not a place, so it
/// stays the same wherever the file is served or copied to. `v1` is the
/// manifest's `version: 1`.
pub fn id(file: &str) -> String {
    format!(
        "urn:sandboxer:schema:v1:{}",
        file.strip_suffix(".schema.json").unwrap_or(file)
    )
}

/// Puts `$id` right after `$schema`.
pub fn with_id(schema: &mut serde_json::Value, file: &str) {
    let Some(object) = schema.as_object_mut() else { return };
    let mut ordered = serde_json::Map::new();
    for (key, value) in std::mem::take(object) {
        let after_schema = key == "$schema";
        ordered.insert(key, value);
        if after_schema {
            ordered.insert("$id".into(), id(file).into());
        }
    }
    ordered.entry("$id").or_insert_with(|| id(file).into());
    *object = ordered;
}

fn published() -> Vec<(&'static str, serde_json::Value)> {
    vec![
        (
            "manifest.schema.json",
            crate::manifest::editor::schema(
                &crate::profile::Catalog::builtin(),
                crate::manifest::editor::ProfileNames::Open,
            ),
        ),
        ("profile.schema.json", crate::profile::json_schema()),
        ("plan.schema.json", crate::plan::json_schema()),
        ("port-registry.schema.json", crate::port_registry::json_schema()),
        ("state-hub.schema.json", crate::hub::api::json_schema()),
        (
            "validate-output.schema.json",
            crate::document::schema_of::<crate::report::outputs::ValidateOutput>(),
        ),
        (
            "doctor-output.schema.json",
            crate::document::schema_of::<Vec<crate::report::outputs::DoctorFinding>>(),
        ),
        (
            "list-output.schema.json",
            crate::document::schema_of::<Vec<crate::report::outputs::ListedRecord>>(),
        ),
        (
            "vms-output.schema.json",
            crate::document::schema_of::<Vec<crate::capability::VmCapabilities>>(),
        ),
        (
            "inspect-output.schema.json",
            crate::document::schema_of::<crate::report::outputs::InspectOutput>(),
        ),
        (
            "inspect-vm-output.schema.json",
            crate::document::schema_of::<crate::report::outputs::VmInspectOutput>(),
        ),
        (
            "apply-events.schema.json",
            crate::document::schema_of::<crate::report::outputs::ApplyEvent>(),
        ),
    ]
}

/// The text written for a schema: pretty JSON with a final newline.
pub fn render(schema: &serde_json::Value) -> String {
    let mut text = serde_json::to_string_pretty(schema).unwrap_or_default();
    text.push('\n');
    text
}

/// Writes every schema into `dir` (atomically each); returns the paths written.
pub fn write_all(dir: &Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    for (name, schema) in all() {
        let path = dir.join(name);
        crate::fsutil::write_atomic(&path, render(&schema).as_bytes())?;
        written.push(path);
    }
    Ok(written)
}
