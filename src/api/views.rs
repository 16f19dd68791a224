//! The wire shapes of stored things, one per kind, shared by REST and JSON-RPC so a recording or
//! a snapshot looks the same whichever protocol returns it. Field names follow the camera
//! service (`docs/camera-service.md`); Pinhole's additions come after its fields.

use crate::clock::rfc3339_ms;
use crate::store::recordings::Recording;
use crate::store::snapshots::Snapshot;
use serde::Serialize;
use utoipa::ToSchema;

/// A recording segment.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct RecordingView {
    /// The name without its extension; `download_url` has the file.
    pub filename: String,
    /// The camera.
    pub device: String,
    pub file_size: i64,
    /// RFC 3339: when the segment started, and when it was last written (its end once closed).
    pub created_time: String,
    pub modified_time: String,
    /// Whole seconds; `null` while the segment is being written.
    pub duration: Option<i64>,
    pub format: String,
    pub download_url: String,
    /// open (being written), complete, or recovered (repaired after a crash).
    pub state: String,
    /// continuous, manual or event.
    pub trigger: String,
    pub start_time: String,
    pub end_time: Option<String>,
    pub start_ms: i64,
    pub end_ms: Option<i64>,
    /// Milliseconds, for players that seek precisely.
    pub duration_ms: Option<i64>,
}

impl From<&Recording> for RecordingView {
    fn from(r: &Recording) -> Self {
        let duration_ms = r.duration_ms();
        RecordingView {
            filename: r.filename.clone(),
            device: r.camera_id.clone(),
            file_size: r.size_bytes,
            created_time: rfc3339_ms(r.start_ms),
            modified_time: rfc3339_ms(r.end_ms.unwrap_or(r.start_ms)),
            duration: duration_ms.map(|d| d / 1000),
            format: r.format.clone(),
            download_url: format!("/files/recordings/{}", r.file_name()),
            state: r.state.clone(),
            trigger: r.trigger.clone(),
            start_time: rfc3339_ms(r.start_ms),
            end_time: r.end_ms.map(rfc3339_ms),
            start_ms: r.start_ms,
            end_ms: r.end_ms,
            duration_ms,
        }
    }
}

/// A snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SnapshotView {
    /// With its `.jpg` extension.
    pub filename: String,
    pub device: String,
    pub file_size: i64,
    pub created_time: String,
    pub modified_time: String,
    pub download_url: String,
    /// When the picture was taken (RFC 3339; the same as `created_time`).
    pub timestamp: String,
    pub width: Option<i64>,
    pub height: Option<i64>,
    /// The detection event it shows, if any.
    pub event_id: Option<i64>,
}

impl From<&Snapshot> for SnapshotView {
    fn from(s: &Snapshot) -> Self {
        let at = rfc3339_ms(s.taken_ms);
        SnapshotView {
            filename: s.filename.clone(),
            device: s.camera_id.clone(),
            file_size: s.size_bytes,
            created_time: at.clone(),
            modified_time: at.clone(),
            download_url: format!("/files/snapshots/{}", s.filename),
            timestamp: at,
            width: s.width,
            height: s.height,
            event_id: s.event_id,
        }
    }
}

/// A page of recordings, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecordingPage {
    pub recordings: Vec<RecordingView>,
    /// How many match the filter, all pages together.
    pub total: u64,
    pub limit: u32,
    pub offset: u32,
}

/// A page of snapshots, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct SnapshotPage {
    pub snapshots: Vec<SnapshotView>,
    pub total: u64,
    pub limit: u32,
    pub offset: u32,
}

/// A camera's stream: its capture state, encoder, measured figures and where to watch it.
#[derive(Debug, Serialize, ToSchema)]
pub struct StreamView {
    pub device: String,
    pub name: String,
    /// starting, streaming, reconnecting, failed or disabled.
    pub state: &'static str,
    /// The camera service's status: CONNECTED, DISCONNECTED, ...
    pub status: &'static str,
    pub error: Option<String>,
    /// RFC 3339: since when the camera is in this state.
    pub since: String,
    pub restarts: u32,
    pub encoder: Option<String>,
    /// What the stream carries (`h264`, `h265`), once known.
    pub codec: Option<crate::media::pipeline::VideoCodec>,
    /// The audio the camera sends (`aac`, `pcmu`, `pcma`), kept as AAC; none when silent.
    pub audio: Option<crate::media::pipeline::AudioCodec>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub fps: f64,
    pub bitrate_kbps: f64,
    pub rtsp_url: String,
    /// RTSP clients, the recorder and live viewers attached to the camera's hub.
    pub consumers: usize,
    pub preview_viewers: usize,
    pub mjpeg_url: String,
}

impl StreamView {
    /// The stream of camera `id`; `host` is the host the client reached the API by.
    pub fn of(e: &crate::media::MediaEngine, id: &str, host: Option<&str>) -> Option<Self> {
        let h = e.camera(id)?;
        let st = h.status();
        Some(StreamView {
            device: id.to_string(),
            name: h.definition().name,
            state: st.state.as_str(),
            status: st.state.service_status(),
            error: st.error,
            since: rfc3339_ms(st.since_ms),
            restarts: st.restarts,
            encoder: st.encoder,
            codec: st.codec,
            audio: st.audio,
            width: st.width,
            height: st.height,
            fps: st.fps,
            bitrate_kbps: st.bitrate_kbps,
            rtsp_url: e.stream_url(id, host),
            consumers: h.hub.consumers(),
            preview_viewers: h.preview.viewers(),
            mjpeg_url: format!("/api/cameras/{id}/mjpeg"),
        })
    }
}

/// Every camera's stream.
#[derive(Debug, Serialize, ToSchema)]
pub struct StreamList {
    pub streams: Vec<StreamView>,
    pub total: usize,
    /// Open RTSP sessions, all cameras together.
    pub rtsp_sessions: usize,
}

/// A stopped on-demand recording and the segment it closed.
#[derive(Debug, Serialize, ToSchema)]
pub struct StoppedRecording {
    pub recording: crate::media::RecordingState,
    pub segment: Option<RecordingView>,
}

/// A detection or motion event, with its snapshot's download URL.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventView {
    #[serde(flatten)]
    pub event: crate::store::events::Event,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot_url: Option<String>,
}

impl From<crate::store::events::Event> for EventView {
    fn from(event: crate::store::events::Event) -> Self {
        EventView {
            snapshot_url: event
                .snapshot
                .as_ref()
                .map(|s| format!("/files/snapshots/{s}")),
            event,
        }
    }
}

/// The local cameras that could be added.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceList {
    pub devices: Vec<crate::media::devices::LocalDevice>,
    pub total: usize,
}

/// A page of detection and motion events, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventPage {
    pub events: Vec<crate::store::events::Event>,
    pub total: u64,
    pub limit: u32,
    pub offset: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recording_has_one_shape_with_whole_second_durations() {
        let r = Recording {
            id: 1,
            camera_id: "camera0".into(),
            filename: "camera0_2026-11-22_14-30-00".into(),
            start_ms: 1_000,
            end_ms: Some(8_950),
            size_bytes: 42,
            format: "fmp4".into(),
            state: "recovered".into(),
            trigger: "continuous".into(),
        };
        let v = serde_json::to_value(RecordingView::from(&r)).expect("json");
        assert_eq!(v["duration"], 7);
        assert_eq!(v["duration_ms"], 7950);
        assert_eq!(v["device"], "camera0");
        assert_eq!(
            v["download_url"],
            "/files/recordings/camera0_2026-11-22_14-30-00.mp4"
        );
    }
}
