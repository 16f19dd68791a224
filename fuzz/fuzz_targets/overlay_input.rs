//! What a client sends for overlays and destinations: any bytes as an uploaded PNG (checked
//! before anything decodes it), any text as a text overlay's template, any text as a
//! destination's URL and key. None may panic; a PNG that passes decodes within its bounds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pinhole::broadcast::{DestinationInput, TextContext, publish_url, render_text};

fuzz_target!(|data: &[u8]| {
    if let Ok(info) = pinhole::png::check(data) {
        assert!(info.width >= 1 && info.width <= pinhole::png::MAX_SIDE);
        assert!(info.height >= 1 && info.height <= pinhole::png::MAX_SIDE);
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let cx = TextContext {
        time: "12:00:00",
        camera: "{camera}",
        value: "}{",
        ..Default::default()
    };
    let out = render_text(text, &cx);
    // Nothing but variables grows the text.
    assert!(out.len() <= text.len() * 8 + 16);
    let (url, key) = text.split_once('\n').unwrap_or((text, ""));
    let input = DestinationInput {
        id: None,
        name: "d".into(),
        url: url.to_string(),
        stream_key: Some(key.to_string()),
    };
    if let Ok(protocol) = input.check() {
        let full = publish_url(url, protocol, Some(key));
        assert!(full.starts_with(url.trim_end_matches('/')));
    }
});
