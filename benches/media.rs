//! Media engine figures (not a timed test): starts the real `pinhole` binary with test cameras
//! and foreign RTSP clients, and prints CPU (share of one core) and RSS of the appliance process,
//! each against a baseline measured in the same run:
//!
//! 1. fan-out: one 720p30 camera with 0, 1, 4 and 16 RTSP clients (`ffmpeg -c copy`);
//! 2. relay + record of a 1080p ~4 Mbit/s RTSP source vs `ffmpeg -c copy -f segment`;
//! 3. RSS with 4 encoding 720p cameras, and with 4 relayed cameras;
//! 4. time from process start to the first RTP packet at an RTSP client (a minimal client here);
//! 5. video lost by a crash: kill -9 8 s into a segment, at 500 ms and 1000 ms fragments, measured
//!    from the segment's start in the index to the last frame that decodes;
//! 6. RSS coming back: a recording camera added and deleted 20 times, then one camera's pipeline
//!    rebuilt 20 times (a bitrate change each), RSS after the first cycle and after the last.
//! 7. going out: a 720p30 stream with a text overlay and a PNG logo sent to nginx's RTMP module,
//!    against ffmpeg doing the same decode, overlays and x264 encode; then the extra CPU of a
//!    second destination on the same stream.
//!
//! `cargo bench --bench media [-- --window SECS] [--crash-only | --rss-only | --relay-only | --sixteen-only | --broadcast-only]`
//! (`PINHOLE_BENCH_LOG=1` shows the appliances' warnings)

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[path = "../tests/common/ipcam.rs"]
mod ipcam;
#[path = "../tests/common/rtmp.rs"]
mod rtmp;
mod support;

use support::{PASSWORD, USER, camera, ffmpeg_rtsp_client, free_port, measure, start, start_with};

fn rtsp_url(a: SocketAddr, cam: &str) -> String {
    format!("rtsp://{USER}:{PASSWORD}@{a}/{cam}")
}

/// Minimal RTSP client over TCP interleaved with Basic auth: returns once the first RTP
/// packet arrives (or None after `limit`).
fn first_rtp_packet(addr: SocketAddr, cam: &str, limit: Duration) -> Option<Instant> {
    use base64::Engine;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    let deadline = Instant::now() + limit;
    let mut s = loop {
        match TcpStream::connect(addr) {
            Ok(s) => break s,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            Err(_) => return None,
        }
    };
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let base = format!("rtsp://{addr}/{cam}");
    let mut cseq = 0;
    let mut request = |s: &mut TcpStream, method: &str, url: &str, extra: &str| -> Option<String> {
        cseq += 1;
        let req = format!(
            "{method} {url} RTSP/1.0\r\nCSeq: {cseq}\r\nAuthorization: Basic {auth}\r\n{extra}\r\n"
        );
        s.write_all(req.as_bytes()).ok()?;
        let mut buf = Vec::new();
        let mut byte = [0u8; 1];
        while !buf.ends_with(b"\r\n\r\n") {
            s.read_exact(&mut byte).ok()?;
            buf.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&buf).into_owned();
        let len = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(0);
        let mut body = vec![0u8; len];
        s.read_exact(&mut body).ok()?;
        Some(head + &String::from_utf8_lossy(&body))
    };
    // The camera may still be starting: retry DESCRIBE until it answers 200.
    let sdp = loop {
        let r = request(&mut s, "DESCRIBE", &base, "Accept: application/sdp\r\n")?;
        if r.starts_with("RTSP/1.0 200") {
            break r;
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let control = sdp
        .lines()
        .find_map(|l| l.strip_prefix("a=control:"))
        .filter(|c| *c != "*")
        .map(|c| {
            if c.starts_with("rtsp://") {
                c.to_string()
            } else {
                format!("{base}/{c}")
            }
        })
        .unwrap_or_else(|| format!("{base}/stream=0"));
    let setup = request(
        &mut s,
        "SETUP",
        &control,
        "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n",
    )?;
    let session = setup
        .lines()
        .find_map(|l| l.strip_prefix("Session: "))
        .map(|v| v.split(';').next().unwrap_or(v).trim().to_string())?;
    let play = format!("Session: {session}\r\nRange: npt=now-\r\n");
    cseq += 1;
    let req = format!(
        "PLAY {base} RTSP/1.0\r\nCSeq: {cseq}\r\nAuthorization: Basic {auth}\r\n{play}\r\n"
    );
    s.write_all(req.as_bytes()).ok()?;
    let mut byte = [0u8; 1];
    loop {
        s.read_exact(&mut byte).ok()?;
        if byte[0] == b'$' {
            return Some(Instant::now());
        }
        if Instant::now() > deadline {
            return None;
        }
    }
}

fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Seconds of video a `kill -9` 8 s into a segment loses with `fragment_ms` fragments: the
/// time from the segment's start (its index row) to the kill, less what decodes from the file.
fn crash_loss(fragment_ms: u32) -> Option<f64> {
    let toml = format!(
        "[storage]\nsegment_secs = 60\nfragment_ms = {fragment_ms}\n{}",
        camera("camera0", "test", "", 1280, 720, 30, 2000, "continuous")
    );
    let (mut a, _) = start(&toml, free_port());
    let state = a.dir.path().join("state");
    let deadline = Instant::now() + Duration::from_secs(30);
    let row = loop {
        let rows = pinhole::store::Store::open(&state.join("pinhole.db"))
            .and_then(|s| s.call_blocking(|c| pinhole::store::recordings::all_oldest_first(c)))
            .unwrap_or_default();
        if let Some(r) = rows.into_iter().next() {
            break r;
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let kill_at = row.start_ms + 8000;
    std::thread::sleep(Duration::from_millis((kill_at - wall_ms()).max(0) as u64));
    let _ = a.child.kill();
    let killed = wall_ms();
    let _ = a.child.wait();
    let file = state.join("recordings/camera0").join(row.file_name());
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
        .args(["-show_entries", "stream=nb_read_frames", "-of", "csv=p=0"])
        .arg(&file)
        .output()
        .ok()?;
    let frames: f64 = String::from_utf8_lossy(&out.stdout).trim().parse().ok()?;
    Some((killed - row.start_ms) as f64 / 1000.0 - frames / 30.0)
}

/// RSS (MB) after the first and the last of `n` cycles of `cycle` (an HTTP call or two made
/// with the admin's token), waiting `settle` after each.
fn rss_over_cycles(
    a: &support::Appliance,
    n: usize,
    settle: Duration,
    cycle: impl Fn(&reqwest::Client, &str, usize) -> Vec<reqwest::RequestBuilder>,
) -> Option<(f64, f64)> {
    let rt = tokio::runtime::Runtime::new().ok()?;
    let base = format!("http://{}", a.http);
    rt.block_on(async {
        let c = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        let token = loop {
            let r = c
                .post(format!("{base}/api/auth/login"))
                .json(&serde_json::json!({"username": USER, "password": PASSWORD}))
                .send()
                .await;
            if let Ok(r) = r
                && let Ok(v) = r.json::<serde_json::Value>().await
                && let Some(t) = v["access_token"].as_str()
            {
                break t.to_string();
            }
            if Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let mut first = 0.0;
        for i in 0..n {
            for req in cycle(&c, &base, i) {
                req.bearer_auth(&token).send().await.ok()?;
                tokio::time::sleep(settle).await;
            }
            if i == 0 {
                first = support::rss_mb(a.child.id());
            }
        }
        Some((first, support::rss_mb(a.child.id())))
    })
}

fn print_rss_cycles() {
    println!("\n6. RSS coming back (goal: < 5 MB growth over 20 cycles)");
    let (a, _) = start("", free_port());
    let added = rss_over_cycles(&a, 20, Duration::from_secs(2), |c, base, _| {
        vec![
            c.post(format!("{base}/api/cameras"))
                .json(&serde_json::json!({
                    "id": "cycled", "source": "test", "width": 1280, "height": 720, "fps": 30,
                    "recording": "continuous"
                })),
            c.delete(format!("{base}/api/cameras/cycled")),
        ]
    });
    match added {
        Some((first, last)) => println!(
            "   a recording 720p30 camera added and deleted 20 times: RSS {first:.1} MB after the first, {last:.1} MB after the last ({:+.1} MB)",
            last - first
        ),
        None => println!("   camera cycles: the appliance did not answer"),
    }
    drop(a);
    let (a, _) = start(
        &camera("camera0", "test", "", 1280, 720, 30, 2000, "continuous"),
        free_port(),
    );
    let rebuilt = rss_over_cycles(&a, 20, Duration::from_secs(2), |c, base, i| {
        vec![
            c.put(format!("{base}/api/cameras/camera0"))
                .json(&serde_json::json!({"bitrate_kbps": 1500 + 100 * (i % 2)})),
        ]
    });
    match rebuilt {
        Some((first, last)) => println!(
            "   one camera's pipeline rebuilt 20 times (bitrate changes): RSS {first:.1} MB after the first, {last:.1} MB after the last ({:+.1} MB)",
            last - first
        ),
        None => println!("   rebuilds: the appliance did not answer"),
    }
}

fn four_cameras(one: impl Fn(usize) -> String) -> String {
    (0..4).map(one).collect()
}

/// Starts an appliance with these cameras, waits until each one streams, measures it.
fn measure_four(
    cameras: &str,
    window: Duration,
    settle: Duration,
    env: &[(&str, &str)],
) -> (f64, f64) {
    let (a, _) = start_with(cameras, free_port(), env);
    for i in 0..4 {
        let _ = first_rtp_packet(a.rtsp, &format!("camera{i}"), Duration::from_secs(30));
    }
    std::thread::sleep(settle);
    measure(a.child.id(), window)
}

fn ffmpeg_clients(url: &str, n: usize) -> Vec<Child> {
    (0..n)
        .map(|_| ffmpeg_rtsp_client(url, "tcp", None).expect("ffmpeg"))
        .collect()
}

/// CPU and RSS of `ffmpeg -c copy -f segment` recording `url`: the baseline of a relay.
/// ffmpeg recording `url` into one-minute MP4 segments without transcoding, and where to.
fn ffmpeg_recorder(url: &str) -> (Child, tempfile::TempDir) {
    let seg_dir = tempfile::tempdir().expect("tempdir");
    let ff = Command::new("ffmpeg")
        .args(["-v", "quiet", "-rtsp_transport", "tcp", "-i", url])
        .args(["-c", "copy", "-f", "segment", "-segment_time", "60"])
        .arg(seg_dir.path().join("seg%03d.mp4"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("ffmpeg");
    (ff, seg_dir)
}

/// Where the benchmark's clips are kept between runs (encoding them takes a while).
fn clips_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-clips")
}

/// Figure 5: relay + record of a replayed 1080p30 4 Mbit/s camera in each codec, Pinhole against
/// ffmpeg, both over the same window: the sources cost no encoder, so the machine is otherwise
/// idle.
fn print_relay_per_codec(window: Duration, settle: Duration) {
    println!(
        "\n5. relay + record of a 1080p30 4 Mbit/s camera (a clip replayed by gst-rtsp-server, no encoder running)"
    );
    for codec in [ipcam::IpCodec::H264, ipcam::IpCodec::H265] {
        let clip = ipcam::clip(&clips_dir(), codec, 1920, 1080, 4000, 10);
        let cam = ipcam::IpCamera::replay(&clip);
        // Pinhole's own RTSP client (the default) and rtspsrc, each beside ffmpeg.
        for client in ["retina", "gstreamer"] {
            let (relay, _) = start_with(
                &camera(
                    "camera0",
                    "rtsp",
                    &cam.url(),
                    1920,
                    1080,
                    30,
                    4000,
                    "continuous",
                ),
                free_port(),
                &[("PINHOLE_MEDIA__RTSP_CLIENT", client)],
            );
            let _ = first_rtp_packet(relay.rtsp, "camera0", Duration::from_secs(30));
            let (ff, _segments) = ffmpeg_recorder(&cam.url());
            std::thread::sleep(settle);
            let (p, f) = support::measure_pair(relay.child.id(), ff.id(), window);
            let (p_cpu, p_rss, f_cpu, f_rss) = (p.cpu, p.rss, f.cpu, f.rss);
            stop(vec![ff]);
            drop(relay);
            println!(
                "   {codec:?} via {client:<9}: pinhole CPU {p_cpu:5.1} %  RSS {p_rss:5.1} MB | ffmpeg -c copy -f segment CPU {f_cpu:5.1} %  RSS {f_rss:5.1} MB | {:.2}× ffmpeg's CPU (goal ≤ 1×)",
                p_cpu / f_cpu.max(0.1)
            );
        }
    }
}

/// Figure 6: sixteen relayed cameras, eight H.264 and eight H.265 (each its own RTSP session to one
/// of two replayed 1080p30 4 Mbit/s sources), all recording: the appliance's CPU and RSS, and
/// whether every camera's recording is whole.
fn print_sixteen_cameras(window: Duration, settle: Duration) {
    let h264 = ipcam::IpCamera::replay(&ipcam::clip(
        &clips_dir(),
        ipcam::IpCodec::H264,
        1920,
        1080,
        4000,
        10,
    ));
    let h265 = ipcam::IpCamera::replay(&ipcam::clip(
        &clips_dir(),
        ipcam::IpCodec::H265,
        1920,
        1080,
        4000,
        10,
    ));
    let cameras: String = (0..16)
        .map(|i| {
            let src = if i < 8 { h264.url() } else { h265.url() };
            camera(
                &format!("camera{i}"),
                "rtsp",
                &src,
                1920,
                1080,
                30,
                4000,
                "continuous",
            )
        })
        .collect();
    let (a, started) = start_with(
        &cameras,
        free_port(),
        &[("PINHOLE_STORAGE__SEGMENT_SECS", "30")],
    );
    for i in 0..16 {
        let _ = first_rtp_packet(a.rtsp, &format!("camera{i}"), Duration::from_secs(30));
    }
    std::thread::sleep(settle);
    let (cpu, rss) = measure(a.child.id(), window);
    // Recording starts with the appliance.
    let recorded_for = started.elapsed().as_secs_f64();
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(a.child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    std::thread::sleep(Duration::from_secs(5));
    let recordings = a.dir.path().join("state/recordings");
    let mut whole = 0;
    let mut shortest = f64::MAX;
    let mut longest = 0f64;
    for i in 0..16 {
        let mut secs = 0.0;
        let mut ok = true;
        for f in std::fs::read_dir(recordings.join(format!("camera{i}")))
            .map(|d| d.flatten().map(|e| e.path()).collect::<Vec<_>>())
            .unwrap_or_default()
        {
            match std::fs::File::open(&f).map(|mut file| pinhole::media::fmp4::scan(&mut file)) {
                Ok(Ok(scan)) if scan.has_moov && scan.fragments > 0 => {
                    if std::env::var_os("PINHOLE_BENCH_LOG").is_some() {
                        eprintln!(
                            "{}: {} ms, {} fragments",
                            f.display(),
                            scan.duration_ms(),
                            scan.fragments
                        );
                    }
                    secs += scan.duration_ms() as f64 / 1000.0
                }
                _ => ok = false,
            }
        }
        if ok && secs > 0.0 {
            whole += 1;
        }
        shortest = shortest.min(secs);
        longest = longest.max(secs);
        if std::env::var_os("PINHOLE_BENCH_LOG").is_some() {
            eprintln!("camera{i}: {secs:.1} s recorded");
        }
    }
    println!(
        "\n6. 16 relayed 1080p30 4 Mbit/s cameras (8 H.264, 8 H.265), all recording: CPU {cpu:5.1} % of one core (goal < 40 %)  RSS {rss:5.1} MB (goal < 80 MB)"
    );
    println!(
        "   recordings: {whole}/16 cameras with every segment whole; they hold {shortest:.0} to {longest:.0} s of the {recorded_for:.0} s the appliance ran"
    );
}

/// One REST call with curl (the bench is synchronous); the answer's JSON.
fn api(
    a: &support::Appliance,
    token: &str,
    method: &str,
    path: &str,
    body: &str,
) -> serde_json::Value {
    let out = Command::new("curl")
        .args(["-s", "-X", method, "-H", "content-type: application/json"])
        .args(["-H", &format!("authorization: Bearer {token}")])
        .args(["--data-binary", body])
        .arg(format!("http://{}{path}", a.http))
        .output()
        .expect("curl");
    serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
}

fn login(a: &support::Appliance) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let v = api(
            a,
            "",
            "POST",
            "/api/auth/login",
            &serde_json::json!({"username": USER, "password": PASSWORD}).to_string(),
        );
        if let Some(t) = v["access_token"].as_str() {
            return t.to_string();
        }
        assert!(Instant::now() < deadline, "cannot log in: {v}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Waits until every destination of `stream` is live.
fn wait_live(a: &support::Appliance, token: &str, stream: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let v = api(a, token, "GET", &format!("/api/streams/{stream}"), "");
        let dests = v["status"]["destinations"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if !dests.is_empty() && dests.iter().all(|d| d["state"] == "live") {
            return;
        }
        assert!(Instant::now() < deadline, "stream did not go live: {v}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Figure 7: one 720p30 output with a text overlay and a PNG logo, Pinhole against ffmpeg doing
/// the same (pull the camera, decode, overlay, x264 ultrafast/zerolatency in CBR at 2.5 Mbit/s,
/// AAC, FLV to the same RTMP server), both measured over the same window, then a second
/// destination on the same output.
fn print_broadcast(window: Duration, settle: Duration) {
    println!(
        "\n7. going out: 720p30 2.5 Mbit/s with a text overlay and a PNG logo to nginx-rtmp (source: a 720p30 H.264 clip replayed by gst-rtsp-server)"
    );
    let clip = ipcam::clip(&clips_dir(), ipcam::IpCodec::H264, 1280, 720, 3000, 10);
    let cam = ipcam::IpCamera::replay(&clip);
    let dir = tempfile::tempdir().expect("tempdir");
    let (rtmp_port, http_port) = (free_port(), free_port());
    let _server = rtmp::nginx(dir.path(), rtmp_port, http_port);
    let logo = dir.path().join("logo.png");
    image::RgbaImage::from_fn(128, 128, |x, y| {
        image::Rgba([255, (x * 2) as u8, (y * 2) as u8, 200])
    })
    .save(&logo)
    .expect("logo");
    let (a, _) = start(
        &camera("camera0", "rtsp", &cam.url(), 1280, 720, 30, 3000, "off"),
        free_port(),
    );
    let _ = first_rtp_packet(a.rtsp, "camera0", Duration::from_secs(30));
    let token = login(&a);
    std::thread::sleep(settle);
    let (relay_cpu, relay_rss) = measure(a.child.id(), window);
    let rtmp_url = format!("rtmp://127.0.0.1:{rtmp_port}/live");
    for (id, key) in [("one", "secretkey1"), ("two", "secretkey2")] {
        api(
            &a,
            &token,
            "POST",
            "/api/destinations",
            &serde_json::json!({"id": id, "name": id, "url": rtmp_url, "stream_key": key})
                .to_string(),
        );
    }
    api(
        &a,
        &token,
        "PUT",
        "/api/overlays/caption",
        r#"{"kind": "text", "text": "{camera} {date} {time}", "x": 0.05, "y": 0.8, "size": 0.06}"#,
    );
    api(
        &a,
        &token,
        "PUT",
        "/api/overlays/logo",
        r#"{"kind": "image", "x": 0.75, "y": 0.1, "size": 0.15}"#,
    );
    let _ = Command::new("curl")
        .args(["-s", "-X", "PUT", "-H", "content-type: image/png"])
        .args(["-H", &format!("authorization: Bearer {token}")])
        .arg("--data-binary")
        .arg(format!("@{}", logo.display()))
        .arg(format!("http://{}/api/overlays/logo/image", a.http))
        .output();
    let spec = |dests: &[&str]| {
        serde_json::json!({"camera": "camera0", "destinations": dests, "width": 1280, "height": 720,
            "fps": 30, "bitrate_kbps": 2500, "overlays": ["logo", "caption"]})
        .to_string()
    };
    api(&a, &token, "PUT", "/api/streams/show", &spec(&["one"]));
    api(&a, &token, "POST", "/api/streams/show/start", "");
    wait_live(&a, &token, "show");
    let ff = Command::new("ffmpeg")
        .args(["-v", "quiet", "-rtsp_transport", "tcp", "-i", &cam.url(), "-i"])
        .arg(&logo)
        .args(["-f", "lavfi", "-i", "anullsrc=r=48000:cl=stereo", "-filter_complex"])
        .arg("[0:v]scale=1280:720,fps=30[v0];[1:v]scale=192:-1[l];[v0][l]overlay=960:72,drawtext=text='camera0 %{localtime}':fontsize=43:fontcolor=white:x=64:y=576[v]")
        .args(["-map", "[v]", "-map", "2:a", "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency"])
        // The same rate control as x264enc's (CBR: the bitrate as the VBV's rate, a 600 ms
        // buffer), as live platforms ask for.
        .args(["-b:v", "2500k", "-maxrate", "2500k", "-bufsize", "1500k", "-g", "60", "-threads", "2"])
        .args(["-c:a", "aac", "-b:a", "128k", "-f", "flv"])
        .arg(format!("{rtmp_url}/secretkey3"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("ffmpeg");
    std::thread::sleep(settle + Duration::from_secs(2));
    // Both measured over the same window: the load of this shared machine moves from one window
    // to the next by more than their difference.
    let (one, ff_usage) = support::measure_pair(a.child.id(), ff.id(), window);
    let (one_cpu, one_rss, ff_cpu, ff_rss) = (one.cpu, one.rss, ff_usage.cpu, ff_usage.rss);
    stop(vec![ff]);
    // RTMP destinations run on the appliance's async runtime (its threads are named `pinhole`):
    // a second one is measured as what those threads take more, window against window, plus
    // any thread that comes with it.
    let before = support::threads(a.child.id());
    let runtime = |names: &std::collections::HashMap<u32, String>, tid: u32| {
        names.get(&tid).is_some_and(|n| n == "pinhole")
    };
    std::thread::sleep(settle);
    let (one_runtime, _) =
        support::measure_threads(a.child.id(), window, |tid| runtime(&before, tid));
    api(
        &a,
        &token,
        "PUT",
        "/api/streams/show",
        &spec(&["one", "two"]),
    );
    wait_live(&a, &token, "show");
    std::thread::sleep(settle);
    // The second destination's own threads (those that came with it), measured apart from the
    // encoder's, whose load moves by more than a destination costs from one window to the next.
    let after_names = support::threads(a.child.id());
    let added: std::collections::HashMap<u32, String> = after_names
        .iter()
        .filter(|(tid, _)| !before.contains_key(tid))
        .map(|(tid, name)| (*tid, name.clone()))
        .collect();
    let (two_runtime, _) = support::measure_threads(a.child.id(), window, |tid| {
        runtime(&after_names, tid) || added.contains_key(&tid)
    });
    let two_own_cpu = two_runtime - one_runtime;
    let (two_cpu, two_rss) = measure(a.child.id(), window);
    let mut added_names: Vec<&str> = added.values().map(String::as_str).collect();
    added_names.sort_unstable();
    // RSS after each of five start/stop cycles: the first maps the decoder's, encoder's and
    // fonts' libraries once; the others must not grow.
    let mut after = Vec::new();
    for _ in 0..5 {
        api(&a, &token, "POST", "/api/streams/show/stop", "");
        std::thread::sleep(settle);
        after.push(support::rss_mb(a.child.id()));
        api(&a, &token, "POST", "/api/streams/show/start", "");
        wait_live(&a, &token, "show");
    }
    api(&a, &token, "POST", "/api/streams/show/stop", "");
    std::thread::sleep(settle);
    let (after_cpu, after_rss) = measure(a.child.id(), window);
    drop(a);

    let output_cpu = one_cpu - relay_cpu;
    println!(
        "   pinhole relaying the camera, no stream: CPU {relay_cpu:5.1} %  RSS {relay_rss:5.1} MB"
    );
    println!(
        "   pinhole + one destination: CPU {one_cpu:5.1} %  RSS {one_rss:5.1} MB (less the relay's figure from its own window: {output_cpu:5.1} %) | ffmpeg CPU {ff_cpu:5.1} %  RSS {ff_rss:5.1} MB | pinhole in all {:.2}× ffmpeg's CPU (goal ≤ 1×)",
        one_cpu / ff_cpu.max(0.1)
    );
    println!(
        "   busiest threads, % of a core: pinhole {}; ffmpeg {}",
        support::busiest(&one.threads, 10),
        support::busiest(&ff_usage.threads, 6)
    );
    println!(
        "   a second destination: {two_own_cpu:+.2} % of a core (goal < 1 %): the runtime's threads {one_runtime:.2} → {two_runtime:.2} % with its own threads ({}); the whole appliance then CPU {two_cpu:5.1} %  RSS {two_rss:5.1} MB ({:+.2} % against one destination, windows apart)",
        added_names.join(", "),
        two_cpu - one_cpu
    );
    let cycles: Vec<String> = after.iter().map(|r| format!("{r:.1}")).collect();
    println!(
        "   stream stopped: CPU {after_cpu:5.1} %  RSS {after_rss:5.1} MB; RSS after each of 5 start/stop cycles: {} MB",
        cycles.join(", ")
    );
}

fn stop(children: Vec<Child>) {
    for mut c in children {
        let _ = c.kill();
        let _ = c.wait();
    }
}

fn main() {
    let window = std::env::args()
        .skip_while(|a| a != "--window")
        .nth(1)
        .and_then(|v| v.parse().ok())
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(10));
    let settle = Duration::from_secs(3);
    if std::env::args().any(|a| a == "--crash-only") {
        print_crash_loss();
        return;
    }
    if std::env::args().any(|a| a == "--rss-only") {
        print_rss_cycles();
        return;
    }
    if std::env::args().any(|a| a == "--broadcast-only") {
        print_broadcast(window, settle);
        return;
    }
    if std::env::args().any(|a| a == "--sixteen-only") {
        print_sixteen_cameras(window, settle);
        return;
    }
    if std::env::args().any(|a| a == "--relay-only") {
        print_relay_per_codec(window, settle);
        print_sixteen_cameras(window, settle);
        return;
    }
    println!(
        "media bench: window {window:?} per figure, 2-core shared machine; CPU is % of one core\n"
    );

    // 4. Start to first frame, measured first on a cold process.
    let port = free_port();
    let (a, t0) = start(
        &camera("camera0", "test", "", 1280, 720, 30, 2000, "off"),
        port,
    );
    let first = first_rtp_packet(a.rtsp, "camera0", Duration::from_secs(20));
    match first {
        Some(t) => println!(
            "start → first RTP packet at a client: {:.0} ms (goal < 500 ms)",
            (t - t0).as_secs_f64() * 1000.0
        ),
        None => println!("start → first RTP packet: no packet within 20 s"),
    }
    // A second client joining the running stream (keyframe forced on PLAY).
    let t = Instant::now();
    if let Some(p) = first_rtp_packet(a.rtsp, "camera0", Duration::from_secs(10)) {
        println!(
            "join of a second client → first RTP packet: {:.0} ms",
            (p - t).as_secs_f64() * 1000.0
        );
    }

    // 1. Fan-out on one 720p30 camera.
    println!(
        "\n1. one 720p30 test camera (x264 ultrafast, 2 Mbit/s), RTSP clients: ffmpeg -c copy"
    );
    let pid = a.child.id();
    std::thread::sleep(settle);
    let mut cpu1 = 0.0;
    for n in [0usize, 1, 4, 16] {
        let clients = ffmpeg_clients(&rtsp_url(a.rtsp, "camera0"), n);
        std::thread::sleep(settle);
        let (cpu, rss) = measure(pid, window);
        if n == 1 {
            cpu1 = cpu;
        }
        let ratio = if n > 1 && cpu1 > 0.0 {
            format!("  ({:.2}× the CPU of 1 client)", cpu / cpu1)
        } else {
            String::new()
        };
        println!("   {n:>2} clients: CPU {cpu:5.1} %  RSS {rss:5.1} MB{ratio}");
        stop(clients);
    }
    drop(a);

    // 2. Relay + record of a 1080p ~4 Mbit/s source vs ffmpeg.
    println!("\n2. relay + record of a 1080p30 ~4 Mbit/s RTSP source (no transcode)");
    let src_port = free_port();
    let (src, _) = start(
        &camera("camera0", "test", "", 1920, 1080, 30, 4000, "off"),
        src_port,
    );
    let src_url = rtsp_url(src.rtsp, "camera0");
    let _ = first_rtp_packet(src.rtsp, "camera0", Duration::from_secs(30));
    let relay_port = free_port();
    let (relay, _) = start(
        &camera(
            "camera0",
            "rtsp",
            &format!("rtsp://{}/camera0", src.rtsp),
            1920,
            1080,
            30,
            4000,
            "continuous",
        ),
        relay_port,
    );
    let _ = first_rtp_packet(relay.rtsp, "camera0", Duration::from_secs(30));
    let (ff, _segments) = ffmpeg_recorder(&src_url);
    std::thread::sleep(settle);
    let (p, f) = support::measure_pair(relay.child.id(), ff.id(), window);
    let (p_cpu, p_rss, f_cpu, f_rss) = (p.cpu, p.rss, f.cpu, f.rss);
    stop(vec![ff]);
    drop(relay);
    println!(
        "   pinhole (whole appliance, relay + fMP4 record): CPU {p_cpu:5.1} %  RSS {p_rss:5.1} MB"
    );
    println!(
        "   ffmpeg -c copy -f segment (baseline):           CPU {f_cpu:5.1} %  RSS {f_rss:5.1} MB"
    );
    if f_cpu > 0.0 {
        println!(
            "   ratio: {:.2}× ffmpeg's CPU (goal ≤ 0.5×), {:.2}× its RSS",
            p_cpu / f_cpu,
            p_rss / f_rss.max(0.1)
        );
    }

    // 3. RSS with 4 relayed cameras (same source), then with 4 encoding 720p cameras.
    let relayed = four_cameras(|i| {
        camera(
            &format!("camera{i}"),
            "rtsp",
            &format!("rtsp://{}/camera0", src.rtsp),
            1920,
            1080,
            30,
            4000,
            "off",
        )
    });
    let (r_cpu, r_rss) = measure_four(&relayed, window, settle, &[]);
    drop(src);
    let encoding = four_cameras(|i| {
        camera(
            &format!("camera{i}"),
            "test",
            "",
            1280,
            720,
            30,
            2000,
            "off",
        )
    });
    let (e_cpu, e_rss) = measure_four(&encoding, window, settle, &[]);
    let (o_cpu, o_rss) = measure_four(
        &encoding,
        window,
        settle,
        &[("PINHOLE_MEDIA__ENCODER", "openh264enc")],
    );
    let (idle, _) = start("", free_port());
    std::thread::sleep(settle);
    let (i_cpu, i_rss) = measure(idle.child.id(), window);
    drop(idle);
    println!(
        "\n3. four cameras, no detection (the appliance with no camera: RSS {i_rss:.1} MB, CPU {i_cpu:.1} %)"
    );
    println!(
        "   4 relayed 1080p RTSP cameras: RSS {r_rss:5.1} MB (goal < 40 MB)  CPU {r_cpu:5.1} %"
    );
    println!(
        "   4 encoding 720p30 test cameras, x264enc:     RSS {e_rss:5.1} MB (goal < 100 MB)  CPU {e_cpu:5.1} %"
    );
    println!(
        "   4 encoding 720p30 test cameras, openh264enc: RSS {o_rss:5.1} MB (goal < 100 MB)  CPU {o_cpu:5.1} %"
    );
    println!("   (a Pi 4 encodes with v4l2h264enc, in hardware, which neither figure includes)");

    print_crash_loss();
    print_rss_cycles();
    print_relay_per_codec(window, settle);
    print_sixteen_cameras(window, settle);
}

fn print_crash_loss() {
    println!("\n5. video lost by kill -9 8 s into a segment (720p30, goal ≤ 1 s)");
    for fragment_ms in [500, 1000] {
        match crash_loss(fragment_ms) {
            Some(lost) => println!("   fragments of {fragment_ms:>4} ms: {lost:.2} s lost"),
            None => println!("   fragments of {fragment_ms:>4} ms: no segment to measure"),
        }
    }
}
