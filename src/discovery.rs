//! Finding ONVIF cameras on the network: WS-Discovery probes (multicast, and one by one to
//! `discovery.unicast` addresses for networks that drop multicast), on demand and every
//! `discovery_interval_secs` (a setting, 0 = only on demand). What answered is kept by the
//! device's endpoint id, so a camera whose address changes stays one entry; a device seen for the
//! first time is announced as `camera.discovered`.

use crate::config::{DiscoveryConfig, discovery_target};
use crate::onvif::client::probe;
use crate::onvif::discovery::MULTICAST_ADDR;
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A device that answered a probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FoundDevice {
    /// The device's stable id (`urn:uuid:...`).
    pub endpoint: String,
    /// Its device service (the first address it gave).
    pub device_url: String,
    pub name: Option<String>,
    pub hardware: Option<String>,
    pub types: Vec<String>,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
}

/// One scan's outcome.
#[derive(Debug, Clone, Default)]
pub struct Scan {
    pub at_ms: i64,
    pub took: Duration,
    /// Endpoints that answered this scan.
    pub answered: Vec<String>,
    /// Endpoints never seen before this scan.
    pub new: Vec<String>,
    /// Probes that could not be sent.
    pub errors: Vec<String>,
}

#[derive(Debug, Default)]
pub struct Discovery {
    config: DiscoveryConfig,
    found: Mutex<BTreeMap<String, FoundDevice>>,
    last: Mutex<Option<Scan>>,
    /// One scan at a time: a second caller waits for it and then scans itself.
    scanning: tokio::sync::Mutex<()>,
    /// Woken when the interval changes.
    pub interval_changed: tokio::sync::Notify,
}

impl Discovery {
    pub fn new(config: DiscoveryConfig) -> Self {
        Self {
            config,
            ..Default::default()
        }
    }

    /// Every device seen so far, in endpoint order.
    pub fn devices(&self) -> Vec<FoundDevice> {
        self.found
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    pub fn last_scan(&self) -> Option<Scan> {
        self.last.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Sends the probes, waits `discovery.wait_ms` for answers, and records what answered.
    pub async fn scan(&self, now_ms: i64) -> Scan {
        let _one = self.scanning.lock().await;
        let started = Instant::now();
        let wait = Duration::from_millis(u64::from(self.config.wait_ms));
        let any: SocketAddr = ([0, 0, 0, 0], 0).into();
        let mut targets: Vec<SocketAddr> = Vec::new();
        let mut errors = Vec::new();
        if self.config.multicast
            && let Ok(group) = MULTICAST_ADDR.parse()
        {
            targets.push(group);
        }
        for t in &self.config.unicast {
            match discovery_target(t) {
                Ok(a) => targets.push(a),
                Err(e) => errors.push(e),
            }
        }
        let probes = targets
            .iter()
            .map(|&t| async move { (t, probe(any, t, wait).await) });
        let results = futures_util::future::join_all(probes).await;
        let mut scan = Scan {
            at_ms: now_ms,
            ..Default::default()
        };
        let mut found = self.found.lock().unwrap_or_else(|p| p.into_inner());
        for (target, result) in results {
            let matches = match result {
                Ok(m) => m,
                Err(e) => {
                    errors.push(format!("probe to {target}: {e}"));
                    continue;
                }
            };
            for m in matches {
                let Some(device_url) = m.xaddrs.first().cloned() else {
                    continue;
                };
                let key = if m.endpoint.is_empty() {
                    device_url.clone()
                } else {
                    m.endpoint.clone()
                };
                if scan.answered.contains(&key) {
                    continue;
                }
                scan.answered.push(key.clone());
                // What it says now replaces what it said before; only its first sighting stays.
                let first_seen_ms = match found.get(&key) {
                    Some(known) => known.first_seen_ms,
                    None => {
                        scan.new.push(key.clone());
                        now_ms
                    }
                };
                found.insert(
                    key.clone(),
                    FoundDevice {
                        endpoint: key,
                        device_url,
                        name: m.name,
                        hardware: m.hardware,
                        types: m.types,
                        first_seen_ms,
                        last_seen_ms: now_ms,
                    },
                );
            }
        }
        drop(found);
        scan.errors = errors;
        scan.took = started.elapsed();
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(scan.clone());
        scan
    }
}
