//! Requirements: `requires: {ghc: ">=9.6, <9.10", cores: ">=4", free_disk: ">=20GiB"}`.
//!
//! - `cores`: a count; `memory` and `free_disk`: sizes (`20GiB`, `512MB`, bytes
//!   without a unit). Comparators `>=`, `>`, `<=`, `<`, `=`, separated by commas,
//!   all of which must hold; a bare number or size means "at least".
//! - `os`, `arch`: the exact value (`debian`, `x86_64`).
//! - anything else (`ghc`, `os_version`, ...): a version range as Cargo writes
//!   them (the `semver` crate: `>=9.6, <9.10`, `~9.6`, `9.6` meaning `^9.6`), or
//!   `*` for "present, any value". The probed value's first version-like word
//!   is compared on its first three numbers (`3.10.2.1` as `3.10.2`).

use std::fmt;

use super::{Capability, Status};

/// A requirement that could not be read, with a hint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RequirementError {
    /// What is wrong.
    pub message: String,
    /// How to write it.
    pub hint: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Ge,
    Gt,
    Le,
    Lt,
    Eq,
}

impl Op {
    fn holds(self, found: u64, wanted: u64) -> bool {
        match self {
            Op::Ge => found >= wanted,
            Op::Gt => found > wanted,
            Op::Le => found <= wanted,
            Op::Lt => found < wanted,
            Op::Eq => found == wanted,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    /// Counts or sizes, each bound a comparator.
    Amount(Vec<(Op, u64)>),
    /// An exact value.
    Exact(String),
    /// Present with any value.
    Any,
    /// A version range.
    Version(semver::VersionReq),
}

/// One `requires:` entry, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    /// The capability.
    pub name: String,
    /// As written in the manifest.
    pub text: String,
    kind: Kind,
}

/// Whether the capability `name` is a size in bytes.
pub fn is_size(name: &str) -> bool {
    matches!(name, "memory" | "free_disk")
}

/// What a VM offers for one requirement: the capability (or none known), the
/// VM's name and, for `free_disk`, the root it was measured under.
#[derive(Debug, Clone, Copy)]
pub struct Offer<'a> {
    /// The VM.
    pub vm: &'a str,
    /// The value, when the VM (or the image that makes it) says one.
    pub capability: Option<&'a Capability>,
    /// The workspace root, for `free_disk`.
    pub root: Option<&'a str>,
}

/// Why a requirement is not met: the parts of the sentence a plan shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unmet {
    /// The capability.
    pub name: String,
    /// The requirement as written.
    pub range: String,
    /// The VM.
    pub vm: String,
    /// The value found, as people read it; none when there is none.
    pub found: Option<String>,
    /// Why there is no value (`absent`, `timed out (after 10s)`, `not known`).
    pub why: Option<String>,
    /// Where the value came from (`probe`, `provides:image.x`, ...).
    pub source: Option<String>,
}

impl fmt::Display for Unmet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = &self.name;
        match &self.found {
            Some(found) => write!(f, "{name} {found} on {} does not satisfy {}", self.vm, self.range),
            None => write!(
                f,
                "{name} is {} on {} (requires {})",
                self.why.as_deref().unwrap_or("not known"),
                self.vm,
                self.range
            ),
        }
    }
}

fn amount_hint(name: &str) -> String {
    if is_size(name) {
        format!("write {name} as comparators and sizes, e.g. `>=20GiB` or `>=8GiB, <64GiB`")
    } else {
        format!("write {name} as comparators and whole numbers, e.g. `>=4` or `>=4, <=64`")
    }
}

impl Requirement {
    /// Reads `text`, the requirement on `name`.
    pub fn parse(name: &str, text: &str) -> Result<Requirement, RequirementError> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(RequirementError {
                message: format!("the requirement on {name} is empty"),
                hint: "write a version range (`>=9.6`), `*` for any version, or remove the entry".into(),
            });
        }
        let kind = match name {
            "cores" | "memory" | "free_disk" => Kind::Amount(parse_amounts(name, trimmed)?),
            "os" | "arch" => {
                if !trimmed
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
                {
                    return Err(RequirementError {
                        message: format!("`{trimmed}` is not a value of {name}"),
                        hint: format!("{name} is matched exactly: write one word such as `debian` or `x86_64`"),
                    });
                }
                Kind::Exact(trimmed.to_string())
            }
            _ if trimmed == "*" => Kind::Any,
            _ => {
                let refused = |why: String| {
                    RequirementError {
                    message: format!("`{trimmed}` is not a version range: {why}"),
                    hint: "write comparators of numeric versions separated by commas, e.g. `>=9.6, <9.10`, or `*` for any version"
                        .into(),
                }
                };
                // Wildcards (`9.x`, `9.*`) and pre-releases are Cargo's, not a
                // tool's version: numbers only, so that a typo is not a range.
                if let Some(c) = trimmed
                    .chars()
                    .find(|c| !(c.is_ascii_digit() || matches!(c, '.' | ',' | ' ' | '<' | '>' | '=' | '^' | '~')))
                {
                    return Err(refused(format!("unexpected character `{}`", c.escape_default())));
                }
                Kind::Version(
                    semver::VersionReq::parse(&without_leading_zeros(trimmed)).map_err(|e| refused(e.to_string()))?,
                )
            }
        };
        Ok(Requirement {
            name: name.to_string(),
            text: trimmed.to_string(),
            kind,
        })
    }

    /// Why `offer` does not meet this requirement; `None` when it does.
    pub fn unmet_by(&self, offer: Offer<'_>) -> Option<Unmet> {
        self.check(offer).err().map(|unmet| *unmet)
    }

    fn check(&self, offer: Offer<'_>) -> Result<(), Box<Unmet>> {
        let unmet = |found: Option<String>, why: Option<String>| {
            Box::new(Unmet {
                name: match (&self.name[..], offer.root) {
                    ("free_disk", Some(root)) => format!("free_disk under {root}"),
                    _ => self.name.clone(),
                },
                range: self.text.clone(),
                vm: offer.vm.to_string(),
                found,
                why,
                source: offer.capability.map(|c| c.source.clone()),
            })
        };
        let Some(capability) = offer.capability else {
            return Err(unmet(None, Some("not known".into())));
        };
        let value = match (&capability.value, capability.status) {
            (Some(value), Status::Present) => value.trim(),
            _ => return Err(unmet(None, Some(capability.shown(&self.name)))),
        };
        let shown = capability.shown(&self.name);
        let met = match &self.kind {
            Kind::Any => true,
            Kind::Exact(wanted) => value == wanted,
            Kind::Amount(bounds) => match value.parse::<u64>() {
                Ok(found) => bounds.iter().all(|(op, wanted)| op.holds(found, *wanted)),
                Err(_) => false,
            },
            Kind::Version(range) => match version_in(value) {
                Some(version) => range.matches(&version),
                None => return Err(unmet(Some(format!("`{value}`")), None)),
            },
        };
        if met { Ok(()) } else { Err(unmet(Some(shown), None)) }
    }
}

fn parse_amounts(name: &str, text: &str) -> Result<Vec<(Op, u64)>, RequirementError> {
    let mut bounds = Vec::new();
    for part in text.split(',') {
        let part = part.trim();
        let (op, rest) = [
            (">=", Op::Ge),
            ("<=", Op::Le),
            (">", Op::Gt),
            ("<", Op::Lt),
            ("=", Op::Eq),
        ]
        .into_iter()
        .find_map(|(word, op)| part.strip_prefix(word).map(|rest| (op, rest.trim())))
        .unwrap_or((Op::Ge, part));
        let amount = if is_size(name) {
            parse_size(rest)
        } else {
            rest.parse::<u64>().ok()
        };
        match amount {
            Some(amount) if !rest.is_empty() => bounds.push((op, amount)),
            _ => {
                return Err(RequirementError {
                    message: format!("`{part}` is not a bound on {name}"),
                    hint: amount_hint(name),
                });
            }
        }
    }
    Ok(bounds)
}

/// `>=22.04` as `>=22.4`: tools number their versions so (Ubuntu's
/// `VERSION_ID`), which semver refuses; the probed `22.04` is read as 22.4.
fn without_leading_zeros(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let mut at_number_start = true;
    while let Some(c) = chars.next() {
        if at_number_start && c == '0' && chars.peek().is_some_and(char::is_ascii_digit) {
            continue;
        }
        at_number_start = !c.is_ascii_digit();
        out.push(c);
    }
    out
}

/// `20GiB`, `512 MB`, `1024`: bytes.
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    if !text.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    text.parse::<bytesize::ByteSize>().ok().map(|b| b.as_u64())
}

/// The first version-like word of a probe's output (`The Glorious Glasgow
/// Haskell Compilation System, version 9.4.8` -> 9.4.8), on three numbers.
pub fn version_in(text: &str) -> Option<semver::Version> {
    let start = text.find(|c: char| c.is_ascii_digit())?;
    let word: &str = text[start..]
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .next()
        .unwrap_or_default();
    let mut numbers = word.split('.').filter(|n| !n.is_empty()).map(|n| n.parse::<u64>());
    let major = numbers.next()?.ok()?;
    let minor = numbers.next().and_then(Result::ok).unwrap_or(0);
    let patch = numbers.next().and_then(Result::ok).unwrap_or(0);
    Some(semver::Version::new(major, minor, patch))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(value: &str) -> Capability {
        Capability::present(value, "probe", "2026-01-01T00:00:00Z")
    }

    fn check(name: &str, text: &str, value: &str) -> Result<(), Box<Unmet>> {
        let cap = at(value);
        Requirement::parse(name, text).expect("parses").check(Offer {
            vm: "hb",
            capability: Some(&cap),
            root: None,
        })
    }

    #[test]
    fn version_ranges_are_cargos() {
        assert!(check("ghc", ">=9.6, <9.10", "9.6.4").is_ok());
        assert!(check("ghc", ">=9.6, <9.10", "9.8.1").is_ok());
        let unmet = check("ghc", ">=9.6, <9.10", "9.4.8").expect_err("9.4 is too old");
        assert_eq!(unmet.to_string(), "ghc 9.4.8 on hb does not satisfy >=9.6, <9.10");
        assert!(check("ghc", ">=9.6, <9.10", "9.10.1").is_err());
        assert!(
            check("cabal", ">=3.10", "3.10.2.1").is_ok(),
            "four numbers compare on three"
        );
        assert!(check("ghc", "*", "anything at all").is_ok());
        assert!(check("ghc", "9.6", "9.8.2").is_ok(), "a bare version is a caret range");
        assert!(check("os_version", ">=22.04", "22.04").is_ok(), "Ubuntu's numbering");
        assert!(check("os_version", ">=22.04", "20.04").is_err());
        assert!(
            check("os_version", ">=10", "12").is_ok(),
            "a zero that ends a number stays"
        );
    }

    #[test]
    fn the_version_is_the_first_version_like_word() {
        assert_eq!(
            version_in("The Glorious Glasgow Haskell Compilation System, version 9.4.8"),
            Some(semver::Version::new(9, 4, 8))
        );
        assert_eq!(version_in("v2"), Some(semver::Version::new(2, 0, 0)));
        assert_eq!(version_in("none"), None);
        assert!(check("ghc", ">=1", "no version here").is_err_and(|u| u.found.is_some()));
    }

    #[test]
    fn counts_and_sizes_compare_as_numbers() {
        assert!(check("cores", ">=4", "8").is_ok());
        assert!(check("cores", "4", "4").is_ok(), "a bare count is at least");
        assert_eq!(
            check("cores", ">=4", "2").expect_err("2 < 4").to_string(),
            "cores 2 on hb does not satisfy >=4"
        );
        assert!(check("free_disk", ">=20GiB", &(21u64 << 30).to_string()).is_ok());
        let unmet = check("memory", ">=20GiB, <64GiB", &(8u64 << 30).to_string()).expect_err("8 GiB");
        assert_eq!(
            unmet.to_string(),
            "memory 8.0 GiB on hb does not satisfy >=20GiB, <64GiB"
        );
    }

    #[test]
    fn a_missing_value_says_why() {
        let absent = Capability::missing(Status::Absent, "exit 127", "probe", "2026-01-01T00:00:00Z");
        let req = Requirement::parse("cabal", ">=3.10").expect("parses");
        let unmet = req
            .check(Offer {
                vm: "hb",
                capability: Some(&absent),
                root: None,
            })
            .expect_err("absent");
        assert_eq!(unmet.to_string(), "cabal is absent (exit 127) on hb (requires >=3.10)");
        let unknown = req
            .check(Offer {
                vm: "hb",
                capability: None,
                root: None,
            })
            .expect_err("unknown");
        assert_eq!(unknown.to_string(), "cabal is not known on hb (requires >=3.10)");
    }

    #[test]
    fn malformed_requirements_are_refused_with_a_hint() {
        for (name, text) in [
            ("ghc", ">=9.x"),
            ("ghc", ""),
            ("cores", "many"),
            ("cores", ">="),
            ("free_disk", ">=lots"),
            ("os", "debian; rm -rf /"),
        ] {
            let e = Requirement::parse(name, text).expect_err(text);
            assert!(!e.hint.is_empty(), "{name}: {text}");
        }
        assert!(Requirement::parse("free_disk", ">= 512 MB").is_ok());
    }

    #[test]
    fn os_and_arch_match_exactly() {
        assert!(check("arch", "x86_64", "x86_64").is_ok());
        assert!(check("arch", "x86_64", "aarch64").is_err());
        assert!(check("os", "debian", "debian").is_ok());
    }
}
