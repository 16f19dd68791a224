//! `/api/cameras/{id}/ptz/...`: the VistterStream routes. Speeds are -1..1; the absolute route
//! speaks degrees (pan -180..180, tilt -90..90) and a 0-10 zoom scale, mapped to VISCA units
//! through the camera's profile.

use crate::api::SharedState;
use crate::api::authn::{AsOperator, AsViewer};
use crate::api::error::{ApiError, ErrorBody, JsonBody};
use crate::api::ptz_ops;
use crate::store::presets::{self, Preset};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Continuous {
    /// -1 (left) to 1 (right); 0 stops panning.
    #[serde(default)]
    pub pan_speed: f64,
    /// -1 (down) to 1 (up).
    #[serde(default)]
    pub tilt_speed: f64,
    /// -1 (wide) to 1 (tele); absent leaves the zoom alone.
    #[serde(default)]
    pub zoom_speed: Option<f64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Absolute {
    /// Degrees, -180..180; absent keeps the current pan.
    pub pan: Option<f64>,
    /// Degrees, -90..90.
    pub tilt: Option<f64>,
    /// 0 (wide) to 10 (tele).
    pub zoom: Option<f64>,
}

/// Move continuously until stopped.
#[utoipa::path(post, path = "/api/cameras/{id}/ptz/continuous", tag = "ptz", params(("id" = String, Path)), request_body = Continuous,
    responses((status = 204), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn continuous(
    State(state): State<SharedState>,
    _: AsOperator,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<Continuous>,
) -> Result<StatusCode, ApiError> {
    ptz_ops::continuous(&state, &id, b.pan_speed, b.tilt_speed, b.zoom_speed).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Stop pan, tilt and zoom.
#[utoipa::path(post, path = "/api/cameras/{id}/ptz/stop", tag = "ptz", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn stop(
    State(state): State<SharedState>,
    _: AsOperator,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    ptz_ops::stop(&state, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Go to a position (degrees and a 0-10 zoom); answers when the camera has arrived.
#[utoipa::path(post, path = "/api/cameras/{id}/ptz/absolute", tag = "ptz", params(("id" = String, Path)), request_body = Absolute,
    responses((status = 204), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn absolute(
    State(state): State<SharedState>,
    _: AsOperator,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<Absolute>,
) -> Result<StatusCode, ApiError> {
    let (_, p) = ptz_ops::camera(&state, &id)?;
    let check = |name: &str, v: Option<f64>, lim: f64| -> Result<Option<f64>, ApiError> {
        match v {
            Some(x) if !x.is_finite() || x.abs() > lim => Err(ApiError::field(
                name,
                format!("{x} is outside -{lim}..{lim}"),
            )),
            other => Ok(other),
        }
    };
    let pan = check("pan", b.pan, 180.0)?.map(|d| (d * p.units_per_degree).round() as i32);
    let tilt = check("tilt", b.tilt, 90.0)?.map(|d| (d * p.units_per_degree).round() as i32);
    let zoom = match b.zoom {
        Some(z) if !(0.0..=10.0).contains(&z) => {
            return Err(ApiError::field("zoom", format!("{z} is outside 0..10")));
        }
        Some(z) => Some((z / 10.0 * f64::from(p.zoom_max)).round() as i32),
        None => None,
    };
    ptz_ops::absolute(&state, &id, pan, tilt, zoom, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What the controller knows of the camera: link, power, position, limits.
#[utoipa::path(get, path = "/api/cameras/{id}/ptz/status", tag = "ptz", params(("id" = String, Path)),
    responses((status = 200, body = ptz_ops::StatusView), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn status(
    State(state): State<SharedState>,
    _: AsViewer,
    Path(id): Path<String>,
) -> Result<Json<ptz_ops::StatusView>, ApiError> {
    Ok(Json(ptz_ops::status(&state, &id)?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PresetName {
    pub name: String,
}

/// Named presets of a camera.
#[utoipa::path(get, path = "/api/cameras/{id}/presets", tag = "ptz", params(("id" = String, Path)),
    responses((status = 200, body = Vec<Preset>), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_presets(
    State(state): State<SharedState>,
    _: AsViewer,
    Path(id): Path<String>,
) -> Result<Json<Vec<Preset>>, ApiError> {
    ptz_ops::camera(&state, &id)?;
    Ok(Json(
        state.store.call(move |c| presets::list(c, &id)).await?,
    ))
}

/// Save the camera's current position as a named preset (replacing one of the same name).
#[utoipa::path(post, path = "/api/cameras/{id}/presets", tag = "ptz", params(("id" = String, Path)), request_body = PresetName,
    responses((status = 201, body = Preset), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn save_preset(
    State(state): State<SharedState>,
    _: AsOperator,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<PresetName>,
) -> Result<(StatusCode, Json<Preset>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(ptz_ops::save_preset(&state, &id, b.name).await?),
    ))
}

/// Move to a named preset; answers on arrival.
#[utoipa::path(post, path = "/api/presets/{id}/move", tag = "ptz", params(("id" = i64, Path)),
    responses((status = 200, body = Preset), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn move_to_preset(
    State(state): State<SharedState>,
    _: AsOperator,
    Path(id): Path<i64>,
) -> Result<Json<Preset>, ApiError> {
    Ok(Json(ptz_ops::goto_preset(&state, id).await?))
}

/// Rename a preset.
#[utoipa::path(put, path = "/api/presets/{id}", tag = "ptz", params(("id" = i64, Path)), request_body = PresetName,
    responses((status = 200, body = Preset), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn rename_preset(
    State(state): State<SharedState>,
    _: AsOperator,
    Path(id): Path<i64>,
    JsonBody(b): JsonBody<PresetName>,
) -> Result<Json<Preset>, ApiError> {
    Ok(Json(
        state
            .store
            .call(move |c| presets::rename(c, id, &b.name))
            .await?,
    ))
}

/// Delete a preset.
#[utoipa::path(delete, path = "/api/presets/{id}", tag = "ptz", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete_preset(
    State(state): State<SharedState>,
    _: AsOperator,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    state.store.call(move |c| presets::delete(c, id)).await?;
    Ok(StatusCode::NO_CONTENT)
}
