//! The five properties, checked for one case.
//!
//! 1. no panic, no crash: the loaders under `catch_unwind`, the binary exits 0 or 1;
//! 2. time linear in size: a loader or a run of the binary that passes the
//!    deadline for the input's size ([`run::deadline`]) is a hang, and a run
//!    that prints more than 100 bytes per byte of input (plus 1 MiB) too;
//! 3. every refusal is located and hinted: each problem with the content of a
//!    file has a line, a column and a hint that fits;
//! 4. schema and loader agree: the loader's structural stage accepts exactly
//!    what the structural schema accepts in the editor's view of the file, and
//!    the published manifest schema (which checks the built-in profiles'
//!    inputs too) accepts every manifest `validate` accepts;
//! 5. a refusal changes nothing: `validate` never writes, and `apply` of a
//!    refused manifest or of a refused or edited saved plan exits 1 and leaves
//!    every path, type and byte of its folder as it was.

use std::collections::BTreeMap;
use std::path::{Component, Path};
use std::time::{Duration, Instant};

use super::editor;
use super::json;
use super::run::{self, Ran};
use super::targets::{self, Problem, Target};
use super::world::{World, write};

/// The properties, in the order of the docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Property {
    /// 1. No panic, no crash.
    NoCrash,
    /// 2. Time linear in size.
    LinearTime,
    /// 3. Every refusal is located and hinted.
    Located,
    /// 4. Schema and loader agree.
    SchemaAgrees,
    /// 5. A refusal changes nothing.
    ChangesNothing,
}

impl Property {
    /// Every property.
    pub const ALL: [Property; 5] = [
        Property::NoCrash,
        Property::LinearTime,
        Property::Located,
        Property::SchemaAgrees,
        Property::ChangesNothing,
    ];

    /// Its name in reports, reproducer names and corpus sidecars.
    pub fn name(self) -> &'static str {
        match self {
            Property::NoCrash => "no-crash",
            Property::LinearTime => "linear-time",
            Property::Located => "located",
            Property::SchemaAgrees => "schema-agrees",
            Property::ChangesNothing => "changes-nothing",
        }
    }
}

/// One case: an input for a target, how it was made, and the saved-plan edit
/// it carries (which `apply` must refuse).
#[derive(Debug, Clone)]
pub struct Case {
    /// What the input is.
    pub target: Target,
    /// How it was made, for reports.
    pub recipe: String,
    /// The input; for plans with the fixture's placeholders.
    pub input: Vec<u8>,
    /// A saved-plan edit of `json::EDITS`.
    pub edit: Option<String>,
}

/// A property that does not hold for a case.
#[derive(Debug, Clone)]
pub struct Finding {
    /// Which property.
    pub property: Property,
    /// What happened.
    pub message: String,
}

/// What checking one case found.
#[derive(Debug, Default)]
pub struct Checked {
    /// The properties that do not hold.
    pub findings: Vec<Finding>,
    /// How long the in-process loader took.
    pub loader: Option<Duration>,
    /// How long the whole case took.
    pub total: Duration,
    /// Checks that could not be made, and why.
    pub skipped: Vec<&'static str>,
}

impl Checked {
    fn found(&mut self, property: Property, message: impl Into<String>) {
        self.findings.push(Finding {
            property,
            message: message.into(),
        });
    }
}

/// Why a case's schema agreement was not judged: the YAML readers differ.
pub const READERS_DIFFER: &str =
    "schema agreement: the two YAML readers disagree on the syntax (yaml-rust2 and libyaml)";

/// Checks every property for `case`, in a fresh folder of `world`.
pub fn check(world: &World, case: &Case) -> Checked {
    let start = Instant::now();
    let mut checked = Checked::default();
    let folder = world.folder(case.target);
    let dir = folder.dir.clone();
    let input = match case.target {
        Target::Plan => world.instantiate(&case.input, &dir),
        _ => case.input.clone(),
    };
    let path = dir.join(case.target.file_name());
    write(&path, &input);
    let deadline = run::deadline(input.len());
    let size = input.len();

    // 1 and 2, in-process.
    let target = case.target;
    let loaded = {
        let path = path.clone();
        run::in_thread(deadline, run::LOADER_WAIT, move || targets::load(target, &path))
    };
    let verdict = match loaded {
        Ran::Done(verdict, took) => {
            checked.loader = Some(took);
            verdict
        }
        Ran::Panicked(message) => {
            checked.found(
                Property::NoCrash,
                format!("the {} loader panicked: {message}", target.name()),
            );
            checked.total = start.elapsed();
            return checked;
        }
        Ran::TimedOut(took) => {
            checked.found(
                Property::LinearTime,
                format!(
                    "the {} loader ran {took:.1?} on {size} bytes (deadline {deadline:?} of CPU time)",
                    target.name()
                ),
            );
            checked.skipped.push("the other properties: the loader did not finish");
            checked.total = start.elapsed();
            return checked;
        }
    };

    // 3, in-process.
    let mut unlocated = complaints(&verdict.problems);

    // 4.
    let viewed = {
        let input = input.clone();
        // An editor's view that does not finish in time leaves a property
        // unchecked, it finds nothing: no longer wait than the deadline.
        run::in_thread(deadline, 1, move || {
            editor::view(target, &input).map(|instance| {
                let published =
                    (target == Target::Manifest).then(|| editor::published_manifest_schema_accepts(&instance));
                (editor::schema_accepts(target, &instance), published)
            })
        })
    };
    // What an editor with the published manifest schema says, for the check
    // against `validate` below.
    let mut published_refusal = None;
    match viewed {
        Ran::Done(view, _) => {
            let view = view.map(|(structural, published)| {
                published_refusal = published.and_then(Result::err);
                structural
            });
            let editor = match &view {
                Ok(Ok(())) => Ok(()),
                Ok(Err(schema)) => Err(format!("the schema refuses it {schema}")),
                Err(no_view) => Err(format!("an editor cannot read it as JSON data ({no_view})")),
            };
            // Where the two YAML readers (yaml-rust2 in sandboxer, libyaml here)
            // disagree on the syntax itself, there is no schema to compare: such
            // a case is counted, not a finding.
            let loader_syntax =
                !verdict.structure_accepted && verdict.problems.iter().all(|p| p.message.starts_with("invalid YAML:"));
            let editor_syntax = matches!(&view, Err(no_view) if no_view.starts_with("no YAML value:"));
            match (verdict.structure_accepted, editor) {
                (true, Err(_)) if editor_syntax => checked.skipped.push(READERS_DIFFER),
                (false, Ok(())) if loader_syntax => checked.skipped.push(READERS_DIFFER),
                (true, Err(why)) => checked.found(Property::SchemaAgrees, format!("the loader accepts it, {why}")),
                (false, Ok(())) => checked.found(
                    Property::SchemaAgrees,
                    format!(
                        "the schema accepts it, the loader refuses it: {}",
                        first(&verdict.problems)
                    ),
                ),
                _ => {}
            }
        }
        Ran::Panicked(_) => checked.skipped.push("schema agreement: the editor's view panicked"),
        Ran::TimedOut(_) => checked
            .skipped
            .push("schema agreement: the editor's view did not finish"),
    }

    // 1, 2, 3 and 5, through the binary.
    let binary_deadline = deadline + Duration::from_secs(3);
    match target {
        Target::Manifest | Target::Profile | Target::PortRegistry => {
            let before = snapshot(&dir);
            let manifest = Target::Manifest.file_name();
            let validated = run::binary(&dir, &targets::validate_args(manifest), binary_deadline);
            let refused = match exit_code(&mut checked, "validate", validated, size, binary_deadline) {
                Some(out) => {
                    match targets::validate_problems(&out.stdout) {
                        Ok(problems) => {
                            unlocated.extend(complaints(&problems).into_iter().map(|c| format!("validate: {c}")))
                        }
                        Err(e) => unlocated.push(format!("validate: {e}")),
                    }
                    if out.code == 0
                        && target == Target::Manifest
                        && let Some(why) = &published_refusal
                    {
                        checked.found(
                            Property::SchemaAgrees,
                            format!("validate accepts it, the published manifest schema refuses it {why}"),
                        );
                    }
                    out.code == 1
                }
                None => false,
            };
            let after = snapshot(&dir);
            if let Some(change) = differences(&before, &after) {
                checked.found(
                    Property::ChangesNothing,
                    format!("validate changed its folder: {change}"),
                );
            }
            if refused {
                let applied = run::binary(&dir, &targets::apply_manifest_args(manifest), binary_deadline);
                refusal_changes_nothing(
                    &mut checked,
                    "apply -f of a manifest validate refuses",
                    applied,
                    &dir,
                    &after,
                    size,
                    binary_deadline,
                );
            }
        }
        Target::Plan => {
            if !verdict.problems.is_empty() || case.edit.is_some() {
                match safe_plan(&input, &dir) {
                    Ok(()) => {
                        let before = snapshot(&dir);
                        let what = match &case.edit {
                            Some(edit) => format!("apply of a saved plan edited so ({edit})"),
                            None => "apply of a saved plan the loader refuses".to_string(),
                        };
                        let applied = run::binary(&dir, &targets::apply_plan_args(target.file_name()), binary_deadline);
                        refusal_changes_nothing(&mut checked, &what, applied, &dir, &before, size, binary_deadline);
                    }
                    Err(_) => checked
                        .skipped
                        .push("apply: the plan names something outside its folder"),
                }
            }
        }
    }

    if !unlocated.is_empty() {
        let n = unlocated.len();
        unlocated.truncate(4);
        checked.found(
            Property::Located,
            format!(
                "{n} problem(s) without a place or a fitting hint: {}",
                unlocated.join("; ")
            ),
        );
    }
    checked.total = start.elapsed();
    checked
}

/// The output of a finished run of the binary; a crash or a hang is recorded.
fn exit_code(
    checked: &mut Checked,
    what: &str,
    ran: Ran<crate::support::Output>,
    size: usize,
    deadline: Duration,
) -> Option<crate::support::Output> {
    if let Ran::Done(out, _) = &ran {
        let printed = out.stdout.len() + out.stderr.len();
        if printed > 100 * size + (1 << 20) {
            checked.found(
                Property::LinearTime,
                format!("{what} printed {printed} bytes for {size} bytes of input"),
            );
        }
    }
    match ran {
        Ran::Done(out, _) if out.code == 0 || out.code == 1 => Some(out),
        Ran::Done(out, _) => {
            let tail: String = out.stderr.lines().rev().take(3).collect::<Vec<_>>().join(" / ");
            checked.found(
                Property::NoCrash,
                format!("{what} exited with {} (a signal is -1, a panic 101): {tail}", out.code),
            );
            None
        }
        Ran::Panicked(message) => {
            checked.found(Property::NoCrash, format!("{what} could not be run: {message}"));
            None
        }
        Ran::TimedOut(took) => {
            checked.found(
                Property::LinearTime,
                format!("{what} was still running after {took:.1?} on {size} bytes (deadline {deadline:?}); killed"),
            );
            None
        }
    }
}

/// Property 5 for a run of `apply` on input it must refuse.
#[allow(clippy::too_many_arguments)]
fn refusal_changes_nothing(
    checked: &mut Checked,
    what: &str,
    ran: Ran<crate::support::Output>,
    dir: &Path,
    before: &BTreeMap<String, Entry>,
    size: usize,
    deadline: Duration,
) {
    let Some(out) = exit_code(checked, what, ran, size, deadline) else {
        return;
    };
    let after = snapshot(dir);
    let changed = differences(before, &after);
    if out.code != 1 || changed.is_some() {
        let said = out
            .stderr
            .lines()
            .find(|l| l.starts_with("error"))
            .or_else(|| out.stderr.lines().last())
            .unwrap_or("")
            .to_string();
        checked.found(
            Property::ChangesNothing,
            format!(
                "{what} exited with {}{}: {said}",
                out.code,
                changed
                    .map(|c| format!(" and changed its folder ({c})"))
                    .unwrap_or_default()
            ),
        );
    }
}

/// The messages sandboxer uses for a problem that is not one of syntax.
const NOT_SYNTAX: &[&str] = &[
    "recursion limit exceeded",
    "repetition limit exceeded",
    "more than one document",
    "duplicate entry",
    "as u128",
    "as i128",
];

/// The hint sandboxer gives for YAML syntax errors.
const SYNTAX_HINT: &str = "check the indentation and quoting";

/// Why each problem fails property 3, if it does.
pub fn complaints(problems: &[Problem]) -> Vec<String> {
    problems
        .iter()
        .filter(|p| !p.about_the_file)
        .filter_map(|p| {
            if p.line.is_none() || p.column.is_none() {
                Some(format!("no line:column: {p}"))
            } else if p.hint.is_none() {
                Some(format!("no hint: {p}"))
            } else if p.hint.as_deref().is_some_and(|h| h.contains(SYNTAX_HINT))
                && NOT_SYNTAX.iter().any(|m| p.message.contains(m))
            {
                Some(format!("a syntax hint for a problem that is not one of syntax: {p}"))
            } else {
                None
            }
        })
        .collect()
}

fn first(problems: &[Problem]) -> String {
    problems.first().map(ToString::to_string).unwrap_or_default()
}

/// A plan is given to `apply` only when it can act on nothing but its own
/// folder: every driver the local one, every location `local`, every path and
/// manifest inside `dir` (or relative without `..`), no id with a `/`. Plans
/// that are not JSON are refused before anything is read.
pub fn safe_plan(bytes: &[u8], dir: &Path) -> Result<(), String> {
    let Ok(tree) = json::parse(bytes) else {
        return match serde_json::from_slice::<serde_json::Value>(bytes) {
            Err(_) => Ok(()),
            Ok(_) => Err("JSON that only serde reads".into()),
        };
    };
    let mut strings = Vec::new();
    tree.strings("", &mut strings);
    for (key, value) in strings {
        let fine = match key {
            "driver" => value == "local-workspace",
            "location" => value == "local",
            "path" | "manifest" | "workspace" | "root" => inside(value, dir),
            "id" => !value.contains('/') && !value.contains(".."),
            _ => true,
        };
        if !fine {
            return Err(format!("{key}: {value}"));
        }
    }
    Ok(())
}

fn inside(path: &str, dir: &Path) -> bool {
    let path = Path::new(path);
    let plain = path
        .components()
        .all(|c| matches!(c, Component::Normal(_) | Component::RootDir | Component::CurDir));
    plain && (path.is_relative() || path.starts_with(dir))
}

/// One entry of a folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A folder.
    Dir,
    /// A file and its bytes.
    File(Vec<u8>),
    /// A symbolic link and where it points.
    Link(std::path::PathBuf),
    /// Anything else (a FIFO, a socket).
    Other,
}

/// The repo-digest cache: a copy of the fixture has new inodes and times, so
/// the first look at a repo in a copy rewrites it, refusal or not.
const CACHE: &str = ".sandboxer/cache";

/// Every path below `dir` with its type and content, but the repo-digest cache.
pub fn snapshot(dir: &Path) -> BTreeMap<String, Entry> {
    fn walk(dir: &Path, base: &Path, out: &mut BTreeMap<String, Entry>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = path.strip_prefix(base).unwrap_or(&path).to_string_lossy().into_owned();
            if name == CACHE {
                continue;
            }
            let Ok(kind) = entry.file_type() else { continue };
            if kind.is_symlink() {
                out.insert(name, Entry::Link(std::fs::read_link(&path).unwrap_or_default()));
            } else if kind.is_dir() {
                out.insert(name, Entry::Dir);
                walk(&path, base, out);
            } else if kind.is_file() {
                out.insert(name, Entry::File(std::fs::read(&path).unwrap_or_default()));
            } else {
                out.insert(name, Entry::Other);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// What differs between two snapshots, in a few words; None when nothing does.
pub fn differences(before: &BTreeMap<String, Entry>, after: &BTreeMap<String, Entry>) -> Option<String> {
    let mut said = Vec::new();
    for (path, entry) in after {
        match before.get(path) {
            None => said.push(format!("+{path}")),
            Some(old) if old != entry => said.push(format!("~{path}")),
            _ => {}
        }
    }
    said.extend(
        before
            .keys()
            .filter(|p| !after.contains_key(*p))
            .map(|p| format!("-{p}")),
    );
    if said.is_empty() {
        return None;
    }
    said.sort_by(|a, b| a[1..].cmp(&b[1..]));
    let n = said.len();
    said.truncate(8);
    Some(format!(
        "{}{}",
        said.join(" "),
        if n > 8 {
            format!(" and {} more", n - 8)
        } else {
            String::new()
        }
    ))
}
