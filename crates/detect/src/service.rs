//! The detection service: per camera, reads the media engine's detector tap (packed RGB at low
//! rate), gates frames by motion, runs the model on a bounded worker pool (a frame arriving while
//! every worker is busy is dropped: the newest frame wins, capture never waits), tracks objects
//! into events (one per appearance), stores them with a snapshot with boxes drawn, and publishes
//! `detection.start` / `detection.update` / `detection.end`. Motion is an event kind too
//! (label `motion`).
//!
//! Cameras whose recording mode is `events` record while an object or motion is tracked, plus
//! `post_roll_secs`; the clip starts with the camera's GOP before the trigger (pre-roll of up to
//! one keyframe interval, kept by the media hub).
//!
//! The motion gate lets a frame through when something moves, every `keepalive_secs`, and
//! always while an object is tracked.
//!
//! A library or model that cannot be loaded disables detection with the error in the status
//! (`get_detection_status`) and the log, naming the file; the rest of the appliance runs on.

use super::litert::{LiteRt, find_library};
use super::model::{Detector, Found, Kind};
use super::motion::{MotionGate, MotionSettings};
use super::tracker::{Change, Tracker};
use pinhole_base::clock::SharedClock;
use pinhole_base::config::Detection as DetectionConfig;
use pinhole_base::events::EventBus;
use pinhole_db::{Store, events, snapshots};
use pinhole_media::MediaEngine;
use serde::Serialize;
use serde_json::json;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Per-camera figures for the API and metrics.
#[derive(Debug, Default, Serialize)]
pub struct CameraStats {
    pub frames: AtomicU64,
    pub gated: AtomicU64,
    pub dropped: AtomicU64,
    pub inferences: AtomicU64,
    /// Sum of inference times in microseconds.
    pub inference_us: AtomicU64,
    /// The model this camera runs, and why it runs none when it cannot load one.
    pub model: Mutex<Option<String>>,
    pub error: Mutex<Option<String>>,
}

fn read<T: Clone>(m: &Mutex<T>) -> T {
    m.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

fn write<T>(m: &Mutex<T>, v: T) {
    *m.lock().unwrap_or_else(|p| p.into_inner()) = v;
}

#[derive(Debug, Default)]
pub struct DetectionStatus {
    pub enabled: bool,
    pub error: Option<String>,
    pub model: Option<String>,
    pub library: Option<String>,
    /// Where per-camera models are looked up.
    pub models_dir: Option<PathBuf>,
    pub cameras: Mutex<HashMap<String, Arc<CameraStats>>>,
}

/// The `.tflite` files a camera may name as its model.
fn list_models(dir: &std::path::Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.ends_with(".tflite") && pinhole_media::valid_file_name(n))
        .collect();
    out.sort();
    out
}

/// What a camera runs: the model file, its labels and kind.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ModelChoice {
    model: PathBuf,
    labels: Option<PathBuf>,
    kind: Option<Kind>,
}

impl ModelChoice {
    /// The camera's own model when it names one (a file in `models_dir`), else the default.
    fn for_camera(
        cfg: &DetectionConfig,
        cd: &super::motion::CameraDetection,
    ) -> Result<Self, String> {
        let Some(name) = &cd.model else {
            let model = cfg.model.clone().ok_or("detection.model is not set")?;
            return Ok(Self {
                model,
                labels: cfg.labels.clone(),
                kind: cfg.kind,
            });
        };
        let dir = cfg
            .models_dir
            .as_deref()
            .ok_or("detection.models_dir is not set")?;
        let in_dir = |n: &String| -> Result<PathBuf, String> {
            if pinhole_media::valid_file_name(n) {
                Ok(dir.join(n))
            } else {
                Err(format!("`{n}` is not a file name"))
            }
        };
        Ok(Self {
            model: in_dir(name)?,
            labels: cd.model_labels.as_ref().map(in_dir).transpose()?,
            kind: cd.model_kind,
        })
    }
}

impl DetectionStatus {
    pub fn json(&self) -> serde_json::Value {
        let cams = self.cameras.lock().unwrap_or_else(|p| p.into_inner());
        let per: serde_json::Map<String, serde_json::Value> = cams
            .iter()
            .map(|(id, s)| {
                let n = s.inferences.load(Ordering::Relaxed);
                let us = s.inference_us.load(Ordering::Relaxed);
                (
                    id.clone(),
                    json!({
                        "frames": s.frames.load(Ordering::Relaxed),
                        "gated_out": s.gated.load(Ordering::Relaxed),
                        "dropped_busy": s.dropped.load(Ordering::Relaxed),
                        "inferences": n,
                        "mean_inference_ms": if n > 0 { us as f64 / n as f64 / 1000.0 } else { 0.0 },
                        "model": read(&s.model),
                        "error": read(&s.error),
                    }),
                )
            })
            .collect();
        json!({
            "enabled": self.enabled,
            "error": self.error,
            "model": self.model,
            "library": self.library,
            "models_dir": self.models_dir,
            "models": self.models_dir.as_deref().map(list_models).unwrap_or_default(),
            "cameras": per,
        })
    }
}

/// Everything a camera loop needs.
struct Ctx {
    cfg: DetectionConfig,
    engine: Arc<MediaEngine>,
    store: Store,
    events: EventBus,
    clock: SharedClock,
    snapshots_dir: PathBuf,
    workers: Arc<tokio::sync::Semaphore>,
    /// Loaded models, shared by every camera that runs them: one interpreter per worker, not
    /// per camera (each costs several MB of tensors and XNNPACK workspace).
    models: Mutex<HashMap<ModelChoice, DetectorPool>>,
}

/// `detection.workers` interpreters of one model; an inference takes any free one.
type DetectorPool = Arc<Vec<Mutex<Detector>>>;

impl Ctx {
    /// The pool for `choice`, loading it (on the blocking pool) the first time.
    async fn pool(&self, choice: &ModelChoice) -> Result<DetectorPool, String> {
        if let Some(p) = self
            .models
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(choice)
        {
            return Ok(p.clone());
        }
        let (cfg, c) = (self.cfg.clone(), choice.clone());
        let pool: DetectorPool = tokio::task::spawn_blocking(move || {
            (0..cfg.workers.max(1))
                .map(|_| load_detector(&cfg, &c).map(|(d, _)| Mutex::new(d)))
                .collect::<Result<Vec<_>, String>>()
        })
        .await
        .map_err(|e| e.to_string())??
        .into();
        self.models
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(choice.clone(), pool.clone());
        Ok(pool)
    }

    /// Drops models no camera runs any more.
    fn prune_models(&self) {
        self.models
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, p| Arc::strong_count(p) > 1);
    }
}

/// Runs `f` on a free interpreter of the pool (waiting for one only if all are busy, which the
/// worker semaphore makes rare).
fn with_detector<T>(pool: &DetectorPool, f: impl FnOnce(&mut Detector) -> T) -> T {
    for m in pool.iter() {
        if let Ok(mut d) = m.try_lock() {
            return f(&mut d);
        }
    }
    let mut d = pool[0].lock().unwrap_or_else(|p| p.into_inner());
    f(&mut d)
}

/// Loads the runtime and model once to check them; returns the status (with the error if any).
pub async fn start(
    cfg: DetectionConfig,
    engine: Arc<MediaEngine>,
    store: Store,
    events: EventBus,
    clock: SharedClock,
    snapshots_dir: PathBuf,
    shutdown: CancellationToken,
) -> Arc<DetectionStatus> {
    let mut status = DetectionStatus {
        enabled: cfg.enabled,
        model: cfg.model.as_ref().map(|p| p.display().to_string()),
        models_dir: cfg.models_dir.clone(),
        ..Default::default()
    };
    if !cfg.enabled {
        return Arc::new(status);
    }
    let probe = {
        let cfg = cfg.clone();
        tokio::task::spawn_blocking(move || {
            let choice = ModelChoice::for_camera(&cfg, &Default::default())?;
            load_detector(&cfg, &choice).map(|(_, lib)| lib)
        })
        .await
    };
    match probe {
        Ok(Ok(lib)) => status.library = Some(lib),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "detection disabled");
            status.error = Some(e);
            status.enabled = false;
            return Arc::new(status);
        }
        Err(e) => {
            status.error = Some(e.to_string());
            status.enabled = false;
            return Arc::new(status);
        }
    }
    let _ = store.call(|c| events::close_dangling(c)).await;
    let status = Arc::new(status);
    let ctx = Arc::new(Ctx {
        workers: Arc::new(tokio::sync::Semaphore::new(cfg.workers.max(1))),
        models: Mutex::default(),
        cfg,
        engine: engine.clone(),
        store,
        events,
        clock,
        snapshots_dir,
    });
    let st = status.clone();
    tokio::spawn(async move {
        // Follow the camera list: one loop per camera.
        let mut running: HashMap<String, CancellationToken> = HashMap::new();
        let mut tick = tokio::time::interval(Duration::from_secs(2));
        let mut last_prune: Option<Instant> = None;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tick.tick() => {}
            }
            let days = ctx.cfg.event_retention_days;
            if days > 0 && last_prune.is_none_or(|t| t.elapsed() > Duration::from_secs(3600)) {
                last_prune = Some(Instant::now());
                let before = ctx.clock.now_ms() - i64::from(days) * 86_400_000;
                match ctx.store.call(move |c| events::prune(c, before)).await {
                    Ok(n) if n > 0 => tracing::info!(removed = n, "pruned old events"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "cannot prune events"),
                }
            }
            let cams = engine.cameras();
            running.retain(|id, stop| {
                let keep = cams.iter().any(|c| &c.id == id);
                if !keep {
                    stop.cancel();
                }
                keep
            });
            for cam in cams {
                if running.contains_key(&cam.id)
                    || (!ctx.cfg.cameras.is_empty() && !ctx.cfg.cameras.contains(&cam.id))
                {
                    continue;
                }
                let stop = shutdown.child_token();
                running.insert(cam.id.clone(), stop.clone());
                let stats = Arc::new(CameraStats::default());
                st.cameras
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(cam.id.clone(), stats.clone());
                tokio::spawn(camera_loop(ctx.clone(), cam, stats, stop));
            }
        }
    });
    status
}

/// Loads the library and the model; returns the detector and the library path.
fn load_detector(
    cfg: &DetectionConfig,
    choice: &ModelChoice,
) -> Result<(Detector, String), String> {
    let model = choice.model.clone();
    let lib = find_library(cfg.library.as_deref()).map_err(|e| e.to_string())?;
    let rt = LiteRt::load(&lib).map_err(|e| e.to_string())?;
    let labels = match &choice.labels {
        Some(p) => Some(super::coco::parse_labels(
            &std::fs::read_to_string(p)
                .map_err(|e| format!("cannot read labels {}: {e}", p.display()))?,
        )),
        None => None,
    };
    let backend = rt
        .load_model(&model, cfg.threads)
        .map_err(|e| e.to_string())?;
    let kind = choice.kind;
    let d = Detector::new(
        Box::new(backend),
        &model.display().to_string(),
        kind,
        labels,
        cfg.threshold,
    )
    .map_err(|e| e.to_string())?;
    Ok((d, lib.display().to_string()))
}

/// Open events by track id: (event row id, label).
type OpenEvents = HashMap<u64, i64>;

async fn camera_loop(
    ctx: Arc<Ctx>,
    cam: Arc<pinhole_media::camera::CameraHandle>,
    stats: Arc<CameraStats>,
    stop: CancellationToken,
) {
    // The model is (re)loaded when the camera's choice changes; one that cannot be loaded
    // leaves this camera without object detection (motion events go on) until it changes.
    let mut loaded: Option<(ModelChoice, DetectorPool)> = None;
    let mut failed: Option<ModelChoice> = None;
    let mut gate_settings = MotionSettings {
        sensitivity: ctx.cfg.motion_sensitivity,
        ..Default::default()
    };
    let mut gate = MotionGate::new(gate_settings.clone());
    let end_ms = i64::from(ctx.cfg.event_end_secs) * 1000;
    let mut objects = Tracker::new(0.3, end_ms);
    let mut motion = Tracker::new(0.0, end_ms);
    let mut open: OpenEvents = HashMap::new();
    let mut open_motion: OpenEvents = HashMap::new();
    let min_gap = Duration::from_secs_f32(1.0 / ctx.cfg.fps.max(0.01));
    let keepalive = Duration::from_secs(ctx.cfg.keepalive_secs.into());
    let mut last_infer: Option<Instant> = None;
    let mut last_frame: Option<Instant> = None;
    let (_demand, mut rx) = cam.detect.watch();
    let mut expire = tokio::time::interval(Duration::from_secs(1));
    loop {
        let frame = tokio::select! {
            _ = stop.cancelled() => break,
            _ = expire.tick() => {
                let now = ctx.clock.now_ms();
                let ch = objects.expire(now);
                apply(&ctx, &cam.id, "object", ch, &mut open, None).await;
                let ch = motion.expire(now);
                apply(&ctx, &cam.id, "motion", ch, &mut open_motion, None).await;
                continue;
            }
            r = rx.changed() => {
                if r.is_err() { break; }
                match rx.borrow_and_update().clone() { Some(f) => f, None => continue }
            }
        };
        stats.frames.fetch_add(1, Ordering::Relaxed);
        if last_frame.is_some_and(|t| t.elapsed() < min_gap) {
            continue;
        }
        // The camera's own settings, re-read on every frame: API changes apply at once.
        let cd = cam.definition().detection.unwrap_or_default();
        if cd.enabled == Some(false) {
            continue;
        }
        let wanted_gate = MotionSettings {
            sensitivity: cd.sensitivity.unwrap_or(ctx.cfg.motion_sensitivity),
            masks: cd.masks.clone(),
            ..Default::default()
        };
        if wanted_gate != gate_settings {
            gate = MotionGate::new(wanted_gate.clone());
            gate_settings = wanted_gate;
        }
        last_frame = Some(Instant::now());
        let now = ctx.clock.now_ms();
        let m = gate.feed(&frame.data, frame.width, frame.height);
        let motion_dets: Vec<(String, f32, [f32; 4])> = match (m.motion, m.region) {
            (true, Some(r)) => vec![("motion".into(), m.changed, r)],
            _ => Vec::new(),
        };
        let ch = motion.update(now, &motion_dets);
        apply(&ctx, &cam.id, "motion", ch, &mut open_motion, None).await;
        // Cameras in `events` recording mode record while something is tracked, plus post-roll.
        if !objects.live().is_empty() || !motion.live().is_empty() {
            let until = now + i64::from(ctx.cfg.post_roll_secs) * 1000;
            ctx.engine.trigger_event_recording(&cam.id, until).await;
        }
        let due = last_infer.is_none_or(|t| t.elapsed() >= keepalive);
        // While an object is being tracked the model keeps running (at `fps`): a still object
        // must not end its event just because nothing moves.
        if ctx.cfg.motion_gate && !m.motion && !due && objects.live().is_empty() {
            stats.gated.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let choice = match ModelChoice::for_camera(&ctx.cfg, &cd) {
            Ok(c) => c,
            Err(e) => {
                write(&stats.error, Some(e));
                continue;
            }
        };
        if loaded.as_ref().is_none_or(|(c, _)| *c != choice) {
            if failed.as_ref() == Some(&choice) {
                continue;
            }
            loaded = None;
            ctx.prune_models();
            match ctx.pool(&choice).await {
                Ok(pool) => {
                    tracing::info!(camera = %cam.id, model = %choice.model.display(), "detection model loaded");
                    write(&stats.model, Some(choice.model.display().to_string()));
                    write(&stats.error, None);
                    loaded = Some((choice, pool));
                    failed = None;
                }
                Err(e) => {
                    tracing::error!(camera = %cam.id, error = %e, "object detection off for this camera");
                    write(&stats.model, None);
                    write(&stats.error, Some(e));
                    failed = Some(choice);
                    continue;
                }
            }
        }
        let Some((_, detector)) = &loaded else {
            continue;
        };
        let Ok(permit) = ctx.workers.clone().try_acquire_owned() else {
            stats.dropped.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        last_infer = Some(Instant::now());
        let det = detector.clone();
        let f2 = frame.clone();
        let started = Instant::now();
        let threshold = cd.threshold.unwrap_or(ctx.cfg.threshold);
        let found = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            with_detector(&det, |d| {
                d.threshold = threshold;
                d.detect(&f2.data, f2.width, f2.height)
                    .map_err(|e| e.to_string())
            })
        })
        .await;
        stats.inferences.fetch_add(1, Ordering::Relaxed);
        stats
            .inference_us
            .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        let found: Vec<Found> = match found {
            Ok(Ok(f)) => f,
            Ok(Err(e)) => {
                tracing::warn!(camera = %cam.id, error = %e, "inference failed");
                continue;
            }
            Err(_) => continue,
        };
        let (w, h) = (frame.width.max(1) as f32, frame.height.max(1) as f32);
        let labels = if cd.labels.is_empty() {
            &ctx.cfg.label_filter
        } else {
            &cd.labels
        };
        let dets: Vec<(String, f32, [f32; 4])> = found
            .into_iter()
            .filter(|f| labels.is_empty() || labels.contains(&f.label))
            .map(|f| {
                (
                    f.label,
                    f.score,
                    [f.bbox[0] / w, f.bbox[1] / h, f.bbox[2] / w, f.bbox[3] / h],
                )
            })
            .filter(|(_, _, b)| cd.in_zone(b))
            .collect();
        let ch = objects.update(now, &dets);
        apply(&ctx, &cam.id, "object", ch, &mut open, Some(&frame)).await;
    }
    let ch = objects.end_all();
    apply(&ctx, &cam.id, "object", ch, &mut open, None).await;
    let ch = motion.end_all();
    apply(&ctx, &cam.id, "motion", ch, &mut open_motion, None).await;
}

/// Stores and publishes tracker changes.
async fn apply(
    ctx: &Ctx,
    camera: &str,
    kind: &'static str,
    changes: Vec<Change>,
    open: &mut OpenEvents,
    frame: Option<&pinhole_media::preview::JpegFrame>,
) {
    for c in changes {
        let now = ctx.clock.now_ms();
        match c {
            Change::Started(t) => {
                let (cam, label, score, bbox, start) = (
                    camera.to_string(),
                    t.label.clone(),
                    t.best_score,
                    t.bbox,
                    t.start_ms,
                );
                let id = match ctx
                    .store
                    .call(move |c| events::insert(c, &cam, kind, &label, score, bbox, start))
                    .await
                {
                    Ok(id) => id,
                    Err(e) => {
                        tracing::error!(error = %e, "cannot store an event");
                        continue;
                    }
                };
                open.insert(t.id, id);
                let mut snapshot = None;
                if let Some(f) = frame {
                    snapshot = save_snapshot(ctx, camera, id, f, &t.bbox).await;
                }
                ctx.events.publish(
                    "detection.start",
                    json!({"device": camera, "event_id": id, "kind": kind, "label": t.label, "score": t.best_score, "box": t.bbox, "snapshot": snapshot}),
                    now,
                );
            }
            Change::Improved(t) => {
                let Some(&id) = open.get(&t.id) else { continue };
                let (score, bbox) = (t.best_score, t.best_bbox);
                let _ = ctx
                    .store
                    .call(move |c| events::improve(c, id, score, bbox))
                    .await;
                ctx.events.publish(
                    "detection.update",
                    json!({"device": camera, "event_id": id, "kind": kind, "label": t.label, "score": t.best_score, "box": t.best_bbox}),
                    now,
                );
            }
            Change::Ended(t) => {
                let Some(id) = open.remove(&t.id) else {
                    continue;
                };
                let end = t.last_ms;
                let _ = ctx.store.call(move |c| events::finish(c, id, end)).await;
                ctx.events.publish(
                    "detection.end",
                    json!({"device": camera, "event_id": id, "kind": kind, "label": t.label, "score": t.best_score, "start_ms": t.start_ms, "end_ms": t.last_ms}),
                    now,
                );
            }
        }
    }
}

/// Draws a box outline on packed RGB.
pub fn draw_box(rgb: &mut [u8], w: u32, h: u32, bbox: &[f32; 4], color: [u8; 3]) {
    let (w, h) = (w as i64, h as i64);
    let x0 = ((bbox[0] * w as f32) as i64).clamp(0, w - 1);
    let y0 = ((bbox[1] * h as f32) as i64).clamp(0, h - 1);
    let x1 = (((bbox[0] + bbox[2]) * w as f32) as i64).clamp(0, w - 1);
    let y1 = (((bbox[1] + bbox[3]) * h as f32) as i64).clamp(0, h - 1);
    let mut put = |x: i64, y: i64| {
        let p = ((y * w + x) * 3) as usize;
        if p + 3 <= rgb.len() {
            rgb[p..p + 3].copy_from_slice(&color);
        }
    };
    for t in 0..2 {
        for x in x0..=x1 {
            put(x, (y0 + t).min(h - 1));
            put(x, (y1 - t).max(0));
        }
        for y in y0..=y1 {
            put((x0 + t).min(w - 1), y);
            put((x1 - t).max(0), y);
        }
    }
}

async fn save_snapshot(
    ctx: &Ctx,
    camera: &str,
    event_id: i64,
    f: &pinhole_media::preview::JpegFrame,
    bbox: &[f32; 4],
) -> Option<String> {
    let mut rgb = f.data.to_vec();
    draw_box(&mut rgb, f.width, f.height, bbox, [255, 48, 48]);
    let filename = format!("{camera}_event{event_id}.jpg");
    let dir = ctx.snapshots_dir.join(camera);
    let (w, h, taken) = (f.width, f.height, f.at_ms);
    let store = ctx.store.clone();
    let cam = camera.to_string();
    let name = filename.clone();
    let res = tokio::task::spawn_blocking(move || -> Result<(), String> {
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let mut jpeg = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 85)
            .encode(&rgb, w, h, image::ExtendedColorType::Rgb8)
            .map_err(|e| e.to_string())?;
        std::fs::write(dir.join(&name), &jpeg).map_err(|e| e.to_string())?;
        store
            .call_blocking(|c| {
                snapshots::insert(
                    c,
                    &snapshots::NewSnapshot {
                        camera_id: cam.clone(),
                        filename: name.clone(),
                        taken_ms: taken,
                        size_bytes: jpeg.len() as i64,
                        width: Some(w.into()),
                        height: Some(h.into()),
                        event_id: Some(event_id),
                    },
                )
            })
            .map_err(|e| e.to_string())?;
        Ok(())
    })
    .await;
    match res {
        Ok(Ok(())) => Some(filename),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "cannot store an event snapshot");
            None
        }
        Err(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn box_outline() {
        let mut rgb = vec![0u8; 10 * 10 * 3];
        draw_box(&mut rgb, 10, 10, &[0.2, 0.2, 0.5, 0.5], [255, 0, 0]);
        let px = |x: usize, y: usize| rgb[(y * 10 + x) * 3];
        assert_eq!(px(2, 2), 255);
        assert_eq!(px(5, 5), 0, "inside stays");
        assert_eq!(px(7, 4), 255);
        draw_box(&mut rgb, 10, 10, &[-1.0, -1.0, 5.0, 5.0], [1, 1, 1]);
    }
}
