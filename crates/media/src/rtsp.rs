//! The RTSP server (gst-rtsp-server): `rtsp://HOST:PORT/<camera-id>`, one shared media per camera
//! fed from the camera's [`Hub`], so any number of clients cost one encode.
//!
//! - Authentication: [`PinholeAuth`] subclasses `GstRTSPAuth` to accept the appliance's own users
//!   with Basic (argon2 check, cached for a minute so a player's repeated requests do not each
//!   cost a hash) or Digest (HA1 stored sealed at password time; stateless HMAC nonces; the
//!   digest's `uri` must name the request's resource). Any role may watch. Wrong passwords count
//!   against the same per-address and per-account limits as HTTP logins ([`AttemptLimits`]).
//! - A client's connection is closed when its user is deleted or their password changes.
//! - Joins: every PLAY asks the camera's encoder for a keyframe, so a client joining a running
//!   shared media sees a picture in ~100 ms instead of waiting up to a GOP.
//! - The server runs on its own GLib main context and thread, away from the tokio runtime.

use super::pipeline::VideoCodec;

/// What a camera's mount serves until its stream says otherwise (raw sources are encoded to it).
pub const DEFAULT_CODEC: VideoCodec = VideoCodec::H264;
use super::rtsp_auth::{self, Credentials, Nonces};
use gst::glib;
use gst::prelude::*;
use gst_rtsp_server::prelude::*;
use gst_rtsp_server::subclass::prelude::*;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// (username as stored, argon2 PHC, HA1 if set).
pub type RtspUser = (String, String, Option<String>);

/// Limits on wrong passwords, shared with the HTTP logins (the application implements it).
pub trait AttemptLimits: Send + Sync + std::fmt::Debug + 'static {
    /// `Some(wait)` while `client` or `account` may not try.
    fn blocked(&self, client: IpAddr, account: &str) -> Option<Duration>;
    /// Counts a wrong password.
    fn failed(&self, client: IpAddr, account: &str);
}

/// Who may watch: refreshed from the user table whenever it changes.
#[derive(Debug, Default)]
pub struct RtspAccess {
    /// Lower-cased username → (username as stored, argon2 PHC, HA1 if set).
    users: RwLock<HashMap<String, RtspUser>>,
    /// SHA-256 of accepted Basic credentials → when they were checked.
    basic_ok: Mutex<HashMap<[u8; 32], Instant>>,
    nonces: std::sync::OnceLock<Nonces>,
    limits: std::sync::OnceLock<Arc<dyn AttemptLimits>>,
    /// Each connected client (by its object's address): who it authenticated as and what it
    /// played, so revoking a user or a mount can close exactly its connections.
    clients: Mutex<HashMap<usize, ConnectedClient>>,
}

#[derive(Debug, Default)]
struct ConnectedClient {
    /// Lower-cased username, once authenticated.
    user: Option<String>,
    /// Camera ids it asked to PLAY.
    played: Vec<String>,
}

/// One RTSP request, as the authentication sees it.
#[derive(Debug, Clone, Copy)]
pub struct RtspRequest<'a> {
    pub method: &'a str,
    pub uri: &'a str,
    pub client: Option<IpAddr>,
}

impl RtspAccess {
    pub fn new() -> Arc<Self> {
        let a = Arc::new(Self::default());
        let mut key = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut key);
        let _ = a.nonces.set(Nonces::new(key, 300));
        a
    }

    /// Counts wrong passwords against `limits` from now on.
    pub fn set_limits(&self, limits: Arc<dyn AttemptLimits>) {
        let _ = self.limits.set(limits);
    }

    /// Replaces the user list and returns the (lower-cased) users that were removed or whose
    /// credentials changed. The store re-reads it every few seconds: an unchanged list keeps
    /// the Basic cache (whose keys include the password hash, so a changed password never
    /// matches a cached entry anyway).
    pub fn set_users(&self, list: Vec<RtspUser>) -> Vec<String> {
        let map: HashMap<String, RtspUser> = list
            .into_iter()
            .map(|(u, phc, ha1)| (u.to_lowercase(), (u, phc, ha1)))
            .collect();
        let changed: Vec<String> = {
            let mut users = self.users.write().unwrap_or_else(|p| p.into_inner());
            if *users == map {
                return Vec::new();
            }
            let changed = users
                .iter()
                .filter(|(k, v)| map.get(*k) != Some(*v))
                .map(|(k, _)| k.clone())
                .collect();
            *users = map;
            changed
        };
        self.basic_ok
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        changed
    }

    fn clients(&self) -> std::sync::MutexGuard<'_, HashMap<usize, ConnectedClient>> {
        self.clients.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Is the client at `addr` (its object's address) one of `users`' connections?
    fn client_of(&self, addr: usize, users: &[String]) -> bool {
        self.clients()
            .get(&addr)
            .and_then(|c| c.user.as_ref())
            .is_some_and(|u| users.contains(u))
    }

    /// Has the client at `addr` played camera `id`?
    fn client_played(&self, addr: usize, id: &str) -> bool {
        self.clients()
            .get(&addr)
            .is_some_and(|c| c.played.iter().any(|p| p == id))
    }

    fn client_authenticated(&self, addr: usize, user: &str) {
        self.clients().entry(addr).or_default().user = Some(user.to_lowercase());
    }

    fn client_plays(&self, addr: usize, id: &str) {
        let mut clients = self.clients();
        let played = &mut clients.entry(addr).or_default().played;
        if !played.iter().any(|p| p == id) {
            played.push(id.to_string());
        }
    }

    fn client_closed(&self, addr: usize) {
        self.clients().remove(&addr);
    }

    fn nonces(&self) -> Option<&Nonces> {
        self.nonces.get()
    }

    /// Checks credentials from a request (Digest covers its method and URI), within the limits
    /// on wrong passwords.
    pub fn check(
        &self,
        header: &str,
        req: RtspRequest<'_>,
        now_secs: u64,
    ) -> Result<String, rtsp_auth::AuthError> {
        let creds = rtsp_auth::parse_authorization(header)?;
        let account = match &creds {
            Credentials::Basic { username, .. } => username.clone(),
            Credentials::Digest(d) => d.username.clone(),
        };
        let limits = self.limits.get().zip(req.client);
        if let Some((limits, ip)) = limits
            && let Some(wait) = limits.blocked(ip, &account)
        {
            return Err(rtsp_auth::AuthError::Limited(wait.as_secs().max(1)));
        }
        let outcome = self.verify(creds, req, now_secs);
        if let (Some((limits, ip)), Err(rtsp_auth::AuthError::Bad)) = (limits, &outcome) {
            limits.failed(ip, &account);
        }
        outcome
    }

    fn verify(
        &self,
        creds: Credentials,
        req: RtspRequest<'_>,
        now_secs: u64,
    ) -> Result<String, rtsp_auth::AuthError> {
        use sha2::Digest;
        match creds {
            Credentials::Basic { username, password } => {
                let (stored_name, phc) = {
                    let users = self.users.read().unwrap_or_else(|p| p.into_inner());
                    match users.get(&username.to_lowercase()) {
                        Some((n, phc, _)) => (n.clone(), phc.clone()),
                        None => {
                            // Same cost as a known user.
                            let _ = pinhole_base::password::verify(
                                &password,
                                pinhole_base::password::dummy_hash(),
                            );
                            return Err(rtsp_auth::AuthError::Bad);
                        }
                    }
                };
                let key: [u8; 32] = sha2::Sha256::new()
                    .chain_update(stored_name.as_bytes())
                    .chain_update([0])
                    .chain_update(password.as_bytes())
                    .chain_update([0])
                    .chain_update(phc.as_bytes())
                    .finalize()
                    .into();
                {
                    let mut cache = self.basic_ok.lock().unwrap_or_else(|p| p.into_inner());
                    cache.retain(|_, t| t.elapsed() < Duration::from_secs(60));
                    if cache.contains_key(&key) {
                        return Ok(stored_name);
                    }
                }
                if pinhole_base::password::verify(&password, &phc) {
                    let mut cache = self.basic_ok.lock().unwrap_or_else(|p| p.into_inner());
                    if cache.len() < 1024 {
                        cache.insert(key, Instant::now());
                    }
                    Ok(stored_name)
                } else {
                    Err(rtsp_auth::AuthError::Bad)
                }
            }
            Credentials::Digest(d) => {
                let ha1 = {
                    let users = self.users.read().unwrap_or_else(|p| p.into_inner());
                    users
                        .get(&d.username.to_lowercase())
                        .filter(|(n, _, _)| *n == d.username)
                        .and_then(|(_, _, ha1)| ha1.clone())
                };
                let nonces = self.nonces().ok_or(rtsp_auth::AuthError::Nonce)?;
                // An unknown user still gets the nonce checked first (no user enumeration by
                // error type; the client sees a 401 either way).
                let ha1 = ha1.unwrap_or_else(|| "0".repeat(32));
                rtsp_auth::verify_digest(&d, req.method, req.uri, &ha1, nonces, now_secs)?;
                Ok(d.username)
            }
        }
    }
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The request's method and URI (not exposed by the bindings).
fn request_line(msg: &gst_rtsp::rtsp_message::RTSPMessage) -> Option<(String, String)> {
    use glib::translate::ToGlibPtr;
    let ptr: *const gst_rtsp::ffi::GstRTSPMessage = msg.to_glib_none().0;
    let mut method: gst_rtsp::ffi::GstRTSPMethod = 0;
    let mut uri: *const std::os::raw::c_char = std::ptr::null();
    // SAFETY: `ptr` is a valid request message borrowed for this call; the out-pointers are
    // valid; `uri` points into the message and is copied before the message can go away.
    unsafe {
        let r = gst_rtsp::ffi::gst_rtsp_message_parse_request(
            ptr as *mut _,
            &mut method,
            &mut uri,
            std::ptr::null_mut(),
        );
        if r != gst_rtsp::ffi::GST_RTSP_OK || uri.is_null() {
            return None;
        }
        let m = gst_rtsp::ffi::gst_rtsp_method_as_text(method);
        if m.is_null() {
            return None;
        }
        Some((
            std::ffi::CStr::from_ptr(m).to_string_lossy().into_owned(),
            std::ffi::CStr::from_ptr(uri).to_string_lossy().into_owned(),
        ))
    }
}

/// The address of a connected client (not exposed by the bindings).
fn client_ip(client: &gst_rtsp_server::RTSPClient) -> Option<IpAddr> {
    use glib::translate::ToGlibPtr;
    let ptr: *mut gst_rtsp_server::ffi::GstRTSPClient = client.to_glib_none().0;
    // SAFETY: `ptr` is a live client borrowed for this call; the connection and its IP string
    // belong to it (transfer none) and are copied before returning.
    unsafe {
        let conn = gst_rtsp_server::ffi::gst_rtsp_client_get_connection(ptr);
        if conn.is_null() {
            return None;
        }
        let ip = gst_rtsp::ffi::gst_rtsp_connection_get_ip(conn);
        if ip.is_null() {
            return None;
        }
        std::ffi::CStr::from_ptr(ip).to_str().ok()?.parse().ok()
    }
}

/// A connected client's identity while it lives: its object's address.
fn client_key(client: &gst_rtsp_server::RTSPClient) -> usize {
    use glib::translate::ToGlibPtr;
    let ptr: *mut gst_rtsp_server::ffi::GstRTSPClient = client.to_glib_none().0;
    ptr as usize
}

/// The raw `Authorization` header of a request.
fn authorization(msg: &gst_rtsp::rtsp_message::RTSPMessage) -> Option<String> {
    use glib::translate::ToGlibPtr;
    let ptr: *const gst_rtsp::ffi::GstRTSPMessage = msg.to_glib_none().0;
    let mut value: *mut std::os::raw::c_char = std::ptr::null_mut();
    // SAFETY: as above; `value` points into the message and is copied at once.
    unsafe {
        let r = gst_rtsp::ffi::gst_rtsp_message_get_header(
            ptr as *mut _,
            gst_rtsp::ffi::GST_RTSP_HDR_AUTHORIZATION,
            &mut value,
            0,
        );
        if r != gst_rtsp::ffi::GST_RTSP_OK || value.is_null() {
            return None;
        }
        Some(
            std::ffi::CStr::from_ptr(value)
                .to_string_lossy()
                .into_owned(),
        )
    }
}

mod imp {
    use super::*;

    #[derive(Default)]
    pub struct PinholeAuth {
        pub access: std::sync::OnceLock<Arc<RtspAccess>>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for PinholeAuth {
        const NAME: &'static str = "PinholeRtspAuth";
        type Type = super::PinholeAuth;
        type ParentType = gst_rtsp_server::RTSPAuth;
    }

    impl ObjectImpl for PinholeAuth {}

    impl RTSPAuthImpl for PinholeAuth {
        fn authenticate(&self, ctx: &gst_rtsp_server::RTSPContext) -> bool {
            let (Some(access), Some(req)) = (self.access.get(), ctx.request()) else {
                return false;
            };
            let Some(header) = authorization(req) else {
                return false;
            };
            let (method, uri) = request_line(req).unwrap_or_default();
            let request = RtspRequest {
                method: &method,
                uri: &uri,
                client: ctx.client().and_then(client_ip),
            };
            match access.check(&header, request, now_secs()) {
                Ok(user) => {
                    tracing::debug!(%user, %method, "RTSP client authenticated");
                    if let Some(c) = ctx.client() {
                        access.client_authenticated(client_key(c), &user);
                    }
                    ctx.set_token(
                        gst_rtsp_server::RTSPToken::builder()
                            .field("media.factory.role", "viewer")
                            .field("pinhole.user", user)
                            .build(),
                    );
                    true
                }
                Err(e) => {
                    tracing::debug!(reason = %e, %method, "RTSP authentication refused");
                    false
                }
            }
        }

        fn generate_authenticate_header(&self, ctx: &gst_rtsp_server::RTSPContext) {
            let (Some(access), Some(resp)) = (self.access.get(), ctx.response()) else {
                return;
            };
            let Some(nonces) = access.nonces() else {
                return;
            };
            for c in rtsp_auth::challenges(&nonces.issue(now_secs())) {
                resp.add_header(gst_rtsp::RTSPHeaderField::WwwAuthenticate, &c);
            }
        }
    }
}

glib::wrapper! {
    pub struct PinholeAuth(ObjectSubclass<imp::PinholeAuth>) @extends gst_rtsp_server::RTSPAuth;
}

impl PinholeAuth {
    pub fn new(access: Arc<RtspAccess>) -> Self {
        let a: Self = glib::Object::new();
        let _ = a.imp().access.set(access);
        a
    }
}

/// Keyframe requests and client counts go through this (the engine implements it).
pub trait RtspHooks: Send + Sync + 'static {
    /// A client was answered its PLAY of `camera_id`'s mount `mount`.
    fn on_play(&self, camera_id: &str, mount: Mount);
}

/// The running server.
pub struct RtspServer {
    server: gst_rtsp_server::RTSPServer,
    access: Arc<RtspAccess>,
    /// The main context the server's thread runs.
    context: glib::MainContext,
    main_loop: glib::MainLoop,
    thread: Option<std::thread::JoinHandle<()>>,
    pub addr: SocketAddr,
}

impl std::fmt::Debug for RtspServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RtspServer")
            .field("addr", &self.addr)
            .finish()
    }
}

/// The path after a camera's (or sub stream's) own where its video comes with its events as
/// ONVIF metadata.
const METADATA_SUFFIX: &str = "/metadata";

/// Where a camera's (or sub stream's, `<camera>/sub`) video comes with its events as ONVIF
/// metadata.
pub fn metadata_path(id: &str) -> String {
    format!("/{id}{METADATA_SUFFIX}")
}

/// Which of a camera's mounts a request plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Mount {
    /// Its sub stream's (`/<id>/sub`).
    pub sub: bool,
    /// With the events as ONVIF metadata (`…/metadata`).
    pub metadata: bool,
}

/// `rest` after path segment `name`, if it starts with that segment.
fn after_segment<'a>(rest: &'a str, name: &str) -> Option<&'a str> {
    let r = rest.strip_prefix(name)?;
    (r.is_empty() || r.starts_with(['/', '?'])).then_some(r)
}

/// The mount of camera `id` a request URI names (or one of its streams, `…/stream=N`).
fn mount_of(uri: &str, id: &str) -> Mount {
    let after = uri
        .split_once(&format!("/{id}"))
        .map_or("", |(_, rest)| rest);
    let (sub, rest) = match after_segment(after, crate::SUB_SUFFIX) {
        Some(r) => (true, r),
        None => (false, after),
    };
    Mount {
        sub,
        metadata: after_segment(rest, METADATA_SUFFIX).is_some(),
    }
}

/// The camera id in a request URI (`rtsp://host:port/<id>[/stream=0]`).
pub fn camera_from_uri(uri: &str) -> Option<&str> {
    let rest = uri.split_once("://").map(|(_, r)| r).unwrap_or(uri);
    let path = rest.split_once('/').map(|(_, p)| p)?;
    let id = path.split(['/', '?']).next()?;
    (!id.is_empty()).then_some(id)
}

impl RtspServer {
    pub fn start(
        listen: SocketAddr,
        access: Arc<RtspAccess>,
        hooks: Arc<dyn RtspHooks>,
    ) -> anyhow::Result<Self> {
        let ctx = glib::MainContext::new();
        let server = gst_rtsp_server::RTSPServer::new();
        server.set_address(&listen.ip().to_string());
        server.set_service(&listen.port().to_string());
        server.set_auth(Some(&PinholeAuth::new(access.clone())));
        let registry = access.clone();
        server.connect_client_connected(move |_, client| {
            let hooks = hooks.clone();
            let key = client_key(client);
            let (closed, played) = (registry.clone(), registry.clone());
            client.connect_closed(move |_| closed.client_closed(key));
            client.connect_play_request(move |_, ctx| {
                if let Some((_, uri)) = ctx.request().and_then(request_line)
                    && let Some(id) = camera_from_uri(&uri)
                {
                    played.client_plays(key, id);
                    hooks.on_play(id, mount_of(&uri, id));
                }
            });
        });
        server.attach(Some(&ctx)).map_err(|e| {
            anyhow::anyhow!("cannot listen for RTSP on {listen} (media.rtsp_listen): {e}")
        })?;
        let port = server.bound_port();
        let addr = SocketAddr::new(listen.ip(), u16::try_from(port).unwrap_or(listen.port()));
        let main_loop = glib::MainLoop::new(Some(&ctx), false);
        let ml = main_loop.clone();
        let context = ctx.clone();
        let thread = std::thread::Builder::new()
            .name("rtsp-server".into())
            .spawn(move || {
                let _ = ctx.with_thread_default(|| ml.run());
            })?;
        Ok(Self {
            server,
            access,
            context,
            main_loop,
            thread: Some(thread),
            addr,
        })
    }

    /// Mounts `/<id>` for a camera, with the payloader of the codec it streamed last, and its
    /// audio when it had audio; and `/<id>/metadata`, the same with its events as ONVIF
    /// metadata (a separate media, so the camera's own mount stays what every player expects).
    pub fn mount(&self, id: &str, cam: Arc<super::camera::CameraHandle>) {
        if let Some(m) = self.server.mount_points() {
            m.add_factory(&format!("/{id}"), Self::factory(cam.clone(), false));
            m.add_factory(&metadata_path(id), Self::factory(cam, true));
        }
    }

    fn factory(
        cam: Arc<super::camera::CameraHandle>,
        metadata: bool,
    ) -> gst_rtsp_server::RTSPMediaFactory {
        let factory = gst_rtsp_server::RTSPMediaFactory::new();
        let codec = cam.last_codec().unwrap_or(DEFAULT_CODEC);
        factory.set_launch(&codec.rtsp_factory_launch(cam.last_audio().is_some(), metadata));
        factory.set_shared(true);
        factory.set_suspend_mode(gst_rtsp_server::RTSPSuspendMode::None);
        factory.add_role_from_structure(
            &gst::Structure::builder("viewer")
                .field("media.factory.access", true)
                .field("media.factory.construct", true)
                .build(),
        );
        factory.connect_media_configure(move |_, media| {
            let bin = media.element();
            let appsrc_named = |name: &str| {
                bin.downcast_ref::<gst::Bin>()
                    .and_then(|b| super::element::<gst_app::AppSrc>(b, name))
            };
            let Some(appsrc) = appsrc_named("src") else {
                tracing::error!("RTSP media without its appsrc");
                return;
            };
            if let Some(pipeline) = bin
                .parent()
                .and_then(|p| p.downcast::<gst::Pipeline>().ok())
            {
                super::adopt_shared_clock(&pipeline);
            }
            media.set_clock(Some(&super::shared_clock().0));
            let cam = cam.clone();
            let id = cam.hub.attach(&appsrc);
            cam.keyframe_on_its_way();
            let audio = appsrc_named("audiosrc").map(|a| cam.audio.attach(&a));
            let metadata = appsrc_named("metasrc").map(|m| cam.metadata.attach(&m));
            media.connect_unprepared(move |_| {
                cam.hub.detach(id);
                if let Some(a) = audio {
                    cam.audio.detach(a);
                }
                if let Some(m) = metadata {
                    cam.metadata.detach(m);
                }
            });
        });
        factory
    }

    pub fn unmount(&self, id: &str) {
        if let Some(m) = self.server.mount_points() {
            m.remove_factory(&format!("/{id}"));
            m.remove_factory(&metadata_path(id));
        }
    }

    /// Stops serving `/<id>`: unmounts it and closes the connections of the clients that were
    /// playing it (on the server's thread).
    pub fn stop_serving(&self, id: &str) {
        self.unmount(id);
        let (server, access, id) = (self.server.clone(), self.access.clone(), id.to_string());
        self.context.invoke(move || {
            server.client_filter(Some(&mut |_, client| {
                if access.client_played(client_key(client), &id) {
                    gst_rtsp_server::RTSPFilterResult::Remove
                } else {
                    gst_rtsp_server::RTSPFilterResult::Keep
                }
            }));
        });
    }

    /// Closes the connections of clients that authenticated as one of `users` (lower-cased):
    /// a deleted user, or one whose password changed, stops watching at once. Runs on the
    /// server's own thread, like everything else that touches its clients.
    pub fn close_clients_of(&self, users: Vec<String>) {
        if users.is_empty() {
            return;
        }
        let (server, access) = (self.server.clone(), self.access.clone());
        self.context.invoke(move || {
            server.client_filter(Some(&mut |_, client| {
                if access.client_of(client_key(client), &users) {
                    tracing::info!("closing an RTSP client whose credentials were revoked");
                    gst_rtsp_server::RTSPFilterResult::Remove
                } else {
                    gst_rtsp_server::RTSPFilterResult::Keep
                }
            }));
        });
    }

    /// Clients currently connected (all cameras).
    pub fn sessions(&self) -> usize {
        self.server
            .session_pool()
            .map(|p| p.n_sessions() as usize)
            .unwrap_or(0)
    }
}

impl Drop for RtspServer {
    fn drop(&mut self) {
        self.main_loop.quit();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camera_ids_from_uris() {
        assert_eq!(
            camera_from_uri("rtsp://127.0.0.1:8554/camera0"),
            Some("camera0")
        );
        assert_eq!(camera_from_uri("rtsp://h:1/porch/stream=0"), Some("porch"));
        assert_eq!(
            camera_from_uri(&format!("rtsp://h:1{}/stream=2", metadata_path("porch"))),
            Some("porch")
        );
        let mount = |sub, metadata| Mount { sub, metadata };
        for (uri, m) in [
            ("rtsp://h:1/porch", mount(false, false)),
            ("rtsp://h:1/porch/stream=0", mount(false, false)),
            ("rtsp://h:1/porch/metadata", mount(false, true)),
            ("rtsp://h:1/porch/metadata/stream=2", mount(false, true)),
            ("rtsp://h:1/porch/metadatax", mount(false, false)),
            ("rtsp://h:1/porch/sub", mount(true, false)),
            ("rtsp://h:1/porch/sub/stream=1", mount(true, false)),
            ("rtsp://h:1/porch/sub/metadata", mount(true, true)),
            ("rtsp://h:1/porch/subway", mount(false, false)),
        ] {
            assert_eq!(mount_of(uri, "porch"), m, "{uri}");
        }
        assert_eq!(metadata_path("porch/sub"), "/porch/sub/metadata");
        assert_eq!(camera_from_uri("rtsp://h:1/"), None);
        assert_eq!(camera_from_uri("rtsp://h:1"), None);
        assert_eq!(camera_from_uri("*"), None);
    }

    #[test]
    fn basic_and_digest_against_stored_users() {
        const DESCRIBE: RtspRequest<'static> = RtspRequest {
            method: "DESCRIBE",
            uri: "rtsp://127.0.0.1/camera0",
            client: None,
        };
        let access = RtspAccess::new();
        let phc = pinhole_base::password::hash("pw-123456").unwrap();
        access.set_users(vec![(
            "Alice".into(),
            phc,
            Some(rtsp_auth::ha1("Alice", "pw-123456")),
        )]);
        use base64::Engine;
        let basic = |u: &str, p: &str| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
            )
        };
        assert_eq!(
            access
                .check(&basic("alice", "pw-123456"), DESCRIBE, 0)
                .unwrap(),
            "Alice"
        );
        // Second time from the cache.
        assert!(
            access
                .check(&basic("alice", "pw-123456"), DESCRIBE, 0)
                .is_ok()
        );
        assert!(access.check(&basic("alice", "wrong"), DESCRIBE, 0).is_err());
        assert!(
            access
                .check(&basic("bob", "pw-123456"), DESCRIBE, 0)
                .is_err()
        );

        let now = now_secs();
        let nonce = access.nonces().unwrap().issue(now);
        let uri = "rtsp://127.0.0.1/camera0";
        let resp = rtsp_auth::digest_response(
            &rtsp_auth::ha1("Alice", "pw-123456"),
            &nonce,
            "DESCRIBE",
            uri,
        );
        let h = format!(
            r#"Digest username="Alice", realm="pinhole", nonce="{nonce}", uri="{uri}", response="{resp}""#
        );
        assert_eq!(access.check(&h, DESCRIBE, now).unwrap(), "Alice");
        // Users change: the old credentials stop working.
        assert_eq!(access.set_users(vec![]), ["alice"]);
        assert!(access.check(&h, DESCRIBE, now).is_err());
        assert!(
            access
                .check(&basic("alice", "pw-123456"), DESCRIBE, 0)
                .is_err()
        );
    }
}
