//! Byte-level noise: flipped, inserted and deleted bytes, invalid UTF-8,
//! byte order marks, NUL, other line ends.

use super::rng::Rng;

/// Bytes worth inserting: structure characters of YAML and JSON, controls,
/// and starts of UTF-8 sequences that do not finish.
const BYTES: &[u8] = b":-[]{},&*!#|>'\"%@`?\n\r\t\0 \\\x7f\x80\xc3\xff\xfe\xed";

/// Byte sequences worth inserting.
const SEQUENCES: &[&[u8]] = &[
    b"\xef\xbb\xbf",     // a UTF-8 byte order mark
    b"\xff\xfe",         // a UTF-16 byte order mark
    b"\xc3\x28",         // an invalid two-byte sequence
    b"\xed\xa0\x80",     // a UTF-16 surrogate in UTF-8
    b"\xf4\x90\x80\x80", // beyond U+10FFFF
    b"\xc0\xaf",         // an overlong `/`
    b"\x00",
    b"\r\n",
    b"\xe2\x80\xa8", // U+2028, a line separator
    b"\xc2\x85",     // U+0085, next line
    b"\n---\n",
    b"\n...\n",
    b": ",
    b"- ",
    b"\t",
];

/// One piece of noise on `bytes`, described for the recipe.
pub fn noise(rng: &mut Rng, bytes: &mut Vec<u8>) -> String {
    if bytes.is_empty() {
        bytes.push(*rng.pick(BYTES));
        return "one byte in an empty file".into();
    }
    let at = rng.below(bytes.len());
    match rng.below(10) {
        0 => {
            let bit = 1u8 << rng.below(8);
            bytes[at] ^= bit;
            format!("bit {bit:#04x} of byte {at} flipped")
        }
        1 | 2 => {
            let b = *rng.pick(BYTES);
            bytes.insert(at, b);
            format!("byte {b:#04x} inserted at {at}")
        }
        3 => {
            let len = rng.between(1, 16).min(bytes.len() - at);
            bytes.drain(at..at + len);
            format!("{len} bytes deleted at {at}")
        }
        4 | 5 => {
            let seq = *rng.pick(SEQUENCES);
            let at = if rng.percent(30) { 0 } else { at };
            bytes.splice(at..at, seq.iter().copied());
            format!("{seq:?} inserted at {at}")
        }
        6 => {
            let len = rng.between(1, 64).min(bytes.len() - at);
            let piece: Vec<u8> = bytes[at..at + len].to_vec();
            let to = rng.below(bytes.len());
            bytes.splice(to..to, piece);
            format!("{len} bytes from {at} copied to {to}")
        }
        7 => {
            bytes.truncate(at);
            format!("cut after {at} bytes")
        }
        8 => {
            let text: Vec<u8> = bytes
                .iter()
                .flat_map(|&b| if b == b'\n' { vec![b'\r', b'\n'] } else { vec![b] })
                .collect();
            *bytes = text;
            "CRLF line ends".into()
        }
        _ => {
            bytes[at] = 0;
            format!("byte {at} is NUL")
        }
    }
}
