//! `pinhole visca-sim`: a simulated VISCA camera on any combination of transports, for tests,
//! the demo, and installers trying a controller without a camera.

use crate::ptz::profile::Profile;
use crate::ptz::simserver::{Faults, SimServer};
use pinhole_base::ptz::PtzModel;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, clap::Args)]
pub struct SimArgs {
    /// Sony VISCA over IP (UDP, normally port 52381).
    #[arg(long, value_name = "ADDR:PORT")]
    pub sony_udp: Option<SocketAddr>,
    /// Raw VISCA over TCP (PTZOptics: 5678).
    #[arg(long, value_name = "ADDR:PORT")]
    pub raw_tcp: Option<SocketAddr>,
    /// Raw VISCA over UDP (PTZOptics/Avonic: 1259).
    #[arg(long, value_name = "ADDR:PORT")]
    pub raw_udp: Option<SocketAddr>,
    /// A serial line (e.g. one end of a `socat` pty pair).
    #[arg(long, value_name = "PATH")]
    pub serial: Option<String>,
    /// Serial speed.
    #[arg(long, default_value_t = 9600)]
    pub baud: u32,
    /// Camera model profile: generic, sony, ptzoptics.
    #[arg(long, default_value = "sony")]
    pub profile: PtzModel,
    /// Camera address (1-7) on serial links.
    #[arg(long, default_value_t = 1)]
    pub address: u8,
    /// Print the position every this many seconds.
    #[arg(long, value_name = "SECONDS")]
    pub status_every: Option<f64>,
    /// Probability (0-1) of dropping each reply.
    #[arg(long, default_value_t = 0.0)]
    pub drop_replies: f64,
    /// Delay before every reply, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub delay_ms: u64,
    /// Probability (0-1) of sending garbage bytes before a reply.
    #[arg(long, default_value_t = 0.0)]
    pub garbage: f64,
    /// Seed for the fault dice.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

pub fn main(args: SimArgs) -> ExitCode {
    crate::logging::init(crate::config::LogFormat::Text, "info");
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("visca-sim: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("visca-sim: {e:#}");
            ExitCode::from(super::EXIT_CONFIG)
        }
    }
}

async fn run(args: SimArgs) -> anyhow::Result<()> {
    let profile = Profile::for_model(args.profile);
    if !(1..=7).contains(&args.address) {
        anyhow::bail!("--address must be 1-7");
    }
    for (name, p) in [
        ("--drop-replies", args.drop_replies),
        ("--garbage", args.garbage),
    ] {
        if !(0.0..=1.0).contains(&p) {
            anyhow::bail!("{name} must be a probability between 0 and 1");
        }
    }
    if args.sony_udp.is_none()
        && args.raw_tcp.is_none()
        && args.raw_udp.is_none()
        && args.serial.is_none()
    {
        anyhow::bail!("give at least one of --sony-udp, --raw-tcp, --raw-udp, --serial");
    }
    let faults = Faults {
        drop_reply: args.drop_replies,
        delay: Duration::from_millis(args.delay_ms),
        garbage: args.garbage,
        seed: args.seed,
    };
    let sim = SimServer::new(profile, args.address, faults);
    let mut listening = Vec::new();
    let mut tasks = tokio::task::JoinSet::new();
    if let Some(addr) = args.sony_udp {
        let sock = tokio::net::UdpSocket::bind(addr).await?;
        listening.push(format!("sony-udp {}", sock.local_addr()?));
        tasks.spawn(sim.clone().serve_sony_udp(sock));
    }
    if let Some(addr) = args.raw_udp {
        let sock = tokio::net::UdpSocket::bind(addr).await?;
        listening.push(format!("raw-udp {}", sock.local_addr()?));
        tasks.spawn(sim.clone().serve_raw_udp(sock));
    }
    if let Some(addr) = args.raw_tcp {
        let l = tokio::net::TcpListener::bind(addr).await?;
        listening.push(format!("raw-tcp {}", l.local_addr()?));
        tasks.spawn(sim.clone().serve_raw_tcp(l));
    }
    if let Some(path) = &args.serial {
        use tokio_serial::SerialPortBuilderExt;
        let port = tokio_serial::new(path, args.baud)
            .open_native_async()
            .map_err(|e| anyhow::anyhow!("cannot open {path}: {e}"))?;
        listening.push(format!("serial {path}"));
        let sim = sim.clone();
        tasks.spawn(async move {
            sim.serve_stream(port).await;
            Ok(())
        });
    }
    eprintln!("visca-sim listening on {}", listening.join(", "));
    let status_every = args
        .status_every
        .filter(|s| *s > 0.0)
        .map(Duration::from_secs_f64);
    let status = async {
        match status_every {
            Some(every) => loop {
                tokio::time::sleep(every).await;
                let s = sim.status();
                println!(
                    "position pan={} tilt={} zoom={} focus={} power={} moving={} executed={}",
                    s.pan,
                    s.tilt,
                    s.zoom,
                    s.focus,
                    if s.power { "on" } else { "standby" },
                    s.moving,
                    sim.executed()
                );
            },
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        r = tasks.join_next() => match r {
            Some(Ok(Err(e))) => Err(e.into()),
            _ => Ok(()),
        },
        _ = status => Ok(()),
        _ = tokio::signal::ctrl_c() => Ok(()),
        _ = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => { s.recv().await; }
                Err(_) => std::future::pending().await,
            }
        } => Ok(()),
    }
}
