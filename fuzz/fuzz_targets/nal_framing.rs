//! Any bytes as an access unit from an RTSP camera through the framing check and keyframe
//! test, for both codecs. Must never panic; what passes is whole length-prefixed NAL units,
//! and stays so behind a parameter-set prefix.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pinhole::media::nal::{keyframe, length_prefixed};
use pinhole::media::pipeline::VideoCodec;

fuzz_target!(|data: &[u8]| {
    for codec in [VideoCodec::H264, VideoCodec::H265] {
        if let Ok(key) = keyframe(codec, data) {
            let mut au = length_prefixed([&[0x01u8, 0x02][..]]);
            au.extend_from_slice(data);
            assert_eq!(keyframe(codec, &au), Ok(key));
        }
    }
});
