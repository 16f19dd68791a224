//! Detection settings: the kinds of model, and per-camera zones, masks, thresholds and labels.

use serde::{Deserialize, Serialize};

/// What a model finds, which decides how its output is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// BlazeFace (short or full range).
    Face,
    /// BlazePose person detector.
    Person,
    /// Any model ending in TFLite_Detection_PostProcess, with a labels file.
    Coco,
}

impl ModelKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ModelKind::Face => "face",
            ModelKind::Person => "person",
            ModelKind::Coco => "coco",
        }
    }
}

/// A polygon in normalised picture coordinates (x, y in [0, 1]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Polygon(pub Vec<(f32, f32)>);

impl Polygon {
    /// Even-odd rule.
    pub fn contains(&self, x: f32, y: f32) -> bool {
        let p = &self.0;
        let mut inside = false;
        let mut j = p.len().wrapping_sub(1);
        for i in 0..p.len() {
            let (xi, yi) = p[i];
            let (xj, yj) = p[j];
            if (yi > y) != (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi {
                inside = !inside;
            }
            j = i;
        }
        inside
    }

    pub fn problems(&self) -> Option<String> {
        if self.0.len() < 3 {
            return Some("a polygon needs at least 3 points".into());
        }
        if self
            .0
            .iter()
            .any(|(x, y)| !(0.0..=1.0).contains(x) || !(0.0..=1.0).contains(y))
        {
            return Some("polygon points must be within 0..=1".into());
        }
        None
    }
}

/// Per-camera detection settings (the camera's `detection` field; absent: the `[detection]`
/// defaults).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct CameraDetection {
    /// false turns detection off for this camera.
    pub enabled: Option<bool>,
    /// Minimum score (default `detection.threshold`).
    pub threshold: Option<f32>,
    /// Only these labels make events (empty: `detection.label_filter`).
    pub labels: Vec<String>,
    /// An object counts only when its box centre is inside one of these polygons (empty:
    /// anywhere). Points are normalised [x, y] pairs.
    #[schema(value_type = Vec<Vec<Vec<f32>>>)]
    pub zones: Vec<Polygon>,
    /// Motion in these polygons is ignored.
    #[schema(value_type = Vec<Vec<Vec<f32>>>)]
    pub masks: Vec<Polygon>,
    /// Motion sensitivity 1..=100 (default `detection.motion_sensitivity`).
    pub sensitivity: Option<u8>,
    /// This camera's model: a file name in `detection.models_dir` (default: `detection.model`).
    pub model: Option<String>,
    /// face, person or coco for `model` (default: recognised from the model).
    pub model_kind: Option<ModelKind>,
    /// Labels file for a COCO `model`, a file name in `detection.models_dir`.
    pub model_labels: Option<String>,
}

impl CameraDetection {
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.threshold.is_some_and(|t| !(0.0..=1.0).contains(&t)) {
            out.push("threshold must be within 0..=1".into());
        }
        if self.sensitivity.is_some_and(|s| !(1..=100).contains(&s)) {
            out.push("sensitivity must be within 1..=100".into());
        }
        for (key, name) in [("model", &self.model), ("model_labels", &self.model_labels)] {
            if let Some(n) = name
                && !crate::valid_file_name(n)
            {
                out.push(format!(
                    "{key} must be a file name in detection.models_dir (letters, digits, . _ -)"
                ));
            }
        }
        for p in self.zones.iter().chain(&self.masks) {
            if let Some(e) = p.problems() {
                out.push(e);
            }
        }
        out
    }

    /// Is a box (normalised x, y, w, h) inside the zones?
    pub fn in_zone(&self, b: &[f32; 4]) -> bool {
        self.zones.is_empty()
            || self
                .zones
                .iter()
                .any(|z| z.contains(b[0] + b[2] / 2.0, b[1] + b[3] / 2.0))
    }
}
