//! The catalog of profiles: the built-in ones embedded in the binary, plus those
//! found in profile folders (next to the manifest, or given with `--profiles`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use std::sync::OnceLock;

use super::Profile;
use crate::diagnostic::{Diagnostic, Location};
use crate::document::{self, Schema, Typed};
use crate::safety;

/// The built-in profiles, as shipped in `profiles/`.
const BUILTIN: &[(&str, &str)] = &[
    (
        "profiles/local-workspace.yaml",
        include_str!("../../profiles/local-workspace.yaml"),
    ),
    (
        "profiles/vm-haskell-build.yaml",
        include_str!("../../profiles/vm-haskell-build.yaml"),
    ),
    (
        "profiles/vm-packer-build.yaml",
        include_str!("../../profiles/vm-packer-build.yaml"),
    ),
];

/// Profiles by name, with the file each came from.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    profiles: BTreeMap<String, (Profile, PathBuf)>,
}

impl Catalog {
    /// The built-in profiles only. They are checked by the test suite, so a failure
    /// to parse one here is a build defect, not an operator error.
    pub fn builtin() -> Self {
        let mut catalog = Catalog::default();
        for (path, text) in BUILTIN {
            match parse(Path::new(path), text.as_bytes()) {
                Ok(profile) => {
                    catalog
                        .profiles
                        .insert(profile.name.clone(), (profile, PathBuf::from(path)));
                }
                Err(d) => tracing::error!("built-in profile {path} is broken: {d}"),
            }
        }
        catalog
    }

    /// Adds every `*.yaml` / `*.yml` of `dir`; a profile there may replace a built-in
    /// one of the same name. A folder that does not exist adds nothing.
    pub fn add_dir(&mut self, dir: &Path) -> Result<(), Vec<Diagnostic>> {
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => {
                return Err(vec![Diagnostic::new(
                    dir,
                    None,
                    "",
                    format!("cannot read profile folder: {e}"),
                )]);
            }
        };
        let mut paths: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
            .collect();
        paths.sort();
        let mut problems = Vec::new();
        for path in paths {
            let bytes = match crate::fsutil::read_input_bytes(&path) {
                Ok(b) => b,
                Err(e) => {
                    problems.push(
                        Diagnostic::new(&path, None, "", format!("cannot read profile: {e}"))
                            .with_hint("give a regular file of at most 16 MiB that you can read"),
                    );
                    continue;
                }
            };
            match parse(&path, &bytes) {
                Ok(profile) => {
                    self.profiles.insert(profile.name.clone(), (profile, path));
                }
                Err(d) => problems.push(d),
            }
        }
        if problems.is_empty() { Ok(()) } else { Err(problems) }
    }

    /// The profile called `name`.
    pub fn get(&self, name: &str) -> Option<&Profile> {
        self.profiles.get(name).map(|(p, _)| p)
    }

    /// The file a profile came from.
    pub fn source(&self, name: &str) -> Option<&Path> {
        self.profiles.get(name).map(|(_, path)| path.as_path())
    }

    /// Every profile name, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.profiles.keys().map(String::as_str)
    }
}

/// The profile schema, compiled once.
pub fn schema() -> &'static Schema {
    static SCHEMA: OnceLock<Schema> = OnceLock::new();
    SCHEMA.get_or_init(|| Schema::new(super::json_schema(), "schemas/profile.schema.json"))
}

/// Reads a profile file's structure: the document, the schema, the type.
/// (What `parse` checks after this is beyond what a schema can say.)
pub fn parse_structure(path: &Path, bytes: &[u8]) -> Result<Typed<Profile>, Vec<Diagnostic>> {
    document::read_typed(path, bytes, schema(), || {
        Diagnostic::new(path, Some(Location { line: 1, column: 1 }), "", "the profile is empty")
            .with_hint("start with `name: profile.<name>` and `driver: <driver>`; see profiles/local-workspace.yaml")
    })
}

/// Parses and checks one profile file; the first problem found.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<Profile, Diagnostic> {
    let Typed {
        value: profile,
        source_map: map,
    } = parse_structure(path, bytes).map_err(|mut problems| problems.remove(0))?;
    let at = |key: &str| map.locate(key);
    let Some(short) = profile.name.strip_prefix("profile.") else {
        return Err(Diagnostic::new(
            path,
            at("name"),
            "name",
            format!("`{}` must start with `profile.`", safety::printable(&profile.name)),
        )
        .with_hint("name it `profile.<name>`"));
    };
    if let Err(e) = safety::check_name(short) {
        return Err(Diagnostic::new(path, at("name"), "name", e)
            .with_hint("after `profile.`: up to 63 letters, digits, `_` or `-`, starting with a letter or digit"));
    }
    let specs = (profile.inputs.iter().map(|(n, s)| (format!("inputs.{n}"), s))).chain(
        profile
            .input_patterns
            .iter()
            .map(|(n, s)| (format!("input_patterns.{n}"), s)),
    );
    for (key, spec) in specs {
        if spec.kind == super::InputType::Enum && spec.values.is_empty() {
            return Err(Diagnostic::new(path, at(&key), key, "an enum input needs `values`")
                .with_hint("list the accepted values: `values: [a, b]`"));
        }
        if spec.required && spec.default.is_some() {
            return Err(
                Diagnostic::new(path, at(&key), key, "an input with a default cannot be required")
                    .with_hint("remove `required: true`, or remove the default"),
            );
        }
    }
    if let Some(timeout) = &profile.probe_timeout
        && let Err(e) = crate::duration::parse(timeout)
    {
        return Err(
            Diagnostic::new(path, at("probe_timeout"), "probe_timeout", e.to_string())
                .with_hint("a duration such as `10s` or `1m`"),
        );
    }
    if let Some(file) = &profile.capabilities_file
        && let Err(e) = safety::check_remote_path(file)
    {
        return Err(
            Diagnostic::new(path, at("capabilities_file"), "capabilities_file", e.to_string())
                .with_hint("a path on the VM, such as /etc/sandboxer/capabilities.json"),
        );
    }
    for (i, pattern) in profile.sync.excludes.iter().enumerate() {
        if let Err(e) = crate::repo::Excludes::check(pattern) {
            let key = format!("sync.excludes[{i}]");
            return Err(Diagnostic::new(path, at(&key), key, e.to_string()).with_hint(e.hint()));
        }
    }
    let mut profile = profile;
    profile.probes = crate::capability::Probes::of(&profile).map(std::sync::Arc::new);
    Ok(profile)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::DriverName;

    #[test]
    fn the_three_builtin_profiles_load() {
        for (path, text) in BUILTIN {
            parse(Path::new(path), text.as_bytes()).unwrap_or_else(|d| panic!("{d}"));
        }
        let catalog = Catalog::builtin();
        let names: Vec<&str> = catalog.names().collect();
        assert_eq!(
            names,
            [
                "profile.local-workspace",
                "profile.vm-haskell-build",
                "profile.vm-packer-build"
            ]
        );
        assert_eq!(
            catalog.get("profile.vm-haskell-build").map(|p| p.driver.clone()),
            Some(DriverName::SSH_WORKSPACE)
        );
        assert_eq!(
            catalog.get("profile.vm-packer-build").map(|p| p.driver.clone()),
            Some(DriverName::PACKER)
        );
        assert_eq!(
            catalog.get("profile.local-workspace").map(|p| p.driver.clone()),
            Some(DriverName::LOCAL_WORKSPACE)
        );
    }

    #[test]
    fn a_folder_profile_with_an_unknown_key_is_refused_with_its_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("p.yaml"),
            "name: profile.x\ndriver: local-workspace\nsetupp: []\n",
        )
        .expect("write");
        let mut catalog = Catalog::builtin();
        let problems = catalog.add_dir(dir.path()).expect_err("must fail");
        assert_eq!(problems[0].location.map(|l| l.line), Some(3), "{}", problems[0]);
        assert!(problems[0].message.contains("setupp"), "{}", problems[0]);
    }

    #[test]
    fn an_exclude_pattern_sandboxer_cannot_match_as_rsync_is_refused_with_its_line() {
        let text = "name: profile.x\ndriver: local-workspace\nsync:\n  excludes:\n    - .git/\n    - '+ keep/'\n";
        let d = parse(Path::new("p.yaml"), text.as_bytes()).expect_err("must fail");
        assert_eq!(d.location.map(|l| (l.line, l.column)), Some((6, 7)), "{d}");
        assert_eq!(d.key_path, "sync.excludes[1]");
        assert!(
            d.message.contains("`+ keep/`") && d.message.contains("not supported"),
            "{d}"
        );
        assert!(d.hint.is_some(), "{d}");

        let flow = "name: profile.x\ndriver: local-workspace\nsync: { excludes: [.git/, 'a[b'] }\n";
        let d = parse(Path::new("p.yaml"), flow.as_bytes()).expect_err("must fail");
        assert_eq!(d.location.map(|l| l.line), Some(3), "{d}");
        assert_eq!(d.key_path, "sync.excludes[1]");

        let fine =
            "name: profile.x\ndriver: local-workspace\nsync: { excludes: ['**/tmp', '*.[oa]', /build, 'a b/'] }\n";
        parse(Path::new("p.yaml"), fine.as_bytes()).unwrap_or_else(|d| panic!("{d}"));
    }
}
