//! Downloading a bundle without ever touching the running system: into
//! `<state_dir>/ota/<name>.part` on the data partition, resumed with HTTP Range after a broken
//! connection (a 200 answer to a ranged request restarts it), checked against the signed
//! manifest's size and SHA-256, synced, then renamed. Only a complete, verified file is handed
//! to RAUC, which checks the bundle's own signature again.

use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt;

#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    #[error("download of {url} failed: {detail}")]
    Http { url: String, detail: String },
    #[error("download of {url} broke after {have} of {size} bytes (resumes next time): {detail}")]
    Interrupted {
        url: String,
        have: u64,
        size: u64,
        detail: String,
    },
    #[error("the downloaded bundle does not match the manifest: {0}")]
    Mismatch(String),
    #[error("cannot write {path}: {detail}")]
    Io { path: String, detail: String },
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> DownloadError + '_ {
    move |e| DownloadError::Io {
        path: path.display().to_string(),
        detail: e.to_string(),
    }
}

/// Fetches `url` to `dest` (`dest.part` while incomplete). `progress` gets bytes so far.
pub async fn fetch(
    client: &reqwest::Client,
    url: &str,
    dest: &Path,
    size: u64,
    sha256_hex: &str,
    mut progress: impl FnMut(u64, u64),
) -> Result<PathBuf, DownloadError> {
    let part = dest.with_extension("part");
    if let Some(dir) = part.parent() {
        tokio::fs::create_dir_all(dir).await.map_err(io(dir))?;
    }
    // A bundle verified before a power loss (while RAUC was installing it, say) is not fetched
    // again; one that no longer matches is deleted and fetched anew.
    if let Ok(meta) = tokio::fs::metadata(dest).await {
        if meta.len() == size && sha256_of(dest).await?.eq_ignore_ascii_case(sha256_hex) {
            progress(size, size);
            return Ok(dest.to_path_buf());
        }
        tokio::fs::remove_file(dest).await.map_err(io(dest))?;
    }
    let mut have = tokio::fs::metadata(&part)
        .await
        .map(|m| m.len())
        .unwrap_or(0);
    if have > size {
        have = 0;
    }
    if have < size {
        let mut req = client.get(url);
        if have > 0 {
            req = req.header(reqwest::header::RANGE, format!("bytes={have}-"));
        }
        let http = |detail: String| DownloadError::Http {
            url: url.to_string(),
            detail,
        };
        let res = req.send().await.map_err(|e| http(e.to_string()))?;
        let status = res.status();
        let append = match status.as_u16() {
            206 if have > 0 => true,
            200 => false,
            s => return Err(http(format!("HTTP {s}"))),
        };
        if !append {
            have = 0;
        }
        let mut file = tokio::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .append(append)
            .truncate(!append)
            .open(&part)
            .await
            .map_err(io(&part))?;
        let mut body = res.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => {
                    let _ = file.sync_all().await;
                    return Err(DownloadError::Interrupted {
                        url: url.to_string(),
                        have,
                        size,
                        detail: e.to_string(),
                    });
                }
            };
            if have + chunk.len() as u64 > size {
                drop(file);
                let _ = tokio::fs::remove_file(&part).await;
                return Err(DownloadError::Mismatch(format!(
                    "more than the {size} bytes announced"
                )));
            }
            file.write_all(&chunk).await.map_err(io(&part))?;
            have += chunk.len() as u64;
            progress(have, size);
        }
        file.sync_all().await.map_err(io(&part))?;
        if have < size {
            return Err(DownloadError::Interrupted {
                url: url.to_string(),
                have,
                size,
                detail: "the connection closed early".into(),
            });
        }
    }
    // Check the whole file (a resumed download included).
    let sum = sha256_of(&part).await?;
    if !sum.eq_ignore_ascii_case(sha256_hex) {
        let _ = tokio::fs::remove_file(&part).await;
        return Err(DownloadError::Mismatch(format!(
            "SHA-256 {sum}, the manifest says {sha256_hex}"
        )));
    }
    tokio::fs::rename(&part, dest).await.map_err(io(dest))?;
    Ok(dest.to_path_buf())
}

async fn sha256_of(path: &Path) -> Result<String, DownloadError> {
    let p = path.to_path_buf();
    tokio::task::spawn_blocking(move || sha256_file(&p))
        .await
        .map_err(|e| DownloadError::Io {
            path: path.display().to_string(),
            detail: e.to_string(),
        })?
        .map_err(io(path))
}

/// Hex SHA-256 of a file, read in blocks (bundles are hundreds of MB).
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h)?;
    Ok(pinhole_base::hex(&h.finalize()))
}

/// Is `minute_of_day` inside `window` ("HH:MM-HH:MM", may wrap midnight; empty: always)?
pub fn in_window(window: &str, minute_of_day: u32) -> Result<bool, String> {
    let w = window.trim();
    if w.is_empty() {
        return Ok(true);
    }
    let parse = |s: &str| -> Result<u32, String> {
        let (h, m) = s
            .trim()
            .split_once(':')
            .ok_or_else(|| format!("`{s}` is not HH:MM"))?;
        let (h, m): (u32, u32) = (
            h.parse().map_err(|_| format!("`{s}` is not HH:MM"))?,
            m.parse().map_err(|_| format!("`{s}` is not HH:MM"))?,
        );
        if h > 23 || m > 59 {
            return Err(format!("`{s}` is not a time of day"));
        }
        Ok(h * 60 + m)
    };
    let (a, b) = w
        .split_once('-')
        .ok_or_else(|| format!("`{w}` is not HH:MM-HH:MM"))?;
    let (a, b) = (parse(a)?, parse(b)?);
    Ok(if a <= b {
        (a..b).contains(&minute_of_day)
    } else {
        minute_of_day >= a || minute_of_day < b
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows() {
        assert_eq!(in_window("", 5), Ok(true));
        assert_eq!(in_window("02:00-04:00", 150), Ok(true));
        assert_eq!(in_window("02:00-04:00", 240), Ok(false));
        assert_eq!(in_window("23:30-01:00", 10), Ok(true), "wraps midnight");
        assert_eq!(in_window("23:30-01:00", 600), Ok(false));
        assert!(in_window("25:00-01:00", 0).is_err());
        assert!(in_window("2-3", 0).is_err());
    }

    /// Nothing listens on this address: a fetch that reaches the network fails.
    const NOWHERE: &str = "http://127.0.0.1:9/bundle.raucb";

    #[tokio::test]
    async fn a_bundle_verified_before_a_power_loss_is_not_fetched_again() {
        let dir = tempfile::tempdir().expect("tempdir");
        let dest = dir.path().join("ota/pinhole-2.0.0.raucb");
        std::fs::create_dir_all(dest.parent().expect("parent")).expect("dir");
        let bundle = b"a complete, verified bundle".to_vec();
        std::fs::write(&dest, &bundle).expect("write");
        let sum = pinhole_base::hex(&Sha256::digest(&bundle));
        let mut seen = None;
        let got = fetch(
            &reqwest::Client::new(),
            NOWHERE,
            &dest,
            bundle.len() as u64,
            &sum,
            |have, size| seen = Some((have, size)),
        )
        .await
        .expect("reused without the network");
        assert_eq!(got, dest);
        assert_eq!(seen, Some((bundle.len() as u64, bundle.len() as u64)));

        // Same size, other content: deleted, and fetched anew (which fails here).
        std::fs::write(&dest, b"a complete, verified bundlE").expect("write");
        let err = fetch(
            &reqwest::Client::new(),
            NOWHERE,
            &dest,
            bundle.len() as u64,
            &sum,
            |_, _| {},
        )
        .await
        .expect_err("must go to the network");
        assert!(matches!(err, DownloadError::Http { .. }), "{err}");
        assert!(!dest.exists(), "the file that no longer matches is kept");
    }
}
