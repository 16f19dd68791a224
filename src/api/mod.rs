//! The control plane: one axum router served on the plain HTTP listener and, when configured,
//! on the HTTPS listener.
//!
//! - `/ws` and `/rpc`: JSON-RPC 2.0 ([`rpc`]) over WebSocket and HTTP POST, the camera service's
//!   method set plus Pinhole's own.
//! - `/api/...`: REST ([`rest`]) for the web page and scripts; `/api/openapi.json` describes it.
//! - `/health...` and `/metrics`: for load balancers, systemd checks and Prometheus.
//!
//! Requests pass through [`authn::authenticate`] (bearer token or session cookie, CSRF for cookie
//! sessions), then handlers declare the least role they need with the [`authn::Authed`]
//! extractors. Every state-changing request lands in the audit log.

pub mod accounts;
pub mod authn;
pub mod broadcast_ops;
pub mod error;
pub mod health;
pub mod metrics;
pub mod onvif_face;
pub mod openapi;
pub mod osd_ops;
pub mod picture_ops;
pub mod ptz_ops;
pub mod refusals;
pub mod rest;
pub mod rpc;
pub mod security;
pub mod views;
pub mod web;
pub mod ws;

use crate::auth::directory::UserDirectory;
use crate::auth::ratelimit::LoginLimiter;
use crate::auth::token::TokenKeys;
use crate::clock::SharedClock;
use crate::config::Config;
use crate::events::EventBus;
use crate::secrets::SecretBox;
use crate::store::{Store, audit};
use crate::supervisor::HealthRegistry;
use crate::system::SystemMonitor;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

/// Everything the handlers share.
#[derive(Debug)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Store,
    pub clock: SharedClock,
    pub tokens: TokenKeys,
    pub users: UserDirectory,
    pub secrets: SecretBox,
    /// Password attempts per address and per account (HTTP logins and RTSP).
    pub login_limiter: Arc<LoginLimiter>,
    /// Requests refused before authentication, summed into one audit row a minute.
    pub refusals: refusals::RefusalTally,
    /// When each account's refused requests were last written (see [`refusals::RoleRefusals`]).
    pub role_refusals: refusals::RoleRefusals,
    pub events: EventBus,
    pub health: HealthRegistry,
    pub monitor: SystemMonitor,
    pub metrics: metrics::Metrics,
    pub started_at: tokio::time::Instant,
    /// Set once the store is open and the listeners are bound.
    pub ready: AtomicBool,
    /// Open WebSocket connections.
    pub ws_connections: AtomicUsize,
    /// The WebSocket sessions, so a shutdown can wait for their close frames (hyper's graceful
    /// shutdown no longer tracks an upgraded connection).
    pub ws_sessions: tokio_util::task::TaskTracker,
    /// Open WebSocket connections by client address.
    pub ws_per_address: Mutex<HashMap<IpAddr, usize>>,
    /// Each WebSocket client's subscribed topics, for `get_subscription_stats`.
    pub subscriptions: Mutex<HashMap<String, BTreeSet<String>>>,
    pub next_client_id: AtomicU64,
    /// Cancelled when the process shuts down; WebSocket sessions close with 1001.
    pub shutdown: CancellationToken,
    /// Whether session cookies get the `Secure` attribute (HTTPS is configured).
    pub tls_enabled: bool,
    /// PTZ controllers, one per camera with a PTZ link.
    pub ptz: crate::ptz::manager::PtzManager,
    /// Running PTZ tours.
    pub tours: Arc<crate::ptz::tours::TourRunner>,
    /// Capture, RTSP, recording, snapshots; `None` when `media.enabled = false`.
    pub media: Option<Arc<crate::media::MediaEngine>>,
    /// Detection status (set once detection has started).
    pub detection: std::sync::OnceLock<Arc<crate::detect::service::DetectionStatus>>,
    /// MQTT delivery of detection events.
    pub mqtt: std::sync::OnceLock<Arc<crate::detect::mqtt::MqttStatus>>,
    /// The update agent (RAUC), when running.
    pub ota: std::sync::OnceLock<Arc<crate::ota::OtaHandle>>,
    /// ONVIF cameras found on the network.
    pub discovery: Arc<crate::discovery::Discovery>,
    /// One change of a stream's spec at a time (a running stream takes it live).
    pub stream_edits: tokio::sync::Mutex<()>,
    /// Held across a camera's picture change (read, store, apply) and while stored pictures
    /// are applied to new cameras, so the running pipelines end with what the store holds.
    pub picture_edits: tokio::sync::Mutex<()>,
    /// The same for the texts cameras draw on their pictures.
    pub osd_edits: tokio::sync::Mutex<()>,
    /// Local cameras as they are plugged in and out (while the watch runs).
    pub local_devices: std::sync::RwLock<Option<Arc<crate::media::devices::DeviceWatch>>>,
    /// Pinhole's own ONVIF face (switched by the `onvif_enabled` setting).
    pub onvif: Arc<crate::api::onvif_face::OnvifFace>,
}

pub type SharedState = Arc<AppState>;

impl AppState {
    /// Writes an audit row without failing the caller: an audit failure is logged loudly.
    pub async fn audit(&self, entry: audit::NewAuditEntry) {
        let action = entry.action.clone();
        let max_rows = self.config.storage.audit_max_rows;
        if let Err(e) = self
            .store
            .call(move |c| audit::insert(c, &entry, max_rows))
            .await
        {
            tracing::error!(%action, error = %e, "could not write the audit log");
        }
    }

    /// Writes the row of a request an account made past its role, at most one a minute per
    /// account and action (see [`refusals::RoleRefusals`]).
    pub async fn audit_role_refusal(&self, entry: audit::NewAuditEntry) {
        let actor = entry.actor.clone().unwrap_or_default();
        if self
            .role_refusals
            .first_in_a_minute(&actor, &entry.action, entry.at_ms)
        {
            self.audit(entry).await;
        }
    }

    /// Counts a request refused before authentication (see [`refusals`]).
    pub fn refused(&self, client: IpAddr, action: &str) {
        self.refusals.count(client, action, self.now_ms());
    }

    /// Writes the summary of the refusals counted since the last call, if any.
    pub async fn write_refusals(&self) {
        if let Some(row) = self.refusals.take_summary() {
            self.audit(row).await;
        }
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// What the PTZ crate needs to start stored tours.
    pub fn tour_context(&self) -> crate::ptz::tours::TourContext<'_> {
        crate::ptz::tours::TourContext {
            store: &self.store,
            ptz: &self.ptz,
            tours: &self.tours,
            events: &self.events,
            clock: &self.clock,
            shutdown: &self.shutdown,
        }
    }

    /// Reloads the user directory after a change.
    pub async fn users_changed(&self) {
        if let Err(e) = self.users.refresh(&self.store, self.clock.now_secs()).await {
            tracing::error!(error = %e, "could not reload users");
        }
        if let Some(m) = &self.media {
            m.refresh_rtsp_users().await;
        }
        self.events
            .publish("system.users_changed", serde_json::json!({}), self.now_ms());
    }

    /// Re-reads the camera table and brings the PTZ controllers in line with it.
    /// A setting's effective value (stored, or the configuration's default); `None` when the
    /// store cannot be read.
    pub async fn setting(&self, key: &'static str) -> Option<serde_json::Value> {
        let config = self.config.clone();
        self.store
            .call(move |c| crate::store::settings::effective(c, &config))
            .await
            .ok()
            .and_then(|mut s| s.remove(key))
    }

    /// The device's time zone by name (the `timezone` setting, as changed on the page, or the
    /// configuration's): clocks on pictures and streams, and program schedules, go by it.
    pub async fn timezone_name(&self) -> String {
        self.setting("timezone")
            .await
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_else(|| self.config.general.timezone.clone())
    }

    /// The device's time zone ([`Self::timezone_name`]); UTC if it is not known here.
    pub async fn timezone(&self) -> jiff::tz::TimeZone {
        jiff::tz::TimeZone::get(&self.timezone_name().await).unwrap_or(jiff::tz::TimeZone::UTC)
    }

    /// The discovery interval in seconds: the setting, or the configuration's default.
    pub async fn discovery_interval_secs(&self) -> u64 {
        self.setting("discovery_interval_secs")
            .await
            .and_then(|v| v.as_u64())
            .unwrap_or(u64::from(self.config.discovery.interval_secs))
    }

    /// The local cameras plugged in now: from the device watch, or probed when it is not
    /// running.
    pub async fn local_devices(&self) -> Vec<crate::media::devices::LocalDevice> {
        let listed = self
            .local_devices
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|w| w.devices());
        match listed {
            Some(devices) => devices,
            None => tokio::task::spawn_blocking(crate::media::devices::list)
                .await
                .unwrap_or_default(),
        }
    }

    /// Probes for ONVIF cameras and announces the ones never seen before.
    pub async fn discover(&self) -> crate::discovery::Scan {
        let scan = self.discovery.scan(self.now_ms()).await;
        for d in self.discovery.devices() {
            if scan.new.contains(&d.endpoint) {
                self.events.publish(
                    "camera.discovered",
                    serde_json::to_value(&d).unwrap_or_default(),
                    self.now_ms(),
                );
            }
        }
        scan
    }

    /// Adds a camera (within `media.max_cameras`) and starts it.
    pub async fn add_camera(
        &self,
        input: crate::store::cameras::CameraInput,
    ) -> Result<crate::store::cameras::Camera, crate::store::StoreError> {
        let secrets = self.secrets.clone();
        let now = self.clock.now_secs();
        let max = self.config.media.max_cameras;
        let cam = self
            .store
            .call(move |c| {
                crate::store::cameras::create_at_most(
                    c,
                    &secrets,
                    &input,
                    crate::store::cameras::CameraOrigin::Api,
                    now,
                    max,
                )
            })
            .await?;
        self.camera_changed(&cam.id, "added").await;
        Ok(cam)
    }

    /// Removes a camera and stops it; its recordings, snapshots and events stay.
    pub async fn remove_camera(&self, id: &str) -> Result<(), crate::store::StoreError> {
        let removed = id.to_string();
        self.store
            .call(move |c| crate::store::cameras::delete(c, &removed))
            .await?;
        self.camera_changed(id, "removed").await;
        Ok(())
    }

    /// A camera was added, changed or removed: reload, then tell subscribers.
    pub async fn camera_changed(&self, id: &str, what: &str) {
        self.cameras_changed().await;
        self.events.publish(
            "system.cameras_changed",
            serde_json::json!({"device": id, "change": what}),
            self.now_ms(),
        );
    }

    pub async fn cameras_changed(&self) {
        let secrets = self.secrets.clone();
        // Each camera's password, unsealed once for the media engine and PTZ; one that cannot be
        // unsealed leaves its camera without (the camera then says the device refused it).
        let loaded = self
            .store
            .call(move |c| {
                let list = crate::store::cameras::list(c)?;
                let passwords: std::collections::HashMap<_, _> = list
                    .iter()
                    .filter(|cam| cam.has_password)
                    .filter_map(|cam| {
                        let p = crate::store::cameras::password(c, &secrets, &cam.id);
                        Some((cam.id.clone(), p.ok().flatten()?))
                    })
                    .collect();
                Ok((list, passwords))
            })
            .await;
        match loaded {
            Ok((list, passwords)) => {
                // ONVIF PTZ signs its requests with the camera's own account.
                let onvif = list
                    .iter()
                    .filter(|cam| cam.ptz.as_ref().is_some_and(|l| l.is_onvif()))
                    .filter_map(|cam| {
                        let credentials = pinhole_onvif::client::Credentials {
                            username: cam.username.clone()?,
                            password: passwords.get(&cam.id)?.expose().to_string(),
                        };
                        Some((cam.id.clone(), credentials))
                    })
                    .collect();
                self.ptz.sync(&list, &onvif);
                if let Some(m) = &self.media {
                    m.sync(&list, passwords).await;
                    picture_ops::apply_stored(self).await;
                    osd_ops::apply_stored(self).await;
                }
            }
            Err(e) => tracing::error!(error = %e, "could not reload cameras"),
        }
    }

    pub fn new_client_id(&self, ip: IpAddr) -> String {
        let n = self
            .next_client_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        format!("client_{n}@{ip}")
    }
}

/// The complete router.
pub fn router(state: SharedState) -> Router {
    let body_limit = state.config.http.max_message_bytes;
    let (api_router, _) = openapi::api_router().split_for_parts();
    Router::new()
        .merge(api_router)
        .route("/ws", axum::routing::get(ws::upgrade))
        .route("/rpc", axum::routing::post(rpc::http::post))
        .merge(health::router())
        .merge(rest::media::router())
        .route("/metrics", axum::routing::get(metrics::scrape))
        .merge(web::router())
        .merge(crate::api::onvif_face::router())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            authn::audit_mutations,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            authn::authenticate,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track_http,
        ))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(security::headers_layer())
        .with_state(state)
}
