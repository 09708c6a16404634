//! Dashboard sessions: signing in with the hub's token makes a session, kept
//! in this hub's memory for [`SESSION_LIFE`], whose random id the browser keeps
//! in an HttpOnly, SameSite=Strict cookie. Signing out ends it. A restart
//! ends them all (signing in again is one form).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a session lasts from sign-in.
pub const SESSION_LIFE: Duration = Duration::from_secs(8 * 3600);

/// The cookie's name.
pub const COOKIE: &str = "sandboxer_session";

/// At most this many live sessions; the oldest goes first past it, so a flood
/// of sign-ins cannot grow the hub's memory.
const MAX_SESSIONS: usize = 10_000;

/// The live sessions of this hub.
#[derive(Default)]
pub struct Sessions {
    live: Mutex<HashMap<String, Instant>>,
}

impl Sessions {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        // Held only for a lookup or an insert; nothing can panic with it held.
        self.live.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A new session; its id, for the cookie.
    pub fn start(&self) -> String {
        let id = crate::id::random_id(32);
        let now = Instant::now();
        let mut live = self.map();
        live.retain(|_, expires| *expires > now);
        if live.len() >= MAX_SESSIONS
            && let Some(oldest) = live.iter().min_by_key(|(_, e)| **e).map(|(k, _)| k.clone())
        {
            live.remove(&oldest);
        }
        live.insert(id.clone(), now + SESSION_LIFE);
        id
    }

    /// Whether `id` is a live session.
    pub fn valid(&self, id: &str) -> bool {
        self.map().get(id).is_some_and(|expires| *expires > Instant::now())
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
        let id = sessions.start();
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
