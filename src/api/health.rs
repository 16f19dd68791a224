//! Health endpoints, public by design (load balancers and systemd checks have no token):
//! `/health/live` says the process answers; `/health/ready` that the store is open, the listeners
//! are bound and every subsystem is healthy (503 otherwise); `/health` is the short summary and
//! `/health/detailed` adds every subsystem's state.

use super::SharedState;
use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use serde_json::{Value, json};
use std::sync::atomic::Ordering;

pub fn router() -> Router<SharedState> {
    Router::new()
        .route("/health", get(summary))
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
        .route("/health/detailed", get(detailed))
}

fn is_ready(state: &SharedState) -> bool {
    state.ready.load(Ordering::Relaxed) && state.health.unhealthy().is_empty()
}

fn code(ok: bool) -> StatusCode {
    if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    }
}

async fn live(State(state): State<SharedState>) -> Json<Value> {
    Json(json!({"status": "alive", "uptime_secs": state.started_at.elapsed().as_secs_f64()}))
}

async fn ready(State(state): State<SharedState>) -> (StatusCode, Json<Value>) {
    let unhealthy = state.health.unhealthy();
    let ok = is_ready(&state);
    (code(ok), Json(json!({"ready": ok, "unhealthy": unhealthy})))
}

async fn summary(State(state): State<SharedState>) -> (StatusCode, Json<Value>) {
    let ok = is_ready(&state);
    (
        code(ok),
        Json(json!({
            "status": if ok { "healthy" } else { "unhealthy" },
            "version": crate::VERSION,
            "uptime_secs": state.started_at.elapsed().as_secs_f64(),
        })),
    )
}

pub fn detailed_body(state: &SharedState) -> (bool, Value) {
    let ok = is_ready(state);
    let subsystems = state.health.snapshot();
    (
        ok,
        json!({
            "status": if ok { "healthy" } else { "unhealthy" },
            "version": crate::VERSION,
            "uptime_secs": state.started_at.elapsed().as_secs_f64(),
            "ready": state.ready.load(Ordering::Relaxed),
            "subsystems": subsystems,
            "websocket_connections": state.ws_connections.load(Ordering::Relaxed),
        }),
    )
}

async fn detailed(State(state): State<SharedState>) -> (StatusCode, Json<Value>) {
    let (ok, body) = detailed_body(&state);
    (code(ok), Json(body))
}
