//! Any bytes as a hawkBit server's answers (controller base, deployment, cancel request): parsing
//! never panics, and a bundle chosen from a deployment always has a SHA-256 and an http(s) link.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pinhole::ota::ddi::{self, ControllerBase, Deployment};

fuzz_target!(|data: &[u8]| {
    let _ = ControllerBase::parse(data);
    let _ = ddi::parse_cancel(data);
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = ddi::parse_sleep(s);
    }
    if let Ok(d) = Deployment::parse(data) {
        if let Ok(a) = d.bundle() {
            assert_eq!(a.sha256.as_deref().map(str::len), Some(64));
            assert!(a.url.as_deref().is_some_and(|u| u.starts_with("http")));
        }
    }
});
