//! Recording: segments of fragmented MP4 written from a camera's [`Hub`], indexed in SQLite.
//!
//! Each recorder is attached to the camera's hub like an RTSP client (`appsrc ! appsink`): a
//! capture rebuild does not stop it, and a recorder failure (a full or read-only disk) never
//! touches capture or streaming. The appsink hands every frame to a `SegmentWriter`; at the
//! first keyframe past `storage.segment_secs` (or a change of caps, after a rebuild) the next
//! segment's writer takes over and the old one is finalised on a thread of its own. Fragmented
//! MP4, the default, is written by Pinhole's own writer ([`super::fmp4::writer`]) on the
//! appsink's thread: no muxer thread, no copy. Classic MP4 and Matroska go through a GStreamer
//! muxer in a pipeline of its own per segment (`appsrc ! mux ! filesink`). Unlike
//! `splitmuxsink`, which holds a whole GOP back before muxing it (seconds with an IP camera's
//! long GOP), frames are written at once.
//!
//! Crash and power-cut safety, in layers:
//! - fragments last `storage.fragment_ms` (500 ms by default, 500..=5000) and each is written
//!   to the file (one `writev`) as soon as it is complete, so a crashed process loses at most
//!   the fragment being made: the page cache keeps what was written;
//! - the segment being written is `fdatasync`ed every `storage.sync_interval_secs` (default 5 s),
//!   because a power cut also loses the page cache. Syncing every fragment would rewrite the
//!   same flash pages ~5× as often; 5 s bounds the loss at a few seconds while keeping SD-card
//!   wear close to that of plain sequential writes;
//! - every segment gets its index row when it is opened (`open`) and is finalised when closed;
//!   at start-up [`reconcile`] repairs whatever a crash left: torn tails are cut back to the
//!   last complete fragment, real durations are measured ([`super::fmp4`]), unplayable files and
//!   rows without files are removed, and files without rows are indexed.
//!
//! A camera that sends audio has it recorded as a second track: the recorder consumes the
//! camera's audio hub too, and each segment that starts while audio flows gets an audio track.
//! An audio track that stops (the camera's audio went away) is ended after
//! [`AUDIO_SILENT_AFTER`] (a muxer would hold the video back waiting for it) and the next
//! segment starts at the next keyframe, video alone; audio that comes starts a segment the
//! same way.
//!
//! Segment names carry the wall-clock start (`camera0_2026-11-22_14-30-00`) plus a suffix when
//! that name was already used (clock set back, rebuild within the same second), so nothing is
//! ever overwritten.

use super::camera::CameraHandle;
use super::fmp4::writer::{Fragmenter, Sample, init_segment};
use super::hub::ConsumerId;
use super::mux::{Frame, OnSample, hub_branch, is_keyframe, sample, tracks_of};
use gst::prelude::*;
use pinhole_db::{Store, recordings};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Container formats (`start_recording`'s `format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Fragmented MP4 (default): survives a power cut.
    Fmp4,
    /// Classic MP4: the index is written when the segment closes, so a power cut loses the
    /// whole segment being written. For players that cannot read fragmented files.
    Mp4,
    /// Matroska: also survives truncation.
    Mkv,
}

impl Format {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "fmp4" => Format::Fmp4,
            "mp4" => Format::Mp4,
            "mkv" => Format::Mkv,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Fmp4 => "fmp4",
            Format::Mp4 => "mp4",
            Format::Mkv => "mkv",
        }
    }

    /// The GStreamer muxer of a format written by one; `None` for fragmented MP4, which
    /// Pinhole writes itself ([`super::fmp4::writer`]).
    fn muxer(self) -> Result<Option<gst::Element>, RecorderError> {
        let (name, factory) = match self {
            Format::Fmp4 => return Ok(None),
            Format::Mp4 => ("mp4mux", gst::ElementFactory::make("mp4mux")),
            Format::Mkv => ("matroskamux", gst::ElementFactory::make("matroskamux")),
        };
        factory
            .build()
            .map(Some)
            .map_err(|_| RecorderError::MissingElement(name))
    }
}

/// Why a recorder could not start. A storage problem never stops capture or streaming, only
/// the recording, and the message says which folder.
#[derive(Debug, thiserror::Error)]
pub enum RecorderError {
    #[error("cannot create {}: {source}", dir.display())]
    CreateDir {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write to {}: {source}", dir.display())]
    NotWritable {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0} is not available (gstreamer1.0-plugins-good)")]
    MissingElement(&'static str),
    #[error("cannot assemble the recorder: {0}")]
    Assemble(String),
    #[error("cannot start the recorder: {0}")]
    Start(String),
}

#[derive(Debug, Clone)]
pub struct RecorderSettings {
    pub dir: PathBuf,
    pub segment: Duration,
    pub sync_interval: Duration,
    /// Fragment duration of fragmented MP4.
    pub fragment: Duration,
}

/// The segment being written.
#[derive(Debug, Clone)]
struct OpenSegment {
    row: i64,
    path: PathBuf,
    filename: String,
}

/// Shared between the recorder, its GStreamer callbacks and its task.
struct Shared {
    camera: String,
    format: Format,
    trigger: String,
    dir: PathBuf,
    store: Store,
    clock: pinhole_base::clock::SharedClock,
    /// location → segment.
    open: Mutex<HashMap<String, OpenSegment>>,
    current: Mutex<Option<OpenSegment>>,
    /// Called when a segment closes (retention runs then).
    on_closed: Arc<dyn Fn() + Send + Sync>,
    events: pinhole_base::events::EventBus,
    /// How far before the start the first segment reaches (pre-roll), in ms; taken once.
    preroll_ms: std::sync::atomic::AtomicI64,
    segment: gst::ClockTime,
    fragment: Duration,
    /// The segment being written; replaced at the first keyframe past `segment`.
    writer: Mutex<Option<SegmentWriter>>,
    /// Write errors of the segment pipelines, for the watch task.
    errors: tokio::sync::mpsc::UnboundedSender<String>,
    /// For keyframe requests when a segment is due.
    source: std::sync::Weak<CameraHandle>,
    /// The camera's audio as last seen (lock after `writer`).
    audio: Mutex<AudioSeen>,
}

/// The caps and time of the last audio frame from the camera's audio hub.
#[derive(Default)]
struct AudioSeen {
    caps: Option<gst::Caps>,
    last: Option<gst::ClockTime>,
}

/// A segment's audio track is ended when no audio came for this long (a muxer would wait for
/// it, holding the video back; and the next segment should start without it).
const AUDIO_SILENT_AFTER: gst::ClockTime = gst::ClockTime::from_seconds(2);

/// Where a segment's frames go.
enum SegmentSink {
    /// Fragmented MP4, written by [`super::fmp4::writer`] on the recorder's own thread.
    Fmp4 {
        file: std::fs::File,
        fragmenter: Fragmenter<Frame>,
        /// Index of the audio track in the fragmenter, while it lasts.
        audio_track: Option<usize>,
        /// Write errors go to the watch task, once.
        errors: tokio::sync::mpsc::UnboundedSender<String>,
        failed: bool,
    },
    /// Classic MP4 and Matroska: a muxer pipeline, `appsrc ! mux ! filesink` (plus an audio
    /// `appsrc` into the muxer).
    Muxer {
        pipeline: gst::Pipeline,
        appsrc: gst_app::AppSrc,
        audio_appsrc: Option<gst_app::AppSrc>,
    },
}

/// One segment being written, fed frame by frame.
struct SegmentWriter {
    sink: SegmentSink,
    /// The caps of the audio being recorded; `None` without audio, or once it ended.
    audio: Option<gst::Caps>,
    location: String,
    caps: gst::Caps,
    /// Stream time of the segment's first frame: subtracted from every frame's timestamps.
    origin: gst::ClockTime,
}

impl SegmentWriter {
    /// Starts a segment at `origin` with video of `caps` and, when given, audio of
    /// `audio_caps`.
    fn start(
        shared: &Shared,
        caps: &gst::Caps,
        audio_caps: Option<gst::Caps>,
        origin: gst::ClockTime,
    ) -> Result<Self, String> {
        let location = shared
            .open_segment()
            .ok_or_else(|| "no segment name".to_string())?;
        let started = match shared.format.muxer().map_err(|e| e.to_string())? {
            None => Self::start_fmp4(shared, &location, caps, audio_caps),
            Some(mux) => Self::start_muxer(shared, &location, mux, caps, audio_caps),
        };
        match started {
            Ok((sink, audio)) => Ok(SegmentWriter {
                sink,
                audio,
                location,
                caps: caps.clone(),
                origin,
            }),
            Err(e) => {
                shared.close_segment(&location, "complete");
                Err(e)
            }
        }
    }

    /// The file, its init segment written.
    fn start_fmp4(
        shared: &Shared,
        location: &str,
        caps: &gst::Caps,
        audio_caps: Option<gst::Caps>,
    ) -> Result<(SegmentSink, Option<gst::Caps>), String> {
        use std::io::Write;
        let (tracks, audio) = tracks_of(&shared.camera, caps, audio_caps)?;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(location)
            .map_err(|e| format!("cannot create {location}: {e}"))?;
        file.write_all(&init_segment(&tracks))
            .map_err(|e| format!("cannot write {location}: {e}"))?;
        let sink = SegmentSink::Fmp4 {
            file,
            fragmenter: Fragmenter::new(&tracks, shared.fragment),
            audio_track: audio.as_ref().map(|_| 1),
            errors: shared.errors.clone(),
            failed: false,
        };
        Ok((sink, audio))
    }

    /// The muxer's pipeline, playing.
    fn start_muxer(
        shared: &Shared,
        location: &str,
        mux: gst::Element,
        caps: &gst::Caps,
        audio_caps: Option<gst::Caps>,
    ) -> Result<(SegmentSink, Option<gst::Caps>), String> {
        let pipeline = gst::Pipeline::with_name(&format!("segment-{}", shared.camera));
        let input = |caps: &gst::Caps| {
            gst_app::AppSrc::builder()
                .caps(caps)
                .format(gst::Format::Time)
                .is_live(false)
                .max_bytes(WRITER_QUEUE_BYTES)
                .leaky_type(gst_app::AppLeakyType::Downstream)
                .build()
        };
        let appsrc = input(caps);
        let sink = gst::ElementFactory::make("filesink")
            .property("location", location)
            // Every write reaches the page cache at once: a crashed process loses only what
            // the muxer had not finished.
            .property_from_str("buffer-mode", "unbuffered")
            .build()
            .map_err(|_| "filesink is not available".to_string())?;
        let assemble =
            |e: &dyn std::fmt::Display| format!("cannot assemble the segment writer: {e}");
        pipeline
            .add_many([appsrc.upcast_ref::<gst::Element>(), &mux, &sink])
            .and_then(|()| mux.link(&sink))
            .map_err(|e| assemble(&e))?;
        super::link_to_muxer(&appsrc, &mux, "video").map_err(|e| assemble(&e))?;
        // The audio track: a muxer that refuses it (its caps) records video alone.
        let audio = audio_caps.and_then(|caps| {
            let appsrc = input(&caps);
            let linked = pipeline
                .add(&appsrc)
                .map_err(|e| e.to_string())
                .and_then(|()| super::link_to_muxer(&appsrc, &mux, "audio"));
            match linked {
                Ok(_) => Some((appsrc, caps)),
                Err(e) => {
                    tracing::warn!(camera = %shared.camera, error = %e, "recording without the camera's audio");
                    let _ = pipeline.remove(&appsrc);
                    None
                }
            }
        });
        if let Some(bus) = pipeline.bus() {
            let errors = shared.errors.clone();
            bus.set_sync_handler(move |_, msg| match msg.view() {
                gst::MessageView::Eos(_) => gst::BusSyncReply::Pass,
                gst::MessageView::Error(e) => {
                    let _ = errors.send(e.error().to_string());
                    gst::BusSyncReply::Pass
                }
                _ => gst::BusSyncReply::Drop,
            });
        }
        if let Err(e) = pipeline.set_state(gst::State::Playing) {
            let _ = pipeline.set_state(gst::State::Null);
            return Err(format!("cannot start the segment writer: {e}"));
        }
        let (audio_appsrc, audio) = audio.unzip();
        let sink = SegmentSink::Muxer {
            pipeline,
            appsrc,
            audio_appsrc,
        };
        Ok((sink, audio))
    }

    /// A buffer with its timestamps made relative to `origin`, the segment's start.
    fn rebase(origin: gst::ClockTime, buffer: &gst::BufferRef) -> gst::Buffer {
        let mut b = buffer.to_owned();
        {
            let b = b.make_mut();
            if let Some(p) = b.pts() {
                b.set_pts(p.saturating_sub(origin));
            }
            if let Some(d) = b.dts() {
                b.set_dts(d.saturating_sub(origin));
            }
        }
        b
    }

    /// Pushes a frame, its timestamps made relative to the segment's start.
    fn push(&mut self, buffer: &gst::BufferRef) -> Result<gst::FlowSuccess, gst::FlowError> {
        match &mut self.sink {
            SegmentSink::Muxer { appsrc, .. } => {
                appsrc.push_buffer(Self::rebase(self.origin, buffer))
            }
            SegmentSink::Fmp4 { .. } => match sample(self.origin, buffer, is_keyframe(buffer)) {
                Some(s) => self.write(0, s),
                None => Ok(gst::FlowSuccess::Ok),
            },
        }
    }

    /// Hands a sample of `track` to the fragmented MP4 writer; writes the fragment it
    /// completes.
    fn write(
        &mut self,
        track: usize,
        sample: Sample<Frame>,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let SegmentSink::Fmp4 {
            file,
            fragmenter,
            errors,
            failed,
            ..
        } = &mut self.sink
        else {
            return Ok(gst::FlowSuccess::Ok);
        };
        if *failed {
            return Err(gst::FlowError::Error);
        }
        if let Some(fragment) = fragmenter.push(track, sample)
            && let Err(e) = fragment.write_to(file)
        {
            *failed = true;
            let _ = errors.send(format!("cannot write {}: {e}", self.location));
            return Err(gst::FlowError::Error);
        }
        Ok(gst::FlowSuccess::Ok)
    }

    /// Pushes an audio frame of `caps` at `t` (from the segment's start on; other caps end the
    /// audio track).
    fn push_audio(&mut self, buffer: &gst::BufferRef, caps: &gst::CapsRef, t: gst::ClockTime) {
        let Some(recorded) = self.audio.as_ref() else {
            return;
        };
        if t < self.origin {
            return;
        }
        if recorded.as_ref() != caps {
            self.end_audio();
            return;
        }
        match &mut self.sink {
            SegmentSink::Muxer {
                audio_appsrc: Some(a),
                ..
            } => {
                let _ = a.push_buffer(Self::rebase(self.origin, buffer));
            }
            SegmentSink::Fmp4 {
                audio_track: Some(track),
                ..
            } => {
                let track = *track;
                if let Some(s) = sample(self.origin, buffer, true) {
                    let _ = self.write(track, s);
                }
            }
            _ => {}
        }
    }

    /// Ends the audio track when the camera's audio stopped before `t`.
    fn end_silent_audio(&mut self, last_audio: Option<gst::ClockTime>, t: gst::ClockTime) {
        let heard = last_audio.map_or(self.origin, |l| l.max(self.origin));
        if self.audio.is_some() && t.saturating_sub(heard) > AUDIO_SILENT_AFTER {
            self.end_audio();
        }
    }

    /// No more audio in this segment.
    fn end_audio(&mut self) {
        self.audio = None;
        match &mut self.sink {
            SegmentSink::Muxer { audio_appsrc, .. } => {
                if let Some(a) = audio_appsrc.take() {
                    let _ = a.end_of_stream();
                }
            }
            SegmentSink::Fmp4 { audio_track, .. } => *audio_track = None,
        }
    }

    /// Ends the segment: the last fragment written (or EOS through the muxer, with a bounded
    /// wait), then the file is synced and indexed. Blocking.
    fn finish(mut self, shared: &Shared) {
        self.end_audio();
        match self.sink {
            SegmentSink::Fmp4 {
                mut file,
                mut fragmenter,
                failed,
                ..
            } => {
                if let Some(fragment) = fragmenter.finish().filter(|_| !failed)
                    && let Err(e) = fragment.write_to(&mut file)
                {
                    tracing::warn!(camera = %shared.camera, error = %e, location = %self.location, "cannot write a segment's last fragment");
                }
                let _ = file.sync_data();
            }
            SegmentSink::Muxer {
                pipeline, appsrc, ..
            } => {
                let _ = appsrc.end_of_stream();
                if let Some(bus) = pipeline.bus() {
                    let _ = bus.timed_pop_filtered(
                        gst::ClockTime::from_seconds(5),
                        &[gst::MessageType::Eos, gst::MessageType::Error],
                    );
                }
                let _ = pipeline.set_state(gst::State::Null);
                if let Ok(f) = std::fs::File::open(&self.location) {
                    let _ = f.sync_data();
                }
            }
        }
        shared.close_segment(&self.location, "complete");
    }
}

/// The most a segment writer queues when the disk falls behind; newer frames are dropped.
const WRITER_QUEUE_BYTES: u64 = 8 * 1024 * 1024;

impl Shared {
    /// Picks the next segment name and indexes it (runs on the recorder's thread).
    fn open_segment(&self) -> Option<String> {
        let preroll = self
            .preroll_ms
            .swap(0, std::sync::atomic::Ordering::Relaxed);
        let now = self.clock.now_ms() - preroll;
        let stamp = jiff::Timestamp::from_millisecond(now)
            .map(|t| t.strftime("%Y-%m-%d_%H-%M-%S").to_string())
            .unwrap_or_else(|_| now.to_string());
        let base = format!("{}_{stamp}", self.camera);
        let ext = recordings::extension(self.format.as_str());
        let res = self.store.call_blocking(|c| {
            let mut name = base.clone();
            let mut n = 1;
            while recordings::filename_taken(c, &name)?
                || self.dir.join(format!("{name}.{ext}")).exists()
            {
                n += 1;
                name = format!("{base}_{n}");
            }
            let row = recordings::insert_open(
                c,
                &self.camera,
                &name,
                now,
                self.format.as_str(),
                &self.trigger,
            )?;
            Ok((name, row))
        });
        let (filename, row) = match res {
            Ok(v) => v,
            Err(e) => {
                tracing::error!(camera = %self.camera, error = %e, "cannot index a new segment; recording it anyway");
                (format!("{base}_{}", now % 1000), -1)
            }
        };
        let path = self.dir.join(format!("{filename}.{ext}"));
        let loc = path.to_string_lossy().into_owned();
        let seg = OpenSegment {
            row,
            path,
            filename: filename.clone(),
        };
        self.open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(loc.clone(), seg.clone());
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = Some(seg);
        tracing::debug!(camera = %self.camera, %filename, "segment opened");
        Some(loc)
    }

    /// Finalises the segment at `location` (written to its end, or cut short by an error).
    fn close_segment(&self, location: &str, state: &str) {
        let Some(seg) = self
            .open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(location)
        else {
            return;
        };
        {
            let mut cur = self.current.lock().unwrap_or_else(|p| p.into_inner());
            if cur.as_ref().is_some_and(|c| c.row == seg.row) {
                *cur = None;
            }
        }
        let size = std::fs::metadata(&seg.path)
            .map(|m| m.len() as i64)
            .unwrap_or(0);
        let now = self.clock.now_ms();
        if seg.row >= 0
            && let Err(e) = self
                .store
                .call_blocking(|c| recordings::finish(c, seg.row, now, size, state))
        {
            tracing::error!(camera = %self.camera, error = %e, filename = %seg.filename, "cannot finalise a segment's index row");
        }
        tracing::debug!(camera = %self.camera, filename = %seg.filename, size, "segment closed");
        self.events.publish(
            "recording.progress",
            serde_json::json!({"device": self.camera, "filename": seg.filename, "file_size": size, "status": "SEGMENT_CLOSED"}),
            now,
        );
        (self.on_closed)();
    }

    /// A frame from the hub (the recorder's streaming thread): written to the current segment,
    /// or opens the next one at a keyframe once the segment is due or the caps changed.
    fn on_sample(
        self: &Arc<Self>,
        sample: &gst::Sample,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let (Some(buffer), Some(caps)) = (sample.buffer(), sample.caps()) else {
            return Ok(gst::FlowSuccess::Ok);
        };
        let Some(t) = buffer.dts_or_pts() else {
            return Ok(gst::FlowSuccess::Ok);
        };
        let keyframe = is_keyframe(buffer);
        let mut writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let (audio, last_audio) = self.audio_flowing(t, writer.is_none());
        if let Some(w) = writer.as_mut() {
            w.end_silent_audio(last_audio, t);
        }
        let due = match writer.as_ref() {
            None => true,
            Some(w) => {
                w.caps != *caps
                    || t < w.origin
                    || t - w.origin >= self.segment
                    // The camera's audio came or went: the next segment has the tracks it sends.
                    || (audio.is_some() != w.audio.is_some())
            }
        };
        if due && !keyframe {
            if writer.is_none() {
                return Ok(gst::FlowSuccess::Ok); // a segment starts with a keyframe
            }
            if let Some(cam) = self.source.upgrade() {
                cam.request_keyframe();
            }
        } else if due {
            let next = SegmentWriter::start(self, &caps.to_owned(), audio, t).map_err(|e| {
                let _ = self.errors.send(e);
                gst::FlowError::Error
            })?;
            if let Some(old) = writer.replace(next) {
                let shared = self.clone();
                std::thread::Builder::new()
                    .name("segment-close".into())
                    .spawn(move || old.finish(&shared))
                    .map_err(|_| gst::FlowError::Error)?;
            }
        }
        match writer.as_mut() {
            Some(w) => w.push(buffer),
            None => Ok(gst::FlowSuccess::Ok),
        }
    }

    /// The caps of the camera's audio when it is flowing at `t` (or, for the `first` segment,
    /// before the recorder heard any, when the camera has audio), and when its last frame was.
    fn audio_flowing(
        &self,
        t: gst::ClockTime,
        first: bool,
    ) -> (Option<gst::Caps>, Option<gst::ClockTime>) {
        let seen = self.audio.lock().unwrap_or_else(|p| p.into_inner());
        let caps = match seen.last {
            Some(l) => seen
                .caps
                .clone()
                .filter(|_| t.saturating_sub(l) < AUDIO_SILENT_AFTER),
            None if first => self.source.upgrade().and_then(|c| c.audio_caps()),
            None => None,
        };
        (caps, seen.last)
    }

    /// An audio frame from the camera's audio hub: into the current segment's audio track.
    fn on_audio_sample(&self, sample: &gst::Sample) -> Result<gst::FlowSuccess, gst::FlowError> {
        let (Some(buffer), Some(caps)) = (sample.buffer(), sample.caps()) else {
            return Ok(gst::FlowSuccess::Ok);
        };
        let Some(t) = buffer.pts() else {
            return Ok(gst::FlowSuccess::Ok);
        };
        let mut writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        {
            let mut seen = self.audio.lock().unwrap_or_else(|p| p.into_inner());
            if seen.caps.as_ref().map(|c| c.as_ref()) != Some(caps) {
                seen.caps = Some(caps.to_owned());
            }
            seen.last = Some(t);
        }
        if let Some(w) = writer.as_mut() {
            w.push_audio(buffer, caps, t);
        }
        Ok(gst::FlowSuccess::Ok)
    }

    /// Finishes the segment being written and finalises any other still open (blocking).
    fn finish_all(&self) {
        let w = self.writer.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(w) = w {
            w.finish(self);
        }
        self.close_all("complete");
    }

    fn close_all(&self, state: &str) {
        let locs: Vec<String> = self
            .open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .cloned()
            .collect();
        for l in locs {
            self.close_segment(&l, state);
        }
    }
}

/// A running recorder.
pub struct Recorder {
    pipeline: gst::Pipeline,
    appsrc: gst_app::AppSrc,
    consumer: ConsumerId,
    audio_appsrc: gst_app::AppSrc,
    audio_consumer: ConsumerId,
    camera: Arc<CameraHandle>,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<String>,
    stop: tokio_util::sync::CancellationToken,
    pub started_ms: i64,
    pub format: Format,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("camera", &self.camera.id)
            .finish_non_exhaustive()
    }
}

/// Everything `start` needs from the engine.
pub struct StartArgs {
    pub camera: Arc<CameraHandle>,
    pub format: Format,
    pub trigger: String,
    pub settings: RecorderSettings,
    pub store: Store,
    pub clock: pinhole_base::clock::SharedClock,
    pub events: pinhole_base::events::EventBus,
    pub on_closed: Arc<dyn Fn() + Send + Sync>,
}

impl Recorder {
    /// Starts recording; blocking (state changes), call from the blocking pool.
    pub fn start(a: StartArgs) -> Result<Self, RecorderError> {
        let dir = a.settings.dir.join(&a.camera.id);
        std::fs::create_dir_all(&dir).map_err(|source| RecorderError::CreateDir {
            dir: dir.clone(),
            source,
        })?;
        let probe = dir.join(".pinhole-write-test");
        std::fs::write(&probe, b"").map_err(|source| RecorderError::NotWritable {
            dir: dir.clone(),
            source,
        })?;
        let _ = std::fs::remove_file(&probe);

        let (errors, error_rx) = tokio::sync::mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            camera: a.camera.id.clone(),
            format: a.format,
            trigger: a.trigger,
            dir: dir.clone(),
            store: a.store,
            clock: a.clock.clone(),
            open: Mutex::default(),
            current: Mutex::default(),
            on_closed: a.on_closed,
            events: a.events,
            preroll_ms: Default::default(),
            segment: gst::ClockTime::from_nseconds(a.settings.segment.as_nanos() as u64),
            fragment: a.settings.fragment,
            writer: Mutex::default(),
            errors,
            source: Arc::downgrade(&a.camera),
            audio: Mutex::default(),
        });
        // Checked here so that a missing muxer fails the start, not the first frame.
        a.format.muxer()?;
        let pipeline = gst::Pipeline::with_name(&format!("recorder-{}", a.camera.id));
        // One `appsrc ! appsink` per hub: the camera's video, and its audio when it has some.
        let branch = |name: &str, on_sample: OnSample| {
            hub_branch(&pipeline, name, on_sample).map_err(RecorderError::Assemble)
        };
        let appsrc = {
            let shared = shared.clone();
            branch("src", Box::new(move |s| shared.on_sample(s)))?
        };
        let audio_appsrc = {
            let shared = shared.clone();
            branch("audiosrc", Box::new(move |s| shared.on_audio_sample(s)))?
        };
        super::adopt_shared_clock(&pipeline);
        if let Err(e) = pipeline.set_state(gst::State::Playing) {
            let _ = pipeline.set_state(gst::State::Null);
            return Err(RecorderError::Start(e.to_string()));
        }
        // An event recording starts with the camera's current GOP: the moments before the
        // trigger, up to one keyframe interval.
        let consumer = if shared.trigger == "event" {
            let (id, reach) = a.camera.hub.attach_with_preroll(&appsrc);
            if let Some(r) = reach {
                shared
                    .preroll_ms
                    .store(r.as_millis() as i64, std::sync::atomic::Ordering::Relaxed);
            }
            id
        } else {
            a.camera.hub.attach(&appsrc)
        };
        let audio_consumer = a.camera.audio.attach(&audio_appsrc);
        let stop = tokio_util::sync::CancellationToken::new();
        let task = tokio::runtime::Handle::current().spawn(watch(
            pipeline.clone(),
            shared.clone(),
            error_rx,
            a.settings.sync_interval,
            stop.clone(),
        ));
        Ok(Self {
            pipeline,
            appsrc,
            consumer,
            audio_appsrc,
            audio_consumer,
            camera: a.camera,
            shared,
            task,
            stop,
            started_ms: a.clock.now_ms(),
            format: a.format,
        })
    }

    /// The segment being written.
    pub fn current_filename(&self) -> Option<String> {
        self.shared
            .current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|s| s.filename.clone())
    }

    /// Has the recorder's watch task ended (a write error)? `stop` then returns the reason.
    pub fn failed(&self) -> bool {
        self.task.is_finished()
    }

    /// Stops: the current segment is finished (its last fragment, or EOS through its muxer),
    /// synced and indexed.
    pub async fn stop(self) -> Option<String> {
        self.camera.hub.detach(self.consumer);
        self.camera.audio.detach(self.audio_consumer);
        let _ = self.appsrc.end_of_stream();
        let _ = self.audio_appsrc.end_of_stream();
        self.stop.cancel();
        let reason = match tokio::time::timeout(Duration::from_secs(5), self.task).await {
            Ok(Ok(r)) => Some(r),
            _ => None,
        };
        let (pipeline, shared) = (self.pipeline.clone(), self.shared.clone());
        let _ = tokio::task::spawn_blocking(move || {
            let _ = pipeline.set_state(gst::State::Null);
            shared.finish_all();
        })
        .await;
        reason
    }
}

/// Watches the recorder's bus and its segment writers' errors; syncs the open segment
/// periodically. Returns why it ended.
async fn watch(
    pipeline: gst::Pipeline,
    shared: Arc<Shared>,
    mut errors: tokio::sync::mpsc::UnboundedReceiver<String>,
    sync_every: Duration,
    stop: tokio_util::sync::CancellationToken,
) -> String {
    use futures_util::StreamExt;
    let Some(bus) = pipeline.bus() else {
        return "recorder pipeline has no bus".into();
    };
    let mut messages = bus.stream();
    let mut sync = tokio::time::interval(sync_every);
    sync.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let failed = |reason: String| {
        let shared = shared.clone();
        async move {
            tracing::error!(camera = %shared.camera, error = %reason, "recording failed");
            let s2 = shared.clone();
            let _ = tokio::task::spawn_blocking(move || {
                s2.finish_all();
            })
            .await;
            shared.events.publish(
                "recording.error",
                serde_json::json!({"device": shared.camera, "error": reason}),
                shared.clock.now_ms(),
            );
            reason
        }
    };
    loop {
        tokio::select! {
            _ = stop.cancelled() => return "stopped".into(),
            _ = sync.tick() => {
                let cur = shared.current.lock().unwrap_or_else(|p| p.into_inner()).clone();
                if let Some(seg) = cur {
                    let store = shared.store.clone();
                    let _ = tokio::task::spawn_blocking(move || {
                        // fdatasync through a second descriptor flushes the same inode.
                        if let Ok(f) = std::fs::File::open(&seg.path) {
                            let _ = f.sync_data();
                            if let Ok(m) = f.metadata() && seg.row >= 0 {
                                let _ = store.call_blocking(|c| recordings::set_size(c, seg.row, m.len() as i64));
                            }
                        }
                    }).await;
                }
            }
            Some(reason) = errors.recv() => return failed(reason).await,
            msg = messages.next() => {
                let Some(msg) = msg else { return "bus closed".into() };
                match msg.view() {
                    gst::MessageView::Eos(_) => return "stopped".into(),
                    gst::MessageView::Error(err) => {
                        // A writer's error reaches the front pipeline as a flow error; the
                        // writer's own message says more, when there is one.
                        let reason = errors.try_recv().unwrap_or_else(|_| err.error().to_string());
                        return failed(reason).await;
                    }
                    _ => {}
                }
            }
        }
    }
}

/// What start-up reconciliation did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReconcileReport {
    /// Open rows repaired (duration measured, torn tail cut).
    pub recovered: u32,
    /// Bytes cut from torn tails.
    pub trimmed_bytes: u64,
    /// Unplayable files (and their rows) removed.
    pub removed_unplayable: u32,
    /// Rows whose file is gone.
    pub removed_missing: u32,
    /// Files found without a row, now indexed.
    pub indexed_orphans: u32,
}

/// Repairs one possibly torn MP4 file; returns (playable duration ms, new size) or None if it
/// holds nothing playable.
fn repair_mp4(path: &Path, report: &mut ReconcileReport) -> std::io::Result<Option<(u64, u64)>> {
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)?;
    let scan = match super::fmp4::scan(&mut f) {
        Ok(s) => s,
        Err(super::fmp4::ScanError::Io(e)) => return Err(e),
        Err(_) => return Ok(None),
    };
    if !scan.is_playable() {
        return Ok(None);
    }
    if let Some(salvage) = &scan.salvage {
        // The torn fragment keeps its whole samples. Patches first: a crash before the cut
        // leaves a complete fragment followed by a tail the next scan cuts.
        use std::os::unix::fs::FileExt;
        for (at, bytes) in &salvage.patches {
            f.write_all_at(bytes, *at)?;
        }
        f.set_len(salvage.len)?;
        f.sync_all()?;
        report.trimmed_bytes += scan.file_len - salvage.len;
        return Ok(Some((scan.salvaged_duration_ms(), salvage.len)));
    }
    if scan.is_truncated() {
        f.set_len(scan.playable_len)?;
        f.sync_all()?;
        report.trimmed_bytes += scan.file_len - scan.playable_len;
    }
    Ok(Some((scan.duration_ms(), scan.playable_len)))
}

/// Brings the index and the recordings directory back in line after a crash (blocking).
pub fn reconcile(
    store: &Store,
    dir: &Path,
    now_ms: i64,
) -> Result<ReconcileReport, pinhole_db::StoreError> {
    let mut report = ReconcileReport::default();
    let rows = store.call_blocking(|c| recordings::all_oldest_first(c))?;
    let mut known = std::collections::HashSet::new();
    for r in &rows {
        let path = dir.join(&r.camera_id).join(r.file_name());
        known.insert(path.clone());
        if !path.exists() {
            store.call_blocking(|c| recordings::delete(c, r.id))?;
            report.removed_missing += 1;
            continue;
        }
        if r.state != "open" {
            continue;
        }
        let outcome = if r.format == "mkv" {
            // Matroska players cope with a torn tail; keep it with the time it was last written.
            let end = std::fs::metadata(&path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_millis() as i64)
                .unwrap_or(now_ms);
            let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            Some(((end - r.start_ms).max(0) as u64, size))
        } else {
            match repair_mp4(&path, &mut report) {
                Ok(v) => v,
                Err(e) => {
                    tracing::warn!(file = %path.display(), error = %e, "cannot repair a segment; marking it damaged");
                    store.call_blocking(|c| {
                        recordings::finish(c, r.id, r.start_ms, r.size_bytes, "damaged")
                    })?;
                    continue;
                }
            }
        };
        match outcome {
            Some((dur, size)) => {
                store.call_blocking(|c| {
                    recordings::finish(c, r.id, r.start_ms + dur as i64, size as i64, "recovered")
                })?;
                report.recovered += 1;
                tracing::info!(file = %path.display(), duration_ms = dur, "recovered an unfinished segment");
            }
            None => {
                let _ = std::fs::remove_file(&path);
                store.call_blocking(|c| recordings::delete(c, r.id))?;
                report.removed_unplayable += 1;
                tracing::info!(file = %path.display(), "removed an unfinished segment with nothing playable in it");
            }
        }
    }
    // Files without rows (the database was restored from an older copy, or the row insert failed).
    let Ok(cams) = std::fs::read_dir(dir) else {
        return Ok(report);
    };
    for cam in cams.flatten() {
        let Ok(files) = std::fs::read_dir(cam.path()) else {
            continue;
        };
        let camera_id = cam.file_name().to_string_lossy().into_owned();
        for f in files.flatten() {
            let path = f.path();
            if known.contains(&path) {
                continue;
            }
            let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
            let format = match ext {
                "mp4" => "fmp4",
                "mkv" => "mkv",
                _ => continue,
            };
            let Some(stem) = path
                .file_stem()
                .and_then(|s| s.to_str())
                .map(str::to_string)
            else {
                continue;
            };
            let modified_ms = f
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_millis() as i64)
                .unwrap_or(now_ms);
            let (dur, size) = if format == "mkv" {
                (0, f.metadata().map(|m| m.len()).unwrap_or(0))
            } else {
                match repair_mp4(&path, &mut report) {
                    Ok(Some(v)) => v,
                    _ => continue,
                }
            };
            let start = modified_ms - dur as i64;
            store.call_blocking(|c| {
                if recordings::filename_taken(c, &stem)? {
                    return Ok(());
                }
                let id =
                    recordings::insert_open(c, &camera_id, &stem, start, format, "continuous")?;
                recordings::finish(c, id, modified_ms, size as i64, "recovered")
            })?;
            report.indexed_orphans += 1;
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconcile_repairs_torn_segments_and_orphans() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.db")).unwrap();
        let rec = dir.path().join("rec");
        std::fs::create_dir_all(rec.join("camera0")).unwrap();
        let full = crate::fmp4::tests::synthetic(3);
        // Torn: 2 complete fragments and half a third (14 of its 30 samples whole).
        let torn_len = full.len() - 1550;
        std::fs::write(rec.join("camera0/camera0_a.mp4"), &full[..torn_len]).unwrap();
        // Nothing playable: only the header.
        std::fs::write(rec.join("camera0/camera0_b.mp4"), &full[..40]).unwrap();
        // A file without a row.
        std::fs::write(rec.join("camera0/camera0_c.mp4"), &full).unwrap();
        store
            .call_blocking(|c| {
                recordings::insert_open(c, "camera0", "camera0_a", 1_000, "fmp4", "continuous")?;
                recordings::insert_open(c, "camera0", "camera0_b", 2_000, "fmp4", "continuous")?;
                recordings::insert_open(c, "camera0", "camera0_gone", 3_000, "fmp4", "continuous")?;
                Ok(())
            })
            .unwrap();
        let r = reconcile(&store, &rec, 10_000).unwrap();
        assert_eq!(r.recovered, 1);
        assert_eq!(r.removed_unplayable, 1);
        assert_eq!(r.removed_missing, 1);
        assert_eq!(r.indexed_orphans, 1);
        assert!(r.trimmed_bytes > 0);
        let a = store
            .call_blocking(|c| recordings::get(c, "camera0_a"))
            .unwrap()
            .unwrap();
        assert_eq!(a.state, "recovered");
        assert_eq!(a.duration_ms(), Some(2466));
        assert_eq!(
            std::fs::metadata(rec.join("camera0/camera0_a.mp4"))
                .unwrap()
                .len() as i64,
            a.size_bytes
        );
        assert!(!rec.join("camera0/camera0_b.mp4").exists());
        let c = store
            .call_blocking(|c| recordings::get(c, "camera0_c"))
            .unwrap()
            .unwrap();
        assert_eq!(c.duration_ms(), Some(3000));
        // Idempotent.
        assert_eq!(
            reconcile(&store, &rec, 10_000).unwrap(),
            ReconcileReport::default()
        );
    }
}
