//! Request authentication, CSRF protection, role extractors and the REST audit trail.
//!
//! Credentials, in order: `Authorization: Bearer <jwt>`, then the `pinhole_session` cookie set by
//! `POST /api/auth/session`. A cookie-authenticated request that changes state (any method but
//! GET/HEAD/OPTIONS) must repeat the session's CSRF token in `X-CSRF-Token`: another site can make
//! the browser send the cookie, but cannot read the token (double submit, bound to the session's
//! JWT). WebSocket upgrades authenticated by cookie must come from the same origin.

use super::SharedState;
use super::error::ApiError;
use crate::auth::token::TokenError;
use crate::auth::{Principal, Role};
use crate::store::audit::NewAuditEntry;
use axum::extract::{ConnectInfo, FromRequestParts, MatchedPath, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header, request::Parts};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::{IpAddr, SocketAddr};

pub const SESSION_COOKIE: &str = "pinhole_session";
pub const CSRF_COOKIE: &str = "pinhole_csrf";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// What [`authenticate`] found, stored in the request's extensions.
#[derive(Debug, Clone)]
pub struct Authn {
    pub principal: Option<Principal>,
    /// Why a presented credential was refused.
    pub refused: Option<TokenError>,
    pub via_cookie: bool,
    pub client: IpAddr,
    /// The `Host` the client used (for URLs handed back, such as RTSP stream URLs).
    pub host: Option<String>,
}

/// The client address, from the connection.
pub fn client_ip(parts_ext: &axum::http::Extensions) -> IpAddr {
    parts_ext
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::from([0, 0, 0, 0]))
}

pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn safe_method(m: &Method) -> bool {
    matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Does the Origin header (when present) name the host the request was sent to?
pub fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true; // not a browser cross-origin request
    };
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let origin_host = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .unwrap_or("");
    origin_host.eq_ignore_ascii_case(host)
}

/// Middleware: resolves the caller and enforces CSRF for cookie sessions.
pub async fn authenticate(
    State(state): State<SharedState>,
    mut req: Request,
    next: Next,
) -> Response {
    let client = client_ip(req.extensions());
    let headers = req.headers();
    let (token, via_cookie) = match bearer(headers) {
        Some(t) => (Some(t.to_string()), false),
        None => (cookie(headers, SESSION_COOKIE).map(str::to_string), true),
    };
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| h.len() <= 255 && !h.contains(['/', '@', ' ']))
        .map(str::to_string);
    let mut authn = Authn {
        principal: None,
        refused: None,
        via_cookie: false,
        client,
        host,
    };
    if let Some(token) = token {
        match state
            .users
            .verify(&state.tokens, state.clock.as_ref(), &token)
        {
            Ok(p) => {
                if via_cookie && !safe_method(req.method()) {
                    let sent = req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok());
                    let ok = match (sent, p.csrf.as_deref()) {
                        (Some(a), Some(b)) => constant_time_eq(a.as_bytes(), b.as_bytes()),
                        _ => false,
                    };
                    if !ok {
                        return ApiError::Forbidden(
                            "missing or wrong X-CSRF-Token for this session".into(),
                        )
                        .into_response();
                    }
                }
                let websocket = req
                    .headers()
                    .get(axum::http::header::UPGRADE)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
                if via_cookie
                    && (websocket || req.uri().path() == "/ws")
                    && !same_origin(req.headers())
                {
                    return ApiError::Forbidden("cross-origin WebSocket refused".into())
                        .into_response();
                }
                authn.principal = Some(p);
                authn.via_cookie = via_cookie;
            }
            Err(e) => authn.refused = Some(e),
        }
    }
    req.extensions_mut().insert(authn);
    next.run(req).await
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Middleware: records every state-changing REST request (method, route, who, from where, status).
/// JSON-RPC calls are audited per method by the dispatcher, with their parameters.
pub async fn audit_mutations(
    State(state): State<SharedState>,
    req: Request,
    next: Next,
) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    if safe_method(&method) || path == "/rpc" {
        return next.run(req).await;
    }
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string());
    let authn = req.extensions().get::<Authn>().cloned();
    let response = next.run(req).await;
    let status = response.status();
    let action = format!("{method} {}", route.unwrap_or_else(|| "(unmatched)".into()));
    let client = authn.as_ref().map(|a| a.client);
    // A row for what an authenticated caller did, and for each password checked (login, setup:
    // they set AuditActor; those are limited per address). The rest was refused before anyone
    // authenticated: counted, not a row each.
    let actor = match authn.as_ref().and_then(|a| a.principal.as_ref()) {
        Some(p) => Some(p.username.clone()),
        None => response
            .extensions()
            .get::<AuditActor>()
            .filter(|_| status != StatusCode::TOO_MANY_REQUESTS)
            .map(|a| a.0.clone()),
    };
    if actor.is_none() && !status.is_success() {
        state.refused(client.unwrap_or(IpAddr::from([0, 0, 0, 0])), &action);
        return response;
    }
    let entry = NewAuditEntry {
        at_ms: state.now_ms(),
        actor,
        client: client.map(|a| a.to_string()),
        action,
        target: Some(path),
        details: None,
        result: if status.is_success() {
            "ok".into()
        } else {
            format!("error {}", status.as_u16())
        },
    };
    if status == StatusCode::FORBIDDEN {
        state.audit_role_refusal(entry).await;
    } else {
        state.audit(entry).await;
    }
    response
}

/// Set on a response by handlers that authenticate the caller themselves (login, setup), so the
/// audit row names who tried.
#[derive(Debug, Clone)]
pub struct AuditActor(pub String);

/// Extractor: an authenticated caller with at least role `MIN` (0 viewer, 1 operator, 2 admin).
#[derive(Debug, Clone)]
pub struct Authed<const MIN: u8>(pub Principal);

pub type AsViewer = Authed<0>;
pub type AsOperator = Authed<1>;
pub type AsAdmin = Authed<2>;

const fn role_of(min: u8) -> Role {
    match min {
        0 => Role::Viewer,
        1 => Role::Operator,
        _ => Role::Admin,
    }
}

impl<S: Send + Sync, const MIN: u8> FromRequestParts<S> for Authed<MIN> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let authn = parts.extensions.get::<Authn>();
        let Some(authn) = authn else {
            return Err(ApiError::Unauthorized("authentication required".into()));
        };
        let Some(p) = &authn.principal else {
            let detail = match &authn.refused {
                Some(e) => e.to_string(),
                None => "authentication required: send Authorization: Bearer <token>".into(),
            };
            return Err(ApiError::Unauthorized(detail));
        };
        let need = role_of(MIN);
        if !p.has(need) {
            return Err(ApiError::Forbidden(format!(
                "this needs the {need} role; you are {}",
                p.role
            )));
        }
        Ok(Authed(p.clone()))
    }
}

/// Extractor: the caller's address.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(client_ip(&parts.extensions)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn reads_credentials_and_origin() {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer abc"),
        );
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; pinhole_session=tok; b=2"),
        );
        assert_eq!(bearer(&h), Some("abc"));
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("tok"));
        assert_eq!(cookie(&h, "missing"), None);
        h.insert(header::HOST, HeaderValue::from_static("pi.local:8002"));
        assert!(same_origin(&h));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://pi.local:8002"),
        );
        assert!(same_origin(&h));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://evil.example"),
        );
        assert!(!same_origin(&h));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
    }
}
