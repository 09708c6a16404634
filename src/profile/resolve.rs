//! Input resolution: the value of every input of a resource, from what the manifest
//! gives, aliases, environment fallbacks and defaults — in that order of precedence.
//!
//! A pure function: the environment comes in as a snapshot, paths are resolved
//! against a given folder. Every problem is returned, not just the first.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{InputSpec, InputType, InputValue, Profile};
use crate::diagnostic::did_you_mean;
use crate::safety;
use crate::sorted_map::SortedMap;

/// A resolved, type-checked input value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum Value {
    /// `true` / `false`.
    Bool(bool),
    /// A whole number (ports included).
    Int(i64),
    /// Text; paths are absolute.
    String(String),
}

impl Value {
    /// The text of a string value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The truth of a bool value.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The number of an int value.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::String(s) => f.write_str(s),
        }
    }
}

/// Where a resolved value came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Origin {
    /// Given under its canonical name.
    Explicit,
    /// Given under an alias.
    Alias(String),
    /// Read from an environment variable.
    Env(String),
    /// The profile's default.
    Default,
}

/// What resolution needs besides the profile and the given values.
#[derive(Debug, Clone, Default)]
pub struct ResolveContext {
    /// Folder that relative `local_path` values are resolved against (the manifest's).
    pub base_dir: PathBuf,
    /// Home folder, for `~`.
    pub home: Option<PathBuf>,
    /// Snapshot of the environment variables profiles may fall back to.
    pub env: BTreeMap<String, String>,
}

/// The resolved inputs of one resource.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResolvedInputs {
    /// Canonical name → value.
    pub values: SortedMap<String, Value>,
    /// Canonical name → where the value came from.
    pub origins: SortedMap<String, Origin>,
    /// Names of the sensitive inputs among `values`.
    pub sensitive: BTreeSet<String>,
}

/// A problem with one input; `key` is the name as written (or the canonical name
/// when the input is missing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputProblem {
    /// The input name the problem is about.
    pub key: String,
    /// The input was not given at all (the location is then the `inputs` map).
    pub missing: bool,
    /// What is wrong.
    pub message: String,
    /// What to do.
    pub hint: Option<String>,
}

impl InputProblem {
    fn new(key: &str, message: String, hint: Option<String>) -> Self {
        InputProblem {
            key: key.to_string(),
            missing: false,
            message,
            hint,
        }
    }
}

/// Resolves `given` against `profile`. Precedence: explicit > alias > env > default.
pub fn resolve(
    profile: &Profile,
    given: &BTreeMap<String, InputValue>,
    ctx: &ResolveContext,
) -> (ResolvedInputs, Vec<InputProblem>) {
    let mut resolved = ResolvedInputs::default();
    let mut problems = Vec::new();
    // canonical name → (value, name as written, origin)
    let mut chosen: BTreeMap<String, (InputValue, String, Origin)> = BTreeMap::new();

    for (name, value) in given {
        if profile.inputs.contains_key(name) {
            chosen.insert(name.clone(), (value.clone(), name.clone(), Origin::Explicit));
        } else if let Some(canonical) = profile.canonical_of_alias(name) {
            // An explicit canonical value wins over its alias.
            chosen
                .entry(canonical.to_string())
                .or_insert_with(|| (value.clone(), name.clone(), Origin::Alias(name.clone())));
        } else if profile.input(name).is_some() {
            chosen.insert(name.clone(), (value.clone(), name.clone(), Origin::Explicit));
        } else {
            let hint = did_you_mean(name, profile.known_input_names())
                .map(|s| format!("did you mean `{s}`?"))
                .or_else(|| {
                    let names: Vec<&str> = profile.inputs.keys().map(String::as_str).collect();
                    Some(if names.is_empty() {
                        format!("{} takes no inputs", profile.name)
                    } else {
                        format!("{} takes: {}", profile.name, names.join(", "))
                    })
                });
            problems.push(InputProblem::new(
                name,
                format!("unknown input `{name}` for {}", profile.name),
                hint,
            ));
        }
    }

    for (canonical, spec) in &profile.inputs {
        if chosen.contains_key(canonical) {
            continue;
        }
        if let Some(var) = &spec.env
            && let Some(text) = ctx.env.get(var)
        {
            chosen.insert(
                canonical.clone(),
                (
                    InputValue::String(text.clone()),
                    canonical.clone(),
                    Origin::Env(var.clone()),
                ),
            );
            continue;
        }
        if let Some(default) = &spec.default {
            chosen.insert(canonical.clone(), (default.clone(), canonical.clone(), Origin::Default));
            continue;
        }
        if spec.required {
            let mut hint = match &spec.aliases[..] {
                [] => format!("add `{canonical}: <{}>` under inputs", spec.kind),
                aliases => format!(
                    "add `{canonical}: <{}>` (or `{}`) under inputs",
                    spec.kind,
                    aliases.join("`, `")
                ),
            };
            if let Some(var) = &spec.env {
                hint.push_str(&format!(", or set {var}"));
            }
            problems.push(InputProblem {
                key: canonical.clone(),
                missing: true,
                message: format!("required input `{canonical}` is missing"),
                hint: Some(hint),
            });
        }
    }

    for (canonical, (value, written, origin)) in chosen {
        let Some(spec) = profile.input(&canonical) else {
            continue;
        };
        match check_value(spec, &value, ctx) {
            Ok(v) => {
                if spec.sensitive {
                    resolved.sensitive.insert(canonical.clone());
                }
                resolved.values.insert(canonical.clone(), v);
                resolved.origins.insert(canonical, origin);
            }
            Err((message, hint)) => {
                let shown = if spec.sensitive {
                    "<sensitive>".to_string()
                } else {
                    value.to_string()
                };
                let from = match &origin {
                    Origin::Env(var) => format!(" (from {var})"),
                    Origin::Default => " (the profile's default)".to_string(),
                    _ => String::new(),
                };
                problems.push(InputProblem::new(
                    &written,
                    format!("`{}`{from}: {message}", safety::printable(&shown)),
                    hint,
                ));
            }
        }
    }
    (resolved, problems)
}

type CheckError = (String, Option<String>);

/// Type-checks and normalises one value.
fn check_value(spec: &InputSpec, value: &InputValue, ctx: &ResolveContext) -> Result<Value, CheckError> {
    if let InputValue::String(s) = value
        && let Err(e) = safety::check_no_control(s)
    {
        return Err((e.into(), Some("inputs are single-line text".into())));
    }
    let text = value.to_string();
    match spec.kind {
        InputType::String => Ok(Value::String(text)),
        InputType::Int => as_int(value).map(Value::Int).ok_or_else(|| {
            (
                "expected a whole number".into(),
                Some("write a whole number, e.g. 4".into()),
            )
        }),
        InputType::Bool => match value {
            InputValue::Bool(b) => Ok(Value::Bool(*b)),
            InputValue::String(s) if s == "true" || s == "false" => Ok(Value::Bool(s == "true")),
            _ => Err(("expected true or false".into(), Some("write `true` or `false`".into()))),
        },
        InputType::Port => match as_int(value) {
            Some(p) if (1..=65535).contains(&p) => Ok(Value::Int(p)),
            Some(_) => Err((
                "port out of range".into(),
                Some("a port is a number from 1 to 65535".into()),
            )),
            None => Err((
                "expected a port number".into(),
                Some("a port is a number from 1 to 65535".into()),
            )),
        },
        InputType::Enum => {
            if spec.values.contains(&text) {
                Ok(Value::String(text))
            } else {
                let hint = did_you_mean(&text, spec.values.iter().map(String::as_str))
                    .map(|s| format!("did you mean `{s}`?"))
                    .unwrap_or_else(|| format!("one of: {}", spec.values.join(", ")));
                Err(("not an allowed value".into(), Some(hint)))
            }
        }
        InputType::LocalPath => {
            let InputValue::String(s) = value else {
                return Err((
                    "expected a path".into(),
                    Some("write a path on this machine, e.g. ./repo or ~/src/app".into()),
                ));
            };
            if s.is_empty() {
                return Err((
                    "empty path".into(),
                    Some("write a path on this machine, e.g. ./repo or ~/src/app".into()),
                ));
            }
            Ok(Value::String(local_path(s, ctx).to_string_lossy().into_owned()))
        }
        InputType::RemotePath => {
            let InputValue::String(s) = value else {
                return Err((
                    "expected an absolute path".into(),
                    Some("write an absolute path such as /build/my-workspace".into()),
                ));
            };
            safety::check_remote_path(s).map_err(|e| {
                (
                    e.into(),
                    Some("write an absolute path such as /build/my-workspace".into()),
                )
            })?;
            Ok(Value::String(s.clone()))
        }
        InputType::SshAlias => {
            safety::check_ssh_alias(&text).map_err(|e| {
                (
                    e.into(),
                    Some("an SSH alias or host name: letters, digits, `.`, `_`, `-`; not starting with `-`".into()),
                )
            })?;
            Ok(Value::String(text))
        }
        InputType::Duration => {
            crate::duration::parse(&text)
                .map_err(|e| (e.into(), Some("write a duration such as 500ms, 30s or 5m".into())))?;
            Ok(Value::String(text))
        }
    }
}

fn as_int(value: &InputValue) -> Option<i64> {
    match value {
        InputValue::Int(i) => Some(*i),
        InputValue::String(s) => s.trim().parse().ok(),
        InputValue::Bool(_) => None,
    }
}

/// `~` expands to the home folder; a relative path is taken from `ctx.base_dir`;
/// `.` and `..` are folded so that the stored path is canonical in form.
pub fn local_path(s: &str, ctx: &ResolveContext) -> PathBuf {
    let expanded = match (s.strip_prefix('~'), &ctx.home) {
        (Some(rest), Some(home)) if rest.is_empty() || rest.starts_with('/') => home.join(rest.trim_start_matches('/')),
        _ => PathBuf::from(s),
    };
    let joined = if expanded.is_absolute() {
        expanded
    } else {
        ctx.base_dir.join(expanded)
    };
    normalize(&joined)
}

/// Folds `.` and `..` lexically.
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::Catalog;

    fn haskell() -> Profile {
        Catalog::builtin()
            .get("profile.vm-haskell-build")
            .expect("built-in profile")
            .clone()
    }

    fn ctx(env: &[(&str, &str)]) -> ResolveContext {
        ResolveContext {
            base_dir: PathBuf::from("/work/manifests"),
            home: Some(PathBuf::from("/home/op")),
            env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        }
    }

    fn given(pairs: &[(&str, InputValue)]) -> BTreeMap<String, InputValue> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
    }

    fn s(v: &str) -> InputValue {
        InputValue::String(v.into())
    }

    #[test]
    fn explicit_wins_over_alias_env_and_default() {
        let (r, p) = resolve(
            &haskell(),
            &given(&[
                ("vm", s("a")),
                ("ssh_target", s("b")),
                ("tunnel_port", InputValue::Int(12222)),
                ("workspace_root", s("/srv")),
            ]),
            &ctx(&[("SANDBOXER_VM_TUNNEL_PORT", "12223")]),
        );
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(r.values["vm"], Value::String("a".into()));
        assert_eq!(r.origins["vm"], Origin::Explicit);
        assert_eq!(r.values["tunnel_port"], Value::Int(12222));
        assert_eq!(r.values["workspace_root"], Value::String("/srv".into()));
    }

    #[test]
    fn alias_wins_over_env_and_default() {
        let (r, p) = resolve(&haskell(), &given(&[("ssh_target", s("haskell-build"))]), &ctx(&[]));
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(r.values["vm"], Value::String("haskell-build".into()));
        assert_eq!(r.origins["vm"], Origin::Alias("ssh_target".into()));
    }

    #[test]
    fn env_wins_over_default_and_default_fills_the_rest() {
        let (r, p) = resolve(
            &haskell(),
            &given(&[("vm", s("x"))]),
            &ctx(&[("SANDBOXER_VM_TUNNEL_PORT", "12224")]),
        );
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(r.values["tunnel_port"], Value::Int(12224));
        assert_eq!(r.origins["tunnel_port"], Origin::Env("SANDBOXER_VM_TUNNEL_PORT".into()));
        assert_eq!(r.values["workspace_root"], Value::String("/build".into()));
        assert_eq!(r.origins["workspace_root"], Origin::Default);
        assert!(!r.values.contains_key("repo"));
    }

    #[test]
    fn a_bad_env_value_names_the_variable() {
        let (_, p) = resolve(
            &haskell(),
            &given(&[("vm", s("x"))]),
            &ctx(&[("SANDBOXER_VM_TUNNEL_PORT", "99999")]),
        );
        assert_eq!(p.len(), 1);
        assert!(p[0].message.contains("SANDBOXER_VM_TUNNEL_PORT"), "{}", p[0].message);
    }

    #[test]
    fn missing_required_input_has_a_hint_with_the_alias() {
        let (_, p) = resolve(&haskell(), &BTreeMap::new(), &ctx(&[]));
        assert_eq!(p.len(), 1);
        assert!(p[0].missing);
        assert_eq!(p[0].key, "vm");
        assert!(p[0].hint.as_deref().unwrap_or("").contains("ssh_target"));
    }

    #[test]
    fn unknown_input_suggests_the_closest() {
        let (_, p) = resolve(
            &haskell(),
            &given(&[("vm", s("x")), ("tunel_port", InputValue::Int(1))]),
            &ctx(&[]),
        );
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].hint.as_deref(), Some("did you mean `tunnel_port`?"));
    }

    #[test]
    fn types_are_checked() {
        let cases = [
            ("tunnel_port", InputValue::Int(0), "port out of range"),
            ("tunnel_port", s("abc"), "expected a port number"),
            ("workspace_dir", s("relative/dir"), "absolute"),
            ("workspace_dir", s("/build/../etc"), ".."),
            ("vm", s("-oProxyCommand=x"), "must not start with `-`"),
            ("vm", s("a b"), "not allowed"),
            ("repo", s("a\nb"), "newline"),
            ("connect_timeout", s("soon"), "duration"),
        ];
        for (key, value, expected) in cases {
            let mut g = given(&[("vm", s("ok"))]);
            g.insert(key.into(), value.clone());
            let (_, p) = resolve(&haskell(), &g, &ctx(&[]));
            assert_eq!(p.len(), 1, "{key}={value:?}: {p:?}");
            assert!(p[0].message.contains(expected), "{key}={value:?}: {}", p[0].message);
        }
    }

    #[test]
    fn local_paths_expand_home_and_resolve_against_the_manifest() {
        let c = ctx(&[]);
        assert_eq!(local_path("~/projects/app", &c), PathBuf::from("/home/op/projects/app"));
        assert_eq!(local_path("./repo/../app", &c), PathBuf::from("/work/manifests/app"));
        assert_eq!(local_path("/abs", &c), PathBuf::from("/abs"));
    }

    #[test]
    fn pattern_inputs_are_accepted() {
        let packer = Catalog::builtin()
            .get("profile.vm-packer-build")
            .expect("built-in")
            .clone();
        let (r, p) = resolve(
            &packer,
            &given(&[
                ("vm", s("hb")),
                ("packer_template", s("./t")),
                ("packer_var_disk_size", InputValue::Int(40960)),
            ]),
            &ctx(&[]),
        );
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(r.values["packer_var_disk_size"], Value::String("40960".into()));
        assert_eq!(r.values["vm_name"], Value::String("hb".into()));
        assert_eq!(r.values["mode"], Value::String("build".into()));
    }
}
