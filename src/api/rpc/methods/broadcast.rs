//! Going out over JSON-RPC: destinations, outgoing streams and overlays, the same operations as
//! `/api/destinations`, `/api/streams` and `/api/overlays` through
//! [`crate::api::broadcast_ops`]. The camera service already names the cameras' own streams
//! (`get_streams`, `get_stream_status`), so the list and status of outgoing streams are
//! `get_outgoing_streams` and `get_outgoing_stream_status`.

use super::{Method, NoParams, Session};
use crate::api::SharedState;
use crate::api::broadcast_ops as ops;
use crate::api::error::ApiError;
use crate::api::rpc::envelope::RpcError;
use crate::store::broadcast::{self as db, DestinationInput, OverlaySpec, StreamSpec};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub(super) fn methods() -> Vec<Method> {
    vec![
        method!("get_destinations", OPERATOR, READ, get_destinations),
        method!("add_destination", ADMIN, AUDITED, add_destination),
        method!("update_destination", ADMIN, AUDITED, update_destination),
        method!("remove_destination", ADMIN, AUDITED, remove_destination),
        method!("get_outgoing_streams", VIEWER, READ, get_outgoing_streams),
        method!(
            "get_outgoing_stream_status",
            VIEWER,
            READ,
            get_outgoing_stream_status
        ),
        method!("add_stream", OPERATOR, AUDITED, add_stream),
        method!("update_stream", OPERATOR, AUDITED, update_stream),
        method!("remove_stream", OPERATOR, AUDITED, remove_stream),
        method!("start_stream", OPERATOR, AUDITED, start_stream),
        method!("stop_stream", OPERATOR, AUDITED, stop_stream),
        method!("program_cue", OPERATOR, AUDITED, program_cue),
        method!("get_overlays", VIEWER, READ, get_overlays),
        method!("add_overlay", OPERATOR, AUDITED, add_overlay),
        method!("update_overlay", OPERATOR, AUDITED, update_overlay),
        method!("remove_overlay", OPERATOR, AUDITED, remove_overlay),
        method!("set_overlay_value", OPERATOR, AUDITED, set_overlay_value),
    ]
}

fn to_value(v: impl Serialize) -> Result<Value, RpcError> {
    serde_json::to_value(v).map_err(|e| RpcError::internal(e.to_string()))
}

fn done<T: Serialize>(r: Result<T, ApiError>) -> Result<Value, RpcError> {
    to_value(r.map_err(RpcError::from)?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IdParams {
    id: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StreamParams {
    stream: String,
}

async fn get_destinations(
    state: &SharedState,
    _: &mut Session,
    _: NoParams,
) -> Result<Value, RpcError> {
    done(
        state
            .store
            .call(|c| db::destinations(c))
            .await
            .map_err(ApiError::from),
    )
}

async fn add_destination(
    state: &SharedState,
    _: &mut Session,
    input: DestinationInput,
) -> Result<Value, RpcError> {
    let secrets = state.secrets.clone();
    let now = state.clock.now_secs();
    done(
        state
            .store
            .call(move |c| db::create_destination(c, &secrets, &input, now))
            .await
            .map_err(ApiError::from),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateDestination {
    id: String,
    destination: DestinationInput,
}

async fn update_destination(
    state: &SharedState,
    _: &mut Session,
    p: UpdateDestination,
) -> Result<Value, RpcError> {
    let secrets = state.secrets.clone();
    let now = state.clock.now_secs();
    done(
        state
            .store
            .call(move |c| db::update_destination(c, &secrets, &p.id, &p.destination, now))
            .await
            .map_err(ApiError::from),
    )
}

async fn remove_destination(
    state: &SharedState,
    _: &mut Session,
    IdParams { id }: IdParams,
) -> Result<Value, RpcError> {
    state
        .store
        .call(move |c| db::delete_destination(c, &id))
        .await
        .map_err(|e| RpcError::from(ApiError::from(e)))?;
    Ok(json!({"removed": true}))
}

async fn get_outgoing_streams(
    state: &SharedState,
    _: &mut Session,
    _: NoParams,
) -> Result<Value, RpcError> {
    done(ops::streams(state).await)
}

async fn get_outgoing_stream_status(
    state: &SharedState,
    _: &mut Session,
    StreamParams { stream }: StreamParams,
) -> Result<Value, RpcError> {
    done(ops::stream(state, &stream).await)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddStream {
    #[serde(default)]
    id: Option<String>,
    stream: StreamSpec,
}

async fn add_stream(state: &SharedState, _: &mut Session, p: AddStream) -> Result<Value, RpcError> {
    done(ops::create_stream(state, p.id, p.stream).await)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateStream {
    id: String,
    stream: StreamSpec,
}

async fn update_stream(
    state: &SharedState,
    _: &mut Session,
    p: UpdateStream,
) -> Result<Value, RpcError> {
    done(ops::update_stream(state, &p.id, p.stream).await)
}

async fn remove_stream(
    state: &SharedState,
    _: &mut Session,
    IdParams { id }: IdParams,
) -> Result<Value, RpcError> {
    ops::delete_stream(state, &id)
        .await
        .map_err(RpcError::from)?;
    Ok(json!({"removed": true}))
}

async fn start_stream(
    state: &SharedState,
    _: &mut Session,
    StreamParams { stream }: StreamParams,
) -> Result<Value, RpcError> {
    done(ops::start_stream(state, &stream).await)
}

async fn stop_stream(
    state: &SharedState,
    _: &mut Session,
    StreamParams { stream }: StreamParams,
) -> Result<Value, RpcError> {
    done(ops::stop_stream(state, &stream).await)
}

async fn program_cue(
    state: &SharedState,
    _: &mut Session,
    cue: crate::api::rest::broadcast::Cue,
) -> Result<Value, RpcError> {
    done(
        ops::program_cue(
            state,
            &cue.stream,
            &cue.camera,
            cue.preset.as_deref(),
            cue.transition,
        )
        .await,
    )
}

async fn get_overlays(
    state: &SharedState,
    _: &mut Session,
    _: NoParams,
) -> Result<Value, RpcError> {
    done(
        state
            .store
            .call(|c| db::overlays(c))
            .await
            .map_err(ApiError::from),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddOverlay {
    #[serde(default)]
    id: Option<String>,
    overlay: OverlaySpec,
}

async fn add_overlay(
    state: &SharedState,
    _: &mut Session,
    p: AddOverlay,
) -> Result<Value, RpcError> {
    done(ops::create_overlay(state, p.id, p.overlay).await)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateOverlay {
    id: String,
    overlay: OverlaySpec,
}

async fn update_overlay(
    state: &SharedState,
    _: &mut Session,
    p: UpdateOverlay,
) -> Result<Value, RpcError> {
    done(ops::update_overlay(state, &p.id, p.overlay).await)
}

async fn remove_overlay(
    state: &SharedState,
    _: &mut Session,
    IdParams { id }: IdParams,
) -> Result<Value, RpcError> {
    ops::delete_overlay(state, &id)
        .await
        .map_err(RpcError::from)?;
    Ok(json!({"removed": true}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OverlayValue {
    overlay: String,
    value: String,
}

async fn set_overlay_value(
    state: &SharedState,
    _: &mut Session,
    p: OverlayValue,
) -> Result<Value, RpcError> {
    done(ops::set_overlay_value(state, &p.overlay, p.value).await)
}
