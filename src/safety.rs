//! Checks for every input that may end up on a command line, in a path or in an
//! ssh invocation. Values that pass are still quoted wherever they are used; these
//! checks refuse what could never be meant (an ssh option as a host name, a path
//! that climbs out of its root, a newline inside a value).

/// Why an input is refused, in words that follow its name in a diagnostic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

impl From<Refused> for String {
    fn from(e: Refused) -> String {
        e.0
    }
}

/// Refuses NUL and line breaks, which no input has a use for.
pub fn check_no_control(s: &str) -> Result<(), Refused> {
    if s.contains('\0') {
        return Err(Refused("contains a NUL byte".into()));
    }
    if s.contains(['\n', '\r']) {
        return Err(Refused("contains a newline".into()));
    }
    Ok(())
}

/// An SSH alias or host name: `[A-Za-z0-9._-]+`, not starting with `-` (which ssh
/// would read as an option).
pub fn check_ssh_alias(s: &str) -> Result<(), Refused> {
    if s.is_empty() {
        return Err(Refused("empty host name".into()));
    }
    if s.starts_with('-') {
        return Err(Refused(
            "must not start with `-` (ssh would read it as an option)".into(),
        ));
    }
    if let Some(c) = s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(Refused(format!("character {c:?} is not allowed in a host name")));
    }
    Ok(())
}

/// An absolute path on a VM without `..` segments.
pub fn check_remote_path(s: &str) -> Result<(), Refused> {
    check_no_control(s)?;
    // Tabs and other controls would break the listing of workspaces on a VM.
    if let Some(c) = s.chars().find(|c| c.is_control()) {
        return Err(Refused(format!("contains the control character {c:?}")));
    }
    if !s.starts_with('/') {
        return Err(Refused("must be an absolute path".into()));
    }
    if s.split('/').any(|segment| segment == "..") {
        return Err(Refused("must not contain `..`".into()));
    }
    Ok(())
}

/// A project, image or sandbox name: used in addresses, paths and URLs.
/// What [`check_name`] accepts, as a JSON Schema pattern.
pub const NAME_PATTERN: &str = "^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$";

/// A profile name (`profile.<name>`), as a JSON Schema pattern.
pub const PROFILE_PATTERN: &str = "^profile\\.[A-Za-z0-9][A-Za-z0-9_-]{0,62}$";

/// A resource address (`image.<name>`, `sandbox.<name>`), as a JSON Schema pattern.
pub const ADDRESS_PATTERN: &str = "^(image|sandbox)\\.[A-Za-z0-9][A-Za-z0-9_-]{0,62}$";

/// A name: letters, digits, `_` and `-`, starting with a letter or digit, at
/// most 63 characters (so it fits a host name label and a folder name).
pub fn check_name(s: &str) -> Result<(), Refused> {
    let mut chars = s.chars();
    match chars.next() {
        None => return Err(Refused("empty name".into())),
        Some(c) if !c.is_ascii_alphanumeric() => return Err(Refused("must start with a letter or digit".into())),
        _ => {}
    }
    if let Some(c) = chars.find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))) {
        return Err(Refused(format!(
            "character {c:?} is not allowed (letters, digits, `_`, `-`)"
        )));
    }
    if s.len() > 63 {
        return Err(Refused("longer than 63 characters".into()));
    }
    Ok(())
}

/// Escapes control characters for display, so a hostile value cannot rewrite the terminal.
pub fn printable(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_aliases() {
        assert!(check_ssh_alias("haskell-build").is_ok());
        assert!(check_ssh_alias("vm1.example_2").is_ok());
        assert!(check_ssh_alias("-oProxyCommand=touch /tmp/x").is_err());
        assert!(check_ssh_alias("a;b").is_err());
        assert!(check_ssh_alias("a b").is_err());
        assert!(check_ssh_alias("$(id)").is_err());
        assert!(check_ssh_alias("").is_err());
    }

    #[test]
    fn remote_paths() {
        assert!(check_remote_path("/build/sbx-1").is_ok());
        assert!(check_remote_path("/build/with space/and 'quote'").is_ok());
        assert!(check_remote_path("build").is_err());
        assert!(check_remote_path("/build/../etc").is_err());
        assert!(check_remote_path("/build/x\n").is_err());
        assert!(check_remote_path("/build\tx").is_err());
    }

    #[test]
    fn names() {
        assert!(check_name("my-haskell-app").is_ok());
        assert!(check_name("a.b").is_err());
        assert!(check_name("-a").is_err());
    }

    #[test]
    fn printable_escapes_controls() {
        assert_eq!(printable("a\nb\u{1b}[2J"), "a\\nb\\u{1b}[2J");
    }
}
