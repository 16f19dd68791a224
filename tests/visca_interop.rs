//! Interoperability with a VISCA implementation written elsewhere: the `grafton-visca` crate.
//! Its client drives our simulator over raw UDP, raw TCP and Sony VISCA over IP; our controller
//! drives its camera simulator (an in-process transport, put on a loopback UDP socket here).

mod common;

use common::{NetNs, interop_python};
use grafton_visca::camera::Connect;
use grafton_visca::profiles::{GenericVisca, PtzOpticsG2, SonyBRCH900};
use grafton_visca::runtime::TokioRuntime;
use grafton_visca::testing::ViscaCameraSimulator;
use grafton_visca::transport::AsyncTransport;
use grafton_visca::types::{PanSpeed, TiltSpeed, ZoomPosition};
use grafton_visca::units::Degrees;
use grafton_visca::{SpeedLevel, command::PanTiltDirection};
use pinhole::ptz::controller::{Controller, ControllerConfig};
use pinhole::ptz::link::LinkSpec;
use pinhole::ptz::profile::Profile;
use pinhole::ptz::simserver::{Faults, SimServer, start_loopback};
use pinhole::ptz::visca::{Answer, Command, Inquiry};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

async fn our_sim() -> (Arc<SimServer>, SocketAddr, SocketAddr, SocketAddr) {
    let (sim, a) = start_loopback(Profile::sony(), Faults::default())
        .await
        .expect("simulator");
    (sim, a.sony_udp, a.raw_udp, a.raw_tcp)
}

#[tokio::test]
async fn their_client_drives_our_simulator_over_raw_udp() {
    let (sim, _, raw, _) = our_sim().await;
    let rt = TokioRuntime::from_current().expect("runtime");
    let cam = Connect::open_udp_async::<PtzOpticsG2, _>(raw.to_string(), rt)
        .await
        .expect("open");
    // PTZOptics: 14.4 position units per degree.
    cam.pan_tilt()
        .absolute(Degrees(10.0), Degrees(-5.0), SpeedLevel::Fast)
        .await
        .expect("absolute");
    assert_eq!((sim.status().pan, sim.status().tilt), (144, -72));
    let p = cam.pan_tilt().position().await.expect("position");
    assert_eq!((p.pan, p.tilt), (144, -72));
    cam.zoom()
        .set_position(ZoomPosition::new(0x1000).expect("zoom"))
        .await
        .expect("zoom direct");
    assert_eq!(sim.status().zoom, 0x1000);
    cam.pan_tilt()
        .move_direction(
            PanTiltDirection::Left,
            PanSpeed::new(0x0C).expect("speed"),
            TiltSpeed::new(0x0A).expect("speed"),
        )
        .await
        .expect("drive");
    tokio::time::sleep(Duration::from_millis(200)).await;
    cam.pan_tilt().stop().await.expect("stop");
    assert!(sim.status().pan < 144, "moved left: {}", sim.status().pan);
    cam.presets().recall(3).await.expect("recall");
    assert_eq!(sim.status().pan, 0, "an unset preset recalls home");
}

#[tokio::test]
async fn their_client_drives_our_simulator_over_raw_tcp() {
    let (sim, _, _, tcp) = our_sim().await;
    let rt = TokioRuntime::from_current().expect("runtime");
    let cam = Connect::open_tcp_async::<GenericVisca, _>(tcp.to_string(), rt)
        .await
        .expect("open");
    // Its degrees-to-units factor is its own business; the bytes it sent must land exactly.
    cam.pan_tilt()
        .absolute(Degrees(-20.0), Degrees(10.0), SpeedLevel::Fastest)
        .await
        .expect("absolute");
    let (pan, tilt) = (sim.status().pan, sim.status().tilt);
    assert!(
        tilt > 0 && pan == -2 * tilt,
        "(-20°, 10°) arrived as ({pan}, {tilt})"
    );
    let p = cam.pan_tilt().position().await.expect("position");
    assert_eq!((p.pan, p.tilt), (pan, tilt));
}

#[tokio::test]
async fn their_client_drives_our_simulator_over_sony_udp() {
    let (sim, sony, _, _) = our_sim().await;
    let rt = TokioRuntime::from_current().expect("runtime");
    let cam = Connect::open_udp_async::<SonyBRCH900, _>(sony.to_string(), rt)
        .await
        .expect("open");
    cam.pan_tilt()
        .absolute(Degrees(5.0), Degrees(0.0), SpeedLevel::Fast)
        .await
        .expect("absolute");
    let moved = sim.status().pan;
    assert!(
        moved > 0 && sim.status().tilt == 0,
        "5° right arrived as {moved}"
    );
    let p = cam.pan_tilt().position().await.expect("position");
    assert_eq!(p.pan, moved);
    cam.presets().recall(0).await.expect("recall");
    assert_eq!(sim.status().pan, 0);
    assert!(sim.executed() >= 2);
}

/// Puts grafton's in-process camera simulator on a loopback UDP socket (raw VISCA).
async fn their_sim_on_udp() -> SocketAddr {
    let sock = Arc::new(
        tokio::net::UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("bind"),
    );
    let addr = sock.local_addr().expect("addr");
    let mut to_sim = ViscaCameraSimulator::new();
    let mut from_sim = to_sim.clone();
    let peer: Arc<tokio::sync::Mutex<Option<SocketAddr>>> = Arc::default();
    let (s2, p2) = (sock.clone(), peer.clone());
    tokio::spawn(async move {
        let mut buf = [0u8; 1500];
        while let Ok((n, from)) = s2.recv_from(&mut buf).await {
            *p2.lock().await = Some(from);
            if to_sim.send(&buf[..n]).await.is_err() {
                break;
            }
        }
    });
    tokio::spawn(async move {
        let mut buf = [0u8; 64];
        while let Ok(n) = from_sim.recv_into(&mut buf).await {
            if let Some(to) = *peer.lock().await {
                let _ = sock.send_to(&buf[..n], to).await;
            }
        }
    });
    addr
}

#[tokio::test]
async fn our_controller_drives_their_simulator() {
    let addr = their_sim_on_udp().await;
    let mut cfg = ControllerConfig::new(LinkSpec::RawUdp { addr }, Profile::sony());
    cfg.ack_timeout = Duration::from_millis(500);
    let c = Controller::spawn(cfg, CancellationToken::new());
    let mut w = c.watch();
    tokio::time::timeout(Duration::from_secs(5), w.wait_for(|s| s.connected))
        .await
        .expect("in time")
        .expect("watch");
    // Its simulator acknowledges, then completes after its configured execution time.
    c.command(Command::PanTiltAbsolute {
        pan_speed: 0x10,
        tilt_speed: 0x10,
        pan: 100,
        tilt: 50,
    })
    .await
    .expect("absolute");
    c.command(Command::ZoomDirect { position: 0x0800 })
        .await
        .expect("zoom");
    c.command(Command::PresetRecall { preset: 1 })
        .await
        .expect("recall");
    // Its state never moves (a documented limit of that simulator); the answer still decodes.
    let a = c.inquire(Inquiry::PanTiltPosition).await.expect("inquiry");
    assert!(matches!(a, Answer::PanTiltPosition { .. }), "{a:?}");
    assert!(matches!(
        c.inquire(Inquiry::Power).await.expect("power"),
        Answer::Power(true)
    ));
}

/// The `visca_over_ip` Python client (PyPI), a widely used VISCA-over-IP controller, drives our
/// simulator. It binds the camera's port (52381) locally for inquiries, so it runs in a network
/// namespace of its own. It stops pan/tilt with speed 00 on both axes
/// (`81 01 06 01 00 00 03 03 FF`) and drives one axis with the other's speed 00
/// (`81 01 06 01 0A 00 02 03 FF`), as real cameras accept.
#[tokio::test]
async fn the_python_visca_over_ip_client_drives_our_simulator() {
    let python = interop_python();
    let ns = NetNs::create();
    let sim = SimServer::new(Profile::sony(), 1, Faults::default());
    let sock = tokio::net::UdpSocket::bind((ns.host_ip, 52381))
        .await
        .expect("bind");
    tokio::spawn(sim.clone().serve_sony_udp(sock));
    let script = format!(
        r#"
import time
from visca_over_ip import Camera
cam = Camera("{ip}")
cam.pantilt(10, 0)    # 81 01 06 01 0A 00 02 03 FF: pan (02) at 0A, tilt speed 00
time.sleep(0.3)
cam.pantilt(0, 0)     # 81 01 06 01 00 00 03 03 FF: stop
cam.pantilt(0, 5)     # 81 01 06 01 00 05 03 02 FF: tilt (02) at 05, pan speed 00
time.sleep(0.3)
cam.pantilt(0, 0)
print("done")
"#,
        ip = ns.host_ip
    );
    let out = tokio::task::spawn_blocking(move || {
        ns.command(&python)
            .args(["-c", &script])
            .output()
            .expect("python")
    })
    .await
    .expect("join");
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("done"),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Direction 02 is right for pan and down for tilt.
    let stopped = sim.status();
    assert!(stopped.pan > 0 && stopped.tilt < 0, "{stopped:?}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let later = sim.status();
    assert_eq!(
        (later.pan, later.tilt),
        (stopped.pan, stopped.tilt),
        "still moving"
    );
}
