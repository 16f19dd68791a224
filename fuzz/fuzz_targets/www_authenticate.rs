//! Any text as the `WWW-Authenticate` values of a camera's 401 (its ONVIF services and snapshot
//! URIs ask for Digest). Must never panic; a challenge read is answered with a well-formed
//! `Authorization` value whose parameters read back as given.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pinhole::http_auth::{self, DigestChallenge};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(c) = DigestChallenge::pick(text.split('\n')) {
        let a = c.authorization("admin", "secret", "POST", "/onvif/device_service", "c0ffee", 1);
        let p = http_auth::params(a.trim_start_matches("Digest ")).expect("our own answer reads");
        assert_eq!(p.get("realm").map(String::as_str), Some(c.realm.trim()));
        assert_eq!(p.get("nonce").map(String::as_str), Some(c.nonce.trim()));
    }
});
