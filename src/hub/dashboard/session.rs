//! Dashboard sessions: signing in with the hub's token makes a session, kept
//! in this hub's memory for [`SESSION_LIFE`] at most and [`SESSION_IDLE`]
//! unused, whose random id (from the kernel's random source, 160 bits) the
//! browser keeps in an HttpOnly, SameSite=Strict cookie. Signing out ends it.
//! A restart ends them all (signing in again is one form). Failed sign-ins
//! are counted across the hub: past [`MAX_FAILURES`] in [`FAILURE_WINDOW`],
//! sign-in answers 429 until the window passes.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a session lasts from sign-in.
pub const SESSION_LIFE: Duration = Duration::from_secs(8 * 3600);

/// A session not used for this long ends (a tab left on a shared screen).
pub const SESSION_IDLE: Duration = Duration::from_secs(3600);

/// Failed sign-ins the whole hub accepts per [`FAILURE_WINDOW`]; past them,
/// 429 until the window has passed (guessing the token online stays slow).
pub const MAX_FAILURES: usize = 5;
/// See [`MAX_FAILURES`].
pub const FAILURE_WINDOW: Duration = Duration::from_secs(10);

/// The cookie's name.
pub const COOKIE: &str = "sandboxer_session";

/// At most this many live sessions; the oldest goes first past it, so a flood
/// of sign-ins cannot grow the hub's memory.
const MAX_SESSIONS: usize = 10_000;

/// A session: when it ends at the latest, and when it was last used.
#[derive(Debug, Clone, Copy)]
struct Session {
    expires: Instant,
    last_seen: Instant,
}

impl Session {
    fn live(&self, now: Instant) -> bool {
        self.expires > now && now.duration_since(self.last_seen) < SESSION_IDLE
    }
}

/// The live sessions of this hub, and its recent failed sign-ins.
#[derive(Default)]
pub struct Sessions {
    live: Mutex<HashMap<String, Session>>,
    failures: Mutex<Vec<Instant>>,
}

impl Sessions {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        // Held only for a lookup or an insert; nothing can panic with it held.
        self.live.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A new session; its id, for the cookie. An error when the kernel's
    /// random source cannot be read: no session then, rather than a guessable one.
    pub fn start(&self) -> std::io::Result<String> {
        let id = crate::id::secret_id(32)?;
        let now = Instant::now();
        let mut live = self.map();
        live.retain(|_, session| session.live(now));
        if live.len() >= MAX_SESSIONS
            && let Some(oldest) = live.iter().min_by_key(|(_, s)| s.expires).map(|(k, _)| k.clone())
        {
            live.remove(&oldest);
        }
        live.insert(
            id.clone(),
            Session {
                expires: now + SESSION_LIFE,
                last_seen: now,
            },
        );
        Ok(id)
    }

    /// Whether `id` is a live session; using it keeps it from going idle.
    pub fn valid(&self, id: &str) -> bool {
        let now = Instant::now();
        match self.map().get_mut(id) {
            Some(session) if session.live(now) => {
                session.last_seen = now;
                true
            }
            _ => false,
        }
    }

    /// Whether `id` is still live, without counting as a use (the notes
    /// stream asks this while it runs).
    pub fn still_valid(&self, id: &str) -> bool {
        self.map().get(id).is_some_and(|s| s.live(Instant::now()))
    }

    /// Counts a failed sign-in.
    pub fn failed_sign_in(&self) {
        let now = Instant::now();
        let mut failures = self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        failures.retain(|at| now.duration_since(*at) < FAILURE_WINDOW);
        failures.push(now);
    }

    /// Whether too many sign-ins failed lately to try another now.
    pub fn sign_in_throttled(&self) -> bool {
        let now = Instant::now();
        let mut failures = self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        failures.retain(|at| now.duration_since(*at) < FAILURE_WINDOW);
        failures.len() >= MAX_FAILURES
    }

    /// Ends `id`.
    pub fn end(&self, id: &str) {
        self.map().remove(id);
    }
}

/// The session id in a `Cookie` header, if any.
pub fn from_cookies(header: &str) -> Option<&str> {
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
}

/// The `Set-Cookie` value that keeps `id` (Secure when the hub was reached
/// over HTTPS through a proxy that says so).
pub fn set_cookie(id: &str, secure: bool) -> String {
    format!(
        "{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        SESSION_LIFE.as_secs(),
        if secure { "; Secure" } else { "" }
    )
}

/// The `Set-Cookie` value that removes it.
pub fn clear_cookie() -> String {
    format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_valid_until_it_ends() {
        let sessions = Sessions::default();
        let id = sessions.start().expect("a session");
        assert_eq!(id.len(), 32);
        assert!(sessions.valid(&id));
        assert!(!sessions.valid("not-a-session"));
        sessions.end(&id);
        assert!(!sessions.valid(&id));
    }

    #[test]
    fn the_cookie_is_http_only_strict_and_read_back() {
        let cookie = set_cookie("abc", false);
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
        assert!(!cookie.contains("Secure"));
        assert!(set_cookie("abc", true).ends_with("; Secure"));
        assert_eq!(from_cookies("a=1; sandboxer_session=abc; b=2"), Some("abc"));
        assert_eq!(from_cookies("a=1"), None);
    }
}

#[cfg(test)]
mod throttle_tests {
    use super::*;

    #[test]
    fn failed_sign_ins_are_throttled_past_the_limit() {
        let sessions = Sessions::default();
        for _ in 0..MAX_FAILURES - 1 {
            sessions.failed_sign_in();
        }
        assert!(!sessions.sign_in_throttled());
        sessions.failed_sign_in();
        assert!(sessions.sign_in_throttled());
    }
}
