//! Problems found in operator input, each tied to a file, a line and a key path.
//!
//! Every check of a manifest, a profile or a command-line input reports through
//! [`Diagnostic`], so that an operator sees all problems of one run at once, in the
//! one format `FILE:LINE:COL: error: <key path>: <what is wrong>` and a hint.

use std::fmt;
use std::path::{Path, PathBuf};

/// A 1-based position in a source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Location {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

/// One problem with operator input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file the problem is in (a manifest, a profile, or `<command line>`).
    pub file: PathBuf,
    /// Where in the file, when known.
    pub location: Option<Location>,
    /// The key path, e.g. `sandboxes.app.inputs.tunnel_port`; empty for the whole file.
    pub key_path: String,
    /// What is wrong, in one sentence.
    pub message: String,
    /// What to do about it, when there is something helpful to say.
    pub hint: Option<String>,
}

impl Diagnostic {
    /// A diagnostic without a hint.
    pub fn new(
        file: &Path,
        location: Option<Location>,
        key_path: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Diagnostic {
            file: file.to_path_buf(),
            location,
            key_path: key_path.into(),
            message: message.into(),
            hint: None,
        }
    }

    /// Adds a hint.
    #[must_use]
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Adds a hint when there is one.
    #[must_use]
    pub fn with_optional_hint(mut self, hint: Option<String>) -> Self {
        if hint.is_some() {
            self.hint = hint;
        }
        self
    }
}

/// Key paths, names and messages hold what an input file says: control
/// characters in them are shown escaped, never sent to the terminal.
impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use crate::safety::printable;
        write!(f, "{}", printable(&self.file.display().to_string()))?;
        if let Some(loc) = self.location {
            write!(f, ":{}:{}", loc.line, loc.column)?;
        }
        write!(f, ": error: ")?;
        if !self.key_path.is_empty() {
            write!(f, "{}: ", printable(&self.key_path))?;
        }
        write!(f, "{}", printable(&self.message))?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {}", printable(hint))?;
        }
        Ok(())
    }
}

/// A set of diagnostics, in the order of the source.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// Sorts by file and position so the output reads top to bottom.
    pub fn sorted(mut self) -> Self {
        self.0
            .sort_by(|a, b| (&a.file, a.location, &a.key_path).cmp(&(&b.file, b.location, &b.key_path)));
        self.0.dedup();
        self
    }

    /// True when there is nothing to report.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// The closest candidate to `wrong`, if it is close enough to be a likely typo.
pub fn did_you_mean<'a>(wrong: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let mut best: Option<(usize, &str)> = None;
    for candidate in candidates {
        let distance = edit_distance(wrong, candidate);
        let limit = (candidate.len().max(wrong.len()) / 3).max(2);
        let plausible = distance <= limit || candidate.ends_with(wrong) || wrong.ends_with(candidate);
        if plausible && best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, c)| c)
}

/// Levenshtein distance over chars.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_a_close_name() {
        let names = ["profile.vm-haskell-build", "profile.local-workspace"];
        assert_eq!(
            did_you_mean("profile.vm-haskel-build", names),
            Some("profile.vm-haskell-build")
        );
        assert_eq!(
            did_you_mean("vm-haskell-build", names),
            Some("profile.vm-haskell-build")
        );
        assert_eq!(did_you_mean("something-else-entirely", names), None);
    }

    #[test]
    fn formats_file_line_column_path_and_hint() {
        let d = Diagnostic::new(
            Path::new("sandboxes.yaml"),
            Some(Location { line: 3, column: 5 }),
            "sandboxes.app.profile",
            "unknown profile `x`",
        )
        .with_hint("did you mean `y`?");
        assert_eq!(
            d.to_string(),
            "sandboxes.yaml:3:5: error: sandboxes.app.profile: unknown profile `x`\n  hint: did you mean `y`?"
        );
    }
}
