//! Transports to a camera: Sony VISCA over IP (UDP with the 8-byte header and sequence numbers),
//! raw VISCA over UDP and TCP, and serial lines (RS-232/RS-422 adapters, via `tokio-serial`
//! without libudev), where the cameras of a daisy chain share one port through a [`SerialBus`]. A [`Link`] sends packets and yields decoded replies; retransmission policy
//! lives in the controller, which knows what each packet was.

use super::visca::{
    self, CONTROL_ERROR_MESSAGE, CONTROL_ERROR_SEQUENCE, CONTROL_RESET, Framer, IpMessage,
    PayloadType, Reply,
};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::mpsc;

/// How to reach a camera.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "transport", rename_all = "kebab-case", deny_unknown_fields)]
pub enum LinkSpec {
    /// Sony VISCA over IP, normally UDP port 52381.
    SonyUdp { addr: SocketAddr },
    /// Raw VISCA datagrams (PTZOptics / Avonic: UDP 1259).
    RawUdp { addr: SocketAddr },
    /// Raw VISCA over TCP (PTZOptics: 5678).
    RawTcp { addr: SocketAddr },
    /// A serial line: device path, baud rate (2400-38400, default 9600), camera address 1-7.
    Serial {
        path: String,
        #[serde(default = "default_baud")]
        baud: u32,
    },
}

fn default_baud() -> u32 {
    9600
}

impl LinkSpec {
    pub fn describe(&self) -> String {
        match self {
            LinkSpec::SonyUdp { addr } => format!("sony-udp {addr}"),
            LinkSpec::RawUdp { addr } => format!("raw-udp {addr}"),
            LinkSpec::RawTcp { addr } => format!("raw-tcp {addr}"),
            LinkSpec::Serial { path, baud } => format!("serial {path} @{baud}"),
        }
    }

    pub fn is_serial(&self) -> bool {
        matches!(self, LinkSpec::Serial { .. })
    }
}

/// Transport failures.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("{link}: {source}")]
    Io {
        link: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{link}: link closed by the camera")]
    Closed { link: String },
}

/// Something the camera said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkMsg {
    /// A VISCA reply; `sequence` on Sony links (the sequence number of the request it answers).
    Reply {
        sequence: Option<u32>,
        address: u8,
        reply: Reply,
        bytes: Vec<u8>,
    },
    /// Sony control reply: RESET acknowledged.
    ResetDone,
    /// Sony control error: the sequence number was not the expected one.
    SequenceError { sequence: u32 },
    /// Sony control error: abnormal message type.
    MessageTypeError { sequence: u32 },
    /// Bytes that could not be decoded (counted and logged; the link goes on).
    Garbage { reason: String },
}

enum Kind {
    /// One camera's share of a serial bus (a daisy chain): packets to and from its address.
    Bus {
        to_bus: mpsc::UnboundedSender<Vec<u8>>,
        from_bus: mpsc::UnboundedReceiver<Vec<u8>>,
        _bus: Arc<SerialBus>,
    },
    Sony {
        sock: UdpSocket,
        next_sequence: u32,
    },
    RawUdp {
        sock: UdpSocket,
        framer: Framer,
    },
    Stream {
        rd: Box<dyn AsyncRead + Send + Unpin>,
        wr: Box<dyn AsyncWrite + Send + Unpin>,
        framer: Framer,
    },
}

pub struct Link {
    kind: Kind,
    name: String,
    pending: VecDeque<LinkMsg>,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)
    }
}

fn loopback_for(addr: &SocketAddr) -> SocketAddr {
    if addr.is_ipv4() {
        SocketAddr::from(([0, 0, 0, 0], 0))
    } else {
        SocketAddr::from(([0u16; 8], 0))
    }
}

impl Link {
    /// Opens a link to the camera at `address` (1-7; only serial buses carry several).
    pub async fn open(spec: &LinkSpec, address: u8) -> Result<Link, LinkError> {
        let name = spec.describe();
        let io = |source| LinkError::Io {
            link: name.clone(),
            source,
        };
        let kind = match spec {
            LinkSpec::SonyUdp { addr } => {
                let sock = UdpSocket::bind(loopback_for(addr)).await.map_err(io)?;
                sock.connect(addr).await.map_err(io)?;
                Kind::Sony {
                    sock,
                    next_sequence: 0,
                }
            }
            LinkSpec::RawUdp { addr } => {
                let sock = UdpSocket::bind(loopback_for(addr)).await.map_err(io)?;
                sock.connect(addr).await.map_err(io)?;
                Kind::RawUdp {
                    sock,
                    framer: Framer::new(),
                }
            }
            LinkSpec::RawTcp { addr } => {
                let s = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(addr))
                    .await
                    .map_err(|_| {
                        io(std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            "connect timed out",
                        ))
                    })?
                    .map_err(io)?;
                let _ = s.set_nodelay(true);
                let (rd, wr) = s.into_split();
                Kind::Stream {
                    rd: Box::new(rd),
                    wr: Box::new(wr),
                    framer: Framer::new(),
                }
            }
            LinkSpec::Serial { path, baud } => {
                let bus = SerialBus::open(path, *baud).map_err(io)?;
                let (to_bus, from_bus) = bus.join(address);
                Kind::Bus {
                    to_bus,
                    from_bus,
                    _bus: bus,
                }
            }
        };
        Ok(Link {
            kind,
            name,
            pending: VecDeque::new(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Sends a VISCA packet; returns the Sony sequence number used (0 on other links).
    pub async fn send(&mut self, packet: &[u8], inquiry: bool) -> Result<u32, LinkError> {
        let sequence = match &mut self.kind {
            Kind::Sony { next_sequence, .. } => {
                let s = *next_sequence;
                *next_sequence = next_sequence.wrapping_add(1);
                s
            }
            _ => 0,
        };
        self.send_with(packet, inquiry, sequence).await?;
        Ok(sequence)
    }

    /// Sends again with the same sequence number (Sony) or the same bytes (others).
    pub async fn resend(
        &mut self,
        packet: &[u8],
        inquiry: bool,
        sequence: u32,
    ) -> Result<(), LinkError> {
        self.send_with(packet, inquiry, sequence).await
    }

    async fn send_with(
        &mut self,
        packet: &[u8],
        inquiry: bool,
        sequence: u32,
    ) -> Result<(), LinkError> {
        let name = self.name.clone();
        let io = |source| LinkError::Io {
            link: name.clone(),
            source,
        };
        match &mut self.kind {
            Kind::Sony { sock, .. } => {
                let m = IpMessage {
                    payload_type: if inquiry {
                        PayloadType::Inquiry
                    } else {
                        PayloadType::Command
                    },
                    sequence,
                    payload: packet.to_vec(),
                };
                sock.send(&m.encode()).await.map_err(io)?;
            }
            Kind::RawUdp { sock, .. } => {
                sock.send(packet).await.map_err(io)?;
            }
            Kind::Stream { wr, .. } => {
                wr.write_all(packet).await.map_err(io)?;
                wr.flush().await.map_err(io)?;
            }
            Kind::Bus { to_bus, .. } => {
                to_bus
                    .send(packet.to_vec())
                    .map_err(|_| LinkError::Closed {
                        link: self.name.clone(),
                    })?;
            }
        }
        Ok(())
    }

    /// Sony RESET: the camera expects sequence 0 next. A no-op on other links.
    pub async fn reset_sequence(&mut self) -> Result<(), LinkError> {
        let name = self.name.clone();
        if let Kind::Sony {
            sock,
            next_sequence,
        } = &mut self.kind
        {
            *next_sequence = 0;
            let m = IpMessage {
                payload_type: PayloadType::Control,
                sequence: 0,
                payload: vec![CONTROL_RESET],
            };
            sock.send(&m.encode())
                .await
                .map_err(|source| LinkError::Io { link: name, source })?;
        }
        Ok(())
    }

    /// The next message from the camera.
    pub async fn recv(&mut self) -> Result<LinkMsg, LinkError> {
        loop {
            if let Some(m) = self.pending.pop_front() {
                return Ok(m);
            }
            let name = self.name.clone();
            let io = |source| LinkError::Io {
                link: name.clone(),
                source,
            };
            let mut buf = [0u8; 512];
            match &mut self.kind {
                Kind::Sony { sock, .. } => {
                    let n = sock.recv(&mut buf).await.map_err(io)?;
                    let msg = match IpMessage::decode(&buf[..n]) {
                        Ok(m) => m,
                        Err(e) => {
                            self.pending.push_back(LinkMsg::Garbage {
                                reason: e.to_string(),
                            });
                            continue;
                        }
                    };
                    let m = match msg.payload_type {
                        PayloadType::ControlReply if msg.payload == [CONTROL_RESET] => {
                            LinkMsg::ResetDone
                        }
                        PayloadType::ControlReply if msg.payload == CONTROL_ERROR_SEQUENCE => {
                            LinkMsg::SequenceError {
                                sequence: msg.sequence,
                            }
                        }
                        PayloadType::ControlReply if msg.payload == CONTROL_ERROR_MESSAGE => {
                            LinkMsg::MessageTypeError {
                                sequence: msg.sequence,
                            }
                        }
                        PayloadType::Reply => decode_reply(&msg.payload, Some(msg.sequence)),
                        _ => LinkMsg::Garbage {
                            reason: format!("unexpected Sony message [{}]", visca::hex(&buf[..n])),
                        },
                    };
                    self.pending.push_back(m);
                }
                Kind::RawUdp { sock, framer } => {
                    let n = sock.recv(&mut buf).await.map_err(io)?;
                    let packets = framer.push(&buf[..n]);
                    if packets.is_empty() {
                        self.pending.push_back(LinkMsg::Garbage {
                            reason: format!(
                                "datagram without a packet [{}]",
                                visca::hex(&buf[..n])
                            ),
                        });
                    }
                    for p in packets {
                        self.pending.push_back(decode_reply(&p, None));
                    }
                }
                Kind::Bus { from_bus, .. } => match from_bus.recv().await {
                    Some(p) => self.pending.push_back(decode_reply(&p, None)),
                    None => {
                        return Err(LinkError::Closed {
                            link: self.name.clone(),
                        });
                    }
                },
                Kind::Stream { rd, framer, .. } => {
                    let n = rd.read(&mut buf).await.map_err(io)?;
                    if n == 0 {
                        return Err(LinkError::Closed {
                            link: self.name.clone(),
                        });
                    }
                    for p in framer.push(&buf[..n]) {
                        self.pending.push_back(decode_reply(&p, None));
                    }
                }
            }
        }
    }
}

/// A serial port shared by the cameras of a daisy chain. One task writes what the controllers
/// send and routes each reply to the controller of the camera that sent it (its header carries
/// the address); broadcast and undecodable replies go to every controller. The port closes when
/// the last controller lets go of the bus.
pub struct SerialBus {
    path: String,
    to_port: mpsc::UnboundedSender<Vec<u8>>,
    routes: Routes,
    stop: tokio_util::sync::CancellationToken,
}

/// Where replies go, by camera address.
type Routes = Arc<Mutex<HashMap<u8, mpsc::UnboundedSender<Vec<u8>>>>>;

/// Buses currently open, by device path, so that the controllers of one chain share one port.
static OPEN_BUSES: Mutex<Vec<(String, Weak<SerialBus>)>> = Mutex::new(Vec::new());

fn guard<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

impl Drop for SerialBus {
    fn drop(&mut self) {
        self.stop.cancel();
        guard(&OPEN_BUSES).retain(|(p, w)| p != &self.path && w.strong_count() > 0);
    }
}

impl SerialBus {
    /// The bus on `path`, opening the port if no controller has it open yet.
    pub fn open(path: &str, baud: u32) -> std::io::Result<Arc<SerialBus>> {
        let mut open = guard(&OPEN_BUSES);
        if let Some(bus) = open
            .iter()
            .find(|(p, _)| p == path)
            .and_then(|(_, w)| w.upgrade())
        {
            return Ok(bus);
        }
        use tokio_serial::SerialPortBuilderExt;
        let port = tokio_serial::new(path, baud)
            .data_bits(tokio_serial::DataBits::Eight)
            .parity(tokio_serial::Parity::None)
            .stop_bits(tokio_serial::StopBits::One)
            .flow_control(tokio_serial::FlowControl::None)
            .open_native_async()
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let (to_port, outgoing) = mpsc::unbounded_channel::<Vec<u8>>();
        let routes: Routes = Arc::default();
        let stop = tokio_util::sync::CancellationToken::new();
        tokio::spawn(run_bus(port, outgoing, routes.clone(), stop.clone()));
        let bus = Arc::new(SerialBus {
            path: path.to_string(),
            to_port,
            routes,
            stop,
        });
        open.retain(|(_, w)| w.strong_count() > 0);
        open.push((path.to_string(), Arc::downgrade(&bus)));
        Ok(bus)
    }

    /// Registers the controller of camera `address`: a sender to the port and a receiver of
    /// that camera's replies.
    fn join(
        &self,
        address: u8,
    ) -> (
        mpsc::UnboundedSender<Vec<u8>>,
        mpsc::UnboundedReceiver<Vec<u8>>,
    ) {
        let (tx, rx) = mpsc::unbounded_channel();
        guard(&self.routes).insert(address, tx);
        (self.to_port.clone(), rx)
    }
}

async fn run_bus(
    port: tokio_serial::SerialStream,
    mut outgoing: mpsc::UnboundedReceiver<Vec<u8>>,
    routes: Routes,
    stop: tokio_util::sync::CancellationToken,
) {
    let (mut rd, mut wr) = tokio::io::split(port);
    let mut framer = Framer::new();
    let mut buf = [0u8; 256];
    loop {
        tokio::select! {
            out = outgoing.recv() => match out {
                Some(p) => {
                    if wr.write_all(&p).await.is_err() || wr.flush().await.is_err() {
                        break;
                    }
                }
                None => break,
            },
            n = rd.read(&mut buf) => {
                let n = match n {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                for p in framer.push(&buf[..n]) {
                    let from = Reply::decode(&p).map(|(address, _)| address).unwrap_or(0);
                    for (addr, tx) in guard(&routes).iter() {
                        if from == 0 || *addr == from {
                            let _ = tx.send(p.clone());
                        }
                    }
                }
            }
            _ = stop.cancelled() => break,
        }
    }
    // Dropping the routes' senders tells every controller that the bus is gone.
    guard(&routes).clear();
}

fn decode_reply(bytes: &[u8], sequence: Option<u32>) -> LinkMsg {
    match Reply::decode(bytes) {
        Ok((address, reply)) => LinkMsg::Reply {
            sequence,
            address,
            reply,
            bytes: bytes.to_vec(),
        },
        Err(e) => LinkMsg::Garbage {
            reason: e.to_string(),
        },
    }
}

use pinhole_base::ptz::PtzEndpoint;
pub use pinhole_base::ptz::PtzLink;

/// The VISCA transport a checked link names; `None` for an ONVIF link, which has no controller.
pub fn visca_link(endpoint: PtzEndpoint) -> Option<LinkSpec> {
    Some(match endpoint {
        PtzEndpoint::SonyUdp(addr) => LinkSpec::SonyUdp { addr },
        PtzEndpoint::RawUdp(addr) => LinkSpec::RawUdp { addr },
        PtzEndpoint::RawTcp(addr) => LinkSpec::RawTcp { addr },
        PtzEndpoint::Serial { path, baud } => LinkSpec::Serial { path, baud },
        PtzEndpoint::Onvif { .. } => return None,
    })
}
