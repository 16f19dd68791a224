//! Pinhole's own RTSP client for IP cameras (retina, Moonfire NVR's): DESCRIBE, SETUP and PLAY
//! of the camera's video stream, then its frames pushed into the capture pipeline's appsrc.
//!
//! Why not `rtspsrc`: a relayed camera's CPU went almost all to rtspsrc, its jitter buffer and
//! their threads (twice `ffmpeg -c copy`, `docs/benchmarks.md`). Here one task reads the
//! socket, depacketizes and hands whole access units ([`crate::nal`] frames them) to the
//! parser; the camera's RTP clock is mapped onto the pipeline's running time by
//! [`Timeline`]. `rtsps://` cameras (retina speaks no TLS) and `media.rtsp_client =
//! "gstreamer"` keep rtspsrc.

use crate::nal;
use crate::pipeline::VideoCodec;
use futures_util::StreamExt;
use gst::prelude::ClockExt;
use retina::client::{
    Credentials, Demuxed, InitialSequenceNumberPolicy, InitialTimestampPolicy, PlayOptions,
    Session, SessionOptions, SetupOptions, Transport,
};
use retina::codec::{CodecItem, FrameFormat, ParametersRef, VideoParametersCodec};
use std::time::{Duration, Instant};

/// A camera that answered PLAY: its frames are waiting in `demuxed`.
pub(super) struct Playing {
    pub codec: VideoCodec,
    /// The video stream's index in the session.
    index: usize,
    demuxed: Demuxed,
}

/// Connects to the camera and starts its first video stream.
pub(super) async fn connect(
    url: &str,
    creds: Option<(String, String)>,
    tcp: bool,
    timeout: Duration,
) -> Result<Playing, String> {
    let url = url::Url::parse(url).map_err(|e| format!("`{url}` is not a valid URL: {e}"))?;
    let options = SessionOptions::default()
        .creds(creds.map(|(username, password)| Credentials { username, password }))
        .user_agent(concat!("Pinhole/", env!("CARGO_PKG_VERSION")).to_string());
    let start = async {
        let mut session = Session::describe(url, options)
            .await
            .map_err(|e| format!("DESCRIBE failed: {e}"))?;
        let (index, codec) = video_stream(session.streams())?;
        let transport = if tcp {
            Transport::default()
        } else {
            "udp".parse().map_err(|e| format!("{e}"))?
        };
        session
            .setup(
                index,
                SetupOptions::default()
                    .transport(transport)
                    .frame_format(FrameFormat::MP4),
            )
            .await
            .map_err(|e| format!("SETUP failed: {e}"))?;
        // A relay needs no NPT: the first packets the camera sends set the sequence and
        // timestamps (cameras and shared server media announce stale ones in RTP-Info).
        let play = PlayOptions::default()
            .initial_seq(InitialSequenceNumberPolicy::Ignore)
            .initial_timestamp(InitialTimestampPolicy::Ignore);
        let playing = session
            .play(play)
            .await
            .map_err(|e| format!("PLAY failed: {e}"))?;
        let demuxed = playing.demuxed().map_err(|e| e.to_string())?;
        Ok(Playing {
            codec,
            index,
            demuxed,
        })
    };
    tokio::time::timeout(timeout, start).await.map_err(|_| {
        format!(
            "the camera did not start streaming within {} s",
            timeout.as_secs()
        )
    })?
}

/// The first video stream of the camera's SDP and the codec it carries.
fn video_stream(streams: &[retina::client::Stream]) -> Result<(usize, VideoCodec), String> {
    let (index, stream) = streams
        .iter()
        .enumerate()
        .find(|(_, s)| s.media() == "video")
        .ok_or("the camera offers no video stream")?;
    let encoding = stream.encoding_name().to_ascii_uppercase();
    let codec = VideoCodec::from_encoding_name(&encoding).ok_or_else(|| {
        format!("the camera sends {encoding} video; Pinhole relays H.264 and H.265")
    })?;
    Ok((index, codec))
}

/// Pushes the camera's frames into `src` until the session or the pipeline ends; returns why.
/// Frames become Annex B access units, from the first keyframe on, with the parameter sets
/// before every keyframe (what the parser of [`VideoCodec::ingest_chain`] takes).
pub(super) async fn feed(playing: Playing, src: gst_app::AppSrc) -> String {
    let Playing {
        codec,
        index,
        mut demuxed,
    } = playing;
    let (clock, base) = crate::shared_clock();
    let mut timeline = Timeline::default();
    let mut prefix = parameter_sets(&demuxed, index);
    let mut started = false;
    loop {
        let frame = match demuxed.next().await {
            None => return "the camera ended the session".into(),
            Some(Err(e)) => return e.to_string(),
            Some(Ok(CodecItem::VideoFrame(f))) => f,
            Some(Ok(_)) => continue,
        };
        if frame.has_new_parameters() {
            prefix = parameter_sets(&demuxed, index);
        }
        let ts = frame.timestamp();
        let rtp_ns = ts.elapsed() as i128 * 1_000_000_000 / i128::from(ts.clock_rate().get());
        // When its last packet arrived, on the pipeline's clock.
        let waited = Instant::now().saturating_duration_since(frame.end_ctx().received());
        let mut data = frame.into_data();
        let keyframe = match nal::to_annex_b(codec, &mut data) {
            Ok(k) => k,
            Err(e) => {
                tracing::debug!(error = %e, "dropped a malformed access unit");
                continue;
            }
        };
        // The parser learns the parameter sets from the first frame it gets.
        started |= keyframe;
        if !started {
            continue;
        }
        let now = clock.time().saturating_sub(*base);
        let arrival = now.nseconds().saturating_sub(waited.as_nanos() as u64);
        let pts = timeline.pts(rtp_ns as i64, arrival as i64);
        if keyframe && !prefix.is_empty() {
            data.splice(0..0, prefix.iter().copied());
        }
        let mut buffer = gst::Buffer::from_mut_slice(data);
        if let Some(b) = buffer.get_mut() {
            b.set_pts(gst::ClockTime::from_nseconds(pts));
            if !keyframe {
                b.set_flags(gst::BufferFlags::DELTA_UNIT);
            }
        }
        if src.push_buffer(buffer).is_err() {
            return "the capture pipeline stopped".into();
        }
    }
}

/// The stream's parameter sets as an Annex B prefix (empty until the camera sent them).
fn parameter_sets(demuxed: &Demuxed, index: usize) -> Vec<u8> {
    let Some(ParametersRef::Video(p)) = demuxed.streams().get(index).and_then(|s| s.parameters())
    else {
        return Vec::new();
    };
    match p.codec_params() {
        VideoParametersCodec::H264 { sps, pps } => nal::annex_b_prefix([&sps[..], &pps[..]]),
        VideoParametersCodec::H265 { vps, sps, pps } => {
            nal::annex_b_prefix([&vps[..], &sps[..], &pps[..]])
        }
        _ => Vec::new(),
    }
}

/// Maps the camera's RTP clock onto the pipeline's running time.
///
/// A frame's time is its RTP time plus an offset that follows the smallest transit delay seen:
/// it drops at once to an earlier arrival and creeps up by 1/256 of the difference per frame,
/// so network jitter does not reach the timestamps while the drift between the camera's clock
/// and ours does (100 ppm lags by under a millisecond). A jump of more than 5 s (a camera
/// that reset its clock) starts over.
#[derive(Debug, Default)]
pub(crate) struct Timeline {
    offset: Option<i64>,
}

impl Timeline {
    const RESYNC_NS: i64 = 5_000_000_000;

    /// The frame's running time in nanoseconds (never negative).
    pub(crate) fn pts(&mut self, rtp_ns: i64, arrival_ns: i64) -> u64 {
        let transit = arrival_ns.saturating_sub(rtp_ns);
        let offset = match self.offset {
            Some(o) if (transit - o).abs() < Self::RESYNC_NS => {
                if transit < o {
                    transit
                } else {
                    o + ((transit - o) >> 8)
                }
            }
            _ => transit,
        };
        self.offset = Some(offset);
        rtp_ns.saturating_add(offset).max(0) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAME: i64 = 33_333_333;

    #[test]
    fn jitter_does_not_reach_the_timestamps() {
        let mut t = Timeline::default();
        let mut last = None;
        for i in 0..300i64 {
            let rtp = i * FRAME;
            // Arrivals 2 s after the camera's time 0, late by 0..15 ms.
            let jitter = (i * 7919 % 16) * 1_000_000;
            let pts = t.pts(rtp, 2_000_000_000 + rtp + jitter) as i64;
            if let Some(prev) = last {
                let step: i64 = pts - prev;
                assert!((step - FRAME).abs() < 1_000_000, "step {step} at {i}");
            }
            last = Some(pts);
        }
    }

    #[test]
    fn a_slow_camera_clock_is_followed() {
        // The camera's clock runs 100 ppm slow (a cheap crystal): after 10 minutes its frames
        // arrive 60 ms later than its RTP time says; the timestamps keep within 1 ms of them.
        let mut t = Timeline::default();
        let mut pts = 0;
        let mut arrival = 0;
        for i in 0..18_000i64 {
            let rtp = i * FRAME;
            arrival = 1_000_000_000 + rtp + rtp / 10_000;
            pts = t.pts(rtp, arrival) as i64;
        }
        assert!((arrival - pts).abs() < 1_000_000, "{}", arrival - pts);
    }

    #[test]
    fn a_clock_jump_starts_over() {
        let mut t = Timeline::default();
        assert_eq!(t.pts(0, 1_000_000_000), 1_000_000_000);
        assert_eq!(
            t.pts(FRAME, 1_000_000_000 + FRAME),
            (1_000_000_000 + FRAME) as u64
        );
        // The camera restarted its RTP clock at 0 an hour in.
        let later = 3_600_000_000_000;
        assert_eq!(t.pts(0, later), later as u64);
        assert_eq!(t.pts(FRAME, later + FRAME), (later + FRAME) as u64);
    }

    #[test]
    fn a_stream_that_starts_before_the_pipeline_is_clamped_to_zero() {
        let mut t = Timeline::default();
        assert_eq!(t.pts(10_000_000_000, 0), 0);
    }
}
