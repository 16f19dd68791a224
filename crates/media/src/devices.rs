//! Local camera discovery (USB/CSI V4L2 devices and libcamera sensors) through GStreamer's
//! device monitor, which reports each device's caps in the terms the pipelines use, and
//! follows udev's hot-plug events, so a USB camera plugged in shows up without a rescan.

use gst::prelude::*;
use pinhole_base::camera::SourceKind;
use serde::Serialize;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

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

/// What a GStreamer device is as a camera Pinhole can add, or `None` for what is not one
/// (the Pi's codec and ISP nodes, providers that give no path).
fn local_device(d: &gst::Device) -> Option<LocalDevice> {
    let props = d.properties();
    let get = |k: &str| props.as_ref().and_then(|p| p.get::<String>(k).ok());
    let (source, url) = if let Some(p) = get("api.v4l2.path").or_else(|| get("device.path")) {
        (SourceKind::V4l2, p)
    } else if let Some(id) = get("api.libcamera.id").or_else(|| get("object.path")) {
        (SourceKind::Libcamera, id)
    } else {
        return None;
    };
    // Skip the Pi's codec and ISP nodes: they are not cameras.
    if url.starts_with("/dev/video1") && url.len() == "/dev/video10".len() {
        return None;
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
    Some(LocalDevice {
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
    })
}

fn monitor() -> Option<gst::DeviceMonitor> {
    gst::init().ok()?;
    let monitor = gst::DeviceMonitor::new();
    monitor.add_filter(Some("Video/Source"), None);
    Some(monitor)
}

fn sorted(mut devices: Vec<LocalDevice>) -> Vec<LocalDevice> {
    devices.sort_by(|a, b| a.url.cmp(&b.url));
    devices.dedup_by(|a, b| a.url == b.url);
    devices
}

/// Enumerates local video sources once (blocking: the monitor probes devices). The appliance
/// asks its [`DeviceWatch`] instead, which knows without probing.
pub fn list() -> Vec<LocalDevice> {
    let Some(monitor) = monitor() else {
        return Vec::new();
    };
    if monitor.start().is_err() {
        return Vec::new();
    }
    let devices = monitor.devices();
    monitor.stop();
    sorted(devices.iter().filter_map(local_device).collect())
}

/// A camera plugged in or pulled out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceChange {
    Added(LocalDevice),
    Removed(LocalDevice),
}

/// Local cameras as they come and go: GStreamer's device monitor kept running, whose providers
/// follow udev (v4l2) and libcamera's hot-plug, posting `device-added` / `device-removed` on its
/// bus. One thread reads the bus and keeps the list; dropping the watch stops both.
pub struct DeviceWatch {
    monitor: gst::DeviceMonitor,
    devices: Arc<Mutex<Vec<LocalDevice>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl DeviceWatch {
    /// Starts watching; `on_change` is called on the watch's thread for each device that
    /// comes or goes after the start (those present at the start are in [`Self::devices`]).
    pub fn start(on_change: impl Fn(DeviceChange) + Send + 'static) -> Result<DeviceWatch, String> {
        let monitor = monitor().ok_or("GStreamer did not initialise")?;
        let bus = monitor.bus();
        monitor
            .start()
            .map_err(|e| format!("the device monitor did not start: {e}"))?;
        let present = sorted(monitor.devices().iter().filter_map(local_device).collect());
        let devices = Arc::new(Mutex::new(present));
        let stop = Arc::new(AtomicBool::new(false));
        let (list, flag) = (devices.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("device-watch".into())
            .spawn(move || {
                while !flag.load(Ordering::SeqCst) {
                    let Some(msg) = bus.timed_pop_filtered(
                        gst::ClockTime::from_mseconds(200),
                        &[
                            gst::MessageType::DeviceAdded,
                            gst::MessageType::DeviceRemoved,
                        ],
                    ) else {
                        continue;
                    };
                    let change = match msg.view() {
                        gst::MessageView::DeviceAdded(m) => {
                            local_device(&m.device()).map(DeviceChange::Added)
                        }
                        gst::MessageView::DeviceRemoved(m) => {
                            local_device(&m.device()).map(DeviceChange::Removed)
                        }
                        _ => None,
                    };
                    let Some(change) = change else { continue };
                    let news = {
                        let mut l = list.lock().unwrap_or_else(|p| p.into_inner());
                        match &change {
                            // Providers announce what is there when they start, too: a device
                            // already listed as it is is no news.
                            DeviceChange::Added(d) if l.contains(d) => false,
                            DeviceChange::Added(d) => {
                                l.retain(|x| x.url != d.url);
                                l.push(d.clone());
                                l.sort_by(|a, b| a.url.cmp(&b.url));
                                true
                            }
                            DeviceChange::Removed(d) => {
                                let before = l.len();
                                l.retain(|x| x.url != d.url);
                                l.len() != before
                            }
                        }
                    };
                    if news {
                        on_change(change);
                    }
                }
            })
            .map_err(|e| format!("the device watch thread: {e}"))?;
        Ok(DeviceWatch {
            monitor,
            devices,
            stop,
            thread: Some(thread),
        })
    }

    /// The local cameras plugged in now, by path.
    pub fn devices(&self) -> Vec<LocalDevice> {
        self.devices
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl std::fmt::Debug for DeviceWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceWatch")
            .field("devices", &self.devices())
            .finish()
    }
}

impl Drop for DeviceWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.monitor.stop();
    }
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
