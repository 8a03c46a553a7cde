//! Bearer tokens: 256 bits from the system CSPRNG (ring `SystemRandom`), sent as 64 lower-case
//! hex characters. The store keeps only their SHA-256 (hex), so a copy of the store file does
//! not hand out live sessions.

use ring::digest::{digest, SHA256};
use ring::rand::{SecureRandom, SystemRandom};

use crate::accounts::AccountsError;

/// Longest header value looked up at all; anything longer cannot be a token.
pub const MAX_TOKEN_LEN: usize = 256;

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

/// A new random token (64 hex characters).
pub fn generate() -> Result<String, AccountsError> {
    let mut raw = [0u8; 32];
    SystemRandom::new()
        .fill(&mut raw)
        .map_err(|_| AccountsError::Crypto("the system random generator failed".into()))?;
    Ok(hex(&raw))
}

/// The stored form of a token: SHA-256, hex.
pub fn hash(token: &str) -> String {
    hex(digest(&SHA256, token.as_bytes()).as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_256_bit_hex_and_unique() {
        let a = generate().expect("token");
        let b = generate().expect("token");
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn hash_is_sha256_hex() {
        assert_eq!(
            hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_ne!(hash("abc"), "abc");
    }
}
