//! Detection figures (not a timed test), each against a baseline measured in the same run:
//!
//! 1. per-inference latency of the face model (BlazeFace short range) and the person model
//!    (BlazePose detector) through Pinhole's LiteRT binding, with 1 and 2 XNNPACK threads, vs the
//!    Python LiteRT runtime (`benches/baseline/litert_infer.py`, same library build) on the exact
//!    same input tensor; both time "input in, invoke, outputs out";
//! 2. frames per second through the whole in-process path (motion gate → letterbox → inference →
//!    decode + NMS → tracker) on a moving picture, vs inference alone;
//! 3. CPU used by detection in the real appliance: 1 and 4 cameras showing the astronaut at
//!    5 fps with face detection at 5 fps per camera, minus the same appliance with detection off.
//!
//! `cargo bench --bench detect [-- --count N --window SECS]` (assets: scripts/fetch-detect-assets;
//! the Python baseline runs when BENCH_BASELINE_PYTHON names a python with ai-edge-litert, which
//! `just bench-detect` sets up).

mod support;
use support::arg;

use pinhole::detect::image::{Normalize, letterbox_rgb, normalize};
use pinhole::detect::litert::{LiteRt, find_library};
use pinhole::detect::model::{Detector, Kind};
use pinhole::detect::motion::{MotionGate, MotionSettings};
use pinhole::detect::runtime::{Backend, InputData};
use pinhole::detect::tracker::Tracker;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn pct(v: &mut [Duration], p: f64) -> f64 {
    v.sort();
    v[((v.len() as f64 * p) as usize).min(v.len() - 1)].as_secs_f64() * 1e3
}

/// Python LiteRT's p50/p99 (ms) for `model` on the tensor in `input`.
fn python_baseline(model: &Path, input: &Path, threads: u32, count: usize) -> Option<(f64, f64)> {
    let python = std::env::var("BENCH_BASELINE_PYTHON").ok()?;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/baseline/litert_infer.py");
    let out = Command::new(python)
        .arg(script)
        .arg(model)
        .arg(input)
        .arg(threads.to_string())
        .arg(count.to_string())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut it = text.split_whitespace().map(|v| v.parse::<f64>().ok());
    Some((it.next()??, it.next()??))
}

fn main() {
    let count: usize = arg("--count", 500);
    let window = Duration::from_secs(arg("--window", 15));
    let assets = std::env::var_os("PINHOLE_ASSETS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/pinhole-assets")
        });
    let photo = assets.join("images/astronaut.png");
    let pic = image::open(&photo).expect("astronaut.png").to_rgb8();
    let (w, h) = pic.dimensions();
    let rt = LiteRt::load(&find_library(None).expect("library")).expect("LiteRT");
    let tmp = tempfile::tempdir().expect("tempdir");
    println!("2-core shared machine; {count} inferences per row; p50 / p99 in ms");
    println!("1. inference: Pinhole (Rust, LiteRT C API) vs Python LiteRT, same input tensor");
    for (name, file, size) in [
        (
            "face (BlazeFace 128)",
            "face_detection_short_range.tflite",
            128,
        ),
        ("person (BlazePose 224)", "pose_detection.tflite", 224),
    ] {
        let path = assets.join("models").join(file);
        let (rgb, _) = letterbox_rgb(pic.as_raw(), w, h, size, size);
        let input = normalize(&rgb, Normalize::MinusOneToOne);
        let input_file = tmp.path().join(format!("{size}.f32"));
        let bytes: Vec<u8> = input.iter().flat_map(|v| v.to_le_bytes()).collect();
        std::fs::write(&input_file, bytes).expect("write input");
        for threads in [1u32, 2] {
            let mut m = rt.load_model(&path, threads).expect("model");
            for _ in 0..20 {
                let _ = m.run(InputData::F32(&input));
            }
            let mut inf = Vec::with_capacity(count);
            for _ in 0..count {
                let t = Instant::now();
                let outs = m.run(InputData::F32(&input)).expect("run");
                inf.push(t.elapsed());
                std::hint::black_box(outs);
            }
            let (p50, p99) = (pct(&mut inf, 0.5), pct(&mut inf, 0.99));
            match python_baseline(&path, &input_file, threads, count) {
                Some((b50, b99)) => println!(
                    "  {name}, {threads} thread(s): Pinhole {p50:.3} / {p99:.3}; Python {b50:.3} / {b99:.3}; ratio at p50 {:.2}×",
                    p50 / b50
                ),
                None => println!(
                    "  {name}, {threads} thread(s): Pinhole {p50:.3} / {p99:.3}; Python baseline not run (BENCH_BASELINE_PYTHON)"
                ),
            }
        }
    }

    println!(
        "2. whole path in-process (gate → letterbox → infer → decode → tracker), face model, 1 thread"
    );
    let model = assets.join("models/face_detection_short_range.tflite");
    let backend = rt.load_model(&model, 1).expect("model");
    let mut det =
        Detector::new(Box::new(backend), "face", Some(Kind::Face), None, 0.6).expect("detector");
    // 640×480 frames with the photo sliding sideways: every frame has motion.
    let (fw, fh) = (640u32, 480u32);
    let frames: Vec<Vec<u8>> = (0..16)
        .map(|i| {
            let mut f = vec![40u8; (fw * fh * 3) as usize];
            let dx = i * 8;
            for y in 0..h.min(fh) {
                for x in 0..w.min(fw - dx) {
                    let p = pic.get_pixel(x, y).0;
                    let o = ((y * fw + x + dx) * 3) as usize;
                    f[o..o + 3].copy_from_slice(&p);
                }
            }
            f
        })
        .collect();
    let mut gate = MotionGate::new(MotionSettings::default());
    let mut tracker = Tracker::new(0.3, 5000);
    let (mut passed, mut events) = (0usize, 0usize);
    let t0 = Instant::now();
    for i in 0..count {
        let f = &frames[i % frames.len()];
        let m = gate.feed(f, fw, fh);
        if !m.motion && i > 0 {
            continue;
        }
        passed += 1;
        let found = det.detect(f, fw, fh).expect("detect");
        let dets: Vec<(String, f32, [f32; 4])> = found
            .into_iter()
            .map(|d| {
                let b = d.bbox;
                (
                    d.label,
                    d.score,
                    [
                        b[0] / fw as f32,
                        b[1] / fh as f32,
                        b[2] / fw as f32,
                        b[3] / fh as f32,
                    ],
                )
            })
            .collect();
        events += tracker.update(i as i64 * 100, &dets).len();
    }
    let path_fps = count as f64 / t0.elapsed().as_secs_f64();
    let mut infer_only = Vec::with_capacity(count);
    for i in 0..count {
        let f = &frames[i % frames.len()];
        let t = Instant::now();
        std::hint::black_box(det.detect(f, fw, fh).expect("detect"));
        infer_only.push(t.elapsed());
    }
    let infer_fps = 1000.0 / pct(&mut infer_only, 0.5);
    println!(
        "  {path_fps:.0} frames/s through the path ({passed} of {count} passed the gate, {events} tracker changes); detect() alone at p50: {infer_fps:.0} frames/s ({:.2}× of the path)",
        infer_fps / path_fps
    );

    println!(
        "3. appliance CPU (share of one core) over {} s, test cameras showing the photo at 5 fps",
        window.as_secs()
    );
    for cams in [1usize, 4] {
        let cameras: String = (0..cams)
            .map(|i| {
                support::camera(
                    &format!("camera{i}"),
                    "test",
                    &photo.display().to_string(),
                    640,
                    480,
                    5,
                    500,
                    "off",
                )
            })
            .collect();
        let detection = format!(
            "[media]\ndetect_fps = 5\n[detection]\nenabled = true\nmodel = \"{}\"\nfps = 5\nthreads = 1\nworkers = 2\n",
            model.display()
        );
        let mut figures = Vec::new();
        for with in [false, true] {
            let cfg = if with {
                format!("{detection}{cameras}")
            } else {
                cameras.clone()
            };
            let (a, _) = support::start(&cfg, support::free_port());
            // Let the cameras start and the first face be tracked.
            std::thread::sleep(Duration::from_secs(6));
            figures.push(support::measure(a.child.id(), window));
        }
        let (off, on) = (figures[0], figures[1]);
        println!(
            "  {cams} camera(s): detection off {:.1} % / {:.0} MB; on {:.1} % / {:.0} MB; detection costs {:.1} % of a core ({:.1} % per camera)",
            off.0,
            off.1,
            on.0,
            on.1,
            on.0 - off.0,
            (on.0 - off.0) / cams as f64
        );
    }
}
