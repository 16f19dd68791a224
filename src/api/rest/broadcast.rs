//! Going out over REST: `/api/destinations` (admin; stream keys go in and never come out),
//! `/api/streams` (operators start and stop them, viewers watch their status) and
//! `/api/overlays` (operators edit them and push values; images are uploaded as PNG bodies).
//! `PUT` replaces a whole spec, and creates it under that id when it does not exist.

use crate::api::SharedState;
use crate::api::authn::{AsAdmin, AsOperator, AsViewer};
use crate::api::broadcast_ops::{self as ops, StreamView};
use crate::api::error::{ApiError, ErrorBody, JsonBody};
use crate::store::broadcast::{
    self as db, Destination, DestinationInput, Overlay, OverlaySpec, StreamSpec,
};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;

// ---- destinations

/// List destinations (without their keys).
#[utoipa::path(get, path = "/api/destinations", tag = "broadcast",
    responses((status = 200, body = Vec<Destination>), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_destinations(
    State(state): State<SharedState>,
    _: AsOperator,
) -> Result<Json<Vec<Destination>>, ApiError> {
    Ok(Json(state.store.call(|c| db::destinations(c)).await?))
}

/// Add a destination (the id is generated as destN when not given).
#[utoipa::path(post, path = "/api/destinations", tag = "broadcast", request_body = DestinationInput,
    responses((status = 201, body = Destination), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_destination(
    State(state): State<SharedState>,
    _: AsAdmin,
    JsonBody(input): JsonBody<DestinationInput>,
) -> Result<(StatusCode, Json<Destination>), ApiError> {
    let secrets = state.secrets.clone();
    let now = state.clock.now_secs();
    let d = state
        .store
        .call(move |c| db::create_destination(c, &secrets, &input, now))
        .await?;
    Ok((StatusCode::CREATED, Json(d)))
}

/// One destination.
#[utoipa::path(get, path = "/api/destinations/{id}", tag = "broadcast", params(("id" = String, Path)),
    responses((status = 200, body = Destination), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_destination(
    State(state): State<SharedState>,
    _: AsOperator,
    Path(id): Path<String>,
) -> Result<Json<Destination>, ApiError> {
    let key = id.clone();
    state
        .store
        .call(move |c| db::destination(c, &key))
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("destination `{id}`")))
}

/// Change a destination: name and URL are replaced; the key is kept unless `stream_key` is
/// given (`""` clears it). Running streams pick it up when next started.
#[utoipa::path(put, path = "/api/destinations/{id}", tag = "broadcast", params(("id" = String, Path)), request_body = DestinationInput,
    responses((status = 200, body = Destination), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn update_destination(
    State(state): State<SharedState>,
    _: AsAdmin,
    Path(id): Path<String>,
    JsonBody(input): JsonBody<DestinationInput>,
) -> Result<Json<Destination>, ApiError> {
    let secrets = state.secrets.clone();
    let now = state.clock.now_secs();
    Ok(Json(
        state
            .store
            .call(move |c| db::update_destination(c, &secrets, &id, &input, now))
            .await?,
    ))
}

/// Remove a destination no stream uses.
#[utoipa::path(delete, path = "/api/destinations/{id}", tag = "broadcast", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete_destination(
    State(state): State<SharedState>,
    _: AsAdmin,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .store
        .call(move |c| db::delete_destination(c, &id))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- streams

/// List streams with their live status.
#[utoipa::path(get, path = "/api/streams", tag = "broadcast",
    responses((status = 200, body = Vec<StreamView>), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_streams(
    State(state): State<SharedState>,
    _: AsViewer,
) -> Result<Json<Vec<StreamView>>, ApiError> {
    Ok(Json(ops::streams(&state).await?))
}

/// Add a stream (the id is generated as streamN).
#[utoipa::path(post, path = "/api/streams", tag = "broadcast", request_body = StreamSpec,
    responses((status = 201, body = StreamView), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_stream(
    State(state): State<SharedState>,
    _: AsOperator,
    JsonBody(spec): JsonBody<StreamSpec>,
) -> Result<(StatusCode, Json<StreamView>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(ops::create_stream(&state, None, spec).await?),
    ))
}

/// One stream with its live status.
#[utoipa::path(get, path = "/api/streams/{id}", tag = "broadcast", params(("id" = String, Path)),
    responses((status = 200, body = StreamView), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_stream(
    State(state): State<SharedState>,
    _: AsViewer,
    Path(id): Path<String>,
) -> Result<Json<StreamView>, ApiError> {
    Ok(Json(ops::stream(&state, &id).await?))
}

/// Replace a stream's spec, or create it under this id; a running stream restarts with it.
#[utoipa::path(put, path = "/api/streams/{id}", tag = "broadcast", params(("id" = String, Path)), request_body = StreamSpec,
    responses((status = 200, body = StreamView), (status = 201, body = StreamView), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn put_stream(
    State(state): State<SharedState>,
    _: AsOperator,
    Path(id): Path<String>,
    JsonBody(spec): JsonBody<StreamSpec>,
) -> Result<(StatusCode, Json<StreamView>), ApiError> {
    match ops::update_stream(&state, &id, spec.clone()).await {
        Err(ApiError::NotFound(_)) => Ok((
            StatusCode::CREATED,
            Json(ops::create_stream(&state, Some(id), spec).await?),
        )),
        other => Ok((StatusCode::OK, Json(other?))),
    }
}

/// Remove a stream (stopping it first).
#[utoipa::path(delete, path = "/api/streams/{id}", tag = "broadcast", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete_stream(
    State(state): State<SharedState>,
    _: AsOperator,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    ops::delete_stream(&state, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Start a stream: its PTZ preset is recalled, then its output connects to every destination.
#[utoipa::path(post, path = "/api/streams/{id}/start", tag = "broadcast", params(("id" = String, Path)),
    responses((status = 200, body = StreamView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn start_stream(
    State(state): State<SharedState>,
    _: AsOperator,
    Path(id): Path<String>,
) -> Result<Json<StreamView>, ApiError> {
    Ok(Json(ops::start_stream(&state, &id).await?))
}

/// The stream's picture with its overlays, as a JPEG: what it sends, or would send if started
/// (the overlay editor's preview).
#[utoipa::path(get, path = "/api/streams/{id}/preview.jpg", tag = "broadcast", params(("id" = String, Path)),
    responses((status = 200, content_type = "image/jpeg"), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn stream_preview(
    State(state): State<SharedState>,
    _: AsViewer,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "image/jpeg"),
            (axum::http::header::CACHE_CONTROL, "no-store"),
        ],
        ops::preview(&state, &id).await?,
    ))
}

/// Stop a stream.
#[utoipa::path(post, path = "/api/streams/{id}/stop", tag = "broadcast", params(("id" = String, Path)),
    responses((status = 200, body = StreamView), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn stop_stream(
    State(state): State<SharedState>,
    _: AsOperator,
    Path(id): Path<String>,
) -> Result<Json<StreamView>, ApiError> {
    Ok(Json(ops::stop_stream(&state, &id).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Cue {
    pub stream: String,
    pub camera: String,
    /// A named PTZ preset of the camera, recalled before the cut.
    #[serde(default)]
    pub preset: Option<String>,
    /// `cut` (the default) or `fade` (a short dip through black).
    #[serde(default)]
    pub transition: pinhole_base::broadcast::Transition,
}

/// A program cut, for an external studio or the page's "Take": the running stream shows this
/// camera from now on; the encoder and the destinations' connections stay up.
#[utoipa::path(post, path = "/api/program/cue", tag = "broadcast", request_body = Cue,
    responses((status = 200, body = StreamView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn program_cue(
    State(state): State<SharedState>,
    _: AsOperator,
    JsonBody(cue): JsonBody<Cue>,
) -> Result<Json<StreamView>, ApiError> {
    Ok(Json(
        ops::program_cue(
            &state,
            &cue.stream,
            &cue.camera,
            cue.preset.as_deref(),
            cue.transition,
        )
        .await?,
    ))
}

// ---- overlays

/// List overlays.
#[utoipa::path(get, path = "/api/overlays", tag = "broadcast",
    responses((status = 200, body = Vec<Overlay>), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_overlays(
    State(state): State<SharedState>,
    _: AsViewer,
) -> Result<Json<Vec<Overlay>>, ApiError> {
    Ok(Json(state.store.call(|c| db::overlays(c)).await?))
}

/// Add an overlay (the id is generated as overlayN).
#[utoipa::path(post, path = "/api/overlays", tag = "broadcast", request_body = OverlaySpec,
    responses((status = 201, body = Overlay), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_overlay(
    State(state): State<SharedState>,
    _: AsOperator,
    JsonBody(spec): JsonBody<OverlaySpec>,
) -> Result<(StatusCode, Json<Overlay>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(ops::create_overlay(&state, None, spec).await?),
    ))
}

/// One overlay.
#[utoipa::path(get, path = "/api/overlays/{id}", tag = "broadcast", params(("id" = String, Path)),
    responses((status = 200, body = Overlay), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_overlay(
    State(state): State<SharedState>,
    _: AsViewer,
    Path(id): Path<String>,
) -> Result<Json<Overlay>, ApiError> {
    let key = id.clone();
    state
        .store
        .call(move |c| db::overlay(c, &key))
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("overlay `{id}`")))
}

/// Replace an overlay, or create it under this id; running streams redraw it live.
#[utoipa::path(put, path = "/api/overlays/{id}", tag = "broadcast", params(("id" = String, Path)), request_body = OverlaySpec,
    responses((status = 200, body = Overlay), (status = 201, body = Overlay), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn put_overlay(
    State(state): State<SharedState>,
    _: AsOperator,
    Path(id): Path<String>,
    JsonBody(spec): JsonBody<OverlaySpec>,
) -> Result<(StatusCode, Json<Overlay>), ApiError> {
    match ops::update_overlay(&state, &id, spec.clone()).await {
        Err(ApiError::NotFound(_)) => Ok((
            StatusCode::CREATED,
            Json(ops::create_overlay(&state, Some(id), spec).await?),
        )),
        other => Ok((StatusCode::OK, Json(other?))),
    }
}

/// Remove an overlay no stream uses.
#[utoipa::path(delete, path = "/api/overlays/{id}", tag = "broadcast", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete_overlay(
    State(state): State<SharedState>,
    _: AsOperator,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    ops::delete_overlay(&state, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OverlayValue {
    pub value: String,
}

/// Push the value a text overlay shows as `{value}` (a score, a temperature), live.
#[utoipa::path(put, path = "/api/overlays/{id}/value", tag = "broadcast", params(("id" = String, Path)), request_body = OverlayValue,
    responses((status = 200, body = Overlay), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn put_overlay_value(
    State(state): State<SharedState>,
    _: AsOperator,
    Path(id): Path<String>,
    JsonBody(v): JsonBody<OverlayValue>,
) -> Result<Json<Overlay>, ApiError> {
    Ok(Json(ops::set_overlay_value(&state, &id, v.value).await?))
}

/// Upload an image overlay's PNG (the body; at most 2 MB, at most 3840 pixels a side).
#[utoipa::path(put, path = "/api/overlays/{id}/image", tag = "broadcast", params(("id" = String, Path)),
    request_body(content = Vec<u8>, content_type = "image/png"),
    responses((status = 200, body = Overlay), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn put_overlay_image(
    State(state): State<SharedState>,
    _: AsOperator,
    Path(id): Path<String>,
    body: axum::body::Body,
) -> Result<Json<Overlay>, ApiError> {
    let limit = pinhole_base::png::MAX_BYTES;
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError::from(pinhole_base::FieldErrors::single(
            "image",
            format!("the upload is larger than {limit} bytes"),
        ))
    })?;
    Ok(Json(
        ops::set_overlay_image(&state, &id, bytes.to_vec()).await?,
    ))
}

/// An image overlay's PNG.
#[utoipa::path(get, path = "/api/overlays/{id}/image", tag = "broadcast", params(("id" = String, Path)),
    responses((status = 200, content_type = "image/png"), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_overlay_image(
    State(state): State<SharedState>,
    _: AsViewer,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let key = id.clone();
    let png = state
        .store
        .call(move |c| db::overlay_image(c, &key))
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("overlay `{id}`'s image")))?;
    Ok(([(axum::http::header::CONTENT_TYPE, "image/png")], png))
}
