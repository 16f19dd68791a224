//! The simulated camera on the wire: Sony VISCA over IP (UDP, 8-byte header, sequence numbers,
//! RESET), raw VISCA over UDP and TCP, and a serial line, all driving one [`SimCamera`], with
//! fault injection (dropped replies, delays, garbage bytes) for testing controllers.

use super::profile::Profile;
use super::sim::{SimCamera, SimStatus};
use super::visca::{
    self, CONTROL_ERROR_MESSAGE, CONTROL_ERROR_SEQUENCE, CONTROL_RESET, CameraError, Framer,
    IpMessage, PayloadType, Reply, Request,
};
use rand::{Rng, SeedableRng};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{Notify, mpsc};

/// Faults to inject, each independently per reply.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Probability that a reply is never sent.
    pub drop_reply: f64,
    /// Extra delay before every reply.
    pub delay: Duration,
    /// Probability that garbage bytes are sent before a reply.
    pub garbage: f64,
    /// Seed for the fault dice, so a failing run can be replayed.
    pub seed: u64,
}

/// Where a reply goes.
#[derive(Debug, Clone)]
pub enum Origin {
    Sony {
        sock: Arc<UdpSocket>,
        peer: SocketAddr,
        sequence: u32,
    },
    RawUdp {
        sock: Arc<UdpSocket>,
        peer: SocketAddr,
    },
    Stream(mpsc::UnboundedSender<Vec<u8>>),
}

pub struct SimServer {
    camera: Mutex<SimCamera<Origin>>,
    wake: Notify,
    started: tokio::time::Instant,
    faults: Faults,
    dice: Mutex<rand::rngs::StdRng>,
    /// Cancelled by [`SimServer::stop`]: every transport closes, as when a camera is unplugged.
    stop: tokio_util::sync::CancellationToken,
    /// Next Sony sequence number expected from each controller (RESET sets it to 0). Kept per
    /// peer address, so a controller that restarts on a new port starts afresh.
    expected_sequence: Mutex<std::collections::HashMap<SocketAddr, u32>>,
}

impl std::fmt::Debug for SimServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimServer")
            .field("faults", &self.faults)
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

impl SimServer {
    pub fn new(profile: Profile, address: u8, faults: Faults) -> Arc<SimServer> {
        let dice = rand::rngs::StdRng::seed_from_u64(faults.seed);
        let server = Arc::new(SimServer {
            camera: Mutex::new(SimCamera::new(profile, address)),
            wake: Notify::new(),
            started: tokio::time::Instant::now(),
            faults,
            dice: Mutex::new(dice),
            expected_sequence: Mutex::new(std::collections::HashMap::new()),
            stop: tokio_util::sync::CancellationToken::new(),
        });
        tokio::spawn(server.clone().run_completions());
        server
    }

    fn now(&self) -> Duration {
        self.started.elapsed()
    }

    /// Closes every listener and connection (the camera is unplugged).
    pub fn stop(&self) {
        self.stop.cancel();
    }

    pub fn status(&self) -> SimStatus {
        let mut cam = lock(&self.camera);
        cam.advance(self.now());
        cam.status()
    }

    pub fn executed(&self) -> u64 {
        lock(&self.camera).executed
    }

    /// Handles one VISCA packet from `origin`.
    fn submit(&self, origin: Origin, packet: &[u8]) -> Vec<(Origin, Reply)> {
        let mut cam = lock(&self.camera);
        match visca::decode_request(packet) {
            Ok((address, req)) if address == cam.address || address == 8 => {
                if let Request::Command(c) = req {
                    tracing::info!(command = ?c, bytes = %visca::hex(packet), "visca-sim executes");
                }
                let out = cam.handle(self.now(), origin, req);
                drop(cam);
                self.wake.notify_one();
                out
            }
            Ok((address, _)) => {
                tracing::debug!(address, "packet for another camera ignored");
                Vec::new()
            }
            Err(e) => {
                tracing::warn!(error = %e, "visca-sim: undecodable packet");
                let error = if packet.len() > visca::MAX_PACKET {
                    CameraError::MessageLength
                } else {
                    CameraError::Syntax
                };
                vec![(origin, Reply::Error { socket: 0, error })]
            }
        }
    }

    async fn run_completions(self: Arc<Self>) {
        loop {
            let deadline = lock(&self.camera).next_deadline();
            match deadline {
                Some(d) => {
                    let at = self.started + d;
                    tokio::select! {
                        _ = tokio::time::sleep_until(at) => {}
                        _ = self.wake.notified() => continue,
                    }
                }
                None => {
                    self.wake.notified().await;
                    continue;
                }
            }
            let done = lock(&self.camera).tick(self.now());
            self.dispatch(done).await;
        }
    }

    async fn dispatch(&self, replies: Vec<(Origin, Reply)>) {
        for (origin, reply) in replies {
            let (drop_it, garbage) = {
                let mut d = lock(&self.dice);
                (
                    self.faults.drop_reply > 0.0 && d.gen_bool(self.faults.drop_reply.min(1.0)),
                    self.faults.garbage > 0.0 && d.gen_bool(self.faults.garbage.min(1.0)),
                )
            };
            if drop_it {
                tracing::info!(?reply, "visca-sim drops a reply (fault injection)");
                continue;
            }
            let address = lock(&self.camera).address;
            let bytes = reply.encode(address);
            let delay = self.faults.delay;
            let send = async move {
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                send_to(&origin, &bytes, garbage).await;
            };
            if delay.is_zero() {
                send.await;
            } else {
                tokio::spawn(send);
            }
        }
    }

    /// Serves Sony VISCA over IP on `sock` until the socket fails.
    pub async fn serve_sony_udp(self: Arc<Self>, sock: UdpSocket) -> std::io::Result<()> {
        let sock = Arc::new(sock);
        let mut buf = [0u8; 1500];
        loop {
            let (n, peer) = tokio::select! {
                r = sock.recv_from(&mut buf) => r?,
                _ = self.stop.cancelled() => return Ok(()),
            };
            let msg = match IpMessage::decode(&buf[..n]) {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(error = %e, "visca-sim: bad Sony datagram");
                    let sequence = if n >= 8 {
                        u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]])
                    } else {
                        0
                    };
                    let reply = IpMessage {
                        payload_type: PayloadType::ControlReply,
                        sequence,
                        payload: CONTROL_ERROR_MESSAGE.to_vec(),
                    };
                    let _ = sock.send_to(&reply.encode(), peer).await;
                    continue;
                }
            };
            match msg.payload_type {
                PayloadType::Control if msg.payload == [CONTROL_RESET] => {
                    lock(&self.expected_sequence).insert(peer, 0);
                    let ack = IpMessage {
                        payload_type: PayloadType::ControlReply,
                        sequence: msg.sequence,
                        payload: vec![CONTROL_RESET],
                    };
                    let _ = sock.send_to(&ack.encode(), peer).await;
                }
                PayloadType::Command | PayloadType::Inquiry => {
                    let fresh = {
                        let mut table = lock(&self.expected_sequence);
                        let expected = table.entry(peer).or_insert(0);
                        if msg.sequence < *expected {
                            false
                        } else {
                            *expected = msg.sequence.wrapping_add(1);
                            true
                        }
                    };
                    if !fresh {
                        let err = IpMessage {
                            payload_type: PayloadType::ControlReply,
                            sequence: msg.sequence,
                            payload: CONTROL_ERROR_SEQUENCE.to_vec(),
                        };
                        let _ = sock.send_to(&err.encode(), peer).await;
                        continue;
                    }
                    let origin = Origin::Sony {
                        sock: sock.clone(),
                        peer,
                        sequence: msg.sequence,
                    };
                    let replies = self.submit(origin, &msg.payload);
                    self.dispatch(replies).await;
                }
                _ => {
                    let err = IpMessage {
                        payload_type: PayloadType::ControlReply,
                        sequence: msg.sequence,
                        payload: CONTROL_ERROR_MESSAGE.to_vec(),
                    };
                    let _ = sock.send_to(&err.encode(), peer).await;
                }
            }
        }
    }

    /// Serves raw VISCA datagrams (one packet per datagram).
    pub async fn serve_raw_udp(self: Arc<Self>, sock: UdpSocket) -> std::io::Result<()> {
        let sock = Arc::new(sock);
        let mut buf = [0u8; 1500];
        loop {
            let (n, peer) = tokio::select! {
                r = sock.recv_from(&mut buf) => r?,
                _ = self.stop.cancelled() => return Ok(()),
            };
            let origin = Origin::RawUdp {
                sock: sock.clone(),
                peer,
            };
            let replies = self.submit(origin, &buf[..n]);
            self.dispatch(replies).await;
        }
    }

    /// Serves raw VISCA over TCP: each connection is a byte stream framed on `FF`.
    pub async fn serve_raw_tcp(self: Arc<Self>, listener: TcpListener) -> std::io::Result<()> {
        loop {
            let (stream, peer) = tokio::select! {
                r = listener.accept() => r?,
                _ = self.stop.cancelled() => return Ok(()),
            };
            let _ = stream.set_nodelay(true);
            tracing::info!(%peer, "visca-sim: TCP controller connected");
            tokio::spawn(self.clone().serve_stream(stream));
        }
    }

    /// Serves a byte stream (a TCP connection or a serial line) until it closes.
    pub async fn serve_stream<S>(self: Arc<Self>, stream: S)
    where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        let (mut rd, mut wr) = tokio::io::split(stream);
        let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
        let writer = tokio::spawn(async move {
            while let Some(b) = rx.recv().await {
                if wr.write_all(&b).await.is_err() {
                    break;
                }
            }
        });
        let mut framer = Framer::new();
        let mut buf = [0u8; 512];
        loop {
            let n = tokio::select! {
                r = rd.read(&mut buf) => match r {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                },
                _ = self.stop.cancelled() => break,
            };
            for packet in framer.push(&buf[..n]) {
                let replies = self.submit(Origin::Stream(tx.clone()), &packet);
                self.dispatch(replies).await;
            }
        }
        writer.abort();
    }
}

/// Where [`start_loopback`] listens.
#[derive(Debug, Clone, Copy)]
pub struct LoopbackAddrs {
    pub sony_udp: SocketAddr,
    pub raw_udp: SocketAddr,
    pub raw_tcp: SocketAddr,
}

/// A simulated camera on 127.0.0.1 over Sony UDP, raw UDP and raw TCP (ephemeral ports), for
/// tests, benchmarks and the demo.
pub async fn start_loopback(
    profile: Profile,
    faults: Faults,
) -> std::io::Result<(Arc<SimServer>, LoopbackAddrs)> {
    let sim = SimServer::new(profile, 1, faults);
    let sony = UdpSocket::bind("127.0.0.1:0").await?;
    let raw = UdpSocket::bind("127.0.0.1:0").await?;
    let tcp = TcpListener::bind("127.0.0.1:0").await?;
    let addrs = LoopbackAddrs {
        sony_udp: sony.local_addr()?,
        raw_udp: raw.local_addr()?,
        raw_tcp: tcp.local_addr()?,
    };
    tokio::spawn(sim.clone().serve_sony_udp(sony));
    tokio::spawn(sim.clone().serve_raw_udp(raw));
    tokio::spawn(sim.clone().serve_raw_tcp(tcp));
    Ok((sim, addrs))
}

async fn send_to(origin: &Origin, bytes: &[u8], garbage: bool) {
    const JUNK: &[u8] = &[0x00, 0x13, 0x37, 0x42];
    match origin {
        Origin::Sony {
            sock,
            peer,
            sequence,
        } => {
            if garbage {
                let _ = sock.send_to(JUNK, peer).await;
            }
            let m = IpMessage {
                payload_type: PayloadType::Reply,
                sequence: *sequence,
                payload: bytes.to_vec(),
            };
            let _ = sock.send_to(&m.encode(), peer).await;
        }
        Origin::RawUdp { sock, peer } => {
            if garbage {
                let _ = sock.send_to(JUNK, peer).await;
            }
            let _ = sock.send_to(bytes, peer).await;
        }
        Origin::Stream(tx) => {
            if garbage {
                let _ = tx.send(JUNK.to_vec());
            }
            let _ = tx.send(bytes.to_vec());
        }
    }
}
