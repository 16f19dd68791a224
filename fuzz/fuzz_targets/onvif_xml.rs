//! Any bytes as a device's answer, through every ONVIF and WS-Discovery parser (they read
//! what cameras on the network send). Must never panic; what they accept keeps its promises.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pinhole_onvif::{device, discovery, media, ptz};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = device::parse_system_date_and_time(text).map(device::utc_timestamp);
    let _ = device::parse_device_information(text);
    if let Ok(s) = device::parse_services(text) {
        for a in [s.media, s.media2, s.ptz, s.imaging, s.events]
            .into_iter()
            .flatten()
        {
            assert!(a.starts_with("http://") || a.starts_with("https://"));
        }
    }
    let _ = media::parse_profiles(text);
    let _ = media::parse_profiles2(text);
    if let Ok(uri) = media::parse_media_uri(text) {
        assert!(!uri.chars().any(char::is_control));
    }
    let _ = ptz::parse_status(text);
    let _ = ptz::parse_presets(text);
    let _ = ptz::parse_set_preset(text);
    let _ = ptz::parse_nodes(text);
    if let Ok((_, matches)) = discovery::parse_probe_matches(text) {
        for m in matches {
            assert!(!m.xaddrs.is_empty());
        }
    }
});
