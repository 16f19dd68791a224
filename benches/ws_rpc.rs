//! Load benchmark (not a timed test): 1000 concurrent WebSocket clients drive JSON-RPC `ping` for
//! a fixed number of calls, and the figures are printed: throughput, p50/p99 latency, the
//! server's RSS.
//!
//! Two phases per server:
//! - **saturation**: every client sends its next call as soon as the previous answer arrives
//!   (closed loop). This gives the most calls per second; latency is then queueing by
//!   construction (Little's law: mean latency = clients / throughput).
//! - **paced**: the clients together offer a fixed rate (`--rate`, default 69,000 calls/s: three
//!   times the seeds' measured 23,000) and latency is measured from each call's *scheduled* send
//!   time, so a stalled server cannot hide its delay (no coordinated omission).
//!
//! The client is a minimal WebSocket implementation over raw TCP (pre-built masked frames, no
//! per-message allocation) so that, on a 2-core machine shared with the server, as little CPU as
//! possible goes to the measuring side. It is the same client for Pinhole and for the baseline.
//!
//! `cargo bench --bench ws_rpc` measures the real `pinhole` binary. With `BENCH_BASELINE_PYTHON`
//! naming a Python that has fastapi and uvicorn (the Justfile's `bench` recipe prepares one), it
//! also measures `benches/baseline/fastapi_ws.py` — the seeds' FastAPI/uvicorn stack — the same
//! way in the same run and prints the ratios. Options (after `--`): `--connections N` (1000),
//! `--calls N` per client and phase (100), `--rate R`, `--url ws://HOST:PORT/ws --pid PID` to
//! measure a server that is already running.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    have: usize,
}

impl Conn {
    async fn open(host: &str, path: &str) -> std::io::Result<Conn> {
        let mut stream = TcpStream::connect(host).await?;
        stream.set_nodelay(true)?;
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        stream.write_all(req.as_bytes()).await?;
        let mut buf = vec![0u8; 4096];
        let mut have = 0;
        loop {
            let n = stream.read(&mut buf[have..]).await?;
            if n == 0 {
                return Err(std::io::Error::other("closed during handshake"));
            }
            have += n;
            if let Some(end) = buf[..have].windows(4).position(|w| w == b"\r\n\r\n") {
                if !buf.starts_with(b"HTTP/1.1 101") {
                    return Err(std::io::Error::other(
                        String::from_utf8_lossy(&buf[..have]).into_owned(),
                    ));
                }
                buf.copy_within(end + 4..have, 0);
                have -= end + 4;
                return Ok(Conn { stream, buf, have });
            }
        }
    }

    /// A masked text frame (the mask key is zero: valid, and leaves the payload as is).
    fn frame(payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0x81u8];
        if payload.len() < 126 {
            f.push(0x80 | payload.len() as u8);
        } else {
            f.push(0x80 | 126);
            f.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        }
        f.extend_from_slice(&[0, 0, 0, 0]);
        f.extend_from_slice(payload);
        f
    }

    /// Reads one (unmasked, unfragmented) server frame; returns its opcode and payload range.
    async fn next_frame(&mut self) -> std::io::Result<(u8, Vec<u8>)> {
        loop {
            if self.have >= 2 {
                let opcode = self.buf[0] & 0x0f;
                let (len, hdr) = match self.buf[1] & 0x7f {
                    126 if self.have >= 4 => {
                        (u16::from_be_bytes([self.buf[2], self.buf[3]]) as usize, 4)
                    }
                    126 => (usize::MAX, 4),
                    127 => return Err(std::io::Error::other("unexpectedly large frame")),
                    n => (n as usize, 2),
                };
                if len != usize::MAX && self.have >= hdr + len {
                    let payload = self.buf[hdr..hdr + len].to_vec();
                    self.buf.copy_within(hdr + len..self.have, 0);
                    self.have -= hdr + len;
                    return Ok((opcode, payload));
                }
            }
            if self.have == self.buf.len() {
                self.buf.resize(self.buf.len() * 2, 0);
            }
            let n = self.stream.read(&mut self.buf[self.have..]).await?;
            if n == 0 {
                return Err(std::io::Error::other("connection closed"));
            }
            self.have += n;
        }
    }

    async fn call(&mut self, frame: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(frame).await?;
        loop {
            let (op, payload) = self.next_frame().await?;
            if op == 1 {
                if !payload.windows(4).any(|w| w == b"pong") {
                    return Err(std::io::Error::other(
                        String::from_utf8_lossy(&payload).into_owned(),
                    ));
                }
                return Ok(());
            }
        }
    }
}

#[derive(Clone, Copy)]
struct Figures {
    calls: usize,
    seconds: f64,
    p50_ms: f64,
    p99_ms: f64,
    peak_rss_mb: f64,
}

impl Figures {
    fn rate(&self) -> f64 {
        self.calls as f64 / self.seconds
    }
}

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

fn raise_fd_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    if let Ok((_, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard.min(65536), hard);
    }
}

/// Waits for a line containing `marker` on the child's stderr or stdout.
fn wait_line(child: &mut Child, marker: &str) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    let streams: Vec<Box<dyn std::io::Read + Send>> = [
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
    ]
    .into_iter()
    .flatten()
    .collect();
    for s in streams {
        let (tx, m) = (tx.clone(), marker.to_string());
        std::thread::spawn(move || {
            for line in BufReader::new(s).lines().map_while(Result::ok) {
                if line.contains(&m) {
                    let _ = tx.send(line);
                }
            }
        });
    }
    rx.recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| panic!("server did not print {marker:?}"))
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

async fn connect_all(host: &str, n: usize) -> Vec<Conn> {
    let mut conns = Vec::with_capacity(n);
    // In waves of 100, so the listen backlog is not overrun.
    while conns.len() < n {
        let wave = (conns.len()..n.min(conns.len() + 100)).map(|_| Conn::open(host, "/ws"));
        for c in futures_util::future::join_all(wave).await {
            conns.push(c.expect("WebSocket connect"));
        }
    }
    conns
}

/// One phase. `period`: None = saturation; Some(p) = each client sends every `p`.
async fn phase(
    conns: Vec<Conn>,
    calls: usize,
    period: Option<Duration>,
    pid: u32,
) -> (Vec<Conn>, Figures) {
    let peak = Arc::new(AtomicU64::new(rss_kb(pid)));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, done) = (peak.clone(), done.clone());
        tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(rss_kb(pid), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let n = conns.len();
    let start = Instant::now() + Duration::from_millis(50);
    let tasks: Vec<_> = conns
        .into_iter()
        .enumerate()
        .map(|(c, mut conn)| {
            tokio::spawn(async move {
                let frame = Conn::frame(
                    format!(r#"{{"jsonrpc":"2.0","method":"ping","id":{c}}}"#).as_bytes(),
                );
                let mut lat = Vec::with_capacity(calls);
                // Spread the clients' schedules evenly over one period.
                let offset = period
                    .map(|p| p.mul_f64(c as f64 / n as f64))
                    .unwrap_or_default();
                for i in 0..calls {
                    let scheduled = match period {
                        Some(p) => {
                            let at = start + offset + p * i as u32;
                            tokio::time::sleep_until(at.into()).await;
                            at
                        }
                        None => Instant::now(),
                    };
                    conn.call(&frame).await.expect("call");
                    lat.push(scheduled.elapsed());
                }
                (conn, lat)
            })
        })
        .collect();
    let mut conns = Vec::with_capacity(n);
    let mut all = Vec::with_capacity(n * calls);
    for t in tasks {
        let (conn, lat) = t.await.expect("client task");
        conns.push(conn);
        all.extend(lat);
    }
    let seconds = start.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    let _ = sampler.await;
    all.sort();
    let figures = Figures {
        calls: all.len(),
        seconds,
        p50_ms: percentile(&all, 0.50),
        p99_ms: percentile(&all, 0.99),
        peak_rss_mb: peak.load(Ordering::Relaxed) as f64 / 1024.0,
    };
    (conns, figures)
}

struct Run {
    idle_rss_mb: f64,
    saturation: Figures,
    paced: Figures,
}

async fn measure(host: &str, pid: u32, connections: usize, calls: usize, rate: f64) -> Run {
    let conns = connect_all(host, connections).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle_rss_mb = rss_kb(pid) as f64 / 1024.0;
    let (conns, saturation) = phase(conns, calls, None, pid).await;
    let period = Duration::from_secs_f64(connections as f64 / rate);
    let (_conns, paced) = phase(conns, calls, Some(period), pid).await;
    Run {
        idle_rss_mb,
        saturation,
        paced,
    }
}

fn report(label: &str, r: &Run, connections: usize, rate: f64) {
    println!(
        "{label}: {connections} WebSocket clients, RSS {:.1} MB with all connected",
        r.idle_rss_mb
    );
    let s = &r.saturation;
    println!(
        "  saturation: {} calls in {:.2} s = {:.0} calls/s, p50 {:.2} ms, p99 {:.2} ms, peak RSS {:.1} MB",
        s.calls,
        s.seconds,
        s.rate(),
        s.p50_ms,
        s.p99_ms,
        s.peak_rss_mb
    );
    let p = &r.paced;
    println!(
        "  paced at {rate:.0}/s: {} calls in {:.2} s = {:.0} calls/s achieved, p50 {:.2} ms, p99 {:.2} ms (from scheduled send), peak RSS {:.1} MB",
        p.calls,
        p.seconds,
        p.rate(),
        p.p50_ms,
        p.p99_ms,
        p.peak_rss_mb
    );
}

fn arg<T: std::str::FromStr>(name: &str, default: T) -> T {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    raise_fd_limit();
    let connections: usize = arg("--connections", 1000);
    let calls: usize = arg("--calls", 100);
    let rate: f64 = arg("--rate", 69_000.0);
    // One client thread: on a 2-core machine the server under test keeps the other core, and the
    // client's own scheduling does not add to the tail it measures.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");

    if let Some(url) = std::env::args().skip_while(|a| a != "--url").nth(1) {
        let host = url
            .trim_start_matches("ws://")
            .trim_end_matches("/ws")
            .to_string();
        let pid: u32 = arg("--pid", 0);
        let run = rt.block_on(measure(&host, pid, connections, calls, rate));
        report(&url, &run, connections, rate);
        return;
    }

    let state = tempfile::tempdir().expect("tempdir");
    let mut pinhole = Command::new(env!("CARGO_BIN_EXE_pinhole"))
        .args(["run", "--listen", "127.0.0.1:0", "--state-dir"])
        .arg(state.path())
        .env("PINHOLE_LOG", "warn")
        .env_remove("PINHOLE_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start pinhole");
    let line = wait_line(&mut pinhole, "listening on http://");
    let host = line
        .split("http://")
        .nth(1)
        .expect("address")
        .trim()
        .to_string();
    let ours = rt.block_on(measure(&host, pinhole.id(), connections, calls, rate));
    let _ = pinhole.kill();
    let _ = pinhole.wait();
    report("pinhole", &ours, connections, rate);

    let Ok(python) = std::env::var("BENCH_BASELINE_PYTHON") else {
        println!(
            "baseline: not measured; set BENCH_BASELINE_PYTHON to a Python with fastapi and uvicorn (`just bench` does)"
        );
        return;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/benches/baseline/fastapi_ws.py"
    );
    let mut baseline = Command::new(python)
        .args([script, &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the baseline");
    wait_line(&mut baseline, "listening on");
    let host = format!("127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(&host).is_err() {
        assert!(Instant::now() < deadline, "baseline never listened");
        std::thread::sleep(Duration::from_millis(100));
    }
    let base = rt.block_on(measure(&host, baseline.id(), connections, calls, rate));
    let _ = baseline.kill();
    let _ = baseline.wait();
    report("baseline (FastAPI/uvicorn)", &base, connections, rate);
    println!(
        "ratio pinhole/baseline: saturation throughput {:.2}x; paced p99 {:.2} ms vs {:.2} ms; RSS with all connected {:.1} MB vs {:.1} MB ({:.1}x smaller)",
        ours.saturation.rate() / base.saturation.rate(),
        ours.paced.p99_ms,
        base.paced.p99_ms,
        ours.idle_rss_mb,
        base.idle_rss_mb,
        base.idle_rss_mb / ours.idle_rss_mb
    );
}
