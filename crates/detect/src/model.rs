//! A detector: a loaded model plus what turns its outputs into labelled boxes in picture pixels.
//! The model family (face, person, COCO) is given or recognised from the output shapes.

use super::coco;
use super::image::{Letterbox, Normalize, letterbox_rgb, normalize};
use super::runtime::{Backend, ElementType, InputData, RuntimeError};
use super::ssd::{self, Anchor, SsdModel};
use serde::Serialize;

pub use pinhole_base::detection::ModelKind as Kind;

/// One found object, in picture pixels.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Found {
    pub label: String,
    pub score: f32,
    /// [x, y, width, height] in pixels of the picture.
    #[serde(rename = "box")]
    pub bbox: [f32; 4],
}

enum Decoder {
    Ssd {
        model: SsdModel,
        anchors: Vec<Anchor>,
        label: &'static str,
    },
    Coco {
        labels: Vec<String>,
    },
}

pub struct Detector {
    backend: Box<dyn Backend>,
    decoder: Decoder,
    input_w: u32,
    input_h: u32,
    normalize: Normalize,
    pub threshold: f32,
}

impl std::fmt::Debug for Detector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Detector")
            .field("input", &(self.input_w, self.input_h))
            .finish_non_exhaustive()
    }
}

fn shape_err(path: &str, reason: impl Into<String>) -> RuntimeError {
    RuntimeError::Shape {
        path: path.to_string(),
        reason: reason.into(),
    }
}

impl Detector {
    /// Checks the model against its family and prepares the decoder. `kind` `None`: recognise it.
    pub fn new(
        backend: Box<dyn Backend>,
        path: &str,
        kind: Option<Kind>,
        labels: Option<Vec<String>>,
        threshold: f32,
    ) -> Result<Self, RuntimeError> {
        let input = backend
            .inputs()
            .first()
            .cloned()
            .ok_or_else(|| shape_err(path, "no input tensor"))?;
        if input.dims.len() != 4 || input.dims[0] != 1 || input.dims[3] != 3 {
            return Err(shape_err(
                path,
                format!("input {:?} is not [1, H, W, 3]", input.dims),
            ));
        }
        let (ih, iw) = (input.dims[1] as u32, input.dims[2] as u32);
        let outs = backend.outputs();
        let ssd_for = |n: usize, coords: usize| match (n, coords) {
            (896, 16) => Some((SsdModel::blazeface_short(), "face")),
            (2304, 16) => Some((SsdModel::blazeface_full(), "face")),
            (2254, 12) => Some((SsdModel::blazepose(), "person")),
            _ => None,
        };
        let regressor = outs.iter().find(|o| o.dims.len() == 3 && o.dims[2] > 1);
        let recognised = match (outs.len(), regressor) {
            (2, Some(r)) => {
                ssd_for(r.dims[1], r.dims[2]).map(|(m, l)| (kind_from_label(l), Some((m, l))))
            }
            (4, _) => Some((Kind::Coco, None)),
            _ => None,
        };
        let Some((found_kind, ssd)) = recognised else {
            return Err(shape_err(
                path,
                format!(
                    "outputs {:?} match no supported family (BlazeFace, BlazePose, TFLite_Detection_PostProcess)",
                    outs.iter().map(|o| o.dims.clone()).collect::<Vec<_>>()
                ),
            ));
        };
        if let Some(k) = kind
            && k != found_kind
        {
            return Err(shape_err(
                path,
                format!("this is a {found_kind:?} model, not {k:?}"),
            ));
        }
        let decoder = match ssd {
            Some((model, label)) => {
                if model.anchors.input_width != iw || model.anchors.input_height != ih {
                    return Err(shape_err(
                        path,
                        format!("input {iw}×{ih} does not match the {label} anchors"),
                    ));
                }
                let anchors = ssd::anchors(&model.anchors);
                Decoder::Ssd {
                    model,
                    anchors,
                    label,
                }
            }
            None => Decoder::Coco {
                labels: labels.unwrap_or_default(),
            },
        };
        let normalize = match (input.element, &decoder) {
            (ElementType::U8, _) => Normalize::Bytes,
            (_, Decoder::Ssd { .. }) => Normalize::MinusOneToOne,
            // Float COCO models (EfficientDet-Lite float, SSD float) take [-1, 1] too.
            (_, Decoder::Coco { .. }) => Normalize::MinusOneToOne,
        };
        Ok(Self {
            backend,
            decoder,
            input_w: iw,
            input_h: ih,
            normalize,
            threshold,
        })
    }

    pub fn input_size(&self) -> (u32, u32) {
        (self.input_w, self.input_h)
    }

    /// Runs on packed RGB (w × h); boxes in picture pixels, best first.
    pub fn detect(&mut self, rgb: &[u8], w: u32, h: u32) -> Result<Vec<Found>, RuntimeError> {
        let (input, lb) = letterbox_rgb(rgb, w, h, self.input_w, self.input_h);
        let outs = if self.normalize == Normalize::Bytes {
            self.backend.run(InputData::U8(&input))?
        } else {
            let f = normalize(&input, self.normalize);
            self.backend.run(InputData::F32(&f))?
        };
        let to_px = |lb: &Letterbox, d: &ssd::Detection| {
            let (x0, y0) = lb.to_picture(d.xmin, d.ymin);
            let (x1, y1) = lb.to_picture(d.xmax, d.ymax);
            let (x0, y0) = (x0.clamp(0.0, w as f32), y0.clamp(0.0, h as f32));
            let (x1, y1) = (x1.clamp(0.0, w as f32), y1.clamp(0.0, h as f32));
            [x0, y0, (x1 - x0).max(0.0), (y1 - y0).max(0.0)]
        };
        let mut found = match &self.decoder {
            Decoder::Ssd {
                model,
                anchors,
                label,
            } => {
                let (reg, scores) = ssd_outputs(&outs, model.coords).map_err(RuntimeError::Run)?;
                let dets = ssd::decode(model, anchors, reg, scores, self.threshold)
                    .map_err(RuntimeError::Run)?;
                ssd::weighted_nms(dets, model.min_suppression_iou)
                    .iter()
                    .map(|d| Found {
                        label: (*label).to_string(),
                        score: d.score,
                        bbox: to_px(&lb, d),
                    })
                    .collect::<Vec<_>>()
            }
            Decoder::Coco { labels } => coco::decode(&outs, self.threshold)
                .map_err(RuntimeError::Run)?
                .iter()
                .map(|c| Found {
                    label: labels
                        .get(c.class)
                        .filter(|l| !l.is_empty())
                        .cloned()
                        .unwrap_or_else(|| format!("class{}", c.class)),
                    score: c.detection.score,
                    bbox: to_px(&lb, &c.detection),
                })
                .collect(),
        };
        found.sort_by(|a, b| b.score.total_cmp(&a.score));
        Ok(found)
    }
}

fn kind_from_label(l: &str) -> Kind {
    if l == "person" {
        Kind::Person
    } else {
        Kind::Face
    }
}

fn ssd_outputs(outs: &[coco::Output], coords: usize) -> Result<(&[f32], &[f32]), String> {
    let reg = outs
        .iter()
        .find(|o| o.dims.last() == Some(&coords))
        .ok_or("no regressor output")?;
    let sc = outs
        .iter()
        .find(|o| o.dims.last() == Some(&1) && o.dims.len() == 3)
        .ok_or("no score output")?;
    Ok((&reg.data, &sc.data))
}
