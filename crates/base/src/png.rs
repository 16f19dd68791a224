//! Checking an uploaded PNG (an overlay image) before anything else reads it: the size of the
//! upload, the signature, the picture's dimensions, and a whole decode within a memory bound, so
//! a file that is not a PNG, is truncated, or inflates to gigabytes (a zip bomb) is refused here
//! with a reason, and the compositor only ever sees pictures that decode.

use std::io::Cursor;

/// The largest upload accepted.
pub const MAX_BYTES: usize = 2 << 20;
/// The largest side of the picture.
pub const MAX_SIDE: u32 = 3840;
/// What the decoder may allocate: a 3840×2160 RGBA picture with room to spare.
const DECODE_LIMIT: usize = 48 << 20;

/// What a checked PNG holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PngInfo {
    pub width: u32,
    pub height: u32,
    pub has_alpha: bool,
}

/// Checks `bytes` as a PNG picture; the reason when it is not one Pinhole will use.
pub fn check(bytes: &[u8]) -> Result<PngInfo, String> {
    let (info, mut reader) = read_header(bytes)?;
    let size = reader
        .output_buffer_size()
        .filter(|&n| n <= DECODE_LIMIT)
        .ok_or("the image is too large to decode")?;
    let mut buf = vec![0; size];
    reader
        .next_frame(&mut buf)
        .map_err(|e| format!("the PNG does not decode: {e}"))?;
    Ok(info)
}

/// What a PNG already accepted by [`check`] holds (a stored overlay image), from its header
/// alone: no second decode of the whole picture.
pub fn header(bytes: &[u8]) -> Result<PngInfo, String> {
    read_header(bytes).map(|(info, _)| info)
}

/// A reader positioned at the picture data.
type Reader<'a> = png::Reader<Cursor<&'a [u8]>>;

/// The upload's size, signature and header checks; the reader stops before the picture data.
fn read_header(bytes: &[u8]) -> Result<(PngInfo, Reader<'_>), String> {
    if bytes.len() > MAX_BYTES {
        return Err(format!(
            "the image is {} bytes; at most {MAX_BYTES} are accepted",
            bytes.len()
        ));
    }
    if !bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Err("not a PNG image (its signature is missing)".into());
    }
    let limits = png::Limits {
        bytes: DECODE_LIMIT,
    };
    let mut decoder = png::Decoder::new_with_limits(Cursor::new(bytes), limits);
    decoder.set_ignore_text_chunk(true);
    let reader = decoder
        .read_info()
        .map_err(|e| format!("not a usable PNG: {e}"))?;
    let (width, height) = reader.info().size();
    if width == 0 || height == 0 || width > MAX_SIDE || height > MAX_SIDE {
        return Err(format!(
            "the image is {width}×{height}; each side must be 1 to {MAX_SIDE} pixels"
        ));
    }
    let has_alpha = reader.info().color_type.samples() == 4
        || reader.info().color_type == png::ColorType::GrayscaleAlpha
        || reader.info().trns.is_some();
    let info = PngInfo {
        width,
        height,
        has_alpha,
    };
    Ok((info, reader))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `w`×`h` RGBA PNG.
    pub(crate) fn encode(w: u32, h: u32) -> Vec<u8> {
        let mut out = Vec::new();
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(png::ColorType::Rgba);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header().unwrap();
        writer
            .write_image_data(&vec![0x80; (w * h * 4) as usize])
            .unwrap();
        writer.finish().unwrap();
        out
    }

    #[test]
    fn accepts_a_png_with_alpha() {
        assert_eq!(
            check(&encode(64, 32)),
            Ok(PngInfo {
                width: 64,
                height: 32,
                has_alpha: true
            })
        );
    }

    #[test]
    fn refuses_what_is_not_a_usable_png() {
        assert!(check(b"GIF89a....").unwrap_err().contains("not a PNG"));
        let png = encode(64, 32);
        assert!(check(&png[..png.len() / 2]).is_err(), "truncated");
        // A picture whose header claims 20000×20000 (a zip bomb's shape).
        let mut big = encode(1, 1);
        big[16..20].copy_from_slice(&20000u32.to_be_bytes());
        big[20..24].copy_from_slice(&20000u32.to_be_bytes());
        assert!(check(&big).is_err());
        assert!(
            check(&vec![0; MAX_BYTES + 1])
                .unwrap_err()
                .contains("at most")
        );
    }

    #[test]
    fn a_zip_bomb_is_refused_before_it_inflates() {
        // 3840×2160 of zeros compresses to a few kB and inflates to 33 MB: accepted (it is a
        // legal picture within the bound). One bigger than the limit is refused from its header.
        let png = encode(3840, 2160);
        assert!(png.len() < 200_000, "{}", png.len());
        assert!(check(&png).is_ok());
        assert!(check(&encode(3841, 16)).is_err());
    }

    #[test]
    fn the_header_gives_a_stored_picture_size() {
        let png = encode(64, 32);
        assert_eq!(header(&png), check(&png));
        assert!(header(b"GIF89a....").is_err());
    }
}
