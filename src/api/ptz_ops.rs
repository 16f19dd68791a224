//! PTZ operations shared by the JSON-RPC methods and the REST routes: the caller's normalised
//! values are checked against the camera's profile *before* anything is sent (out-of-range
//! speeds, positions and preset numbers never reach the wire), then done by the camera's
//! [`PtzDevice`] over VISCA or ONVIF.
//!
//! Units: continuous speeds are -1..1 (sign = direction: pan right, tilt up, zoom tele are
//! positive); absolute positions are the profile's position units (VISCA's own, or ONVIF's
//! generic spaces × 10000; checked against the profile's limits), or degrees on the REST routes
//! (× `units_per_degree`); zoom is 0..zoom_max (REST: 0-10).

use super::SharedState;
use crate::ptz::controller::{PtzError, PtzStatus};
use crate::ptz::device::{Capabilities, PtzDevice};
use crate::ptz::onvif::PresetAction;
use crate::ptz::profile::Profile;
use crate::ptz::visca::{Answer, Command, FocusMode, Inquiry};
use crate::store::presets::{self, Preset};
use pinhole_base::FieldErrors;
use serde::Serialize;

#[derive(Debug)]
pub enum PtzOpError {
    NoCamera(String),
    Invalid(FieldErrors),
    Ptz(PtzError),
    /// A store failure, mapped like any other (a fault of the database is a server error).
    Store(crate::store::StoreError),
}

impl From<crate::store::StoreError> for PtzOpError {
    fn from(e: crate::store::StoreError) -> Self {
        match e {
            crate::store::StoreError::NotFound(m) => PtzOpError::NoCamera(m),
            other => PtzOpError::Store(other),
        }
    }
}

fn invalid(field: &str, reason: impl Into<String>) -> PtzOpError {
    PtzOpError::Invalid(FieldErrors::single(field, reason))
}

impl From<PtzError> for PtzOpError {
    fn from(e: PtzError) -> Self {
        PtzOpError::Ptz(e)
    }
}

/// The operator takes over: a manual command stops the camera's tour.
fn manual(state: &SharedState, id: &str) {
    if state.tours.stop(id) {
        tracing::info!(camera = %id, "tour stopped by a manual PTZ command");
    }
}

pub fn camera(state: &SharedState, id: &str) -> Result<(PtzDevice, Profile), PtzOpError> {
    state.ptz.get(id).ok_or_else(|| {
        PtzOpError::NoCamera(format!("camera `{id}` has no PTZ link (or does not exist)"))
    })
}

fn unit(name: &str, v: f64) -> Result<f64, PtzOpError> {
    if v.is_finite() && (-1.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(invalid(name, format!("{v} is outside -1..1")))
    }
}

/// Continuous move; zero speeds stop that axis.
pub async fn continuous(
    state: &SharedState,
    id: &str,
    pan: f64,
    tilt: f64,
    zoom: Option<f64>,
) -> Result<(), PtzOpError> {
    let (d, p) = camera(state, id)?;
    let (pan, tilt) = (unit("pan_speed", pan)?, unit("tilt_speed", tilt)?);
    let zoom = zoom.map(|z| unit("zoom_speed", z)).transpose()?;
    manual(state, id);
    Ok(d.drive(&p, pan, tilt, zoom).await?)
}

pub async fn home(state: &SharedState, id: &str) -> Result<(), PtzOpError> {
    let (d, _) = camera(state, id)?;
    manual(state, id);
    Ok(d.home().await?)
}

pub async fn stop(state: &SharedState, id: &str) -> Result<(), PtzOpError> {
    let (d, p) = camera(state, id)?;
    manual(state, id);
    Ok(d.stop(&p).await?)
}

/// Absolute move in the profile's units; `speed` 0..1 (default 1). Missing axes keep their
/// position.
pub async fn absolute(
    state: &SharedState,
    id: &str,
    pan: Option<i32>,
    tilt: Option<i32>,
    zoom: Option<i32>,
    speed: Option<f64>,
) -> Result<(), PtzOpError> {
    let (c, p) = camera(state, id)?;
    let speed = speed.unwrap_or(1.0);
    if !(0.0..=1.0).contains(&speed) || !speed.is_finite() || speed == 0.0 {
        return Err(invalid("speed", format!("{speed} is outside (0, 1]")));
    }
    let fit = |name: &str, v: i32, r: &std::ops::RangeInclusive<i16>| -> Result<i16, PtzOpError> {
        i16::try_from(v)
            .ok()
            .filter(|v| r.contains(v))
            .ok_or_else(|| {
                invalid(
                    name,
                    format!("{v} is outside {}..={} for this camera", r.start(), r.end()),
                )
            })
    };
    let pan = pan.map(|v| fit("pan", v, &p.pan_limits)).transpose()?;
    let tilt = tilt.map(|v| fit("tilt", v, &p.tilt_limits)).transpose()?;
    let zoom = zoom
        .map(|z| {
            u16::try_from(z)
                .ok()
                .filter(|z| *z <= p.zoom_max)
                .ok_or_else(|| invalid("zoom", format!("{z} is outside 0..={}", p.zoom_max)))
        })
        .transpose()?;
    manual(state, id);
    Ok(c.go_to(&p, pan, tilt, zoom, speed).await?)
}

pub async fn focus(
    state: &SharedState,
    id: &str,
    mode: Option<&str>,
    position: Option<i32>,
) -> Result<(), PtzOpError> {
    let (d, p) = camera(state, id)?;
    let c = d.visca()?;
    match mode {
        None => {}
        Some("auto") => c.command(Command::FocusSetMode(FocusMode::Auto)).await?,
        Some("manual") => c.command(Command::FocusSetMode(FocusMode::Manual)).await?,
        Some("one_push") => c.command(Command::FocusOnePush).await?,
        Some(other) => {
            return Err(invalid(
                "mode",
                format!("`{other}` is not auto, manual or one_push"),
            ));
        }
    }
    if let Some(v) = position {
        let v = u16::try_from(v)
            .ok()
            .filter(|v| p.focus_limits.contains(v))
            .ok_or_else(|| invalid("position", format!("{v} is outside {:?}", p.focus_limits)))?;
        c.command(Command::FocusDirect { position: v }).await?;
    }
    Ok(())
}

pub async fn simple(state: &SharedState, id: &str, cmd: Command) -> Result<(), PtzOpError> {
    let (d, _) = camera(state, id)?;
    let c = d.visca()?;
    manual(state, id);
    Ok(c.command(cmd).await?)
}

/// Camera-memory presets: `set`, `recall`, `reset`.
pub async fn preset(
    state: &SharedState,
    id: &str,
    action: &str,
    preset: i32,
) -> Result<(), PtzOpError> {
    let (c, p) = camera(state, id)?;
    let n = u8::try_from(preset)
        .ok()
        .filter(|n| p.preset_ok(*n))
        .ok_or_else(|| {
            invalid(
                "preset",
                format!("{preset} is outside this camera's presets {:?}", p.presets),
            )
        })?;
    let action = PresetAction::parse(action)
        .ok_or_else(|| invalid("action", format!("`{action}` is not set, recall or reset")))?;
    Ok(c.camera_preset(action, n).await?)
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StatusView {
    pub device: String,
    #[serde(flatten)]
    pub status: PtzStatus,
    pub profile: &'static str,
    pub pan_limits: [i16; 2],
    pub tilt_limits: [i16; 2],
    pub zoom_max: u16,
    pub units_per_degree: f64,
    /// What this camera's PTZ can do: the page offers only that.
    pub capabilities: Capabilities,
}

pub fn status(state: &SharedState, id: &str) -> Result<StatusView, PtzOpError> {
    let (c, p) = camera(state, id)?;
    Ok(StatusView {
        device: id.to_string(),
        status: c.status(),
        profile: p.name,
        pan_limits: [*p.pan_limits.start(), *p.pan_limits.end()],
        tilt_limits: [*p.tilt_limits.start(), *p.tilt_limits.end()],
        zoom_max: p.zoom_max,
        units_per_degree: p.units_per_degree,
        capabilities: c.capabilities(),
    })
}

/// Saves the camera's current position as a named preset.
pub async fn save_preset(
    state: &SharedState,
    id: &str,
    name: String,
) -> Result<Preset, PtzOpError> {
    presets::valid_name(&name)?;
    let (d, _) = camera(state, id)?;
    let (pan, tilt, zoom) = d.position().await?;
    let (pan, tilt, zoom) = (i32::from(pan), i32::from(tilt), i32::from(zoom));
    // Focus is kept only when the camera focuses manually; in auto focus it refocuses anyway.
    let focus = match d.visca().ok() {
        Some(c) => match c.inquire(Inquiry::FocusMode).await {
            Ok(Answer::FocusMode(FocusMode::Manual)) => {
                match c.inquire(Inquiry::FocusPosition).await? {
                    Answer::FocusPosition(f) => Some(i32::from(f)),
                    _ => None,
                }
            }
            _ => None,
        },
        None => None,
    };
    let camera_id = id.to_string();
    let now = state.clock.now_secs();
    let pos = presets::Position {
        pan,
        tilt,
        zoom,
        focus,
    };
    let p = state
        .store
        .call(move |c| presets::save(c, &camera_id, &name, pos, now))
        .await?;
    state.events.publish(
        "ptz.preset",
        serde_json::json!({"device": id, "preset": p.id, "name": p.name, "change": "saved"}),
        state.now_ms(),
    );
    Ok(p)
}

pub async fn preset_by_id(state: &SharedState, preset_id: i64) -> Result<Preset, PtzOpError> {
    state
        .store
        .call(move |c| presets::get(c, preset_id))
        .await?
        .ok_or_else(|| PtzOpError::NoCamera(format!("preset {preset_id}")))
}

/// Moves to a named preset with absolute moves; answers on arrival.
pub async fn goto_preset(state: &SharedState, preset_id: i64) -> Result<Preset, PtzOpError> {
    let p = preset_by_id(state, preset_id).await?;
    absolute(
        state,
        &p.camera_id,
        Some(p.pan),
        Some(p.tilt),
        Some(p.zoom),
        None,
    )
    .await?;
    if let Some(f) = p.focus {
        // Only meaningful in manual focus over VISCA; a camera in auto focus refuses, which is
        // fine.
        let _ = focus(state, &p.camera_id, None, Some(f)).await;
    }
    state.events.publish("ptz.preset", serde_json::json!({"device": p.camera_id, "preset": p.id, "name": p.name, "change": "recalled"}), state.now_ms());
    Ok(p)
}

/// Starts a stored tour (see [`crate::ptz::tours::start_stored`]).
pub async fn start_tour(
    state: &SharedState,
    tour_id: i64,
) -> Result<crate::store::tours::Tour, PtzOpError> {
    use crate::ptz::tours::TourStartError as E;
    crate::ptz::tours::start_stored(&state.tour_context(), tour_id)
        .await
        .map_err(|e| match e {
            E::NotFound(_) | E::NoPtz(_) => PtzOpError::NoCamera(e.to_string()),
            E::NoPresets => invalid("steps", e.to_string()),
            E::Store(e) => e.into(),
        })
}
