//! The media engine as a library, with real GStreamer pipelines: what the detector (issue 5)
//! and other in-process consumers rely on.

use pinhole::clock::{SharedClock, SystemClock};
use pinhole::config::Config;
use pinhole::events::EventBus;
use pinhole::media::MediaEngine;
use pinhole::media::camera::CameraState;
use pinhole::media::retention::RetentionPolicy;
use pinhole::secrets::SecretBox;
use pinhole::store::Store;
use pinhole::store::cameras::{self, CameraInput};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detector_tap_delivers_packed_rgb_only_while_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("t.db")).expect("store");
    let mut config = Config::default();
    config.general.state_dir = dir.path().to_path_buf();
    config.media.rtsp_listen = "127.0.0.1:0".parse().expect("addr");
    config.media.detect_width = 160;
    config.media.detect_fps = 10;
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
    let input = CameraInput {
        id: Some("camera0".into()),
        source: Some("test".into()),
        width: Some(320),
        height: Some(240),
        fps: Some(10),
        bitrate_kbps: Some(300),
        recording: Some("off".into()),
        ..Default::default()
    };
    let list = store
        .call(move |c| {
            cameras::create(c, &secrets, &input, "api", 0)?;
            cameras::list(c)
        })
        .await
        .expect("camera");
    engine.sync(&list).await;
    let cam = engine.camera("camera0").expect("camera");
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
