//! The media engine: per camera one capture pipeline and one encode, fanned out to the RTSP
//! server, the recorder, snapshots and the browser preview.
//!
//! - [`pipeline`]: the capture pipeline's description (pure).
//! - [`camera`]: a camera's state machine (starting/streaming/reconnecting/failed/disabled).
//! - [`hub`]: the fan-out point that keeps consumers attached across pipeline rebuilds.
//! - [`rtsp`], [`rtsp_auth`]: gst-rtsp-server with the appliance's users.
//! - [`recorder`], [`fmp4`], [`retention`]: power-cut-safe segments, their index and its repair,
//!   and what to delete.
//! - [`preview`]: the shared JPEG branch (MJPEG preview, snapshots).
//! - [`live`]: the low-latency browser path (fragmented MP4 over WebSocket, for MSE).
//!
//! Local devices are enumerated with GStreamer's device monitor rather than the `v4l` crate:
//! the monitor is already linked, reports each device's caps in GStreamer's own terms, and the
//! `v4l` crate's bindings are generated with bindgen/libclang at build time, a burden for the
//! ARM64 cross build.

pub mod amf0;
pub mod broadcast;
pub mod camera;
pub mod devices;
pub mod flv;
mod flv_feed;
pub mod fmp4;
pub mod hls;
pub mod hub;
pub mod live;
pub mod metadata;
mod mux;
pub mod nal;
pub mod osd;
mod overlay_draw;
pub mod picture_layer;
pub mod pipeline;
pub mod preview;
pub mod recorder;
pub mod retention;
pub mod rtmp;
mod rtmp_publish;
pub mod rtsp;
pub mod rtsp_auth;

mod engine;

use camera::{CameraHandle, CameraState, CameraStatus, RunnerSettings};
use gst::prelude::*;
use pinhole_base::camera::{Camera, RecordingMode};
use pinhole_base::clock::SharedClock;
use pinhole_base::config::Config;
use pinhole_base::events::EventBus;
use pinhole_db::secrets::SecretBox;
use pinhole_db::{Store, StoreError, recordings, snapshots};
use pipeline::{AudioCodec, VideoCodec};
use recorder::{Format, Recorder, RecorderSettings};
use retention::RetentionPolicy;
use serde::Serialize;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// One clock and base time for every pipeline of the process, so buffers keep meaningful
/// running times when they move from a capture pipeline to a consumer pipeline, and across
/// capture rebuilds.
pub fn shared_clock() -> &'static (gst::Clock, gst::ClockTime) {
    static CLOCK: OnceLock<(gst::Clock, gst::ClockTime)> = OnceLock::new();
    CLOCK.get_or_init(|| {
        let clock = gst::SystemClock::obtain();
        let base = clock.time();
        (clock, base)
    })
}

/// The element named `name` in `bin` as a `T` (an appsrc, an appsink), if it is one.
pub(crate) fn element<T: IsA<gst::Element>>(bin: &impl IsA<gst::Bin>, name: &str) -> Option<T> {
    bin.by_name(name).and_then(|e| e.downcast::<T>().ok())
}

/// Links `src` to a new `{kind}_%u` pad of the muxer `mux` (`video`, `audio`): asked for by
/// name, since linking by caps could pick another.
pub(crate) fn link_to_muxer(
    src: &gst_app::AppSrc,
    mux: &gst::Element,
    kind: &str,
) -> Result<(), String> {
    let pad = mux
        .request_pad_simple(&format!("{kind}_%u"))
        .ok_or_else(|| format!("the muxer has no {kind} pad"))?;
    src.static_pad("src")
        .ok_or("appsrc has no src pad")?
        .link(&pad)
        .map_err(|e| e.to_string())?;
    Ok(())
}

pub fn adopt_shared_clock(p: &gst::Pipeline) {
    let (clock, base) = shared_clock();
    p.use_clock(Some(clock));
    p.set_base_time(*base);
    p.set_start_time(gst::ClockTime::NONE);
}

/// Errors of media operations, mapped to API errors by the callers.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    InvalidState(String),
    #[error("{0}")]
    Invalid(pinhole_base::FieldErrors),
    #[error("{0}")]
    Failed(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A recording as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RecordingState {
    pub device: String,
    pub filename: Option<String>,
    pub started_ms: i64,
    pub format: &'static str,
    /// continuous or manual.
    pub trigger: &'static str,
    pub until_ms: Option<i64>,
}

#[derive(Debug, Clone)]
struct Manual {
    format: Format,
    until_ms: Option<i64>,
}

#[derive(Debug, Default)]
struct RecSlot {
    recorder: Option<Recorder>,
    trigger: &'static str,
    manual: Option<Manual>,
    /// Cameras in `events` recording mode record until this time (detections extend it).
    event_until_ms: i64,
    failures: u32,
    next_try_ms: i64,
    last_error: Option<String>,
}

/// The engine, shared by the API and the supervisor.
pub struct MediaEngine {
    runner: RunnerSettings,
    rec: RecorderSettings,
    snapshots_dir: PathBuf,
    /// `storage.snapshot_retention_days` (0 keeps them).
    snapshot_retention_days: u32,
    store: Store,
    clock: SharedClock,
    events: EventBus,
    secrets: SecretBox,
    cameras: RwLock<HashMap<String, Arc<CameraHandle>>>,
    recs: tokio::sync::Mutex<HashMap<String, RecSlot>>,
    rtsp: rtsp::RtspServer,
    pub access: Arc<rtsp::RtspAccess>,
    retention: RwLock<RetentionPolicy>,
    retention_kick: Arc<tokio::sync::Notify>,
    rec_kick: tokio::sync::Notify,
    shutdown: CancellationToken,
    tasks: tokio_util::task::TaskTracker,
    public_host: Option<String>,
    /// Hook for status changes (events, metrics); set once by the owner.
    on_status: RwLock<Option<camera::StateListener>>,
    /// HLS packagers of the cameras someone plays.
    hls: std::sync::Mutex<HashMap<String, Arc<hls::Packager>>>,
    /// Running broadcast outputs, by stream id.
    outputs: std::sync::Mutex<HashMap<String, Arc<broadcast::Output>>>,
}

impl std::fmt::Debug for MediaEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaEngine")
            .field("rtsp", &self.rtsp.addr)
            .finish_non_exhaustive()
    }
}

/// A sub stream's handle id and RTSP path: its camera's id and this.
pub const SUB_SUFFIX: &str = "/sub";

/// The RTSP server's view of the engine (set once the engine exists).
struct Hooks(OnceLock<std::sync::Weak<MediaEngine>>);

impl rtsp::RtspHooks for Hooks {
    fn on_play(&self, camera_id: &str, mount: rtsp::Mount) {
        let Some(c) = self
            .0
            .get()
            .and_then(|w| w.upgrade())
            .and_then(|e| e.camera(camera_id))
        else {
            return;
        };
        let Some(h) = (if mount.sub { c.sub_stream() } else { Some(c) }) else {
            return;
        };
        h.request_keyframe();
        if mount.metadata {
            // The new client starts with the camera's whole event state.
            h.metadata.repeat_state();
        }
    }
}

pub use pinhole_base::valid_file_name;

impl MediaEngine {
    /// Initialises GStreamer, repairs the recordings index, starts the RTSP server. Blocking
    /// parts run on the blocking pool.
    #[allow(clippy::too_many_arguments)]
    pub async fn start(
        config: &Config,
        recordings_dir: PathBuf,
        retention: RetentionPolicy,
        store: Store,
        clock: SharedClock,
        events: EventBus,
        secrets: SecretBox,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Arc<Self>> {
        gst::init().map_err(|e| anyhow::anyhow!("cannot initialise GStreamer: {e}"))?;
        metadata::register()
            .map_err(|e| anyhow::anyhow!("cannot register the ONVIF metadata payloader: {e}"))?;
        let m = &config.media;
        let encoder = pipeline::choose_encoder(&m.encoder, |name| {
            gst::ElementFactory::find(name).is_some()
                // v4l2h264enc is registered only where a V4L2 M2M encoder device exists.
                && (name != "v4l2h264enc" || std::path::Path::new("/dev/video11").exists())
        })
        .map_err(|e| anyhow::anyhow!("media.encoder: {e}"))?;
        tracing::info!(encoder = encoder.element(), "H.264 encoder for raw sources");
        let runner = RunnerSettings {
            encoder,
            keyframe_ms: m.keyframe_interval_ms,
            default_width: m.default_width,
            default_height: m.default_height,
            default_fps: m.default_fps,
            default_bitrate_kbps: m.default_bitrate_kbps,
            preview_fps: m.preview_fps,
            preview_width: m.preview_width,
            detect_fps: m.detect_fps,
            detect_width: m.detect_width,
            decoders: pipeline::choose_decoders(|name| {
                gst::ElementFactory::find(name).is_some()
                    && (name != "v4l2h264dec" || std::path::Path::new("/dev/video10").exists())
            }),
            stall_timeout: Duration::from_secs(m.stall_timeout_secs.into()),
            rtsp_tcp: m.rtsp_tcp,
            rtsp_client: m.rtsp_client,
            overlay: gst::ElementFactory::find("clockoverlay").is_some(),
            backoff_initial: Duration::from_millis(config.supervisor.restart_backoff_initial_ms),
            backoff_max: Duration::from_secs(config.supervisor.restart_backoff_max_secs.min(30)),
        };
        let rec = RecorderSettings {
            dir: recordings_dir.clone(),
            segment: Duration::from_secs(config.storage.segment_secs.into()),
            sync_interval: Duration::from_secs(config.storage.sync_interval_secs.into()),
            fragment: Duration::from_millis(config.storage.fragment_ms.into()),
        };
        {
            let store = store.clone();
            let dir = recordings_dir.clone();
            let now = clock.now_ms();
            let report = tokio::task::spawn_blocking(move || {
                std::fs::create_dir_all(&dir).ok();
                recorder::reconcile(&store, &dir, now)
            })
            .await??;
            if report != recorder::ReconcileReport::default() {
                tracing::warn!(?report, "recordings index repaired after an unclean stop");
            }
        }
        let access = rtsp::RtspAccess::new();
        let hooks = Arc::new(Hooks(OnceLock::new()));
        let rtsp = rtsp::RtspServer::start(m.rtsp_listen, access.clone(), hooks.clone())?;
        let engine = Arc::new(Self {
            runner,
            rec,
            snapshots_dir: config.snapshots_dir(),
            snapshot_retention_days: config.storage.snapshot_retention_days,
            store,
            clock,
            events,
            secrets,
            cameras: RwLock::default(),
            recs: Default::default(),
            rtsp,
            access,
            retention: RwLock::new(retention),
            retention_kick: Arc::default(),
            rec_kick: Default::default(),
            shutdown,
            tasks: Default::default(),
            public_host: m.public_host.clone(),
            on_status: RwLock::default(),
            hls: Default::default(),
            outputs: Default::default(),
        });
        let _ = hooks.0.set(Arc::downgrade(&engine));
        Ok(engine)
    }

    /// Starts the recording controller and retention tasks.
    pub fn spawn_background(self: &Arc<Self>) {
        let e = self.clone();
        self.tasks.spawn(async move { e.recording_loop().await });
        let e = self.clone();
        self.tasks.spawn(async move { e.retention_loop().await });
        let e = self.clone();
        self.tasks.spawn(async move { e.hls_reaper().await });
    }

    /// The HLS packager of camera `id`, started by the first request.
    pub fn hls(&self, id: &str) -> Result<Arc<hls::Packager>, MediaError> {
        let mut map = self.hls.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(p) = map.get(id) {
            return Ok(p.clone());
        }
        let cam = self
            .camera(id)
            .ok_or_else(|| MediaError::NotFound(format!("camera `{id}`")))?;
        let p = Arc::new(hls::Packager::start(cam).map_err(MediaError::InvalidState)?);
        map.insert(id.to_string(), p.clone());
        Ok(p)
    }

    /// Stops the packagers nobody has asked anything of for [`hls::IDLE`], and those of cameras
    /// that are gone.
    async fn hls_reaper(&self) {
        loop {
            tokio::select! {
                _ = self.shutdown.cancelled() => break,
                _ = tokio::time::sleep(Duration::from_secs(5)) => {}
            }
            let stopped: Vec<Arc<hls::Packager>> = {
                let mut map = self.hls.lock().unwrap_or_else(|p| p.into_inner());
                let gone: Vec<String> = map
                    .iter()
                    .filter(|(id, p)| p.idle_for() > hls::IDLE || self.camera(id).is_none())
                    .map(|(id, _)| id.clone())
                    .collect();
                gone.iter().filter_map(|id| map.remove(id)).collect()
            };
            if !stopped.is_empty() {
                tokio::task::spawn_blocking(move || drop(stopped))
                    .await
                    .ok();
                pinhole_sys::return_free_memory();
            }
        }
        self.hls.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    pub fn set_status_listener(&self, l: camera::StateListener) {
        *self.on_status.write().unwrap_or_else(|p| p.into_inner()) = Some(l);
    }

    pub fn rtsp_addr(&self) -> SocketAddr {
        self.rtsp.addr
    }

    pub fn encoder(&self) -> &'static str {
        self.runner.encoder.element()
    }

    // ---- broadcast outputs ----

    /// Starts stream `stream_id`'s output from `camera_id` (restarting it if it runs).
    pub async fn start_output(
        &self,
        stream_id: &str,
        camera_id: &str,
        plan: broadcast::OutputPlan,
        targets: Vec<broadcast::Target>,
        listener: broadcast::OutputListener,
    ) -> Result<(), MediaError> {
        let camera = self
            .camera(camera_id)
            .ok_or_else(|| MediaError::NotFound(format!("camera `{camera_id}`")))?;
        for t in &targets {
            broadcast::protocol_available(t.protocol).map_err(MediaError::InvalidState)?;
        }
        self.stop_output(stream_id).await;
        let out = broadcast::Output::start(
            stream_id,
            camera,
            self.runner.encoder,
            self.runner.decoders,
            plan,
            targets,
            listener,
        );
        self.outputs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(stream_id.to_string(), out);
        Ok(())
    }

    /// Stops an output; false when it was not running.
    pub async fn stop_output(&self, stream_id: &str) -> bool {
        let out = self
            .outputs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(stream_id);
        match out {
            Some(o) => {
                o.stop().await;
                drop(o);
                // The decoder's and encoder's buffers were freed; give them back.
                pinhole_sys::return_free_memory();
                true
            }
            None => false,
        }
    }

    pub fn output(&self, stream_id: &str) -> Option<Arc<broadcast::Output>> {
        self.outputs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(stream_id)
            .cloned()
    }

    /// Every running output.
    pub fn outputs(&self) -> Vec<Arc<broadcast::Output>> {
        self.outputs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    pub fn camera(&self, id: &str) -> Option<Arc<CameraHandle>> {
        self.cameras
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
    }

    /// The next live JPEG of camera `id` (its preview, decoded on demand), waiting at most
    /// `wait` for it.
    pub async fn live_jpeg(&self, id: &str, wait: Duration) -> Result<bytes::Bytes, MediaError> {
        let cam = self
            .camera(id)
            .ok_or_else(|| MediaError::NotFound(format!("camera `{id}`")))?;
        cam.preview
            .next_frame(wait)
            .await
            .map(|f| f.data.clone())
            .ok_or_else(|| {
                MediaError::Failed(format!(
                    "camera `{id}` delivered no picture within {} s",
                    wait.as_secs()
                ))
            })
    }

    /// Every camera, by id.
    pub fn cameras(&self) -> Vec<Arc<CameraHandle>> {
        let mut v: Vec<_> = self
            .cameras
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        v.sort_by(|a, b| a.id.cmp(&b.id));
        v
    }

    /// A local camera was plugged in at `url`: the cameras configured on it that are waiting
    /// to retry (unplugged, they failed) start again now rather than after their backoff.
    /// Returns their ids.
    pub fn device_plugged(&self, url: &str) -> Vec<String> {
        self.cameras()
            .into_iter()
            .filter(|h| {
                let def = h.definition();
                matches!(
                    def.source,
                    pinhole_base::camera::SourceKind::V4l2
                        | pinhole_base::camera::SourceKind::Libcamera
                ) && def.url == url
                    && matches!(
                        h.status().state,
                        CameraState::Reconnecting | CameraState::Failed
                    )
            })
            .map(|h| {
                h.restart.notify_one();
                h.id.clone()
            })
            .collect()
    }

    /// The keyframe interval of an encoded camera that sets none (`media.keyframe_interval_ms`).
    pub fn default_keyframe_ms(&self) -> u32 {
        self.runner.keyframe_ms
    }

    /// The stream URL for a camera; `request_host` is the host the API client used.
    pub fn stream_url(&self, id: &str, request_host: Option<&str>) -> String {
        let addr = self.rtsp.addr;
        let host = match (&self.public_host, request_host) {
            (Some(h), _) => h.clone(),
            (None, _) if !addr.ip().is_unspecified() => match addr.ip() {
                std::net::IpAddr::V6(ip) => format!("[{ip}]"),
                ip => ip.to_string(),
            },
            (None, Some(h)) => strip_port(h).to_string(),
            (None, None) => "localhost".into(),
        };
        format!("rtsp://{host}:{}/{id}", addr.port())
    }

    /// The URL of a camera's (or sub stream's, `<camera>/sub`) video with its events as ONVIF
    /// metadata.
    pub fn metadata_url(&self, id: &str, request_host: Option<&str>) -> String {
        let path = rtsp::metadata_path(id);
        self.stream_url(path.trim_start_matches('/'), request_host)
    }

    /// Starts or stops serving a camera over RTSP (`start_streaming` / `stop_streaming`);
    /// recording, snapshots and previews are not affected. Returns whether it was served.
    pub fn set_rtsp_serving(&self, id: &str, serve: bool) -> Result<bool, MediaError> {
        let h = self
            .camera(id)
            .ok_or_else(|| MediaError::NotFound(format!("camera `{id}`")))?;
        let was = h
            .rtsp_serving
            .swap(serve, std::sync::atomic::Ordering::SeqCst);
        match (was, serve) {
            (false, true) => self.rtsp.mount(id, h.clone()),
            (true, false) => self.rtsp.stop_serving(id),
            _ => {}
        }
        Ok(was)
    }

    pub fn rtsp_sessions(&self) -> usize {
        self.rtsp.sessions()
    }

    /// Reloads the users RTSP accepts.
    pub async fn refresh_rtsp_users(&self) {
        let secrets = self.secrets.clone();
        match self
            .store
            .call(move |c| pinhole_db::users::rtsp_credentials(c))
            .await
        {
            Ok(list) => {
                let list = list
                    .into_iter()
                    .map(|(u, phc, sealed)| {
                        let ha1 = sealed
                            .and_then(|s| secrets.open(&s).ok())
                            .map(|s| s.expose().to_string());
                        (u, phc, ha1)
                    })
                    .collect();
                let revoked = self.access.set_users(list);
                self.rtsp.close_clients_of(revoked);
            }
            Err(e) => tracing::error!(error = %e, "cannot load RTSP users"),
        }
    }

    /// What a camera's runner calls on every state change: the engine's own reaction to a
    /// codec coming or changing, then (for cameras, not sub streams) the owner's listener.
    fn listener(self: &Arc<Self>, public: bool) -> camera::StateListener {
        let outer = self
            .on_status
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .filter(|_| public);
        let engine = Arc::downgrade(self);
        Arc::new(move |cam: &CameraHandle, status: &CameraStatus| {
            if let (Some(codec), Some(engine)) = (status.codec, engine.upgrade()) {
                engine.codec_settled(cam, codec, status.audio);
            }
            if let Some(l) = &outer {
                l(cam, status);
            }
        })
    }

    /// A camera or a sub stream by its handle's id (`<camera>/sub` for a sub stream).
    fn handle(&self, id: &str) -> Option<Arc<CameraHandle>> {
        match id.strip_suffix(SUB_SUFFIX) {
            Some(main) => self.camera(main)?.sub_stream(),
            None => self.camera(id),
        }
    }

    /// A camera streams `codec` (and `audio`). If it streamed another one before (an IP camera
    /// switched to H.265 in its settings), the RTSP mount is rebuilt for it (its clients, whose
    /// payloader cannot carry the new codec, are disconnected and reconnect to the new one),
    /// and the preview and detector decoders restart for it. The mount is rebuilt too when the
    /// camera's audio comes or goes.
    fn codec_settled(&self, cam: &CameraHandle, codec: VideoCodec, audio: Option<AudioCodec>) {
        let before = cam.set_last_codec(codec);
        let audio_before = cam.set_last_audio(audio);
        let had_audio = audio_before.is_some();
        if before == Some(codec) && had_audio == audio.is_some() {
            return;
        }
        if before.is_some() && before != Some(codec) {
            tracing::warn!(camera = %cam.id, from = ?before, to = ?codec, "the camera changed codec");
        }
        let mounted = (before.unwrap_or(rtsp::DEFAULT_CODEC), had_audio);
        if mounted != (codec, audio.is_some())
            && cam.rtsp_serving.load(std::sync::atomic::Ordering::SeqCst)
            && let Some(h) = self.handle(&cam.id)
        {
            self.rtsp.stop_serving(&cam.id);
            self.rtsp.mount(&cam.id, h);
        }
        if before == Some(codec) {
            return;
        }
        // The decoders follow: a sub stream that streams (again) is what its camera decodes.
        let camera = cam.id.strip_suffix(SUB_SUFFIX).unwrap_or(&cam.id);
        if let Some(t) = self.camera(camera) {
            t.preview.restart_on_demand();
            t.detect.restart_on_demand();
        }
    }

    /// Mounts a camera (or a sub stream, not `public`: its changes are not announced) and runs
    /// it.
    fn launch(self: &Arc<Self>, h: &Arc<CameraHandle>, public: bool) {
        self.rtsp.mount(&h.id, h.clone());
        let (settings, clock) = (self.runner.clone(), self.clock.clone());
        self.tasks.spawn(camera::run(
            h.clone(),
            settings,
            clock,
            self.listener(public),
        ));
    }

    /// Starts, replaces or stops camera `h`'s sub stream to match its definition `def`.
    fn sync_sub_stream(
        self: &Arc<Self>,
        h: &Arc<CameraHandle>,
        def: &Camera,
        password: Option<&pinhole_db::secrets::SecretString>,
    ) {
        let wanted = def
            .sub_url
            .clone()
            .filter(|_| def.enabled && def.source == pinhole_base::camera::SourceKind::Rtsp);
        let current = h.sub_stream();
        let unchanged = match (&current, &wanted) {
            (None, None) => true,
            (Some(c), Some(url)) => {
                let d = c.definition();
                d.url == *url && d.username == def.username && c.has_password(password)
            }
            _ => false,
        };
        if unchanged {
            return;
        }
        if let Some(old) = current {
            self.rtsp.unmount(&old.id);
            old.cancel.cancel();
        }
        let sub = wanted.map(|url| {
            let sub_def = Camera {
                id: format!("{}{SUB_SUFFIX}", def.id),
                name: format!("{} (sub stream)", def.name),
                url,
                sub_url: None,
                recording: RecordingMode::Off,
                detection: None,
                ptz: None,
                ..def.clone()
            };
            let s = Arc::new(CameraHandle::new(
                sub_def,
                password.cloned(),
                self.clock.now_ms(),
                &h.cancel,
            ));
            self.launch(&s, false);
            s
        });
        *h.sub.write().unwrap_or_else(|p| p.into_inner()) = sub;
        h.preview.restart_on_demand();
        h.detect.restart_on_demand();
    }

    /// Brings the running cameras in line with the camera table; `passwords` has the unsealed
    /// password of each camera that has one.
    pub async fn sync(
        self: &Arc<Self>,
        list: &[Camera],
        mut passwords: HashMap<String, pinhole_db::secrets::SecretString>,
    ) {
        let mut removed = Vec::new();
        let mut subs = Vec::new();
        {
            let mut map = self.cameras.write().unwrap_or_else(|p| p.into_inner());
            map.retain(|id, h| {
                let keep = list.iter().any(|c| &c.id == id);
                if !keep {
                    removed.push(h.clone());
                }
                keep
            });
            for def in list {
                let password = passwords.remove(&def.id);
                subs.push((def.clone(), password.clone()));
                match map.get(&def.id) {
                    Some(h) => {
                        let old = h.definition();
                        if !same_pipeline(&old, def) || !h.has_password(password.as_ref()) {
                            *h.def.write().unwrap_or_else(|p| p.into_inner()) = def.clone();
                            *h.password.write().unwrap_or_else(|p| p.into_inner()) = password;
                            h.restart.notify_one();
                        } else {
                            *h.def.write().unwrap_or_else(|p| p.into_inner()) = def.clone();
                        }
                    }
                    None => {
                        let h = Arc::new(CameraHandle::new(
                            def.clone(),
                            password,
                            self.clock.now_ms(),
                            &self.shutdown,
                        ));
                        map.insert(def.id.clone(), h.clone());
                        self.launch(&h, true);
                    }
                }
            }
        }
        for (def, password) in subs {
            if let Some(h) = self.camera(&def.id) {
                self.sync_sub_stream(&h, &def, password.as_ref());
            }
        }
        let any_removed = !removed.is_empty();
        for h in removed {
            self.rtsp.unmount(&h.id);
            if let Some(sub) = h.sub_stream() {
                self.rtsp.unmount(&sub.id);
            }
            h.cancel.cancel();
            let slot = self.recs.lock().await.remove(&h.id);
            if let Some(r) = slot.and_then(|s| s.recorder) {
                r.stop().await;
            }
        }
        if any_removed {
            // The pipelines' memory goes back to the system, not only to the allocator.
            pinhole_sys::return_free_memory();
        }
        self.rec_kick.notify_one();
    }

    /// Status of every camera.
    pub fn statuses(&self) -> Vec<(Camera, CameraStatus)> {
        self.cameras()
            .iter()
            .map(|h| (h.definition(), h.status()))
            .collect()
    }

    // ---- snapshots ----

    /// Stops recorders (finalising their segments) and cameras; waits up to `timeout`.
    pub async fn shutdown(&self, timeout: Duration) {
        let outputs: Vec<String> = self.outputs().iter().map(|o| o.stream_id.clone()).collect();
        for id in outputs {
            let _ = tokio::time::timeout(timeout, self.stop_output(&id)).await;
        }
        self.tasks.close();
        let _ = tokio::time::timeout(timeout, self.tasks.wait()).await;
    }
}

/// Deletes a file; one that is already gone is not an error (the index row goes either way).
async fn remove_file_if_present(path: &std::path::Path) -> Result<(), MediaError> {
    match tokio::fs::remove_file(path).await {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(MediaError::Failed(format!(
            "cannot delete {}: {e}",
            path.display()
        ))),
        _ => Ok(()),
    }
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host
            .split_once(']')
            .map(|(h, _)| &host[..=h.len()])
            .unwrap_or(host);
    }
    match host.rsplit_once(':') {
        Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) && !h.contains(':') => h,
        _ => host,
    }
}

/// Does a definition change need a pipeline rebuild?
fn same_pipeline(a: &Camera, b: &Camera) -> bool {
    let key = |c: &Camera| {
        (
            (c.enabled, c.source, c.url.clone(), c.username.clone()),
            (c.width, c.height, c.fps, c.bitrate_kbps, c.keyframe_ms),
        )
    };
    key(a) == key(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names() {
        assert!(valid_file_name("camera0_2026-01-01_10-00-00.jpg"));
        for bad in [
            "",
            ".hidden",
            "../x",
            "a/b",
            "a b",
            "a..b",
            &"x".repeat(129),
        ] {
            assert!(!valid_file_name(bad), "{bad}");
        }
    }

    #[test]
    fn hosts() {
        assert_eq!(strip_port("example.local:8002"), "example.local");
        assert_eq!(strip_port("10.0.0.2"), "10.0.0.2");
        assert_eq!(strip_port("[::1]:8002"), "[::1]");
        assert_eq!(strip_port("[::1]"), "[::1]");
    }
}
