//! Sync excludes with rsync's meaning for the common forms, so the native copy and
//! `rsync --exclude` leave out the same files:
//!
//! - `name` or `*.o`: a file or folder with that name at any depth;
//! - `dir/`: only folders of that name;
//! - `/top` or `a/b`: a path from the repo root.
//!
//! Wildcards: `*` (within one path segment) and `?`.

/// A compiled list of exclude patterns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Excludes {
    patterns: Vec<Pattern>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    glob: String,
    dir_only: bool,
    anchored: bool,
}

impl Excludes {
    /// Compiles patterns as written in a profile.
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Self {
        let patterns = patterns
            .iter()
            .map(|p| {
                let mut glob = p.as_ref().trim();
                let dir_only = glob.ends_with('/');
                glob = glob.trim_end_matches('/');
                let anchored = glob.contains('/');
                Pattern {
                    glob: glob.trim_start_matches('/').to_string(),
                    dir_only,
                    anchored,
                }
            })
            .filter(|p| !p.glob.is_empty())
            .collect();
        Excludes { patterns }
    }

    /// Whether the entry at `relative` (`/`-separated, from the repo root) is left out.
    pub fn is_excluded(&self, relative: &str, is_dir: bool) -> bool {
        let name = relative.rsplit('/').next().unwrap_or(relative);
        self.patterns.iter().any(|p| {
            if p.dir_only && !is_dir {
                return false;
            }
            if p.anchored {
                glob_match(&p.glob, relative)
            } else {
                glob_match(&p.glob, name)
            }
        })
    }
}

/// `*` matches within a segment, `?` one character.
fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' && t[ti] != '/' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star
            && t[st] != '/'
        {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_at_any_depth() {
        let e = Excludes::new(&["dist-newstyle/", "*.o", ".git/"]);
        assert!(e.is_excluded("dist-newstyle", true));
        assert!(e.is_excluded("sub/dist-newstyle", true));
        assert!(!e.is_excluded("dist-newstyle", false), "dir-only pattern");
        assert!(e.is_excluded("src/Main.o", false));
        assert!(!e.is_excluded("src/Main.hs", false));
        assert!(e.is_excluded(".git", true));
    }

    #[test]
    fn anchored_patterns_match_from_the_root() {
        let e = Excludes::new(&["/build", "docs/*.pdf"]);
        assert!(e.is_excluded("build", true));
        assert!(!e.is_excluded("src/build", true));
        assert!(e.is_excluded("docs/a.pdf", false));
        assert!(!e.is_excluded("docs/sub/a.pdf", false));
    }

    #[test]
    fn star_stays_within_a_segment() {
        assert!(glob_match("a*c", "abbc"));
        assert!(!glob_match("a*c", "ab/c"));
        assert!(glob_match("*", "anything"));
        assert!(glob_match("?.hs", "A.hs"));
    }
}
