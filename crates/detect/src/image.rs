//! Turning a picture into a model input: letterboxed bilinear resize of packed RGB, then the
//! model's normalisation; and the inverse mapping from model coordinates back to the picture.

/// How a picture was placed into the model input (for mapping boxes back).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Letterbox {
    /// Picture pixels per input pixel... inverted: input pixels per picture pixel.
    pub scale: f32,
    pub pad_x: f32,
    pub pad_y: f32,
    pub input_w: u32,
    pub input_h: u32,
}

impl Letterbox {
    pub fn new(src_w: u32, src_h: u32, input_w: u32, input_h: u32) -> Self {
        let scale =
            (input_w as f32 / src_w.max(1) as f32).min(input_h as f32 / src_h.max(1) as f32);
        Self {
            scale,
            pad_x: (input_w as f32 - src_w as f32 * scale) / 2.0,
            pad_y: (input_h as f32 - src_h as f32 * scale) / 2.0,
            input_w,
            input_h,
        }
    }

    /// A normalised model coordinate (x, y in [0, 1] of the input) to picture pixels.
    pub fn to_picture(&self, x: f32, y: f32) -> (f32, f32) {
        (
            (x * self.input_w as f32 - self.pad_x) / self.scale,
            (y * self.input_h as f32 - self.pad_y) / self.scale,
        )
    }
}

/// How pixel values map to input values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Normalize {
    /// (p / 127.5) - 1: [-1, 1] (MediaPipe models).
    MinusOneToOne,
    /// p / 255: [0, 1].
    ZeroToOne,
    /// Raw bytes (quantised models).
    Bytes,
}

/// Resizes packed RGB `src` (w × h) into an input of `iw × ih × 3`, letterboxed (black bars).
pub fn letterbox_rgb(src: &[u8], w: u32, h: u32, iw: u32, ih: u32) -> (Vec<u8>, Letterbox) {
    let lb = Letterbox::new(w, h, iw, ih);
    let mut out = vec![0u8; (iw * ih * 3) as usize];
    if w == 0 || h == 0 || src.len() < (w * h * 3) as usize {
        return (out, lb);
    }
    for oy in 0..ih {
        let sy = (oy as f32 + 0.5 - lb.pad_y) / lb.scale - 0.5;
        if sy < -0.5 || sy > h as f32 - 0.5 {
            continue;
        }
        let y0 = sy.floor().clamp(0.0, (h - 1) as f32) as u32;
        let y1 = (y0 + 1).min(h - 1);
        let fy = (sy - y0 as f32).clamp(0.0, 1.0);
        for ox in 0..iw {
            let sx = (ox as f32 + 0.5 - lb.pad_x) / lb.scale - 0.5;
            if sx < -0.5 || sx > w as f32 - 0.5 {
                continue;
            }
            let x0 = sx.floor().clamp(0.0, (w - 1) as f32) as u32;
            let x1 = (x0 + 1).min(w - 1);
            let fx = (sx - x0 as f32).clamp(0.0, 1.0);
            for c in 0..3 {
                let p = |x: u32, y: u32| src[((y * w + x) * 3 + c) as usize] as f32;
                let top = p(x0, y0) * (1.0 - fx) + p(x1, y0) * fx;
                let bottom = p(x0, y1) * (1.0 - fx) + p(x1, y1) * fx;
                out[((oy * iw + ox) * 3 + c) as usize] =
                    (top * (1.0 - fy) + bottom * fy).round() as u8;
            }
        }
    }
    (out, lb)
}

pub fn normalize(rgb: &[u8], n: Normalize) -> Vec<f32> {
    match n {
        Normalize::MinusOneToOne => rgb.iter().map(|&p| p as f32 / 127.5 - 1.0).collect(),
        Normalize::ZeroToOne => rgb.iter().map(|&p| p as f32 / 255.0).collect(),
        Normalize::Bytes => rgb.iter().map(|&p| p as f32).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn square_picture_fills_the_input() {
        let src: Vec<u8> = (0..4 * 4 * 3).map(|i| (i * 5 % 256) as u8).collect();
        let (out, lb) = letterbox_rgb(&src, 4, 4, 4, 4);
        assert_eq!(out, src, "same size is a copy");
        assert_eq!((lb.pad_x, lb.pad_y, lb.scale), (0.0, 0.0, 1.0));
    }

    #[test]
    fn wide_picture_gets_bars_and_maps_back() {
        let src = vec![200u8; 8 * 4 * 3];
        let (out, lb) = letterbox_rgb(&src, 8, 4, 4, 4);
        assert_eq!(lb.pad_y, 1.0);
        // Top and bottom rows are bars.
        assert!(out[..4 * 3].iter().all(|&p| p == 0));
        assert!(out[4 * 3..4 * 3 * 3].iter().all(|&p| p == 200));
        let (x, y) = lb.to_picture(0.5, 0.5);
        assert_eq!((x, y), (4.0, 2.0));
        let (x, y) = lb.to_picture(0.0, 0.25);
        assert_eq!((x, y), (0.0, 0.0));
    }

    #[test]
    fn normalisations() {
        assert_eq!(
            normalize(&[0, 255], Normalize::MinusOneToOne),
            vec![-1.0, 1.0]
        );
        assert_eq!(normalize(&[0, 255], Normalize::ZeroToOne), vec![0.0, 1.0]);
    }
}
