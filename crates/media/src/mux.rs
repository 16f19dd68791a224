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

/// The tracks of camera `camera`'s stream of video `video` and, when given, audio `audio`:
/// audio the writer cannot take is left out (with a warning), and the audio caps kept are
/// returned with them.
pub(crate) fn tracks_of(
    camera: &str,
    video: &gst::CapsRef,
    audio: Option<gst::Caps>,
) -> Result<(Vec<TrackConfig>, Option<gst::Caps>), String> {
    let mut tracks = vec![track_of(video)?];
    let audio = audio.and_then(|a| match track_of(&a) {
        Ok(t) => {
            tracks.push(t);
            Some(a)
        }
        Err(e) => {
            tracing::warn!(camera, error = %e, "the camera's audio is left out");
            None
        }
    });
    Ok((tracks, audio))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fmp4::writer::{Fragmenter, init_segment};

    /// An H.264 stream with B-frames, as an RTSP camera's arrives: in decode order, with
    /// presentation times only (RTP has no decode time). Written as the recorder writes it, it
    /// plays in presentation order, every frame, by ffprobe's reading.
    #[test]
    fn b_frames_from_rtp_play_in_order() {
        gst::init().expect("GStreamer initialises");
        let pipeline = gst::parse::launch(
            "videotestsrc num-buffers=60 ! video/x-raw,width=320,height=240,framerate=30/1 ! \
             x264enc bframes=2 b-adapt=false key-int-max=30 speed-preset=ultrafast ! h264parse ! \
             video/x-h264,stream-format=avc,alignment=au ! appsink name=out sync=false",
        )
        .expect("pipeline")
        .downcast::<gst::Pipeline>()
        .expect("a pipeline");
        let sink = crate::element::<gst_app::AppSink>(&pipeline, "out").expect("appsink");
        pipeline.set_state(gst::State::Playing).expect("play");
        let mut samples = Vec::new();
        while let Ok(s) = sink.pull_sample() {
            samples.push(s);
        }
        pipeline.set_state(gst::State::Null).expect("stop");
        assert_eq!(samples.len(), 60);
        let caps = samples[0].caps().expect("caps").to_owned();
        let tracks = [track_of(&caps).expect("track")];
        let mut file = init_segment(&tracks);
        let mut f = Fragmenter::new(&tracks, std::time::Duration::from_millis(500));
        let mut reordered = false;
        let mut last_pts = None;
        // The recorder's origin: the first frame's decode time, its presentation time here.
        let origin = samples[0].buffer().and_then(|b| b.pts()).expect("pts");
        for s in &samples {
            let mut b = s.buffer().expect("buffer").to_owned();
            // As RTP gives it: no decode time.
            b.make_mut().set_dts(gst::ClockTime::NONE);
            reordered |= last_pts.is_some_and(|l| b.pts() < l);
            last_pts = Some(b.pts());
            let x = sample(origin, &b, is_keyframe(&b)).expect("sample");
            let write = |fr: crate::fmp4::writer::Fragment<Frame>, file: &mut Vec<u8>| {
                fr.write_to(file).expect("in memory")
            };
            if let Some(fr) = f.push(0, x) {
                write(fr, &mut file);
            }
            if std::ptr::eq(s, samples.last().expect("last")) {
                let fr = f.finish().expect("the rest");
                write(fr, &mut file);
            }
        }
        assert!(reordered, "the encoder made no B-frames");
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("b.mp4");
        std::fs::write(&path, &file).expect("write");
        let out = std::process::Command::new("ffprobe")
            .args(["-v", "error", "-select_streams", "v", "-show_entries"])
            .args(["frame=pts_time", "-of", "csv=p=0"])
            .arg(&path)
            .output()
            .expect("ffprobe");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let times: Vec<f64> = String::from_utf8_lossy(&out.stdout)
            .lines()
            // (A frame with side data gets an empty field after its time.)
            .filter_map(|l| l.split(',').next()?.trim().parse().ok())
            .collect();
        assert_eq!(times.len(), 60, "{times:?}");
        for (i, w) in times.windows(2).enumerate() {
            let step = w[1] - w[0];
            assert!((step - 1.0 / 30.0).abs() < 0.002, "frame {i}: {times:?}");
        }
    }
}
