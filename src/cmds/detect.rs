//! `pinhole detect --model FILE [--labels FILE] [--kind face|person|coco] IMAGE...`: runs a model
//! on still pictures and prints one JSON object per detection (image, label, score, box in
//! pixels), for users trying a model and for scripts.

use crate::detect::litert::{LiteRt, find_library};
use crate::detect::model::{Detector, Kind};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct DetectArgs {
    /// The .tflite model.
    #[arg(long)]
    pub model: PathBuf,
    /// Labels file (COCO models): one label per line, or `id label`.
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// face, person or coco; recognised from the model's outputs when absent.
    #[arg(long)]
    pub kind: Option<Kind>,
    /// Minimum score.
    #[arg(long, default_value_t = 0.5)]
    pub threshold: f32,
    /// Inference threads.
    #[arg(long, default_value_t = 1)]
    pub threads: u32,
    /// libLiteRt.so; default: $PINHOLE_LITERT_LIB, beside the binary, /usr/lib/pinhole,
    /// ~/.cache/pinhole-assets/<arch>.
    #[arg(long)]
    pub library: Option<PathBuf>,
    /// Pictures (PNG or JPEG).
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
}

pub fn main(a: DetectArgs) -> ExitCode {
    match run(a) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pinhole detect: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(a: DetectArgs) -> anyhow::Result<()> {
    let kind = a.kind;
    let labels = match &a.labels {
        None => None,
        Some(p) => Some(crate::detect::coco::parse_labels(
            &std::fs::read_to_string(p)
                .map_err(|e| anyhow::anyhow!("cannot read labels {}: {e}", p.display()))?,
        )),
    };
    let lib = find_library(a.library.as_deref())?;
    let runtime = LiteRt::load(&lib)?;
    let model_path = a.model.display().to_string();
    let backend = runtime.load_model(&a.model, a.threads)?;
    let mut detector = Detector::new(Box::new(backend), &model_path, kind, labels, a.threshold)?;
    for img in &a.images {
        let pic = image::open(img)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", img.display()))?
            .to_rgb8();
        let (w, h) = pic.dimensions();
        for f in detector.detect(pic.as_raw(), w, h)? {
            let line = serde_json::json!({
                "image": img.display().to_string(),
                "label": f.label,
                "score": (f64::from(f.score) * 10_000.0).round() / 10_000.0,
                "box": f.bbox.iter().map(|v| (f64::from(*v) * 10.0).round() / 10.0).collect::<Vec<_>>(),
            });
            println!("{line}");
        }
    }
    Ok(())
}
