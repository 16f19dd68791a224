//! The motion gate: cheap frame differencing on a small grayscale picture, so only frames with
//! motion (or a periodic keep-alive frame) reach the model. Masks (polygons in normalised
//! coordinates) exclude areas such as a road or a tree; sensitivity sets both the per-pixel
//! change that counts and the share of the picture that must change.
//!
//! Pure and allocation-free per frame after the first: the detector tap delivers packed RGB,
//! which is reduced to a fixed grid of luma cells (default 64 wide), compared with a slowly
//! adapting background, and scored.

use serde::{Deserialize, Serialize};

pub use pinhole_base::detection::{CameraDetection, Polygon};

/// Motion settings per camera.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MotionSettings {
    /// 1 (only large, strong changes) to 100 (the slightest change).
    pub sensitivity: u8,
    /// Areas to ignore.
    pub masks: Vec<Polygon>,
    /// Width of the analysis grid (height follows the picture's aspect).
    pub grid_width: u32,
}

impl Default for MotionSettings {
    fn default() -> Self {
        Self {
            sensitivity: 50,
            masks: Vec::new(),
            grid_width: 64,
        }
    }
}

impl MotionSettings {
    /// Per-cell luma difference (0-255) that counts as changed.
    fn pixel_threshold(&self) -> f32 {
        // 50 → 25 levels; 100 → 6; 1 → 60.
        60.0 - (self.sensitivity.clamp(1, 100) as f32 - 1.0) * 54.0 / 99.0
    }

    /// Share of unmasked cells that must change.
    fn area_threshold(&self) -> f32 {
        // 50 → 1 %; 100 → 0.1 %; 1 → 5 %.
        let s = self.sensitivity.clamp(1, 100) as f32;
        0.05 * (0.02f32).powf((s - 1.0) / 99.0)
    }
}

/// What one frame showed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MotionResult {
    /// Share of unmasked cells that changed, 0 to 1.
    pub changed: f32,
    pub motion: bool,
    /// Bounding box of the changed cells, normalised [x, y, w, h].
    pub region: Option<[f32; 4]>,
}

/// The gate's state for one camera.
#[derive(Debug, Clone)]
pub struct MotionGate {
    settings: MotionSettings,
    gw: u32,
    gh: u32,
    /// Cells that count (not masked).
    active: Vec<bool>,
    background: Vec<f32>,
    current: Vec<f32>,
}

impl MotionGate {
    pub fn new(settings: MotionSettings) -> Self {
        Self {
            settings,
            gw: 0,
            gh: 0,
            active: Vec::new(),
            background: Vec::new(),
            current: Vec::new(),
        }
    }

    fn resize_grid(&mut self, w: u32, h: u32) {
        let gw = self.settings.grid_width.clamp(8, 256).min(w.max(1));
        let gh = ((gw as u64 * h as u64) / w.max(1) as u64).max(1) as u32;
        if (gw, gh) == (self.gw, self.gh) {
            return;
        }
        self.gw = gw;
        self.gh = gh;
        self.active = (0..gw * gh)
            .map(|i| {
                let (x, y) = ((i % gw) as f32 + 0.5, (i / gw) as f32 + 0.5);
                let (nx, ny) = (x / gw as f32, y / gh as f32);
                !self.settings.masks.iter().any(|m| m.contains(nx, ny))
            })
            .collect();
        self.background.clear();
        self.current = vec![0.0; (gw * gh) as usize];
    }

    /// Feeds one packed RGB frame (w × h).
    pub fn feed(&mut self, rgb: &[u8], w: u32, h: u32) -> MotionResult {
        let none = MotionResult {
            changed: 0.0,
            motion: false,
            region: None,
        };
        if w == 0 || h == 0 || rgb.len() < (w as usize * h as usize * 3) {
            return none;
        }
        self.resize_grid(w, h);
        let (gw, gh) = (self.gw as usize, self.gh as usize);
        // Mean luma per cell (sampling every pixel of the cell's span, rows step 2 for speed).
        for cy in 0..gh {
            let y0 = cy * h as usize / gh;
            let y1 = ((cy + 1) * h as usize / gh).max(y0 + 1);
            for cx in 0..gw {
                let x0 = cx * w as usize / gw;
                let x1 = ((cx + 1) * w as usize / gw).max(x0 + 1);
                let (mut sum, mut n) = (0u32, 0u32);
                for y in (y0..y1).step_by(2) {
                    let row = y * w as usize * 3;
                    for x in x0..x1 {
                        let p = row + x * 3;
                        // Integer BT.601 luma.
                        sum +=
                            (77 * rgb[p] as u32 + 150 * rgb[p + 1] as u32 + 29 * rgb[p + 2] as u32)
                                >> 8;
                        n += 1;
                    }
                }
                self.current[cy * gw + cx] = sum as f32 / n.max(1) as f32;
            }
        }
        if self.background.len() != self.current.len() {
            self.background = self.current.clone();
            return none;
        }
        let threshold = self.settings.pixel_threshold();
        let (mut changed, mut total) = (0u32, 0u32);
        let (mut minx, mut miny, mut maxx, mut maxy) = (gw, gh, 0, 0);
        for i in 0..gw * gh {
            if !self.active[i] {
                continue;
            }
            total += 1;
            let d = (self.current[i] - self.background[i]).abs();
            if d > threshold {
                changed += 1;
                let (x, y) = (i % gw, i / gw);
                minx = minx.min(x);
                miny = miny.min(y);
                maxx = maxx.max(x);
                maxy = maxy.max(y);
            }
            // Slow adaptation to lighting changes.
            self.background[i] += (self.current[i] - self.background[i]) * 0.05;
        }
        let share = if total == 0 {
            0.0
        } else {
            changed as f32 / total as f32
        };
        let motion = share >= self.settings.area_threshold() && changed > 0;
        MotionResult {
            changed: share,
            motion,
            region: (changed > 0).then(|| {
                [
                    minx as f32 / gw as f32,
                    miny as f32 / gh as f32,
                    (maxx - minx + 1) as f32 / gw as f32,
                    (maxy - miny + 1) as f32 / gh as f32,
                ]
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(w: u32, h: u32, square: Option<(u32, u32, u32)>) -> Vec<u8> {
        let mut v = vec![40u8; (w * h * 3) as usize];
        if let Some((sx, sy, size)) = square {
            for y in sy..(sy + size).min(h) {
                for x in sx..(sx + size).min(w) {
                    let p = ((y * w + x) * 3) as usize;
                    v[p..p + 3].copy_from_slice(&[230, 230, 230]);
                }
            }
        }
        v
    }

    #[test]
    fn still_scene_has_no_motion_and_a_moving_square_does() {
        let mut g = MotionGate::new(MotionSettings::default());
        assert!(
            !g.feed(&frame(320, 240, None), 320, 240).motion,
            "first frame: background"
        );
        assert!(!g.feed(&frame(320, 240, None), 320, 240).motion);
        let r = g.feed(&frame(320, 240, Some((160, 120, 40))), 320, 240);
        assert!(r.motion, "{r:?}");
        let b = r.region.expect("region");
        assert!(
            (b[0] - 0.5).abs() < 0.05 && (b[1] - 0.5).abs() < 0.05,
            "{b:?}"
        );
    }

    #[test]
    fn masks_hide_motion() {
        let mask = Polygon(vec![(0.4, 0.4), (0.8, 0.4), (0.8, 0.8), (0.4, 0.8)]);
        let mut g = MotionGate::new(MotionSettings {
            masks: vec![mask],
            ..Default::default()
        });
        g.feed(&frame(320, 240, None), 320, 240);
        let r = g.feed(&frame(320, 240, Some((160, 120, 40))), 320, 240);
        assert!(!r.motion, "the square is inside the mask: {r:?}");
    }

    #[test]
    fn sensitivity_orders_thresholds() {
        let low = MotionSettings {
            sensitivity: 1,
            ..Default::default()
        };
        let high = MotionSettings {
            sensitivity: 100,
            ..Default::default()
        };
        assert!(low.pixel_threshold() > high.pixel_threshold());
        assert!(low.area_threshold() > high.area_threshold());
        // A tiny change: only the sensitive gate reports it.
        let tiny = Some((10, 10, 6));
        let mut a = MotionGate::new(low);
        let mut b = MotionGate::new(high);
        for g in [&mut a, &mut b] {
            g.feed(&frame(320, 240, None), 320, 240);
        }
        assert!(!a.feed(&frame(320, 240, tiny), 320, 240).motion);
        assert!(b.feed(&frame(320, 240, tiny), 320, 240).motion);
    }

    #[test]
    fn polygons() {
        let tri = Polygon(vec![(0.0, 0.0), (1.0, 0.0), (0.0, 1.0)]);
        assert!(tri.contains(0.2, 0.2));
        assert!(!tri.contains(0.8, 0.8));
        assert!(tri.problems().is_none());
        assert!(Polygon(vec![(0.0, 0.0), (1.0, 1.0)]).problems().is_some());
        assert!(
            Polygon(vec![(0.0, 0.0), (2.0, 0.0), (0.0, 1.0)])
                .problems()
                .is_some()
        );
        let mut g = MotionGate::new(MotionSettings::default());
        assert!(!g.feed(&[], 0, 0).motion, "bad frames are ignored");
        assert!(!g.feed(&[1, 2], 10, 10).motion);
    }
}
