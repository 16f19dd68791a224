//! Any text as an RTSP `Authorization` header (it comes from unauthenticated clients). Must never
//! panic, and forged Digest credentials must never verify.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pinhole::media::rtsp_auth::{self, Credentials, Nonces};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(Credentials::Digest(d)) = rtsp_auth::parse_authorization(text) {
        let nonces = Nonces::new([9; 32], 300);
        let ha1 = rtsp_auth::ha1("admin", "correct horse");
        assert!(rtsp_auth::verify_digest(&d, "DESCRIBE", &d.uri, &ha1, &nonces, 1_000).is_err());
    }
});
