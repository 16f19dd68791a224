//! The session: `ping`, `authenticate`, and event subscriptions (WebSocket only).

use super::{Method, NoParams, Session, auth_error};
use crate::api::SharedState;
use crate::api::rpc::envelope::{self, RpcError};
use crate::auth::token::TokenError;
use crate::events::{self, Subscription};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};

pub(super) fn methods() -> Vec<Method> {
    vec![
        method!("ping", PUBLIC, READ, ping),
        method!("authenticate", PUBLIC, READ, authenticate),
        method!("subscribe_events", VIEWER, READ, subscribe_events),
        method!("unsubscribe_events", VIEWER, READ, unsubscribe_events),
        method!(
            "get_subscription_stats",
            VIEWER,
            READ,
            get_subscription_stats
        ),
    ]
}

async fn ping(
    _state: &SharedState,
    _session: &mut Session,
    _: NoParams,
) -> Result<Value, RpcError> {
    Ok(json!("pong"))
}

async fn get_subscription_stats(
    state: &SharedState,
    session: &mut Session,
    _: NoParams,
) -> Result<Value, RpcError> {
    Ok(subscription_stats(state, session))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthenticateParams {
    auth_token: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SubscribeParams {
    topics: Vec<String>,
    #[serde(default)]
    filters: Option<Map<String, Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UnsubscribeParams {
    #[serde(default)]
    topics: Option<Vec<String>>,
}

async fn authenticate(
    state: &SharedState,
    session: &mut Session,
    p: AuthenticateParams,
) -> Result<Value, RpcError> {
    match state
        .users
        .verify(&state.tokens, state.clock.as_ref(), &p.auth_token)
    {
        Ok(principal) => {
            let result = json!({
                "authenticated": true,
                "role": principal.role,
                "permissions": principal.role.permissions(),
                "expires_at": crate::clock::rfc3339_ms(principal.expires_at * 1000),
                "session_id": session.client_id,
                "username": principal.username,
            });
            session.principal = Some(principal);
            Ok(result)
        }
        Err(e) => {
            session.principal = None;
            // Count failures per client; beyond the limit, say so instead.
            if let Err(wait) = state.login_limiter.check(session.client, "") {
                return Err(RpcError::new(
                    envelope::RATE_LIMITED,
                    "rate_limited",
                    "too many failed authentications",
                    "Wait and retry",
                )
                .with_data("retry_after_ms", json!(wait.as_millis() as u64)));
            }
            Err(auth_error(
                "auth_failed",
                match e {
                    TokenError::Expired => "token expired",
                    TokenError::Invalid => "invalid token",
                    TokenError::Revoked => "token revoked",
                },
            ))
        }
    }
}

async fn subscribe_events(
    state: &SharedState,
    session: &mut Session,
    p: SubscribeParams,
) -> Result<Value, RpcError> {
    if !session.websocket {
        return Err(RpcError::new(
            envelope::INVALID_STATE,
            "websocket_required",
            "notifications can only be delivered over the WebSocket transport",
            "Connect to /ws",
        ));
    }
    if p.topics.is_empty() {
        return Err(RpcError::invalid_params(
            "topics: at least one topic is required",
        ));
    }
    let unknown: Vec<&String> = p
        .topics
        .iter()
        .filter(|t| !events::valid_pattern(t))
        .collect();
    if !unknown.is_empty() {
        return Err(
            RpcError::invalid_params(format!("unknown topic(s): {unknown:?}"))
                .with_data("valid_topics", json!(events::TOPICS)),
        );
    }
    let topics: BTreeSet<String> = p.topics.iter().cloned().collect();
    session.subscription = Some(Subscription {
        topics: topics.clone(),
        filters: p.filters.clone(),
    });
    if let Ok(mut subs) = state.subscriptions.lock() {
        subs.insert(session.client_id.clone(), topics);
    }
    Ok(json!({"subscribed": true, "topics": p.topics, "filters": p.filters}))
}

async fn unsubscribe_events(
    state: &SharedState,
    session: &mut Session,
    p: UnsubscribeParams,
) -> Result<Value, RpcError> {
    match &p.topics {
        None => session.subscription = None,
        Some(list) => {
            if let Some(sub) = session.subscription.as_mut() {
                for t in list {
                    sub.topics.remove(t);
                }
                if sub.topics.is_empty() {
                    session.subscription = None;
                }
            }
        }
    }
    if let Ok(mut subs) = state.subscriptions.lock() {
        match &session.subscription {
            Some(s) => {
                subs.insert(session.client_id.clone(), s.topics.clone());
            }
            None => {
                subs.remove(&session.client_id);
            }
        }
    }
    Ok(json!({"unsubscribed": true, "topics": p.topics}))
}

fn subscription_stats(state: &SharedState, session: &Session) -> Value {
    let subs = state
        .subscriptions
        .lock()
        .map(|s| s.clone())
        .unwrap_or_default();
    let mut topic_counts: BTreeMap<String, usize> = BTreeMap::new();
    for topics in subs.values() {
        for t in topics {
            *topic_counts.entry(t.clone()).or_default() += 1;
        }
    }
    let client_topics: Vec<String> = session
        .subscription
        .as_ref()
        .map(|s| s.topics.iter().cloned().collect())
        .unwrap_or_default();
    json!({
        "global_stats": {
            "total_subscriptions": subs.values().map(BTreeSet::len).sum::<usize>(),
            "active_clients": subs.len(),
            "topic_counts": topic_counts,
        },
        "client_topics": client_topics,
        "client_id": session.client_id,
    })
}
