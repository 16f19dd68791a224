//! `GET /ws`: JSON-RPC 2.0 over WebSocket.
//!
//! One task per connection handles requests in order and forwards subscribed events as
//! notifications. Memory per idle connection is kept small (small read/write buffers; the event
//! receiver exists only once the client subscribes), since a Pi may hold many browser tabs and
//! scripts. Messages larger than `http.max_message_bytes` close the connection with 1009.
//!
//! Strangers cannot hold the slots: a connection that has not authenticated within
//! `http.websocket_auth_timeout_secs` is closed with 1008, one address holds at most
//! `http.max_websocket_connections_per_address`, and an eighth of all slots is kept for clients
//! that authenticate with the upgrade request itself.

use super::SharedState;
use super::authn::Authn;
use super::rpc::{Session, envelope, handle_text};
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

pub async fn upgrade(
    State(state): State<SharedState>,
    axum::Extension(authn): axum::Extension<Authn>,
    ws: WebSocketUpgrade,
) -> Response {
    let slot = match Slot::take(&state, &authn) {
        Ok(slot) => slot,
        Err(refusal) => return refusal.into_response(),
    };
    let max = state.config.http.max_message_bytes;
    ws.read_buffer_size(4096)
        .write_buffer_size(0)
        .max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| serve(state, authn, socket, slot))
}

/// One connection's place in the limits: taken before the upgrade, given back when the
/// connection ends (or the upgrade fails).
struct Slot {
    state: SharedState,
    client: IpAddr,
    client_id: String,
    /// Lets a shutdown wait for this connection's close frame.
    _tracked: tokio_util::task::task_tracker::TaskTrackerToken,
}

impl Slot {
    /// Checks the limits: all connections, the share of those not authenticated at the upgrade
    /// (an eighth stays free for those that are, so strangers cannot lock the admin out), and
    /// the connections of one address.
    fn take(state: &SharedState, authn: &Authn) -> Result<Slot, (StatusCode, String)> {
        let http = &state.config.http;
        let max = http.max_websocket_connections;
        let limit = if authn.principal.is_some() {
            max
        } else {
            max - max / 8
        };
        if state.ws_connections.load(Ordering::Relaxed) >= limit {
            return Err((
                StatusCode::SERVICE_UNAVAILABLE,
                "too many WebSocket connections".into(),
            ));
        }
        {
            let mut per = state
                .ws_per_address
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let n = per.entry(authn.client).or_default();
            if *n >= http.max_websocket_connections_per_address {
                return Err((
                    StatusCode::TOO_MANY_REQUESTS,
                    format!(
                        "too many WebSocket connections from {} (at most {})",
                        authn.client, http.max_websocket_connections_per_address
                    ),
                ));
            }
            *n += 1;
        }
        state.ws_connections.fetch_add(1, Ordering::Relaxed);
        state.metrics.ws_connections.inc();
        Ok(Slot {
            state: state.clone(),
            client: authn.client,
            client_id: state.new_client_id(authn.client),
            _tracked: state.ws_sessions.token(),
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let state = &self.state;
        state.ws_connections.fetch_sub(1, Ordering::Relaxed);
        state.metrics.ws_connections.dec();
        let mut per = state
            .ws_per_address
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(n) = per.get_mut(&self.client) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                per.remove(&self.client);
            }
        }
        drop(per);
        if let Ok(mut subs) = state.subscriptions.lock() {
            subs.remove(&self.client_id);
        }
    }
}

async fn serve(state: SharedState, authn: Authn, socket: WebSocket, slot: Slot) {
    let mut session = Session {
        principal: authn.principal,
        client: authn.client,
        client_id: slot.client_id.clone(),
        subscription: None,
        websocket: true,
        host: authn.host.clone(),
    };
    let auth_timeout = Duration::from_secs(state.config.http.websocket_auth_timeout_secs.into());
    // Set while the session is not authenticated: when it passes, the connection is closed.
    let mut auth_deadline = session
        .principal
        .is_none()
        .then(|| tokio::time::Instant::now() + auth_timeout);
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
                auth_deadline = match (&session.principal, auth_deadline) {
                    (Some(_), _) => None,
                    (None, None) => Some(tokio::time::Instant::now() + auth_timeout),
                    (None, d) => d,
                };
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
            _ = async {
                match auth_deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            } => {
                let _ = socket.send(Message::Close(Some(CloseFrame {
                    code: close_code::POLICY,
                    reason: format!("not authenticated within {} s", auth_timeout.as_secs()).into(),
                }))).await;
                break;
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
