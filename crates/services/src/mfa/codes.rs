//! Backup codes: ten per enrolment, shown once, stored as SHA-256. Each is 16 characters
//! of base32 (80 bits), so a hash cannot be reversed by guessing; typed in any case, with
//! or without the dashes.

use rand::Rng;
use sha2::{Digest, Sha256};

/// Codes in a set.
pub(crate) const COUNT: usize = 10;
/// Characters of a code, dashes aside.
const LEN: usize = 16;
const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// A new set: `COUNT` distinct codes, as shown (`abcd-efgh-ijkl-mnop`).
pub(crate) fn generate() -> Vec<String> {
    let mut rng = rand::rng();
    let mut codes: Vec<String> = Vec::with_capacity(COUNT);
    while codes.len() < COUNT {
        let raw: String = (0..LEN)
            .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
            .collect();
        let shown = raw
            .as_bytes()
            .chunks(4)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join("-");
        if !codes.contains(&shown) {
            codes.push(shown);
        }
    }
    codes
}

/// The code as typed, reduced to its 16 characters; `None` if it cannot be a code.
pub(crate) fn normalise(typed: &str) -> Option<String> {
    let code: String = typed
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| c.to_ascii_lowercase())
        .collect();
    (code.len() == LEN && code.bytes().all(|b| ALPHABET.contains(&b))).then_some(code)
}

/// What is stored of a normalised code.
pub(crate) fn hash(code: &str) -> String {
    hex::encode(Sha256::digest(code.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_is_ten_distinct_codes_that_read_back_however_they_are_typed() {
        let set = generate();
        assert_eq!(set.len(), COUNT);
        let mut unique = set.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), COUNT);
        let code = &set[0];
        assert_eq!(code.len(), 19);
        let plain = normalise(code).unwrap_or_default();
        assert_eq!(normalise(&code.to_uppercase()), Some(plain.clone()));
        assert_eq!(normalise(&code.replace('-', " ")), Some(plain.clone()));
        assert_eq!(hash(&plain).len(), 64);
        assert_ne!(hash(&plain), plain);
    }

    #[test]
    fn text_that_cannot_be_a_code_is_refused() {
        assert_eq!(normalise("123456"), None);
        assert_eq!(normalise("abcd-efgh-ijkl-mno"), None);
        assert_eq!(normalise("abcd-efgh-ijkl-mno1"), None);
        assert_eq!(normalise(""), None);
    }
}
