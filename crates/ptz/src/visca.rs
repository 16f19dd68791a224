//! The VISCA wire format, pure: typed commands and inquiries, reply decoding, the Sony
//! VISCA-over-IP header, and framing of byte streams. No I/O, so every byte is unit-tested against
//! the published command tables and the decoders are fuzzed (`fuzz/fuzz_targets/visca_*`).
//!
//! A packet is `8x <1..14 data bytes> FF` from the controller (x = camera address 1-7, `88` =
//! broadcast) and `z0 ... FF` from a camera (z = address + 8). Replies: ACK `z0 4y FF` and
//! completion `z0 5y FF` (y = command socket 1 or 2), inquiry data `z0 50 .. FF`, errors
//! `z0 6y ee FF`. Sony's IP transport prepends an 8-byte header (payload type, length, sequence).

use std::fmt;

/// Longest VISCA packet, terminator included.
pub const MAX_PACKET: usize = 16;
/// Packet terminator.
pub const TERMINATOR: u8 = 0xFF;
/// Broadcast header byte.
pub const BROADCAST: u8 = 0x88;

/// Why bytes could not be decoded. Carries the bytes so a capture can be matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    pub reason: &'static str,
    pub bytes: Vec<u8>,
}

impl DecodeError {
    fn new(reason: &'static str, bytes: &[u8]) -> Self {
        DecodeError {
            reason,
            bytes: bytes.iter().take(32).copied().collect(),
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} in [{}]", self.reason, hex(&self.bytes))
    }
}

impl std::error::Error for DecodeError {}

/// `81 01 04 00 02 FF` style.
pub fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PanDirection {
    Left,
    Right,
    Stop,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TiltDirection {
    Up,
    Down,
    Stop,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FocusMode {
    Auto,
    Manual,
}

/// A command (an instruction the camera executes in a socket, answered ACK then completion),
/// or one of the interface commands (Address Set, IF_Clear, Cancel).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Command {
    /// `88 30 01 FF`: numbers the cameras on a serial chain; broadcast only.
    AddressSet,
    /// `8x 01 00 01 FF`: clears the command buffers.
    IfClear,
    /// `8x 2y FF`: cancels the command running in socket y (1 or 2).
    Cancel {
        socket: u8,
    },
    Power {
        on: bool,
    },
    PanTiltDrive {
        pan_speed: u8,
        tilt_speed: u8,
        pan: PanDirection,
        tilt: TiltDirection,
    },
    PanTiltAbsolute {
        pan_speed: u8,
        tilt_speed: u8,
        pan: i16,
        tilt: i16,
    },
    PanTiltRelative {
        pan_speed: u8,
        tilt_speed: u8,
        pan: i16,
        tilt: i16,
    },
    PanTiltHome,
    PanTiltReset,
    ZoomStop,
    /// Standard speed when `speed` is `None`, else variable speed 0-7.
    ZoomTele {
        speed: Option<u8>,
    },
    ZoomWide {
        speed: Option<u8>,
    },
    ZoomDirect {
        position: u16,
    },
    FocusSetMode(FocusMode),
    FocusToggleMode,
    FocusOnePush,
    FocusStop,
    FocusFar {
        speed: Option<u8>,
    },
    FocusNear {
        speed: Option<u8>,
    },
    FocusDirect {
        position: u16,
    },
    PresetReset {
        preset: u8,
    },
    PresetSet {
        preset: u8,
    },
    PresetRecall {
        preset: u8,
    },
}

/// An inquiry: answered directly with `z0 50 <data> FF`, no ACK.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Inquiry {
    Power,
    ZoomPosition,
    FocusMode,
    FocusPosition,
    PanTiltPosition,
    Version,
}

/// What a controller may send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Request {
    Command(Command),
    Inquiry(Inquiry),
}

fn nibbles16(v: u16) -> [u8; 4] {
    [
        ((v >> 12) & 0x0F) as u8,
        ((v >> 8) & 0x0F) as u8,
        ((v >> 4) & 0x0F) as u8,
        (v & 0x0F) as u8,
    ]
}

fn from_nibbles(b: &[u8]) -> Option<u16> {
    if b.len() != 4 || b.iter().any(|n| *n > 0x0F) {
        return None;
    }
    Some(b.iter().fold(0u16, |acc, n| (acc << 4) | u16::from(*n)))
}

fn speed_nibble(base: u8, speed: Option<u8>, standard: u8) -> u8 {
    match speed {
        None => standard,
        Some(p) => base | (p.min(7)),
    }
}

impl Command {
    /// Is this one of the interface commands that are answered without a socket?
    pub fn is_interface(&self) -> bool {
        matches!(
            self,
            Command::AddressSet | Command::IfClear | Command::Cancel { .. }
        )
    }

    /// Encodes for camera `address` (1-7; 8 = broadcast). Address Set is always broadcast.
    pub fn encode(&self, address: u8) -> Vec<u8> {
        let head = 0x80 | (address & 0x0F);
        let mut p = vec![head];
        match *self {
            Command::AddressSet => return vec![BROADCAST, 0x30, 0x01, TERMINATOR],
            Command::IfClear => p.extend([0x01, 0x00, 0x01]),
            Command::Cancel { socket } => p.push(0x20 | (socket & 0x0F)),
            Command::Power { on } => p.extend([0x01, 0x04, 0x00, if on { 0x02 } else { 0x03 }]),
            Command::PanTiltDrive {
                pan_speed,
                tilt_speed,
                pan,
                tilt,
            } => {
                let d1 = match pan {
                    PanDirection::Left => 0x01,
                    PanDirection::Right => 0x02,
                    PanDirection::Stop => 0x03,
                };
                let d2 = match tilt {
                    TiltDirection::Up => 0x01,
                    TiltDirection::Down => 0x02,
                    TiltDirection::Stop => 0x03,
                };
                p.extend([0x01, 0x06, 0x01, pan_speed, tilt_speed, d1, d2]);
            }
            Command::PanTiltAbsolute {
                pan_speed,
                tilt_speed,
                pan,
                tilt,
            }
            | Command::PanTiltRelative {
                pan_speed,
                tilt_speed,
                pan,
                tilt,
            } => {
                let kind = if matches!(self, Command::PanTiltAbsolute { .. }) {
                    0x02
                } else {
                    0x03
                };
                p.extend([0x01, 0x06, kind, pan_speed, tilt_speed]);
                p.extend(nibbles16(pan as u16));
                p.extend(nibbles16(tilt as u16));
            }
            Command::PanTiltHome => p.extend([0x01, 0x06, 0x04]),
            Command::PanTiltReset => p.extend([0x01, 0x06, 0x05]),
            Command::ZoomStop => p.extend([0x01, 0x04, 0x07, 0x00]),
            Command::ZoomTele { speed } => {
                p.extend([0x01, 0x04, 0x07, speed_nibble(0x20, speed, 0x02)])
            }
            Command::ZoomWide { speed } => {
                p.extend([0x01, 0x04, 0x07, speed_nibble(0x30, speed, 0x03)])
            }
            Command::ZoomDirect { position } => {
                p.extend([0x01, 0x04, 0x47]);
                p.extend(nibbles16(position));
            }
            Command::FocusSetMode(FocusMode::Auto) => p.extend([0x01, 0x04, 0x38, 0x02]),
            Command::FocusSetMode(FocusMode::Manual) => p.extend([0x01, 0x04, 0x38, 0x03]),
            Command::FocusToggleMode => p.extend([0x01, 0x04, 0x38, 0x10]),
            Command::FocusOnePush => p.extend([0x01, 0x04, 0x18, 0x01]),
            Command::FocusStop => p.extend([0x01, 0x04, 0x08, 0x00]),
            Command::FocusFar { speed } => {
                p.extend([0x01, 0x04, 0x08, speed_nibble(0x20, speed, 0x02)])
            }
            Command::FocusNear { speed } => {
                p.extend([0x01, 0x04, 0x08, speed_nibble(0x30, speed, 0x03)])
            }
            Command::FocusDirect { position } => {
                p.extend([0x01, 0x04, 0x48]);
                p.extend(nibbles16(position));
            }
            Command::PresetReset { preset } => p.extend([0x01, 0x04, 0x3F, 0x00, preset]),
            Command::PresetSet { preset } => p.extend([0x01, 0x04, 0x3F, 0x01, preset]),
            Command::PresetRecall { preset } => p.extend([0x01, 0x04, 0x3F, 0x02, preset]),
        }
        p.push(TERMINATOR);
        p
    }
}

impl Inquiry {
    pub fn encode(&self, address: u8) -> Vec<u8> {
        let head = 0x80 | (address & 0x0F);
        let body: &[u8] = match self {
            Inquiry::Power => &[0x09, 0x04, 0x00],
            Inquiry::ZoomPosition => &[0x09, 0x04, 0x47],
            Inquiry::FocusMode => &[0x09, 0x04, 0x38],
            Inquiry::FocusPosition => &[0x09, 0x04, 0x48],
            Inquiry::PanTiltPosition => &[0x09, 0x06, 0x12],
            Inquiry::Version => &[0x09, 0x00, 0x02],
        };
        let mut p = vec![head];
        p.extend_from_slice(body);
        p.push(TERMINATOR);
        p
    }

    /// Decodes the data bytes of an inquiry reply (between `z0 50` and `FF`).
    pub fn decode_answer(&self, data: &[u8]) -> Result<Answer, DecodeError> {
        let bad = || DecodeError::new("inquiry reply of the wrong shape", data);
        Ok(match self {
            Inquiry::Power => match data {
                [0x02] => Answer::Power(true),
                [0x03] => Answer::Power(false),
                _ => return Err(bad()),
            },
            Inquiry::FocusMode => match data {
                [0x02] => Answer::FocusMode(FocusMode::Auto),
                [0x03] => Answer::FocusMode(FocusMode::Manual),
                _ => return Err(bad()),
            },
            Inquiry::ZoomPosition => Answer::ZoomPosition(from_nibbles(data).ok_or_else(bad)?),
            Inquiry::FocusPosition => Answer::FocusPosition(from_nibbles(data).ok_or_else(bad)?),
            Inquiry::PanTiltPosition => {
                if data.len() != 8 {
                    return Err(bad());
                }
                let pan = from_nibbles(&data[..4]).ok_or_else(bad)? as i16;
                let tilt = from_nibbles(&data[4..]).ok_or_else(bad)? as i16;
                Answer::PanTiltPosition { pan, tilt }
            }
            Inquiry::Version => {
                if data.len() != 7 {
                    return Err(bad());
                }
                Answer::Version {
                    vendor: u16::from_be_bytes([data[0], data[1]]),
                    model: u16::from_be_bytes([data[2], data[3]]),
                    rom: u16::from_be_bytes([data[4], data[5]]),
                    max_socket: data[6],
                }
            }
        })
    }

    /// Encodes an answer's data bytes (for the simulator).
    pub fn encode_answer(answer: &Answer) -> Vec<u8> {
        match *answer {
            Answer::Power(on) => vec![if on { 0x02 } else { 0x03 }],
            Answer::FocusMode(FocusMode::Auto) => vec![0x02],
            Answer::FocusMode(FocusMode::Manual) => vec![0x03],
            Answer::ZoomPosition(v) | Answer::FocusPosition(v) => nibbles16(v).to_vec(),
            Answer::PanTiltPosition { pan, tilt } => {
                let mut v = nibbles16(pan as u16).to_vec();
                v.extend(nibbles16(tilt as u16));
                v
            }
            Answer::Version {
                vendor,
                model,
                rom,
                max_socket,
            } => {
                let mut v = vendor.to_be_bytes().to_vec();
                v.extend(model.to_be_bytes());
                v.extend(rom.to_be_bytes());
                v.push(max_socket);
                v
            }
        }
    }
}

/// A decoded inquiry answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Power(bool),
    ZoomPosition(u16),
    FocusMode(FocusMode),
    FocusPosition(u16),
    PanTiltPosition {
        pan: i16,
        tilt: i16,
    },
    Version {
        vendor: u16,
        model: u16,
        rom: u16,
        max_socket: u8,
    },
}

fn check_frame(p: &[u8]) -> Result<&[u8], DecodeError> {
    if p.len() < 3 {
        return Err(DecodeError::new("packet shorter than 3 bytes", p));
    }
    if p.len() > MAX_PACKET {
        return Err(DecodeError::new("packet longer than 16 bytes", p));
    }
    if p[p.len() - 1] != TERMINATOR {
        return Err(DecodeError::new("packet does not end with FF", p));
    }
    let body = &p[1..p.len() - 1];
    if body.contains(&TERMINATOR) {
        return Err(DecodeError::new("FF inside a packet", p));
    }
    Ok(body)
}

/// Decodes a controller packet: returns the destination address (8 = broadcast) and the request.
pub fn decode_request(p: &[u8]) -> Result<(u8, Request), DecodeError> {
    let body = check_frame(p)?;
    if p[0] & 0xF0 != 0x80 {
        return Err(DecodeError::new("header is not 8x", p));
    }
    let address = p[0] & 0x0F;
    let syntax = || DecodeError::new("unknown command", p);
    let nib =
        |b: &[u8]| from_nibbles(b).ok_or_else(|| DecodeError::new("position nibble above 0F", p));
    use Command as C;
    let req = match body {
        [0x30, 0x01] if p[0] == BROADCAST => Request::Command(C::AddressSet),
        [0x01, 0x00, 0x01] => Request::Command(C::IfClear),
        [s] if s & 0xF0 == 0x20 => Request::Command(C::Cancel { socket: s & 0x0F }),
        [0x01, 0x04, 0x00, 0x02] => Request::Command(C::Power { on: true }),
        [0x01, 0x04, 0x00, 0x03] => Request::Command(C::Power { on: false }),
        [0x01, 0x06, 0x01, vv, ww, d1, d2] => {
            let pan = match d1 {
                0x01 => PanDirection::Left,
                0x02 => PanDirection::Right,
                0x03 => PanDirection::Stop,
                _ => return Err(syntax()),
            };
            let tilt = match d2 {
                0x01 => TiltDirection::Up,
                0x02 => TiltDirection::Down,
                0x03 => TiltDirection::Stop,
                _ => return Err(syntax()),
            };
            Request::Command(C::PanTiltDrive {
                pan_speed: *vv,
                tilt_speed: *ww,
                pan,
                tilt,
            })
        }
        [0x01, 0x06, kind @ (0x02 | 0x03), vv, ww, rest @ ..] if rest.len() == 8 => {
            let pan = nib(&rest[..4])? as i16;
            let tilt = nib(&rest[4..])? as i16;
            let (pan_speed, tilt_speed) = (*vv, *ww);
            Request::Command(if *kind == 0x02 {
                C::PanTiltAbsolute {
                    pan_speed,
                    tilt_speed,
                    pan,
                    tilt,
                }
            } else {
                C::PanTiltRelative {
                    pan_speed,
                    tilt_speed,
                    pan,
                    tilt,
                }
            })
        }
        [0x01, 0x06, 0x04] => Request::Command(C::PanTiltHome),
        [0x01, 0x06, 0x05] => Request::Command(C::PanTiltReset),
        [0x01, 0x04, 0x07, b] => Request::Command(match b {
            0x00 => C::ZoomStop,
            0x02 => C::ZoomTele { speed: None },
            0x03 => C::ZoomWide { speed: None },
            b if b & 0xF0 == 0x20 && b & 0x0F <= 7 => C::ZoomTele {
                speed: Some(b & 0x0F),
            },
            b if b & 0xF0 == 0x30 && b & 0x0F <= 7 => C::ZoomWide {
                speed: Some(b & 0x0F),
            },
            _ => return Err(syntax()),
        }),
        [0x01, 0x04, 0x47, rest @ ..] if rest.len() == 4 => Request::Command(C::ZoomDirect {
            position: nib(rest)?,
        }),
        [0x01, 0x04, 0x38, 0x02] => Request::Command(C::FocusSetMode(FocusMode::Auto)),
        [0x01, 0x04, 0x38, 0x03] => Request::Command(C::FocusSetMode(FocusMode::Manual)),
        [0x01, 0x04, 0x38, 0x10] => Request::Command(C::FocusToggleMode),
        [0x01, 0x04, 0x18, 0x01] => Request::Command(C::FocusOnePush),
        [0x01, 0x04, 0x08, b] => Request::Command(match b {
            0x00 => C::FocusStop,
            0x02 => C::FocusFar { speed: None },
            0x03 => C::FocusNear { speed: None },
            b if b & 0xF0 == 0x20 && b & 0x0F <= 7 => C::FocusFar {
                speed: Some(b & 0x0F),
            },
            b if b & 0xF0 == 0x30 && b & 0x0F <= 7 => C::FocusNear {
                speed: Some(b & 0x0F),
            },
            _ => return Err(syntax()),
        }),
        [0x01, 0x04, 0x48, rest @ ..] if rest.len() == 4 => Request::Command(C::FocusDirect {
            position: nib(rest)?,
        }),
        [0x01, 0x04, 0x3F, 0x00, pp] => Request::Command(C::PresetReset { preset: *pp }),
        [0x01, 0x04, 0x3F, 0x01, pp] => Request::Command(C::PresetSet { preset: *pp }),
        [0x01, 0x04, 0x3F, 0x02, pp] => Request::Command(C::PresetRecall { preset: *pp }),
        [0x09, 0x04, 0x00] => Request::Inquiry(Inquiry::Power),
        [0x09, 0x04, 0x47] => Request::Inquiry(Inquiry::ZoomPosition),
        [0x09, 0x04, 0x38] => Request::Inquiry(Inquiry::FocusMode),
        [0x09, 0x04, 0x48] => Request::Inquiry(Inquiry::FocusPosition),
        [0x09, 0x06, 0x12] => Request::Inquiry(Inquiry::PanTiltPosition),
        [0x09, 0x00, 0x02] => Request::Inquiry(Inquiry::Version),
        _ => return Err(syntax()),
    };
    Ok((address, req))
}

/// Error codes a camera reports in `z0 6y ee FF`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CameraError {
    MessageLength,
    Syntax,
    BufferFull,
    Cancelled,
    NoSocket,
    NotExecutable,
    /// A code outside the published table.
    Other(u8),
}

impl CameraError {
    pub fn code(self) -> u8 {
        match self {
            CameraError::MessageLength => 0x01,
            CameraError::Syntax => 0x02,
            CameraError::BufferFull => 0x03,
            CameraError::Cancelled => 0x04,
            CameraError::NoSocket => 0x05,
            CameraError::NotExecutable => 0x41,
            CameraError::Other(c) => c,
        }
    }

    pub fn from_code(c: u8) -> Self {
        match c {
            0x01 => CameraError::MessageLength,
            0x02 => CameraError::Syntax,
            0x03 => CameraError::BufferFull,
            0x04 => CameraError::Cancelled,
            0x05 => CameraError::NoSocket,
            0x41 => CameraError::NotExecutable,
            c => CameraError::Other(c),
        }
    }
}

impl fmt::Display for CameraError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CameraError::MessageLength => f.write_str("message length error"),
            CameraError::Syntax => f.write_str("syntax error"),
            CameraError::BufferFull => f.write_str("command buffer full"),
            CameraError::Cancelled => f.write_str("command cancelled"),
            CameraError::NoSocket => f.write_str("no socket (nothing to cancel)"),
            CameraError::NotExecutable => {
                f.write_str("command not executable in the current state")
            }
            CameraError::Other(c) => write!(f, "error code {c:02X}"),
        }
    }
}

/// A camera's reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Ack {
        socket: u8,
    },
    Completion {
        socket: u8,
    },
    /// Inquiry data (`z0 50 <data> FF`, data not empty).
    Data(Vec<u8>),
    Error {
        socket: u8,
        error: CameraError,
    },
    /// `88 30 0w FF`: Address Set passed along the chain; w = next free address.
    AddressSet {
        next: u8,
    },
    /// `88 01 00 01 FF`: IF_Clear broadcast passed back.
    IfClearBroadcast,
    /// `z0 38 FF`: the camera's network changed (serial chain).
    NetworkChange,
}

impl Reply {
    /// Encodes as camera `address` (1-7).
    pub fn encode(&self, address: u8) -> Vec<u8> {
        let z = ((address + 8) & 0x0F) << 4;
        let mut p = match self {
            Reply::Ack { socket } => vec![z, 0x40 | socket],
            Reply::Completion { socket } => vec![z, 0x50 | socket],
            Reply::Data(d) => {
                let mut v = vec![z, 0x50];
                v.extend_from_slice(d);
                v
            }
            Reply::Error { socket, error } => vec![z, 0x60 | socket, error.code()],
            Reply::AddressSet { next } => vec![BROADCAST, 0x30, *next],
            Reply::IfClearBroadcast => vec![BROADCAST, 0x01, 0x00, 0x01],
            Reply::NetworkChange => vec![z, 0x38],
        };
        p.push(TERMINATOR);
        p
    }

    /// Decodes one reply packet; returns the sender's address (0 for broadcasts) and the reply.
    pub fn decode(p: &[u8]) -> Result<(u8, Reply), DecodeError> {
        let body = check_frame(p)?;
        if p[0] == BROADCAST {
            return match body {
                [0x30, w] if (1..=8).contains(w) => Ok((0, Reply::AddressSet { next: *w })),
                [0x01, 0x00, 0x01] => Ok((0, Reply::IfClearBroadcast)),
                _ => Err(DecodeError::new("unknown broadcast reply", p)),
            };
        }
        let z = p[0] >> 4;
        if p[0] & 0x0F != 0 || !(0x9..=0xF).contains(&z) {
            return Err(DecodeError::new("reply header is not z0 (z = 9..F)", p));
        }
        let address = z - 8;
        let kind = body[0];
        let socket = kind & 0x0F;
        let reply = match (kind & 0xF0, &body[1..]) {
            (0x40, []) => Reply::Ack { socket },
            (0x50, []) => Reply::Completion { socket },
            (0x50, data) if socket == 0 => Reply::Data(data.to_vec()),
            (0x60, [code]) => Reply::Error {
                socket,
                error: CameraError::from_code(*code),
            },
            (0x30, []) if kind == 0x38 => Reply::NetworkChange,
            _ => return Err(DecodeError::new("unknown reply", p)),
        };
        Ok((address, reply))
    }
}

/// Splits a byte stream (serial line, raw TCP) into packets on `FF`. Garbage is dropped: a run
/// longer than a packet without a terminator is discarded up to the next `FF`, so one corrupt
/// packet costs one packet, not the link.
#[derive(Debug, Default)]
pub struct Framer {
    buf: Vec<u8>,
    overflowed: bool,
    /// Bytes thrown away because they could not be part of a packet.
    pub discarded: u64,
}

impl Framer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes; returns the complete packets they finish.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for &b in bytes {
            if self.overflowed {
                self.discarded += 1;
                if b == TERMINATOR {
                    self.overflowed = false;
                }
                continue;
            }
            self.buf.push(b);
            if b == TERMINATOR {
                if self.buf.len() >= 3 {
                    out.push(std::mem::take(&mut self.buf));
                } else {
                    self.discarded += self.buf.len() as u64;
                    self.buf.clear();
                }
            } else if self.buf.len() >= MAX_PACKET {
                self.discarded += self.buf.len() as u64;
                self.buf.clear();
                self.overflowed = true;
            }
        }
        out
    }
}

/// Sony VISCA-over-IP payload types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PayloadType {
    Command,
    Inquiry,
    Reply,
    DeviceSetting,
    Control,
    ControlReply,
}

impl PayloadType {
    pub fn code(self) -> u16 {
        match self {
            PayloadType::Command => 0x0100,
            PayloadType::Inquiry => 0x0110,
            PayloadType::Reply => 0x0111,
            PayloadType::DeviceSetting => 0x0120,
            PayloadType::Control => 0x0200,
            PayloadType::ControlReply => 0x0201,
        }
    }

    pub fn from_code(c: u16) -> Option<Self> {
        Some(match c {
            0x0100 => PayloadType::Command,
            0x0110 => PayloadType::Inquiry,
            0x0111 => PayloadType::Reply,
            0x0120 => PayloadType::DeviceSetting,
            0x0200 => PayloadType::Control,
            0x0201 => PayloadType::ControlReply,
            _ => return None,
        })
    }
}

/// Control payloads.
pub const CONTROL_RESET: u8 = 0x01;
/// Control error reply: abnormal sequence number.
pub const CONTROL_ERROR_SEQUENCE: [u8; 2] = [0x0F, 0x01];
/// Control error reply: abnormal message type.
pub const CONTROL_ERROR_MESSAGE: [u8; 2] = [0x0F, 0x02];

/// A Sony VISCA-over-IP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpMessage {
    pub payload_type: PayloadType,
    pub sequence: u32,
    pub payload: Vec<u8>,
}

impl IpMessage {
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(8 + self.payload.len());
        v.extend(self.payload_type.code().to_be_bytes());
        v.extend((self.payload.len() as u16).to_be_bytes());
        v.extend(self.sequence.to_be_bytes());
        v.extend_from_slice(&self.payload);
        v
    }

    pub fn decode(d: &[u8]) -> Result<IpMessage, DecodeError> {
        if d.len() < 9 {
            return Err(DecodeError::new(
                "datagram shorter than the 8-byte header plus 1",
                d,
            ));
        }
        let pt = u16::from_be_bytes([d[0], d[1]]);
        let payload_type = PayloadType::from_code(pt)
            .ok_or_else(|| DecodeError::new("unknown payload type", d))?;
        let len = u16::from_be_bytes([d[2], d[3]]) as usize;
        if !(1..=16).contains(&len) {
            return Err(DecodeError::new("payload length outside 1..=16", d));
        }
        if d.len() != 8 + len {
            return Err(DecodeError::new(
                "payload length does not match the datagram",
                d,
            ));
        }
        Ok(IpMessage {
            payload_type,
            sequence: u32::from_be_bytes([d[4], d[5], d[6], d[7]]),
            payload: d[8..].to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        s.split_whitespace()
            .map(|b| u8::from_str_radix(b, 16).expect("hex"))
            .collect()
    }

    /// Golden bytes from the published command tables (Sony EVI/SRG/BRC manuals, PTZOptics list).
    #[test]
    fn commands_match_the_tables() {
        use Command as C;
        let cases: Vec<(C, &str)> = vec![
            (C::AddressSet, "88 30 01 FF"),
            (C::IfClear, "81 01 00 01 FF"),
            (C::Cancel { socket: 2 }, "81 22 FF"),
            (C::Power { on: true }, "81 01 04 00 02 FF"),
            (C::Power { on: false }, "81 01 04 00 03 FF"),
            (
                C::PanTiltDrive {
                    pan_speed: 0x18,
                    tilt_speed: 0x14,
                    pan: PanDirection::Left,
                    tilt: TiltDirection::Up,
                },
                "81 01 06 01 18 14 01 01 FF",
            ),
            (
                C::PanTiltDrive {
                    pan_speed: 5,
                    tilt_speed: 5,
                    pan: PanDirection::Right,
                    tilt: TiltDirection::Down,
                },
                "81 01 06 01 05 05 02 02 FF",
            ),
            (
                C::PanTiltDrive {
                    pan_speed: 5,
                    tilt_speed: 5,
                    pan: PanDirection::Stop,
                    tilt: TiltDirection::Stop,
                },
                "81 01 06 01 05 05 03 03 FF",
            ),
            (
                C::PanTiltAbsolute {
                    pan_speed: 0x18,
                    tilt_speed: 0x17,
                    pan: 0x0990,
                    tilt: -0x0190,
                },
                "81 01 06 02 18 17 00 09 09 00 0F 0E 07 00 FF",
            ),
            (
                C::PanTiltRelative {
                    pan_speed: 1,
                    tilt_speed: 1,
                    pan: -1,
                    tilt: 1,
                },
                "81 01 06 03 01 01 0F 0F 0F 0F 00 00 00 01 FF",
            ),
            (C::PanTiltHome, "81 01 06 04 FF"),
            (C::PanTiltReset, "81 01 06 05 FF"),
            (C::ZoomStop, "81 01 04 07 00 FF"),
            (C::ZoomTele { speed: None }, "81 01 04 07 02 FF"),
            (C::ZoomWide { speed: None }, "81 01 04 07 03 FF"),
            (C::ZoomTele { speed: Some(7) }, "81 01 04 07 27 FF"),
            (C::ZoomWide { speed: Some(0) }, "81 01 04 07 30 FF"),
            (
                C::ZoomDirect { position: 0x4000 },
                "81 01 04 47 04 00 00 00 FF",
            ),
            (C::FocusSetMode(FocusMode::Auto), "81 01 04 38 02 FF"),
            (C::FocusSetMode(FocusMode::Manual), "81 01 04 38 03 FF"),
            (C::FocusToggleMode, "81 01 04 38 10 FF"),
            (C::FocusOnePush, "81 01 04 18 01 FF"),
            (C::FocusStop, "81 01 04 08 00 FF"),
            (C::FocusFar { speed: None }, "81 01 04 08 02 FF"),
            (C::FocusNear { speed: Some(3) }, "81 01 04 08 33 FF"),
            (
                C::FocusDirect { position: 0x1234 },
                "81 01 04 48 01 02 03 04 FF",
            ),
            (C::PresetReset { preset: 0 }, "81 01 04 3F 00 00 FF"),
            (C::PresetSet { preset: 0x10 }, "81 01 04 3F 01 10 FF"),
            (C::PresetRecall { preset: 0x59 }, "81 01 04 3F 02 59 FF"),
        ];
        for (cmd, bytes) in cases {
            let encoded = cmd.encode(1);
            assert_eq!(hex(&encoded), bytes, "{cmd:?}");
            assert_eq!(
                decode_request(&encoded),
                Ok((
                    if cmd == C::AddressSet { 8 } else { 1 },
                    Request::Command(cmd)
                )),
                "{bytes}"
            );
        }
        assert_eq!(
            hex(&Command::Power { on: true }.encode(3)),
            "83 01 04 00 02 FF"
        );
    }

    #[test]
    fn inquiries_match_the_tables() {
        let cases = [
            (Inquiry::Power, "81 09 04 00 FF"),
            (Inquiry::ZoomPosition, "81 09 04 47 FF"),
            (Inquiry::FocusMode, "81 09 04 38 FF"),
            (Inquiry::FocusPosition, "81 09 04 48 FF"),
            (Inquiry::PanTiltPosition, "81 09 06 12 FF"),
            (Inquiry::Version, "81 09 00 02 FF"),
        ];
        for (inq, bytes) in cases {
            assert_eq!(hex(&inq.encode(1)), bytes);
            assert_eq!(decode_request(&h(bytes)), Ok((1, Request::Inquiry(inq))));
        }
        assert_eq!(
            Inquiry::Power.decode_answer(&[0x02]),
            Ok(Answer::Power(true))
        );
        assert_eq!(
            Inquiry::ZoomPosition.decode_answer(&h("01 02 03 04")),
            Ok(Answer::ZoomPosition(0x1234))
        );
        assert_eq!(
            Inquiry::PanTiltPosition.decode_answer(&h("0F 0F 0F 0E 00 00 01 00")),
            Ok(Answer::PanTiltPosition {
                pan: -2,
                tilt: 0x10
            })
        );
        assert_eq!(
            Inquiry::Version.decode_answer(&h("00 01 05 19 01 00 02")),
            Ok(Answer::Version {
                vendor: 1,
                model: 0x0519,
                rom: 0x0100,
                max_socket: 2
            })
        );
        assert!(
            Inquiry::ZoomPosition
                .decode_answer(&h("10 00 00 00"))
                .is_err()
        );
        assert!(Inquiry::Power.decode_answer(&h("07")).is_err());
    }

    #[test]
    fn replies_decode_with_socket_and_error() {
        let cases = [
            ("90 41 FF", 1, Reply::Ack { socket: 1 }),
            ("90 52 FF", 1, Reply::Completion { socket: 2 }),
            ("90 50 02 FF", 1, Reply::Data(vec![2])),
            (
                "90 60 02 FF",
                1,
                Reply::Error {
                    socket: 0,
                    error: CameraError::Syntax,
                },
            ),
            (
                "90 60 03 FF",
                1,
                Reply::Error {
                    socket: 0,
                    error: CameraError::BufferFull,
                },
            ),
            (
                "90 61 04 FF",
                1,
                Reply::Error {
                    socket: 1,
                    error: CameraError::Cancelled,
                },
            ),
            (
                "90 62 05 FF",
                1,
                Reply::Error {
                    socket: 2,
                    error: CameraError::NoSocket,
                },
            ),
            (
                "90 61 41 FF",
                1,
                Reply::Error {
                    socket: 1,
                    error: CameraError::NotExecutable,
                },
            ),
            (
                "90 60 01 FF",
                1,
                Reply::Error {
                    socket: 0,
                    error: CameraError::MessageLength,
                },
            ),
            ("A0 41 FF", 2, Reply::Ack { socket: 1 }),
            ("F0 51 FF", 7, Reply::Completion { socket: 1 }),
            ("90 38 FF", 1, Reply::NetworkChange),
        ];
        for (bytes, addr, reply) in cases {
            assert_eq!(
                Reply::decode(&h(bytes)),
                Ok((addr, reply.clone())),
                "{bytes}"
            );
            assert_eq!(hex(&reply.encode(addr)), bytes);
        }
        assert_eq!(
            Reply::decode(&h("88 30 02 FF")),
            Ok((0, Reply::AddressSet { next: 2 }))
        );
        assert_eq!(
            Reply::decode(&h("88 01 00 01 FF")),
            Ok((0, Reply::IfClearBroadcast))
        );
        for bad in [
            "90 41",
            "90 FF",
            "10 41 FF",
            "80 41 FF",
            "90 41 00 FF",
            "90 70 FF",
            "90 50 FF FF",
        ] {
            assert!(Reply::decode(&h(bad)).is_err(), "{bad}");
        }
        let e = Reply::decode(&h("90 99 FF")).expect_err("bad");
        assert_eq!(e.to_string(), "unknown reply in [90 99 FF]");
    }

    #[test]
    fn sony_ip_header() {
        let reset = IpMessage {
            payload_type: PayloadType::Control,
            sequence: 0,
            payload: vec![CONTROL_RESET],
        };
        assert_eq!(hex(&reset.encode()), "02 00 00 01 00 00 00 00 01");
        let cmd = IpMessage {
            payload_type: PayloadType::Command,
            sequence: 0x0102_0304,
            payload: Command::Power { on: true }.encode(1),
        };
        let wire = cmd.encode();
        assert_eq!(hex(&wire), "01 00 00 06 01 02 03 04 81 01 04 00 02 FF");
        assert_eq!(IpMessage::decode(&wire), Ok(cmd));
        assert!(
            IpMessage::decode(&h("01 00 00 07 00 00 00 01 81 01 04 00 02 FF")).is_err(),
            "length mismatch"
        );
        assert!(
            IpMessage::decode(&h("03 00 00 01 00 00 00 01 01")).is_err(),
            "unknown type"
        );
        assert!(
            IpMessage::decode(&h("01 00 00 00 00 00 00 01")).is_err(),
            "empty"
        );
    }

    #[test]
    fn framer_survives_garbage() {
        let mut f = Framer::new();
        let mut stream = h("90 41 FF 90");
        stream.extend(vec![0x12; 40]);
        stream.extend(h("FF 00 FF 90 51 FF"));
        let mut out = f.push(&stream[..5]);
        out.extend(f.push(&stream[5..]));
        assert_eq!(out, vec![h("90 41 FF"), h("90 51 FF")]);
        assert!(f.discarded > 40);
    }

    proptest::proptest! {
        #[test]
        fn absolute_positions_round_trip(pan in proptest::num::i16::ANY, tilt in proptest::num::i16::ANY, vv in 1u8..=0x18, ww in 1u8..=0x17, addr in 1u8..=7) {
            let c = Command::PanTiltAbsolute { pan_speed: vv, tilt_speed: ww, pan, tilt };
            proptest::prop_assert_eq!(decode_request(&c.encode(addr)), Ok((addr, Request::Command(c))));
            let a = Answer::PanTiltPosition { pan, tilt };
            proptest::prop_assert_eq!(Inquiry::PanTiltPosition.decode_answer(&Inquiry::encode_answer(&a)), Ok(a));
        }

        #[test]
        fn zoom_focus_round_trip(z in proptest::num::u16::ANY, speed in proptest::option::of(0u8..=7)) {
            for c in [Command::ZoomDirect { position: z }, Command::FocusDirect { position: z }, Command::ZoomTele { speed }, Command::FocusNear { speed }] {
                proptest::prop_assert_eq!(decode_request(&c.encode(1)), Ok((1, Request::Command(c))));
            }
        }

        #[test]
        fn decoders_are_total(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..24)) {
            let _ = decode_request(&bytes);
            let _ = Reply::decode(&bytes);
            let _ = IpMessage::decode(&bytes);
            let mut f = Framer::new();
            for p in f.push(&bytes) {
                proptest::prop_assert!(p.len() <= MAX_PACKET && p.last() == Some(&TERMINATOR));
            }
        }
    }
}
