//! The JSON Schemas sandboxer publishes in `schemas/`, generated from the types.

use std::path::Path;

/// (file name, schema) for every published schema.
pub fn all() -> Vec<(&'static str, serde_json::Value)> {
    vec![
        ("manifest.schema.json", crate::manifest::json_schema()),
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
