//! Every call the generated cases make into sandboxer, in one place: the four
//! loaders, the published schemas, and the command lines of the binary.
//!
//! The loaders change shape from time to time (text or bytes, where locations
//! come from, what is a structural and what a semantic check); this file is
//! the one to adapt when they do. Everything else in the suite sees only
//! [`Target`], [`Problem`] and [`Verdict`].

use std::path::Path;

use sandboxer::diagnostic::Diagnostic;

/// What a case feeds to sandboxer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    /// A `sandboxes.yaml` manifest.
    Manifest,
    /// A profile in a `profiles/` folder next to the manifest.
    Profile,
    /// A port registry that the manifest names.
    PortRegistry,
    /// A plan saved with `plan --out`, given to `apply PLAN`.
    Plan,
}

impl Target {
    /// Every target, in the order the report lists them.
    pub const ALL: [Target; 4] = [Target::Manifest, Target::Profile, Target::PortRegistry, Target::Plan];

    /// The name used in recipes, reproducer folders and `tests/fixtures/fuzz/`.
    pub fn name(self) -> &'static str {
        match self {
            Target::Manifest => "manifest",
            Target::Profile => "profile",
            Target::PortRegistry => "port-registry",
            Target::Plan => "plan",
        }
    }

    /// The file in `schemas/` that describes this target.
    pub fn schema_file(self) -> &'static str {
        match self {
            Target::Manifest => "manifest.schema.json",
            Target::Profile => "profile.schema.json",
            Target::PortRegistry => "port-registry.schema.json",
            Target::Plan => "plan.schema.json",
        }
    }

    /// Where a case's input goes in the work folder of its target.
    pub fn file_name(self) -> &'static str {
        match self {
            Target::Manifest => "sandboxes.yaml",
            Target::Profile => "profiles/fuzz.yaml",
            Target::PortRegistry => "ports.yaml",
            Target::Plan => "plan.json",
        }
    }

    /// The extension of reproducer and corpus files.
    pub fn extension(self) -> &'static str {
        match self {
            Target::Plan => "json",
            _ => "yaml",
        }
    }
}

/// One problem a loader or `validate --json` reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line, when the problem is located.
    pub line: Option<usize>,
    /// 1-based column, when the problem is located.
    pub column: Option<usize>,
    /// The key path; empty for the whole file.
    pub key_path: String,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
    /// About the file itself (cannot be read, not found), not its content:
    /// such a problem needs no line.
    pub about_the_file: bool,
    /// A semantic rule the loader checks on top of the structure (a profile
    /// name without `profile.`, port 0, ...), which the schema does not say.
    pub semantic: bool,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.line, self.column) {
            (Some(line), Some(column)) => write!(f, "{line}:{column}: ")?,
            (Some(line), None) => write!(f, "{line}:?: ")?,
            _ => write!(f, "?:?: ")?,
        }
        if !self.key_path.is_empty() {
            write!(f, "{}: ", self.key_path)?;
        }
        write!(f, "{}", self.message)?;
        match &self.hint {
            Some(hint) => write!(f, " (hint: {hint})"),
            None => write!(f, " (no hint)"),
        }
    }
}

/// What a loader said about one input.
#[derive(Debug, Clone)]
pub struct Verdict {
    /// Empty when the loader accepts the input.
    pub problems: Vec<Problem>,
    /// The loader's structural stage accepted the input (it may still refuse
    /// it for a semantic rule).
    pub structure_accepted: bool,
}

/// Loads the file at `path` as `target`, in-process, as the binary would.
pub fn load(target: Target, path: &Path) -> Verdict {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) => {
            return structural(vec![Problem {
                line: None,
                column: None,
                key_path: String::new(),
                message: format!("cannot read {}: {e}", target.name()),
                hint: None,
                about_the_file: true,
                semantic: false,
            }]);
        }
    };
    match target {
        Target::Manifest => match sandboxer::manifest::load(path) {
            Ok(_) => accepted(),
            Err(diagnostics) => structural(diagnostics.0.iter().map(|d| problem(d, false)).collect()),
        },
        // The structure first (the document, the schema, the type); the rules
        // beyond a schema (a name without `profile.`, exclude patterns, ...) after.
        Target::Profile => match sandboxer::profile::catalog::parse_structure(path, &bytes) {
            Err(diagnostics) => structural(diagnostics.iter().map(|d| problem(d, false)).collect()),
            Ok(_) => match sandboxer::profile::catalog::parse(path, &bytes) {
                Ok(_) => accepted(),
                Err(d) => verdict(vec![problem(&d, true)]),
            },
        },
        Target::PortRegistry => match sandboxer::port_registry::parse_structure(path, &bytes) {
            Err(diagnostics) => structural(diagnostics.iter().map(|d| problem(d, false)).collect()),
            Ok(_) => match sandboxer::port_registry::load(path) {
                Ok(_) => accepted(),
                Err(diagnostics) => verdict(diagnostics.iter().map(|d| problem(d, true)).collect()),
            },
        },
        Target::Plan => match sandboxer::plan::read::read_bytes(path, &bytes) {
            Ok(_) => accepted(),
            // Another format version is a rule of this sandboxer, not of the schema.
            Err(diagnostics) => verdict(
                diagnostics
                    .0
                    .iter()
                    .map(|d| problem(d, d.key_path == "format_version" && d.message.contains("plan format")))
                    .collect(),
            ),
        },
    }
}

fn accepted() -> Verdict {
    Verdict {
        problems: Vec::new(),
        structure_accepted: true,
    }
}

fn structural(problems: Vec<Problem>) -> Verdict {
    Verdict {
        problems,
        structure_accepted: false,
    }
}

fn verdict(problems: Vec<Problem>) -> Verdict {
    let structure_accepted = problems.iter().all(|p| p.semantic);
    Verdict {
        problems,
        structure_accepted,
    }
}

fn problem(d: &Diagnostic, semantic: bool) -> Problem {
    Problem {
        line: d.location.map(|l| l.line),
        column: d.location.map(|l| l.column),
        key_path: d.key_path.clone(),
        message: d.message.clone(),
        hint: d.hint.clone(),
        about_the_file: about_the_file(&d.message),
        semantic,
    }
}

/// A file that cannot be opened or is too big is a problem of the file; one
/// that is read but is not UTF-8 is a problem of its content.
fn about_the_file(message: &str) -> bool {
    message.starts_with("cannot read") && !message.contains("UTF-8")
}

/// The schemas the loaders' structural stage checks, by target: the published
/// ones, but for the manifest, whose published schema also checks the inputs
/// of the built-in profiles (what `validate` checks after the structure).
pub fn structural_schemas() -> Vec<(Target, serde_json::Value)> {
    schemas()
        .into_iter()
        .map(|(target, schema)| match target {
            Target::Manifest => (target, sandboxer::manifest::json_schema()),
            _ => (target, schema),
        })
        .collect()
}

/// The published schemas, by target.
pub fn schemas() -> Vec<(Target, serde_json::Value)> {
    sandboxer::schema::all()
        .into_iter()
        .filter_map(|(name, schema)| {
            Target::ALL
                .into_iter()
                .find(|t| t.schema_file() == name)
                .map(|t| (t, schema))
        })
        .collect()
}

/// `sandboxer validate --json -f FILE`.
pub fn validate_args(manifest: &str) -> Vec<String> {
    ["validate", "--json", "-f", manifest].map(String::from).to_vec()
}

/// `sandboxer apply --auto-approve -f FILE`.
pub fn apply_manifest_args(manifest: &str) -> Vec<String> {
    ["apply", "--auto-approve", "-f", manifest].map(String::from).to_vec()
}

/// `sandboxer apply PLAN`.
pub fn apply_plan_args(plan: &str) -> Vec<String> {
    ["apply", plan].map(String::from).to_vec()
}

/// `sandboxer plan --out PLAN -f FILE`.
pub fn plan_out_args(manifest: &str, plan: &str) -> Vec<String> {
    ["plan", "--out", plan, "-f", manifest].map(String::from).to_vec()
}

/// The problems `validate --json` printed on stdout, or why its output is not
/// what the README promises.
pub fn validate_problems(stdout: &str) -> Result<Vec<Problem>, String> {
    let value: serde_json::Value =
        serde_json::from_str(stdout).map_err(|e| format!("validate --json printed no JSON ({e})"))?;
    let diagnostics = value
        .get("diagnostics")
        .and_then(serde_json::Value::as_array)
        .ok_or("validate --json printed no `diagnostics` list")?;
    let number = |d: &serde_json::Value, key: &str| d.get(key).and_then(serde_json::Value::as_u64).map(|n| n as usize);
    let text = |d: &serde_json::Value, key: &str| d.get(key).and_then(serde_json::Value::as_str).map(String::from);
    Ok(diagnostics
        .iter()
        .map(|d| {
            let message = text(d, "message").unwrap_or_default();
            Problem {
                line: number(d, "line"),
                column: number(d, "column"),
                key_path: text(d, "key_path").unwrap_or_default(),
                about_the_file: about_the_file(&message),
                message,
                hint: text(d, "hint"),
                semantic: false,
            }
        })
        .collect())
}
