//! The low-latency browser path: fragmented MP4 over a WebSocket, for Media Source Extensions.
//!
//! Chosen over WebRTC (webrtcbin + WHEP) for an appliance on a local network because it rides
//! the same HTTP(S) port, TLS and session as the rest of the page (no ICE, STUN, UDP port ranges
//! or libnice on the image), never re-encodes (the camera's H.264 is only re-muxed), and is
//! testable end to end with a plain WebSocket client and `ffmpeg`. Latency is one fragment
//! (~200 ms) plus the browser's buffer, against WebRTC's ~100 ms; MJPEG remains the
//! works-everywhere fallback.
//!
//! Each viewer gets its own muxer on the camera's hub ([`HubMuxer`]: `appsrc ! appsink` into
//! Pinhole's fMP4 writer), so every viewer starts with an init segment and a keyframe (the hub
//! asks the encoder for one) and a slow viewer never delays another. Each WebSocket message is the init
//! segment or one whole fragment ([`super::fmp4::FragmentSplitter`]), appendable on its own.
//! A viewer that falls more than `QUEUE` fragments behind is disconnected rather than sent a
//! stream with holes.

use super::camera::CameraHandle;
use super::fmp4::writer::{Fragment, Fragmenter, init_segment};
use super::hub::ConsumerId;
use super::mux::{Frame, hub_branch, is_keyframe, sample as sample_of, tracks_of};
use super::pipeline::VideoCodec;
use bytes::Bytes;
use gst::prelude::*;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Fragments buffered per viewer (~6 s at 200 ms) before it counts as too slow.
const QUEUE: usize = 30;

/// The MSE type (`video/mp4; codecs="avc1.PPCCLL"` or `"hvc1.…"`, then `mp4a.40.N` with
/// `audio`) from the camera's caps.
pub fn mime_type(cam: &CameraHandle, audio: Option<&gst::Caps>) -> Option<String> {
    let caps = cam.video_caps()?;
    let s = caps.structure(0)?;
    let codec = VideoCodec::from_media_type(s.name())?;
    let data = s.get::<gst::Buffer>("codec_data").ok()?;
    let map = data.map_readable().ok()?;
    let mut codecs = match codec {
        VideoCodec::H264 => avc1_codec(map.as_slice())?,
        VideoCodec::H265 => hvc1_codec(map.as_slice())?,
    };
    if let Some(a) = audio {
        let config = a.structure(0)?.get::<gst::Buffer>("codec_data").ok()?;
        let config = config.map_readable().ok()?;
        codecs.push_str(&format!(", {}", mp4a_codec(config.as_slice())?));
    }
    Some(format!("video/mp4; codecs=\"{codecs}\""))
}

/// RFC 6381 name of an AAC stream from its `AudioSpecificConfig`: `mp4a.40.` and the audio
/// object type (5 bits, or 32 + the next 6 after the escape value 31).
fn mp4a_codec(config: &[u8]) -> Option<String> {
    let first = *config.first()?;
    let mut object_type = first >> 3;
    if object_type == 31 {
        let second = *config.get(1)?;
        object_type = 32 + (((first & 0x07) << 3) | (second >> 5));
    }
    (object_type > 0).then(|| format!("mp4a.40.{object_type}"))
}

/// RFC 6381 name of an H.264 stream from its `avcC` record: `avc1.` profile, constraints, level.
fn avc1_codec(avcc: &[u8]) -> Option<String> {
    let b = avcc.get(..4)?;
    Some(format!("avc1.{:02x}{:02x}{:02x}", b[1], b[2], b[3]))
}

/// The ISO/IEC 14496-15 (annex E) name of an H.265 stream from its `hvcC` record, as browsers'
/// `MediaSource.isTypeSupported` expects it: `hvc1.` profile space and idc, compatibility flags
/// (bit-reversed, hex), tier and level, constraint bytes without trailing zeros.
fn hvc1_codec(hvcc: &[u8]) -> Option<String> {
    let b = hvcc.get(..13)?;
    let space = ["", "A", "B", "C"][usize::from(b[1] >> 6)];
    let tier = if b[1] & 0x20 != 0 { 'H' } else { 'L' };
    let profile = b[1] & 0x1f;
    let compat = u32::from_be_bytes([b[2], b[3], b[4], b[5]]).reverse_bits();
    let mut name = format!("hvc1.{space}{profile}.{compat:X}.{tier}{}", b[12]);
    let constraints = &b[6..12];
    let used = constraints
        .iter()
        .rposition(|&c| c != 0)
        .map_or(0, |i| i + 1);
    for c in &constraints[..used] {
        name.push_str(&format!(".{c:X}"));
    }
    Some(name)
}

/// A muxer on a camera's hubs whose output bytes (the init segment, then one `moof` + `mdat`
/// per fragment) go to `on_bytes`; what live viewers and HLS share. Frames are taken from the
/// hub through `appsrc ! appsink` and written by Pinhole's own fMP4 writer on that thread:
/// no parser, no muxer thread. Dropping it stops the pipeline and detaches from the hubs.
pub(crate) struct HubMuxer {
    pipeline: gst::Pipeline,
    pub(crate) camera: Arc<CameraHandle>,
    consumer: ConsumerId,
    audio_consumer: Option<ConsumerId>,
}

/// Where bytes of a muxer go.
type OnBytes = Box<dyn FnMut(&[u8]) -> Result<(), gst::FlowError> + Send>;

/// A muxer's state, shared by its video and audio branches.
struct Muxing {
    on_bytes: OnBytes,
    fragment: std::time::Duration,
    /// The camera's audio, as the stream carries it.
    audio: Option<gst::Caps>,
    /// The camera's id, for the log.
    camera: String,
    /// Once the first keyframe came.
    stream: Option<MuxedStream>,
}

struct MuxedStream {
    caps: gst::Caps,
    origin: gst::ClockTime,
    fragmenter: Fragmenter<Frame>,
    /// The time of the last audio frame (or the start), when the stream has audio.
    heard: Option<gst::ClockTime>,
}

/// A stream with audio ends when the camera's audio stopped for this long: players wait for
/// the samples of every track the init segment lists.
const AUDIO_GONE: gst::ClockTime = gst::ClockTime::from_seconds(3);

impl Muxing {
    /// No more output: `on_bytes` (and whatever it holds, a viewer's queue) is dropped.
    fn end(&mut self, why: &str) -> gst::FlowError {
        tracing::debug!(why, "a live muxer ended");
        self.on_bytes = Box::new(|_| Err(gst::FlowError::Eos));
        // Nothing more is taken in (the audio branch stops at once).
        self.stream = None;
        self.audio = None;
        gst::FlowError::Eos
    }

    fn emit(&mut self, fragment: Fragment<Frame>) -> Result<(), gst::FlowError> {
        let mut bytes = Vec::with_capacity(fragment.len());
        fragment
            .write_to(&mut bytes)
            .map_err(|_| gst::FlowError::Error)?;
        (self.on_bytes)(&bytes)
    }

    /// A video frame: the init segment at the first keyframe, then into the fragments.
    fn video(&mut self, sample: &gst::Sample) -> Result<gst::FlowSuccess, gst::FlowError> {
        let (Some(buffer), Some(caps)) = (sample.buffer(), sample.caps()) else {
            return Ok(gst::FlowSuccess::Ok);
        };
        let keyframe = is_keyframe(buffer);
        match &self.stream {
            // New stream parameters (a rebuilt capture) cannot follow this init segment: the
            // consumer starts over with a new muxer.
            Some(s) if s.caps.as_ref() != caps => {
                return Err(self.end("new stream parameters"));
            }
            Some(_) => {}
            None if !keyframe => return Ok(gst::FlowSuccess::Ok),
            None => {
                let Some(origin) = buffer.dts_or_pts() else {
                    return Ok(gst::FlowSuccess::Ok);
                };
                let (tracks, audio) = tracks_of(&self.camera, caps, self.audio.take()).map_err(|e| {
                    tracing::warn!(camera = %self.camera, error = %e, "cannot mux the camera's video");
                    gst::FlowError::NotNegotiated
                })?;
                self.audio = audio;
                (self.on_bytes)(&init_segment(&tracks))?;
                self.stream = Some(MuxedStream {
                    caps: caps.to_owned(),
                    origin,
                    fragmenter: Fragmenter::new(&tracks, self.fragment),
                    heard: self.audio.as_ref().map(|_| origin),
                });
            }
        }
        let Some(s) = self.stream.as_mut() else {
            return Ok(gst::FlowSuccess::Ok);
        };
        if let (Some(heard), Some(t)) = (s.heard, buffer.dts_or_pts())
            && t.saturating_sub(heard) > AUDIO_GONE
        {
            return Err(self.end("the camera's audio stopped"));
        }
        let done = sample_of(s.origin, buffer, keyframe).and_then(|x| s.fragmenter.push(0, x));
        if let Some(fragment) = done {
            self.emit(fragment)?;
        }
        Ok(gst::FlowSuccess::Ok)
    }

    /// An audio frame: into the fragment being made, when the stream has the camera's audio.
    fn audio(&mut self, sample: &gst::Sample) {
        let (Some(buffer), Some(caps), Some(s)) =
            (sample.buffer(), sample.caps(), self.stream.as_mut())
        else {
            return;
        };
        let Some(t) = buffer.pts().filter(|&t| t >= s.origin) else {
            return;
        };
        if s.heard.is_some()
            && self.audio.as_ref().is_some_and(|a| a.as_ref() == caps)
            && let Some(x) = sample_of(s.origin, buffer, true)
        {
            s.heard = Some(t);
            let _ = s.fragmenter.push(1, x);
        }
    }
}

impl HubMuxer {
    /// `fragment_ms`: the fragment duration (1 cuts a fragment per frame). `audio`: the caps of
    /// the camera's AAC, which goes in as a second track; the stream ends when that audio stops
    /// or changes.
    pub(crate) fn start(
        camera: Arc<CameraHandle>,
        name: &str,
        fragment_ms: u32,
        audio: Option<gst::Caps>,
        on_bytes: impl FnMut(&[u8]) -> Result<(), gst::FlowError> + Send + 'static,
    ) -> Result<Self, String> {
        if camera.codec().is_none() {
            return Err("the camera is not streaming".into());
        }
        let pipeline = gst::Pipeline::with_name(&format!("{name}-{}", camera.id));
        let muxing = Arc::new(std::sync::Mutex::new(Muxing {
            on_bytes: Box::new(on_bytes),
            fragment: std::time::Duration::from_millis(fragment_ms.max(1).into()),
            audio: audio.clone(),
            camera: camera.id.clone(),
            stream: None,
        }));
        let video = {
            let m = muxing.clone();
            hub_branch(
                &pipeline,
                "src",
                Box::new(move |s| m.lock().unwrap_or_else(|p| p.into_inner()).video(s)),
            )?
        };
        let audio_src = if audio.is_some() {
            let m = muxing.clone();
            Some(hub_branch(
                &pipeline,
                "audiosrc",
                Box::new(move |s| {
                    m.lock().unwrap_or_else(|p| p.into_inner()).audio(s);
                    Ok(gst::FlowSuccess::Ok)
                }),
            )?)
        } else {
            None
        };
        super::adopt_shared_clock(&pipeline);
        if let Err(e) = pipeline.set_state(gst::State::Playing) {
            let _ = pipeline.set_state(gst::State::Null);
            return Err(format!("cannot start the {name} muxer: {e}"));
        }
        let consumer = camera.hub.attach(&video);
        let audio_consumer = audio_src.as_ref().map(|a| camera.audio.attach(a));
        Ok(HubMuxer {
            pipeline,
            camera,
            consumer,
            audio_consumer,
        })
    }

    /// Whether the camera's audio goes in too.
    pub(crate) fn has_audio(&self) -> bool {
        self.audio_consumer.is_some()
    }
}

impl Drop for HubMuxer {
    fn drop(&mut self) {
        self.camera.hub.detach(self.consumer);
        if let Some(a) = self.audio_consumer {
            self.camera.audio.detach(a);
        }
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

/// One viewer's stream; dropping it stops the pipeline and detaches from the hub.
pub struct LiveMp4 {
    muxer: HubMuxer,
}

impl std::fmt::Debug for LiveMp4 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveMp4")
            .field("camera", &self.muxer.camera.id)
            .finish()
    }
}

impl LiveMp4 {
    /// Starts a muxer for one viewer, with the camera's sound when it is flowing; fragments
    /// (the first one is the init segment) arrive on the receiver, which closes if the viewer
    /// falls too far behind, the pipeline fails, or the camera's sound stops (the viewer
    /// reconnects and gets what the camera sends then). Returns the stream's MSE type too.
    pub fn start(
        camera: Arc<CameraHandle>,
        fragment_ms: u32,
    ) -> Result<(Self, mpsc::Receiver<Bytes>, String), String> {
        let audio = camera.flowing_audio_caps();
        let mime =
            mime_type(&camera, audio.as_ref()).ok_or("the camera is not streaming yet; retry")?;
        let (tx, rx) = mpsc::channel::<Bytes>(QUEUE);
        let mut splitter = super::fmp4::FragmentSplitter::default();
        let muxer = HubMuxer::start(camera, "live", fragment_ms, audio, move |bytes| {
            for m in splitter.push(bytes) {
                // Too slow or gone: stop feeding this viewer.
                tx.try_send(Bytes::from(m))
                    .map_err(|_| gst::FlowError::Eos)?;
            }
            Ok(())
        })?;
        Ok((Self { muxer }, rx, mime))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codec_names_for_media_source() {
        assert_eq!(
            avc1_codec(&[1, 0x64, 0x00, 0x1f, 0xff]).as_deref(),
            Some("avc1.64001f")
        );
        // x265's Main profile at level 3.1 (ISO/IEC 14496-15's own example is hvc1.1.6.L93.B0).
        let main = [
            0x01, 0x01, 0x60, 0x00, 0x00, 0x00, 0xb0, 0x00, 0x00, 0x00, 0x00, 0x00, 93,
        ];
        assert_eq!(hvc1_codec(&main).as_deref(), Some("hvc1.1.6.L93.B0"));
        // Main 10, high tier, level 5.1, no constraint flags.
        let main10 = [0x01, 0x22, 0x20, 0x00, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 153];
        assert_eq!(hvc1_codec(&main10).as_deref(), Some("hvc1.2.4.H153"));
        assert_eq!(hvc1_codec(&main[..12]), None, "too short");
        // AAC-LC at 16 kHz mono; HE-AAC (5); an escaped object type (31 + 6 bits: 32 + 10).
        assert_eq!(mp4a_codec(&[0x14, 0x08]).as_deref(), Some("mp4a.40.2"));
        assert_eq!(mp4a_codec(&[0x2b, 0x88]).as_deref(), Some("mp4a.40.5"));
        assert_eq!(mp4a_codec(&[0xf9, 0x40]).as_deref(), Some("mp4a.40.42"));
        assert_eq!(mp4a_codec(&[]), None);
        assert_eq!(mp4a_codec(&[0xf8]), None, "escape without its bits");
    }

    proptest::proptest! {
        /// A camera's `codec_data` is outside input: any bytes give a name or nothing.
        #[test]
        fn any_codec_data_is_named_or_refused(b in proptest::collection::vec(proptest::num::u8::ANY, 0..40)) {
            let _ = (avc1_codec(&b), hvc1_codec(&b), mp4a_codec(&b));
        }
    }
}
