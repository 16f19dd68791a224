//! An output's FLV tags for its RTMP destinations, made on the encoder's own threads: a probe
//! on each of the encoder's two appsinks (H.264 in `avc` form, raw AAC) turns every buffer into
//! a tag, [`Interleave`] orders the two tracks, and each destination's connection
//! ([`crate::rtmp_publish`]) takes them from a channel of its own.
//!
//! The feed lives as long as the output: its timestamps count from the output's first keyframe
//! and go on across encoder rebuilds and program cuts, so no connection ever sees time start
//! over. A destination joins at a video keyframe, after the stream's metadata and codec
//! configurations; one that falls behind (its channel full) loses tags until the next keyframe
//! rather than holding the encoder up.

use crate::flv::{Interleave, StreamInfo, Tag, TagKind};
use bytes::Bytes;
use gst::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// Tags a destination may have waiting: some three seconds of a 30 fps stream with its audio.
const SINK_CAPACITY: usize = 256;

/// What a joining destination sends first, and where its tags come from.
pub struct Subscription {
    /// The `@setDataFrame` message with the stream's metadata.
    pub metadata: Bytes,
    /// The codec configurations known so far (later ones arrive among the tags).
    pub configs: Vec<Tag>,
    pub tags: mpsc::Receiver<Tag>,
}

#[derive(Debug)]
struct Sink {
    tx: mpsc::Sender<Tag>,
    /// Has had its first keyframe.
    started: bool,
    /// Tags it lost for being behind.
    dropped: Arc<AtomicU64>,
}

#[derive(Debug, Default)]
struct Track {
    /// The caps last seen (held, so that their address cannot be taken by new ones) and the
    /// configuration they gave.
    caps: Option<gst::Caps>,
    config: Option<Tag>,
}

#[derive(Debug)]
struct State {
    info: StreamInfo,
    /// Nanoseconds (buffer time) of the first keyframe: time 0 of every tag.
    base: Option<u64>,
    video: Track,
    audio: Track,
    interleave: Interleave,
    sinks: Vec<Sink>,
}

#[derive(Debug)]
pub struct FlvFeed {
    state: Mutex<State>,
}

impl FlvFeed {
    pub fn new(info: StreamInfo) -> FlvFeed {
        FlvFeed {
            state: Mutex::new(State {
                info,
                base: None,
                video: Track::default(),
                audio: Track::default(),
                interleave: Interleave::default(),
                sinks: Vec::new(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The stream's size or rates changed: what joining destinations are told.
    pub fn set_info(&self, info: StreamInfo) {
        self.lock().info = info;
    }

    /// Joins a destination: it gets tags from the next video keyframe on, and counts in
    /// `dropped` those it loses for taking them slower than they come.
    pub fn subscribe(&self, dropped: Arc<AtomicU64>) -> Subscription {
        let (tx, tags) = mpsc::channel(SINK_CAPACITY);
        let mut s = self.lock();
        s.sinks.push(Sink {
            tx,
            started: false,
            dropped,
        });
        Subscription {
            metadata: crate::flv::set_data_frame(&s.info),
            configs: [&s.video.config, &s.audio.config]
                .into_iter()
                .flatten()
                .cloned()
                .collect(),
            tags,
        }
    }

    /// Feeds the feed from an encoder's appsink pads (probes that end with the pipeline).
    pub fn tap(self: &Arc<Self>, video: &gst::Pad, audio: &gst::Pad) {
        for (pad, kind) in [(video, TagKind::Video), (audio, TagKind::Audio)] {
            let feed = Arc::downgrade(self);
            pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
                if let (Some(feed), Some(buffer)) = (feed.upgrade(), info.buffer()) {
                    feed.push(kind, pad, buffer);
                }
                gst::PadProbeReturn::Ok
            });
        }
    }

    fn push(&self, kind: TagKind, pad: &gst::Pad, buffer: &gst::BufferRef) {
        let mut s = self.lock();
        let s = &mut *s;
        // Running time, as muxers count: encoders shift their output's segment (x264enc by
        // 1000 hours, to leave room for negative decode times).
        let segment = pad.sticky_event::<gst::event::Segment>(0);
        let segment = segment
            .as_ref()
            .and_then(|e| e.segment().downcast_ref::<gst::ClockTime>().cloned());
        let running = |t: Option<gst::ClockTime>| match &segment {
            Some(seg) => t.and_then(|t| seg.to_running_time(t)),
            None => t,
        };
        let (pts, dts) = (running(buffer.pts()), running(buffer.dts()));
        let (Some(ts), Ok(map)) = (dts.or(pts), buffer.map_readable()) else {
            return;
        };
        // A new codec configuration goes to every destination in its place among the tags: after
        // the pictures of the old one that still wait, before the first of its own.
        if let Some(config) = Self::config_change(kind, pad, s, ts) {
            for tag in s.interleave.push(config) {
                Self::send(&mut s.sinks, tag);
            }
        }
        let ts = ts.nseconds();
        let key = !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT);
        let base = match s.base {
            Some(b) => b,
            None if kind == TagKind::Video && key => *s.base.insert(ts),
            None => return,
        };
        let Some(since) = ts.checked_sub(base) else {
            return;
        };
        let ms = millis(since);
        let tag = match kind {
            TagKind::Video => {
                let cts = match (pts, dts) {
                    (Some(p), Some(d)) => {
                        ((p.nseconds() as i128 - d.nseconds() as i128) / 1_000_000) as i32
                    }
                    _ => 0,
                };
                Tag::avc_picture(ms, cts, key, &map)
            }
            TagKind::Audio => Tag::aac_frame(ms, &map),
        };
        drop(map);
        for tag in s.interleave.push(tag) {
            Self::send(&mut s.sinks, tag);
        }
    }

    /// The track's configuration tag when its caps brought a new one.
    fn config_change(
        kind: TagKind,
        pad: &gst::Pad,
        s: &mut State,
        ts: gst::ClockTime,
    ) -> Option<Tag> {
        let caps = pad.current_caps()?;
        let track = match kind {
            TagKind::Video => &mut s.video,
            TagKind::Audio => &mut s.audio,
        };
        if track
            .caps
            .as_ref()
            .is_some_and(|c| c.as_ptr() == caps.as_ptr())
        {
            return None;
        }
        let data = track
            .caps
            .insert(caps)
            .structure(0)?
            .get::<gst::Buffer>("codec_data")
            .ok()?;
        let data = data.map_readable().ok()?;
        // Before the first keyframe, time 0.
        let ms = s
            .base
            .map_or(0, |b| millis(ts.nseconds().saturating_sub(b)));
        let tag = match kind {
            TagKind::Video => Tag::avc_config(ms, &data),
            TagKind::Audio => Tag::aac_config(ms, &data),
        };
        // The same configuration in new caps (a rebuilt encoder, renegotiation) is not news.
        if track.config.as_ref().is_some_and(|c| c.body == tag.body) {
            return None;
        }
        track.config = Some(tag.clone());
        Some(tag)
    }

    /// Hands `tag` to every destination that takes it: configurations to all, media to those
    /// that have had a keyframe, and keyframes to all.
    fn send(sinks: &mut Vec<Sink>, tag: Tag) {
        let (key, config) = (tag.is_keyframe(), tag.is_config());
        sinks.retain_mut(|k| {
            if !k.started && !key && !config {
                return !k.tx.is_closed();
            }
            match k.tx.try_send(tag.clone()) {
                Ok(()) => {
                    k.started |= key;
                    true
                }
                Err(mpsc::error::TrySendError::Full(_)) => {
                    // Behind: start again at the next keyframe.
                    k.started = false;
                    k.dropped.fetch_add(1, Ordering::Relaxed);
                    true
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            }
        });
    }
}

/// Nanoseconds as an FLV tag's milliseconds.
fn millis(ns: u64) -> u32 {
    u32::try_from(ns / 1_000_000).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> StreamInfo {
        StreamInfo {
            width: 640,
            height: 360,
            fps: 30,
            video_kbps: 800,
            audio_kbps: 128,
            audio_rate: 48000,
            stereo: true,
        }
    }

    fn pads() -> (gst::Pad, gst::Pad) {
        let video = gst::Pad::builder(gst::PadDirection::Sink).name("v").build();
        let audio = gst::Pad::builder(gst::PadDirection::Sink).name("a").build();
        (video, audio)
    }

    fn buffer(ms: u64, key: bool, data: &[u8]) -> gst::Buffer {
        let mut b = gst::Buffer::from_slice(data.to_vec());
        {
            let b = b.get_mut().unwrap();
            b.set_pts(gst::ClockTime::from_mseconds(ms));
            b.set_dts(gst::ClockTime::from_mseconds(ms));
            if !key {
                b.set_flags(gst::BufferFlags::DELTA_UNIT);
            }
        }
        b
    }

    fn drain(rx: &mut mpsc::Receiver<Tag>) -> Vec<(TagKind, u32, bool)> {
        let mut out = Vec::new();
        while let Ok(t) = rx.try_recv() {
            out.push((t.kind, t.ms, t.is_keyframe()));
        }
        out
    }

    #[test]
    fn a_destination_starts_at_a_keyframe_with_time_from_the_first() {
        gst::init().unwrap();
        let feed = FlvFeed::new(info());
        let (v, a) = pads();
        // Before the first keyframe nothing counts; the keyframe at 10 s is time 0.
        feed.push(TagKind::Video, &v, &buffer(9_000, false, &[1]));
        feed.push(TagKind::Audio, &a, &buffer(9_990, true, &[2]));
        let mut early = feed.subscribe(Arc::default());
        feed.push(TagKind::Video, &v, &buffer(10_000, true, &[3]));
        feed.push(TagKind::Audio, &a, &buffer(10_010, true, &[4]));
        feed.push(TagKind::Video, &v, &buffer(10_033, false, &[5]));
        let mut late = feed.subscribe(Arc::default());
        feed.push(TagKind::Audio, &a, &buffer(10_031, true, &[6]));
        feed.push(TagKind::Audio, &a, &buffer(10_052, true, &[7]));
        feed.push(TagKind::Video, &v, &buffer(10_066, true, &[8]));
        feed.push(TagKind::Audio, &a, &buffer(10_073, true, &[9]));
        assert_eq!(
            drain(&mut early.tags),
            [
                (TagKind::Video, 0, true),
                (TagKind::Audio, 10, false),
                (TagKind::Audio, 31, false),
                (TagKind::Video, 33, false),
                (TagKind::Audio, 52, false),
                (TagKind::Video, 66, true),
            ]
        );
        assert_eq!(drain(&mut late.tags), [(TagKind::Video, 66, true)]);
        assert!(late.configs.is_empty(), "caps without codec data");
        let meta = crate::amf0::decode_all(&late.metadata).unwrap();
        assert_eq!(
            meta[2].get("height").and_then(crate::amf0::Value::as_f64),
            Some(360.0)
        );
    }

    #[test]
    fn codec_configurations_come_in_their_place_once() {
        gst::init().unwrap();
        let feed = FlvFeed::new(info());
        let (v, a) = pads();
        let caps = |record: &[u8]| {
            gst::Caps::builder("video/x-h264")
                .field("codec_data", gst::Buffer::from_slice(record.to_vec()))
                .build()
        };
        v.set_active(true).unwrap();
        v.store_sticky_event(&gst::event::StreamStart::new("s"))
            .ok();
        let set_caps = |record: &[u8]| {
            v.store_sticky_event(&gst::event::Caps::new(&caps(record)))
                .ok()
        };
        // A picture, then the audio just after it (which lets the picture go).
        let step = |ms: u64, key: bool| {
            feed.push(TagKind::Video, &v, &buffer(ms, key, &[ms as u8]));
            feed.push(TagKind::Audio, &a, &buffer(ms + 1, true, &[0]));
        };
        set_caps(&[1, 2]);
        let mut early = feed.subscribe(Arc::default());
        step(0, true);
        step(33, false);
        let mut late = feed.subscribe(Arc::default());
        assert_eq!(late.configs.len(), 1, "a later destination gets it at once");
        // The same configuration in new caps is not news; a new one is, before its pictures.
        set_caps(&[1, 2]);
        step(66, false);
        set_caps(&[7, 7]);
        step(100, true);
        step(133, false);
        let video = |rx: &mut mpsc::Receiver<Tag>| {
            std::iter::from_fn(|| rx.try_recv().ok())
                .filter(|t| t.kind == TagKind::Video)
                .map(|t| {
                    if t.is_config() {
                        format!("config {:?}", &t.body[5..])
                    } else {
                        format!("{}", t.ms)
                    }
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(
            video(&mut early.tags),
            [
                "config [1, 2]",
                "0",
                "33",
                "66",
                "config [7, 7]",
                "100",
                "133"
            ]
        );
        assert_eq!(video(&mut late.tags), ["config [7, 7]", "100", "133"]);
    }

    #[test]
    fn a_destination_that_falls_behind_resumes_at_a_keyframe() {
        gst::init().unwrap();
        let feed = FlvFeed::new(info());
        let (v, _) = pads();
        let lost = Arc::new(AtomicU64::new(0));
        let mut slow = feed.subscribe(lost.clone());
        for n in 0..(SINK_CAPACITY as u64 + 1100) {
            feed.push(
                TagKind::Video,
                &v,
                &buffer(n * 33, n.is_multiple_of(60), &[0]),
            );
        }
        assert!(lost.load(Ordering::Relaxed) > 0);
        let got: Vec<Tag> = std::iter::from_fn(|| slow.tags.try_recv().ok()).collect();
        assert_eq!(got.len(), SINK_CAPACITY);
        // Freed, it takes up again at the next keyframe, not at the next picture.
        let mut n = SINK_CAPACITY as u64 + 1100;
        loop {
            feed.push(
                TagKind::Video,
                &v,
                &buffer(n * 33, n.is_multiple_of(60), &[0]),
            );
            if let Ok(t) = slow.tags.try_recv() {
                assert!(t.is_keyframe(), "resumed at {}", t.ms);
                break;
            }
            n += 1;
        }
        drop(slow);
        feed.push(TagKind::Video, &v, &buffer(n * 33 + 2000, true, &[0]));
        assert!(
            feed.lock().sinks.is_empty(),
            "a closed destination is let go"
        );
    }
}
