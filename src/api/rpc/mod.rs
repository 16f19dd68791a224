//! JSON-RPC 2.0: envelopes ([`envelope`], pure), the method table and implementations
//! ([`methods`]), and the HTTP POST transport ([`http`]). The WebSocket transport is
//! [`crate::api::ws`]; both feed text to [`handle_text`].

pub mod envelope;
pub mod http;
pub mod methods;

use super::SharedState;
use crate::auth::Principal;
use crate::events::Subscription;
use envelope::{Incoming, RpcError};
use serde_json::Value;
use std::net::IpAddr;

/// Per-connection (WebSocket) or per-request (HTTP) state.
#[derive(Debug)]
pub struct Session {
    pub principal: Option<Principal>,
    pub client: IpAddr,
    pub client_id: String,
    pub subscription: Option<Subscription>,
    /// Only WebSocket sessions can receive notifications.
    pub websocket: bool,
    /// The `Host` header of the HTTP request or WebSocket upgrade.
    pub host: Option<String>,
}

/// Handles one message; `None` when nothing must be sent back (notifications only).
pub async fn handle_text(state: &SharedState, session: &mut Session, text: &str) -> Option<String> {
    let out = match envelope::parse(text) {
        Err(parse_error) => Some(parse_error),
        Ok(Incoming::Single(v)) => handle_value(state, session, v).await,
        Ok(Incoming::Batch(items)) if items.is_empty() => Some(envelope::error_response(
            Value::Null,
            &RpcError::invalid_request("an empty batch is not a request"),
        )),
        Ok(Incoming::Batch(items)) if items.len() > envelope::MAX_BATCH => {
            Some(envelope::error_response(
                Value::Null,
                &RpcError::invalid_request(format!(
                    "a batch holds at most {} requests; this one has {}",
                    envelope::MAX_BATCH,
                    items.len()
                )),
            ))
        }
        Ok(Incoming::Batch(items)) => {
            let mut responses = Vec::with_capacity(items.len());
            for item in items {
                if let Some(r) = handle_value(state, session, item).await {
                    responses.push(r);
                }
            }
            (!responses.is_empty()).then_some(Value::Array(responses))
        }
    };
    out.map(|v| v.to_string())
}

async fn handle_value(state: &SharedState, session: &mut Session, v: Value) -> Option<Value> {
    match envelope::validate(v) {
        Err((id, e)) => Some(envelope::error_response(id, &e)),
        Ok(req) => {
            let outcome = methods::dispatch(state, session, &req).await;
            let id = req.id?; // a notification: executed, never answered
            Some(match outcome {
                Ok(result) => envelope::result_response(id, result),
                Err(e) => envelope::error_response(id, &e),
            })
        }
    }
}
