//! Account operations shared by the REST routes and the JSON-RPC methods, so both enforce the same
//! rules: password policy, hashing off the async runtime, last-admin protection, no deleting
//! yourself, and token revocation on every change.

use super::SharedState;
use crate::auth::{Role, password};
use crate::store::users::{self, User};
use crate::store::{StoreError, settings};
use pinhole_base::FieldErrors;
use serde_json::Value;
use std::collections::BTreeMap;

/// Hashes a new password after checking the policy; `field` names it in the error.
pub async fn hash_new_password(
    state: &SharedState,
    pw: String,
    field: &str,
) -> Result<String, StoreError> {
    password::check_policy(&pw, state.config.auth.min_password_length)
        .map_err(|r| FieldErrors::single(field, r))?;
    tokio::task::spawn_blocking(move || password::hash(&pw))
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
        .map_err(|e| StoreError::Task(e.to_string()))
}

/// The user's digest secrets, sealed with the device key: the RTSP/HTTP Digest HA1 (see
/// [`crate::media::rtsp_auth`]) and the password for ONVIF's UsernameToken digest.
pub fn sealed_digest_secrets(
    secrets: &crate::secrets::SecretBox,
    username: &str,
    pw: &str,
) -> users::DigestSecrets {
    users::DigestSecrets {
        rtsp_ha1: secrets.seal(&crate::media::rtsp_auth::ha1(username, pw)),
        onvif_password: secrets.seal(pw),
    }
}

/// Checks a password against a user's stored hash (a missing user costs the same time).
pub async fn check_password(
    state: &SharedState,
    username: &str,
    pw: String,
) -> Result<Option<User>, StoreError> {
    let name = username.to_string();
    let user = state.store.call(move |c| users::by_name(c, &name)).await?;
    let hash = user
        .as_ref()
        .map(|u| u.password_hash.clone())
        .unwrap_or_else(|| password::dummy_hash().to_string());
    let secrets = sealed_digest_secrets(&state.secrets, username, &pw);
    let ok = tokio::task::spawn_blocking(move || password::verify(&pw, &hash))
        .await
        .unwrap_or(false);
    if ok {
        // Accounts whose password was set before Pinhole kept digest secrets get them now.
        let name = username.to_string();
        if let Err(e) = state
            .store
            .call(move |c| users::set_digest_secrets(c, &name, &secrets, true))
            .await
        {
            tracing::warn!(user = %username, error = %e, "could not store the digest secrets");
        }
    }
    Ok(user.filter(|_| ok))
}

pub async fn create_user(
    state: &SharedState,
    username: String,
    pw: String,
    role: Role,
    only_if_none: bool,
) -> Result<User, StoreError> {
    users::valid_username(&username).map_err(|r| FieldErrors::single("username", r))?;
    let digest = sealed_digest_secrets(&state.secrets, &username, &pw);
    let hash = hash_new_password(state, pw, "password").await?;
    let now = state.clock.now_secs();
    let user = state
        .store
        .call(move |c| {
            let u = users::create(c, &username, &hash, role, now, only_if_none)?;
            users::set_digest_secrets(c, &username, &digest, false)?;
            Ok(u)
        })
        .await?;
    state.users_changed().await;
    Ok(user)
}

pub async fn update_user(
    state: &SharedState,
    username: String,
    role: Option<Role>,
    pw: Option<String>,
) -> Result<User, StoreError> {
    if role.is_none() && pw.is_none() {
        return Err(FieldErrors::single("role", "give a role and/or a password").into());
    }
    let hash = match pw {
        Some(pw) => Some((
            sealed_digest_secrets(&state.secrets, &username, &pw),
            hash_new_password(state, pw, "password").await?,
        )),
        None => None,
    };
    let now = state.clock.now_secs();
    let user = state
        .store
        .call(move |c| {
            // The role first: it is the change that can be refused (last admin).
            if let Some(r) = role {
                users::set_role(c, &username, r, now)?;
            }
            if let Some((digest, h)) = &hash {
                users::set_password(c, &username, h, now)?;
                users::set_digest_secrets(c, &username, digest, false)?;
            }
            users::by_name(c, &username)?
                .ok_or_else(|| StoreError::NotFound(format!("user `{username}`")))
        })
        .await?;
    state.users_changed().await;
    Ok(user)
}

pub async fn delete_user(
    state: &SharedState,
    actor: &str,
    username: String,
) -> Result<(), StoreError> {
    if actor.eq_ignore_ascii_case(&username) {
        return Err(StoreError::Conflict(
            "you cannot delete your own account".into(),
        ));
    }
    state
        .store
        .call(move |c| users::delete(c, &username))
        .await?;
    state.users_changed().await;
    Ok(())
}

/// Changes the caller's own password; every token of theirs is revoked.
pub async fn change_password(
    state: &SharedState,
    username: &str,
    current: String,
    new: String,
) -> Result<User, StoreError> {
    if check_password(state, username, current).await?.is_none() {
        return Err(FieldErrors::single("current_password", "wrong password").into());
    }
    let digest = sealed_digest_secrets(&state.secrets, username, &new);
    let hash = hash_new_password(state, new, "new_password").await?;
    let now = state.clock.now_secs();
    let name = username.to_string();
    let user = state
        .store
        .call(move |c| {
            users::set_password(c, &name, &hash, now)?;
            users::set_digest_secrets(c, &name, &digest, false)?;
            users::by_name(c, &name)?.ok_or_else(|| StoreError::NotFound(name.clone()))
        })
        .await?;
    state.users_changed().await;
    Ok(user)
}

/// The effective settings and their definitions.
pub async fn settings_view(state: &SharedState) -> Result<Value, StoreError> {
    let config = state.config.clone();
    let values = state
        .store
        .call(move |c| settings::effective(c, &config))
        .await?;
    let definitions: Vec<Value> = settings::SETTINGS
        .iter()
        .map(|d| serde_json::json!({"key": d.key, "description": d.description}))
        .collect();
    Ok(serde_json::json!({"settings": values, "definitions": definitions}))
}

pub async fn update_settings(
    state: &SharedState,
    by: Option<String>,
    changes: BTreeMap<String, Value>,
) -> Result<Value, StoreError> {
    let now = state.clock.now_secs();
    let keys: Vec<String> = changes.keys().cloned().collect();
    state
        .store
        .call(move |c| settings::update(c, &changes, by.as_deref(), now))
        .await?;
    if keys.iter().any(|k| k == "discovery_interval_secs") {
        state.discovery.interval_changed.notify_one();
    }
    if keys.iter().any(|k| k == "timezone") {
        crate::api::osd_ops::apply_stored(state).await;
        crate::api::broadcast_ops::retime_outputs(state).await;
    }
    if keys.iter().any(|k| k == "onvif_enabled")
        && let Some(on) = state
            .setting("onvif_enabled")
            .await
            .and_then(|v| v.as_bool())
    {
        state.onvif.set_enabled(on);
    }
    state.events.publish(
        "system.settings_changed",
        serde_json::json!({"keys": keys}),
        state.now_ms(),
    );
    settings_view(state).await
}
