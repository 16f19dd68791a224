//! On-demand decoding for cameras that deliver H.264 or H.265 (IP cameras, UVC cameras with an
//! H.264 mode): the preview and the detector each get a small pipeline on the camera's hub
//! (`appsrc ! parse ! decoder ! scale ! (jpegenc | RGB) ! appsink`), started when their first
//! reader arrives and stopped when the last one leaves. The decoder is the one for the codec the
//! camera streams when it starts; a camera that comes back with another codec gets its decoder
//! restarted ([`Preview::restart_on_demand`]). A camera with a sub stream is decoded from it
//! ([`CameraHandle::decode_source`]).
//!
//! Why not branches in the capture pipeline behind valves, as for raw sources: a decoder would
//! then be loaded and initialised for every relayed camera even if nobody ever watched (libav
//! alone maps ~20 MB), and a valve opening mid-GOP would feed the decoder delta frames without
//! their keyframe. A hub consumer starts at a keyframe by construction (the producer asks for one
//! and drops delta frames until it comes).

use super::CameraHandle;
use crate::hub::ConsumerId;
use crate::pipeline::{DecodeSpec, Decoders};
use crate::preview::{DemandHook, Preview};
use gst::prelude::*;
use std::sync::{Arc, Mutex, Weak};

struct Running {
    pipeline: gst::Pipeline,
    camera: Arc<CameraHandle>,
    consumer: ConsumerId,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.camera.hub.detach(self.consumer);
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

/// What a tap wants out of its decoder.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub fps: u32,
    pub width: u32,
    /// JPEG (preview) or packed RGB (detector).
    pub jpeg: bool,
}

fn start(
    camera: Arc<CameraHandle>,
    tap: Arc<Preview>,
    out: Output,
    decoders: Decoders,
) -> Result<Running, String> {
    let camera = camera.decode_source();
    let codec = camera.codec().ok_or("the camera is not streaming yet")?;
    let spec = DecodeSpec {
        codec,
        decoder: decoders.of(codec),
        source_size: camera.video_size(),
        fps: out.fps,
        width: out.width,
        jpeg: out.jpeg,
    };
    if gst::ElementFactory::find(spec.decoder).is_none() {
        return Err(format!(
            "{} is not available (gstreamer1.0-libav)",
            spec.decoder
        ));
    }
    let pipeline = gst::parse::launch(&spec.launch())
        .map_err(|e| format!("cannot build the decoder: {e}"))?
        .downcast::<gst::Pipeline>()
        .map_err(|_| "not a pipeline")?;
    crate::adopt_shared_clock(&pipeline);
    let appsrc =
        crate::element::<gst_app::AppSrc>(&pipeline, "src").ok_or("decoder without appsrc")?;
    let out =
        crate::element::<gst_app::AppSink>(&pipeline, "out").ok_or("decoder without appsink")?;
    super::connect_tap(&out, tap, !spec.jpeg);
    let consumer = camera.hub.attach(&appsrc);
    if let Err(e) = pipeline.set_state(gst::State::Playing) {
        camera.hub.detach(consumer);
        let _ = pipeline.set_state(gst::State::Null);
        return Err(format!("cannot start the decoder: {e}"));
    }
    Ok(Running {
        pipeline,
        camera,
        consumer,
    })
}

/// The hook that starts and stops a tap's decoding pipeline with its demand.
pub fn hook(
    camera: Weak<CameraHandle>,
    tap: Weak<Preview>,
    out: Output,
    decoders: Decoders,
) -> DemandHook {
    let running: Mutex<Option<Running>> = Mutex::new(None);
    Box::new(move |wanted| {
        let mut r = running.lock().unwrap_or_else(|p| p.into_inner());
        match (wanted, r.is_some()) {
            (true, false) => {
                let (Some(cam), Some(tap)) = (camera.upgrade(), tap.upgrade()) else {
                    return;
                };
                let id = cam.id.clone();
                match start(cam, tap, out, decoders) {
                    Ok(run) => *r = Some(run),
                    Err(e) => {
                        tracing::warn!(camera = %id, error = %e, "cannot decode for preview/detection")
                    }
                }
            }
            (false, true) => *r = None,
            _ => {}
        }
    })
}
