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

pub mod health;
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
    /// Run after marking a slot bad, to boot the other one.
    pub reboot_command: Vec<String>,
}

impl Default for OtaConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            dbus_address: String::new(),
            health_settle_secs: 30,
            health_timeout_secs: 300,
            reboot_command: vec!["systemctl".into(), "reboot".into()],
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
                return;
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
            return;
        }
        Err(e) => {
            h.update(|s| {
                s.state = "error".into();
                s.detail = Some(e.to_string());
            });
            return;
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
        return;
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
            refresh(&rauc).await;
            if marked.is_ok()
                && let Some((cmd, args)) = cfg.reboot_command.split_first()
            {
                match tokio::process::Command::new(cmd).args(args).status().await {
                    Ok(st) if st.success() => {}
                    Ok(st) => tracing::error!(%st, "the reboot command failed"),
                    Err(e) => tracing::error!(error = %e, "cannot run the reboot command"),
                }
            }
            return;
        }
        Verdict::Wait => {}
    }
    refresh(&rauc).await;
}
