//! The appliance around the API, against the real binary: configuration errors, database
//! migrations and refusals, systemd notify and watchdog, graceful shutdown, TLS, metrics format,
//! the unit file, demo mode and the user command.

mod common;

use common::*;
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

fn write(dir: &std::path::Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p
}

/// `pinhole run` on a state directory, expected to stop on its own.
fn run_with_state(state: &std::path::Path) -> std::process::Output {
    Command::new(BIN)
        .args(["run", "--listen", "127.0.0.1:0", "--state-dir"])
        .arg(state)
        .env_remove("PINHOLE_CONFIG")
        .stdin(Stdio::null())
        .output()
        .expect("run")
}

#[test]
fn bad_config_is_reported_with_file_key_and_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write(
        dir.path(),
        "bad.toml",
        "[http]\nlisten = \"everywhere\"\n[auth]\ntoken_ttl_secs = -4\nsurprise = true\n[[cameras]]\nid = \"Front Door\"\nsource = \"rtsp\"\nurl = \"ftp://x\"\n",
    );
    let out = Command::new(BIN)
        .arg("check-config")
        .arg(&cfg)
        .env_remove("PINHOLE_CONFIG")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    for key in [
        "http.listen",
        "auth.token_ttl_secs",
        "auth.surprise",
        "cameras[0].id",
        "cameras[0].url",
    ] {
        assert!(
            err.contains(&format!("{}: {key}: ", cfg.display())),
            "missing {key} in:\n{err}"
        );
    }
    // An environment override is named as the origin.
    let good = write(dir.path(), "good.toml", "");
    let out = Command::new(BIN)
        .arg("check-config")
        .arg(&good)
        .env("PINHOLE_HTTP__LISTEN", "nowhere")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("environment variable PINHOLE_HTTP__LISTEN: http.listen:")
    );
    let out = Command::new(BIN)
        .arg("check-config")
        .arg(&good)
        .output()
        .expect("run");
    assert!(out.status.success());
    // `run` refuses to start on the same problems, with the same exit status.
    let out = Command::new(BIN)
        .args(["run", "--config"])
        .arg(&cfg)
        .stdin(Stdio::null())
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("http.listen"));
    // The shipped default configuration is valid.
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/config/pinhole.toml");
    let out = Command::new(BIN)
        .args(["check-config", shipped])
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn not_a_database_is_refused_untouched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).expect("mkdir");
    let junk = b"GIF89a this is a picture, not a database\n".repeat(64);
    std::fs::write(state.join("pinhole.db"), &junk).expect("write");
    let out = run_with_state(&state);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is not an SQLite database"), "{err}");
    assert_eq!(std::fs::read(state.join("pinhole.db")).expect("read"), junk);
}

#[test]
fn damaged_database_is_refused_untouched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let out = user_cmd(
        &state,
        &["add", "root", "--password-stdin"],
        "long-enough-pw\n",
    );
    assert!(out.status.success());
    // Overwrite the schema page after the 100-byte header: a damaged SD card sector.
    let db = state.join("pinhole.db");
    let mut bytes = std::fs::read(&db).expect("read");
    bytes[100..3000].fill(0xff);
    std::fs::write(&db, &bytes).expect("write");
    let out = run_with_state(&state);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("is damaged") && err.contains("left untouched"),
        "{err}"
    );
    assert_eq!(std::fs::read(&db).expect("read"), bytes);
}

#[tokio::test]
async fn upgrades_a_previous_schema_and_keeps_its_users() {
    let server = Server::start(Opts {
        prepare: Some(Box::new(|state| {
            let path = state.join("pinhole.db");
            let mut conn = rusqlite::Connection::open(&path).expect("open");
            pinhole::store::schema::upgrade_to(&mut conn, &path, 1).expect("v1");
            let hash = pinhole::auth::password::hash(PASSWORD).expect("hash");
            conn.execute(
                "INSERT INTO users (username, password_hash, role, created_at, updated_at) VALUES ('old-admin', ?1, 'admin', 1, 1)",
                [hash],
            )
            .expect("insert");
        })),
        ..Default::default()
    });
    let token = server.token("old-admin").await;
    let r = server.rpc(Some(&token), "list_users", json!({})).await;
    assert_eq!(r["result"]["users"][0]["username"], "old-admin");
    // The v2 tables exist and work.
    let r = client()
        .post(server.url("/api/cameras"))
        .bearer_auth(&token)
        .json(&json!({"source": "test"}))
        .send()
        .await
        .expect("camera");
    assert_eq!(r.status(), 201);
    assert!(
        server.state().join("pinhole.db.pre-v2.bak").exists(),
        "a copy is kept before upgrading"
    );
}

#[test]
fn newer_schema_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).expect("mkdir");
    let path = state.join("pinhole.db");
    {
        let mut conn = rusqlite::Connection::open(&path).expect("open");
        pinhole::store::schema::upgrade(&mut conn, &path).expect("latest");
        conn.execute(
            "INSERT INTO schema_version VALUES (999, 0, 'from the future')",
            [],
        )
        .expect("bump");
    }
    let out = run_with_state(&state);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("schema version 999"), "{err}");
}

/// Collects sd_notify datagrams sent to a socket of ours.
fn notify_socket(dir: &std::path::Path) -> (UnixDatagram, std::path::PathBuf) {
    let path = dir.join("notify.sock");
    let sock = UnixDatagram::bind(&path).expect("bind notify socket");
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    (sock, path)
}

fn drain(sock: &UnixDatagram, into: &mut Vec<String>) {
    let mut buf = [0u8; 4096];
    while let Ok(n) = sock.recv(&mut buf) {
        into.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
}

#[tokio::test]
async fn systemd_notify_watchdog_and_graceful_shutdown() {
    let sockdir = tempfile::tempdir().expect("tempdir");
    let (sock, path) = notify_socket(sockdir.path());
    let mut server = Server::start(Opts {
        env: vec![
            ("NOTIFY_SOCKET".into(), path.display().to_string()),
            // Pings every second.
            ("WATCHDOG_USEC".into(), "2000000".into()),
        ],
        watchdog_pid: true,
        ..Opts::with_roles()
    });
    let mut msgs = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while msgs
        .iter()
        .filter(|m: &&String| m.contains("WATCHDOG=1"))
        .count()
        < 2
    {
        assert!(Instant::now() < deadline, "no watchdog pings: {msgs:?}");
        drain(&sock, &mut msgs);
    }
    assert!(
        msgs.iter()
            .any(|m| m.contains("READY=1")
                && m.contains("STATUS=ready: listening on http://127.0.0.1:")),
        "{msgs:?}"
    );
    let ready_at = msgs
        .iter()
        .position(|m| m.contains("READY=1"))
        .unwrap_or(usize::MAX);
    let first_ping = msgs
        .iter()
        .position(|m| m.contains("WATCHDOG=1"))
        .unwrap_or(0);
    assert!(ready_at < first_ping, "READY before pings: {msgs:?}");

    // An open WebSocket is closed with 1001 (going away) and the process exits cleanly.
    let mut ws = ws(&server).await;
    let r = ws_call(
        &mut ws,
        json!({"jsonrpc": "2.0", "method": "ping", "id": 1}),
    )
    .await;
    assert_eq!(r["result"], "pong");
    server.signal(nix::sys::signal::Signal::SIGTERM);
    let close = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(f))) => return f.map(|f| u16::from(f.code)),
                Some(Ok(_)) => continue,
                _ => return None,
            }
        }
    })
    .await
    .expect("closed in time");
    assert_eq!(close, Some(1001));
    let status = wait_exit(&mut server.child, Duration::from_secs(30));
    assert!(status.success(), "{status}: {}", server.stderr_text());
    drain(&sock, &mut msgs);
    assert!(msgs.iter().any(|m| m.contains("STOPPING=1")), "{msgs:?}");
    // The database was checkpointed: a second start finds everything.
    let db = server.state().join("pinhole.db");
    let conn = rusqlite::Connection::open(&db).expect("open");
    let n: i64 = conn
        .query_row("SELECT COUNT(*) FROM users", [], |r| r.get(0))
        .expect("count");
    assert_eq!(n, 3);
}

#[tokio::test]
async fn https_with_a_generated_certificate() {
    let server = Server::start(Opts {
        toml: "[tls]\nmode = \"self-signed\"\nlisten = \"127.0.0.1:0\"\n".into(),
        ..Opts::with_roles()
    });
    let https = server.https.expect("https listener announced");
    let c = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .expect("client");
    let r = c
        .get(format!("https://{https}/health/live"))
        .send()
        .await
        .expect("https");
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("strict-transport-security").is_some());
    // The plain listener stays available and has no HSTS.
    let r = client()
        .get(server.url("/health/live"))
        .send()
        .await
        .expect("http");
    assert!(r.headers().get("strict-transport-security").is_none());
    use std::os::unix::fs::PermissionsExt;
    let key = server.state().join("tls/key.pem");
    assert_eq!(
        std::fs::metadata(&key).expect("key").permissions().mode() & 0o777,
        0o600
    );
    for f in ["jwt.key", "device.key"] {
        let mode = std::fs::metadata(server.state().join(f))
            .expect(f)
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{f}");
    }
    // Session cookies are Secure when HTTPS is on.
    let r = c
        .post(format!("https://{https}/api/auth/session"))
        .json(&json!({"username": "view", "password": PASSWORD}))
        .send()
        .await
        .expect("session");
    let cookie = r
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(cookie.contains("; Secure"), "{cookie}");
}

#[tokio::test]
async fn metrics_pass_promtool_and_health_reports_subsystems() {
    let server = Server::start(Opts::with_roles());
    let token = server.token("admin").await;
    server.rpc(Some(&token), "get_status", json!({})).await;
    let c = client();
    // Subsystems beat on start; wait (bounded) until all are healthy.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = c
            .get(server.url("/health/ready"))
            .send()
            .await
            .expect("ready");
        if r.status() == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never ready: {}",
            r.text().await.unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let detailed: Value = get_json(&server.url("/health/detailed")).await;
    let names: Vec<&str> = detailed["subsystems"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(
        names,
        [
            "api",
            "devices",
            "discovery",
            "onvif-discovery",
            "onvif-events",
            "store",
            "system",
            "tours"
        ]
    );
    let text = metrics_text(&server).await;
    for name in [
        "pinhole_build_info",
        "pinhole_rpc_calls_total{method=\"get_status\",outcome=\"ok\"} 1",
        "pinhole_subsystem_up{subsystem=\"store\"} 1",
        "process_resident_memory_bytes",
    ] {
        assert!(text.contains(name), "{name} missing");
    }
    promtool_check(&text);
}

#[test]
fn systemd_unit_passes_systemd_analyze_verify() {
    let dir = tempfile::tempdir().expect("tempdir");
    let unit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/systemd/pinhole.service"
    ))
    .expect("unit");
    for needed in [
        "Type=notify",
        "WatchdogSec=",
        "Restart=on-failure",
        "StateDirectory=pinhole",
        "ConfigurationDirectory=pinhole",
        "SupplementaryGroups=video dialout",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "DeviceAllow=char-video4linux rw",
        "DeviceAllow=char-ttyUSB rw",
    ] {
        assert!(unit.contains(needed), "unit lacks {needed}");
    }
    // verify checks that ExecStart exists: point it at the binary under test.
    let path = dir.path().join("pinhole.service");
    std::fs::write(&path, unit.replace("/usr/bin/pinhole", BIN)).expect("write");
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .expect("systemd-analyze must be installed (package systemd)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && !text.contains("pinhole.service:"),
        "systemd-analyze verify: {text}"
    );
}

#[tokio::test]
async fn demo_mode_prints_a_random_admin_password_once() {
    let server = Server::start(Opts {
        demo: true,
        ..Default::default()
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    let password = loop {
        let line = server
            .stdout
            .lock()
            .ok()
            .and_then(|l| l.iter().find(|l| l.contains("Demo admin account")).cloned());
        if let Some(line) = line {
            break line
                .split("password `")
                .nth(1)
                .and_then(|s| s.split('`').next())
                .expect("password")
                .to_string();
        }
        assert!(Instant::now() < deadline, "no password printed");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(password.len() >= 16);
    let r = login(&server, "admin", &password).await;
    assert_eq!(r.status(), 200);
    let info: Value = get_json(&server.url("/api/auth/setup")).await;
    assert_eq!(info["setup_required"], false);
}

#[tokio::test]
async fn demo_mode_takes_the_password_from_the_environment() {
    let server = Server::start(Opts {
        demo: true,
        env: vec![("PINHOLE_ADMIN_PASSWORD".into(), "chosen-password".into())],
        ..Default::default()
    });
    let r = login(&server, "admin", "chosen-password").await;
    assert_eq!(r.status(), 200);
    assert!(
        server
            .stdout
            .lock()
            .map(|l| l.iter().all(|l| !l.contains("chosen-password")))
            .unwrap_or(false)
    );
}

#[tokio::test]
async fn user_command_changes_apply_to_a_running_service() {
    let server = Server::start(Opts::with_roles());
    let old = server.token("view").await;
    let out = user_cmd(
        &server.state(),
        &["passwd", "view", "--password-stdin"],
        "brand-new-password\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list = Command::new(BIN)
        .args(["user", "list", "--state-dir"])
        .arg(server.state())
        .env_remove("PINHOLE_CONFIG")
        .output()
        .expect("list");
    assert_eq!(
        String::from_utf8_lossy(&list.stdout),
        "admin\tadmin\noper\toperator\nview\tviewer\n"
    );
    // The service notices within its refresh period; the old token dies, the new password works.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if me_status(&server, &old).await == 401 {
            break;
        }
        assert!(Instant::now() < deadline, "old token still accepted");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let r = login(&server, "view", "brand-new-password").await;
    assert_eq!(r.status(), 200);
    // A short password is refused by the command.
    let out = user_cmd(
        &server.state(),
        &["add", "shorty", "--password-stdin"],
        "short\n",
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 8"));
}
