//! The folders cases run in: one fresh folder per case, laid out for its
//! target, and the saved-plan fixture every plan case starts from.
//!
//! The plan fixture is a local-workspace project (no hub, no VM) that was
//! applied once and then changed, so that `plan --out` saved a plan with a
//! create, an update and a delete. Plan cases are that plan with the values
//! that differ from one fixture to the next written as placeholders (`@DIR@`,
//! `@LINEAGE@`, `@DIGEST@`, `@ID1@`, ...), so a mutated plan can be kept in the
//! corpus and replayed against another fixture.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::run::{Ran, binary};
use super::targets::{self, Target};

/// The manifest a plan fixture is applied with first.
const FIXTURE_FIRST: &str = "\
version: 1
project: fuzz
sandboxes:
  keep:
    profile: profile.local-workspace
  changed:
    profile: profile.local-workspace
    inputs:
      repo: ./repo
  gone:
    profile: profile.local-workspace
";

/// The manifest the fixture's plan is made from: `gone` is deleted, `changed`
/// updated (its repo changed), `fresh` created.
const FIXTURE_THEN: &str = "\
version: 1
project: fuzz
sandboxes:
  keep:
    profile: profile.local-workspace
  changed:
    profile: profile.local-workspace
    inputs:
      repo: ./repo
  fresh:
    profile: profile.local-workspace
    depends_on: [sandbox.changed]
";

/// A second manifest in the fixture, of another project.
const OTHER: &str = "version: 1\nproject: other\nsandboxes:\n  x:\n    profile: profile.local-workspace\n";

/// The manifest next to a profile case: the binary reads the profile folder for it.
const NEIGHBOUR: &str = "\
version: 1
project: neighbour
sandboxes:
  app:
    profile: profile.local-workspace
";

/// The manifest next to a port registry case: the binary reads the registry for it.
const NEIGHBOUR_WITH_REGISTRY: &str = "\
version: 1
project: neighbour
port_registry: ./ports.yaml
sandboxes:
  app:
    profile: profile.local-workspace
";

/// A port registry that loads (the seed of registry cases).
pub const REGISTRY: &str = "\
# yaml-language-server: $schema=../schemas/port-registry.schema.json
version: 1
ports:
  12221: haskell-build      # port: SSH alias of the VM whose reverse tunnel ends there
  12222: haskell-build-2
  12223: vm3.example
";

/// Where every case of a run gets its folder.
pub struct World {
    root: tempfile::TempDir,
    /// The plan fixture, never run in: cases get copies.
    fixture: PathBuf,
    /// The fixture's plan, with placeholders.
    pub template: String,
    /// Placeholder → the fixture's value (the folder is per case).
    values: Vec<(String, String)>,
    next: AtomicUsize,
}

/// A case's own folder, removed when dropped.
pub struct Folder {
    /// The folder.
    pub dir: PathBuf,
}

impl Drop for Folder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl World {
    /// Makes the plan fixture with the binary, and checks that its plan applies.
    pub fn new() -> World {
        let root = tempfile::tempdir().expect("create a temporary folder");
        let fixture = root.path().join("plan-fixture");
        write(&fixture.join("sandboxes.yaml"), FIXTURE_FIRST.as_bytes());
        write(&fixture.join("repo/a.txt"), b"first\n");
        write(&fixture.join("other.yaml"), OTHER.as_bytes());
        expect_success(&fixture, &targets::apply_manifest_args("sandboxes.yaml"));
        write(&fixture.join("sandboxes.yaml"), FIXTURE_THEN.as_bytes());
        write(&fixture.join("repo/b.txt"), b"then\n");
        expect_success(&fixture, &targets::plan_out_args("sandboxes.yaml", "plan.json"));
        let plan_path = fixture.join("plan.json");
        let plan = std::fs::read_to_string(&plan_path).expect("read the fixture's plan");
        std::fs::remove_file(&plan_path).expect("remove the fixture's plan");
        let (template, values) = templated(&plan, &fixture);
        let world = World {
            root,
            fixture,
            template,
            values,
            next: AtomicUsize::new(0),
        };
        world.check_the_fixture();
        world
    }

    /// The unedited plan must apply in a copy, or every plan case would be
    /// refused for the wrong reason.
    fn check_the_fixture(&self) {
        let folder = self.folder(Target::Plan);
        let plan = self.instantiate(self.template.as_bytes(), &folder.dir);
        write(&folder.dir.join("plan.json"), &plan);
        expect_success(&folder.dir, &targets::apply_plan_args("plan.json"));
    }

    /// A fresh folder for a case of `target`.
    pub fn folder(&self, target: Target) -> Folder {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let dir = self.root.path().join(format!("case-{n}"));
        std::fs::create_dir_all(&dir).expect("create a case folder");
        let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
        match target {
            Target::Manifest => {
                copy_tree(&examples.join("sample-repo"), &dir.join("sample-repo"), None);
                copy_tree(&examples.join("packer"), &dir.join("packer"), None);
            }
            Target::Profile => write(&dir.join("sandboxes.yaml"), NEIGHBOUR.as_bytes()),
            Target::PortRegistry => write(&dir.join("sandboxes.yaml"), NEIGHBOUR_WITH_REGISTRY.as_bytes()),
            Target::Plan => copy_tree(&self.fixture, &dir, Some((&self.fixture, &dir))),
        }
        Folder { dir }
    }

    /// A plan with placeholders, filled in for a copy of the fixture at `dir`.
    ///
    /// The plan's own digest (`@SEAL@`) is computed afresh for what the plan
    /// now says, as an editor who knows the formula would: the checks behind
    /// the digest (the plan made again and compared) are what an edit meets.
    /// (`tests/saved_plans.rs` covers the digest itself.)
    pub fn instantiate(&self, template: &[u8], dir: &Path) -> Vec<u8> {
        let mut bytes = replace(template, b"@DIR@", dir.to_string_lossy().as_bytes());
        for (placeholder, value) in &self.values {
            bytes = replace(&bytes, placeholder.as_bytes(), value.as_bytes());
        }
        let seal = sandboxer::plan::read::read_bytes(Path::new("plan.json"), &bytes)
            .ok()
            .and_then(|document| sandboxer::plan::saved::digest(&document.plan).ok())
            .unwrap_or_else(|| format!("sha256:{}", "0".repeat(64)));
        replace(&bytes, SEAL.as_bytes(), seal.as_bytes())
    }

    /// The fixture's plan (with placeholders) after edit `name` of
    /// [`crate::fuzz::json::EDITS`], made from this checkout's plan format.
    pub fn edited(&self, name: &str) -> Option<Vec<u8>> {
        let mut plan = crate::fuzz::json::parse(self.template.as_bytes()).ok()?;
        crate::fuzz::json::edit(name, &mut plan).then(|| plan.render().into_bytes())
    }
}

/// Where the plan's own digest goes in a template; [`World::instantiate`] fills it.
const SEAL: &str = "@SEAL@";

/// The plan with its folder, lineage, digest and ids as placeholders.
fn templated(plan: &str, dir: &Path) -> (String, Vec<(String, String)>) {
    let value: serde_json::Value = serde_json::from_str(plan).expect("the fixture's plan is JSON");
    let text = |v: Option<&serde_json::Value>| v.and_then(serde_json::Value::as_str).map(String::from);
    let mut values = Vec::new();
    if let Some(lineage) = text(value.get("state_lineage")) {
        values.push(("@LINEAGE@".to_string(), lineage));
    }
    if let Some(digest) = text(value.get("manifest_digest")) {
        values.push(("@DIGEST@".to_string(), digest));
    }
    let seal = text(value.get("digest"));
    let mut ids: Vec<String> = Vec::new();
    for change in value
        .get("changes")
        .and_then(serde_json::Value::as_array)
        .into_iter()
        .flatten()
    {
        for id in [
            text(change.get("id")),
            text(change.get("workspace").and_then(|w| w.get("id"))),
        ] {
            if let Some(id) = id.filter(|id| !ids.contains(id)) {
                ids.push(id);
            }
        }
    }
    for (i, id) in ids.into_iter().enumerate() {
        values.push((format!("@ID{}@", i + 1), id));
    }
    let mut template = plan.replace(&*dir.to_string_lossy(), "@DIR@");
    if let Some(seal) = seal {
        template = template.replace(&format!("\"{seal}\""), &format!("\"{SEAL}\""));
    }
    for (placeholder, value) in &values {
        template = template
            .replace(&format!("\"{value}\""), &format!("\"{placeholder}\""))
            .replace(&format!("sbx-{value}"), &format!("sbx-{placeholder}"));
    }
    (template, values)
}

fn expect_success(dir: &Path, args: &[String]) {
    match binary(dir, args, std::time::Duration::from_secs(120)) {
        Ran::Done(out, _) if out.code == 0 => {}
        Ran::Done(out, _) => panic!("sandboxer {} in the plan fixture failed\n{out}", args.join(" ")),
        other => panic!("sandboxer {} in the plan fixture: {other:?}", args.join(" ")),
    }
}

/// Writes `bytes` to `path`, making its folder.
pub fn write(path: &Path, bytes: &[u8]) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("create {}: {e}", parent.display()));
    }
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// Copies the tree at `from` to `to`; with `rewrite`, every occurrence of the
/// first path in a file becomes the second (the state names its folder).
fn copy_tree(from: &Path, to: &Path, rewrite: Option<(&Path, &Path)>) {
    std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("create {}: {e}", to.display()));
    let entries = std::fs::read_dir(from).unwrap_or_else(|e| panic!("list {}: {e}", from.display()));
    for entry in entries {
        let entry = entry.expect("read a folder entry");
        let (source, target) = (entry.path(), to.join(entry.file_name()));
        let kind = entry.file_type().expect("the type of a folder entry");
        if kind.is_dir() {
            copy_tree(&source, &target, rewrite);
        } else if kind.is_file() {
            let bytes = std::fs::read(&source).unwrap_or_else(|e| panic!("read {}: {e}", source.display()));
            let bytes = match rewrite {
                Some((old, new)) => replace(
                    &bytes,
                    old.to_string_lossy().as_bytes(),
                    new.to_string_lossy().as_bytes(),
                ),
                None => bytes,
            };
            write(&target, &bytes);
        }
    }
}

/// `bytes` with every `old` replaced by `new`.
pub fn replace(bytes: &[u8], old: &[u8], new: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if !old.is_empty() && bytes[i..].starts_with(old) {
            out.extend_from_slice(new);
            i += old.len();
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}
