//! FLV tags as RTMP carries them: the bodies of H.264 video and AAC audio messages, their
//! codec configurations, and the stream's metadata, made by Pinhole from the encoder's output
//! instead of by a muxer pipeline, so an output's tags cost no thread of their own.
//!
//! [`Interleave`] puts the two tracks in timestamp order: the audio mixer hands its blocks on a
//! few hundred milliseconds after the video of the same moment, and servers that read the stream
//! as FLV want the tags in order.

use crate::amf0::{self, Value};
use bytes::{BufMut, Bytes, BytesMut};
use std::collections::VecDeque;

/// What a tag carries, with its FLV tag type (the RTMP message type of the same number).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagKind {
    Audio = 8,
    Video = 9,
}

/// One FLV tag: its kind, its time in milliseconds from the output's start, and its body.
#[derive(Debug, Clone, PartialEq)]
pub struct Tag {
    pub kind: TagKind,
    pub ms: u32,
    pub body: Bytes,
}

/// Video tag: frame type (1 key, 2 inter) and codec id 7 (AVC).
const AVC_KEY: u8 = 0x17;
const AVC_INTER: u8 = 0x27;
/// Audio tag: AAC (10), 44 kHz (3, as FLV requires for AAC), 16-bit, stereo.
const AAC: u8 = 0xaf;

impl Tag {
    /// The AVC sequence header: the encoder's `AVCDecoderConfigurationRecord` (its caps'
    /// `codec_data`).
    pub fn avc_config(ms: u32, record: &[u8]) -> Tag {
        let mut b = BytesMut::with_capacity(5 + record.len());
        b.put_slice(&[AVC_KEY, 0, 0, 0, 0]);
        b.put_slice(record);
        Tag {
            kind: TagKind::Video,
            ms,
            body: b.freeze(),
        }
    }

    /// A picture: length-prefixed NAL units (`stream-format=avc`), shown `cts_ms` after its
    /// decode time.
    pub fn avc_picture(ms: u32, cts_ms: i32, key: bool, nal_units: &[u8]) -> Tag {
        let mut b = BytesMut::with_capacity(5 + nal_units.len());
        b.put_u8(if key { AVC_KEY } else { AVC_INTER });
        b.put_u8(1);
        b.put_slice(&cts_ms.clamp(-0x80_0000, 0x7f_ffff).to_be_bytes()[1..]);
        b.put_slice(nal_units);
        Tag {
            kind: TagKind::Video,
            ms,
            body: b.freeze(),
        }
    }

    /// The AAC sequence header: the encoder's `AudioSpecificConfig` (its caps' `codec_data`).
    pub fn aac_config(ms: u32, config: &[u8]) -> Tag {
        Self::aac(ms, 0, config)
    }

    /// One raw AAC frame.
    pub fn aac_frame(ms: u32, frame: &[u8]) -> Tag {
        Self::aac(ms, 1, frame)
    }

    fn aac(ms: u32, packet_type: u8, data: &[u8]) -> Tag {
        let mut b = BytesMut::with_capacity(2 + data.len());
        b.put_slice(&[AAC, packet_type]);
        b.put_slice(data);
        Tag {
            kind: TagKind::Audio,
            ms,
            body: b.freeze(),
        }
    }

    /// A video picture that a decoder can start at.
    pub fn is_keyframe(&self) -> bool {
        self.kind == TagKind::Video
            && self.body.first() == Some(&AVC_KEY)
            && self.body.get(1) == Some(&1)
    }

    /// A codec configuration (sequence header) rather than media.
    pub fn is_config(&self) -> bool {
        self.body.get(1) == Some(&0)
    }
}

/// What the stream's metadata says of it.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamInfo {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub video_kbps: u32,
    pub audio_kbps: u32,
    pub audio_rate: u32,
    pub stereo: bool,
}

/// The body of the `@setDataFrame` data message that gives an RTMP server the stream's
/// `onMetaData` (what a publisher sends before its first tag).
pub fn set_data_frame(info: &StreamInfo) -> Bytes {
    let n = |v: u32| Value::Number(f64::from(v));
    let meta = Value::EcmaArray(
        [
            ("duration", Value::Number(0.0)),
            ("width", n(info.width)),
            ("height", n(info.height)),
            ("videodatarate", n(info.video_kbps)),
            ("framerate", n(info.fps)),
            ("videocodecid", n(7)),
            ("audiodatarate", n(info.audio_kbps)),
            ("audiosamplerate", n(info.audio_rate)),
            ("audiosamplesize", n(16)),
            ("stereo", Value::Boolean(info.stereo)),
            ("audiocodecid", n(10)),
            ("encoder", amf0::string("Pinhole")),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect(),
    );
    let mut b = Vec::new();
    for v in [
        amf0::string("@setDataFrame"),
        amf0::string("onMetaData"),
        meta,
    ] {
        amf0::encode(&v, &mut b);
    }
    Bytes::from(b)
}

/// Orders the tags of the two tracks by time. Each track's own tags arrive in order; a tag goes
/// out once the other track has reached its time, or once it is [`Interleave::MAX_WAIT_MS`]
/// older than the newest tag (a track that stalled or has nothing holds nothing up for long).
#[derive(Debug, Default)]
pub struct Interleave {
    waiting: VecDeque<Tag>,
    newest_audio: Option<u32>,
    newest_video: Option<u32>,
}

impl Interleave {
    pub const MAX_WAIT_MS: u32 = 1000;

    /// Takes `tag`; returns the tags now ready, oldest first.
    pub fn push(&mut self, tag: Tag) -> Vec<Tag> {
        let newest = match tag.kind {
            TagKind::Audio => &mut self.newest_audio,
            TagKind::Video => &mut self.newest_video,
        };
        *newest = Some(newest.map_or(tag.ms, |n| n.max(tag.ms)));
        let at = self.waiting.partition_point(|t| t.ms <= tag.ms);
        self.waiting.insert(at, tag);
        let both = match (self.newest_audio, self.newest_video) {
            (Some(a), Some(v)) => Some(a.min(v)),
            _ => None,
        };
        let stale = self
            .newest_audio
            .max(self.newest_video)
            .and_then(|n| n.checked_sub(Self::MAX_WAIT_MS));
        let Some(until) = both.max(stale) else {
            return Vec::new();
        };
        let ready = self.waiting.partition_point(|t| t.ms <= until);
        self.waiting.drain(..ready).collect()
    }

    /// Forgets what waits (the encoder starts over).
    pub fn clear(&mut self) {
        *self = Interleave::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_bodies_are_flvs() {
        let c = Tag::avc_config(0, &[1, 0x64, 0, 0x1f]);
        assert_eq!(&c.body[..], &[0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f]);
        assert!(c.is_config() && !c.is_keyframe());
        let k = Tag::avc_picture(40, 66, true, &[0, 0, 0, 1, 0x65]);
        assert_eq!(&k.body[..], &[0x17, 1, 0, 0, 66, 0, 0, 0, 1, 0x65]);
        assert!(k.is_keyframe() && !k.is_config());
        let p = Tag::avc_picture(80, -1, false, &[0, 0, 0, 1, 0x41]);
        assert_eq!(&p.body[..5], &[0x27, 1, 0xff, 0xff, 0xff]);
        assert!(!p.is_keyframe());
        assert_eq!(
            &Tag::aac_config(0, &[0x11, 0x90]).body[..],
            &[0xaf, 0, 0x11, 0x90]
        );
        let a = Tag::aac_frame(21, &[0x21]);
        assert_eq!(
            (a.kind, &a.body[..]),
            (TagKind::Audio, &[0xaf, 1, 0x21][..])
        );
        assert!(!a.is_keyframe() && !a.is_config());
    }

    #[test]
    fn metadata_reads_back() {
        let info = StreamInfo {
            width: 1280,
            height: 720,
            fps: 30,
            video_kbps: 2500,
            audio_kbps: 128,
            audio_rate: 48000,
            stereo: true,
        };
        let v = amf0::decode_all(&set_data_frame(&info)).unwrap();
        assert_eq!(v[0].as_str(), Some("@setDataFrame"));
        assert_eq!(v[1].as_str(), Some("onMetaData"));
        assert_eq!(v[2].get("width").and_then(Value::as_f64), Some(1280.0));
        assert_eq!(v[2].get("videocodecid").and_then(Value::as_f64), Some(7.0));
        assert_eq!(v[2].get("audiocodecid").and_then(Value::as_f64), Some(10.0));
    }

    fn video(ms: u32) -> Tag {
        Tag::avc_picture(ms, 0, false, &[])
    }

    fn audio(ms: u32) -> Tag {
        Tag::aac_frame(ms, &[])
    }

    fn times(tags: &[Tag]) -> Vec<(TagKind, u32)> {
        tags.iter().map(|t| (t.kind, t.ms)).collect()
    }

    #[test]
    fn the_tracks_come_out_in_time_order() {
        let mut i = Interleave::default();
        let mut out = Vec::new();
        // Video runs ahead of the audio that the mixer hands on late.
        for ms in [0, 33, 66, 100, 133] {
            out.extend(i.push(video(ms)));
        }
        assert!(out.is_empty(), "video waits for the audio of its time");
        out.extend(i.push(audio(0)));
        out.extend(i.push(audio(21)));
        out.extend(i.push(audio(42)));
        out.extend(i.push(audio(64)));
        out.extend(i.push(audio(85)));
        out.extend(i.push(audio(106)));
        out.extend(i.push(video(166)));
        let ms: Vec<u32> = out.iter().map(|t| t.ms).collect();
        assert!(ms.windows(2).all(|w| w[0] <= w[1]), "{:?}", times(&out));
        assert_eq!(
            times(&out),
            [
                (TagKind::Video, 0),
                (TagKind::Audio, 0),
                (TagKind::Audio, 21),
                (TagKind::Video, 33),
                (TagKind::Audio, 42),
                (TagKind::Audio, 64),
                (TagKind::Video, 66),
                (TagKind::Audio, 85),
                (TagKind::Video, 100),
                (TagKind::Audio, 106),
            ]
        );
    }

    #[test]
    fn a_silent_track_holds_the_other_up_only_so_long() {
        let mut i = Interleave::default();
        let mut out = Vec::new();
        for n in 0..40 {
            out.extend(i.push(video(n * 33)));
        }
        // 1287 ms of video, no audio: what is more than a second old went out.
        assert_eq!(out.len(), 9, "{:?}", times(&out));
        assert_eq!(out.last().map(|t| t.ms), Some(264));
        i.clear();
        assert!(i.push(video(5000)).is_empty());
    }
}
