//! The signed update manifest (pure): what a plain HTTPS update source serves at
//! `ota.manifest_url`, for fleets without a hawkBit server.
//!
//! ```json
//! {"manifest": "<base64 of the manifest JSON bytes>", "signature": "<base64 Ed25519 signature>"}
//! ```
//! The signature covers the exact manifest bytes, and is checked against `ota.manifest_key` (an
//! Ed25519 public key) before the manifest is even parsed. The manifest itself:
//! `{"compatible", "version", "url", "sha256", "size"}`; `url` may be relative to the manifest's.
//! The bundle is signed by RAUC's own key as well: the manifest's signature keeps a mirror or a
//! man in the middle from pointing devices at an old (validly signed) bundle or a wrong size.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub compatible: String,
    pub version: String,
    pub url: String,
    /// Hex SHA-256 of the bundle.
    pub sha256: String,
    pub size: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope {
    manifest: String,
    signature: String,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ManifestError {
    #[error("the manifest document is not JSON of the form {{\"manifest\", \"signature\"}}: {0}")]
    Envelope(String),
    #[error("manifest or signature is not valid base64: {0}")]
    Base64(String),
    #[error("the manifest's signature does not verify with the configured key")]
    Signature,
    #[error("ota.manifest_key is not a base64 Ed25519 public key (32 bytes)")]
    Key,
    #[error("the signed manifest is not valid: {0}")]
    Body(String),
}

/// Parses `ota.manifest_key`.
pub fn parse_key(b64: &str) -> Result<VerifyingKey, ManifestError> {
    let bytes = STANDARD
        .decode(b64.trim())
        .map_err(|_| ManifestError::Key)?;
    let arr: [u8; 32] = bytes.try_into().map_err(|_| ManifestError::Key)?;
    VerifyingKey::from_bytes(&arr).map_err(|_| ManifestError::Key)
}

/// Verifies and parses a served manifest document.
pub fn verify(doc: &[u8], key: &VerifyingKey) -> Result<Manifest, ManifestError> {
    let env: Envelope =
        serde_json::from_slice(doc).map_err(|e| ManifestError::Envelope(e.to_string()))?;
    let body = STANDARD
        .decode(env.manifest.as_bytes())
        .map_err(|e| ManifestError::Base64(e.to_string()))?;
    let sig = STANDARD
        .decode(env.signature.as_bytes())
        .map_err(|e| ManifestError::Base64(e.to_string()))?;
    let sig = Signature::from_slice(&sig).map_err(|_| ManifestError::Signature)?;
    key.verify(&body, &sig)
        .map_err(|_| ManifestError::Signature)?;
    let m: Manifest =
        serde_json::from_slice(&body).map_err(|e| ManifestError::Body(e.to_string()))?;
    if m.sha256.len() != 64 || !m.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ManifestError::Body("sha256 must be 64 hex digits".into()));
    }
    if m.version.is_empty() || m.compatible.is_empty() || m.url.is_empty() {
        return Err(ManifestError::Body(
            "compatible, version and url must not be empty".into(),
        ));
    }
    Ok(m)
}

/// Signs a manifest (the release tooling and the tests).
pub fn sign(m: &Manifest, key: &ed25519_dalek::SigningKey) -> Vec<u8> {
    use ed25519_dalek::Signer;
    let body = serde_json::to_vec(m).unwrap_or_default();
    let sig = key.sign(&body);
    serde_json::to_vec(&serde_json::json!({
        "manifest": STANDARD.encode(&body),
        "signature": STANDARD.encode(sig.to_bytes()),
    }))
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        Manifest {
            compatible: "pinhole-rpi4-64".into(),
            version: "2.0.0".into(),
            url: "bundle.raucb".into(),
            sha256: "ab".repeat(32),
            size: 1234,
        }
    }

    #[test]
    fn signed_manifest_verifies_and_tampering_does_not() {
        let sk = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        let pk = sk.verifying_key();
        let doc = sign(&manifest(), &sk);
        assert_eq!(verify(&doc, &pk), Ok(manifest()));
        // Another key.
        let other = ed25519_dalek::SigningKey::from_bytes(&[8; 32]).verifying_key();
        assert_eq!(verify(&doc, &other), Err(ManifestError::Signature));
        // A changed manifest under the old signature.
        let mut m = manifest();
        m.version = "1.0.0".into();
        let forged = sign(&m, &sk);
        let v: serde_json::Value = serde_json::from_slice(&forged).unwrap_or_default();
        let orig: serde_json::Value = serde_json::from_slice(&doc).unwrap_or_default();
        let mixed = serde_json::json!({"manifest": v["manifest"], "signature": orig["signature"]});
        assert_eq!(
            verify(mixed.to_string().as_bytes(), &pk),
            Err(ManifestError::Signature)
        );
        assert!(matches!(verify(b"{", &pk), Err(ManifestError::Envelope(_))));
        assert!(matches!(
            verify(br#"{"manifest":"!!","signature":"AA=="}"#, &pk),
            Err(ManifestError::Base64(_))
        ));
    }

    #[test]
    fn keys_are_checked() {
        assert_eq!(parse_key("not base64").err(), Some(ManifestError::Key));
        assert_eq!(parse_key("AAAA").err(), Some(ManifestError::Key));
        let pk = ed25519_dalek::SigningKey::from_bytes(&[7; 32]).verifying_key();
        assert_eq!(parse_key(&STANDARD.encode(pk.to_bytes())).ok(), Some(pk));
    }
}
