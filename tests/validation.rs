//! One validation: the same bad camera given to the config loader, `pinhole check-config`, the
//! store and the REST API comes back with the same field errors from each.

mod common;

use common::*;
use pinhole::config::{ConfigSource, load};
use pinhole::secrets::SecretBox;
use pinhole::store::cameras::{self, CameraInput, CameraOrigin};
use pinhole::store::{Store, StoreError};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::process::Command;

/// Everything wrong at once: a control character in the name, an RTSP camera with an HTTP URL,
/// an odd width, no frame rate, a bitrate and a keyframe interval out of range, a detection
/// threshold above 1, and a PTZ link with a host name and a chain address over IP.
const BAD_TOML: &str = r#"
[[cameras]]
id = "porch"
name = "porch\u0007"
source = "rtsp"
url = "http://porch.local/stream"
width = 641
fps = 0
bitrate_kbps = 60000
keyframe_ms = 5000
detection = { threshold = 2.0 }
ptz = { transport = "raw-udp", addr = "porch.local:1259", address = 3 }
"#;

fn bad_json() -> Value {
    json!({
        "id": "porch",
        "name": "porch\u{7}",
        "source": "rtsp",
        "url": "http://porch.local/stream",
        "width": 641,
        "fps": 0,
        "bitrate_kbps": 60000,
        "keyframe_ms": 5000,
        "detection": {"threshold": 2.0},
        "ptz": {"transport": "raw-udp", "addr": "porch.local:1259", "address": 3},
    })
}

const EXPECTED_FIELDS: &[&str] = &[
    "name",
    "url",
    "width",
    "fps",
    "bitrate_kbps",
    "keyframe_ms",
    "detection",
    "ptz.addr",
    "ptz.address",
];

/// Field → reason (one reason per field, as the REST body's map keeps it).
type Fields = BTreeMap<String, String>;

fn write_bad_config(dir: &std::path::Path) -> std::path::PathBuf {
    let p = dir.join("bad.toml");
    std::fs::write(&p, BAD_TOML).expect("write config");
    p
}

fn from_config_loader(file: &std::path::Path) -> Fields {
    let err = load(&ConfigSource {
        base: None,
        file: Some(file.to_path_buf()),
        env: Vec::new(),
    })
    .expect_err("the camera is bad");
    err.problems
        .iter()
        .map(|p| {
            let field = p.key.strip_prefix("cameras[0].").unwrap_or(&p.key);
            (field.to_string(), p.reason.clone())
        })
        .collect()
}

fn from_check_config(file: &std::path::Path) -> Fields {
    let out = Command::new(env!("CARGO_BIN_EXE_pinhole"))
        .arg("check-config")
        .arg(file)
        .env_remove("PINHOLE_CONFIG")
        .output()
        .expect("run check-config");
    assert_eq!(out.status.code(), Some(2));
    let prefix = format!("{}: cameras[0].", file.display());
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter_map(|l| l.trim().strip_prefix(&prefix))
        .filter_map(|rest| rest.split_once(": "))
        .map(|(f, r)| (f.to_string(), r.to_string()))
        .collect()
}

fn from_store() -> Fields {
    let store = Store::open_in_memory().expect("store");
    let input: CameraInput = serde_json::from_value(bad_json()).expect("well-typed input");
    let secrets = SecretBox::new(&[7; 32]);
    let err = store
        .call_blocking(|c| cameras::create(c, &secrets, &input, CameraOrigin::Api, 0))
        .expect_err("the camera is bad");
    let StoreError::Invalid(fields) = err else {
        panic!("not a validation error: {err}");
    };
    fields
        .iter()
        .map(|e| (e.field.clone(), e.reason.clone()))
        .collect()
}

async fn from_api() -> Fields {
    let server = Server::start(Opts::with_roles());
    let token = server.token("admin").await;
    let r = client()
        .post(server.url("/api/cameras"))
        .bearer_auth(&token)
        .json(&bad_json())
        .send()
        .await
        .expect("POST /api/cameras");
    assert_eq!(r.status(), 422);
    let body: Value = r.json().await.expect("error body");
    assert_eq!(body["error"], "invalid", "{body}");
    serde_json::from_value(body["fields"].clone()).expect("fields map")
}

#[tokio::test]
async fn the_same_bad_camera_gets_the_same_errors_everywhere() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write_bad_config(dir.path());
    let loader = from_config_loader(&file);
    let fields: Vec<&str> = loader.keys().map(String::as_str).collect();
    let mut expected = EXPECTED_FIELDS.to_vec();
    expected.sort_unstable();
    assert_eq!(fields, expected, "{loader:#?}");
    assert_eq!(from_check_config(&file), loader, "check-config");
    assert_eq!(from_store(), loader, "store");
    assert_eq!(from_api().await, loader, "REST API");
}
