//! HLS (RFC 8216, version 7: fMP4 segments behind `EXT-X-MAP`) for players that cannot do Media
//! Source Extensions or RTSP: iOS Safari, TVs, media players. From the camera's one encode,
//! re-muxed only, in H.264 or H.265 as the camera streams, with the camera's AAC audio when it
//! has a microphone.
//!
//! A camera's packager runs only while someone plays: the first request starts a muxer on the
//! hub ([`HubMuxer`], like a live viewer's, taking the audio hub too) that cuts one fragment per
//! frame, so segment boundaries can fall exactly on
//! keyframes whatever the camera's GOP; the [`Segmenter`] groups fragments into segments that
//! start at a video keyframe and last at least [`TARGET_SECS`] (timed by the video track), and
//! the playlist lists the last [`WINDOW`]. Segments live in memory (a few MB per watched camera):
//! nothing is written to the SD card. A packager nobody asked anything of for [`IDLE`] stops and
//! leaves the hub.
//!
//! Audio comes and goes (a camera's microphone switched off, a reconnect without it), and an
//! init segment cannot take a track that appears later, while players wait for samples of a
//! track it lists. So each playlist request looks at the camera: when its audio no longer
//! matches the muxer's, or the muxer stalled while the camera streams (new stream parameters
//! after a rebuild end a muxer), a new muxer starts — a new *generation* with its own
//! init segment, behind `EXT-X-DISCONTINUITY` in the playlist. Sequence numbers go on.

use super::camera::CameraHandle;
use super::fmp4::{FragmentSplitter, VideoTrack, fragment_facts, init_video_track};
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
/// A muxer that gave nothing for this long while the camera streams is started again.
const STALL: Duration = Duration::from_secs(3);
/// The least time between two muxer starts.
const RESTART_GAP: Duration = Duration::from_secs(2);

#[derive(Debug, Clone)]
pub struct Segment {
    pub sequence: u64,
    pub duration_secs: f64,
    pub data: Bytes,
    /// The muxer generation it came from (which init segment it follows).
    pub generation: u32,
}

/// Groups live fragments into segments that each start at a keyframe of the video track. Pure:
/// fed bytes and the facts of each fragment, it returns the segments' durations and bytes as
/// they complete.
#[derive(Debug)]
pub struct Segmenter {
    track: VideoTrack,
    target_units: u64,
    current: Vec<u8>,
    current_units: u64,
}

impl Segmenter {
    pub fn new(track: VideoTrack) -> Self {
        let timescale = u64::from(track.timescale.max(1));
        Segmenter {
            track,
            target_units: (TARGET_SECS * timescale as f64) as u64,
            current: Vec::new(),
            current_units: 0,
        }
    }

    /// Adds one fragment (`moof` + `mdat`); returns the segment it closed (duration in seconds,
    /// bytes), if any. Fragments before the first keyframe are dropped: a segment must decode on
    /// its own. Fragments of other tracks (audio) join the segment being made.
    pub fn push(&mut self, fragment: &[u8]) -> Option<(f64, Bytes)> {
        let facts = fragment_facts(fragment, self.track.id)?;
        let mut closed = None;
        if facts.starts_with_sync && self.current_units >= self.target_units {
            closed = Some((
                self.current_units as f64 / f64::from(self.track.timescale.max(1)),
                Bytes::from(std::mem::take(&mut self.current)),
            ));
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

/// The media playlist of `segments` (sequence, duration, generation; oldest first), after
/// `discontinuities` that already left the window.
pub fn playlist(segments: &[(u64, f64, u32)], discontinuities: u64) -> String {
    let target = segments
        .iter()
        .map(|s| s.1.ceil() as u64)
        .max()
        .unwrap_or(TARGET_SECS as u64)
        .max(1);
    let first = segments.first().map_or(0, |s| s.0);
    let mut p = format!(
        "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:{target}\n#EXT-X-MEDIA-SEQUENCE:{first}\n\
         #EXT-X-DISCONTINUITY-SEQUENCE:{discontinuities}\n#EXT-X-INDEPENDENT-SEGMENTS\n"
    );
    let mut generation = None;
    for &(sequence, duration, g) in segments {
        if generation != Some(g) {
            if generation.is_some() {
                p.push_str("#EXT-X-DISCONTINUITY\n");
            }
            p.push_str(&format!("#EXT-X-MAP:URI=\"init-{g}.mp4\"\n"));
            generation = Some(g);
        }
        p.push_str(&format!("#EXTINF:{duration:.3},\n{sequence}.m4s\n"));
    }
    p
}

#[derive(Debug)]
struct Window {
    generation: u32,
    /// Init segments by generation, those the window's segments follow and the newest.
    inits: VecDeque<(u32, Bytes)>,
    segments: VecDeque<Segment>,
    next_sequence: u64,
    /// Discontinuities that left the window (`EXT-X-DISCONTINUITY-SEQUENCE`).
    discontinuities: u64,
    failed: Option<String>,
    /// When the muxer last gave a fragment (or started).
    last_output: Instant,
}

impl Window {
    fn new() -> Self {
        Window {
            generation: 0,
            inits: VecDeque::new(),
            segments: VecDeque::new(),
            next_sequence: 0,
            discontinuities: 0,
            failed: None,
            last_output: Instant::now(),
        }
    }

    fn add(&mut self, generation: u32, duration_secs: f64, data: Bytes) {
        self.segments.push_back(Segment {
            sequence: self.next_sequence,
            duration_secs,
            data,
            generation,
        });
        self.next_sequence += 1;
        while self.segments.len() > WINDOW {
            let gone = self.segments.pop_front().map(|s| s.generation);
            if gone.is_some() && self.segments.front().map(|s| s.generation) != gone {
                self.discontinuities += 1;
            }
        }
        let oldest = self.segments.front().map_or(generation, |s| s.generation);
        self.inits.retain(|(g, _)| *g >= oldest);
    }
}

/// One camera's running packager; dropping it stops the pipeline and leaves the hub.
pub struct Packager {
    camera: Arc<CameraHandle>,
    muxer: Mutex<Option<HubMuxer>>,
    window: Arc<Mutex<Window>>,
    last_request: Mutex<Instant>,
    last_start: Mutex<Instant>,
}

impl std::fmt::Debug for Packager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Packager")
            .field("camera", &self.camera.id)
            .finish_non_exhaustive()
    }
}

/// Starts generation `generation`'s muxer, its output going into `window`.
fn start_muxer(
    camera: &Arc<CameraHandle>,
    window: &Arc<Mutex<Window>>,
    generation: u32,
    audio: Option<gst::Caps>,
) -> Result<HubMuxer, String> {
    let feed = window.clone();
    let mut splitter = FragmentSplitter::default();
    let mut segmenter: Option<Segmenter> = None;
    camera.keyframe_on_its_way();
    // A fragment per frame: segments can then be cut exactly at keyframes.
    HubMuxer::start(camera.clone(), "hls", 1, audio, move |bytes| {
        for message in splitter.push(bytes) {
            let mut w = feed.lock().unwrap_or_else(|p| p.into_inner());
            if w.generation != generation {
                // A muxer being replaced: what it still gives goes nowhere.
                return Ok(());
            }
            w.last_output = Instant::now();
            match &mut segmenter {
                None => {
                    // The init segment comes first and names the video track.
                    let Some(track) = init_video_track(&message) else {
                        w.failed = Some("the muxer's init segment has no video track".into());
                        return Err(gst::FlowError::Error);
                    };
                    segmenter = Some(Segmenter::new(track));
                    w.inits.push_back((generation, Bytes::from(message)));
                }
                Some(seg) => {
                    if let Some((duration, data)) = seg.push(&message) {
                        w.add(generation, duration, data);
                    }
                }
            }
        }
        Ok(())
    })
}

impl Packager {
    pub fn start(camera: Arc<CameraHandle>) -> Result<Self, String> {
        let window = Arc::new(Mutex::new(Window::new()));
        let audio = camera.flowing_audio_caps();
        let muxer = start_muxer(&camera, &window, 0, audio)?;
        Ok(Packager {
            camera,
            muxer: Mutex::new(Some(muxer)),
            window,
            last_request: Mutex::new(Instant::now()),
            last_start: Mutex::new(Instant::now()),
        })
    }

    fn window(&self) -> std::sync::MutexGuard<'_, Window> {
        self.window.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts a new muxer when the camera's audio no longer matches the running one's, or the
    /// running one stalled or failed while the camera streams. Blocks while the old pipeline
    /// stops: call it off the async runtime.
    pub fn maintain(&self) {
        let mut muxer = self.muxer.lock().unwrap_or_else(|p| p.into_inner());
        let mut last_start = self.last_start.lock().unwrap_or_else(|p| p.into_inner());
        if last_start.elapsed() < RESTART_GAP {
            return;
        }
        let audio = self.camera.flowing_audio_caps();
        let streaming = self.camera.video_flowing(Duration::from_secs(1));
        let (stalled, failed) = {
            let w = self.window();
            (w.last_output.elapsed() > STALL, w.failed.is_some())
        };
        let has_audio = muxer.as_ref().map(HubMuxer::has_audio);
        if has_audio == Some(audio.is_some()) && !((stalled || failed) && streaming) {
            return;
        }
        tracing::info!(
            camera = %self.camera.id,
            audio = audio.is_some(), stalled, failed,
            "HLS: starting the muxer again"
        );
        let generation = {
            let mut w = self.window();
            w.generation += 1;
            w.failed = None;
            w.last_output = Instant::now();
            w.generation
        };
        // The old one stops first: it leaves the hub before the new one asks for a keyframe.
        drop(muxer.take());
        *last_start = Instant::now();
        match start_muxer(&self.camera, &self.window, generation, audio) {
            Ok(m) => *muxer = Some(m),
            Err(e) => self.window().failed = Some(e),
        }
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
        let w = self.window();
        if w.segments.is_empty() {
            return match &w.failed {
                Some(e) => Err(e.clone()),
                None => Ok(None),
            };
        }
        let list: Vec<_> = w
            .segments
            .iter()
            .map(|s| (s.sequence, s.duration_secs, s.generation))
            .collect();
        Ok(Some(playlist(&list, w.discontinuities)))
    }

    /// The init segment of `generation` (the newest when `None`), while it is kept.
    pub fn init(&self, generation: Option<u32>) -> Option<Bytes> {
        self.touch();
        let w = self.window();
        match generation {
            None => w.inits.back(),
            Some(g) => w.inits.iter().find(|(i, _)| *i == g),
        }
        .map(|(_, b)| b.clone())
    }

    /// Segment `sequence`, while it is in the window.
    pub fn segment(&self, sequence: u64) -> Option<Bytes> {
        self.touch();
        self.window()
            .segments
            .iter()
            .find(|s| s.sequence == sequence)
            .map(|s| s.data.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fragment of one sample of `duration` units of track `track`, a keyframe or not (tfhd
    /// default flags).
    fn fragment_of(track: u32, duration: u32, key: bool) -> Vec<u8> {
        let bx = |kind: &[u8; 4], body: &[u8]| {
            let mut v = ((body.len() + 8) as u32).to_be_bytes().to_vec();
            v.extend_from_slice(kind);
            v.extend_from_slice(body);
            v
        };
        let mut tfhd = vec![0, 0, 0, 0x38];
        tfhd.extend_from_slice(&track.to_be_bytes());
        tfhd.extend_from_slice(&duration.to_be_bytes());
        tfhd.extend_from_slice(&4u32.to_be_bytes());
        tfhd.extend_from_slice(&(if key { 0x40u32 } else { 0x0001_00c0 }).to_be_bytes());
        let trun = [0, 0, 0, 0, 0, 0, 0, 1];
        let traf = [bx(b"tfhd", &tfhd), bx(b"trun", &trun)].concat();
        [bx(b"moof", &bx(b"traf", &traf)), bx(b"mdat", &[0; 4])].concat()
    }

    fn fragment(duration: u32, key: bool) -> Vec<u8> {
        fragment_of(1, duration, key)
    }

    const VIDEO: VideoTrack = VideoTrack {
        timescale: 90_000,
        id: Some(1),
    };

    #[test]
    fn segments_start_at_keyframes_and_last_the_target() {
        // 90 kHz, 30 fps (3000 units a frame), a keyframe every 45 frames (1.5 s).
        let mut s = Segmenter::new(VIDEO);
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
        assert!((done[0].0 - 3.0).abs() < 1e-9);
        assert_eq!(done[0].1.len(), 90 * fragment(3000, true).len());
        assert!(s.push(b"not a fragment").is_none());
    }

    #[test]
    fn audio_fragments_ride_along_and_never_time_or_cut() {
        // Video is track 1 at 90 kHz; audio, track 2, comes in fragments of its own whose
        // first sample is always "sync" and whose units are 16 kHz ticks.
        let mut s = Segmenter::new(VIDEO);
        let audio = fragment_of(2, 1024, true);
        assert!(
            s.push(&audio).is_none(),
            "before the first keyframe: dropped"
        );
        let mut done = Vec::new();
        for i in 0..200 {
            done.extend(s.push(&fragment(3000, i % 45 == 0)));
            // Between any two video frames, an audio fragment that would cut (and time) the
            // segment if it counted.
            done.extend(s.push(&audio));
        }
        assert_eq!(done.len(), 2, "{done:?}");
        assert!(
            (done[0].0 - 3.0).abs() < 1e-9,
            "timed by video: {}",
            done[0].0
        );
        assert_eq!(
            done[0].1.len(),
            90 * (fragment(3000, true).len() + audio.len())
        );
    }

    #[test]
    fn the_playlist_names_each_generations_init_segment_after_a_discontinuity() {
        let p = playlist(&[(7, 2.0, 0), (8, 2.5, 0)], 0);
        assert!(p.starts_with("#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:3\n"));
        assert!(p.contains("#EXT-X-MEDIA-SEQUENCE:7\n#EXT-X-DISCONTINUITY-SEQUENCE:0\n"));
        assert!(p.ends_with(
            "#EXT-X-MAP:URI=\"init-0.mp4\"\n#EXTINF:2.000,\n7.m4s\n#EXTINF:2.500,\n8.m4s\n"
        ));
        let p = playlist(&[(8, 2.5, 0), (9, 2.0, 1)], 3);
        assert!(p.contains("#EXT-X-DISCONTINUITY-SEQUENCE:3\n"));
        assert!(p.ends_with(
            "#EXT-X-MAP:URI=\"init-0.mp4\"\n#EXTINF:2.500,\n8.m4s\n\
             #EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"init-1.mp4\"\n#EXTINF:2.000,\n9.m4s\n"
        ));
    }

    #[test]
    fn the_window_counts_discontinuities_that_leave_it_and_drops_their_inits() {
        let mut w = Window::new();
        w.inits.push_back((0, Bytes::from_static(b"i0")));
        for _ in 0..WINDOW {
            w.add(0, 2.0, Bytes::new());
        }
        w.inits.push_back((1, Bytes::from_static(b"i1")));
        w.add(1, 2.0, Bytes::new());
        assert_eq!((w.discontinuities, w.inits.len()), (0, 2));
        for _ in 1..WINDOW {
            w.add(1, 2.0, Bytes::new());
        }
        // The last generation-0 segment is gone: so is the discontinuity before generation 1,
        // and generation 0's init segment.
        assert_eq!(w.segments.front().map(|s| s.generation), Some(1));
        assert_eq!(w.discontinuities, 1);
        assert_eq!(w.inits.iter().map(|(g, _)| *g).collect::<Vec<_>>(), [1]);
        assert_eq!(
            w.segments.back().map(|s| s.sequence),
            Some(2 * WINDOW as u64 - 1)
        );
    }
}
