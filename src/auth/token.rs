//! HS256 access tokens with the camera service's claims (`user_id`, `role`, `iat`, `exp`), plus
//! `sub` (username), `gen` (the user's token generation) and, for browser sessions, `csrf`.
//!
//! Expiry is checked here against the injected [`Clock`] with no leeway rather than by
//! `jsonwebtoken` against the system time, so expiry is exact and testable.

use crate::auth::{Principal, Role};
use crate::clock::Clock;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub sub: String,
    pub user_id: i64,
    pub role: Role,
    pub iat: i64,
    pub exp: i64,
    pub r#gen: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csrf: Option<String>,
    /// Random per token, so one token can be revoked (logout) without the user's others.
    #[serde(default)]
    pub jti: String,
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token expired")]
    Expired,
    #[error("invalid token")]
    Invalid,
    #[error("token revoked (logged out, password or role changed, or user deleted)")]
    Revoked,
}

/// Signs and checks tokens with the device's key.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKeys(..)")
    }
}

impl TokenKeys {
    pub fn new(secret: &[u8]) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
        }
    }

    pub fn issue(&self, claims: &Claims) -> Result<String, TokenError> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .map_err(|_| TokenError::Invalid)
    }

    /// Checks signature, algorithm and expiry. The caller still checks `gen` against the store.
    pub fn verify(&self, token: &str, clock: &dyn Clock) -> Result<Claims, TokenError> {
        let mut v = Validation::new(Algorithm::HS256);
        v.validate_exp = false;
        v.required_spec_claims.clear();
        v.leeway = 0;
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &v)
            .map_err(|_| TokenError::Invalid)?;
        if data.claims.exp <= clock.now_secs() {
            return Err(TokenError::Expired);
        }
        Ok(data.claims)
    }
}

impl Claims {
    pub fn principal(&self) -> Principal {
        Principal {
            user_id: self.user_id,
            username: self.sub.clone(),
            role: self.role,
            expires_at: self.exp,
            csrf: self.csrf.clone(),
            generation: self.r#gen,
            token_id: self.jti.clone(),
        }
    }
}

/// 32 random bytes, URL-safe base64.
pub fn random_token() -> String {
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SimulatedClock;
    use std::time::Duration;

    fn claims(now: i64) -> Claims {
        Claims {
            sub: "alice".into(),
            user_id: 1,
            role: Role::Operator,
            iat: now,
            exp: now + 60,
            r#gen: 0,
            csrf: None,
            jti: random_token(),
        }
    }

    #[test]
    fn issue_verify_expire() {
        let clock = SimulatedClock::new(1_700_000_000_000);
        let keys = TokenKeys::new(b"0123456789abcdef0123456789abcdef");
        let t = keys.issue(&claims(clock.now_secs())).expect("issue");
        assert_eq!(keys.verify(&t, &clock).expect("valid").sub, "alice");
        clock.advance(Duration::from_secs(59));
        assert!(keys.verify(&t, &clock).is_ok());
        clock.advance(Duration::from_secs(1));
        assert_eq!(keys.verify(&t, &clock), Err(TokenError::Expired));
    }

    #[test]
    fn rejects_other_keys_and_alg_none() {
        let clock = SimulatedClock::new(1_700_000_000_000);
        let a = TokenKeys::new(b"a-key-a-key-a-key-a-key-a-key-aa");
        let b = TokenKeys::new(b"b-key-b-key-b-key-b-key-b-key-bb");
        let t = a.issue(&claims(clock.now_secs())).expect("issue");
        assert_eq!(b.verify(&t, &clock), Err(TokenError::Invalid));
        // An unsigned token claiming admin.
        let e = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let forged = format!(
            "{}.{}.",
            e(r#"{"alg":"none","typ":"JWT"}"#),
            e(r#"{"sub":"x","user_id":1,"role":"admin","iat":0,"exp":99999999999,"gen":0}"#)
        );
        assert_eq!(a.verify(&forged, &clock), Err(TokenError::Invalid));
        assert_eq!(a.verify("garbage", &clock), Err(TokenError::Invalid));
    }
}
