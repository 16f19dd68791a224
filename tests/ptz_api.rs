//! PTZ through the appliance: demo mode's simulated camera driven over JSON-RPC and REST, with
//! validation before anything is sent, roles, events, and PTZ links on camera definitions.

mod common;

use common::*;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

fn demo() -> Server {
    Server::start(Opts {
        demo: true,
        env: vec![("PINHOLE_ADMIN_PASSWORD".into(), PASSWORD.into())],
        users: vec![("view", "viewer")],
        ..Default::default()
    })
}

async fn wait_ptz_connected(server: &Server, token: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = server
            .rpc(Some(token), "ptz_status", json!({"device": "camera0"}))
            .await;
        if r["result"]["connected"] == true && r["result"]["pan"].is_number() {
            return r["result"].clone();
        }
        assert!(Instant::now() < deadline, "PTZ never connected: {r}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn demo_ptz_camera_moves_over_json_rpc() {
    let server = demo();
    let admin = server.token("admin").await;
    let status = wait_ptz_connected(&server, &admin).await;
    assert_eq!(status["profile"], "sony");
    assert!(
        status["link"]
            .as_str()
            .is_some_and(|l| l.starts_with("sony-udp 127.0.0.1:"))
    );

    let r = server
        .rpc(
            Some(&admin),
            "ptz_absolute",
            json!({"device": "camera0", "pan": 500, "tilt": -100}),
        )
        .await;
    assert_eq!(r["result"]["arrived"], true, "{r}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let s = server
            .rpc(Some(&admin), "ptz_status", json!({"device": "camera0"}))
            .await;
        if s["result"]["pan"] == 500 && s["result"]["tilt"] == -100 {
            break;
        }
        assert!(Instant::now() < deadline, "position never reported: {s}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Continuous move, then stop.
    let r = server
        .rpc(
            Some(&admin),
            "ptz_move",
            json!({"device": "camera0", "pan_speed": -0.5, "tilt_speed": 0.0}),
        )
        .await;
    assert_eq!(r["result"]["moving"], true, "{r}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = server
        .rpc(Some(&admin), "ptz_stop", json!({"device": "camera0"}))
        .await;
    assert_eq!(r["result"]["stopped"], true);
    let r = server
        .rpc(
            Some(&admin),
            "ptz_preset",
            json!({"device": "camera0", "action": "set", "preset": 2}),
        )
        .await;
    assert_eq!(r["result"]["done"], true, "{r}");
    let r = server
        .rpc(Some(&admin), "ptz_home", json!({"device": "camera0"}))
        .await;
    assert_eq!(r["result"]["arrived"], true);

    // Out-of-range values are refused before anything is sent.
    for (method, params) in [
        ("ptz_move", json!({"device": "camera0", "pan_speed": 2.0})),
        ("ptz_absolute", json!({"device": "camera0", "pan": 40000})),
        ("ptz_absolute", json!({"device": "camera0", "zoom": 99999})),
        (
            "ptz_preset",
            json!({"device": "camera0", "action": "recall", "preset": 300}),
        ),
        (
            "ptz_preset",
            json!({"device": "camera0", "action": "explode", "preset": 1}),
        ),
        ("ptz_focus", json!({"device": "camera0", "mode": "blurry"})),
    ] {
        let r = server.rpc(Some(&admin), method, params.clone()).await;
        assert_eq!(r["error"]["code"], -32602, "{method} {params}: {r}");
    }
    // The camera's own refusal: manual focus position while in auto focus.
    let r = server
        .rpc(
            Some(&admin),
            "ptz_focus",
            json!({"device": "camera0", "position": 0x2000}),
        )
        .await;
    assert_eq!(r["error"]["code"], -32020, "{r}");
    // A camera without PTZ, and roles.
    let r = server
        .rpc(Some(&admin), "ptz_home", json!({"device": "camera9"}))
        .await;
    assert_eq!(r["error"]["code"], -32010);
    let view = server.token("view").await;
    let r = server
        .rpc(Some(&view), "ptz_status", json!({"device": "camera0"}))
        .await;
    assert!(r.get("result").is_some(), "{r}");
    let r = server
        .rpc(Some(&view), "ptz_home", json!({"device": "camera0"}))
        .await;
    assert_eq!(r["error"]["code"], -32002);
}

#[tokio::test]
async fn rest_routes_speak_degrees_and_events_follow_the_camera() {
    let server = demo();
    let admin = server.token("admin").await;
    wait_ptz_connected(&server, &admin).await;
    let mut ws = ws(&server).await;
    ws_call(&mut ws, json!({"jsonrpc": "2.0", "method": "authenticate", "params": {"auth_token": admin}, "id": 1})).await;
    let r = ws_call(&mut ws, json!({"jsonrpc": "2.0", "method": "subscribe_events", "params": {"topics": ["ptz.*"], "filters": {"device": "camera0"}}, "id": 2})).await;
    assert_eq!(r["result"]["subscribed"], true);

    let c = client();
    let r = c
        .post(server.url("/api/cameras/camera0/ptz/absolute"))
        .bearer_auth(&admin)
        .json(&json!({"pan": 10.0, "tilt": -5.0, "zoom": 5.0}))
        .send()
        .await
        .expect("absolute");
    assert_eq!(r.status(), 204);
    // 10° × 14.4 units per degree = 144; the event stream reports the new position.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let n = ws_recv(&mut ws).await;
        assert_eq!(n["method"], "ptz.position");
        if n["params"]["pan"] == 144 && n["params"]["tilt"] == -72 && n["params"]["zoom"] == 0x2000
        {
            break;
        }
        assert!(Instant::now() < deadline, "never saw the new position");
    }
    let s = get_json_as(&server, "/api/cameras/camera0/ptz/status", &admin).await;
    assert_eq!(s["units_per_degree"], 14.4);
    let r = c
        .post(server.url("/api/cameras/camera0/ptz/absolute"))
        .bearer_auth(&admin)
        .json(&json!({"pan": 500.0}))
        .send()
        .await
        .expect("absolute");
    assert_eq!(r.status(), 422);
    let v: Value = r.json().await.expect("json");
    assert!(v["fields"]["pan"].is_string(), "{v}");
    let r = c
        .post(server.url("/api/cameras/camera0/ptz/continuous"))
        .bearer_auth(&admin)
        .json(&json!({"pan_speed": 0.3, "tilt_speed": 0.3}))
        .send()
        .await
        .expect("continuous");
    assert_eq!(r.status(), 204);
    let r = c
        .post(server.url("/api/cameras/camera0/ptz/stop"))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("stop");
    assert_eq!(r.status(), 204);
}

#[tokio::test]
async fn ptz_links_are_validated_on_camera_definitions() {
    let server = Server::start(Opts::with_roles());
    let admin = server.token("admin").await;
    let c = client();
    let r = c
        .post(server.url("/api/cameras"))
        .bearer_auth(&admin)
        .json(
            &json!({"source": "test", "ptz": {"transport": "sony-udp", "addr": "not-an-address"}}),
        )
        .send()
        .await
        .expect("create");
    assert_eq!(r.status(), 422);
    let v: Value = r.json().await.expect("json");
    assert!(v["fields"]["ptz.addr"].is_string(), "{v}");
    let r = c
        .post(server.url("/api/cameras"))
        .bearer_auth(&admin)
        .json(&json!({"source": "test", "ptz": {"transport": "serial", "path": "/dev/ttyUSB0", "baud": 1234}}))
        .send()
        .await
        .expect("create");
    assert_eq!(r.status(), 422);
    // A link to a camera that is not there: the controller reports it, calls fail with -32050.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let addr = silent.local_addr().expect("addr");
    let r = c
        .post(server.url("/api/cameras"))
        .bearer_auth(&admin)
        .json(&json!({"id": "mast", "source": "test", "ptz": {"transport": "sony-udp", "addr": addr.to_string(), "profile": "ptzoptics"}}))
        .send()
        .await
        .expect("create");
    assert_eq!(r.status(), 201);
    let cam: Value = r.json().await.expect("json");
    assert_eq!(cam["ptz"]["profile"], "ptzoptics");
    let r = server
        .rpc(Some(&admin), "ptz_home", json!({"device": "mast"}))
        .await;
    assert_eq!(r["error"]["code"], -32050, "{r}");
    assert!(
        r["error"]["data"]["details"]
            .as_str()
            .is_some_and(|d| d.contains("no answer")),
        "{r}"
    );
    // Removing the link stops the controller.
    let r = c
        .put(server.url("/api/cameras/mast"))
        .bearer_auth(&admin)
        .json(&json!({"ptz": {"transport": "none"}}))
        .send()
        .await
        .expect("update");
    assert_eq!(r.status(), 200);
    let r = server
        .rpc(Some(&admin), "ptz_status", json!({"device": "mast"}))
        .await;
    assert_eq!(r["error"]["code"], -32010);
}

#[tokio::test]
async fn named_presets_are_saved_recalled_renamed_and_deleted() {
    let server = demo();
    let admin = server.token("admin").await;
    wait_ptz_connected(&server, &admin).await;
    let r = server
        .rpc(
            Some(&admin),
            "ptz_absolute",
            json!({"device": "camera0", "pan": -300, "tilt": 150, "zoom": 4000}),
        )
        .await;
    assert_eq!(r["result"]["arrived"], true, "{r}");
    let c = client();
    let r = c
        .post(server.url("/api/cameras/camera0/presets"))
        .bearer_auth(&admin)
        .json(&json!({"name": "front door"}))
        .send()
        .await
        .expect("save");
    assert_eq!(r.status(), 201);
    let preset: Value = r.json().await.expect("json");
    assert_eq!(
        (
            preset["pan"].as_i64(),
            preset["tilt"].as_i64(),
            preset["zoom"].as_i64()
        ),
        (Some(-300), Some(150), Some(4000))
    );
    let id = preset["id"].as_i64().expect("id");
    server
        .rpc(Some(&admin), "ptz_home", json!({"device": "camera0"}))
        .await;
    let r = c
        .post(server.url(&format!("/api/presets/{id}/move")))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("move");
    assert_eq!(r.status(), 200);
    let s = server
        .rpc(Some(&admin), "ptz_status", json!({"device": "camera0"}))
        .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut s = s;
    while s["result"]["pan"] != -300 {
        assert!(Instant::now() < deadline, "not back at the preset: {s}");
        tokio::time::sleep(Duration::from_millis(100)).await;
        s = server
            .rpc(Some(&admin), "ptz_status", json!({"device": "camera0"}))
            .await;
    }
    assert_eq!(s["result"]["zoom"], 4000);
    let r = server
        .rpc(
            Some(&admin),
            "ptz_preset_rename",
            json!({"id": id, "name": "porch"}),
        )
        .await;
    assert_eq!(r["result"]["preset"]["name"], "porch", "{r}");
    let r = server
        .rpc(Some(&admin), "ptz_presets", json!({"device": "camera0"}))
        .await;
    assert_eq!(r["result"]["total"], 1);
    let r = c
        .delete(server.url(&format!("/api/presets/{id}")))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), 204);
    let r = server
        .rpc(Some(&admin), "ptz_preset_goto", json!({"id": id}))
        .await;
    assert_eq!(r["error"]["code"], -32010);
    let r = server
        .rpc(
            Some(&admin),
            "ptz_preset_save",
            json!({"device": "camera0", "name": ""}),
        )
        .await;
    assert_eq!(r["error"]["code"], -32602);
}

#[tokio::test]
async fn tours_visit_presets_and_stop_for_a_manual_move() {
    let server = demo();
    let admin = server.token("admin").await;
    wait_ptz_connected(&server, &admin).await;
    let mut ids = Vec::new();
    for (name, pan) in [("left", -400), ("right", 400)] {
        server
            .rpc(
                Some(&admin),
                "ptz_absolute",
                json!({"device": "camera0", "pan": pan, "tilt": 0}),
            )
            .await;
        let r = server
            .rpc(
                Some(&admin),
                "ptz_preset_save",
                json!({"device": "camera0", "name": name}),
            )
            .await;
        ids.push(r["result"]["preset"]["id"].as_i64().expect("preset id"));
    }
    let bad = server
        .rpc(Some(&admin), "ptz_tour_save", json!({"device": "camera0", "name": "sweep", "steps": [{"preset_id": 999, "dwell_secs": 1}]}))
        .await;
    assert_eq!(bad["error"]["code"], -32602, "{bad}");
    let steps: Vec<Value> = ids
        .iter()
        .map(|id| json!({"preset_id": id, "dwell_secs": 1}))
        .collect();
    let r = server
        .rpc(Some(&admin), "ptz_tour_save", json!({"device": "camera0", "name": "sweep", "steps": steps, "repeat": true, "schedule": ["06:30"]}))
        .await;
    let tour_id = r["result"]["tour"]["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("{r}"));
    let mut ws = ws(&server).await;
    ws_call(&mut ws, json!({"jsonrpc": "2.0", "method": "authenticate", "params": {"auth_token": admin}, "id": 1})).await;
    ws_call(&mut ws, json!({"jsonrpc": "2.0", "method": "subscribe_events", "params": {"topics": ["ptz.preset"]}, "id": 2})).await;
    let r = server
        .rpc(Some(&admin), "ptz_tour_start", json!({"id": tour_id}))
        .await;
    assert_eq!(r["result"]["started"], true, "{r}");
    // Both presets are visited, then the loop comes round again.
    let mut visited = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while visited.len() < 3 {
        assert!(Instant::now() < deadline, "tour too slow: {visited:?}");
        let n = ws_recv(&mut ws).await;
        if n["params"]["change"] == "tour_step" {
            visited.push(
                n["params"]["preset_name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            );
        }
    }
    assert_eq!(visited, ["left", "right", "left"]);
    let r = server
        .rpc(Some(&admin), "ptz_tours", json!({"device": "camera0"}))
        .await;
    assert_eq!(r["result"]["running"][0]["tour_id"], tour_id, "{r}");
    // The operator takes over: the tour stops.
    server
        .rpc(
            Some(&admin),
            "ptz_move",
            json!({"device": "camera0", "pan_speed": 0.2}),
        )
        .await;
    server
        .rpc(Some(&admin), "ptz_stop", json!({"device": "camera0"}))
        .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let n = ws_recv(&mut ws).await;
        if n["params"]["change"] == "tour_stopped" {
            break;
        }
        assert!(Instant::now() < deadline, "no tour_stopped event");
    }
    let r = server.rpc(Some(&admin), "ptz_tours", json!({})).await;
    assert_eq!(r["result"]["running"], json!([]));
    let r = server
        .rpc(Some(&admin), "ptz_tour_delete", json!({"id": tour_id}))
        .await;
    assert_eq!(r["result"]["deleted"], true);
}
