//! Password hashing: PBKDF2-HMAC-SHA256 (ring) with a per-user random 16-byte salt and a
//! 32-byte output. The iteration count is stored with every hash, so raising
//! `auth.pbkdf2_iterations` affects new hashes (and re-hashes a user's password at the next
//! successful login) without breaking the old ones. Verification is constant-time (ring).

use std::num::NonZeroU32;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::pbkdf2;
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};

use crate::accounts::AccountsError;

/// Shortest accepted password, characters.
pub const MIN_LEN: usize = 8;
/// Longest accepted password, bytes (each login runs PBKDF2 over it).
pub const MAX_BYTES: usize = 1024;

const ALG_NAME: &str = "pbkdf2-hmac-sha256";
const SALT_LEN: usize = 16;
const OUT_LEN: usize = 32;
/// Salt of the decoy hash computed for unknown emails, so that a wrong email costs as much
/// time as a wrong password.
const DECOY_SALT: &[u8; SALT_LEN] = b"facelite-decoy!!";

/// A stored password hash. Never leaves the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordHash {
    /// Always `pbkdf2-hmac-sha256` for now; names the scheme for future changes.
    pub alg: String,
    pub iterations: u32,
    /// base64url (no padding).
    pub salt: String,
    /// base64url (no padding).
    pub hash: String,
}

/// Checks the length rules of a new password.
pub fn validate_new(password: &str) -> Result<(), AccountsError> {
    if password.chars().count() < MIN_LEN {
        return Err(AccountsError::Invalid(format!(
            "password is too short: at least {MIN_LEN} characters are required"
        )));
    }
    if password.len() > MAX_BYTES {
        return Err(AccountsError::Invalid(format!(
            "password is too long: at most {MAX_BYTES} bytes are accepted"
        )));
    }
    Ok(())
}

fn iterations(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}

/// Hashes `password` with a fresh random salt and `iters` iterations (at least 1).
pub fn hash(password: &str, iters: u32) -> Result<PasswordHash, AccountsError> {
    let mut salt = [0u8; SALT_LEN];
    SystemRandom::new()
        .fill(&mut salt)
        .map_err(|_| AccountsError::Crypto("the system random generator failed".into()))?;
    let it = iterations(iters);
    let mut out = [0u8; OUT_LEN];
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA256,
        it,
        &salt,
        password.as_bytes(),
        &mut out,
    );
    Ok(PasswordHash {
        alg: ALG_NAME.into(),
        iterations: it.get(),
        salt: URL_SAFE_NO_PAD.encode(salt),
        hash: URL_SAFE_NO_PAD.encode(out),
    })
}

/// Whether `password` matches `stored` (constant-time compare). A malformed stored hash never
/// matches.
pub fn verify(password: &str, stored: &PasswordHash) -> bool {
    if stored.alg != ALG_NAME || password.len() > MAX_BYTES {
        return false;
    }
    let (Ok(salt), Ok(expected)) = (
        URL_SAFE_NO_PAD.decode(&stored.salt),
        URL_SAFE_NO_PAD.decode(&stored.hash),
    ) else {
        return false;
    };
    pbkdf2::verify(
        pbkdf2::PBKDF2_HMAC_SHA256,
        iterations(stored.iterations),
        &salt,
        password.as_bytes(),
        &expected,
    )
    .is_ok()
}

/// Spends the time of one verification at `iters` iterations; used when the email is
/// unknown so that response time does not reveal which emails exist.
pub fn decoy_verify(password: &str, iters: u32) {
    let mut out = [0u8; OUT_LEN];
    let pw = &password.as_bytes()[..password.len().min(MAX_BYTES)];
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA256,
        iterations(iters),
        DECOY_SALT,
        pw,
        &mut out,
    );
}

/// Whether a stored hash is weaker than what the configuration asks for now.
pub fn needs_rehash(stored: &PasswordHash, iters: u32) -> bool {
    stored.alg != ALG_NAME || stored.iterations < iters
}

/// A strong random password (24 characters of base64url = 144 bits) for generated accounts.
pub fn generate() -> Result<String, AccountsError> {
    let mut raw = [0u8; 18];
    SystemRandom::new()
        .fill(&mut raw)
        .map_err(|_| AccountsError::Crypto("the system random generator failed".into()))?;
    Ok(URL_SAFE_NO_PAD.encode(raw))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_verifies_only_the_right_password() {
        let h = hash("correct horse", 1000).expect("hash");
        assert_eq!(h.iterations, 1000);
        assert!(verify("correct horse", &h));
        assert!(!verify("correct horsf", &h));
        assert!(!verify("", &h));
    }

    #[test]
    fn salts_differ_per_hash() {
        let a = hash("same password", 10).expect("hash");
        let b = hash("same password", 10).expect("hash");
        assert_ne!(a.salt, b.salt);
        assert_ne!(a.hash, b.hash);
    }

    #[test]
    fn iterations_are_taken_from_the_stored_hash() {
        let mut h = hash("pw-12345678", 50).expect("hash");
        assert!(verify("pw-12345678", &h));
        h.iterations = 51;
        assert!(
            !verify("pw-12345678", &h),
            "changing the count must change the hash"
        );
        assert!(needs_rehash(&h, 600_000));
        assert!(!needs_rehash(&h, 51));
    }

    #[test]
    fn malformed_hashes_never_match() {
        let mut h = hash("pw-12345678", 10).expect("hash");
        h.salt = "***".into();
        assert!(!verify("pw-12345678", &h));
        let mut h = hash("pw-12345678", 10).expect("hash");
        h.alg = "md5".into();
        assert!(!verify("pw-12345678", &h));
    }

    #[test]
    fn length_rules() {
        assert!(validate_new("short").is_err());
        assert!(validate_new("long enough").is_ok());
        assert!(validate_new(&"x".repeat(MAX_BYTES + 1)).is_err());
    }

    #[test]
    fn generated_passwords_are_long_and_distinct() {
        let a = generate().expect("generate");
        let b = generate().expect("generate");
        assert_eq!(a.len(), 24);
        assert_ne!(a, b);
        assert!(validate_new(&a).is_ok());
    }
}
