//! Over-the-air updates: Pinhole is the update agent of an A/B system run by RAUC.
//!
//! This part holds the boot side of an update, the one that must never brick a device: after
//! booting a slot that was freshly installed, the agent runs the health gate
//! ([`health::HealthGate`]) and only then tells RAUC the slot is good (`Mark good booted`). A
//! slot that does not become healthy in time is marked bad, which makes the boot loader's
//! primary the old slot, and the device reboots into it. A slot already confirmed (recorded in
//! `<state_dir>/ota-good.json`) is marked good as soon as the appliance is up, so the boot
//! loader's attempt counter is refilled on every boot, and a later hardware fault (a camera
//! unplugged) never triggers a rollback.
//!
//! Installing a bundle goes through RAUC too ([`rauc::Rauc::install`]; `pinhole update
//! install`): RAUC checks the signature, the `compatible` and the bundle format before it
//! writes anything, and writes only the inactive slot. Polling an update source (hawkBit's
//! DDI API or a signed manifest) and choosing the reboot time are not built yet.

pub mod download;
pub mod health;
pub mod manifest;
pub mod rauc;

use crate::events::EventBus;
use health::{HealthGate, Snapshot, Verdict};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct OtaConfig {
    /// Talk to RAUC and confirm (or roll back) the booted slot.
    pub enabled: bool,
    /// D-Bus address of RAUC's bus; empty: the system bus.
    pub dbus_address: String,
    /// A fresh slot must stay healthy this long before it is marked good.
    pub health_settle_secs: u64,
    /// ... and become so within this long after start, or it is marked bad (rollback).
    pub health_timeout_secs: u64,
    /// Run after marking a slot bad, to boot the other one, and after installing an update.
    pub reboot_command: Vec<String>,
    /// A signed update manifest to poll (plain HTTPS update source); empty: no polling.
    pub manifest_url: String,
    /// The Ed25519 public key (base64) that signs the manifest.
    pub manifest_key: String,
    /// Seconds between manifest checks.
    pub poll_secs: u64,
    /// When an installed update may reboot the device: "HH:MM-HH:MM" in `general.timezone`
    /// (may wrap midnight); empty: at once.
    pub reboot_window: String,
    /// The device's time zone for `reboot_window` (set from `general.timezone`).
    #[serde(skip)]
    pub timezone: String,
}

impl Default for OtaConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            dbus_address: String::new(),
            health_settle_secs: 30,
            health_timeout_secs: 300,
            reboot_command: vec!["systemctl".into(), "reboot".into()],
            manifest_url: String::new(),
            manifest_key: String::new(),
            poll_secs: 3600,
            reboot_window: String::new(),
            timezone: "UTC".into(),
        }
    }
}

impl OtaConfig {
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if self.health_timeout_secs <= self.health_settle_secs {
            out.push((
                "ota.health_timeout_secs".into(),
                format!(
                    "{} must be more than health_settle_secs ({})",
                    self.health_timeout_secs, self.health_settle_secs
                ),
            ));
        }
        if self.enabled && self.reboot_command.is_empty() {
            out.push(("ota.reboot_command".into(), "must not be empty".into()));
        }
        if !self.manifest_url.is_empty() {
            if reqwest::Url::parse(&self.manifest_url).is_err() {
                out.push(("ota.manifest_url".into(), "is not an URL".into()));
            }
            if let Err(e) = manifest::parse_key(&self.manifest_key) {
                out.push(("ota.manifest_key".into(), e.to_string()));
            }
            if self.poll_secs == 0 {
                out.push(("ota.poll_secs".into(), "must be at least 1".into()));
            }
        }
        if let Err(e) = download::in_window(&self.reboot_window, 0) {
            out.push(("ota.reboot_window".into(), e));
        }
        out
    }
}

/// What `get_update_status` reports.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UpdateStatus {
    pub enabled: bool,
    /// disabled, connecting, unavailable, checking, confirmed, marked_good, rolling_back, error.
    pub state: String,
    pub detail: Option<String>,
    pub compatible: Option<String>,
    pub booted: Option<String>,
    pub primary: Option<String>,
    pub slots: Vec<rauc::Slot>,
    pub health: Option<String>,
    /// The version the update source offers, and how far its download or install is (percent).
    pub available: Option<String>,
    pub progress: Option<i32>,
}

#[derive(Debug, Default)]
pub struct OtaHandle {
    status: RwLock<UpdateStatus>,
}

impl OtaHandle {
    pub fn status(&self) -> UpdateStatus {
        self.status
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn update(&self, f: impl FnOnce(&mut UpdateStatus)) {
        f(&mut self.status.write().unwrap_or_else(|p| p.into_inner()));
    }
}

/// The slot (and its bundle version) last confirmed healthy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Confirmed {
    slot: String,
    version: Option<String>,
}

/// Starts the agent. `snapshot` reads the appliance's health for the gate.
pub fn spawn(
    cfg: OtaConfig,
    state_dir: PathBuf,
    events: EventBus,
    now_ms: impl Fn() -> i64 + Send + Sync + 'static,
    snapshot: impl Fn() -> Snapshot + Send + Sync + 'static,
    shutdown: CancellationToken,
) -> Arc<OtaHandle> {
    let handle = Arc::new(OtaHandle::default());
    handle.update(|s| {
        s.enabled = cfg.enabled;
        s.state = if cfg.enabled {
            "connecting"
        } else {
            "disabled"
        }
        .into();
    });
    if !cfg.enabled {
        return handle;
    }
    let h = handle.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = shutdown.cancelled() => {}
            _ = run(cfg, state_dir, events, now_ms, snapshot, h) => {}
        }
    });
    handle
}

async fn run(
    cfg: OtaConfig,
    state_dir: PathBuf,
    events: EventBus,
    now_ms: impl Fn() -> i64,
    snapshot: impl Fn() -> Snapshot,
    h: Arc<OtaHandle>,
) {
    let Some((rauc, booted_version)) =
        confirm(&cfg, &state_dir, &events, &now_ms, &snapshot, &h).await
    else {
        return;
    };
    if !cfg.manifest_url.is_empty() {
        poll(
            &cfg,
            &state_dir,
            &events,
            &now_ms,
            &rauc,
            booted_version,
            &h,
        )
        .await;
    }
}

/// The boot side: confirm (or roll back) the booted slot. Returns RAUC's client and the booted
/// bundle's version when the device may go on looking for updates.
async fn confirm(
    cfg: &OtaConfig,
    state_dir: &std::path::Path,
    events: &EventBus,
    now_ms: &impl Fn() -> i64,
    snapshot: &impl Fn() -> Snapshot,
    h: &Arc<OtaHandle>,
) -> Option<(rauc::Rauc, Option<String>)> {
    let publish = |state: &str, detail: &str| {
        events.publish(
            "update.status",
            serde_json::json!({"state": state, "detail": detail}),
            now_ms(),
        );
    };
    let address = (!cfg.dbus_address.is_empty()).then_some(cfg.dbus_address.as_str());
    // RAUC may start after us: keep trying for a while.
    let started = Instant::now();
    let rauc = loop {
        match rauc::Rauc::connect(address).await {
            Ok(r) => break r,
            Err(e) if started.elapsed() > Duration::from_secs(60) => {
                tracing::warn!(error = %e, "updates unavailable");
                h.update(|s| {
                    s.state = "unavailable".into();
                    s.detail = Some(e.to_string());
                });
                return None;
            }
            Err(_) => tokio::time::sleep(Duration::from_secs(2)).await,
        }
    };
    let refresh = |r: &rauc::Rauc| {
        let r = r.clone();
        let h = h.clone();
        async move {
            let (compatible, booted, primary, slots) = (
                r.compatible().await,
                r.boot_slot().await,
                r.primary().await,
                r.slots().await,
            );
            h.update(|s| {
                s.compatible = compatible.ok();
                s.booted = booted.ok();
                s.primary = primary.ok();
                s.slots = slots.unwrap_or_default();
            });
        }
    };
    refresh(&rauc).await;
    let booted = match rauc.booted().await {
        Ok(Some(b)) => b,
        Ok(None) => {
            h.update(|s| {
                s.state = "error".into();
                s.detail = Some("RAUC knows no booted slot".into());
            });
            return None;
        }
        Err(e) => {
            h.update(|s| {
                s.state = "error".into();
                s.detail = Some(e.to_string());
            });
            return None;
        }
    };
    let record = state_dir.join("ota-good.json");
    let this = Confirmed {
        slot: booted.name.clone(),
        version: booted.bundle_version.clone(),
    };
    let confirmed: Option<Confirmed> = std::fs::read(&record)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    if confirmed.as_ref() == Some(&this) {
        // Known good: refill the boot loader's attempts.
        let res = rauc.mark("good", "booted").await;
        h.update(|s| {
            s.state = "confirmed".into();
            s.detail = res.err().map(|e| e.to_string());
        });
        refresh(&rauc).await;
        return Some((rauc, this.version));
    }
    h.update(|s| {
        s.state = "checking".into();
        s.detail = Some(format!(
            "slot {} (bundle {}) must prove healthy",
            this.slot,
            this.version.as_deref().unwrap_or("unknown")
        ));
    });
    publish("checking", &this.slot);
    let mut gate = HealthGate::new(
        Duration::from_secs(cfg.health_settle_secs),
        Duration::from_secs(cfg.health_timeout_secs),
    );
    let t0 = Instant::now();
    let verdict = loop {
        let snap = snapshot();
        h.update(|s| s.health = Some(snap.describe()));
        match gate.observe(t0.elapsed(), &snap) {
            Verdict::Wait => tokio::time::sleep(Duration::from_millis(500)).await,
            v => break v,
        }
    };
    match verdict {
        Verdict::Good => match rauc.mark("good", "booted").await {
            Ok(_) => {
                if let Ok(b) = serde_json::to_vec(&this) {
                    let _ = crate::secrets::write_private(&record, &b);
                }
                tracing::info!(slot = %this.slot, "updated slot is healthy: marked good");
                h.update(|s| {
                    s.state = "marked_good".into();
                    s.detail = Some(format!("slot {} confirmed", this.slot));
                });
                publish("marked_good", &this.slot);
            }
            Err(e) => h.update(|s| {
                s.state = "error".into();
                s.detail = Some(e.to_string());
            }),
        },
        Verdict::Bad(why) => {
            tracing::error!(slot = %this.slot, reason = %why, "updated slot is not healthy: rolling back");
            let marked = rauc.mark("bad", "booted").await;
            h.update(|s| {
                s.state = "rolling_back".into();
                s.detail = Some(match &marked {
                    Ok(_) => format!("slot {} marked bad: {why}", this.slot),
                    Err(e) => format!(
                        "slot {} unhealthy ({why}); marking it bad failed: {e}",
                        this.slot
                    ),
                });
            });
            publish("rolling_back", &why);
            // Never offer this version to this device again.
            if let Some(v) = &this.version {
                let _ = crate::secrets::write_private(
                    &state_dir.join("ota-failed.json"),
                    serde_json::json!({"version": v}).to_string().as_bytes(),
                );
            }
            refresh(&rauc).await;
            if marked.is_ok() {
                reboot(cfg).await;
            }
            return None;
        }
        Verdict::Wait => {}
    }
    refresh(&rauc).await;
    Some((rauc, this.version))
}

/// Runs `reboot_command` (after a rollback mark, or an installed update).
async fn reboot(cfg: &OtaConfig) {
    let Some((cmd, args)) = cfg.reboot_command.split_first() else {
        return;
    };
    match tokio::process::Command::new(cmd).args(args).status().await {
        Ok(st) if st.success() => {}
        Ok(st) => tracing::error!(%st, "the reboot command failed"),
        Err(e) => tracing::error!(error = %e, "cannot run the reboot command"),
    }
}

/// The fetch side: check the signed manifest every `poll_secs`; download a newer bundle for
/// this device (resumable), have RAUC install it into the other slot, then reboot in the window.
async fn poll(
    cfg: &OtaConfig,
    state_dir: &std::path::Path,
    events: &EventBus,
    now_ms: &impl Fn() -> i64,
    rauc: &rauc::Rauc,
    booted_version: Option<String>,
    h: &Arc<OtaHandle>,
) {
    let set = |state: &str, detail: String| {
        h.update(|s| {
            s.state = state.into();
            s.detail = Some(detail.clone());
        });
        events.publish(
            "update.status",
            serde_json::json!({"state": state, "detail": detail}),
            now_ms(),
        );
    };
    let key = match manifest::parse_key(&cfg.manifest_key) {
        Ok(k) => k,
        Err(e) => return set("error", e.to_string()),
    };
    let client = match reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(15))
        .build()
    {
        Ok(c) => c,
        Err(e) => return set("error", e.to_string()),
    };
    let compatible = rauc.compatible().await.unwrap_or_default();
    let failed: Option<String> = std::fs::read(state_dir.join("ota-failed.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v["version"].as_str().map(str::to_string));
    let mut refused: Option<String> = None;
    loop {
        match check(
            cfg,
            state_dir,
            &client,
            &key,
            rauc,
            &compatible,
            &booted_version,
            &failed,
            &mut refused,
            h,
            &set,
        )
        .await
        {
            Ok(Some(version)) => {
                // Installed: reboot in the window.
                set(
                    "reboot_pending",
                    format!(
                        "version {version} installed; rebooting in the window {:?}",
                        cfg.reboot_window
                    ),
                );
                loop {
                    let minute = jiff::tz::TimeZone::get(&cfg.timezone)
                        .map(|tz| {
                            let z = jiff::Timestamp::now().to_zoned(tz);
                            u32::from(z.hour() as u8) * 60 + u32::from(z.minute() as u8)
                        })
                        .unwrap_or(0);
                    if download::in_window(&cfg.reboot_window, minute).unwrap_or(true) {
                        break;
                    }
                    tokio::time::sleep(Duration::from_secs(30)).await;
                }
                set("rebooting", format!("into version {version}"));
                reboot(cfg).await;
                return;
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, "update check failed");
                set("error", e);
            }
        }
        tokio::time::sleep(Duration::from_secs(cfg.poll_secs)).await;
    }
}

/// One check of the update source. `Ok(Some(version))`: a bundle was installed.
#[allow(clippy::too_many_arguments)]
async fn check(
    cfg: &OtaConfig,
    state_dir: &std::path::Path,
    client: &reqwest::Client,
    key: &ed25519_dalek::VerifyingKey,
    rauc: &rauc::Rauc,
    compatible: &str,
    booted_version: &Option<String>,
    failed: &Option<String>,
    refused: &mut Option<String>,
    h: &Arc<OtaHandle>,
    set: &impl Fn(&str, String),
) -> Result<Option<String>, String> {
    let res = client
        .get(&cfg.manifest_url)
        .send()
        .await
        .map_err(|e| format!("cannot fetch the manifest {}: {e}", cfg.manifest_url))?;
    if !res.status().is_success() {
        return Err(format!(
            "the manifest {} answered {}",
            cfg.manifest_url,
            res.status()
        ));
    }
    let doc = res
        .bytes()
        .await
        .map_err(|e| format!("cannot read the manifest: {e}"))?;
    let m = manifest::verify(&doc, key).map_err(|e| e.to_string())?;
    h.update(|s| s.available = Some(m.version.clone()));
    if m.compatible != compatible {
        return Err(format!(
            "the manifest is for `{}`, this device is `{compatible}`",
            m.compatible
        ));
    }
    if booted_version.as_deref() == Some(m.version.as_str()) {
        set("up_to_date", format!("version {}", m.version));
        return Ok(None);
    }
    if failed.as_deref() == Some(m.version.as_str()) {
        set(
            "skipped",
            format!(
                "version {} failed its health check on this device",
                m.version
            ),
        );
        return Ok(None);
    }
    if refused.as_deref() == Some(m.version.as_str()) {
        return Ok(None);
    }
    let url = reqwest::Url::parse(&cfg.manifest_url)
        .and_then(|base| base.join(&m.url))
        .map_err(|e| format!("bad bundle url {}: {e}", m.url))?;
    let dest = state_dir.join("ota").join(format!(
        "pinhole-{}.raucb",
        m.version
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '_'
            })
            .collect::<String>()
    ));
    set("downloading", format!("version {} from {url}", m.version));
    let mut attempt = 0;
    let path = loop {
        attempt += 1;
        let r = download::fetch(
            client,
            url.as_str(),
            &dest,
            m.size,
            &m.sha256,
            |have, size| {
                h.update(|s| s.progress = Some((have * 100 / size.max(1)) as i32));
            },
        )
        .await;
        match r {
            Ok(p) => break p,
            Err(download::DownloadError::Interrupted { .. }) if attempt < 5 => {
                tracing::info!(attempt, "download interrupted; resuming");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            Err(e) => return Err(e.to_string()),
        }
    };
    set("installing", format!("version {}", m.version));
    let result = rauc
        .install(
            &path.display().to_string(),
            Duration::from_secs(1800),
            |pct, _| h.update(|s| s.progress = Some(pct)),
        )
        .await;
    let _ = tokio::fs::remove_file(&path).await;
    match result {
        Ok(()) => Ok(Some(m.version)),
        Err(e) => {
            *refused = Some(m.version.clone());
            Err(e.to_string())
        }
    }
}
