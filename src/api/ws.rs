//! `GET /ws`: JSON-RPC 2.0 over WebSocket.
//!
//! One task per connection handles requests in order and forwards subscribed events as
//! notifications. Memory per idle connection is kept small (small read/write buffers; the event
//! receiver exists only once the client subscribes), since a Pi may hold many browser tabs and
//! scripts. Messages larger than `http.max_message_bytes` close the connection with 1009.

use super::SharedState;
use super::authn::Authn;
use super::rpc::{Session, envelope, handle_text};
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use std::sync::atomic::Ordering;
use tokio::sync::broadcast::error::RecvError;

pub async fn upgrade(
    State(state): State<SharedState>,
    axum::Extension(authn): axum::Extension<Authn>,
    ws: WebSocketUpgrade,
) -> Response {
    let limit = state.config.http.max_websocket_connections;
    if state.ws_connections.load(Ordering::Relaxed) >= limit {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "too many WebSocket connections",
        )
            .into_response();
    }
    let max = state.config.http.max_message_bytes;
    ws.read_buffer_size(4096)
        .write_buffer_size(0)
        .max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| serve(state, authn, socket))
}

struct ConnectionGuard(SharedState, String);

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.ws_connections.fetch_sub(1, Ordering::Relaxed);
        self.0.metrics.ws_connections.dec();
        if let Ok(mut subs) = self.0.subscriptions.lock() {
            subs.remove(&self.1);
        }
    }
}

async fn serve(state: SharedState, authn: Authn, socket: WebSocket) {
    state.ws_connections.fetch_add(1, Ordering::Relaxed);
    state.metrics.ws_connections.inc();
    let mut session = Session {
        principal: authn.principal,
        client: authn.client,
        client_id: state.new_client_id(authn.client),
        subscription: None,
        websocket: true,
        host: authn.host.clone(),
    };
    let _guard = ConnectionGuard(state.clone(), session.client_id.clone());
    let mut socket = socket;
    let mut events: Option<tokio::sync::broadcast::Receiver<std::sync::Arc<crate::events::Event>>> =
        None;
    let shutdown = state.shutdown.clone();
    loop {
        tokio::select! {
            msg = socket.recv() => {
                let text = match msg {
                    Some(Ok(Message::Text(t))) => t.to_string(),
                    Some(Ok(Message::Binary(b))) => match String::from_utf8(b.to_vec()) {
                        Ok(t) => t,
                        Err(_) => "\u{0}binary".into(), // answered as a parse error
                    },
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(Message::Close(_))) | None => break,
                    Some(Err(e)) => {
                        let too_big = e.to_string().to_ascii_lowercase().contains("too long")
                            || e.to_string().to_ascii_lowercase().contains("size");
                        if too_big {
                            let _ = socket.send(Message::Close(Some(CloseFrame {
                                code: close_code::SIZE,
                                reason: "message too big".into(),
                            }))).await;
                        }
                        tracing::debug!(client = %session.client_id, error = %e, "WebSocket read failed");
                        break;
                    }
                };
                if let Some(reply) = handle_text(&state, &mut session, &text).await
                    && socket.send(Message::Text(reply.into())).await.is_err() {
                        break;
                    }
                if session.subscription.is_some() && events.is_none() {
                    events = Some(state.events.subscribe());
                } else if session.subscription.is_none() {
                    events = None;
                }
            }
            ev = async {
                match events.as_mut() {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            } => {
                match ev {
                    Ok(event) => {
                        let deliver = session.subscription.as_ref().is_some_and(|s| s.matches(&event))
                            && session.principal.as_ref().is_some_and(|p| {
                                state.users.still_valid(p, state.clock.as_ref()).is_ok()
                            });
                        if deliver {
                            let method = crate::events::notification_method(&event.topic);
                            let n = if method == event.topic {
                                envelope::notification(method, &event.params).to_string()
                            } else {
                                // Renamed for camera-service clients: keep the topic in the params.
                                let mut params = event.params.clone();
                                params["topic"] = serde_json::Value::String(event.topic.clone());
                                envelope::notification(method, &params).to_string()
                            };
                            if socket.send(Message::Text(n.into())).await.is_err() {
                                break;
                            }
                        }
                    }
                    Err(RecvError::Lagged(n)) => {
                        state.metrics.notifications_dropped.inc_by(n);
                    }
                    Err(RecvError::Closed) => events = None,
                }
            }
            _ = shutdown.cancelled() => {
                let _ = socket.send(Message::Close(Some(CloseFrame {
                    code: close_code::AWAY,
                    reason: "pinhole is shutting down".into(),
                }))).await;
                break;
            }
        }
    }
}
