//! `just soak`: the appliance under everything at once, for hours (not in CI).
//!
//! Half the cameras are test sources encoded by the appliance, half are RTSP cameras relayed
//! from a second appliance ("upstream") whose mounts are taken down in turn (`stop_streaming`
//! there for 20 s): camera outages. Meanwhile ffmpeg RTSP clients join and leave, a WebSocket
//! client and a REST client poll the API (reconnecting and logging in again now and then),
//! and recordings go to a small file system (a tmpfs when run as root) so retention deletes
//! as the recorder writes, at the free-space floor. Every minute the appliance's RSS, open file
//! descriptors and CPU are sampled; at the end it is stopped with SIGTERM and every segment left
//! is checked (file present, decodes) and the test cameras' recordings for gaps.
//!
//! `cargo bench --bench soak -- --minutes 120 --cameras 16`

mod support;

use serde_json::{Value, json};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use support::{BIN, PASSWORD, USER, arg, ffmpeg_rtsp_client, free_port, start_with};

/// Segments of this length, so retention has many to choose from.
const SEGMENT_SECS: u32 = 30;
/// Size of the recordings file system and the free-space floor kept on it.
const DISK_MB: u64 = 400;
const FLOOR_MB: u64 = 100;
/// Outages: one relayed camera every this often, down for OUTAGE.
const OUTAGE_EVERY: Duration = Duration::from_secs(150);
const OUTAGE: Duration = Duration::from_secs(20);
/// Samples taken in the first minutes (start-up, caches filling) are not in the growth figure.
const WARM_UP: Duration = Duration::from_secs(15 * 60);

fn test_camera(id: &str, recording: &str) -> String {
    format!(
        "[[cameras]]\nid = \"{id}\"\nsource = \"test\"\nwidth = 320\nheight = 240\nfps = 10\nbitrate_kbps = 300\nkeyframe_ms = 2000\nrecording = \"{recording}\"\n"
    )
}

fn relayed_camera(id: &str, upstream: &str) -> String {
    format!(
        "[[cameras]]\nid = \"{id}\"\nsource = \"rtsp\"\nurl = \"rtsp://{upstream}/{id}\"\nusername = \"{USER}\"\npassword = \"{PASSWORD}\"\nrecording = \"continuous\"\n"
    )
}

/// A tmpfs of `DISK_MB` at `dir` when we may mount one; otherwise the directory as it is.
struct SmallDisk {
    dir: std::path::PathBuf,
    mounted: bool,
}

impl SmallDisk {
    fn new(dir: &Path) -> SmallDisk {
        let _ = std::fs::create_dir_all(dir);
        let mounted = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={DISK_MB}m"),
                "pinhole-soak",
            ])
            .arg(dir)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        SmallDisk {
            dir: dir.to_path_buf(),
            mounted,
        }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        if self.mounted {
            let _ = Command::new("umount").arg(&self.dir).status();
        }
    }
}

/// What the load generators counted.
#[derive(Default)]
struct Tally {
    rtsp_clients_ok: AtomicU64,
    rtsp_clients_failed: AtomicU64,
    api_calls_ok: AtomicU64,
    api_calls_failed: AtomicU64,
    outages: AtomicU64,
    /// What failed, by call, for the report.
    failures: std::sync::Mutex<std::collections::BTreeMap<String, u64>>,
}

impl Tally {
    fn failed(&self, what: &str) {
        self.api_calls_failed.fetch_add(1, Ordering::Relaxed);
        let mut f = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        *f.entry(what.to_string()).or_default() += 1;
    }
}

struct Sample {
    at: Duration,
    rss_mb: f64,
    fds: usize,
    cpu_secs: f64,
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Least-squares slope of RSS against time, in MB per hour.
fn growth_per_hour(samples: &[Sample]) -> Option<f64> {
    let pts: Vec<(f64, f64)> = samples
        .iter()
        .filter(|s| s.at >= WARM_UP)
        .map(|s| (s.at.as_secs_f64() / 3600.0, s.rss_mb))
        .collect();
    if pts.len() < 3 {
        return None;
    }
    let n = pts.len() as f64;
    let (mx, my) = (
        pts.iter().map(|p| p.0).sum::<f64>() / n,
        pts.iter().map(|p| p.1).sum::<f64>() / n,
    );
    let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let sxx: f64 = pts.iter().map(|p| (p.0 - mx).powi(2)).sum();
    (sxx > 0.0).then(|| sxy / sxx)
}

async fn login(c: &reqwest::Client, base: &str) -> Option<String> {
    let v: Value = c
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"username": USER, "password": PASSWORD}))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    v["access_token"].as_str().map(str::to_string)
}

async fn wait_login(c: &reqwest::Client, base: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(t) = login(c, base).await {
            return t;
        }
        assert!(
            Instant::now() < deadline,
            "the appliance at {base} never answered"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn rpc(c: &reqwest::Client, base: &str, token: &str, method: &str, params: Value) -> bool {
    let r = c
        .post(format!("{base}/rpc"))
        .bearer_auth(token)
        .json(&json!({"jsonrpc": "2.0", "method": method, "params": params, "id": 1}))
        .send()
        .await;
    match r {
        Ok(r) => r
            .json::<Value>()
            .await
            .is_ok_and(|v| v.get("result").is_some()),
        Err(_) => false,
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// One call over the WebSocket; true when it got a result. Notifications arriving in between
/// are skipped: the reply is the message with our id.
async fn ws_call(ws: &mut Ws, id: usize, method: &str, params: Value) -> bool {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let req = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
    if ws
        .send(Message::Text(req.to_string().into()))
        .await
        .is_err()
    {
        return false;
    }
    loop {
        match tokio::time::timeout(Duration::from_secs(15), ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                let v: Value = serde_json::from_str(&t).unwrap_or(Value::Null);
                if v["id"] == json!(id) {
                    return v.get("result").is_some();
                }
            }
            Ok(Some(Ok(_))) => continue,
            _ => return false,
        }
    }
}

/// A WebSocket session: authenticate, subscribe, then calls until `calls` have been made.
async fn ws_session(ws_url: &str, token: &str, cameras: &[String], calls: usize, tally: &Tally) {
    let Ok((mut ws, _)) = tokio_tungstenite::connect_async(ws_url).await else {
        tally.failed("WebSocket connect");
        return;
    };
    let steps = [
        ("authenticate", json!({"auth_token": token})),
        (
            "subscribe_events",
            json!({"topics": ["camera.*", "recording.*", "system.*"]}),
        ),
    ];
    for (i, (m, p)) in steps.into_iter().enumerate() {
        if ws_call(&mut ws, i, m, p).await {
            tally.api_calls_ok.fetch_add(1, Ordering::Relaxed);
        } else {
            tally.failed(m);
        }
    }
    for i in 0..calls {
        let (m, p) = match i % 3 {
            0 => ("get_camera_list", json!({})),
            1 => (
                "get_camera_status",
                json!({"device": cameras[i % cameras.len()]}),
            ),
            _ => ("list_recordings", json!({"limit": 20})),
        };
        if ws_call(&mut ws, i + 10, m, p).await {
            tally.api_calls_ok.fetch_add(1, Ordering::Relaxed);
        } else {
            tally.failed(m);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let _ = ws.close(None).await;
}

/// API load until `stop`: WebSocket sessions of 100 calls, REST reads, a login a minute.
async fn api_load(base: String, cameras: Vec<String>, tally: Arc<Tally>, stop: Arc<AtomicBool>) {
    let c = reqwest::Client::new();
    let mut token = wait_login(&c, &base).await;
    let ws_url = format!("{}/ws", base.replacen("http", "ws", 1));
    let mut last_login = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        let rest = async {
            for path in [
                "/api/cameras",
                "/api/recordings?limit=50",
                "/health/detailed",
                "/metrics",
            ] {
                let r = c
                    .get(format!("{base}{path}"))
                    .bearer_auth(&token)
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status().is_success() => {
                        tally.api_calls_ok.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(r) => tally.failed(&format!("GET {path}: {}", r.status())),
                    Err(_) => tally.failed(&format!("GET {path}")),
                }
            }
        };
        tokio::join!(rest, ws_session(&ws_url, &token, &cameras, 100, &tally));
        if last_login.elapsed() > Duration::from_secs(60) {
            if let Some(t) = login(&c, &base).await {
                token = t;
            }
            last_login = Instant::now();
        }
    }
}

/// Takes one relayed camera's mount down on the upstream appliance at a time, until `stop`.
async fn outages(upstream: String, relayed: Vec<String>, tally: Arc<Tally>, stop: Arc<AtomicBool>) {
    let c = reqwest::Client::new();
    let token = wait_login(&c, &upstream).await;
    let mut i = 0;
    'outer: while !stop.load(Ordering::Relaxed) {
        let until = Instant::now() + OUTAGE_EVERY;
        while Instant::now() < until {
            if stop.load(Ordering::Relaxed) {
                break 'outer;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let device = &relayed[i % relayed.len()];
        i += 1;
        rpc(
            &c,
            &upstream,
            &token,
            "stop_streaming",
            json!({"device": device}),
        )
        .await;
        tokio::time::sleep(OUTAGE).await;
        rpc(
            &c,
            &upstream,
            &token,
            "start_streaming",
            json!({"device": device}),
        )
        .await;
        tally.outages.fetch_add(1, Ordering::Relaxed);
    }
}

/// ffmpeg RTSP clients: one joins every 10 s for 5-40 s (at most 4 at a time), until `stop`.
fn rtsp_clients(
    rtsp: std::net::SocketAddr,
    cameras: Vec<String>,
    tally: Arc<Tally>,
    stop: Arc<AtomicBool>,
) {
    let mut running: Vec<Child> = Vec::new();
    let mut n = 0usize;
    while !stop.load(Ordering::Relaxed) {
        running.retain_mut(|c| match c.try_wait() {
            Ok(Some(status)) => {
                let counter = if status.success() {
                    &tally.rtsp_clients_ok
                } else {
                    &tally.rtsp_clients_failed
                };
                counter.fetch_add(1, Ordering::Relaxed);
                false
            }
            _ => true,
        });
        if running.len() < 4 {
            // Only the test cameras: a relayed one may be in an outage, which a client sees as failure.
            let cam = &cameras[n % cameras.len()];
            let secs = 5 + (n * 7) % 36;
            n += 1;
            let url = format!("rtsp://{USER}:{PASSWORD}@{rtsp}/{cam}");
            let transport = if n.is_multiple_of(2) { "tcp" } else { "udp" };
            if let Ok(c) = ffmpeg_rtsp_client(&url, transport, Some(secs as u32)) {
                running.push(c);
            }
        }
        std::thread::sleep(Duration::from_secs(10));
    }
    for mut c in running {
        let _ = c.kill();
        let _ = c.wait();
    }
}

/// Waits (up to 60 s) until every camera is CONNECTED; the ones that are not.
async fn all_connected(base: String, cameras: usize) -> Vec<String> {
    let c = reqwest::Client::new();
    let token = wait_login(&c, &base).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let list: Option<Value> = async {
            c.post(format!("{base}/rpc"))
                .bearer_auth(&token)
                .json(&json!({"jsonrpc": "2.0", "method": "get_camera_list", "id": 1}))
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()
        }
        .await;
        let down: Vec<String> = list
            .as_ref()
            .and_then(|v| v["result"]["cameras"].as_array())
            .map(|cams| {
                cams.iter()
                    .filter(|c| c["status"] != "CONNECTED")
                    .map(|c| format!("{} {}", c["device"], c["status"]))
                    .collect()
            })
            .unwrap_or_else(|| vec![format!("no camera list ({cameras} expected)")]);
        if down.is_empty() || Instant::now() > deadline {
            return down;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Every segment still indexed: present, and decodes with frames (ffprobe, no errors).
struct SegmentCheck {
    rows: usize,
    missing: usize,
    undecodable: Vec<String>,
    /// Longest hole between consecutive segments of a test camera, in seconds.
    worst_gap_secs: f64,
}

fn check_segments(state: &Path, recordings: &Path, test_cameras: &[String]) -> SegmentCheck {
    let rows = pinhole::store::Store::open(&state.join("pinhole.db"))
        .and_then(|s| s.call_blocking(|c| pinhole::store::recordings::all_oldest_first(c)))
        .unwrap_or_default();
    let mut check = SegmentCheck {
        rows: rows.len(),
        missing: 0,
        undecodable: Vec::new(),
        worst_gap_secs: 0.0,
    };
    for r in &rows {
        let file = recordings.join(&r.camera_id).join(r.file_name());
        if !file.exists() {
            check.missing += 1;
            continue;
        }
        let out = Command::new("ffprobe")
            .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
            .args(["-show_entries", "stream=nb_read_frames", "-of", "csv=p=0"])
            .arg(&file)
            .output();
        let frames = out
            .as_ref()
            .ok()
            .filter(|o| o.stderr.is_empty())
            .and_then(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
            .unwrap_or(0);
        if frames == 0 {
            check.undecodable.push(r.file_name());
        }
    }
    for cam in test_cameras {
        let mine: Vec<_> = rows.iter().filter(|r| &r.camera_id == cam).collect();
        for w in mine.windows(2) {
            if let Some(end) = w[0].end_ms {
                check.worst_gap_secs = check
                    .worst_gap_secs
                    .max((w[1].start_ms - end) as f64 / 1000.0);
            }
        }
    }
    check
}

fn main() {
    let minutes: u64 = arg("--minutes", 120);
    let cameras: usize = arg("--cameras", 16).max(2);
    let run_for = Duration::from_secs(minutes * 60);
    let tests: Vec<String> = (0..cameras / 2).map(|i| format!("cam{i}")).collect();
    let relayed: Vec<String> = (cameras / 2..cameras).map(|i| format!("cam{i}")).collect();
    println!(
        "soak: {cameras} cameras ({} encoded here, {} relayed), {minutes} min, {SEGMENT_SECS} s segments",
        tests.len(),
        relayed.len()
    );

    let upstream_toml: String = relayed.iter().map(|id| test_camera(id, "off")).collect();
    let (upstream, _) = start_with(&upstream_toml, free_port(), &[]);
    let work = tempfile::tempdir().expect("tempdir");
    let disk = SmallDisk::new(&work.path().join("recordings"));
    println!(
        "recordings on {} ({}), free-space floor {FLOOR_MB} MB",
        disk.dir.display(),
        if disk.mounted {
            format!("a {DISK_MB} MB tmpfs")
        } else {
            "not root: the machine's disk, retention by size instead".into()
        }
    );
    let storage = if disk.mounted {
        format!("min_free_mb = {FLOOR_MB}\n")
    } else {
        format!(
            "min_free_mb = {FLOOR_MB}\nretention_max_size_gb = {}\n",
            (DISK_MB - FLOOR_MB) as f64 / 1024.0
        )
    };
    let toml = format!(
        "[storage]\nrecordings_dir = \"{}\"\nsegment_secs = {SEGMENT_SECS}\n{storage}{}{}",
        disk.dir.display(),
        tests
            .iter()
            .map(|id| test_camera(id, "continuous"))
            .collect::<String>(),
        relayed
            .iter()
            .map(|id| relayed_camera(id, &upstream.rtsp.to_string()))
            .collect::<String>(),
    );
    let (mut appliance, t0) = start_with(&toml, free_port(), &[]);
    let pid = appliance.child.id();
    let state = appliance.dir.path().join("state");

    let tally = Arc::new(Tally::default());
    let stop = Arc::new(AtomicBool::new(false));
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let all: Vec<String> = tests.iter().chain(&relayed).cloned().collect();
    rt.spawn(api_load(
        format!("http://{}", appliance.http),
        all,
        tally.clone(),
        stop.clone(),
    ));
    rt.spawn(outages(
        format!("http://{}", upstream.http),
        relayed.clone(),
        tally.clone(),
        stop.clone(),
    ));
    let clients = {
        let (rtsp, tests, tally, stop) =
            (appliance.rtsp, tests.clone(), tally.clone(), stop.clone());
        std::thread::spawn(move || rtsp_clients(rtsp, tests, tally, stop))
    };

    let mut samples: Vec<Sample> = Vec::new();
    while t0.elapsed() < run_for {
        std::thread::sleep(Duration::from_secs(60).min(run_for.saturating_sub(t0.elapsed())));
        if let Ok(Some(status)) = appliance.child.try_wait() {
            println!("the appliance exited during the soak: {status}");
            break;
        }
        let s = Sample {
            at: t0.elapsed(),
            rss_mb: support::rss_mb(pid),
            fds: open_fds(pid),
            cpu_secs: support::cpu_secs(pid),
        };
        println!(
            "  {:>4} min  RSS {:6.1} MB  fds {:4}  CPU {:6.0} s  API {} ok / {} failed  RTSP clients {} ok / {} failed  outages {}",
            s.at.as_secs() / 60,
            s.rss_mb,
            s.fds,
            s.cpu_secs,
            tally.api_calls_ok.load(Ordering::Relaxed),
            tally.api_calls_failed.load(Ordering::Relaxed),
            tally.rtsp_clients_ok.load(Ordering::Relaxed),
            tally.rtsp_clients_failed.load(Ordering::Relaxed),
            tally.outages.load(Ordering::Relaxed),
        );
        samples.push(s);
    }
    stop.store(true, Ordering::Relaxed);
    let _ = clients.join();
    let down = rt.block_on(all_connected(format!("http://{}", appliance.http), cameras));
    rt.shutdown_timeout(Duration::from_secs(30));

    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let exit = loop {
        if let Ok(Some(s)) = appliance.child.try_wait() {
            break Some(s);
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let check = check_segments(&state, &disk.dir, &tests);

    println!("\nsoak result ({minutes} min, {cameras} cameras, binary {BIN})");
    if let (Some(first), Some(last)) = (samples.first(), samples.last()) {
        let secs = (last.at - first.at).as_secs_f64().max(1.0);
        println!(
            "  RSS: {:.1} MB at 1 min, {:.1} MB at the end, peak {:.1} MB; growth after {} min: {} (goal < 5 MB/h)",
            first.rss_mb,
            last.rss_mb,
            samples.iter().map(|s| s.rss_mb).fold(0.0, f64::max),
            WARM_UP.as_secs() / 60,
            growth_per_hour(&samples)
                .map_or("too short to say".into(), |g| format!("{g:+.1} MB/h")),
        );
        println!(
            "  open file descriptors: {} at 1 min, {} at the end, most {}",
            first.fds,
            last.fds,
            samples.iter().map(|s| s.fds).max().unwrap_or(0)
        );
        println!(
            "  CPU: {:.0} % of one core on average",
            (last.cpu_secs - first.cpu_secs) / secs * 100.0
        );
    }
    println!(
        "  load: {} API calls ok, {} failed; {} RTSP clients ok, {} failed; {} camera outages",
        tally.api_calls_ok.load(Ordering::Relaxed),
        tally.api_calls_failed.load(Ordering::Relaxed),
        tally.rtsp_clients_ok.load(Ordering::Relaxed),
        tally.rtsp_clients_failed.load(Ordering::Relaxed),
        tally.outages.load(Ordering::Relaxed),
    );
    let failures = tally.failures.lock().unwrap_or_else(|p| p.into_inner());
    if !failures.is_empty() {
        println!("  failed API calls by kind: {failures:?}");
    }
    println!(
        "  cameras not streaming 60 s after the load stopped: {}",
        if down.is_empty() {
            "none".to_string()
        } else {
            format!("{down:?}")
        }
    );
    println!(
        "  shutdown: {}",
        exit.map_or("did not exit within 60 s of SIGTERM".into(), |s| s
            .to_string())
    );
    println!(
        "  segments indexed at the end: {}; missing files {}; undecodable {} {:?} (goal 0); longest gap in a test camera's recording {:.1} s",
        check.rows,
        check.missing,
        check.undecodable.len(),
        check.undecodable,
        check.worst_gap_secs
    );
}
