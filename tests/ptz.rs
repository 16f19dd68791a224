//! PTZ over VISCA against the simulator, over real sockets and a real pty pair: every transport,
//! packet loss with retransmission, garbage on the line, a camera that never answers, a link that
//! drops and comes back, and the `pinhole visca-sim` command.

mod common;

use pinhole::ptz::controller::{Controller, ControllerConfig, PtzError};
use pinhole::ptz::link::LinkSpec;
use pinhole::ptz::profile::Profile;
use pinhole::ptz::simserver::{Faults, SimServer, start_loopback};
use pinhole::ptz::visca::{Answer, CameraError, Command, Inquiry, PanDirection, TiltDirection};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

async fn start_sim(faults: Faults) -> (Arc<SimServer>, SocketAddr, SocketAddr, SocketAddr) {
    let (sim, a) = start_loopback(Profile::sony(), faults)
        .await
        .expect("simulator");
    (sim, a.sony_udp, a.raw_udp, a.raw_tcp)
}

fn controller(link: LinkSpec) -> Controller {
    let mut cfg = ControllerConfig::new(link, Profile::sony());
    cfg.ack_timeout = Duration::from_millis(200);
    cfg.retries = 4;
    cfg.completion_timeout = Duration::from_secs(10);
    cfg.poll_every = Duration::from_millis(200);
    Controller::spawn(cfg, CancellationToken::new())
}

async fn wait_connected(c: &Controller) {
    let mut w = c.watch();
    tokio::time::timeout(Duration::from_secs(10), w.wait_for(|s| s.connected))
        .await
        .expect("connected in time")
        .expect("watch");
}

/// The same exercise on any link: absolute move, continuous drive and stop, zoom, presets.
async fn exercise(c: &Controller, sim: &SimServer) {
    wait_connected(c).await;
    c.command(Command::PanTiltAbsolute {
        pan_speed: 0x18,
        tilt_speed: 0x17,
        pan: 660,
        tilt: -110,
    })
    .await
    .expect("absolute move");
    assert_eq!(
        (sim.status().pan, sim.status().tilt),
        (660, -110),
        "arrived when completed"
    );
    let a = c.inquire(Inquiry::PanTiltPosition).await.expect("position");
    assert_eq!(
        a,
        Answer::PanTiltPosition {
            pan: 660,
            tilt: -110
        }
    );

    c.command(Command::PanTiltDrive {
        pan_speed: 0x08,
        tilt_speed: 0x01,
        pan: PanDirection::Right,
        tilt: TiltDirection::Stop,
    })
    .await
    .expect("drive");
    tokio::time::sleep(Duration::from_millis(300)).await;
    c.command(Command::PanTiltDrive {
        pan_speed: 0x08,
        tilt_speed: 0x01,
        pan: PanDirection::Stop,
        tilt: TiltDirection::Stop,
    })
    .await
    .expect("stop");
    let stopped_at = sim.status().pan;
    assert!(
        stopped_at > 660 + 50,
        "moved right while driving: {stopped_at}"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(sim.status().pan, stopped_at, "stopped");

    c.command(Command::ZoomDirect { position: 0x2000 })
        .await
        .expect("zoom");
    assert_eq!(
        c.inquire(Inquiry::ZoomPosition).await.expect("zoom pos"),
        Answer::ZoomPosition(0x2000)
    );
    c.command(Command::PresetSet { preset: 5 })
        .await
        .expect("preset set");
    c.command(Command::PanTiltHome).await.expect("home");
    assert_eq!(sim.status().pan, 0);
    c.command(Command::PresetRecall { preset: 5 })
        .await
        .expect("recall");
    assert_eq!(sim.status().pan, stopped_at);
    assert_eq!(sim.status().zoom, 0x2000);

    // The camera's refusals come back as errors naming the command and the reason.
    let err = c
        .command(Command::FocusDirect { position: 0x3000 })
        .await
        .expect_err("auto focus");
    assert!(
        matches!(
            err,
            PtzError::Camera {
                error: CameraError::NotExecutable,
                ..
            }
        ),
        "{err}"
    );
    let err = c
        .command(Command::PresetRecall { preset: 0x70 })
        .await
        .expect_err("bad preset");
    assert!(
        matches!(
            err,
            PtzError::Camera {
                error: CameraError::Syntax,
                ..
            }
        ),
        "{err}"
    );
    // Status polling saw the camera.
    let mut w = c.watch();
    tokio::time::timeout(
        Duration::from_secs(5),
        w.wait_for(|s| s.power == Some(true) && s.zoom.is_some()),
    )
    .await
    .expect("polled")
    .expect("watch");
}

/// A serial line made of a `socat` pty pair: the camera end and the controller end.
async fn pty_pair() -> (
    tempfile::TempDir,
    std::process::Child,
    std::path::PathBuf,
    std::path::PathBuf,
) {
    let dir = tempfile::tempdir().expect("tempdir");
    let cam_end = dir.path().join("camera");
    let ctl_end = dir.path().join("controller");
    let socat = std::process::Command::new("socat")
        .arg(format!("pty,raw,echo=0,link={}", cam_end.display()))
        .arg(format!("pty,raw,echo=0,link={}", ctl_end.display()))
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("socat must be installed (package socat)");
    for _ in 0..100 {
        if cam_end.exists() && ctl_end.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (dir, socat, cam_end, ctl_end)
}

#[tokio::test]
async fn controller_drives_the_simulator_over_sony_udp() {
    let (sim, sony, _, _) = start_sim(Faults::default()).await;
    exercise(&controller(LinkSpec::SonyUdp { addr: sony }), &sim).await;
}

#[tokio::test]
async fn controller_drives_the_simulator_over_raw_udp() {
    let (sim, _, raw, _) = start_sim(Faults::default()).await;
    exercise(&controller(LinkSpec::RawUdp { addr: raw }), &sim).await;
}

#[tokio::test]
async fn controller_drives_the_simulator_over_raw_tcp() {
    let (sim, _, _, tcp) = start_sim(Faults::default()).await;
    exercise(&controller(LinkSpec::RawTcp { addr: tcp }), &sim).await;
}

#[tokio::test]
async fn controller_drives_the_simulator_over_a_serial_pty_pair() {
    let (_dir, mut socat, cam_end, ctl_end) = pty_pair().await;
    let sim = SimServer::new(Profile::sony(), 1, Faults::default());
    use tokio_serial::SerialPortBuilderExt;
    let port = tokio_serial::new(cam_end.to_string_lossy(), 9600)
        .open_native_async()
        .expect("open camera end");
    tokio::spawn(sim.clone().serve_stream(port));
    let c = controller(LinkSpec::Serial {
        path: ctl_end.to_string_lossy().into_owned(),
        baud: 9600,
    });
    exercise(&c, &sim).await;
    let _ = socat.kill();
    let _ = socat.wait();
}

#[tokio::test]
async fn lost_replies_are_retransmitted_and_garbage_is_survived() {
    for link_kind in ["sony", "tcp"] {
        let (sim, sony, _, tcp) = start_sim(Faults {
            drop_reply: 0.15,
            garbage: 0.2,
            seed: 7,
            ..Default::default()
        })
        .await;
        let link = if link_kind == "sony" {
            LinkSpec::SonyUdp { addr: sony }
        } else {
            LinkSpec::RawTcp { addr: tcp }
        };
        let mut cfg = ControllerConfig::new(link, Profile::sony());
        cfg.ack_timeout = Duration::from_millis(100);
        cfg.retries = 6;
        cfg.completion_timeout = Duration::from_millis(1500);
        let c = Controller::spawn(cfg, CancellationToken::new());
        wait_connected(&c).await;
        let mut ok = 0;
        let mut timeouts = 0;
        for i in 0..16i16 {
            let target = (i % 5) * 40;
            // Every call ends, one way or the other, within its bounds: no hang.
            let r = tokio::time::timeout(
                Duration::from_secs(10),
                c.command(Command::PanTiltAbsolute {
                    pan_speed: 0x18,
                    tilt_speed: 0x17,
                    pan: target,
                    tilt: 0,
                }),
            )
            .await
            .expect("bounded");
            match r {
                Ok(()) => ok += 1,
                Err(PtzError::Timeout { .. }) => timeouts += 1,
                Err(e) => panic!("{link_kind}: unexpected {e}"),
            }
        }
        let status = c.status();
        assert!(
            ok >= 8,
            "{link_kind}: only {ok} of 16 completed ({timeouts} timed out)"
        );
        assert!(
            status.retransmissions > 0,
            "{link_kind}: lost replies must cause retransmissions"
        );
        assert!(
            status.garbage > 0 || link_kind == "tcp",
            "{link_kind}: garbage datagrams are counted"
        );
        // The session is still good afterwards.
        let mut position = None;
        for _ in 0..10 {
            if let Ok(a) = c.inquire(Inquiry::PanTiltPosition).await {
                position = Some(a);
                break;
            }
        }
        assert!(
            matches!(position, Some(Answer::PanTiltPosition { .. })),
            "{link_kind}"
        );
        drop(sim);
    }
}

#[tokio::test]
async fn a_silent_camera_gives_a_timeout_not_a_hang() {
    // A UDP port where nobody answers.
    let silent = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = silent.local_addr().expect("addr");
    let mut cfg = ControllerConfig::new(LinkSpec::SonyUdp { addr }, Profile::sony());
    cfg.ack_timeout = Duration::from_millis(100);
    cfg.retries = 2;
    let c = Controller::spawn(cfg, CancellationToken::new());
    wait_connected(&c).await;
    let err = tokio::time::timeout(Duration::from_secs(5), c.command(Command::PanTiltHome))
        .await
        .expect("bounded")
        .expect_err("nobody answers");
    assert!(
        matches!(err, PtzError::Timeout { attempts: 3, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("sony-udp"), "{err}");
}

#[tokio::test]
async fn a_dropped_tcp_link_fails_fast_and_reconnects() {
    let sim = SimServer::new(Profile::sony(), 1, Faults::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(sim.clone().serve_raw_tcp(listener));
    let c = controller(LinkSpec::RawTcp { addr });
    wait_connected(&c).await;
    c.command(Command::PanTiltHome).await.expect("works");
    // The camera goes away (listener and connections closed).
    sim.stop();
    let mut w = c.watch();
    // Connections of the aborted server close when its tasks go; a command now fails fast.
    let err = loop {
        match tokio::time::timeout(Duration::from_secs(5), c.command(Command::PanTiltHome))
            .await
            .expect("bounded")
        {
            Err(e) => break e,
            Ok(()) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    };
    assert!(
        matches!(err, PtzError::LinkDown { .. } | PtzError::Timeout { .. }),
        "{err}"
    );
    // It comes back on the same address: the controller reconnects by itself.
    let sim = SimServer::new(Profile::sony(), 1, Faults::default());
    let listener = tokio::net::TcpListener::bind(addr).await.expect("rebind");
    tokio::spawn(sim.clone().serve_raw_tcp(listener));
    tokio::time::timeout(Duration::from_secs(40), w.wait_for(|s| s.connected))
        .await
        .expect("reconnected")
        .expect("watch");
    c.command(Command::PanTiltAbsolute {
        pan_speed: 0x18,
        tilt_speed: 0x17,
        pan: 100,
        tilt: 0,
    })
    .await
    .expect("works again");
    assert_eq!(sim.status().pan, 100);
}

#[tokio::test]
async fn joystick_moves_are_coalesced_but_stops_are_kept() {
    let (sim, sony, _, _) = start_sim(Faults {
        delay: Duration::from_millis(30),
        ..Default::default()
    })
    .await;
    let c = controller(LinkSpec::SonyUdp { addr: sony });
    wait_connected(&c).await;
    let drive = |speed| Command::PanTiltDrive {
        pan_speed: speed,
        tilt_speed: 1,
        pan: PanDirection::Right,
        tilt: TiltDirection::Stop,
    };
    let stop = Command::PanTiltDrive {
        pan_speed: 1,
        tilt_speed: 1,
        pan: PanDirection::Stop,
        tilt: TiltDirection::Stop,
    };
    let before = sim.executed();
    // A burst of 20 moves and a final stop, faster than the camera answers.
    let mut calls = Vec::new();
    for speed in 1..=20u8 {
        let c = c.clone();
        calls.push(tokio::spawn(async move { c.command(drive(speed)).await }));
        tokio::task::yield_now().await;
    }
    let c2 = c.clone();
    let last = tokio::spawn(async move { c2.command(stop).await });
    for call in calls {
        call.await
            .expect("join")
            .expect("a superseded move still reports success");
    }
    last.await.expect("join").expect("stop");
    let sent = sim.executed() - before;
    assert!(
        sent < 21,
        "coalesced: {sent} commands reached the camera for 21 calls"
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!sim.status().moving, "the stop was not dropped");
}

#[tokio::test]
async fn the_visca_sim_command_serves_and_reports_position() {
    let mut child = std::process::Command::new(common::BIN)
        .args([
            "visca-sim",
            "--sony-udp",
            "127.0.0.1:0",
            "--raw-tcp",
            "127.0.0.1:0",
            "--status-every",
            "0.2",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn visca-sim");
    use std::io::BufRead;
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = std::io::BufReader::new(stderr).lines();
    let listening = loop {
        let line = lines.next().expect("a line").expect("read");
        if line.contains("visca-sim listening on") {
            break line;
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let tcp: SocketAddr = listening
        .split("raw-tcp ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .and_then(|s| s.trim().parse().ok())
        .expect("raw-tcp address");
    let c = controller(LinkSpec::RawTcp { addr: tcp });
    wait_connected(&c).await;
    c.command(Command::PanTiltAbsolute {
        pan_speed: 0x18,
        tilt_speed: 0x17,
        pan: 300,
        tilt: 40,
    })
    .await
    .expect("move");
    let stdout = child.stdout.take().expect("stdout");
    let found = tokio::task::spawn_blocking(move || {
        std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .take(50)
            .any(|l| l.contains("pan=300 tilt=40"))
    })
    .await
    .expect("join");
    let _ = child.kill();
    let _ = child.wait();
    assert!(found, "the status line reports the new position");
}

#[tokio::test]
async fn two_cameras_on_one_serial_daisy_chain() {
    use pinhole::ptz::visca::{Framer, decode_request};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (_dir, mut socat, cam_end, ctl_end) = pty_pair().await;
    // The chain: cameras 1 and 2 behind one line. Packets go to the camera they address
    // (broadcasts to both); both cameras' replies share the line back.
    use tokio_serial::SerialPortBuilderExt;
    let line = tokio_serial::new(cam_end.to_string_lossy(), 9600)
        .open_native_async()
        .expect("open chain end");
    let (mut line_rd, line_wr) = tokio::io::split(line);
    let line_wr = Arc::new(tokio::sync::Mutex::new(line_wr));
    let mut cams = Vec::new();
    let mut inputs = Vec::new();
    for address in [1u8, 2] {
        let sim = SimServer::new(Profile::sony(), address, Faults::default());
        let (ours, theirs) = tokio::io::duplex(1024);
        tokio::spawn(sim.clone().serve_stream(theirs));
        let (mut rd, wr) = tokio::io::split(ours);
        let out = line_wr.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 256];
            while let Ok(n) = rd.read(&mut buf).await {
                if n == 0 || out.lock().await.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        });
        cams.push(sim);
        inputs.push(wr);
    }
    tokio::spawn(async move {
        let mut framer = Framer::new();
        let mut buf = [0u8; 256];
        while let Ok(n) = line_rd.read(&mut buf).await {
            if n == 0 {
                break;
            }
            for p in framer.push(&buf[..n]) {
                let to = decode_request(&p).map(|(a, _)| a).unwrap_or(8);
                for (i, input) in inputs.iter_mut().enumerate() {
                    if to == 8 || usize::from(to) == i + 1 {
                        let _ = input.write_all(&p).await;
                    }
                }
            }
        }
    });
    let controller_for = |address| {
        let mut cfg = ControllerConfig::new(
            LinkSpec::Serial {
                path: ctl_end.to_string_lossy().into_owned(),
                baud: 9600,
            },
            Profile::sony(),
        );
        cfg.address = address;
        cfg.ack_timeout = Duration::from_millis(300);
        Controller::spawn(cfg, CancellationToken::new())
    };
    let one = controller_for(1);
    let two = controller_for(2);
    wait_connected(&one).await;
    wait_connected(&two).await;
    let (a, b) = tokio::join!(
        one.command(Command::PanTiltAbsolute {
            pan_speed: 0x18,
            tilt_speed: 0x17,
            pan: 220,
            tilt: 0
        }),
        two.command(Command::PanTiltAbsolute {
            pan_speed: 0x18,
            tilt_speed: 0x17,
            pan: -440,
            tilt: 55
        }),
    );
    a.expect("camera 1");
    b.expect("camera 2");
    assert_eq!((cams[0].status().pan, cams[0].status().tilt), (220, 0));
    assert_eq!((cams[1].status().pan, cams[1].status().tilt), (-440, 55));
    assert_eq!(
        one.inquire(Inquiry::PanTiltPosition).await.expect("1"),
        Answer::PanTiltPosition { pan: 220, tilt: 0 }
    );
    assert_eq!(
        two.inquire(Inquiry::PanTiltPosition).await.expect("2"),
        Answer::PanTiltPosition {
            pan: -440,
            tilt: 55
        }
    );
    let _ = socat.kill();
    let _ = socat.wait();
}
