//! Shell quoting: every remote command is built from words quoted here, never by
//! pasting an input into a command string.

/// Quotes one word for a POSIX shell: plain words stay as they are, anything else
/// goes in single quotes (with `'` written as `'\''`).
pub fn quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(b, b'/' | b'.' | b'_' | b'-' | b'=' | b':' | b',' | b'+' | b'@' | b'%')
        });
    if plain {
        return word.to_string();
    }
    let mut out = String::with_capacity(word.len() + 2);
    out.push('\'');
    for c in word.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// Quotes every word and joins them with spaces.
pub fn join<S: AsRef<str>>(words: &[S]) -> String {
    words.iter().map(|w| quote(w.as_ref())).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// What `sh` makes of a quoted word: it must be the word itself.
    fn through_sh(word: &str) -> String {
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!("printf %s {}", quote(word)))
            .output()
            .expect("sh runs");
        String::from_utf8(out.stdout).expect("utf-8")
    }

    #[test]
    fn plain_words_stay_plain() {
        assert_eq!(quote("/build/sbx-abc"), "/build/sbx-abc");
        assert_eq!(quote("--exclude=dist-newstyle/"), "--exclude=dist-newstyle/");
    }

    #[test]
    fn everything_else_survives_the_shell_unchanged() {
        for word in [
            "",
            "with space",
            "it's",
            "$(touch /tmp/pwned)",
            "`id`",
            "a;b && c || d",
            "*",
            "~root",
            "back\\slash",
            "quote\"double",
            "ünïcødé ✓",
            "new\nline",
            "-n",
            "'''",
        ] {
            assert_eq!(through_sh(word), word, "word {word:?} quoted as {}", quote(word));
        }
    }

    #[test]
    fn join_quotes_each_word() {
        assert_eq!(join(&["mkdir", "-p", "/build/a b"]), "mkdir -p '/build/a b'");
    }
}
