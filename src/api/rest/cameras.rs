//! `/api/cameras`: camera definitions. Viewers list them; admins add, change and remove them.
//! Passwords go in, never come out (`has_password`).

use crate::api::SharedState;
use crate::api::authn::{AsAdmin, AsOperator, AsViewer};
use crate::api::error::{ApiError, ErrorBody, JsonBody};
use crate::store::cameras::{self, Camera, CameraInput};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

/// List cameras.
#[utoipa::path(get, path = "/api/cameras", tag = "cameras",
    responses((status = 200, body = Vec<Camera>), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<SharedState>,
    _: AsViewer,
) -> Result<Json<Vec<Camera>>, ApiError> {
    let list = state.store.call(|c| cameras::list(c)).await?;
    Ok(Json(list))
}

/// One camera.
#[utoipa::path(get, path = "/api/cameras/{id}", tag = "cameras", params(("id" = String, Path)),
    responses((status = 200, body = Camera), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<SharedState>,
    _: AsViewer,
    Path(id): Path<String>,
) -> Result<Json<Camera>, ApiError> {
    let found = state
        .store
        .call({
            let id = id.clone();
            move |c| cameras::get(c, &id)
        })
        .await?;
    found
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("camera `{id}`")))
}

/// Add a camera (the id is generated as cameraN when not given).
#[utoipa::path(post, path = "/api/cameras", tag = "cameras", request_body = CameraInput,
    responses((status = 201, body = Camera), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<SharedState>,
    _: AsAdmin,
    JsonBody(input): JsonBody<CameraInput>,
) -> Result<(StatusCode, Json<Camera>), ApiError> {
    let cam = state.add_camera(input).await?;
    Ok((StatusCode::CREATED, Json(cam)))
}

/// Change a camera.
#[utoipa::path(put, path = "/api/cameras/{id}", tag = "cameras", params(("id" = String, Path)), request_body = CameraInput,
    responses((status = 200, body = Camera), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn update(
    State(state): State<SharedState>,
    _: AsAdmin,
    Path(id): Path<String>,
    JsonBody(input): JsonBody<CameraInput>,
) -> Result<Json<Camera>, ApiError> {
    let secrets = state.secrets.clone();
    let now = state.clock.now_secs();
    let cam = state
        .store
        .call(move |c| cameras::update(c, &secrets, &id, &input, now))
        .await?;
    state.camera_changed(&cam.id, "updated").await;
    Ok(Json(cam))
}

/// Remove a camera. Its recordings, snapshots and events are kept.
#[utoipa::path(delete, path = "/api/cameras/{id}", tag = "cameras", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete(
    State(state): State<SharedState>,
    _: AsAdmin,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.remove_camera(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The texts a camera draws on its picture (its name, the date, the time), in drawing order.
#[utoipa::path(get, path = "/api/cameras/{id}/osd", tag = "cameras", params(("id" = String, Path)),
    responses((status = 200, body = crate::api::osd_ops::OsdView), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn osd(
    State(state): State<SharedState>,
    _: AsViewer,
    Path(id): Path<String>,
) -> Result<Json<crate::api::osd_ops::OsdView>, ApiError> {
    Ok(Json(crate::api::osd_ops::get(&state, &id).await?))
}

/// Sets a camera's texts: texts with a token it has are changed, texts without one are new,
/// the ones left out go (at most four). Shown from the next frame; a camera's first text
/// restarts its pipeline once. A relayed IP camera's texts are set on the camera (409).
#[utoipa::path(put, path = "/api/cameras/{id}/osd", tag = "cameras", params(("id" = String, Path)),
    request_body = crate::api::osd_ops::OsdChange,
    responses((status = 200, body = crate::api::osd_ops::OsdView), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn set_osd(
    State(state): State<SharedState>,
    _: AsAdmin,
    Path(id): Path<String>,
    JsonBody(change): JsonBody<crate::api::osd_ops::OsdChange>,
) -> Result<Json<crate::api::osd_ops::OsdView>, ApiError> {
    Ok(Json(
        crate::api::osd_ops::set(&state, &id, change.texts).await?,
    ))
}

/// A camera's picture adjustments (0-100, 50 leaves the picture as the camera gives it).
#[utoipa::path(get, path = "/api/cameras/{id}/picture", tag = "cameras", params(("id" = String, Path)),
    responses((status = 200, body = crate::api::picture_ops::PictureView), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn picture(
    State(state): State<SharedState>,
    _: AsViewer,
    Path(id): Path<String>,
) -> Result<Json<crate::api::picture_ops::PictureView>, ApiError> {
    Ok(Json(crate::api::picture_ops::get(&state, &id).await?))
}

/// Adjusts a camera's picture; what the body leaves out stays. Applied at once, without a
/// restart. A relayed IP camera's picture is set on the camera (409).
#[utoipa::path(put, path = "/api/cameras/{id}/picture", tag = "cameras", params(("id" = String, Path)),
    request_body = pinhole_base::picture::PictureChange,
    responses((status = 200, body = crate::api::picture_ops::PictureView), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn set_picture(
    State(state): State<SharedState>,
    _: AsOperator,
    Path(id): Path<String>,
    JsonBody(change): JsonBody<pinhole_base::picture::PictureChange>,
) -> Result<Json<crate::api::picture_ops::PictureView>, ApiError> {
    Ok(Json(
        crate::api::picture_ops::set(&state, &id, &change).await?,
    ))
}
