//! Any bytes through every VISCA decoder a controller or the simulator runs on input from the
//! wire: request and reply packets, the Sony IP header, inquiry answers, and the stream framer.
//! Must never panic; whatever decodes must encode back to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pinhole::ptz::visca::{self, Framer, Inquiry, IpMessage, Reply, Request};

fuzz_target!(|data: &[u8]| {
    if let Ok((address, req)) = visca::decode_request(data) {
        let again = match req {
            Request::Command(c) => c.encode(address),
            Request::Inquiry(i) => i.encode(address),
        };
        assert_eq!(again, data);
    }
    if let Ok((address, reply)) = Reply::decode(data) {
        if address != 0 {
            assert_eq!(reply.encode(address), data);
        }
    }
    if let Ok(m) = IpMessage::decode(data) {
        assert_eq!(m.encode(), data);
    }
    for inq in [Inquiry::Power, Inquiry::ZoomPosition, Inquiry::FocusMode, Inquiry::FocusPosition, Inquiry::PanTiltPosition, Inquiry::Version] {
        if let Ok(a) = inq.decode_answer(data) {
            assert_eq!(Inquiry::encode_answer(&a), data);
        }
    }
    let mut f = Framer::new();
    for p in f.push(data) {
        assert!(p.len() <= visca::MAX_PACKET);
    }
});
