//! `pinhole detect` with the real LiteRT runtime and the real BlazeFace model on a real photo
//! (fetched, hash-pinned, by `scripts/fetch-detect-assets`, which bootstrap runs).

mod common;

use common::{BIN, assets_dir};
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

fn assets() -> PathBuf {
    let dir = assets_dir();
    assert!(
        dir.join("images/astronaut.png").is_file(),
        "detection assets missing in {}: run scripts/fetch-detect-assets",
        dir.display()
    );
    dir
}

fn detect(args: &[&str]) -> (bool, Vec<Value>, String) {
    let out = Command::new(BIN)
        .arg("detect")
        .args(args)
        .output()
        .expect("run pinhole detect");
    let lines = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect();
    (
        out.status.success(),
        lines,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn finds_the_astronauts_face() {
    let a = assets();
    let model = a.join("models/face_detection_short_range.tflite");
    let image = a.join("images/astronaut.png");
    let (ok, found, err) = detect(&["--model", model.to_str().unwrap(), image.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert_eq!(found.len(), 1, "{found:?}");
    let f = &found[0];
    assert_eq!(f["label"], "face");
    let score = f["score"].as_f64().unwrap();
    assert!((0.90..=0.94).contains(&score), "score {score}");
    // Reference (Python runtime): (177, 81)-(272, 175) px of the 512×512 picture.
    let b: Vec<f64> = f["box"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    let (x0, y0, x1, y1) = (b[0], b[1], b[0] + b[2], b[1] + b[3]);
    for (got, want) in [(x0, 177.0), (y0, 81.0), (x1, 272.0), (y1, 175.0)] {
        assert!((got - want).abs() <= 4.0, "box {b:?} vs (177,81)-(272,175)");
    }
    // Two threads give the same answer.
    let (ok, again, _) = detect(&[
        "--threads",
        "2",
        "--model",
        model.to_str().unwrap(),
        image.to_str().unwrap(),
    ]);
    assert!(ok);
    assert_eq!(again, found);
}

#[test]
fn bad_models_and_libraries_are_named_in_the_error() {
    let a = assets();
    let image = a.join("images/astronaut.png");
    let junk = std::env::temp_dir().join(format!("pinhole-junk-{}.tflite", std::process::id()));
    std::fs::write(&junk, b"this is not a flatbuffer at all").unwrap();
    let (ok, _, err) = detect(&["--model", junk.to_str().unwrap(), image.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        err.contains(junk.to_str().unwrap()) && err.contains("not a valid .tflite model"),
        "{err}"
    );
    let _ = std::fs::remove_file(&junk);
    let (ok, _, err) = detect(&["--model", "/no/such/model.tflite", image.to_str().unwrap()]);
    assert!(!ok && err.contains("/no/such/model.tflite"), "{err}");
    let model = a.join("models/face_detection_short_range.tflite");
    let (ok, _, err) = detect(&[
        "--library",
        "/no/libLiteRt.so",
        "--model",
        model.to_str().unwrap(),
        image.to_str().unwrap(),
    ]);
    assert!(
        !ok && err.contains("cannot load the inference library /no/libLiteRt.so"),
        "{err}"
    );
    let (ok, _, err) = detect(&[
        "--kind",
        "coco",
        "--model",
        model.to_str().unwrap(),
        image.to_str().unwrap(),
    ]);
    assert!(!ok && err.contains("not Coco"), "{err}");
}

fn read_f32(path: &std::path::Path) -> Vec<f32> {
    std::fs::read(path)
        .expect("golden file")
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// The Rust binding gives the Python runtime's numbers (tests/golden/blazeface_synthetic.py made
/// the golden files from the same synthetic input), and the decoder turns both into the same
/// detections.
#[test]
fn runtime_matches_the_python_runtime_on_the_same_input() {
    use pinhole::detect::litert::{LiteRt, find_library};
    use pinhole::detect::runtime::{Backend, InputData};
    use pinhole::detect::ssd::{self, SsdModel};
    let a = assets();
    let rt = LiteRt::load(&find_library(None).expect("library")).expect("load");
    let mut m = rt
        .load_model(&a.join("models/face_detection_short_range.tflite"), 1)
        .expect("model");
    let n = 128 * 128 * 3;
    let input: Vec<f32> = (0..n as i64)
        .map(|i| ((i * 7919) % 2001) as f32 / 1000.0 - 1.0)
        .collect();
    let outs = m.run(InputData::F32(&input)).expect("run");
    let golden = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let reg = outs
        .iter()
        .find(|o| o.name == "regressors")
        .expect("regressors");
    let cls = outs
        .iter()
        .find(|o| o.name == "classificators")
        .expect("classificators");
    let (greg, gcls) = (
        read_f32(&golden.join("regressors.f32")),
        read_f32(&golden.join("classificators.f32")),
    );
    let max_diff = |a: &[f32], b: &[f32]| {
        assert_eq!(a.len(), b.len());
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max)
    };
    assert!(
        max_diff(&reg.data, &greg) < 1e-4,
        "regressors differ by {}",
        max_diff(&reg.data, &greg)
    );
    assert!(
        max_diff(&cls.data, &gcls) < 1e-4,
        "classificators differ by {}",
        max_diff(&cls.data, &gcls)
    );
    let model = SsdModel::blazeface_short();
    let anchors = ssd::anchors(&model.anchors);
    let ours = ssd::weighted_nms(
        ssd::decode(&model, &anchors, &reg.data, &cls.data, 0.005).unwrap(),
        0.3,
    );
    let theirs = ssd::weighted_nms(
        ssd::decode(&model, &anchors, &greg, &gcls, 0.005).unwrap(),
        0.3,
    );
    assert!(!ours.is_empty());
    assert_eq!(ours.len(), theirs.len());
    for (x, y) in ours.iter().zip(&theirs) {
        assert!((x.score - y.score).abs() < 1e-5 && (x.xmin - y.xmin).abs() < 1e-4);
    }
}

/// Every SSD-anchor decoder (BlazeFace short and full range, BlazePose) against reference
/// detections made by the Python runtime and an independent decoder
/// (tests/golden/astronaut_reference.py) on the same photo. The inputs differ only by the
/// resize's rounding (Pillow's bilinear vs ours), hence the tolerances.
#[test]
fn decoders_match_the_python_reference_on_the_photo() {
    let a = assets();
    let golden: Value = serde_json::from_str(
        &std::fs::read_to_string(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("tests/golden/astronaut_detections.json"),
        )
        .expect("golden file"),
    )
    .expect("golden JSON");
    let image = a.join("images/astronaut.png");
    for (name, model, kind, label) in [
        (
            "face_short",
            "face_detection_short_range.tflite",
            "face",
            "face",
        ),
        (
            "face_full",
            "face_detection_full_range_sparse.tflite",
            "face",
            "face",
        ),
        ("person", "pose_detection.tflite", "person", "person"),
    ] {
        let model = a.join("models").join(model);
        let (ok, found, err) = detect(&[
            "--model",
            model.to_str().expect("path"),
            "--kind",
            kind,
            "--threshold",
            "0.5",
            image.to_str().expect("path"),
        ]);
        assert!(ok, "{name}: {err}");
        let want = golden[name].as_array().expect("golden list");
        assert!(!want.is_empty(), "{name}: the reference found nothing");
        assert_eq!(found.len(), want.len(), "{name}: {found:?} vs {want:?}");
        for (f, w) in found.iter().zip(want) {
            assert_eq!(f["label"], label);
            let score = f["score"].as_f64().expect("score");
            let ws = w["score"].as_f64().expect("score");
            assert!((score - ws).abs() < 0.02, "{name}: score {score} vs {ws}");
            let b: Vec<f64> = f["box"]
                .as_array()
                .expect("box")
                .iter()
                .map(|v| v.as_f64().unwrap_or(f64::NAN) / 512.0)
                .collect();
            let wb: Vec<f64> = w["box"]
                .as_array()
                .expect("box")
                .iter()
                .map(|v| v.as_f64().unwrap_or(f64::NAN))
                .collect();
            for (got, want) in b.iter().zip(&wb) {
                assert!(
                    (got - want).abs() < 0.01,
                    "{name}: box {b:?} vs reference {wb:?}"
                );
            }
        }
    }
}
