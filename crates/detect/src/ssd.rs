//! SSD-style detectors without a built-in post-processing op (BlazeFace short/full range,
//! BlazePose person detector): anchor generation, box decoding and weighted non-maximum
//! suppression, as MediaPipe's `SsdAnchorsCalculator`, `TensorsToDetectionsCalculator` and
//! `NonMaxSuppressionCalculator` define them. Pure: tested against the anchor counts the models
//! expect and hand-computed decodes.

/// One anchor: a centre in [0, 1] (and a size, 1 for fixed-size anchors).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Anchor {
    pub x: f32,
    pub y: f32,
    pub w: f32,
    pub h: f32,
}

/// Anchor layout of one model family.
#[derive(Debug, Clone, PartialEq)]
pub struct AnchorSpec {
    pub input_width: u32,
    pub input_height: u32,
    pub min_scale: f32,
    pub max_scale: f32,
    pub strides: Vec<u32>,
    pub offset: f32,
    /// Anchors are unit-sized (the model regresses absolute sizes).
    pub fixed_size: bool,
    /// Anchors per cell and layer: one aspect ratio 1.0 plus the interpolated one.
    pub interpolated_aspect: f32,
}

/// Everything needed to turn a model's raw outputs into detections.
#[derive(Debug, Clone, PartialEq)]
pub struct SsdModel {
    pub anchors: AnchorSpec,
    /// Values per anchor in the regressor output: 4 box values + 2 per keypoint.
    pub coords: usize,
    pub keypoints: usize,
    /// Box values are in input pixels: divide by these.
    pub scale: f32,
    /// Scores are clipped to ±this before the sigmoid.
    pub score_clip: f32,
    pub min_suppression_iou: f32,
}

impl SsdModel {
    /// MediaPipe face_detection_short_range.tflite: 128×128, 896 anchors, 6 keypoints.
    pub fn blazeface_short() -> Self {
        Self {
            anchors: AnchorSpec {
                input_width: 128,
                input_height: 128,
                min_scale: 0.148_437_5,
                max_scale: 0.75,
                strides: vec![8, 16, 16, 16],
                offset: 0.5,
                fixed_size: true,
                interpolated_aspect: 1.0,
            },
            coords: 16,
            keypoints: 6,
            scale: 128.0,
            score_clip: 100.0,
            min_suppression_iou: 0.3,
        }
    }

    /// MediaPipe face_detection_full_range.tflite: 192×192, 2304 anchors.
    pub fn blazeface_full() -> Self {
        Self {
            anchors: AnchorSpec {
                input_width: 192,
                input_height: 192,
                min_scale: 0.148_437_5,
                max_scale: 0.75,
                strides: vec![4],
                offset: 0.5,
                fixed_size: true,
                interpolated_aspect: 0.0,
            },
            scale: 192.0,
            ..Self::blazeface_short()
        }
    }

    /// MediaPipe pose_detection.tflite (BlazePose person detector): 224×224, 2254 anchors.
    pub fn blazepose() -> Self {
        Self {
            anchors: AnchorSpec {
                input_width: 224,
                input_height: 224,
                min_scale: 0.148_437_5,
                max_scale: 0.75,
                strides: vec![8, 16, 32, 32, 32],
                offset: 0.5,
                fixed_size: true,
                interpolated_aspect: 1.0,
            },
            coords: 12,
            keypoints: 4,
            scale: 224.0,
            score_clip: 100.0,
            min_suppression_iou: 0.3,
        }
    }
}

fn layer_scale(min: f32, max: f32, index: usize, count: usize) -> f32 {
    if count == 1 {
        (min + max) / 2.0
    } else {
        min + (max - min) * index as f32 / (count - 1) as f32
    }
}

/// Generates the anchors, in the order the model's outputs use.
pub fn anchors(s: &AnchorSpec) -> Vec<Anchor> {
    let n = s.strides.len();
    let mut out = Vec::new();
    let mut layer = 0;
    while layer < n {
        let mut sizes: Vec<(f32, f32)> = Vec::new(); // (w, h)
        let mut last = layer;
        while last < n && s.strides[last] == s.strides[layer] {
            let scale = layer_scale(s.min_scale, s.max_scale, last, n);
            sizes.push((scale, scale)); // aspect ratio 1.0
            if s.interpolated_aspect > 0.0 {
                let next = if last == n - 1 {
                    1.0
                } else {
                    layer_scale(s.min_scale, s.max_scale, last + 1, n)
                };
                let sc = (scale * next).sqrt();
                let r = s.interpolated_aspect.sqrt();
                sizes.push((sc * r, sc / r));
            }
            last += 1;
        }
        let stride = s.strides[layer];
        let fw = s.input_width.div_ceil(stride);
        let fh = s.input_height.div_ceil(stride);
        for y in 0..fh {
            for x in 0..fw {
                for &(w, h) in &sizes {
                    out.push(Anchor {
                        x: (x as f32 + s.offset) / fw as f32,
                        y: (y as f32 + s.offset) / fh as f32,
                        w: if s.fixed_size { 1.0 } else { w },
                        h: if s.fixed_size { 1.0 } else { h },
                    });
                }
            }
        }
        layer = last;
    }
    out
}

/// A detection in normalised coordinates ([0, 1] of the model input).
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    pub score: f32,
    pub xmin: f32,
    pub ymin: f32,
    pub xmax: f32,
    pub ymax: f32,
    /// Keypoints (x, y), normalised.
    pub keypoints: Vec<(f32, f32)>,
}

impl Detection {
    pub fn area(&self) -> f32 {
        (self.xmax - self.xmin).max(0.0) * (self.ymax - self.ymin).max(0.0)
    }

    pub fn iou(&self, o: &Detection) -> f32 {
        let w = (self.xmax.min(o.xmax) - self.xmin.max(o.xmin)).max(0.0);
        let h = (self.ymax.min(o.ymax) - self.ymin.max(o.ymin)).max(0.0);
        let inter = w * h;
        let union = self.area() + o.area() - inter;
        if union <= 0.0 { 0.0 } else { inter / union }
    }
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Decodes raw outputs (`regressors`: anchors × coords, `scores`: anchors) into detections
/// above `min_score`, before suppression.
pub fn decode(
    m: &SsdModel,
    anchors: &[Anchor],
    regressors: &[f32],
    scores: &[f32],
    min_score: f32,
) -> Result<Vec<Detection>, String> {
    if scores.len() != anchors.len() || regressors.len() != anchors.len() * m.coords {
        return Err(format!(
            "output sizes {} and {} do not match {} anchors × {} values",
            regressors.len(),
            scores.len(),
            anchors.len(),
            m.coords
        ));
    }
    let mut out = Vec::new();
    for (i, a) in anchors.iter().enumerate() {
        let score = sigmoid(scores[i].clamp(-m.score_clip, m.score_clip));
        if score < min_score || !score.is_finite() {
            continue;
        }
        let r = &regressors[i * m.coords..(i + 1) * m.coords];
        let cx = r[0] / m.scale * a.w + a.x;
        let cy = r[1] / m.scale * a.h + a.y;
        let w = r[2] / m.scale * a.w;
        let h = r[3] / m.scale * a.h;
        let keypoints = (0..m.keypoints)
            .map(|k| {
                (
                    r[4 + 2 * k] / m.scale * a.w + a.x,
                    r[5 + 2 * k] / m.scale * a.h + a.y,
                )
            })
            .collect();
        out.push(Detection {
            score,
            xmin: cx - w / 2.0,
            ymin: cy - h / 2.0,
            xmax: cx + w / 2.0,
            ymax: cy + h / 2.0,
            keypoints,
        });
    }
    Ok(out)
}

/// Weighted non-maximum suppression: overlapping detections (IoU above `iou`) are merged into
/// one whose box and keypoints are the score-weighted mean, with the best score.
pub fn weighted_nms(mut dets: Vec<Detection>, iou: f32) -> Vec<Detection> {
    dets.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut out = Vec::new();
    while !dets.is_empty() {
        let best = dets.remove(0);
        let (mut group, rest): (Vec<Detection>, Vec<Detection>) =
            dets.into_iter().partition(|d| best.iou(d) > iou);
        dets = rest;
        group.insert(0, best);
        let total: f32 = group.iter().map(|d| d.score).sum();
        let wavg = |f: &dyn Fn(&Detection) -> f32| {
            if total > 0.0 {
                group.iter().map(|d| f(d) * d.score).sum::<f32>() / total
            } else {
                f(&group[0])
            }
        };
        let keypoints = (0..group[0].keypoints.len())
            .map(|k| (wavg(&|d| d.keypoints[k].0), wavg(&|d| d.keypoints[k].1)))
            .collect();
        out.push(Detection {
            score: group[0].score,
            xmin: wavg(&|d| d.xmin),
            ymin: wavg(&|d| d.ymin),
            xmax: wavg(&|d| d.xmax),
            ymax: wavg(&|d| d.ymax),
            keypoints,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchor_counts_match_the_models() {
        assert_eq!(anchors(&SsdModel::blazeface_short().anchors).len(), 896);
        assert_eq!(anchors(&SsdModel::blazeface_full().anchors).len(), 2304);
        assert_eq!(anchors(&SsdModel::blazepose().anchors).len(), 2254);
        let a = anchors(&SsdModel::blazeface_short().anchors);
        // First layer: 16×16 grid, 2 anchors per cell, centres at (x+0.5)/16.
        assert_eq!(
            a[0],
            Anchor {
                x: 0.5 / 16.0,
                y: 0.5 / 16.0,
                w: 1.0,
                h: 1.0
            }
        );
        assert_eq!(a[1], a[0]);
        assert_eq!(a[2].x, 1.5 / 16.0);
        // Second block: 8×8 grid, 6 anchors per cell.
        assert_eq!(
            a[512],
            Anchor {
                x: 0.5 / 8.0,
                y: 0.5 / 8.0,
                w: 1.0,
                h: 1.0
            }
        );
        assert_eq!(a[512 + 6].x, 1.5 / 8.0);
    }

    #[test]
    fn decodes_relative_to_the_anchor() {
        let m = SsdModel::blazeface_short();
        let a = anchors(&m.anchors);
        let mut reg = vec![0f32; a.len() * 16];
        let mut scores = vec![-10f32; a.len()];
        // Anchor 0 at (1/32, 1/32): shift by 12.8 px (0.1), 32×64 px box.
        reg[0] = 12.8;
        reg[1] = 0.0;
        reg[2] = 32.0;
        reg[3] = 64.0;
        scores[0] = 2.0;
        let d = decode(&m, &a, &reg, &scores, 0.5).unwrap();
        assert_eq!(d.len(), 1);
        let d = &d[0];
        assert!((d.score - 0.880_797).abs() < 1e-5);
        let cx = 1.0 / 32.0 + 0.1;
        assert!((d.xmin - (cx - 0.125)).abs() < 1e-6 && (d.xmax - (cx + 0.125)).abs() < 1e-6);
        assert!((d.ymax - d.ymin - 0.5).abs() < 1e-6);
        assert_eq!(d.keypoints.len(), 6);
        assert!(decode(&m, &a, &reg[1..], &scores, 0.5).is_err());
    }

    #[test]
    fn weighted_nms_merges_overlaps_and_keeps_separate_objects() {
        let d = |s: f32, x: f32| Detection {
            score: s,
            xmin: x,
            ymin: 0.0,
            xmax: x + 0.2,
            ymax: 0.2,
            keypoints: vec![(x, 0.0)],
        };
        let out = weighted_nms(vec![d(0.6, 0.02), d(0.9, 0.0), d(0.8, 0.5)], 0.3);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].score, 0.9);
        let expect = (0.9 * 0.0 + 0.6 * 0.02) / 1.5;
        assert!((out[0].xmin - expect).abs() < 1e-6);
        assert!((out[0].keypoints[0].0 - expect).abs() < 1e-6);
        assert_eq!(out[1].score, 0.8);
        assert!(weighted_nms(Vec::new(), 0.3).is_empty());
    }
}
