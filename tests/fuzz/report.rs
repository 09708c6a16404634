//! What a run found: the figures, the findings grouped by class, and a
//! reproducer file for each finding.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::check::{Case, Checked, Finding, Property};
use super::targets::Target;

/// One finding of one case.
struct Record {
    label: String,
    target: Target,
    recipe: String,
    edit: Option<String>,
    input: Vec<u8>,
    finding: Finding,
}

/// The results of a run, as they come in.
pub struct Report {
    seed: u64,
    start: Instant,
    cases: usize,
    slowest: Option<(Duration, usize, String)>,
    /// The slowest in-process load alone (no editor's view, no binary).
    slowest_loader: Option<(Duration, usize, String)>,
    records: Vec<Record>,
    skipped: BTreeMap<&'static str, usize>,
}

impl Report {
    /// An empty report of a run with `seed`.
    pub fn new(seed: u64) -> Report {
        Report {
            seed,
            start: Instant::now(),
            cases: 0,
            slowest: None,
            slowest_loader: None,
            records: Vec::new(),
            skipped: BTreeMap::new(),
        }
    }

    /// Adds what checking `case` (called `label`) found.
    pub fn add(&mut self, label: &str, case: &Case, checked: Checked) {
        self.cases += 1;
        if self.slowest.as_ref().is_none_or(|(t, _, _)| checked.total > *t) {
            self.slowest = Some((checked.total, case.input.len(), format!("{label} ({})", case.recipe)));
        }
        if let Some(took) = checked.loader
            && self.slowest_loader.as_ref().is_none_or(|(t, _, _)| took > *t)
        {
            self.slowest_loader = Some((took, case.input.len(), format!("{label} ({})", case.recipe)));
        }
        for reason in checked.skipped {
            *self.skipped.entry(reason).or_default() += 1;
        }
        for finding in checked.findings {
            self.records.push(Record {
                label: label.to_string(),
                target: case.target,
                recipe: case.recipe.clone(),
                edit: case.edit.clone(),
                input: case.input.clone(),
                finding,
            });
        }
    }

    /// True when no property failed.
    pub fn is_clean(&self) -> bool {
        self.records.is_empty()
    }

    /// Cases run, their speed, the slowest, and findings by property.
    pub fn figures(&self) -> String {
        let elapsed = self.start.elapsed();
        let mut text = format!(
            "cases run: {} in {elapsed:.1?} ({:.1} cases/s)\n",
            self.cases,
            self.cases as f64 / elapsed.as_secs_f64().max(1e-9)
        );
        if let Some((took, size, label)) = &self.slowest {
            text.push_str(&format!("slowest case: {took:.1?} for {size} bytes, case {label}\n"));
        }
        if let Some((took, size, label)) = &self.slowest_loader {
            text.push_str(&format!(
                "slowest load by sandboxer's reader alone: {took:.1?} for {size} bytes, case {label}\n"
            ));
        }
        let mut cases_with: BTreeMap<Property, std::collections::BTreeSet<&str>> = BTreeMap::new();
        for r in &self.records {
            cases_with.entry(r.finding.property).or_default().insert(&r.label);
        }
        text.push_str("findings by property:\n");
        for property in Property::ALL {
            let n = cases_with.get(&property).map_or(0, |c| c.len());
            text.push_str(&format!("  {:<16} {n} case(s)\n", property.name()));
        }
        for (reason, n) in &self.skipped {
            text.push_str(&format!("not checked in {n} case(s): {reason}\n"));
        }
        text
    }

    /// Writes each finding's input and a sidecar (`.why`) under `out/<target>/`,
    /// in the form `tests/fixtures/fuzz/` keeps; returns how many.
    pub fn write_reproducers(&self, out: &Path) -> usize {
        let mut written = 0;
        let mut used = std::collections::HashSet::new();
        for r in &self.records {
            let dir = out.join(r.target.name());
            let base = format!("{}-{}", r.finding.property.name(), r.label.replace(' ', "-"));
            // A case can fail one property in two ways (validate and apply, say).
            let stem = (1..)
                .map(|n| if n == 1 { base.clone() } else { format!("{base}-{n}") })
                .find(|stem| used.insert((r.target, stem.clone())))
                .unwrap_or(base);
            if write_case(&dir, &stem, r, self.seed).is_ok() {
                written += 1;
            }
        }
        written
    }

    /// The findings, grouped by class, then each on a line, then the figures.
    pub fn failure(&self) -> String {
        let mut text = self.classes();
        text.push_str("\nevery finding:\n");
        for r in &self.records {
            text.push_str(&format!(
                "  case {} [{} {}] {}\n",
                r.label,
                r.finding.property.name(),
                r.target.name(),
                short(&r.finding.message, 500)
            ));
        }
        text.push('\n');
        text.push_str(&self.figures());
        text
    }

    /// The findings grouped by class (property, target and the message with
    /// its particulars left out), each with its smallest input.
    pub fn classes(&self) -> String {
        let mut classes: BTreeMap<(Property, Target, String), Vec<&Record>> = BTreeMap::new();
        for r in &self.records {
            classes
                .entry((
                    r.finding.property,
                    r.target,
                    class_of(r.finding.property, &r.finding.message),
                ))
                .or_default()
                .push(r);
        }
        let mut text = format!("{} finding(s) in {} class(es)\n\n", self.records.len(), classes.len());
        for ((property, target, class), records) in &classes {
            let smallest = records
                .iter()
                .min_by_key(|r| r.input.len())
                .expect("a class has a record");
            text.push_str(&format!(
                "[{} {}] {} case(s): {class}\n  e.g. case {} ({}): {}\n  input: {}\n",
                property.name(),
                target.name(),
                records.len(),
                smallest.label,
                short(&smallest.recipe, 200),
                short(&smallest.finding.message, 400),
                short(&format!("{:?}", String::from_utf8_lossy(&smallest.input)), 400),
            ));
        }
        text
    }
}

fn write_case(dir: &Path, stem: &str, r: &Record, seed: u64) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join(format!("{stem}.{}", r.target.extension())), &r.input)?;
    let mut why = format!(
        "property: {}\nchecks: {}\nrecipe: {}\nseed: {seed}\ncase: {}\n",
        r.finding.property.name(),
        one_line(&r.finding.message),
        one_line(&r.recipe),
        r.label
    );
    if let Some(edit) = &r.edit {
        why.push_str(&format!("edit: {edit}\n"));
    }
    std::fs::write(dir.join(format!("{stem}.why")), why)
}

/// Writes the case a worker is about to check, so that a crash of the whole
/// test process leaves it behind; removed once the case is checked.
pub fn in_flight(out: &Path, worker: usize, case: &Case, label: &str) -> Vec<PathBuf> {
    let input = out.join(format!("in-flight-{worker}.{}", case.target.extension()));
    let why = out.join(format!("in-flight-{worker}.why"));
    let text = format!(
        "property: no-crash\nchecks: the test process died on this case\ntarget: {}\nrecipe: {}\ncase: {label}\n{}",
        case.target.name(),
        one_line(&case.recipe),
        case.edit.as_ref().map(|e| format!("edit: {e}\n")).unwrap_or_default()
    );
    let _ = std::fs::create_dir_all(out);
    let _ = std::fs::write(&input, &case.input);
    let _ = std::fs::write(&why, text);
    vec![input, why]
}

fn one_line(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
}

fn short(text: &str, max: usize) -> String {
    let mut chars = text.chars();
    let head: String = chars.by_ref().take(max).collect();
    if chars.next().is_some() {
        format!("{head}...")
    } else {
        head
    }
}

/// The class of a finding: its message with what differs between cases of
/// one class left out (places, key paths, numbers, quoted values); for
/// property 3, the first complaint only.
fn class_of(property: Property, message: &str) -> String {
    let mut text = message;
    if property == Property::Located {
        text = text.split_once("fitting hint: ").map_or(text, |(_, rest)| rest);
        text = text.split("; ").next().unwrap_or(text);
    }
    let text = text.strip_prefix("validate: ").unwrap_or(text);
    let (kind, mut rest) = match text.split_once(": ") {
        Some((kind, rest)) if property == Property::Located => (format!("{kind}: "), rest),
        _ => (String::new(), text),
    };
    // the place, a loader's prefix, a key path
    if let Some((place, after)) = rest.split_once(": ")
        && place.chars().all(|c| c.is_ascii_digit() || c == ':' || c == '?')
    {
        rest = after;
    }
    let mut prefix = String::new();
    for known in [
        "invalid profile: ",
        "invalid YAML: ",
        "invalid port registry: ",
        "invalid manifest: ",
        "is not a sandboxer plan: ",
        "unsupported YAML value: ",
        "cannot read manifest: ",
        "cannot read profile: ",
    ] {
        if let Some(after) = rest.strip_prefix(known) {
            prefix = known.to_string();
            rest = after;
        }
    }
    if let Some((path, after)) = rest.split_once(": ")
        && !path.contains(' ')
    {
        rest = after;
    }
    for end in [" at line ", " (hint", " (no hint", ", expected"] {
        if let Some(i) = rest.find(end) {
            rest = &rest[..i];
        }
    }
    format!("{kind}{prefix}{}", normalized(rest))
}

/// Numbers as N, quoted values as `…`, at most 90 characters.
fn normalized(message: &str) -> String {
    let mut out = String::new();
    let mut chars = message.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '`' | '"' => {
                for d in chars.by_ref() {
                    if d == c {
                        break;
                    }
                }
                out.push('…');
            }
            c if c.is_ascii_digit() => {
                while chars.peek().is_some_and(|d| d.is_ascii_digit() || *d == '.') {
                    chars.next();
                }
                out.push('N');
            }
            c => out.push(c),
        }
        if out.chars().count() > 90 {
            break;
        }
    }
    out
}
