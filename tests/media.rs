//! The media engine end to end: the real binary, real GStreamer pipelines (videotestsrc stands in
//! for a sensor), foreign RTSP clients (ffprobe/ffmpeg, gst-launch rtspsrc), a second appliance as
//! the fake IP camera, kill -9 mid-segment, and files checked with `ffmpeg -xerror`.

mod common;

use common::*;
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::process::Command;
use std::time::{Duration, Instant};

fn camera_toml(id: &str, source: &str, url: &str, recording: &str) -> String {
    format!(
        "[[cameras]]\nid = \"{id}\"\nsource = \"{source}\"\nurl = \"{url}\"\nrecording = \"{recording}\"\n"
    )
}

/// The appliance with the users of `Opts::with_roles` and the configuration `toml`, once its
/// `camera0` streams; with the admin's token.
async fn camera0_up(toml: String) -> (Server, String) {
    camera0_up_with(toml, Vec::new()).await
}

/// [`camera0_up`] with environment overrides of the configuration.
async fn camera0_up_with(toml: String, env: Vec<(String, String)>) -> (Server, String) {
    let server = Server::start(Opts {
        toml,
        env,
        ..Opts::with_roles()
    });
    let admin = server.token("admin").await;
    wait_status(
        &server,
        &admin,
        "camera0",
        "CONNECTED",
        Duration::from_secs(20),
    )
    .await;
    (server, admin)
}

/// Runs a command with a time limit; returns (success, stdout, stderr).
fn run(cmd: &mut Command, limit_secs: u32) -> (bool, String, String) {
    let prog = cmd.get_program().to_string_lossy().into_owned();
    let args: Vec<String> = cmd
        .get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let out = Command::new("timeout")
        .arg(limit_secs.to_string())
        .arg(&prog)
        .args(&args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {prog}: {e}"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ffprobe(url: &str) -> (bool, String, String) {
    run(
        Command::new("ffprobe").args([
            "-v",
            "error",
            "-rtsp_transport",
            "tcp",
            "-show_entries",
            "stream=codec_name,width,height",
            "-of",
            "json",
            url,
        ]),
        20,
    )
}

/// `ffmpeg -xerror` decodes the whole file: the check that catches truncation. Frames keep the
/// file's own time base (`-enc_time_base -1`): at the null muxer's default of one tick per
/// nominal frame, two frames of a relayed camera that arrived closer together than that (its
/// jitter buffer on a busy machine) would share a tick and be reported as out of order.
fn decodes(path: &std::path::Path) -> Result<(), String> {
    let (ok, _, err) = run(
        Command::new("ffmpeg")
            .args(["-v", "error", "-xerror", "-i"])
            .arg(path)
            .args(["-enc_time_base", "-1", "-f", "null", "-"]),
        60,
    );
    if ok && err.trim().is_empty() {
        Ok(())
    } else {
        Err(err)
    }
}

fn rtsp_url(server: &Server, user: &str, path: &str) -> String {
    let a = server.rtsp.expect("rtsp address");
    if user.is_empty() {
        format!("rtsp://{a}/{path}")
    } else {
        format!("rtsp://{user}@{a}/{path}")
    }
}

/// A raw RTSP DESCRIBE with an optional Authorization header; returns the status line and headers.
fn describe(addr: std::net::SocketAddr, path: &str, auth: Option<&str>) -> String {
    let mut s = std::net::TcpStream::connect(addr).expect("connect rtsp");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut req =
        format!("DESCRIBE rtsp://{addr}/{path} RTSP/1.0\r\nCSeq: 1\r\nAccept: application/sdp\r\n");
    if let Some(a) = auth {
        req.push_str(&format!("Authorization: {a}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).expect("send");
    let mut buf = vec![0u8; 8192];
    let n = s.read(&mut buf).expect("read");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[tokio::test]
async fn rtsp_serves_foreign_clients_with_the_appliances_users() {
    let server = Server::start(Opts {
        toml: camera_toml("camera0", "test", "", "off"),
        ..Opts::with_roles()
    });
    let token = server.token("admin").await;
    let st = wait_status(
        &server,
        &token,
        "camera0",
        "CONNECTED",
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(st["encoder"], "x264enc", "{st}");
    assert_eq!(st["resolution"], "320x240");

    // get_stream_url names the RTSP server and the camera.
    let r = server
        .rpc(Some(&token), "get_stream_url", json!({"device": "camera0"}))
        .await;
    let url = r["result"]["stream_url"].as_str().expect("url").to_string();
    assert_eq!(
        url,
        format!("rtsp://{}/camera0", server.rtsp.expect("rtsp"))
    );
    assert_eq!(r["result"]["available"], true);

    // ffprobe (Digest: ffmpeg answers the Digest challenge when offered).
    let (ok, out, err) = ffprobe(&rtsp_url(&server, &format!("view:{PASSWORD}"), "camera0"));
    assert!(ok, "ffprobe failed: {err}");
    let v: Value = serde_json::from_str(&out).expect("ffprobe json");
    assert_eq!(v["streams"][0]["codec_name"], "h264", "{out}");
    assert_eq!(v["streams"][0]["width"], 320);

    // gst-launch rtspsrc, another RTSP stack, pulls and decodes 20 frames: the sink's EOS after
    // its 20th buffer is the verdict. Not the exit status: on that EOS gst-launch takes the
    // pipeline down, and rtspsrc's own PAUSE can be cut by its CLOSE on the way (its connection is
    // flushed mid-send, "Could not send message. (Received end-of-file)"), a race inside the
    // client that the server never sees (no PAUSE reaches it).
    let (_, out, err) = run(
        Command::new("gst-launch-1.0").args([
            "rtspsrc",
            &format!("location={}", rtsp_url(&server, "", "camera0")),
            "user-id=oper",
            &format!("user-pw={PASSWORD}"),
            "protocols=tcp",
            "!",
            "rtph264depay",
            "!",
            "h264parse",
            "!",
            "avdec_h264",
            "!",
            "fakesink",
            "num-buffers=20",
        ]),
        30,
    );
    let decoded_all = out.lines().any(|l| l.starts_with("Got EOS from element"));
    assert!(decoded_all, "gst-launch rtspsrc failed:\n{out}\n{err}");

    // No credentials, a wrong password, an unknown user: refused with both challenges.
    let rtsp = server.rtsp.expect("rtsp");
    let anon = describe(rtsp, "camera0", None);
    assert!(anon.starts_with("RTSP/1.0 401"), "{anon}");
    assert!(
        anon.contains("WWW-Authenticate: Digest realm=\"pinhole\""),
        "{anon}"
    );
    assert!(
        anon.contains("WWW-Authenticate: Basic realm=\"pinhole\""),
        "{anon}"
    );
    use base64::Engine;
    let basic = |u: &str, p: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
        )
    };
    assert!(
        describe(rtsp, "camera0", Some(&basic("view", "wrong-password")))
            .starts_with("RTSP/1.0 401")
    );
    assert!(
        describe(rtsp, "camera0", Some(&basic("nobody", PASSWORD))).starts_with("RTSP/1.0 401")
    );
    let (ok, _, err) = ffprobe(&rtsp_url(&server, "view:wrong-password", "camera0"));
    assert!(!ok && err.contains("401"), "{err}");
    // Basic with the right password works.
    let ok_basic = describe(rtsp, "camera0", Some(&basic("view", PASSWORD)));
    assert!(ok_basic.starts_with("RTSP/1.0 200"), "{ok_basic}");
    assert!(ok_basic.contains("m=video"), "{ok_basic}");
    // An unknown camera is not found (after authentication).
    let missing = describe(rtsp, "nocam", Some(&basic("view", PASSWORD)));
    assert!(missing.starts_with("RTSP/1.0 404"), "{missing}");

    // A password change takes effect for RTSP too.
    let r = server
        .rpc(
            Some(&token),
            "update_user",
            json!({"username": "view", "password": "a-new-password-2"}),
        )
        .await;
    assert_eq!(r["result"]["updated"], true, "{r}");
    assert!(describe(rtsp, "camera0", Some(&basic("view", PASSWORD))).starts_with("RTSP/1.0 401"));
    let (ok, _, err) = ffprobe(&rtsp_url(&server, "view:a-new-password-2", "camera0"));
    assert!(ok, "{err}");
}

#[tokio::test]
async fn relays_an_ip_camera_without_transcoding_and_reconnects() {
    // The fake IP camera: another appliance with a test camera, on a fixed RTSP port.
    let port = free_port();
    let camera_opts = || Opts {
        toml: camera_toml("camera0", "test", "", "off"),
        rtsp_listen: Some(format!("127.0.0.1:{port}")),
        users: vec![("cam", "viewer")],
        ..Default::default()
    };
    let ipcam = Server::start(camera_opts());
    let relay = Server::start(Opts {
        toml: format!(
            "{}username = \"cam\"\npassword = \"{PASSWORD}\"\n",
            camera_toml(
                "camera0",
                "rtsp",
                &format!("rtsp://127.0.0.1:{port}/camera0"),
                "off"
            )
        ),
        env: vec![
            ("PINHOLE_MEDIA__STALL_TIMEOUT_SECS".into(), "3".into()),
            ("PINHOLE_LOG__LEVEL".into(), "info".into()),
        ],
        ..Opts::with_roles()
    });
    let token = relay.token("admin").await;
    let st = wait_status(
        &relay,
        &token,
        "camera0",
        "CONNECTED",
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(st["encoder"], "none (passthrough)", "{st}");
    assert!(
        relay.stderr_text().contains("with Pinhole's RTSP client"),
        "played by retina, not rtspsrc"
    );
    let (ok, out, err) = ffprobe(&rtsp_url(&relay, &format!("view:{PASSWORD}"), "camera0"));
    assert!(ok, "{err}");
    assert!(out.contains("\"h264\""), "{out}");

    // A preview of a relayed camera: decoded on demand, from a keyframe.
    assert_preview_is_a_jpeg(&relay, &token).await;
    let r = relay
        .rpc(Some(&token), "take_snapshot", json!({"device": "camera0"}))
        .await;
    assert_eq!(r["result"]["status"], "SUCCESS", "{r}");

    // The IP camera dies: the relay notices and says so.
    let dir = ipcam.kill_keep_dir();
    let st = wait_status(
        &relay,
        &token,
        "camera0",
        "DISCONNECTED",
        Duration::from_secs(20),
    )
    .await;
    assert!(st["error"].is_string(), "{st}");
    // It comes back on the same address: streaming resumes within seconds.
    let back = Instant::now();
    let _ipcam = Server::start(Opts {
        reuse_dir: Some(dir),
        ..camera_opts()
    });
    wait_status(
        &relay,
        &token,
        "camera0",
        "CONNECTED",
        Duration::from_secs(30),
    )
    .await;
    eprintln!(
        "relay resumed {:?} after the camera came back",
        back.elapsed()
    );
    let (ok, _, err) = ffprobe(&rtsp_url(&relay, &format!("view:{PASSWORD}"), "camera0"));
    assert!(ok, "{err}");
    let r = relay
        .rpc(
            Some(&token),
            "get_camera_status",
            json!({"device": "camera0"}),
        )
        .await;
    assert!(r["result"]["restarts"].as_u64().unwrap_or(0) >= 1, "{r}");
}

fn recordings_on_disk(server_state: &std::path::Path, camera: &str) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(server_state.join("recordings").join(camera))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// Frames `ffprobe` decodes from a file.
fn frame_count(path: &std::path::Path) -> u64 {
    let (ok, out, err) = run(
        Command::new("ffprobe")
            .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
            .args(["-show_entries", "stream=nb_read_frames", "-of", "csv=p=0"])
            .arg(path),
        60,
    );
    assert!(ok, "ffprobe {}: {err}", path.display());
    out.trim()
        .parse()
        .unwrap_or_else(|_| panic!("frame count {out:?}"))
}

/// The appliance recording camera0 with these `[storage]` settings for `record_for`, then
/// SIGKILLed: its kept directory, state directory and the one segment it was writing.
async fn record_then_kill(
    storage: &str,
    record_for: Duration,
) -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let server = Server::start(killed_opts(storage));
    let token = server.token("admin").await;
    wait_status(
        &server,
        &token,
        "camera0",
        "CONNECTED",
        Duration::from_secs(20),
    )
    .await;
    tokio::time::sleep(record_for).await;
    let state = server.state();
    let dir = server.kill_keep_dir();
    let files = recordings_on_disk(&state, "camera0");
    assert_eq!(files.len(), 1, "{files:?}");
    let file = files[0].clone();
    (dir, state, file)
}

/// Starts the appliance again on a directory `record_then_kill` kept: the server, the admin's
/// token and what it says of the segment that was torn.
async fn restart_after_kill(
    dir: tempfile::TempDir,
    storage: &str,
    segment: &std::path::Path,
) -> (Server, String, Value) {
    let server = Server::start(Opts {
        reuse_dir: Some(dir),
        ..killed_opts(storage)
    });
    let token = server.token("admin").await;
    let stem = segment
        .file_stem()
        .and_then(|s| s.to_str())
        .expect("stem")
        .to_string();
    let info = server
        .rpc(
            Some(&token),
            "get_recording_info",
            json!({"filename": stem}),
        )
        .await;
    (server, token, info["result"].clone())
}

fn killed_opts(storage: &str) -> Opts {
    Opts {
        toml: format!(
            "{}[storage]\n{storage}",
            camera_toml("camera0", "test", "", "continuous")
        ),
        ..Opts::with_roles()
    }
}

#[tokio::test]
async fn a_power_cut_inside_a_fragment_keeps_its_whole_frames() {
    let storage = "segment_secs = 30\n";
    let (dir, _, file) = record_then_kill(storage, Duration::from_secs(4)).await;
    let data = std::fs::read(&file).expect("segment");
    let all_frames = frame_count(&file);
    // The last fragment's mdat, found by walking the top-level boxes.
    let (mut at, mut last_mdat) = (0usize, None);
    while at + 8 <= data.len() {
        let size = u32::from_be_bytes(data[at..at + 4].try_into().expect("4 bytes")) as usize;
        if &data[at + 4..at + 8] == b"mdat" {
            last_mdat = Some((at, size));
        }
        assert!(size >= 8, "box at {at}");
        at += size;
    }
    let (mdat_at, mdat_size) = last_mdat.expect("a fragment");
    let scan =
        |bytes: &[u8]| pinhole::media::fmp4::scan(&mut std::io::Cursor::new(bytes)).expect("fmp4");
    // Frames in the last fragment: all but the last are whole when its final byte is lost.
    let in_last = scan(&data[..mdat_at + mdat_size - 1])
        .salvage
        .expect("a salvage")
        .samples as u64
        + 1;
    assert!(in_last >= 3, "{in_last} frames in the last fragment");
    // A power cut loses the end of the last fragment's samples.
    let torn_len = mdat_at + 8 + (mdat_size - 8) / 2;
    let whole = scan(&data[..torn_len]).salvage.expect("a salvage").samples as u64;
    assert!(whole >= 1 && whole < in_last);
    std::fs::write(&file, &data[..torn_len]).expect("tear");

    let (_server, _, info) = restart_after_kill(dir, storage, &file).await;
    assert_eq!(info["state"], "recovered", "{info}");
    decodes(&file).unwrap_or_else(|e| panic!("repaired segment does not decode: {e}"));
    assert_eq!(
        frame_count(&file),
        all_frames - in_last + whole,
        "the repaired file keeps the complete fragments and the torn one's whole frames"
    );
}

#[tokio::test]
async fn kill_9_mid_segment_loses_at_most_a_fragment_and_the_index_is_repaired() {
    let storage = "segment_secs = 10\nsync_interval_secs = 1\n";
    // Record ~4.5 s of the first segment, then pull the plug.
    let (dir, state, torn) = record_then_kill(storage, Duration::from_millis(4500)).await;
    let torn_len = std::fs::metadata(&torn).expect("file").len();
    assert!(torn_len > 0);

    // Restart: the index is reconciled with the disk before recording resumes.
    let (server, token, info) = restart_after_kill(dir, storage, &torn).await;
    assert_eq!(info["state"], "recovered", "{info}");
    let secs = info["duration"].as_i64().expect("duration");
    assert!(
        (3..=5).contains(&secs),
        "recovered {secs} s of ~4.5 s: {info}"
    );
    let repaired_len = std::fs::metadata(&torn).expect("file").len();
    assert!(repaired_len <= torn_len);
    assert_eq!(info["file_size"].as_u64(), Some(repaired_len));
    decodes(&torn).unwrap_or_else(|e| panic!("recovered segment does not decode: {e}"));

    // Recording resumed in a new file (no name collision), and a clean stop finalises it.
    wait_status(
        &server,
        &token,
        "camera0",
        "CONNECTED",
        Duration::from_secs(20),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut server = server;
    assert!(server.stop().success());
    let files = recordings_on_disk(&state, "camera0");
    assert_eq!(files.len(), 2, "{files:?}");
    for f in &files {
        decodes(f).unwrap_or_else(|e| panic!("{} does not decode: {e}", f.display()));
    }
    let conn = rusqlite::Connection::open(state.join("pinhole.db")).expect("db");
    let states: Vec<String> = conn
        .prepare("SELECT state FROM recordings ORDER BY start_ms")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .expect("rows");
    assert_eq!(states, vec!["recovered", "complete"]);
}

#[tokio::test]
async fn on_demand_recording_snapshots_downloads_and_mjpeg() {
    let server = Server::start(Opts {
        toml: camera_toml("camera0", "test", "", "off"),
        ..Opts::with_roles()
    });
    let admin = server.token("admin").await;
    let oper = server.token("oper").await;
    let view = server.token("view").await;
    wait_status(
        &server,
        &view,
        "camera0",
        "CONNECTED",
        Duration::from_secs(20),
    )
    .await;

    // Snapshot of the live picture.
    let r = server
        .rpc(
            Some(&oper),
            "take_snapshot",
            json!({"device": "camera0", "filename": "door"}),
        )
        .await;
    assert_eq!(r["result"]["status"], "SUCCESS", "{r}");
    assert_eq!(r["result"]["filename"], "door.jpg");
    let r2 = server
        .rpc(
            Some(&oper),
            "take_snapshot",
            json!({"device": "camera0", "filename": "door"}),
        )
        .await;
    assert_eq!(
        r2["error"]["code"], -32020,
        "a name is never overwritten: {r2}"
    );
    let r3 = server
        .rpc(
            Some(&oper),
            "take_snapshot",
            json!({"device": "camera0", "filename": "../etc/x"}),
        )
        .await;
    assert_eq!(r3["error"]["code"], -32602, "{r3}");
    let c = client();
    let jpg = c
        .get(server.url("/files/snapshots/door.jpg"))
        .bearer_auth(&view)
        .send()
        .await
        .expect("get");
    assert_eq!(jpg.status(), 200);
    assert_eq!(jpg.headers()["content-type"], "image/jpeg");
    let body = jpg.bytes().await.expect("body");
    assert_eq!(&body[..2], &[0xFF, 0xD8], "a JPEG");
    assert_eq!(
        c.get(server.url("/files/snapshots/door.jpg"))
            .send()
            .await
            .expect("get")
            .status(),
        401,
        "downloads need a login"
    );
    let list = server
        .rpc(Some(&view), "list_snapshots", json!({"limit": 10}))
        .await;
    assert_eq!(list["result"]["total"], 1, "{list}");

    // On-demand recording for a camera whose mode is off.
    let r = server
        .rpc(
            Some(&oper),
            "start_recording",
            json!({"device": "camera0", "format": "fmp4"}),
        )
        .await;
    assert_eq!(r["result"]["status"], "RECORDING", "{r}");
    let again = server
        .rpc(Some(&oper), "start_recording", json!({"device": "camera0"}))
        .await;
    assert_eq!(again["error"]["code"], -32020, "{again}");
    let bad = server
        .rpc(
            Some(&oper),
            "start_recording",
            json!({"device": "camera0", "duration": 0}),
        )
        .await;
    assert_eq!(bad["error"]["code"], -32602, "{bad}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let r = server
        .rpc(Some(&oper), "stop_recording", json!({"device": "camera0"}))
        .await;
    assert_eq!(r["result"]["status"], "STOPPED", "{r}");
    let name = r["result"]["filename"]
        .as_str()
        .expect("filename")
        .to_string();
    let info = server
        .rpc(Some(&view), "get_recording_info", json!({"filename": name}))
        .await;
    assert_eq!(info["result"]["state"], "complete", "{info}");
    let url = info["result"]["download_url"]
        .as_str()
        .expect("url")
        .to_string();
    // Range request, as a seeking player makes.
    let part = c
        .get(server.url(&url))
        .bearer_auth(&view)
        .header("Range", "bytes=0-99")
        .send()
        .await
        .expect("range");
    assert_eq!(part.status(), 206);
    assert_eq!(part.headers()["content-type"], "video/mp4");
    assert_eq!(part.bytes().await.expect("body").len(), 100);
    let whole = c
        .get(server.url(&url))
        .bearer_auth(&view)
        .send()
        .await
        .expect("get");
    let bytes = whole.bytes().await.expect("body");
    let tmp = server.dir.path().join("download.mp4");
    std::fs::write(&tmp, &bytes).expect("write");
    decodes(&tmp).unwrap_or_else(|e| panic!("downloaded recording does not decode: {e}"));
    // Viewers may not delete; admins may.
    let d = server
        .rpc(Some(&oper), "delete_recording", json!({"filename": name}))
        .await;
    assert_eq!(d["error"]["code"], -32002);
    let d = server
        .rpc(Some(&admin), "delete_recording", json!({"filename": name}))
        .await;
    assert_eq!(d["result"]["deleted"], true, "{d}");
    assert_eq!(
        c.get(server.url(&url))
            .bearer_auth(&view)
            .send()
            .await
            .expect("get")
            .status(),
        404
    );

    // MJPEG to a plain HTTP client: two complete JPEG parts.
    let mut resp = c
        .get(server.url("/api/cameras/camera0/mjpeg"))
        .bearer_auth(&view)
        .send()
        .await
        .expect("mjpeg");
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"],
        "multipart/x-mixed-replace; boundary=frame"
    );
    let mut buf = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    while buf.windows(2).filter(|w| w == &[0xFF, 0xD9]).count() < 2 {
        assert!(Instant::now() < deadline, "no MJPEG frames");
        match tokio::time::timeout(Duration::from_secs(10), resp.chunk()).await {
            Ok(Ok(Some(chunk))) => buf.extend_from_slice(&chunk),
            other => panic!("mjpeg stream ended: {other:?}"),
        }
    }
    let text = String::from_utf8_lossy(&buf);
    assert!(
        text.starts_with("--frame\r\nContent-Type: image/jpeg\r\nContent-Length: "),
        "{}",
        &text[..60.min(text.len())]
    );
    drop(resp);
}

#[tokio::test]
async fn retention_keeps_free_space_and_never_deletes_the_open_segment() {
    let (server, admin) = camera0_up(format!(
        "{}[storage]\nsegment_secs = 10\n",
        camera_toml("camera0", "test", "", "continuous")
    ))
    .await;
    // A free-space floor larger than any disk: every closed segment must go, the open one stays.
    let r = server
        .rpc(
            Some(&admin),
            "set_retention_policy",
            json!({"policy_type": "manual", "enabled": false, "min_free_mb": 1_000_000_000u64}),
        )
        .await;
    assert_eq!(r["result"]["min_free_mb"], 1_000_000_000u64, "{r}");
    let bad = server
        .rpc(
            Some(&admin),
            "set_retention_policy",
            json!({"policy_type": "age", "enabled": true, "max_age_days": -1}),
        )
        .await;
    assert_eq!(bad["error"]["code"], -32602, "{bad}");
    // Wait for the first segment to close (10 s) and retention to run.
    let deadline = Instant::now() + Duration::from_secs(40);
    let state = server.state();
    let mut first: Option<String> = None;
    loop {
        let list = server.rpc(Some(&admin), "list_recordings", json!({})).await;
        let files = list["result"]["files"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let oldest = files
            .last()
            .and_then(|f| f["filename"].as_str())
            .map(str::to_string);
        if first.is_none() {
            first = oldest.clone();
        }
        // Done when the first segment (closed after 10 s) is gone and only the open one is left.
        let only_open = files.len() == 1 && files[0]["state"] == "open";
        if only_open && oldest != first && recordings_on_disk(&state, "camera0").len() == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "retention did not delete the closed segment: {list}\n{}",
            server.stderr_text()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let r = server
        .rpc(Some(&admin), "cleanup_old_files", json!({}))
        .await;
    assert_eq!(r["result"]["cleanup_executed"], true, "{r}");
    let storage = server
        .rpc(Some(&admin), "get_storage_info", json!({}))
        .await;
    assert!(
        storage["result"]["recordings_size"].as_i64().is_some(),
        "{storage}"
    );
}

#[tokio::test]
async fn a_missing_device_fails_alone() {
    let server = Server::start(Opts {
        toml: format!(
            "{}{}",
            camera_toml("camera0", "test", "", "off"),
            camera_toml("camera1", "v4l2", "/dev/video97", "continuous")
        ),
        ..Opts::with_roles()
    });
    let token = server.token("view").await;
    wait_status(
        &server,
        &token,
        "camera0",
        "CONNECTED",
        Duration::from_secs(20),
    )
    .await;
    let st = camera_status_until(&server, &token, "camera1", "no clear error", |st| {
        st["error"]
            .as_str()
            .unwrap_or_default()
            .contains("/dev/video97")
    })
    .await;
    assert_ne!(st["status"], "CONNECTED", "{st}");
    // The healthy camera is untouched.
    let r = server.rpc(Some(&token), "get_camera_list", json!({})).await;
    assert_eq!(r["result"]["connected"], 1, "{r}");
    assert_eq!(r["result"]["total"], 2);
}

#[tokio::test]
async fn fmp4_over_websocket_plays_from_a_keyframe() {
    let server = Server::start(Opts {
        toml: camera_toml("camera0", "test", "", "off"),
        ..Opts::with_roles()
    });
    let view = server.token("view").await;
    wait_status(
        &server,
        &view,
        "camera0",
        "CONNECTED",
        Duration::from_secs(20),
    )
    .await;
    let url = format!("ws://{}/api/cameras/camera0/live", server.addr);
    // Without a login: refused before the upgrade.
    let anon = tokio_tungstenite::connect_async(url.as_str()).await;
    assert!(anon.is_err(), "anonymous live stream must be refused");
    let mime = live_fmp4(&server, &view, "camera0").await;
    assert!(mime.starts_with("video/mp4; codecs=\"avc1."), "{mime}");
}

/// Three seconds of a camera's live fMP4 over the WebSocket, checked to be an init segment and
/// at least five fragments that decode; returns the MSE type it announced.
async fn live_fmp4(server: &Server, token: &str, camera: &str) -> String {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    let (mut ws, mime) = live_socket(server, token, camera).await;
    let mut data = Vec::new();
    let mut messages = 0;
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        match tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
            Ok(Some(Ok(Message::Binary(b)))) => {
                if messages == 0 {
                    assert_eq!(&b[4..8], b"ftyp", "the init segment comes first");
                }
                messages += 1;
                data.extend_from_slice(&b);
            }
            other => panic!("live stream ended: {other:?}"),
        }
    }
    assert!(messages >= 5, "only {messages} fragments in 3 s");
    let f = server.dir.path().join(format!("live-{camera}.mp4"));
    std::fs::write(&f, &data).expect("write");
    decodes(&f).unwrap_or_else(|e| panic!("the live stream does not decode from its start: {e}"));
    let scan = pinhole::media::fmp4::scan(&mut std::io::Cursor::new(&data)).expect("fmp4");
    assert!(scan.fragments >= 5 && scan.has_moov, "{scan:?}");
    mime
}

#[tokio::test]
async fn a_new_rtsp_client_starts_on_one_keyframe() {
    let toml = format!(
        "{}keyframe_ms = 2000\n",
        camera_toml("camera0", "test", "", "off")
    );
    let (server, _admin) = camera0_up(toml).await;
    let rtsp = server.rtsp.expect("rtsp address");
    // Each client makes a media of its own (the previous one left): attach, then PLAY.
    // The window is long enough for ten frames on a busy machine (15 fps; the forced first
    // keyframe costs an encode before anything is sent).
    for _ in 0..2 {
        let trace = rtp_trace(rtsp, "camera0", "view", PASSWORD, Duration::from_secs(3)).await;
        assert!(trace.frames >= 10, "{trace:?}");
        // Its first frame is a keyframe, and no second one follows right behind it (the
        // camera's own keyframes are 2 s apart: 30 frames at 15 fps).
        let early: Vec<usize> = trace
            .idr_frames
            .iter()
            .copied()
            .filter(|&f| f < 10)
            .collect();
        assert_eq!(early, vec![0], "{trace:?}");
    }
}

#[tokio::test]
async fn rtsp_clients_and_the_recording_survive_a_pipeline_rebuild() {
    let (server, admin) = camera0_up(camera_toml("camera0", "test", "", "continuous")).await;
    // A foreign client records 8 s of the RTSP stream while the pipeline is rebuilt under it.
    let out = server.dir.path().join("client.mp4");
    let url = rtsp_url(&server, &format!("view:{PASSWORD}"), "camera0");
    let client = Command::new("timeout")
        .args([
            "30",
            "ffmpeg",
            "-v",
            "error",
            "-rtsp_transport",
            "tcp",
            "-i",
            &url,
            "-c",
            "copy",
            "-t",
            "8",
        ])
        .arg(&out)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("ffmpeg");
    // And a plain RTP reader judges the server's own packets across the rebuild.
    let rtsp = server.rtsp.expect("rtsp address");
    let trace = tokio::spawn(rtp_trace(
        rtsp,
        "camera0",
        "view",
        PASSWORD,
        Duration::from_secs(10),
    ));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = server
        .rpc(
            Some(&admin),
            "get_camera_status",
            json!({"device": "camera0"}),
        )
        .await;
    let recording = before["result"]["recording"]["filename"].clone();
    let started = before["result"]["recording"]["started_ms"].clone();
    // A new bitrate needs a new encoder: the capture pipeline is rebuilt.
    let r = client_put(
        &server,
        &admin,
        "/api/cameras/camera0",
        json!({"bitrate_kbps": 400}),
    )
    .await;
    assert_eq!(r, 200);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let s = server
            .rpc(
                Some(&admin),
                "get_camera_status",
                json!({"device": "camera0"}),
            )
            .await;
        if s["result"]["status"] == "CONNECTED" && s["result"]["since"] != before["result"]["since"]
        {
            break;
        }
        assert!(Instant::now() < deadline, "no rebuild seen: {s}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let trace = trace.await.expect("rtp reader");
    // Timestamps stay strictly increasing from frame to frame across the switch of encoder,
    // and no packet is lost or repeated.
    assert!(
        trace.seq_gaps.is_empty()
            && trace.ts_not_increasing.is_empty()
            && trace.ts_changes_within_frame == 0
            && trace.frames > 60,
        "RTP across the rebuild: {trace:?}"
    );
    let status = tokio::task::spawn_blocking(move || client.wait_with_output())
        .await
        .expect("join")
        .expect("ffmpeg");
    assert!(
        status.status.success(),
        "the RTSP client failed across the rebuild: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    let (ok, dur, err) = run(
        Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-show_entries",
                "format=duration",
                "-of",
                "csv=p=0",
            ])
            .arg(&out),
        20,
    );
    assert!(ok, "{err}");
    let secs: f64 = dur.trim().parse().expect("duration");
    assert!(secs >= 7.0, "the client got {secs} s of 8");
    decodes(&out)
        .unwrap_or_else(|e| panic!("client recording across the rebuild: {e}; RTP: {trace:?}"));
    // The recording went on; a new encoder brings new stream parameters, so it continues in a
    // new segment from the new encoder's first keyframe, and the one before it is complete and
    // decodes.
    let after = server
        .rpc(
            Some(&admin),
            "get_camera_status",
            json!({"device": "camera0"}),
        )
        .await;
    assert_eq!(
        after["result"]["recording"]["started_ms"], started,
        "{after}"
    );
    let list = server.rpc(Some(&admin), "list_recordings", json!({})).await;
    let files = list["result"]["files"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let first = files
        .iter()
        .find(|f| f["filename"] == recording)
        .unwrap_or_else(|| panic!("{list}"));
    if after["result"]["recording"]["filename"] != recording {
        assert_eq!(first["state"], "complete", "{list}");
        let dir = server.state().join("recordings/camera0");
        let path = dir.join(format!("{}.mp4", recording.as_str().unwrap_or_default()));
        decodes(&path).unwrap_or_else(|e| panic!("the segment before the rebuild: {e}"));
    }
}

async fn object_events(server: &Server, token: &str) -> Value {
    server
        .rpc(
            Some(token),
            "list_events",
            json!({"device": "camera0", "kind": "object"}),
        )
        .await
}

async fn get_authed(server: &Server, token: &str, path: &str) -> Value {
    let r = client()
        .get(server.url(path))
        .bearer_auth(token)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 200, "{path}");
    r.json().await.expect("json")
}

async fn client_put(server: &Server, token: &str, path: &str, body: Value) -> u16 {
    client()
        .put(server.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("put")
        .status()
        .as_u16()
}

#[tokio::test]
async fn detection_turns_a_face_into_one_event_with_a_snapshot() {
    let a = assets_dir();
    let photo = a.join("images/astronaut.png");
    let model = a.join("models/face_detection_short_range.tflite");
    assert!(
        photo.is_file() && model.is_file(),
        "run scripts/fetch-detect-assets"
    );
    let server = Server::start(Opts {
        toml: format!(
            "[detection]\nenabled = true\nmodel = \"{}\"\nfps = 5\nthreshold = 0.6\nevent_end_secs = 2\nkeepalive_secs = 6\n\n[[cameras]]\nid = \"camera0\"\nsource = \"test\"\nurl = \"{}\"\nwidth = 512\nheight = 512\nfps = 5\nrecording = \"events\"\n",
            model.display(),
            photo.display()
        ),
        ..Opts::with_roles()
    });
    let view = server.token("view").await;
    wait_status(
        &server,
        &view,
        "camera0",
        "CONNECTED",
        Duration::from_secs(20),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let event = loop {
        let r = object_events(&server, &view).await;
        if let Some(e) = r["result"]["events"]
            .as_array()
            .and_then(|l| l.first())
            .cloned()
        {
            break e;
        }
        assert!(
            Instant::now() < deadline,
            "no detection event: {r}\n{}",
            server.stderr_text()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(event["label"], "face", "{event}");
    let score = event["score"].as_f64().expect("score");
    assert!(score > 0.85, "{event}");
    // The box (normalised) is where the astronaut's face is: ~(0.35, 0.16) 0.18 wide.
    let b: Vec<f64> = event["box"]
        .as_array()
        .expect("box")
        .iter()
        .map(|v| v.as_f64().unwrap_or(-1.0))
        .collect();
    assert!(
        (b[0] - 0.35).abs() < 0.05 && (b[1] - 0.16).abs() < 0.05 && (b[2] - 0.18).abs() < 0.05,
        "{b:?}"
    );
    // Still there later (longer than an unseen object lasts, past a motion-gate keep-alive, and
    // nothing moves): still one event, one per appearance, not one per frame or per keep-alive.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let r = object_events(&server, &view).await;
    assert_eq!(r["result"]["total"], 1, "{r}");
    // Its snapshot, with the box drawn, is downloadable.
    let snap = event["snapshot"].as_str().expect("snapshot");
    let jpg = client()
        .get(server.url(&format!("/files/snapshots/{snap}")))
        .bearer_auth(&view)
        .send()
        .await
        .expect("snapshot");
    assert_eq!(jpg.status(), 200);
    assert_eq!(&jpg.bytes().await.expect("body")[..2], &[0xFF, 0xD8]);
    // The camera records on events: the detection started a recording.
    let recs = server.rpc(Some(&view), "list_recordings", json!({})).await;
    assert!(recs["result"]["total"].as_u64().unwrap_or(0) >= 1, "{recs}");
    assert_eq!(recs["result"]["files"][0]["trigger"], "event", "{recs}");
    // The same over REST.
    let list = get_authed(&server, &view, "/api/events?camera=camera0&kind=object").await;
    assert_eq!(list["total"], 1, "{list}");
    let id = list["events"][0]["id"].as_i64().expect("id");
    let one = get_authed(&server, &view, &format!("/api/events/{id}")).await;
    assert_eq!(
        one["snapshot_url"],
        format!("/files/snapshots/{snap}"),
        "{one}"
    );

    // Per-camera zones through the camera API: a zone away from the face ends its event and
    // starts no new one; a zone around it brings it back as a new appearance.
    let admin = server.token("admin").await;
    let bad = client_put(
        &server,
        &admin,
        "/api/cameras/camera0",
        json!({"detection": {"zones": [[[0.0, 0.0], [2.0, 0.0], [0.0, 1.0]]]}}),
    )
    .await;
    assert_eq!(bad, 422);
    let away = json!({"detection": {"zones": [[[0.7, 0.7], [1.0, 0.7], [1.0, 1.0], [0.7, 1.0]]]}});
    assert_eq!(
        client_put(&server, &admin, "/api/cameras/camera0", away).await,
        200
    );
    tokio::time::sleep(Duration::from_secs(5)).await;
    let r = object_events(&server, &view).await;
    assert_eq!(
        r["result"]["total"], 1,
        "no new event outside the zone: {r}"
    );
    assert!(
        r["result"]["events"][0]["end_ms"].is_i64(),
        "the event ended: {r}"
    );
    let around =
        json!({"detection": {"zones": [[[0.2, 0.0], [0.7, 0.0], [0.7, 0.5], [0.2, 0.5]]]}});
    assert_eq!(
        client_put(&server, &admin, "/api/cameras/camera0", around).await,
        200
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let r = object_events(&server, &view).await;
        if r["result"]["total"] == 2 {
            break;
        }
        assert!(Instant::now() < deadline, "no event inside the zone: {r}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let st = server
        .rpc(Some(&view), "get_detection_status", json!({}))
        .await;
    assert_eq!(st["result"]["enabled"], true, "{st}");
    assert!(
        st["result"]["cameras"]["camera0"]["inferences"]
            .as_u64()
            .unwrap_or(0)
            >= 1,
        "{st}"
    );

    // A per-camera model, named from the models directory: a path is refused; a missing file
    // turns object detection off for this camera with the file named; a model dropped in
    // there is picked up.
    let escape = json!({"detection": {"model": "../pinhole.db"}});
    assert_eq!(
        client_put(&server, &admin, "/api/cameras/camera0", escape).await,
        422
    );
    let missing = json!({"detection": {"model": "missing.tflite"}});
    assert_eq!(
        client_put(&server, &admin, "/api/cameras/camera0", missing).await,
        200
    );
    let models = server.state().join("models");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let st = server
            .rpc(Some(&view), "get_detection_status", json!({}))
            .await;
        let err = st["result"]["cameras"]["camera0"]["error"]
            .as_str()
            .unwrap_or("");
        if err.contains("missing.tflite") {
            break;
        }
        assert!(Instant::now() < deadline, "no model error: {st}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    std::fs::create_dir_all(&models).expect("models dir");
    std::fs::copy(&model, models.join("face.tflite")).expect("copy model");
    let own = json!({"detection": {"model": "face.tflite", "model_kind": "face"}});
    assert_eq!(
        client_put(&server, &admin, "/api/cameras/camera0", own).await,
        200
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let st = server
            .rpc(Some(&view), "get_detection_status", json!({}))
            .await;
        let cam = &st["result"]["cameras"]["camera0"];
        if cam["model"].as_str().unwrap_or("").ends_with("face.tflite") && cam["error"].is_null() {
            assert_eq!(st["result"]["models"], json!(["face.tflite"]), "{st}");
            break;
        }
        assert!(Instant::now() < deadline, "own model not loaded: {st}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_broken_model_disables_detection_and_nothing_else() {
    let junk = std::env::temp_dir().join(format!("pinhole-broken-{}.tflite", std::process::id()));
    std::fs::write(&junk, b"not a model").expect("write");
    let server = Server::start(Opts {
        toml: format!(
            "[detection]\nenabled = true\nmodel = \"{}\"\n\n{}",
            junk.display(),
            camera_toml("camera0", "test", "", "off")
        ),
        ..Opts::with_roles()
    });
    let view = server.token("view").await;
    wait_status(
        &server,
        &view,
        "camera0",
        "CONNECTED",
        Duration::from_secs(20),
    )
    .await;
    let st = server
        .rpc(Some(&view), "get_detection_status", json!({}))
        .await;
    assert_eq!(st["result"]["enabled"], false, "{st}");
    let err = st["result"]["error"].as_str().unwrap_or_default();
    assert!(err.contains(junk.to_str().unwrap_or("?")), "{st}");
    let _ = std::fs::remove_file(&junk);
}

/// A mosquitto broker on 127.0.0.1 for one test.
struct Broker {
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_broker(port: u16) -> Broker {
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = dir.path().join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!("listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"),
    )
    .expect("conf");
    let child = Command::new("mosquitto")
        .arg("-c")
        .arg(&conf)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("mosquitto (apt install mosquitto)");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "mosquitto did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Broker { child, _dir: dir }
}

#[tokio::test]
async fn mqtt_events_wait_for_a_broker_that_is_down_then_arrive() {
    let a = assets_dir();
    let port = free_port();
    let server = Server::start(Opts {
        toml: format!(
            "[mqtt]\nenabled = true\nport = {port}\n\n[detection]\nenabled = true\nmodel = \"{}\"\nfps = 5\n\n[[cameras]]\nid = \"camera0\"\nsource = \"test\"\nurl = \"{}\"\nwidth = 512\nheight = 512\nfps = 5\nrecording = \"off\"\n",
            a.join("models/face_detection_short_range.tflite").display(),
            a.join("images/astronaut.png").display()
        ),
        ..Opts::with_roles()
    });
    let view = server.token("view").await;
    // The face is found while the broker is down: the messages wait.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let st = server
            .rpc(Some(&view), "get_detection_status", json!({}))
            .await;
        if st["result"]["mqtt"]["queued"].as_u64().unwrap_or(0) >= 2 {
            assert_eq!(st["result"]["mqtt"]["connected"], false);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "nothing queued: {st}\n{}",
            server.stderr_text()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let _broker = start_broker(port);
    let mut sub = Command::new("mosquitto_sub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-t",
            "pinhole/#",
            "-v",
            "-W",
            "40",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("mosquitto_sub");
    let out = sub.stdout.take().expect("stdout");
    let lines = tokio::task::spawn_blocking(move || {
        use std::io::BufRead;
        let mut seen = Vec::new();
        for l in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            seen.push(l);
            let new = seen.iter().any(|l| {
                l.starts_with("pinhole/events ")
                    && l.contains("\"type\":\"new\"")
                    && l.contains("\"label\":\"face\"")
            });
            let count = seen.iter().any(|l| l == "pinhole/camera0/face 1");
            if new && count {
                break;
            }
        }
        seen
    })
    .await
    .expect("reader");
    let _ = sub.kill();
    let _ = sub.wait();
    assert!(
        lines.iter().any(|l| l == "pinhole/camera0/face 1"),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("pinhole/events ") && l.contains("\"type\":\"new\"")),
        "{lines:?}"
    );
    let st = server
        .rpc(Some(&view), "get_detection_status", json!({}))
        .await;
    assert_eq!(st["result"]["mqtt"]["connected"], true, "{st}");
    assert_eq!(st["result"]["mqtt"]["dropped"], 0, "{st}");
    // The same figures in Prometheus, in a format promtool accepts.
    let text = metrics_text(&server).await;
    assert!(
        text.contains("pinhole_mqtt_messages{state=\"connected\"} 1"),
        "{text}"
    );
    assert!(text.contains("pinhole_detection_frames{camera=\"camera0\",outcome=\"inferred\"}"));
    assert!(text.contains("pinhole_camera_encoder_info{camera=\"camera0\",encoder=\"x264enc\"} 1"));
    promtool_check(&text);
}

/// ffmpeg playing camera0 over RTSP as `user` for up to two minutes, once the appliance counts
/// its session.
async fn rtsp_player(server: &Server, admin: &str, user: &str) -> std::process::Child {
    let player = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-rtsp_transport", "tcp", "-i"])
        .arg(rtsp_url(server, &format!("{user}:{PASSWORD}"), "camera0"))
        .args(["-t", "120", "-f", "null", "-"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("ffmpeg");
    let deadline = Instant::now() + Duration::from_secs(20);
    while get_json_as(server, "/api/live", admin).await["rtsp_sessions"] == 0 {
        assert!(Instant::now() < deadline, "the player never connected");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    player
}

/// A raw RTSP DESCRIBE of `path` from the local address `127.0.0.<src>`; the reply's head.
async fn describe_from(
    src: u8,
    addr: std::net::SocketAddr,
    path: &str,
    auth: Option<&str>,
) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind(std::net::SocketAddr::from(([127, 0, 0, src], 0)))
        .expect("bind");
    let mut s = socket.connect(addr).await.expect("connect rtsp");
    let mut req =
        format!("DESCRIBE rtsp://{addr}/{path} RTSP/1.0\r\nCSeq: 1\r\nAccept: application/sdp\r\n");
    if let Some(a) = auth {
        req.push_str(&format!("Authorization: {a}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).await.expect("send");
    let mut buf = vec![0u8; 8192];
    let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
        .await
        .expect("an answer")
        .expect("read");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[tokio::test]
async fn rtsp_guessing_is_limited_and_revoked_users_are_cut_off() {
    use base64::Engine;
    use pinhole::media::rtsp_auth;
    let (server, admin) = camera0_up(format!(
        "[auth]\nlogin_attempts_per_minute = 5\n{}{}",
        camera_toml("camera0", "test", "", "off"),
        camera_toml("camera1", "test", "", "off")
    ))
    .await;
    let rtsp = server.rtsp.expect("rtsp");
    let basic = |u: &str, p: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
        )
    };

    // A Digest header captured for camera0 does not open camera1.
    let challenge = describe_from(4, rtsp, "camera0", None).await;
    let nonce = challenge
        .split("nonce=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("a nonce");
    let uri = format!("rtsp://{rtsp}/camera0");
    let ha1 = rtsp_auth::ha1("view", PASSWORD);
    let digest = format!(
        r#"Digest username="view", realm="pinhole", nonce="{nonce}", uri="{uri}", response="{}""#,
        rtsp_auth::digest_response(&ha1, nonce, "DESCRIBE", &uri)
    );
    assert!(
        describe_from(4, rtsp, "camera0", Some(&digest))
            .await
            .starts_with("RTSP/1.0 200")
    );
    let replayed = describe_from(4, rtsp, "camera1", Some(&digest)).await;
    assert!(replayed.starts_with("RTSP/1.0 401"), "{replayed}");

    // Wrong passwords for `view` from 127.0.0.2: after five, even the right one is refused
    // there, and the account is refused everywhere, over HTTP too; other accounts and
    // addresses are not.
    for _ in 0..6 {
        let r = describe_from(2, rtsp, "camera0", Some(&basic("view", "guess-123"))).await;
        assert!(r.starts_with("RTSP/1.0 401"), "{r}");
    }
    let r = describe_from(2, rtsp, "camera0", Some(&basic("view", PASSWORD))).await;
    assert!(
        r.starts_with("RTSP/1.0 401"),
        "the blocked address got in: {r}"
    );
    let r = describe_from(3, rtsp, "camera0", Some(&basic("view", PASSWORD))).await;
    assert!(
        r.starts_with("RTSP/1.0 401"),
        "the blocked account got in: {r}"
    );
    assert_eq!(login(&server, "view", PASSWORD).await.status(), 429);
    let r = describe_from(3, rtsp, "camera0", Some(&basic("oper", PASSWORD))).await;
    assert!(r.starts_with("RTSP/1.0 200"), "{r}");

    // A player watching as `oper` is cut off when that user is deleted.
    let mut player = rtsp_player(&server, &admin, "oper").await;
    let r = server
        .rpc(Some(&admin), "delete_user", json!({"username": "oper"}))
        .await;
    assert_eq!(r["result"]["deleted"], true, "{r}");
    // ffmpeg would read for 120 s; the server closing its connection ends it (wait_exit
    // panics after 30 s).
    wait_exit(&mut player, Duration::from_secs(30));
}

/// Collects notifications on `ws` into `seen` until every method in `want` is there (bounded
/// wait).
async fn notifications_until(ws: &mut Ws, seen: &mut Vec<Value>, want: &[&str], limit: Duration) {
    use futures_util::StreamExt;
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let missing: Vec<&&str> = want
            .iter()
            .filter(|m| !seen.iter().any(|n| n["method"] == **m))
            .collect();
        if missing.is_empty() {
            return;
        }
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Text(t)))) => {
                let v: Value = serde_json::from_str(&t).expect("json");
                if v.get("id").is_none() {
                    seen.push(v);
                }
            }
            Ok(Some(Ok(_))) => {}
            other => panic!(
                "still waiting for {missing:?} ({other:?}); got {:?}",
                seen.iter().map(|n| n["method"].clone()).collect::<Vec<_>>()
            ),
        }
    }
}

/// A WebSocket signed in as `token` and subscribed to `topics`.
async fn subscribed(server: &Server, token: &str, topics: &[&str]) -> Ws {
    let mut ws = ws(server).await;
    let r = ws_call(&mut ws, json!({"jsonrpc": "2.0", "method": "authenticate", "params": {"auth_token": token}, "id": 1})).await;
    assert_eq!(r["result"]["authenticated"], true, "{r}");
    let r = ws_call(&mut ws, json!({"jsonrpc": "2.0", "method": "subscribe_events", "params": {"topics": topics}, "id": 2})).await;
    assert_eq!(r["result"]["subscribed"], true, "{r}");
    ws
}

/// Every notification a camera-service client can subscribe to, triggered through the real
/// appliance and received over one WebSocket subscribed to `*`. (`ptz.position` is in
/// ptz_api.rs, detection in detect.rs, `system.error` from a failing subsystem is the
/// supervisor's unit test.)
#[tokio::test]
async fn every_notification_a_client_subscribes_to_arrives() {
    let (server, admin) = camera0_up(camera_toml("camera0", "test", "", "off")).await;
    let mut ws = subscribed(&server, &admin, &["*"]).await;

    // A camera whose device is missing, with a PTZ link nobody answers: camera, PTZ and
    // snapshot errors, and the camera list change.
    let r = client()
        .post(server.url("/api/cameras"))
        .bearer_auth(&admin)
        .json(
            &json!({"id": "gone", "source": "v4l2", "url": "/dev/video97", "recording": "off",
            "ptz": {"transport": "raw-tcp", "addr": "127.0.0.1:1"}}),
        )
        .send()
        .await
        .expect("create");
    assert_eq!(r.status(), 201);
    let r = server
        .rpc(Some(&admin), "take_snapshot", json!({"device": "gone"}))
        .await;
    assert!(r["error"].is_object(), "{r}");
    // Snapshot, recording, settings, users.
    let r = server
        .rpc(Some(&admin), "take_snapshot", json!({"device": "camera0"}))
        .await;
    assert_eq!(r["result"]["status"], "SUCCESS", "{r}");
    let r = server
        .rpc(
            Some(&admin),
            "start_recording",
            json!({"device": "camera0"}),
        )
        .await;
    assert_eq!(r["result"]["status"], "RECORDING", "{r}");
    let mut got = Vec::new();
    notifications_until(
        &mut ws,
        &mut got,
        &["recording_status_update"],
        Duration::from_secs(30),
    )
    .await;
    // Stop once the first segment is being written.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let st = server
            .rpc(
                Some(&admin),
                "get_camera_status",
                json!({"device": "camera0"}),
            )
            .await;
        if st["result"]["recording"]["filename"].is_string() {
            break;
        }
        assert!(Instant::now() < deadline, "no segment: {st}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let r = server
        .rpc(Some(&admin), "stop_recording", json!({"device": "camera0"}))
        .await;
    assert!(r["result"].is_object(), "{r}");
    let r = server
        .rpc(
            Some(&admin),
            "update_settings",
            json!({"settings": {"device_name": "porch"}}),
        )
        .await;
    assert!(r["result"].is_object(), "{r}");
    let r = server
        .rpc(
            Some(&admin),
            "create_user",
            json!({"username": "newbie", "password": PASSWORD, "role": "viewer"}),
        )
        .await;
    assert_eq!(r["result"]["created"], true, "{r}");
    // A camera restart (bitrate change) goes through the camera states again.
    let r = client()
        .put(server.url("/api/cameras/camera0"))
        .bearer_auth(&admin)
        .json(&json!({"bitrate_kbps": 900}))
        .send()
        .await
        .expect("update");
    assert_eq!(r.status(), 200);

    notifications_until(
        &mut ws,
        &mut got,
        &[
            "camera_status_update",
            "recording_status_update",
            "snapshot.taken",
            "snapshot.error",
            "system.cameras_changed",
            "system.settings_changed",
            "system.users_changed",
            "system.health",
            "recording.progress",
            "ptz.error",
        ],
        Duration::from_secs(60),
    )
    .await;
    // The camera-service names keep the internal topic in their params, with a timestamp.
    let topics = |m: &str| -> Vec<String> {
        got.iter()
            .filter(|n| n["method"] == m)
            .filter_map(|n| n["params"]["topic"].as_str().map(str::to_string))
            .collect()
    };
    let rec = topics("recording_status_update");
    assert!(
        rec.contains(&"recording.start".into()) && rec.contains(&"recording.stop".into()),
        "{rec:?}"
    );
    assert!(!topics("camera_status_update").is_empty());
    let err = got
        .iter()
        .find(|n| n["method"] == "ptz.error")
        .expect("ptz.error");
    assert_eq!(err["params"]["device"], "gone", "{err}");
    assert!(err["params"]["error"].is_string(), "{err}");
    assert!(
        got.iter().all(|n| n["params"]["timestamp"].is_string()),
        "{got:?}"
    );
}

#[tokio::test]
async fn stop_streaming_takes_the_mount_down_and_the_server_says_what_it_can() {
    let (server, admin) = camera0_up(format!(
        "[media]\nmax_cameras = 2\n{}",
        camera_toml("camera0", "test", "", "off")
    ))
    .await;

    // What the server can do, and its camera limit, enforced.
    let info = server.rpc(Some(&admin), "get_server_info", json!({})).await;
    let caps = info["result"]["capabilities"].to_string();
    for c in ["streaming", "recording", "snapshots"] {
        assert!(caps.contains(c), "{info}");
    }
    let formats = info["result"]["supported_formats"].to_string();
    assert!(
        formats.contains("mp4") && formats.contains("jpeg"),
        "{info}"
    );
    assert_eq!(info["result"]["max_cameras"], 2, "{info}");
    let add = |id: &'static str| {
        let (server, admin) = (&server, admin.clone());
        async move {
            client()
                .post(server.url("/api/cameras"))
                .bearer_auth(&admin)
                .json(
                    &json!({"id": id, "source": "v4l2", "url": "/dev/video97", "recording": "off"}),
                )
                .send()
                .await
                .expect("create")
        }
    };
    assert_eq!(add("second").await.status(), 201);
    let third = add("third").await;
    assert_eq!(third.status(), 409);
    assert!(
        third
            .text()
            .await
            .unwrap_or_default()
            .contains("max_cameras")
    );

    // stop_streaming: the mount goes down and its players are disconnected; the recording
    // goes on; start_streaming brings it back.
    let r = server
        .rpc(
            Some(&admin),
            "start_recording",
            json!({"device": "camera0"}),
        )
        .await;
    assert_eq!(r["result"]["status"], "RECORDING", "{r}");
    let mut player = rtsp_player(&server, &admin, "view").await;
    let r = server
        .rpc(Some(&admin), "stop_streaming", json!({"device": "camera0"}))
        .await;
    assert_eq!(r["result"]["status"], "STOPPED", "{r}");
    wait_exit(&mut player, Duration::from_secs(30));
    let rtsp = server.rtsp.expect("rtsp");
    use base64::Engine;
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("view:{PASSWORD}"))
    );
    let refused = describe(rtsp, "camera0", Some(&auth));
    assert!(refused.starts_with("RTSP/1.0 404"), "{refused}");
    let r = server
        .rpc(Some(&admin), "get_stream_url", json!({"device": "camera0"}))
        .await;
    assert_eq!(r["result"]["stream_status"], "STOPPED", "{r}");
    assert_eq!(r["result"]["available"], false, "{r}");
    let st = server
        .rpc(
            Some(&admin),
            "get_camera_status",
            json!({"device": "camera0"}),
        )
        .await;
    assert!(
        st["result"]["recording"].is_object(),
        "recording goes on: {st}"
    );
    let r = server
        .rpc(
            Some(&admin),
            "start_streaming",
            json!({"device": "camera0"}),
        )
        .await;
    assert_eq!(r["result"]["status"], "STARTED", "{r}");
    let served = describe(rtsp, "camera0", Some(&auth));
    assert!(served.starts_with("RTSP/1.0 200"), "{served}");
    let r = server
        .rpc(Some(&admin), "stop_recording", json!({"device": "camera0"}))
        .await;
    assert!(
        r["result"]["filename"].is_string() || r["result"].is_object(),
        "{r}"
    );
}

#[tokio::test]
async fn snapshots_older_than_their_retention_are_deleted() {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let server = Server::start(Opts {
        toml: "[storage]\nsnapshot_retention_days = 7\n".into(),
        prepare: Some(Box::new(move |state: &std::path::Path| {
            let store = pinhole::store::Store::open(&state.join("pinhole.db")).expect("db");
            let dir = state.join("snapshots/camera0");
            std::fs::create_dir_all(&dir).expect("dir");
            for (name, age_days) in [("old.jpg", 8), ("recent.jpg", 6)] {
                std::fs::write(dir.join(name), b"\xff\xd8jpeg").expect("file");
                let row = pinhole::store::snapshots::NewSnapshot {
                    camera_id: "camera0".into(),
                    filename: name.into(),
                    taken_ms: now_ms - age_days * 86_400_000,
                    size_bytes: 6,
                    width: None,
                    height: None,
                    event_id: None,
                };
                store
                    .call_blocking(|c| pinhole::store::snapshots::insert(c, &row))
                    .expect("row");
            }
        })),
        ..Opts::with_roles()
    });
    let admin = server.token("admin").await;
    let dir = server.state().join("snapshots/camera0");
    let deadline = Instant::now() + Duration::from_secs(60);
    while dir.join("old.jpg").exists() {
        assert!(
            Instant::now() < deadline,
            "the 8-day-old snapshot is still there"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        dir.join("recent.jpg").exists(),
        "a 6-day-old snapshot is kept"
    );
    let list = server.rpc(Some(&admin), "list_snapshots", json!({})).await;
    let text = list.to_string();
    assert!(
        text.contains("recent") && !text.contains("old.jpg"),
        "{list}"
    );
}

/// camera0's preview is served, and is a JPEG.
async fn assert_preview_is_a_jpeg(server: &Server, token: &str) {
    let jpg = client()
        .get(server.url("/api/cameras/camera0/preview.jpg"))
        .bearer_auth(token)
        .send()
        .await
        .expect("preview");
    assert_eq!(jpg.status(), 200);
    assert_eq!(&jpg.bytes().await.expect("jpeg")[..2], &[0xFF, 0xD8]);
}

/// The codec of the first video stream of a file or URL, as ffprobe names it.
fn probed_codec(input: &str) -> String {
    probed_streams(input, "v:0").concat()
}

/// Polls `get_camera_status` of `device` until `done` holds (within 30 s); returns that status.
async fn camera_status_until(
    server: &Server,
    token: &str,
    device: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let params = json!({"device": device});
    rpc_until(server, token, "get_camera_status", params, what, done).await
}

#[tokio::test]
async fn relays_an_h265_camera_and_follows_it_to_h264() {
    // An H.265 camera as most are: an IDR picture once, then a CRA picture every second (x265's
    // default), here a 30 s clip replayed in a loop. Another viewer keeps it going, so Pinhole
    // joins it mid-stream, long after the IDR: the relay must start on a CRA picture.
    let ipcam = tokio::task::spawn_blocking(|| {
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("test-clips");
        ipcam::IpCamera::replay(&ipcam::clip(&dir, ipcam::IpCodec::H265, 640, 360, 600, 30))
    })
    .await
    .expect("the IP camera");
    let mut viewer = Command::new("ffmpeg")
        .args(["-v", "quiet", "-rtsp_transport", "tcp", "-i", &ipcam.url()])
        .args(["-c", "copy", "-f", "null", "-"])
        .stdin(std::process::Stdio::null())
        .spawn()
        .expect("ffmpeg");
    tokio::time::sleep(Duration::from_secs(4)).await;
    let mut server = Server::start(Opts {
        toml: format!(
            "{}[storage]\nsegment_secs = 10\n",
            camera_toml("camera0", "rtsp", &ipcam.url(), "continuous")
        ),
        env: vec![("PINHOLE_MEDIA__STALL_TIMEOUT_SECS".into(), "3".into())],
        ..Opts::with_roles()
    });
    let admin = server.token("admin").await;
    wait_status(
        &server,
        &admin,
        "camera0",
        "CONNECTED",
        Duration::from_secs(30),
    )
    .await;
    let st = camera_status_until(&server, &admin, "camera0", "status", |_| true).await;
    assert_eq!(st["codec"], "h265", "{st}");
    // Started on the first CRA picture: no "no frame within 6 s" and reconnect before it.
    assert_eq!(st["restarts"], 0, "{st}");
    assert_eq!(st["encoder"], "none (passthrough)", "{st}");
    assert_eq!(st["resolution"], "640x360", "the camera's own size: {st}");
    let caps = server
        .rpc(
            Some(&admin),
            "get_camera_capabilities",
            json!({"device": "camera0"}),
        )
        .await;
    assert_eq!(caps["result"]["formats"][0], "H265", "{caps}");

    // Relayed as it comes: a foreign client sees HEVC on Pinhole's RTSP URL.
    let url = rtsp_url(&server, &format!("view:{PASSWORD}"), "camera0");
    assert_eq!(probed_codec(&url), "hevc");
    // Decoded only for the preview and snapshots.
    assert_preview_is_a_jpeg(&server, &admin).await;
    let r = server
        .rpc(Some(&admin), "take_snapshot", json!({"device": "camera0"}))
        .await;
    assert_eq!(r["result"]["status"], "SUCCESS", "{r}");
    // The live fMP4 preview carries HEVC as it is, named for the browser to decide.
    let mime = live_fmp4(&server, &admin, "camera0").await;
    assert!(mime.starts_with("video/mp4; codecs=\"hvc1.1.6.L"), "{mime}");

    // Its owner switches the camera to H.264: the relay reconnects and follows.
    ipcam.switch_codec(ipcam::IpCodec::H264);
    camera_status_until(
        &server,
        &admin,
        "camera0",
        "the relay did not follow",
        |st| st["codec"] == "h264" && st["status"] == "CONNECTED",
    )
    .await;
    assert_eq!(probed_codec(&url), "h264", "the mount follows the camera");
    assert_preview_is_a_jpeg(&server, &admin).await;
    tokio::time::sleep(Duration::from_secs(3)).await;

    // Every segment is whole and decodes: HEVC ones (hvc1) before the switch, H.264 after.
    assert!(server.stop().success());
    let _ = viewer.kill();
    let _ = viewer.wait();
    let files = recordings_on_disk(&server.state(), "camera0");
    let mut codecs = Vec::new();
    for f in &files {
        decodes(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        codecs.push(probed_codec(&f.to_string_lossy()));
    }
    assert_eq!(
        codecs.first().map(String::as_str),
        Some("hevc"),
        "{codecs:?}"
    );
    assert_eq!(
        codecs.last().map(String::as_str),
        Some("h264"),
        "{codecs:?}"
    );
}

#[tokio::test]
async fn an_rtsp_camera_in_a_codec_it_cannot_relay_says_so_and_nothing_else_suffers() {
    let ipcam = ipcam::IpCamera::started(ipcam::IpCodec::Jpeg, None).await;
    // Both RTSP clients: Pinhole's own (the default) and rtspsrc.
    for client in ["retina", "gstreamer"] {
        let (server, admin) = camera0_up_with(
            format!(
                "{}{}",
                camera_toml("camera0", "test", "", "off"),
                camera_toml("camera1", "rtsp", &ipcam.url(), "off")
            ),
            vec![("PINHOLE_MEDIA__RTSP_CLIENT".into(), client.into())],
        )
        .await;
        let st = camera_status_until(&server, &admin, "camera1", "no clear error", |st| {
            st["error"].as_str().unwrap_or_default().contains("JPEG")
        })
        .await;
        assert!(
            st["error"]
                .as_str()
                .unwrap_or_default()
                .contains("H.264 and H.265"),
            "{client}: {st}"
        );
        assert_ne!(st["status"], "CONNECTED", "{client}: {st}");
        let url = rtsp_url(&server, &format!("view:{PASSWORD}"), "camera0");
        assert_eq!(
            probed_codec(&url),
            "h264",
            "{client}: the other camera streams on"
        );
    }
}

#[tokio::test]
async fn relays_an_ip_camera_over_udp() {
    // `media.rtsp_tcp = false`: RTP over UDP from the camera, as some cameras and networks want.
    let ipcam = ipcam::IpCamera::started(ipcam::IpCodec::H264, None).await;
    let (server, admin) = camera0_up_with(
        camera_toml("camera0", "rtsp", &ipcam.url(), "off"),
        vec![
            ("PINHOLE_MEDIA__RTSP_TCP".into(), "false".into()),
            ("PINHOLE_LOG__LEVEL".into(), "info".into()),
        ],
    )
    .await;
    assert!(
        server.stderr_text().contains("with Pinhole's RTSP client"),
        "played by retina, not rtspsrc"
    );
    let url = rtsp_url(&server, &format!("view:{PASSWORD}"), "camera0");
    assert_eq!(probed_codec(&url), "h264");
    assert_preview_is_a_jpeg(&server, &admin).await;
}

#[tokio::test]
async fn an_http_mjpeg_camera_is_encoded_once_at_its_own_size() {
    // The camera: ffmpeg's HTTP server sending multipart JPEG, as cheap IP cameras do.
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/video.mjpg");
    let _camera = KillOnDrop(
        Command::new("ffmpeg")
            .args(["-v", "error", "-re", "-f", "lavfi", "-i"])
            .arg("testsrc2=size=640x360:rate=10")
            .args(["-q:v", "5", "-f", "mpjpeg", "-content_type"])
            .arg("multipart/x-mixed-replace;boundary=ffmpeg")
            .args(["-listen", "1", &url])
            .stdin(std::process::Stdio::null())
            .spawn()
            .expect("ffmpeg"),
    );
    let (server, admin) = camera0_up(camera_toml("camera0", "mjpeg", &url, "off")).await;
    let st = camera_status_until(&server, &admin, "camera0", "status", |_| true).await;
    assert_eq!(st["codec"], "h264", "{st}");
    assert_ne!(st["encoder"], "none (passthrough)", "encoded here: {st}");
    assert_eq!(st["resolution"], "640x360", "the camera's own size: {st}");
    let (ok, out, err) = ffprobe(&rtsp_url(&server, &format!("view:{PASSWORD}"), "camera0"));
    assert!(ok, "{err}");
    assert!(
        out.contains("\"h264\"") && out.contains("\"width\": 640"),
        "{out}"
    );
    assert_preview_is_a_jpeg(&server, &admin).await;
    // Not a URL of an MJPEG stream: a clear field error.
    let r = client()
        .post(server.url("/api/cameras"))
        .bearer_auth(&admin)
        .json(&json!({"id": "cam9", "source": "mjpeg", "url": "rtsp://x/y"}))
        .send()
        .await
        .expect("post");
    assert!(r.status().is_client_error(), "{}", r.status());
    let body = r.text().await.unwrap_or_default();
    assert!(body.contains("MJPEG stream"), "{body}");
}

#[tokio::test]
async fn hls_plays_from_the_same_encode_behind_the_same_login() {
    let (server, _admin) = camera0_up(camera_toml("camera0", "test", "", "off")).await;
    let view = server.token("view").await;
    let url = server.url("/api/cameras/camera0/hls/index.m3u8");
    let anonymous = client().get(&url).send().await.expect("get");
    assert_eq!(anonymous.status(), 401);
    let list = server.rpc(Some(&view), "get_camera_list", json!({})).await;
    let hls = list["result"]["cameras"][0]["streams"]["hls"]
        .as_str()
        .unwrap_or_else(|| panic!("{list}"));
    assert_eq!(hls, url, "{list}");

    // A player (ffmpeg's HLS demuxer) reads 6 s through the live playlist with the viewer's
    // token; what it got is H.264 and decodes from its first frame.
    let out = server.dir.path().join("hls.mp4");
    read_hls(&url, &view, 6, &out);
    decodes(&out).unwrap_or_else(|e| panic!("what HLS delivered does not decode: {e}"));
    assert_eq!(probed_codec(&out.to_string_lossy()), "h264");
    // 6 s of pictures (the harness's cameras run at 10 fps), none missing.
    let frames = frame_count(&out);
    assert!(frames >= 59, "6 s at 10 fps, got {frames} frames");

    // And Chromium plays it natively, signed in with its session cookie.
    viewer_browser(&server, "hls.mjs", &[]).await;
}

/// Reads `secs` of a camera's HLS as a player does (ffmpeg's HLS demuxer, with the viewer's
/// token) into `out`.
fn read_hls(url: &str, token: &str, secs: u32, out: &std::path::Path) {
    let (ok, _, err) = run(
        Command::new("ffmpeg")
            .args(["-v", "error", "-headers"])
            .arg(format!("Authorization: Bearer {token}\r\n"))
            .args(["-i", url, "-t", &secs.to_string(), "-c", "copy"])
            .arg(out),
        60,
    );
    assert!(ok, "{err}");
}

#[tokio::test]
async fn hls_carries_an_ip_cameras_sound_and_goes_on_when_it_stops() {
    let (ipcam, server, _admin, view) = camera0_with_sound().await;
    let url = server.url("/api/cameras/camera0/hls/index.m3u8");
    // 6 s through the live playlist: H.264 and AAC, decoding, with the camera's tone.
    let out = server.dir.path().join("hls-audio.mp4");
    read_hls(&url, &view, 6, &out);
    assert_picture_and_tone(&out, "what HLS delivered");
    // On the camera's page, a browser without Media Source Extensions (an iPhone's) offers to
    // listen through HLS, and plays the picture with its sound.
    viewer_browser(&server, "listen.mjs", &["hls"]).await;

    // The microphone is switched off: the playlist goes on, after a discontinuity, with a new
    // init segment and video alone; once the older segments have left the window a player
    // starting then gets video alone, decoding.
    ipcam.switch(ipcam::IpCodec::H264, None);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen_discontinuity = false;
    let playlist = loop {
        let p = client()
            .get(&url)
            .bearer_auth(&view)
            .send()
            .await
            .expect("playlist")
            .text()
            .await
            .expect("text");
        seen_discontinuity |= p.contains("#EXT-X-DISCONTINUITY\n");
        if seen_discontinuity && p.matches("#EXT-X-MAP:").count() == 1 && !p.contains("init-0.mp4")
        {
            break p;
        }
        assert!(
            Instant::now() < deadline,
            "the playlist never moved on: {p}\n{}",
            server.stderr_text()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert!(
        playlist.contains("#EXT-X-DISCONTINUITY-SEQUENCE:1\n"),
        "{playlist}"
    );
    let out = server.dir.path().join("hls-silent.mp4");
    read_hls(&url, &view, 4, &out);
    decodes(&out).unwrap_or_else(|e| panic!("after the microphone went: {e}"));
    let path = out.to_string_lossy().to_string();
    assert_eq!(
        stream_codecs(Command::new("ffprobe"), &path, None),
        ["h264"]
    );
}

/// An IP camera sending a tone as AAC as camera0, streaming with its sound: the camera, the
/// appliance, and admin and viewer tokens.
async fn camera0_with_sound() -> (ipcam::IpCamera, Server, String, String) {
    let ipcam = ipcam::IpCamera::with_aac().await;
    let (server, admin) = camera0_up(ipcam.beside_a_test_camera("")).await;
    camera_status_until(&server, &admin, "camera0", "its audio", |st| {
        st["audio"] == "aac"
    })
    .await;
    let view = server.token("view").await;
    (ipcam, server, admin, view)
}

/// `out` holds H.264 and AAC that decode, with the test camera's 440 Hz tone.
fn assert_picture_and_tone(out: &std::path::Path, what: &str) {
    decodes(out).unwrap_or_else(|e| panic!("{what} does not decode: {e}"));
    let path = out.to_string_lossy().to_string();
    let mut codecs = stream_codecs(Command::new("ffprobe"), &path, None);
    codecs.sort();
    assert_eq!(codecs, ["aac", "h264"], "{what}");
    let db = mean_volume_db(&path, &[], &[]).expect("audio samples");
    assert!(db > -30.0, "{what}: mean volume {db} dB");
}

/// Runs the browser test `script` as the viewer, on camera0, with `more` arguments after those.
async fn viewer_browser(server: &Server, script: &'static str, more: &[&str]) {
    let base = server.url("");
    let context = server.stderr_text();
    let mut args = vec![base, "view".into(), PASSWORD.into(), "camera0".into()];
    args.extend(more.iter().map(|a| a.to_string()));
    tokio::task::spawn_blocking(move || run_browser_script(script, &args, &[], || context))
        .await
        .expect("browser");
}

/// Opens a camera's live WebSocket as `token`; returns the socket and the MIME type it announced.
async fn live_socket(
    server: &Server,
    token: &str,
    camera: &str,
) -> (
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    String,
) {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};
    let url = format!("ws://{}/api/cameras/{camera}/live", server.addr);
    let mut req = url.as_str().into_client_request().expect("request");
    req.headers_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("header"),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(req)
        .await
        .expect("connect");
    match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
        Ok(Some(Ok(Message::Text(t)))) => {
            let hello: Value = serde_json::from_str(&t).expect("json");
            let mime = hello["mime"].as_str().expect("mime").to_string();
            (ws, mime)
        }
        other => panic!("expected the MIME type, got {other:?}"),
    }
}

#[tokio::test]
async fn the_live_websocket_carries_an_ip_cameras_sound_and_starts_over_when_it_stops() {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    let (ipcam, server, admin, view) = camera0_with_sound().await;
    let (mut ws, mime) = live_socket(&server, &view, "camera0").await;
    assert!(
        mime.starts_with("video/mp4; codecs=\"avc1.") && mime.ends_with(", mp4a.40.2\""),
        "{mime}"
    );
    // 4 s of it: H.264 and AAC that decode, with the camera's tone.
    let mut data = Vec::new();
    let until = Instant::now() + Duration::from_secs(4);
    while Instant::now() < until {
        match tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
            Ok(Some(Ok(Message::Binary(b)))) => data.extend_from_slice(&b),
            other => panic!("live stream ended: {other:?}"),
        }
    }
    let out = server.dir.path().join("live-audio.mp4");
    std::fs::write(&out, &data).expect("write");
    assert_picture_and_tone(&out, "the live stream");
    // On the camera's page, Listen plays it in Chromium through Media Source Extensions,
    // picture and sound; when the microphone is switched off the player starts over on the
    // picture alone by itself.
    let signals = tempfile::tempdir().expect("tempdir");
    let base = server.url("");
    let context = server.stderr_text();
    let signal_dir = signals.path().to_string_lossy().to_string();
    let browser = tokio::task::spawn_blocking(move || {
        let args = [
            base,
            "view".into(),
            PASSWORD.into(),
            "camera0".into(),
            "mse".into(),
        ];
        run_browser_script("listen.mjs", &args, &[("SIGNAL_DIR", signal_dir)], || {
            context
        })
    });
    let listening = signals.path().join("listening");
    let deadline = Instant::now() + Duration::from_secs(90);
    while !listening.exists() {
        assert!(
            !browser.is_finished(),
            "the browser ended before it listened"
        );
        assert!(Instant::now() < deadline, "the page never played the sound");
        // The test's own socket is read meanwhile, so it is not closed as a slow viewer.
        match tokio::time::timeout(Duration::from_millis(200), ws.next()).await {
            Err(_) | Ok(Some(Ok(Message::Binary(_)))) => {}
            other => panic!("the live stream ended with its sound on: {other:?}"),
        }
    }

    // The microphone is switched off: the socket closes, and the viewer reconnecting gets the
    // picture alone.
    ipcam.switch(ipcam::IpCodec::H264, None);
    std::fs::write(signals.path().join("switched"), b"").expect("signal");
    let closed = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Binary(_))) => continue,
                Some(Ok(Message::Close(frame))) => break frame.map(|f| u16::from(f.code)),
                other => panic!("the socket ended without a close: {other:?}"),
            }
        }
    })
    .await
    .expect("the socket closes once the sound is gone");
    assert_eq!(closed, Some(1011));
    camera_status_until(&server, &admin, "camera0", "no audio", |st| {
        st["audio"].is_null()
    })
    .await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_ws, mime) = live_socket(&server, &view, "camera0").await;
        if !mime.contains("mp4a") {
            break;
        }
        assert!(Instant::now() < deadline, "still {mime}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let mime = live_fmp4(&server, &view, "camera0").await;
    assert!(!mime.contains("mp4a"), "{mime}");
    browser.await.expect("browser");
}

#[tokio::test]
async fn a_sub_stream_feeds_previews_and_is_served_beside_the_main_one() {
    let (main, sub) = tokio::task::spawn_blocking(|| {
        (
            ipcam::IpCamera::start(ipcam::IpCodec::H265),
            ipcam::IpCamera::start(ipcam::IpCodec::H264),
        )
    })
    .await
    .expect("the IP camera's two streams");
    let server = Server::start(Opts {
        toml: format!(
            "{}sub_url = \"{}\"\n",
            camera_toml("camera0", "rtsp", &main.url(), "off"),
            sub.url()
        ),
        // rtspsrc, the client kept for cameras Pinhole's own cannot talk to, relays both.
        env: vec![
            ("PINHOLE_MEDIA__STALL_TIMEOUT_SECS".into(), "3".into()),
            ("PINHOLE_MEDIA__RTSP_CLIENT".into(), "gstreamer".into()),
        ],
        ..Opts::with_roles()
    });
    let admin = server.token("admin").await;
    let st = camera_status_until(&server, &admin, "camera0", "both streams", |s| {
        s["status"] == "CONNECTED" && s["sub_stream"]["status"] == "CONNECTED"
    })
    .await;
    assert_eq!(st["codec"], "h265", "{st}");
    assert_eq!(st["sub_stream"]["codec"], "h264", "{st}");
    let sub_url = st["sub_stream"]["rtsp"].as_str().expect("sub URL");
    assert!(sub_url.ends_with("/camera0/sub"), "{st}");
    let with_login = |u: &str| u.replacen("rtsp://", &format!("rtsp://view:{PASSWORD}@"), 1);
    assert_eq!(probed_codec(&with_login(sub_url)), "h264");
    let main_url = rtsp_url(&server, &format!("view:{PASSWORD}"), "camera0");
    assert_eq!(probed_codec(&main_url), "hevc");
    assert_preview_is_a_jpeg(&server, &admin).await;

    // The main stream goes down: the preview, decoded from the sub stream, carries on.
    drop(main);
    camera_status_until(&server, &admin, "camera0", "the main stream's loss", |s| {
        s["status"] != "CONNECTED"
    })
    .await;
    assert_preview_is_a_jpeg(&server, &admin).await;

    // Removing the sub stream takes its mount down.
    let r = client()
        .put(server.url("/api/cameras/camera0"))
        .bearer_auth(&admin)
        .json(&json!({"sub_url": ""}))
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), 200);
    camera_status_until(
        &server,
        &admin,
        "camera0",
        "the sub stream's removal",
        |s| s["sub_stream"].is_null(),
    )
    .await;
    let (ok, _, _) = ffprobe(&with_login(sub_url));
    assert!(!ok, "the sub stream is no longer served");
}

/// The codec names ffprobe sees in `input`'s streams of `kind` (`v` or `a`).
fn probed_streams(input: &str, kind: &str) -> Vec<String> {
    let mut ffprobe = Command::new("timeout");
    ffprobe.args(["30", "ffprobe"]);
    stream_codecs(ffprobe, input, Some(kind))
}

#[tokio::test]
async fn an_ip_cameras_audio_is_relayed_and_recorded_as_aac() {
    // Two cameras as installers meet them: one sends AAC, the other G.711 µ-law (encoded to AAC
    // once on the way in, since MP4 and RTMP do not take G.711).
    let (aac, pcmu) = tokio::task::spawn_blocking(|| {
        (
            ipcam::IpCamera::start_with_audio(ipcam::IpCodec::H264, Some(ipcam::IpAudio::Aac)),
            ipcam::IpCamera::start_with_audio(ipcam::IpCodec::H264, Some(ipcam::IpAudio::Pcmu)),
        )
    })
    .await
    .expect("the IP cameras");
    let mut server = Server::start(Opts {
        toml: format!(
            "{}{}[storage]\nsegment_secs = 10\n",
            camera_toml("camera0", "rtsp", &aac.url(), "continuous"),
            camera_toml("camera1", "rtsp", &pcmu.url(), "continuous"),
        ),
        env: vec![("PINHOLE_MEDIA__STALL_TIMEOUT_SECS".into(), "3".into())],
        ..Opts::with_roles()
    });
    let admin = server.token("admin").await;
    for (camera, audio) in [("camera0", "aac"), ("camera1", "pcmu")] {
        let st = camera_status_until(&server, &admin, camera, "audio", |st| {
            st["status"] == "CONNECTED" && st["audio"] == audio
        })
        .await;
        assert_eq!(st["codec"], "h264", "{st}");
        // Served with its audio: a foreign client sees H.264 and AAC on Pinhole's URL.
        let url = rtsp_url(&server, &format!("view:{PASSWORD}"), camera);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            // The mount is rebuilt once the camera's audio is known: a client may be early.
            if probed_streams(&url, "a") == ["aac"] {
                break;
            }
            assert!(Instant::now() < deadline, "{camera}: no AAC on {url}");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        assert_eq!(probed_streams(&url, "v"), ["h264"]);
    }
    // Its owner turns camera0's microphone off: the relay follows, video only, and records on.
    aac.switch(ipcam::IpCodec::H264, None);
    camera_status_until(&server, &admin, "camera0", "audio gone", |st| {
        st["status"] == "CONNECTED" && st["audio"].is_null()
    })
    .await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    let url = rtsp_url(&server, &format!("view:{PASSWORD}"), "camera0");
    assert_eq!(probed_streams(&url, "a"), Vec::<String>::new());
    assert_eq!(probed_streams(&url, "v"), ["h264"]);
    assert!(server.stop().success());
    for camera in ["camera0", "camera1"] {
        let files = recordings_on_disk(&server.state(), camera);
        assert!(files.len() >= 2, "{camera}: {files:?}");
        let mut with_audio = 0;
        for f in &files {
            decodes(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            let audio = probed_streams(&f.to_string_lossy(), "a");
            // The tone is there, not silence (volumedetect: -inf for silence). A segment that
            // began as camera0's audio was switched off may hold an empty audio track.
            if audio == ["aac"]
                && let Some(db) = mean_volume_db(&f.to_string_lossy(), &[], &[])
            {
                assert!(db > -30.0, "{}: mean volume {db} dB", f.display());
                with_audio += 1;
            }
        }
        // Every segment while the camera sent audio holds it (the first may start before the
        // first audio frame; the audio's coming then starts the next); camera0's last does not.
        if camera == "camera1" {
            assert!(with_audio + 1 >= files.len(), "{with_audio} of {files:?}");
        } else {
            assert!(with_audio >= 1, "{files:?}");
            let last = files.last().map(|f| f.to_string_lossy().into_owned());
            assert_eq!(
                probed_streams(&last.unwrap_or_default(), "a"),
                Vec::<String>::new()
            );
        }
    }
}

#[tokio::test]
async fn rtspsrc_keeps_an_ip_cameras_g711_audio_too() {
    // `media.rtsp_client = "gstreamer"` (and every rtsps:// camera): the same audio through
    // rtspsrc's pads, here G.711 A-law.
    let ipcam = ipcam::IpCamera::started(ipcam::IpCodec::H264, Some(ipcam::IpAudio::Pcma)).await;
    let mut server = Server::start(Opts {
        toml: camera_toml("camera0", "rtsp", &ipcam.url(), "continuous"),
        env: vec![("PINHOLE_MEDIA__RTSP_CLIENT".into(), "gstreamer".into())],
        ..Opts::with_roles()
    });
    let admin = server.token("admin").await;
    camera_status_until(&server, &admin, "camera0", "audio", |st| {
        st["status"] == "CONNECTED" && st["audio"] == "pcma"
    })
    .await;
    let url = rtsp_url(&server, &format!("view:{PASSWORD}"), "camera0");
    let deadline = Instant::now() + Duration::from_secs(20);
    while probed_streams(&url, "a") != ["aac"] {
        assert!(Instant::now() < deadline, "no AAC on {url}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(server.stop().success());
    let files = recordings_on_disk(&server.state(), "camera0");
    let last = files.last().expect("a recording");
    decodes(last).unwrap_or_else(|e| panic!("{}: {e}", last.display()));
    let db = mean_volume_db(&last.to_string_lossy(), &[], &[]).expect("audio samples");
    assert!(db > -30.0, "mean volume {db} dB");
}

/// GStreamer's device monitor with the test device provider (`tests/gst-fake-devices`, standing
/// in for udev and V4L2 devices, which this machine has none of) loaded from a directory of its
/// own: returns (the plugin directory, the directory whose files are the plugged-in devices).
fn fake_devices() -> (tempfile::TempDir, tempfile::TempDir) {
    let exe = std::env::current_exe().expect("test binary");
    let built = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target directory")
        .join("libgstpinholefakedevices.so");
    assert!(
        built.exists(),
        "{} is missing: `cargo build -p gst-fake-devices` (`just test` does)",
        built.display()
    );
    let plugins = tempfile::tempdir().expect("tempdir");
    std::fs::copy(&built, plugins.path().join("libgstpinholefakedevices.so")).expect("copy");
    (plugins, tempfile::tempdir().expect("tempdir"))
}

#[tokio::test]
async fn a_usb_camera_plugged_in_is_announced_listed_added_from_the_page_and_goes_when_pulled_out()
{
    let (plugins, plugged) = fake_devices();
    // camera1 is configured on a device that is not plugged in yet: it fails and waits 30 s
    // before it tries again.
    let server = Server::start(Opts {
        toml: format!(
            "{}[supervisor]\nrestart_backoff_initial_ms = 30000\nrestart_backoff_max_secs = 30\n",
            camera_toml("camera1", "v4l2", "/dev/video42", "off")
        ),
        env: vec![
            (
                "GST_PLUGIN_PATH".into(),
                plugins.path().to_string_lossy().into(),
            ),
            (
                "GST_REGISTRY".into(),
                plugins.path().join("registry.bin").to_string_lossy().into(),
            ),
            (
                "PINHOLE_FAKE_DEVICES".into(),
                plugged.path().to_string_lossy().into(),
            ),
        ],
        ..Opts::with_roles()
    });
    let admin = server.token("admin").await;
    let failing = camera_status_until(&server, &admin, "camera1", "camera1 failing", |st| {
        st["state"] == "reconnecting" || st["state"] == "failed"
    })
    .await;
    let restarts = failing["restarts"].as_u64().expect("restarts");
    let devices = get_json_as(&server, "/api/devices", &admin).await;
    assert_eq!(devices["total"], 0, "{devices}");
    let mut ws = subscribed(
        &server,
        &admin,
        &["camera.device_added", "camera.device_removed"],
    )
    .await;

    // Plugged in: announced, listed with what it offers, and camera1 restarted at once.
    std::fs::write(plugged.path().join("USB Camera"), "/dev/video42").expect("plug");
    let mut seen = Vec::new();
    notifications_until(
        &mut ws,
        &mut seen,
        &["camera.device_added"],
        Duration::from_secs(20),
    )
    .await;
    let added = &seen[0]["params"];
    assert_eq!(added["url"], "/dev/video42", "{added}");
    assert_eq!(added["name"], "USB Camera", "{added}");
    assert_eq!(added["source"], "v4l2", "{added}");
    let devices = get_json_as(&server, "/api/devices", &admin).await;
    assert_eq!(devices["total"], 1, "{devices}");
    assert_eq!(
        devices["devices"][0]["resolutions"],
        json!(["1280x720", "640x480"])
    );
    assert_eq!(devices["devices"][0]["formats"], json!(["MJPEG", "YUY2"]));
    // camera1 tries again at once, not after its 30 s (and fails again: the test device's path
    // is not a V4L2 device).
    let plugged_at = Instant::now();
    camera_status_until(&server, &admin, "camera1", "camera1 restarted", |st| {
        st["restarts"].as_u64() > Some(restarts)
    })
    .await;
    assert!(
        plugged_at.elapsed() < Duration::from_secs(25),
        "camera1 waited for its backoff"
    );
    let list = server
        .rpc(Some(&admin), "list_local_devices", json!({}))
        .await;
    assert_eq!(
        list["result"]["devices"][0]["url"], "/dev/video42",
        "{list}"
    );

    // Pulled out: announced and gone from the list.
    std::fs::remove_file(plugged.path().join("USB Camera")).expect("unplug");
    notifications_until(
        &mut ws,
        &mut seen,
        &["camera.device_removed"],
        Duration::from_secs(20),
    )
    .await;
    let removed = seen
        .iter()
        .find(|n| n["method"] == "camera.device_removed")
        .expect("removed");
    assert_eq!(removed["params"]["url"], "/dev/video42", "{removed}");
    let devices = get_json_as(&server, "/api/devices", &admin).await;
    assert_eq!(devices["total"], 0, "{devices}");

    // The page: the settings' camera list shows cameras as they are plugged in, adds one in a
    // click, and drops one pulled out (the script plugs and pulls by the same files).
    let base = server.url("");
    let context = server.stderr_text();
    let dir = plugged.path().to_string_lossy().to_string();
    tokio::task::spawn_blocking(move || {
        run_browser_script(
            "devices.mjs",
            &[base, "admin".into(), PASSWORD.into(), dir],
            &[],
            || context,
        )
    })
    .await
    .expect("browser");
    let cams = get_json_as(&server, "/api/cameras", &admin).await;
    let added = cams
        .as_array()
        .and_then(|a| a.iter().find(|c| c["url"] == "/dev/video43"))
        .unwrap_or_else(|| panic!("{cams}"));
    assert_eq!(added["source"], "v4l2", "{added}");
    assert_eq!(added["name"], "Desk Camera", "{added}");
    assert_eq!(
        (added["width"].as_u64(), added["height"].as_u64()),
        (Some(1280), Some(720))
    );
}
