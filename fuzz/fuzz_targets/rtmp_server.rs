//! Any bytes as what an RTMP server sends a publisher: read as chunks into messages (split at
//! every point the first byte chooses), each command read as an answer, and the whole as AMF0.
//! Must never panic, nor hold more than the reader's bounds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pinhole::media::{amf0, rtmp};

fuzz_target!(|data: &[u8]| {
    let _ = amf0::decode_all(data);
    let split = usize::from(data.first().copied().unwrap_or(1)).max(1);
    let mut reader = rtmp::ChunkReader::default();
    for part in data.chunks(split) {
        reader.push(part);
        loop {
            match reader.next_message() {
                Ok(Some(m)) => {
                    assert!(m.payload.len() <= rtmp::MAX_INCOMING);
                    if m.kind == rtmp::kind::COMMAND_AMF0 {
                        let _ = rtmp::answer(&m.payload);
                    }
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
});
