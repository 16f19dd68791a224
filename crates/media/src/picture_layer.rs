//! Picture overlays (a PNG logo, and the text `textoverlay` renders) drawn onto an output's
//! I420 frames by Pinhole itself.
//!
//! Why not `gdkpixbufoverlay`: GStreamer's generic blend unpacks every line under the picture to
//! ARGB and packs it back, frame after frame (1.6 % of a core for a 192-pixel logo at 720p30 on
//! the 2-core test machine). Here the picture is converted once, when its size or opacity
//! changes, into luma, chroma and alpha planes laid out as the frame's; a frame then costs one
//! multiply-add per covered byte. Text is laid out and rendered by `textoverlay` (pango), once
//! per change, and blended here the same way. Pure code over plane slices, apart from the PNG
//! decoding.

use std::sync::{Arc, Mutex};

/// Where a picture goes and how strongly: frame pixels, and 0..=1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Placement {
    pub x: i32,
    pub y: i32,
    pub width: u32,
    pub height: u32,
    pub opacity: f64,
}

/// A picture converted for blending: luma and its alpha at full resolution, chroma (Cb, Cr)
/// and its alpha at half resolution in both directions, as I420 has them.
#[derive(Debug)]
pub struct ConvertedPicture {
    at: Placement,
    hd: bool,
    luma: Vec<u8>,
    alpha: Vec<u8>,
    /// Width and height of the chroma planes.
    chroma_size: (usize, usize),
    cb: Vec<u8>,
    cr: Vec<u8>,
    chroma_alpha: Vec<u8>,
}

/// One picture layer: the decoded picture, and its planes for the current placement.
#[derive(Debug)]
pub struct PictureLayer {
    rgba: image::RgbaImage,
    planes: Mutex<Option<Arc<ConvertedPicture>>>,
}

/// A frame's plane to draw on: its bytes, row stride, width and height.
pub struct Plane<'a> {
    pub data: &'a mut [u8],
    pub stride: usize,
    pub width: usize,
    pub height: usize,
}

/// Studio-range Y'CbCr of 8-bit R'G'B' (BT.709 for HD frames, BT.601 below), in 1/256ths.
fn ycbcr(rgb: [u8; 3], hd: bool) -> [u8; 3] {
    let [r, g, b] = rgb.map(i32::from);
    let (y, cb, cr) = if hd {
        (
            47 * r + 157 * g + 16 * b,
            -26 * r - 87 * g + 112 * b,
            112 * r - 102 * g - 10 * b,
        )
    } else {
        (
            66 * r + 129 * g + 25 * b,
            -38 * r - 74 * g + 112 * b,
            112 * r - 94 * g - 18 * b,
        )
    };
    let to = |v: i32, base: i32| ((v + 128) >> 8).saturating_add(base).clamp(0, 255) as u8;
    [to(y, 16), to(cb, 128), to(cr, 128)]
}

/// Where R, G, B and A sit in a packed 4-byte pixel.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PackedOrder {
    /// Bytes B, G, R, A: GStreamer's overlay `ARGB` on little-endian machines.
    Bgra,
    /// Bytes A, R, G, B.
    Argb,
}

/// A `width`×`height` picture of packed 4-byte pixels, rows `stride` bytes apart, as RGBA; None
/// where `data` is too short for it.
pub fn rgba_of_packed(
    data: &[u8],
    stride: usize,
    width: u32,
    height: u32,
    order: PackedOrder,
) -> Option<image::RgbaImage> {
    let (w, h) = (width as usize, height as usize);
    let row_len = w.checked_mul(4)?;
    if h > 0 && (stride < row_len || data.len() < stride * (h - 1) + row_len) {
        return None;
    }
    let mut out = Vec::with_capacity(row_len * h);
    for row in 0..h {
        for p in data[row * stride..row * stride + row_len].chunks_exact(4) {
            out.extend_from_slice(&match order {
                PackedOrder::Bgra => [p[2], p[1], p[0], p[3]],
                PackedOrder::Argb => [p[1], p[2], p[3], p[0]],
            });
        }
    }
    image::RgbaImage::from_raw(width, height, out)
}

/// `dst = dst × (255 - a)/255 + src × a/255`, row by row over the covered part of `plane`.
fn blend_plane(plane: &mut Plane<'_>, x: i64, y: i64, w: usize, src: &[u8], alpha: &[u8]) {
    if w == 0 {
        return;
    }
    let rows = src.len() / w;
    for row in 0..rows {
        let py = y + row as i64;
        if py < 0 || py >= plane.height as i64 {
            continue;
        }
        // The columns of this row inside the frame.
        let first = (-x).max(0) as usize;
        let last = ((plane.width as i64 - x).min(w as i64)).max(0) as usize;
        if first >= last {
            continue;
        }
        let start = py as usize * plane.stride + (x + first as i64) as usize;
        let Some(dst) = plane.data.get_mut(start..start + (last - first)) else {
            continue;
        };
        let s = &src[row * w + first..row * w + last];
        let a = &alpha[row * w + first..row * w + last];
        for ((d, &s), &a) in dst.iter_mut().zip(s).zip(a) {
            let a = u32::from(a);
            *d = ((u32::from(*d) * (255 - a) + u32::from(s) * a + 127) / 255) as u8;
        }
    }
}

impl ConvertedPicture {
    /// `rgba` converted for blending at `at` (scaled to its size first where it differs).
    /// `hd`: the frame is HD (BT.709 colours).
    pub fn new(rgba: &image::RgbaImage, at: Placement, hd: bool) -> Self {
        let (w, h) = (at.width.max(1), at.height.max(1));
        let resized;
        let scaled = if rgba.dimensions() == (w, h) {
            rgba
        } else {
            resized = image::imageops::resize(rgba, w, h, image::imageops::FilterType::Triangle);
            &resized
        };
        let opacity = at.opacity.clamp(0.0, 1.0);
        let (w, h) = (w as usize, h as usize);
        let mut luma = Vec::with_capacity(w * h);
        let mut alpha = Vec::with_capacity(w * h);
        let mut chroma = Vec::with_capacity(w * h);
        for p in scaled.pixels() {
            let [r, g, b, a] = p.0;
            let [y, cb, cr] = ycbcr([r, g, b], hd);
            luma.push(y);
            chroma.push((cb, cr));
            alpha.push((f64::from(a) * opacity).round() as u8);
        }
        // Chroma: each 2×2 block's colour weighted by its pixels' alpha, and their mean alpha.
        // A picture placed at an odd position covers chroma samples from the one to its left
        // and above.
        let (ox, oy) = ((at.x & 1) as usize, (at.y & 1) as usize);
        let cw = (w + ox).div_ceil(2);
        let chh = (h + oy).div_ceil(2);
        let mut sums = vec![(0u32, 0u32, 0u32); cw * chh];
        for row in 0..h {
            for col in 0..w {
                let i = row * w + col;
                let a = u32::from(alpha[i]);
                let c = &mut sums[(row + oy) / 2 * cw + (col + ox) / 2];
                c.0 += a;
                c.1 += a * u32::from(chroma[i].0);
                c.2 += a * u32::from(chroma[i].1);
            }
        }
        let mut cb = Vec::with_capacity(sums.len());
        let mut cr = Vec::with_capacity(sums.len());
        let mut chroma_alpha = Vec::with_capacity(sums.len());
        for (a, sb, sr) in sums {
            cb.push(sb.checked_div(a).map_or(128, |c| c as u8));
            cr.push(sr.checked_div(a).map_or(128, |c| c as u8));
            chroma_alpha.push((a / 4) as u8);
        }
        Self {
            at,
            hd,
            luma,
            alpha,
            chroma_size: (cw, chh),
            cb,
            cr,
            chroma_alpha,
        }
    }

    /// Draws the picture on a frame's Y, U and V planes.
    pub fn draw(&self, y: &mut Plane<'_>, u: &mut Plane<'_>, v: &mut Plane<'_>) {
        if self.at.opacity <= 0.0 {
            return;
        }
        let (x, top) = (i64::from(self.at.x), i64::from(self.at.y));
        let w = self.at.width.max(1) as usize;
        blend_plane(y, x, top, w, &self.luma, &self.alpha);
        let (cx, cy) = (x.div_euclid(2), top.div_euclid(2));
        let cw = self.chroma_size.0;
        blend_plane(u, cx, cy, cw, &self.cb, &self.chroma_alpha);
        blend_plane(v, cx, cy, cw, &self.cr, &self.chroma_alpha);
    }
}

impl PictureLayer {
    /// Decodes a PNG (already checked when it was uploaded).
    pub fn open(path: &std::path::Path) -> Result<Self, String> {
        let rgba = image::open(path)
            .map_err(|e| format!("cannot read the overlay picture {}: {e}", path.display()))?
            .into_rgba8();
        Ok(Self {
            rgba,
            planes: Mutex::new(None),
        })
    }

    /// Places the picture; converted again only when the placement changed. `hd`: the frame
    /// is HD (BT.709 colours).
    pub fn place(&self, at: Placement, hd: bool) {
        let same = |p: &Option<Arc<ConvertedPicture>>| {
            p.as_ref().is_some_and(|p| p.at == at && p.hd == hd)
        };
        if same(&self.planes.lock().unwrap_or_else(|p| p.into_inner())) {
            return;
        }
        // Converted without the lock: frames go on being drawn meanwhile.
        let planes = Arc::new(ConvertedPicture::new(&self.rgba, at, hd));
        *self.planes.lock().unwrap_or_else(|p| p.into_inner()) = Some(planes);
    }

    /// Draws the picture on a frame's Y, U and V planes (nothing until it is placed).
    pub fn draw(&self, y: &mut Plane<'_>, u: &mut Plane<'_>, v: &mut Plane<'_>) {
        let planes = self
            .planes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some(p) = planes {
            p.draw(y, u, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `w`×`h` I420 frame of one colour.
    fn frame(w: usize, h: usize, yuv: [u8; 3]) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        let c = (w / 2) * (h / 2);
        (vec![yuv[0]; w * h], vec![yuv[1]; c], vec![yuv[2]; c])
    }

    fn at(x: i32, y: i32, width: u32, height: u32, opacity: f64) -> Placement {
        Placement {
            x,
            y,
            width,
            height,
            opacity,
        }
    }

    fn layer(rgba: [u8; 4], w: u32, h: u32) -> PictureLayer {
        PictureLayer {
            rgba: image::RgbaImage::from_pixel(w, h, image::Rgba(rgba)),
            planes: Mutex::new(None),
        }
    }

    fn draw(l: &PictureLayer, f: &mut (Vec<u8>, Vec<u8>, Vec<u8>), w: usize, h: usize) {
        let (y, u, v) = f;
        fn plane(data: &mut [u8], w: usize, h: usize) -> Plane<'_> {
            Plane {
                data,
                stride: w,
                width: w,
                height: h,
            }
        }
        let (mut py, mut pu, mut pv) = (
            plane(y, w, h),
            plane(u, w / 2, h / 2),
            plane(v, w / 2, h / 2),
        );
        l.draw(&mut py, &mut pu, &mut pv);
    }

    #[test]
    fn an_opaque_picture_replaces_what_it_covers_and_nothing_else() {
        let (w, h) = (64, 32);
        let mut f = frame(w, h, [16, 128, 128]);
        // Orange, as the broadcast test's logo.
        let l = layer([255, 128, 0, 255], 8, 8);
        l.place(at(10, 6, 8, 8, 1.0), true);
        draw(&l, &mut f, w, h);
        let want = ycbcr([255, 128, 0], true);
        assert_eq!(f.0[6 * w + 10], want[0]);
        assert_eq!(f.0[13 * w + 17], want[0]);
        assert_eq!(f.0[6 * w + 9], 16, "left of it");
        assert_eq!(f.0[14 * w + 10], 16, "below it");
        assert_eq!(f.1[3 * (w / 2) + 5], want[1]);
        assert_eq!(f.2[3 * (w / 2) + 5], want[2]);
        assert_eq!(f.1[3 * (w / 2) + 4], 128);
    }

    #[test]
    fn opacity_mixes_and_zero_leaves_the_frame() {
        let (w, h) = (16, 16);
        let mut f = frame(w, h, [16, 128, 128]);
        let l = layer([255, 255, 255, 255], 4, 4);
        l.place(at(0, 0, 4, 4, 0.5), false);
        draw(&l, &mut f, w, h);
        // Half-way between black (16) and white (235).
        assert!((125..=127).contains(&f.0[0]), "{}", f.0[0]);
        let mut g = frame(w, h, [16, 128, 128]);
        l.place(at(0, 0, 4, 4, 0.0), false);
        draw(&l, &mut g, w, h);
        assert_eq!(g, frame(w, h, [16, 128, 128]));
    }

    #[test]
    fn a_picture_partly_outside_the_frame_is_clipped() {
        let (w, h) = (16, 16);
        for (x, y) in [(-3, -3), (13, 13), (-20, 0), (0, 40), (15, -1)] {
            let mut f = frame(w, h, [16, 128, 128]);
            let l = layer([255, 0, 0, 255], 6, 6);
            l.place(
                Placement {
                    x,
                    y,
                    width: 6,
                    height: 6,
                    opacity: 1.0,
                },
                false,
            );
            draw(&l, &mut f, w, h);
            let covered = f.0.iter().filter(|&&v| v != 16).count();
            let inside = |a: i32| (a.max(0)..(a + 6).min(16)).len();
            assert_eq!(covered, inside(x) * inside(y), "at {x},{y}");
        }
    }

    #[test]
    fn packed_pixels_are_read_in_their_order_and_short_data_refused() {
        // Two pixels a row, two rows, a stride of 12 (4 bytes of padding).
        let mut data = Vec::new();
        for (b, g, r, a) in [
            (1, 2, 3, 4),
            (5, 6, 7, 8),
            (9, 10, 11, 12),
            (13, 14, 15, 16),
        ] {
            data.extend_from_slice(&[b, g, r, a]);
            if data.len() % 12 == 8 {
                data.extend_from_slice(&[0; 4]);
            }
        }
        let bgra = rgba_of_packed(&data, 12, 2, 2, PackedOrder::Bgra).expect("fits");
        assert_eq!(bgra.get_pixel(0, 0).0, [3, 2, 1, 4]);
        assert_eq!(bgra.get_pixel(1, 1).0, [15, 14, 13, 16]);
        let argb = rgba_of_packed(&data, 12, 2, 2, PackedOrder::Argb).expect("fits");
        assert_eq!(argb.get_pixel(1, 0).0, [6, 7, 8, 5]);
        assert!(rgba_of_packed(&data[..19], 12, 2, 2, PackedOrder::Bgra).is_none());
        assert!(rgba_of_packed(&data, 4, 2, 2, PackedOrder::Bgra).is_none());
        assert!(rgba_of_packed(&[], 0, 0, 0, PackedOrder::Bgra).is_some());
    }

    #[test]
    fn transparent_pixels_leave_the_frame() {
        let (w, h) = (16, 16);
        let mut f = frame(w, h, [80, 90, 100]);
        let l = layer([255, 0, 0, 0], 8, 8);
        l.place(at(2, 2, 8, 8, 1.0), true);
        draw(&l, &mut f, w, h);
        assert_eq!(f, frame(w, h, [80, 90, 100]));
    }
}
