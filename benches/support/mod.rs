//! What the bench binaries share: starting the real appliance with a config, and reading a
//! process's CPU time and RSS from /proc.
#![allow(dead_code)]

use std::collections::HashMap;
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

/// Nanoseconds each thread of `pid` has run, by thread id, from `/proc/PID/task/TID/schedstat`:
/// the scheduler's exact figure, where `utime` and `stime` count 10 ms ticks (a process at
/// 0.6 % of a core gets 18 ticks in 30 s, so one tick more or less moves it by 5 %).
fn thread_runtimes(pid: u32) -> HashMap<u32, u64> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return HashMap::new();
    };
    tasks
        .flatten()
        .filter_map(|t| {
            let tid = t.file_name().to_str()?.parse().ok()?;
            let s = std::fs::read_to_string(t.path().join("schedstat")).ok()?;
            Some((tid, s.split_whitespace().next()?.parse().ok()?))
        })
        .collect()
}

/// CPU share of one core and peak RSS of `pid` over `window`. CPU time is summed over the
/// process's threads from their schedstat, sampled every 250 ms: a thread that starts in the
/// window counts whole, one that ends loses at most its last 250 ms. Where schedstat is not
/// there, ticks (`utime` + `stime`).
pub fn measure(pid: u32, window: Duration) -> (f64, f64) {
    measure_threads(pid, window, |_| true)
}

/// The threads of `pid` now, with their names.
pub fn threads(pid: u32) -> HashMap<u32, String> {
    thread_runtimes(pid)
        .into_keys()
        .map(|tid| {
            let name =
                std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/comm")).unwrap_or_default();
            (tid, name.trim().to_string())
        })
        .collect()
}

/// [`measure`] of the threads `counted` picks (by thread id); RSS is the process's.
pub fn measure_threads(pid: u32, window: Duration, counted: impl Fn(u32) -> bool) -> (f64, f64) {
    let c0 = cpu_secs(pid);
    let Some(w) = sample(&[pid], window, counted).pop() else {
        return (0.0, 0.0);
    };
    let cpu = if !w.schedstat {
        (cpu_secs(pid) - c0) / w.secs
    } else {
        w.ran.values().sum::<u64>() as f64 / 1e9 / w.secs
    };
    (cpu * 100.0, w.peak_rss)
}

/// What a process used over a window.
#[derive(Debug, Default)]
pub struct Usage {
    /// % of one core.
    pub cpu: f64,
    /// Peak RSS, MB.
    pub rss: f64,
    /// % of a core by thread name (threads of one name summed), most first.
    pub threads: Vec<(String, f64)>,
}

/// Where the CPU of each of `pids` went over the same window, thread by thread, so that what
/// else the machine does in it weighs on each alike.
pub fn measure_together(pids: &[u32], window: Duration) -> Vec<Usage> {
    let ticks_before: Vec<f64> = pids.iter().map(|&p| cpu_secs(p)).collect();
    let windows = sample(pids, window, |_| true);
    pids.iter()
        .zip(windows)
        .zip(ticks_before)
        .map(|((&pid, w), c0)| {
            if !w.schedstat {
                // No schedstat here: the process's ticks, with no breakdown by thread.
                return Usage {
                    cpu: (cpu_secs(pid) - c0) / w.secs * 100.0,
                    rss: w.peak_rss,
                    threads: Vec::new(),
                };
            }
            let names = threads(pid);
            let mut by_name: HashMap<String, f64> = HashMap::new();
            for (tid, ns) in &w.ran {
                let name = names.get(tid).cloned().unwrap_or_else(|| "(ended)".into());
                *by_name.entry(name).or_default() += *ns as f64 / 1e9 / w.secs * 100.0;
            }
            let mut threads: Vec<(String, f64)> = by_name.into_iter().collect();
            threads.sort_by(|a, b| b.1.total_cmp(&a.1));
            Usage {
                cpu: threads.iter().map(|(_, c)| c).sum(),
                rss: w.peak_rss,
                threads,
            }
        })
        .collect()
}

/// [`measure_together`] of two processes (Pinhole and its baseline).
pub fn measure_pair(a: u32, b: u32, window: Duration) -> (Usage, Usage) {
    let mut both = measure_together(&[a, b], window).into_iter();
    (
        both.next().unwrap_or_default(),
        both.next().unwrap_or_default(),
    )
}

/// The `top` busiest entries of a [`Usage`]'s threads, as `name 1.23, ...`.
pub fn busiest(list: &[(String, f64)], top: usize) -> String {
    let shown: Vec<String> = list
        .iter()
        .take(top)
        .map(|(n, c)| format!("{n} {c:.2}"))
        .collect();
    shown.join(", ")
}

struct Window {
    /// Nanoseconds run in the window, by thread id (threads `counted` picks).
    ran: HashMap<u32, u64>,
    /// The kernel gives schedstat (else `ran` is empty).
    schedstat: bool,
    secs: f64,
    peak_rss: f64,
}

/// Samples the threads of each of `pids` every 250 ms over `window`.
fn sample(pids: &[u32], window: Duration, counted: impl Fn(u32) -> bool) -> Vec<Window> {
    let mut last: Vec<HashMap<u32, u64>> = pids.iter().map(|&p| thread_runtimes(p)).collect();
    let mut out: Vec<Window> = last
        .iter()
        .map(|l| Window {
            ran: HashMap::new(),
            schedstat: !l.is_empty(),
            secs: 0.0,
            peak_rss: 0.0,
        })
        .collect();
    let t0 = Instant::now();
    while t0.elapsed() < window {
        for (&pid, w) in pids.iter().zip(out.iter_mut()) {
            w.peak_rss = w.peak_rss.max(rss_mb(pid));
        }
        std::thread::sleep(Duration::from_millis(250));
        for ((&pid, w), last) in pids.iter().zip(out.iter_mut()).zip(last.iter_mut()) {
            let now = thread_runtimes(pid);
            for (tid, ns) in now.iter().filter(|(tid, _)| counted(**tid)) {
                let before = last.get(tid).copied().unwrap_or(0);
                *w.ran.entry(*tid).or_default() += ns.saturating_sub(before);
            }
            *last = now;
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    for w in &mut out {
        w.secs = secs;
    }
    out
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
