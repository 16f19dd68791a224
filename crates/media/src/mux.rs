//! The camera's GStreamer buffers into Pinhole's fragmented MP4 writer
//! ([`super::fmp4::writer`]), for the recorder and the live muxers (live viewers, HLS), and the
//! `appsrc ! appsink` branch through which each of them consumes a hub on a thread of its own
//! (so a slow disk or a slow viewer never holds the camera back).

use super::fmp4::writer::{Codec, Sample, TrackConfig};
use gst::prelude::*;

/// A frame as the writer keeps it until its fragment is written: the camera's own buffer,
/// mapped, not copied.
pub(crate) type Frame = gst::MappedBuffer<gst::buffer::Readable>;

/// A track of the writer from the caps of a camera's hub (H.264 or H.265 with `codec_data`,
/// raw AAC with its `AudioSpecificConfig`).
pub(crate) fn track_of(caps: &gst::CapsRef) -> Result<TrackConfig, String> {
    let s = caps
        .structure(0)
        .ok_or_else(|| "the stream has empty caps".to_string())?;
    let config = s
        .get::<gst::Buffer>("codec_data")
        .map_err(|_| format!("{} without codec_data", s.name()))?
        .map_readable()
        .map_err(|_| "unreadable codec_data".to_string())?
        .to_vec();
    let int = |field: &str| s.get::<i32>(field).unwrap_or(0).max(0) as u32;
    let size = |field: &str| u16::try_from(int(field)).unwrap_or(u16::MAX);
    let video = |codec| TrackConfig::video(codec, size("width"), size("height"), config.clone());
    match s.name().as_str() {
        "video/x-h264" => Ok(video(Codec::H264)),
        "video/x-h265" => Ok(video(Codec::H265)),
        "audio/mpeg" if int("mpegversion") == 4 => Ok(TrackConfig::aac(
            int("rate"),
            size("channels").max(1),
            config,
        )),
        other => Err(format!("{other} cannot be written to fragmented MP4")),
    }
}

/// A frame for the writer, timed from `origin` (the stream time of its segment's first frame).
pub(crate) fn sample(
    origin: gst::ClockTime,
    buffer: &gst::BufferRef,
    sync: bool,
) -> Option<Sample<Frame>> {
    let dts = buffer.dts_or_pts()?;
    let since = |t: gst::ClockTime| t.saturating_sub(origin).nseconds();
    Some(Sample {
        dts_ns: since(dts),
        pts_ns: since(buffer.pts().unwrap_or(dts)),
        sync,
        duration_ns: buffer.duration().map(|d| d.nseconds()),
        data: buffer.to_owned().into_mapped_buffer_readable().ok()?,
    })
}

/// Whether a buffer starts a GOP.
pub(crate) fn is_keyframe(buffer: &gst::BufferRef) -> bool {
    !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT)
}

/// What a branch's appsink does with each sample.
pub(crate) type OnSample =
    Box<dyn Fn(&gst::Sample) -> Result<gst::FlowSuccess, gst::FlowError> + Send + Sync>;

/// Adds `appsrc name=<name> ! appsink` to `pipeline`, the appsink calling `on_sample`; returns
/// the appsrc, configured to be attached to a hub.
pub(crate) fn hub_branch(
    pipeline: &gst::Pipeline,
    name: &str,
    on_sample: OnSample,
) -> Result<gst_app::AppSrc, String> {
    let appsrc = gst_app::AppSrc::builder().name(name).build();
    // Not async: a branch with no data yet (a camera without audio) must not hold the
    // pipeline in PAUSED.
    let appsink = gst_app::AppSink::builder()
        .sync(false)
        .async_(false)
        .build();
    appsink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |sink| {
                let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                on_sample(&sample)
            })
            .build(),
    );
    pipeline
        .add_many([
            appsrc.upcast_ref::<gst::Element>(),
            appsink.upcast_ref::<gst::Element>(),
        ])
        .and_then(|()| appsrc.link(&appsink))
        .map_err(|e| e.to_string())?;
    super::hub::Hub::configure_consumer(&appsrc);
    Ok(appsrc)
}
