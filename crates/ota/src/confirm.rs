//! The boot side: confirm the booted slot after the health gate, or give it up (rollback).

use crate::*;

/// The boot side: confirm (or roll back) the booted slot. Returns RAUC's client and the booted
/// bundle's version when the device may go on looking for updates.
pub(crate) async fn confirm(
    agent: &Agent,
    snapshot: &impl Fn() -> Snapshot,
) -> Option<(rauc::Rauc, Option<String>)> {
    let (cfg, h) = (&agent.cfg, &agent.h);
    let address = (!cfg.dbus_address.is_empty()).then_some(cfg.dbus_address.as_str());
    // RAUC may start after us: keep trying for a while.
    let started = Instant::now();
    let rauc = loop {
        match rauc::Rauc::connect(address).await {
            Ok(r) => break r,
            Err(e) if started.elapsed() > Duration::from_secs(60) => {
                tracing::warn!(error = %e, "updates unavailable");
                agent.set(UpdateState::Unavailable, e.to_string());
                return None;
            }
            Err(_) => tokio::time::sleep(Duration::from_secs(2)).await,
        }
    };
    refresh(&rauc, h).await;
    let booted = match rauc.booted().await {
        Ok(Some(b)) => b,
        Ok(None) => {
            agent.set(UpdateState::Error, "RAUC knows no booted slot");
            return None;
        }
        Err(e) => {
            agent.set(UpdateState::Error, e.to_string());
            return None;
        }
    };
    let this = Confirmed {
        slot: booted.name.clone(),
        version: booted.bundle_version.clone(),
    };
    let confirmed: Option<Confirmed> = agent.read_json("ota-good.json");
    if confirmed.as_ref() == Some(&this) {
        // Known good: refill the boot loader's attempts.
        match rauc.mark("good", "booted").await {
            Ok(_) => agent.set(UpdateState::Confirmed, format!("slot {}", this.slot)),
            Err(e) => agent.set(UpdateState::Confirmed, e.to_string()),
        }
        refresh(&rauc, h).await;
        return Some((rauc, this.version));
    }
    agent.set(
        UpdateState::Checking,
        format!(
            "slot {} (bundle {}) must prove healthy",
            this.slot,
            this.version.as_deref().unwrap_or("unknown")
        ),
    );
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
                agent.write_json("ota-good.json", &this);
                tracing::info!(slot = %this.slot, "updated slot is healthy: marked good");
                agent.set(
                    UpdateState::MarkedGood,
                    format!("slot {} confirmed", this.slot),
                );
            }
            Err(e) => agent.set(UpdateState::Error, e.to_string()),
        },
        Verdict::Bad(why) => {
            tracing::error!(slot = %this.slot, reason = %why, "updated slot is not healthy: rolling back");
            let marked = rauc.mark("bad", "booted").await;
            agent.set(
                UpdateState::RollingBack,
                match &marked {
                    Ok(_) => format!("slot {} marked bad: {why}", this.slot),
                    Err(e) => format!(
                        "slot {} unhealthy ({why}); marking it bad failed: {e}",
                        this.slot
                    ),
                },
            );
            // Never offer this version to this device again; say why to the update server.
            if let Some(v) = &this.version {
                agent.write_json(
                    "ota-failed.json",
                    &serde_json::json!({"version": v, "reason": why}),
                );
            }
            refresh(&rauc, h).await;
            if marked.is_ok() {
                agent.reboot().await;
            }
            return None;
        }
        Verdict::Wait => {}
    }
    refresh(&rauc, h).await;
    Some((rauc, this.version))
}

/// Reads RAUC's view of the slots into the status.
pub(crate) async fn refresh(r: &rauc::Rauc, h: &OtaHandle) {
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
