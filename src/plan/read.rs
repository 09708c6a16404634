//! Reading a saved plan (`plan --out`) with the same reader, limits and located
//! refusals as every other input: JSON is YAML.

use std::path::Path;
use std::sync::OnceLock;

use super::PLAN_FORMAT_VERSION;
use super::saved::PlanDocument;
use crate::diagnostic::{Diagnostic, Diagnostics, Location};
use crate::document::{self, Schema};

/// The plan schema, compiled once.
pub fn schema() -> &'static Schema {
    static SCHEMA: OnceLock<Schema> = OnceLock::new();
    SCHEMA.get_or_init(|| Schema::new(super::json_schema(), "schemas/plan.schema.json"))
}

/// Reads the saved plan at `path`.
pub fn read(path: &Path) -> Result<PlanDocument, Diagnostics> {
    let bytes = crate::fsutil::read_input_bytes(path).map_err(|e| {
        Diagnostics(vec![
            Diagnostic::new(path, None, "", format!("cannot read the saved plan: {e}"))
                .with_hint("give the file that `sandboxer plan --out PLAN` wrote"),
        ])
    })?;
    read_bytes(path, &bytes)
}

/// Reads a saved plan from `bytes`, reported as file `path`.
pub fn read_bytes(path: &Path, bytes: &[u8]) -> Result<PlanDocument, Diagnostics> {
    // A saved plan is JSON: what only a YAML reader takes is not one.
    if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
        let message = e.to_string();
        let message = message.find(" at line ").map_or(message.as_str(), |i| &message[..i]);
        let at = (e.line() > 0).then_some(Location {
            line: e.line(),
            column: e.column().max(1),
        });
        return Err(Diagnostics(vec![
            Diagnostic::new(path, at, "", format!("not JSON: {message}"))
                .with_hint("give the file that `sandboxer plan --out PLAN` wrote, or make the plan again"),
        ]));
    }
    let document = document::read_json(path, bytes).map_err(Diagnostics)?;
    let version = document.value.get("format_version").and_then(serde_json::Value::as_u64);
    if let Some(version) = version.filter(|v| *v != u64::from(PLAN_FORMAT_VERSION)) {
        return Err(Diagnostics(vec![
            Diagnostic::new(
                path,
                document.source_map.locate("format_version"),
                "format_version",
                format!("plan format {version}; this sandboxer reads plan format {PLAN_FORMAT_VERSION}"),
            )
            .with_hint("make the plan again with this sandboxer: `sandboxer plan --out PLAN`"),
        ]));
    }
    if document.value.is_null() {
        return Err(Diagnostics(vec![
            Diagnostic::new(
                path,
                Some(Location { line: 1, column: 1 }),
                "",
                "the saved plan is empty",
            )
            .with_hint("give the file that `sandboxer plan --out PLAN` wrote"),
        ]));
    }
    if document.value.is_object() && document.value.get("digest").is_none() {
        return Err(Diagnostics(vec![
            Diagnostic::new(
                path,
                Some(Location { line: 1, column: 1 }),
                "digest",
                "the plan has no digest: it was edited since it was made",
            )
            .with_hint("make the plan again: `sandboxer plan --out PLAN`"),
        ]));
    }
    let problems = schema().problems(path, &document.value, &document.source_map);
    if !problems.is_empty() {
        return Err(Diagnostics(problems).sorted());
    }
    schema().read(path, document.value).map_err(|d| Diagnostics(vec![d]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_edited_number_is_refused_with_its_place() {
        let text = "{\n  \"format_version\": 3,\n  \"digest\": \"sha256:x\",\n  \"project\": \"p\",\n  \"manifest\": \"/m.yaml\",\n  \"manifest_digest\": \"sha256:x\",\n  \"state_lineage\": \"l\",\n  \"state_serial\": 1e30,\n  \"changes\": [],\n  \"summary\": {\"create\": 0, \"update\": 0, \"replace\": 0, \"delete\": 0, \"no_op\": 0}\n}\n";
        let err = read_bytes(Path::new("p.plan"), text.as_bytes()).expect_err("refused");
        let d = &err.0[0];
        assert_eq!(d.location.map(|l| l.line), Some(8), "{d}");
        assert_eq!(d.key_path, "state_serial");
        assert!(d.hint.is_some(), "{d}");
        let fine = text.replace("1e30", "1.0");
        let plan = read_bytes(Path::new("p.plan"), fine.as_bytes()).expect("a whole number");
        assert_eq!(plan.plan.state_serial, 1);
    }

    #[test]
    fn another_format_is_refused_with_a_hint() {
        let err = read_bytes(Path::new("p.plan"), b"{\"format_version\": 1}").expect_err("refused");
        assert!(
            err.to_string()
                .contains("plan format 1; this sandboxer reads plan format"),
            "{err}"
        );
    }
}
