//! The low-latency browser path: fragmented MP4 over a WebSocket, for Media Source Extensions.
//!
//! Chosen over WebRTC (webrtcbin + WHEP) for an appliance on a local network because it rides
//! the same HTTP(S) port, TLS and session as the rest of the page (no ICE, STUN, UDP port ranges
//! or libnice on the image), never re-encodes (the camera's H.264 is only re-muxed), and is
//! testable end to end with a plain WebSocket client and `ffmpeg`. Latency is one fragment
//! (~200 ms) plus the browser's buffer, against WebRTC's ~100 ms; MJPEG remains the
//! works-everywhere fallback.
//!
//! Each viewer gets its own tiny muxing pipeline (`appsrc ! parse ! mp4mux ! appsink`) on the
//! camera's hub, so every viewer starts with an init segment and a keyframe (the hub asks the
//! encoder for one) and a slow viewer never delays another. Each WebSocket message is the init
//! segment or one whole fragment ([`super::fmp4::FragmentSplitter`]), appendable on its own.
//! A viewer that falls more than `QUEUE` fragments behind is disconnected rather than sent a
//! stream with holes.

use super::camera::CameraHandle;
use super::hub::ConsumerId;
use super::pipeline::VideoCodec;
use bytes::Bytes;
use gst::prelude::*;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Fragments buffered per viewer (~6 s at 200 ms) before it counts as too slow.
const QUEUE: usize = 30;

/// The MSE type (`video/mp4; codecs="avc1.PPCCLL"` or `"hvc1.…"`) from the camera's caps.
pub fn mime_type(cam: &CameraHandle) -> Option<String> {
    let caps = cam.video_caps()?;
    let s = caps.structure(0)?;
    let codec = VideoCodec::from_media_type(s.name())?;
    let data = s.get::<gst::Buffer>("codec_data").ok()?;
    let map = data.map_readable().ok()?;
    let codecs = match codec {
        VideoCodec::H264 => avc1_codec(map.as_slice())?,
        VideoCodec::H265 => hvc1_codec(map.as_slice())?,
    };
    Some(format!("video/mp4; codecs=\"{codecs}\""))
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

/// A muxing pipeline on a camera's hub (`appsrc ! parse ! mp4mux ! appsink`, and the audio
/// hub's AAC into the muxer when asked for) whose output bytes go to `on_bytes`; what live
/// viewers and HLS share. Dropping it stops the pipeline and detaches from the hubs.
pub(crate) struct HubMuxer {
    pipeline: gst::Pipeline,
    pub(crate) camera: Arc<CameraHandle>,
    consumer: ConsumerId,
    audio_consumer: Option<ConsumerId>,
}

impl HubMuxer {
    /// `fragment_ms`: mp4mux's fragment duration (1 cuts a fragment per frame). `audio`: the
    /// camera's AAC goes in as a second track (its audio must be flowing: the muxer waits for
    /// every track's first buffer before it writes anything).
    pub(crate) fn start(
        camera: Arc<CameraHandle>,
        name: &str,
        fragment_ms: u32,
        audio: bool,
        mut on_bytes: impl FnMut(&[u8]) -> Result<(), gst::FlowError> + Send + 'static,
    ) -> Result<Self, String> {
        let parser = camera
            .codec()
            .ok_or("the camera is not streaming")?
            .parser();
        let pipeline = gst::Pipeline::with_name(&format!("{name}-{}", camera.id));
        let appsrc = gst_app::AppSrc::builder().name("src").build();
        let parse = gst::ElementFactory::make(parser)
            .build()
            .map_err(|_| format!("{parser} is missing"))?;
        let mux = gst::ElementFactory::make("mp4mux")
            .property("fragment-duration", fragment_ms)
            .property("streamable", true)
            .build()
            .map_err(|_| "mp4mux is missing")?;
        let sink = gst_app::AppSink::builder().sync(false).build();
        pipeline
            .add_many([appsrc.upcast_ref(), &parse, &mux, sink.upcast_ref()])
            .map_err(|e| e.to_string())?;
        gst::Element::link_many([appsrc.upcast_ref(), &parse, &mux, sink.upcast_ref()])
            .map_err(|e| e.to_string())?;
        let audio_src = if audio {
            let asrc = gst_app::AppSrc::builder().name("audiosrc").build();
            pipeline.add(&asrc).map_err(|e| e.to_string())?;
            super::link_to_muxer(&asrc, &mux, "audio")?;
            Some(asrc)
        } else {
            None
        };
        super::adopt_shared_clock(&pipeline);
        sink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |s| {
                    let sample = s.pull_sample().map_err(|_| gst::FlowError::Flushing)?;
                    let Some(buf) = sample.buffer() else {
                        return Ok(gst::FlowSuccess::Ok);
                    };
                    let map = buf.map_readable().map_err(|_| gst::FlowError::Error)?;
                    on_bytes(map.as_slice()).map(|()| gst::FlowSuccess::Ok)
                })
                .build(),
        );
        let consumer = camera.hub.attach(&appsrc);
        let audio_consumer = audio_src.as_ref().map(|a| camera.audio.attach(a));
        let muxer = HubMuxer {
            pipeline,
            camera,
            consumer,
            audio_consumer,
        };
        if let Err(e) = muxer.pipeline.set_state(gst::State::Playing) {
            return Err(format!("cannot start the {name} muxer: {e}"));
        }
        Ok(muxer)
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
    /// Starts a muxer for one viewer; fragments (the first one is the init segment) arrive on
    /// the receiver, which closes if the viewer falls too far behind or the pipeline fails.
    pub fn start(
        camera: Arc<CameraHandle>,
        fragment_ms: u32,
    ) -> Result<(Self, mpsc::Receiver<Bytes>), String> {
        let (tx, rx) = mpsc::channel::<Bytes>(QUEUE);
        let mut splitter = super::fmp4::FragmentSplitter::default();
        let muxer = HubMuxer::start(camera, "live", fragment_ms, false, move |bytes| {
            for m in splitter.push(bytes) {
                // Too slow or gone: stop feeding this viewer.
                tx.try_send(Bytes::from(m))
                    .map_err(|_| gst::FlowError::Eos)?;
            }
            Ok(())
        })?;
        Ok((Self { muxer }, rx))
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
    }

    proptest::proptest! {
        /// A camera's `codec_data` is outside input: any bytes give a name or nothing.
        #[test]
        fn any_codec_data_is_named_or_refused(b in proptest::collection::vec(proptest::num::u8::ANY, 0..40)) {
            let _ = (avc1_codec(&b), hvc1_codec(&b));
        }
    }
}
