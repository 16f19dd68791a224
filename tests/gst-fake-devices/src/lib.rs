//! A GStreamer device provider that stands in for udev and the kernel's V4L2 devices in tests,
//! where no camera can be plugged in: each file in `$PINHOLE_FAKE_DEVICES` is a video source
//! (its name the display name, its content the device path it reports), added when the file
//! appears and removed when it goes, through the same `device-added` / `device-removed`
//! messages GStreamer's v4l2 provider posts on a real hot-plug. Its devices' elements are
//! `videotestsrc`. Loaded by `GST_PLUGIN_PATH`; never shipped.

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

mod imp {
    use super::*;

    #[derive(Default)]
    pub struct FakeDevice;

    #[glib::object_subclass]
    impl ObjectSubclass for FakeDevice {
        const NAME: &'static str = "PinholeFakeDevice";
        type Type = super::FakeDevice;
        type ParentType = gst::Device;
    }

    impl ObjectImpl for FakeDevice {}
    impl GstObjectImpl for FakeDevice {}

    impl DeviceImpl for FakeDevice {
        fn create_element(&self, name: Option<&str>) -> Result<gst::Element, gst::LoggableError> {
            gst::ElementFactory::make("videotestsrc")
                .name_if_some(name)
                .property("is-live", true)
                .build()
                .map_err(|e| gst::loggable_error!(gst::CAT_RUST, "videotestsrc: {e}"))
        }
    }

    #[derive(Default)]
    pub struct FakeProvider {
        pub(super) watching: Mutex<Option<(Arc<AtomicBool>, std::thread::JoinHandle<()>)>>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for FakeProvider {
        const NAME: &'static str = "PinholeFakeDeviceProvider";
        type Type = super::FakeProvider;
        type ParentType = gst::DeviceProvider;
    }

    impl ObjectImpl for FakeProvider {}
    impl GstObjectImpl for FakeProvider {}

    impl DeviceProviderImpl for FakeProvider {
        fn metadata() -> Option<&'static gst::subclass::DeviceProviderMetadata> {
            static META: std::sync::OnceLock<gst::subclass::DeviceProviderMetadata> =
                std::sync::OnceLock::new();
            Some(META.get_or_init(|| {
                gst::subclass::DeviceProviderMetadata::new(
                    "Pinhole test devices",
                    "Source/Video",
                    "Video sources plugged in by files in $PINHOLE_FAKE_DEVICES",
                    "Pinhole",
                )
            }))
        }

        fn probe(&self) -> Vec<gst::Device> {
            super::scan()
                .into_iter()
                .map(|(name, path)| super::device(&name, &path))
                .collect()
        }

        fn start(&self) -> Result<(), gst::LoggableError> {
            let stop = Arc::new(AtomicBool::new(false));
            let provider = self.obj().clone();
            let flag = stop.clone();
            let mut known: BTreeMap<String, (String, gst::Device)> = BTreeMap::new();
            for (name, path) in super::scan() {
                let d = super::device(&name, &path);
                provider.device_add(&d);
                known.insert(name, (path, d));
            }
            let thread = std::thread::spawn(move || {
                while !flag.load(Ordering::SeqCst) {
                    let now = super::scan();
                    known.retain(|name, (path, d)| {
                        let keep = now.get(name) == Some(path);
                        if !keep {
                            provider.device_remove(d);
                        }
                        keep
                    });
                    for (name, path) in now {
                        if let std::collections::btree_map::Entry::Vacant(slot) = known.entry(name)
                        {
                            let d = super::device(slot.key(), &path);
                            provider.device_add(&d);
                            slot.insert((path, d));
                        }
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            });
            *self.watching.lock().unwrap_or_else(|p| p.into_inner()) = Some((stop, thread));
            Ok(())
        }

        fn stop(&self) {
            let taken = self
                .watching
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take();
            if let Some((stop, thread)) = taken {
                stop.store(true, Ordering::SeqCst);
                let _ = thread.join();
            }
        }
    }
}

glib::wrapper! {
    pub struct FakeDevice(ObjectSubclass<imp::FakeDevice>) @extends gst::Device, gst::Object;
}

glib::wrapper! {
    pub struct FakeProvider(ObjectSubclass<imp::FakeProvider>) @extends gst::DeviceProvider, gst::Object;
}

/// The devices plugged in now: file name → the device path in it.
fn scan() -> BTreeMap<String, String> {
    let Some(dir) = std::env::var_os("PINHOLE_FAKE_DEVICES").map(PathBuf::from) else {
        return BTreeMap::new();
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return BTreeMap::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            if name.starts_with('.') {
                return None;
            }
            let path = std::fs::read_to_string(e.path()).ok()?;
            Some((name, path.trim().to_string()))
        })
        .collect()
}

/// A device as GStreamer's v4l2 provider describes a USB camera: its path, and caps of raw
/// video and MJPEG at two sizes.
fn device(name: &str, path: &str) -> gst::Device {
    let mut caps = gst::Caps::new_empty();
    {
        let caps = caps.make_mut();
        for (w, h) in [(1280, 720), (640, 480)] {
            for media in ["image/jpeg", "video/x-raw"] {
                let mut s = gst::Structure::builder(media)
                    .field("width", w)
                    .field("height", h)
                    .field("framerate", gst::Fraction::new(30, 1));
                if media == "video/x-raw" {
                    s = s.field("format", "YUY2");
                }
                caps.append_structure(s.build());
            }
        }
    }
    let props = gst::Structure::builder("v4l2deviceprovider")
        .field("api.v4l2.path", path)
        .field("device.path", path)
        .field("device.api", "v4l2")
        .field("device.bus", "usb")
        .build();
    glib::Object::builder::<FakeDevice>()
        .property("display-name", name)
        .property("device-class", "Video/Source")
        .property("caps", &caps)
        .property("properties", &props)
        .build()
        .upcast()
}

fn plugin_init(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::DeviceProvider::register(
        Some(plugin),
        "pinholefakedevices",
        gst::Rank::PRIMARY,
        FakeProvider::static_type(),
    )
}

gst::plugin_define!(
    pinholefakedevices,
    "Video sources plugged in by files, for Pinhole's tests",
    plugin_init,
    "0.1.0",
    "MIT/X11",
    "pinhole",
    "pinhole",
    "https://example.invalid/pinhole"
);
