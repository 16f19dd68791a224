//! The JSON-RPC method table and the methods of the core.
//!
//! Names, parameters, result shapes, roles and error codes follow the camera service
//! (`shared/reference/camera-service-api.md`) so its clients work unchanged; Pinhole's own methods
//! (users, settings, audit) follow the same style. A method whose subsystem is not part of this
//! build answers -32030 (unsupported) with the subsystem named, after the role check, so the role
//! matrix is the same whatever is built.

use super::Session;
use super::envelope::{self, RpcError};
use crate::api::{SharedState, accounts, ptz_ops};
use crate::auth::Role;
use crate::auth::token::TokenError;
use crate::events::{self, Subscription};
use crate::store::audit::{self, NewAuditEntry};
use crate::store::users;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// Where a method's implementation lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Availability {
    /// Implemented by the core.
    Core,
    /// Needs a subsystem this build does not have yet.
    Pending(&'static str),
}

#[derive(Debug, Clone, Copy)]
pub struct MethodSpec {
    pub name: &'static str,
    /// `None`: callable without authentication.
    pub min_role: Option<Role>,
    /// Changes state: audited.
    pub mutating: bool,
    pub availability: Availability,
}

const fn m(
    name: &'static str,
    min_role: Option<Role>,
    mutating: bool,
    availability: Availability,
) -> MethodSpec {
    MethodSpec {
        name,
        min_role,
        mutating,
        availability,
    }
}

use Availability::{Core, Pending};
const V: Option<Role> = Some(Role::Viewer);
const O: Option<Role> = Some(Role::Operator);
const A: Option<Role> = Some(Role::Admin);
/// Media methods answer -32030 themselves when `media.enabled = false`.
const MEDIA: Availability = Core;
const DISCOVERY: Availability = Pending("discovery");

/// Every method, with its least role.
pub const METHODS: &[MethodSpec] = &[
    m("ping", None, false, Core),
    m("authenticate", None, false, Core),
    m("get_camera_list", V, false, MEDIA),
    m("get_camera_status", V, false, MEDIA),
    m("get_camera_capabilities", V, false, MEDIA),
    m("take_snapshot", O, true, MEDIA),
    m("start_recording", O, true, MEDIA),
    m("stop_recording", O, true, MEDIA),
    m("list_recordings", V, false, MEDIA),
    m("list_snapshots", V, false, MEDIA),
    m("get_recording_info", V, false, MEDIA),
    m("get_snapshot_info", V, false, MEDIA),
    m("delete_recording", A, true, MEDIA),
    m("delete_snapshot", A, true, MEDIA),
    m("start_streaming", O, true, MEDIA),
    m("stop_streaming", O, true, MEDIA),
    m("get_stream_url", V, false, MEDIA),
    m("get_stream_status", V, false, MEDIA),
    m("get_streams", V, false, MEDIA),
    m("get_server_info", V, false, Core),
    m("get_system_status", V, false, Core),
    m("get_metrics", A, false, Core),
    m("get_status", A, false, Core),
    m("get_storage_info", A, false, Core),
    m("set_retention_policy", A, true, MEDIA),
    m("cleanup_old_files", A, true, MEDIA),
    m("subscribe_events", V, false, Core),
    m("unsubscribe_events", V, false, Core),
    m("get_subscription_stats", V, false, Core),
    m("discover_external_streams", O, true, DISCOVERY),
    m("add_external_stream", O, true, DISCOVERY),
    m("remove_external_stream", O, true, DISCOVERY),
    m("get_external_streams", V, false, DISCOVERY),
    m("set_discovery_interval", A, true, DISCOVERY),
    // Pinhole's own.
    m("list_users", A, false, Core),
    m("create_user", A, true, Core),
    m("update_user", A, true, Core),
    m("delete_user", A, true, Core),
    m("change_password", V, true, Core),
    m("get_settings", V, false, Core),
    m("update_settings", A, true, Core),
    m("get_audit_log", A, false, Core),
    // PTZ (VISCA).
    m("list_local_devices", O, false, Core),
    m("list_events", V, false, Core),
    m("get_event", V, false, Core),
    m("delete_event", A, true, Core),
    m("get_detection_status", V, false, Core),
    m("get_update_status", V, false, Core),
    m("ptz_status", V, false, Core),
    m("ptz_move", O, true, Core),
    m("ptz_stop", O, true, Core),
    m("ptz_absolute", O, true, Core),
    m("ptz_focus", O, true, Core),
    m("ptz_home", O, true, Core),
    m("ptz_power", O, true, Core),
    m("ptz_preset", O, true, Core),
    m("ptz_presets", V, false, Core),
    m("ptz_preset_save", O, true, Core),
    m("ptz_preset_goto", O, true, Core),
    m("ptz_preset_rename", O, true, Core),
    m("ptz_preset_delete", O, true, Core),
    m("ptz_tours", V, false, Core),
    m("ptz_tour_save", O, true, Core),
    m("ptz_tour_delete", O, true, Core),
    m("ptz_tour_start", O, true, Core),
    m("ptz_tour_stop", O, true, Core),
];

pub fn spec(name: &str) -> Option<&'static MethodSpec> {
    METHODS.iter().find(|s| s.name == name)
}

fn auth_error(reason: &str, details: impl Into<String>) -> RpcError {
    RpcError::new(
        envelope::AUTH_FAILED,
        reason,
        details,
        "Authenticate with a valid token (POST /api/auth/login)",
    )
}

/// Checks access, runs the method, records metrics and audit.
pub async fn dispatch(
    state: &SharedState,
    session: &mut Session,
    req: &envelope::Request,
) -> Result<Value, RpcError> {
    let started = std::time::Instant::now();
    let Some(spec) = spec(&req.method) else {
        state
            .metrics
            .rpc_call("unknown", "method_not_found", started.elapsed());
        return Err(RpcError::method_not_found(&req.method));
    };
    let outcome = check_and_run(state, session, spec, req).await;
    let label = match &outcome {
        Ok(_) => "ok".to_string(),
        Err(e) => e.code.to_string(),
    };
    state.metrics.rpc_call(spec.name, &label, started.elapsed());
    let failed_auth = spec.name == "authenticate" && outcome.is_err();
    if spec.mutating || failed_auth {
        let details = req.params.as_ref().map(audit::redact);
        state
            .audit(NewAuditEntry {
                at_ms: state.now_ms(),
                actor: session.principal.as_ref().map(|p| p.username.clone()),
                client: Some(session.client.to_string()),
                action: spec.name.to_string(),
                target: None,
                details,
                result: match &outcome {
                    Ok(_) => "ok".into(),
                    Err(e) => format!(
                        "error {} {}",
                        e.code,
                        e.data
                            .as_ref()
                            .and_then(|d| d.get("details"))
                            .and_then(Value::as_str)
                            .unwrap_or(&e.message)
                    ),
                },
            })
            .await;
    }
    outcome
}

async fn check_and_run(
    state: &SharedState,
    session: &mut Session,
    spec: &MethodSpec,
    req: &envelope::Request,
) -> Result<Value, RpcError> {
    if let Some(min) = spec.min_role {
        let Some(p) = session.principal.as_mut() else {
            return Err(auth_error("auth_required", "Authentication required"));
        };
        match state.users.still_valid(p, state.clock.as_ref()) {
            Ok(role) => p.role = role,
            Err(e) => {
                session.principal = None;
                return Err(auth_error("auth_failed", e.to_string()));
            }
        }
        if p.role < min {
            return Err(RpcError::new(
                envelope::PERMISSION_DENIED,
                "insufficient_permissions",
                format!(
                    "{} needs the {min} role; this session is {}",
                    spec.name, p.role
                ),
                "Use an account with a higher role",
            )
            .with_data("required_role", json!(min.as_str()))
            .with_data("have_role", json!(p.role.as_str())));
        }
    }
    if let Availability::Pending(subsystem) = spec.availability {
        return Err(RpcError::new(
            envelope::UNSUPPORTED,
            "not_available",
            format!(
                "{} needs the {subsystem} subsystem, which this build does not include yet",
                spec.name
            ),
            "Update the appliance",
        )
        .with_data("feature", json!(subsystem)));
    }
    run(state, session, spec.name, &req.params).await
}

/// Parses named params; absent params and `[]` mean "none".
pub(super) fn params<T: DeserializeOwned>(p: &Option<Value>) -> Result<T, RpcError> {
    let v = match p {
        None => Value::Object(Map::new()),
        Some(Value::Array(a)) if a.is_empty() => Value::Object(Map::new()),
        Some(Value::Array(_)) => {
            return Err(RpcError::invalid_params(
                "this method takes named parameters (an object)",
            ));
        }
        Some(v) => v.clone(),
    };
    serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        let details = if path == "." {
            inner
        } else {
            format!("{path}: {inner}")
        };
        RpcError::invalid_params(details)
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoParams {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthenticateParams {
    auth_token: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SubscribeParams {
    topics: Vec<String>,
    #[serde(default)]
    filters: Option<Map<String, Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UnsubscribeParams {
    #[serde(default)]
    topics: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateUserParams {
    username: String,
    password: String,
    role: Role,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateUserParams {
    username: String,
    #[serde(default)]
    role: Option<Role>,
    #[serde(default)]
    password: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UsernameParams {
    username: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangePasswordParams {
    current_password: String,
    new_password: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateSettingsParams {
    settings: BTreeMap<String, Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeviceParams {
    device: String,
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

fn default_true() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TourIdParams {
    id: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PageParams {
    #[serde(default)]
    limit: Option<u32>,
    #[serde(default)]
    offset: Option<u32>,
}

async fn run(
    state: &SharedState,
    session: &mut Session,
    name: &str,
    p: &Option<Value>,
) -> Result<Value, RpcError> {
    match name {
        "ping" => {
            params::<NoParams>(p)?;
            Ok(json!("pong"))
        }
        "authenticate" => authenticate(state, session, params(p)?),
        "get_server_info" => {
            params::<NoParams>(p)?;
            Ok(crate::api::rest::status::server_info(state).await)
        }
        "get_update_status" => {
            params::<NoParams>(p)?;
            Ok(state
                .ota
                .get()
                .map(|o| serde_json::to_value(o.status()).unwrap_or_default())
                .unwrap_or_else(|| json!({"enabled": false, "state": "disabled"})))
        }
        "get_system_status" => {
            params::<NoParams>(p)?;
            Ok(system_status(state))
        }
        "get_status" => {
            params::<NoParams>(p)?;
            Ok(status(state))
        }
        "get_metrics" => {
            params::<NoParams>(p)?;
            Ok(metrics(state))
        }
        "get_storage_info" => {
            params::<NoParams>(p)?;
            crate::api::rest::status::storage_info(state)
                .await
                .map_err(RpcError::from)
        }
        "subscribe_events" => subscribe(state, session, params(p)?),
        "unsubscribe_events" => unsubscribe(state, session, params(p)?),
        "get_subscription_stats" => {
            params::<NoParams>(p)?;
            Ok(subscription_stats(state, session))
        }
        "list_users" => {
            params::<NoParams>(p)?;
            let list = state
                .store
                .call(|c| users::list(c))
                .await
                .map_err(RpcError::from)?;
            Ok(json!({"users": list, "total": list.len()}))
        }
        "create_user" => {
            let CreateUserParams {
                username,
                password,
                role,
            } = params(p)?;
            let user = accounts::create_user(state, username, password, role, false)
                .await
                .map_err(RpcError::from)?;
            Ok(json!({"created": true, "user": user}))
        }
        "update_user" => {
            let UpdateUserParams {
                username,
                role,
                password,
            } = params(p)?;
            let user = accounts::update_user(state, username, role, password)
                .await
                .map_err(RpcError::from)?;
            Ok(json!({"updated": true, "user": user}))
        }
        "delete_user" => {
            let UsernameParams { username } = params(p)?;
            let actor = session
                .principal
                .as_ref()
                .map(|p| p.username.clone())
                .unwrap_or_default();
            accounts::delete_user(state, &actor, username.clone())
                .await
                .map_err(RpcError::from)?;
            Ok(json!({"deleted": true, "username": username}))
        }
        "change_password" => {
            let ChangePasswordParams {
                current_password,
                new_password,
            } = params(p)?;
            let Some(me) = session.principal.clone() else {
                return Err(auth_error("auth_required", "Authentication required"));
            };
            accounts::change_password(state, &me.username, current_password, new_password)
                .await
                .map_err(RpcError::from)?;
            // Every token of this user, this session's included, is now revoked.
            session.principal = None;
            Ok(json!({"changed": true, "reauthenticate": true}))
        }
        "get_settings" => {
            params::<NoParams>(p)?;
            accounts::settings_view(state).await.map_err(RpcError::from)
        }
        "update_settings" => {
            let UpdateSettingsParams { settings: changes } = params(p)?;
            let by = session.principal.as_ref().map(|p| p.username.clone());
            accounts::update_settings(state, by, changes)
                .await
                .map_err(RpcError::from)
        }
        "get_audit_log" => {
            let PageParams { limit, offset } = params(p)?;
            let limit = limit.unwrap_or(50).min(1000);
            let offset = offset.unwrap_or(0);
            let entries = state
                .store
                .call(move |c| audit::list(c, limit, offset))
                .await
                .map_err(RpcError::from)?;
            Ok(json!({"entries": entries, "limit": limit, "offset": offset}))
        }
        "ptz_status" => {
            let DeviceParams { device } = params(p)?;
            let v = ptz_ops::status(state, &device).map_err(RpcError::from)?;
            serde_json::to_value(v).map_err(|e| RpcError::internal(e.to_string()))
        }
        "ptz_move" => {
            let PtzMoveParams {
                device,
                pan_speed,
                tilt_speed,
                zoom_speed,
            } = params(p)?;
            ptz_ops::continuous(state, &device, pan_speed, tilt_speed, zoom_speed)
                .await
                .map_err(RpcError::from)?;
            Ok(
                json!({"moving": pan_speed != 0.0 || tilt_speed != 0.0 || zoom_speed.is_some_and(|z| z != 0.0)}),
            )
        }
        "ptz_stop" => {
            let DeviceParams { device } = params(p)?;
            ptz_ops::stop(state, &device)
                .await
                .map_err(RpcError::from)?;
            Ok(json!({"stopped": true}))
        }
        "ptz_absolute" => {
            let PtzAbsoluteParams {
                device,
                pan,
                tilt,
                zoom,
                speed,
            } = params(p)?;
            ptz_ops::absolute(state, &device, pan, tilt, zoom, speed)
                .await
                .map_err(RpcError::from)?;
            Ok(json!({"arrived": true}))
        }
        "ptz_focus" => {
            let PtzFocusParams {
                device,
                mode,
                position,
            } = params(p)?;
            ptz_ops::focus(state, &device, mode.as_deref(), position)
                .await
                .map_err(RpcError::from)?;
            Ok(json!({"done": true}))
        }
        "ptz_home" => {
            let DeviceParams { device } = params(p)?;
            ptz_ops::simple(state, &device, crate::ptz::visca::Command::PanTiltHome)
                .await
                .map_err(RpcError::from)?;
            Ok(json!({"arrived": true}))
        }
        "ptz_power" => {
            let PtzPowerParams { device, on } = params(p)?;
            ptz_ops::simple(state, &device, crate::ptz::visca::Command::Power { on })
                .await
                .map_err(RpcError::from)?;
            Ok(json!({"power": on}))
        }
        "ptz_preset" => {
            let PtzPresetParams {
                device,
                action,
                preset,
            } = params(p)?;
            ptz_ops::preset(state, &device, &action, preset)
                .await
                .map_err(RpcError::from)?;
            Ok(json!({"done": true, "action": action, "preset": preset}))
        }
        "ptz_presets" => {
            let DeviceParams { device } = params(p)?;
            ptz_ops::camera(state, &device).map_err(RpcError::from)?;
            let list = state
                .store
                .call(move |c| crate::store::presets::list(c, &device))
                .await
                .map_err(RpcError::from)?;
            Ok(json!({"presets": list, "total": list.len()}))
        }
        "ptz_preset_save" => {
            let PresetSaveParams { device, name } = params(p)?;
            let preset = ptz_ops::save_preset(state, &device, name)
                .await
                .map_err(RpcError::from)?;
            Ok(json!({"saved": true, "preset": preset}))
        }
        "ptz_preset_goto" => {
            let PresetIdParams { id, .. } = params(p)?;
            let preset = ptz_ops::goto_preset(state, id)
                .await
                .map_err(RpcError::from)?;
            Ok(json!({"arrived": true, "preset": preset}))
        }
        "ptz_preset_rename" => {
            let PresetIdParams { id, name } = params(p)?;
            let name = name.ok_or_else(|| RpcError::invalid_params("name: required"))?;
            let preset = state
                .store
                .call(move |c| crate::store::presets::rename(c, id, &name))
                .await
                .map_err(RpcError::from)?;
            Ok(json!({"renamed": true, "preset": preset}))
        }
        "ptz_preset_delete" => {
            let PresetIdParams { id, .. } = params(p)?;
            state
                .store
                .call(move |c| crate::store::presets::delete(c, id))
                .await
                .map_err(RpcError::from)?;
            Ok(json!({"deleted": true, "id": id}))
        }
        "ptz_tours" => {
            let ToursParams { device } = params(p)?;
            let tours = state
                .store
                .call(move |c| crate::store::tours::list(c, device.as_deref()))
                .await
                .map_err(RpcError::from)?;
            Ok(json!({"tours": tours, "running": state.tours.running()}))
        }
        "ptz_tour_save" => {
            let TourSaveParams {
                device,
                name,
                steps,
                repeat,
                schedule,
            } = params(p)?;
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
        "ptz_tour_delete" => {
            let TourIdParams { id } = params(p)?;
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
        "ptz_tour_start" => {
            let TourIdParams { id } = params(p)?;
            let tour = ptz_ops::start_tour(state, id)
                .await
                .map_err(RpcError::from)?;
            Ok(json!({"started": true, "tour": tour}))
        }
        "ptz_tour_stop" => {
            let DeviceParams { device } = params(p)?;
            Ok(json!({"stopped": state.tours.stop(&device)}))
        }
        name if super::media_methods::METHODS.contains(&name) => {
            super::media_methods::call(state, session, name, p).await
        }
        other => Err(RpcError::internal(format!(
            "{other} is declared but not implemented"
        ))),
    }
}

fn authenticate(
    state: &SharedState,
    session: &mut Session,
    p: AuthenticateParams,
) -> Result<Value, RpcError> {
    match state
        .users
        .verify(&state.tokens, state.clock.as_ref(), &p.auth_token)
    {
        Ok(principal) => {
            let result = json!({
                "authenticated": true,
                "role": principal.role,
                "permissions": principal.role.permissions(),
                "expires_at": crate::clock::rfc3339_ms(principal.expires_at * 1000),
                "session_id": session.client_id,
                "username": principal.username,
            });
            session.principal = Some(principal);
            Ok(result)
        }
        Err(e) => {
            session.principal = None;
            // Count failures per client; beyond the limit, say so instead.
            if let Err(wait) = state.login_limiter.check(session.client) {
                return Err(RpcError::new(
                    envelope::RATE_LIMITED,
                    "rate_limited",
                    "too many failed authentications",
                    "Wait and retry",
                )
                .with_data("retry_after_ms", json!(wait.as_millis() as u64)));
            }
            Err(auth_error(
                "auth_failed",
                match e {
                    TokenError::Expired => "token expired",
                    TokenError::Invalid => "invalid token",
                    TokenError::Revoked => "token revoked",
                },
            ))
        }
    }
}

/// The camera service's readiness summary.
fn system_status(state: &SharedState) -> Value {
    let unhealthy = state.health.unhealthy();
    let ready = state.ready.load(std::sync::atomic::Ordering::Relaxed);
    let (status, message) = match (ready, unhealthy.is_empty()) {
        (false, _) => ("starting", "System is starting".to_string()),
        (true, true) => ("ready", "System is fully operational".to_string()),
        (true, false) => ("partial", format!("Degraded: {}", unhealthy.join(", "))),
    };
    let cameras: Vec<String> = state
        .media
        .as_ref()
        .map(|m| {
            m.cameras()
                .iter()
                .filter(|c| c.status().state == crate::media::camera::CameraState::Streaming)
                .map(|c| c.id.clone())
                .collect()
        })
        .unwrap_or_default();
    json!({"status": status, "message": message, "available_cameras": cameras, "discovery_active": false})
}

/// The camera service's health summary.
fn status(state: &SharedState) -> Value {
    let subsystems = state.health.snapshot();
    let healthy = subsystems.iter().filter(|s| s.healthy).count();
    let overall = if healthy == subsystems.len() {
        "HEALTHY"
    } else if healthy > 0 {
        "DEGRADED"
    } else {
        "UNHEALTHY"
    };
    let components: Map<String, Value> = subsystems
        .iter()
        .map(|s| {
            let v = match s.state {
                crate::supervisor::SubsystemState::Running if s.healthy => "RUNNING",
                crate::supervisor::SubsystemState::Running => "ERROR",
                crate::supervisor::SubsystemState::Starting => "STARTING",
                crate::supervisor::SubsystemState::Restarting => "ERROR",
                crate::supervisor::SubsystemState::Stopped => "STOPPED",
            };
            (s.name.to_string(), json!(v))
        })
        .collect();
    json!({
        "status": overall,
        "uptime": state.started_at.elapsed().as_secs_f64(),
        "version": crate::VERSION,
        "components": components,
    })
}

fn metrics(state: &SharedState) -> Value {
    let s = state.monitor.latest().unwrap_or_default();
    let disk = crate::system::disk_usage(&state.config.general.state_dir).unwrap_or_default();
    json!({
        "timestamp": crate::clock::rfc3339_ms(state.now_ms()),
        "system_metrics": {
            "cpu_usage": s.cpu_percent,
            "memory_usage": s.memory_percent,
            "disk_usage": disk.usage_percent,
            "goroutines": tokio::runtime::Handle::current().metrics().num_alive_tasks(),
            "temperature_c": s.temperature_c,
            "process_rss_bytes": s.process_rss_bytes,
            "websocket_connections": state.ws_connections.load(std::sync::atomic::Ordering::Relaxed),
        },
        "camera_metrics": {"connected_cameras": 0, "cameras": {}},
        "recording_metrics": {},
        "stream_metrics": {"active_streams": 0, "total_streams": 0, "total_viewers": 0},
    })
}

fn subscribe(
    state: &SharedState,
    session: &mut Session,
    p: SubscribeParams,
) -> Result<Value, RpcError> {
    if !session.websocket {
        return Err(RpcError::new(
            envelope::INVALID_STATE,
            "websocket_required",
            "notifications can only be delivered over the WebSocket transport",
            "Connect to /ws",
        ));
    }
    if p.topics.is_empty() {
        return Err(RpcError::invalid_params(
            "topics: at least one topic is required",
        ));
    }
    let unknown: Vec<&String> = p
        .topics
        .iter()
        .filter(|t| !events::valid_pattern(t))
        .collect();
    if !unknown.is_empty() {
        return Err(
            RpcError::invalid_params(format!("unknown topic(s): {unknown:?}"))
                .with_data("valid_topics", json!(events::TOPICS)),
        );
    }
    let topics: BTreeSet<String> = p.topics.iter().cloned().collect();
    session.subscription = Some(Subscription {
        topics: topics.clone(),
        filters: p.filters.clone(),
    });
    if let Ok(mut subs) = state.subscriptions.lock() {
        subs.insert(session.client_id.clone(), topics);
    }
    Ok(json!({"subscribed": true, "topics": p.topics, "filters": p.filters}))
}

fn unsubscribe(
    state: &SharedState,
    session: &mut Session,
    p: UnsubscribeParams,
) -> Result<Value, RpcError> {
    match &p.topics {
        None => session.subscription = None,
        Some(list) => {
            if let Some(sub) = session.subscription.as_mut() {
                for t in list {
                    sub.topics.remove(t);
                }
                if sub.topics.is_empty() {
                    session.subscription = None;
                }
            }
        }
    }
    if let Ok(mut subs) = state.subscriptions.lock() {
        match &session.subscription {
            Some(s) => {
                subs.insert(session.client_id.clone(), s.topics.clone());
            }
            None => {
                subs.remove(&session.client_id);
            }
        }
    }
    Ok(json!({"unsubscribed": true, "topics": p.topics}))
}

fn subscription_stats(state: &SharedState, session: &Session) -> Value {
    let subs = state
        .subscriptions
        .lock()
        .map(|s| s.clone())
        .unwrap_or_default();
    let mut topic_counts: BTreeMap<String, usize> = BTreeMap::new();
    for topics in subs.values() {
        for t in topics {
            *topic_counts.entry(t.clone()).or_default() += 1;
        }
    }
    let client_topics: Vec<String> = session
        .subscription
        .as_ref()
        .map(|s| s.topics.iter().cloned().collect())
        .unwrap_or_default();
    json!({
        "global_stats": {
            "total_subscriptions": subs.values().map(BTreeSet::len).sum::<usize>(),
            "active_clients": subs.len(),
            "topic_counts": topic_counts,
        },
        "client_topics": client_topics,
        "client_id": session.client_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_unique_names_and_core_methods_are_implemented() {
        let mut names = BTreeSet::new();
        for s in METHODS {
            assert!(names.insert(s.name), "duplicate {}", s.name);
        }
        for required in [
            "ping",
            "authenticate",
            "get_server_info",
            "subscribe_events",
            "get_settings",
        ] {
            assert_eq!(
                spec(required).map(|s| s.availability),
                Some(Availability::Core)
            );
        }
        assert!(spec("nope").is_none());
        // Only ping and authenticate are public.
        let public: Vec<_> = METHODS
            .iter()
            .filter(|s| s.min_role.is_none())
            .map(|s| s.name)
            .collect();
        assert_eq!(public, ["ping", "authenticate"]);
    }

    #[test]
    fn params_are_strict() {
        assert!(params::<NoParams>(&None).is_ok());
        assert!(params::<NoParams>(&Some(json!([]))).is_ok());
        assert_eq!(
            params::<NoParams>(&Some(json!({"x": 1})))
                .err()
                .map(|e| e.code),
            Some(-32602)
        );
        assert_eq!(
            params::<NoParams>(&Some(json!([1]))).err().map(|e| e.code),
            Some(-32602)
        );
        let e = params::<AuthenticateParams>(&Some(json!({"auth_token": 5})))
            .err()
            .expect("type error");
        assert_eq!(e.code, -32602);
        assert!(
            e.data
                .map(|d| d.to_string())
                .unwrap_or_default()
                .contains("auth_token")
        );
    }
}
