//! Pinhole's ONVIF client against a foreign ONVIF device (ipycam from PyPI, started here on
//! 127.0.0.1): finding it (unicast WS-Discovery probe), connecting (clock, identity, services,
//! profiles and their URIs), refused credentials, and PTZ moves, status and camera presets as
//! the device reports them; the appliance's discovery methods finding it across a network; and
//! "Discover cameras" on the web page in headless Chromium (`tests/web/discover.mjs`).

mod common;
#[path = "common/digest_proxy.rs"]
mod digest_proxy;

use common::*;
use pinhole::onvif::client::{Client, Credentials};
use pinhole::onvif::{OnvifError, ptz};
use serde_json::json;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const DEVICE_USER: &str = "admin";
const DEVICE_PASSWORD: &str = "onvif-secret-7";
const STREAM: &str = "rtsp://127.0.0.1:8554/main";

/// The foreign device, stopped when dropped.
struct Device {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Device {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        wait_exit(&mut self.child, Duration::from_secs(10));
    }
}

fn start_device() -> Device {
    start_device_in(None, free_port(), None)
}

/// The device on `port`, in the host's network or in a namespace of its own (advertising its
/// address there), and naming `advertised` as its port when it sits behind a proxy.
fn start_device_in(ns: Option<&NetNs>, port: u16, advertised: Option<u16>) -> Device {
    let dir = tempfile::tempdir().expect("tempdir");
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/onvif_device.py");
    let mut command = match ns {
        Some(ns) => ns.command(onvif_device_python()),
        None => Command::new(onvif_device_python()),
    };
    command.arg(script);
    if let Some(ns) = ns {
        command.args(["--ip".to_string(), ns.ns_ip.to_string()]);
    }
    if let Some(p) = advertised {
        command.args(["--advertise-port".to_string(), p.to_string()]);
    }
    let mut child = command
        .args([
            "--port",
            &port.to_string(),
            "--user",
            DEVICE_USER,
            "--password",
            DEVICE_PASSWORD,
        ])
        .args(["--stream-uri", STREAM, "--workdir"])
        .arg(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the ONVIF device");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let line = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the ONVIF device did not start");
    let url = line
        .strip_prefix("READY ")
        .unwrap_or_else(|| panic!("ONVIF device: {line}"))
        .to_string();
    Device {
        child,
        url,
        _dir: dir,
    }
}

/// `test_onvif_device`'s picture: fetched, and a JPEG.
fn assert_snapshot_is_a_jpeg(t: &serde_json::Value) {
    assert_eq!(t["snapshot"]["ok"], true, "{}", t["snapshot"]);
    let jpeg = t["snapshot"]["jpeg"].as_str().unwrap_or_default();
    assert!(
        jpeg.starts_with("data:image/jpeg;base64,/9j/"),
        "{}",
        &jpeg[..jpeg.len().min(60)]
    );
}

fn client(device: &Device, password: &str) -> Client {
    Client::new(
        &device.url,
        Some(Credentials {
            username: DEVICE_USER.into(),
            password: password.into(),
        }),
        Duration::from_secs(10),
    )
    .expect("client")
}

async fn status(c: &Client, ptz_url: &str, profile: &str) -> ptz::Status {
    let a = c
        .call(ptz_url, &ptz::get_status(profile))
        .await
        .expect("GetStatus");
    ptz::parse_status(&a).expect("status")
}

fn near(a: Option<f64>, b: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() < 0.02)
}

#[tokio::test]
async fn a_multicast_probe_crosses_a_veth_pair_to_the_device() {
    let (ns, device) = device_in_namespace();
    let found = pinhole::onvif::client::probe(
        std::net::SocketAddr::new(ns.host_ip.into(), 0),
        pinhole::onvif::discovery::MULTICAST_ADDR
            .parse()
            .expect("addr"),
        Duration::from_secs(3),
    )
    .await
    .expect("probe");
    let theirs: Vec<_> = found
        .iter()
        .filter(|m| m.xaddrs.contains(&device.url))
        .collect();
    assert_eq!(theirs.len(), 1, "{found:?} ({})", device.url);
    assert!(device.url.contains(&ns.ns_ip.to_string()), "{}", device.url);
}

#[tokio::test]
async fn the_client_finds_connects_to_and_steers_a_foreign_device() {
    // One device per test binary: it answers WS-Discovery on port 3702, which a second one
    // would share.
    let device = start_device();

    // Found by a unicast probe (for networks that drop multicast).
    let found = pinhole::onvif::client::probe(
        "127.0.0.1:0".parse().expect("addr"),
        "127.0.0.1:3702".parse().expect("addr"),
        Duration::from_secs(3),
    )
    .await
    .expect("probe");
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].xaddrs, vec![device.url.clone()]);
    assert!(found[0].endpoint.starts_with("urn:uuid:"), "{found:?}");

    // Wrong credentials: a clear refusal, not a parse error.
    let err = client(&device, "wrong").connect().await.unwrap_err();
    assert!(err.is_not_authorized(), "{err:?}");

    let mut c = client(&device, DEVICE_PASSWORD);
    let summary = c.connect().await.expect("connect");
    assert!(summary.clock_offset_secs.abs() <= 5, "{summary:?}");
    assert!(!summary.information.model.is_empty(), "{summary:?}");
    assert!(summary.profiles.len() >= 2, "{summary:?}");
    for p in &summary.profiles {
        assert_eq!(
            p.profile.encoding,
            Some(pinhole::onvif::media::VideoEncoding::H264)
        );
        assert_eq!(p.stream_uri.as_deref(), Some(STREAM), "{p:?}");
        assert!(p.profile.width > 0 && p.profile.height > 0, "{p:?}");
    }
    let main = summary
        .profiles
        .iter()
        .max_by_key(|p| p.profile.pixels())
        .expect("a profile");
    assert!(main.profile.ptz_configuration.is_some(), "{main:?}");
    let token = main.profile.token.clone();
    let ptz_url = summary.services.ptz.clone().expect("a PTZ service");

    let nodes = ptz::parse_nodes(&c.call(&ptz_url, &ptz::get_nodes()).await.expect("GetNodes"))
        .expect("nodes");
    assert!(
        nodes.iter().any(|n| n.absolute && n.continuous),
        "{nodes:?}"
    );

    // Absolute, then continuous until Stop: the device reports where it went.
    c.call(&ptz_url, &ptz::absolute_move(&token, 0.3, -0.2, Some(0.5)))
        .await
        .expect("AbsoluteMove");
    let s = status(&c, &ptz_url, &token).await;
    assert!(
        near(s.pan, 0.3) && near(s.tilt, -0.2) && near(s.zoom, 0.5),
        "{s:?}"
    );
    let preset = ptz::parse_set_preset(
        &c.call(&ptz_url, &ptz::set_preset(&token, "Door", None))
            .await
            .expect("SetPreset"),
    )
    .expect("preset token");
    c.call(&ptz_url, &ptz::continuous_move(&token, 0.5, 0.0, 0.0, None))
        .await
        .expect("ContinuousMove");
    tokio::time::sleep(Duration::from_millis(800)).await;
    c.call(&ptz_url, &ptz::stop(&token)).await.expect("Stop");
    let moved = status(&c, &ptz_url, &token).await;
    assert!(moved.pan.is_some_and(|p| p > 0.35), "{moved:?}");
    let after_stop = status(&c, &ptz_url, &token).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        status(&c, &ptz_url, &token).await.pan,
        after_stop.pan,
        "still moving after Stop"
    );

    // The camera's own preset brings it back.
    let presets = ptz::parse_presets(
        &c.call(&ptz_url, &ptz::get_presets(&token))
            .await
            .expect("GetPresets"),
    )
    .expect("presets");
    assert!(
        presets
            .iter()
            .any(|p| p.token == preset && p.name == "Door"),
        "{presets:?}"
    );
    c.call(&ptz_url, &ptz::goto_preset(&token, &preset))
        .await
        .expect("GotoPreset");
    let back = status(&c, &ptz_url, &token).await;
    assert!(near(back.pan, 0.3) && near(back.tilt, -0.2), "{back:?}");

    // What it does not implement comes back as the device's fault, as data.
    let err = c
        .call(&ptz_url, &ptz::remove_preset(&token, &preset))
        .await
        .unwrap_err();
    assert!(matches!(err, OnvifError::Fault { .. }), "{err:?}");
}

/// A foreign device in its own network namespace joined to this one by a veth pair, with a
/// multicast route there so WS-Discovery crosses the pair both ways.
fn device_in_namespace() -> (NetNs, Device) {
    let ns = NetNs::create();
    let out = Command::new("ip")
        .args([
            "-n",
            &ns.name,
            "route",
            "add",
            "224.0.0.0/4",
            "dev",
            &ns.ns_if,
        ])
        .output()
        .expect("ip route");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let device = start_device_in(Some(&ns), free_port(), None);
    (ns, device)
}

#[tokio::test]
async fn a_device_behind_http_digest_is_connected_to_and_shows_its_picture() {
    // The device in a namespace of its own, behind lighttpd asking for Digest (SHA-256 or MD5)
    // on every request, SOAP and snapshot alike; the device itself still checks WS-Security.
    let ns = NetNs::create();
    let (device_port, proxy_port) = (free_port(), free_port());
    let device = start_device_in(Some(&ns), device_port, Some(proxy_port));
    let dir = tempfile::tempdir().expect("tempdir");
    let _proxy = digest_proxy::start(
        Some(&ns),
        dir.path(),
        (ns.ns_ip, proxy_port).into(),
        ([127, 0, 0, 1], device_port).into(),
        (DEVICE_USER, DEVICE_PASSWORD),
        (DEVICE_USER, DEVICE_PASSWORD),
    );
    assert!(
        device.url.contains(&format!(":{proxy_port}/")),
        "{}",
        device.url
    );

    let server = Server::start(Opts {
        toml: "[[cameras]]\nid = \"camera0\"\nsource = \"test\"\nrecording = \"off\"\n".into(),
        ..Opts::with_roles()
    });
    let operator = server.token("oper").await;
    let test = |password: &'static str| {
        let (server, operator, url) = (&server, &operator, device.url.clone());
        async move {
            server
                .rpc(
                    Some(operator),
                    "test_onvif_device",
                    json!({"device_url": url, "username": DEVICE_USER, "password": password}),
                )
                .await
        }
    };
    let r = test(DEVICE_PASSWORD).await;
    let t = &r["result"];
    assert!(t["model"].as_str().is_some_and(|m| !m.is_empty()), "{r}");
    assert!(
        t["profiles"].as_array().is_some_and(|p| p.len() >= 2),
        "{r}"
    );
    assert_snapshot_is_a_jpeg(t);

    // A wrong password is refused by the proxy: said as refused credentials.
    let r = test("wrong").await;
    assert_eq!(
        r["error"]["data"]["reason"], "device_refused_credentials",
        "{r}"
    );
    let log = std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default();
    assert!(log.contains("wrong password"), "{log}");
}

#[tokio::test]
async fn the_appliance_discovers_the_device_and_manages_external_streams() {
    let (ns, device) = device_in_namespace();
    let server = Server::start(Opts {
        toml: format!(
            "[discovery]\nmulticast = false\nunicast = [\"{}\"]\nwait_ms = 1500\n\n[[cameras]]\nid = \"camera0\"\nsource = \"test\"\nrecording = \"off\"\n",
            ns.ns_ip
        ),
        ..Opts::with_roles()
    });
    let admin = server.token("admin").await;
    let operator = server.token("oper").await;

    let r = server
        .rpc(
            Some(&operator),
            "discover_external_streams",
            json!({"force_rescan": true}),
        )
        .await;
    let found = &r["result"]["discovered_streams"];
    assert_eq!(r["result"]["total_found"], 1, "{r}");
    assert_eq!(found[0]["url"], device.url.as_str(), "{r}");
    assert_eq!(found[0]["type"], "onvif");
    assert_eq!(found[0]["status"], "discovered");
    assert!(
        found[0]["metadata"]["endpoint"]
            .as_str()
            .is_some_and(|e| e.starts_with("urn:uuid:")),
        "{r}"
    );

    // The connection test before adding: what the device is and what it streams.
    let r = server
        .rpc(
            Some(&operator),
            "test_onvif_device",
            json!({"device_url": device.url, "username": DEVICE_USER, "password": DEVICE_PASSWORD}),
        )
        .await;
    let t = &r["result"];
    assert!(t["model"].as_str().is_some_and(|m| !m.is_empty()), "{r}");
    assert_eq!(t["ptz"], true, "{r}");
    let profiles = t["profiles"].as_array().expect("profiles");
    assert!(profiles.len() >= 2, "{r}");
    assert!(
        profiles
            .iter()
            .all(|p| p["stream_url"] == STREAM && p["encoding"] == "H264"),
        "{r}"
    );
    assert_ne!(t["main_profile"], t["sub_profile"], "{r}");
    // And a picture, fetched from the device's snapshot URI.
    assert_snapshot_is_a_jpeg(t);
    let r = server
        .rpc(
            Some(&operator),
            "test_onvif_device",
            json!({"device_url": device.url, "username": DEVICE_USER, "password": "wrong"}),
        )
        .await;
    assert_eq!(r["error"]["code"], -32050, "{r}");
    assert_eq!(
        r["error"]["data"]["reason"], "device_refused_credentials",
        "{r}"
    );
    let r = server
        .rpc(
            Some(&operator),
            "test_onvif_device",
            json!({"device_url": "file:///etc/passwd"}),
        )
        .await;
    assert_eq!(r["error"]["code"], -32602, "{r}");

    // An external stream: the appliance's own camera0 over RTSP, credentials in the URL.
    let rtsp = server.rtsp.expect("rtsp");
    let with_credentials = format!("rtsp://view:{PASSWORD}@{rtsp}/camera0");
    let r = server
        .rpc(
            Some(&operator),
            "add_external_stream",
            json!({"stream_url": with_credentials, "stream_name": "Relay"}),
        )
        .await;
    let bare = format!("rtsp://{rtsp}/camera0");
    assert_eq!(r["result"]["status"], "added", "{r}");
    assert_eq!(
        r["result"]["stream_url"],
        bare.as_str(),
        "credentials never come back: {r}"
    );
    let device_id = r["result"]["device"].as_str().expect("device").to_string();
    wait_status(
        &server,
        &admin,
        &device_id,
        "CONNECTED",
        Duration::from_secs(30),
    )
    .await;
    let viewer = server.token("view").await;
    let r = server
        .rpc(Some(&viewer), "get_external_streams", json!({}))
        .await;
    assert_eq!(r["result"]["total_count"], 1, "{r}");
    assert_eq!(
        r["result"]["external_streams"][0]["url"],
        bare.as_str(),
        "{r}"
    );
    assert_eq!(r["result"]["external_streams"][0]["name"], "Relay");
    assert!(!r.to_string().contains(PASSWORD), "{r}");
    let r = server
        .rpc(
            Some(&operator),
            "add_external_stream",
            json!({"stream_url": "rtsp://x/y", "stream_type": "skydio_stanag4609"}),
        )
        .await;
    assert_eq!(r["error"]["code"], -32602, "{r}");

    // Removed by its URL, with or without the credentials.
    let r = server
        .rpc(
            Some(&operator),
            "remove_external_stream",
            json!({"stream_url": with_credentials}),
        )
        .await;
    assert_eq!(r["result"]["status"], "removed", "{r}");
    let r = server
        .rpc(Some(&viewer), "get_external_streams", json!({}))
        .await;
    assert_eq!(r["result"]["total_count"], 0, "{r}");
    let r = server
        .rpc(
            Some(&operator),
            "remove_external_stream",
            json!({"stream_url": bare}),
        )
        .await;
    assert_eq!(r["error"]["code"], -32010, "{r}");

    // The interval: validated, kept as a setting.
    let r = server
        .rpc(
            Some(&admin),
            "set_discovery_interval",
            json!({"scan_interval": 5}),
        )
        .await;
    assert_eq!(r["error"]["code"], -32602, "{r}");
    let r = server
        .rpc(
            Some(&admin),
            "set_discovery_interval",
            json!({"scan_interval": 10}),
        )
        .await;
    assert_eq!(r["result"]["scan_interval"], 10, "{r}");
    let r = server.rpc(Some(&admin), "get_settings", json!({})).await;
    assert_eq!(
        r["result"]["settings"]["discovery_interval_secs"], 10,
        "{r}"
    );
}

#[test]
fn discover_cameras_on_the_web_page() {
    let (ns, device) = device_in_namespace();
    let server = Server::start(Opts {
        toml: format!(
            "[discovery]\nmulticast = false\nunicast = [\"{}\"]\nwait_ms = 1500\n",
            ns.ns_ip
        ),
        ..Opts::with_roles()
    });
    let shot = screenshot_dir().join("discover.png");
    run_browser_script(
        "discover.mjs",
        &[
            server.url(""),
            "admin".into(),
            PASSWORD.into(),
            device.url.clone(),
            DEVICE_USER.into(),
            DEVICE_PASSWORD.into(),
            shot.display().to_string(),
        ],
        &[],
        || server.stderr_text(),
    );
    // Added with the device's PTZ, steered over ONVIF with the same account.
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let admin = server.token("admin").await;
        let cams = get_json_as(&server, "/api/cameras", &admin).await;
        let cam = cams
            .as_array()
            .and_then(|l| l.iter().find(|c| c["ptz"]["transport"] == "onvif"))
            .unwrap_or_else(|| panic!("no camera with ONVIF PTZ: {cams}"));
        assert_eq!(cam["ptz"]["addr"], device.url.as_str(), "{cam}");
        let id = cam["id"].as_str().expect("id");
        ptz_status_until(&server, &admin, id, "its PTZ never connected", |s| {
            s["connected"] == true
        })
        .await;
    });
}

/// Polls Pinhole's `ptz_status` for `device` until `done` holds (within 30 s).
async fn ptz_status_until(
    server: &Server,
    token: &str,
    device: &str,
    what: &str,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let params = json!({"device": device});
    rpc_until(server, token, "ptz_status", params, what, done).await
}

fn units_near(v: &serde_json::Value, want: i64) -> bool {
    v.as_i64().is_some_and(|v| (v - want).abs() <= 200)
}

#[tokio::test]
async fn the_appliance_steers_an_onvif_camera_behind_its_ptz_api() {
    let (_ns, device) = device_in_namespace();
    let camera = |password: &str| {
        format!(
            "[[cameras]]\nid = \"camera0\"\nsource = \"test\"\nrecording = \"off\"\nusername = \"{DEVICE_USER}\"\npassword = \"{password}\"\nptz = {{ transport = \"onvif\", addr = \"{}\" }}\n",
            device.url
        )
    };
    let server = Server::start(Opts {
        toml: camera(DEVICE_PASSWORD),
        ..Opts::with_roles()
    });
    let op = server.token("oper").await;
    let st = ptz_status_until(&server, &op, "camera0", "ONVIF PTZ never connected", |s| {
        s["connected"] == true && s["pan"].is_i64()
    })
    .await;
    assert_eq!(st["profile"], "onvif", "{st}");
    assert_eq!(st["pan_limits"], json!([-10000, 10000]), "{st}");
    let caps = &st["capabilities"];
    assert_eq!(caps["continuous"], true, "{st}");
    assert_eq!(caps["absolute"], true, "{st}");
    assert_eq!(caps["focus"], false, "{st}");

    // The device itself, read by our own client, says where it points.
    let mut c = client(&device, DEVICE_PASSWORD);
    let summary = c.connect().await.expect("connect");
    let ptz_url = summary.services.ptz.clone().expect("PTZ service");
    let profile = summary
        .profiles
        .iter()
        .find(|p| p.profile.ptz_configuration.is_some())
        .expect("a PTZ profile")
        .profile
        .token
        .clone();

    // Absolute, in the API's units (ONVIF's generic spaces × 10000).
    let r = server
        .rpc(
            Some(&op),
            "ptz_absolute",
            json!({"device": "camera0", "pan": 5000, "tilt": -2500, "zoom": 3000}),
        )
        .await;
    assert!(r["error"].is_null(), "{r}");
    let s = status(&c, &ptz_url, &profile).await;
    assert!(
        near(s.pan, 0.5) && near(s.tilt, -0.25) && near(s.zoom, 0.3),
        "{s:?}"
    );
    ptz_status_until(
        &server,
        &op,
        "camera0",
        "the status follows the device",
        |s| units_near(&s["pan"], 5000) && units_near(&s["tilt"], -2500),
    )
    .await;

    // The camera's own preset 3, set here and recalled after a continuous move.
    let r = server
        .rpc(
            Some(&op),
            "ptz_preset",
            json!({"device": "camera0", "action": "set", "preset": 3}),
        )
        .await;
    assert!(r["error"].is_null(), "{r}");
    let r = server
        .rpc(
            Some(&op),
            "ptz_move",
            json!({"device": "camera0", "pan_speed": -0.5}),
        )
        .await;
    assert!(r["error"].is_null(), "{r}");
    tokio::time::sleep(Duration::from_millis(800)).await;
    let r = server
        .rpc(Some(&op), "ptz_stop", json!({"device": "camera0"}))
        .await;
    assert!(r["error"].is_null(), "{r}");
    let moved = status(&c, &ptz_url, &profile).await;
    assert!(moved.pan.is_some_and(|p| p < 0.45), "{moved:?}");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        status(&c, &ptz_url, &profile).await.pan,
        moved.pan,
        "still moving after ptz_stop"
    );
    let r = server
        .rpc(
            Some(&op),
            "ptz_preset",
            json!({"device": "camera0", "action": "recall", "preset": 3}),
        )
        .await;
    assert!(r["error"].is_null(), "{r}");
    let back = status(&c, &ptz_url, &profile).await;
    assert!(near(back.pan, 0.5) && near(back.tilt, -0.25), "{back:?}");

    // Pinhole's own named preset: stored as positions, replayed with an absolute move.
    let r = server
        .rpc(
            Some(&op),
            "ptz_absolute",
            json!({"device": "camera0", "pan": -3000, "tilt": 1000}),
        )
        .await;
    assert!(r["error"].is_null(), "{r}");
    let r = server
        .rpc(
            Some(&op),
            "ptz_preset_save",
            json!({"device": "camera0", "name": "gate"}),
        )
        .await;
    let gate = r["result"]["preset"]["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("{r}"));
    assert!(units_near(&r["result"]["preset"]["pan"], -3000), "{r}");
    server
        .rpc(Some(&op), "ptz_home", json!({"device": "camera0"}))
        .await;
    let home = status(&c, &ptz_url, &profile).await;
    assert!(near(home.pan, 0.0) && near(home.tilt, 0.0), "{home:?}");
    let r = server
        .rpc(Some(&op), "ptz_preset_goto", json!({"id": gate}))
        .await;
    assert!(r["error"].is_null(), "{r}");
    let at_gate = status(&c, &ptz_url, &profile).await;
    assert!(
        near(at_gate.pan, -0.3) && near(at_gate.tilt, 0.1),
        "{at_gate:?}"
    );

    // What ONVIF PTZ has no word for is refused clearly, and so is a position out of range.
    let r = server
        .rpc(
            Some(&op),
            "ptz_focus",
            json!({"device": "camera0", "mode": "auto"}),
        )
        .await;
    assert_eq!(
        r["error"]["data"]["reason"], "not_supported_by_camera",
        "{r}"
    );
    let r = server
        .rpc(
            Some(&op),
            "ptz_absolute",
            json!({"device": "camera0", "pan": 12000}),
        )
        .await;
    assert_eq!(r["error"]["code"], -32602, "{r}");
    drop(server);

    // With the wrong password the link says why, and the API answers at once.
    let server = Server::start(Opts {
        toml: camera("not-the-password"),
        ..Opts::with_roles()
    });
    let op = server.token("oper").await;
    let st = ptz_status_until(&server, &op, "camera0", "no clear error", |s| {
        s["last_error"].is_string()
    })
    .await;
    assert_eq!(st["connected"], false, "{st}");
    let r = server
        .rpc(
            Some(&op),
            "ptz_move",
            json!({"device": "camera0", "pan_speed": 0.5}),
        )
        .await;
    assert_eq!(r["error"]["data"]["reason"], "camera_unreachable", "{r}");
}
