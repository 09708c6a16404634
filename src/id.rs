//! Sandbox ids: short, lowercase, url-safe, random, never reused.

use std::io::Read;

const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";

/// A random id of `len` characters from an alphabet without look-alikes (no `0/o`, `1/l`).
pub fn random_id(len: usize) -> String {
    let mut bytes = vec![0u8; len];
    let filled = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .is_ok();
    if !filled {
        // Without /dev/urandom, mix the clock and pid; ids are still checked for reuse.
        let mut seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
            ^ u128::from(std::process::id());
        for b in &mut bytes {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            *b = (seed >> 64) as u8;
        }
    }
    bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect()
}

/// A random id of `len` characters for a secret (a dashboard session): from
/// the kernel's random source only, with no fallback; an error without it.
pub fn secret_id(len: usize) -> std::io::Result<String> {
    let mut bytes = vec![0u8; len];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_short_lowercase_and_distinct() {
        let a = random_id(8);
        let b = random_id(8);
        assert_eq!(a.len(), 8);
        assert!(a.bytes().all(|b| ALPHABET.contains(&b)), "{a}");
        assert_ne!(a, b);
    }
}
