//! PTZ: moves, focus, power, camera-memory presets, named presets and tours. Values are checked
//! against the camera's profile by [`crate::api::ptz_ops`] before anything is sent.

use super::{DeviceParams, Method, Session};
use crate::api::rpc::envelope::RpcError;
use crate::api::{SharedState, ptz_ops};
use serde::Deserialize;
use serde_json::{Value, json};

pub(super) fn methods() -> Vec<Method> {
    vec![
        method!("ptz_status", VIEWER, READ, ptz_status),
        method!("ptz_move", OPERATOR, AUDITED, ptz_move),
        method!("ptz_stop", OPERATOR, AUDITED, ptz_stop),
        method!("ptz_absolute", OPERATOR, AUDITED, ptz_absolute),
        method!("ptz_focus", OPERATOR, AUDITED, ptz_focus),
        method!("ptz_home", OPERATOR, AUDITED, ptz_home),
        method!("ptz_power", OPERATOR, AUDITED, ptz_power),
        method!("ptz_preset", OPERATOR, AUDITED, ptz_preset),
        method!("ptz_presets", VIEWER, READ, ptz_presets),
        method!("ptz_preset_save", OPERATOR, AUDITED, ptz_preset_save),
        method!("ptz_preset_goto", OPERATOR, AUDITED, ptz_preset_goto),
        method!("ptz_preset_rename", OPERATOR, AUDITED, ptz_preset_rename),
        method!("ptz_preset_delete", OPERATOR, AUDITED, ptz_preset_delete),
        method!("ptz_tours", VIEWER, READ, ptz_tours),
        method!("ptz_tour_save", OPERATOR, AUDITED, ptz_tour_save),
        method!("ptz_tour_delete", OPERATOR, AUDITED, ptz_tour_delete),
        method!("ptz_tour_start", OPERATOR, AUDITED, ptz_tour_start),
        method!("ptz_tour_stop", OPERATOR, AUDITED, ptz_tour_stop),
    ]
}

async fn ptz_status(
    state: &SharedState,
    _session: &mut Session,
    DeviceParams { device }: DeviceParams,
) -> Result<Value, RpcError> {
    let v = ptz_ops::status(state, &device).map_err(RpcError::from)?;
    serde_json::to_value(v).map_err(|e| RpcError::internal(e.to_string()))
}

async fn ptz_move(
    state: &SharedState,
    _session: &mut Session,
    PtzMoveParams {
        device,
        pan_speed,
        tilt_speed,
        zoom_speed,
    }: PtzMoveParams,
) -> Result<Value, RpcError> {
    ptz_ops::continuous(state, &device, pan_speed, tilt_speed, zoom_speed)
        .await
        .map_err(RpcError::from)?;
    Ok(
        json!({"moving": pan_speed != 0.0 || tilt_speed != 0.0 || zoom_speed.is_some_and(|z| z != 0.0)}),
    )
}

async fn ptz_stop(
    state: &SharedState,
    _session: &mut Session,
    DeviceParams { device }: DeviceParams,
) -> Result<Value, RpcError> {
    ptz_ops::stop(state, &device)
        .await
        .map_err(RpcError::from)?;
    Ok(json!({"stopped": true}))
}

async fn ptz_absolute(
    state: &SharedState,
    _session: &mut Session,
    PtzAbsoluteParams {
        device,
        pan,
        tilt,
        zoom,
        speed,
    }: PtzAbsoluteParams,
) -> Result<Value, RpcError> {
    ptz_ops::absolute(state, &device, pan, tilt, zoom, speed)
        .await
        .map_err(RpcError::from)?;
    Ok(json!({"arrived": true}))
}

async fn ptz_focus(
    state: &SharedState,
    _session: &mut Session,
    PtzFocusParams {
        device,
        mode,
        position,
    }: PtzFocusParams,
) -> Result<Value, RpcError> {
    ptz_ops::focus(state, &device, mode.as_deref(), position)
        .await
        .map_err(RpcError::from)?;
    Ok(json!({"done": true}))
}

async fn ptz_home(
    state: &SharedState,
    _session: &mut Session,
    DeviceParams { device }: DeviceParams,
) -> Result<Value, RpcError> {
    ptz_ops::home(state, &device)
        .await
        .map_err(RpcError::from)?;
    Ok(json!({"arrived": true}))
}

async fn ptz_power(
    state: &SharedState,
    _session: &mut Session,
    PtzPowerParams { device, on }: PtzPowerParams,
) -> Result<Value, RpcError> {
    ptz_ops::simple(state, &device, crate::ptz::visca::Command::Power { on })
        .await
        .map_err(RpcError::from)?;
    Ok(json!({"power": on}))
}

async fn ptz_preset(
    state: &SharedState,
    _session: &mut Session,
    PtzPresetParams {
        device,
        action,
        preset,
    }: PtzPresetParams,
) -> Result<Value, RpcError> {
    ptz_ops::preset(state, &device, &action, preset)
        .await
        .map_err(RpcError::from)?;
    Ok(json!({"done": true, "action": action, "preset": preset}))
}

async fn ptz_presets(
    state: &SharedState,
    _session: &mut Session,
    DeviceParams { device }: DeviceParams,
) -> Result<Value, RpcError> {
    ptz_ops::camera(state, &device).map_err(RpcError::from)?;
    let list = state
        .store
        .call(move |c| crate::store::presets::list(c, &device))
        .await
        .map_err(RpcError::from)?;
    Ok(json!({"presets": list, "total": list.len()}))
}

async fn ptz_preset_save(
    state: &SharedState,
    _session: &mut Session,
    PresetSaveParams { device, name }: PresetSaveParams,
) -> Result<Value, RpcError> {
    let preset = ptz_ops::save_preset(state, &device, name)
        .await
        .map_err(RpcError::from)?;
    Ok(json!({"saved": true, "preset": preset}))
}

async fn ptz_preset_goto(
    state: &SharedState,
    _session: &mut Session,
    PresetIdParams { id, .. }: PresetIdParams,
) -> Result<Value, RpcError> {
    let preset = ptz_ops::goto_preset(state, id)
        .await
        .map_err(RpcError::from)?;
    Ok(json!({"arrived": true, "preset": preset}))
}

async fn ptz_preset_rename(
    state: &SharedState,
    _session: &mut Session,
    PresetIdParams { id, name }: PresetIdParams,
) -> Result<Value, RpcError> {
    let name = name.ok_or_else(|| RpcError::invalid_params("name: required"))?;
    let preset = state
        .store
        .call(move |c| crate::store::presets::rename(c, id, &name))
        .await
        .map_err(RpcError::from)?;
    Ok(json!({"renamed": true, "preset": preset}))
}

async fn ptz_preset_delete(
    state: &SharedState,
    _session: &mut Session,
    PresetIdParams { id, .. }: PresetIdParams,
) -> Result<Value, RpcError> {
    state
        .store
        .call(move |c| crate::store::presets::delete(c, id))
        .await
        .map_err(RpcError::from)?;
    Ok(json!({"deleted": true, "id": id}))
}

async fn ptz_tours(
    state: &SharedState,
    _session: &mut Session,
    ToursParams { device }: ToursParams,
) -> Result<Value, RpcError> {
    let tours = state
        .store
        .call(move |c| crate::store::tours::list(c, device.as_deref()))
        .await
        .map_err(RpcError::from)?;
    Ok(json!({"tours": tours, "running": state.tours.running()}))
}

async fn ptz_tour_save(
    state: &SharedState,
    _session: &mut Session,
    TourSaveParams {
        device,
        name,
        steps,
        repeat,
        schedule,
    }: TourSaveParams,
) -> Result<Value, RpcError> {
    let tour = crate::store::tours::TourInput {
        name,
        steps,
        repeat,
        schedule,
    };
    ptz_ops::camera(state, &device).map_err(RpcError::from)?;
    let now = state.clock.now_secs();
    let saved = state
        .store
        .call(move |c| crate::store::tours::save(c, &device, &tour, now))
        .await
        .map_err(RpcError::from)?;
    Ok(json!({"saved": true, "tour": saved}))
}

async fn ptz_tour_delete(
    state: &SharedState,
    _session: &mut Session,
    TourIdParams { id }: TourIdParams,
) -> Result<Value, RpcError> {
    let tour = state
        .store
        .call(move |c| crate::store::tours::get(c, id))
        .await
        .map_err(RpcError::from)?;
    if let Some(t) = &tour
        && state
            .tours
            .running_on(&t.camera_id)
            .is_some_and(|r| r.tour_id == id)
    {
        state.tours.stop(&t.camera_id);
    }
    state
        .store
        .call(move |c| crate::store::tours::delete(c, id))
        .await
        .map_err(RpcError::from)?;
    Ok(json!({"deleted": true, "id": id}))
}

async fn ptz_tour_start(
    state: &SharedState,
    _session: &mut Session,
    TourIdParams { id }: TourIdParams,
) -> Result<Value, RpcError> {
    let tour = ptz_ops::start_tour(state, id)
        .await
        .map_err(RpcError::from)?;
    Ok(json!({"started": true, "tour": tour}))
}

async fn ptz_tour_stop(
    state: &SharedState,
    _session: &mut Session,
    DeviceParams { device }: DeviceParams,
) -> Result<Value, RpcError> {
    Ok(json!({"stopped": state.tours.stop(&device)}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PtzMoveParams {
    device: String,
    #[serde(default)]
    pan_speed: f64,
    #[serde(default)]
    tilt_speed: f64,
    #[serde(default)]
    zoom_speed: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PtzAbsoluteParams {
    device: String,
    #[serde(default)]
    pan: Option<i32>,
    #[serde(default)]
    tilt: Option<i32>,
    #[serde(default)]
    zoom: Option<i32>,
    #[serde(default)]
    speed: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PtzFocusParams {
    device: String,
    #[serde(default)]
    mode: Option<String>,
    #[serde(default)]
    position: Option<i32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PtzPowerParams {
    device: String,
    on: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PtzPresetParams {
    device: String,
    action: String,
    preset: i32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PresetSaveParams {
    device: String,
    name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PresetIdParams {
    id: i64,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ToursParams {
    #[serde(default)]
    device: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TourSaveParams {
    device: String,
    name: String,
    steps: Vec<crate::store::tours::TourStep>,
    #[serde(default = "default_true")]
    repeat: bool,
    #[serde(default)]
    schedule: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TourIdParams {
    id: i64,
}

fn default_true() -> bool {
    true
}
