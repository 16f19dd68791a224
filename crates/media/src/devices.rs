//! Local camera discovery (USB/CSI V4L2 devices and libcamera sensors) through GStreamer's
//! device monitor, which reports each device's caps in the terms the pipelines use.

use gst::prelude::*;
use pinhole_base::camera::SourceKind;
use serde::Serialize;
use std::collections::BTreeSet;

#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct LocalDevice {
    /// What the device calls itself.
    pub name: String,
    /// The source kind to configure: v4l2 or libcamera.
    pub source: SourceKind,
    /// Device path (`/dev/video0`) or libcamera id, for the camera's `url`.
    pub url: String,
    /// H264, MJPEG, YUY2, NV12, ...
    pub formats: Vec<String>,
    /// `WIDTHxHEIGHT`, largest first.
    pub resolutions: Vec<String>,
    pub fps_options: Vec<u32>,
}

fn format_of(s: &gst::StructureRef) -> Option<String> {
    match s.name().as_str() {
        "video/x-h264" => Some("H264".into()),
        "image/jpeg" => Some("MJPEG".into()),
        "video/x-raw" => s.get::<String>("format").ok().or(Some("RAW".into())),
        _ => None,
    }
}

/// Enumerates local video sources (blocking: the monitor probes devices).
pub fn list() -> Vec<LocalDevice> {
    if gst::init().is_err() {
        return Vec::new();
    }
    let monitor = gst::DeviceMonitor::new();
    monitor.add_filter(Some("Video/Source"), None);
    if monitor.start().is_err() {
        return Vec::new();
    }
    let devices = monitor.devices();
    monitor.stop();
    let mut out = Vec::new();
    for d in devices {
        let props = d.properties();
        let get = |k: &str| props.as_ref().and_then(|p| p.get::<String>(k).ok());
        let (source, url) = if let Some(p) = get("api.v4l2.path").or_else(|| get("device.path")) {
            (SourceKind::V4l2, p)
        } else if let Some(id) = get("api.libcamera.id").or_else(|| get("object.path")) {
            (SourceKind::Libcamera, id)
        } else {
            continue;
        };
        // Skip the Pi's codec and ISP nodes: they are not cameras.
        if url.starts_with("/dev/video1") && url.len() == "/dev/video10".len() {
            continue;
        }
        let mut formats = BTreeSet::new();
        let mut sizes = BTreeSet::new();
        let mut fps = BTreeSet::new();
        if let Some(caps) = d.caps() {
            for s in caps.iter() {
                if let Some(f) = format_of(s) {
                    formats.insert(f);
                }
                if let (Ok(w), Ok(h)) = (s.get::<i32>("width"), s.get::<i32>("height")) {
                    sizes.insert((w, h));
                }
                if let Ok(f) = s.get::<gst::Fraction>("framerate")
                    && f.denom() > 0
                {
                    fps.insert((f.numer() / f.denom()).max(0) as u32);
                }
            }
        }
        out.push(LocalDevice {
            name: d.display_name().to_string(),
            source,
            url,
            formats: formats.into_iter().collect(),
            resolutions: sizes
                .iter()
                .rev()
                .map(|(w, h)| format!("{w}x{h}"))
                .collect(),
            fps_options: fps.into_iter().collect(),
        });
    }
    out.sort_by(|a, b| a.url.cmp(&b.url));
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn enumerates_without_devices() {
        // This machine has no /dev/video*: the monitor runs and finds nothing it can use.
        let list = super::list();
        if !std::path::Path::new("/dev/video0").exists() {
            assert!(
                list.iter()
                    .all(|d| d.source == pinhole_base::camera::SourceKind::Libcamera
                        || d.url.starts_with("/dev/"))
            );
        }
    }
}
