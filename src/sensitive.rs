//! How a sensitive input's value is kept in plans, the state and the hub: a
//! keyed hash (HMAC-SHA256, RFC 2104) under a random key of the state, so that
//! nobody without the key can test guesses against it, and two states never
//! show the same hash for the same secret.

use std::io::{self, Read};

use sha2::{Digest, Sha256};

use crate::address::Address;
use crate::profile::Value;

/// The key of one state (embedded) or project (hub): 32 random bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct SensitiveKey(Vec<u8>);

impl std::fmt::Debug for SensitiveKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key itself never reaches a log.
        f.write_str("SensitiveKey(..)")
    }
}

/// A key that is not 64 hex digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a sensitive-value key is 64 hex digits")]
pub struct BadKey;

impl SensitiveKey {
    /// A new random key, as 64 hex digits (from the kernel's random source; no fallback).
    pub fn generate_hex() -> io::Result<String> {
        let mut bytes = [0u8; 32];
        std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
        Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// The key written as 64 hex digits.
    pub fn from_hex(text: &str) -> Result<Self, BadKey> {
        let text = text.trim();
        if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(BadKey);
        }
        let bytes = (0..32)
            .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).map_err(|_| BadKey))
            .collect::<Result<Vec<u8>, BadKey>>()?;
        Ok(SensitiveKey(bytes))
    }

    /// The kept form of `value`, input `name` of `address`: `(sensitive, hmac-sha256:<16 hex>)`.
    pub fn hash(&self, address: &Address, name: &str, value: &Value) -> String {
        let mac = hmac_sha256(&self.0, format!("{address}\0{name}\0{value}").as_bytes());
        let hex: String = mac.iter().take(8).map(|b| format!("{b:02x}")).collect();
        format!("(sensitive, hmac-sha256:{hex})")
    }
}

/// HMAC-SHA256 (RFC 2104): H((K ^ opad) || H((K ^ ipad) || m)), block 64 bytes.
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.map(|b| b ^ byte);
    let inner = Sha256::new().chain_update(pad(0x36)).chain_update(message).finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231_test_cases() {
        // Test case 1: key 0x0b * 20, "Hi There".
        let mac = hmac_sha256(&[0x0b; 20], b"Hi There");
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
        // Test case 6: a key longer than a block is hashed first.
        let mac = hmac_sha256(&[0xaa; 131], b"Test Using Larger Than Block-Size Key - Hash Key First");
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    }

    #[test]
    fn two_keys_keep_one_secret_apart() {
        let a = SensitiveKey::from_hex(&SensitiveKey::generate_hex().expect("random")).expect("key");
        let b = SensitiveKey::from_hex(&SensitiveKey::generate_hex().expect("random")).expect("key");
        let value = Value::String("hunter2".into());
        let address = Address::sandbox("app");
        assert_ne!(a.hash(&address, "token", &value), b.hash(&address, "token", &value));
        assert_eq!(a.hash(&address, "token", &value), a.hash(&address, "token", &value));
        assert!(!a.hash(&address, "token", &value).contains("hunter2"));
        assert!(SensitiveKey::from_hex("zz").is_err());
        assert_eq!(format!("{a:?}"), "SensitiveKey(..)");
    }
}
