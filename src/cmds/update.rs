//! `pinhole update`: install a RAUC bundle by hand (a USB stick, a file copied over SSH) and
//! show the slots, through the same D-Bus client the update agent uses. RAUC verifies the
//! signature and `compatible` and writes only the inactive slot; nothing is rebooted here.

use crate::ota::rauc::Rauc;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, clap::Args)]
pub struct UpdateArgs {
    /// D-Bus address of RAUC's bus (default: the system bus).
    #[arg(long, env = "PINHOLE_RAUC_DBUS")]
    pub dbus_address: Option<String>,
    #[command(subcommand)]
    pub action: UpdateAction,
}

#[derive(Debug, clap::Subcommand)]
pub enum UpdateAction {
    /// Install a bundle into the other slot; prints RAUC's progress.
    Install {
        /// The bundle (.raucb), a path or an URL RAUC can stream.
        bundle: String,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 1800)]
        timeout: u64,
    },
    /// The slots as RAUC sees them (JSON).
    Status,
    /// Make an Ed25519 key pair for signing manifests: the secret goes to FILE (0600), the
    /// public key (for `ota.manifest_key`) is printed.
    Keygen { file: std::path::PathBuf },
    /// Print the signed manifest for a bundle (serve it at `ota.manifest_url`).
    Manifest {
        /// The secret key file made by `keygen`.
        #[arg(long)]
        key: std::path::PathBuf,
        /// The bundle's `compatible` (as in its RAUC manifest).
        #[arg(long)]
        compatible: String,
        #[arg(long)]
        version: String,
        /// Where devices download it, absolute or relative to the manifest's URL.
        #[arg(long)]
        url: String,
        /// The bundle file (for its size and SHA-256).
        bundle: std::path::PathBuf,
    },
}

pub fn main(a: UpdateArgs) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("pinhole update: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(a)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pinhole update: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(a: UpdateArgs) -> anyhow::Result<()> {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    match &a.action {
        UpdateAction::Keygen { file } => {
            let mut seed = [0u8; 32];
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut seed);
            let key = ed25519_dalek::SigningKey::from_bytes(&seed);
            crate::system::write_private(file, STANDARD.encode(seed).as_bytes())?;
            println!("{}", STANDARD.encode(key.verifying_key().to_bytes()));
            return Ok(());
        }
        UpdateAction::Manifest {
            key,
            compatible,
            version,
            url,
            bundle,
        } => {
            let seed = STANDARD.decode(std::fs::read_to_string(key)?.trim())?;
            let seed: [u8; 32] = seed
                .try_into()
                .map_err(|_| anyhow::anyhow!("{} is not a key made by keygen", key.display()))?;
            let m = crate::ota::manifest::Manifest {
                compatible: compatible.clone(),
                version: version.clone(),
                url: url.clone(),
                sha256: crate::ota::download::sha256_file(bundle)?,
                size: std::fs::metadata(bundle)?.len(),
            };
            let doc = crate::ota::manifest::sign(&m, &ed25519_dalek::SigningKey::from_bytes(&seed));
            println!("{}", String::from_utf8_lossy(&doc));
            return Ok(());
        }
        _ => {}
    }
    let rauc = Rauc::connect(a.dbus_address.as_deref()).await?;
    match a.action {
        UpdateAction::Install { bundle, timeout } => {
            // RAUC wants an absolute path for local bundles.
            let source = match std::path::Path::new(&bundle).canonicalize() {
                Ok(p) if !bundle.contains("://") => p.display().to_string(),
                _ => bundle,
            };
            let mut last = -1;
            rauc.install(&source, Duration::from_secs(timeout), |pct, msg| {
                if pct != last {
                    println!("{pct:3}% {msg}");
                    last = pct;
                }
            })
            .await?;
            println!(
                "installed; the next boot uses slot {}",
                rauc.primary().await.unwrap_or_default()
            );
        }
        UpdateAction::Status => {
            let status = serde_json::json!({
                "compatible": rauc.compatible().await?,
                "booted": rauc.boot_slot().await?,
                "primary": rauc.primary().await.ok(),
                "slots": rauc.slots().await?,
            });
            println!("{}", serde_json::to_string_pretty(&status)?);
        }
        UpdateAction::Keygen { .. } | UpdateAction::Manifest { .. } => {}
    }
    Ok(())
}
