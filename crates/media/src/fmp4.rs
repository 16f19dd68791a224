//! A scanner for fragmented MP4 segments, used to repair the recordings index after a crash.
//!
//! The recorder writes `ftyp`, `moov`, then one `moof`+`mdat` pair per ~1 s fragment. After a
//! power cut or `kill -9` the file ends somewhere inside a fragment. [`scan`] walks the top-level
//! boxes, finds where the last complete fragment ends and adds up the sample durations of the
//! complete fragments, so the index gets the real duration and the file can be cut back to a
//! length every decoder accepts. Pure code over a byte reader: unit tested and fuzzed
//! (`fuzz/fuzz_targets/fmp4_scan.rs`).
//!
//! Hand-written rather than taken from `mp4`/`mp4parse`: those parse a complete file into memory
//! models and reject truncated input, whereas recovery needs exactly the tolerant, streaming walk
//! over top-level boxes and the two or three boxes inside `moof` that carry timing.

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
}

impl ScanReport {
    /// Duration in milliseconds of the complete fragments.
    pub fn duration_ms(&self) -> u64 {
        if self.timescale == 0 {
            0
        } else {
            self.duration_units.saturating_mul(1000) / u64::from(self.timescale)
        }
    }

    /// Has bytes after the last complete fragment (a torn write).
    pub fn is_truncated(&self) -> bool {
        self.file_len > self.playable_len
    }

    /// Something can be played back.
    pub fn is_playable(&self) -> bool {
        self.has_moov && self.fragments > 0
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
        let payload = &body[pos + hdr..end];
        pos = end;
        Some((kind, payload))
    })
}

fn be_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// The timescale of the first video track (`hdlr` = `vide`), or of the first track.
fn moov_timescale(moov: &[u8]) -> u32 {
    let mut first = 0;
    for (k, trak) in children(moov) {
        if &k != b"trak" {
            continue;
        }
        for (k, mdia) in children(trak) {
            if &k != b"mdia" {
                continue;
            }
            let mut ts = 0;
            let mut video = false;
            for (k, b) in children(mdia) {
                match &k {
                    b"mdhd" => {
                        // version(1) flags(3) then v0: ctime(4) mtime(4) timescale(4); v1: 8,8,4.
                        let off = if b.first() == Some(&1) { 20 } else { 12 };
                        ts = be_u32(b, off).unwrap_or(0);
                    }
                    b"hdlr" => video = b.get(8..12) == Some(b"vide"),
                    _ => {}
                }
            }
            if video && ts != 0 {
                return ts;
            }
            if first == 0 {
                first = ts;
            }
        }
    }
    first
}

/// Sum of sample durations in one `moof` (all tracks' `traf`s; the recorder writes one track).
fn moof_duration(moof: &[u8]) -> u64 {
    let mut total = 0u64;
    for (k, traf) in children(moof) {
        if &k != b"traf" {
            continue;
        }
        let mut default_duration = 0u32;
        for (k, b) in children(traf) {
            match &k {
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
                    }
                }
                b"trun" => {
                    let flags = be_u32(b, 0).unwrap_or(0) & 0x00ff_ffff;
                    let count = be_u32(b, 4).unwrap_or(0);
                    let mut at = 8;
                    if flags & 0x01 != 0 {
                        at += 4; // data_offset
                    }
                    if flags & 0x04 != 0 {
                        at += 4; // first_sample_flags
                    }
                    let per_sample = [0x100u32, 0x200, 0x400, 0x800]
                        .iter()
                        .filter(|&&f| flags & f != 0)
                        .count()
                        * 4;
                    if flags & 0x100 == 0 {
                        total = total.saturating_add(
                            u64::from(count).saturating_mul(u64::from(default_duration)),
                        );
                        continue;
                    }
                    for i in 0..count as usize {
                        let d = i
                            .checked_mul(per_sample)
                            .and_then(|o| o.checked_add(at))
                            .and_then(|o| be_u32(b, o));
                        match d {
                            Some(d) => total = total.saturating_add(u64::from(d)),
                            None => break,
                        }
                    }
                }
                _ => {}
            }
        }
    }
    total
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
    // A moof waiting for its mdat: (duration, end of moof).
    let mut pending: Option<u64> = None;
    while let Some(h) = read_header(r, pos, file_len)? {
        if first {
            if &h.kind != b"ftyp" {
                return Err(ScanError::NotMp4(fourcc(&h.kind)));
            }
            first = false;
        }
        let end = match h.start.checked_add(h.size) {
            Some(e) if e <= file_len => e,
            _ => break, // torn box
        };
        match &h.kind {
            b"moov" => {
                let Some(body) = read_body(r, &h, MAX_META_BOX)? else {
                    break;
                };
                rep.has_moov = true;
                rep.timescale = moov_timescale(&body);
                rep.playable_len = end;
            }
            b"moof" => {
                let Some(body) = read_body(r, &h, MAX_META_BOX)? else {
                    break;
                };
                pending = Some(moof_duration(&body));
            }
            b"mdat" => {
                if let Some(d) = pending.take() {
                    rep.fragments += 1;
                    rep.duration_units = rep.duration_units.saturating_add(d);
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
            let mut trun_rest = 30u32.to_be_bytes().to_vec();
            trun_rest.extend_from_slice(&0u32.to_be_bytes()); // data offset
            for _ in 0..30 {
                trun_rest.extend_from_slice(&3000u32.to_be_bytes());
                trun_rest.extend_from_slice(&100u32.to_be_bytes()); // size
            }
            let trun = full(0x0000_0301, &trun_rest);
            let traf = bx(b"traf", &[bx(b"tfhd", &tfhd), bx(b"trun", &trun)].concat());
            out.extend(bx(b"moof", &[bx(b"mfhd", &[0u8; 8]), traf].concat()));
            out.extend(bx(b"mdat", &[0x55u8; 3000]));
        }
        out
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
