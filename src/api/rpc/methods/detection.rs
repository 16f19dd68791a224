//! Detection events and the detector's status (Pinhole's own methods, in the camera service's
//! style). Like the media methods they answer -32030 when the media engine is off.

use super::media::{PageParams, engine, page};
use super::{Method, NoParams, Session};
use crate::api::SharedState;
use crate::api::rpc::envelope::{self, RpcError};
use serde::Deserialize;
use serde_json::{Value, json};

pub(super) fn methods() -> Vec<Method> {
    vec![
        method!("list_events", VIEWER, READ, list_events),
        method!("get_event", VIEWER, READ, get_event),
        method!("delete_event", ADMIN, AUDITED, delete_event),
        method!("get_detection_status", VIEWER, READ, get_detection_status),
    ]
}

async fn list_events(
    state: &SharedState,
    _session: &mut Session,
    q: EventQuery,
) -> Result<Value, RpcError> {
    engine(state)?;
    let (limit, offset) = page(&PageParams {
        limit: q.limit,
        offset: q.offset,
        device: None,
    })?;
    let f = crate::store::events::Filter {
        camera_id: q.device,
        label: q.label,
        kind: q.kind,
        from_ms: q.from_ms,
        to_ms: q.to_ms,
    };
    let (rows, total) = state
        .store
        .call(move |c| crate::store::events::list(c, &f, limit, offset))
        .await
        .map_err(RpcError::from)?;
    Ok(json!({"events": rows, "total": total, "limit": limit, "offset": offset}))
}

async fn get_detection_status(
    state: &SharedState,
    _session: &mut Session,
    _: NoParams,
) -> Result<Value, RpcError> {
    engine(state)?;
    let mut v = state
        .detection
        .get()
        .map(|s| s.json())
        .unwrap_or_else(|| json!({"enabled": false}));
    if let Some(m) = state.mqtt.get() {
        use std::sync::atomic::Ordering::Relaxed;
        v["mqtt"] = json!({
            "enabled": state.config.mqtt.enabled,
            "connected": m.connected.load(Relaxed),
            "sent": m.sent.load(Relaxed),
            "queued": m.queued.load(Relaxed),
            "dropped": m.dropped.load(Relaxed),
        });
    }
    Ok(v)
}

/// The event, or -32010.
async fn find_event(state: &SharedState, id: i64) -> Result<crate::store::events::Event, RpcError> {
    state
        .store
        .call(move |c| crate::store::events::get(c, id))
        .await
        .map_err(RpcError::from)?
        .ok_or_else(|| {
            RpcError::new(
                envelope::NOT_FOUND,
                "not_found",
                format!("event {id} not found"),
                "Use list_events",
            )
            .with_data("resource", json!("event"))
            .with_data("id", json!(id))
        })
}

async fn get_event(
    state: &SharedState,
    _session: &mut Session,
    EventId { id }: EventId,
) -> Result<Value, RpcError> {
    engine(state)?;
    Ok(json!(find_event(state, id).await?))
}

async fn delete_event(
    state: &SharedState,
    _session: &mut Session,
    EventId { id }: EventId,
) -> Result<Value, RpcError> {
    let e = engine(state)?;
    let ev = find_event(state, id).await?;
    if let Some(s) = &ev.snapshot {
        let _ = e.delete_snapshot(s).await;
    }
    state
        .store
        .call(move |c| crate::store::events::delete(c, id))
        .await
        .map_err(RpcError::from)?;
    Ok(json!({"id": id, "deleted": true}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventQuery {
    #[serde(default)]
    device: Option<String>,
    #[serde(default)]
    label: Option<String>,
    /// object or motion.
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    from_ms: Option<i64>,
    #[serde(default)]
    to_ms: Option<i64>,
    #[serde(default)]
    limit: Option<i64>,
    #[serde(default)]
    offset: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventId {
    id: i64,
}
