//! Runs tours: at most one per camera, moving to each preset with absolute moves and dwelling
//! there, once or in a loop, until stopped. A manual move by an operator stops the camera's tour
//! (the person at the joystick wins). A scheduler starts tours at their daily times, in the
//! device's time zone (the `timezone` setting).

use super::device::PtzDevice;
use super::profile::Profile;
use pinhole_base::clock::SharedClock;
use pinhole_base::events::EventBus;
use pinhole_db::presets::{self, Preset};
use pinhole_db::tours::{self, Tour};
use pinhole_db::{Store, StoreError};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RunningTour {
    pub camera_id: String,
    pub tour_id: i64,
    pub name: String,
    /// Index of the step being executed.
    pub step: usize,
}

#[derive(Debug, Default)]
pub struct TourRunner {
    running: Mutex<HashMap<String, (RunningTour, CancellationToken)>>,
}

impl TourRunner {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (RunningTour, CancellationToken)>> {
        match self.running.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Starts `tour` (its steps resolved to `presets`, in order), replacing whatever tour the
    /// camera was running.
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        self: &std::sync::Arc<Self>,
        tour: &Tour,
        presets: Vec<(Preset, u32)>,
        device: PtzDevice,
        profile: Profile,
        events: EventBus,
        clock: SharedClock,
        shutdown: &CancellationToken,
    ) {
        let stop = shutdown.child_token();
        let info = RunningTour {
            camera_id: tour.camera_id.clone(),
            tour_id: tour.id,
            name: tour.name.clone(),
            step: 0,
        };
        if let Some((_, old)) = self
            .lock()
            .insert(tour.camera_id.clone(), (info, stop.clone()))
        {
            old.cancel();
        }
        let camera = tour.camera_id.clone();
        let (tour_id, repeat, name) = (tour.id, tour.repeat, tour.name.clone());
        let runner = self.clone();
        let publish = move |what: &str, extra: serde_json::Value| {
            let mut v = serde_json::json!({"device": camera, "tour": tour_id, "name": name, "change": what});
            if let (Some(m), serde_json::Value::Object(e)) = (v.as_object_mut(), extra) {
                m.extend(e);
            }
            events.publish("ptz.preset", v, clock.now_ms());
        };
        let camera = tour.camera_id.clone();
        tokio::spawn(async move {
            publish("tour_started", serde_json::json!({}));
            'tour: loop {
                for (i, (p, dwell)) in presets.iter().enumerate() {
                    if let Some(entry) = runner.lock().get_mut(&camera) {
                        entry.0.step = i;
                    }
                    let go = device.go_to(
                        &profile,
                        Some(p.pan as i16),
                        Some(p.tilt as i16),
                        Some(p.zoom as u16),
                        1.0,
                    );
                    tokio::select! {
                        r = go => match r {
                            Ok(()) => publish("tour_step", serde_json::json!({"step": i, "preset": p.id, "preset_name": p.name})),
                            Err(e) => {
                                tracing::warn!(camera = %camera, error = %e, "tour step failed");
                                publish("tour_step_failed", serde_json::json!({"step": i, "preset": p.id, "error": e.to_string()}));
                            }
                        },
                        _ = stop.cancelled() => break 'tour,
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(u64::from(*dwell))) => {}
                        _ = stop.cancelled() => break 'tour,
                    }
                }
                if !repeat {
                    break;
                }
            }
            // Forget this run unless another tour replaced it meanwhile.
            let mut map = runner.lock();
            if map.get(&camera).is_some_and(|(t, _)| t.tour_id == tour_id) {
                map.remove(&camera);
            }
            drop(map);
            publish(
                if stop.is_cancelled() {
                    "tour_stopped"
                } else {
                    "tour_finished"
                },
                serde_json::json!({}),
            );
        });
    }

    /// Stops the camera's tour; true when one was running.
    pub fn stop(&self, camera_id: &str) -> bool {
        match self.lock().remove(camera_id) {
            Some((_, t)) => {
                t.cancel();
                true
            }
            None => false,
        }
    }

    pub fn running(&self) -> Vec<RunningTour> {
        let mut v: Vec<_> = self.lock().values().map(|(t, _)| t.clone()).collect();
        v.sort_by(|a, b| a.camera_id.cmp(&b.camera_id));
        v
    }

    pub fn running_on(&self, camera_id: &str) -> Option<RunningTour> {
        self.lock().get(camera_id).map(|(t, _)| t.clone())
    }
}

/// What starting a stored tour needs.
pub struct TourContext<'a> {
    pub store: &'a Store,
    pub ptz: &'a super::manager::PtzManager,
    pub tours: &'a std::sync::Arc<TourRunner>,
    pub events: &'a EventBus,
    pub clock: &'a SharedClock,
    pub shutdown: &'a CancellationToken,
}

/// Why a stored tour cannot start.
#[derive(Debug, thiserror::Error)]
pub enum TourStartError {
    #[error("tour {0} not found")]
    NotFound(i64),
    #[error("camera `{0}` has no PTZ link (or does not exist)")]
    NoPtz(String),
    #[error("none of this tour's presets exist any more")]
    NoPresets,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Starts stored tour `id` on its camera, replacing the tour the camera was running.
pub async fn start_stored(cx: &TourContext<'_>, id: i64) -> Result<Tour, TourStartError> {
    let tour = cx
        .store
        .call(move |c| tours::get(c, id))
        .await?
        .ok_or(TourStartError::NotFound(id))?;
    let (device, profile) = cx
        .ptz
        .get(&tour.camera_id)
        .ok_or_else(|| TourStartError::NoPtz(tour.camera_id.clone()))?;
    let steps = tour.steps.clone();
    let resolved = cx
        .store
        .call(move |c| {
            let mut out = Vec::new();
            for s in &steps {
                if let Some(p) = presets::get(c, s.preset_id)? {
                    out.push((p, s.dwell_secs));
                }
            }
            Ok(out)
        })
        .await?;
    if resolved.is_empty() {
        return Err(TourStartError::NoPresets);
    }
    cx.tours.start(
        &tour,
        resolved,
        device,
        profile,
        cx.events.clone(),
        cx.clock.clone(),
        cx.shutdown,
    );
    Ok(tour)
}

/// Starts the tours scheduled at `minute` ("HH:MM" in the device's time zone) that are not
/// already running.
pub async fn start_due(cx: &TourContext<'_>, minute: &str) -> Result<(), StoreError> {
    let due: Vec<Tour> = cx
        .store
        .call(|c| tours::list(c, None))
        .await?
        .into_iter()
        .filter(|t| t.schedule.iter().any(|s| s == minute))
        .collect();
    for t in due {
        if cx
            .tours
            .running_on(&t.camera_id)
            .is_some_and(|r| r.tour_id == t.id)
        {
            continue;
        }
        match start_stored(cx, t.id).await {
            Ok(_) => {
                tracing::info!(tour = %t.name, camera = %t.camera_id, "scheduled tour started")
            }
            Err(e) => tracing::warn!(tour = %t.name, error = %e, "scheduled tour could not start"),
        }
    }
    Ok(())
}

/// "HH:MM" of a UTC time in milliseconds since the epoch.
pub fn utc_hhmm(ms: i64) -> String {
    let secs = ms.div_euclid(1000).rem_euclid(86_400);
    format!("{:02}:{:02}", secs / 3600, (secs % 3600) / 60)
}

/// "HH:MM" of that time in the IANA zone `tz` (the device's time zone setting), from the
/// system's time zone database; UTC when the zone is unknown.
pub fn local_hhmm(ms: i64, tz: &str) -> String {
    let zoned = jiff::Timestamp::from_millisecond(ms)
        .ok()
        .zip(jiff::tz::TimeZone::get(tz).ok())
        .map(|(t, z)| t.to_zoned(z));
    match zoned {
        Some(z) => format!("{:02}:{:02}", z.hour(), z.minute()),
        None => utc_hhmm(ms),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_local_minutes() {
        // 2026-07-01 12:00 UTC is 14:00 in Paris (summer time) and 08:00 in New York.
        let noon = 1_782_907_200_000;
        assert_eq!(utc_hhmm(noon), "12:00");
        assert_eq!(local_hhmm(noon, "UTC"), "12:00");
        if std::path::Path::new("/usr/share/zoneinfo/Europe/Paris").exists() {
            assert_eq!(local_hhmm(noon, "Europe/Paris"), "14:00");
            assert_eq!(local_hhmm(noon, "America/New_York"), "08:00");
        }
        assert_eq!(local_hhmm(noon, "Nowhere/Atlantis"), "12:00");
    }

    #[test]
    fn formats_utc_minutes() {
        assert_eq!(utc_hhmm(0), "00:00");
        assert_eq!(utc_hhmm((8 * 3600 + 5 * 60 + 59) * 1000), "08:05");
        assert_eq!(utc_hhmm(86_400_000 + 61_000), "00:01");
    }
}
