//! `POST /rpc`: JSON-RPC over HTTP for scripts. The caller authenticates with a bearer token
//! (or a session cookie plus CSRF header), or with `authenticate` earlier in the same batch.
//! A request of only notifications answers 204 No Content.

use super::{Session, handle_text};
use crate::api::SharedState;
use crate::api::authn::Authn;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

pub async fn post(
    State(state): State<SharedState>,
    axum::Extension(authn): axum::Extension<Authn>,
    body: Bytes,
) -> Response {
    // Invalid UTF-8 is answered as a parse error.
    let text = std::str::from_utf8(&body).unwrap_or("\u{0}not utf-8");
    let mut session = Session {
        principal: authn.principal,
        client: authn.client,
        client_id: state.new_client_id(authn.client),
        subscription: None,
        websocket: false,
        host: authn.host.clone(),
    };
    match handle_text(&state, &mut session, text).await {
        Some(json) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            json,
        )
            .into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    }
}
