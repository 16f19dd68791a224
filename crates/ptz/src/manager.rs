//! One controller per camera that has a PTZ link, kept in step with the camera table: started
//! when a camera gains a link, restarted when its link changes, stopped when it loses it or is
//! deleted. Status changes are published as `ptz.position` events.

use super::controller::{Controller, ControllerConfig, PtzStatus};
use super::link::PtzLink;
use super::profile::Profile;
use pinhole_base::camera::Camera;
use pinhole_base::clock::SharedClock;
use pinhole_base::events::EventBus;
use std::collections::HashMap;
use std::sync::Mutex;
use tokio_util::sync::CancellationToken;

struct Entry {
    link: PtzLink,
    controller: Controller,
    profile: Profile,
    stop: CancellationToken,
}

pub struct PtzManager {
    cameras: Mutex<HashMap<String, Entry>>,
    shutdown: CancellationToken,
    events: EventBus,
    clock: SharedClock,
}

impl std::fmt::Debug for PtzManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PtzManager")
    }
}

impl PtzManager {
    pub fn new(shutdown: CancellationToken, events: EventBus, clock: SharedClock) -> Self {
        PtzManager {
            cameras: Mutex::new(HashMap::new()),
            shutdown,
            events,
            clock,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        match self.cameras.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Brings the controllers in line with `cameras` (the whole table).
    pub fn sync(&self, cameras: &[Camera]) {
        let mut map = self.lock();
        let wanted: HashMap<&str, &PtzLink> = cameras
            .iter()
            .filter(|c| c.enabled)
            .filter_map(|c| c.ptz.as_ref().map(|p| (c.id.as_str(), p)))
            .collect();
        map.retain(|id, e| {
            let keep = wanted.get(id.as_str()).is_some_and(|l| **l == e.link);
            if !keep {
                e.stop.cancel();
                tracing::info!(camera = %id, "PTZ controller stopped");
            }
            keep
        });
        for (id, link) in wanted {
            if map.contains_key(id) {
                continue;
            }
            let Ok((spec, profile, address)) = super::link::resolve(link) else {
                tracing::warn!(camera = %id, "PTZ link invalid; not started");
                continue;
            };
            let stop = self.shutdown.child_token();
            let mut cfg = ControllerConfig::new(spec, profile.clone());
            cfg.address = address;
            let controller = Controller::spawn(cfg, stop.clone());
            self.forward_status(id.to_string(), controller.watch(), stop.clone());
            tracing::info!(camera = %id, link = link.transport.as_str(), "PTZ controller started");
            map.insert(
                id.to_string(),
                Entry {
                    link: link.clone(),
                    controller,
                    profile,
                    stop,
                },
            );
        }
    }

    fn forward_status(
        &self,
        id: String,
        mut w: tokio::sync::watch::Receiver<PtzStatus>,
        stop: CancellationToken,
    ) {
        let events = self.events.clone();
        let clock = self.clock.clone();
        tokio::spawn(async move {
            let mut last = (None, None, None, None, false);
            let mut last_error: Option<String> = None;
            loop {
                tokio::select! {
                    r = w.changed() => if r.is_err() { return },
                    _ = stop.cancelled() => return,
                }
                let s = w.borrow_and_update().clone();
                if s.last_error.is_some() && s.last_error != last_error {
                    events.publish(
                        "ptz.error",
                        serde_json::json!({"device": id, "error": s.last_error, "connected": s.connected}),
                        clock.now_ms(),
                    );
                }
                last_error = s.last_error.clone();
                let now = (s.pan, s.tilt, s.zoom, s.power, s.connected);
                if now != last {
                    last = now;
                    events.publish(
                        "ptz.position",
                        serde_json::json!({"device": id, "pan": s.pan, "tilt": s.tilt, "zoom": s.zoom, "power": s.power, "connected": s.connected}),
                        clock.now_ms(),
                    );
                }
            }
        });
    }

    /// The controller and profile of a camera, if it has PTZ.
    pub fn get(&self, id: &str) -> Option<(Controller, Profile)> {
        self.lock()
            .get(id)
            .map(|e| (e.controller.clone(), e.profile.clone()))
    }
}
