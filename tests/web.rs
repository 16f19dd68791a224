//! The web page end to end in a real browser: starts the real binary in demo mode with no
//! account (`--first-run`), then runs `tests/web/e2e.mjs` (playwright-core driving Debian's
//! headless Chromium) against it: first-run setup, login, moving live video, the PTZ pad moving
//! the simulated camera, presets, playback of a recording, an event after detection, and a
//! viewer neither offered nor allowed operator actions. Screenshots of the main pages go to
//! `target/web-screenshots/`.
//!
//! Needs `npm ci --prefix tests/web` and Debian's `chromium` (scripts/bootstrap installs both).

mod common;

use common::{BIN, KillOnDrop, free_port, run_browser_script, screenshot_dir};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn web_page_end_to_end_in_headless_chromium() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let log = std::fs::File::create(dir.path().join("pinhole.log")).expect("log");
    let child = Command::new(BIN)
        .current_dir(dir.path())
        .args(["run", "--demo", "--first-run", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--rtsp-listen")
        .arg(format!("127.0.0.1:{}", free_port()))
        .env_remove("PINHOLE_ADMIN_PASSWORD")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start pinhole");
    let pid = child.id();
    let _guard = KillOnDrop(child);
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "pinhole did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    let shots = screenshot_dir();
    run_browser_script(
        "e2e.mjs",
        &[base, shots.display().to_string()],
        &[("PINHOLE_PID", pid.to_string())],
        || {
            format!(
                "appliance log:\n{}",
                std::fs::read_to_string(dir.path().join("pinhole.log")).unwrap_or_default()
            )
        },
    );
}
