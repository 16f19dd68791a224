//! `/api/settings`: run-time settings (stored in the database, defaults from the config file).

use crate::api::SharedState;
use crate::api::accounts;
use crate::api::authn::{AsAdmin, AsViewer, Authed};
use crate::api::error::{ApiError, ErrorBody, JsonBody};
use axum::Json;
use axum::extract::State;
use serde_json::Value;
use std::collections::BTreeMap;

/// Every setting's effective value, and what each means.
#[utoipa::path(get, path = "/api/settings", tag = "settings",
    responses((status = 200, body = Object), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get(State(state): State<SharedState>, _: AsViewer) -> Result<Json<Value>, ApiError> {
    Ok(Json(accounts::settings_view(&state).await?))
}

/// Change settings: all given keys are validated first and written together, or none are.
#[utoipa::path(put, path = "/api/settings", tag = "settings",
    request_body(content = Object, description = "{\"device_name\": \"porch\", ...}"),
    responses((status = 200, body = Object), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn put(
    State(state): State<SharedState>,
    Authed(me): AsAdmin,
    JsonBody(changes): JsonBody<BTreeMap<String, Value>>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        accounts::update_settings(&state, Some(me.username), changes).await?,
    ))
}
