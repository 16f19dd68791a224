//! Any text as a camera URL, as a client types it: taking credentials out of it must never panic,
//! and what is left holds no userinfo.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pinhole::store::cameras::CameraInput;

fuzz_target!(|data: &[u8]| {
    let Ok(url) = std::str::from_utf8(data) else {
        return;
    };
    let input = CameraInput {
        url: Some(url.to_string()),
        ..Default::default()
    };
    let out = input.credentials_out_of_url();
    let left = out.url.unwrap_or_default();
    if let Some((_, rest)) = left.split_once("://") {
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        assert!(!authority.contains('@'), "{url:?} kept userinfo: {left:?}");
    }
    // Idempotent: a second pass changes nothing.
    let again = CameraInput {
        url: Some(left.clone()),
        ..Default::default()
    }
    .credentials_out_of_url();
    assert_eq!(again.url.as_deref(), Some(left.as_str()));
});
