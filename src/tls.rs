//! HTTPS material: a per-device self-signed certificate made on first start, or files the
//! installer provides. Uses `rcgen` and rustls with the `ring` provider (no C toolchain beyond
//! what `ring` needs, and the same provider on x86_64 and aarch64).

use std::path::{Path, PathBuf};

/// Cert and key paths for the HTTPS listener.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Returns `<state_dir>/tls/{cert,key}.pem`, generating them when absent.
pub fn ensure_self_signed(state_dir: &Path, device_name: &str) -> anyhow::Result<TlsFiles> {
    let dir = state_dir.join("tls");
    std::fs::create_dir_all(&dir)?;
    let files = TlsFiles {
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
    };
    if files.cert.exists() && files.key.exists() {
        return Ok(files);
    }
    let host = sanitize_host(device_name);
    let mut names = vec!["localhost".to_string(), format!("{host}.local"), host];
    names.dedup();
    let mut params = rcgen::CertificateParams::new(names)?;
    params
        .subject_alt_names
        .push(rcgen::SanType::IpAddress([127, 0, 0, 1].into()));
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, format!("Pinhole {device_name}"));
    params.not_before = time::OffsetDateTime::now_utc() - time::Duration::days(1);
    params.not_after = time::OffsetDateTime::now_utc() + time::Duration::days(3650);
    let key = rcgen::KeyPair::generate()?;
    let cert = params.self_signed(&key)?;
    crate::system::write_private(&files.key, key.serialize_pem().as_bytes())?;
    std::fs::write(&files.cert, cert.pem())?;
    tracing::info!(cert = %files.cert.display(), "generated a self-signed HTTPS certificate for this device");
    Ok(files)
}

fn sanitize_host(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let s = s.trim_matches('-').to_string();
    if s.is_empty() { "pinhole".into() } else { s }
}

/// Installs the process-wide rustls crypto provider (ring); harmless when already installed.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_once_with_private_key() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let f = ensure_self_signed(dir.path(), "Front Door").expect("generate");
        let pem = std::fs::read_to_string(&f.cert).expect("cert");
        assert!(pem.contains("BEGIN CERTIFICATE"));
        let mode = std::fs::metadata(&f.key).expect("key").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let again = ensure_self_signed(dir.path(), "Front Door").expect("reuse");
        assert_eq!(std::fs::read_to_string(again.cert).expect("cert"), pem);
        assert_eq!(sanitize_host("Front Door"), "front-door");
    }
}
