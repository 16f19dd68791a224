//! H.264 and H.265 access units as Pinhole's RTSP client hands them: each NAL unit behind a
//! 4-byte big-endian length (the MP4 framing, which is what the hub carries as
//! `stream-format=avc`/`hvc1`). Checks the framing and tells whether an access unit starts a
//! GOP. Pure, unit tested and fuzzed: the lengths come from the camera.
//!
//! Why our own keyframe test: retina counts only IDR pictures as H.265 random access points,
//! while most H.265 cameras (x265's default too) start their later GOPs with CRA pictures. The
//! parsers and the recorder start on any IRAP picture, as they do with rtspsrc.

use crate::pipeline::VideoCodec;

/// Why an access unit's framing is broken (it is dropped).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    #[error("{left} stray bytes at byte {at} of a {len}-byte access unit")]
    Truncated { at: usize, left: usize, len: usize },
    #[error("a NAL unit of {nal} bytes at byte {at} overruns the {len}-byte access unit")]
    Overrun { at: usize, nal: usize, len: usize },
}

/// Checks that `au` is whole NAL units behind 4-byte lengths; returns whether it holds an IDR
/// (H.264) or IRAP (H.265: BLA, IDR or CRA) picture.
pub fn keyframe(codec: VideoCodec, au: &[u8]) -> Result<bool, FramingError> {
    let len = au.len();
    let mut at = 0;
    let mut keyframe = false;
    while at < len {
        let left = len - at;
        if left < 5 {
            return Err(FramingError::Truncated { at, left, len });
        }
        let prefix = [au[at], au[at + 1], au[at + 2], au[at + 3]];
        let nal = u32::from_be_bytes(prefix) as usize;
        if nal == 0 || nal > left - 4 {
            return Err(FramingError::Overrun { at, nal, len });
        }
        let header = au[at + 4];
        keyframe |= match codec {
            VideoCodec::H264 => header & 0x1f == 5,
            VideoCodec::H265 => (16..=21).contains(&((header >> 1) & 0x3f)),
        };
        at += 4 + nal;
    }
    Ok(keyframe)
}

/// Parameter sets (VPS, SPS, PPS in that order) as a prefix for a keyframe, framed like it.
pub fn length_prefixed<'a>(sets: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    for set in sets {
        let len = u32::try_from(set.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(set);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(nals: &[&[u8]]) -> Vec<u8> {
        let mut v = Vec::new();
        for n in nals {
            v.extend_from_slice(&(n.len() as u32).to_be_bytes());
            v.extend_from_slice(n);
        }
        v
    }

    #[test]
    fn h264_idr_is_a_keyframe_and_p_slices_are_not() {
        let idr = framed(&[&[0x06, 1, 2], &[0x65, 0xaa, 0xbb, 0xcc]]);
        assert_eq!(keyframe(VideoCodec::H264, &idr), Ok(true));
        let p = framed(&[&[0x41, 9, 9]]);
        assert_eq!(keyframe(VideoCodec::H264, &p), Ok(false));
    }

    #[test]
    fn h265_cra_and_idr_are_keyframes() {
        // NAL type in bits 1..7 of the first header byte: 21 CRA, 19 IDR_W_RADL, 1 TRAIL_R.
        for (t, key) in [
            (21u8, true),
            (19, true),
            (16, true),
            (1, false),
            (22, false),
        ] {
            let au = framed(&[&[t << 1, 1, 0xee]]);
            assert_eq!(keyframe(VideoCodec::H265, &au), Ok(key), "type {t}");
        }
    }

    #[test]
    fn bad_lengths_are_errors_not_panics() {
        let mut overrun = framed(&[&[0x65, 1]]);
        overrun[3] = 9;
        assert!(matches!(
            keyframe(VideoCodec::H264, &overrun),
            Err(FramingError::Overrun { at: 0, nal: 9, .. })
        ));
        let mut stray = framed(&[&[0x41, 1]]);
        stray.extend_from_slice(&[0, 0]);
        assert!(matches!(
            keyframe(VideoCodec::H264, &stray),
            Err(FramingError::Truncated { at: 6, left: 2, .. })
        ));
        assert!(keyframe(VideoCodec::H264, &[0, 0, 0, 0, 0x65]).is_err());
        assert_eq!(keyframe(VideoCodec::H264, &[]), Ok(false));
    }

    #[test]
    fn parameter_sets_become_a_prefix() {
        let prefix = length_prefixed([&[0x67u8, 1][..], &[0x68, 2, 3][..]]);
        assert_eq!(prefix, [0, 0, 0, 2, 0x67, 1, 0, 0, 0, 3, 0x68, 2, 3]);
        assert_eq!(keyframe(VideoCodec::H264, &prefix), Ok(false));
    }
}
