//! Inference figures (not a timed test): the BlazeFace model through LiteRT on the astronaut
//! photo, with 1 and 2 XNNPACK threads; prints p50/p99 per inference and the decode cost.
//!
//! `cargo bench --bench detect [-- --count N]` (assets: scripts/fetch-detect-assets)

use pinhole::detect::image::{Normalize, letterbox_rgb, normalize};
use pinhole::detect::litert::{LiteRt, find_library};
use pinhole::detect::runtime::{Backend, InputData};
use pinhole::detect::ssd::{self, SsdModel};
use std::time::{Duration, Instant};

fn pct(v: &mut [Duration], p: f64) -> f64 {
    v.sort();
    v[((v.len() as f64 * p) as usize).min(v.len() - 1)].as_secs_f64() * 1e3
}

fn main() {
    let count: usize = std::env::args()
        .skip_while(|a| a != "--count")
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let assets = std::env::var_os("PINHOLE_ASSETS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(std::env::var_os("HOME").expect("HOME"))
                .join(".cache/pinhole-assets")
        });
    let pic = image::open(assets.join("images/astronaut.png"))
        .expect("astronaut.png")
        .to_rgb8();
    let (w, h) = pic.dimensions();
    let rt = LiteRt::load(&find_library(None).expect("library")).expect("LiteRT");
    let model = SsdModel::blazeface_short();
    let anchors = ssd::anchors(&model.anchors);
    println!("BlazeFace short range (128×128), {count} inferences per row, 2-core shared machine");
    for threads in [1, 2] {
        let mut m = rt
            .load_model(
                &assets.join("models/face_detection_short_range.tflite"),
                threads,
            )
            .expect("model");
        let mut pre = Vec::with_capacity(count);
        let mut inf = Vec::with_capacity(count);
        let mut dec = Vec::with_capacity(count);
        for _ in 0..20 {
            let (rgb, _) = letterbox_rgb(pic.as_raw(), w, h, 128, 128);
            let _ = m.run(InputData::F32(&normalize(&rgb, Normalize::MinusOneToOne)));
        }
        for _ in 0..count {
            let t = Instant::now();
            let (rgb, _) = letterbox_rgb(pic.as_raw(), w, h, 128, 128);
            let input = normalize(&rgb, Normalize::MinusOneToOne);
            pre.push(t.elapsed());
            let t = Instant::now();
            let outs = m.run(InputData::F32(&input)).expect("run");
            inf.push(t.elapsed());
            let t = Instant::now();
            let d =
                ssd::decode(&model, &anchors, &outs[0].data, &outs[1].data, 0.5).expect("decode");
            let _ = ssd::weighted_nms(d, 0.3);
            dec.push(t.elapsed());
        }
        println!(
            "  {threads} thread(s): inference p50 {:.3} ms p99 {:.3} ms; resize 512→128 p50 {:.3} ms; decode+NMS p50 {:.3} ms",
            pct(&mut inf, 0.5),
            pct(&mut inf, 0.99),
            pct(&mut pre, 0.5),
            pct(&mut dec, 0.5)
        );
    }
}
