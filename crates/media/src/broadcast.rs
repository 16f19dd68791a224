//! Outputs to live platforms: a camera decoded, scaled, drawn over with overlays, encoded once,
//! with the camera's own audio (or silence, which platforms want rather than no audio) encoded
//! to AAC beside it, and sent to every destination of the stream (RTMP/RTMPS by Pinhole's own
//! publisher, [`crate::rtmp_publish`], SRT through `mpegtsmux ! srtsink`).
//!
//! The audio is a live `audiomixer` of a silent source and the camera's audio hub (decoded),
//! so the output's audio never stops: a camera without audio, or one whose audio drops, is
//! silence, and a program cut to another camera takes that camera's sound.
//!
//! The encoder pipeline produces into the video and audio [`Hub`]s, and its two appsinks also
//! feed the output's FLV tags ([`FlvFeed`]), made on the encoder's threads. Each RTMP
//! destination is a task on the async runtime that takes those tags from a channel and writes
//! them to its server, joining at a video keyframe; SRT destinations are pipelines that mux the
//! hubs' samples for themselves. So a destination that drops reconnects alone with backoff
//! while the others carry on; a second destination costs a socket and a channel, not an encode,
//! a muxer or a thread; and the encoder can be rebuilt (the camera changed codec, the overlay
//! set changed) while every destination's connection stays up.
//!
//! Overlay properties (text, position, size, opacity, pushed values) change live on the running
//! elements; only adding, removing or reordering overlays rebuilds the encoder pipeline.
//!
//! A program cut ([`Output::switch_to`]) moves the encoder's input from one camera's hub to
//! another's: the decoder, the overlays, the encoder and every destination's connection stay
//! as they are, and the new camera's picture starts at its next keyframe (asked for at once).

use crate::camera::CameraHandle;
use crate::flv::StreamInfo;
use crate::flv_feed::FlvFeed;
use crate::hub::{ConsumerId, Hub};
use crate::overlay_draw;
use crate::picture_layer::{PictureLayer, Placement};
use crate::pipeline::{Decoders, Encoder, aac_decoder, aac_encoder, decoder_launch};
use gst::prelude::*;
use pinhole_base::broadcast::{OverlayKind, Protocol, TextContext, render_text};
use serde::Serialize;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// One overlay as the encoder draws it.
#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    pub id: String,
    pub kind: OverlayKind,
    /// A text's template, a clock's strftime format.
    pub text: String,
    pub value: String,
    /// An image layer's checked PNG, where the output reads it, and its size.
    pub image: Option<(PathBuf, u32, u32)>,
    pub x: f64,
    pub y: f64,
    pub size: f64,
    pub opacity: f64,
}

/// What an output makes.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputPlan {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub bitrate_kbps: u32,
    /// Bottom first.
    pub layers: Vec<Layer>,
    pub camera_name: String,
    pub preset: String,
    /// The device's time zone (`general.timezone`) for clocks and `{time}`.
    pub timezone: String,
}

impl OutputPlan {
    /// The layers' shape: what a change must keep for it to apply without a rebuild.
    fn shape(&self) -> Vec<(String, OverlayKind, Option<PathBuf>)> {
        self.layers
            .iter()
            .map(|l| (l.id.clone(), l.kind, l.image.as_ref().map(|i| i.0.clone())))
            .collect()
    }
}

/// Where an output goes.
#[derive(Clone, PartialEq, Eq)]
pub struct Target {
    pub id: String,
    pub protocol: Protocol,
    /// With the stream key in it: never logged, never shown.
    pub publish_url: String,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("id", &self.id)
            .field("protocol", &self.protocol)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EncoderState {
    Starting,
    /// The camera is not streaming; the output waits for it.
    WaitingForCamera,
    Running,
    Failed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DestinationState {
    Connecting,
    Live,
    /// Dropped or refused; tried again after `retry_in_s`.
    Retrying,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DestinationStatus {
    pub id: String,
    pub state: DestinationState,
    /// Seconds live since the last (re)connection.
    pub uptime_s: u64,
    /// Connections tried since the stream started.
    pub attempts: u32,
    pub bitrate_kbps: u32,
    pub bytes_sent: u64,
    /// Video frames and audio blocks lost because the server took them slower than they came
    /// (the destination then resumes at the next keyframe).
    pub dropped_frames: u64,
    pub last_error: Option<String>,
    pub retry_in_s: Option<u64>,
}

impl DestinationStatus {
    fn connecting(id: &str) -> DestinationStatus {
        DestinationStatus {
            id: id.to_string(),
            state: DestinationState::Connecting,
            uptime_s: 0,
            attempts: 0,
            bitrate_kbps: 0,
            bytes_sent: 0,
            dropped_frames: 0,
            last_error: None,
            retry_in_s: None,
        }
    }
}

/// A destination's running connection task.
struct Connection {
    target: Target,
    cancel: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OutputStatus {
    /// The camera on air.
    pub on_air: String,
    /// The overlays drawn now (a program entry may have its own set).
    pub overlays: Vec<String>,
    pub encoder: EncoderState,
    pub uptime_s: u64,
    pub frames: u64,
    /// Frames dropped before the encoder because it could not keep up.
    pub dropped_frames: u64,
    pub last_error: Option<String>,
    pub destinations: Vec<DestinationStatus>,
}

/// Called with the stream's id whenever a state changes (events, metrics).
pub type OutputListener = Arc<dyn Fn(&str) + Send + Sync>;

struct Shared {
    encoder: EncoderState,
    last_error: Option<String>,
    destinations: Vec<DestinationStatus>,
}

/// A running output; [`Output::stop`] ends it.
pub struct Output {
    pub stream_id: String,
    /// The camera on air.
    camera: Mutex<Arc<CameraHandle>>,
    switch: tokio::sync::Notify,
    encoder: Encoder,
    decoders: Decoders,
    video: Hub,
    audio: Hub,
    /// FLV tags for the RTMP destinations.
    flv: Arc<FlvFeed>,
    /// The running encoder's video appsink pad, for keyframe requests.
    video_pad: Mutex<Option<gst::Pad>>,
    plan: Mutex<OutputPlan>,
    shared: Mutex<Shared>,
    frames: AtomicU64,
    dropped: AtomicU64,
    started: Instant,
    rebuild: tokio::sync::Notify,
    /// The running encoder's overlay layers, by layer id, for live changes.
    elements: Mutex<Vec<(String, LayerHandle)>>,
    /// The running encoder's fader, and how far it is faded (kept across encoder rebuilds).
    fader: Mutex<Option<gst::Element>>,
    fade_depth: Mutex<f64>,
    /// A crossfade in progress, shared with the encoder's probes.
    dissolve: Arc<Mutex<Dissolve>>,
    cancel: CancellationToken,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// Each destination's connection task, by destination id, with what it connects to and the
    /// token that ends it alone.
    connections: Mutex<Vec<Connection>>,
    /// Connections of destinations taken out, going down.
    ended: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    listener: OutputListener,
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Output")
            .field("stream_id", &self.stream_id)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The element for a protocol, when this system has it.
pub fn protocol_available(p: Protocol) -> Result<(), String> {
    let (sink, package) = match p {
        // Pinhole's own publisher.
        Protocol::Rtmp | Protocol::Rtmps => return Ok(()),
        Protocol::Srt => ("srtsink", "gstreamer1.0-plugins-bad with SRT"),
    };
    if gst::ElementFactory::find(sink).is_some() {
        Ok(())
    } else {
        Err(format!("{sink} is not available ({package})"))
    }
}

impl Output {
    /// Starts the encoder and one connection per target.
    pub fn start(
        stream_id: &str,
        camera: Arc<CameraHandle>,
        encoder: Encoder,
        decoders: Decoders,
        plan: OutputPlan,
        targets: Vec<Target>,
        listener: OutputListener,
    ) -> Arc<Output> {
        let out = Arc::new(Output {
            stream_id: stream_id.to_string(),
            camera: Mutex::new(camera),
            switch: tokio::sync::Notify::new(),
            encoder,
            decoders,
            video: Hub::default(),
            audio: Hub::default(),
            flv: Arc::new(FlvFeed::new(stream_info(&plan))),
            video_pad: Mutex::new(None),
            plan: Mutex::new(plan),
            shared: Mutex::new(Shared {
                encoder: EncoderState::Starting,
                last_error: None,
                destinations: Vec::new(),
            }),
            frames: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            started: Instant::now(),
            rebuild: tokio::sync::Notify::new(),
            elements: Mutex::new(Vec::new()),
            fader: Mutex::new(None),
            fade_depth: Mutex::new(0.0),
            dissolve: Arc::default(),
            cancel: CancellationToken::new(),
            tasks: Mutex::new(Vec::new()),
            connections: Mutex::new(Vec::new()),
            ended: Mutex::new(Vec::new()),
            listener,
        });
        *lock(&out.tasks) = vec![tokio::spawn(run_encoder(out.clone()))];
        out.set_targets(targets);
        out
    }

    /// Starts one destination's connection task.
    fn connect(self: &Arc<Self>, target: Target) -> Connection {
        let cancel = self.cancel.child_token();
        let task = tokio::spawn(run_destination(
            self.clone(),
            target.clone(),
            cancel.clone(),
        ));
        Connection {
            target,
            cancel,
            task,
        }
    }

    /// Makes `targets` the destinations it sends to, while it runs: a destination added
    /// connects, one removed disconnects, one whose address or key changed reconnects; the
    /// others, and the encoder, carry on untouched.
    pub fn set_targets(self: &Arc<Self>, targets: Vec<Target>) {
        let mut conns = lock(&self.connections);
        // Stopped meanwhile: nothing to connect (stop() holds no more tasks to await).
        if self.cancel.is_cancelled() {
            return;
        }
        let mut old = std::mem::take(&mut *conns);
        // Each target with its connection: the one it had, or a new one (`true`).
        let next: Vec<(Connection, bool)> = targets
            .into_iter()
            .map(|t| match old.iter().position(|c| c.target == t) {
                Some(i) => (old.swap_remove(i), false),
                None => (self.connect(t), true),
            })
            .collect();
        self.set_state(|s| {
            let before = s.destinations.len();
            s.destinations = next
                .iter()
                .map(|(c, new)| {
                    // A connection kept keeps its status; a new one (a new address or key
                    // under the same id included) starts as connecting.
                    s.destinations
                        .iter()
                        .find(|d| d.id == c.target.id && !new)
                        .cloned()
                        .unwrap_or_else(|| DestinationStatus::connecting(&c.target.id))
                })
                .collect();
            before != s.destinations.len() || !old.is_empty()
        });
        *conns = next.into_iter().map(|(c, _)| c).collect();
        drop(conns);
        // What is left of the old ones was taken out: their pipelines go down on their own
        // tasks, and stop() waits for them.
        let mut ended = lock(&self.ended);
        for c in old {
            c.cancel.cancel();
            ended.push(c.task);
        }
    }

    /// Stops every pipeline; returns when they are down.
    pub async fn stop(&self) {
        self.cancel.cancel();
        let tasks = std::mem::take(&mut *lock(&self.tasks));
        for t in tasks {
            let _ = t.await;
        }
        let conns = std::mem::take(&mut *lock(&self.connections));
        for c in conns {
            let _ = c.task.await;
        }
        let ended = std::mem::take(&mut *lock(&self.ended));
        for t in ended {
            let _ = t.await;
        }
    }

    /// Asks the encoder for a keyframe (a destination is joining).
    fn request_keyframe(&self) {
        let pad = lock(&self.video_pad).clone();
        if let Some(pad) = pad {
            crate::hub::ask_for_keyframe(&pad);
        }
    }

    /// The camera on air.
    pub fn camera(&self) -> Arc<CameraHandle> {
        lock(&self.camera).clone()
    }

    /// Cuts to `camera` (named `camera_name`, at `preset`) without stopping anything: the
    /// encoder's input moves to that camera's hub, or, if it streams another codec, the
    /// encoder is rebuilt while the destinations stay connected.
    pub fn switch_to(&self, camera: Arc<CameraHandle>, camera_name: &str, preset: &str) {
        *lock(&self.camera) = camera;
        {
            let mut plan = lock(&self.plan);
            plan.camera_name = camera_name.to_string();
            plan.preset = preset.to_string();
        }
        self.switch.notify_one();
    }

    pub fn status(&self) -> OutputStatus {
        let s = lock(&self.shared);
        OutputStatus {
            on_air: self.camera().id.clone(),
            overlays: self.overlay_ids(),
            encoder: s.encoder,
            uptime_s: self.started.elapsed().as_secs(),
            frames: self.frames.load(Ordering::Relaxed),
            dropped_frames: self.dropped.load(Ordering::Relaxed),
            last_error: s.last_error.clone(),
            destinations: s.destinations.clone(),
        }
    }

    /// What the output makes now.
    pub fn plan(&self) -> OutputPlan {
        lock(&self.plan).clone()
    }

    /// The ids of the overlays drawn now.
    pub fn overlay_ids(&self) -> Vec<String> {
        lock(&self.plan)
            .layers
            .iter()
            .map(|l| l.id.clone())
            .collect()
    }

    /// A dip through black to `camera`: the picture fades out over [`FADE`]'s first half, the
    /// cut happens, and it fades in over the second half once the new camera's picture has had
    /// time to start. Overlays stay drawn throughout; the destinations stay connected.
    pub async fn fade_to(&self, camera: Arc<CameraHandle>, camera_name: &str, preset: &str) {
        const STEPS: u32 = 8;
        let step = FADE / 2 / STEPS;
        for i in 1..=STEPS {
            self.set_fade(f64::from(i) / f64::from(STEPS));
            tokio::time::sleep(step).await;
        }
        self.switch_to(camera, camera_name, preset);
        // The new picture starts at its next keyframe, asked for at the cut.
        tokio::time::sleep(FADE_HOLD).await;
        for i in (0..STEPS).rev() {
            self.set_fade(f64::from(i) / f64::from(STEPS));
            tokio::time::sleep(step).await;
        }
    }

    /// A crossfade to `camera`: the outgoing camera stays live until the new one's first
    /// picture, then its last picture dissolves into the new camera's over [`DISSOLVE`].
    /// Overlays stay drawn on top; the destinations stay connected.
    pub fn dissolve_to(&self, camera: Arc<CameraHandle>, camera_name: &str, preset: &str) {
        *lock(&self.dissolve) = Dissolve::Waiting {
            still: None,
            new_from: None,
            since: Instant::now(),
        };
        self.switch_to(camera, camera_name, preset);
    }

    /// How far the picture is faded to black, 0 (not at all) to 1.
    fn set_fade(&self, depth: f64) {
        let depth = depth.clamp(0.0, 1.0);
        *lock(&self.fade_depth) = depth;
        if let Some(e) = lock(&self.fader).as_ref() {
            apply_fade(e, depth);
        }
    }

    /// Applies a new plan: live when only properties changed, else by rebuilding the encoder
    /// (the destinations stay connected).
    pub fn update(&self, plan: OutputPlan) {
        let mut cur = lock(&self.plan);
        let live = cur.shape() == plan.shape()
            && (cur.width, cur.height, cur.fps, cur.bitrate_kbps)
                == (plan.width, plan.height, plan.fps, plan.bitrate_kbps);
        *cur = plan;
        drop(cur);
        if live {
            self.apply_layers(true);
        } else {
            self.rebuild.notify_one();
        }
    }

    /// Sets the `{value}` of one overlay, live.
    pub fn set_value(&self, overlay_id: &str, value: &str) {
        let mut plan = lock(&self.plan);
        for l in plan.layers.iter_mut().filter(|l| l.id == overlay_id) {
            l.value = value.to_string();
        }
        drop(plan);
        self.apply_layers(false);
    }

    fn set_state(&self, f: impl FnOnce(&mut Shared) -> bool) {
        let changed = f(&mut lock(&self.shared));
        if changed {
            (self.listener)(&self.stream_id);
        }
    }

    fn set_encoder(&self, state: EncoderState, error: Option<String>) {
        self.set_state(|s| {
            let changed = s.encoder != state || (error.is_some() && s.last_error != error);
            s.encoder = state;
            if error.is_some() {
                s.last_error = error;
            }
            changed
        });
    }

    fn with_destination(&self, id: &str, f: impl FnOnce(&mut DestinationStatus) -> bool) {
        self.set_state(|s| {
            s.destinations
                .iter_mut()
                .find(|d| d.id == id)
                .is_some_and(f)
        });
    }

    /// Sets every overlay element's properties from the plan; `geometry` also repositions.
    fn apply_layers(&self, geometry: bool) {
        let plan = lock(&self.plan).clone();
        let elements = lock(&self.elements).clone();
        apply_layers(&plan, &elements, geometry);
    }
}

/// The length of a fade transition, out and in.
pub const FADE: Duration = Duration::from_millis(800);
/// How long a fade stays black after the cut, for the new camera's keyframe to arrive.
const FADE_HOLD: Duration = Duration::from_millis(400);

/// The length of a dissolve.
pub const DISSOLVE: Duration = Duration::from_millis(800);
/// A dissolve whose new camera sends nothing for this long is given up (the cut still happens).
const DISSOLVE_WAIT: Duration = Duration::from_secs(3);

/// Where a crossfade is. The outgoing camera's pictures pass untouched while the newest is kept;
/// from the new camera's first picture on, that still is blended over the new pictures with a
/// weight going from 1 to 0 over [`DISSOLVE`] of stream time.
#[derive(Debug, Default)]
enum Dissolve {
    #[default]
    Idle,
    Waiting {
        still: Option<gst::Buffer>,
        /// The stream time of the new camera's first frame, once the cut has taken.
        new_from: Option<gst::ClockTime>,
        since: Instant,
    },
    Running {
        still: gst::Buffer,
        start: gst::ClockTime,
    },
}

impl Dissolve {
    /// The cut took at the new camera's keyframe, stamped `pts`.
    fn cut_at(&mut self, pts: gst::ClockTime) {
        if let Dissolve::Waiting { new_from, .. } = self {
            *new_from = Some(pts);
        }
    }

    /// One raw picture before the overlays: kept, blended, or passed.
    fn frame(&mut self, buffer: &mut gst::Buffer) {
        let Some(pts) = buffer.pts() else {
            return;
        };
        match std::mem::take(self) {
            Dissolve::Idle => {}
            Dissolve::Waiting {
                still,
                new_from,
                since,
            } => {
                // Within half a frame of the new camera's first one (the rate converter moves
                // timestamps onto its grid).
                let arrived =
                    new_from.is_some_and(|n| pts + gst::ClockTime::from_mseconds(20) >= n);
                *self = match (arrived, still) {
                    (true, Some(still)) => {
                        let mut running = Dissolve::Running { still, start: pts };
                        running.frame(buffer);
                        running
                    }
                    (true, None) => Dissolve::Idle,
                    (false, _) if since.elapsed() > DISSOLVE_WAIT => Dissolve::Idle,
                    (false, _) => Dissolve::Waiting {
                        still: Some(buffer.clone()),
                        new_from,
                        since,
                    },
                };
            }
            Dissolve::Running { still, start } => {
                let done = pts.saturating_sub(start).nseconds() as f64 / DISSOLVE.as_nanos() as f64;
                if done >= 1.0 || still.size() != buffer.size() {
                    return;
                }
                let weight = ((1.0 - done) * 256.0).round().clamp(0.0, 256.0) as u16;
                if let (Ok(from), Ok(mut to)) =
                    (still.map_readable(), buffer.make_mut().map_writable())
                {
                    blend_over(&mut to, &from, weight);
                }
                *self = Dissolve::Running { still, start };
            }
        }
    }
}

/// `picture = still × weight/256 + picture × (256 - weight)/256`, byte by byte: the same
/// mix for every plane of a planar YUV picture (I420), whose chroma is centred at 128.
fn blend_over(picture: &mut [u8], still: &[u8], weight: u16) {
    let w = u32::from(weight.min(256));
    for (p, s) in picture.iter_mut().zip(still) {
        *p = ((u32::from(*s) * w + u32::from(*p) * (256 - w) + 128) >> 8) as u8;
    }
}

/// Sets the fader (`videobalance`): darker and greyer as `depth` goes to 1; at 0 it is the
/// identity, where the element passes buffers through untouched.
fn apply_fade(e: &gst::Element, depth: f64) {
    e.set_property("brightness", -depth);
    e.set_property("saturation", 1.0 - depth);
}

/// Sets overlay elements' properties from `plan`, layer by layer (`elements` in the plan's
/// order); `geometry` also places and sizes them.
fn apply_layers(plan: &OutputPlan, elements: &[(String, LayerHandle)], geometry: bool) {
    let tz = jiff::tz::TimeZone::get(&plan.timezone).unwrap_or(jiff::tz::TimeZone::UTC);
    let now = jiff::Timestamp::now().to_zoned(tz);
    let time = now.strftime("%H:%M:%S").to_string();
    let date = now.strftime("%Y-%m-%d").to_string();
    for (layer, (_, handle)) in plan.layers.iter().zip(elements.iter()) {
        match (layer.kind, handle) {
            (OverlayKind::Text | OverlayKind::Clock, LayerHandle::Text(element)) => {
                let text = if layer.kind == OverlayKind::Clock {
                    let fmt = if layer.text.is_empty() {
                        "%H:%M:%S"
                    } else {
                        &layer.text
                    };
                    jiff::fmt::strtime::format(fmt, &now)
                        .unwrap_or_else(|e| format!("(bad clock format: {e})"))
                } else {
                    render_text(
                        &layer.text,
                        &TextContext {
                            time: &time,
                            date: &date,
                            camera: &plan.camera_name,
                            preset: &plan.preset,
                            value: &layer.value,
                        },
                    )
                };
                if element.property::<String>("text") != text {
                    element.set_property("text", &text);
                }
                if geometry {
                    set_text_geometry(element, layer, plan);
                }
            }
            (OverlayKind::Image, LayerHandle::Picture(picture)) if geometry => {
                picture.place(image_placement(layer, plan), plan.height >= 720);
            }
            _ => {}
        }
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

fn set_text_geometry(e: &gst::Element, l: &Layer, plan: &OutputPlan) {
    let px = ((l.size * f64::from(plan.height)).round() as i32).max(4);
    e.set_property("font-desc", format!("Sans Bold {px}px"));
    e.set_property("deltax", (l.x * f64::from(plan.width)).round() as i32);
    e.set_property("deltay", (l.y * f64::from(plan.height)).round() as i32);
    let alpha = (l.opacity.clamp(0.0, 1.0) * 255.0).round() as u32;
    e.set_property("color", (alpha << 24) | 0x00ff_ffff);
    e.set_property("outline-color", (alpha << 24) & 0xff00_0000);
}

/// Where a picture layer goes on the output's frames: its width a share of the frame's, its
/// height keeping the picture's shape.
fn image_placement(l: &Layer, plan: &OutputPlan) -> Placement {
    let w = ((l.size * f64::from(plan.width)).round() as i32).max(1);
    let h = match &l.image {
        Some((_, iw, ih)) if *iw > 0 => {
            ((f64::from(w) * f64::from(*ih) / f64::from(*iw)).round() as i32).max(1)
        }
        _ => w,
    };
    // A picture much larger than the frame (a very tall one at full width) is scaled down to
    // twice the frame's size: its planes are made in memory.
    let (w, h) = (i64::from(w), i64::from(h));
    let shrink = (i64::from(plan.width) * 2 * 1000 / w.max(1))
        .min(i64::from(plan.height) * 2 * 1000 / h.max(1))
        .min(1000);
    let (w, h) = (
        (w * shrink / 1000).clamp(1, i64::from(u32::MAX)) as u32,
        (h * shrink / 1000).clamp(1, i64::from(u32::MAX)) as u32,
    );
    Placement {
        x: (l.x * f64::from(plan.width)).round() as i32,
        y: (l.y * f64::from(plan.height)).round() as i32,
        width: w,
        height: h,
        opacity: l.opacity.clamp(0.0, 1.0),
    }
}

/// An overlay layer of a built pipeline: a text element, or a picture Pinhole draws itself on
/// the frames passing its `identity` ([`crate::picture_layer`]).
#[derive(Clone)]
enum LayerHandle {
    Text(gst::Element),
    Picture(Arc<PictureLayer>),
}

/// The overlay elements, bottom first, named `layer0`, `layer1`, ..., each followed by ` ! `.
fn overlay_chain(plan: &OutputPlan) -> String {
    let mut overlays = String::new();
    for (i, l) in plan.layers.iter().enumerate() {
        overlays.push_str(&match l.kind {
            OverlayKind::Text | OverlayKind::Clock => format!(
                "textoverlay name=layer{i} halignment=left valignment=top xpad=0 ypad=0 auto-resize=false draw-shadow=false draw-outline=true wait-text=false silent=false ! "
            ),
            OverlayKind::Image => format!("identity name=layer{i} silent=true ! "),
        });
    }
    overlays
}

/// The overlay elements of a built pipeline, in the plan's order, with images loaded.
fn overlay_elements(
    pipeline: &gst::Pipeline,
    plan: &OutputPlan,
) -> Result<Vec<(String, LayerHandle)>, String> {
    let frames =
        gst_video::VideoInfo::builder(gst_video::VideoFormat::I420, plan.width, plan.height)
            .build()
            .map_err(|e| format!("no frame layout for {}x{}: {e}", plan.width, plan.height))?;
    let mut elements = Vec::new();
    for (i, l) in plan.layers.iter().enumerate() {
        if l.kind == OverlayKind::Image && l.image.is_none() {
            return Err(format!("overlay `{}` has no image uploaded", l.id));
        }
        let e = pipeline
            .by_name(&format!("layer{i}"))
            .ok_or("overlay element missing")?;
        let handle = match &l.image {
            Some((path, _, _)) => {
                let picture = Arc::new(PictureLayer::open(path)?);
                overlay_draw::draw_picture(&e, picture.clone(), frames.clone());
                LayerHandle::Picture(picture)
            }
            None => {
                overlay_draw::draw_rendered_text(
                    &e,
                    overlay_draw::Frames::Known {
                        info: frames.clone(),
                        hd: plan.height >= 720,
                    },
                );
                LayerHandle::Text(e)
            }
        };
        elements.push((l.id.clone(), handle));
    }
    Ok(elements)
}

/// The picture an output would send, as a JPEG: `picture` (a camera's live JPEG) scaled to the
/// plan's size with its overlays drawn, exactly as the encoder draws them. What the overlay
/// editor shows, whether or not the stream runs.
pub async fn render_preview(
    plan: &OutputPlan,
    picture: bytes::Bytes,
) -> Result<bytes::Bytes, String> {
    let launch = format!(
        "appsrc name=src caps=image/jpeg ! jpegdec ! videoconvert ! videoscale add-borders=true ! \
         video/x-raw,format=I420,width={w},height={h},pixel-aspect-ratio=1/1 ! \
         {overlays}videoconvert ! jpegenc quality=85 ! appsink name=out sync=false",
        w = plan.width,
        h = plan.height,
        overlays = overlay_chain(plan),
    );
    let pipeline = gst::parse::launch(&launch)
        .map_err(|e| format!("cannot build the preview: {e}"))?
        .downcast::<gst::Pipeline>()
        .map_err(|_| "not a pipeline")?;
    let elements = overlay_elements(&pipeline, plan)?;
    apply_layers(plan, &elements, true);
    let src =
        crate::element::<gst_app::AppSrc>(&pipeline, "src").ok_or("preview without appsrc")?;
    let sink =
        crate::element::<gst_app::AppSink>(&pipeline, "out").ok_or("preview without appsink")?;
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|e| format!("cannot start the preview: {e}"))?;
    let result = tokio::task::spawn_blocking(move || {
        src.push_buffer(gst::Buffer::from_slice(picture))
            .map_err(|e| format!("the preview refused the picture: {e}"))?;
        let _ = src.end_of_stream();
        let sample = sink
            .try_pull_sample(gst::ClockTime::from_seconds(10))
            .ok_or("the preview made no picture within 10 s")?;
        let buffer = sample.buffer().ok_or("an empty preview")?;
        let map = buffer.map_readable().map_err(|e| e.to_string())?;
        Ok::<_, String>(bytes::Bytes::copy_from_slice(&map))
    })
    .await
    .map_err(|e| e.to_string())
    .and_then(|r| r);
    let _ = pipeline.set_state(gst::State::Null);
    result
}

/// The encoder pipeline's description; overlay elements are named `layer0`, `layer1`, ...
fn encoder_launch(
    codec: crate::pipeline::VideoCodec,
    decoder: &str,
    encoder: Encoder,
    plan: &OutputPlan,
) -> Result<String, String> {
    let aac = aac_encoder().ok_or("no AAC encoder (voaacenc or avenc_aac)")?;
    let aac_dec = aac_decoder().ok_or("no AAC decoder (avdec_aac or faad)")?;
    let overlays = overlay_chain(plan);
    let gop = plan.fps * 2;
    Ok(format!(
        "appsrc name=src ! {parse} ! {decoder} ! videoconvert ! videoscale add-borders=true ! videorate name=rate ! \
         video/x-raw,format=I420,width={w},height={h},framerate={fps}/1,pixel-aspect-ratio=1/1 ! \
         videobalance name=fade ! {overlays}videoconvert ! video/x-raw,format=I420 ! queue max-size-buffers=4 leaky=downstream name=encq ! \
         {enc} ! h264parse ! video/x-h264,stream-format=avc,alignment=au ! \
         appsink name=video sync=false \
         audiomixer name=amix start-time-selection=first latency={AUDIO_LATENCY_NS} output-buffer-duration-fraction={AUDIO_BLOCK_SAMPLES}/48000 ! audioconvert ! \
         audio/x-raw,rate=48000,channels=2 ! {aac} ! aacparse ! audio/mpeg,stream-format=raw ! appsink name=audio sync=false \
         audiotestsrc is-live=true wave=silence samplesperbuffer={AUDIO_BLOCK_SAMPLES} ! audio/x-raw,rate=48000,channels=2 ! amix. \
         appsrc name=audiosrc ! {aac_dec} ! audioconvert ! audioresample ! audio/x-raw,rate=48000,channels=2 ! amix.",
        parse = codec.parser(),
        w = plan.width,
        h = plan.height,
        fps = plan.fps,
        enc = encoder.launch(plan.bitrate_kbps, gop),
    ))
}

/// What an output's metadata tells RTMP servers of it.
fn stream_info(plan: &OutputPlan) -> StreamInfo {
    StreamInfo {
        width: plan.width,
        height: plan.height,
        fps: plan.fps,
        video_kbps: plan.bitrate_kbps,
        audio_kbps: 128,
        audio_rate: 48000,
        stereo: true,
    }
}

/// The silent source's buffers and the mixer's output block: four AAC frames (4096 samples at
/// 48 kHz, 85 ms). The encoder takes whole frames, and the source and the mixer each run 12
/// times a second instead of 47 and 100 (the mixer's 10 ms default): 0.3 % of a core less on
/// the benchmark machine, for audio that platforms buffer for seconds anyway.
const AUDIO_BLOCK_SAMPLES: u32 = 4096;

/// How long the audio mixer waits for the camera's audio: its frames are stamped at about their
/// arrival and reach the mixer a little later.
const AUDIO_LATENCY_NS: u64 = 300_000_000;

/// Keeps the encoder's input moving forward in time across cuts. Cameras' timestamps agree only
/// roughly (each pipeline stamps at its own capture or jitter buffer); after a cut to a camera
/// whose timestamps lag, every frame would be dropped as late until it caught up. So at a cut the
/// new camera's first keyframe gets an offset that puts it just after the last frame shown, and
/// the camera's frames keep that offset until the next cut.
#[derive(Debug, Default)]
struct Restamp {
    cut: bool,
    offset: gst::ClockTime,
    last: Option<gst::ClockTime>,
}

impl Restamp {
    /// A gap of one 25 fps frame after the last frame shown.
    const GAP: gst::ClockTime = gst::ClockTime::from_mseconds(40);

    /// Restamps one input buffer; true for the new camera's first (the cut taking).
    fn apply(&mut self, buf: &mut gst::BufferRef) -> bool {
        let took = self.cut && !buf.flags().contains(gst::BufferFlags::DELTA_UNIT);
        if took {
            self.cut = false;
            self.offset = match (self.last, buf.pts()) {
                (Some(last), Some(pts)) if pts <= last => last - pts + Self::GAP,
                _ => gst::ClockTime::ZERO,
            };
        }
        if self.offset > gst::ClockTime::ZERO {
            if let Some(p) = buf.pts() {
                buf.set_pts(p + self.offset);
            }
            if let Some(d) = buf.dts() {
                buf.set_dts(d + self.offset);
            }
        }
        if let Some(p) = buf.pts() {
            self.last = Some(self.last.map_or(p, |l| l.max(p)));
        }
        took
    }
}

struct RunningEncoder {
    pipeline: gst::Pipeline,
    appsrc: gst_app::AppSrc,
    audio_appsrc: gst_app::AppSrc,
    restamp: Arc<Mutex<Restamp>>,
    consumer: ConsumerId,
    audio_consumer: ConsumerId,
    camera: Arc<CameraHandle>,
}

impl RunningEncoder {
    /// Moves the input to `camera`'s hubs; the rest of the pipeline does not notice.
    fn cut_to(&mut self, camera: Arc<CameraHandle>) {
        self.camera.hub.detach(self.consumer);
        self.camera.audio.detach(self.audio_consumer);
        lock(&self.restamp).cut = true;
        self.consumer = camera.hub.attach(&self.appsrc);
        self.audio_consumer = camera.audio.attach(&self.audio_appsrc);
        camera.request_keyframe();
        self.camera = camera;
    }
}

impl Drop for RunningEncoder {
    fn drop(&mut self) {
        self.camera.hub.detach(self.consumer);
        self.camera.audio.detach(self.audio_consumer);
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

fn producer_of(pipeline: &gst::Pipeline, name: &str) -> Result<gst_utils::StreamProducer, String> {
    let sink = crate::element::<gst_app::AppSink>(pipeline, name)
        .ok_or_else(|| format!("encoder without appsink `{name}`"))?;
    Ok(Hub::producer(&sink))
}

fn build_encoder(out: &Arc<Output>) -> Result<RunningEncoder, String> {
    let camera = out.camera();
    let codec = camera.codec().ok_or("the camera is not streaming")?;
    // A program's decoder stays across cuts: sized for the camera it starts with.
    let decoder = decoder_launch(out.decoders.of(codec), camera.video_size());
    let plan = lock(&out.plan).clone();
    out.flv.set_info(stream_info(&plan));
    let launch = encoder_launch(codec, &decoder, out.encoder, &plan)?;
    let pipeline = gst::parse::launch(&launch)
        .map_err(|e| format!("cannot build the encoder: {e}"))?
        .downcast::<gst::Pipeline>()
        .map_err(|_| "not a pipeline")?;
    pipeline.set_property("name", format!("output-{}", out.stream_id));
    crate::adopt_shared_clock(&pipeline);
    *lock(&out.elements) = overlay_elements(&pipeline, &plan)?;
    let fader = pipeline
        .by_name("fade")
        .ok_or("encoder without its fader")?;
    apply_fade(&fader, *lock(&out.fade_depth));
    // Crossfades act on the raw pictures before the overlays, which stay steady on top.
    if let Some(pad) = fader.static_pad("sink") {
        let dissolve = out.dissolve.clone();
        pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            if let Some(gst::PadProbeData::Buffer(ref mut buffer)) = info.data {
                lock(&dissolve).frame(buffer);
            }
            gst::PadProbeReturn::Ok
        });
    }
    *lock(&out.fader) = Some(fader);
    out.apply_layers(true);
    // Frames that reach the encoder, and those its queue let go.
    if let Some(q) = pipeline.by_name("encq") {
        let o = Arc::downgrade(out);
        q.connect("overrun", false, move |_| {
            if let Some(o) = o.upgrade() {
                o.dropped.fetch_add(1, Ordering::Relaxed);
            }
            None
        });
        if let Some(pad) = q.static_pad("src") {
            let o = Arc::downgrade(out);
            pad.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
                if let Some(o) = o.upgrade() {
                    o.frames.fetch_add(1, Ordering::Relaxed);
                }
                gst::PadProbeReturn::Ok
            });
        }
    }
    *lock(&out.video_pad) = pipeline.by_name("video").and_then(|e| e.static_pad("sink"));
    out.video
        .set_producer(Some(producer_of(&pipeline, "video")?));
    out.audio
        .set_producer(Some(producer_of(&pipeline, "audio")?));
    let sink_pad = |name: &str| pipeline.by_name(name).and_then(|e| e.static_pad("sink"));
    if let (Some(v), Some(a)) = (sink_pad("video"), sink_pad("audio")) {
        out.flv.tap(&v, &a);
    }
    let appsrc =
        crate::element::<gst_app::AppSrc>(&pipeline, "src").ok_or("encoder without appsrc")?;
    let restamp = Arc::new(Mutex::new(Restamp::default()));
    if let Some(pad) = appsrc.static_pad("src") {
        let restamp = restamp.clone();
        let dissolve = out.dissolve.clone();
        pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            if let Some(gst::PadProbeData::Buffer(ref mut buffer)) = info.data {
                let buffer = buffer.make_mut();
                if lock(&restamp).apply(buffer)
                    && let Some(pts) = buffer.pts()
                {
                    lock(&dissolve).cut_at(pts);
                }
            }
            gst::PadProbeReturn::Ok
        });
    }
    let audio_appsrc = crate::element::<gst_app::AppSrc>(&pipeline, "audiosrc")
        .ok_or("encoder without its audio appsrc")?;
    let consumer = camera.hub.attach(&appsrc);
    let audio_consumer = camera.audio.attach(&audio_appsrc);
    let running = RunningEncoder {
        pipeline,
        appsrc,
        audio_appsrc,
        restamp,
        consumer,
        audio_consumer,
        camera: camera.clone(),
    };
    running
        .pipeline
        .set_state(gst::State::Playing)
        .map_err(|e| format!("cannot start the encoder: {e}"))?;
    camera.request_keyframe();
    Ok(running)
}

/// A bus error as one line: the element and the message.
fn bus_error(m: &gst::Message) -> String {
    let src = m.src().map(|s| s.name().to_string()).unwrap_or_default();
    match m.view() {
        gst::MessageView::Error(e) => format!("{src}: {}", e.error()),
        _ => format!("{src}: {:?}", m.type_()),
    }
}

/// Keeps the encoder running: built when the camera streams, rebuilt when it fails, when the
/// camera's codec changes, or when the overlay set changes.
async fn run_encoder(out: Arc<Output>) {
    use futures_util::StreamExt;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    'outer: loop {
        let running = match build_encoder(&out) {
            Ok(r) => r,
            Err(e) => {
                let waiting = out.camera().codec().is_none();
                out.set_encoder(
                    if waiting {
                        EncoderState::WaitingForCamera
                    } else {
                        EncoderState::Failed
                    },
                    Some(e),
                );
                tokio::select! {
                    _ = out.cancel.cancelled() => break 'outer,
                    _ = out.rebuild.notified() => {}
                    _ = out.switch.notified() => {}
                    _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                }
                continue;
            }
        };
        let mut running = running;
        let codec = running.camera.codec();
        out.set_encoder(EncoderState::Running, None);
        let Some(bus) = running.pipeline.bus() else {
            break;
        };
        let mut messages = bus.stream();
        let ended = loop {
            tokio::select! {
                _ = out.cancel.cancelled() => break 'outer,
                _ = out.rebuild.notified() => break None,
                _ = out.switch.notified() => {
                    let next = out.camera();
                    if next.codec().is_some() && next.codec() == codec {
                        running.cut_to(next);
                        out.apply_layers(false);
                        (out.listener)(&out.stream_id);
                    } else {
                        break None;
                    }
                }
                msg = messages.next() => match msg {
                    None => break Some("the encoder's bus closed".to_string()),
                    Some(m) => if let gst::MessageView::Error(_) = m.view() {
                        break Some(bus_error(&m));
                    },
                },
                _ = tick.tick() => {
                    if running.camera.codec() != codec {
                        break None;
                    }
                    out.apply_layers(false);
                }
            }
        };
        drop(running);
        if let Some(e) = ended {
            tracing::warn!(stream = %out.stream_id, error = %e, "output encoder failed; rebuilding");
            out.set_encoder(EncoderState::Failed, Some(e));
            tokio::select! {
                _ = out.cancel.cancelled() => break 'outer,
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }
    out.video.set_producer(None);
    out.audio.set_producer(None);
    *lock(&out.video_pad) = None;
    lock(&out.elements).clear();
}

/// A destination's error in words a user can act on.
fn explain(error: &str) -> String {
    let lower = error.to_ascii_lowercase();
    let hint = if lower.contains("'publish' cmd failed")
        || lower.contains("publish") && lower.contains("reject")
    {
        Some("the server refused to publish: check the stream key")
    } else if lower.contains("connection refused") {
        Some("nothing listens there: check the host and port")
    } else if lower.contains("could not resolve") || lower.contains("name or service not known") {
        Some("the host name does not resolve")
    } else if lower.contains("timed out") || lower.contains("timeout") {
        Some("the server did not answer in time")
    } else if lower.contains("closed") || lower.contains("reset") {
        Some("the server closed the connection")
    } else {
        None
    };
    match hint {
        Some(h) => format!("{h} ({error})"),
        None => error.to_string(),
    }
}

/// An SRT destination's pipeline, on the output's video and audio hubs.
struct RunningDestination {
    pipeline: gst::Pipeline,
    inputs: (ConsumerId, ConsumerId),
    out: Arc<Output>,
}

impl Drop for RunningDestination {
    fn drop(&mut self) {
        self.out.video.detach(self.inputs.0);
        self.out.audio.detach(self.inputs.1);
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

impl RunningDestination {
    /// Waits for the pipeline to fail; returns why, in words a user can act on.
    async fn ended(self) -> String {
        use futures_util::StreamExt;
        let Some(bus) = self.pipeline.bus() else {
            return "the connection has no bus".into();
        };
        let mut messages = bus.stream();
        let error = loop {
            match messages.next().await {
                None => break "the connection's bus closed".to_string(),
                Some(m) => match m.view() {
                    gst::MessageView::Error(_) => break bus_error(&m),
                    gst::MessageView::Eos(_) => break "the connection ended".to_string(),
                    _ => {}
                },
            }
        };
        explain(&error)
    }
}

/// An SRT destination's pipeline: the two hubs' samples (H.264 as `avc` with its codec data,
/// raw AAC, both parsed once in the encoder) muxed to MPEG-TS and sent.
fn build_srt_destination(
    out: &Arc<Output>,
    target: &Target,
    bytes: &Arc<AtomicU64>,
) -> Result<RunningDestination, String> {
    protocol_available(target.protocol)?;
    let pipeline = gst::parse::launch(
        "appsrc name=v ! h264parse ! video/x-h264,stream-format=byte-stream ! mpegtsmux name=m alignment=7 latency=100000000 ! srtsink name=sink wait-for-connection=false \
         appsrc name=a ! m.",
    )
    .map_err(|e| format!("cannot build the connection: {e}"))?
    .downcast::<gst::Pipeline>()
    .map_err(|_| "not a pipeline")?;
    pipeline.set_property("name", format!("dest-{}-{}", out.stream_id, target.id));
    crate::adopt_shared_clock(&pipeline);
    let sink = pipeline.by_name("sink").ok_or("no sink")?;
    sink.set_property("uri", &target.publish_url);
    if let Some(pad) = sink.static_pad("sink") {
        let bytes = bytes.clone();
        pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            if let Some(b) = info.buffer() {
                bytes.fetch_add(b.size() as u64, Ordering::Relaxed);
            }
            gst::PadProbeReturn::Ok
        });
    }
    let src = |name: &str| {
        crate::element::<gst_app::AppSrc>(&pipeline, name).ok_or("connection without appsrc")
    };
    let (v, a) = (src("v")?, src("a")?);
    let running = RunningDestination {
        inputs: (out.video.attach(&v), out.audio.attach(&a)),
        pipeline,
        out: out.clone(),
    };
    running
        .pipeline
        .set_state(gst::State::Playing)
        .map_err(|e| format!("cannot start the connection: {e}"))?;
    Ok(running)
}

/// After this long live, a drop starts the backoff over.
const STABLE: Duration = Duration::from_secs(30);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Keeps one destination connected: on an error, waits (1 s, doubling up to 30 s) and
/// connects again; the other destinations and the encoder are not touched.
async fn run_destination(out: Arc<Output>, target: Target, cancel: CancellationToken) {
    let id = target.id.as_str();
    let mut backoff = Duration::from_secs(1);
    let bytes = Arc::new(AtomicU64::new(0));
    let dropped = Arc::new(AtomicU64::new(0));
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        if cancel.is_cancelled() {
            return;
        }
        out.with_destination(id, |d| {
            d.attempts += 1;
            d.retry_in_s = None;
            let changed = d.state != DestinationState::Connecting;
            d.state = DestinationState::Connecting;
            changed
        });
        // The connection, as a future that ends with why it failed.
        let mut ended: std::pin::Pin<Box<dyn std::future::Future<Output = String> + Send>> =
            match target.protocol {
                Protocol::Rtmp | Protocol::Rtmps => {
                    let (out, url, bytes, dropped) = (
                        out.clone(),
                        target.publish_url.clone(),
                        bytes.clone(),
                        dropped.clone(),
                    );
                    Box::pin(async move {
                        let subscribe = || {
                            let s = out.flv.subscribe(dropped);
                            out.request_keyframe();
                            s
                        };
                        crate::rtmp_publish::publish(&url, subscribe, &bytes).await
                    })
                }
                Protocol::Srt => match build_srt_destination(&out, &target, &bytes) {
                    Ok(running) => Box::pin(running.ended()),
                    Err(e) => Box::pin(std::future::ready(e)),
                },
            };
        let mut live_since: Option<Instant> = None;
        let mut last = (bytes.load(Ordering::Relaxed), Instant::now());
        let connected_at = Instant::now();
        let error = loop {
            tokio::select! {
                biased;
                _ = cancel.cancelled() => return,
                e = &mut ended => break e,
                _ = tick.tick() => {
                    let now_bytes = bytes.load(Ordering::Relaxed);
                    let secs = last.1.elapsed().as_secs_f64().max(0.001);
                    let kbps = ((now_bytes - last.0) as f64 * 8.0 / 1000.0 / secs) as u32;
                    let flowing = now_bytes > last.0;
                    last = (now_bytes, Instant::now());
                    if flowing && live_since.is_none() && connected_at.elapsed() >= Duration::from_secs(1) {
                        live_since = Some(Instant::now());
                    }
                    if live_since.is_some_and(|t| t.elapsed() >= STABLE) {
                        backoff = Duration::from_secs(1);
                    }
                    out.with_destination(id, |d| {
                        let changed = live_since.is_some() && d.state != DestinationState::Live;
                        if live_since.is_some() {
                            d.state = DestinationState::Live;
                        }
                        d.uptime_s = live_since.map_or(0, |t| t.elapsed().as_secs());
                        d.bitrate_kbps = kbps;
                        d.bytes_sent = now_bytes;
                        d.dropped_frames = dropped.load(Ordering::Relaxed);
                        changed
                    });
                }
            }
        };
        drop(ended);
        tracing::warn!(stream = %out.stream_id, destination = %target.id, error = %error, retry_in_s = backoff.as_secs(), "destination dropped");
        out.with_destination(id, |d| {
            d.state = DestinationState::Retrying;
            d.last_error = Some(error);
            d.retry_in_s = Some(backoff.as_secs());
            d.uptime_s = 0;
            d.bitrate_kbps = 0;
            true
        });
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::VideoCodec;

    fn plan() -> OutputPlan {
        OutputPlan {
            width: 1280,
            height: 720,
            fps: 30,
            bitrate_kbps: 2500,
            layers: vec![
                Layer {
                    id: "logo".into(),
                    kind: OverlayKind::Image,
                    text: String::new(),
                    value: String::new(),
                    image: Some(("/tmp/logo.png".into(), 100, 50)),
                    x: 0.8,
                    y: 0.05,
                    size: 0.1,
                    opacity: 0.9,
                },
                Layer {
                    id: "clock".into(),
                    kind: OverlayKind::Clock,
                    text: String::new(),
                    value: String::new(),
                    image: None,
                    x: 0.02,
                    y: 0.9,
                    size: 0.05,
                    opacity: 1.0,
                },
            ],
            camera_name: "Door".into(),
            preset: String::new(),
            timezone: "UTC".into(),
        }
    }

    #[test]
    fn encoder_pipeline_parses() {
        gst::init().unwrap();
        let launch =
            encoder_launch(VideoCodec::H265, "avdec_h265", Encoder::X264, &plan()).unwrap();
        assert!(
            launch.contains("width=1280,height=720,framerate=30/1"),
            "{launch}"
        );
        assert!(launch.contains("key-int-max=60"), "{launch}");
        assert!(
            launch.contains("identity name=layer0") && launch.contains("textoverlay name=layer1"),
            "{launch}"
        );
        // The arm64 test sysroot has no gstreamer1.0-x (pango, textoverlay): the pipeline is
        // parsed where all its elements exist (here, and on the appliance).
        let missing: Vec<_> = ["textoverlay", "x264enc", "avdec_h265"]
            .into_iter()
            .filter(|e| gst::ElementFactory::find(e).is_none())
            .collect();
        if !missing.is_empty() {
            eprintln!("not parsed: {missing:?} missing");
            return;
        }
        let p = gst::parse::launch(&launch).unwrap();
        let p = p.downcast::<gst::Pipeline>().unwrap();
        assert!(p.by_name("layer0").is_some() && p.by_name("layer1").is_some());
    }

    #[test]
    fn a_property_change_is_live_a_new_layer_is_not() {
        let a = plan();
        let mut b = a.clone();
        b.layers[1].x = 0.5;
        b.layers[0].opacity = 0.2;
        assert_eq!(a.shape(), b.shape());
        b.layers.swap(0, 1);
        assert_ne!(a.shape(), b.shape());
    }

    #[test]
    fn a_cut_to_a_lagging_camera_continues_after_the_last_frame() {
        gst::init().unwrap();
        let ms = gst::ClockTime::from_mseconds;
        let mut r = Restamp::default();
        let frame = |pts: u64, key: bool, r: &mut Restamp| {
            let mut b = gst::Buffer::new();
            {
                let b = b.get_mut().unwrap();
                b.set_pts(ms(pts));
                b.set_dts(ms(pts));
                if !key {
                    b.set_flags(gst::BufferFlags::DELTA_UNIT);
                }
                r.apply(b);
            }
            b.pts().unwrap()
        };
        assert_eq!(frame(10_000, true, &mut r), ms(10_000));
        assert_eq!(frame(10_100, false, &mut r), ms(10_100));
        // Cut to a camera 3 s behind: its delta frames wait, its keyframe lands after 10.1 s.
        r.cut = true;
        assert_eq!(frame(7_100, false, &mut r), ms(7_100));
        assert_eq!(frame(7_200, true, &mut r), ms(10_140));
        assert_eq!(frame(7_300, false, &mut r), ms(10_240));
        // Cut to a camera ahead: no offset.
        r.cut = true;
        assert_eq!(frame(20_000, true, &mut r), ms(20_000));
    }

    #[test]
    fn blending_weighs_the_still_against_the_picture() {
        let mut p = vec![0u8, 100, 255];
        blend_over(&mut p, &[200, 100, 55], 256);
        assert_eq!(p, [200, 100, 55]);
        let mut p = vec![0u8, 100, 255];
        blend_over(&mut p, &[200, 100, 55], 0);
        assert_eq!(p, [0, 100, 255]);
        let mut p = vec![0u8, 100, 255];
        blend_over(&mut p, &[200, 100, 55], 128);
        assert_eq!(p, [100, 100, 155]);
    }

    #[test]
    fn a_dissolve_keeps_the_last_old_picture_and_fades_it_over_the_new_ones() {
        gst::init().expect("GStreamer initialises");
        let frame = |ms: u64, value: u8| {
            let mut b = gst::Buffer::from_mut_slice(vec![value; 16]);
            b.get_mut()
                .expect("writable")
                .set_pts(gst::ClockTime::from_mseconds(ms));
            b
        };
        let bytes = |b: &gst::Buffer| b.map_readable().expect("readable").to_vec();
        let mut d = Dissolve::Waiting {
            still: None,
            new_from: None,
            since: Instant::now(),
        };
        // The old camera (value 10) goes on untouched until the cut takes.
        for ms in [0, 33, 66] {
            let mut b = frame(ms, 10 + ms as u8);
            d.frame(&mut b);
            assert_eq!(bytes(&b), vec![10 + ms as u8; 16]);
        }
        d.cut_at(gst::ClockTime::from_mseconds(100));
        // The new camera (value 210): at first all still (the last old picture, 76)...
        let mut b = frame(100, 210);
        d.frame(&mut b);
        assert_eq!(bytes(&b), vec![76; 16]);
        // ... half way, half and half ...
        let mut b = frame(100 + DISSOLVE.as_millis() as u64 / 2, 210);
        d.frame(&mut b);
        assert_eq!(bytes(&b), vec![143; 16]);
        // ... then the new picture alone, and the dissolve is over.
        let mut b = frame(100 + DISSOLVE.as_millis() as u64, 210);
        d.frame(&mut b);
        assert_eq!(bytes(&b), vec![210; 16]);
        assert!(matches!(d, Dissolve::Idle), "{d:?}");
    }

    #[test]
    fn errors_say_what_to_do() {
        assert!(
            explain("sink: Failed to connect: 'publish' cmd failed: connection closed remotely")
                .starts_with("the server refused to publish")
        );
        assert!(
            explain("sink: Connection refused: Could not connect to 127.0.0.1")
                .starts_with("nothing listens")
        );
    }
}
