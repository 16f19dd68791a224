//! PTZ command round trip (not a timed test): the controller sends a command and waits for the
//! camera's completion, against the simulator over loopback, per transport; prints p50/p99 over
//! many commands, and the same for an inquiry (send → answer).
//!
//! `cargo bench --bench ptz_rtt [-- --count N]`

use pinhole::ptz::controller::{Controller, ControllerConfig};
use pinhole::ptz::link::LinkSpec;
use pinhole::ptz::profile::Profile;
use pinhole::ptz::simserver::{Faults, start_loopback};
use pinhole::ptz::visca::{Command, Inquiry};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

fn pct(v: &mut [Duration], p: f64) -> f64 {
    v.sort();
    v[((v.len() as f64 * p) as usize).min(v.len() - 1)].as_secs_f64() * 1e3
}

async fn measure(name: &str, link: LinkSpec, count: usize) {
    let c = Controller::spawn(
        ControllerConfig::new(link, Profile::sony()),
        CancellationToken::new(),
    );
    let mut w = c.watch();
    let _ = tokio::time::timeout(Duration::from_secs(10), w.wait_for(|s| s.connected)).await;
    // Warm up, and let the initial IF_Clear and polls pass.
    for _ in 0..50 {
        let _ = c.command(Command::ZoomStop).await;
    }
    let mut cmd = Vec::with_capacity(count);
    let mut inq = Vec::with_capacity(count);
    for _ in 0..count {
        let t = Instant::now();
        c.command(Command::ZoomStop).await.expect("command");
        cmd.push(t.elapsed());
        let t = Instant::now();
        c.inquire(Inquiry::PanTiltPosition).await.expect("inquiry");
        inq.push(t.elapsed());
    }
    println!(
        "{name:>9}: command→completion p50 {:.3} ms, p99 {:.3} ms; inquiry→answer p50 {:.3} ms, p99 {:.3} ms ({count} each)",
        pct(&mut cmd, 0.5),
        pct(&mut cmd, 0.99),
        pct(&mut inq, 0.5),
        pct(&mut inq, 0.99)
    );
}

fn main() {
    let count = std::env::args()
        .skip_while(|a| a != "--count")
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(5000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let (_sim, a) = start_loopback(Profile::sony(), Faults::default())
            .await
            .expect("simulator");
        let (a, b, t) = (a.sony_udp, a.raw_udp, a.raw_tcp);
        measure("sony-udp", LinkSpec::SonyUdp { addr: a }, count).await;
        measure("raw-udp", LinkSpec::RawUdp { addr: b }, count).await;
        measure("raw-tcp", LinkSpec::RawTcp { addr: t }, count).await;
    });
}
