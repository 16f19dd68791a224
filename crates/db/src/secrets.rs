//! Device-local secrets: the token signing key and the key that encrypts stored credentials.
//!
//! Both are random bytes generated on first start and kept in the state directory with mode 0600.
//! Camera passwords and other stored secrets are sealed with XChaCha20-Poly1305 under the device
//! key before they reach SQLite, so a copied database alone reveals nothing; the API never returns
//! them and they are never logged (the [`SecretString`] wrapper redacts `Debug`).

use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use pinhole_sys::write_private;
use rand::RngCore;
use std::fmt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use zeroize::Zeroizing;

/// Errors handling key files or sealed values.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("key file {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "key file {path} holds {len} bytes, expected {expected}; restore it from backup or remove it (stored secrets will have to be re-entered)"
    )]
    BadLength {
        path: String,
        len: usize,
        expected: usize,
    },
    #[error(
        "stored secret cannot be decrypted with this device's key (was the database copied from another device?)"
    )]
    Undecryptable,
}

/// Reads a 32-byte key file, creating it (0600) with random bytes when absent.
pub fn load_or_create_key(path: &Path) -> Result<Zeroizing<[u8; 32]>, SecretError> {
    let io = |source| SecretError::Io {
        path: path.display().to_string(),
        source,
    };
    match std::fs::read(path) {
        Ok(bytes) => {
            let bytes = Zeroizing::new(bytes);
            if bytes.len() != 32 {
                return Err(SecretError::BadLength {
                    path: path.display().to_string(),
                    len: bytes.len(),
                    expected: 32,
                });
            }
            // Tighten permissions if someone loosened them.
            let meta = std::fs::metadata(path).map_err(io)?;
            if meta.permissions().mode() & 0o077 != 0 {
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                    .map_err(io)?;
            }
            let mut key = Zeroizing::new([0u8; 32]);
            key.copy_from_slice(&bytes);
            Ok(key)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut key = Zeroizing::new([0u8; 32]);
            rand::rngs::OsRng.fill_bytes(key.as_mut());
            write_private(path, key.as_ref()).map_err(io)?;
            Ok(key)
        }
        Err(e) => Err(io(e)),
    }
}

/// Seals and opens stored secrets with the device key.
#[derive(Clone)]
pub struct SecretBox {
    cipher: XChaCha20Poly1305,
}

impl fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretBox(..)")
    }
}

impl SecretBox {
    pub fn new(key: &[u8; 32]) -> Self {
        Self {
            cipher: XChaCha20Poly1305::new(key.into()),
        }
    }

    /// Returns `nonce || ciphertext`.
    pub fn seal(&self, plaintext: &str) -> Vec<u8> {
        let mut nonce = [0u8; 24];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let mut out = nonce.to_vec();
        // Encryption only fails for inputs larger than the cipher's limit (256 GiB).
        match self
            .cipher
            .encrypt(XNonce::from_slice(&nonce), plaintext.as_bytes())
        {
            Ok(ct) => out.extend_from_slice(&ct),
            Err(_) => out.clear(),
        }
        out
    }

    pub fn open(&self, sealed: &[u8]) -> Result<SecretString, SecretError> {
        if sealed.len() < 24 + 16 {
            return Err(SecretError::Undecryptable);
        }
        let (nonce, ct) = sealed.split_at(24);
        let pt = self
            .cipher
            .decrypt(XNonce::from_slice(nonce), ct)
            .map_err(|_| SecretError::Undecryptable)?;
        String::from_utf8(pt)
            .map(SecretString)
            .map_err(|_| SecretError::Undecryptable)
    }
}

/// Opens the sealed value `column` of the row of `table` whose `key_column` is `key` (`None`
/// when the row has none or does not exist); `what` names it in the error (`camera `x`'s
/// password`).
pub(crate) fn open_column(
    conn: &rusqlite::Connection,
    secrets: &SecretBox,
    table: &str,
    column: &str,
    (key_column, key): (&str, &str),
    what: impl FnOnce() -> String,
) -> Result<Option<SecretString>, crate::StoreError> {
    use rusqlite::OptionalExtension;
    let sealed: Option<Option<Vec<u8>>> = conn
        .query_row(
            &format!("SELECT {column} FROM {table} WHERE {key_column} = ?1"),
            [key],
            |r| r.get(0),
        )
        .optional()?;
    match sealed.flatten() {
        None => Ok(None),
        Some(b) => secrets
            .open(&b)
            .map(Some)
            .map_err(|e| crate::StoreError::Sealed {
                what: what(),
                detail: e.to_string(),
            }),
    }
}

/// A string that never shows in logs or debug output.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(pub String);

impl SecretString {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"[redacted]\"")
    }
}

impl Drop for SecretString {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_file_is_created_private_and_reused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("device.key");
        let a = load_or_create_key(&p).expect("create");
        let mode = std::fs::metadata(&p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let b = load_or_create_key(&p).expect("reuse");
        assert_eq!(*a, *b);
        std::fs::write(&p, b"short").expect("write");
        assert!(matches!(
            load_or_create_key(&p),
            Err(SecretError::BadLength { len: 5, .. })
        ));
    }

    #[test]
    fn seal_open_round_trip_and_tamper() {
        let sb = SecretBox::new(&[7u8; 32]);
        let sealed = sb.seal("hunter2");
        assert!(!sealed.windows(7).any(|w| w == b"hunter2"));
        assert_eq!(sb.open(&sealed).expect("open").expose(), "hunter2");
        let mut bad = sealed.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(sb.open(&bad).is_err());
        let other = SecretBox::new(&[8u8; 32]);
        assert!(other.open(&sealed).is_err());
        assert_eq!(format!("{:?}", SecretString("x".into())), "\"[redacted]\"");
    }
}
