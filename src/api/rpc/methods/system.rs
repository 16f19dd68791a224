//! The appliance itself: server information, readiness and health summaries, metrics, storage
//! and the update agent's status.

use super::{Method, NoParams, Session};
use crate::api::SharedState;
use crate::api::rpc::envelope::RpcError;
use serde_json::{Map, Value, json};

pub(super) fn methods() -> Vec<Method> {
    vec![
        method!("get_server_info", VIEWER, READ, get_server_info),
        method!("get_system_status", VIEWER, READ, get_system_status),
        method!("get_status", ADMIN, READ, get_status),
        method!("get_metrics", ADMIN, READ, get_metrics),
        method!("get_storage_info", ADMIN, READ, get_storage_info),
        method!("get_update_status", VIEWER, READ, get_update_status),
    ]
}

async fn get_server_info(
    state: &SharedState,
    _session: &mut Session,
    _: NoParams,
) -> Result<Value, RpcError> {
    Ok(crate::api::rest::status::server_info(state).await)
}

async fn get_system_status(
    state: &SharedState,
    _session: &mut Session,
    _: NoParams,
) -> Result<Value, RpcError> {
    Ok(system_status(state))
}

async fn get_status(
    state: &SharedState,
    _session: &mut Session,
    _: NoParams,
) -> Result<Value, RpcError> {
    Ok(status(state))
}

async fn get_metrics(
    state: &SharedState,
    _session: &mut Session,
    _: NoParams,
) -> Result<Value, RpcError> {
    Ok(metrics(state))
}

async fn get_storage_info(
    state: &SharedState,
    _session: &mut Session,
    _: NoParams,
) -> Result<Value, RpcError> {
    crate::api::rest::status::storage_info(state)
        .await
        .map_err(RpcError::from)
}

async fn get_update_status(
    state: &SharedState,
    _session: &mut Session,
    _: NoParams,
) -> Result<Value, RpcError> {
    Ok(state
        .ota
        .get()
        .map(|o| serde_json::to_value(o.status()).unwrap_or_default())
        .unwrap_or_else(|| json!({"enabled": false, "state": "disabled"})))
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
