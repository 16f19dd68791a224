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

pub mod camera;
pub mod devices;
pub mod fmp4;
pub mod hub;
pub mod live;
pub mod pipeline;
pub mod preview;
pub mod recorder;
pub mod retention;
pub mod rtsp;
pub mod rtsp_auth;

use camera::{CameraHandle, CameraState, CameraStatus, RunnerSettings};
use gst::prelude::*;
use pinhole_base::camera::{Camera, RecordingMode};
use pinhole_base::clock::SharedClock;
use pinhole_base::config::Config;
use pinhole_base::events::EventBus;
use pinhole_db::secrets::SecretBox;
use pinhole_db::{Store, StoreError, recordings, snapshots};
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
#[derive(Debug, Clone, Serialize)]
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
}

impl std::fmt::Debug for MediaEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaEngine")
            .field("rtsp", &self.rtsp.addr)
            .finish_non_exhaustive()
    }
}

/// The RTSP server's view of the engine (set once the engine exists).
struct Hooks(OnceLock<std::sync::Weak<MediaEngine>>);

impl rtsp::RtspHooks for Hooks {
    fn on_play(&self, camera_id: &str) {
        if let Some(e) = self.0.get().and_then(|w| w.upgrade())
            && let Some(c) = e.camera(camera_id)
        {
            c.request_keyframe();
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
            decoder: pipeline::choose_decoder(|name| {
                gst::ElementFactory::find(name).is_some()
                    && (name != "v4l2h264dec" || std::path::Path::new("/dev/video10").exists())
            }),
            stall_timeout: Duration::from_secs(m.stall_timeout_secs.into()),
            rtsp_tcp: m.rtsp_tcp,
            overlay: gst::ElementFactory::find("clockoverlay").is_some(),
            backoff_initial: Duration::from_millis(config.supervisor.restart_backoff_initial_ms),
            backoff_max: Duration::from_secs(config.supervisor.restart_backoff_max_secs.min(30)),
        };
        let rec = RecorderSettings {
            dir: recordings_dir.clone(),
            segment: Duration::from_secs(config.storage.segment_secs.into()),
            sync_interval: Duration::from_secs(config.storage.sync_interval_secs.into()),
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

    pub fn camera(&self, id: &str) -> Option<Arc<CameraHandle>> {
        self.cameras
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
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
                self.access.set_users(list);
            }
            Err(e) => tracing::error!(error = %e, "cannot load RTSP users"),
        }
    }

    fn listener(&self) -> camera::StateListener {
        let l = self
            .on_status
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        l.unwrap_or_else(|| Arc::new(|_: &CameraHandle, _: &CameraStatus| {}))
    }

    /// Brings the running cameras in line with the camera table.
    pub async fn sync(self: &Arc<Self>, list: &[Camera]) {
        let mut passwords = HashMap::new();
        for c in list.iter().filter(|c| c.has_password) {
            let (id, secrets) = (c.id.clone(), self.secrets.clone());
            if let Ok(p) = self
                .store
                .call(move |conn| pinhole_db::cameras::password(conn, &secrets, &id))
                .await
            {
                passwords.insert(c.id.clone(), p);
            }
        }
        let mut removed = Vec::new();
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
                let password = passwords.remove(&def.id).flatten();
                match map.get(&def.id) {
                    Some(h) => {
                        let old = h.definition();
                        let same_password = {
                            let cur = h.password.read().unwrap_or_else(|p| p.into_inner());
                            cur.as_ref().map(|s| s.expose().to_string())
                                == password.as_ref().map(|s| s.expose().to_string())
                        };
                        if !same_pipeline(&old, def) || !same_password {
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
                        self.rtsp.mount(&def.id, h.clone());
                        let (settings, clock, listener) =
                            (self.runner.clone(), self.clock.clone(), self.listener());
                        self.tasks.spawn(camera::run(h, settings, clock, listener));
                    }
                }
            }
        }
        for h in removed {
            self.rtsp.unmount(&h.id);
            h.cancel.cancel();
            let slot = self.recs.lock().await.remove(&h.id);
            if let Some(r) = slot.and_then(|s| s.recorder) {
                r.stop().await;
            }
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

    /// Takes a JPEG of the live picture and indexes it.
    pub async fn take_snapshot(
        &self,
        id: &str,
        filename: Option<String>,
    ) -> Result<snapshots::Snapshot, MediaError> {
        let cam = self
            .camera(id)
            .ok_or_else(|| MediaError::NotFound(format!("camera `{id}`")))?;
        if cam.status().state != CameraState::Streaming {
            return Err(MediaError::InvalidState(format!(
                "camera `{id}` is {}, not streaming",
                cam.status().state.as_str()
            )));
        }
        let now = self.clock.now_ms();
        let filename = match filename {
            Some(f) => {
                let f = if f.to_ascii_lowercase().ends_with(".jpg") {
                    f
                } else {
                    format!("{f}.jpg")
                };
                if !valid_file_name(&f) {
                    return Err(MediaError::Invalid(pinhole_base::FieldErrors::single(
                        "filename",
                        format!("`{f}`: use letters, digits, `.`, `_` and `-` only (at most 128)"),
                    )));
                }
                f
            }
            None => {
                let stamp = jiff::Timestamp::from_millisecond(now)
                    .map(|t| t.strftime("%Y-%m-%d_%H-%M-%S_%3f").to_string())
                    .unwrap_or_else(|_| now.to_string());
                format!("{id}_{stamp}.jpg")
            }
        };
        let frame = cam
            .preview
            .next_frame(Duration::from_secs(5))
            .await
            .ok_or_else(|| {
                MediaError::Failed(format!("camera `{id}` delivered no picture within 5 s"))
            })?;
        let dir = self.snapshots_dir.join(id);
        let path = dir.join(&filename);
        let row = snapshots::NewSnapshot {
            camera_id: id.to_string(),
            filename: filename.clone(),
            taken_ms: frame.at_ms,
            size_bytes: frame.data.len() as i64,
            width: Some(frame.width.into()),
            height: Some(frame.height.into()),
            event_id: None,
        };
        let data = frame.data.clone();
        let store = self.store.clone();
        let res =
            tokio::task::spawn_blocking(move || -> Result<snapshots::Snapshot, MediaError> {
                std::fs::create_dir_all(&dir).map_err(|e| {
                    MediaError::Failed(format!("cannot create {}: {e}", dir.display()))
                })?;
                let exists = store
                    .call_blocking(|c| snapshots::get(c, &row.filename))?
                    .is_some();
                if exists || path.exists() {
                    return Err(MediaError::InvalidState(format!(
                        "snapshot `{}` already exists",
                        row.filename
                    )));
                }
                let tmp = path.with_extension("jpg.part");
                std::fs::write(&tmp, &data)
                    .and_then(|_| std::fs::File::open(&tmp)?.sync_data())
                    .and_then(|_| std::fs::rename(&tmp, &path))
                    .map_err(|e| {
                        let _ = std::fs::remove_file(&tmp);
                        MediaError::Failed(format!("cannot write {}: {e}", path.display()))
                    })?;
                store
                    .call_blocking(|c| {
                        snapshots::insert(c, &row)?;
                        snapshots::get(c, &row.filename)
                    })?
                    .ok_or_else(|| MediaError::Failed("snapshot row vanished".into()))
            })
            .await
            .map_err(|e| MediaError::Failed(e.to_string()))?;
        match &res {
            Ok(s) => self.events.publish(
                "snapshot.taken",
                serde_json::json!({"device": id, "filename": s.filename, "file_size": s.size_bytes}),
                now,
            ),
            Err(e) => self.events.publish(
                "snapshot.error",
                serde_json::json!({"device": id, "error": e.to_string()}),
                now,
            ),
        }
        res
    }

    pub fn snapshot_path(&self, s: &snapshots::Snapshot) -> PathBuf {
        self.snapshots_dir.join(&s.camera_id).join(&s.filename)
    }

    pub fn recording_path(&self, r: &recordings::Recording) -> PathBuf {
        self.rec.dir.join(&r.camera_id).join(r.file_name())
    }

    pub async fn delete_snapshot(&self, filename: &str) -> Result<(), MediaError> {
        let f = filename.to_string();
        let s = self
            .store
            .call(move |c| snapshots::get(c, &f))
            .await?
            .ok_or_else(|| MediaError::NotFound(format!("snapshot `{filename}`")))?;
        let path = self.snapshot_path(&s);
        remove_file_if_present(&path).await?;
        let f = filename.to_string();
        self.store.call(move |c| snapshots::delete(c, &f)).await?;
        Ok(())
    }

    pub async fn delete_recording(&self, filename: &str) -> Result<(), MediaError> {
        let f = filename.to_string();
        let r = self
            .store
            .call(move |c| recordings::get(c, &f))
            .await?
            .ok_or_else(|| MediaError::NotFound(format!("recording `{filename}`")))?;
        if r.state == "open" {
            return Err(MediaError::InvalidState(format!(
                "recording `{filename}` is being written; stop the recording first"
            )));
        }
        self.remove_recording(&r).await
    }

    async fn remove_recording(&self, r: &recordings::Recording) -> Result<(), MediaError> {
        let path = self.recording_path(r);
        remove_file_if_present(&path).await?;
        let id = r.id;
        self.store.call(move |c| recordings::delete(c, id)).await?;
        Ok(())
    }

    // ---- recording ----

    /// Starts an on-demand recording (optionally for `duration_secs`).
    pub async fn start_recording(
        &self,
        id: &str,
        format: Format,
        duration_secs: Option<u32>,
    ) -> Result<RecordingState, MediaError> {
        let cam = self
            .camera(id)
            .ok_or_else(|| MediaError::NotFound(format!("camera `{id}`")))?;
        if !cam.definition().enabled {
            return Err(MediaError::InvalidState(format!(
                "camera `{id}` is disabled"
            )));
        }
        let now = self.clock.now_ms();
        {
            let mut recs = self.recs.lock().await;
            let slot = recs.entry(id.to_string()).or_default();
            if slot.recorder.is_some() || slot.manual.is_some() {
                return Err(MediaError::InvalidState(format!(
                    "camera `{id}` is already recording ({})",
                    if slot.trigger == "continuous" {
                        "continuous recording"
                    } else {
                        "on demand"
                    }
                )));
            }
            slot.manual = Some(Manual {
                format,
                until_ms: duration_secs.map(|d| now + i64::from(d) * 1000),
            });
            slot.next_try_ms = 0;
            slot.failures = 0;
        }
        self.reconcile_recorders().await;
        let recs = self.recs.lock().await;
        let slot = recs.get(id);
        match slot.and_then(|s| s.recorder.as_ref()) {
            Some(r) => Ok(RecordingState {
                device: id.to_string(),
                filename: r.current_filename(),
                started_ms: r.started_ms,
                format: r.format.as_str(),
                trigger: "manual",
                until_ms: duration_secs.map(|d| now + i64::from(d) * 1000),
            }),
            None => Err(MediaError::Failed(
                slot.and_then(|s| s.last_error.clone())
                    .unwrap_or_else(|| "the recorder did not start".into()),
            )),
        }
    }

    /// Stops an on-demand recording; returns the finished segment's row.
    pub async fn stop_recording(
        &self,
        id: &str,
    ) -> Result<(RecordingState, Option<recordings::Recording>), MediaError> {
        let cam = self
            .camera(id)
            .ok_or_else(|| MediaError::NotFound(format!("camera `{id}`")))?;
        let mut recs = self.recs.lock().await;
        let slot = recs.entry(id.to_string()).or_default();
        if slot.manual.is_none() {
            return Err(MediaError::InvalidState(
                if cam.definition().recording == RecordingMode::Continuous {
                    format!(
                        "camera `{id}` records continuously; change its recording mode to stop it"
                    )
                } else {
                    format!("camera `{id}` is not recording")
                },
            ));
        }
        let manual = slot.manual.take();
        let Some(r) = slot.recorder.take() else {
            return Err(MediaError::InvalidState(format!(
                "camera `{id}` is not recording"
            )));
        };
        let state = RecordingState {
            device: id.to_string(),
            filename: r.current_filename(),
            started_ms: r.started_ms,
            format: r.format.as_str(),
            trigger: "manual",
            until_ms: manual.and_then(|m| m.until_ms),
        };
        drop(recs);
        r.stop().await;
        self.events.publish(
            "recording.stop",
            serde_json::json!({"device": id, "filename": state.filename, "status": "STOPPED"}),
            self.clock.now_ms(),
        );
        let row = match &state.filename {
            Some(f) => {
                let f = f.clone();
                self.store.call(move |c| recordings::get(c, &f)).await?
            }
            None => None,
        };
        // Continuous cameras resume continuous recording at once.
        self.rec_kick.notify_one();
        Ok((state, row))
    }

    /// A detection on a camera whose recording mode is `events`: record until `until_ms`
    /// (extended by every later detection). Returns whether the camera records on events.
    pub async fn trigger_event_recording(&self, id: &str, until_ms: i64) -> bool {
        let Some(cam) = self.camera(id) else {
            return false;
        };
        if cam.definition().recording != RecordingMode::Events {
            return false;
        }
        {
            let mut recs = self.recs.lock().await;
            let slot = recs.entry(id.to_string()).or_default();
            slot.event_until_ms = slot.event_until_ms.max(until_ms);
        }
        self.rec_kick.notify_one();
        true
    }

    pub async fn recording_state(&self, id: &str) -> Option<RecordingState> {
        let recs = self.recs.lock().await;
        let slot = recs.get(id)?;
        let r = slot.recorder.as_ref()?;
        Some(RecordingState {
            device: id.to_string(),
            filename: r.current_filename(),
            started_ms: r.started_ms,
            format: r.format.as_str(),
            trigger: slot.trigger,
            until_ms: slot.manual.as_ref().and_then(|m| m.until_ms),
        })
    }

    async fn recording_loop(self: Arc<Self>) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = self.shutdown.cancelled() => break,
                _ = tick.tick() => {}
                _ = self.rec_kick.notified() => {}
            }
            self.reconcile_recorders().await;
        }
        // Shutdown: finalise every segment.
        let mut recs = self.recs.lock().await;
        let all: Vec<Recorder> = recs
            .values_mut()
            .filter_map(|s| s.recorder.take())
            .collect();
        drop(recs);
        for r in all {
            r.stop().await;
        }
    }

    /// Starts, stops and restarts recorders so they match what each camera should do.
    async fn reconcile_recorders(&self) {
        let now = self.clock.now_ms();
        let cams = self.cameras();
        let mut recs = self.recs.lock().await;
        for cam in cams {
            let def = cam.definition();
            // Event recordings start with the GOP before the trigger (pre-roll).
            cam.hub
                .set_keep_gop(def.enabled && def.recording == RecordingMode::Events);
            let slot = recs.entry(cam.id.clone()).or_default();
            if slot
                .manual
                .as_ref()
                .is_some_and(|m| m.until_ms.is_some_and(|u| u <= now))
            {
                slot.manual = None;
            }
            let continuous = def.enabled && def.recording == RecordingMode::Continuous;
            let event = def.recording == RecordingMode::Events && slot.event_until_ms > now;
            let want = def.enabled && (continuous || event || slot.manual.is_some());
            let (format, trigger) = match &slot.manual {
                Some(m) => (m.format, "manual"),
                None if continuous => (Format::Fmp4, "continuous"),
                None => (Format::Fmp4, "event"),
            };
            // A failed recorder: finalise, back off, retry.
            if slot.recorder.as_ref().is_some_and(|r| r.failed())
                && let Some(r) = slot.recorder.take()
            {
                {
                    let reason = r.stop().await.unwrap_or_else(|| "recorder stopped".into());
                    slot.failures += 1;
                    let delay = 1000i64 << slot.failures.min(5);
                    slot.next_try_ms = now + delay;
                    slot.last_error = Some(reason);
                    self.retention_kick.notify_one();
                }
            }
            let wrong_kind = slot
                .recorder
                .as_ref()
                .is_some_and(|r| r.format != format || slot.trigger != trigger);
            if (!want || wrong_kind)
                && let Some(r) = slot.recorder.take()
            {
                let filename = r.current_filename();
                r.stop().await;
                self.events.publish(
                    "recording.stop",
                    serde_json::json!({"device": cam.id, "filename": filename, "status": "STOPPED"}),
                    now,
                );
            }
            if want && slot.recorder.is_none() && now >= slot.next_try_ms {
                let kick = self.retention_kick.clone();
                let args = recorder::StartArgs {
                    camera: cam.clone(),
                    format,
                    trigger: trigger.to_string(),
                    settings: self.rec.clone(),
                    store: self.store.clone(),
                    clock: self.clock.clone(),
                    events: self.events.clone(),
                    on_closed: Arc::new(move || kick.notify_one()),
                };
                let rt = tokio::runtime::Handle::current();
                match tokio::task::spawn_blocking(move || {
                    let _g = rt.enter();
                    Recorder::start(args)
                })
                .await
                {
                    Ok(Ok(r)) => {
                        slot.recorder = Some(r);
                        slot.trigger = trigger;
                        slot.last_error = None;
                        self.events.publish(
                            "recording.start",
                            serde_json::json!({"device": cam.id, "status": "STARTED", "format": format.as_str(), "trigger": trigger}),
                            now,
                        );
                    }
                    Ok(Err(e)) => {
                        slot.failures += 1;
                        slot.next_try_ms = now + (1000i64 << slot.failures.min(5));
                        tracing::error!(camera = %cam.id, error = %e, "cannot start recording");
                        self.events.publish(
                            "recording.error",
                            serde_json::json!({"device": cam.id, "error": e}),
                            now,
                        );
                        slot.last_error = Some(e);
                    }
                    Err(e) => slot.last_error = Some(e.to_string()),
                }
            }
            if slot.recorder.is_some() && slot.failures > 0 && slot.last_error.is_none() {
                slot.failures = 0;
            }
        }
    }

    // ---- retention ----

    pub fn retention_policy(&self) -> RetentionPolicy {
        self.retention
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn set_retention_policy(&self, p: RetentionPolicy) {
        *self.retention.write().unwrap_or_else(|p| p.into_inner()) = p;
        self.retention_kick.notify_one();
    }

    async fn retention_loop(self: Arc<Self>) {
        let mut tick = tokio::time::interval(Duration::from_secs(30));
        loop {
            tokio::select! {
                _ = self.shutdown.cancelled() => break,
                _ = tick.tick() => {}
                _ = self.retention_kick.notified() => {}
            }
            if let Err(e) = self.apply_retention().await {
                tracing::error!(error = %e, "retention failed");
            }
        }
    }

    /// Deletes what the policy says; returns (files deleted, bytes freed).
    pub async fn apply_retention(&self) -> Result<(u32, u64), MediaError> {
        let rows = self.store.call(|c| recordings::all_oldest_first(c)).await?;
        let dir = self.rec.dir.clone();
        let free = tokio::task::spawn_blocking(move || pinhole_sys::disk_usage(&dir))
            .await
            .map_err(|e| MediaError::Failed(e.to_string()))?
            .map(|d| d.available_bytes)
            .unwrap_or(u64::MAX);
        let segs: Vec<_> = rows
            .iter()
            .map(|r| retention::SegmentInfo {
                id: r.id,
                start_ms: r.start_ms,
                size_bytes: r.size_bytes.max(0) as u64,
                open: r.state == "open",
            })
            .collect();
        let plan = retention::plan(&segs, &self.retention_policy(), self.clock.now_ms(), free);
        let (mut n, mut bytes) = (0u32, 0u64);
        for (id, reason) in plan {
            if let Some(r) = rows.iter().find(|r| r.id == id) {
                match self.remove_recording(r).await {
                    Ok(()) => {
                        n += 1;
                        bytes += r.size_bytes.max(0) as u64;
                        tracing::info!(file = %r.file_name(), ?reason, "retention deleted a recording");
                    }
                    Err(e) => {
                        tracing::warn!(file = %r.file_name(), error = %e, "retention could not delete")
                    }
                }
            }
        }
        Ok((n, bytes))
    }

    /// Stops recorders (finalising their segments) and cameras; waits up to `timeout`.
    pub async fn shutdown(&self, timeout: Duration) {
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
