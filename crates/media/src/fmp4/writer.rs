//! Writes fragmented MP4: an init segment (`ftyp` + `moov`), then one `moof` + `mdat` per
//! fragment, for the recorder, live viewers and HLS.
//!
//! Why not GStreamer's `mp4mux`: behind an `appsrc` it costs the recorder two streaming threads
//! per segment (the source's and the aggregator's) and a copy of every frame through the
//! aggregator's queues, which made relaying and recording a camera cost a third more CPU than
//! `ffmpeg -c copy`. Here a frame is written from the thread that hands it over, without a copy:
//! the fragment's header is built here and its samples are the camera's own buffers, which the
//! caller writes after it ([`Fragment::payloads`]). Moonfire NVR writes its files the same way.
//!
//! Pure code (bytes out, no I/O): the recorder owns the file. The layout is the one the
//! recovery scanner ([`super::scan`]) expects: the video track first, one `traf` per track,
//! `mdat` right after `moof` with the video's samples first, so a torn fragment of a segment
//! without audio keeps its whole samples.
//!
//! Timing: every sample's decode time is converted from nanoseconds since the segment's start
//! to the track's timescale on its own (never by adding up rounded durations), so long segments
//! do not drift. A sample's duration is known when the next sample of its track comes; the last
//! one of a segment repeats the one before (or its own duration, when the caller knows it).

use std::time::Duration;

/// The codecs a track can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    H264,
    H265,
    Aac,
}

/// One track of a segment: its codec and the decoder configuration the camera gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackConfig {
    pub codec: Codec,
    /// `AVCDecoderConfigurationRecord` (H.264), `HEVCDecoderConfigurationRecord` (H.265) or
    /// `AudioSpecificConfig` (AAC): GStreamer's `codec_data`.
    pub config: Vec<u8>,
    /// Video: the picture size.
    pub width: u16,
    pub height: u16,
    /// Audio: samples per second and channels.
    pub sample_rate: u32,
    pub channels: u16,
}

impl TrackConfig {
    pub fn video(codec: Codec, width: u16, height: u16, config: Vec<u8>) -> Self {
        Self {
            codec,
            config,
            width,
            height,
            sample_rate: 0,
            channels: 0,
        }
    }

    pub fn aac(sample_rate: u32, channels: u16, config: Vec<u8>) -> Self {
        Self {
            codec: Codec::Aac,
            config,
            width: 0,
            height: 0,
            sample_rate,
            channels,
        }
    }

    fn is_video(&self) -> bool {
        matches!(self.codec, Codec::H264 | Codec::H265)
    }

    /// Units per second of the track's times: 90 kHz for video (as RTP), the sample rate for
    /// audio, so that every AAC frame lasts a whole number of units.
    pub fn timescale(&self) -> u32 {
        if self.is_video() || self.sample_rate == 0 {
            90_000
        } else {
            self.sample_rate
        }
    }
}

/// One frame handed to the writer, in decode order within its track.
#[derive(Debug, Clone)]
pub struct Sample<P> {
    /// Decode and presentation times, in nanoseconds since the segment's start.
    pub dts_ns: u64,
    pub pts_ns: u64,
    /// A keyframe (for audio: always).
    pub sync: bool,
    /// Its duration when the source knows it (audio frames), used for the segment's last one.
    pub duration_ns: Option<u64>,
    pub data: P,
}

/// A fragment ready to be written: `header` (the `moof` and the `mdat` header), then each of
/// `payloads` in order.
#[derive(Debug)]
pub struct Fragment<P> {
    pub header: Vec<u8>,
    pub payloads: Vec<P>,
}

impl<P: AsRef<[u8]>> Fragment<P> {
    /// Writes the header, then the samples, in as few calls to `out` as they take (one
    /// `writev` for a file).
    pub fn write_to(&self, out: &mut impl std::io::Write) -> std::io::Result<()> {
        use std::io::IoSlice;
        let mut slices: Vec<IoSlice> = std::iter::once(&self.header[..])
            .chain(self.payloads.iter().map(|p| p.as_ref()))
            .map(IoSlice::new)
            .collect();
        let mut rest = &mut slices[..];
        while !rest.is_empty() {
            let n = out.write_vectored(rest)?;
            if n == 0 {
                return Err(std::io::ErrorKind::WriteZero.into());
            }
            IoSlice::advance_slices(&mut rest, n);
        }
        Ok(())
    }

    /// Its size in bytes.
    pub fn len(&self) -> usize {
        self.header.len()
            + self
                .payloads
                .iter()
                .map(|p| p.as_ref().len())
                .sum::<usize>()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A sample whose duration is known.
#[derive(Debug)]
struct Entry<P> {
    duration: u32,
    /// Presentation minus decode time, in the track's units.
    composition_offset: i32,
    sync: bool,
    data: P,
}

/// A sample waiting for the next one to know its duration.
#[derive(Debug)]
struct Pending<P> {
    /// Decode time in the track's units.
    dts: u64,
    composition_offset: i32,
    sync: bool,
    duration_hint: Option<u64>,
    data: P,
}

#[derive(Debug)]
struct TrackState<P> {
    timescale: u32,
    video: bool,
    /// Decode time of `done`'s first sample (`tfdt`).
    base: u64,
    done: Vec<Entry<P>>,
    /// Sum of `done`'s durations.
    done_units: u64,
    pending: Option<Pending<P>>,
    /// The duration of the last sample that had one, for the segment's last sample.
    last_duration: u32,
}

/// Cuts the samples of a segment's tracks into fragments. Track 0 (the video) times the
/// fragments: one is due once its samples span the fragment duration; other tracks' samples
/// join the fragment being made.
#[derive(Debug)]
pub struct Fragmenter<P> {
    tracks: Vec<TrackState<P>>,
    /// `mfhd`'s sequence number of the next fragment.
    sequence: u32,
    /// The fragment duration in track 0's units.
    fragment_units: u64,
    /// How much another track may hold while track 0 sends nothing (a stalled camera whose
    /// audio goes on), in nanoseconds.
    hold_ns: u64,
}

/// ns → units of `timescale`, rounded down.
fn to_units(ns: u64, timescale: u32) -> u64 {
    (u128::from(ns) * u128::from(timescale) / 1_000_000_000) as u64
}

/// ISO/IEC 14496-12 sample flags: a sync sample depends on no other (`sample_depends_on` 2); a
/// non-sync sample depends on others (1) and is marked `sample_is_non_sync_sample`.
const SYNC_SAMPLE: u32 = 0x0200_0000;
const NON_SYNC_SAMPLE: u32 = 0x0101_0000;

impl<P: AsRef<[u8]>> Fragmenter<P> {
    pub fn new(tracks: &[TrackConfig], fragment: Duration) -> Self {
        let states: Vec<TrackState<P>> = tracks
            .iter()
            .map(|t| TrackState {
                timescale: t.timescale(),
                video: t.is_video(),
                base: 0,
                done: Vec::new(),
                done_units: 0,
                pending: None,
                last_duration: 0,
            })
            .collect();
        let fragment_units = states
            .first()
            .map_or(0, |t| to_units(fragment.as_nanos() as u64, t.timescale));
        Self {
            tracks: states,
            sequence: 1,
            fragment_units,
            hold_ns: (fragment.as_nanos() as u64)
                .saturating_mul(4)
                .max(2_000_000_000),
        }
    }

    /// Adds a sample of `track` (an index into the tracks given to [`Self::new`]); returns the
    /// fragment it completed, if any. Samples of an unknown track are dropped. A decode time
    /// that does not move forward is moved one unit past the previous one.
    pub fn push(&mut self, track: usize, sample: Sample<P>) -> Option<Fragment<P>> {
        let (fragment_units, hold_ns) = (self.fragment_units, self.hold_ns);
        let t = self.tracks.get_mut(track)?;
        let mut dts = to_units(sample.dts_ns, t.timescale);
        let pts = to_units(sample.pts_ns, t.timescale);
        if let Some(p) = t.pending.take() {
            dts = dts.max(p.dts + 1);
            t.complete(p, dts);
        }
        let composition_offset = if t.video {
            i32::try_from(pts as i64 - dts as i64).unwrap_or(0)
        } else {
            0
        };
        t.pending = Some(Pending {
            dts,
            composition_offset,
            sync: sample.sync || !t.video,
            duration_hint: sample
                .duration_ns
                .map(|d| to_units(d, t.timescale))
                .filter(|&d| d > 0),
            data: sample.data,
        });
        let due = if track == 0 {
            fragment_units > 0 && t.done_units >= fragment_units
        } else {
            // Without video the other tracks are not kept back for good.
            t.done_units >= to_units(hold_ns, t.timescale)
        };
        if due { self.fragment() } else { None }
    }

    /// Ends the segment: every sample left, the last of each track with the duration of the
    /// one before it (or its own, when known). `None` when nothing is left.
    pub fn finish(&mut self) -> Option<Fragment<P>> {
        for t in &mut self.tracks {
            if let Some(p) = t.pending.take() {
                let duration = p
                    .duration_hint
                    .map_or(t.last_duration, |d| u32::try_from(d).unwrap_or(u32::MAX))
                    .max(1);
                let end = p.dts + u64::from(duration);
                t.complete(p, end);
            }
        }
        self.fragment()
    }

    /// The fragment of every track's completed samples; `None` when there are none.
    fn fragment(&mut self) -> Option<Fragment<P>> {
        if self.tracks.iter().all(|t| t.done.is_empty()) {
            return None;
        }
        let mut moof = Vec::with_capacity(256);
        // Where each `trun`'s data_offset goes, and the bytes of the track's samples.
        let mut offsets = Vec::new();
        let sequence = self.sequence;
        self.sequence = self.sequence.wrapping_add(1);
        boxed(&mut moof, b"moof", |b| {
            full_box(b, b"mfhd", 0, 0, |b| put32(b, sequence));
            for (i, t) in self.tracks.iter().enumerate() {
                if t.done.is_empty() {
                    continue;
                }
                boxed(b, b"traf", |b| {
                    // default-base-is-moof: data offsets count from the moof's first byte.
                    full_box(b, b"tfhd", 0, 0x02_0000, |b| put32(b, i as u32 + 1));
                    full_box(b, b"tfdt", 1, 0, |b| put64(b, t.base));
                    // data offset, and per sample: duration, size, flags and (video)
                    // composition offset.
                    let flags = if t.video { 0x0f01 } else { 0x0301 };
                    full_box(b, b"trun", 1, flags, |b| {
                        put32(b, t.done.len() as u32);
                        offsets.push((
                            b.len(),
                            t.done
                                .iter()
                                .map(|e| e.data.as_ref().len() as u64)
                                .sum::<u64>(),
                        ));
                        put32(b, 0);
                        for e in &t.done {
                            put32(b, e.duration);
                            put32(b, e.data.as_ref().len() as u32);
                            if t.video {
                                put32(b, if e.sync { SYNC_SAMPLE } else { NON_SYNC_SAMPLE });
                                b.extend_from_slice(&e.composition_offset.to_be_bytes());
                            }
                        }
                    });
                });
            }
        });
        // `offsets` holds positions inside the boxes being built, relative to `moof`'s start
        // because `boxed` writes into the same vector from its start.
        let payload_len: u64 = offsets.iter().map(|o| o.1).sum();
        let large = payload_len + 8 > u64::from(u32::MAX);
        let mdat_header = if large { 16 } else { 8 };
        let mut at = moof.len() as u64 + mdat_header;
        for (pos, len) in &offsets {
            moof[*pos..*pos + 4].copy_from_slice(&(at as u32).to_be_bytes());
            at += len;
        }
        if large {
            put32(&mut moof, 1);
            moof.extend_from_slice(b"mdat");
            put64(&mut moof, payload_len + 16);
        } else {
            put32(&mut moof, (payload_len + 8) as u32);
            moof.extend_from_slice(b"mdat");
        }
        let mut payloads = Vec::new();
        for t in &mut self.tracks {
            t.base += t.done_units;
            t.done_units = 0;
            payloads.extend(t.done.drain(..).map(|e| e.data));
        }
        Some(Fragment {
            header: moof,
            payloads,
        })
    }
}

impl<P> TrackState<P> {
    /// `p` lasts until `next_dts`.
    fn complete(&mut self, p: Pending<P>, next_dts: u64) {
        let duration = u32::try_from(next_dts.saturating_sub(p.dts)).unwrap_or(u32::MAX);
        if self.done.is_empty() {
            self.base = p.dts;
        }
        self.last_duration = duration;
        self.done_units += u64::from(duration);
        self.done.push(Entry {
            duration,
            composition_offset: p.composition_offset,
            sync: p.sync,
            data: p.data,
        });
    }
}

/// The init segment (`ftyp` + `moov`) of a segment with `tracks` (video first).
pub fn init_segment(tracks: &[TrackConfig]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1024);
    boxed(&mut out, b"ftyp", |b| {
        b.extend_from_slice(b"isom");
        put32(b, 0x200);
        for brand in [b"isom", b"iso6", b"iso2", b"mp41"] {
            b.extend_from_slice(brand);
        }
    });
    boxed(&mut out, b"moov", |b| {
        full_box(b, b"mvhd", 0, 0, |b| {
            put32(b, 0); // creation time
            put32(b, 0); // modification time
            put32(b, 1000); // timescale
            put32(b, 0); // duration: fragments say
            put32(b, 0x0001_0000); // rate 1.0
            put16(b, 0x0100); // volume 1.0
            b.extend_from_slice(&[0; 10]);
            matrix(b);
            b.extend_from_slice(&[0; 24]); // pre_defined
            put32(b, tracks.len() as u32 + 1); // next track ID
        });
        for (i, t) in tracks.iter().enumerate() {
            trak(b, i as u32 + 1, t);
        }
        boxed(b, b"mvex", |b| {
            for i in 0..tracks.len() {
                full_box(b, b"trex", 0, 0, |b| {
                    put32(b, i as u32 + 1);
                    put32(b, 1); // sample description index
                    put32(b, 0); // default duration
                    put32(b, 0); // default size
                    put32(b, 0); // default flags
                });
            }
        });
    });
    out
}

fn trak(b: &mut Vec<u8>, id: u32, t: &TrackConfig) {
    boxed(b, b"trak", |b| {
        // Flags: enabled, in the movie.
        full_box(b, b"tkhd", 0, 3, |b| {
            put32(b, 0);
            put32(b, 0);
            put32(b, id);
            put32(b, 0); // reserved
            put32(b, 0); // duration
            b.extend_from_slice(&[0; 8]);
            put16(b, 0); // layer
            put16(b, 0); // alternate group
            put16(b, if t.is_video() { 0 } else { 0x0100 }); // volume
            put16(b, 0);
            matrix(b);
            put32(b, u32::from(t.width) << 16);
            put32(b, u32::from(t.height) << 16);
        });
        boxed(b, b"mdia", |b| {
            full_box(b, b"mdhd", 0, 0, |b| {
                put32(b, 0);
                put32(b, 0);
                put32(b, t.timescale());
                put32(b, 0);
                put16(b, 0x55c4); // language "und"
                put16(b, 0);
            });
            let (handler, name): (&[u8; 4], &[u8]) = if t.is_video() {
                (b"vide", b"VideoHandler\0")
            } else {
                (b"soun", b"SoundHandler\0")
            };
            full_box(b, b"hdlr", 0, 0, |b| {
                put32(b, 0);
                b.extend_from_slice(handler);
                b.extend_from_slice(&[0; 12]);
                b.extend_from_slice(name);
            });
            boxed(b, b"minf", |b| {
                if t.is_video() {
                    full_box(b, b"vmhd", 0, 1, |b| b.extend_from_slice(&[0; 8]));
                } else {
                    full_box(b, b"smhd", 0, 0, |b| put32(b, 0));
                }
                boxed(b, b"dinf", |b| {
                    full_box(b, b"dref", 0, 0, |b| {
                        put32(b, 1);
                        // Flag 1: the media is in this file.
                        full_box(b, b"url ", 0, 1, |_| {});
                    });
                });
                boxed(b, b"stbl", |b| {
                    full_box(b, b"stsd", 0, 0, |b| {
                        put32(b, 1);
                        sample_entry(b, t);
                    });
                    // Empty tables: the samples are in the fragments.
                    full_box(b, b"stts", 0, 0, |b| put32(b, 0));
                    full_box(b, b"stsc", 0, 0, |b| put32(b, 0));
                    full_box(b, b"stsz", 0, 0, |b| {
                        put32(b, 0);
                        put32(b, 0);
                    });
                    full_box(b, b"stco", 0, 0, |b| put32(b, 0));
                });
            });
        });
    });
}

fn sample_entry(b: &mut Vec<u8>, t: &TrackConfig) {
    let (kind, config_box): (&[u8; 4], &[u8; 4]) = match t.codec {
        Codec::H264 => (b"avc1", b"avcC"),
        Codec::H265 => (b"hvc1", b"hvcC"),
        Codec::Aac => (b"mp4a", b"esds"),
    };
    boxed(b, kind, |b| {
        b.extend_from_slice(&[0; 6]);
        put16(b, 1); // data reference index
        if t.is_video() {
            b.extend_from_slice(&[0; 16]); // pre_defined, reserved
            put16(b, t.width);
            put16(b, t.height);
            put32(b, 0x0048_0000); // 72 dpi
            put32(b, 0x0048_0000);
            put32(b, 0);
            put16(b, 1); // frame count
            b.extend_from_slice(&[0; 32]); // compressor name
            put16(b, 0x0018); // depth
            put16(b, 0xffff);
            boxed(b, config_box, |b| b.extend_from_slice(&t.config));
        } else {
            b.extend_from_slice(&[0; 8]);
            put16(b, t.channels);
            put16(b, 16); // sample size
            put32(b, 0);
            // 16.16 fixed point; rates above 65535 do not fit and are left to the esds.
            put32(
                b,
                if t.sample_rate <= 0xffff {
                    t.sample_rate << 16
                } else {
                    0
                },
            );
            full_box(b, b"esds", 0, 0, |b| esds(b, &t.config));
        }
    });
}

/// MPEG-4 systems descriptors (ISO/IEC 14496-1) of an AAC track.
fn esds(b: &mut Vec<u8>, audio_specific_config: &[u8]) {
    let mut specific = Vec::new();
    descriptor(&mut specific, 0x05, audio_specific_config);
    let mut decoder = vec![
        0x40, // object type: MPEG-4 audio
        0x15, // stream type: audio (5 << 2), upstream 0, reserved 1
        0, 0, 0, // buffer size
    ];
    decoder.extend_from_slice(&[0; 8]); // max and average bitrate: unknown
    decoder.extend_from_slice(&specific);
    let mut es = vec![0, 0, 0]; // ES_ID 0, no flags
    descriptor(&mut es, 0x04, &decoder);
    descriptor(&mut es, 0x06, &[0x02]); // SLConfig: predefined for MP4
    descriptor(b, 0x03, &es);
}

/// A descriptor: tag, length in 7-bit groups, body.
fn descriptor(b: &mut Vec<u8>, tag: u8, body: &[u8]) {
    b.push(tag);
    let len = body.len();
    let groups = (1..4).take_while(|g| len >> (7 * g) > 0).count();
    for g in (1..=groups).rev() {
        b.push(0x80 | ((len >> (7 * g)) & 0x7f) as u8);
    }
    b.push((len & 0x7f) as u8);
    b.extend_from_slice(body);
}

fn put16(b: &mut Vec<u8>, v: u16) {
    b.extend_from_slice(&v.to_be_bytes());
}

fn put32(b: &mut Vec<u8>, v: u32) {
    b.extend_from_slice(&v.to_be_bytes());
}

fn put64(b: &mut Vec<u8>, v: u64) {
    b.extend_from_slice(&v.to_be_bytes());
}

/// The identity matrix of `mvhd` and `tkhd`.
fn matrix(b: &mut Vec<u8>) {
    for v in [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000] {
        put32(b, v);
    }
}

/// A box of `kind` whose body `body` writes.
fn boxed(b: &mut Vec<u8>, kind: &[u8; 4], body: impl FnOnce(&mut Vec<u8>)) {
    let start = b.len();
    put32(b, 0);
    b.extend_from_slice(kind);
    body(b);
    let size = (b.len() - start) as u32;
    b[start..start + 4].copy_from_slice(&size.to_be_bytes());
}

/// A full box: version and flags before the body.
fn full_box(
    b: &mut Vec<u8>,
    kind: &[u8; 4],
    version: u8,
    flags: u32,
    body: impl FnOnce(&mut Vec<u8>),
) {
    boxed(b, kind, |b| {
        put32(b, (u32::from(version) << 24) | (flags & 0x00ff_ffff));
        body(b);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame at 30 fps, rounded up so that 15 of them make exactly 45000 units of 90 kHz.
    const FRAME_NS: u64 = 33_333_334;

    fn h264() -> TrackConfig {
        TrackConfig::video(
            Codec::H264,
            1920,
            1080,
            vec![1, 0x64, 0, 0x28, 0xff, 0xe0, 0],
        )
    }

    fn video(i: u64, gop: u64) -> Sample<Vec<u8>> {
        Sample {
            dts_ns: i * FRAME_NS,
            pts_ns: i * FRAME_NS,
            sync: i.is_multiple_of(gop),
            duration_ns: None,
            data: vec![i as u8; 100 + i as usize],
        }
    }

    /// A whole file: init segment, then every fragment.
    fn file(tracks: &[TrackConfig], samples: Vec<(usize, Sample<Vec<u8>>)>) -> Vec<u8> {
        let mut out = init_segment(tracks);
        let mut f = Fragmenter::new(tracks, Duration::from_millis(500));
        let mut write = |frag: Fragment<Vec<u8>>| frag.write_to(&mut out).expect("in memory");
        for (t, s) in samples {
            if let Some(frag) = f.push(t, s) {
                write(frag);
            }
        }
        if let Some(frag) = f.finish() {
            write(frag);
        }
        out
    }

    fn scan(bytes: &[u8]) -> super::super::ScanReport {
        super::super::scan(&mut std::io::Cursor::new(bytes)).expect("scan")
    }

    #[test]
    fn the_scanner_reads_the_written_duration_and_fragments() {
        let tracks = [h264()];
        let bytes = file(&tracks, (0..90).map(|i| (0, video(i, 30))).collect());
        let report = scan(&bytes);
        assert!(report.is_playable(), "{report:?}");
        assert!(!report.is_truncated(), "{report:?}");
        assert_eq!(report.playable_len, bytes.len() as u64);
        // 90 frames of 1/30 s, the last as long as the one before.
        assert!((2999..=3001).contains(&report.duration_ms()), "{report:?}");
        // 500 ms fragments: 15 frames each.
        assert_eq!(report.fragments, 6, "{report:?}");
    }

    #[test]
    fn fragments_are_timed_by_the_video_and_carry_the_audio() {
        let tracks = [h264(), TrackConfig::aac(48_000, 1, vec![0x11, 0x88])];
        let mut samples = Vec::new();
        let mut audio_t = 0;
        for i in 0..60 {
            samples.push((0, video(i, 30)));
            while audio_t <= i * FRAME_NS {
                samples.push((
                    1,
                    Sample {
                        dts_ns: audio_t,
                        pts_ns: audio_t,
                        sync: false,
                        duration_ns: Some(21_333_333),
                        data: vec![0xaa; 20],
                    },
                ));
                audio_t += 21_333_333;
            }
        }
        let bytes = file(&tracks, samples);
        let report = scan(&bytes);
        assert!(report.is_playable() && !report.is_truncated(), "{report:?}");
        // Timed by the video track only.
        assert!((1999..=2001).contains(&report.duration_ms()), "{report:?}");
        let facts: Vec<_> = fragments(&bytes)
            .iter()
            .map(|f| super::super::fragment_facts(f, Some(1)).expect("moof"))
            .collect();
        assert_eq!(facts.len(), 4);
        // Each fragment starts at a keyframe only where one falls: 0 and 30 (15 frames each).
        assert_eq!(
            facts.iter().map(|f| f.starts_with_sync).collect::<Vec<_>>(),
            [true, false, true, false]
        );
        // (The last one's last frame repeats the duration before it, rounded.)
        assert!(
            facts.iter().all(|f| f.duration.abs_diff(45_000) <= 1),
            "{facts:?}"
        );
        // Audio samples are in the fragments too, with their own timescale.
        let audio: u64 = fragments(&bytes)
            .iter()
            .map(|f| super::super::fragment_facts(f, Some(2)).map_or(0, |f| f.duration))
            .sum();
        assert!((95_000..=97_000).contains(&audio), "{audio}");
    }

    #[test]
    fn audio_is_not_kept_back_for_good_when_the_video_stalls() {
        let tracks = [h264(), TrackConfig::aac(16_000, 1, vec![0x14, 0x08])];
        let mut f = Fragmenter::new(&tracks, Duration::from_millis(500));
        assert!(f.push(0, video(0, 30)).is_none());
        // The camera's picture stops; its sound goes on, 64 ms a frame.
        let cut = (0..100u64).find_map(|i| {
            let t = i * 64_000_000;
            let sample = Sample {
                dts_ns: t,
                pts_ns: t,
                sync: true,
                duration_ns: None,
                data: vec![1u8; 10],
            };
            f.push(1, sample).map(|fr| (i, fr))
        });
        let (at, fragment) = cut.expect("a fragment without video");
        // Two seconds of sound, then out.
        assert!((31..=33).contains(&at), "after {at} frames");
        assert!(fragment.payloads.len() >= 31);
    }

    /// The `moof` + `mdat` pairs of a file.
    fn fragments(bytes: &[u8]) -> Vec<Vec<u8>> {
        let mut s = super::super::FragmentSplitter::default();
        s.push(bytes).into_iter().skip(1).collect()
    }

    #[test]
    fn decode_times_do_not_drift_and_never_go_back() {
        let tracks = [h264()];
        let mut f = Fragmenter::new(&tracks, Duration::from_secs(3600));
        // 29.97 fps for an hour: rounded durations added up would drift by seconds.
        let at = |i: u64| i * 1_001_000_000_000 / 30_000_000;
        let frames = 107_892u64;
        for i in 0..frames {
            let sample = Sample {
                dts_ns: at(i),
                pts_ns: at(i),
                sync: i == 0,
                duration_ns: None,
                data: vec![0u8],
            };
            assert!(f.push(0, sample).is_none());
        }
        let written = f.finish().map_or(0, |fr| fr.payloads.len() as u64);
        assert_eq!(written, frames);
        // The next fragment's decode time is the end of the last sample, to within a frame.
        let expected = to_units(at(frames), 90_000);
        let base = f.tracks[0].base;
        assert!(base.abs_diff(expected) <= 3003, "{base} vs {expected}");

        // A decode time that repeats moves on by one unit.
        let mut f = Fragmenter::new(&tracks, Duration::from_secs(1));
        for t in [0, FRAME_NS, FRAME_NS, 2 * FRAME_NS] {
            let _ = f.push(
                0,
                Sample {
                    dts_ns: t,
                    pts_ns: t,
                    sync: true,
                    duration_ns: None,
                    data: vec![0u8],
                },
            );
        }
        let frag = f.finish().expect("fragment");
        assert_eq!(frag.payloads.len(), 4);
        let durations = trun_durations(&frag.header);
        assert!(durations.iter().all(|&d| d > 0), "{durations:?}");
    }

    #[test]
    fn b_frames_without_decode_times_keep_their_presentation_times() {
        // RTP carries presentation times only: I0 P3 B1 B2 P6 B4 B5 in decode order.
        let tracks = [h264()];
        let mut f = Fragmenter::new(&tracks, Duration::from_secs(10));
        let order = [0u64, 3, 1, 2, 6, 4, 5];
        for (i, &p) in order.iter().enumerate() {
            let t = p * 40_000_000;
            let sample = Sample {
                dts_ns: t,
                pts_ns: t,
                sync: i == 0,
                duration_ns: None,
                data: vec![0u8],
            };
            assert!(f.push(0, sample).is_none());
        }
        let frag = f.finish().expect("fragment");
        // Each sample's decode time plus its composition offset is its presentation time.
        let at = frag
            .header
            .windows(4)
            .position(|w| w == b"trun")
            .expect("trun")
            + 4;
        let word = |o: usize| u32::from_be_bytes(frag.header[o..o + 4].try_into().unwrap());
        let mut dts = 0i64;
        let mut presented = Vec::new();
        for i in 0..order.len() {
            let e = at + 12 + i * 16;
            presented.push(dts + i64::from(word(e + 12) as i32));
            dts += i64::from(word(e));
        }
        let want: Vec<i64> = order.iter().map(|&p| (p * 3600) as i64).collect();
        assert_eq!(presented, want);
    }

    /// The sample durations of a fragment's first `trun` (video layout).
    fn trun_durations(moof: &[u8]) -> Vec<u32> {
        let at = moof.windows(4).position(|w| w == b"trun").expect("trun") + 4;
        let count = u32::from_be_bytes(moof[at + 4..at + 8].try_into().unwrap()) as usize;
        (0..count)
            .map(|i| {
                let e = at + 12 + i * 16;
                u32::from_be_bytes(moof[e..e + 4].try_into().unwrap())
            })
            .collect()
    }

    proptest::proptest! {
        /// Cameras' timestamps are outside input: whatever they do (stand still, go back,
        /// jump), the writer does not panic and the recovery scanner reads every fragment it
        /// wrote back as a whole, playable file.
        #[test]
        fn any_timing_makes_a_file_the_scanner_reads_whole(
            steps in proptest::collection::vec((0u8..3, -50_000_000i64..200_000_000, 1usize..300, proptest::bool::ANY), 1..200),
        ) {
            let tracks = [h264(), TrackConfig::aac(16_000, 1, vec![0x14, 0x08])];
            let mut t = [0i64, 0i64];
            let samples: Vec<(usize, Sample<Vec<u8>>)> = steps
                .into_iter()
                .enumerate()
                .map(|(i, (kind, step, size, sync))| {
                    let track = usize::from(kind == 2);
                    t[track] = (t[track] + step).max(0);
                    let at = t[track] as u64;
                    (track, Sample { dts_ns: at, pts_ns: at, sync: sync || i == 0, duration_ns: None, data: vec![0u8; size] })
                })
                .collect();
            let bytes = file(&tracks, samples);
            let report = scan(&bytes);
            proptest::prop_assert!(report.has_moov && !report.is_truncated(), "{:?}", report);
            proptest::prop_assert_eq!(report.playable_len, bytes.len() as u64);
        }
    }

    #[test]
    fn descriptor_lengths_use_seven_bit_groups() {
        let mut b = Vec::new();
        descriptor(&mut b, 5, &[1, 2]);
        assert_eq!(b, [5, 2, 1, 2]);
        let mut b = Vec::new();
        descriptor(&mut b, 5, &[0; 200]);
        assert_eq!(&b[..3], [5, 0x81, 0x48]);
        assert_eq!(b.len(), 203);
    }
}
