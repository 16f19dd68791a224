//! Fragmented MP4: the recorder's [`writer`], and here a scanner for the segments it wrote,
//! used to repair the recordings index after a crash.
//!
//! The recorder writes `ftyp`, `moov`, then one `moof`+`mdat` pair per fragment (`storage.fragment_ms`). After a
//! power cut or `kill -9` the file ends somewhere inside a fragment. [`scan`] walks the top-level
//! boxes, finds where the last complete fragment ends and adds up the sample durations of the
//! complete fragments, so the index gets the real duration and the file can be cut back to a
//! length every decoder accepts. When the tail is torn inside the last fragment's samples (a
//! power cut), the whole samples there are kept too ([`Salvage`]). Pure code over a byte reader: unit tested and fuzzed
//! (`fuzz/fuzz_targets/fmp4_scan.rs`).
//!
//! Hand-written rather than taken from `mp4`/`mp4parse`: those parse a complete file into memory
//! models and reject truncated input, whereas recovery needs exactly the tolerant, streaming walk
//! over top-level boxes and the two or three boxes inside `moof` that carry timing.

pub mod writer;

use std::io::{self, Read, Seek, SeekFrom};

/// What a scan found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScanReport {
    /// The file has a `moov` box (codec configuration): without it nothing is playable.
    pub has_moov: bool,
    /// Complete `moof`+`mdat` pairs.
    pub fragments: u32,
    /// Byte offset just past the last complete fragment (or past `moov` when there is none):
    /// the length to cut the file back to.
    pub playable_len: u64,
    /// The file's actual length.
    pub file_len: u64,
    /// Total duration of the complete fragments, in the video track's timescale units.
    pub duration_units: u64,
    /// The video track's timescale (units per second), from `mdhd`; 0 if not found.
    pub timescale: u32,
    /// When the last fragment is torn inside its samples: how to keep the samples that are
    /// whole (see [`Salvage`]).
    pub salvage: Option<Salvage>,
}

/// Keeping the whole samples of a torn last fragment (a power cut lost the end of its `mdat`):
/// its `trun` is shortened to those samples (the entries given up become a `free` box, so no
/// other box moves), its `mdat` size is set to their bytes, and the file is cut after them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Salvage {
    /// Bytes to write at these file offsets.
    pub patches: Vec<(u64, Vec<u8>)>,
    /// The file's length afterwards.
    pub len: u64,
    /// Samples kept from the torn fragment.
    pub samples: u32,
    /// Their duration, in the timescale's units.
    pub duration_units: u64,
}

impl ScanReport {
    /// Duration in milliseconds of the complete fragments.
    pub fn duration_ms(&self) -> u64 {
        self.ms(self.duration_units)
    }

    /// Duration in milliseconds once the salvage (if any) is applied.
    pub fn salvaged_duration_ms(&self) -> u64 {
        let extra = self.salvage.as_ref().map_or(0, |s| s.duration_units);
        self.ms(self.duration_units.saturating_add(extra))
    }

    fn ms(&self, units: u64) -> u64 {
        if self.timescale == 0 {
            0
        } else {
            units.saturating_mul(1000) / u64::from(self.timescale)
        }
    }

    /// Has bytes after the last complete fragment (a torn write).
    pub fn is_truncated(&self) -> bool {
        self.file_len > self.playable_len
    }

    /// Something can be played back.
    pub fn is_playable(&self) -> bool {
        self.has_moov && (self.fragments > 0 || self.salvage.is_some())
    }
}

/// A problem that makes the file not an MP4 at all (as opposed to a torn tail, which is normal).
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("read failed: {0}")]
    Io(#[from] io::Error),
    #[error("not an MP4 file: first box is `{0}`, expected `ftyp`")]
    NotMp4(String),
}

#[derive(Debug, Clone, Copy)]
struct BoxHeader {
    kind: [u8; 4],
    /// Offset of the box's first byte.
    start: u64,
    /// Length of the header (8 or 16).
    header_len: u64,
    /// Total size including the header.
    size: u64,
}

fn fourcc(k: &[u8; 4]) -> String {
    k.iter()
        .map(|&b| if b.is_ascii_graphic() { b as char } else { '?' })
        .collect()
}

/// Reads a box header at the current position; `None` at end of file or on a header that is cut
/// short or claims an impossible size.
fn read_header<R: Read + Seek>(r: &mut R, start: u64, limit: u64) -> io::Result<Option<BoxHeader>> {
    if limit.saturating_sub(start) < 8 {
        return Ok(None);
    }
    r.seek(SeekFrom::Start(start))?;
    let mut h = [0u8; 8];
    r.read_exact(&mut h)?;
    let size32 = u32::from_be_bytes([h[0], h[1], h[2], h[3]]);
    let kind = [h[4], h[5], h[6], h[7]];
    let (size, header_len) = match size32 {
        0 => (limit - start, 8), // extends to the end
        1 => {
            if limit - start < 16 {
                return Ok(None);
            }
            let mut l = [0u8; 8];
            r.read_exact(&mut l)?;
            (u64::from_be_bytes(l), 16)
        }
        n => (u64::from(n), 8),
    };
    if size < header_len {
        return Ok(None);
    }
    Ok(Some(BoxHeader {
        kind,
        start,
        header_len,
        size,
    }))
}

fn read_body<R: Read + Seek>(r: &mut R, b: &BoxHeader, max: u64) -> io::Result<Option<Vec<u8>>> {
    let len = b.size - b.header_len;
    if len > max {
        return Ok(None);
    }
    r.seek(SeekFrom::Start(b.start + b.header_len))?;
    let mut v = vec![0u8; len as usize];
    r.read_exact(&mut v)?;
    Ok(Some(v))
}

/// Iterates child boxes inside a body: (kind, payload).
fn children(body: &[u8]) -> impl Iterator<Item = ([u8; 4], &[u8])> {
    children_at(body).map(|c| (c.kind, c.payload))
}

/// A child box and where it lies in its parent's body.
struct Child<'a> {
    kind: [u8; 4],
    payload: &'a [u8],
    /// Offset of the box (its size field) in the parent's body.
    at: usize,
    header_len: usize,
}

fn children_at(body: &[u8]) -> impl Iterator<Item = Child<'_>> {
    let mut pos = 0usize;
    std::iter::from_fn(move || {
        if body.len().saturating_sub(pos) < 8 {
            return None;
        }
        let size = u32::from_be_bytes(body[pos..pos + 4].try_into().ok()?) as usize;
        let kind: [u8; 4] = body[pos + 4..pos + 8].try_into().ok()?;
        let (hdr, size) = match size {
            0 => (8, body.len() - pos),
            1 => {
                let l = u64::from_be_bytes(body.get(pos + 8..pos + 16)?.try_into().ok()?);
                (16, usize::try_from(l).ok()?)
            }
            n => (8, n),
        };
        let end = pos.checked_add(size)?;
        if size < hdr || end > body.len() {
            return None;
        }
        let child = Child {
            kind,
            payload: &body[pos + hdr..end],
            at: pos,
            header_len: hdr,
        };
        pos = end;
        Some(child)
    })
}

fn be_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// The 32-bit field after a full box's creation and modification times: `tkhd`'s track_ID,
/// `mdhd`'s timescale. version(1) flags(3), then v0: ctime(4) mtime(4); v1: ctime(8) mtime(8).
fn after_times(b: &[u8]) -> Option<u32> {
    be_u32(b, if b.first() == Some(&1) { 20 } else { 12 })
}

/// The track durations are counted in: the first video track (`hdlr` = `vide`), or the first
/// track.
#[derive(Debug, Clone, Copy, Default)]
struct TimingTrack {
    timescale: u32,
    /// Its `track_ID` (from `tkhd`), when found: other tracks' runs are not counted.
    id: Option<u32>,
}

fn moov_timing_track(moov: &[u8]) -> TimingTrack {
    let mut first = TimingTrack::default();
    for (k, trak) in children(moov) {
        if &k != b"trak" {
            continue;
        }
        let mut id = None;
        let mut ts = 0;
        let mut video = false;
        for (k, b) in children(trak) {
            match &k {
                b"tkhd" => id = after_times(b),
                b"mdia" => {
                    for (k, b) in children(b) {
                        match &k {
                            b"mdhd" => ts = after_times(b).unwrap_or(0),
                            b"hdlr" => video = b.get(8..12) == Some(b"vide"),
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        let track = TimingTrack { timescale: ts, id };
        if video && ts != 0 {
            return track;
        }
        if first.timescale == 0 {
            first = track;
        }
    }
    first
}

/// What a `moof` says: the sum of the timing track's sample durations (every track's when its
/// id is unknown) and, when the fragment has exactly one track run, that run's layout.
struct MoofInfo {
    duration: u64,
    run: Option<RunLayout>,
    /// The sample flags of the fragment's first sample (from `trun`, or `tfhd`'s defaults).
    first_sample_flags: Option<u32>,
}

/// The one `trun` of a fragment, for cutting it short.
#[derive(Debug, Clone)]
struct RunLayout {
    /// Offset of the `trun` box in the `moof`'s body, and its size (8-byte header).
    trun_at: usize,
    trun_size: usize,
    /// Bytes per sample entry.
    entry_len: usize,
    /// (size, duration) of each sample.
    samples: Vec<(u64, u64)>,
    /// Where the samples start, from the `moof`'s first byte (when the run says).
    data_offset: Option<u64>,
}

fn moof_info(moof: &[u8], track: Option<u32>) -> MoofInfo {
    let mut total = 0u64;
    let mut runs = Vec::new();
    let mut other_tracks = false;
    let mut first_sample_flags = None;
    for traf_box in children_at(moof) {
        if &traf_box.kind != b"traf" {
            continue;
        }
        let traf = traf_box.payload;
        let traf_track = children_at(traf)
            .find(|c| &c.kind == b"tfhd")
            .and_then(|c| be_u32(c.payload, 4));
        if track.is_some() && traf_track != track {
            other_tracks = true;
            continue;
        }
        let traf_payload_at = traf_box.at + traf_box.header_len;
        let (mut default_duration, mut default_size) = (0u32, 0u32);
        let mut default_flags = None;
        for c in children_at(traf) {
            let b = c.payload;
            match &c.kind {
                b"tfhd" => {
                    let flags = be_u32(b, 0).unwrap_or(0) & 0x00ff_ffff;
                    let mut at = 8; // version/flags + track_ID
                    if flags & 0x01 != 0 {
                        at += 8; // base_data_offset
                    }
                    if flags & 0x02 != 0 {
                        at += 4; // sample_description_index
                    }
                    if flags & 0x08 != 0 {
                        default_duration = be_u32(b, at).unwrap_or(0);
                        at += 4;
                    }
                    if flags & 0x10 != 0 {
                        default_size = be_u32(b, at).unwrap_or(0);
                        at += 4;
                    }
                    if flags & 0x20 != 0 {
                        default_flags = be_u32(b, at);
                    }
                }
                b"trun" => {
                    let flags = be_u32(b, 0).unwrap_or(0) & 0x00ff_ffff;
                    let count = be_u32(b, 4).unwrap_or(0);
                    let mut at = 8;
                    let mut data_offset = None;
                    if flags & 0x01 != 0 {
                        data_offset = be_u32(b, at).map(u64::from);
                        at += 4;
                    }
                    let mut first_flags = None;
                    if flags & 0x04 != 0 {
                        first_flags = be_u32(b, at);
                        at += 4;
                    }
                    let per_sample = [0x100u32, 0x200, 0x400, 0x800]
                        .iter()
                        .filter(|&&f| flags & f != 0)
                        .count()
                        * 4;
                    if first_flags.is_none() && flags & 0x400 != 0 && count > 0 {
                        let before = [0x100u32, 0x200]
                            .iter()
                            .filter(|&&f| flags & f != 0)
                            .count();
                        first_flags = be_u32(b, at + 4 * before);
                    }
                    if first_sample_flags.is_none() {
                        first_sample_flags = first_flags.or(default_flags);
                    }
                    let mut samples = Vec::new();
                    for i in 0..count as usize {
                        let entry = i.checked_mul(per_sample).and_then(|o| o.checked_add(at));
                        let field = |n: usize| entry.and_then(|e| be_u32(b, e + 4 * n));
                        let duration = if flags & 0x100 != 0 {
                            field(0)
                        } else if per_sample == 0 || entry.is_some_and(|e| e < b.len()) {
                            Some(default_duration)
                        } else {
                            None
                        };
                        let size = if flags & 0x200 != 0 {
                            field(usize::from(flags & 0x100 != 0))
                        } else {
                            Some(default_size)
                        };
                        match (duration, size) {
                            (Some(d), Some(s)) => samples.push((u64::from(s), u64::from(d))),
                            _ => break,
                        }
                        // A run without entries repeats the defaults: no need to list them.
                        if per_sample == 0 {
                            total = total.saturating_add(
                                u64::from(count).saturating_mul(u64::from(default_duration)),
                            );
                            samples.clear();
                            break;
                        }
                    }
                    total = total.saturating_add(samples.iter().map(|s| s.1).sum::<u64>());
                    runs.push(RunLayout {
                        trun_at: traf_payload_at + c.at,
                        trun_size: if c.header_len == 8 { b.len() + 8 } else { 0 },
                        entry_len: per_sample,
                        samples,
                        data_offset,
                    });
                }
                _ => {}
            }
        }
    }
    // Cutting one track's run short would leave another's pointing past the end.
    let run = match runs.len() {
        1 if !other_tracks => runs.pop().filter(|r| r.trun_size > 0 && r.entry_len > 0),
        _ => None,
    };
    MoofInfo {
        duration: total,
        run,
        first_sample_flags,
    }
}

/// What one live fragment (`moof` + `mdat`, as [`FragmentSplitter`] yields it) holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FragmentFacts {
    /// Its samples' total duration, in the track's timescale.
    pub duration: u64,
    /// Its first sample is a sync sample (a keyframe): a segment may start here.
    pub starts_with_sync: bool,
}

/// Reads a live fragment's `moof` for `track`'s run (every track's when `None`); `None` when
/// it does not start with a `moof`. A fragment without a run of `track` has no duration and no
/// sync sample.
pub fn fragment_facts(fragment: &[u8], track: Option<u32>) -> Option<FragmentFacts> {
    let (kind, moof) = children(fragment).next()?;
    if &kind != b"moof" {
        return None;
    }
    let info = moof_info(moof, track);
    Some(FragmentFacts {
        duration: info.duration,
        // ISO/IEC 14496-12 sample flags: bit 16 is sample_is_non_sync_sample.
        starts_with_sync: info
            .first_sample_flags
            .is_some_and(|f| f & 0x0001_0000 == 0),
    })
}

/// The track a live stream is timed and cut by: its timescale and `track_ID`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoTrack {
    pub timescale: u32,
    pub id: Option<u32>,
}

/// The video track of an init segment (`ftyp` + `moov`).
pub fn init_video_track(init: &[u8]) -> Option<VideoTrack> {
    let (_, moov) = children(init).find(|(k, _)| k == b"moov")?;
    let t = moov_timing_track(moov);
    (t.timescale > 0).then_some(VideoTrack {
        timescale: t.timescale,
        id: t.id,
    })
}

/// How to keep the whole samples of a run whose `mdat` (at `mdat_at`, 8-byte header) has only
/// `available` bytes of samples left; `None` when nothing can be kept that way.
fn salvage(
    run: &RunLayout,
    moof_at: u64,
    moof_header_len: u64,
    mdat_at: u64,
    available: u64,
) -> Option<Salvage> {
    // The samples must start right after the mdat header.
    if run
        .data_offset
        .is_some_and(|o| Some(o) != (mdat_at + 8).checked_sub(moof_at))
    {
        return None;
    }
    let mut kept_bytes = 0u64;
    let mut kept = 0usize;
    let mut duration_units = 0u64;
    for &(size, duration) in &run.samples {
        match kept_bytes.checked_add(size) {
            Some(b) if b <= available => {
                kept_bytes = b;
                kept += 1;
                duration_units = duration_units.saturating_add(duration);
            }
            _ => break,
        }
    }
    let given_up = run
        .samples
        .len()
        .checked_sub(kept)?
        .checked_mul(run.entry_len)?;
    // Nothing whole, nothing torn, or too few entry bytes to hold a `free` box header.
    if kept == 0 || given_up < 8 {
        return None;
    }
    let trun_at = moof_at + moof_header_len + run.trun_at as u64;
    let new_trun_size = u32::try_from(run.trun_size - given_up).ok()?;
    let mut free = u32::try_from(given_up).ok()?.to_be_bytes().to_vec();
    free.extend_from_slice(b"free");
    Some(Salvage {
        patches: vec![
            (trun_at, new_trun_size.to_be_bytes().to_vec()),
            // After the size, the type and version/flags: the sample count.
            (
                trun_at + 12,
                u32::try_from(kept).ok()?.to_be_bytes().to_vec(),
            ),
            (trun_at + u64::from(new_trun_size), free),
            (
                mdat_at,
                u32::try_from(8 + kept_bytes).ok()?.to_be_bytes().to_vec(),
            ),
        ],
        len: mdat_at + 8 + kept_bytes,
        samples: kept as u32,
        duration_units,
    })
}

/// Regroups a muxer's output (buffers that may split or join boxes) into self-contained
/// messages: the init segment (everything up to and including `moov`), then one message per
/// fragment (everything up to and including each `mdat`). For live streaming, where each
/// message must be appendable on its own.
#[derive(Debug, Default)]
pub struct FragmentSplitter {
    pending: Vec<u8>,
    /// Bytes of `pending` already known to form complete boxes.
    complete: usize,
}

impl FragmentSplitter {
    /// Adds bytes; returns the messages they complete.
    pub fn push(&mut self, data: &[u8]) -> Vec<Vec<u8>> {
        self.pending.extend_from_slice(data);
        let mut out = Vec::new();
        loop {
            let rest = &self.pending[self.complete..];
            if rest.len() < 8 {
                break;
            }
            let size32 = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as u64;
            let size = match size32 {
                1 if rest.len() >= 16 => {
                    u64::from_be_bytes(rest[8..16].try_into().unwrap_or([0; 8]))
                }
                1 => break,
                // Size 0 ("to the end") never occurs in a live stream; treat as malformed.
                0 => u64::MAX,
                n => n,
            };
            if !(8..=256 * 1024 * 1024).contains(&size) {
                // Not an MP4 box stream: pass everything through rather than stall.
                out.push(std::mem::take(&mut self.pending));
                self.complete = 0;
                break;
            }
            if (rest.len() as u64) < size {
                break;
            }
            let kind = [rest[4], rest[5], rest[6], rest[7]];
            self.complete += size as usize;
            if &kind == b"moov" || &kind == b"mdat" {
                let rest = self.pending.split_off(self.complete);
                out.push(std::mem::replace(&mut self.pending, rest));
                self.complete = 0;
            }
        }
        out
    }
}

/// Bodies larger than this are not read into memory (a `moov` or `moof` is a few KB).
const MAX_META_BOX: u64 = 16 * 1024 * 1024;

/// Scans a fragmented MP4 file. A torn tail is reported, not an error.
pub fn scan<R: Read + Seek>(r: &mut R) -> Result<ScanReport, ScanError> {
    let file_len = r.seek(SeekFrom::End(0))?;
    let mut rep = ScanReport {
        file_len,
        ..Default::default()
    };
    let mut pos = 0u64;
    let mut first = true;
    // A moof waiting for its mdat: its information, start and header length.
    let mut pending: Option<(MoofInfo, u64, u64)> = None;
    let mut timing = TimingTrack::default();
    while let Some(h) = read_header(r, pos, file_len)? {
        if first {
            if &h.kind != b"ftyp" {
                return Err(ScanError::NotMp4(fourcc(&h.kind)));
            }
            first = false;
        }
        let end = match h.start.checked_add(h.size) {
            Some(e) if e <= file_len => e,
            _ => {
                // A torn box; if it is the mdat of a fragment, its whole samples can stay.
                if &h.kind == b"mdat"
                    && h.header_len == 8
                    && let Some((info, moof_at, moof_header_len)) = &pending
                    && let Some(run) = &info.run
                {
                    rep.salvage = salvage(
                        run,
                        *moof_at,
                        *moof_header_len,
                        h.start,
                        file_len - h.start - 8,
                    );
                }
                break;
            }
        };
        match &h.kind {
            b"moov" => {
                let Some(body) = read_body(r, &h, MAX_META_BOX)? else {
                    break;
                };
                rep.has_moov = true;
                timing = moov_timing_track(&body);
                rep.timescale = timing.timescale;
                rep.playable_len = end;
            }
            b"moof" => {
                let Some(body) = read_body(r, &h, MAX_META_BOX)? else {
                    break;
                };
                pending = Some((moof_info(&body, timing.id), h.start, h.header_len));
            }
            b"mdat" => {
                if let Some((info, _, _)) = pending.take() {
                    rep.fragments += 1;
                    rep.duration_units = rep.duration_units.saturating_add(info.duration);
                    rep.playable_len = end;
                }
            }
            b"mfra" | b"free" | b"skip" | b"ftyp" | b"styp" | b"sidx" | b"udta"
                if pending.is_none() && rep.has_moov =>
            {
                rep.playable_len = end;
            }
            _ => {}
        }
        pos = end;
    }
    if first {
        return Err(ScanError::NotMp4(String::from("(empty)")));
    }
    Ok(rep)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Cursor;

    fn bx(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut v = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        v.extend_from_slice(kind);
        v.extend_from_slice(body);
        v
    }

    fn full(version_flags: u32, rest: &[u8]) -> Vec<u8> {
        let mut v = version_flags.to_be_bytes().to_vec();
        v.extend_from_slice(rest);
        v
    }

    /// A synthetic file: ftyp, moov (timescale 90000, video), then `n` fragments of 30 samples of
    /// 3000 units each (1 s at 90 kHz), samples with explicit durations.
    pub(crate) fn synthetic(n: usize) -> Vec<u8> {
        let mut mdhd = vec![0u8; 4 + 8];
        mdhd.extend_from_slice(&90_000u32.to_be_bytes());
        mdhd.extend_from_slice(&[0u8; 8]);
        let hdlr = {
            let mut h = vec![0u8; 8];
            h.extend_from_slice(b"vide");
            h.extend_from_slice(&[0u8; 13]);
            h
        };
        let mdia = [bx(b"mdhd", &mdhd), bx(b"hdlr", &hdlr)].concat();
        let moov = bx(b"moov", &bx(b"trak", &bx(b"mdia", &mdia)));
        let mut out = bx(b"ftyp", b"isomiso2");
        out.extend(moov);
        for _ in 0..n {
            let tfhd = full(0x0002_0000, &1u32.to_be_bytes());
            let moof = |data_offset: u32| {
                let mut trun_rest = 30u32.to_be_bytes().to_vec();
                trun_rest.extend_from_slice(&data_offset.to_be_bytes());
                for _ in 0..30 {
                    trun_rest.extend_from_slice(&3000u32.to_be_bytes());
                    trun_rest.extend_from_slice(&100u32.to_be_bytes()); // size
                }
                let trun = full(0x0000_0301, &trun_rest);
                let traf = bx(b"traf", &[bx(b"tfhd", &tfhd), bx(b"trun", &trun)].concat());
                bx(b"moof", &[bx(b"mfhd", &[0u8; 8]), traf].concat())
            };
            // The samples start right after the mdat's header, as the muxer writes them.
            let size = moof(0).len() as u32;
            out.extend(moof(size + 8));
            out.extend(bx(b"mdat", &[0x55u8; 3000]));
        }
        out
    }

    /// A file with a video track (id 1, 90 kHz) and an audio track (id 2, 48 kHz, listed
    /// first), `n` fragments of 1 s each holding both.
    fn synthetic_with_audio(n: usize) -> Vec<u8> {
        let trak = |id: u32, handler: &[u8; 4], timescale: u32| {
            let mut tkhd = vec![0u8; 12];
            tkhd.extend_from_slice(&id.to_be_bytes());
            tkhd.extend_from_slice(&[0u8; 16]);
            let mut mdhd = vec![0u8; 12];
            mdhd.extend_from_slice(&timescale.to_be_bytes());
            mdhd.extend_from_slice(&[0u8; 8]);
            let mut hdlr = vec![0u8; 8];
            hdlr.extend_from_slice(handler);
            hdlr.extend_from_slice(&[0u8; 13]);
            let mdia = [bx(b"mdhd", &mdhd), bx(b"hdlr", &hdlr)].concat();
            bx(b"trak", &[bx(b"tkhd", &tkhd), bx(b"mdia", &mdia)].concat())
        };
        let moov = bx(
            b"moov",
            &[trak(2, b"soun", 48_000), trak(1, b"vide", 90_000)].concat(),
        );
        let mut out = bx(b"ftyp", b"isomiso2");
        out.extend(moov);
        let traf = |id: u32, count: u32, duration: u32| {
            let mut rest = count.to_be_bytes().to_vec();
            for _ in 0..count {
                rest.extend_from_slice(&duration.to_be_bytes());
                rest.extend_from_slice(&10u32.to_be_bytes());
            }
            let tfhd = full(0x0002_0000, &id.to_be_bytes());
            bx(
                b"traf",
                &[bx(b"tfhd", &tfhd), bx(b"trun", &full(0x0000_0300, &rest))].concat(),
            )
        };
        for _ in 0..n {
            let trafs = [traf(1, 30, 3000), traf(2, 47, 1024)].concat();
            out.extend(bx(b"moof", &[bx(b"mfhd", &[0u8; 8]), trafs].concat()));
            out.extend(bx(b"mdat", &[0x55u8; 770]));
        }
        out
    }

    #[test]
    fn only_the_video_track_times_a_file_with_audio() {
        let f = synthetic_with_audio(3);
        let r = scan(&mut Cursor::new(&f)).unwrap();
        assert_eq!((r.fragments, r.timescale), (3, 90_000));
        assert_eq!(r.duration_ms(), 3000);
        // A torn last fragment is not salvaged: cutting the video run would leave the audio
        // run pointing past the end. The complete fragments stay.
        let torn = &f[..f.len() - 100];
        let r = scan(&mut Cursor::new(torn)).unwrap();
        assert_eq!((r.fragments, r.duration_ms()), (2, 2000));
        assert!(r.salvage.is_none());
    }

    #[test]
    fn complete_file() {
        let f = synthetic(3);
        let r = scan(&mut Cursor::new(&f)).unwrap();
        assert!(r.has_moov);
        assert_eq!(r.fragments, 3);
        assert_eq!(r.timescale, 90_000);
        assert_eq!(r.duration_ms(), 3000);
        assert_eq!(r.playable_len, f.len() as u64);
        assert!(!r.is_truncated());
    }

    #[test]
    fn every_cut_point_keeps_the_complete_fragments() {
        let f = synthetic(3);
        let frag_len = (f.len() - synthetic(0).len()) / 3;
        let base = synthetic(0).len();
        for cut in base..f.len() {
            let r = scan(&mut Cursor::new(&f[..cut])).unwrap();
            let complete = (cut - base) / frag_len;
            assert_eq!(r.fragments as usize, complete, "cut at {cut}");
            assert_eq!(
                r.playable_len as usize,
                base + complete * frag_len,
                "cut at {cut}"
            );
            assert_eq!(r.duration_ms(), complete as u64 * 1000);
        }
    }

    fn apply(file: &[u8], s: &Salvage) -> Vec<u8> {
        let mut f = file.to_vec();
        for (at, bytes) in &s.patches {
            f[*at as usize..*at as usize + bytes.len()].copy_from_slice(bytes);
        }
        f.truncate(s.len as usize);
        f
    }

    #[test]
    fn a_torn_last_fragment_keeps_its_whole_samples() {
        let f = synthetic(3);
        let mdat_at = f.len() - 3008;
        // Every cut after the mdat header: the samples wholly present stay, 100 bytes each.
        for cut in mdat_at + 8..f.len() {
            let r = scan(&mut Cursor::new(&f[..cut])).unwrap();
            let whole = (cut - mdat_at - 8) / 100;
            assert_eq!(r.fragments, 2, "cut at {cut}");
            let Some(s) = &r.salvage else {
                assert!(whole == 0 || whole == 30, "cut at {cut}: nothing salvaged");
                continue;
            };
            assert_eq!(s.samples as usize, whole, "cut at {cut}");
            assert_eq!(r.salvaged_duration_ms(), 2000 + whole as u64 * 1000 / 30);
            // Repaired, the file is whole: three fragments, no tail, same duration.
            let repaired = apply(&f[..cut], s);
            let again = scan(&mut Cursor::new(&repaired)).unwrap();
            assert_eq!(again.fragments, 3, "cut at {cut}");
            assert!(
                !again.is_truncated() && again.salvage.is_none(),
                "cut at {cut}"
            );
            assert_eq!(
                again.duration_ms(),
                r.salvaged_duration_ms(),
                "cut at {cut}"
            );
            assert_eq!(again.playable_len, s.len);
        }
    }

    #[test]
    fn found_by_fuzzing_a_fragment_torn_exactly_after_a_sample() {
        // Every sample the run lists up to the cut is whole, but the mdat claims more: the salvage
        // keeps the file's length and only corrects the boxes.
        use base64::Engine;
        let data = base64::engine::general_purpose::STANDARD
            .decode("AAAACmZ0eXBmegAAABptb28AAAAAAHRyYWYAAAAAdHJ1bgAKAAAArW1vb2YAAAAAdHJhZgAAAAB0cnVuAAr/AAj//////wAHAAAAAAAAAAAAAPQHAAAAAAAAAAAabW9vZgAAAAB0QAAAAAACAABydXJhZgAAAAB0cnVuAApmdHlwZnoAAAAabW9vZgAAAAB0AF4ACmZ0eXBmegAAABptb29mAAAAAHRyYWYAAAAAdHJ1AAAAAAAAAB96AAAAGm1vOmYAAAAAAAAAAHRyYWYAAABbdHIabWRhdG90")
            .expect("base64");
        let r = scan(&mut Cursor::new(&data)).unwrap();
        let s = r.salvage.clone().expect("a salvage");
        assert_eq!(s.len, data.len() as u64);
        assert!(s.patches.iter().all(|(at, b)| at + b.len() as u64 <= s.len));
        let repaired = apply(&data, &s);
        let again = scan(&mut Cursor::new(&repaired)).unwrap();
        assert!(
            again.salvage.is_none() && !again.is_truncated(),
            "{again:?}"
        );
    }

    #[test]
    fn a_torn_first_fragment_with_whole_samples_is_playable() {
        let f = synthetic(1);
        let r = scan(&mut Cursor::new(&f[..f.len() - 1550])).unwrap();
        assert_eq!(r.fragments, 0);
        assert!(r.is_playable(), "{r:?}");
        assert_eq!(r.salvaged_duration_ms(), 14 * 1000 / 30);
    }

    #[test]
    fn no_salvage_when_the_samples_are_not_where_the_run_says() {
        let mut f = synthetic(2);
        let mdat_at = f.len() - 3008;
        // The last run's data_offset (after the trun's size, type, flags and count).
        let trun_at = f[..mdat_at].windows(4).rposition(|w| w == b"trun").unwrap() - 4;
        f[trun_at + 16..trun_at + 20].copy_from_slice(&0u32.to_be_bytes());
        let r = scan(&mut Cursor::new(&f[..mdat_at + 1000])).unwrap();
        assert_eq!(r.fragments, 1);
        assert!(r.salvage.is_none());
    }

    #[test]
    fn cut_inside_moov_is_not_playable() {
        let f = synthetic(1);
        let r = scan(&mut Cursor::new(&f[..30])).unwrap();
        assert!(!r.is_playable());
        assert_eq!(r.playable_len, 0);
    }

    #[test]
    fn found_by_fuzzing_a_child_box_claiming_an_enormous_size() {
        use base64::Engine;
        let data = base64::engine::general_purpose::STANDARD
            .decode("AAAACGZ0eXAAAAAAbW9vZgAAAAhmdHlwAAAAAQD+/wD/////////////////////////////////////////////////////////////////////////////////////////////////////////////////////////////////////KQAAjAAAdXAleSEIAAA=")
            .expect("base64");
        let _ = scan(&mut Cursor::new(data));
    }

    #[test]
    fn splitter_yields_init_then_whole_fragments_whatever_the_buffering() {
        let f = synthetic(3);
        let init_len = synthetic(0).len();
        for chunk in [1usize, 7, 100, 5000, f.len()] {
            let mut s = FragmentSplitter::default();
            let msgs: Vec<Vec<u8>> = f.chunks(chunk).flat_map(|c| s.push(c)).collect();
            assert_eq!(msgs.len(), 4, "chunk {chunk}");
            assert_eq!(msgs[0].len(), init_len);
            assert_eq!(msgs.concat(), f);
            for m in &msgs[1..] {
                assert_eq!(&m[4..8], b"moof");
            }
        }
    }

    #[test]
    fn not_mp4() {
        assert!(matches!(
            scan(&mut Cursor::new(b"\x1aE\xdf\xa3matroska....".to_vec())),
            Err(ScanError::NotMp4(_))
        ));
        assert!(matches!(
            scan(&mut Cursor::new(Vec::new())),
            Err(ScanError::NotMp4(_))
        ));
    }

    #[test]
    fn default_sample_duration_from_tfhd() {
        let mut mdhd = vec![0u8; 12];
        mdhd.extend_from_slice(&1000u32.to_be_bytes());
        let moov = bx(b"moov", &bx(b"trak", &bx(b"mdia", &bx(b"mdhd", &mdhd))));
        let mut tfhd_rest = 1u32.to_be_bytes().to_vec();
        tfhd_rest.extend_from_slice(&40u32.to_be_bytes());
        let tfhd = full(0x0000_0008, &tfhd_rest);
        let trun = full(0, &25u32.to_be_bytes());
        let traf = bx(b"traf", &[bx(b"tfhd", &tfhd), bx(b"trun", &trun)].concat());
        let f = [
            bx(b"ftyp", b"iso5"),
            moov,
            bx(b"moof", &traf),
            bx(b"mdat", b"x"),
        ]
        .concat();
        let r = scan(&mut Cursor::new(&f)).unwrap();
        assert_eq!(r.timescale, 1000);
        assert_eq!(r.duration_ms(), 1000);
    }

    proptest::proptest! {
        #[test]
        fn never_panics(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            let _ = scan(&mut Cursor::new(data));
        }
    }
}
