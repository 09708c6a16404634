//! The capability catalog on disk: one file per VM, `<folder>/<name>.json`,
//! in the `vms/` folder of an embedded state folder and of the State Hub's data
//! folder alike; and the checks an entry passes before either stores it.
//!
//! The catalog is an observation cache, not state: files are written whole
//! (atomically), the last write wins, and a file that cannot be read is
//! skipped with a warning rather than failing whoever reads the catalog.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::capability::{Capability, VmCapabilities, is_capability_name};
use crate::safety::{Refused, printable};

/// The most values one entry holds: capabilities, free-disk roots and
/// capabilities files together.
pub const VM_VALUES_MAX: usize = 1000;

/// The longest text in an entry, in bytes: a value, detail, source or time,
/// a root or a file's path or what was made of it.
pub const VM_TEXT_MAX: usize = 4096;

/// The longest VM name: `.<name>.json.tmp-<pid>`, the temporary name its file
/// is written under, must fit a file name (255 bytes).
pub const VM_NAME_MAX: usize = 200;

/// A VM's name as the catalog keys it: an ssh alias (letters, digits, `.`, `_`
/// and `-`, not starting with `-`) that does not start with `.` either (no
/// `.`, `..` or hidden file name), at most [`VM_NAME_MAX`] characters. It is
/// used as a file name and in URLs.
pub fn check_vm_name(name: &str) -> Result<(), Refused> {
    crate::safety::check_ssh_alias(name)?;
    if name.starts_with('.') {
        return Err(Refused("must not start with `.`".into()));
    }
    if name.len() > VM_NAME_MAX {
        return Err(Refused(format!("longer than {VM_NAME_MAX} characters")));
    }
    Ok(())
}

/// At most 64 characters of `s`, escaped, for an error message: what is
/// refused may be long or hostile.
pub(crate) fn shown(s: &str) -> String {
    let mut text: String = s.chars().take(64).collect();
    if text.len() < s.len() {
        text.push('…');
    }
    printable(&text)
}

fn check_text(what: &str, text: &str) -> Result<(), Refused> {
    if text.len() > VM_TEXT_MAX {
        return Err(Refused(format!(
            "{what} is {} bytes, more than {VM_TEXT_MAX}",
            text.len()
        )));
    }
    Ok(())
}

fn check_capability(what: &str, c: &Capability) -> Result<(), Refused> {
    check_text(&format!("the source of {what}"), &c.source)?;
    check_text(&format!("the time of {what}"), &c.observed_at)?;
    if let Some(value) = &c.value {
        check_text(&format!("the value of {what}"), value)?;
    }
    if let Some(detail) = &c.detail {
        check_text(&format!("the detail of {what}"), detail)?;
    }
    Ok(())
}

/// Whether `entry` may be stored: a VM name, capability names, at most
/// [`VM_VALUES_MAX`] values and no text longer than [`VM_TEXT_MAX`] bytes.
pub fn check_vm_entry(entry: &VmCapabilities) -> Result<(), Refused> {
    check_vm_name(&entry.name).map_err(|e| Refused(format!("VM name `{}`: {e}", shown(&entry.name))))?;
    check_text("observed_at", &entry.observed_at)?;
    let count = entry.capabilities.len() + entry.free_disk.len() + entry.files.len();
    if count > VM_VALUES_MAX {
        return Err(Refused(format!(
            "{count} values (capabilities, free_disk and files together), more than {VM_VALUES_MAX}"
        )));
    }
    for (name, c) in &entry.capabilities {
        if !is_capability_name(name) {
            return Err(Refused(format!(
                "capability name `{}` is not 1-63 lowercase letters, digits, `_` and `-`, starting with a letter",
                shown(name)
            )));
        }
        check_capability(&format!("capability {name}"), c)?;
    }
    for (root, c) in &entry.free_disk {
        check_text("a free_disk root", root)?;
        check_capability(&format!("free_disk {}", shown(root)), c)?;
    }
    for (path, what) in &entry.files {
        check_text("a capabilities file's path", path)?;
        check_text(&format!("what was made of file {}", shown(path)), what)?;
    }
    Ok(())
}

/// The file of VM `name` in the catalog folder `dir` (check the name first).
pub fn vm_file(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.json"))
}

/// Writes `entry` to its file in `dir` (which must exist), atomically and
/// never through a link. Check the entry first.
pub fn write_vm(dir: &Path, entry: &VmCapabilities) -> io::Result<()> {
    let bytes = serde_json::to_vec_pretty(entry).map_err(io::Error::other)?;
    crate::fsutil::write_atomic(&vm_file(dir, &entry.name), &bytes)
}

/// Every entry in the catalog folder `dir`, by name; none when the folder does
/// not exist. A file that is not `<VM name>.json`, is a link or not a regular
/// file, cannot be read, is larger than [`crate::fsutil::MAX_INPUT_BYTES`], does not parse or
/// holds another VM's entry is skipped with a warning: the catalog is probed
/// again, so a bad file must not stop a command. Only the folder failing to
/// list is an error.
pub fn read_vms(dir: &Path) -> io::Result<BTreeMap<String, VmCapabilities>> {
    let listing = match fs::read_dir(dir) {
        Ok(listing) => listing,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(e),
    };
    let mut found = BTreeMap::new();
    for item in listing {
        let item = item?;
        let path = item.path();
        let file_name = item.file_name();
        let Some(name) = file_name.to_str().and_then(|n| n.strip_suffix(".json")) else {
            // Temporary files of a write in flight, and anything else that is no entry.
            continue;
        };
        match read_entry(&path, name) {
            Ok(entry) => {
                found.insert(name.to_string(), entry);
            }
            Err(why) => tracing::warn!("VM catalog: skipping {}: {why}", path.display()),
        }
    }
    Ok(found)
}

/// The entry in `path`, which must be VM `name`'s.
fn read_entry(path: &Path, name: &str) -> Result<VmCapabilities, String> {
    check_vm_name(name).map_err(|e| format!("not a VM's file name ({e})"))?;
    let bytes = crate::fsutil::read_input_bytes_nofollow(path).map_err(|e| e.to_string())?;
    let entry: VmCapabilities = serde_json::from_slice(&bytes).map_err(|e| format!("not a catalog entry: {e}"))?;
    if entry.name != name {
        return Err(format!("it holds the entry of VM `{}`", shown(&entry.name)));
    }
    Ok(entry)
}

/// An entry of VM `name` with one capability, for tests of the stores.
#[cfg(test)]
pub(crate) fn test_entry(name: &str) -> VmCapabilities {
    let at = "2026-01-01T00:00:00Z";
    VmCapabilities {
        name: name.into(),
        observed_at: at.into(),
        capabilities: [("ghc".to_string(), Capability::present("9.6.4", "probe", at))].into(),
        free_disk: [("/build".to_string(), Capability::present("1000", "fact", at))].into(),
        files: BTreeMap::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_names_are_ssh_aliases_that_make_a_file_name() {
        for ok in ["vm1", "build-01.example.com", "a_b", "V"] {
            assert!(check_vm_name(ok).is_ok(), "{ok}");
        }
        let long = "a".repeat(VM_NAME_MAX + 1);
        for bad in [
            "",
            ".",
            "..",
            ".hidden",
            "-o",
            "a/b",
            "../x",
            "a b",
            "a\n",
            long.as_str(),
        ] {
            assert!(check_vm_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn an_entry_is_refused_for_a_bad_capability_name_too_many_values_or_a_long_text() {
        assert_eq!(check_vm_entry(&test_entry("vm1")), Ok(()));

        let mut bad_name = test_entry("vm1");
        bad_name
            .capabilities
            .insert("GHC;rm".into(), bad_name.capabilities["ghc"].clone());
        let refused = check_vm_entry(&bad_name).expect_err("a bad capability name");
        assert!(refused.0.contains("capability name `GHC;rm`"), "{refused}");

        let mut many = test_entry("vm1");
        for i in 0..VM_VALUES_MAX {
            many.files.insert(format!("/etc/f{i}"), "read".into());
        }
        let refused = check_vm_entry(&many).expect_err("too many values");
        assert!(refused.0.contains("1002 values"), "{refused}");

        let mut long = test_entry("vm1");
        if let Some(ghc) = long.capabilities.get_mut("ghc") {
            ghc.detail = Some("x".repeat(VM_TEXT_MAX + 1));
        }
        let refused = check_vm_entry(&long).expect_err("a long detail");
        assert!(
            refused.0.contains("the detail of capability ghc is 4097 bytes"),
            "{refused}"
        );

        let mut long_root = test_entry("vm1");
        long_root
            .free_disk
            .insert("/".repeat(VM_TEXT_MAX + 1), Capability::present("1", "fact", "t"));
        assert!(check_vm_entry(&long_root).is_err());

        assert!(check_vm_entry(&test_entry("../etc")).is_err());
    }
}
