//! Any bytes as an access unit from an RTSP camera through the Annex B reframer, for both
//! codecs. Must never panic; on success the output has the input's length and each former
//! length prefix is a start code.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pinhole::media::nal::to_annex_b;
use pinhole::media::pipeline::VideoCodec;

fuzz_target!(|data: &[u8]| {
    for codec in [VideoCodec::H264, VideoCodec::H265] {
        let mut au = data.to_vec();
        if to_annex_b(codec, &mut au).is_ok() {
            assert_eq!(au.len(), data.len());
            assert!(data.is_empty() || au.starts_with(&[0, 0, 0, 1]));
        }
    }
});
