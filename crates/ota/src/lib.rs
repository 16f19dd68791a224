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
//! writes anything, and writes only the inactive slot.
//!
//! The fetch side polls one update source: a hawkBit server through its DDI API
//! ([`hawkbit`], the fleet engine: the server assigns updates and hears how each went, the
//! health gate's verdict included), or a plain HTTPS URL serving a signed manifest
//! ([`manifest`]). Either way the bundle is downloaded to the data partition with resume
//! ([`download`]), installed by RAUC, and the device reboots inside `reboot_window`. What was
//! installed and from which slot is kept in `<state_dir>/ota-pending.json`, so that after the
//! reboot (or a restart of the service before it) the agent knows whether the update is
//! running, still waits for its reboot, or was rolled back.

mod confirm;
pub mod ddi;
pub mod download;
pub mod hawkbit;
pub mod health;
pub mod manifest;
mod poll;
pub mod rauc;
mod settings;

use confirm::{confirm, refresh};
use poll::poll_manifest;
pub use settings::{config_problems, controller_id};

use health::{HealthGate, Snapshot, Verdict};
pub use pinhole_base::config::{HawkbitConfig, OtaConfig};
use pinhole_base::events::EventBus;
pub use pinhole_base::ota::UpdateState;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// What `get_update_status` reports.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UpdateStatus {
    pub enabled: bool,
    pub state: UpdateState,
    pub detail: Option<String>,
    /// Where updates come from: "hawkbit <server>", "manifest <url>" or none.
    pub source: Option<String>,
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

/// An update installed into the other slot: written once RAUC has installed it, read after the
/// reboot to tell what became of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Pending {
    pub version: String,
    /// The slot that was booted when it was installed.
    pub from_slot: String,
    /// The hawkBit action it belongs to.
    pub action: Option<String>,
    /// The kernel's boot id when it was installed: a different one later means the device has
    /// rebooted since.
    #[serde(default)]
    pub boot_id: Option<String>,
}

/// This boot's id (`PINHOLE_BOOT_ID` stands in for it in tests, where nothing reboots).
pub(crate) fn boot_id() -> Option<String> {
    std::env::var("PINHOLE_BOOT_ID")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// What became of a [`Pending`] update, judged from the booted and the primary slot.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    /// Installed, the reboot into it has not happened yet.
    AwaitingReboot,
    /// The device rebooted, but into the old slot while the new one is still the primary: the
    /// new slot never came up (a boot loader's single trial, as the Pi firmware's tryboot, is
    /// used up; or the power failed before the reboot). It must be given up.
    NeverCameUp,
    /// The device runs the new slot, which passed the health gate.
    Running,
    /// The device runs the old slot again: the new one was marked bad or never booted.
    RolledBack(String),
}

impl Pending {
    pub(crate) fn outcome(
        &self,
        booted: &str,
        primary: &str,
        failure: Option<&str>,
        boot_id: Option<&str>,
    ) -> Outcome {
        if booted != self.from_slot {
            Outcome::Running
        } else if primary != self.from_slot {
            match (&self.boot_id, boot_id) {
                (Some(then), Some(now)) if then != now => Outcome::NeverCameUp,
                _ => Outcome::AwaitingReboot,
            }
        } else {
            Outcome::RolledBack(match failure {
                Some(why) => format!(
                    "version {} failed its health check and was rolled back to slot {booted}: {why}",
                    self.version
                ),
                None => format!(
                    "version {} did not boot or was not confirmed; the boot loader returned to slot {booted}",
                    self.version
                ),
            })
        }
    }
}

/// The update agent's shared parts: configuration, where it keeps its records, and how it
/// reports (status for the API, `update.status` events).
pub(crate) struct Agent {
    cfg: OtaConfig,
    state_dir: PathBuf,
    events: EventBus,
    now_ms: Box<dyn Fn() -> i64 + Send + Sync>,
    h: Arc<OtaHandle>,
}

impl Agent {
    /// Sets the state and its detail, and publishes them as an `update.status` event.
    fn set(&self, state: UpdateState, detail: impl Into<String>) {
        let detail = detail.into();
        self.h.update(|s| {
            s.state = state;
            s.detail = Some(detail.clone());
        });
        self.events.publish(
            "update.status",
            serde_json::json!({"state": state, "detail": detail}),
            (self.now_ms)(),
        );
    }

    fn record(&self, name: &str) -> PathBuf {
        self.state_dir.join(name)
    }

    fn read_json<T: serde::de::DeserializeOwned>(&self, name: &str) -> Option<T> {
        std::fs::read(self.record(name))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
    }

    fn write_json(&self, name: &str, v: &impl Serialize) {
        match serde_json::to_vec(v) {
            Ok(b) => {
                if let Err(e) = pinhole_sys::write_private(&self.record(name), &b) {
                    tracing::error!(file = name, error = %e, "cannot keep the update record");
                }
            }
            Err(e) => tracing::error!(file = name, error = %e, "cannot encode the update record"),
        }
    }

    pub(crate) fn pending(&self) -> Option<Pending> {
        self.read_json("ota-pending.json")
    }

    pub(crate) fn clear_pending(&self) {
        let _ = std::fs::remove_file(self.record("ota-pending.json"));
    }

    /// What became of the pending update, if there is one. A new slot that never came up is
    /// given up here: marked bad (so the boot loader's primary is the running slot again) and
    /// recorded as failed, which makes it [`Outcome::RolledBack`].
    pub(crate) async fn judge_pending(&self, rauc: &rauc::Rauc) -> Option<(Pending, Outcome)> {
        let p = self.pending()?;
        let booted = rauc.booted().await.ok().flatten()?.name;
        let primary = rauc.primary().await.ok()?;
        let now = boot_id();
        let failure = self.failure_of(&p.version);
        let outcome = p.outcome(&booted, &primary, failure.as_deref(), now.as_deref());
        if let Outcome::RolledBack(why) = &outcome {
            // Rolled back by the boot loader (or a boot guard), not by the health gate: record
            // it too, so that the version is not installed again.
            if failure.is_none() {
                self.write_json(
                    "ota-failed.json",
                    &serde_json::json!({"version": p.version, "reason": why}),
                );
            }
        }
        if outcome != Outcome::NeverCameUp {
            return Some((p, outcome));
        }
        let why = format!(
            "slot {primary} never came up after the reboot (it did not boot, or the power failed before the reboot)"
        );
        tracing::error!(version = %p.version, %why, "giving the update up");
        if let Err(e) = rauc.mark("bad", &primary).await {
            tracing::error!(error = %e, "cannot mark the slot that never came up bad");
        }
        self.write_json(
            "ota-failed.json",
            &serde_json::json!({"version": p.version, "reason": why}),
        );
        refresh(rauc, &self.h).await;
        let primary = rauc.primary().await.unwrap_or(primary);
        let outcome = p.outcome(&booted, &primary, Some(&why), now.as_deref());
        Some((p, outcome))
    }

    /// Why the last failed version failed, if it is `version`.
    fn failure_of(&self, version: &str) -> Option<String> {
        let v: serde_json::Value = self.read_json("ota-failed.json")?;
        (v["version"] == version).then(|| v["reason"].as_str().unwrap_or("unhealthy").to_string())
    }

    /// Runs `reboot_command` (after a rollback mark, or an installed update).
    async fn reboot(&self) {
        let Some((cmd, args)) = self.cfg.reboot_command.split_first() else {
            return;
        };
        match tokio::process::Command::new(cmd).args(args).status().await {
            Ok(st) if st.success() => {}
            Ok(st) => tracing::error!(%st, "the reboot command failed"),
            Err(e) => tracing::error!(error = %e, "cannot run the reboot command"),
        }
    }

    /// Waits for `reboot_window`, then reboots into the installed `version`.
    async fn reboot_in_window(&self, version: &str) {
        self.set(
            UpdateState::RebootPending,
            format!(
                "version {version} installed; rebooting in the window {:?}",
                self.cfg.reboot_window
            ),
        );
        loop {
            let minute = jiff::tz::TimeZone::get(&self.cfg.timezone)
                .map(|tz| {
                    let z = jiff::Timestamp::now().to_zoned(tz);
                    u32::from(z.hour() as u8) * 60 + u32::from(z.minute() as u8)
                })
                .unwrap_or(0);
            if download::in_window(&self.cfg.reboot_window, minute).unwrap_or(true) {
                break;
            }
            tokio::time::sleep(Duration::from_secs(30)).await;
        }
        self.set(UpdateState::Rebooting, format!("into version {version}"));
        self.reboot().await;
    }

    /// Downloads `offer` to the data partition (resuming a broken connection) and checks it,
    /// without installing. Returns the verified file.
    async fn download(&self, client: &reqwest::Client, offer: &Offer) -> Result<PathBuf, String> {
        let dest = self.record("ota").join(format!(
            "pinhole-{}.raucb",
            offer
                .version
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() || c == '.' {
                    c
                } else {
                    '_'
                })
                .collect::<String>()
        ));
        self.set(
            UpdateState::Downloading,
            format!("version {} from {}", offer.version, offer.url),
        );
        let mut attempt = 0;
        loop {
            attempt += 1;
            let r = download::fetch(
                client,
                offer.url.as_str(),
                &dest,
                offer.size,
                &offer.sha256,
                |have, size| {
                    self.h
                        .update(|s| s.progress = Some((have * 100 / size.max(1)) as i32));
                },
            )
            .await;
            match r {
                Ok(p) => return Ok(p),
                Err(download::DownloadError::Interrupted { .. }) if attempt < 5 => {
                    tracing::info!(attempt, "download interrupted; resuming");
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
                Err(e) => return Err(e.to_string()),
            }
        }
    }

    /// Has RAUC install a downloaded bundle into the other slot, deletes the file, and records
    /// the update as pending.
    async fn install(
        &self,
        rauc: &rauc::Rauc,
        path: &Path,
        offer: &Offer,
        action: Option<String>,
    ) -> Result<(), String> {
        let from_slot = match rauc.booted().await {
            Ok(Some(s)) => s.name,
            Ok(None) => return Err("RAUC knows no booted slot".into()),
            Err(e) => return Err(e.to_string()),
        };
        self.set(
            UpdateState::Installing,
            format!("version {}", offer.version),
        );
        let result = rauc
            .install(
                &path.display().to_string(),
                Duration::from_secs(1800),
                |pct, _| self.h.update(|s| s.progress = Some(pct)),
            )
            .await;
        let _ = tokio::fs::remove_file(path).await;
        result.map_err(|e| e.to_string())?;
        self.write_json(
            "ota-pending.json",
            &Pending {
                version: offer.version.clone(),
                from_slot,
                action,
                boot_id: boot_id(),
            },
        );
        Ok(())
    }
}

/// A bundle an update source offers, and what the download must match.
#[derive(Debug, Clone)]
pub(crate) struct Offer {
    pub version: String,
    pub url: reqwest::Url,
    pub size: u64,
    pub sha256: String,
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
            UpdateState::Connecting
        } else {
            UpdateState::Disabled
        };
        s.source = if !cfg.hawkbit.url.is_empty() {
            Some(format!("hawkbit {}", cfg.hawkbit.url))
        } else if !cfg.manifest_url.is_empty() {
            Some(format!("manifest {}", cfg.manifest_url))
        } else {
            None
        };
    });
    if !cfg.enabled {
        return handle;
    }
    let agent = Agent {
        cfg,
        state_dir,
        events,
        now_ms: Box::new(now_ms),
        h: handle.clone(),
    };
    tokio::spawn(async move {
        tokio::select! {
            _ = shutdown.cancelled() => {}
            _ = run(agent, snapshot) => {}
        }
    });
    handle
}

async fn run(agent: Agent, snapshot: impl Fn() -> Snapshot) {
    let Some((rauc, booted_version)) = confirm(&agent, &snapshot).await else {
        return;
    };
    // An update installed before a restart of the service or a reboot.
    if let Some((p, outcome)) = agent.judge_pending(&rauc).await {
        match outcome {
            Outcome::AwaitingReboot => {
                agent.reboot_in_window(&p.version).await;
                return;
            }
            // hawkBit hears how it went when it next offers the action.
            _ if p.action.is_some() && !agent.cfg.hawkbit.url.is_empty() => {}
            Outcome::RolledBack(why) => {
                tracing::warn!(%why, "the last update was rolled back");
                agent.set(UpdateState::RolledBack, why);
                agent.clear_pending();
            }
            Outcome::Running | Outcome::NeverCameUp => agent.clear_pending(),
        }
    }
    if !agent.cfg.hawkbit.url.is_empty() {
        hawkbit::run(&agent, &rauc, booted_version).await;
    } else if !agent.cfg.manifest_url.is_empty() {
        poll_manifest(&agent, &rauc, booted_version).await;
    } else {
        agent.h.update(|s| {
            if matches!(s.state, UpdateState::MarkedGood | UpdateState::Confirmed) {
                return;
            }
            s.state = UpdateState::Idle;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pending_update_is_judged_by_the_booted_and_primary_slot() {
        let p = Pending {
            version: "2.0.0".into(),
            from_slot: "rootfs.0".into(),
            action: Some("8".into()),
            boot_id: Some("boot-1".into()),
        };
        let same = Some("boot-1");
        assert_eq!(
            p.outcome("rootfs.0", "rootfs.1", None, same),
            Outcome::AwaitingReboot
        );
        assert_eq!(
            p.outcome("rootfs.0", "rootfs.1", None, Some("boot-2")),
            Outcome::NeverCameUp
        );
        assert_eq!(
            p.outcome("rootfs.1", "rootfs.1", None, same),
            Outcome::Running
        );
        let Outcome::RolledBack(why) =
            p.outcome("rootfs.0", "rootfs.0", Some("camera0 is down"), same)
        else {
            panic!("not a rollback");
        };
        assert!(
            why.contains("2.0.0") && why.contains("camera0 is down"),
            "{why}"
        );
        let Outcome::RolledBack(why) = p.outcome("rootfs.0", "rootfs.0", None, same) else {
            panic!("not a rollback");
        };
        assert!(why.contains("did not boot"), "{why}");
    }

    #[test]
    fn one_update_source_and_sane_hawkbit_settings() {
        let mut c = OtaConfig::default();
        c.hawkbit.url = "https://hawkbit.example.com".into();
        assert!(config_problems(&c).is_empty(), "{}", config_problems(&c));
        c.manifest_url = "https://updates.example.com/m.json".into();
        c.manifest_key = {
            use base64::Engine;
            let key = ed25519_dalek::SigningKey::from_bytes(&[1; 32]).verifying_key();
            base64::engine::general_purpose::STANDARD.encode(key.to_bytes())
        };
        let keys: Vec<String> = config_problems(&c).into_iter().map(|p| p.field).collect();
        assert_eq!(keys, ["ota.hawkbit.url"]);
        c.manifest_url.clear();
        c.hawkbit.tenant = "a/b".into();
        c.hawkbit.controller_id = "dev 1".into();
        c.hawkbit.target_token = "t".into();
        c.hawkbit.gateway_token = "g".into();
        let keys: Vec<String> = config_problems(&c).into_iter().map(|p| p.field).collect();
        assert_eq!(
            keys,
            [
                "ota.hawkbit.tenant",
                "ota.hawkbit.controller_id",
                "ota.hawkbit.gateway_token"
            ]
        );
    }
}
