//! Users, run-time settings and the audit log (Pinhole's own methods).

use super::{Method, NoParams, Session, auth_error};
use crate::api::rpc::envelope::RpcError;
use crate::api::{SharedState, accounts};
use crate::auth::Role;
use crate::store::{audit, users};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;

pub(super) fn methods() -> Vec<Method> {
    vec![
        method!("list_users", ADMIN, READ, list_users),
        method!("create_user", ADMIN, AUDITED, create_user),
        method!("update_user", ADMIN, AUDITED, update_user),
        method!("delete_user", ADMIN, AUDITED, delete_user),
        method!("change_password", VIEWER, AUDITED, change_password),
        method!("get_settings", VIEWER, READ, get_settings),
        method!("update_settings", ADMIN, AUDITED, update_settings),
        method!("get_audit_log", ADMIN, READ, get_audit_log),
    ]
}

async fn list_users(
    state: &SharedState,
    _session: &mut Session,
    _: NoParams,
) -> Result<Value, RpcError> {
    let list = state
        .store
        .call(|c| users::list(c))
        .await
        .map_err(RpcError::from)?;
    Ok(json!({"users": list, "total": list.len()}))
}

async fn create_user(
    state: &SharedState,
    _session: &mut Session,
    CreateUserParams {
        username,
        password,
        role,
    }: CreateUserParams,
) -> Result<Value, RpcError> {
    let user = accounts::create_user(state, username, password, role, false)
        .await
        .map_err(RpcError::from)?;
    Ok(json!({"created": true, "user": user}))
}

async fn update_user(
    state: &SharedState,
    _session: &mut Session,
    UpdateUserParams {
        username,
        role,
        password,
    }: UpdateUserParams,
) -> Result<Value, RpcError> {
    let user = accounts::update_user(state, username, role, password)
        .await
        .map_err(RpcError::from)?;
    Ok(json!({"updated": true, "user": user}))
}

async fn delete_user(
    state: &SharedState,
    session: &mut Session,
    UsernameParams { username }: UsernameParams,
) -> Result<Value, RpcError> {
    let actor = session
        .principal
        .as_ref()
        .map(|p| p.username.clone())
        .unwrap_or_default();
    accounts::delete_user(state, &actor, username.clone())
        .await
        .map_err(RpcError::from)?;
    Ok(json!({"deleted": true, "username": username}))
}

async fn change_password(
    state: &SharedState,
    session: &mut Session,
    ChangePasswordParams {
        current_password,
        new_password,
    }: ChangePasswordParams,
) -> Result<Value, RpcError> {
    let Some(me) = session.principal.clone() else {
        return Err(auth_error("auth_required", "Authentication required"));
    };
    accounts::change_password(state, &me.username, current_password, new_password)
        .await
        .map_err(RpcError::from)?;
    // Every token of this user, this session's included, is now revoked.
    session.principal = None;
    Ok(json!({"changed": true, "reauthenticate": true}))
}

async fn get_settings(
    state: &SharedState,
    _session: &mut Session,
    _: NoParams,
) -> Result<Value, RpcError> {
    accounts::settings_view(state).await.map_err(RpcError::from)
}

async fn update_settings(
    state: &SharedState,
    session: &mut Session,
    UpdateSettingsParams { settings: changes }: UpdateSettingsParams,
) -> Result<Value, RpcError> {
    let by = session.principal.as_ref().map(|p| p.username.clone());
    accounts::update_settings(state, by, changes)
        .await
        .map_err(RpcError::from)
}

async fn get_audit_log(
    state: &SharedState,
    _session: &mut Session,
    PageParams { limit, offset }: PageParams,
) -> Result<Value, RpcError> {
    let limit = limit.unwrap_or(50).min(1000);
    let offset = offset.unwrap_or(0);
    let entries = state
        .store
        .call(move |c| audit::list(c, limit, offset))
        .await
        .map_err(RpcError::from)?;
    Ok(json!({"entries": entries, "limit": limit, "offset": offset}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateUserParams {
    username: String,
    password: String,
    role: Role,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateUserParams {
    username: String,
    #[serde(default)]
    role: Option<Role>,
    #[serde(default)]
    password: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UsernameParams {
    username: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangePasswordParams {
    current_password: String,
    new_password: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateSettingsParams {
    settings: BTreeMap<String, Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PageParams {
    #[serde(default)]
    limit: Option<u32>,
    #[serde(default)]
    offset: Option<u32>,
}
