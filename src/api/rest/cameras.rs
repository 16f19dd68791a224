//! `/api/cameras`: camera definitions. Viewers list them; admins add, change and remove them.
//! Passwords go in, never come out (`has_password`).

use crate::api::SharedState;
use crate::api::authn::{AsAdmin, AsViewer};
use crate::api::error::{ApiError, ErrorBody, JsonBody};
use crate::store::cameras::{self, Camera, CameraInput};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

/// A camera as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct CameraView {
    pub id: String,
    pub name: String,
    pub enabled: bool,
    /// test, v4l2, libcamera or rtsp.
    pub source: String,
    pub url: String,
    pub username: Option<String>,
    pub has_password: bool,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub fps: Option<u32>,
    pub bitrate_kbps: Option<u32>,
    /// continuous, events or off.
    pub recording: String,
    /// api or config (provisioned from the config file).
    pub origin: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<Camera> for CameraView {
    fn from(c: Camera) -> Self {
        CameraView {
            id: c.id,
            name: c.name,
            enabled: c.enabled,
            source: c.source,
            url: c.url,
            username: c.username,
            has_password: c.has_password,
            width: c.width,
            height: c.height,
            fps: c.fps,
            bitrate_kbps: c.bitrate_kbps,
            recording: c.recording,
            origin: c.origin,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// The fields a client may set; absent fields keep their value on update. `password`: absent
/// keeps it, empty clears it.
#[derive(Debug, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CameraBody {
    pub id: Option<String>,
    pub name: Option<String>,
    pub enabled: Option<bool>,
    pub source: Option<String>,
    pub url: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub fps: Option<u32>,
    pub bitrate_kbps: Option<u32>,
    pub recording: Option<String>,
}

impl From<CameraBody> for CameraInput {
    fn from(b: CameraBody) -> Self {
        CameraInput {
            id: b.id,
            name: b.name,
            enabled: b.enabled,
            source: b.source,
            url: b.url,
            username: b.username,
            password: b.password,
            width: b.width,
            height: b.height,
            fps: b.fps,
            bitrate_kbps: b.bitrate_kbps,
            recording: b.recording,
        }
    }
}

fn changed(state: &SharedState, id: &str, what: &str) {
    state.events.publish(
        "system.cameras_changed",
        json!({"device": id, "change": what}),
        state.now_ms(),
    );
}

/// List cameras.
#[utoipa::path(get, path = "/api/cameras", tag = "cameras",
    responses((status = 200, body = Vec<CameraView>), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<SharedState>,
    _: AsViewer,
) -> Result<Json<Vec<CameraView>>, ApiError> {
    let list = state.store.call(|c| cameras::list(c)).await?;
    Ok(Json(list.into_iter().map(CameraView::from).collect()))
}

/// One camera.
#[utoipa::path(get, path = "/api/cameras/{id}", tag = "cameras", params(("id" = String, Path)),
    responses((status = 200, body = CameraView), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<SharedState>,
    _: AsViewer,
    Path(id): Path<String>,
) -> Result<Json<CameraView>, ApiError> {
    let found = state
        .store
        .call({
            let id = id.clone();
            move |c| cameras::get(c, &id)
        })
        .await?;
    found
        .map(|c| Json(c.into()))
        .ok_or_else(|| ApiError::NotFound(format!("camera `{id}`")))
}

/// Add a camera (the id is generated as cameraN when not given).
#[utoipa::path(post, path = "/api/cameras", tag = "cameras", request_body = CameraBody,
    responses((status = 201, body = CameraView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<SharedState>,
    _: AsAdmin,
    JsonBody(body): JsonBody<CameraBody>,
) -> Result<(StatusCode, Json<CameraView>), ApiError> {
    let input: CameraInput = body.into();
    let secrets = state.secrets.clone();
    let now = state.clock.now_secs();
    let cam = state
        .store
        .call(move |c| cameras::create(c, &secrets, &input, "api", now))
        .await?;
    changed(&state, &cam.id, "added");
    Ok((StatusCode::CREATED, Json(cam.into())))
}

/// Change a camera.
#[utoipa::path(put, path = "/api/cameras/{id}", tag = "cameras", params(("id" = String, Path)), request_body = CameraBody,
    responses((status = 200, body = CameraView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn update(
    State(state): State<SharedState>,
    _: AsAdmin,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<CameraBody>,
) -> Result<Json<CameraView>, ApiError> {
    let input: CameraInput = body.into();
    let secrets = state.secrets.clone();
    let now = state.clock.now_secs();
    let cam = state
        .store
        .call(move |c| cameras::update(c, &secrets, &id, &input, now))
        .await?;
    changed(&state, &cam.id, "updated");
    Ok(Json(cam.into()))
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
    let removed = id.clone();
    state
        .store
        .call(move |c| cameras::delete(c, &removed))
        .await?;
    changed(&state, &id, "removed");
    Ok(StatusCode::NO_CONTENT)
}
