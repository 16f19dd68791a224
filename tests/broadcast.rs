//! Going out, against a real RTMP server: nginx with Debian's RTMP module, started here on
//! 127.0.0.1, checking stream keys through its `on_publish` callback. ffprobe and ffmpeg read
//! what it received.

mod common;

#[path = "common/rtmp.rs"]
mod rtmp;
#[path = "common/tls_proxy.rs"]
mod tls_proxy;

use common::*;
use rtmp::nginx;
use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// ffprobe's streams of `url` as (codec, width, height, sample rate).
fn probe(url: &str) -> Vec<(String, u64, u64, String)> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-rw_timeout", "10000000", "-show_entries"])
        .args([
            "stream=codec_name,width,height,sample_rate",
            "-of",
            "json",
            url,
        ])
        .output()
        .expect("ffprobe");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    v["streams"]
        .as_array()
        .map(|a| {
            let mut s: Vec<_> = a
                .iter()
                .map(|s| {
                    (
                        s["codec_name"].as_str().unwrap_or("").to_string(),
                        s["width"].as_u64().unwrap_or(0),
                        s["height"].as_u64().unwrap_or(0),
                        s["sample_rate"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect();
            s.sort();
            s
        })
        .unwrap_or_default()
}

/// One frame of `url` as RGB.
fn frame(url: &str, dir: &Path) -> image::RgbImage {
    let out = dir.join("frame.png");
    let _ = std::fs::remove_file(&out);
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-rw_timeout", "10000000", "-i", url])
        .args(["-frames:v", "1"])
        .arg(&out)
        .status()
        .expect("ffmpeg");
    assert!(status.success(), "ffmpeg could not pull a frame from {url}");
    image::open(&out).expect("frame").to_rgb8()
}

/// The mean colour of a square around (x, y).
fn mean(img: &image::RgbImage, x: u32, y: u32) -> [f64; 3] {
    let mut sum = [0f64; 3];
    let mut n = 0.0;
    for yy in y - 6..y + 6 {
        for xx in x - 6..x + 6 {
            let p = img.get_pixel(xx, yy);
            for c in 0..3 {
                sum[c] += f64::from(p[c]);
            }
            n += 1.0;
        }
    }
    sum.map(|s| s / n)
}

fn orange_png() -> Vec<u8> {
    let img = image::RgbaImage::from_pixel(64, 64, image::Rgba([255, 128, 0, 255]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .expect("png");
    out.into_inner()
}

async fn call(
    method: reqwest::Method,
    server: &Server,
    token: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = client()
        .request(method, server.url(path))
        .bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.expect("request");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Waits until stream `id`'s status satisfies `done`; returns it.
async fn stream_until(
    server: &Server,
    token: &str,
    id: &str,
    what: &str,
    limit: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        let v = stream_now(server, token, id).await;
        if done(&v) {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: {v}\n{}",
            server.stderr_text()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn stream_now(server: &Server, token: &str, id: &str) -> Value {
    call(
        reqwest::Method::GET,
        server,
        token,
        &format!("/api/streams/{id}"),
        None,
    )
    .await
    .1
}

/// The overlay editor's preview of stream `id`.
async fn preview(server: &Server, token: &str, id: &str) -> image::RgbImage {
    get_jpeg_as(server, &format!("/api/streams/{id}/preview.jpg"), token)
        .await
        .to_rgb8()
}

/// Is the mean colour the logo's orange (after YUV and back)?
fn is_orange([r, g, b]: [f64; 3]) -> bool {
    (r - 255.0).abs() < 40.0 && (g - 128.0).abs() < 40.0 && b < 50.0
}

/// The appliance with the roles' users and two test cameras, `camera0` named "Door" and
/// `camera1`, once they stream; with the admin's token.
async fn appliance() -> (Server, String) {
    let camera = |id: &str, name: &str| {
        format!(
            "[[cameras]]\nid = \"{id}\"\nname = \"{name}\"\nsource = \"test\"\nrecording = \"off\"\n\n"
        )
    };
    let server = Server::start(Opts {
        toml: camera("camera0", "Door") + &camera("camera1", "Stage"),
        ..Opts::with_roles()
    });
    let admin = server.token("admin").await;
    for id in ["camera0", "camera1"] {
        wait_status(&server, &admin, id, "CONNECTED", Duration::from_secs(30)).await;
    }
    (server, admin)
}

fn dest_state<'a>(v: &'a Value, id: &str) -> &'a Value {
    v["status"]["destinations"]
        .as_array()
        .and_then(|a| a.iter().find(|d| d["id"] == id))
        .unwrap_or(&Value::Null)
}

/// Waits (30 s at most) until destination `dest` of stream `id` is live; returns the stream.
async fn dest_live(server: &Server, token: &str, id: &str, dest: &str) -> Value {
    stream_until(
        server,
        token,
        id,
        &format!("{dest} live"),
        Duration::from_secs(30),
        |v| dest_state(v, dest)["state"] == "live",
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_camera_goes_out_to_an_rtmp_server_with_overlays_and_survives_its_restart() {
    use reqwest::Method as M;
    let (rtmp, http) = (free_port(), free_port());
    let web_dir = tempfile::tempdir().expect("tempdir");
    let mut server_rtmp = Some(nginx(web_dir.path(), rtmp, http));
    let (server, admin) = appliance().await;
    let oper = server.token("oper").await;
    let view = server.token("view").await;

    // Destinations: the key goes in and never comes out; operators may read, not write.
    let (s, d) = call(M::POST, &server, &admin, "/api/destinations", Some(json!({
        "id": "local", "name": "Local nginx", "url": format!("rtmp://127.0.0.1:{rtmp}/live"), "stream_key": "secretkey"
    }))).await;
    assert_eq!(s, 201, "{d}");
    assert_eq!(d["has_stream_key"], true);
    assert_eq!(d["protocol"], "rtmp");
    let (s, _) = call(
        M::POST,
        &server,
        &oper,
        "/api/destinations",
        Some(json!({"name": "x", "url": "rtmp://h/a"})),
    )
    .await;
    assert_eq!(s, 403);
    let (s, bad) = call(
        M::POST,
        &server,
        &admin,
        "/api/destinations",
        Some(json!({"name": "x", "url": "http://h/a"})),
    )
    .await;
    assert_eq!(s, 422, "{bad}");
    let listing = client()
        .get(server.url("/api/destinations"))
        .bearer_auth(&oper)
        .send()
        .await
        .expect("list")
        .text()
        .await
        .expect("text");
    assert!(
        listing.contains("Local nginx") && !listing.contains("secretkey"),
        "{listing}"
    );
    let rpc = server.rpc(Some(&oper), "get_destinations", json!({})).await;
    assert!(!rpc.to_string().contains("secretkey"), "{rpc}");

    // Overlays: a PNG logo (bad uploads refused) and a caption with variables.
    let (s, o) = call(
        M::PUT,
        &server,
        &oper,
        "/api/overlays/logo",
        Some(json!({
            "kind": "image", "x": 0.75, "y": 0.1, "size": 0.15
        })),
    )
    .await;
    assert_eq!(s, 201, "{o}");
    let upload = |body: Vec<u8>| {
        client()
            .put(server.url("/api/overlays/logo/image"))
            .bearer_auth(&oper)
            .header("content-type", "image/png")
            .body(body)
            .send()
    };
    let r = upload(b"GIF89a not a png".to_vec()).await.expect("upload");
    assert_eq!(r.status(), 422);
    let err: Value = r.json().await.expect("json");
    assert!(err.to_string().contains("not a PNG"), "{err}");
    let png = orange_png();
    assert_eq!(
        upload(png[..png.len() / 2].to_vec())
            .await
            .expect("upload")
            .status(),
        422
    );
    assert_eq!(
        upload(vec![0; 3 << 20]).await.expect("upload").status(),
        422
    );
    assert_eq!(upload(png).await.expect("upload").status(), 200);
    let (s, _) = call(M::PUT, &server, &oper, "/api/overlays/caption", Some(json!({
        "kind": "text", "text": "{camera} score {value}", "x": 0.05, "y": 0.8, "size": 0.06, "z": 1
    }))).await;
    assert_eq!(s, 201);

    // The stream: 640×360 at 15 fps with both overlays.
    let (s, st) = call(M::PUT, &server, &oper, "/api/streams/show", Some(json!({
        "name": "Show", "camera": "camera0", "destinations": ["local"], "width": 640, "height": 360,
        "fps": 15, "bitrate_kbps": 800, "overlays": ["logo", "caption"]
    }))).await;
    assert_eq!(s, 201, "{st}");
    // The editor's preview before the stream runs: the stream's size, the logo where it was put.
    let img = preview(&server, &view, "show").await;
    assert_eq!(img.dimensions(), (640, 360));
    let logo = mean(&img, 528, 84);
    assert!(is_orange(logo), "the preview's logo region is {logo:?}");
    let (s, _) = call(M::POST, &server, &view, "/api/streams/show/start", None).await;
    assert_eq!(s, 403, "viewers do not start streams");
    let r = server
        .rpc(Some(&oper), "start_stream", json!({"stream": "show"}))
        .await;
    assert_eq!(r["result"]["running"], true, "{r}");
    dest_live(&server, &view, "show", "local").await;

    let metrics = metrics_text(&server).await;
    assert!(
        metrics.contains(
            "pinhole_stream_destination_state{destination=\"local\",state=\"live\",stream=\"show\"} 1"
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "pinhole_stream_destination_dropped_frames{destination=\"local\",stream=\"show\"} 0"
        ),
        "{metrics}"
    );
    promtool_check(&metrics);

    // What the server received: H.264 at the chosen size, and AAC.
    let url = format!("rtmp://127.0.0.1:{rtmp}/live/secretkey");
    let streams = probe(&url);
    assert_eq!(
        streams,
        vec![
            ("aac".to_string(), 0, 0, "48000".to_string()),
            ("h264".to_string(), 640, 360, String::new())
        ],
        "{}",
        server.stderr_text()
    );
    // The logo is drawn where it was put (x 480..576, y 36..132), orange on any background.
    let img = frame(&url, web_dir.path());
    let logo = mean(&img, 528, 84);
    assert!(is_orange(logo), "the logo region is {logo:?}");

    // Live changes: the value and the logo's opacity, without a reconnection.
    let (s, _) = call(
        M::PUT,
        &server,
        &oper,
        "/api/overlays/caption/value",
        Some(json!({"value": "3-1"})),
    )
    .await;
    assert_eq!(s, 200);
    let (s, _) = call(
        M::PUT,
        &server,
        &oper,
        "/api/overlays/logo",
        Some(json!({
            "kind": "image", "x": 0.75, "y": 0.1, "size": 0.15, "opacity": 0.0
        })),
    )
    .await;
    assert_eq!(s, 200);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let img = frame(&url, web_dir.path());
    let logo = mean(&img, 528, 84);
    assert!(
        !is_orange(logo),
        "the logo is still drawn after its opacity went to 0: {logo:?}"
    );
    let preview_logo = mean(&preview(&server, &view, "show").await, 528, 84);
    assert!(
        !is_orange(preview_logo),
        "the preview still draws it: {preview_logo:?}"
    );
    let v = stream_now(&server, &view, "show").await;
    assert_eq!(
        dest_state(&v, "local")["attempts"],
        1,
        "a live change reconnected: {v}"
    );

    // The RTMP server goes away and comes back: the stream resumes by itself.
    server_rtmp.take();
    let v = stream_until(
        &server,
        &view,
        "show",
        "the drop is reported",
        Duration::from_secs(30),
        |v| dest_state(v, "local")["state"] == "retrying",
    )
    .await;
    assert!(dest_state(&v, "local")["last_error"].is_string(), "{v}");
    let _back = nginx(web_dir.path(), rtmp, http);
    stream_until(
        &server,
        &view,
        "show",
        "the stream resumes",
        Duration::from_secs(60),
        |v| dest_state(v, "local")["state"] == "live",
    )
    .await;
    assert_eq!(probe(&url).len(), 2, "nothing to play after the restart");

    // A wrong key and a host where nothing listens: clear errors, backoff, the good one stays.
    for (id, url, key) in [
        ("wrongkey", format!("rtmp://127.0.0.1:{rtmp}/live"), "nope"),
        (
            "nobody",
            format!("rtmp://127.0.0.1:{}/live", free_port()),
            "k",
        ),
    ] {
        let (s, _) = call(
            M::POST,
            &server,
            &admin,
            "/api/destinations",
            Some(json!({
                "id": id, "name": id, "url": url, "stream_key": key
            })),
        )
        .await;
        assert_eq!(s, 201);
    }
    let (s, _) = call(M::PUT, &server, &oper, "/api/streams/show", Some(json!({
        "name": "Show", "camera": "camera0", "destinations": ["local", "wrongkey", "nobody"],
        "width": 640, "height": 360, "fps": 15, "bitrate_kbps": 800, "overlays": ["logo", "caption"]
    }))).await;
    assert_eq!(s, 200);
    let v = stream_until(
        &server,
        &view,
        "show",
        "both bad destinations report why",
        Duration::from_secs(30),
        |v| {
            dest_state(v, "local")["state"] == "live"
                && dest_state(v, "wrongkey")["last_error"]
                    .as_str()
                    .is_some_and(|e| e.contains("stream key"))
                && dest_state(v, "nobody")["last_error"]
                    .as_str()
                    .is_some_and(|e| e.contains("nothing listens"))
        },
    )
    .await;
    let attempts = dest_state(&v, "wrongkey")["attempts"].as_u64().unwrap_or(0);
    tokio::time::sleep(Duration::from_secs(6)).await;
    let v = stream_now(&server, &view, "show").await;
    let later = dest_state(&v, "wrongkey")["attempts"].as_u64().unwrap_or(0);
    assert!(
        later - attempts <= 3,
        "no backoff: {attempts} then {later} attempts in 6 s"
    );
    assert_eq!(dest_state(&v, "local")["state"], "live", "{v}");
    assert!(
        !server.stderr_text().contains("secretkey"),
        "a stream key reached the log"
    );

    // In use, a destination cannot be removed; stopped, the stream leaves the server.
    let (s, _) = call(M::DELETE, &server, &admin, "/api/destinations/local", None).await;
    assert_eq!(s, 409);
    let (s, v) = call(M::POST, &server, &oper, "/api/streams/show/stop", None).await;
    assert_eq!((s, &v["running"]), (200, &json!(false)), "{v}");
    let deadline = Instant::now() + Duration::from_secs(15);
    while !probe(&url).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the server still has the stream after stop"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// RTMPS: the destination speaks TLS to a terminator in front of nginx, trusting the test's CA
/// through `SSL_CERT_FILE` as it would a platform's through the built-in roots; an address
/// the certificate does not name is refused with a TLS error, not sent the stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_rtmps_destination_goes_out_over_tls_and_checks_the_certificate() {
    use reqwest::Method as M;
    let (rtmp, http) = (free_port(), free_port());
    let dir = tempfile::tempdir().expect("tempdir");
    let _rtmp = nginx(dir.path(), rtmp, http);
    let proxy = tls_proxy::start(dir.path(), rtmp).await;
    let server = Server::start(Opts {
        toml: "[[cameras]]\nid = \"camera0\"\nsource = \"test\"\nrecording = \"off\"\n".into(),
        env: vec![("SSL_CERT_FILE".into(), proxy.ca.display().to_string())],
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
    let key = format!("{}-tls", rtmp::KEY);
    for (id, host) in [("tls", "localhost"), ("unnamed", "127.0.0.1")] {
        let (s, v) = call(
            M::POST,
            &server,
            &admin,
            "/api/destinations",
            Some(json!({
                "id": id, "name": id, "url": format!("rtmps://{host}:{}/live", proxy.port),
                "stream_key": key
            })),
        )
        .await;
        assert_eq!(s, 201, "{v}");
    }
    let (s, v) = call(
        M::PUT,
        &server,
        &admin,
        "/api/streams/secure",
        Some(json!({
            "camera": "camera0", "destinations": ["tls", "unnamed"], "width": 640, "height": 360,
            "fps": 15, "bitrate_kbps": 800
        })),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let (s, v) = call(M::POST, &server, &admin, "/api/streams/secure/start", None).await;
    assert_eq!(s, 200, "{v}");
    let v = stream_until(
        &server,
        &admin,
        "secure",
        "the TLS destination live, the unnamed one refused",
        Duration::from_secs(30),
        |v| {
            dest_state(v, "tls")["state"] == "live"
                && dest_state(v, "unnamed")["last_error"]
                    .as_str()
                    .is_some_and(|e| e.contains("TLS"))
        },
    )
    .await;
    assert_eq!(dest_state(&v, "unnamed")["state"], "retrying", "{v}");
    let streams = probe(&format!("rtmp://127.0.0.1:{rtmp}/live/{key}"));
    assert!(
        streams
            .iter()
            .any(|s| s.0 == "h264" && s.1 == 640 && s.2 == 360)
            && streams.iter().any(|s| s.0 == "aac"),
        "{streams:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_broadcast_view_adds_starts_and_stops_a_stream_in_chromium() {
    let (rtmp, http) = (free_port(), free_port());
    let web_dir = tempfile::tempdir().expect("tempdir");
    let _rtmp = nginx(web_dir.path(), rtmp, http);
    let (server, admin) = appliance().await;
    let (s, _) = call(
        reqwest::Method::PUT,
        &server,
        &admin,
        "/api/overlays/score",
        Some(json!({"kind": "text", "text": "{value}", "x": 0.05, "y": 0.05})),
    )
    .await;
    assert_eq!(s, 201);
    let base = server.url("");
    let context = server.stderr_text();
    let url = format!("rtmp://127.0.0.1:{rtmp}/live");
    let shot = screenshot_dir()
        .join("overlay-editor.png")
        .display()
        .to_string();
    tokio::task::spawn_blocking(move || {
        run_browser_script(
            "broadcast.mjs",
            &[
                base,
                "admin".into(),
                PASSWORD.into(),
                url,
                rtmp::KEY.into(),
                shot,
            ],
            &[],
            || context,
        )
    })
    .await
    .expect("browser");
    let (_, o) = call(
        reqwest::Method::GET,
        &server,
        &admin,
        "/api/overlays/score",
        None,
    )
    .await;
    assert_eq!(o["value"], "Home 2 - 1 Away", "{o}");
    let (_, banner) = call(
        reqwest::Method::GET,
        &server,
        &admin,
        "/api/overlays/banner",
        None,
    )
    .await;
    assert_eq!(banner["text"], "HELLO {camera}", "{banner}");
    assert_eq!(banner["opacity"], 0.5, "{banner}");
    let (_, list) = call(reqwest::Method::GET, &server, &admin, "/api/streams", None).await;
    assert_eq!(list[0]["name"], "From the page", "{list}");
    assert_eq!(list[0]["overlays"], json!(["score", "banner"]), "{list}");
    assert_eq!(list[0]["width"], 640);
    assert_eq!(list[0]["running"], false);
}

/// Is the mean colour full blue?
fn is_blue([r, g, b]: [f64; 3]) -> bool {
    r < 60.0 && g < 60.0 && b > 225.0
}

/// Is the picture camera1's, blue all across? camera0's moving bars have a full blue bar too,
/// which passes the centre now and then, but never fills four points 80 pixels apart (its bars
/// are 91 wide). camera1's 4:3 picture is pillarboxed: the points stay inside it.
fn is_camera1(img: &image::RgbImage) -> (bool, Vec<[f64; 3]>) {
    let points: Vec<[f64; 3]> = [200, 280, 360, 440]
        .into_iter()
        .map(|x| mean(img, x, 200))
        .collect();
    (points.iter().all(|p| is_blue(*p)), points)
}

/// Pulls frames from `url` until it is (or is not) camera1's blue picture, for at most 20 s: a
/// new player starts at the output's next keyframe, after ffmpeg's probing.
fn picture_until(url: &str, dir: &Path, what: &str, blue: bool) {
    let started = Instant::now();
    loop {
        let (camera1, centre) = is_camera1(&frame(url, dir));
        if camera1 == blue {
            eprintln!("{what}: seen after {:?}", started.elapsed());
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{what}: still {centre:?}"
        );
    }
}

/// Once camera0 and camera1 stream: the destination `local` (nginx on `rtmp`) and the stream
/// `program` of camera0 to it (640×360, 15 fps), not started.
async fn program_of_camera0(server: &Server, admin: &str, oper: &str, rtmp: u16) {
    use reqwest::Method as M;
    for cam in ["camera0", "camera1"] {
        wait_status(server, admin, cam, "CONNECTED", Duration::from_secs(30)).await;
    }
    let (s, _) = call(M::POST, server, admin, "/api/destinations", Some(json!({
        "id": "local", "name": "local", "url": format!("rtmp://127.0.0.1:{rtmp}/live"), "stream_key": rtmp::KEY
    }))).await;
    assert_eq!(s, 201);
    let (s, _) = call(M::PUT, server, oper, "/api/streams/program", Some(json!({
        "camera": "camera0", "destinations": ["local"], "width": 640, "height": 360, "fps": 15, "bitrate_kbps": 800
    }))).await;
    assert_eq!(s, 201);
}

/// Starts `program` and waits until `local` is live; returns the URL players read it from.
async fn start_program(server: &Server, oper: &str, rtmp: u16) -> String {
    let (s, _) = call(
        reqwest::Method::POST,
        server,
        oper,
        "/api/streams/program/start",
        None,
    )
    .await;
    assert_eq!(s, 200);
    dest_live(server, oper, "program", "local").await;
    format!("rtmp://127.0.0.1:{rtmp}/live/{}", rtmp::KEY)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_program_cut_switches_the_camera_without_reconnecting() {
    use reqwest::Method as M;
    let (rtmp, http) = (free_port(), free_port());
    let dir = tempfile::tempdir().expect("tempdir");
    let _rtmp = nginx(dir.path(), rtmp, http);
    let blue = dir.path().join("blue.png");
    image::RgbImage::from_pixel(640, 360, image::Rgb([0, 0, 255]))
        .save(&blue)
        .expect("blue.png");
    let server = Server::start(Opts {
        toml: format!(
            "[[cameras]]\nid = \"camera0\"\nsource = \"test\"\nrecording = \"off\"\n\n[[cameras]]\nid = \"camera1\"\nname = \"Blue\"\nsource = \"test\"\nurl = \"{}\"\nrecording = \"off\"\n",
            blue.display()
        ),
        ..Opts::with_roles()
    });
    let admin = server.token("admin").await;
    let oper = server.token("oper").await;
    program_of_camera0(&server, &admin, &oper, rtmp).await;
    let cue = |camera: &str| json!({"stream": "program", "camera": camera});
    let (s, refused) = call(
        M::POST,
        &server,
        &oper,
        "/api/program/cue",
        Some(cue("camera1")),
    )
    .await;
    assert_eq!(s, 409, "a cut of a stopped stream: {refused}");
    let url = start_program(&server, &oper, rtmp).await;
    let (camera1, points) = is_camera1(&frame(&url, dir.path()));
    assert!(!camera1, "camera0 is not all blue: {points:?}");

    // The studio cuts to camera1 over REST, then back over JSON-RPC; each shows on the server.
    let (s, v) = call(
        M::POST,
        &server,
        &oper,
        "/api/program/cue",
        Some(cue("camera1")),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let v = stream_until(
        &server,
        &oper,
        "program",
        "camera1 on air",
        Duration::from_secs(10),
        |v| v["status"]["on_air"] == "camera1",
    )
    .await;
    assert_eq!(dest_state(&v, "local")["attempts"], 1, "{v}");
    picture_until(&url, dir.path(), "camera1's blue after the cut", true);
    let r = server.rpc(Some(&oper), "program_cue", cue("camera0")).await;
    assert_eq!(r["result"]["running"], true, "{r}");
    picture_until(&url, dir.path(), "camera0 after the cut back", false);
    let v = stream_now(&server, &oper, "program").await;
    assert_eq!(v["status"]["on_air"], "camera0");
    assert_eq!(
        dest_state(&v, "local")["attempts"],
        1,
        "a cut reconnected: {v}"
    );
    assert_eq!(v["status"]["encoder"], "running");

    // A dissolve to camera1 and back: each ends on the new camera, on the same connection.
    for (camera, blue) in [("camera1", true), ("camera0", false)] {
        let r = server
            .rpc(
                Some(&oper),
                "program_cue",
                json!({"stream": "program", "camera": camera, "transition": "dissolve"}),
            )
            .await;
        assert_eq!(r["result"]["running"], true, "{r}");
        picture_until(
            &url,
            dir.path(),
            &format!("{camera} after a dissolve"),
            blue,
        );
    }
    let v = stream_now(&server, &oper, "program").await;
    assert_eq!(dest_state(&v, "local")["attempts"], 1, "{v}");

    // A second destination added to the running stream connects and plays; one removed
    // disconnects; the first stays on its connection through both.
    let (s, _) = call(
        M::POST,
        &server,
        &admin,
        "/api/destinations",
        Some(json!({
            "id": "second", "name": "second", "url": format!("rtmp://127.0.0.1:{rtmp}/live"),
            "stream_key": format!("{}2", rtmp::KEY)
        })),
    )
    .await;
    assert_eq!(s, 201);
    let up = stream_now(&server, &oper, "program").await["status"]["uptime_s"]
        .as_u64()
        .expect("uptime");
    let with = |dests: Value| {
        json!({"camera": "camera0", "destinations": dests, "width": 640, "height": 360,
            "fps": 15, "bitrate_kbps": 800})
    };
    let (s, v) = call(
        M::PUT,
        &server,
        &oper,
        "/api/streams/program",
        Some(with(json!(["local", "second"]))),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    dest_live(&server, &oper, "program", "second").await;
    let second_url = format!("rtmp://127.0.0.1:{rtmp}/live/{}2", rtmp::KEY);
    let (camera1, points) = is_camera1(&frame(&second_url, dir.path()));
    assert!(!camera1, "camera0 on the second destination: {points:?}");
    let (s, v) = call(
        M::PUT,
        &server,
        &oper,
        "/api/streams/program",
        Some(with(json!(["local"]))),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let v = stream_until(
        &server,
        &oper,
        "program",
        "the second destination gone",
        Duration::from_secs(10),
        |v| {
            v["status"]["destinations"]
                .as_array()
                .is_some_and(|a| a.len() == 1)
        },
    )
    .await;
    assert_eq!(dest_state(&v, "local")["state"], "live", "{v}");
    assert_eq!(
        dest_state(&v, "local")["attempts"],
        1,
        "adding or removing a destination reconnected the first: {v}"
    );
    assert!(
        v["status"]["uptime_s"].as_u64() > Some(up),
        "the stream restarted: {v}"
    );

    // A program: camera1 for 2 s, camera0 for 2 s, in a loop, while the stream runs.
    let spec = |program: Value| {
        json!({"camera": "camera0", "destinations": ["local"], "width": 640, "height": 360,
            "fps": 15, "bitrate_kbps": 800, "program": program})
    };
    let (s, bad) = call(
        M::PUT,
        &server,
        &oper,
        "/api/streams/program",
        Some(spec(
            json!([{"camera": "camera1", "secs": 0}, {"camera": "nocam", "secs": 2}]),
        )),
    )
    .await;
    assert_eq!(s, 422, "{bad}");
    assert!(
        bad["fields"]["program[0].secs"].is_string()
            && bad["fields"]["program[1].camera"].is_string(),
        "{bad}"
    );
    let (s, _) = call(
        M::PUT,
        &server,
        &oper,
        "/api/streams/program",
        Some(spec(
            json!([{"camera": "camera1", "secs": 2}, {"camera": "camera0", "secs": 2}]),
        )),
    )
    .await;
    assert_eq!(s, 200);
    for on_air in ["camera1", "camera0", "camera1"] {
        stream_until(
            &server,
            &oper,
            "program",
            "the program's next entry",
            Duration::from_secs(10),
            |v| v["status"]["on_air"] == on_air,
        )
        .await;
    }
    let v = stream_now(&server, &oper, "program").await;
    assert_eq!(dest_state(&v, "local")["state"], "live", "{v}");

    // A timeline: camera0 with the stream's own overlays, then at a time of day camera1 with an
    // overlay set of its own, coming on by a fade, for 3 s.
    let (s, _) = call(
        M::PUT,
        &server,
        &oper,
        "/api/overlays/tag",
        Some(json!({
            "kind": "text", "text": "ON {camera}", "x": 0.1, "y": 0.1
        })),
    )
    .await;
    assert_eq!(s, 201);
    // A whole second, as the entry gives it: the schedule takes it at that second's start.
    let at =
        jiff::Timestamp::from_second((jiff::Timestamp::now().as_second()) + 10).expect("a time");
    let at_text = at.strftime("%H:%M:%S").to_string();
    let (s, v) = call(
        M::PUT,
        &server,
        &oper,
        "/api/streams/program",
        Some(spec(json!([
            {"camera": "camera0", "secs": 1},
            {"camera": "camera1", "at": at_text, "secs": 3, "overlays": ["tag"], "transition": "fade"}
        ]))),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let v = stream_until(
        &server,
        &oper,
        "program",
        "camera1 at its time of day",
        Duration::from_secs(30),
        |v| v["status"]["on_air"] == "camera1",
    )
    .await;
    let early = at.duration_since(jiff::Timestamp::now());
    assert!(
        early < jiff::SignedDuration::from_millis(500),
        "camera1 came on {early:?} before its time {at_text}"
    );
    assert_eq!(v["status"]["overlays"], json!(["tag"]), "{v}");
    let v = stream_until(
        &server,
        &oper,
        "program",
        "camera0 back with the stream's own overlays",
        Duration::from_secs(15),
        |v| v["status"]["on_air"] == "camera0",
    )
    .await;
    assert_eq!(v["status"]["overlays"], json!([]), "{v}");
    assert_eq!(dest_state(&v, "local")["state"], "live", "{v}");
    // A cue from outside by a fade.
    let r = server
        .rpc(
            Some(&oper),
            "program_cue",
            json!({"stream": "program", "camera": "camera1", "transition": "fade"}),
        )
        .await;
    assert_eq!(r["result"]["status"]["on_air"], "camera1", "{r}");
}

/// The mean volume (dB) of 2 s of `url`'s audio.
fn live_volume_db(url: &str) -> f64 {
    mean_volume_db(url, &["-rw_timeout", "10000000"], &["-t", "2"]).expect("audio samples")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_camera_with_a_microphone_goes_out_with_its_sound() {
    let (rtmp, http) = (free_port(), free_port());
    let dir = tempfile::tempdir().expect("tempdir");
    let _rtmp = nginx(dir.path(), rtmp, http);
    // An IP camera sending a 440 Hz tone as AAC, and a test camera without audio.
    let ipcam = ipcam::IpCamera::with_aac().await;
    let server = Server::start(Opts {
        toml: ipcam.beside_a_test_camera(""),
        ..Opts::with_roles()
    });
    let admin = server.token("admin").await;
    program_of_camera0(&server, &admin, &admin, rtmp).await;
    let url = start_program(&server, &admin, rtmp).await;
    let streams = probe(&url);
    assert!(
        streams.iter().any(|s| s.0 == "aac" && s.3 == "48000"),
        "{streams:?}"
    );
    // The camera's tone is on the platform, not the silence of a camera without audio.
    let db = live_volume_db(&url);
    assert!(db > -30.0, "camera0's tone: {db} dB");
    // A cut to the camera without audio: silence, on the same connection.
    let r = server
        .rpc(
            Some(&admin),
            "program_cue",
            json!({"stream": "program", "camera": "camera1"}),
        )
        .await;
    assert_eq!(r["result"]["running"], true, "{r}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let db = live_volume_db(&url);
    assert!(db < -60.0, "camera1 has no audio: {db} dB");
    let v = stream_now(&server, &admin, "program").await;
    assert_eq!(dest_state(&v, "local")["attempts"], 1, "{v}");
}
