//! RTSP authentication with the appliance's own users: HTTP Basic (checked against the argon2
//! hash) and Digest (RFC 2617 without `qop`, the variant every RTSP client speaks, checked against
//! the per-user HA1 stored sealed when the password is set).
//!
//! This module is the pure part: header parsing, the Digest computation, and stateless nonces
//! (a timestamp plus an HMAC over it with a per-process key, so no nonce table grows with
//! clients). The GStreamer glue is in [`super::rtsp`].

use hmac::{Hmac, Mac};
use pinhole_base::hex;
use pinhole_base::http_auth::DigestAlgorithm;
use sha2::Sha256;
use std::collections::HashMap;

/// The realm in challenges and in every stored HA1. Changing it invalidates stored HA1s.
pub const REALM: &str = "pinhole";

/// Credentials from an `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    Basic { username: String, password: String },
    Digest(DigestParams),
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DigestParams {
    pub username: String,
    pub realm: String,
    pub nonce: String,
    pub uri: String,
    pub response: String,
}

/// Why credentials were refused (logged, never sent to the client).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("malformed Authorization header: {0}")]
    Malformed(&'static str),
    #[error("unsupported scheme `{0}`")]
    Scheme(String),
    #[error("stale or forged nonce")]
    Nonce,
    #[error("wrong realm `{0}`")]
    Realm(String),
    #[error("bad credentials")]
    Bad,
    #[error("the digest names `{0}`, not the requested resource")]
    Uri(String),
    #[error("too many wrong passwords: refused for {0} s")]
    Limited(u64),
}

/// Parses an `Authorization` header value.
pub fn parse_authorization(value: &str) -> Result<Credentials, AuthError> {
    let value = value.trim();
    let (scheme, rest) = value
        .split_once(|c: char| c.is_ascii_whitespace())
        .ok_or(AuthError::Malformed("no credentials after the scheme"))?;
    if scheme.eq_ignore_ascii_case("basic") {
        use base64::Engine;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(rest.trim())
            .map_err(|_| AuthError::Malformed("Basic credentials are not base64"))?;
        let s = String::from_utf8(raw).map_err(|_| AuthError::Malformed("not UTF-8"))?;
        let (u, p) = s
            .split_once(':')
            .ok_or(AuthError::Malformed("Basic credentials without `:`"))?;
        return Ok(Credentials::Basic {
            username: u.to_string(),
            password: p.to_string(),
        });
    }
    if scheme.eq_ignore_ascii_case("digest") {
        let mut m = parse_params(rest)?;
        let mut take = |k: &'static str| m.remove(k).ok_or(AuthError::Malformed(k));
        return Ok(Credentials::Digest(DigestParams {
            username: take("username")?,
            realm: take("realm")?,
            nonce: take("nonce")?,
            uri: take("uri")?,
            response: take("response")?,
        }));
    }
    Err(AuthError::Scheme(scheme.chars().take(20).collect()))
}

fn parse_params(s: &str) -> Result<HashMap<String, String>, AuthError> {
    pinhole_base::http_auth::params(s).map_err(AuthError::Malformed)
}

/// HA1 = MD5(username:realm:password), what is stored per user.
pub fn ha1(username: &str, password: &str) -> String {
    DigestAlgorithm::Md5.hash(&[username, REALM, password])
}

/// The expected Digest `response` (RFC 2617 without qop).
pub fn digest_response(ha1: &str, nonce: &str, method: &str, uri: &str) -> String {
    let ha2 = DigestAlgorithm::Md5.hash(&[method, uri]);
    DigestAlgorithm::Md5.hash(&[ha1, nonce, &ha2])
}

/// Constant-time string comparison.
fn same(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Issues and checks stateless nonces.
#[derive(Clone)]
pub struct Nonces {
    key: [u8; 32],
    max_age_secs: u64,
}

impl std::fmt::Debug for Nonces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Nonces").finish_non_exhaustive()
    }
}

impl Nonces {
    pub fn new(key: [u8; 32], max_age_secs: u64) -> Self {
        Self { key, max_age_secs }
    }

    fn mac(&self, ts: &str) -> String {
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        m.update(ts.as_bytes());
        hex(&m.finalize().into_bytes()[..16])
    }

    pub fn issue(&self, now_secs: u64) -> String {
        let ts = format!("{now_secs:x}");
        format!("{ts}{}", self.mac(&ts))
    }

    pub fn check(&self, nonce: &str, now_secs: u64) -> bool {
        if nonce.len() < 33 || !nonce.is_ascii() {
            return false;
        }
        let (ts, mac) = nonce.split_at(nonce.len() - 32);
        let Ok(t) = u64::from_str_radix(ts, 16) else {
            return false;
        };
        same(mac, &self.mac(ts)) && t <= now_secs && now_secs - t <= self.max_age_secs
    }
}

/// The resource a request URI names: its path and query, without scheme and authority (a proxy
/// or a client behind NAT may name the host differently; the resource must match).
fn resource(uri: &str) -> &str {
    match uri.split_once("://") {
        Some((_, rest)) => rest.find('/').map(|i| &rest[i..]).unwrap_or("/"),
        None => uri,
    }
}

/// Verifies Digest credentials given the user's HA1: the digest must be for this request's
/// method and resource (a captured header replayed for another camera fails).
pub fn verify_digest(
    d: &DigestParams,
    method: &str,
    request_uri: &str,
    stored_ha1: &str,
    nonces: &Nonces,
    now_secs: u64,
) -> Result<(), AuthError> {
    if d.realm != REALM {
        return Err(AuthError::Realm(d.realm.chars().take(40).collect()));
    }
    if resource(&d.uri) != resource(request_uri) {
        return Err(AuthError::Uri(d.uri.chars().take(80).collect()));
    }
    if !nonces.check(&d.nonce, now_secs) {
        return Err(AuthError::Nonce);
    }
    let want = digest_response(stored_ha1, &d.nonce, method, &d.uri);
    if same(&want, &d.response.to_ascii_lowercase()) {
        Ok(())
    } else {
        Err(AuthError::Bad)
    }
}

/// The `WWW-Authenticate` values of a 401.
pub fn challenges(nonce: &str) -> [String; 2] {
    [
        format!("Digest realm=\"{REALM}\", nonce=\"{nonce}\""),
        format!("Basic realm=\"{REALM}\""),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc2617_example_shape() {
        // RFC 2617 section 3.5 (without qop): Mufasa / "Circle Of Life".
        let h = DigestAlgorithm::Md5.hash(&["Mufasa", "testrealm@host.com", "Circle Of Life"]);
        assert_eq!(h, "939e7578ed9e3c518a452acee763bce9");
        let ha2 = DigestAlgorithm::Md5.hash(&["GET", "/dir/index.html"]);
        assert_eq!(ha2, "39aff3a2bab6126f332b942af96d3366");
    }

    #[test]
    fn basic() {
        assert_eq!(
            parse_authorization("Basic YWxhZGRpbjpvcGVuOnNlc2FtZQ==").unwrap(),
            Credentials::Basic {
                username: "aladdin".into(),
                password: "open:sesame".into()
            }
        );
        assert!(parse_authorization("Basic !!!").is_err());
        assert!(parse_authorization("Basic").is_err());
        assert!(matches!(
            parse_authorization("Bearer abc"),
            Err(AuthError::Scheme(_))
        ));
    }

    #[test]
    fn digest_round_trip() {
        let nonces = Nonces::new([7; 32], 300);
        let nonce = nonces.issue(1000);
        let ha1 = ha1("alice", "s3cret pw");
        let uri = "rtsp://127.0.0.1:8554/camera0";
        let resp = digest_response(&ha1, &nonce, "DESCRIBE", uri);
        let header = format!(
            r#"Digest username="alice", realm="pinhole", nonce="{nonce}", uri="{uri}", response="{resp}""#
        );
        let Credentials::Digest(d) = parse_authorization(&header).unwrap() else {
            panic!("not digest")
        };
        assert_eq!(
            verify_digest(&d, "DESCRIBE", uri, &ha1, &nonces, 1010),
            Ok(())
        );
        // The same resource named through another host (a proxy) is still the resource.
        assert_eq!(
            verify_digest(
                &d,
                "DESCRIBE",
                "rtsp://pi.local/camera0",
                &ha1,
                &nonces,
                1010
            ),
            Ok(())
        );
        assert_eq!(
            verify_digest(&d, "SETUP", uri, &ha1, &nonces, 1010),
            Err(AuthError::Bad)
        );
        // Replayed for another camera.
        assert!(matches!(
            verify_digest(
                &d,
                "DESCRIBE",
                "rtsp://127.0.0.1:8554/camera1",
                &ha1,
                &nonces,
                1010
            ),
            Err(AuthError::Uri(_))
        ));
        assert_eq!(
            verify_digest(&d, "DESCRIBE", uri, &ha1, &nonces, 2000),
            Err(AuthError::Nonce)
        );
        let other = Nonces::new([8; 32], 300);
        assert_eq!(
            verify_digest(&d, "DESCRIBE", uri, &ha1, &other, 1010),
            Err(AuthError::Nonce)
        );
        let wrong = crate::rtsp_auth::ha1("alice", "other");
        assert_eq!(
            verify_digest(&d, "DESCRIBE", uri, &wrong, &nonces, 1010),
            Err(AuthError::Bad)
        );
    }

    #[test]
    fn malformed_digest() {
        assert!(parse_authorization(r#"Digest username="a", realm="#).is_err());
        assert!(parse_authorization(r#"Digest username="a""#).is_err());
        assert!(parse_authorization(r#"Digest username="unterminated"#).is_err());
        assert!(!Nonces::new([0; 32], 5).check("zz", 0));
        assert!(!Nonces::new([0; 32], 5).check(&"é".repeat(40), 0));
    }

    proptest::proptest! {
        #[test]
        fn parser_never_panics(s in ".{0,200}") {
            let _ = parse_authorization(&s);
            let _ = parse_authorization(&format!("Digest {s}"));
        }
    }
}
