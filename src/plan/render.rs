//! Showing a plan: terraform-like text for people, markdown for a pull-request
//! comment. (JSON is the serde form of [`Plan`].)

use std::fmt::Write;

use super::{Action, AttributeChange, Change, Plan};
use crate::profile::Value;
use crate::provenance::GitSource;
use crate::safety::printable;

/// Colours for the text form.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    /// Use ANSI colours.
    pub color: bool,
}

impl Style {
    fn paint(&self, action: Action, text: &str) -> String {
        if !self.color {
            return text.to_string();
        }
        let code = match action {
            Action::Create => "32",
            Action::Update => "33",
            Action::Replace | Action::Delete | Action::Refused => "31",
            Action::NoOp => "0",
        };
        format!("\x1b[{code}m{text}\x1b[0m")
    }

    fn bold(&self, text: &str) -> String {
        if self.color {
            format!("\x1b[1m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
}

/// The summary line: `Plan: N to create, N to update, N to replace, N to delete.`
pub fn summary_line(plan: &Plan) -> String {
    let s = plan.summary;
    let mut refused = if s.refused > 0 {
        format!(", {} refused", s.refused)
    } else {
        String::new()
    };
    if s.moved > 0 {
        refused.push_str(&format!(", {} moved", s.moved));
    }
    format!(
        "Plan: {} to create, {} to update, {} to replace, {} to delete{refused}.",
        s.create, s.update, s.replace, s.delete
    )
}

/// The line that says nothing is to be done.
pub const NO_CHANGES: &str = "No changes. The workspaces and images match the manifest.";

/// The text form.
pub fn text(plan: &Plan, style: Style) -> String {
    let mut out = String::new();
    if !plan.summary.has_lines() {
        let _ = writeln!(out, "{NO_CHANGES}");
        return out;
    }
    let _ = writeln!(
        out,
        "sandboxer will perform these actions (project {}):\n",
        plan.project
    );
    for change in plan.changes.iter().filter(|c| shown(c)) {
        write_change(&mut out, change, style);
    }
    let _ = writeln!(out, "{}", style.bold(&summary_line(plan)));
    out
}

/// Whether a change has a line in the plan: anything to do, or a rename.
fn shown(change: &Change) -> bool {
    change.action != Action::NoOp || change.moved_from.is_some()
}

fn headline(change: &Change) -> String {
    let id = change.id.as_deref().map(|id| format!(" (id {id})")).unwrap_or_default();
    if let Some(from) = &change.moved_from {
        if change.action == Action::NoOp {
            return format!("{from}{id} has moved to {}", change.address);
        }
        return format!(
            "{}{id} (moved from {from}) {}",
            change.address,
            action_words(change.action)
        );
    }
    format!("{}{id} {}", change.address, action_words(change.action))
}

fn action_words(action: Action) -> &'static str {
    match action {
        Action::Create => "will be created",
        Action::Update => "will be updated in place",
        Action::Replace => "must be replaced",
        Action::Delete => "will be deleted",
        Action::NoOp => "is up to date",
        Action::Refused => "is refused: nothing will be done",
    }
}

fn write_change(out: &mut String, change: &Change, style: Style) {
    let symbol = style.paint(change.action, change.action.symbol());
    let _ = writeln!(out, "  {symbol} {}", headline(change));
    // Reasons name paths found on VMs, which are untrusted: escaped for the terminal.
    for reason in &change.reasons {
        let _ = writeln!(out, "      because: {}", printable(&reason.to_string()));
    }
    let width = change.attributes.iter().map(|a| a.name.len()).max().unwrap_or(0);
    for a in &change.attributes {
        write_attribute(out, a, width, style);
    }
    if let Some(w) = &change.workspace
        && !matches!(change.action, Action::Create | Action::Refused)
    {
        let _ = writeln!(out, "      workspace: {}", printable(&w.location.show_path(&w.path)));
    }
    let _ = writeln!(out);
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

fn write_attribute(out: &mut String, a: &AttributeChange, width: usize, style: Style) {
    let name = format!("{:width$}", a.name);
    let forces = if a.forces_replace {
        style.paint(Action::Replace, "  # forces replacement")
    } else {
        String::new()
    };
    match (&a.before, &a.after) {
        (None, Some(after)) => {
            let _ = writeln!(
                out,
                "      {} {name} = {}",
                style.paint(Action::Create, "+"),
                show(after)
            );
        }
        (Some(before), None) => {
            let _ = writeln!(
                out,
                "      {} {name} = {}",
                style.paint(Action::Delete, "-"),
                show(before)
            );
        }
        (Some(Value::String(b)), Some(Value::String(n))) if b.contains('\n') || n.contains('\n') => {
            let _ = writeln!(out, "      {} {name}:{forces}", style.paint(Action::Update, "~"));
            let diff = similar::TextDiff::from_lines(b.as_str(), n.as_str());
            for line in diff.iter_all_changes() {
                let (sign, action) = match line.tag() {
                    similar::ChangeTag::Delete => ("-", Action::Delete),
                    similar::ChangeTag::Insert => ("+", Action::Create),
                    similar::ChangeTag::Equal => (" ", Action::NoOp),
                };
                let _ = writeln!(
                    out,
                    "          {}",
                    style.paint(action, &format!("{sign} {}", line.value().trim_end()))
                );
            }
        }
        (Some(before), Some(after)) => {
            let _ = writeln!(
                out,
                "      {} {name} = {} -> {}{forces}",
                style.paint(Action::Update, "~"),
                show(before),
                show(after)
            );
        }
        (None, None) => {}
    }
}

/// The markdown form, for a pull-request comment; `source` is the git commit
/// the manifest's work tree is at, when it is in one.
pub fn markdown(plan: &Plan, source: Option<&GitSource>) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "### sandboxer plan for `{}`\n", plan.project);
    if let Some(git) = source {
        // The full hash, outside code: a pull-request comment links it.
        let _ = write!(out, "Manifest at commit {}", printable(&git.commit));
        match &git.branch {
            Some(branch) => {
                let _ = write!(out, " on branch {}", code(&printable(branch)));
            }
            None => out.push_str(" (detached HEAD)"),
        }
        out.push_str(if git.dirty {
            ", with **uncommitted changes**.\n\n"
        } else {
            ".\n\n"
        });
    }
    if !plan.summary.has_lines() {
        let _ = writeln!(out, "{NO_CHANGES}");
        return out;
    }
    let _ = writeln!(out, "**{}**\n", summary_line(plan));
    let _ = writeln!(out, "| | resource | action | why |\n|---|---|---|---|");
    for c in plan.changes.iter().filter(|c| shown(c)) {
        let mut why: Vec<String> = c.reasons.iter().map(|r| printable(&r.to_string())).collect();
        let mut action = c.action.to_string();
        if let Some(from) = &c.moved_from {
            why.insert(0, format!("moved from `{from}`"));
            action = if c.action == Action::NoOp {
                "moved".into()
            } else {
                format!("moved, {action}")
            };
        }
        let _ = writeln!(
            out,
            "| `{}` | `{}` | {} | {} |",
            c.action.symbol(),
            c.address,
            action,
            why.join("; ").replace('|', "\\|")
        );
    }
    let _ = writeln!(out, "\n<details><summary>Attribute changes</summary>\n\n```diff");
    for c in plan.changes.iter().filter(|c| shown(c)) {
        let _ = writeln!(out, "{} {}", c.action.symbol(), headline(c));
        let width = c.attributes.iter().map(|a| a.name.len()).max().unwrap_or(0);
        for a in &c.attributes {
            write_attribute(&mut out, a, width, Style { color: false });
        }
    }
    let _ = writeln!(out, "```\n\n</details>");
    out
}

/// `text` as inline code, whatever backticks it holds (a branch name may).
fn code(text: &str) -> String {
    let mut fence = String::from("`");
    while text.contains(fence.as_str()) {
        fence.push('`');
    }
    if fence.len() > 1 || text.starts_with('`') || text.ends_with('`') {
        format!("{fence} {text} {fence}")
    } else {
        format!("{fence}{text}{fence}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::DriverName;
    use crate::plan::{PLAN_FORMAT_VERSION, Reason, Summary};

    fn plan(changes: Vec<Change>) -> Plan {
        Plan {
            format_version: PLAN_FORMAT_VERSION,
            project: "p".into(),
            manifest: "m.yaml".into(),
            manifest_digest: String::new(),
            state_lineage: String::new(),
            state_serial: 0,
            targets: Vec::new(),
            replace: Vec::new(),
            summary: Summary::of(&changes),
            changes,
        }
    }

    #[test]
    fn no_changes_says_so() {
        assert_eq!(text(&plan(vec![]), Style { color: false }), format!("{NO_CHANGES}\n"));
    }

    #[test]
    fn a_replace_shows_symbol_reason_and_forcing_attribute() {
        let c = Change {
            address: "sandbox.app".parse().expect("address"),
            action: Action::Replace,
            id: Some("k3x9".into()),
            driver: DriverName::SSH_WORKSPACE,
            reasons: vec![Reason::AttributeForcesReplace { attribute: "vm".into() }],
            attributes: vec![AttributeChange {
                name: "inputs.vm".into(),
                before: Some(Value::String("a".into())),
                after: Some(Value::String("b".into())),
                forces_replace: true,
            }],
            depends_on: vec![],
            workspace: None,
            moved_from: None,
        };
        let out = text(&plan(vec![c]), Style { color: false });
        assert!(out.contains("  -/+ sandbox.app (id k3x9) must be replaced\n"), "{out}");
        assert!(
            out.contains("      because: vm changed (forces replacement)\n"),
            "{out}"
        );
        assert!(
            out.contains("      ~ inputs.vm = \"a\" -> \"b\"  # forces replacement\n"),
            "{out}"
        );
        assert!(
            out.ends_with("Plan: 0 to create, 0 to update, 1 to replace, 0 to delete.\n"),
            "{out}"
        );
    }

    #[test]
    fn markdown_names_the_manifests_commit_and_uncommitted_changes() {
        let hash = "0123456789abcdef0123456789abcdef01234567";
        let mut git = GitSource {
            commit: hash.into(),
            branch: Some("main".into()),
            dirty: true,
        };
        let out = markdown(&plan(vec![]), Some(&git));
        assert!(
            out.contains(&format!(
                "Manifest at commit {hash} on branch `main`, with **uncommitted changes**.\n"
            )),
            "{out}"
        );
        git.dirty = false;
        git.branch = None;
        let out = markdown(&plan(vec![]), Some(&git));
        assert!(
            out.contains(&format!("Manifest at commit {hash} (detached HEAD).\n")),
            "{out}"
        );
        assert!(!markdown(&plan(vec![]), None).contains("Manifest at"));
    }

    #[test]
    fn inline_code_holds_any_backticks() {
        assert_eq!(code("main"), "`main`");
        assert_eq!(code("a`b"), "`` a`b ``");
        assert_eq!(code("x``y"), "``` x``y ```");
    }

    #[test]
    fn multi_line_values_are_diffed_by_line() {
        let mut out = String::new();
        let a = AttributeChange {
            name: "inputs.script".into(),
            before: Some(Value::String("one\ntwo\n".into())),
            after: Some(Value::String("one\nthree\n".into())),
            forces_replace: false,
        };
        write_attribute(&mut out, &a, 0, Style { color: false });
        assert!(
            out.contains("- two") && out.contains("+ three") && out.contains("  one"),
            "{out}"
        );
    }
}
