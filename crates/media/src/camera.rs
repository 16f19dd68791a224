//! One camera: its capture pipeline and the state machine that keeps it running.
//!
//! States: `starting` → `streaming`; on a bus error, an end of stream, or no frame for
//! `media.stall_timeout_secs` (the data watchdog: an IP camera that is SIGSTOPped sends nothing
//! and rtspsrc only notices after ~20 s), the pipeline is torn down and rebuilt after an
//! exponential backoff (`reconnecting`); after several failures in a row, or when the
//! pipeline cannot even be built, the state is `failed` (retries continue at the longest
//! delay); `disabled` cameras run nothing. Each camera has its own task and pipeline, so one
//! camera's trouble never reaches another. Consumers (RTSP clients, the recorder) hang on the
//! camera's [`Hub`] and survive rebuilds.

mod decode;
mod ingest;

use super::hub::Hub;
use super::pipeline::{AudioCodec, CaptureSpec, Decoders, DeviceFormat, Encoder, VideoCodec};
use super::preview::Preview;
use gst::prelude::*;
use pinhole_base::camera::Camera;
use pinhole_base::config::{RtspClient, SourceKind};
use pinhole_base::picture::Picture;
use serde::Serialize;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// The camera's sound counts as flowing when a frame of it came this recently (live muxers
/// take it then).
pub const AUDIO_RECENT: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CameraState {
    Starting,
    Streaming,
    Reconnecting,
    Failed,
    Disabled,
}

impl CameraState {
    pub fn as_str(self) -> &'static str {
        match self {
            CameraState::Starting => "starting",
            CameraState::Streaming => "streaming",
            CameraState::Reconnecting => "reconnecting",
            CameraState::Failed => "failed",
            CameraState::Disabled => "disabled",
        }
    }

    /// The camera service's status vocabulary.
    pub fn service_status(self) -> &'static str {
        match self {
            CameraState::Streaming => "CONNECTED",
            CameraState::Failed => "ERROR",
            _ => "DISCONNECTED",
        }
    }
}

/// What the API shows about a running camera.
#[derive(Debug, Clone, Serialize)]
pub struct CameraStatus {
    pub state: CameraState,
    /// Wall-clock ms of the last state change.
    pub since_ms: i64,
    pub error: Option<String>,
    /// Pipeline rebuilds since the appliance started.
    pub restarts: u32,
    /// The encoder element in use, or `none (passthrough)` for encoded sources.
    pub encoder: Option<String>,
    /// Measured over the last seconds.
    pub fps: f64,
    pub bitrate_kbps: f64,
    pub width: Option<u32>,
    pub height: Option<u32>,
    /// What the camera's stream carries, once known (an RTSP camera says when it answers).
    pub codec: Option<VideoCodec>,
    /// The audio the camera sends, if any (kept as AAC in recordings and RTSP).
    pub audio: Option<AudioCodec>,
    /// The AAC's bitrate as it flows (after encoding, for G.711).
    pub audio_bitrate_kbps: f64,
}

/// Settings the runner needs from the configuration.
#[derive(Debug, Clone)]
pub struct RunnerSettings {
    pub encoder: Encoder,
    pub keyframe_ms: u32,
    pub default_width: u32,
    pub default_height: u32,
    pub default_fps: u32,
    pub default_bitrate_kbps: u32,
    pub preview_fps: u32,
    pub preview_width: u32,
    pub detect_fps: u32,
    pub detect_width: u32,
    /// Decoders for previews and detection of cameras that deliver H.264 or H.265.
    pub decoders: Decoders,
    pub stall_timeout: Duration,
    pub rtsp_tcp: bool,
    pub rtsp_client: RtspClient,
    pub overlay: bool,
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
}

/// A camera's shared state.
#[derive(Debug)]
pub struct CameraHandle {
    pub id: String,
    pub def: RwLock<Camera>,
    /// RTSP password, already unsealed (never logged).
    pub password: RwLock<Option<pinhole_db::secrets::SecretString>>,
    pub hub: Hub,
    /// The camera's audio as AAC, when it sends audio (IP cameras).
    pub audio: Hub,
    /// JPEG frames: live preview and snapshots.
    pub preview: Arc<Preview>,
    /// Packed RGB frames at `media.detect_fps` and `media.detect_width` for the detector;
    /// leaky, so detection can never slow capture or recording.
    pub detect: Arc<Preview>,
    /// Its events as ONVIF metadata, for the RTSP media playing `/<id>/metadata`.
    pub metadata: crate::metadata::MetadataFeed,
    status: Mutex<CameraStatus>,
    pub frames: AtomicU64,
    pub bytes: AtomicU64,
    /// Bytes of AAC on the audio hub.
    audio_bytes: AtomicU64,
    /// ms since `epoch` of the last H.264 frame.
    last_frame: AtomicI64,
    /// ms since `epoch` of the last audio frame.
    last_audio_frame: AtomicI64,
    epoch: Instant,
    /// The video appsink's pad of the running pipeline, for keyframe requests.
    video_pad: Mutex<Option<gst::Pad>>,
    /// The codec of the last pipeline that streamed: the RTSP mount and the on-demand decoders
    /// follow it when a camera comes back with another one.
    last_codec: Mutex<Option<VideoCodec>>,
    /// The running pipeline's audio: what the camera sends and the `audio` appsink's pad.
    audio_in: Mutex<Option<(AudioCodec, gst::Pad)>>,
    /// The audio of the last pipeline that streamed (the RTSP mount follows it).
    last_audio: Mutex<Option<AudioCodec>>,
    /// The hub caps of the audio the last pipeline streamed (for its sample rate while down).
    last_audio_caps: Mutex<Option<gst::Caps>>,
    last_keyframe_request: AtomicI64,
    /// Until then (monotonic ms) a keyframe is already on its way: requests are not needed.
    keyframe_due_until: AtomicI64,
    pub(crate) restart: Notify,
    pub(crate) cancel: CancellationToken,
    /// Whether the RTSP server serves this camera (`stop_streaming` turns it off; recording,
    /// snapshots and previews go on).
    pub rtsp_serving: std::sync::atomic::AtomicBool,
    /// The camera's sub stream, run like a camera of its own (`<id>/sub`), when it has one.
    pub(crate) sub: RwLock<Option<Arc<CameraHandle>>>,
    /// The picture adjustments, and the running pipeline's `videobalance` that applies them
    /// (where Pinhole encodes the picture).
    picture: Mutex<(Picture, Option<gst::Element>)>,
    /// The texts drawn on the picture, and the running pipeline's slots that draw them.
    osd: Arc<crate::osd::CameraOsd>,
    /// What Pinhole's RTSP client got from the camera before its first frame to start on.
    before_start: Arc<ingest::BeforeStart>,
    /// A V4L2 device was last found to give H.264 itself (known once a pipeline was built).
    v4l2_encodes: std::sync::atomic::AtomicBool,
}

/// Called on every state change (publishes events, updates metrics).
pub type StateListener = Arc<dyn Fn(&CameraHandle, &CameraStatus) + Send + Sync>;

impl CameraHandle {
    pub fn new(
        def: Camera,
        password: Option<pinhole_db::secrets::SecretString>,
        now_ms: i64,
        parent: &CancellationToken,
    ) -> Self {
        let state = if def.enabled {
            CameraState::Starting
        } else {
            CameraState::Disabled
        };
        Self {
            id: def.id.clone(),
            def: RwLock::new(def),
            password: RwLock::new(password),
            hub: Hub::default(),
            audio: Hub::default(),
            preview: Arc::new(Preview::default()),
            detect: Arc::new(Preview::default()),
            metadata: Default::default(),
            status: Mutex::new(CameraStatus {
                state,
                since_ms: now_ms,
                error: None,
                restarts: 0,
                encoder: None,
                fps: 0.0,
                bitrate_kbps: 0.0,
                width: None,
                height: None,
                codec: None,
                audio: None,
                audio_bitrate_kbps: 0.0,
            }),
            frames: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            audio_bytes: AtomicU64::new(0),
            last_frame: AtomicI64::new(-1),
            last_audio_frame: AtomicI64::new(-1),
            epoch: Instant::now(),
            video_pad: Mutex::new(None),
            picture: Mutex::new((Picture::default(), None)),
            osd: Arc::default(),
            v4l2_encodes: std::sync::atomic::AtomicBool::new(false),
            before_start: Arc::default(),
            last_codec: Mutex::new(None),
            audio_in: Mutex::new(None),
            last_audio: Mutex::new(None),
            last_audio_caps: Mutex::new(None),
            last_keyframe_request: AtomicI64::new(-10_000),
            keyframe_due_until: AtomicI64::new(-10_000),
            restart: Notify::new(),
            cancel: parent.child_token(),
            rtsp_serving: std::sync::atomic::AtomicBool::new(true),
            sub: RwLock::new(None),
        }
    }

    /// Whether the camera runs with this password.
    pub(crate) fn has_password(
        &self,
        password: Option<&pinhole_db::secrets::SecretString>,
    ) -> bool {
        self.password
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            == password
    }

    /// The sub stream's handle, when the camera has one.
    pub fn sub_stream(&self) -> Option<Arc<CameraHandle>> {
        self.sub.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// What previews, snapshots and detection decode: the sub stream while it streams (a
    /// fraction of the main stream's decoding work), else the main stream.
    pub fn decode_source(self: &Arc<Self>) -> Arc<CameraHandle> {
        self.sub_stream()
            .filter(|s| s.codec().is_some())
            .unwrap_or_else(|| self.clone())
    }

    pub fn definition(&self) -> Camera {
        self.def.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn status(&self) -> CameraStatus {
        self.status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn mono_ms(&self) -> i64 {
        self.epoch.elapsed().as_millis() as i64
    }

    /// Whether `last` (ms since `epoch`, -1 for never) is within `within` of now.
    fn recent(&self, last: &AtomicI64, within: std::time::Duration) -> bool {
        let last = last.load(Ordering::Relaxed);
        last >= 0 && self.mono_ms() - last <= within.as_millis() as i64
    }

    /// Whether an audio frame came within `within`.
    pub fn audio_flowing(&self, within: std::time::Duration) -> bool {
        self.recent(&self.last_audio_frame, within)
    }

    /// The caps of the camera's audio when a frame of it came within [`AUDIO_RECENT`]: the
    /// audio a live muxer starting now takes.
    pub fn flowing_audio_caps(&self) -> Option<gst::Caps> {
        self.audio_flowing(AUDIO_RECENT)
            .then(|| self.audio_caps())
            .flatten()
    }

    /// Sets the picture adjustments; the running pipeline takes them at once, a pipeline built
    /// later at its start.
    pub fn set_picture(&self, picture: Picture) {
        let mut p = self.picture.lock().unwrap_or_else(|p| p.into_inner());
        p.0 = picture;
        if let Some(e) = &p.1 {
            apply_picture(e, &picture);
        }
    }

    /// Whether Pinhole makes this camera's picture (and so can adjust it): every source but an
    /// IP camera's stream and a V4L2 device's own H.264, which are relayed as they come.
    pub fn adjusts_picture(&self) -> bool {
        // A pipeline making the picture says so. Without one (not running, a relay, or between
        // two pipelines while one is rebuilt for its first text, its status still streaming):
        // what its kind says, and for a V4L2 device what it gave last time.
        self.draws_picture()
            || match self.definition().source {
                SourceKind::Rtsp => false,
                SourceKind::V4l2 => !self.v4l2_encodes.load(Ordering::Relaxed),
                _ => true,
            }
    }

    /// Sets the texts drawn on the picture, in the device's time zone `tz`. The running
    /// pipeline shows them from its next frame; one built without texts is rebuilt with them
    /// (a camera's first text).
    pub fn set_osd(&self, texts: Vec<pinhole_base::osd::OsdText>, tz: jiff::tz::TimeZone) {
        self.osd.set(texts, tz);
        self.rebuild_for_texts();
    }

    /// A pipeline of Pinhole's own picture without the slots its texts need is built again
    /// with them.
    fn rebuild_for_texts(&self) {
        if self.osd.lacks_slots() && self.draws_picture() && crate::osd::available() {
            self.restart.notify_one();
        }
    }

    /// Whether the running pipeline makes the picture (its `videobalance` is attached).
    fn draws_picture(&self) -> bool {
        self.picture
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .1
            .is_some()
    }

    fn attach_picture(&self, element: Option<gst::Element>) {
        let mut p = self.picture.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = &element {
            apply_picture(e, &p.0);
        }
        p.1 = element;
    }

    /// Whether a video frame came within `within`.
    pub fn video_flowing(&self, within: std::time::Duration) -> bool {
        self.recent(&self.last_frame, within)
    }

    /// The caps of the camera's video (with `codec_data`), once the pipeline has negotiated.
    pub fn video_caps(&self) -> Option<gst::Caps> {
        self.video_pad
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .and_then(|p| p.current_caps())
    }

    /// The codec of the running pipeline's video, once negotiated.
    pub fn codec(&self) -> Option<VideoCodec> {
        let caps = self.video_caps()?;
        VideoCodec::from_media_type(caps.structure(0)?.name())
    }

    /// The picture size of the running pipeline's video, once negotiated.
    pub(crate) fn video_size(&self) -> Option<(u32, u32)> {
        let caps = self.video_caps()?;
        let s = caps.structure(0)?;
        let dim = |k: &str| s.get::<i32>(k).ok().and_then(|v| u32::try_from(v).ok());
        Some((dim("width")?, dim("height")?))
    }

    /// The codec the camera streamed last (running or not).
    pub fn last_codec(&self) -> Option<VideoCodec> {
        *self.last_codec.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records the codec of a pipeline that streams; returns the one before it.
    pub(crate) fn set_last_codec(&self, codec: VideoCodec) -> Option<VideoCodec> {
        self.last_codec
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .replace(codec)
    }

    /// The caps of the camera's audio on its hub (AAC with `codec_data`), once it flows.
    pub fn audio_caps(&self) -> Option<gst::Caps> {
        self.audio_in
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .and_then(|(_, p)| p.current_caps())
    }

    /// A number in the caps of the camera's audio on its hub: as it flows, else as it last
    /// flowed.
    fn audio_caps_number(&self, field: &str) -> Option<u32> {
        let caps = self.audio_caps().or_else(|| {
            self.last_audio_caps
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone()
        })?;
        let n = caps.structure(0)?.get::<i32>(field).ok()?;
        u32::try_from(n).ok()
    }

    /// The sample rate of the camera's audio.
    pub fn audio_rate(&self) -> Option<u32> {
        self.audio_caps_number("rate")
    }

    /// The channels of the camera's audio.
    pub fn audio_channels(&self) -> Option<u32> {
        self.audio_caps_number("channels")
    }

    /// The audio the running pipeline receives from the camera.
    pub fn audio_codec(&self) -> Option<AudioCodec> {
        self.audio_in
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|(c, _)| *c)
    }

    /// The audio of the last pipeline that streamed.
    pub fn last_audio(&self) -> Option<AudioCodec> {
        *self.last_audio.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records the audio of a pipeline that streams; returns the one before it.
    pub(crate) fn set_last_audio(&self, audio: Option<AudioCodec>) -> Option<AudioCodec> {
        std::mem::replace(
            &mut *self.last_audio.lock().unwrap_or_else(|p| p.into_inner()),
            audio,
        )
    }

    /// A consumer just attached and waits for a keyframe, which the producer asks the encoder
    /// for by itself: a `request_keyframe` in the next 2 s (the same client's PLAY, however slow
    /// its handshake) would only add a second keyframe right behind it.
    pub fn keyframe_on_its_way(&self) {
        self.keyframe_due_until
            .store(self.mono_ms() + 2000, Ordering::Relaxed);
    }

    /// Asks the encoder for a keyframe (a new RTSP client is joining); at most every 500 ms.
    pub fn request_keyframe(&self) {
        let now = self.mono_ms();
        let last = self.last_keyframe_request.load(Ordering::Relaxed);
        if now - last < 500 || now < self.keyframe_due_until.load(Ordering::Relaxed) {
            return;
        }
        self.last_keyframe_request.store(now, Ordering::Relaxed);
        let pad = self
            .video_pad
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some(pad) = pad {
            super::hub::ask_for_keyframe(&pad);
        }
    }

    fn update(&self, listener: &StateListener, now_ms: i64, f: impl FnOnce(&mut CameraStatus)) {
        let (changed, snapshot) = {
            let mut s = self.status.lock().unwrap_or_else(|p| p.into_inner());
            let before = (s.state, s.error.clone());
            f(&mut s);
            let changed = before != (s.state, s.error.clone());
            if changed {
                s.since_ms = now_ms;
            }
            (changed, s.clone())
        };
        if changed {
            listener(self, &snapshot);
        }
    }
}

/// Why a running pipeline ended.
enum Ended {
    Stop,
    Restart,
    Failed(String),
}

fn backoff_delay(s: &RunnerSettings, failures: u32) -> Duration {
    let factor = 2u32.saturating_pow(failures.saturating_sub(1).min(16));
    s.backoff_initial.saturating_mul(factor).min(s.backoff_max)
}

/// Runs one camera until cancelled.
pub async fn run(
    cam: Arc<CameraHandle>,
    settings: RunnerSettings,
    clock: pinhole_base::clock::SharedClock,
    listener: StateListener,
) {
    let mut failures = 0u32;
    loop {
        if cam.cancel.is_cancelled() {
            break;
        }
        let def = cam.definition();
        if !def.enabled {
            cam.update(&listener, clock.now_ms(), |s| {
                s.state = CameraState::Disabled;
                s.error = None;
                s.fps = 0.0;
                s.bitrate_kbps = 0.0;
                s.audio_bitrate_kbps = 0.0;
            });
            tokio::select! {
                _ = cam.cancel.cancelled() => break,
                _ = cam.restart.notified() => continue,
            }
        }
        cam.update(&listener, clock.now_ms(), |s| {
            if s.state != CameraState::Reconnecting && s.state != CameraState::Failed {
                s.state = CameraState::Starting;
            }
        });
        let ended = match open(&cam, &settings).await {
            Ok(mut running) => {
                let ended = supervise(
                    &cam,
                    &mut running,
                    &settings,
                    clock.as_ref(),
                    &listener,
                    &mut failures,
                )
                .await;
                if let Some(feeder) = running.feeder.take() {
                    feeder.abort();
                }
                cam.hub.set_producer(None);
                cam.audio.set_producer(None);
                let audio_in = cam
                    .audio_in
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .take();
                if let Some(caps) = audio_in.and_then(|(_, pad)| pad.current_caps()) {
                    *cam.last_audio_caps
                        .lock()
                        .unwrap_or_else(|p| p.into_inner()) = Some(caps);
                }
                cam.preview.set_valve(None);
                cam.detect.set_valve(None);
                cam.attach_picture(None);
                cam.osd.detach();
                *cam.video_pad.lock().unwrap_or_else(|p| p.into_inner()) = None;
                let pipeline = running.pipeline.clone();
                let _ = tokio::task::spawn_blocking(move || {
                    let r = pipeline.set_state(gst::State::Null);
                    drop(pipeline);
                    r
                })
                .await;
                drop(running);
                // A rebuild's old pipeline goes back to the system, not only to the allocator.
                pinhole_sys::return_free_memory();
                ended
            }
            Err(reason) => Ended::Failed(reason),
        };
        match ended {
            Ended::Stop => break,
            Ended::Restart => {
                failures = 0;
                continue;
            }
            Ended::Failed(reason) => {
                failures += 1;
                let delay = backoff_delay(&settings, failures);
                tracing::warn!(camera = %cam.id, reason = %reason, retry_in_ms = delay.as_millis() as u64, failures, "camera pipeline failed");
                cam.update(&listener, clock.now_ms(), |s| {
                    s.state = if failures >= 5 {
                        CameraState::Failed
                    } else {
                        CameraState::Reconnecting
                    };
                    s.error = Some(reason);
                    s.restarts += 1;
                    s.fps = 0.0;
                    s.bitrate_kbps = 0.0;
                    s.audio_bitrate_kbps = 0.0;
                });
                tokio::select! {
                    _ = cam.cancel.cancelled() => break,
                    _ = cam.restart.notified() => { failures = 0; }
                    _ = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
    cam.hub.set_producer(None);
    cam.audio.set_producer(None);
}

struct Running {
    pipeline: gst::Pipeline,
    /// Pinhole's own RTSP client feeding the pipeline; ends with the reason it stopped.
    feeder: Option<tokio::task::JoinHandle<String>>,
}

/// Does Pinhole's own RTSP client play this camera (rather than rtspsrc)?
fn plays_itself(def: &Camera, settings: &RunnerSettings) -> bool {
    def.source == SourceKind::Rtsp
        && settings.rtsp_client == RtspClient::Retina
        && def.url.starts_with("rtsp://")
}

/// Connects an IP camera (with Pinhole's own client), then builds and starts the pipeline.
async fn open(cam: &Arc<CameraHandle>, settings: &RunnerSettings) -> Result<Running, String> {
    let def = cam.definition();
    let playing = if plays_itself(&def, settings) {
        let password = cam
            .password
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|p| p.expose().to_string());
        let creds = def
            .username
            .clone()
            .map(|u| (u, password.unwrap_or_default()));
        let timeout = (settings.stall_timeout * 2).max(Duration::from_secs(10));
        Some(ingest::connect(&def.url, creds, settings.rtsp_tcp, timeout).await?)
    } else {
        None
    };
    let connected = playing.is_some();
    let mut running = {
        let cam = cam.clone();
        let settings = settings.clone();
        tokio::task::spawn_blocking(move || build(&cam, &settings, connected))
            .await
            .map_err(|e| format!("pipeline task panicked: {e}"))?
            .map_err(|e| e.to_string())?
    };
    if let Some(playing) = playing {
        tracing::info!(camera = %cam.id, codec = playing.codec.as_str(), audio = ?playing.audio_codec(), "playing the camera with Pinhole's RTSP client");
        let sink = running
            .pipeline
            .by_name("video")
            .and_then(|e| e.static_pad("sink"))
            .ok_or("the pipeline has no video appsink")?;
        let audio = playing.audio_codec().and_then(|codec| {
            let chain = codec.hub_chain(super::pipeline::aac_encoder()?);
            add_audio_branch(&running.pipeline, cam, &chain, codec)
                .inspect_err(|e| tracing::warn!(camera = %cam.id, error = %e, "the camera's audio is left out"))
                .ok()
        });
        running.feeder = Some(tokio::spawn(ingest::feed(
            playing,
            sink,
            audio,
            cam.before_start.clone(),
        )));
    }
    Ok(running)
}

/// Waits for the feeder to end (forever when there is none).
async fn feeder_ended(feeder: &mut Option<tokio::task::JoinHandle<String>>) -> String {
    match feeder {
        Some(f) => f
            .await
            .unwrap_or_else(|e| format!("the camera's reader stopped: {e}")),
        None => std::future::pending().await,
    }
}

/// Why a capture pipeline could not be built or started. The text becomes the camera's status
/// `error`, so it says what is missing and where.
#[derive(Debug, thiserror::Error)]
enum BuildError {
    #[error("{element} is not available ({package})")]
    MissingElement {
        element: &'static str,
        package: &'static str,
    },
    #[error("cannot open {device}: no such device, or it is busy")]
    DeviceUnavailable { device: String },
    #[error("cannot build the pipeline: {0}")]
    Parse(String),
    /// The pipeline description lacks an element the code relies on (a bug, not the camera).
    #[error("the pipeline has no {0}")]
    Missing(String),
    #[error("cannot start: {0}")]
    Start(String),
}

/// What a V4L2 device offers, asked from the device itself through a short-lived v4l2src.
fn probe_v4l2(device: &str) -> Result<DeviceFormat, BuildError> {
    let src = gst::ElementFactory::make("v4l2src")
        .property("device", device)
        .build()
        .map_err(|_| BuildError::MissingElement {
            element: "v4l2src",
            package: "gstreamer1.0-plugins-good",
        })?;
    src.set_state(gst::State::Ready)
        .map_err(|_| BuildError::DeviceUnavailable {
            device: device.to_string(),
        })?;
    let caps = src.static_pad("src").map(|p| p.query_caps(None));
    let _ = src.set_state(gst::State::Null);
    let caps = caps.ok_or_else(|| BuildError::Missing("v4l2src src pad".into()))?;
    let has = |name: &str| caps.iter().any(|s| s.name() == name);
    Ok(if has("video/x-h264") {
        DeviceFormat::H264
    } else if has("image/jpeg") {
        DeviceFormat::Mjpeg
    } else {
        DeviceFormat::Raw
    })
}

fn spec_for(def: &Camera, s: &RunnerSettings) -> Result<CaptureSpec, BuildError> {
    let source = def.source;
    let device_format = if source == SourceKind::V4l2 {
        probe_v4l2(&def.url)?
    } else {
        DeviceFormat::Raw
    };
    Ok(CaptureSpec {
        source,
        device_format,
        width: def.width.unwrap_or(s.default_width),
        height: def.height.unwrap_or(s.default_height),
        fps: def.fps.unwrap_or(s.default_fps),
        bitrate_kbps: def.bitrate_kbps.unwrap_or(s.default_bitrate_kbps),
        keyframe_ms: def.keyframe_ms.unwrap_or(s.keyframe_ms),
        encoder: s.encoder,
        preview_fps: s.preview_fps,
        preview_width: s.preview_width,
        detect_fps: s.detect_fps,
        detect_width: s.detect_width,
        overlay: s.overlay,
        rtsp_tcp: s.rtsp_tcp,
        connected: false,
        test_image: source == SourceKind::Test && !def.url.is_empty(),
        source_size: source == SourceKind::Mjpeg && (def.width.is_none() || def.height.is_none()),
        osd: false,
    })
}

/// Links one stream of an RTSP camera as it appears: the first video stream through the
/// depayloader and parser of its codec to the `video` appsink, the first audio stream Pinhole
/// keeps to the audio hub; others (a second video, audio it cannot carry) to a fakesink, so
/// rtspsrc never sees them unlinked.
fn link_rtp_stream(
    pipeline: &gst::Pipeline,
    cam: &Arc<CameraHandle>,
    pad: &gst::Pad,
) -> Result<(), String> {
    let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
    let field = |k: &str| {
        caps.structure(0)
            .and_then(|s| s.get::<String>(k).ok())
            .unwrap_or_default()
    };
    let (media, encoding) = (field("media"), field("encoding-name"));
    if media == "audio"
        && cam.audio_codec().is_none()
        && let Some(codec) = AudioCodec::from_encoding_name(&encoding)
        && let Some(aac) = super::pipeline::aac_encoder()
    {
        match add_audio_branch(pipeline, cam, &codec.depay_chain(aac), codec)
            .and_then(|input| pad.link(&input).map_err(|e| e.to_string()))
        {
            Ok(_) => return Ok(()),
            Err(e) => {
                tracing::warn!(camera = %cam.id, error = %e, "the camera's audio is left out")
            }
        }
    }
    let sink = pipeline
        .by_name("video")
        .and_then(|e| e.static_pad("sink"))
        .ok_or("the pipeline has no video appsink")?;
    let chain = if media == "video" && !sink.is_linked() {
        let codec = VideoCodec::from_encoding_name(&encoding).ok_or_else(|| {
            format!("the camera sends {encoding} video; Pinhole relays H.264 and H.265")
        })?;
        codec.depay_chain()
    } else {
        "fakesink sync=false async=false".to_string()
    };
    let bin = gst::parse::bin_from_description(&chain, true).map_err(|e| e.to_string())?;
    pipeline.add(&bin).map_err(|e| e.to_string())?;
    let linked = (|| {
        let input = bin.static_pad("sink").ok_or("no sink pad")?;
        pad.link(&input).map_err(|e| e.to_string())?;
        if let Some(out) = bin.static_pad("src") {
            out.link(&sink).map_err(|e| e.to_string())?;
        }
        bin.sync_state_with_parent().map_err(|e| e.to_string())?;
        Ok::<_, String>(())
    })();
    linked.map_err(|e| format!("cannot link the camera's {media} stream ({encoding}): {e}"))
}

/// Adds the branch that brings the camera's audio (`chain`, ending in the appsink `audio`) to
/// the audio hub, started; returns the branch's input.
fn add_audio_branch(
    pipeline: &gst::Pipeline,
    cam: &Arc<CameraHandle>,
    chain: &str,
    codec: AudioCodec,
) -> Result<gst::Pad, String> {
    let bin = gst::parse::bin_from_description(chain, true).map_err(|e| e.to_string())?;
    let sink = crate::element::<gst_app::AppSink>(&bin, "audio")
        .ok_or("the audio branch has no appsink")?;
    let input = bin
        .static_pad("sink")
        .ok_or("the audio branch has no input")?;
    let sink_pad = sink
        .static_pad("sink")
        .ok_or("the audio appsink has no pad")?;
    {
        let counted = Arc::downgrade(cam);
        sink_pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            if let (Some(b), Some(cam)) = (info.buffer(), counted.upgrade()) {
                cam.audio_bytes
                    .fetch_add(b.size() as u64, Ordering::Relaxed);
                cam.last_audio_frame.store(cam.mono_ms(), Ordering::Relaxed);
            }
            gst::PadProbeReturn::Ok
        });
    }
    pipeline.add(&bin).map_err(|e| e.to_string())?;
    let producer = Hub::producer(&sink);
    if let Err(e) = bin.sync_state_with_parent() {
        let _ = pipeline.remove(&bin);
        return Err(format!("cannot start the audio branch: {e}"));
    }
    *cam.audio_in.lock().unwrap_or_else(|p| p.into_inner()) = Some((codec, sink_pad));
    cam.audio.set_producer(Some(producer));
    Ok(input)
}

/// A network source's URL and the camera's credentials (rtspsrc and souphttpsrc name them
/// alike; the password is never part of the URL).
fn set_location_and_credentials(src: &gst::Element, cam: &CameraHandle, def: &Camera) {
    src.set_property("location", &def.url);
    if let Some(u) = &def.username {
        src.set_property("user-id", u);
    }
    if let Some(p) = cam
        .password
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
    {
        src.set_property("user-pw", p.expose());
    }
}

fn appsink(pipeline: &gst::Pipeline, name: &str) -> Result<gst_app::AppSink, BuildError> {
    crate::element::<gst_app::AppSink>(pipeline, name)
        .ok_or_else(|| BuildError::Missing(format!("appsink `{name}`")))
}

/// Builds and starts the capture pipeline (blocking: parsing and state changes may wait on
/// devices).
fn build(
    cam: &Arc<CameraHandle>,
    settings: &RunnerSettings,
    connected: bool,
) -> Result<Running, BuildError> {
    let def = cam.definition();
    let mut spec = spec_for(&def, settings)?;
    spec.connected = connected;
    spec.osd = cam.osd.wants_slots() && crate::osd::available();
    let launch = spec.launch();
    tracing::debug!(camera = %cam.id, %launch, "building capture pipeline");
    let pipeline = match gst::parse::launch(&launch)
        .map_err(|e| BuildError::Parse(e.to_string()))?
        .downcast::<gst::Pipeline>()
    {
        Ok(p) => p,
        // One element (the appsink Pinhole's RTSP client feeds) comes back bare.
        Err(element) => {
            let p = gst::Pipeline::new();
            p.add(&element)
                .map_err(|e| BuildError::Parse(e.to_string()))?;
            p
        }
    };
    pipeline.set_property("name", format!("capture-{}", cam.id));
    super::adopt_shared_clock(&pipeline);

    let src = || {
        pipeline
            .by_name("src")
            .ok_or_else(|| BuildError::Missing("source element".into()))
    };
    match spec.source {
        SourceKind::Rtsp if connected => {}
        SourceKind::Rtsp => {
            let src = src()?;
            set_location_and_credentials(&src, cam, &def);
            // Notice a dead TCP connection sooner than the 20 s default; the data watchdog
            // covers a camera that is alive but silent.
            src.set_property("tcp-timeout", 10_000_000u64);
            let bin = pipeline.downgrade();
            let camera = Arc::downgrade(cam);
            src.connect_pad_added(move |src, pad| {
                let (Some(pipeline), Some(cam)) = (bin.upgrade(), camera.upgrade()) else {
                    return;
                };
                if let Err(e) = link_rtp_stream(&pipeline, &cam, pad) {
                    let msg = gst::message::Error::builder(gst::StreamError::CodecNotFound, &e)
                        .src(src)
                        .build();
                    let _ = src.post_message(msg);
                }
            });
        }
        SourceKind::Mjpeg => {
            let src = src()?;
            set_location_and_credentials(&src, cam, &def);
            src.set_property("timeout", 10u32);
        }
        SourceKind::V4l2 => src()?.set_property("device", &def.url),
        SourceKind::Test if !def.url.is_empty() => src()?.set_property("location", &def.url),
        _ => {}
    }

    let video = appsink(&pipeline, "video")?;
    let producer = Hub::producer(&video);
    let sink_pad = video
        .static_pad("sink")
        .ok_or_else(|| BuildError::Missing("sink pad on appsink `video`".into()))?;
    {
        let cam = cam.clone();
        sink_pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
            if let Some(buf) = info.buffer() {
                cam.hub.cache_buffer(pad, buf);
                cam.frames.fetch_add(1, Ordering::Relaxed);
                cam.bytes.fetch_add(buf.size() as u64, Ordering::Relaxed);
                cam.last_frame.store(cam.mono_ms(), Ordering::Relaxed);
            }
            gst::PadProbeReturn::Ok
        });
    }

    let encoded = spec.is_encoded();
    if spec.source == SourceKind::V4l2 {
        cam.v4l2_encodes.store(encoded, Ordering::Relaxed);
    }
    if encoded {
        // Preview and detector frames come from decoders started on demand on the hub.
        cam.preview.set_valve(None);
        cam.detect.set_valve(None);
        if !cam.preview.has_on_demand() {
            let out = decode::Output {
                fps: settings.preview_fps,
                width: settings.preview_width,
                jpeg: true,
            };
            cam.preview.set_on_demand(Some(decode::hook(
                Arc::downgrade(cam),
                Arc::downgrade(&cam.preview),
                out,
                settings.decoders,
            )));
        }
        if !cam.detect.has_on_demand() {
            let out = decode::Output {
                fps: settings.detect_fps,
                width: settings.detect_width,
                jpeg: false,
            };
            cam.detect.set_on_demand(Some(decode::hook(
                Arc::downgrade(cam),
                Arc::downgrade(&cam.detect),
                out,
                settings.decoders,
            )));
        }
    } else {
        cam.preview.set_on_demand(None);
        cam.detect.set_on_demand(None);
        cam.preview.set_valve(pipeline.by_name("previewgate"));
        connect_tap(&appsink(&pipeline, "jpeg")?, cam.preview.clone(), false);
        cam.detect.set_valve(pipeline.by_name("detectgate"));
        connect_tap(&appsink(&pipeline, "detect")?, cam.detect.clone(), true);
    }
    cam.attach_picture(pipeline.by_name("picture"));
    cam.osd.attach(&pipeline);
    // Texts set while this pipeline was being built without slots: build it again with them.
    cam.rebuild_for_texts();

    if let Err(e) = pipeline.set_state(gst::State::Playing) {
        let detail = pipeline
            .bus()
            .and_then(|b| b.pop_filtered(&[gst::MessageType::Error]))
            .map(|m| describe(&m))
            .unwrap_or_else(|| e.to_string());
        let _ = pipeline.set_state(gst::State::Null);
        return Err(BuildError::Start(detail));
    }
    *cam.video_pad.lock().unwrap_or_else(|p| p.into_inner()) = Some(sink_pad);
    cam.hub.set_producer(Some(producer));
    {
        let mut s = cam.status.lock().unwrap_or_else(|p| p.into_inner());
        s.encoder = Some(if encoded {
            "none (passthrough)".into()
        } else {
            spec.encoder.element().into()
        });
        s.width = Some(spec.width);
        s.height = Some(spec.height);
        // Raw sources are encoded here; what an encoded source carries shows once it flows.
        s.codec = (!encoded).then_some(VideoCodec::H264);
    }
    Ok(Running {
        pipeline,
        feeder: None,
    })
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Feeds a tap from an appsink. `rgb`: packed RGB frames, re-packed without row padding.
pub(crate) fn connect_tap(sink: &gst_app::AppSink, tap: Arc<Preview>, rgb: bool) {
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |sink| {
                let sample = sink.pull_sample().map_err(|_| gst::FlowError::Flushing)?;
                let (Some(buf), Some(caps)) = (sample.buffer(), sample.caps()) else {
                    return Ok(gst::FlowSuccess::Ok);
                };
                let s = caps.structure(0);
                let dim = |k: &str| s.and_then(|s| s.get::<i32>(k).ok()).unwrap_or(0).max(0) as u32;
                let (w, h) = (dim("width"), dim("height"));
                let Ok(map) = buf.map_readable() else {
                    return Ok(gst::FlowSuccess::Ok);
                };
                let data = if rgb {
                    let row = w as usize * 3;
                    let stride = gst_video::VideoInfo::from_caps(caps)
                        .map(|i| i.stride()[0].max(0) as usize)
                        .unwrap_or(row);
                    if stride == row {
                        bytes::Bytes::copy_from_slice(map.as_slice())
                    } else {
                        let mut out = Vec::with_capacity(row * h as usize);
                        for r in map.as_slice().chunks(stride).take(h as usize) {
                            out.extend_from_slice(&r[..row.min(r.len())]);
                        }
                        bytes::Bytes::from(out)
                    }
                } else {
                    bytes::Bytes::copy_from_slice(map.as_slice())
                };
                tap.publish(data, w, h, now_ms());
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
}

/// A bus message as one line: the element and the error.
fn describe(m: &gst::Message) -> String {
    let src = m
        .src()
        .map(|s| s.path_string().to_string())
        .unwrap_or_default();
    match m.view() {
        gst::MessageView::Error(e) => {
            format!("{}: {}", src.rsplit('/').next().unwrap_or(&src), e.error())
        }
        gst::MessageView::Warning(w) => {
            format!("{}: {}", src.rsplit('/').next().unwrap_or(&src), w.error())
        }
        _ => format!("{:?} from {src}", m.type_()),
    }
}

async fn supervise(
    cam: &Arc<CameraHandle>,
    running: &mut Running,
    settings: &RunnerSettings,
    clock: &dyn pinhole_base::clock::Clock,
    listener: &StateListener,
    failures: &mut u32,
) -> Ended {
    use futures_util::StreamExt;
    let Some(bus) = running.pipeline.bus() else {
        return Ended::Failed("pipeline has no bus".into());
    };
    let mut messages = bus.stream();
    let started = cam.mono_ms();
    let frames_at_start = cam.frames.load(Ordering::Relaxed);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let counters = || {
        (
            cam.frames.load(Ordering::Relaxed),
            cam.bytes.load(Ordering::Relaxed),
            cam.audio_bytes.load(Ordering::Relaxed),
        )
    };
    let mut window = (counters(), Instant::now());
    let stall_ms = settings.stall_timeout.as_millis() as i64;
    let mut streaming_since: Option<i64> = None;
    loop {
        tokio::select! {
            _ = cam.cancel.cancelled() => return Ended::Stop,
            _ = cam.restart.notified() => return Ended::Restart,
            reason = feeder_ended(&mut running.feeder) => return Ended::Failed(reason),
            msg = messages.next() => {
                let Some(msg) = msg else { return Ended::Failed("bus closed".into()) };
                match msg.view() {
                    gst::MessageView::Error(_) => return Ended::Failed(describe(&msg)),
                    gst::MessageView::Eos(_) => return Ended::Failed("the source ended the stream".into()),
                    gst::MessageView::Warning(_) => tracing::info!(camera = %cam.id, warning = %describe(&msg), "pipeline warning"),
                    _ => {}
                }
            }
            _ = tick.tick() => {
                let now = cam.mono_ms();
                let last = cam.last_frame.load(Ordering::Relaxed);
                let got_frames = cam.frames.load(Ordering::Relaxed) > frames_at_start;
                // The first frame may take longer (RTSP connection, sensor start).
                if !got_frames && now - started > stall_ms * 2 {
                    let mut reason = format!("no frame within {} s of starting", stall_ms * 2 / 1000);
                    if running.feeder.is_some() {
                        reason = format!("{reason}: {}", cam.before_start.explain());
                    }
                    return Ended::Failed(reason);
                }
                if got_frames && now - last > stall_ms {
                    return Ended::Failed(format!("no frame for {} s (stalled)", (now - last) / 1000));
                }
                let ((f0, b0, a0), t0) = window;
                let (f1, b1, a1) = counters();
                let dt = t0.elapsed().as_secs_f64().max(0.001);
                if dt >= 2.0 {
                    window = ((f1, b1, a1), Instant::now());
                }
                if got_frames {
                    let since = *streaming_since.get_or_insert(now);
                    if now - since > 30_000 {
                        *failures = 0;
                    }
                    let fps = (f1 - f0) as f64 / dt;
                    let kbps = |bytes: u64| (bytes as f64 * 8.0 / 1000.0 / dt).round();
                    let (codec, size, audio) = (cam.codec(), cam.video_size(), cam.audio_codec());
                    cam.update(listener, clock.now_ms(), |s| {
                        s.state = CameraState::Streaming;
                        s.error = None;
                        s.codec = codec.or(s.codec);
                        s.audio = audio;
                        if let Some((w, h)) = size {
                            (s.width, s.height) = (Some(w), Some(h));
                        }
                        if dt >= 1.0 {
                            s.fps = (fps * 10.0).round() / 10.0;
                            s.bitrate_kbps = kbps(b1 - b0);
                            s.audio_bitrate_kbps = if audio.is_some() { kbps(a1.saturating_sub(a0)) } else { 0.0 };
                        }
                    });
                }
            }
        }
    }
}

/// `videobalance`'s settings for `p`: brightness -0.5..0.5, contrast and saturation 0..2, each
/// neutral at 50 (where the element passes frames through untouched).
pub fn balance_of(p: &Picture) -> (f64, f64, f64) {
    let scale = |v: u8| f64::from(v) / f64::from(pinhole_base::picture::NEUTRAL);
    (
        (f64::from(p.brightness) - f64::from(pinhole_base::picture::NEUTRAL)) / 100.0,
        scale(p.contrast),
        scale(p.saturation),
    )
}

fn apply_picture(e: &gst::Element, p: &Picture) {
    let (brightness, contrast, saturation) = balance_of(p);
    e.set_property("brightness", brightness);
    e.set_property("contrast", contrast);
    e.set_property("saturation", saturation);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_neutral_picture_leaves_the_balance_untouched_and_the_ends_reach_its_range() {
        assert_eq!(balance_of(&Picture::default()), (0.0, 1.0, 1.0));
        let low = Picture {
            brightness: 0,
            contrast: 0,
            saturation: 0,
        };
        assert_eq!(balance_of(&low), (-0.5, 0.0, 0.0));
        let high = Picture {
            brightness: 100,
            contrast: 100,
            saturation: 100,
        };
        assert_eq!(balance_of(&high), (0.5, 2.0, 2.0));
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let s = RunnerSettings {
            encoder: Encoder::X264,
            keyframe_ms: 1000,
            default_width: 640,
            default_height: 360,
            default_fps: 15,
            default_bitrate_kbps: 500,
            preview_fps: 5,
            preview_width: 320,
            detect_fps: 5,
            detect_width: 320,
            decoders: crate::pipeline::choose_decoders(|_| false),
            stall_timeout: Duration::from_secs(3),
            rtsp_tcp: true,
            rtsp_client: RtspClient::Retina,
            overlay: false,
            backoff_initial: Duration::from_millis(500),
            backoff_max: Duration::from_secs(10),
        };
        let d: Vec<_> = (1..=7).map(|n| backoff_delay(&s, n).as_millis()).collect();
        assert_eq!(d, vec![500, 1000, 2000, 4000, 8000, 10000, 10000]);
    }
}
