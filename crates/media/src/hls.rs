//! HLS (RFC 8216, version 7: fMP4 segments behind `EXT-X-MAP`) for players that cannot do Media
//! Source Extensions or RTSP: iOS Safari, TVs, media players. From the camera's one encode,
//! re-muxed only, in H.264 or H.265 as the camera streams.
//!
//! A camera's packager runs only while someone plays: the first request starts a muxing pipeline
//! on the hub (`appsrc ! parse ! mp4mux ! appsink`, like a live viewer's) that cuts one fragment
//! per frame, so segment boundaries can fall exactly on keyframes whatever the camera's GOP; the
//! [`Segmenter`] groups fragments into segments that start at a keyframe and last at least
//! [`TARGET_SECS`], and the playlist lists the last [`WINDOW`]. Segments live in memory (a few MB
//! per watched camera): nothing is written to the SD card. A packager nobody asked anything of
//! for [`IDLE`] stops and leaves the hub.

use super::camera::CameraHandle;
use super::fmp4::{FragmentSplitter, fragment_facts, init_timescale};
use super::live::HubMuxer;
use bytes::Bytes;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Shortest segment: a new one starts at the first keyframe after this.
pub const TARGET_SECS: f64 = 2.0;
/// Segments in the playlist (and kept in memory).
pub const WINDOW: usize = 6;
/// A packager without requests for this long stops.
pub const IDLE: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct Segment {
    pub sequence: u64,
    pub duration_secs: f64,
    pub data: Bytes,
}

/// Groups live fragments into segments that each start at a keyframe. Pure: fed bytes and the
/// facts of each fragment, it returns the segments as they complete.
#[derive(Debug)]
pub struct Segmenter {
    timescale: u64,
    target_units: u64,
    current: Vec<u8>,
    current_units: u64,
    next_sequence: u64,
}

impl Segmenter {
    pub fn new(timescale: u32) -> Self {
        let timescale = u64::from(timescale.max(1));
        Segmenter {
            timescale,
            target_units: (TARGET_SECS * timescale as f64) as u64,
            current: Vec::new(),
            current_units: 0,
            next_sequence: 0,
        }
    }

    /// Adds one fragment (`moof` + `mdat`); returns the segment it closed, if any. Fragments
    /// before the first keyframe are dropped: a segment must decode on its own.
    pub fn push(&mut self, fragment: &[u8]) -> Option<Segment> {
        let facts = fragment_facts(fragment)?;
        let mut closed = None;
        if facts.starts_with_sync && self.current_units >= self.target_units {
            closed = Some(Segment {
                sequence: self.next_sequence,
                duration_secs: self.current_units as f64 / self.timescale as f64,
                data: Bytes::from(std::mem::take(&mut self.current)),
            });
            self.next_sequence += 1;
            self.current_units = 0;
        }
        if self.current.is_empty() && !facts.starts_with_sync {
            return closed;
        }
        self.current.extend_from_slice(fragment);
        self.current_units += facts.duration;
        closed
    }
}

/// The media playlist of `segments` (oldest first).
pub fn playlist(segments: &[(u64, f64)]) -> String {
    let target = segments
        .iter()
        .map(|s| s.1.ceil() as u64)
        .max()
        .unwrap_or(TARGET_SECS as u64)
        .max(1);
    let first = segments.first().map_or(0, |s| s.0);
    let mut p = format!(
        "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:{target}\n#EXT-X-MEDIA-SEQUENCE:{first}\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-MAP:URI=\"init.mp4\"\n"
    );
    for (sequence, duration) in segments {
        p.push_str(&format!("#EXTINF:{duration:.3},\n{sequence}.m4s\n"));
    }
    p
}

#[derive(Debug, Default)]
struct Window {
    init: Option<Bytes>,
    segments: VecDeque<Segment>,
    failed: Option<String>,
}

/// One camera's running packager; dropping it stops the pipeline and leaves the hub.
pub struct Packager {
    _muxer: HubMuxer,
    camera: String,
    window: Arc<Mutex<Window>>,
    last_request: Mutex<Instant>,
}

impl std::fmt::Debug for Packager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Packager")
            .field("camera", &self.camera)
            .finish_non_exhaustive()
    }
}

impl Packager {
    pub fn start(camera: Arc<CameraHandle>) -> Result<Self, String> {
        let window = Arc::new(Mutex::new(Window::default()));
        let feed = window.clone();
        let mut splitter = FragmentSplitter::default();
        let mut segmenter: Option<Segmenter> = None;
        let id = camera.id.clone();
        camera.keyframe_on_its_way();
        // A fragment per frame: segments can then be cut exactly at keyframes.
        let muxer = HubMuxer::start(camera, "hls", 1, move |bytes| {
            for message in splitter.push(bytes) {
                let mut w = feed.lock().unwrap_or_else(|p| p.into_inner());
                match &mut segmenter {
                    None => {
                        // The init segment comes first and names the timescale.
                        let Some(ts) = init_timescale(&message) else {
                            w.failed = Some("the muxer's init segment has no video track".into());
                            return Err(gst::FlowError::Error);
                        };
                        segmenter = Some(Segmenter::new(ts));
                        w.init = Some(Bytes::from(message));
                    }
                    Some(seg) => {
                        if let Some(done) = seg.push(&message) {
                            w.segments.push_back(done);
                            while w.segments.len() > WINDOW {
                                w.segments.pop_front();
                            }
                        }
                    }
                }
            }
            Ok(())
        })?;
        Ok(Packager {
            _muxer: muxer,
            camera: id,
            window,
            last_request: Mutex::new(Instant::now()),
        })
    }

    fn touch(&self) {
        *self.last_request.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
    }

    pub fn idle_for(&self) -> Duration {
        self.last_request
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .elapsed()
    }

    /// The playlist once it has a segment; `None` until then.
    pub fn playlist(&self) -> Result<Option<String>, String> {
        self.touch();
        let w = self.window.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = &w.failed {
            return Err(e.clone());
        }
        if w.init.is_none() || w.segments.is_empty() {
            return Ok(None);
        }
        let list: Vec<_> = w
            .segments
            .iter()
            .map(|s| (s.sequence, s.duration_secs))
            .collect();
        Ok(Some(playlist(&list)))
    }

    pub fn init(&self) -> Option<Bytes> {
        self.touch();
        self.window
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .init
            .clone()
    }

    /// Segment `sequence`, while it is in the window.
    pub fn segment(&self, sequence: u64) -> Option<Bytes> {
        self.touch();
        self.window
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .segments
            .iter()
            .find(|s| s.sequence == sequence)
            .map(|s| s.data.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fragment of one sample of `duration` units, a keyframe or not (tfhd default flags).
    fn fragment(duration: u32, key: bool) -> Vec<u8> {
        let bx = |kind: &[u8; 4], body: &[u8]| {
            let mut v = ((body.len() + 8) as u32).to_be_bytes().to_vec();
            v.extend_from_slice(kind);
            v.extend_from_slice(body);
            v
        };
        let mut tfhd = vec![0, 0, 0, 0x38, 0, 0, 0, 1];
        tfhd.extend_from_slice(&duration.to_be_bytes());
        tfhd.extend_from_slice(&4u32.to_be_bytes());
        tfhd.extend_from_slice(&(if key { 0x40u32 } else { 0x0001_00c0 }).to_be_bytes());
        let trun = [0, 0, 0, 0, 0, 0, 0, 1];
        let traf = [bx(b"tfhd", &tfhd), bx(b"trun", &trun)].concat();
        [bx(b"moof", &bx(b"traf", &traf)), bx(b"mdat", &[0; 4])].concat()
    }

    #[test]
    fn segments_start_at_keyframes_and_last_the_target() {
        // 90 kHz, 30 fps (3000 units a frame), a keyframe every 45 frames (1.5 s).
        let mut s = Segmenter::new(90_000);
        let mut done = Vec::new();
        // Two delta frames before the first keyframe: dropped.
        assert!(s.push(&fragment(3000, false)).is_none());
        assert!(s.push(&fragment(3000, false)).is_none());
        for i in 0..200 {
            if let Some(seg) = s.push(&fragment(3000, i % 45 == 0)) {
                done.push(seg);
            }
        }
        // 1.5 s GOPs: a segment takes two of them (3.0 s ≥ 2 s).
        assert_eq!(done.len(), 2, "{done:?}");
        assert_eq!(done[0].sequence, 0);
        assert_eq!(done[1].sequence, 1);
        assert!((done[0].duration_secs - 3.0).abs() < 1e-9);
        assert_eq!(done[0].data.len(), 90 * fragment(3000, true).len());
        assert!(s.push(b"not a fragment").is_none());
    }

    #[test]
    fn the_playlist_names_the_init_segment_and_the_window() {
        let p = playlist(&[(7, 2.0), (8, 2.5)]);
        assert!(p.starts_with("#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:3\n"));
        assert!(p.contains("#EXT-X-MEDIA-SEQUENCE:7\n"));
        assert!(p.contains("#EXT-X-MAP:URI=\"init.mp4\"\n"));
        assert!(p.ends_with("#EXTINF:2.000,\n7.m4s\n#EXTINF:2.500,\n8.m4s\n"));
    }
}
