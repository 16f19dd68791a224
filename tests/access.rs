//! Who may do what, against the real binary: the role matrix for every REST route and every
//! JSON-RPC method, first-run setup, browser sessions with CSRF, rate limiting, security headers,
//! secrets at rest, and the audit log.

mod common;

use common::*;
use reqwest::Method;
use serde_json::{Value, json};

/// The least role each JSON-RPC method needs, from the camera-service reference (not from the
/// server's own table: this is the specification the server is checked against).
const RPC_ROLES: &[(&str, Option<&str>)] = &[
    ("ping", None),
    ("authenticate", None),
    ("get_camera_list", Some("viewer")),
    ("get_camera_status", Some("viewer")),
    ("get_camera_capabilities", Some("viewer")),
    ("take_snapshot", Some("operator")),
    ("start_recording", Some("operator")),
    ("stop_recording", Some("operator")),
    ("list_recordings", Some("viewer")),
    ("list_snapshots", Some("viewer")),
    ("get_recording_info", Some("viewer")),
    ("get_snapshot_info", Some("viewer")),
    ("delete_recording", Some("admin")),
    ("delete_snapshot", Some("admin")),
    ("start_streaming", Some("operator")),
    ("stop_streaming", Some("operator")),
    ("get_stream_url", Some("viewer")),
    ("get_stream_status", Some("viewer")),
    ("get_streams", Some("viewer")),
    ("get_server_info", Some("viewer")),
    ("get_system_status", Some("viewer")),
    ("get_metrics", Some("admin")),
    ("get_status", Some("admin")),
    ("get_storage_info", Some("admin")),
    ("set_retention_policy", Some("admin")),
    ("cleanup_old_files", Some("admin")),
    ("subscribe_events", Some("viewer")),
    ("unsubscribe_events", Some("viewer")),
    ("get_subscription_stats", Some("viewer")),
    ("discover_external_streams", Some("operator")),
    ("add_external_stream", Some("operator")),
    ("remove_external_stream", Some("operator")),
    ("get_external_streams", Some("viewer")),
    ("set_discovery_interval", Some("admin")),
    ("test_onvif_device", Some("operator")),
    ("get_destinations", Some("operator")),
    ("add_destination", Some("admin")),
    ("update_destination", Some("admin")),
    ("remove_destination", Some("admin")),
    ("get_outgoing_streams", Some("viewer")),
    ("get_outgoing_stream_status", Some("viewer")),
    ("add_stream", Some("operator")),
    ("update_stream", Some("operator")),
    ("remove_stream", Some("operator")),
    ("start_stream", Some("operator")),
    ("stop_stream", Some("operator")),
    ("program_cue", Some("operator")),
    ("get_overlays", Some("viewer")),
    ("add_overlay", Some("operator")),
    ("update_overlay", Some("operator")),
    ("remove_overlay", Some("operator")),
    ("set_overlay_value", Some("operator")),
    ("list_users", Some("admin")),
    ("create_user", Some("admin")),
    ("update_user", Some("admin")),
    ("delete_user", Some("admin")),
    ("change_password", Some("viewer")),
    ("get_settings", Some("viewer")),
    ("update_settings", Some("admin")),
    ("get_audit_log", Some("admin")),
    ("list_local_devices", Some("operator")),
    ("get_camera_picture", Some("viewer")),
    ("set_camera_picture", Some("operator")),
    ("get_camera_osd", Some("viewer")),
    ("set_camera_osd", Some("admin")),
    ("list_events", Some("viewer")),
    ("get_event", Some("viewer")),
    ("delete_event", Some("admin")),
    ("get_detection_status", Some("viewer")),
    ("get_update_status", Some("viewer")),
    ("ptz_status", Some("viewer")),
    ("ptz_move", Some("operator")),
    ("ptz_stop", Some("operator")),
    ("ptz_absolute", Some("operator")),
    ("ptz_focus", Some("operator")),
    ("ptz_home", Some("operator")),
    ("ptz_power", Some("operator")),
    ("ptz_preset", Some("operator")),
    ("ptz_presets", Some("viewer")),
    ("ptz_preset_save", Some("operator")),
    ("ptz_preset_goto", Some("operator")),
    ("ptz_preset_rename", Some("operator")),
    ("ptz_preset_delete", Some("operator")),
    ("ptz_tours", Some("viewer")),
    ("ptz_tour_save", Some("operator")),
    ("ptz_tour_delete", Some("operator")),
    ("ptz_tour_start", Some("operator")),
    ("ptz_tour_stop", Some("operator")),
];

fn rank(role: &str) -> u8 {
    match role {
        "viewer" => 1,
        "operator" => 2,
        "admin" => 3,
        _ => 0,
    }
}

#[tokio::test]
async fn rpc_role_matrix() {
    // The server's registry declares exactly the methods of the specification above.
    let mut declared: Vec<&str> = pinhole::api::rpc::methods::all()
        .iter()
        .map(|m| m.name)
        .collect();
    let mut specified: Vec<&str> = RPC_ROLES.iter().map(|(m, _)| *m).collect();
    declared.sort_unstable();
    specified.sort_unstable();
    assert_eq!(declared, specified);
    let server = Server::start(Opts::with_roles());
    let tokens = server.role_tokens().await;
    let mut denied = Vec::new();
    for (method, need) in RPC_ROLES {
        for (who, token) in &tokens {
            // Params chosen to be harmless: `{}` is invalid for every state-changing method.
            let r = server.rpc(token.as_deref(), method, json!({})).await;
            let code = r["error"]["code"].as_i64();
            // Every declared method dispatches: never "not found", never an internal error.
            assert!(
                code != Some(-32601) && code != Some(-32603),
                "{method} as {who}: {r}"
            );
            match need {
                None => assert!(
                    code != Some(-32001) && code != Some(-32002),
                    "{method} as {who}: {r}"
                ),
                Some(need) if *who == "none" => {
                    assert_eq!(
                        code,
                        Some(-32001),
                        "{method} without auth must need it (min {need}): {r}"
                    )
                }
                Some(need) if rank(who) < rank(need) => {
                    assert_eq!(
                        code,
                        Some(-32002),
                        "{method} as {who} must be denied (min {need}): {r}"
                    );
                    denied.push((*who, *method));
                }
                Some(_) => assert!(
                    code != Some(-32001) && code != Some(-32002),
                    "{method} as {who} must be allowed: {r}"
                ),
            }
        }
    }
    // Each call an account made past its role is in the audit log, reads included.
    let admin = tokens
        .iter()
        .find(|(who, _)| *who == "admin")
        .and_then(|(_, t)| t.clone())
        .expect("admin token");
    let mut rows = Vec::new();
    loop {
        let page = get_json_as(
            &server,
            &format!("/api/audit?limit=1000&offset={}", rows.len()),
            &admin,
        )
        .await;
        let page = page.as_array().expect("rows").clone();
        if page.is_empty() {
            break;
        }
        rows.extend(page);
    }
    for (who, method) in denied {
        let user = if who == "viewer" { "view" } else { "oper" };
        assert!(
            rows.iter().any(|r| r["actor"] == user
                && r["action"] == method
                && r["result"].as_str().is_some_and(|t| t.contains("-32002"))),
            "{method} refused to {who} is not in the audit log"
        );
    }
}

/// Every REST route with its least role (None = public), and a harmless request body.
fn rest_routes() -> Vec<(Method, &'static str, Option<&'static str>, Option<Value>)> {
    vec![
        (Method::GET, "/health", None, None),
        (Method::GET, "/health/live", None, None),
        (Method::GET, "/health/ready", None, None),
        (Method::GET, "/health/detailed", None, None),
        (Method::GET, "/metrics", None, None),
        (Method::GET, "/api/openapi.json", None, None),
        (Method::GET, "/api/auth/setup", None, None),
        (Method::GET, "/api/auth/me", Some("viewer"), None),
        (
            Method::POST,
            "/api/auth/change-password",
            Some("viewer"),
            Some(json!({"current_password": "wrong", "new_password": "whatever-long"})),
        ),
        (Method::GET, "/api/users", Some("admin"), None),
        (
            Method::POST,
            "/api/users",
            Some("admin"),
            Some(json!({"username": "x", "password": "short", "role": "viewer"})),
        ),
        (
            Method::PUT,
            "/api/users/nobody",
            Some("admin"),
            Some(json!({"role": "viewer"})),
        ),
        (Method::DELETE, "/api/users/nobody", Some("admin"), None),
        (Method::GET, "/api/cameras", Some("viewer"), None),
        (
            Method::POST,
            "/api/cameras",
            Some("admin"),
            Some(json!({"source": "warp-drive"})),
        ),
        (Method::GET, "/api/cameras/nocam", Some("viewer"), None),
        (
            Method::PUT,
            "/api/cameras/nocam",
            Some("admin"),
            Some(json!({"fps": 10})),
        ),
        (Method::DELETE, "/api/cameras/nocam", Some("admin"), None),
        (
            Method::POST,
            "/api/cameras/nocam/ptz/continuous",
            Some("operator"),
            Some(json!({"pan_speed": 0.5})),
        ),
        (
            Method::POST,
            "/api/cameras/nocam/ptz/stop",
            Some("operator"),
            None,
        ),
        (
            Method::POST,
            "/api/cameras/nocam/ptz/absolute",
            Some("operator"),
            Some(json!({"pan": 10})),
        ),
        (
            Method::GET,
            "/api/cameras/nocam/ptz/status",
            Some("viewer"),
            None,
        ),
        (Method::GET, "/api/status/system", Some("viewer"), None),
        (Method::GET, "/api/status/system/info", Some("viewer"), None),
        (Method::GET, "/api/status/cameras", Some("viewer"), None),
        (Method::GET, "/api/status/health", Some("viewer"), None),
        (Method::GET, "/api/settings", Some("viewer"), None),
        (
            Method::PUT,
            "/api/settings",
            Some("admin"),
            Some(json!({"no_such_setting": 1})),
        ),
        (Method::GET, "/api/audit", Some("admin"), None),
        (Method::GET, "/api/live", Some("viewer"), None),
        (Method::GET, "/api/devices", Some("operator"), None),
        (Method::GET, "/api/events", Some("viewer"), None),
        (Method::GET, "/api/events/1", Some("viewer"), None),
        (
            Method::GET,
            "/api/cameras/nocam/stream",
            Some("viewer"),
            None,
        ),
        (
            Method::POST,
            "/api/cameras/nocam/snapshot",
            Some("operator"),
            Some(json!({})),
        ),
        (
            Method::POST,
            "/api/cameras/nocam/recording/start",
            Some("operator"),
            Some(json!({})),
        ),
        (
            Method::POST,
            "/api/cameras/nocam/recording/stop",
            Some("operator"),
            None,
        ),
        (Method::GET, "/api/recordings", Some("viewer"), None),
        (
            Method::DELETE,
            "/api/recordings/nofile",
            Some("admin"),
            None,
        ),
        (Method::GET, "/api/snapshots", Some("viewer"), None),
        (Method::DELETE, "/api/snapshots/nofile", Some("admin"), None),
        (Method::GET, "/api/destinations", Some("operator"), None),
        (
            Method::POST,
            "/api/destinations",
            Some("admin"),
            Some(json!({})),
        ),
        (
            Method::GET,
            "/api/destinations/nodest",
            Some("operator"),
            None,
        ),
        (
            Method::PUT,
            "/api/destinations/nodest",
            Some("admin"),
            Some(json!({})),
        ),
        (
            Method::DELETE,
            "/api/destinations/nodest",
            Some("admin"),
            None,
        ),
        (Method::GET, "/api/streams", Some("viewer"), None),
        (
            Method::POST,
            "/api/streams",
            Some("operator"),
            Some(json!({})),
        ),
        (Method::GET, "/api/streams/nostream", Some("viewer"), None),
        (
            Method::PUT,
            "/api/streams/nostream",
            Some("operator"),
            Some(json!({})),
        ),
        (
            Method::DELETE,
            "/api/streams/nostream",
            Some("operator"),
            None,
        ),
        (
            Method::POST,
            "/api/streams/nostream/start",
            Some("operator"),
            None,
        ),
        (
            Method::POST,
            "/api/streams/nostream/stop",
            Some("operator"),
            None,
        ),
        (
            Method::GET,
            "/api/streams/nostream/preview.jpg",
            Some("viewer"),
            None,
        ),
        (Method::GET, "/api/overlays", Some("viewer"), None),
        (
            Method::POST,
            "/api/overlays",
            Some("operator"),
            Some(json!({})),
        ),
        (Method::GET, "/api/overlays/nooverlay", Some("viewer"), None),
        (
            Method::PUT,
            "/api/overlays/nooverlay",
            Some("operator"),
            Some(json!({})),
        ),
        (
            Method::DELETE,
            "/api/overlays/nooverlay",
            Some("operator"),
            None,
        ),
        (
            Method::PUT,
            "/api/overlays/nooverlay/value",
            Some("operator"),
            Some(json!({})),
        ),
        (
            Method::PUT,
            "/api/overlays/nooverlay/image",
            Some("operator"),
            Some(json!({})),
        ),
        (
            Method::GET,
            "/api/overlays/nooverlay/image",
            Some("viewer"),
            None,
        ),
        // Binary bodies, outside the OpenAPI document.
        (
            Method::GET,
            "/api/cameras/nocam/mjpeg",
            Some("viewer"),
            None,
        ),
        (
            Method::GET,
            "/api/cameras/nocam/preview.jpg",
            Some("viewer"),
            None,
        ),
        (
            Method::GET,
            "/files/recordings/nofile.mp4",
            Some("viewer"),
            None,
        ),
        (
            Method::GET,
            "/files/snapshots/nofile.jpg",
            Some("viewer"),
            None,
        ),
    ]
}

/// Routes that serve binary bodies and are not in the OpenAPI document.
const BINARY_ROUTES: &[&str] = &["/api/cameras/nocam/mjpeg", "/api/cameras/nocam/preview.jpg"];

#[tokio::test]
async fn rest_role_matrix() {
    let server = Server::start(Opts::with_roles());
    let tokens = server.role_tokens().await;
    let c = client();
    for (method, path, need, body) in rest_routes() {
        for (who, token) in &tokens {
            let mut req = c.request(method.clone(), server.url(path));
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            if let Some(b) = &body {
                req = req.json(b);
            }
            let status = req.send().await.expect("request").status().as_u16();
            match need {
                None => assert!(
                    status != 401 && status != 403,
                    "{method} {path} as {who}: {status}"
                ),
                Some(need) if *who == "none" => {
                    assert_eq!(status, 401, "{method} {path} without auth (min {need})")
                }
                Some(need) if rank(who) < rank(need) => {
                    assert_eq!(status, 403, "{method} {path} as {who} (min {need})")
                }
                Some(_) => assert!(
                    status != 401 && status != 403,
                    "{method} {path} as {who}: {status}"
                ),
            }
        }
    }
    // The OpenAPI document lists every /api route of the matrix.
    let doc: Value = get_json(&server.url("/api/openapi.json")).await;
    for (method, path, _, _) in rest_routes() {
        if !path.starts_with("/api/")
            || path == "/api/openapi.json"
            || BINARY_ROUTES.contains(&path)
        {
            continue;
        }
        let templ = path
            .replace("/nobody", "/{username}")
            .replace("/nocam", "/{id}")
            .replace("/nodest", "/{id}")
            .replace("/nostream", "/{id}")
            .replace("/nooverlay", "/{id}")
            .replace("/nofile", "/{name}")
            .replace("/events/1", "/events/{id}");
        let op = &doc["paths"][&templ][method.as_str().to_ascii_lowercase()];
        assert!(
            op.is_object(),
            "{method} {templ} missing from the OpenAPI document"
        );
    }
}

#[tokio::test]
async fn first_run_setup_only_once() {
    let server = Server::start(Opts::default());
    let c = client();
    let s: Value = get_json(&server.url("/api/auth/setup")).await;
    assert_eq!(s["setup_required"], true);
    // A bad setting fails the whole setup: nobody is created.
    let r = c
        .post(server.url("/api/auth/setup"))
        .json(
            &json!({"username": "root", "password": "long-enough-pw", "timezone": "Mars/Olympus"}),
        )
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 422);
    let body: Value = r.json().await.expect("json");
    assert!(body["fields"]["timezone"].is_string(), "{body}");
    let r = c
        .post(server.url("/api/auth/setup"))
        .json(&json!({"username": "root", "password": "long-enough-pw", "device_name": "Front door", "timezone": "Europe/Paris"}))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 201);
    let tok: Value = r.json().await.expect("json");
    assert_eq!(tok["role"], "admin");
    let r = c
        .post(server.url("/api/auth/setup"))
        .json(&json!({"username": "intruder", "password": "long-enough-pw"}))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 409, "setup works only while no user exists");
    let s: Value = get_json(&server.url("/api/auth/setup")).await;
    assert_eq!(s["setup_required"], false);
    assert_eq!(s["device_name"], "Front door");
    let settings = server
        .rpc(tok["access_token"].as_str(), "get_settings", json!({}))
        .await;
    assert_eq!(settings["result"]["settings"]["timezone"], "Europe/Paris");
}

#[tokio::test]
async fn browser_session_needs_csrf_token() {
    let server = Server::start(Opts::with_roles());
    let c = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .expect("client");
    let r = c
        .post(server.url("/api/auth/session"))
        .json(&json!({"username": "admin", "password": PASSWORD}))
        .send()
        .await
        .expect("session");
    assert_eq!(r.status(), 200);
    let cookies: Vec<String> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_string))
        .collect();
    assert!(
        cookies.iter().any(|c| c.starts_with("pinhole_session=")
            && c.contains("HttpOnly")
            && c.contains("SameSite=Strict")),
        "{cookies:?}"
    );
    let body: Value = r.json().await.expect("json");
    let csrf = body["csrf_token"].as_str().expect("csrf").to_string();

    // Reads work with the cookie alone.
    let me: Value = c
        .get(server.url("/api/auth/me"))
        .send()
        .await
        .expect("me")
        .json()
        .await
        .expect("json");
    assert_eq!(me["username"], "admin");
    // Changes need the CSRF token.
    let change = json!({"device_name": "kitchen"});
    let r = c
        .put(server.url("/api/settings"))
        .json(&change)
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), 403);
    let r = c
        .put(server.url("/api/settings"))
        .header("x-csrf-token", "forged")
        .json(&change)
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), 403);
    let r = c
        .put(server.url("/api/settings"))
        .header("x-csrf-token", &csrf)
        .json(&change)
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), 200);
    // A cookie-authenticated WebSocket from another origin is refused.
    let cookie = cookies
        .iter()
        .find(|c| c.starts_with("pinhole_session="))
        .and_then(|c| c.split(';').next())
        .expect("cookie")
        .to_string();
    let mut req = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
        server.ws_url(),
    )
    .expect("req");
    req.headers_mut()
        .insert("cookie", cookie.parse().expect("header"));
    req.headers_mut()
        .insert("origin", "http://evil.example".parse().expect("header"));
    let refused = tokio_tungstenite::connect_async(req).await;
    assert!(refused.is_err(), "cross-origin WebSocket must be refused");
    // Logout clears the cookies and revokes the session: a copy of the cookie (and its CSRF
    // token) stops working too.
    let r = c
        .delete(server.url("/api/auth/session"))
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .expect("logout");
    assert_eq!(r.status(), 204);
    let r = c.get(server.url("/api/auth/me")).send().await.expect("me");
    assert_eq!(r.status(), 401);
    let copy = client();
    let r = copy
        .put(server.url("/api/settings"))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .json(&change)
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), 401, "a logged-out session still works");
    // A bearer token can log itself out as well; the user's other tokens keep working.
    let (a, b) = (server.token("admin").await, server.token("admin").await);
    let r = copy
        .delete(server.url("/api/auth/session"))
        .bearer_auth(&a)
        .send()
        .await
        .expect("logout");
    assert_eq!(r.status(), 204);
    let me = |t: String| {
        let copy = copy.clone();
        let url = server.url("/api/auth/me");
        async move {
            copy.get(url)
                .bearer_auth(t)
                .send()
                .await
                .expect("me")
                .status()
        }
    };
    assert_eq!(me(a).await, 401);
    assert_eq!(me(b).await, 200);
}

#[tokio::test]
async fn a_deleted_users_token_never_works_for_a_new_account() {
    let server = Server::start(Opts::with_roles());
    let admin = server.token("admin").await;
    let create = |role: &'static str| {
        let admin = admin.clone();
        let server = &server;
        async move {
            let r = server
                .rpc(
                    Some(&admin),
                    "create_user",
                    json!({"username": "eve", "password": PASSWORD, "role": role}),
                )
                .await;
            assert_eq!(r["result"]["created"], true, "{r}");
        }
    };
    create("viewer").await;
    let old = server.token("eve").await;
    let r = server
        .rpc(Some(&admin), "delete_user", json!({"username": "eve"}))
        .await;
    assert_eq!(r["result"]["deleted"], true, "{r}");
    // The new account may get the same id (SQLite reuses the highest); the old token must not
    // come back, least of all with the new account's role.
    create("admin").await;
    let r = server.rpc(Some(&old), "list_users", json!({})).await;
    assert_eq!(r["error"]["code"], -32001, "{r}");
    assert_eq!(me_status(&server, &old).await, 401);
}

#[tokio::test]
async fn login_attempts_are_rate_limited() {
    let server = Server::start(Opts {
        toml: "[auth]\nlogin_attempts_per_minute = 3\n".into(),
        ..Opts::with_roles()
    });
    let c = client();
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let r = c
            .post(server.url("/api/auth/login"))
            .json(&json!({"username": "admin", "password": "wrong-password"}))
            .send()
            .await
            .expect("login");
        if r.status() == 429 {
            assert!(r.headers().get("retry-after").is_some());
        }
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses, vec![401, 401, 401, 429, 429]);
    // The right password is refused too while the limit holds.
    let r = c
        .post(server.url("/api/auth/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("username=admin&password={PASSWORD}"))
        .send()
        .await
        .expect("login");
    assert_eq!(r.status(), 429);
    // Failed token authentications count as well.
    let mut ws = ws(&server).await;
    let mut codes = Vec::new();
    for i in 0..2 {
        let r = ws_call(&mut ws, json!({"jsonrpc": "2.0", "method": "authenticate", "params": {"auth_token": "bad"}, "id": i})).await;
        codes.push(r["error"]["code"].as_i64().unwrap_or_default());
    }
    assert_eq!(codes, vec![-32040, -32040]);
    let metrics = metrics_text(&server).await;
    assert!(
        metrics.contains("pinhole_login_attempts_total{result=\"rate_limited\"} 3"),
        "{metrics}"
    );
}

#[tokio::test]
async fn errors_and_headers() {
    let server = Server::start(Opts::with_roles());
    let c = client();
    for path in ["/health", "/api/auth/me", "/no/such/route", "/"] {
        let r = c.get(server.url(path)).send().await.expect("get");
        let h = r.headers();
        for name in [
            "x-content-type-options",
            "x-frame-options",
            "content-security-policy",
            "referrer-policy",
        ] {
            assert!(h.get(name).is_some(), "{path} lacks {name}");
        }
    }
    let admin = server.token("admin").await;
    // Malformed JSON, wrong types, unknown fields.
    for body in [
        "{",
        r#"{"username": 5, "password": "x"}"#,
        r#"{"username": "a", "password": "b", "extra": 1}"#,
    ] {
        let r = c
            .post(server.url("/api/users"))
            .bearer_auth(&admin)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("post");
        assert_eq!(r.status(), 422, "{body}");
        let v: Value = r.json().await.expect("error body is JSON");
        assert_eq!(v["error"], "invalid");
    }
    let r = c
        .post(server.url("/api/users"))
        .bearer_auth(&admin)
        .body("x")
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 422, "missing content type");
    // Field-level validation.
    let r = c
        .post(server.url("/api/cameras"))
        .bearer_auth(&admin)
        .json(&json!({"source": "rtsp", "url": "http://not-rtsp", "fps": 500}))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 422);
    let v: Value = r.json().await.expect("json");
    assert!(
        v["fields"]["url"].is_string() && v["fields"]["fps"].is_string(),
        "{v}"
    );
    // A forged token claiming admin.
    let r = c
        .get(server.url("/api/users"))
        .bearer_auth("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.")
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn camera_secrets_stay_sealed_and_changes_are_audited() {
    let server = Server::start(Opts::with_roles());
    let admin = server.token("admin").await;
    let c = client();
    let r = c
        .post(server.url("/api/cameras"))
        .bearer_auth(&admin)
        .json(&json!({"name": "Gate", "source": "rtsp", "url": "rtsp://192.0.2.10/stream", "username": "cam", "password": "Sup3rSecretCamPw"}))
        .send()
        .await
        .expect("create");
    assert_eq!(r.status(), 201);
    let cam: Value = r.json().await.expect("json");
    assert_eq!(cam["id"], "camera0");
    assert_eq!(cam["has_password"], true);
    let text = c
        .get(server.url("/api/cameras"))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("list")
        .text()
        .await
        .expect("text");
    assert!(!text.contains("Sup3rSecretCamPw"));
    // Credentials typed into the URL are taken out of it and sealed: a viewer sees neither.
    let r = c
        .post(server.url("/api/cameras"))
        .bearer_auth(&admin)
        .json(&json!({"name": "Yard", "source": "rtsp", "url": "rtsp://yard:UrlSecretCamPw1@192.0.2.11/live"}))
        .send()
        .await
        .expect("create");
    assert_eq!(r.status(), 201);
    let viewer = server.token("view").await;
    let cams = get_json_as(&server, "/api/cameras", &viewer).await;
    let rpc = server
        .rpc(Some(&viewer), "get_camera_list", json!({}))
        .await;
    for text in [cams.to_string(), rpc.to_string()] {
        assert!(!text.contains("UrlSecretCamPw1"), "{text}");
    }
    let yard = cams
        .as_array()
        .and_then(|a| a.iter().find(|c| c["name"] == "Yard"))
        .expect("the camera");
    assert_eq!(yard["url"], "rtsp://192.0.2.11/live", "{yard}");
    assert_eq!(yard["has_password"], true);
    // Neither the database nor its WAL holds a password in clear.
    for f in ["pinhole.db", "pinhole.db-wal"] {
        if let Ok(bytes) = std::fs::read(server.state().join(f)) {
            for secret in [&b"Sup3rSecretCamPw"[..], &b"UrlSecretCamPw1"[..]] {
                assert!(
                    !bytes.windows(secret.len()).any(|w| w == secret),
                    "{f} holds a password"
                );
            }
        }
    }
    let r = server
        .rpc(
            Some(&admin),
            "create_user",
            json!({"username": "dave", "password": "dave-password", "role": "operator"}),
        )
        .await;
    assert_eq!(r["result"]["created"], true, "{r}");
    let audit = get_json_as(&server, "/api/audit", &admin).await;
    let rows = audit.as_array().expect("rows");
    let text = audit.to_string();
    assert!(
        !text.contains("dave-password") && !text.contains("Sup3rSecretCamPw"),
        "{text}"
    );
    assert!(
        rows.iter()
            .any(|r| r["action"] == "create_user" && r["actor"] == "admin" && r["result"] == "ok")
    );
    assert!(rows.iter().any(|r| r["action"] == "POST /api/cameras"
        && r["actor"] == "admin"
        && r["client"] == "127.0.0.1"));
    assert!(
        rows.iter()
            .any(|r| r["action"] == "POST /api/auth/login" && r["actor"] == "admin")
    );
}

#[tokio::test]
async fn last_admin_and_self_are_protected() {
    let server = Server::start(Opts::with_roles());
    let admin = server.token("admin").await;
    let r = server
        .rpc(Some(&admin), "delete_user", json!({"username": "admin"}))
        .await;
    assert_eq!(r["error"]["code"], -32020);
    let r = server
        .rpc(
            Some(&admin),
            "update_user",
            json!({"username": "admin", "role": "viewer"}),
        )
        .await;
    assert_eq!(r["error"]["code"], -32020, "{r}");
    let r = server
        .rpc(Some(&admin), "delete_user", json!({"username": "view"}))
        .await;
    assert_eq!(r["result"]["deleted"], true);
    let r = server
        .rpc(Some(&admin), "delete_user", json!({"username": "view"}))
        .await;
    assert_eq!(r["error"]["code"], -32010);
}

/// Size of the database and its WAL.
fn db_bytes(server: &Server) -> u64 {
    ["pinhole.db", "pinhole.db-wal"]
        .iter()
        .filter_map(|f| std::fs::metadata(server.state().join(f)).ok())
        .map(|m| m.len())
        .sum()
}

#[tokio::test]
async fn unauthenticated_floods_are_counted_not_written() {
    use futures_util::{SinkExt, StreamExt};
    let mut server = Server::start(Opts::with_roles());
    let admin = server.token("admin").await;
    let before = db_bytes(&server);
    let filler = "A".repeat(60_000);

    // 600 unauthenticated 60 KB JSON-RPC calls on one WebSocket, pipelined.
    let mut ws = ws(&server).await;
    let call = json!({"jsonrpc": "2.0", "id": 1, "method": "create_user",
        "params": {"username": "intruder", "password": filler, "role": "admin"}})
    .to_string();
    for _ in 0..600 {
        ws.send(tokio_tungstenite::tungstenite::Message::Text(
            call.clone().into(),
        ))
        .await
        .expect("send");
    }
    let mut refused = 0;
    while refused < 600 {
        match tokio::time::timeout(std::time::Duration::from_secs(30), ws.next()).await {
            Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Text(t)))) => {
                let v: Value = serde_json::from_str(&t).expect("json");
                assert_eq!(v["error"]["code"], -32001, "{v}");
                refused += 1;
            }
            Ok(Some(Ok(_))) => {}
            other => panic!("after {refused} replies: {other:?}"),
        }
    }
    // Positional params would hide a token from redaction by name.
    let r = server
        .rpc(None, "authenticate", json!(["positional-secret-token"]))
        .await;
    assert_eq!(r["error"]["code"], -32602, "{r}");
    // 200 REST POSTs: to a route that needs a login, and to no route at all.
    let c = client();
    for i in 0..200 {
        let path = if i % 2 == 0 {
            "/api/cameras"
        } else {
            "/api/no/such/route"
        };
        let r = c
            .post(server.url(path))
            .header("content-type", "application/json")
            .body(json!({"name": "Gate", "source": "test"}).to_string())
            .send()
            .await
            .expect("post");
        assert!(
            matches!(r.status().as_u16(), 401 | 404 | 405),
            "{}",
            r.status()
        );
    }

    // An admin's positional call is recorded without its params.
    let r = server
        .rpc(
            Some(&admin),
            "create_user",
            json!(["bob", "positional-password-1", "viewer"]),
        )
        .await;
    assert_eq!(r["error"]["code"], -32602, "{r}");

    // The database did not grow by what strangers sent (before: ~50 MB).
    let grown = db_bytes(&server).saturating_sub(before);
    assert!(grown < 1_000_000, "the database grew by {grown} bytes");
    let audit = get_json_as(&server, "/api/audit?limit=1000", &admin).await;
    let rows = audit.as_array().expect("rows");
    assert!(rows.len() < 20, "{} rows", rows.len());
    let text = audit.to_string();
    assert!(
        !text.contains("positional-secret-token") && !text.contains("positional-password-1"),
        "{text}"
    );
    assert!(rows.iter().any(|r| r["action"] == "create_user"
        && r["actor"] == "admin"
        && r["details"]["positional_params"] == 3));

    // The refusals are one summary row, written at the latest when the appliance stops.
    assert!(server.stop().success());
    let store = pinhole::store::Store::open(&server.state().join("pinhole.db")).expect("db");
    let rows = store
        .call_blocking(|c| pinhole::store::audit::list(c, 100, 0))
        .expect("rows");
    let summary = rows
        .iter()
        .find(|r| r.action == "refused_unauthenticated")
        .expect("a summary row");
    let d = summary.details.clone().unwrap_or_default();
    assert!(d["count"].as_u64().unwrap_or(0) >= 800, "{d}");
    assert_eq!(d["by_action"]["create_user"], 600, "{d}");
    assert_eq!(summary.client.as_deref(), Some("127.0.0.1"));
}
