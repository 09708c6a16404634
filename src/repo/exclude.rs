//! Sync excludes with exactly the meaning `rsync --exclude=PATTERN` gives them
//! (rsync's man page, "PATTERN MATCHING RULES"), so the native copy, the repo
//! digest and rsync to a VM leave out the same files. `docs/sync.md` has the
//! rules as a table.
//!
//! A pattern is matched against each entry's path from the repo root, bytes as
//! they are:
//!
//! - a trailing `/` limits it to folders (not files, not links);
//! - a leading `/` anchors it: it must match the whole path;
//! - without a `/` (other than a trailing one) and without `**`, it must match
//!   the entry's name, at any depth;
//! - with a `/` inside (and no `**`), it must match the last components of the
//!   path, as many as it has: `docs/*.pdf` matches `docs/a.pdf` and
//!   `sub/docs/a.pdf`, not `docs/sub/a.pdf`;
//! - with `**` it must match the whole path or a part of it that starts after a
//!   `/`; one that starts with `**` matches `/` followed by the path;
//! - a trailing `/***` matches the folder itself and everything below it.
//!
//! Wildcards (only when the pattern has a `*`, `?` or `[`): `?` is any byte but
//! `/`, `*` any bytes but `/`, `**` (or more stars) any bytes, `[...]` one byte
//! of a class (`[!...]`/`[^...]` negated, `a-z` ranges, `[:alpha:]` and the
//! other POSIX classes in ASCII), never `/`; `\` makes the next byte literal.
//! Without a wildcard the pattern is literal, backslashes included.
//!
//! [`Excludes::is_excluded`] answers for one entry, as rsync does for each name
//! it meets; rsync does not look inside an excluded folder, so a walk that skips
//! excluded folders leaves out everything below them ([`Excludes::is_left_out`]
//! answers that for any path).
//!
//! Patterns that rsync would read as rules rather than as patterns (`+ `, `- `,
//! `!`) or refuse (an empty one), and patterns that are almost surely mistakes
//! (whitespace at an end, control characters, forms that can match nothing) are
//! refused by [`Excludes::check`], which `validate` runs on every profile.

use std::fmt;

/// A compiled list of exclude patterns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Excludes {
    rules: Vec<Rule>,
}

/// One pattern, compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    tokens: Vec<Token>,
    /// Trailing `/`: folders only.
    dir_only: bool,
    /// What part of the path the tokens must match.
    scope: Scope,
    /// The pattern starts with `**`: it is matched against `/` + path.
    slash_before: bool,
    /// The pattern ends with `***`: a folder is matched as path + `/`.
    slash_after_dir: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// The last component (the entry's name).
    Name,
    /// The whole path.
    Path,
    /// The last N components of the path (a path with fewer never matches).
    LastComponents(usize),
    /// The whole path or any part of it that starts after a `/`.
    AnyStart,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// This byte.
    Byte(u8),
    /// `?`: any byte but `/`.
    One,
    /// `*`: any bytes but `/`.
    Star,
    /// `**`, `***`, ...: any bytes.
    AnyStar,
    /// `[...]`: one byte of the set (never `/`).
    Class(ByteSet),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct ByteSet([u64; 4]);

impl ByteSet {
    fn insert(&mut self, b: u8) {
        self.0[usize::from(b >> 6)] |= 1 << (b & 63);
    }

    fn contains(&self, b: u8) -> bool {
        self.0[usize::from(b >> 6)] & (1 << (b & 63)) != 0
    }
}

/// A pattern refused at `validate` time: what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError {
    pattern: String,
    problem: Problem,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Problem {
    Empty,
    IncludePrefix,
    ExcludePrefix,
    Bang,
    LeadingWhitespace,
    TrailingWhitespace,
    ControlCharacter,
    NoName,
    DoubleSlash,
    UnclosedClass,
    UnknownClass(String),
    TrailingBackslash,
}

const CLASS_NAMES: &str = "[:alnum:], [:alpha:], [:blank:], [:cntrl:], [:digit:], [:graph:], [:lower:], [:print:], [:punct:], [:space:], [:upper:], [:xdigit:]";

impl PatternError {
    /// What to do about it.
    pub fn hint(&self) -> String {
        match &self.problem {
            Problem::Empty => "remove the empty entry".into(),
            Problem::IncludePrefix => {
                "list only what to leave out; to keep something another pattern catches, narrow that \
                 pattern (anchor it with a leading `/`, or give more of its path: `a/x` instead of `x`)"
                    .into()
            }
            Problem::ExcludePrefix if self.pattern.len() == 2 => "remove it".into(),
            Problem::ExcludePrefix => format!(
                "every entry of sync.excludes already is an exclude: write `{}`",
                &self.pattern[2..]
            ),
            Problem::Bang if self.pattern == "!" => "remove it".into(),
            Problem::Bang => format!(
                "there is no negation: narrow the other patterns instead; a name that starts with `!` is matched by `[\\!]{}`",
                &self.pattern[1..]
            ),
            Problem::LeadingWhitespace | Problem::TrailingWhitespace => {
                "remove it; a name that really starts or ends with a space is matched by writing `[ ]` for that space"
                    .into()
            }
            Problem::ControlCharacter => "write `?` in its place (any one byte but `/`)".into(),
            Problem::NoName => {
                "write a name: `/build` is the top-level `build`, `build/` every folder called `build`".into()
            }
            Problem::DoubleSlash => "write one `/` between names".into(),
            Problem::UnclosedClass => "close the class (`*.[oa]`) or write a literal `[` as `\\[`".into(),
            Problem::UnknownClass(_) => format!("the classes rsync knows are {CLASS_NAMES}"),
            Problem::TrailingBackslash => "remove it, or write `\\\\` for a literal backslash".into(),
        }
    }
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = self.pattern.escape_debug();
        match &self.problem {
            Problem::Empty => write!(
                f,
                "an exclude pattern is empty; rsync stops at it (\"unexpected end of filter rule\")"
            ),
            Problem::IncludePrefix => write!(
                f,
                "exclude pattern `{p}` starts with `+ `, rsync's include prefix; include/exclude modifiers (`+ `, `- `, `!`) are not supported"
            ),
            Problem::ExcludePrefix => write!(
                f,
                "exclude pattern `{p}` starts with `- `, rsync's exclude prefix; include/exclude modifiers (`+ `, `- `, `!`) are not supported"
            ),
            Problem::Bang => write!(
                f,
                "exclude pattern `{p}` starts with `!`, which rsync reads as a rule (a lone `!` clears the list), not as a negation; include/exclude modifiers (`+ `, `- `, `!`) are not supported"
            ),
            Problem::LeadingWhitespace => write!(
                f,
                "exclude pattern `{p}` starts with whitespace, which rsync keeps as part of the name"
            ),
            Problem::TrailingWhitespace => write!(
                f,
                "exclude pattern `{p}` ends with whitespace, which rsync keeps as part of the name"
            ),
            Problem::ControlCharacter => write!(f, "exclude pattern `{p}` contains a control character"),
            Problem::NoName => write!(
                f,
                "exclude pattern `{p}` names no file or folder, so it leaves nothing out"
            ),
            Problem::DoubleSlash => write!(
                f,
                "exclude pattern `{p}` contains `//`, which no path has, so it leaves nothing out"
            ),
            Problem::UnclosedClass => write!(
                f,
                "exclude pattern `{p}` has a `[` that no `]` closes, so rsync leaves nothing out with it"
            ),
            Problem::UnknownClass(name) => write!(
                f,
                "exclude pattern `{p}` uses `[:{}:]`, which is no character class rsync knows, so rsync leaves nothing out with it",
                name.escape_debug()
            ),
            Problem::TrailingBackslash => write!(
                f,
                "exclude pattern `{p}` ends with a `\\` that escapes nothing, so rsync leaves nothing out with it"
            ),
        }
    }
}

impl std::error::Error for PatternError {}

impl Excludes {
    /// Compiles patterns as written in a profile. A pattern [`Excludes::check`]
    /// refuses for being an rsync rule rather than a pattern (`+ `, `- `, `!`, an
    /// empty one) leaves nothing out; every other pattern keeps its rsync meaning,
    /// including those refused because they can match nothing.
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Self {
        let rules = patterns.iter().filter_map(|p| Rule::compile(p.as_ref()).ok()).collect();
        Excludes { rules }
    }

    /// Whether sandboxer takes `pattern` as a sync exclude: `Ok` means it means
    /// exactly what `rsync --exclude=PATTERN` makes of it.
    pub fn check(pattern: &str) -> Result<(), PatternError> {
        let error = |problem| {
            Err(PatternError {
                pattern: pattern.to_string(),
                problem,
            })
        };
        if let Some(problem) = rule_problem(pattern) {
            return error(problem);
        }
        if pattern.chars().any(char::is_control) {
            return error(Problem::ControlCharacter);
        }
        if pattern.starts_with(char::is_whitespace) {
            return error(Problem::LeadingWhitespace);
        }
        if pattern.ends_with(char::is_whitespace) {
            return error(Problem::TrailingWhitespace);
        }
        if pattern.bytes().all(|b| b == b'/') {
            return error(Problem::NoName);
        }
        if pattern.contains("//") {
            return error(Problem::DoubleSlash);
        }
        match Rule::compile(pattern) {
            Ok(_) => Ok(()),
            Err(problem) => error(problem),
        }
    }

    /// Whether the entry at `relative` (`/`-separated, from the repo root) is left
    /// out by a pattern of its own, as rsync decides for each name it meets. The
    /// folders above it are not looked at: see [`Excludes::is_left_out`].
    pub fn is_excluded(&self, relative: &str, is_dir: bool) -> bool {
        // The repo root itself is never matched, as rsync never matches the transfer root.
        !relative.is_empty() && self.rules.iter().any(|r| r.matches(relative.as_bytes(), is_dir))
    }

    /// Whether the entry at `relative` is not part of a sync: it, or one of the
    /// folders above it, is excluded (rsync does not look inside an excluded folder).
    pub fn is_left_out(&self, relative: &str, is_dir: bool) -> bool {
        relative
            .match_indices('/')
            .any(|(i, _)| self.is_excluded(&relative[..i], true))
            || self.is_excluded(relative, is_dir)
    }
}

/// The include rule that comes first in a transfer of several folders at once
/// (`rsync -R` of `<dir>/./<name>/` for each): every top-level entry is one of
/// those folders and is taken whole, whatever a name pattern (`s*`) says.
pub const TOP_FOLDERS_WHOLE: &str = "/*/";

/// `pattern` for a transfer whose root is one folder above the folders it was
/// written for, where every top-level entry is one of those folders (see
/// [`TOP_FOLDERS_WHOLE`]): the same entries of each folder are left out. An
/// anchored pattern is anchored under any top-level folder (`/x` -> `/*/x`);
/// a name (no `/` inside, no `**`) means the same at any depth. `None` for a
/// pattern that matches the last components of a path or crosses folders
/// (`docs/*.pdf`, `a/**/b`): there it could match one component more.
pub fn one_folder_down(pattern: &str) -> Option<String> {
    if let Some(rest) = pattern.strip_prefix('/') {
        Some(format!("/*/{rest}"))
    } else if pattern.trim_end_matches('/').contains('/') || pattern.contains("**") {
        None
    } else {
        Some(pattern.to_string())
    }
}

/// Patterns rsync reads as something else than a plain exclude pattern.
fn rule_problem(pattern: &str) -> Option<Problem> {
    if pattern.is_empty() {
        Some(Problem::Empty)
    } else if pattern.starts_with("+ ") {
        Some(Problem::IncludePrefix)
    } else if pattern.starts_with("- ") {
        Some(Problem::ExcludePrefix)
    } else if pattern.starts_with('!') {
        Some(Problem::Bang)
    } else {
        None
    }
}

impl Rule {
    fn compile(pattern: &str) -> Result<Rule, Problem> {
        if let Some(problem) = rule_problem(pattern) {
            return Err(problem);
        }
        let raw = pattern.as_bytes();
        let (body, dir_only) = match raw.strip_suffix(b"/") {
            Some(body) if !body.is_empty() => (body, true),
            _ => (raw, false),
        };
        let slashes = body.iter().filter(|&&b| b == b'/').count();
        let wild = body.iter().any(|b| matches!(b, b'*' | b'?' | b'['));
        // As rsync: looked for in the text as written, escaped stars included.
        let double_star = wild && body.windows(2).any(|w| w == b"**");
        let starts_double = double_star && body.starts_with(b"**");
        let ends_triple = double_star && body.ends_with(b"***");
        let anchored = body.first() == Some(&b'/');
        let glob = if anchored { &body[1..] } else { body };
        let tokens = if wild {
            compile_glob(glob)?
        } else {
            glob.iter().map(|&b| Token::Byte(b)).collect()
        };
        let scope = if slashes == 0 && !double_star {
            Scope::Name
        } else if !anchored && !double_star {
            Scope::LastComponents(slashes + 1)
        } else if !anchored && !starts_double {
            Scope::AnyStart
        } else {
            Scope::Path
        };
        Ok(Rule {
            tokens,
            dir_only,
            scope,
            slash_before: starts_double,
            slash_after_dir: ends_triple,
        })
    }

    fn matches(&self, relative: &[u8], is_dir: bool) -> bool {
        if self.dir_only && !is_dir {
            return false;
        }
        let subject = match self.scope {
            Scope::Name => relative.rsplit(|&b| b == b'/').next().unwrap_or(relative),
            _ => relative,
        };
        let slash_after = is_dir && self.slash_after_dir;
        let joined;
        let text = if self.slash_before || slash_after {
            let mut t = Vec::with_capacity(subject.len() + 2);
            if self.slash_before {
                t.push(b'/');
            }
            t.extend_from_slice(subject);
            if slash_after {
                t.push(b'/');
            }
            joined = t;
            joined.as_slice()
        } else {
            subject
        };
        match self.scope {
            Scope::Name | Scope::Path => run(&self.tokens, text, false),
            Scope::LastComponents(n) => last_components(text, n).is_some_and(|t| run(&self.tokens, t, false)),
            Scope::AnyStart => run(&self.tokens, text, true),
        }
    }
}

/// The last `n` `/`-separated components of `text`; `None` if it has fewer.
fn last_components(text: &[u8], n: usize) -> Option<&[u8]> {
    let mut seen = 0;
    for (i, &b) in text.iter().enumerate().rev() {
        if b == b'/' {
            seen += 1;
            if seen == n {
                return Some(&text[i + 1..]);
            }
        }
    }
    (seen + 1 == n).then_some(text)
}

/// Compiles a pattern with wildcards into tokens.
fn compile_glob(p: &[u8]) -> Result<Vec<Token>, Problem> {
    let mut tokens = Vec::with_capacity(p.len());
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            b'\\' => {
                i += 1;
                let b = *p.get(i).ok_or(Problem::TrailingBackslash)?;
                tokens.push(Token::Byte(b));
                i += 1;
            }
            b'?' => {
                tokens.push(Token::One);
                i += 1;
            }
            b'*' => {
                let run = p[i..].iter().take_while(|&&b| b == b'*').count();
                tokens.push(if run > 1 { Token::AnyStar } else { Token::Star });
                i += run;
            }
            b'[' => {
                let (set, next) = compile_class(p, i + 1)?;
                tokens.push(Token::Class(set));
                i = next;
            }
            b => {
                tokens.push(Token::Byte(b));
                i += 1;
            }
        }
    }
    Ok(tokens)
}

/// The class that starts at `p[start]` (just after its `[`), and the index just
/// after its closing `]`. The first byte (after a negation) is a member even when
/// it is `]`; `-` between two bytes makes a range; `\` makes the next byte a
/// member; `[:name:]` adds a POSIX class; a `[` not followed by a valid `:name:]`
/// is a member.
fn compile_class(p: &[u8], start: usize) -> Result<(ByteSet, usize), Problem> {
    let mut i = start;
    let mut set = ByteSet([0; 4]);
    let negated = matches!(p.get(i), Some(b'!' | b'^'));
    if negated {
        i += 1;
    }
    // The previous member byte, for a range; none after a range or a named class.
    let mut prev: Option<u8> = None;
    loop {
        let b = *p.get(i).ok_or(Problem::UnclosedClass)?;
        let mut member = Some(b);
        if b == b'\\' {
            i += 1;
            let e = *p.get(i).ok_or(Problem::UnclosedClass)?;
            set.insert(e);
            member = Some(e);
        } else if let (b'-', Some(low), Some(&next)) = (b, prev, p.get(i + 1))
            && next != b']'
        {
            i += 1;
            let mut high = next;
            if high == b'\\' {
                i += 1;
                high = *p.get(i).ok_or(Problem::UnclosedClass)?;
            }
            for c in low..=high {
                set.insert(c);
            }
            member = None;
        } else if b == b'[' && p.get(i + 1) == Some(&b':') {
            let names = i + 2;
            let close = names
                + p[names..]
                    .iter()
                    .position(|&c| c == b']')
                    .ok_or(Problem::UnclosedClass)?;
            if close > names && p[close - 1] == b':' {
                let name = &p[names..close - 1];
                let test = named_class(name)
                    .ok_or_else(|| Problem::UnknownClass(String::from_utf8_lossy(name).into_owned()))?;
                for c in 0..=255u8 {
                    if test(c) {
                        set.insert(c);
                    }
                }
                i = close;
                member = None;
            } else {
                set.insert(b'[');
            }
        } else {
            set.insert(b);
        }
        prev = member;
        i += 1;
        if p.get(i) == Some(&b']') {
            break;
        }
    }
    if negated {
        for word in &mut set.0 {
            *word = !*word;
        }
    }
    // A class never matches `/`, negated or not.
    set.0[0] &= !(1 << b'/');
    Ok((set, i + 1))
}

/// The POSIX classes, in the C locale.
fn named_class(name: &[u8]) -> Option<fn(u8) -> bool> {
    Some(match name {
        b"alnum" => |c: u8| c.is_ascii_alphanumeric(),
        b"alpha" => |c: u8| c.is_ascii_alphabetic(),
        b"blank" => |c: u8| c == b' ' || c == b'\t',
        b"cntrl" => |c: u8| c.is_ascii_control(),
        b"digit" => |c: u8| c.is_ascii_digit(),
        b"graph" => |c: u8| c.is_ascii_graphic(),
        b"lower" => |c: u8| c.is_ascii_lowercase(),
        b"print" => |c: u8| c.is_ascii_graphic() || c == b' ',
        b"punct" => |c: u8| c.is_ascii_punctuation(),
        b"space" => |c: u8| matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'),
        b"upper" => |c: u8| c.is_ascii_uppercase(),
        b"xdigit" => |c: u8| c.is_ascii_hexdigit(),
        _ => return None,
    })
}

/// Whether `tokens` match all of `text` (or, with `any_start`, all of a part of
/// it that starts at its beginning or after a `/`): a set of positions in the
/// pattern moved along the text one byte at a time, so any pattern takes time
/// proportional to its length times the text's.
fn run(tokens: &[Token], text: &[u8], any_start: bool) -> bool {
    let n = tokens.len();
    let words = (n + 1).div_ceil(64);
    let mut inline = [0u64; 8];
    let mut heap = Vec::new();
    let (mut current, mut next) = if words <= 4 {
        let (a, b) = inline.split_at_mut(4);
        (&mut a[..words], &mut b[..words])
    } else {
        heap.resize(2 * words, 0u64);
        heap.split_at_mut(words)
    };
    let set = |s: &mut [u64], i: usize| s[i / 64] |= 1 << (i % 64);
    let get = |s: &[u64], i: usize| s[i / 64] & (1 << (i % 64)) != 0;
    // A star may match nothing: being before it is being after it too.
    let close = |s: &mut [u64]| {
        for (i, token) in tokens.iter().enumerate() {
            if matches!(token, Token::Star | Token::AnyStar) && get(s, i) {
                set(s, i + 1);
            }
        }
    };
    set(current, 0);
    close(current);
    for &c in text {
        next.fill(0);
        for (i, token) in tokens.iter().enumerate() {
            if !get(current, i) {
                continue;
            }
            match token {
                Token::Byte(b) if *b == c => set(next, i + 1),
                Token::One if c != b'/' => set(next, i + 1),
                Token::Class(s) if s.contains(c) => set(next, i + 1),
                Token::Star if c != b'/' => set(next, i),
                Token::AnyStar => set(next, i),
                _ => {}
            }
        }
        if any_start && c == b'/' {
            set(next, 0);
        }
        close(next);
        std::mem::swap(&mut current, &mut next);
        if !any_start && current.iter().all(|&w| w == 0) {
            return false;
        }
    }
    get(current, n)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether wildcard pattern `pattern` matches all of `text`.
    fn glob_match(pattern: &str, text: &str) -> bool {
        compile_glob(pattern.as_bytes()).is_ok_and(|t| run(&t, text.as_bytes(), false))
    }

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

    /// `(relative, is_dir)` entries a pattern must leave out and entries it must keep.
    fn assert_pattern(pattern: &str, out: &[(&str, bool)], kept: &[(&str, bool)]) {
        let e = Excludes::new(&[pattern]);
        for (path, is_dir) in out {
            assert!(
                e.is_excluded(path, *is_dir),
                "{pattern:?} must leave out {path:?} (dir: {is_dir})"
            );
        }
        for (path, is_dir) in kept {
            assert!(
                !e.is_excluded(path, *is_dir),
                "{pattern:?} must keep {path:?} (dir: {is_dir})"
            );
        }
    }

    const F: bool = false;
    const D: bool = true;

    #[test]
    fn a_pattern_without_a_slash_matches_names_at_any_depth() {
        assert_pattern(
            "*.log",
            &[("a.log", F), ("x/y/a.log", F), ("d.log", D)],
            &[("a.log.1", F), ("log", F)],
        );
        assert_pattern(
            "tmp",
            &[("tmp", F), ("tmp", D), ("a/b/tmp", D)],
            &[("tmpx", D), ("a/tmp2", F)],
        );
        assert_pattern("a b.txt", &[("a b.txt", F), ("x/a b.txt", F)], &[("a  b.txt", F)]);
    }

    #[test]
    fn a_trailing_slash_means_folders_only() {
        assert_pattern(
            "build/",
            &[("build", D), ("src/build", D)],
            &[("build", F), ("src/build", F)],
        );
        assert_pattern("/build/", &[("build", D)], &[("build", F), ("src/build", D)]);
        assert_pattern("*/", &[("a", D), ("a/b", D)], &[("a", F), ("a/b", F)]);
    }

    #[test]
    fn a_leading_slash_anchors_at_the_root() {
        assert_pattern(
            "/build",
            &[("build", F), ("build", D)],
            &[("src/build", D), ("buildx", D)],
        );
        assert_pattern("/src/build", &[("src/build", F)], &[("x/src/build", F), ("build", F)]);
        assert_pattern("/*.c", &[("main.c", F)], &[("src/main.c", F)]);
    }

    #[test]
    fn a_slash_inside_matches_the_last_components_of_the_path() {
        assert_pattern(
            "docs/*.pdf",
            &[("docs/a.pdf", F), ("sub/docs/a.pdf", F), ("a/b/docs/c.pdf", F)],
            &[("docs/sub/a.pdf", F), ("a.pdf", F), ("xdocs/a.pdf", F)],
        );
        assert_pattern(
            "a/b",
            &[("a/b", F), ("x/a/b", D)],
            &[("a/b/c", F), ("xa/b", F), ("b", F)],
        );
        assert_pattern("*/tmp", &[("a/tmp", D), ("x/a/tmp", D)], &[("tmp", D)]);
    }

    #[test]
    fn star_does_not_cross_a_slash_and_double_star_does() {
        assert_pattern(
            "a*b",
            &[("ab", F), ("a-x-b", F), ("d/axb", F)],
            &[("a/b", F), ("a/x/b", F)],
        );
        assert_pattern("/a*", &[("abc", D)], &[("x/abc", F), ("abc/d", F)]);
        assert_pattern("/a**", &[("abc", D), ("abc/d", F), ("a/b/c", F)], &[("x/abc", F)]);
        assert_pattern(
            "a**b",
            &[("ab", F), ("a/x/b", F), ("q/a/b", F), ("axb", F)],
            &[("ba", F)],
        );
    }

    #[test]
    fn double_star_patterns_match_after_any_slash_or_from_a_leading_slash() {
        // Starts with `**`: matched against `/` + path, so the top level counts.
        assert_pattern(
            "**/tmp",
            &[("tmp", D), ("tmp", F), ("a/tmp", D), ("a/b/tmp", F)],
            &[("atmp", F), ("tmp/x", F)],
        );
        // Anchored: `/**/tmp` needs a folder above.
        assert_pattern("/**/tmp", &[("a/tmp", D), ("a/b/tmp", F)], &[("tmp", D)]);
        assert_pattern(
            "a/**/b",
            &[("a/x/b", F), ("a/x/y/b", D), ("q/a/z/b", F)],
            &[("a/b", F), ("a/x/bb", F), ("xa/y/b", F)],
        );
        assert_pattern("tmp/**", &[("tmp/x", F), ("a/tmp/x/y", F)], &[("tmp", D)]);
        assert_pattern("**", &[("a", F), ("a/b", D)], &[]);
    }

    #[test]
    fn triple_star_matches_a_folder_and_what_is_below_it() {
        assert_pattern(
            "src/tmp/***",
            &[("src/tmp", D), ("src/tmp/x", F), ("a/src/tmp", D)],
            &[("src/tmp", F)],
        );
        assert_pattern(
            "/docs/***",
            &[("docs", D), ("docs/a/b", F)],
            &[("x/docs", D), ("docs", F)],
        );
    }

    #[test]
    fn question_mark_is_one_byte_but_not_a_slash() {
        assert_pattern("?.txt", &[("a.txt", F), ("d/b.txt", F)], &[("ab.txt", F), (".txt", F)]);
        // One byte, not one character: é is two bytes in UTF-8, as rsync sees it.
        assert_pattern("?.txt", &[], &[("é.txt", F)]);
        assert_pattern("??.txt", &[("é.txt", F)], &[]);
        assert_pattern("a?b", &[("axb", F)], &[("a/b", F)]);
    }

    #[test]
    fn classes_match_one_byte_of_a_set_never_a_slash() {
        assert_pattern("*.[oa]", &[("x.o", F), ("d/lib.a", F)], &[("x.c", F), ("x.oa", F)]);
        assert_pattern("*.[!o]", &[("x.c", F), ("x.a", F)], &[("x.o", F), ("x.cc", F)]);
        assert_pattern("*.[^o]", &[("x.c", F)], &[("x.o", F)]);
        assert_pattern("[a-c]*", &[("apple", F), ("c", F)], &[("d", F), ("A", F)]);
        assert_pattern("[]x]*", &[("]y", F), ("xy", F)], &[("y", F)]);
        assert_pattern("[!]]*", &[("y", F)], &[("]y", F)]);
        assert_pattern("[a-]*", &[("-x", F), ("ax", F)], &[("bx", F)]);
        assert_pattern("[\\]]", &[("]", F)], &[("\\", F)]);
        assert_pattern("[[:upper:]]*", &[("README", F), ("Ab", F)], &[("readme", F), ("É", F)]);
        assert_pattern("[[:digit:][:space:]]", &[("1", F), (" ", F)], &[("a", F)]);
        // `[[:x]` is no class name: the `[` is a member.
        assert_pattern("[[:x]*", &[("[a", F), (":a", F), ("x", F)], &[("a", F)]);
        assert_pattern("a[!x]b", &[("ayb", F)], &[("axb", F), ("a/b", F)]);
        assert_pattern("a[/]b", &[], &[("a/b", F)]);
        assert_pattern("[[]x].txt", &[("[x].txt", F)], &[("x.txt", F)]);
        assert_pattern("[x].txt", &[("x.txt", F)], &[("[x].txt", F)]);
    }

    #[test]
    fn backslash_escapes_only_in_a_pattern_with_wildcards() {
        assert_pattern("\\[x\\].txt", &[("[x].txt", F)], &[("x.txt", F)]);
        assert_pattern("a\\*b", &[("a*b", F)], &[("axb", F)]);
        assert_pattern("a\\*b*", &[("a*bc", F)], &[("axbc", F)]);
        // No wildcard: the backslash is a byte of the name.
        assert_pattern("back\\slash", &[("back\\slash", F)], &[("backslash", F)]);
        assert_pattern("*\\\\*", &[("back\\slash", F)], &[("backslash", F)]);
    }

    #[test]
    fn dotfiles_are_plain_names() {
        assert_pattern(".*", &[(".git", D), ("a/.env", F)], &[("a.b", F)]);
        assert_pattern("*", &[(".git", D), ("a", F)], &[]);
        assert_pattern(
            ".git/",
            &[(".git", D), ("sub/.git", D)],
            &[(".git", F), (".gitignore", F)],
        );
    }

    #[test]
    fn what_is_below_an_excluded_folder_is_left_out() {
        let e = Excludes::new(&["dist-newstyle/", "/build", "a/**/b"]);
        assert!(
            !e.is_excluded("dist-newstyle/cache/plan.json", false),
            "no pattern of its own"
        );
        assert!(e.is_left_out("dist-newstyle/cache/plan.json", false));
        assert!(e.is_left_out("x/dist-newstyle/y", true));
        assert!(e.is_left_out("build/out.o", false));
        assert!(!e.is_left_out("src/build/out.o", false));
        assert!(e.is_left_out("a/x/b/c/d", false));
        assert!(!e.is_left_out("a/b/c", false));
        assert!(!e.is_left_out("pkg/dist-newstyle", false), "a file of that name");
    }

    #[test]
    fn patterns_that_match_nothing_in_rsync_match_nothing() {
        for pattern in ["foo[", "*.[oa", "[[:nope:]]*", "[]", "*\\", "a//b", "/"] {
            let e = Excludes::new(&[pattern]);
            for (path, is_dir) in [("foo", F), ("foo[", F), ("x.o", F), ("a", D), ("a/b", F), ("*", F)] {
                assert!(!e.is_excluded(path, is_dir), "{pattern:?} left out {path:?}");
            }
        }
    }

    #[test]
    fn the_root_itself_is_never_excluded() {
        let e = Excludes::new(&["*", "**", "/**", "*/"]);
        assert!(!e.is_excluded("", true));
        assert!(e.is_excluded("a", true));
    }

    #[test]
    fn whitespace_is_part_of_the_name() {
        assert_pattern("x.txt ", &[("x.txt ", F)], &[("x.txt", F)]);
        assert_pattern(" x", &[(" x", F)], &[("x", F)]);
    }

    #[test]
    fn long_and_many_star_patterns_stay_fast_and_exact() {
        let long = "a".repeat(300);
        assert_pattern(&format!("*{long}"), &[(&format!("x{long}"), F)], &[(&long[1..], F)]);
        let stars = "*a".repeat(20) + "b";
        let text = "a".repeat(200);
        let started = std::time::Instant::now();
        assert_pattern(&stars, &[(&(text.clone() + "b"), F)], &[(&text, F)]);
        let many = "**a".repeat(20) + "b";
        assert_pattern(&many, &[(&(text.clone() + "/ab"), F)], &[(&(text + "/b"), F)]);
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
    }

    #[test]
    fn check_takes_every_form_rsync_gives_a_meaning() {
        for pattern in [
            "**/tmp",
            "*.[oa]",
            "docs/*.pdf",
            "/build",
            "dist-newstyle/",
            "a/**/b",
            "*.log",
            ".git/",
            "a b/",
            "[!x]",
            "[^x]",
            "src/***",
            "\\[x\\]",
            "-dash",
            "+plus",
            "a!",
            "[[:alpha:]]",
            "é",
        ] {
            assert_eq!(Excludes::check(pattern), Ok(()), "{pattern:?}");
        }
    }

    #[test]
    fn check_refuses_rules_and_mistakes_with_what_is_wrong_and_a_hint() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "",
                "an exclude pattern is empty; rsync stops at it (\"unexpected end of filter rule\")",
                "remove the empty entry",
            ),
            (
                "+ keep/",
                "exclude pattern `+ keep/` starts with `+ `, rsync's include prefix; include/exclude modifiers (`+ `, `- `, `!`) are not supported",
                "list only what to leave out; to keep something another pattern catches, narrow that pattern (anchor it with a leading `/`, or give more of its path: `a/x` instead of `x`)",
            ),
            (
                "- build/",
                "exclude pattern `- build/` starts with `- `, rsync's exclude prefix; include/exclude modifiers (`+ `, `- `, `!`) are not supported",
                "every entry of sync.excludes already is an exclude: write `build/`",
            ),
            (
                "!tmp",
                "exclude pattern `!tmp` starts with `!`, which rsync reads as a rule (a lone `!` clears the list), not as a negation; include/exclude modifiers (`+ `, `- `, `!`) are not supported",
                "there is no negation: narrow the other patterns instead; a name that starts with `!` is matched by `[\\!]tmp`",
            ),
            ("!", "", "remove it"),
            (
                "build/ ",
                "exclude pattern `build/ ` ends with whitespace, which rsync keeps as part of the name",
                "remove it; a name that really starts or ends with a space is matched by writing `[ ]` for that space",
            ),
            (
                " build",
                "exclude pattern ` build` starts with whitespace, which rsync keeps as part of the name",
                "",
            ),
            (
                "a\tb",
                "exclude pattern `a\\tb` contains a control character",
                "write `?` in its place (any one byte but `/`)",
            ),
            (
                "/",
                "exclude pattern `/` names no file or folder, so it leaves nothing out",
                "",
            ),
            (
                "a//b",
                "exclude pattern `a//b` contains `//`, which no path has, so it leaves nothing out",
                "",
            ),
            (
                "a[b",
                "exclude pattern `a[b` has a `[` that no `]` closes, so rsync leaves nothing out with it",
                "close the class (`*.[oa]`) or write a literal `[` as `\\[`",
            ),
            (
                "[[:word:]]",
                "exclude pattern `[[:word:]]` uses `[:word:]`, which is no character class rsync knows, so rsync leaves nothing out with it",
                "the classes rsync knows are [:alnum:], [:alpha:], [:blank:], [:cntrl:], [:digit:], [:graph:], [:lower:], [:print:], [:punct:], [:space:], [:upper:], [:xdigit:]",
            ),
            (
                "*.o\\",
                "exclude pattern `*.o\\\\` ends with a `\\` that escapes nothing, so rsync leaves nothing out with it",
                "remove it, or write `\\\\` for a literal backslash",
            ),
        ];
        for (pattern, message, hint) in cases {
            let e = Excludes::check(pattern).expect_err(pattern);
            if !message.is_empty() {
                assert_eq!(e.to_string(), *message, "{pattern:?}");
            }
            if !hint.is_empty() {
                assert_eq!(e.hint(), *hint, "{pattern:?}");
            }
        }
    }

    #[test]
    fn rules_are_left_out_of_a_list_and_the_other_patterns_still_apply() {
        let e = Excludes::new(&["+ keep", "", "!", "*.o"]);
        assert!(e.is_excluded("a.o", false));
        assert!(!e.is_excluded("keep", false));
        assert!(!e.is_excluded("!", false));
    }
}
