//! The media engine as a library, with real GStreamer pipelines: what the detector (issue 5)
//! and other in-process consumers rely on.

use gst::prelude::*;
use pinhole::clock::{SharedClock, SystemClock};
use pinhole::config::Config;
use pinhole::events::EventBus;
use pinhole::media::MediaEngine;
use pinhole::media::camera::CameraState;
use pinhole::media::retention::RetentionPolicy;
use pinhole::secrets::SecretBox;
use pinhole::store::Store;
use pinhole::store::cameras::{self, CameraInput, CameraOrigin, RecordingMode, SourceKind};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// A running engine with one test camera (320×240 at 10 fps) made from `input`'s settings.
struct Rig {
    _dir: tempfile::TempDir,
    engine: Arc<MediaEngine>,
    shutdown: CancellationToken,
    cam: Arc<pinhole::media::camera::CameraHandle>,
}

async fn rig(tweak: impl FnOnce(&mut Config), input: CameraInput) -> Rig {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("t.db")).expect("store");
    let mut config = Config::default();
    config.general.state_dir = dir.path().to_path_buf();
    config.media.rtsp_listen = "127.0.0.1:0".parse().expect("addr");
    tweak(&mut config);
    let clock: SharedClock = Arc::new(SystemClock);
    let secrets = SecretBox::new(&[7; 32]);
    let shutdown = CancellationToken::new();
    let engine = MediaEngine::start(
        &config,
        dir.path().join("recordings"),
        RetentionPolicy::default(),
        store.clone(),
        clock,
        EventBus::new(16),
        secrets.clone(),
        shutdown.clone(),
    )
    .await
    .expect("engine");
    engine.spawn_background();
    let input = CameraInput {
        id: Some("camera0".into()),
        source: Some(SourceKind::Test),
        width: Some(320),
        height: Some(240),
        fps: Some(10),
        bitrate_kbps: Some(300),
        ..input
    };
    let list = store
        .call(move |c| {
            cameras::create(c, &secrets, &input, CameraOrigin::Api, 0)?;
            cameras::list(c)
        })
        .await
        .expect("camera");
    engine.sync(&list, Default::default()).await; // a test camera has no password
    let cam = engine.camera("camera0").expect("camera");
    Rig {
        _dir: dir,
        engine,
        shutdown,
        cam,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detector_tap_delivers_packed_rgb_only_while_read() {
    let Rig {
        _dir,
        engine,
        shutdown,
        cam,
    } = rig(
        |c| {
            c.media.detect_width = 160;
            c.media.detect_fps = 10;
        },
        CameraInput {
            recording: Some(RecordingMode::Off),
            ..Default::default()
        },
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while cam.status().state != CameraState::Streaming {
        assert!(
            Instant::now() < deadline,
            "not streaming: {:?}",
            cam.status()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        !cam.detect.is_wanted(),
        "nobody reads: the branch is closed"
    );
    let (demand, mut rx) = cam.detect.watch();
    let mut seen = 0;
    while seen < 3 {
        tokio::time::timeout(Duration::from_secs(5), rx.changed())
            .await
            .expect("a detector frame in time")
            .expect("channel open");
        let f = rx.borrow_and_update().clone().expect("frame");
        assert_eq!((f.width, f.height), (160, 120), "scaled, aspect kept");
        assert_eq!(f.data.len(), 160 * 120 * 3, "packed RGB");
        seen += 1;
    }
    drop(demand);
    assert!(!cam.detect.is_wanted());
    // Capture keeps running whatever the tap does.
    assert_eq!(cam.status().state, CameraState::Streaming);
    shutdown.cancel();
    engine.shutdown(Duration::from_secs(5)).await;
}

/// Event recordings start with the GOP before the trigger: a consumer attached with pre-roll gets
/// the cached keyframe and the frames after it, then live frames, with no frame missing or twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preroll_consumer_gets_the_cached_gop_then_live_frames_without_a_gap() {
    let Rig {
        _dir,
        engine,
        shutdown,
        cam,
    } = rig(
        |_| {},
        CameraInput {
            keyframe_ms: Some(2000),
            // Event mode keeps the GOP; nothing triggers a recording here.
            recording: Some(RecordingMode::Events),
            ..Default::default()
        },
    )
    .await;
    // Wait for a GOP well under way (the keyframe plus at least 5 frames).
    let deadline = Instant::now() + Duration::from_secs(20);
    while cam.hub.cached_samples() < 6 {
        assert!(
            Instant::now() < deadline,
            "no GOP cached: {:?}",
            cam.status()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A consumer of our own: appsrc ! appsink, recording each buffer's flags and DTS.
    let pipeline = gst::Pipeline::new();
    let src = gst_app::AppSrc::builder().build();
    let sink = gst_app::AppSink::builder().sync(false).build();
    pipeline
        .add_many([src.upcast_ref::<gst::Element>(), sink.upcast_ref()])
        .expect("add");
    src.link(&sink).expect("link");
    let seen: Arc<Mutex<Vec<(bool, u64)>>> = Arc::default();
    {
        let seen = seen.clone();
        sink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |s| {
                    let sample = s.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    if let Some(b) = sample.buffer() {
                        let key = !b.flags().contains(gst::BufferFlags::DELTA_UNIT);
                        let t = b.dts().or(b.pts()).map(|t| t.nseconds()).unwrap_or(0);
                        seen.lock().expect("lock").push((key, t));
                    }
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
    }
    pinhole::media::hub::Hub::configure_consumer(&src);
    pipeline.set_state(gst::State::Playing).expect("play");
    let (id, reach) = cam.hub.attach_with_preroll(&src);
    let reach = reach.expect("a pre-roll");
    assert!(reach >= Duration::from_millis(400), "pre-roll {reach:?}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while seen.lock().expect("lock").len() < 40 {
        assert!(
            Instant::now() < deadline,
            "too few buffers: {:?} {:?}",
            seen.lock().expect("lock"),
            pipeline
                .bus()
                .and_then(|b| b.pop_filtered(&[gst::MessageType::Error]))
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cam.hub.detach(id);
    let _ = pipeline.set_state(gst::State::Null);
    let seen = seen.lock().expect("lock").clone();
    assert!(seen[0].0, "starts with the cached keyframe: {seen:?}");
    // 10 fps: every step is one frame (100 ms); a gap or a repeat shows as another step.
    for w in seen.windows(2) {
        let step = w[1].1 as i64 - w[0].1 as i64;
        assert!(
            (step - 100_000_000).abs() < 5_000_000,
            "step {step} ns between frames: {seen:?}"
        );
    }
    // The pre-roll reached back before the attach.
    let preroll_frames = (reach.as_millis() / 100) as usize;
    assert!(preroll_frames >= 4, "{reach:?}");
    shutdown.cancel();
    engine.shutdown(Duration::from_secs(5)).await;
}
