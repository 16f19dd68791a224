//! The low-latency browser path: fragmented MP4 over a WebSocket, for Media Source Extensions.
//!
//! Chosen over WebRTC (webrtcbin + WHEP) for an appliance on a local network because it rides
//! the same HTTP(S) port, TLS and session as the rest of the page (no ICE, STUN, UDP port ranges
//! or libnice on the image), never re-encodes (the camera's H.264 is only re-muxed), and is
//! testable end to end with a plain WebSocket client and `ffmpeg`. Latency is one fragment
//! (~200 ms) plus the browser's buffer, against WebRTC's ~100 ms; MJPEG remains the
//! works-everywhere fallback.
//!
//! Each viewer gets its own tiny muxing pipeline (`appsrc ! h264parse ! mp4mux ! appsink`) on the
//! camera's hub, so every viewer starts with an init segment and a keyframe (the hub asks the
//! encoder for one) and a slow viewer never delays another. Each WebSocket message is the init
//! segment or one whole fragment ([`super::fmp4::FragmentSplitter`]), appendable on its own.
//! A viewer that falls more than `QUEUE` fragments behind is disconnected rather than sent a
//! stream with holes.

use super::camera::CameraHandle;
use super::hub::ConsumerId;
use bytes::Bytes;
use gst::prelude::*;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Fragments buffered per viewer (~6 s at 200 ms) before it counts as too slow.
const QUEUE: usize = 30;

/// The MSE codec string (`video/mp4; codecs="avc1.PPCCLL"`) from the camera's H.264 caps.
pub fn mime_type(cam: &CameraHandle) -> Option<String> {
    let caps = cam.h264_caps()?;
    let s = caps.structure(0)?;
    let data = s.get::<gst::Buffer>("codec_data").ok()?;
    let map = data.map_readable().ok()?;
    let b = map.as_slice();
    if b.len() < 4 {
        return None;
    }
    Some(format!(
        "video/mp4; codecs=\"avc1.{:02x}{:02x}{:02x}\"",
        b[1], b[2], b[3]
    ))
}

/// One viewer's stream; dropping it stops the pipeline and detaches from the hub.
pub struct LiveMp4 {
    pipeline: gst::Pipeline,
    camera: Arc<CameraHandle>,
    consumer: ConsumerId,
}

impl std::fmt::Debug for LiveMp4 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveMp4")
            .field("camera", &self.camera.id)
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
        let pipeline = gst::Pipeline::with_name(&format!("live-{}", camera.id));
        let appsrc = gst_app::AppSrc::builder().name("src").build();
        let parse = gst::ElementFactory::make("h264parse")
            .build()
            .map_err(|_| "h264parse is missing")?;
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
        super::adopt_shared_clock(&pipeline);
        let (tx, rx) = mpsc::channel::<Bytes>(QUEUE);
        let splitter = std::sync::Mutex::new(super::fmp4::FragmentSplitter::default());
        sink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |s| {
                    let sample = s.pull_sample().map_err(|_| gst::FlowError::Flushing)?;
                    let Some(buf) = sample.buffer() else {
                        return Ok(gst::FlowSuccess::Ok);
                    };
                    let map = buf.map_readable().map_err(|_| gst::FlowError::Error)?;
                    let messages = splitter
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(map.as_slice());
                    for m in messages {
                        // Too slow or gone: stop feeding this viewer.
                        tx.try_send(Bytes::from(m))
                            .map_err(|_| gst::FlowError::Eos)?;
                    }
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
        let consumer = camera.hub.attach(&appsrc);
        if let Err(e) = pipeline.set_state(gst::State::Playing) {
            camera.hub.detach(consumer);
            let _ = pipeline.set_state(gst::State::Null);
            return Err(format!("cannot start the live muxer: {e}"));
        }
        Ok((
            Self {
                pipeline,
                camera,
                consumer,
            },
            rx,
        ))
    }
}

impl Drop for LiveMp4 {
    fn drop(&mut self) {
        self.camera.hub.detach(self.consumer);
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}
