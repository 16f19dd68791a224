//! Any bytes through the JSON-RPC envelope: parse, then validate each request. Must never panic,
//! and every error response must be well formed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pinhole::api::rpc::envelope::{self, Incoming};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let items = match envelope::parse(text) {
        Err(resp) => {
            assert_eq!(resp["error"]["code"], envelope::PARSE_ERROR);
            return;
        }
        Ok(Incoming::Single(v)) => vec![v],
        Ok(Incoming::Batch(v)) => v,
    };
    for item in items {
        match envelope::validate(item) {
            Ok(req) => {
                let _ = req.is_notification();
            }
            Err((id, e)) => {
                let resp = envelope::error_response(id, &e);
                assert!(resp.get("result").is_none());
                assert_eq!(resp["jsonrpc"], "2.0");
            }
        }
    }
});
