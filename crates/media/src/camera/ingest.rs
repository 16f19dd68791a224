//! Pinhole's own RTSP client for IP cameras (retina, Moonfire NVR's): DESCRIBE, SETUP and PLAY
//! of the camera's video stream (and of its audio stream, when it sends AAC or G.711), then its
//! frames pushed straight into the capture pipeline's appsinks, from which the hubs fan them
//! out.
//!
//! Why not `rtspsrc`: a relayed camera's CPU went almost all to rtspsrc, its jitter buffer and
//! their threads (twice `ffmpeg -c copy`, `docs/benchmarks.md`). Here one task reads the
//! socket, depacketizes and hands whole access units to the hub's producer, with caps made
//! from the parameter sets retina parsed (no parser element); [`crate::nal`] checks their
//! framing and finds keyframes; the camera's RTP clock is mapped onto the pipeline's running
//! time by [`Timeline`]. `rtsps://` cameras (retina speaks no TLS) and `media.rtsp_client =
//! "gstreamer"` keep rtspsrc.

use crate::nal;
use crate::pipeline::{AudioCodec, VideoCodec};
use futures_util::StreamExt;
use gst::prelude::*;
use retina::client::{
    Credentials, Demuxed, InitialSequenceNumberPolicy, InitialTimestampPolicy, PlayOptions,
    Session, SessionOptions, SetupOptions, Transport,
};
use retina::codec::{AudioFrame, CodecItem, FrameFormat, ParametersRef, VideoParametersCodec};
use std::time::{Duration, Instant};

/// A camera that answered PLAY: its frames are waiting in `demuxed`.
pub(super) struct Playing {
    pub codec: VideoCodec,
    /// The video stream's index in the session.
    index: usize,
    /// The audio stream set up with it: its index and codec.
    audio: Option<(usize, AudioCodec)>,
    demuxed: Demuxed,
}

impl Playing {
    pub fn audio_codec(&self) -> Option<AudioCodec> {
        self.audio.map(|(_, c)| c)
    }
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
        let transport = || -> Result<Transport, String> {
            if tcp {
                Ok(Transport::default())
            } else {
                "udp".parse().map_err(|e| format!("{e}"))
            }
        };
        let options = |t| {
            SetupOptions::default()
                .transport(t)
                .frame_format(FrameFormat::MP4)
        };
        session
            .setup(index, options(transport()?))
            .await
            .map_err(|e| format!("SETUP failed: {e}"))?;
        // The audio is a bonus: a camera that refuses its SETUP still streams its video.
        let mut audio = audio_stream(session.streams());
        if let Some((i, _)) = audio
            && let Err(e) = session.setup(i, options(transport()?)).await
        {
            tracing::warn!(error = %e, "the camera refused the SETUP of its audio; video only");
            audio = None;
        }
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
            audio,
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

/// The first audio stream of the camera's SDP that Pinhole keeps.
fn audio_stream(streams: &[retina::client::Stream]) -> Option<(usize, AudioCodec)> {
    streams.iter().enumerate().find_map(|(i, s)| {
        let codec =
            AudioCodec::from_encoding_name(s.encoding_name()).filter(|_| s.media() == "audio")?;
        // G.711 is encoded to AAC on the way in: without an encoder it is left out.
        (codec == AudioCodec::Aac || crate::pipeline::aac_encoder().is_some()).then_some((i, codec))
    })
}

/// A source pad of Pinhole's own, linked to `sink` and active, its stream started.
fn feeding_pad(name: &str, sink: &gst::Pad) -> Result<gst::Pad, String> {
    let src = gst::Pad::builder(gst::PadDirection::Src).name(name).build();
    src.link(sink)
        .map_err(|e| format!("cannot feed the capture pipeline: {e}"))?;
    src.set_active(true)
        .map_err(|_| "cannot feed the capture pipeline".to_string())?;
    src.push_event(gst::event::StreamStart::new(name));
    Ok(src)
}

/// Sends `caps` and, the first time, a segment down `src`.
fn announce(src: &gst::Pad, caps: &gst::Caps) -> Result<(), String> {
    if !src.push_event(gst::event::Caps::new(caps)) {
        return Err(format!(
            "the capture pipeline refused the camera's stream ({caps})"
        ));
    }
    if src.sticky_event::<gst::event::Segment>(0).is_none() {
        src.push_event(gst::event::Segment::new(&gst::FormattedSegment::<
            gst::ClockTime,
        >::new()));
    }
    Ok(())
}

/// Pushes the camera's frames into `sink` (the capture pipeline's `video` appsink, so the hub's
/// producer and its consumers run on this task: no parser, no queue, no thread of its own)
/// and its audio into `audio_sink` (the audio branch's input) until the session or the
/// pipeline ends; returns why. Frames go as the hub carries them: whole access units of
/// length-prefixed NAL units, from the first keyframe on, with the parameter sets before every
/// keyframe and in the caps' `codec_data`. Audio starts with the video.
/// What came from the camera before the first frame Pinhole could start on: what the camera's
/// "no frame" failure says, so a camera sending no keyframe is told from one sending nothing.
#[derive(Debug, Default)]
pub(crate) struct BeforeStart {
    /// Access units received.
    pub frames: std::sync::atomic::AtomicU64,
    /// Keyframes received before the parameter sets were known.
    pub keyframes_without_parameters: std::sync::atomic::AtomicU64,
    /// Access units that could not be read.
    pub malformed: std::sync::atomic::AtomicU64,
    /// RTCP compound packets received: a camera that sends them and no video is alive.
    pub rtcp: std::sync::atomic::AtomicU64,
    /// The RTP packet count of the camera's last sender report (what it says it has sent).
    pub reported_sent: std::sync::atomic::AtomicU64,
}

impl BeforeStart {
    pub(crate) fn reset(&self) {
        use std::sync::atomic::Ordering::Relaxed;
        self.frames.store(0, Relaxed);
        self.keyframes_without_parameters.store(0, Relaxed);
        self.malformed.store(0, Relaxed);
        self.rtcp.store(0, Relaxed);
        self.reported_sent.store(0, Relaxed);
    }

    /// Counts an RTCP compound packet and notes what its sender report says was sent.
    fn rtcp_received(&self, packet: &retina::rtcp::ReceivedCompoundPacket) {
        use std::sync::atomic::Ordering::Relaxed;
        self.rtcp.fetch_add(1, Relaxed);
        for p in packet.pkts() {
            // A sender report: header, SSRC, NTP and RTP times, then the packet count.
            if let Ok(Some(_)) = p.as_sender_report()
                && let Some(count) = p.raw().get(20..24)
            {
                let count = u32::from_be_bytes([count[0], count[1], count[2], count[3]]);
                self.reported_sent.store(u64::from(count), Relaxed);
            }
        }
    }

    /// Why no frame came, as far as the ingest knows.
    pub(crate) fn explain(&self) -> String {
        use std::sync::atomic::Ordering::Relaxed;
        let (frames, bare, bad) = (
            self.frames.load(Relaxed),
            self.keyframes_without_parameters.load(Relaxed),
            self.malformed.load(Relaxed),
        );
        let (rtcp, sent) = (self.rtcp.load(Relaxed), self.reported_sent.load(Relaxed));
        if frames == 0 && rtcp == 0 {
            "the camera sent no video".into()
        } else if frames == 0 {
            format!(
                "the camera sent no video, only {rtcp} RTCP reports (the last saying {sent} RTP packets sent)"
            )
        } else {
            format!(
                "{frames} video frames came, none a keyframe to start on ({bare} keyframes before the parameter sets, {bad} unreadable)"
            )
        }
    }
}

pub(super) async fn feed(
    playing: Playing,
    sink: gst::Pad,
    audio_sink: Option<gst::Pad>,
    before_start: std::sync::Arc<BeforeStart>,
) -> String {
    use std::sync::atomic::Ordering::Relaxed;
    before_start.reset();
    let Playing {
        codec,
        index,
        audio,
        mut demuxed,
    } = playing;
    let src = match feeding_pad("camera", &sink) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let mut audio = match (audio, audio_sink) {
        (Some((index, codec)), Some(sink)) => match feeding_pad("camera-audio", &sink) {
            Ok(src) => Some(AudioFeed {
                index,
                codec,
                src,
                timeline: Timeline::default(),
                caps: None,
            }),
            Err(e) => return e,
        },
        _ => None,
    };
    let (clock, base) = crate::shared_clock();
    let mut timeline = Timeline::default();
    let mut params = Parameters::of(&demuxed, index, codec);
    let mut announced = false;
    let mut started = false;
    loop {
        let frame = match demuxed.next().await {
            None => return "the camera ended the session".into(),
            Some(Err(e)) => return e.to_string(),
            Some(Ok(CodecItem::VideoFrame(f))) => f,
            Some(Ok(CodecItem::AudioFrame(f))) => {
                if let Some(a) = audio
                    .as_mut()
                    .filter(|a| started && a.index == f.stream_id())
                {
                    let now = clock.time().saturating_sub(*base);
                    if let Err(e) = a.push(&demuxed, f, now) {
                        return e;
                    }
                }
                continue;
            }
            Some(Ok(CodecItem::Rtcp(r))) => {
                if !started {
                    before_start.rtcp_received(&r);
                }
                continue;
            }
            Some(Ok(_)) => continue,
        };
        if frame.has_new_parameters() {
            params = Parameters::of(&demuxed, index, codec);
            announced = false;
        }
        let (ts, received) = (frame.timestamp(), frame.end_ctx().received());
        let mut data = frame.into_data();
        if !started {
            before_start.frames.fetch_add(1, Relaxed);
        }
        let keyframe = match nal::keyframe(codec, &data) {
            Ok(k) => k,
            Err(e) => {
                tracing::debug!(error = %e, "dropped a malformed access unit");
                if !started {
                    before_start.malformed.fetch_add(1, Relaxed);
                }
                continue;
            }
        };
        if keyframe && params.is_none() {
            before_start
                .keyframes_without_parameters
                .fetch_add(1, Relaxed);
        }
        // Consumers start on a keyframe, once the caps are known.
        started |= keyframe && params.is_some();
        let Some(p) = params.as_ref().filter(|_| started) else {
            continue;
        };
        if !announced {
            if let Err(e) = announce(&src, &p.caps) {
                return e;
            }
            announced = true;
        }
        let pts = timeline.stamp(ts, received, clock.time().saturating_sub(*base));
        if keyframe {
            data.splice(0..0, p.prefix.iter().copied());
        }
        let mut buffer = gst::Buffer::from_mut_slice(data);
        if let Some(b) = buffer.get_mut() {
            b.set_pts(pts);
            if !keyframe {
                b.set_flags(gst::BufferFlags::DELTA_UNIT);
            }
        }
        if let Err(e) = src.push(buffer) {
            return format!("the capture pipeline stopped ({e:?})");
        }
    }
}

/// The camera's audio on its way to the audio branch.
struct AudioFeed {
    index: usize,
    codec: AudioCodec,
    src: gst::Pad,
    timeline: Timeline,
    /// The caps, once announced.
    caps: Option<gst::Caps>,
}

impl AudioFeed {
    /// Pushes one audio frame, timed like the video (its own RTP clock mapped by arrival);
    /// `now` is the pipeline's running time.
    fn push(
        &mut self,
        demuxed: &Demuxed,
        f: AudioFrame,
        now: gst::ClockTime,
    ) -> Result<(), String> {
        // The parameters come from the SDP and hold for the session: announced once.
        if self.caps.is_none() {
            let Some(ParametersRef::Audio(p)) = demuxed
                .streams()
                .get(self.index)
                .and_then(|s| s.parameters())
            else {
                return Ok(());
            };
            let mut caps = gst::Caps::builder(self.codec.media_type())
                .field("rate", i32::try_from(p.clock_rate()).unwrap_or(8000))
                .field("channels", i32::from(p.channels().get()));
            if self.codec == AudioCodec::Aac {
                caps = caps
                    .field("mpegversion", 4i32)
                    .field("stream-format", "raw")
                    .field(
                        "codec_data",
                        gst::Buffer::from_slice(p.extra_data().to_vec()),
                    );
            }
            let caps = caps.build();
            announce(&self.src, &caps)?;
            self.caps = Some(caps);
        }
        let ts = f.timestamp();
        let pts = self.timeline.stamp(ts, f.ctx().received(), now);
        let duration = gst::ClockTime::from_nseconds(
            u64::from(f.frame_length().get()) * 1_000_000_000 / u64::from(ts.clock_rate().get()),
        );
        let mut buffer = gst::Buffer::from_mut_slice(f.data().to_vec());
        if let Some(b) = buffer.get_mut() {
            b.set_pts(pts);
            b.set_duration(duration);
        }
        // An audio branch that fails (its encoder) costs the audio, never the video.
        if let Err(e) = self.src.push(buffer) {
            tracing::debug!(error = ?e, "the audio branch refused a frame");
        }
        Ok(())
    }
}

/// What the stream's parameter sets give: the hub's caps and the prefix of every keyframe.
struct Parameters {
    caps: gst::Caps,
    prefix: Vec<u8>,
}

impl Parameters {
    /// From the stream's current parameters (none until the camera sent them).
    fn of(demuxed: &Demuxed, index: usize, codec: VideoCodec) -> Option<Self> {
        let Some(ParametersRef::Video(p)) =
            demuxed.streams().get(index).and_then(|s| s.parameters())
        else {
            return None;
        };
        let prefix = match p.codec_params() {
            VideoParametersCodec::H264 { sps, pps } => nal::length_prefixed([&sps[..], &pps[..]]),
            VideoParametersCodec::H265 { vps, sps, pps } => {
                nal::length_prefixed([&vps[..], &sps[..], &pps[..]])
            }
            _ => return None,
        };
        let (width, height) = p.pixel_dimensions();
        let (par_n, par_d) = p.pixel_aspect_ratio().unwrap_or((1, 1));
        // retina gives the frame duration: (1, 30) is 30 fps.
        let (fps_n, fps_d) = p.frame_rate().map_or((0, 1), |(d, n)| (n, d));
        let fraction = |n: u32, d: u32| {
            gst::Fraction::new(
                i32::try_from(n).unwrap_or(0),
                i32::try_from(d).unwrap_or(1).max(1),
            )
        };
        let (media_type, format) = match codec {
            VideoCodec::H264 => ("video/x-h264", "avc"),
            VideoCodec::H265 => ("video/x-h265", "hvc1"),
        };
        let caps = gst::Caps::builder(media_type)
            .field("stream-format", format)
            .field("alignment", "au")
            .field("width", i32::try_from(width).unwrap_or(0))
            .field("height", i32::try_from(height).unwrap_or(0))
            .field("pixel-aspect-ratio", fraction(par_n, par_d))
            .field("framerate", fraction(fps_n, fps_d))
            .field(
                "codec_data",
                gst::Buffer::from_slice(p.extra_data().to_vec()),
            )
            .build();
        Some(Self { caps, prefix })
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

    /// The running time of a frame stamped `ts` by the camera whose last packet arrived at
    /// `received`, `now` being the pipeline's running time.
    fn stamp(
        &mut self,
        ts: retina::Timestamp,
        received: Instant,
        now: gst::ClockTime,
    ) -> gst::ClockTime {
        let rtp_ns = ts.elapsed() as i128 * 1_000_000_000 / i128::from(ts.clock_rate().get());
        // When it arrived, on the pipeline's clock.
        let waited = Instant::now().saturating_duration_since(received);
        let arrival = now.nseconds().saturating_sub(waited.as_nanos() as u64);
        gst::ClockTime::from_nseconds(self.pts(rtp_ns as i64, arrival as i64))
    }

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
    fn a_camera_without_a_keyframe_is_told_from_one_sending_nothing() {
        use std::sync::atomic::Ordering::Relaxed;
        let b = BeforeStart::default();
        assert_eq!(b.explain(), "the camera sent no video");
        b.frames.store(40, Relaxed);
        b.keyframes_without_parameters.store(2, Relaxed);
        assert_eq!(
            b.explain(),
            "40 video frames came, none a keyframe to start on (2 keyframes before the parameter sets, 0 unreadable)"
        );
        b.reset();
        assert_eq!(b.explain(), "the camera sent no video");
        // A sender report (SSRC 1, 900 packets sent) and no video: the camera is alive.
        let mut sr = vec![0x80, 200, 0, 6, 0, 0, 0, 1];
        sr.extend_from_slice(&[0; 12]);
        sr.extend_from_slice(&900u32.to_be_bytes());
        sr.extend_from_slice(&[0; 4]);
        b.rtcp_received(&retina::rtcp::ReceivedCompoundPacket::dummy(None, &sr));
        assert_eq!(
            b.explain(),
            "the camera sent no video, only 1 RTCP reports (the last saying 900 RTP packets sent)"
        );
    }

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
