//! Test harness: starts the real `pinhole` binary on an ephemeral port with a temporary state
//! directory, and talks to it over real HTTP and WebSocket.
#![allow(dead_code)]

pub mod ipcam;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

pub const BIN: &str = env!("CARGO_BIN_EXE_pinhole");
pub const PASSWORD: &str = "test-password-1";

pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    pub https: Option<SocketAddr>,
    /// The RTSP server, when the media engine runs.
    pub rtsp: Option<SocketAddr>,
    pub dir: tempfile::TempDir,
    pub stderr: Arc<Mutex<Vec<String>>>,
    pub stdout: Arc<Mutex<Vec<String>>>,
}

/// Prepares a state directory before the server starts.
pub type Prepare = Box<dyn FnOnce(&Path)>;

#[derive(Default)]
pub struct Opts {
    /// Extra TOML appended to the generated config file.
    pub toml: String,
    pub env: Vec<(String, String)>,
    /// Users to create with `pinhole user add` before starting: (name, role).
    pub users: Vec<(&'static str, &'static str)>,
    pub demo: bool,
    /// Run under `sh` so that WATCHDOG_PID names the server's own pid, as systemd sets it.
    pub watchdog_pid: bool,
    /// Prepares the state directory before anything else.
    pub prepare: Option<Prepare>,
    /// RTSP address (default 127.0.0.1:0).
    pub rtsp_listen: Option<String>,
    /// HTTP address (default 127.0.0.1:0).
    pub listen: Option<String>,
    /// Run inside this network namespace (see [`NetNs`]), with a network stack of its own.
    pub netns: Option<String>,
    /// Start in this directory (from [`Server::kill_keep_dir`]) instead of a new one; users
    /// are not added again.
    pub reuse_dir: Option<tempfile::TempDir>,
}

impl Opts {
    pub fn with_roles() -> Self {
        Opts {
            users: vec![("admin", "admin"), ("oper", "operator"), ("view", "viewer")],
            ..Default::default()
        }
    }
}

pub fn state_dir(dir: &Path) -> PathBuf {
    dir.join("state")
}

/// Runs `pinhole user ARGS --state-dir STATE` with `stdin` as its input.
pub fn user_cmd(state: &Path, args: &[&str], stdin: &str) -> std::process::Output {
    let mut child = Command::new(BIN)
        .arg("user")
        .args(args)
        .arg("--state-dir")
        .arg(state)
        .env_remove("PINHOLE_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn pinhole user");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("wait")
}

/// Runs `pinhole user add` against a state directory.
pub fn add_user(state: &Path, name: &str, role: &str) {
    let out = user_cmd(
        state,
        &["add", name, "--role", role, "--password-stdin"],
        &format!("{PASSWORD}\n"),
    );
    assert!(
        out.status.success(),
        "user add failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn pump(stream: impl std::io::Read + Send + 'static, into: Arc<Mutex<Vec<String>>>) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if let Ok(mut v) = into.lock() {
                v.push(line);
            }
        }
    });
}

impl Server {
    pub fn start(opts: Opts) -> Server {
        let reused = opts.reuse_dir.is_some();
        let dir = opts
            .reuse_dir
            .unwrap_or_else(|| tempfile::tempdir().expect("tempdir"));
        let state = state_dir(dir.path());
        std::fs::create_dir_all(&state).expect("state dir");
        if let Some(prepare) = opts.prepare {
            prepare(&state);
        }
        if !reused {
            for (name, role) in &opts.users {
                add_user(&state, name, role);
            }
        }
        let config = dir.path().join("pinhole.toml");
        std::fs::write(
            &config,
            format!(
                "[general]\nstate_dir = \"{}\"\n[log]\nlevel = \"warn\"\n{}",
                state.display(),
                opts.toml
            ),
        )
        .expect("config");
        let mut cmd = if opts.watchdog_pid {
            let mut c = Command::new("sh");
            c.args([
                "-c",
                "WATCHDOG_PID=$$; export WATCHDOG_PID; exec \"$0\" \"$@\"",
                BIN,
            ]);
            c
        } else if let Some(ns) = &opts.netns {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, BIN]);
            c
        } else {
            Command::new(BIN)
        };
        cmd.arg("run").arg("--config").arg(&config);
        let rtsp_listen = opts.rtsp_listen.as_deref().unwrap_or("127.0.0.1:0");
        let listen = opts.listen.as_deref().unwrap_or("127.0.0.1:0");
        cmd.args(["--listen", listen, "--rtsp-listen", rtsp_listen]);
        if opts.demo {
            cmd.arg("--demo").arg("--state-dir").arg(&state);
        }
        cmd.current_dir(dir.path())
            .env_remove("NOTIFY_SOCKET")
            .env_remove("PINHOLE_ADMIN_PASSWORD")
            // Small, cheap test pictures: tests run many appliances at once on 2 cores.
            .envs([
                ("PINHOLE_MEDIA__DEFAULT_WIDTH", "320"),
                ("PINHOLE_MEDIA__DEFAULT_HEIGHT", "240"),
                ("PINHOLE_MEDIA__DEFAULT_FPS", "10"),
                ("PINHOLE_MEDIA__DEFAULT_BITRATE_KBPS", "300"),
                ("PINHOLE_MEDIA__PREVIEW_WIDTH", "160"),
            ])
            .envs(opts.env.iter().map(|(a, b)| (a.as_str(), b.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn pinhole run");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let stdout = Arc::new(Mutex::new(Vec::new()));
        pump(child.stderr.take().expect("stderr"), stderr.clone());
        pump(child.stdout.take().expect("stdout"), stdout.clone());
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let line = stderr.lock().ok().and_then(|l| {
                l.iter()
                    .find(|l| l.contains(" listening on http://"))
                    .cloned()
            });
            if let Some(line) = line {
                let after = line
                    .split("listening on http://")
                    .nth(1)
                    .unwrap_or_default();
                let mut parts = after.split(", ");
                let addr = parts
                    .next()
                    .and_then(|a| a.trim().parse().ok())
                    .expect("http address");
                let (mut https, mut rtsp) = (None, None);
                for p in parts {
                    if let Some(a) = p.strip_prefix("https://") {
                        https = a.trim().parse().ok();
                    } else if let Some(a) = p.strip_prefix("rtsp://") {
                        rtsp = a.trim().parse().ok();
                    }
                }
                return Server {
                    child,
                    addr,
                    https,
                    rtsp,
                    dir,
                    stderr,
                    stdout,
                };
            }
            if let Ok(Some(status)) = child.try_wait() {
                std::thread::sleep(Duration::from_millis(100));
                panic!(
                    "pinhole exited early ({status}): {}",
                    stderr.lock().map(|l| l.join("\n")).unwrap_or_default()
                );
            }
            assert!(Instant::now() < deadline, "pinhole did not start in time");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    pub fn state(&self) -> PathBuf {
        state_dir(self.dir.path())
    }

    pub fn stderr_text(&self) -> String {
        self.stderr.lock().map(|l| l.join("\n")).unwrap_or_default()
    }

    pub async fn token(&self, user: &str) -> String {
        let r: Value = client()
            .post(self.url("/api/auth/login"))
            .json(&json!({"username": user, "password": PASSWORD}))
            .send()
            .await
            .expect("login")
            .json()
            .await
            .expect("login json");
        r["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no token for {user}: {r}"))
            .to_string()
    }

    /// Tokens for the users of [`Opts::with_roles`], by role name, with no token first.
    pub async fn role_tokens(&self) -> [(&'static str, Option<String>); 4] {
        [
            ("none", None),
            ("viewer", Some(self.token("view").await)),
            ("operator", Some(self.token("oper").await)),
            ("admin", Some(self.token("admin").await)),
        ]
    }

    /// One JSON-RPC call over HTTP POST.
    pub async fn rpc(&self, token: Option<&str>, method: &str, params: Value) -> Value {
        let mut req = client()
            .post(self.url("/rpc"))
            .json(&json!({"jsonrpc": "2.0", "method": method, "params": params, "id": 1}));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send()
            .await
            .expect("rpc")
            .json()
            .await
            .expect("rpc json")
    }

    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, sig).expect("kill");
    }

    /// SIGKILLs the server (a power cut, as far as the process can tell) and returns its
    /// directory for a restart.
    pub fn kill_keep_dir(mut self) -> tempfile::TempDir {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::mem::replace(&mut self.dir, tempfile::tempdir().expect("tempdir"))
    }

    /// Sends SIGTERM and waits (bounded) for the exit.
    pub fn stop(&mut self) -> ExitStatus {
        self.signal(nix::sys::signal::Signal::SIGTERM);
        wait_exit(&mut self.child, Duration::from_secs(30))
    }
}

pub fn wait_exit(child: &mut Child, limit: Duration) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(Some(s)) = child.try_wait() {
            return s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("process did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// GET a JSON document without credentials.
/// The Prometheus exposition text of a server.
pub async fn metrics_text(server: &Server) -> String {
    client()
        .get(server.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text")
}

pub async fn get_json(url: &str) -> Value {
    client()
        .get(url)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json body")
}

/// GET `path` with a bearer token: a JPEG (status 200), decoded.
pub async fn get_jpeg_as(server: &Server, path: &str, token: &str) -> image::DynamicImage {
    let r = client()
        .get(server.url(path))
        .bearer_auth(token)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 200, "{path}: {:?}", r.text().await);
    let body = r.bytes().await.expect("body");
    image::load_from_memory_with_format(&body, image::ImageFormat::Jpeg).expect("a JPEG")
}

/// GET `path` with a bearer token; the JSON body.
pub async fn get_json_as(server: &Server, path: &str, token: &str) -> Value {
    client()
        .get(server.url(path))
        .bearer_auth(token)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json body")
}

/// The status of GET /api/auth/me with a bearer token: is the token accepted?
pub async fn me_status(server: &Server, token: &str) -> u16 {
    client()
        .get(server.url("/api/auth/me"))
        .bearer_auth(token)
        .send()
        .await
        .expect("me")
        .status()
        .as_u16()
}

/// POST /api/auth/login.
pub async fn login(server: &Server, user: &str, password: &str) -> reqwest::Response {
    client()
        .post(server.url("/api/auth/login"))
        .json(&json!({"username": user, "password": password}))
        .send()
        .await
        .expect("login")
}

pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub async fn ws(server: &Server) -> Ws {
    let (ws, _) = tokio_tungstenite::connect_async(server.ws_url())
        .await
        .expect("ws connect");
    ws
}

pub async fn ws_send(ws: &mut Ws, text: &str) {
    ws.send(Message::Text(text.into())).await.expect("ws send");
}

/// The next text message as JSON (bounded wait).
pub async fn ws_recv(ws: &mut Ws) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(15), ws.next())
            .await
            .expect("ws reply in time")
            .expect("ws open")
            .expect("ws message");
        match msg {
            Message::Text(t) => return serde_json::from_str(&t).expect("reply is JSON"),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected message {other:?}"),
        }
    }
}

pub async fn ws_call(ws: &mut Ws, req: Value) -> Value {
    ws_send(ws, &req.to_string()).await;
    ws_recv(ws).await
}

/// `promtool check metrics` must accept the exposition text.
pub fn promtool_check(text: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool must be installed (package prometheus)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("promtool");
    assert!(
        out.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Polls `get_camera_status` until the camera reports `want` (CONNECTED...).
pub async fn wait_status(
    server: &Server,
    token: &str,
    device: &str,
    want: &str,
    limit: Duration,
) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        let r = server
            .rpc(Some(token), "get_camera_status", json!({"device": device}))
            .await;
        if r["result"]["status"] == want {
            return r["result"].clone();
        }
        assert!(
            Instant::now() < deadline,
            "{device} did not become {want} in {limit:?}: {r}\n{}",
            server.stderr_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A free TCP port on 127.0.0.1 for a process that binds it itself.
///
/// Taken from below the kernel's ephemeral range: a port from `bind(:0)` can be handed out again
/// as the source port of any `connect()` (an RTSP client, a reqwest request) before the child
/// binds it, which made a test fail once in CI with "cannot listen". Ports below the range are
/// only ever taken explicitly; each test process walks its own stretch of them (seeded by its
/// pid), and each candidate is checked free before it is returned.
/// Calls `method` with `params` until its result satisfies `done` (within 30 s); returns that
/// result. `what` says what was awaited when it never comes.
pub async fn rpc_until(
    server: &Server,
    token: &str,
    method: &str,
    params: Value,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = server.rpc(Some(token), method, params.clone()).await;
        if done(&r["result"]) {
            return r["result"].clone();
        }
        assert!(Instant::now() < deadline, "{what}: {r}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u32>().ok())
        .unwrap_or(32768);
    let (low, high) = (10_000u32, ephemeral_low.clamp(12_000, 65_535));
    let span = high - low;
    let seed = std::process::id().wrapping_mul(7919) % span;
    for _ in 0..span {
        let port = low + (seed + NEXT.fetch_add(1, Ordering::Relaxed)) % span;
        let port = u16::try_from(port).expect("port below 65536");
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free TCP port between {low} and {high} on 127.0.0.1");
}

/// A child process killed (and reaped) when the guard goes.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs one of the browser scripts in `tests/web/` (playwright-core driving Debian's headless
/// Chromium) with `args`, and prints what it printed; panics with that output and `context`
/// (e.g. the appliance's log) when it fails.
pub fn run_browser_script(
    script: &str,
    args: &[String],
    env: &[(&str, String)],
    context: impl FnOnce() -> String,
) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    assert!(
        root.join("tests/web/node_modules/playwright-core").is_dir(),
        "run `npm ci --prefix tests/web` (scripts/bootstrap does)"
    );
    assert!(
        Path::new("/usr/bin/chromium").exists(),
        "install Debian's chromium (scripts/bootstrap does)"
    );
    let out = Command::new("node")
        .arg(root.join("tests/web").join(script))
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("run node");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}");
    assert!(
        out.status.success(),
        "the browser script {script} failed:\n{text}\n--- context ---\n{}",
        context()
    );
}

/// Where the browser tests write their screenshots: `target/web-screenshots/`.
pub fn screenshot_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"))
        .join("web-screenshots")
}

/// The assets directory `scripts/bootstrap` fills (detection models, interop peers).
pub fn assets_dir() -> PathBuf {
    std::env::var_os("PINHOLE_ASSETS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/pinhole-assets")
        })
}

/// The Python of the interop peers' environment (`scripts/fetch-interop-peers`).
pub fn interop_python() -> PathBuf {
    venv_python("interop-venv")
}

/// The Python of the foreign ONVIF client's environment (`scripts/fetch-interop-peers`).
pub fn onvif_client_python() -> PathBuf {
    venv_python("onvif-client-venv")
}

/// The Python of the foreign ONVIF device's environment (`scripts/fetch-interop-peers`).
pub fn onvif_device_python() -> PathBuf {
    venv_python("onvif-venv")
}

fn venv_python(venv: &str) -> PathBuf {
    let p = assets_dir().join(venv).join("bin/python");
    assert!(
        p.exists(),
        "run scripts/fetch-interop-peers (scripts/bootstrap does)"
    );
    p
}

/// A network namespace joined to this one by a veth pair: a foreign peer runs there on a
/// network stack of its own (its own ports, its own multicast). Removed on drop.
pub struct NetNs {
    pub name: String,
    /// This side's address on the pair.
    pub host_ip: std::net::Ipv4Addr,
    /// The namespace's address.
    pub ns_ip: std::net::Ipv4Addr,
    host_if: String,
    /// The namespace's end of the pair.
    pub ns_if: String,
}

impl NetNs {
    pub fn create() -> NetNs {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let pid = std::process::id();
        let tag = format!("{}{n}", pid % 100_000);
        let (a, b) = ((pid % 200) as u8 + 20, (n % 250) as u8);
        let ns = NetNs {
            name: format!("pinhole-t{tag}"),
            host_ip: [10, a, b, 1].into(),
            ns_ip: [10, a, b, 2].into(),
            host_if: format!("ph{tag}h"),
            ns_if: format!("ph{tag}n"),
        };
        let ns_if = ns.ns_if.clone();
        let sh = |args: &[&str]| {
            let out = Command::new("ip").args(args).output().expect("ip");
            assert!(
                out.status.success(),
                "ip {args:?}: {} (network namespaces need root and iproute2)",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        sh(&["netns", "add", &ns.name]);
        sh(&[
            "link",
            "add",
            &ns.host_if,
            "type",
            "veth",
            "peer",
            "name",
            &ns_if,
            "netns",
            &ns.name,
        ]);
        sh(&[
            "addr",
            "add",
            &format!("{}/24", ns.host_ip),
            "dev",
            &ns.host_if,
        ]);
        sh(&["link", "set", &ns.host_if, "up"]);
        sh(&[
            "-n",
            &ns.name,
            "addr",
            "add",
            &format!("{}/24", ns.ns_ip),
            "dev",
            &ns_if,
        ]);
        sh(&["-n", &ns.name, "link", "set", &ns_if, "up"]);
        sh(&["-n", &ns.name, "link", "set", "lo", "up"]);
        ns
    }

    /// Joins this namespace to `other` by a veth pair of their own on 192.168.77.0/24, away
    /// from the host: (this side's address, the other side's). Removed with the namespaces.
    pub fn link_to(&self, other: &NetNs) -> (std::net::Ipv4Addr, std::net::Ipv4Addr) {
        let (a, b) = (format!("{}x", self.host_if), format!("{}y", other.host_if));
        let (ip_a, ip_b) = ([192, 168, 77, 1].into(), [192, 168, 77, 2].into());
        let sh = |args: &[&str]| {
            let out = Command::new("ip").args(args).output().expect("ip");
            assert!(
                out.status.success(),
                "ip {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        sh(&[
            "link",
            "add",
            &a,
            "netns",
            &self.name,
            "type",
            "veth",
            "peer",
            "name",
            &b,
            "netns",
            &other.name,
        ]);
        for (ns, dev, ip) in [(&self.name, &a, ip_a), (&other.name, &b, ip_b)] {
            sh(&["-n", ns, "addr", "add", &format!("{ip}/24"), "dev", dev]);
            sh(&["-n", ns, "link", "set", dev, "up"]);
        }
        (ip_a, ip_b)
    }

    /// A command that runs `program` inside the namespace.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).arg(program);
        c
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_if])
            .output();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// What a plain RTP reader saw of one RTSP stream: the server's own packets, judged without a
/// client's demuxer in between.
#[derive(Debug, Default)]
pub struct RtpTrace {
    /// Frames (marker bits) received.
    pub frames: usize,
    /// Sequence number jumps (previous, next).
    pub seq_gaps: Vec<(u16, u16)>,
    /// A new frame whose RTP timestamp is not after the previous frame's (previous, next).
    pub ts_not_increasing: Vec<(u32, u32)>,
    /// Packets of one frame carrying different timestamps.
    pub ts_changes_within_frame: usize,
    /// The frames (counted from 0) that hold an H.264 IDR slice.
    pub idr_frames: Vec<usize>,
}

/// Plays `rtsp://addr/path` over TCP (interleaved, Basic authentication) for `watch` and
/// checks every RTP packet's sequence number and timestamp.
pub async fn rtp_trace(
    addr: SocketAddr,
    path: &str,
    user: &str,
    password: &str,
    watch: Duration,
) -> RtpTrace {
    use base64::Engine;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr)
        .await
        .expect("rtsp connect");
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let url = format!("rtsp://{addr}/{path}");
    let mut buf: Vec<u8> = Vec::new();
    let mut session = String::new();
    for (cseq, (method, target, extra)) in [
        (
            "DESCRIBE",
            url.clone(),
            "Accept: application/sdp\r\n".to_string(),
        ),
        (
            "SETUP",
            format!("{url}/stream=0"),
            "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n".to_string(),
        ),
        ("PLAY", url.clone(), "Range: npt=0-\r\n".to_string()),
    ]
    .into_iter()
    .enumerate()
    {
        let session_line = if session.is_empty() {
            String::new()
        } else {
            format!("Session: {session}\r\n")
        };
        let req = format!(
            "{method} {target} RTSP/1.0\r\nCSeq: {}\r\nAuthorization: Basic {auth}\r\n{session_line}{extra}\r\n",
            cseq + 1
        );
        s.write_all(req.as_bytes()).await.expect("rtsp send");
        let head = loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).to_string();
                buf.drain(..end + 4);
                break head;
            }
            let mut chunk = [0u8; 8192];
            let n = s.read(&mut chunk).await.expect("rtsp read");
            assert!(n > 0, "the RTSP server closed during {method}");
            buf.extend_from_slice(&chunk[..n]);
        };
        assert!(head.starts_with("RTSP/1.0 200"), "{method}: {head}");
        let header = |name: &str| {
            head.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| v.trim().to_string())
            })
        };
        let body: usize = header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        while buf.len() < body {
            let mut chunk = [0u8; 8192];
            let n = s.read(&mut chunk).await.expect("rtsp read");
            assert!(n > 0, "the RTSP server closed during {method}");
            buf.extend_from_slice(&chunk[..n]);
        }
        buf.drain(..body);
        if let Some(v) = header("session") {
            session = v.split(';').next().unwrap_or_default().to_string();
        }
    }
    let mut trace = RtpTrace::default();
    let (mut last_seq, mut last_ts, mut frame_ended) = (None::<u16>, None::<u32>, true);
    let deadline = tokio::time::Instant::now() + watch;
    loop {
        // One interleaved frame: '$', channel, length, then the RTP (or RTCP) packet.
        while buf.len() < 4 || buf.len() < 4 + u16::from_be_bytes([buf[2], buf[3]]) as usize {
            let mut chunk = [0u8; 65536];
            match tokio::time::timeout_at(deadline, s.read(&mut chunk)).await {
                Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
                _ => return trace,
            }
        }
        assert_eq!(buf[0], b'$', "not an interleaved frame: {:?}", &buf[..4]);
        let len = u16::from_be_bytes([buf[2], buf[3]]) as usize;
        let (channel, pkt): (u8, Vec<u8>) = (buf[1], buf[4..4 + len].to_vec());
        buf.drain(..4 + len);
        if channel != 0 || pkt.len() < 12 {
            continue;
        }
        let seq = u16::from_be_bytes([pkt[2], pkt[3]]);
        let ts = u32::from_be_bytes([pkt[4], pkt[5], pkt[6], pkt[7]]);
        if let Some(prev) = last_seq
            && seq != prev.wrapping_add(1)
        {
            trace.seq_gaps.push((prev, seq));
        }
        if let Some(prev) = last_ts {
            if frame_ended && (ts.wrapping_sub(prev) as i32) <= 0 {
                trace.ts_not_increasing.push((prev, ts));
            }
            if !frame_ended && ts != prev {
                trace.ts_changes_within_frame += 1;
            }
        }
        // An IDR slice: a single NAL unit of type 5, or the first fragment (FU-A) of one.
        let nal = pkt.get(12).map(|b| b & 0x1f);
        let idr = nal == Some(5)
            || (nal == Some(28) && pkt.get(13).is_some_and(|b| b & 0x80 != 0 && b & 0x1f == 5));
        if idr && trace.idr_frames.last() != Some(&trace.frames) {
            trace.idr_frames.push(trace.frames);
        }
        frame_ended = pkt[1] & 0x80 != 0;
        if frame_ended {
            trace.frames += 1;
        }
        (last_seq, last_ts) = (Some(seq), Some(ts));
    }
}

/// The mean volume (dB) of the first audio stream of `input`, as ffmpeg's volumedetect measures
/// it: about -91 dB for silence; `None` when the stream has no samples. `read` goes before the
/// input (`-rw_timeout` for a network one), `limit` after it (`-t 2` for a live one).
pub fn mean_volume_db(input: &str, read: &[&str], limit: &[&str]) -> Option<f64> {
    let out = Command::new("timeout")
        .args(["60", "ffmpeg", "-v", "info", "-nostats"])
        .args(read)
        .args(["-i", input])
        .args(limit)
        .args(["-map", "0:a:0", "-af", "volumedetect", "-f", "null", "-"])
        .output()
        .expect("ffmpeg");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{input}: {err}");
    if err.contains("n_samples: 0") {
        return None;
    }
    let db = err
        .lines()
        .find_map(|l| l.split("mean_volume:").nth(1))
        .and_then(|v| v.trim().trim_end_matches("dB").trim().parse().ok())
        .unwrap_or_else(|| {
            let tail: Vec<&str> = err.lines().rev().take(15).collect();
            panic!("no volume in {input}: {tail:?}")
        });
    Some(db)
}

/// The codec of each stream of `input` (of the kind `select`, `v` or `a`, when given), as
/// ffprobe started by `ffprobe` sees them: `Command::new("ffprobe")`, or ffprobe under
/// `timeout` or in a network namespace.
pub fn stream_codecs(mut ffprobe: Command, input: &str, select: Option<&str>) -> Vec<String> {
    ffprobe.args(["-v", "error", "-rtsp_transport", "tcp"]);
    if let Some(kind) = select {
        ffprobe.args(["-select_streams", kind]);
    }
    let out = ffprobe
        .args([
            "-show_entries",
            "stream=codec_name",
            "-of",
            "csv=p=0",
            input,
        ])
        .output()
        .expect("ffprobe");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "ffprobe {input}: {err}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}
