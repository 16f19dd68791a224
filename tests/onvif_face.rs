//! Pinhole as an ONVIF camera, checked with foreign clients from PyPI: WSDiscovery and
//! onvif-zeep-async (`tests/interop/onvif_client.py`), the libraries behind Home Assistant's
//! ONVIF integration.
//!
//! The appliance runs in demo mode in a network namespace of its own (its own UDP 3702, so
//! nothing here meets the foreign device of `tests/onvif.rs`), and the client in a second one
//! joined to it by a veth pair: the multicast probe crosses a real interface. The host reaches
//! the appliance over a third link, for the API, ffprobe and the checks.

mod common;

use common::*;
use serde_json::{Value, json};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// The foreign client in namespace `ns`: `args`, with `steps` on stdin; its JSON output.
fn client(ns: &NetNs, args: &[&str], steps: &Value) -> Value {
    run_client(ns.command(onvif_client_python()), args, steps)
}

/// The foreign client on the host.
fn host_client(args: &[&str], steps: &Value) -> Value {
    run_client(
        std::process::Command::new(onvif_client_python()),
        args,
        steps,
    )
}

fn run_client(mut command: std::process::Command, args: &[&str], steps: &Value) -> Value {
    use std::io::Write;
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/onvif_client.py");
    let mut child = command
        .arg(script)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the ONVIF client");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(steps.to_string().as_bytes())
        .expect("steps");
    let out = child.wait_with_output().expect("ONVIF client");
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.trim()).unwrap_or_else(|e| {
        panic!(
            "the ONVIF client said {text:?} ({e}); stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn step(service: &str, op: &str, params: Value) -> Value {
    json!({"service": service, "op": op, "params": params})
}

fn ok(results: &Value, i: usize) -> &Value {
    let r = &results[i];
    assert!(
        r.get("ok").is_some(),
        "step {i} failed: {r}\nall: {results}"
    );
    &r["ok"]
}

fn near(v: &Value, want: f64) -> bool {
    v.as_f64().is_some_and(|x| (x - want).abs() < 0.02)
}

async fn set_onvif(server: &Server, token: &str, on: bool) {
    let r = client_http()
        .put(server.url("/api/settings"))
        .bearer_auth(token)
        .json(&json!({"onvif_enabled": on}))
        .send()
        .await
        .expect("settings");
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
}

fn client_http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

async fn soap(server: &Server, body: &str) -> reqwest::Response {
    client_http()
        .post(server.url("/onvif/device_service"))
        .header("Content-Type", "application/soap+xml")
        .body(body.to_string())
        .send()
        .await
        .expect("post")
}

const DEVICE_INFORMATION: &str = r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><GetDeviceInformation xmlns="http://www.onvif.org/ver10/device/wsdl"/></s:Body></s:Envelope>"#;

/// Probes from the client's namespace until Pinhole answers (the responder starts when the
/// setting changes); the matches naming Pinhole's device service.
fn probe_until_found(ns: &NetNs, args: &[&str], device_url: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut a = vec!["probe", "--timeout", "3"];
        a.extend_from_slice(args);
        let found = client(ns, &a, &json!(null));
        let ours: Vec<&Value> = found
            .as_array()
            .expect("list")
            .iter()
            .filter(|m| {
                m["xaddrs"]
                    .as_array()
                    .is_some_and(|x| x.iter().any(|u| u == device_url))
            })
            .collect();
        if let Some(m) = ours.first() {
            return (*m).clone();
        }
        assert!(
            Instant::now() < deadline,
            "never found {device_url}: {found}"
        );
    }
}

#[tokio::test]
async fn a_foreign_onvif_client_finds_plays_and_steers_pinhole() {
    let appliance_ns = NetNs::create();
    let client_ns = NetNs::create();
    let (pinhole_ip, _) = appliance_ns.link_to(&client_ns);
    // Listening on every address of its namespace, as on a Pi; the host reaches it at ns_ip.
    let mut server = Server::start(Opts {
        demo: true,
        env: vec![("PINHOLE_ADMIN_PASSWORD".into(), PASSWORD.into())],
        users: vec![("view", "viewer")],
        netns: Some(appliance_ns.name.clone()),
        listen: Some("0.0.0.0:0".into()),
        rtsp_listen: Some("0.0.0.0:0".into()),
        ..Default::default()
    });
    server.addr.set_ip(appliance_ns.ns_ip.into());
    if let Some(r) = server.rtsp.as_mut() {
        r.set_ip(appliance_ns.ns_ip.into());
    }
    let admin = server.token("admin").await;

    // Off by default: the services are not there.
    assert_eq!(soap(&server, DEVICE_INFORMATION).await.status(), 404);
    set_onvif(&server, &admin, true).await;

    // Found as Home Assistant probes (no types, the Streaming scope) and by type, at the address
    // the client reaches it by.
    let port = server.addr.port();
    let device_url = format!("http://{pinhole_ip}:{port}/onvif/device_service");
    let found = probe_until_found(
        &client_ns,
        &["--scope", "onvif://www.onvif.org/Profile/Streaming"],
        &device_url,
    );
    assert!(
        found["epr"]
            .as_str()
            .is_some_and(|e| e.starts_with("urn:uuid:")),
        "{found}"
    );
    let scopes = found["scopes"].to_string();
    assert!(
        scopes.contains("onvif://www.onvif.org/name/") && scopes.contains("/type/ptz"),
        "{scopes}"
    );
    let by_type = probe_until_found(&client_ns, &["--types"], &device_url);
    assert_eq!(by_type["epr"], found["epr"]);

    // Read, play, and steer the simulated PTZ camera, as the admin.
    let host = pinhole_ip.to_string();
    let port_s = port.to_string();
    let run = |user: &str, password: &str, steps: Value| {
        client(&client_ns, &["run", &host, &port_s, user, password], &steps)
    };
    let cam = json!({"ProfileToken": "camera0"});
    let r = run(
        "admin",
        PASSWORD,
        json!([
            step("devicemgmt", "GetDeviceInformation", json!({})),
            step("devicemgmt", "GetNetworkInterfaces", json!({})),
            step("media", "GetProfiles", json!({})),
            step("media", "GetStreamUri", json!({"StreamSetup": {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}}, "ProfileToken": "camera0"})),
            {"snapshot": "camera0"},
            step("ptz", "AbsoluteMove", json!({"ProfileToken": "camera0", "Position": {"PanTilt": {"x": 0.5, "y": -0.25}, "Zoom": {"x": 0.0}}})),
            step("ptz", "GetStatus", cam.clone()),
            step("ptz", "SetPreset", json!({"ProfileToken": "camera0", "PresetName": "door"})),
            step("ptz", "ContinuousMove", json!({"ProfileToken": "camera0", "Velocity": {"PanTilt": {"x": -0.5, "y": 0.0}}})),
            {"sleep": 1.5},
            step("ptz", "Stop", json!({"ProfileToken": "camera0", "PanTilt": true, "Zoom": true})),
            {"sleep": 0.5},
            step("ptz", "GetStatus", cam.clone()),
            step("ptz", "GetPresets", cam.clone()),
        ]),
    );
    assert_eq!(ok(&r, 0)["Manufacturer"], "Pinhole", "{r}");
    let interfaces = ok(&r, 1).to_string();
    assert!(
        interfaces.contains("HwAddress") && interfaces.contains(&host),
        "{interfaces}"
    );
    let profiles = ok(&r, 2).as_array().expect("profiles").clone();
    let tokens: Vec<&str> = profiles
        .iter()
        .filter_map(|p| p["token"].as_str())
        .collect();
    assert!(
        tokens.contains(&"camera0") && tokens.contains(&"camera1"),
        "{tokens:?}"
    );
    let p0 = profiles
        .iter()
        .find(|p| p["token"] == "camera0")
        .expect("camera0");
    assert_eq!(p0["VideoEncoderConfiguration"]["Encoding"], "H264", "{p0}");
    assert!(
        p0["VideoEncoderConfiguration"]["Resolution"]["Width"].as_u64() > Some(0),
        "{p0}"
    );
    assert_eq!(p0["PTZConfiguration"]["NodeToken"], "ptz_camera0", "{p0}");
    let uri = ok(&r, 3)["Uri"].as_str().expect("uri").to_string();
    let rtsp = server.rtsp.expect("rtsp");
    assert_eq!(uri, format!("rtsp://{host}:{}/camera0", rtsp.port()));
    assert_eq!(ok(&r, 4)["jpeg"], true, "{r}");
    let status = &ok(&r, 6)["Position"]["PanTilt"];
    assert!(near(&status["x"], 0.5) && near(&status["y"], -0.25), "{r}");
    let preset = ok(&r, 7).as_str().expect("preset token").to_string();
    let after = &ok(&r, 12)["Position"]["PanTilt"];
    assert!(
        after["x"].as_f64().is_some_and(|x| x < 0.45),
        "the continuous move did not pan left: {r}"
    );
    assert_eq!(ok(&r, 12)["MoveStatus"]["PanTilt"], "IDLE");
    let presets = ok(&r, 13).to_string();
    assert!(
        presets.contains("\"door\"") && presets.contains(&preset),
        "{presets}"
    );

    // The move reached the camera itself: Pinhole's own status, in the camera's units.
    let st = server
        .rpc(Some(&admin), "ptz_status", json!({"device": "camera0"}))
        .await["result"]
        .clone();
    let (lo, hi) = (
        st["pan_limits"][0].as_f64().unwrap_or(0.0),
        st["pan_limits"][1].as_f64().unwrap_or(0.0),
    );
    let pan_at_half = lo + 0.75 * (hi - lo);
    assert!(
        st["pan"].as_f64().is_some_and(|p| p < pan_at_half - 1.0),
        "{st}"
    );

    // The stream URI plays from where the client is (with the user's credentials, as an NVR
    // adds them).
    let with_creds = uri.replacen("rtsp://", &format!("rtsp://admin:{PASSWORD}@"), 1);
    assert_eq!(
        stream_codecs(client_ns.command("ffprobe"), &with_creds, None),
        ["h264"]
    );

    // Back to the preset, and the preset removed.
    let r = run(
        "admin",
        PASSWORD,
        json!([
            step(
                "ptz",
                "GotoPreset",
                json!({"ProfileToken": "camera0", "PresetToken": preset})
            ),
            step("ptz", "GetStatus", cam.clone()),
            step(
                "ptz",
                "RemovePreset",
                json!({"ProfileToken": "camera0", "PresetToken": preset})
            ),
            step("ptz", "GetPresets", cam.clone()),
            step(
                "ptz",
                "GotoPreset",
                json!({"ProfileToken": "camera0", "PresetToken": preset})
            ),
            step(
                "ptz",
                "AbsoluteMove",
                json!({"ProfileToken": "camera0", "Position": {"PanTilt": {"x": 3.0, "y": 0.0}}})
            ),
            step(
                "media",
                "GetStreamUri",
                json!({"StreamSetup": {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}}, "ProfileToken": "nope"})
            ),
            step("devicemgmt", "SystemReboot", json!({})),
        ]),
    );
    assert!(near(&ok(&r, 1)["Position"]["PanTilt"]["x"], 0.5), "{r}");
    ok(&r, 2);
    assert_eq!(ok(&r, 3), &json!([]), "{r}");
    for i in 4..=7 {
        assert!(
            r[i].get("fault").is_some() && r[i]["auth"] == false,
            "step {i}: {r}"
        );
    }

    // A wrong password and an unknown user are refused as authentication errors; a viewer
    // reads but does not steer.
    for (user, pw) in [("admin", "wrong-password"), ("nobody", PASSWORD)] {
        let r = run(user, pw, json!([step("media", "GetProfiles", json!({}))]));
        assert_eq!(r[0]["auth"], true, "{user}: {r}");
    }
    let r = run(
        "view",
        PASSWORD,
        json!([
            step("media", "GetProfiles", json!({})),
            step(
                "ptz",
                "ContinuousMove",
                json!({"ProfileToken": "camera0", "Velocity": {"PanTilt": {"x": 0.5, "y": 0.0}}})
            ),
        ]),
    );
    assert!(ok(&r, 0).as_array().is_some_and(|p| p.len() >= 2), "{r}");
    assert!(
        r[1]["fault"]
            .as_str()
            .is_some_and(|f| f.contains("operator")),
        "{r}"
    );

    // Without credentials: a Digest challenge. Hostile XML: a fault, and the appliance carries on.
    let r = soap(&server, DEVICE_INFORMATION).await;
    assert_eq!(r.status(), 401);
    let challenge = r.headers()["www-authenticate"]
        .to_str()
        .expect("header")
        .to_string();
    assert!(
        challenge.starts_with("Digest realm=\"pinhole\""),
        "{challenge}"
    );
    let bomb = r#"<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>&b;</s:Body></s:Envelope>"#;
    let r = soap(&server, bomb).await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.expect("text").contains("InvalidArgVal"));

    // Moves are in the audit log, with who made them.
    let audit = get_json_as(&server, "/api/audit?limit=200", &admin)
        .await
        .to_string();
    assert!(
        audit.contains("onvif AbsoluteMove") && audit.contains("onvif GotoPreset"),
        "{audit}"
    );

    // Switched off: gone from the network and from HTTP.
    set_onvif(&server, &admin, false).await;
    assert_eq!(soap(&server, DEVICE_INFORMATION).await.status(), 404);
    let found = client(
        &client_ns,
        &["probe", "--timeout", "3", "--types"],
        &json!(null),
    );
    assert!(!found.to_string().contains(&device_url), "{found}");
}

#[test]
fn the_onvif_switch_in_settings_works_in_chromium() {
    // No discovery responder here: this test stays out of the host's UDP 3702.
    let server = Server::start(Opts {
        toml: "[onvif]\ndiscovery = false\n".into(),
        ..Opts::with_roles()
    });
    run_browser_script(
        "onvif.mjs",
        &[
            server.url(""),
            "admin".into(),
            PASSWORD.into(),
            screenshot_dir().join("onvif.png").display().to_string(),
        ],
        &[],
        || server.stderr_text(),
    );
}

/// The appliance with `ipcam` as camera0 beside a test camera, the face on, camera0 streaming
/// with its `audio` (`aac`, `pcmu`...); the server and its HTTP port.
async fn face_beside(ipcam: &ipcam::IpCamera, audio: &str) -> (Server, String) {
    let server = Server::start(Opts {
        toml: ipcam.beside_a_test_camera("[onvif]\ndiscovery = false\n\n"),
        ..Opts::with_roles()
    });
    let admin = server.token("admin").await;
    rpc_until(
        &server,
        &admin,
        "get_camera_status",
        json!({"device": "camera0"}),
        "camera0 streaming with its audio",
        |st| st["status"] == "CONNECTED" && st["audio"] == audio,
    )
    .await;
    set_onvif(&server, &admin, true).await;
    let port = server.addr.port().to_string();
    (server, port)
}

#[tokio::test]
async fn an_ip_cameras_audio_shows_in_the_onvif_profiles_and_plays() {
    // An IP camera with AAC audio beside a test camera without, on the host's loopback (no
    // discovery: only the services are used here).
    let ipcam = ipcam::IpCamera::with_aac().await;
    let (_server, port) = face_beside(&ipcam, "aac").await;
    // The bitrate is measured over the status's window: let one pass.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let r = host_client(
        &["run", "127.0.0.1", &port, "view", PASSWORD],
        &json!([
            step("media", "GetProfiles", json!({})),
            step(
                "media",
                "GetStreamUri",
                json!({
                    "ProfileToken": "camera0",
                    "StreamSetup": {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}}
                })
            ),
        ]),
    );
    let profiles = ok(&r, 0).as_array().expect("profiles").clone();
    let profile = |token: &str| {
        profiles
            .iter()
            .find(|p| p["token"] == token)
            .unwrap_or_else(|| panic!("no profile {token}: {profiles:?}"))
            .clone()
    };
    let with_audio = profile("camera0");
    let aenc = &with_audio["AudioEncoderConfiguration"];
    assert_eq!(aenc["Encoding"], "AAC", "{with_audio}");
    assert_eq!(aenc["SampleRate"], 16, "the camera's 16 kHz: {aenc}");
    assert!(
        aenc["Bitrate"].as_i64().is_some_and(|b| b > 8 && b < 200),
        "{aenc}"
    );
    assert!(with_audio["AudioSourceConfiguration"]["SourceToken"].is_string());
    let silent = profile("camera1");
    assert!(silent["AudioEncoderConfiguration"].is_null(), "{silent}");
    // The stream URI the client got plays the audio too.
    let uri = ok(&r, 1)["Uri"].as_str().expect("uri").to_string();
    let uri = uri.replacen("rtsp://", &format!("rtsp://view:{PASSWORD}@"), 1);
    let codecs = stream_codecs(std::process::Command::new("ffprobe"), &uri, None);
    assert!(
        codecs.iter().any(|c| c == "h264") && codecs.iter().any(|c| c == "aac"),
        "{codecs:?}"
    );
}

#[tokio::test]
async fn over_https_the_services_are_named_by_https_urls() {
    let server = Server::start(Opts {
        toml: "[onvif]\ndiscovery = false\n\n[tls]\nmode = \"self-signed\"\nlisten = \"127.0.0.1:0\"\n"
            .into(),
        ..Opts::with_roles()
    });
    let admin = server.token("admin").await;
    set_onvif(&server, &admin, true).await;
    let https = server.https.expect("https listener announced");
    const CAPABILITIES: &str = r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><GetCapabilities xmlns="http://www.onvif.org/ver10/device/wsdl"><Category>All</Category></GetCapabilities></s:Body></s:Envelope>"#;
    let tls = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client");
    let answer = tls
        .post(format!("https://{https}/onvif/device_service"))
        .header("Content-Type", "application/soap+xml")
        .body(CAPABILITIES)
        .send()
        .await
        .expect("post")
        .text()
        .await
        .expect("text");
    // Every service a client is sent to next is on the HTTPS listener it came by.
    for service in ["device_service", "media_service"] {
        let url = format!("https://{https}/onvif/{service}");
        assert!(answer.contains(&url), "no {url} in {answer}");
    }
    assert!(!answer.contains(&format!("http://{https}")), "{answer}");
    // Over plain HTTP, plain HTTP URLs.
    let answer = soap(&server, CAPABILITIES)
        .await
        .text()
        .await
        .expect("text");
    let url = format!("http://{}/onvif/media_service", server.addr);
    assert!(answer.contains(&url), "no {url} in {answer}");
}

#[tokio::test]
async fn a_foreign_client_takes_motion_and_people_as_onvif_events() {
    // camera0 is a still photo of a person, camera1 a moving test pattern; the detector runs
    // the person model on both.
    let a = assets_dir();
    let (photo, model) = (
        a.join("images/astronaut.png"),
        a.join("models/pose_detection.tflite"),
    );
    assert!(
        photo.is_file() && model.is_file(),
        "run scripts/fetch-detect-assets"
    );
    let server = Server::start(Opts {
        toml: format!(
            "[onvif]\ndiscovery = false\n\n[detection]\nenabled = true\nmodel = \"{}\"\nfps = 2\nthreshold = 0.6\nkeepalive_secs = 2\n\n\
             [[cameras]]\nid = \"camera0\"\nsource = \"test\"\nurl = \"{}\"\nwidth = 512\nheight = 512\nfps = 5\n\n\
             [[cameras]]\nid = \"camera1\"\nsource = \"test\"\nwidth = 320\nheight = 240\nfps = 10\n",
            model.display(),
            photo.display()
        ),
        ..Opts::with_roles()
    });
    let admin = server.token("admin").await;
    set_onvif(&server, &admin, true).await;
    let port = server.addr.port().to_string();
    let wanted = json!([
        [
            "tns1:RuleEngine/PeopleDetector/People",
            "src_camera0",
            "true"
        ],
        [
            "tns1:RuleEngine/CellMotionDetector/Motion",
            "src_camera1",
            "true"
        ],
        ["tns1:VideoSource/MotionAlarm", "src_camera1", "true"],
    ]);
    let r = host_client(
        &["run", "127.0.0.1", &port, "view", PASSWORD],
        &json!([
            step("devicemgmt", "GetCapabilities", json!({"Category": "All"})),
            step("events", "GetEventProperties", json!({})),
            {"events": {"timeout": 90, "want": wanted}},
            // And as webhooks: Notify posted to the client's own HTTP server.
            {"notify": {"timeout": 60, "want": wanted}},
        ]),
    );
    let caps = ok(&r, 0);
    assert_eq!(caps["Events"]["WSPullPointSupport"], true, "{caps}");
    let props = ok(&r, 1);
    assert_eq!(props["FixedTopicSet"], true, "{props}");
    let ev = ok(&r, 2);
    let messages = ev["messages"].as_array().expect("messages");
    let with = |topic: &str, source: &str, value: &str, op: Option<&str>| {
        messages.iter().any(|m| {
            m["topic"] == topic
                && m["source"]
                    .as_object()
                    .is_some_and(|s| s.values().any(|v| v == source))
                && m["data"]
                    .as_object()
                    .is_some_and(|d| d.values().any(|v| v == value))
                && op.is_none_or(|op| m["op"] == op)
        })
    };
    // First every camera's state, as Initialized.
    for source in ["src_camera0", "src_camera1"] {
        for topic in [
            "tns1:VideoSource/MotionAlarm",
            "tns1:RuleEngine/CellMotionDetector/Motion",
            "tns1:RuleEngine/PeopleDetector/People",
        ] {
            assert!(
                messages.iter().any(|m| m["topic"] == topic
                    && m["op"] == "Initialized"
                    && m["source"]
                        .as_object()
                        .is_some_and(|s| s.values().any(|v| v == source))),
                "no Initialized {topic} for {source}: {ev}"
            );
        }
    }
    // Then what the detector saw: the person in the photo, the moving pattern.
    assert!(
        with(
            "tns1:RuleEngine/PeopleDetector/People",
            "src_camera0",
            "true",
            None
        ),
        "{ev}\n{}",
        server.stderr_text()
    );
    assert!(
        with(
            "tns1:RuleEngine/CellMotionDetector/Motion",
            "src_camera1",
            "true",
            None
        ),
        "{ev}"
    );
    assert!(
        with("tns1:VideoSource/MotionAlarm", "src_camera1", "true", None),
        "{ev}"
    );
    assert!(
        !with(
            "tns1:RuleEngine/CellMotionDetector/Motion",
            "src_camera0",
            "true",
            None
        ),
        "the photo does not move: {ev}"
    );
    // The same person is an open event of the REST API.
    let list = get_json_as(&server, "/api/events?camera=camera0&kind=object", &admin).await;
    assert_eq!(list["events"][0]["label"], "person", "{list}");
    // Renewed as Home Assistant renews it; after Unsubscribe the pull point is gone.
    assert_eq!(ev["renewed"], true, "{ev}");
    assert!(
        ev["after_end"]
            .as_str()
            .is_some_and(|f| f.contains("no such subscription")),
        "{ev}"
    );
    // Through Notify, the same: each camera's state, then the same detections, and a renewal.
    let pushed = ok(&r, 3);
    let got = pushed["messages"].as_array().expect("messages");
    for w in wanted.as_array().expect("wanted") {
        assert!(
            got.iter().any(|m| m["topic"] == w[0]
                && m["source"]
                    .as_object()
                    .is_some_and(|s| s.values().any(|v| *v == w[1]))
                && m["data"]
                    .as_object()
                    .is_some_and(|d| d.values().any(|v| *v == w[2]))),
            "no {w} by Notify: {pushed}"
        );
    }
    assert!(got.iter().any(|m| m["op"] == "Initialized"), "{pushed}");
    assert_eq!(pushed["renewed"], true, "{pushed}");
    // And in the RTSP metadata stream beside camera1's video, as GStreamer's client takes it:
    // the camera's state when it starts playing.
    let rtsp = server.rtsp.expect("RTSP server");
    let url = format!(
        "rtsp://view:{PASSWORD}@127.0.0.1:{}/camera1/metadata",
        rtsp.port()
    );
    let (encoding, doc) = tokio::task::spawn_blocking(move || first_metadata_document(&url))
        .await
        .expect("metadata reader");
    assert_eq!(encoding, "VND.ONVIF.METADATA");
    assert!(doc.contains("<tt:MetadataStream"), "{doc}");
    for (topic, item) in [
        ("tns1:VideoSource/MotionAlarm", "State"),
        ("tns1:RuleEngine/CellMotionDetector/Motion", "IsMotion"),
    ] {
        let at = doc
            .find(topic)
            .unwrap_or_else(|| panic!("no {topic}: {doc}"));
        let message = &doc[at..];
        let message = &message[..message
            .find("</wsnt:NotificationMessage>")
            .unwrap_or(message.len())];
        assert!(
            message.contains("PropertyOperation=\"Initialized\""),
            "{message}"
        );
        assert!(
            message.contains(&format!("Name=\"{item}\" Value=\"true\"")),
            "the pattern moves: {message}"
        );
        assert!(message.contains("Value=\"src_camera1\""), "{message}");
    }
    // Both ended with Unsubscribe: nothing is left open.
    let text = metrics_text(&server).await;
    assert!(
        text.contains("pinhole_onvif_event_subscriptions 0"),
        "{text}"
    );
}

/// The encoding name and first document of `url`'s ONVIF metadata stream as GStreamer's RTSP
/// client (rtspsrc) receives it: the payloads of the application stream's RTP packets up to
/// the first marked one.
fn first_metadata_document(url: &str) -> (String, String) {
    use gst::prelude::*;
    gst::init().expect("GStreamer");
    let pipeline = gst::Pipeline::new();
    let src = gst::ElementFactory::make("rtspsrc")
        .property("location", url)
        .property("latency", 0u32)
        .build()
        .expect("rtspsrc");
    src.set_property_from_str("protocols", "tcp");
    let sink = gst_app::AppSink::builder().sync(false).build();
    pipeline.add(&src).expect("add");
    pipeline.add(&sink).expect("add");
    let (weak, sink_pad) = (pipeline.downgrade(), sink.static_pad("sink").expect("pad"));
    src.connect_pad_added(move |_, pad| {
        let application = pad.current_caps().is_some_and(|c| {
            c.structure(0)
                .is_some_and(|s| s.get::<&str>("media") == Ok("application"))
        });
        if application && !sink_pad.is_linked() {
            let _ = pad.link(&sink_pad);
        } else if let Some(p) = weak.upgrade() {
            // The video (and any audio) goes nowhere.
            let fake = gst::ElementFactory::make("fakesink")
                .build()
                .expect("fakesink");
            let _ = p.add(&fake);
            let _ = fake.sync_state_with_parent();
            let _ = pad.link(&fake.static_pad("sink").expect("pad"));
        }
    });
    pipeline.set_state(gst::State::Playing).expect("play");
    let deadline = Instant::now() + Duration::from_secs(30);
    let (mut encoding, mut doc) = (String::new(), Vec::new());
    while Instant::now() < deadline {
        let Some(sample) = sink.try_pull_sample(gst::ClockTime::from_seconds(1)) else {
            continue;
        };
        if let Some(s) = sample.caps().and_then(|c| c.structure(0)) {
            encoding = s
                .get::<&str>("encoding-name")
                .unwrap_or_default()
                .to_string();
        }
        let Some(map) = sample.buffer().and_then(|b| b.map_readable().ok()) else {
            continue;
        };
        let packet = map.as_slice();
        // The RTP header: 12 bytes, the CSRCs, then any extension.
        let mut at = 12 + 4 * usize::from(packet[0] & 0x0f);
        if packet[0] & 0x10 != 0 {
            at += 4 + 4 * usize::from(u16::from_be_bytes([packet[at + 2], packet[at + 3]]));
        }
        doc.extend_from_slice(&packet[at..]);
        if packet[1] & 0x80 != 0 {
            break;
        }
    }
    let _ = pipeline.set_state(gst::State::Null);
    (encoding, String::from_utf8_lossy(&doc).into_owned())
}

#[tokio::test]
async fn media2_names_h265_and_aac_and_its_uris_play() {
    // An H.265 IP camera with AAC (camera0) beside an H.264 test camera without audio (camera1).
    let ipcam = ipcam::IpCamera::started(ipcam::IpCodec::H265, Some(ipcam::IpAudio::Aac)).await;
    let (server, port) = face_beside(&ipcam, "aac").await;
    let media2 = |op: &str, params: Value| json!({"media2": op, "params": params});
    let r = host_client(
        &["run", "127.0.0.1", &port, "view", PASSWORD],
        &json!([
            media2("GetProfiles", json!({"Type": ["All"]})),
            media2("GetProfiles", json!({})),
            media2(
                "GetVideoEncoderConfigurations",
                json!({"ProfileToken": "camera0"})
            ),
            media2("GetVideoSourceConfigurations", json!({})),
            media2(
                "GetStreamUri",
                json!({"Protocol": "RtspUnicast", "ProfileToken": "camera0"})
            ),
            media2(
                "GetStreamUri",
                json!({"Protocol": "RtspOverHttp", "ProfileToken": "camera0"})
            ),
            media2("GetSnapshotUri", json!({"ProfileToken": "camera1"})),
            media2(
                "GetAudioEncoderConfigurations",
                json!({"ConfigurationToken": "nope"})
            ),
            media2("GetServiceCapabilities", json!({})),
            media2(
                "GetVideoEncoderConfigurationOptions",
                json!({"ProfileToken": "camera0"})
            ),
            // The same camera set through Media (ver10), as recorders ask when they add one.
            step(
                "media",
                "GetVideoEncoderConfigurationOptions",
                json!({"ProfileToken": "camera1"})
            ),
            step(
                "media",
                "GetVideoEncoderConfiguration",
                json!({"ConfigurationToken": "enc_camera1"})
            ),
            step(
                "media",
                "GetVideoSourceConfiguration",
                json!({"ConfigurationToken": "src_camera0"})
            ),
            step("media", "GetAudioEncoderConfigurations", json!({})),
            step("media", "GetAudioSourceConfigurations", json!({})),
            step(
                "media",
                "GetVideoEncoderConfiguration",
                json!({"ConfigurationToken": "nope"})
            ),
            // Where recorders look for the RTSP port.
            step("devicemgmt", "GetNetworkProtocols", json!({})),
            // 17-21: sources and their encoders, as recorders size their forms.
            step("media", "GetAudioSources", json!({})),
            step(
                "media",
                "GetVideoSourceConfigurationOptions",
                json!({"ConfigurationToken": "src_camera1"})
            ),
            step(
                "media",
                "GetGuaranteedNumberOfVideoEncoderInstances",
                json!({"ConfigurationToken": "src_camera1"})
            ),
            media2(
                "GetVideoEncoderInstances",
                json!({"ConfigurationToken": "src_camera0"})
            ),
            media2("GetVideoSourceConfigurationOptions", json!({})),
            // 22-23: the network settings device tools show.
            step("devicemgmt", "GetNetworkDefaultGateway", json!({})),
            step("devicemgmt", "GetDNS", json!({})),
        ]),
    );
    let profiles = ok(&r, 0).as_array().expect("profiles").clone();
    let configs = |token: &str| {
        profiles
            .iter()
            .find(|p| p["token"] == token)
            .unwrap_or_else(|| panic!("no profile {token}: {profiles:?}"))["Configurations"]
            .clone()
    };
    let cam0 = configs("camera0");
    assert_eq!(cam0["VideoEncoder"]["Encoding"], "H265", "{cam0}");
    assert_eq!(cam0["AudioEncoder"]["Encoding"], "mpeg4-generic", "{cam0}");
    assert_eq!(cam0["AudioEncoder"]["SampleRate"], 16, "{cam0}");
    assert_eq!(cam0["VideoSource"]["SourceToken"], "src_camera0", "{cam0}");
    let cam1 = configs("camera1");
    assert_eq!(cam1["VideoEncoder"]["Encoding"], "H264", "{cam1}");
    assert!(cam1["AudioEncoder"].is_null(), "{cam1}");
    // Without a Type: names and tokens only.
    assert!(
        ok(&r, 1)
            .as_array()
            .is_some_and(|l| l.len() == 2 && l.iter().all(|p| p["Configurations"].is_null())),
        "{r}"
    );
    let enc = ok(&r, 2).as_array().expect("encoders").clone();
    assert_eq!(enc.len(), 1, "{enc:?}");
    assert_eq!(enc[0]["Encoding"], "H265");
    assert_eq!(ok(&r, 3).as_array().map(Vec::len), Some(2), "{r}");
    // The stream plays H.265 and AAC; a transport Pinhole does not serve is refused.
    let uri = ok(&r, 4).as_str().expect("uri").to_string();
    let uri = uri.replacen("rtsp://", &format!("rtsp://view:{PASSWORD}@"), 1);
    let codecs = stream_codecs(std::process::Command::new("ffprobe"), &uri, None);
    assert!(
        codecs.iter().any(|c| c == "hevc") && codecs.iter().any(|c| c == "aac"),
        "{codecs:?}"
    );
    assert!(
        r[5]["fault"].as_str().is_some_and(|f| f.contains("RTSP")),
        "{}",
        r[5]
    );
    let snapshot = ok(&r, 6).as_str().expect("snapshot uri").to_string();
    assert!(snapshot.ends_with("/onvif/snapshot/camera1"), "{snapshot}");
    assert!(
        r[7]["fault"].as_str().is_some_and(|f| f.contains("nope")),
        "{}",
        r[7]
    );
    assert_eq!(ok(&r, 8)["SnapshotUri"], true, "{r}");
    // Encoder options, read against both schemas: camera0 is relayed, so what it runs at is its
    // only choice.
    let opts2 = ok(&r, 9).as_array().expect("options").clone();
    assert_eq!(opts2.len(), 1, "{opts2:?}");
    assert_eq!(opts2[0]["Encoding"], "H265");
    assert!(
        opts2[0]["ResolutionsAvailable"][0]["Width"]
            .as_i64()
            .is_some_and(|w| w > 0)
    );
    assert_eq!(
        opts2[0]["ResolutionsAvailable"].as_array().map(Vec::len),
        Some(1),
        "{opts2:?}"
    );
    // camera1 is encoded by Pinhole: its options are what it can be set to.
    let opts = ok(&r, 10);
    let h264 = &opts["H264"];
    assert_eq!(h264["H264ProfilesSupported"][0], "High", "{opts}");
    assert_eq!(
        (
            &h264["FrameRateRange"]["Min"],
            &h264["FrameRateRange"]["Max"]
        ),
        (&json!(1), &json!(30)),
        "{opts}"
    );
    // (Its bitrate range sits in the Extension, after the schema's leading xs:any, which zeep
    // reads as untyped content; the unit tests check it.)
    let enc = ok(&r, 11);
    assert_eq!(
        (&enc["token"], &enc["Encoding"]),
        (&json!("enc_camera1"), &json!("H264")),
        "{enc}"
    );
    assert_eq!(ok(&r, 12)["SourceToken"], "src_camera0", "{r}");
    let aenc = ok(&r, 13).as_array().expect("audio encoders").clone();
    assert_eq!(aenc.len(), 1, "camera0 alone has audio: {aenc:?}");
    assert_eq!(aenc[0]["Encoding"], "AAC");
    assert_eq!(ok(&r, 14).as_array().map(Vec::len), Some(1), "{r}");
    assert!(
        r[15]["fault"].as_str().is_some_and(|f| f.contains("nope")),
        "{}",
        r[15]
    );
    // camera0's microphone (the IP camera's AAC, mono), camera1 has none.
    let sources = ok(&r, 17).as_array().expect("audio sources").clone();
    assert_eq!(sources.len(), 1, "{sources:?}");
    assert_eq!(
        (&sources[0]["token"], &sources[0]["Channels"]),
        (&json!("asrc_camera0"), &json!(1)),
        "{sources:?}"
    );
    // camera1's bounds are its whole picture; one H.264 encoder.
    let opts = ok(&r, 18);
    let bounds = &cam1["VideoSource"]["Bounds"];
    for (range, size) in [("WidthRange", "width"), ("HeightRange", "height")] {
        for end in ["Min", "Max"] {
            assert_eq!(
                opts["BoundsRange"][range][end], bounds[size],
                "{opts} {bounds}"
            );
        }
    }
    assert_eq!(
        opts["VideoSourceTokensAvailable"][0], "src_camera1",
        "{opts}"
    );
    assert_eq!(
        (&ok(&r, 19)["TotalNumber"], &ok(&r, 19)["H264"]),
        (&json!(1), &json!(1)),
        "{}",
        r[19]
    );
    let instances = ok(&r, 20);
    assert_eq!(instances["Total"], 1, "{instances}");
    assert_eq!(instances["Codec"][0]["Encoding"], "H265", "{instances}");
    let all = ok(&r, 21);
    assert_eq!(
        all["VideoSourceTokensAvailable"].as_array().map(Vec::len),
        Some(2),
        "{all}"
    );
    // This machine's default route's gateway, as `ip route` gives it.
    let route = std::process::Command::new("ip")
        .args(["-4", "route", "show", "default"])
        .output()
        .expect("ip route");
    let route = String::from_utf8_lossy(&route.stdout).to_string();
    let gateway = ok(&r, 22);
    if let Some(via) = route.split_whitespace().skip_while(|w| *w != "via").nth(1) {
        assert!(
            gateway["IPv4Address"]
                .as_array()
                .is_some_and(|l| l.iter().any(|a| a == via)),
            "{gateway} {route}"
        );
    }
    let dns = ok(&r, 23);
    assert!(dns["FromDHCP"].is_boolean(), "{dns}");
    let servers = dns["DNSManual"]
        .as_array()
        .or(dns["DNSFromDHCP"].as_array())
        .cloned()
        .unwrap_or_default();
    for s in &servers {
        assert!(
            s["IPv4Address"]
                .as_str()
                .or(s["IPv6Address"].as_str())
                .is_some_and(|a| a.parse::<std::net::IpAddr>().is_ok()),
            "{dns}"
        );
    }
    let protocols = ok(&r, 16).as_array().expect("protocols").clone();
    let port_of = |name: &str| {
        protocols
            .iter()
            .find(|p| p["Name"] == name)
            .and_then(|p| p["Port"][0].as_u64())
            .unwrap_or_else(|| panic!("no {name} in {protocols:?}"))
    };
    assert_eq!(port_of("HTTP").to_string(), port);
    let rtsp_port = uri
        .rsplit_once('@')
        .and_then(|(_, rest)| rest.split(['/', ':']).nth(1))
        .and_then(|p| p.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no port in {uri}"));
    assert_eq!(port_of("RTSP"), rtsp_port, "{protocols:?}");

    // Pinhole's own ONVIF client, as the connection test of "Discover cameras" runs it, reads
    // the face through Media2 too.
    let admin = server.token("admin").await;
    let t = server
        .rpc(
            Some(&admin),
            "test_onvif_device",
            json!({
                "device_url": format!("http://127.0.0.1:{port}/onvif/device_service"),
                "username": "view",
                "password": PASSWORD,
            }),
        )
        .await;
    let t = &t["result"];
    assert_eq!(t["media_service"], "media2", "{t}");
    let cam0 = t["profiles"]
        .as_array()
        .and_then(|l| l.iter().find(|p| p["token"] == "camera0"))
        .unwrap_or_else(|| panic!("{t}"));
    assert_eq!(
        (&cam0["encoding"], &cam0["audio"]),
        (&json!("H265"), &json!("AAC")),
        "{t}"
    );
}

#[tokio::test]
async fn a_cameras_sample_rate_stays_known_while_it_is_down() {
    // G.711 at 8 kHz, served as AAC at the same rate: not the 16 kHz a guess would give.
    let ipcam = ipcam::IpCamera::started(ipcam::IpCodec::H264, Some(ipcam::IpAudio::Pcmu)).await;
    let (server, port) = face_beside(&ipcam, "pcmu").await;
    let admin = server.token("admin").await;
    let rate = || {
        let r = host_client(
            &["run", "127.0.0.1", &port, "view", PASSWORD],
            &json!([step(
                "media",
                "GetProfile",
                json!({"ProfileToken": "camera0"})
            )]),
        );
        ok(&r, 0)["AudioEncoderConfiguration"]["SampleRate"].clone()
    };
    assert_eq!(rate(), 8, "while it streams");
    drop(ipcam);
    rpc_until(
        &server,
        &admin,
        "get_camera_status",
        json!({"device": "camera0"}),
        "camera0 down",
        |st| st["status"] != "CONNECTED",
    )
    .await;
    assert_eq!(rate(), 8, "while it is down");
}

/// The width and height ffprobe reads from an RTSP URL's video.
fn stream_size(url: &str) -> Option<(u64, u64)> {
    let out = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-rtsp_transport",
            "tcp",
            "-select_streams",
            "v",
        ])
        .args([
            "-show_entries",
            "stream=width,height",
            "-of",
            "csv=p=0",
            url,
        ])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let (w, h) = text.trim().split_once(',')?;
    Some((w.parse().ok()?, h.parse().ok()?))
}

async fn camera_json(server: &Server, token: &str, id: &str) -> Value {
    client_http()
        .get(server.url(&format!("/api/cameras/{id}")))
        .bearer_auth(token)
        .send()
        .await
        .expect("GET camera")
        .json()
        .await
        .expect("camera JSON")
}

#[tokio::test]
async fn a_recorder_sets_an_encoder_pinhole_runs_and_is_told_why_it_cannot_set_a_relayed_one() {
    // camera0 is relayed from an IP camera, camera1 encoded by Pinhole.
    let ipcam = ipcam::IpCamera::started(ipcam::IpCodec::H264, Some(ipcam::IpAudio::Aac)).await;
    let (server, port) = face_beside(&ipcam, "aac").await;
    let admin = server.token("admin").await;
    let set = |token: &str, media2: bool, changes: Value| json!({"set_encoder": {"token": token, "media2": media2, "changes": changes}});
    // A viewer may read the options but not set them.
    let r = host_client(
        &["run", "127.0.0.1", &port, "view", PASSWORD],
        &json!([
            step(
                "media",
                "GetVideoEncoderConfigurationOptions",
                json!({"ProfileToken": "camera1"})
            ),
            set("enc_camera1", false, json!({"bitrate": 900})),
        ]),
    );
    let h264 = &ok(&r, 0)["H264"];
    let sizes: Vec<(i64, i64)> = h264["ResolutionsAvailable"]
        .as_array()
        .expect("resolutions")
        .iter()
        .filter_map(|s| Some((s["Width"].as_i64()?, s["Height"].as_i64()?)))
        .collect();
    assert!(
        sizes.contains(&(640, 360)) && sizes.contains(&(1920, 1080)),
        "{sizes:?}"
    );
    assert_eq!(
        (
            &h264["FrameRateRange"]["Min"],
            &h264["FrameRateRange"]["Max"]
        ),
        (&json!(1), &json!(30)),
        "{h264}"
    );
    assert!(
        r[1]["fault"].as_str().is_some_and(|f| f.contains("admin")),
        "{}",
        r[1]
    );
    let before = camera_json(&server, &admin, "camera1").await;

    // An admin, as a recorder does it through Media, then Media2.
    let r = host_client(
        &["run", "127.0.0.1", &port, "admin", PASSWORD],
        &json!([
            set(
                "enc_camera1",
                false,
                json!({"width": 640, "height": 360, "fps": 15, "bitrate": 800, "gov": 15})
            ),
            step(
                "media",
                "GetVideoEncoderConfiguration",
                json!({"ConfigurationToken": "enc_camera1"})
            ),
            set("enc_camera1", true, json!({"bitrate": 1200})),
            // Sent back as read, nothing changes; a new rate with the GOV as read keeps the
            // keyframe interval.
            set("enc_camera1", false, json!({})),
            set("enc_camera1", true, json!({"fps": 10})),
            // What cannot be done says why, and changes nothing.
            set("enc_camera0", false, json!({"bitrate": 800})),
            set("enc_camera1", true, json!({"width": 1000, "height": 1000})),
            set("enc_camera1", true, json!({"encoding": "H265"})),
            set("enc_camera1", true, json!({"gov": 500})),
            set("nope", true, json!({"bitrate": 800})),
            step(
                "media",
                "GetStreamUri",
                json!({
                    "ProfileToken": "camera1",
                    "StreamSetup": {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}}
                })
            ),
        ]),
    );
    assert_eq!(ok(&r, 0), "enc_camera1");
    let enc = ok(&r, 1);
    assert_eq!(
        (&enc["Resolution"]["Width"], &enc["Resolution"]["Height"]),
        (&json!(640), &json!(360)),
        "{enc}"
    );
    assert_eq!(enc["RateControl"]["FrameRateLimit"], 15, "{enc}");
    assert_eq!(enc["H264"]["GovLength"], 15, "{enc}");
    assert_eq!(ok(&r, 2), "enc_camera1");
    let fault = |i: usize, says: &str| {
        assert!(
            r[i]["fault"].as_str().is_some_and(|f| f.contains(says)),
            "step {i}: {}",
            r[i]
        );
    };
    assert_eq!(ok(&r, 3), "enc_camera1");
    assert_eq!(ok(&r, 4), "enc_camera1");
    fault(5, "relayed");
    fault(6, "1000x1000");
    fault(7, "H265");
    fault(8, "GovLength 500");
    fault(9, "nope");
    let cam = camera_json(&server, &admin, "camera1").await;
    assert_eq!(
        (
            &cam["width"],
            &cam["height"],
            &cam["fps"],
            &cam["bitrate_kbps"],
            &cam["keyframe_ms"]
        ),
        (
            &json!(640),
            &json!(360),
            &json!(10),
            &json!(1200),
            &json!(1000)
        ),
        "{cam}"
    );
    assert_ne!(before["updated_at"], cam["updated_at"]);
    // The relayed camera was not touched.
    assert!(camera_json(&server, &admin, "camera0").await["bitrate_kbps"].is_null());

    // The stream the recorder gets is the new size.
    let uri = ok(&r, 10)["Uri"].as_str().expect("uri").to_string();
    let uri = uri.replacen("rtsp://", &format!("rtsp://view:{PASSWORD}@"), 1);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let size = stream_size(&uri);
        if size == Some((640, 360)) {
            break;
        }
        assert!(Instant::now() < deadline, "camera1 streams {size:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // The changes are in the audit trail with who made them.
    let audit: Value = client_http()
        .get(server.url("/api/audit?limit=50"))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("audit")
        .json()
        .await
        .expect("audit JSON");
    let sets: Vec<&Value> = audit["entries"]
        .as_array()
        .or(audit.as_array())
        .expect("entries")
        .iter()
        .filter(|e| e["action"] == "onvif SetVideoEncoderConfiguration")
        .collect();
    assert!(
        sets.iter()
            .any(|e| e["actor"] == "admin" && e["target"] == "enc_camera1" && e["result"] == "ok"),
        "{sets:?}"
    );
    // So is the viewer's refused attempt, with the value it asked for.
    assert!(
        sets.iter().any(|e| e["actor"] == "view"
            && e["target"] == "enc_camera1"
            && e["result"]
                .as_str()
                .is_some_and(|r| r.contains("needs an admin"))
            && e["details"].to_string().contains("900")),
        "{sets:?}"
    );
}

/// A recorder makes profiles of its own from Pinhole's configurations (Media one configuration
/// at a time, Media2 all at once), plays them, is told why a configuration does not fit, and
/// finds them again after a restart; viewers cannot make them.
#[tokio::test]
async fn a_recorder_makes_profiles_of_its_own_and_finds_them_after_a_restart() {
    let toml = "[onvif]\ndiscovery = false\n\n[[cameras]]\nid = \"camera0\"\nsource = \"test\"\nrecording = \"off\"\nwidth = 640\nheight = 360\n\n[[cameras]]\nid = \"camera1\"\nsource = \"test\"\nrecording = \"off\"\nwidth = 320\nheight = 240\n";
    let server = Server::start(Opts {
        toml: toml.into(),
        ..Opts::with_roles()
    });
    let admin = server.token("admin").await;
    for cam in ["camera0", "camera1"] {
        wait_status(&server, &admin, cam, "CONNECTED", Duration::from_secs(20)).await;
    }
    set_onvif(&server, &admin, true).await;
    let port = server.addr.port().to_string();
    let media2 = |op: &str, params: Value| json!({"media2": op, "params": params});
    let stream_uri = |profile: &str| {
        step(
            "media",
            "GetStreamUri",
            json!({
                "ProfileToken": profile,
                "StreamSetup": {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}}
            }),
        )
    };

    // A viewer cannot.
    let r = host_client(
        &["run", "127.0.0.1", &port, "view", PASSWORD],
        &json!([step("media", "CreateProfile", json!({"Name": "Mine"}))]),
    );
    assert!(
        r[0]["fault"].as_str().is_some_and(|f| f.contains("admin")),
        "{r}"
    );

    let r = host_client(
        &["run", "127.0.0.1", &port, "admin", PASSWORD],
        &json!([
            // 0-6: Media, as recorders make a profile.
            step(
                "media",
                "CreateProfile",
                json!({"Name": "Recorder", "Token": "nvr"})
            ),
            step(
                "media",
                "AddVideoSourceConfiguration",
                json!({"ProfileToken": "nvr", "ConfigurationToken": "src_camera1"})
            ),
            step(
                "media",
                "GetCompatibleVideoEncoderConfigurations",
                json!({"ProfileToken": "nvr"})
            ),
            step(
                "media",
                "AddVideoEncoderConfiguration",
                json!({"ProfileToken": "nvr", "ConfigurationToken": "enc_camera0"})
            ),
            step(
                "media",
                "AddVideoEncoderConfiguration",
                json!({"ProfileToken": "nvr", "ConfigurationToken": "enc_camera1"})
            ),
            step("media", "GetProfile", json!({"ProfileToken": "nvr"})),
            stream_uri("nvr"),
            // 7-11: Media2.
            media2(
                "CreateProfile",
                json!({"Name": "Second", "Configuration": [
                    {"Type": "VideoSource", "Token": "src_camera0"},
                    {"Type": "VideoEncoder"}
                ]})
            ),
            media2(
                "GetProfiles",
                json!({"Token": "profile.0", "Type": ["All"]})
            ),
            media2(
                "RemoveConfiguration",
                json!({"ProfileToken": "profile.0", "Configuration": [{"Type": "VideoEncoder"}]})
            ),
            media2(
                "GetStreamUri",
                json!({"ProfileToken": "profile.0", "Protocol": "RtspUnicast"})
            ),
            media2("DeleteProfile", json!({"Token": "profile.0"})),
            // 12-14: Pinhole's own stay; a token in use is refused.
            step("media", "DeleteProfile", json!({"ProfileToken": "camera0"})),
            step(
                "media",
                "CreateProfile",
                json!({"Name": "Again", "Token": "nvr"})
            ),
            step("media", "GetProfiles", json!({})),
            // 15-23: the camera's events in the made profile's stream (Profile T metadata).
            step(
                "media",
                "GetCompatibleMetadataConfigurations",
                json!({"ProfileToken": "nvr"})
            ),
            step(
                "media",
                "AddMetadataConfiguration",
                json!({"ProfileToken": "nvr", "ConfigurationToken": "msrc_camera1"})
            ),
            step("media", "GetProfile", json!({"ProfileToken": "nvr"})),
            stream_uri("nvr"),
            media2("GetMetadataConfigurations", json!({})),
            media2(
                "GetMetadataConfigurationOptions",
                json!({"ProfileToken": "nvr"})
            ),
            step(
                "media",
                "GetMetadataConfiguration",
                json!({"ConfigurationToken": "msrc_camera1"})
            ),
            step(
                "media",
                "SetMetadataConfiguration",
                json!({"Configuration": {
                    "token": "msrc_camera1", "Name": "msrc_camera1", "UseCount": 1,
                    "Analytics": true,
                    "Multicast": {"Address": {"Type": "IPv4", "IPv4Address": "0.0.0.0"},
                                  "Port": 0, "TTL": 1, "AutoStart": false},
                    "SessionTimeout": "PT60S"
                }, "ForcePersistence": true})
            ),
            // 23: what it reads, sent back as it is, is taken.
            {"set_metadata": "msrc_camera1"},
        ]),
    );
    let made = ok(&r, 0);
    assert_eq!(
        (&made["token"], &made["fixed"]),
        (&json!("nvr"), &json!(false)),
        "{made}"
    );
    ok(&r, 1);
    let compatible: Vec<&Value> = ok(&r, 2)
        .as_array()
        .expect("configurations")
        .iter()
        .map(|c| &c["token"])
        .collect();
    assert_eq!(compatible, [&json!("enc_camera1")], "{}", r[2]);
    assert!(
        r[3]["fault"]
            .as_str()
            .is_some_and(|f| f.contains("does not go with")),
        "{}",
        r[3]
    );
    ok(&r, 4);
    let p = ok(&r, 5);
    assert_eq!(p["VideoSourceConfiguration"]["token"], "src_camera1", "{p}");
    assert_eq!(
        p["VideoEncoderConfiguration"]["token"], "enc_camera1",
        "{p}"
    );
    assert!(p["PTZConfiguration"].is_null(), "{p}");
    let uri = ok(&r, 6)["Uri"].as_str().expect("uri").to_string();
    let uri = uri.replacen("rtsp://", &format!("rtsp://view:{PASSWORD}@"), 1);
    assert_eq!(stream_size(&uri), Some((320, 240)), "{uri}");
    assert_eq!(ok(&r, 7), "profile.0");
    let second = &ok(&r, 8)[0];
    assert_eq!(
        second["Configurations"]["VideoEncoder"]["token"], "enc_camera0",
        "{second}"
    );
    ok(&r, 9);
    assert!(
        r[10]["fault"]
            .as_str()
            .is_some_and(|f| f.contains("no video encoder")),
        "{}",
        r[10]
    );
    ok(&r, 11);
    assert!(
        r[12]["fault"]
            .as_str()
            .is_some_and(|f| f.contains("Pinhole's own")),
        "{}",
        r[12]
    );
    assert!(
        r[13]["fault"]
            .as_str()
            .is_some_and(|f| f.contains("already")),
        "{}",
        r[13]
    );
    let tokens: Vec<&str> = ok(&r, 14)
        .as_array()
        .expect("profiles")
        .iter()
        .filter_map(|p| p["token"].as_str())
        .collect();
    assert_eq!(tokens, ["camera0", "camera1", "nvr"], "{}", r[14]);
    // The profile's camera's events, and only those, go with it.
    let compatible: Vec<&Value> = ok(&r, 15)
        .as_array()
        .expect("configurations")
        .iter()
        .map(|c| &c["token"])
        .collect();
    assert_eq!(compatible, [&json!("msrc_camera1")], "{}", r[15]);
    ok(&r, 16);
    let p = ok(&r, 17);
    assert_eq!(p["MetadataConfiguration"]["token"], "msrc_camera1", "{p}");
    assert!(!p["MetadataConfiguration"]["Events"].is_null(), "{p}");
    let uri = ok(&r, 18)["Uri"].as_str().expect("uri").to_string();
    assert!(uri.ends_with("/camera1/metadata"), "{uri}");
    let listed: Vec<&Value> = ok(&r, 19)
        .as_array()
        .expect("configurations")
        .iter()
        .map(|c| &c["token"])
        .collect();
    assert_eq!(
        listed,
        [&json!("msrc_camera0"), &json!("msrc_camera1")],
        "{}",
        r[19]
    );
    assert_eq!(
        ok(&r, 20)["PTZStatusFilterOptions"]["PanTiltStatusSupported"],
        false,
        "{}",
        r[20]
    );
    assert_eq!(ok(&r, 21)["token"], "msrc_camera1", "{}", r[21]);
    assert!(
        r[22]["fault"]
            .as_str()
            .is_some_and(|f| f.contains("no analytics")),
        "{}",
        r[22]
    );
    assert_eq!(ok(&r, 23), "msrc_camera1", "{}", r[23]);
    // The URI plays camera1's video with its events beside it.
    let uri = uri.replacen("rtsp://", &format!("rtsp://view:{PASSWORD}@"), 1);
    assert_eq!(stream_size(&uri), Some((320, 240)), "{uri}");
    let (encoding, doc) = tokio::task::spawn_blocking(move || first_metadata_document(&uri))
        .await
        .expect("metadata reader");
    assert_eq!(encoding, "VND.ONVIF.METADATA");
    assert!(doc.contains("Value=\"src_camera1\""), "{doc}");

    // The audit log says who made what.
    let audit = get_json_as(&server, "/api/audit?limit=100", &admin).await;
    assert!(
        audit.as_array().expect("rows").iter().any(|e| e["action"]
            == "onvif AddVideoEncoderConfiguration"
            && e["actor"] == "admin"
            && e["target"] == "nvr"
            && e["result"] == "ok"),
        "{audit}"
    );

    // After a restart the recorder finds its profile as it left it.
    let dir = server.kill_keep_dir();
    let server = Server::start(Opts {
        toml: toml.into(),
        reuse_dir: Some(dir),
        ..Opts::with_roles()
    });
    let admin = server.token("admin").await;
    wait_status(
        &server,
        &admin,
        "camera1",
        "CONNECTED",
        Duration::from_secs(20),
    )
    .await;
    let port = server.addr.port().to_string();
    let r = host_client(
        &["run", "127.0.0.1", &port, "view", PASSWORD],
        &json!([step("media", "GetProfile", json!({"ProfileToken": "nvr"}))]),
    );
    let p = ok(&r, 0);
    assert_eq!(p["Name"], "Recorder", "{p}");
    assert_eq!(
        p["VideoEncoderConfiguration"]["token"], "enc_camera1",
        "{p}"
    );
    assert_eq!(p["MetadataConfiguration"]["token"], "msrc_camera1", "{p}");
}

/// Mean luma (0-255) of camera `id`'s live JPEG.
async fn picture_luma(server: &Server, token: &str, id: &str) -> f64 {
    let img = get_jpeg_as(server, &format!("/api/cameras/{id}/preview.jpg"), token)
        .await
        .to_luma8();
    img.pixels().map(|p| f64::from(p.0[0])).sum::<f64>() / f64::from(img.width() * img.height())
}

/// The share of the lower left of camera `id`'s picture (rows 88-97 %, left half) unlike the
/// same column at 78 % of its height: in the test pattern's bottom section every row is alike,
/// so only something drawn there differs.
async fn drawn_in_lower_left(server: &Server, token: &str, id: &str) -> f64 {
    let img = get_jpeg_as(server, &format!("/api/cameras/{id}/preview.jpg"), token)
        .await
        .to_luma8();
    let (w, h) = img.dimensions();
    let reference = h * 78 / 100;
    let (mut unlike, mut all) = (0u32, 0u32);
    for y in h * 88 / 100..h * 97 / 100 {
        for x in 0..w / 2 {
            let d =
                i32::from(img.get_pixel(x, y).0[0]) - i32::from(img.get_pixel(x, reference).0[0]);
            all += 1;
            unlike += u32::from(d.abs() > 80);
        }
    }
    f64::from(unlike) / f64::from(all.max(1))
}

#[tokio::test]
async fn a_recorder_brightens_a_cameras_picture_and_dates_it_through_onvif() {
    // camera0 is relayed from an IP camera, camera1 encoded by Pinhole.
    let ipcam = ipcam::IpCamera::started(ipcam::IpCodec::H264, Some(ipcam::IpAudio::Aac)).await;
    let (server, port) = face_beside(&ipcam, "aac").await;
    let view = server.token("view").await;
    let before = picture_luma(&server, &view, "camera1").await;
    let settings = |source: &str, values: Value| {
        step(
            "imaging",
            "SetImagingSettings",
            json!({"VideoSourceToken": source, "ImagingSettings": values}),
        )
    };
    let get = |source: &str| {
        step(
            "imaging",
            "GetImagingSettings",
            json!({"VideoSourceToken": source}),
        )
    };
    // A viewer reads the options and settings, and may not change them.
    let r = host_client(
        &["run", "127.0.0.1", &port, "view", PASSWORD],
        &json!([
            step(
                "imaging",
                "GetOptions",
                json!({"VideoSourceToken": "src_camera1"})
            ),
            get("src_camera1"),
            settings("src_camera1", json!({"Brightness": 90})),
        ]),
    );
    let options = ok(&r, 0);
    for name in ["Brightness", "ColorSaturation", "Contrast"] {
        assert_eq!(
            (&options[name]["Min"], &options[name]["Max"]),
            (&json!(0.0), &json!(100.0)),
            "{options}"
        );
    }
    assert!(near(&ok(&r, 1)["Brightness"], 50.0), "{}", r[1]);
    assert!(
        r[2]["fault"]
            .as_str()
            .is_some_and(|f| f.contains("operator")),
        "{}",
        r[2]
    );

    // An operator brightens camera1; camera0's picture is the IP camera's own, and a setting
    // Pinhole has not is named back.
    let r = host_client(
        &["run", "127.0.0.1", &port, "oper", PASSWORD],
        &json!([
            settings("src_camera1", json!({"Brightness": 90, "Contrast": 60})),
            get("src_camera1"),
            settings("src_camera0", json!({"Brightness": 90})),
            settings("src_camera1", json!({"Sharpness": 80})),
            settings("src_camera1", json!({"Brightness": 140})),
            get("src_nothing"),
        ]),
    );
    ok(&r, 0);
    let now = ok(&r, 1);
    assert!(
        near(&now["Brightness"], 90.0) && near(&now["Contrast"], 60.0),
        "{now}"
    );
    assert!(
        r[2]["fault"]
            .as_str()
            .is_some_and(|f| f.contains("relayed")),
        "{}",
        r[2]
    );
    assert!(
        r[3]["fault"]
            .as_str()
            .is_some_and(|f| f.contains("Sharpness")),
        "{}",
        r[3]
    );
    assert!(
        r[4]["fault"]
            .as_str()
            .is_some_and(|f| f.contains("0 to 100")),
        "{}",
        r[4]
    );
    assert!(r[5]["fault"].is_string(), "{}", r[5]);

    // The same picture over REST, and in the frames.
    let p = get_json_as(&server, "/api/cameras/camera1/picture", &view).await;
    assert_eq!(
        (&p["brightness"], &p["contrast"], &p["adjustable"]),
        (&json!(90), &json!(60), &json!(true)),
        "{p}"
    );
    let relayed = get_json_as(&server, "/api/cameras/camera0/picture", &view).await;
    assert_eq!(relayed["adjustable"], false, "{relayed}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let after = picture_luma(&server, &view, "camera1").await;
        if after > before + 25.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the picture did not brighten: {before:.0} then {after:.0}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // Texts on the picture (OSD): an admin puts a name and the date on camera1 through Media2,
    // reads them through Media, changes one and deletes the other; an operator may not, and
    // camera0's picture is the IP camera's.
    let bare = drawn_in_lower_left(&server, &view, "camera1").await;
    assert!(bare < 0.01, "{bare} of the corner differs before any text");
    let text = |source: &str, position: &str, string: Value| {
        json!({"OSD": {"token": "", "VideoSourceConfigurationToken": source, "Type": "Text",
            "Position": {"Type": position}, "TextString": string}})
    };
    let name = text(
        "src_camera1",
        "LowerLeft",
        json!({"Type": "Plain", "FontSize": 72, "PlainText": "PINHOLE"}),
    );
    let date = text(
        "src_camera1",
        "UpperRight",
        json!({"Type": "DateAndTime", "DateFormat": "dd.MM.yyyy", "TimeFormat": "HH:mm:ss", "FontSize": 24}),
    );
    let media2 = |op: &str, params: Value| json!({"media2": op, "params": params});
    let r = host_client(
        &["run", "127.0.0.1", &port, "oper", PASSWORD],
        &json!([media2("CreateOSD", name.clone())]),
    );
    assert!(
        r[0]["fault"].as_str().is_some_and(|f| f.contains("admin")),
        "{}",
        r[0]
    );
    let r = host_client(
        &["run", "127.0.0.1", &port, "admin", PASSWORD],
        &json!([
            media2(
                "GetOSDOptions",
                json!({"ConfigurationToken": "src_camera1"})
            ),
            media2("CreateOSD", name),
            media2("CreateOSD", date),
            step(
                "media",
                "GetOSDs",
                json!({"ConfigurationToken": "src_camera1"})
            ),
            media2(
                "CreateOSD",
                text("src_camera0", "LowerLeft", json!({"Type": "Date"}))
            ),
            media2("DeleteOSD", json!({"OSDToken": "camera1.osd2"})),
            media2("GetOSDs", json!({})),
        ]),
    );
    let options = ok(&r, 0);
    assert_eq!(options["MaximumNumberOfOSDs"]["Total"], 4, "{options}");
    assert!(
        options["TextOption"]["DateFormat"]
            .as_array()
            .is_some_and(|f| f.contains(&json!("dd.MM.yyyy"))),
        "{options}"
    );
    assert_eq!(ok(&r, 1), "camera1.osd1");
    assert_eq!(ok(&r, 2), "camera1.osd2");
    let listed = ok(&r, 3).as_array().cloned().unwrap_or_default();
    assert_eq!(listed.len(), 2, "{}", r[3]);
    assert_eq!(
        listed[1]["TextString"]["DateFormat"], "dd.MM.yyyy",
        "{}",
        r[3]
    );
    assert_eq!(listed[0]["TextString"]["PlainText"], "PINHOLE", "{}", r[3]);
    assert!(
        r[4]["fault"]
            .as_str()
            .is_some_and(|f| f.contains("relayed")),
        "{}",
        r[4]
    );
    ok(&r, 5);
    let after = ok(&r, 6).as_array().cloned().unwrap_or_default();
    assert_eq!(after.len(), 1, "{}", r[6]);
    // The same texts over REST, and the name in the frames (after the camera's one restart).
    let osd = get_json_as(&server, "/api/cameras/camera1/osd", &view).await;
    assert_eq!(osd["texts"][0]["text"], "PINHOLE", "{osd}");
    assert_eq!(osd["texts"][0]["position"], "lower_left", "{osd}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let drawn = drawn_in_lower_left(&server, &view, "camera1").await;
        if drawn > 0.03 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the name is not on the picture: {drawn} of the corner differs"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let admin = server.token("admin").await;
    let audit = get_json_as(&server, "/api/audit?limit=50", &admin).await;
    assert!(audit.to_string().contains("SetImagingSettings"), "{audit}");
    assert!(audit.to_string().contains("CreateOSD"), "{audit}");
}
