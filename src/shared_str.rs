//! [`SharedStr`]: an immutable string that copies share, for the texts every
//! record of a state repeats (attribute, digest and fact names, the profile,
//! the spec hash, the repo digest, times). Read inside [`interning`], equal
//! texts are one allocation: a state of 10,000 records holds each of them once
//! rather than 10,000 times. Serialized, it is a plain JSON string.

use std::borrow::{Borrow, Cow};
use std::cell::RefCell;
use std::collections::HashSet;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// An immutable string; clones share one allocation.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SharedStr(Arc<str>);

impl SharedStr {
    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

thread_local! {
    /// The texts read so far inside [`interning`] on this thread.
    static POOL: RefCell<Option<HashSet<Arc<str>>>> = const { RefCell::new(None) };
}

/// Runs `read` with equal [`SharedStr`]s it deserializes sharing one
/// allocation; the pool is dropped after (the strings stay shared).
pub fn interning<T>(read: impl FnOnce() -> T) -> T {
    let outer = POOL.with(|pool| pool.borrow_mut().replace(HashSet::new()));
    let result = read();
    POOL.with(|pool| *pool.borrow_mut() = outer);
    result
}

fn intern(text: &str) -> SharedStr {
    POOL.with(|pool| match pool.borrow_mut().as_mut() {
        Some(pool) => match pool.get(text) {
            Some(shared) => SharedStr(Arc::clone(shared)),
            None => {
                let shared: Arc<str> = Arc::from(text);
                pool.insert(Arc::clone(&shared));
                SharedStr(shared)
            }
        },
        None => SharedStr(Arc::from(text)),
    })
}

impl Deref for SharedStr {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for SharedStr {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for SharedStr {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl From<&str> for SharedStr {
    fn from(text: &str) -> Self {
        SharedStr(Arc::from(text))
    }
}

impl From<String> for SharedStr {
    fn from(text: String) -> Self {
        SharedStr(Arc::from(text))
    }
}

impl From<&String> for SharedStr {
    fn from(text: &String) -> Self {
        SharedStr(Arc::from(text.as_str()))
    }
}

impl From<SharedStr> for String {
    fn from(text: SharedStr) -> Self {
        text.0.to_string()
    }
}

impl PartialEq<str> for SharedStr {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for SharedStr {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

impl PartialEq<String> for SharedStr {
    fn eq(&self, other: &String) -> bool {
        *self.0 == **other
    }
}

impl PartialEq<SharedStr> for String {
    fn eq(&self, other: &SharedStr) -> bool {
        **self == *other.0
    }
}

impl PartialEq<SharedStr> for str {
    fn eq(&self, other: &SharedStr) -> bool {
        *self == *other.0
    }
}

impl fmt::Debug for SharedStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for SharedStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&*self.0, f)
    }
}

impl Serialize for SharedStr {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for SharedStr {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl Visitor<'_> for TextVisitor {
            type Value = SharedStr;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<SharedStr, E> {
                Ok(intern(text))
            }
        }
        deserializer.deserialize_str(TextVisitor)
    }
}

/// The same schema as a `String`: the serialized formats do not change.
impl schemars::JsonSchema for SharedStr {
    fn inline_schema() -> bool {
        String::inline_schema()
    }

    fn schema_name() -> Cow<'static, str> {
        String::schema_name()
    }

    fn schema_id() -> Cow<'static, str> {
        String::schema_id()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        String::json_schema(generator)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_texts_read_while_interning_share_one_allocation() {
        let (a, b): (SharedStr, SharedStr) = interning(|| {
            (
                serde_json::from_str("\"x\"").unwrap(),
                serde_json::from_str("\"x\"").unwrap(),
            )
        });
        assert!(Arc::ptr_eq(&a.0, &b.0));
        assert_eq!(serde_json::to_string(&a).unwrap(), "\"x\"");
    }

    #[test]
    fn outside_interning_a_text_is_its_own() {
        let a: SharedStr = serde_json::from_str("\"x\"").unwrap();
        let b: SharedStr = serde_json::from_str("\"x\"").unwrap();
        assert!(!Arc::ptr_eq(&a.0, &b.0));
        assert_eq!(a, b);
    }
}
