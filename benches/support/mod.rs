//! What the bench binaries share: starting the real appliance with a config, and reading a
//! process's CPU time and RSS from /proc.
#![allow(dead_code)]

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_pinhole");
pub const USER: &str = "bench";
pub const PASSWORD: &str = "bench-password-1";

/// The value after `name` on the command line, or `default`.
pub fn arg<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::args()
        .skip_while(|a| a != name)
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub fn ticks_per_sec() -> f64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100) as f64
}

/// utime + stime of a process, in seconds.
pub fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let t = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (t(11) + t(12)) / ticks_per_sec()
}

pub fn rss_mb(pid: u32) -> f64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

/// CPU share of one core and peak RSS of `pid` over `window`.
pub fn measure(pid: u32, window: Duration) -> (f64, f64) {
    let c0 = cpu_secs(pid);
    let t0 = Instant::now();
    let mut peak = 0f64;
    while t0.elapsed() < window {
        peak = peak.max(rss_mb(pid));
        std::thread::sleep(Duration::from_millis(250));
    }
    (
        (cpu_secs(pid) - c0) / t0.elapsed().as_secs_f64() * 100.0,
        peak,
    )
}

/// A foreign RTSP client: ffmpeg reading `url` over `transport` ("tcp" or "udp") and throwing
/// the stream away, for `secs` seconds or until killed.
pub fn ffmpeg_rtsp_client(url: &str, transport: &str, secs: Option<u32>) -> std::io::Result<Child> {
    let mut c = Command::new("ffmpeg");
    c.args(["-v", "quiet", "-rtsp_transport", transport, "-i", url]);
    if let Some(s) = secs {
        c.args(["-t", &s.to_string()]);
    }
    c.args(["-c", "copy", "-f", "null", "-"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

pub struct Appliance {
    pub child: Child,
    pub rtsp: SocketAddr,
    pub http: SocketAddr,
    pub dir: tempfile::TempDir,
}

impl Drop for Appliance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn add_user(state: &Path) {
    let mut c = Command::new(BIN)
        .args([
            "user",
            "add",
            USER,
            "--role",
            "admin",
            "--password-stdin",
            "--state-dir",
        ])
        .arg(state)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("pinhole user add");
    let _ = c
        .stdin
        .take()
        .map(|mut s| s.write_all(format!("{PASSWORD}\n").as_bytes()));
    assert!(c.wait().expect("wait").success(), "user add failed");
}

/// Starts the appliance with `cameras` (TOML) on a fixed RTSP port; returns once it listens.
pub fn start(cameras: &str, rtsp_port: u16) -> (Appliance, Instant) {
    start_with(cameras, rtsp_port, &[])
}

pub fn start_with(cameras: &str, rtsp_port: u16, env: &[(&str, &str)]) -> (Appliance, Instant) {
    let dir = tempfile::tempdir().expect("tempdir");
    let state: PathBuf = dir.path().join("state");
    std::fs::create_dir_all(&state).expect("state");
    add_user(&state);
    let cfg = dir.path().join("pinhole.toml");
    std::fs::write(
        &cfg,
        format!("[general]\nstate_dir = \"{}\"\n[log]\nlevel = \"warn\"\n[tls]\nmode = \"off\"\n{cameras}", state.display()),
    )
    .expect("config");
    let http: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    let t0 = Instant::now();
    let child = Command::new(BIN)
        .args(["run", "--config"])
        .arg(&cfg)
        .args([
            "--listen",
            &http.to_string(),
            "--rtsp-listen",
            &format!("127.0.0.1:{rtsp_port}"),
        ])
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        // PINHOLE_BENCH_LOG=1: the appliance's warnings go to the bench's stderr.
        .stderr(if std::env::var_os("PINHOLE_BENCH_LOG").is_some() {
            Stdio::inherit()
        } else {
            Stdio::null()
        })
        .spawn()
        .expect("spawn pinhole");
    let rtsp: SocketAddr = format!("127.0.0.1:{rtsp_port}").parse().expect("addr");
    (
        Appliance {
            child,
            rtsp,
            http,
            dir,
        },
        t0,
    )
}

#[allow(clippy::too_many_arguments)]
pub fn camera(
    id: &str,
    source: &str,
    url: &str,
    w: u32,
    h: u32,
    fps: u32,
    kbps: u32,
    recording: &str,
) -> String {
    let creds = if source == "rtsp" {
        format!("username = \"{USER}\"\npassword = \"{PASSWORD}\"\n")
    } else {
        String::new()
    };
    format!(
        "[[cameras]]\nid = \"{id}\"\nsource = \"{source}\"\nurl = \"{url}\"\nwidth = {w}\nheight = {h}\nfps = {fps}\nbitrate_kbps = {kbps}\nrecording = \"{recording}\"\n{creds}"
    )
}
