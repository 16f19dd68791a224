//! JSON-RPC 2.0 against the real binary: the specification's section 7 examples adapted to real
//! methods, batches, notifications, id echo, error codes, oversized messages, subscriptions.

mod common;

use common::*;
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

async fn post_raw(server: &Server, body: &str, token: Option<&str>) -> (u16, String) {
    let mut req = client()
        .post(server.url("/rpc"))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.expect("post");
    let status = r.status().as_u16();
    (status, r.text().await.expect("body"))
}

#[tokio::test]
async fn spec_examples_over_websocket() {
    let server = Server::start(Opts::with_roles());
    let mut ws = ws(&server).await;

    // A call with named parameters and a result.
    let r = ws_call(
        &mut ws,
        json!({"jsonrpc": "2.0", "method": "ping", "id": 1}),
    )
    .await;
    assert_eq!(r, json!({"jsonrpc": "2.0", "result": "pong", "id": 1}));

    // Ids are echoed as given: string, null, fractional and negative numbers.
    for id in [json!("abc"), Value::Null, json!(2.5), json!(-7)] {
        let r = ws_call(
            &mut ws,
            json!({"jsonrpc": "2.0", "method": "ping", "id": id}),
        )
        .await;
        assert_eq!(r["id"], id);
        assert_eq!(r["result"], "pong");
    }

    // Notifications get no reply, not even an error: the next reply is the ping's.
    ws_send(&mut ws, r#"{"jsonrpc": "2.0", "method": "ping"}"#).await;
    ws_send(&mut ws, r#"{"jsonrpc": "2.0", "method": "no_such_method"}"#).await;
    let r = ws_call(
        &mut ws,
        json!({"jsonrpc": "2.0", "method": "ping", "id": "after"}),
    )
    .await;
    assert_eq!(r["id"], "after");

    // Non-existent method.
    let r = ws_call(
        &mut ws,
        json!({"jsonrpc": "2.0", "method": "foobar", "id": "1"}),
    )
    .await;
    assert_eq!(r["error"]["code"], -32601);
    assert_eq!(r["id"], "1");
    assert!(r.get("result").is_none());

    // Invalid JSON.
    ws_send(
        &mut ws,
        r#"{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]"#,
    )
    .await;
    let r = ws_recv(&mut ws).await;
    assert_eq!(r["error"]["code"], -32700);
    assert_eq!(r["id"], Value::Null);

    // Invalid Request object.
    let r = ws_call(
        &mut ws,
        json!({"jsonrpc": "2.0", "method": 1, "params": "bar"}),
    )
    .await;
    assert_eq!(r["error"]["code"], -32600);
    assert_eq!(r["id"], Value::Null);
    let r = ws_call(
        &mut ws,
        json!({"jsonrpc": "1.0", "method": "ping", "id": 3}),
    )
    .await;
    assert_eq!(r["error"]["code"], -32600);

    // Batch, invalid JSON.
    ws_send(
        &mut ws,
        r#"[{"jsonrpc": "2.0", "method": "ping", "id": "1"},{"jsonrpc": "2.0", "method""#,
    )
    .await;
    let r = ws_recv(&mut ws).await;
    assert_eq!(r["error"]["code"], -32700);

    // Empty array.
    ws_send(&mut ws, "[]").await;
    let r = ws_recv(&mut ws).await;
    assert_eq!(r["error"]["code"], -32600);
    assert!(r.is_object(), "a single error, not an array: {r}");

    // Invalid batch, not empty.
    ws_send(&mut ws, "[1]").await;
    let r = ws_recv(&mut ws).await;
    assert_eq!(r.as_array().map(Vec::len), Some(1));
    assert_eq!(r[0]["error"]["code"], -32600);

    // Invalid batch.
    ws_send(&mut ws, "[1,2,3]").await;
    let r = ws_recv(&mut ws).await;
    let codes: Vec<_> = r
        .as_array()
        .expect("array")
        .iter()
        .map(|e| e["error"]["code"].clone())
        .collect();
    assert_eq!(codes, vec![json!(-32600); 3]);

    // Call batch: calls, a notification, an invalid request, an unknown method, and an
    // authenticated method without authentication.
    ws_send(
        &mut ws,
        &json!([
            {"jsonrpc": "2.0", "method": "ping", "id": "1"},
            {"jsonrpc": "2.0", "method": "ping", "params": {}},
            {"jsonrpc": "2.0", "method": "ping", "params": [], "id": "2"},
            {"foo": "boo"},
            {"jsonrpc": "2.0", "method": "foo.get", "params": {"name": "myself"}, "id": "5"},
            {"jsonrpc": "2.0", "method": "get_server_info", "id": "9"}
        ])
        .to_string(),
    )
    .await;
    let r = ws_recv(&mut ws).await;
    let arr = r.as_array().expect("batch reply");
    assert_eq!(arr.len(), 5, "{r}");
    let by_id = |id: &str| {
        arr.iter()
            .find(|e| e["id"] == id)
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(by_id("1")["result"], "pong");
    assert_eq!(by_id("2")["result"], "pong");
    assert_eq!(by_id("5")["error"]["code"], -32601);
    assert_eq!(by_id("9")["error"]["code"], -32001);
    assert!(
        arr.iter()
            .any(|e| e["id"].is_null() && e["error"]["code"] == -32600)
    );
    for e in arr {
        assert_eq!(e["jsonrpc"], "2.0");
        assert!(
            e.get("result").is_some() != e.get("error").is_some(),
            "exactly one of result/error: {e}"
        );
    }

    // Batch of notifications only: nothing comes back.
    ws_send(
        &mut ws,
        r#"[{"jsonrpc": "2.0", "method": "ping"},{"jsonrpc": "2.0", "method": "get_server_info"}]"#,
    )
    .await;
    let r = ws_call(
        &mut ws,
        json!({"jsonrpc": "2.0", "method": "ping", "id": "last"}),
    )
    .await;
    assert_eq!(r["id"], "last");
}

#[tokio::test]
async fn authenticate_and_params_over_websocket() {
    let server = Server::start(Opts::with_roles());
    let token = server.token("oper").await;
    let mut ws = ws(&server).await;

    let r = ws_call(&mut ws, json!({"jsonrpc": "2.0", "method": "authenticate", "params": {"auth_token": "not-a-jwt"}, "id": 1})).await;
    assert_eq!(r["error"]["code"], -32001);
    let r = ws_call(
        &mut ws,
        json!({"jsonrpc": "2.0", "method": "authenticate", "params": {"auth_token": 5}, "id": 2}),
    )
    .await;
    assert_eq!(r["error"]["code"], -32602, "{r}");
    let r = ws_call(
        &mut ws,
        json!({"jsonrpc": "2.0", "method": "authenticate", "params": {}, "id": 3}),
    )
    .await;
    assert_eq!(r["error"]["code"], -32602);

    let r = ws_call(&mut ws, json!({"jsonrpc": "2.0", "method": "authenticate", "params": {"auth_token": token}, "id": 4})).await;
    assert_eq!(r["result"]["authenticated"], true, "{r}");
    assert_eq!(r["result"]["role"], "operator");
    assert_eq!(r["result"]["permissions"], json!(["view", "control"]));
    assert!(r["result"]["session_id"].is_string());
    assert!(
        r["result"]["expires_at"]
            .as_str()
            .is_some_and(|s| s.ends_with('Z'))
    );

    let r = ws_call(
        &mut ws,
        json!({"jsonrpc": "2.0", "method": "get_server_info", "id": 5}),
    )
    .await;
    assert_eq!(r["result"]["name"], "Pinhole");
    // Unknown params are refused.
    let r = ws_call(
        &mut ws,
        json!({"jsonrpc": "2.0", "method": "get_server_info", "params": {"x": 1}, "id": 6}),
    )
    .await;
    assert_eq!(r["error"]["code"], -32602);
    // An operator may not read admin-only figures.
    let r = ws_call(
        &mut ws,
        json!({"jsonrpc": "2.0", "method": "get_metrics", "id": 7}),
    )
    .await;
    assert_eq!(r["error"]["code"], -32002);
    assert_eq!(r["error"]["data"]["required_role"], "admin");
    // An unknown camera is -32010 with the resource named.
    let r = ws_call(&mut ws, json!({"jsonrpc": "2.0", "method": "take_snapshot", "params": {"device": "camera9"}, "id": 8})).await;
    assert_eq!(r["error"]["code"], -32010, "{r}");
    assert_eq!(r["error"]["data"]["resource"], "camera");
}

#[tokio::test]
async fn http_post_transport() {
    let server = Server::start(Opts::with_roles());
    let token = server.token("admin").await;
    let (status, body) =
        post_raw(&server, r#"{"jsonrpc":"2.0","method":"ping","id":1}"#, None).await;
    assert_eq!(
        (status, body.as_str()),
        (200, r#"{"id":1,"jsonrpc":"2.0","result":"pong"}"#)
    );
    // Only notifications: 204, no body.
    let (status, body) = post_raw(&server, r#"[{"jsonrpc":"2.0","method":"ping"}]"#, None).await;
    assert_eq!((status, body.as_str()), (204, ""));
    let (_, body) = post_raw(&server, "not json", None).await;
    assert_eq!(
        serde_json::from_str::<Value>(&body).expect("json")["error"]["code"],
        -32700
    );
    // `authenticate` earlier in a batch authenticates the rest of it.
    let batch = json!([
        {"jsonrpc": "2.0", "method": "authenticate", "params": {"auth_token": token}, "id": 1},
        {"jsonrpc": "2.0", "method": "get_status", "id": 2}
    ]);
    let (_, body) = post_raw(&server, &batch.to_string(), None).await;
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v[1]["result"]["version"], env!("CARGO_PKG_VERSION"), "{v}");
    // Subscriptions need the WebSocket.
    let r = server
        .rpc(
            Some(&token),
            "subscribe_events",
            json!({"topics": ["system.*"]}),
        )
        .await;
    assert_eq!(r["error"]["code"], -32020);
    // An oversized body is refused and the server goes on.
    let big = format!(
        r#"{{"jsonrpc":"2.0","method":"ping","id":"{}"}}"#,
        "x".repeat(100_000)
    );
    let (status, _) = post_raw(&server, &big, None).await;
    assert_eq!(status, 413);
    let (status, _) = post_raw(&server, r#"{"jsonrpc":"2.0","method":"ping","id":1}"#, None).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn oversized_websocket_message_closes_only_that_connection() {
    let server = Server::start(Opts::with_roles());
    let mut big = ws(&server).await;
    let mut other = ws(&server).await;
    let msg = format!(
        r#"{{"jsonrpc":"2.0","method":"ping","id":"{}"}}"#,
        "x".repeat(200_000)
    );
    // The server may close while we are still writing: either way the message is refused.
    let _ = futures_util::SinkExt::send(&mut big, Message::Text(msg.into())).await;
    let outcome = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match big.next().await {
                None | Some(Err(_)) => return None,
                Some(Ok(Message::Close(frame))) => return Some(frame.map(|f| u16::from(f.code))),
                Some(Ok(Message::Text(t))) => panic!("an oversized message was answered: {t}"),
                Some(Ok(_)) => continue,
            }
        }
    })
    .await
    .expect("closed in time");
    if let Some(code) = outcome.flatten() {
        assert_eq!(code, 1009, "message too big");
    }
    let r = ws_call(
        &mut other,
        json!({"jsonrpc": "2.0", "method": "ping", "id": 1}),
    )
    .await;
    assert_eq!(r["result"], "pong");
}

#[tokio::test]
async fn subscriptions_deliver_matching_events() {
    let server = Server::start(Opts::with_roles());
    let view = server.token("view").await;
    let admin = server.token("admin").await;
    let mut watcher = ws(&server).await;
    let r = ws_call(&mut watcher, json!({"jsonrpc": "2.0", "method": "subscribe_events", "params": {"topics": ["system.*"]}, "id": 1})).await;
    assert_eq!(
        r["error"]["code"], -32001,
        "subscriptions need authentication"
    );
    ws_call(&mut watcher, json!({"jsonrpc": "2.0", "method": "authenticate", "params": {"auth_token": view}, "id": 2})).await;
    let r = ws_call(&mut watcher, json!({"jsonrpc": "2.0", "method": "subscribe_events", "params": {"topics": ["camera.bogus"]}, "id": 3})).await;
    assert_eq!(r["error"]["code"], -32602);
    let r = ws_call(&mut watcher, json!({"jsonrpc": "2.0", "method": "subscribe_events", "params": {"topics": ["system.*", "camera.connected"]}, "id": 4})).await;
    assert_eq!(r["result"]["subscribed"], true);
    let stats = ws_call(
        &mut watcher,
        json!({"jsonrpc": "2.0", "method": "get_subscription_stats", "id": 5}),
    )
    .await;
    assert_eq!(stats["result"]["global_stats"]["active_clients"], 1);
    assert_eq!(
        stats["result"]["client_topics"],
        json!(["camera.connected", "system.*"])
    );

    let r = server
        .rpc(
            Some(&admin),
            "update_settings",
            json!({"settings": {"device_name": "porch"}}),
        )
        .await;
    assert_eq!(r["result"]["settings"]["device_name"], "porch", "{r}");
    let n = ws_recv(&mut watcher).await;
    assert_eq!(n["method"], "system.settings_changed", "{n}");
    assert!(n.get("id").is_none(), "a notification has no id");
    assert_eq!(n["params"]["keys"], json!(["device_name"]));
    assert!(n["params"]["timestamp"].is_string());

    let r = ws_call(
        &mut watcher,
        json!({"jsonrpc": "2.0", "method": "unsubscribe_events", "id": 6}),
    )
    .await;
    assert_eq!(r["result"]["unsubscribed"], true);
    server
        .rpc(
            Some(&admin),
            "update_settings",
            json!({"settings": {"device_name": "porch2"}}),
        )
        .await;
    let r = ws_call(
        &mut watcher,
        json!({"jsonrpc": "2.0", "method": "ping", "id": 7}),
    )
    .await;
    assert_eq!(r["id"], 7, "no notification after unsubscribing: {r}");
}

#[tokio::test]
async fn expired_tokens_are_refused() {
    let server = Server::start(Opts {
        toml: "[auth]\ntoken_ttl_secs = 5\n".into(),
        ..Opts::with_roles()
    });
    let token = server.token("view").await;
    let mut ws = ws(&server).await;
    let r = ws_call(&mut ws, json!({"jsonrpc": "2.0", "method": "authenticate", "params": {"auth_token": token}, "id": 1})).await;
    assert_eq!(r["result"]["authenticated"], true);
    let r = ws_call(
        &mut ws,
        json!({"jsonrpc": "2.0", "method": "get_server_info", "id": 2}),
    )
    .await;
    assert!(r.get("result").is_some());
    tokio::time::sleep(Duration::from_secs(6)).await;
    // The socket's authentication ends with its token.
    let r = ws_call(
        &mut ws,
        json!({"jsonrpc": "2.0", "method": "get_server_info", "id": 3}),
    )
    .await;
    assert_eq!(r["error"]["code"], -32001, "{r}");
    let r = ws_call(&mut ws, json!({"jsonrpc": "2.0", "method": "authenticate", "params": {"auth_token": token}, "id": 4})).await;
    assert_eq!(r["error"]["code"], -32001);
    assert_eq!(r["error"]["data"]["details"], "token expired");
    let status = client()
        .get(server.url("/api/auth/me"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("me")
        .status();
    assert_eq!(status, 401);
}

#[tokio::test]
async fn password_change_revokes_open_sessions() {
    let server = Server::start(Opts::with_roles());
    let token = server.token("oper").await;
    let mut ws = ws(&server).await;
    ws_call(&mut ws, json!({"jsonrpc": "2.0", "method": "authenticate", "params": {"auth_token": token}, "id": 1})).await;
    let admin = server.token("admin").await;
    let r = server
        .rpc(
            Some(&admin),
            "update_user",
            json!({"username": "oper", "password": "another-password"}),
        )
        .await;
    assert_eq!(r["result"]["updated"], true, "{r}");
    let r = ws_call(
        &mut ws,
        json!({"jsonrpc": "2.0", "method": "get_server_info", "id": 2}),
    )
    .await;
    assert_eq!(r["error"]["code"], -32001, "{r}");
}

#[tokio::test]
async fn websocket_connections_are_capped() {
    let server = Server::start(Opts {
        toml: "[http]\nmax_websocket_connections = 2\n".into(),
        ..Default::default()
    });
    let mut a = ws(&server).await;
    let _b = ws(&server).await;
    // Wait (bounded) until both are counted, then a third is refused with 503.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let h = get_json(&server.url("/health/detailed")).await;
        if h["websocket_connections"] == 2 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{h}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    match tokio_tungstenite::connect_async(server.ws_url()).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status().as_u16(), 503),
        other => panic!("third connection must be refused: {other:?}"),
    }
    let r = ws_call(&mut a, json!({"jsonrpc": "2.0", "method": "ping", "id": 1})).await;
    assert_eq!(r["result"], "pong", "existing connections are unaffected");
}

/// A WebSocket to the server from the local address `127.0.0.<n>`, optionally with a bearer
/// token on the upgrade request; the HTTP status when the upgrade is refused.
async fn ws_from(server: &Server, n: u8, token: Option<&str>) -> Result<Ws, u16> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind(std::net::SocketAddr::from(([127, 0, 0, n], 0)))
        .expect("bind");
    let stream = socket.connect(server.addr).await.expect("connect");
    let mut req = server.ws_url().into_client_request().expect("request");
    if let Some(t) = token {
        req.headers_mut().insert(
            "authorization",
            format!("Bearer {t}").parse().expect("header"),
        );
    }
    match tokio_tungstenite::client_async(req, tokio_tungstenite::MaybeTlsStream::Plain(stream))
        .await
    {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => Err(r.status().as_u16()),
        Err(e) => panic!("upgrade: {e}"),
    }
}

/// The close code the server sends next (bounded wait).
async fn close_code(ws: &mut Ws, limit: Duration) -> Option<u16> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Ok(Some(Ok(Message::Close(frame)))) => return frame.map(|f| f.code.into()),
            Ok(Some(Ok(_))) => continue,
            Ok(Some(Err(_)) | None) => return None,
            Err(_) => panic!("no close frame within {limit:?}"),
        }
    }
}

#[tokio::test]
async fn strangers_cannot_hold_the_websocket_slots() {
    let server = Server::start(Opts {
        toml: "[http]\nmax_websocket_connections = 8\nmax_websocket_connections_per_address = 2\n\
               websocket_auth_timeout_secs = 2\n"
            .into(),
        ..Opts::with_roles()
    });
    let admin = server.token("admin").await;
    // Two per address; a third from the same address is refused.
    let mut strangers = Vec::new();
    for n in [2, 2] {
        strangers.push(ws_from(&server, n, None).await.expect("a slot"));
    }
    assert_eq!(ws_from(&server, 2, None).await.err(), Some(429));
    for n in [3, 3, 4, 4, 5] {
        strangers.push(ws_from(&server, n, None).await.expect("a slot"));
    }
    // Seven unauthenticated connections fill what strangers may take (8 - 8/8); the last slot
    // is the admin's.
    assert_eq!(ws_from(&server, 6, None).await.err(), Some(503));
    let mut admin_ws = ws_from(&server, 6, Some(&admin))
        .await
        .expect("the admin's slot");
    // Strangers that do not authenticate are closed with 1008; the admin's connection stays.
    for ws in &mut strangers {
        assert_eq!(close_code(ws, Duration::from_secs(20)).await, Some(1008));
    }
    let r = ws_call(
        &mut admin_ws,
        json!({"jsonrpc": "2.0", "method": "get_server_info", "id": 1}),
    )
    .await;
    assert!(r["result"].is_object(), "{r}");
    // Their slots are free again, and one that authenticates in time keeps its connection.
    let mut late = ws_from(&server, 2, None).await.expect("a slot again");
    let r = ws_call(
        &mut late,
        json!({"jsonrpc": "2.0", "method": "authenticate", "params": {"auth_token": admin}, "id": 1}),
    )
    .await;
    assert_eq!(r["result"]["authenticated"], true, "{r}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let r = ws_call(
        &mut late,
        json!({"jsonrpc": "2.0", "method": "ping", "id": 2}),
    )
    .await;
    assert_eq!(r["result"], "pong", "{r}");
}

#[tokio::test]
async fn batches_are_capped_and_slow_headers_are_cut() {
    let server = Server::start(Opts {
        toml: "[http]\nheader_read_timeout_secs = 1\n".into(),
        ..Default::default()
    });
    let batch = |n: usize| {
        Value::Array(
            (0..n)
                .map(|i| json!({"jsonrpc": "2.0", "method": "ping", "id": i}))
                .collect(),
        )
        .to_string()
    };
    let (_, body) = post_raw(&server, &batch(50), None).await;
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v.as_array().map(Vec::len), Some(50));
    let (_, body) = post_raw(&server, &batch(51), None).await;
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["error"]["code"], -32600, "{v}");
    assert!(v["error"]["data"].to_string().contains("at most 50"), "{v}");

    // A client that never finishes its headers is disconnected (slowloris).
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut slow = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    slow.write_all(b"GET /health HTTP/1.1\r\nHost: pinhole\r\nX-Slow: 1")
        .await
        .expect("write");
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), slow.read_to_end(&mut answer))
        .await
        .expect("the server must close the connection");
    // Closed, at most with a 408 (a reset is a close too).
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        read.is_err() || answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{read:?} {answer}"
    );
    // And the server still answers everyone else.
    let h = get_json(&server.url("/health")).await;
    assert!(h.is_object(), "{h}");
}
