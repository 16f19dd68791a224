//! `/api/status`: the machine and the service, for the web page's system view.

use crate::api::SharedState;
use crate::api::authn::AsViewer;
use crate::api::error::{ApiError, ErrorBody};
use crate::store::{StoreError, cameras, settings};
use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

/// What `get_server_info` and `/api/status/system/info` report.
pub async fn server_info(state: &SharedState) -> Value {
    let config = state.config.clone();
    let device_name = state
        .store
        .call(move |c| settings::effective(c, &config))
        .await
        .ok()
        .and_then(|s| {
            s.get("device_name")
                .and_then(|v| v.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| state.config.general.device_name.clone());
    json!({
        "name": "Pinhole",
        "version": crate::VERSION,
        "architecture": std::env::consts::ARCH,
        "device_name": device_name,
        "capabilities": capabilities(state),
        "supported_formats": if state.media.is_some() { SUPPORTED_FORMATS } else { &[] },
        "max_cameras": state.config.media.max_cameras,
    })
}

/// Formats served when the media engine runs: recordings (`start_recording`'s `format`), the
/// live stream, snapshots and the browser preview.
const SUPPORTED_FORMATS: &[&str] = &["fmp4", "mp4", "mkv", "h264", "jpeg", "mjpeg"];

/// What this appliance does right now: the media capabilities need the media engine, detection
/// needs its model loaded, updates need the update agent.
fn capabilities(state: &SharedState) -> Vec<&'static str> {
    let mut c = vec!["control", "events", "users", "settings", "audit", "ptz"];
    if state.media.is_some() {
        c.extend(["streaming", "rtsp", "recording", "snapshots", "preview"]);
    }
    if state.detection.get().is_some() {
        c.push("detection");
    }
    if state.mqtt.get().is_some() {
        c.push("mqtt");
    }
    if state.ota.get().is_some() {
        c.push("updates");
    }
    c
}

/// What `get_storage_info` reports.
pub async fn storage_info(state: &SharedState) -> Result<Value, StoreError> {
    let rec_dir = state.config.recordings_dir();
    let probe = if rec_dir.exists() {
        rec_dir
    } else {
        state.config.general.state_dir.clone()
    };
    let disk = crate::system::disk_usage(&probe)?;
    let (recordings, snapshots): (i64, i64) = state
        .store
        .call(|c| {
            Ok((
                c.query_row(
                    "SELECT COALESCE(SUM(size_bytes), 0) FROM recordings",
                    [],
                    |r| r.get(0),
                )?,
                c.query_row(
                    "SELECT COALESCE(SUM(size_bytes), 0) FROM snapshots",
                    [],
                    |r| r.get(0),
                )?,
            ))
        })
        .await?;
    let low = disk.available_bytes < disk.total_bytes / 10 || disk.available_bytes < 1 << 30;
    Ok(json!({
        "total_space": disk.total_bytes,
        "used_space": disk.used_bytes,
        "available_space": disk.available_bytes,
        "usage_percentage": disk.usage_percent,
        "recordings_size": recordings,
        "snapshots_size": snapshots,
        "low_space_warning": low,
    }))
}

/// CPU, memory, temperature, disk and uptime, with recent history for graphs.
#[utoipa::path(get, path = "/api/status/system", tag = "status",
    responses((status = 200, body = Object), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn system(
    State(state): State<SharedState>,
    _: AsViewer,
) -> Result<Json<Value>, ApiError> {
    let disk = crate::system::disk_usage(&state.config.general.state_dir)
        .map_err(|e| ApiError::Internal(format!("statvfs: {e}")))?;
    Ok(Json(json!({
        "latest": state.monitor.latest(),
        "history": state.monitor.history(),
        "disk": disk,
        "service_uptime_secs": state.started_at.elapsed().as_secs_f64(),
    })))
}

/// Name, version, architecture, capabilities.
#[utoipa::path(get, path = "/api/status/system/info", tag = "status",
    responses((status = 200, body = Object)), security(("bearer" = [])))]
pub async fn system_info(State(state): State<SharedState>, _: AsViewer) -> Json<Value> {
    Json(server_info(&state).await)
}

/// Each camera and its streaming state.
#[utoipa::path(get, path = "/api/status/cameras", tag = "status",
    responses((status = 200, body = Object)), security(("bearer" = [])))]
pub async fn cameras(
    State(state): State<SharedState>,
    _: AsViewer,
) -> Result<Json<Value>, ApiError> {
    let list = state.store.call(|c| cameras::list(c)).await?;
    let cams: Vec<Value> = list
        .into_iter()
        .map(|c| {
            let st = state
                .media
                .as_ref()
                .and_then(|m| m.camera(&c.id))
                .map(|h| h.status());
            json!({
                "device": c.id,
                "name": c.name,
                "enabled": c.enabled,
                "state": st.as_ref().map(|s| s.state.as_str()).unwrap_or("unavailable"),
                "status": st.as_ref().map(|s| s.state.service_status()).unwrap_or("DISCONNECTED"),
                "error": st.as_ref().and_then(|s| s.error.clone()),
                "encoder": st.as_ref().and_then(|s| s.encoder.clone()),
                "codec": st.as_ref().and_then(|s| s.codec),
                "audio": st.as_ref().and_then(|s| s.audio),
                "fps": st.as_ref().map(|s| s.fps),
                "bitrate_kbps": st.as_ref().map(|s| s.bitrate_kbps),
            })
        })
        .collect();
    let connected = cams.iter().filter(|c| c["status"] == "CONNECTED").count();
    Ok(Json(
        json!({"cameras": cams, "total": cams.len(), "connected": connected}),
    ))
}

/// Subsystem health (same as /health/detailed, for signed-in pages).
#[utoipa::path(get, path = "/api/status/health", tag = "status",
    responses((status = 200, body = Object)), security(("bearer" = [])))]
pub async fn health(State(state): State<SharedState>, _: AsViewer) -> Json<Value> {
    Json(crate::api::health::detailed_body(&state).1)
}
