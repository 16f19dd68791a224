//! One PTZ device per camera that has a PTZ link, kept in step with the camera table: started
//! when a camera gains a link, restarted when its link (or, for ONVIF, its credentials) changes,
//! stopped when it loses it or is deleted. Status changes are published as `ptz.position`
//! events.

use super::controller::{Controller, ControllerConfig, PtzStatus};
use super::device::PtzDevice;
use super::link::PtzLink;
use super::onvif::OnvifPtz;
use super::profile::Profile;
use pinhole_base::camera::Camera;
use pinhole_base::clock::SharedClock;
use pinhole_base::events::EventBus;
use pinhole_base::ptz::PtzEndpoint;
use pinhole_onvif::client::Credentials;
use std::collections::HashMap;
use std::sync::Mutex;
use tokio_util::sync::CancellationToken;

struct Entry {
    link: PtzLink,
    credentials: Option<Credentials>,
    device: PtzDevice,
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

    /// Brings the devices in line with `cameras` (the whole table); `onvif_credentials` has the
    /// camera's own username and password for those steered over ONVIF.
    pub fn sync(&self, cameras: &[Camera], onvif_credentials: &HashMap<String, Credentials>) {
        let mut map = self.lock();
        let wanted: HashMap<&str, (&PtzLink, Option<&Credentials>)> = cameras
            .iter()
            .filter(|c| c.enabled)
            .filter_map(|c| {
                let link = c.ptz.as_ref()?;
                let creds = onvif_credentials.get(&c.id).filter(|_| link.is_onvif());
                Some((c.id.as_str(), (link, creds)))
            })
            .collect();
        map.retain(|id, e| {
            let keep = wanted
                .get(id.as_str())
                .is_some_and(|(l, c)| **l == e.link && *c == e.credentials.as_ref());
            if !keep {
                e.stop.cancel();
                tracing::info!(camera = %id, "PTZ controller stopped");
            }
            keep
        });
        for (id, (link, credentials)) in wanted {
            if map.contains_key(id) {
                continue;
            }
            let Ok(checked) = link.check() else {
                tracing::warn!(camera = %id, "PTZ link invalid; not started");
                continue;
            };
            let stop = self.shutdown.child_token();
            let (device, profile) = match checked.endpoint {
                PtzEndpoint::Onvif { device_url } => (
                    PtzDevice::Onvif(OnvifPtz::spawn(
                        device_url,
                        credentials.cloned(),
                        stop.clone(),
                    )),
                    Profile::onvif(),
                ),
                endpoint => {
                    let Some(spec) = super::link::visca_link(endpoint) else {
                        continue;
                    };
                    let profile = Profile::for_model(checked.model);
                    let mut cfg = ControllerConfig::new(spec, profile.clone());
                    cfg.address = checked.address;
                    (
                        PtzDevice::Visca(Controller::spawn(cfg, stop.clone())),
                        profile,
                    )
                }
            };
            self.forward_status(id.to_string(), device.watch(), stop.clone());
            tracing::info!(camera = %id, link = link.transport.as_str(), "PTZ controller started");
            map.insert(
                id.to_string(),
                Entry {
                    link: link.clone(),
                    credentials: credentials.cloned(),
                    device,
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

    /// The PTZ device and profile of a camera, if it has PTZ.
    pub fn get(&self, id: &str) -> Option<(PtzDevice, Profile)> {
        self.lock()
            .get(id)
            .map(|e| (e.device.clone(), e.profile.clone()))
    }
}
