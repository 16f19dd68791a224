//! Pinhole as an ONVIF camera: its cameras as media profiles with RTSP and snapshot URIs, their
//! PTZ (VISCA or ONVIF underneath) as ONVIF PTZ, and a WS-Discovery responder
//! ([`responder`]), so network video recorders and home-automation systems find and use the
//! appliance as they do any IP camera.
//!
//! Off by default: the `onvif_enabled` setting switches it. While off, `/onvif/` answers 404
//! and nothing listens on the discovery port.
//!
//! Authentication is with Pinhole's own users, as ONVIF clients send it: a WS-Security
//! UsernameToken with a password digest (checked against the user's sealed password, within
//! five minutes of the device's clock, each nonce once), or HTTP Digest (the user's sealed HA1,
//! as for RTSP). Plain-text passwords and HTTP Basic are refused: this is plain HTTP. Wrong
//! passwords count against the same limits as web sign-ins. Viewers read; moving a camera and
//! changing its presets needs an operator.
//!
//! The protocol itself (parsing, answers, faults) is [`crate::onvif::server`]; this module maps
//! it onto the appliance.

pub mod events;
mod ops;
pub mod responder;

use crate::api::SharedState;
use crate::api::authn::Authn;
use crate::auth::Role;
use crate::media::rtsp_auth::{self, Credentials, Nonces};
use crate::onvif::server::answer::{self, Fault};
use crate::onvif::server::{Access, Operation, Request, Service, TokenRefusal, parse_request};
use crate::store::users;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// The face's run-time state, shared by the HTTP routes and the responder.
#[derive(Debug)]
pub struct OnvifFace {
    /// Whether the face is on; the responder watches it.
    enabled: tokio::sync::watch::Sender<bool>,
    /// `urn:uuid:...`: the same across restarts, so clients recognise the device.
    pub endpoint: String,
    /// UsernameTokens accepted within the window, by (user, nonce): a replay is refused.
    seen_tokens: Mutex<HashMap<(String, Vec<u8>), i64>>,
    /// HTTP Digest nonces (stateless: a timestamp and its HMAC).
    digest_nonces: Nonces,
    /// Each camera's current ONVIF continuous move, so a move's timeout stops only that move.
    moves: Mutex<HashMap<String, u64>>,
    next_move: AtomicU64,
    /// The event service's subscriptions and the cameras' detection state.
    pub events: events::FaceEvents,
    /// The web listeners' ports, once they listen.
    ports: std::sync::OnceLock<responder::Ports>,
    /// The profiles clients made, as stored (read at start; written through on each edit).
    pub made_profiles: std::sync::RwLock<Vec<crate::store::onvif_profiles::MadeProfile>>,
    /// One profile edit at a time, from reading the list to storing the change.
    pub profile_edits: tokio::sync::Mutex<()>,
}

/// The most accepted tokens remembered at once; beyond it, the oldest half is forgotten (they
/// would be refused as stale soon anyway).
const MAX_SEEN_TOKENS: usize = 4096;

impl OnvifFace {
    pub fn new(enabled: bool, endpoint: String) -> Self {
        let mut key = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut key);
        Self {
            enabled: tokio::sync::watch::Sender::new(enabled),
            endpoint,
            seen_tokens: Default::default(),
            digest_nonces: Nonces::new(key, 300),
            moves: Default::default(),
            next_move: AtomicU64::new(1),
            events: Default::default(),
            ports: Default::default(),
            made_profiles: Default::default(),
            profile_edits: Default::default(),
        }
    }

    /// The profiles clients made.
    pub fn made_profiles(&self) -> Vec<crate::store::onvif_profiles::MadeProfile> {
        self.made_profiles
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn enabled(&self) -> bool {
        *self.enabled.borrow()
    }

    pub fn set_enabled(&self, on: bool) {
        self.enabled
            .send_if_modified(|v| std::mem::replace(v, on) != on);
        if !on {
            self.events.clear();
        }
    }

    pub fn set_ports(&self, ports: responder::Ports) {
        let _ = self.ports.set(ports);
    }

    pub fn ports(&self) -> Option<responder::Ports> {
        self.ports.get().copied()
    }

    pub fn watch_enabled(&self) -> tokio::sync::watch::Receiver<bool> {
        self.enabled.subscribe()
    }

    /// Records an accepted token; false when the same one was accepted before.
    fn first_use(&self, username: &str, nonce: &[u8], created: i64, now: i64) -> bool {
        let mut seen = self.seen_tokens.lock().unwrap_or_else(|p| p.into_inner());
        let window = crate::onvif::server::TOKEN_WINDOW_SECS;
        seen.retain(|_, at| (*at - now).abs() <= window);
        if seen.len() >= MAX_SEEN_TOKENS {
            let mut ages: Vec<i64> = seen.values().copied().collect();
            ages.sort_unstable();
            let cut = ages[ages.len() / 2];
            seen.retain(|_, at| *at > cut);
        }
        seen.insert((username.to_string(), nonce.to_vec()), created)
            .is_none()
    }

    /// Starts a continuous move of `camera`: its number, for [`OnvifFace::still_moving`].
    fn begin_move(&self, camera: &str) -> u64 {
        let n = self.next_move.fetch_add(1, Ordering::Relaxed);
        self.moves
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(camera.to_string(), n);
        n
    }

    /// Whether `camera` is in continuous move `n` (no later move or stop since).
    fn still_moving(&self, camera: &str, n: u64) -> bool {
        self.moves
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(camera)
            == Some(&n)
    }

    fn moving(&self, camera: &str) -> bool {
        self.moves
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(camera)
    }

    fn end_move(&self, camera: &str) {
        self.moves
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(camera);
    }
}

/// The device's endpoint id, made once and kept in the state directory.
pub fn endpoint_id(state_dir: &std::path::Path) -> String {
    let path = state_dir.join("onvif-endpoint-id");
    if let Ok(s) = std::fs::read_to_string(&path) {
        let s = s.trim();
        if s.starts_with("urn:uuid:") && s.len() == 45 {
            return s.to_string();
        }
    }
    let id = crate::onvif::client::urn_uuid();
    if let Err(e) = pinhole_sys::write_private(&path, id.as_bytes()) {
        tracing::warn!(error = %e, path = %path.display(), "could not keep the ONVIF endpoint id");
    }
    id
}

pub fn router() -> Router<SharedState> {
    Router::new()
        .route(Service::Device.path(), service(Service::Device))
        .route(Service::Media.path(), service(Service::Media))
        .route(Service::Media2.path(), service(Service::Media2))
        .route(Service::Ptz.path(), service(Service::Ptz))
        .route(Service::Imaging.path(), service(Service::Imaging))
        .route(Service::Events.path(), service(Service::Events))
        .route(
            &format!("{}/{{id}}", Service::Subscription.path()),
            axum::routing::post(
                |State(state): State<SharedState>,
                 Extension(authn): Extension<Authn>,
                 tls: Option<Extension<crate::api::security::OverTls>>,
                 Path(id): Path<String>,
                 headers: HeaderMap,
                 uri: Uri,
                 body: Bytes| async move {
                    let to = Target {
                        service: Service::Subscription,
                        scheme: scheme(&tls),
                        subscription: Some(id),
                    };
                    serve(&state, to, &authn, &headers, &uri, &body).await
                },
            ),
        )
        .route("/onvif/snapshot/{id}", axum::routing::get(snapshot))
}

/// Where a request was posted.
struct Target {
    service: Service,
    /// `http` or `https`, as the client came.
    scheme: &'static str,
    /// The subscription, for requests to a pull point.
    subscription: Option<String>,
}

fn scheme(tls: &Option<Extension<crate::api::security::OverTls>>) -> &'static str {
    if tls.is_some() { "https" } else { "http" }
}

/// The POST route of one service endpoint.
fn service(service: Service) -> axum::routing::MethodRouter<SharedState> {
    axum::routing::post(
        move |State(state): State<SharedState>,
              Extension(authn): Extension<Authn>,
              tls: Option<Extension<crate::api::security::OverTls>>,
              headers: HeaderMap,
              uri: Uri,
              body: Bytes| async move {
            let to = Target {
                service,
                scheme: scheme(&tls),
                subscription: None,
            };
            serve(&state, to, &authn, &headers, &uri, &body).await
        },
    )
}

/// The user a request was authenticated as.
#[derive(Debug, Clone)]
pub struct OnvifUser {
    pub username: String,
    pub role: Role,
}

/// Why a request was not authenticated.
enum Refusal {
    /// No credentials at all: a 401 with a Digest challenge (and a fault for SOAP clients).
    Challenge {
        stale: bool,
    },
    Fault(Fault),
}

fn soap_response(status: StatusCode, body: &str, soap11: bool) -> Response {
    let content_type = if soap11 {
        "text/xml; charset=utf-8"
    } else {
        "application/soap+xml; charset=utf-8"
    };
    (
        status,
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-store"),
        ],
        answer::envelope(body, soap11),
    )
        .into_response()
}

fn fault_response(f: &Fault, soap11: bool) -> Response {
    soap_response(
        StatusCode::from_u16(f.http_status()).unwrap_or(StatusCode::BAD_REQUEST),
        &f.body(soap11),
        soap11,
    )
}

fn challenge(state: &SharedState, mut r: Response, stale: bool) -> Response {
    *r.status_mut() = StatusCode::UNAUTHORIZED;
    let nonce = state
        .onvif
        .digest_nonces
        .issue(state.clock.now_secs().max(0) as u64);
    let stale = if stale { ", stale=true" } else { "" };
    if let Ok(v) = HeaderValue::from_str(&format!(
        "Digest realm=\"{}\", nonce=\"{nonce}\", algorithm=MD5{stale}",
        rtsp_auth::REALM
    )) {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    r
}

async fn serve(
    state: &SharedState,
    to: Target,
    authn: &Authn,
    headers: &HeaderMap,
    uri: &Uri,
    body: &[u8],
) -> Response {
    if !state.onvif.enabled() {
        return StatusCode::NOT_FOUND.into_response();
    }
    let parsed = std::str::from_utf8(body)
        .map_err(|_| "the request is not UTF-8".to_string())
        .and_then(|t| parse_request(to.service, t).map_err(|e| e.to_string()));
    let req = match parsed {
        Ok(r) => r,
        Err(reason) => {
            state
                .refusals
                .count(authn.client, "POST /onvif", state.now_ms());
            return fault_response(
                &Fault::InvalidArgs(format!("not an ONVIF request: {reason}")),
                false,
            );
        }
    };
    let op = &req.operation;
    let user = match op.access() {
        Access::PreAuth => None,
        need => match authenticate(state, &req, authn, headers, uri).await {
            Ok(u) => {
                let (least, who) = match need {
                    Access::Configure => (Role::Admin, "an admin"),
                    Access::Actuate => (Role::Operator, "an operator or admin"),
                    _ => (Role::Viewer, "a user"),
                };
                if u.role < least {
                    let f = Fault::NotAuthorized(format!(
                        "{} needs {who}; `{}` is a {}",
                        op.name(),
                        u.username,
                        u.role.as_str()
                    ));
                    // A signed-in account reaching past its role is on record, as over REST
                    // and JSON-RPC.
                    let entry = audit_entry(state, Some(&u), authn.client, op, Err(&f));
                    state.audit_role_refusal(entry).await;
                    return fault_response(&f, req.soap11);
                }
                Some(u)
            }
            Err(Refusal::Challenge { stale }) => {
                state
                    .refusals
                    .count(authn.client, "POST /onvif", state.now_ms());
                let f =
                    Fault::NotAuthorized("sign the request (WS-Security or HTTP Digest)".into());
                return challenge(state, fault_response(&f, req.soap11), stale);
            }
            Err(Refusal::Fault(f)) => return fault_response(&f, req.soap11),
        },
    };
    let ctx = ops::Context {
        state,
        host: authn.host.as_deref().unwrap_or("localhost"),
        scheme: to.scheme,
        user: user.as_ref(),
        subscription: to.subscription.as_deref(),
        client: authn.client,
    };
    let result = ops::answer(&ctx, op).await;
    if matches!(op.access(), Access::Actuate | Access::Configure) {
        let outcome = result.as_ref().map(|_| ());
        let entry = audit_entry(state, user.as_ref(), authn.client, op, outcome);
        state.audit(entry).await;
    }
    match result {
        Ok(body) => soap_response(StatusCode::OK, &body, req.soap11),
        Err(f) => fault_response(&f, req.soap11),
    }
}

/// The audit row of an ONVIF operation: who, from where, what it asked, and how it went.
fn audit_entry(
    state: &SharedState,
    user: Option<&OnvifUser>,
    client: std::net::IpAddr,
    op: &Operation,
    outcome: Result<(), &Fault>,
) -> crate::store::audit::NewAuditEntry {
    crate::store::audit::NewAuditEntry {
        at_ms: state.now_ms(),
        actor: user.map(|u| u.username.clone()),
        client: Some(client.to_string()),
        action: format!("onvif {}", op.name()),
        target: ops::target_of(op).map(str::to_string),
        details: ops::details_of(op),
        result: match outcome {
            Ok(()) => "ok".into(),
            Err(f) => f.reason().chars().take(200).collect(),
        },
    }
}

/// A user's role and opened digest secrets (`None`: no such user).
async fn lookup(
    state: &SharedState,
    username: &str,
) -> Result<Option<(Role, users::OpenDigestSecrets)>, Fault> {
    let secrets = state.secrets.clone();
    let name = username.to_string();
    let found = state
        .store
        .call(move |c| {
            let Some(u) = users::by_name(c, &name)? else {
                return Ok(None);
            };
            Ok(users::digest_secrets(c, &secrets, &name)?.map(|s| (u.role, s)))
        })
        .await;
    found.map_err(|e| {
        tracing::error!(error = %e, "ONVIF: could not read a user's secrets");
        Fault::Receiver("the device could not check the credentials".into())
    })
}

fn too_many(wait: std::time::Duration) -> Refusal {
    Refusal::Fault(Fault::NotAuthorized(format!(
        "too many wrong passwords: try again in {} s",
        wait.as_secs().max(1)
    )))
}

async fn authenticate(
    state: &SharedState,
    req: &Request,
    authn: &Authn,
    headers: &HeaderMap,
    uri: &Uri,
) -> Result<OnvifUser, Refusal> {
    let now = state.clock.now_secs();
    if let Some(t) = &req.token {
        if let Some(wait) = state.login_limiter.blocked(authn.client, &t.username) {
            return Err(too_many(wait));
        }
        let found = lookup(state, &t.username).await.map_err(Refusal::Fault)?;
        let (role, password) = match found {
            Some((
                role,
                users::OpenDigestSecrets {
                    onvif_password: Some(pw),
                    ..
                },
            )) => (role, pw.expose().to_string()),
            Some(_) => {
                tracing::warn!(user = %t.username, "ONVIF: this user's password was set before Pinhole kept an ONVIF secret; it works after the next sign-in or password change");
                (Role::Viewer, String::new())
            }
            None => (Role::Viewer, String::new()),
        };
        let checked = if password.is_empty() {
            Err(TokenRefusal::Wrong)
        } else {
            t.verify(&password, now)
        };
        return match checked {
            Ok(()) => {
                let created = t.created_secs().unwrap_or(now);
                if !state.onvif.first_use(&t.username, &t.nonce, created, now) {
                    return Err(Refusal::Fault(Fault::NotAuthorized(
                        "this token was already used: make a new nonce for each request".into(),
                    )));
                }
                Ok(OnvifUser {
                    username: t.username.clone(),
                    role,
                })
            }
            Err(why) => {
                if why == TokenRefusal::Wrong {
                    state.login_limiter.failed(authn.client, &t.username);
                }
                state
                    .refusals
                    .count(authn.client, "POST /onvif", state.now_ms());
                tracing::info!(user = %t.username, client = %authn.client, reason = %why, "ONVIF: credentials refused");
                Err(Refusal::Fault(Fault::NotAuthorized(why.to_string())))
            }
        };
    }
    digest(state, authn, headers, "POST", uri, now).await
}

/// HTTP Digest with the user's HA1 (SOAP requests without a token, and snapshots).
async fn digest(
    state: &SharedState,
    authn: &Authn,
    headers: &HeaderMap,
    method: &str,
    uri: &Uri,
    now: i64,
) -> Result<OnvifUser, Refusal> {
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return Err(Refusal::Challenge { stale: false });
    };
    let d = match rtsp_auth::parse_authorization(value) {
        Ok(Credentials::Digest(d)) => d,
        Ok(Credentials::Basic { .. }) | Err(_) => {
            return Err(Refusal::Challenge { stale: false });
        }
    };
    if let Some(wait) = state.login_limiter.blocked(authn.client, &d.username) {
        return Err(too_many(wait));
    }
    let found = lookup(state, &d.username).await.map_err(Refusal::Fault)?;
    let (role, ha1) = match found {
        Some((
            role,
            users::OpenDigestSecrets {
                rtsp_ha1: Some(ha1),
                ..
            },
        )) => (role, ha1.expose().to_string()),
        _ => (Role::Viewer, String::new()),
    };
    let target = uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or(uri.path());
    match rtsp_auth::verify_digest(
        &d,
        method,
        target,
        &ha1,
        &state.onvif.digest_nonces,
        now.max(0) as u64,
    ) {
        Ok(()) if !ha1.is_empty() => Ok(OnvifUser {
            username: d.username,
            role,
        }),
        Err(rtsp_auth::AuthError::Nonce) => Err(Refusal::Challenge { stale: true }),
        other => {
            state.login_limiter.failed(authn.client, &d.username);
            state
                .refusals
                .count(authn.client, "POST /onvif", state.now_ms());
            tracing::info!(user = %d.username, client = %authn.client, reason = ?other.err(), "ONVIF: Digest credentials refused");
            Err(Refusal::Fault(Fault::NotAuthorized(
                "wrong user name or password".into(),
            )))
        }
    }
}

/// `GET /onvif/snapshot/{id}`: the snapshot URI of a profile, a live JPEG behind HTTP Digest.
async fn snapshot(
    State(state): State<SharedState>,
    Extension(authn): Extension<Authn>,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
) -> Response {
    if !state.onvif.enabled() {
        return StatusCode::NOT_FOUND.into_response();
    }
    let now = state.clock.now_secs();
    match digest(&state, &authn, &headers, "GET", &uri, now).await {
        Ok(_) => {}
        Err(Refusal::Challenge { stale }) => {
            state
                .refusals
                .count(authn.client, "GET /onvif/snapshot", state.now_ms());
            return challenge(&state, StatusCode::UNAUTHORIZED.into_response(), stale);
        }
        Err(Refusal::Fault(f)) => {
            let status = if f.http_status() == 500 {
                StatusCode::INTERNAL_SERVER_ERROR
            } else {
                StatusCode::UNAUTHORIZED
            };
            let r = (status, f.reason().to_string()).into_response();
            return if status == StatusCode::UNAUTHORIZED {
                challenge(&state, r, false)
            } else {
                r
            };
        }
    }
    match ops::snapshot_jpeg(&state, &id).await {
        Ok(jpeg) => (
            [
                (header::CONTENT_TYPE, "image/jpeg"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            jpeg,
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}
