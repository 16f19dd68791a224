//! Argon2id password hashing (PHC strings), run on the blocking pool by callers: a hash costs
//! tens of milliseconds on a Pi 4, which must not stall the async runtime.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// Argon2id with the RFC 9106 "low memory" shape scaled for a Pi: 19 MiB, 2 passes, 1 lane
/// (OWASP's minimum recommendation).
fn hasher() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashing failed (the parameters or the salt were refused; not expected in practice).
#[derive(Debug, thiserror::Error)]
#[error("cannot hash password: {0}")]
pub struct HashError(String);

pub fn hash(password: &str) -> Result<String, HashError> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| HashError(e.to_string()))
}

/// Constant-time verification; a malformed stored hash simply fails.
pub fn verify(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => hasher()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A valid hash of a random password, verified against when the user does not exist so that a
/// login for an unknown name costs the same time as one for a known name.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| {
        let mut random = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut random);
        hash(&crate::hex(&random)).unwrap_or_default()
    })
}

/// Checks a new password against the policy.
pub fn check_policy(password: &str, min_len: usize) -> Result<(), String> {
    let n = password.chars().count();
    if n < min_len {
        return Err(format!("must be at least {min_len} characters"));
    }
    if n > 256 {
        return Err("must be at most 256 characters".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify() {
        let h = hash("correct horse").expect("hash");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("correct horse", &h));
        assert!(!verify("wrong", &h));
        assert!(!verify("x", "not a hash"));
        assert!(!verify("x", dummy_hash()));
        assert!(check_policy("short", 8).is_err());
        assert!(check_policy("long enough", 8).is_ok());
    }
}
