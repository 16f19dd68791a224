//! `/api/users`: account management, admins only.

use crate::api::SharedState;
use crate::api::accounts;
use crate::api::authn::{AsAdmin, Authed};
use crate::api::error::{ApiError, ErrorBody, JsonBody};
use crate::auth::Role;
use crate::store::users::{self, User};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub username: String,
    pub password: String,
    #[schema(value_type = String, example = "viewer")]
    pub role: Role,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserChange {
    #[schema(value_type = Option<String>)]
    pub role: Option<Role>,
    pub password: Option<String>,
}

/// A user as listed (no password hash).
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct UserView {
    pub id: i64,
    pub username: String,
    pub role: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<User> for UserView {
    fn from(u: User) -> Self {
        UserView {
            id: u.id,
            username: u.username,
            role: u.role.as_str().into(),
            created_at: u.created_at,
            updated_at: u.updated_at,
        }
    }
}

/// List users.
#[utoipa::path(get, path = "/api/users", tag = "users",
    responses((status = 200, body = Vec<UserView>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<SharedState>,
    _: AsAdmin,
) -> Result<Json<Vec<UserView>>, ApiError> {
    let list = state.store.call(|c| users::list(c)).await?;
    Ok(Json(list.into_iter().map(UserView::from).collect()))
}

/// Create a user.
#[utoipa::path(post, path = "/api/users", tag = "users", request_body = NewUser,
    responses((status = 201, body = UserView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<SharedState>,
    _: AsAdmin,
    JsonBody(req): JsonBody<NewUser>,
) -> Result<(StatusCode, Json<UserView>), ApiError> {
    let user = accounts::create_user(&state, req.username, req.password, req.role, false).await?;
    Ok((StatusCode::CREATED, Json(user.into())))
}

/// Change a user's role and/or password (revokes their tokens).
#[utoipa::path(put, path = "/api/users/{username}", tag = "users", request_body = UserChange,
    params(("username" = String, Path)),
    responses((status = 200, body = UserView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn update(
    State(state): State<SharedState>,
    _: AsAdmin,
    Path(username): Path<String>,
    JsonBody(req): JsonBody<UserChange>,
) -> Result<Json<UserView>, ApiError> {
    let user = accounts::update_user(&state, username, req.role, req.password).await?;
    Ok(Json(user.into()))
}

/// Delete a user (not yourself, not the last admin).
#[utoipa::path(delete, path = "/api/users/{username}", tag = "users",
    params(("username" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete(
    State(state): State<SharedState>,
    Authed(me): AsAdmin,
    Path(username): Path<String>,
) -> Result<StatusCode, ApiError> {
    accounts::delete_user(&state, &me.username, username).await?;
    Ok(StatusCode::NO_CONTENT)
}
