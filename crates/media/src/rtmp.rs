//! RTMP as a publisher speaks it, without I/O: the address split into application and stream
//! name, the handshake, messages cut into chunks, the server's chunks read back into messages,
//! and the commands of a publish (`connect`, `releaseStream`, `FCPublish`, `createStream`,
//! `publish`). [`crate::rtmp_publish`] drives it over a socket.
//!
//! The reader takes whatever the server sends: a message longer than [`MAX_INCOMING`], more
//! chunk streams at once than [`MAX_STREAMS`], a chunk continuing a stream never started, are
//! errors; nothing a server sends can make it allocate more than those bounds or panic.

use crate::amf0::{self, Value};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use std::collections::HashMap;
use std::fmt;

/// The chunk size Pinhole sends with (announced first): 4096 bytes cuts a 2.5 Mbit/s stream
/// into some 80 chunks a second instead of 2,400 at the protocol's default of 128.
pub const CHUNK_SIZE: u32 = 4096;

/// The longest message accepted from a server (its answers are a few hundred bytes).
pub const MAX_INCOMING: usize = 1 << 20;

/// How many chunk streams a server may have half-sent messages on at once.
pub const MAX_STREAMS: usize = 16;

/// Message types (RTMP 1.0, section 5.4 and 7.1).
pub mod kind {
    pub const SET_CHUNK_SIZE: u8 = 1;
    pub const ABORT: u8 = 2;
    pub const ACKNOWLEDGEMENT: u8 = 3;
    pub const USER_CONTROL: u8 = 4;
    pub const WINDOW_ACK_SIZE: u8 = 5;
    pub const SET_PEER_BANDWIDTH: u8 = 6;
    pub const AUDIO: u8 = 8;
    pub const VIDEO: u8 = 9;
    pub const DATA_AMF0: u8 = 18;
    pub const COMMAND_AMF0: u8 = 20;
}

/// Chunk streams Pinhole sends on.
pub mod chunk_stream {
    pub const CONTROL: u16 = 2;
    pub const COMMAND: u16 = 3;
    pub const AUDIO: u16 = 4;
    pub const DATA: u16 = 5;
    pub const VIDEO: u16 = 6;
}

/// Where to publish: `rtmp[s]://host[:port]/app[/more]/stream[?query]`, the stream name (the
/// key) being the last path segment with any query, the application what comes before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub tls: bool,
    pub host: String,
    pub port: u16,
    pub app: String,
    /// The stream key: never logged.
    pub stream: String,
}

impl Address {
    pub fn parse(url: &str) -> Result<Address, String> {
        let u = url::Url::parse(url).map_err(|e| format!("not an RTMP address: {e}"))?;
        let tls = match u.scheme() {
            "rtmp" => false,
            "rtmps" => true,
            s => return Err(format!("not an RTMP address: scheme {s}")),
        };
        let host = u
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or("an RTMP address needs a host")?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = u.port().unwrap_or(if tls { 443 } else { 1935 });
        let path = u.path().trim_start_matches('/');
        let (app, stream) = path
            .rsplit_once('/')
            .filter(|(a, s)| !a.is_empty() && !s.is_empty())
            .ok_or("an RTMP address needs an application and a stream key (rtmp://host/app/key)")?;
        let stream = match u.query() {
            Some(q) => format!("{stream}?{q}"),
            None => stream.to_string(),
        };
        Ok(Address {
            tls,
            host,
            port,
            app: app.to_string(),
            stream,
        })
    }

    /// The `tcUrl` of `connect`: the address without the stream.
    pub fn tc_url(&self) -> String {
        let scheme = if self.tls { "rtmps" } else { "rtmp" };
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!("{scheme}://{host}:{}/{}", self.port, self.app)
    }
}

/// The handshake's size of C1, S1, C2 and S2.
pub const HANDSHAKE_SIZE: usize = 1536;

/// C0 and C1: version 3, then a time, zeros and `random`.
pub fn c0_c1(random: &[u8; HANDSHAKE_SIZE - 8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(1 + HANDSHAKE_SIZE);
    b.push(3);
    b.extend_from_slice(&[0; 8]);
    b.extend_from_slice(random);
    b
}

/// Checks S0 and S1 (`s0_s1`, 1 + 1536 bytes) and returns C2, the echo of S1.
pub fn c2(s0_s1: &[u8]) -> Result<Vec<u8>, String> {
    match s0_s1.split_first() {
        Some((3, s1)) if s1.len() == HANDSHAKE_SIZE => Ok(s1.to_vec()),
        Some((v, _)) if *v != 3 => Err(format!(
            "the server answered the handshake with version {v}, not RTMP's 3"
        )),
        _ => Err("the server's handshake was cut short".into()),
    }
}

/// A whole message.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub kind: u8,
    pub timestamp: u32,
    pub stream_id: u32,
    pub payload: Bytes,
}

impl Message {
    /// The 4-byte value that protocol control messages carry (a chunk size, a chunk stream,
    /// a window), if the payload holds one.
    pub fn value(&self) -> Option<u32> {
        let b: [u8; 4] = self.payload.get(..4)?.try_into().ok()?;
        Some(u32::from_be_bytes(b))
    }
}

/// Appends `payload` as one message of `kind` on chunk stream `csid` (2 to 63), cut into chunks
/// of `chunk_size`: a full (type 0) header, then continuation headers.
pub fn write_message(
    out: &mut BytesMut,
    csid: u16,
    kind: u8,
    timestamp: u32,
    stream_id: u32,
    payload: &[u8],
    chunk_size: u32,
) {
    debug_assert!((2..64).contains(&csid));
    let basic = csid as u8 & 0x3f;
    let extended = timestamp >= 0xff_ffff;
    out.reserve(payload.len() + 16 + payload.len() / chunk_size as usize * 5);
    out.put_u8(basic);
    out.put_uint(u64::from(timestamp.min(0xff_ffff)), 3);
    // Message lengths are 24 bits: what Pinhole sends (a frame at most some hundred KB) fits.
    out.put_uint(payload.len().min(0xff_ffff) as u64, 3);
    out.put_u8(kind);
    out.put_u32_le(stream_id);
    if extended {
        out.put_u32(timestamp);
    }
    let mut chunks = payload.chunks(chunk_size.max(1) as usize);
    if let Some(first) = chunks.next() {
        out.put_slice(first);
    }
    for c in chunks {
        out.put_u8(0xc0 | basic);
        if extended {
            out.put_u32(timestamp);
        }
        out.put_slice(c);
    }
}

/// A protocol control message (chunk stream 2, message stream 0) with a 4-byte value.
pub fn write_control(out: &mut BytesMut, kind: u8, value: u32, chunk_size: u32) {
    write_message(
        out,
        chunk_stream::CONTROL,
        kind,
        0,
        0,
        &value.to_be_bytes(),
        chunk_size,
    );
}

/// An AMF0 command message of `values`.
pub fn write_command(out: &mut BytesMut, stream_id: u32, values: &[Value], chunk_size: u32) {
    let mut payload = Vec::new();
    for v in values {
        amf0::encode(v, &mut payload);
    }
    write_message(
        out,
        chunk_stream::COMMAND,
        kind::COMMAND_AMF0,
        0,
        stream_id,
        &payload,
        chunk_size,
    );
}

/// The publish's commands. Transaction ids: 1 connect, 2 releaseStream, 3 FCPublish,
/// 4 createStream, 5 publish.
pub mod command {
    use super::*;

    pub const CONNECT_TX: f64 = 1.0;
    pub const CREATE_STREAM_TX: f64 = 4.0;

    pub fn connect(a: &Address) -> Vec<Value> {
        vec![
            amf0::string("connect"),
            Value::Number(CONNECT_TX),
            amf0::object([
                ("app", amf0::string(&a.app)),
                ("type", amf0::string("nonprivate")),
                ("flashVer", amf0::string("FMLE/3.0 (compatible; Pinhole)")),
                ("tcUrl", amf0::string(&a.tc_url())),
            ]),
        ]
    }

    /// releaseStream, FCPublish and createStream, sent together after `connect` succeeds.
    pub fn before_publish(a: &Address) -> [Vec<Value>; 3] {
        [
            vec![
                amf0::string("releaseStream"),
                Value::Number(2.0),
                Value::Null,
                amf0::string(&a.stream),
            ],
            vec![
                amf0::string("FCPublish"),
                Value::Number(3.0),
                Value::Null,
                amf0::string(&a.stream),
            ],
            vec![
                amf0::string("createStream"),
                Value::Number(CREATE_STREAM_TX),
                Value::Null,
            ],
        ]
    }

    pub fn publish(a: &Address) -> Vec<Value> {
        vec![
            amf0::string("publish"),
            Value::Number(5.0),
            Value::Null,
            amf0::string(&a.stream),
            amf0::string("live"),
        ]
    }
}

/// What a server's command message means to a publisher.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// `_result` of transaction `tx`; for createStream, the stream id is `number`.
    Result { tx: f64, number: Option<f64> },
    /// `_error` of transaction `tx`, with the server's description.
    Error { tx: f64, why: String },
    /// `onStatus` (`NetStream.Publish.Start`, `NetStream.Publish.BadName`, ...).
    Status {
        error: bool,
        code: String,
        description: String,
    },
    /// The server closes the stream (`close`, `onFCPublish` with an error, ...).
    Close(String),
    /// Anything else (`onBWDone`, `onFCPublish` success): nothing to do.
    Other,
}

/// Reads a command message's payload.
pub fn answer(payload: &[u8]) -> Result<Answer, String> {
    let v = amf0::decode_all(payload).map_err(|e| format!("a bad command from the server: {e}"))?;
    let name = v.first().and_then(Value::as_str).unwrap_or_default();
    let tx = v.get(1).and_then(Value::as_f64).unwrap_or(0.0);
    let info = v.get(3).or(v.get(2));
    let text = |key: &str| {
        info.and_then(|i| i.get(key))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    Ok(match name {
        "_result" => Answer::Result {
            tx,
            number: v.get(3).and_then(Value::as_f64),
        },
        "_error" => Answer::Error {
            tx,
            why: [text("code"), text("description")]
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(": "),
        },
        "onStatus" => Answer::Status {
            error: text("level") == "error",
            code: text("code"),
            description: text("description"),
        },
        "close" => Answer::Close(text("description")),
        _ => Answer::Other,
    })
}

/// Why a server's bytes are not RTMP chunks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChunkError {
    TooLong(usize),
    TooManyStreams,
    /// A header that continues a chunk stream with no earlier header.
    NoPreviousHeader(u32),
    BadChunkSize(u32),
}

impl fmt::Display for ChunkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChunkError::TooLong(n) => write!(f, "the server sent a {n}-byte message"),
            ChunkError::TooManyStreams => f.write_str("the server opened too many chunk streams"),
            ChunkError::NoPreviousHeader(c) => {
                write!(
                    f,
                    "the server continued chunk stream {c} without starting it"
                )
            }
            ChunkError::BadChunkSize(n) => write!(f, "the server set a chunk size of {n}"),
        }
    }
}

impl std::error::Error for ChunkError {}

/// A chunk stream's last header, which the next chunks' compressed headers continue.
#[derive(Debug, Default, Clone, Copy)]
struct Header {
    timestamp: u32,
    delta: u32,
    length: usize,
    kind: u8,
    stream_id: u32,
    extended: bool,
}

#[derive(Debug, Default)]
struct StreamState {
    header: Header,
    /// The message read so far, when it spans chunks.
    partial: Option<BytesMut>,
}

/// Reads a server's chunks back into messages. Feed it what the socket gives
/// ([`ChunkReader::push`]) and take messages ([`ChunkReader::next_message`]) until none is
/// whole. A Set Chunk Size message changes how it reads the chunks after it.
#[derive(Debug)]
pub struct ChunkReader {
    buf: BytesMut,
    chunk_size: usize,
    streams: HashMap<u32, StreamState>,
}

impl Default for ChunkReader {
    fn default() -> Self {
        ChunkReader {
            buf: BytesMut::new(),
            chunk_size: 128,
            streams: HashMap::new(),
        }
    }
}

impl ChunkReader {
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes held that are not yet a whole chunk.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next whole message, if the bytes held complete one.
    pub fn next_message(&mut self) -> Result<Option<Message>, ChunkError> {
        loop {
            let Some((consumed, message)) = self.chunk()? else {
                return Ok(None);
            };
            self.buf.advance(consumed);
            // Else a chunk of a message not yet whole: keep reading.
            if let Some(m) = message {
                match (m.kind, m.value()) {
                    (kind::SET_CHUNK_SIZE, Some(n)) => {
                        let n = n & 0x7fff_ffff;
                        if n == 0 {
                            return Err(ChunkError::BadChunkSize(n));
                        }
                        self.chunk_size = (n as usize).min(MAX_INCOMING);
                    }
                    (kind::ABORT, Some(c)) => {
                        if let Some(s) = self.streams.get_mut(&c) {
                            s.partial = None;
                        }
                    }
                    _ => {}
                }
                return Ok(Some(m));
            }
        }
    }

    /// Reads one chunk from the front of the buffer, without consuming it: how many bytes it
    /// takes, and the message it completes. Nothing changes until the whole chunk is there.
    fn chunk(&mut self) -> Result<Option<(usize, Option<Message>)>, ChunkError> {
        let b = &self.buf[..];
        let Some(&first) = b.first() else {
            return Ok(None);
        };
        let fmt = first >> 6;
        let (csid, mut at) = match first & 0x3f {
            0 => match b.get(1) {
                Some(&x) => (64 + u32::from(x), 2),
                None => return Ok(None),
            },
            1 => match (b.get(1), b.get(2)) {
                (Some(&x), Some(&y)) => (64 + u32::from(x) + 256 * u32::from(y), 3),
                _ => return Ok(None),
            },
            c => (u32::from(c), 1),
        };
        let header_len = [11, 7, 3, 0][usize::from(fmt)];
        if b.len() < at + header_len {
            return Ok(None);
        }
        let h = &b[at..at + header_len];
        at += header_len;
        let u24 = |s: &[u8]| u32::from(s[0]) << 16 | u32::from(s[1]) << 8 | u32::from(s[2]);
        if !self.streams.contains_key(&csid) {
            if fmt != 0 {
                return Err(ChunkError::NoPreviousHeader(csid));
            }
            if self.streams.len() >= MAX_STREAMS {
                // Forget finished streams before refusing a new one.
                self.streams.retain(|_, s| s.partial.is_some());
                if self.streams.len() >= MAX_STREAMS {
                    return Err(ChunkError::TooManyStreams);
                }
            }
        }
        let known = self.streams.get(&csid);
        let mut s = known.map(|k| k.header).unwrap_or_default();
        let have = known.and_then(|k| k.partial.as_ref()).map(BytesMut::len);
        let starts = have.is_none();
        let mut field = 0u32;
        if fmt <= 2 {
            field = u24(&h[0..3]);
            s.extended = field == 0xff_ffff;
        }
        if fmt <= 1 {
            s.length = u24(&h[3..6]) as usize;
            s.kind = h[6];
            if s.length > MAX_INCOMING {
                return Err(ChunkError::TooLong(s.length));
            }
        }
        if fmt == 0 {
            s.stream_id = u32::from_le_bytes([h[7], h[8], h[9], h[10]]);
        }
        // The extended timestamp follows whenever the header's field said so (type 3 chunks
        // repeat it).
        if s.extended {
            if b.len() < at + 4 {
                return Ok(None);
            }
            field = u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
            at += 4;
        }
        if starts {
            match fmt {
                0 => {
                    s.timestamp = field;
                    s.delta = 0;
                }
                1 | 2 => {
                    s.delta = field;
                    s.timestamp = s.timestamp.wrapping_add(field);
                }
                _ => s.timestamp = s.timestamp.wrapping_add(s.delta),
            }
        }
        let have = have.unwrap_or(0);
        let take = (s.length - have.min(s.length)).min(self.chunk_size);
        if b.len() < at + take {
            return Ok(None);
        }
        let state = self.streams.entry(csid).or_default();
        state.header = s;
        let mut partial = state.partial.take().unwrap_or_default();
        partial.extend_from_slice(&b[at..at + take]);
        at += take;
        let message = if partial.len() >= s.length {
            Some(Message {
                kind: s.kind,
                timestamp: s.timestamp,
                stream_id: s.stream_id,
                payload: partial.freeze(),
            })
        } else {
            state.partial = Some(partial);
            None
        };
        Ok(Some((at, message)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_split_into_application_and_key() {
        let a = Address::parse("rtmp://a.rtmp.youtube.com/live2/abcd-efgh").unwrap();
        assert_eq!(
            (
                a.tls,
                a.host.as_str(),
                a.port,
                a.app.as_str(),
                a.stream.as_str()
            ),
            (false, "a.rtmp.youtube.com", 1935, "live2", "abcd-efgh")
        );
        assert_eq!(a.tc_url(), "rtmp://a.rtmp.youtube.com:1935/live2");
        let a =
            Address::parse("rtmps://live-api-s.facebook.com:443/rtmp/FB-1-0?s_bl=1&a=x").unwrap();
        assert_eq!((a.tls, a.port, a.app.as_str()), (true, 443, "rtmp"));
        assert_eq!(a.stream, "FB-1-0?s_bl=1&a=x");
        let a = Address::parse("rtmp://127.0.0.1:1936/app/inst/key").unwrap();
        assert_eq!((a.app.as_str(), a.stream.as_str()), ("app/inst", "key"));
        let a = Address::parse("rtmp://[::1]/live/k").unwrap();
        assert_eq!(a.tc_url(), "rtmp://[::1]:1935/live");
        for bad in [
            "http://x/live/k",
            "rtmp://x/live",
            "rtmp://x/",
            "rtmp:///live/k",
            "nonsense",
        ] {
            assert!(Address::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_handshake_echoes_the_servers_s1() {
        let c = c0_c1(&[7; HANDSHAKE_SIZE - 8]);
        assert_eq!((c.len(), c[0], c[9]), (1 + HANDSHAKE_SIZE, 3, 7));
        let mut s = vec![3u8];
        s.extend((0..HANDSHAKE_SIZE).map(|i| i as u8));
        assert_eq!(c2(&s).unwrap(), s[1..].to_vec());
        s[0] = 6;
        assert!(c2(&s).unwrap_err().contains("version 6"));
        assert!(c2(&[3, 1, 2]).is_err());
    }

    fn read_all(bytes: &[u8], chunk_size: Option<u32>) -> Vec<Message> {
        let mut r = ChunkReader::default();
        if let Some(n) = chunk_size {
            r.chunk_size = n as usize;
        }
        // A byte at a time: every split point of the stream.
        let mut out = Vec::new();
        for b in bytes {
            r.push(&[*b]);
            while let Some(m) = r.next_message().unwrap() {
                out.push(m);
            }
        }
        assert_eq!(r.buffered(), 0);
        out
    }

    #[test]
    fn messages_written_read_back_across_chunks() {
        let mut out = BytesMut::new();
        let big: Vec<u8> = (0..10_000).map(|i| i as u8).collect();
        write_control(&mut out, kind::SET_CHUNK_SIZE, 128, 128);
        write_message(&mut out, chunk_stream::VIDEO, kind::VIDEO, 40, 1, &big, 128);
        write_message(
            &mut out,
            chunk_stream::AUDIO,
            kind::AUDIO,
            0x0100_0000,
            1,
            &big[..300],
            128,
        );
        write_command(
            &mut out,
            0,
            &command::connect(&Address::parse("rtmp://h/a/k").unwrap()),
            128,
        );
        let m = read_all(&out, None);
        assert_eq!(m.len(), 4);
        assert_eq!(
            (m[1].kind, m[1].timestamp, m[1].stream_id),
            (kind::VIDEO, 40, 1)
        );
        assert_eq!(&m[1].payload[..], &big[..]);
        assert_eq!(
            (m[2].timestamp, &m[2].payload[..]),
            (0x0100_0000, &big[..300])
        );
        let v = amf0::decode_all(&m[3].payload).unwrap();
        assert_eq!(v[0].as_str(), Some("connect"));
        assert_eq!(
            v[2].get("tcUrl").and_then(Value::as_str),
            Some("rtmp://h:1935/a")
        );
    }

    #[test]
    fn the_servers_chunk_size_and_compressed_headers_are_followed() {
        // Set Chunk Size 4096, then a 5000-byte message in 4096-byte chunks, then a type 1 and
        // a type 3 header continuing chunk stream 3 with a timestamp delta.
        let mut out = BytesMut::new();
        write_control(&mut out, kind::SET_CHUNK_SIZE, 4096, 128);
        write_message(&mut out, 3, kind::COMMAND_AMF0, 1000, 0, &[9; 5000], 4096);
        out.put_slice(&[0x43, 0, 0, 10, 0, 0, 2, kind::COMMAND_AMF0, 1, 2]);
        out.put_slice(&[0xc3, 3, 4]);
        let m = read_all(&out, None);
        assert_eq!(m.len(), 4);
        assert_eq!(m[1].payload.len(), 5000);
        assert_eq!((m[2].timestamp, &m[2].payload[..]), (1010, &[1, 2][..]));
        assert_eq!((m[3].timestamp, &m[3].payload[..]), (1020, &[3, 4][..]));
    }

    #[test]
    fn hostile_chunks_are_errors() {
        let mut r = ChunkReader::default();
        r.push(&[0x43, 0, 0, 0, 0, 0, 1, 20, 0]);
        assert_eq!(r.next_message(), Err(ChunkError::NoPreviousHeader(3)));
        let mut r = ChunkReader::default();
        r.push(&[0x03, 0, 0, 0, 0xff, 0xff, 0xff, 20, 0, 0, 0, 0]);
        assert_eq!(r.next_message(), Err(ChunkError::TooLong(0xff_ffff)));
        let mut r = ChunkReader::default();
        let mut out = BytesMut::new();
        write_control(&mut out, kind::SET_CHUNK_SIZE, 0, 128);
        r.push(&out);
        assert_eq!(r.next_message(), Err(ChunkError::BadChunkSize(0)));
        // Half-sent messages on ever new chunk streams.
        let mut r = ChunkReader::default();
        for c in 0..=MAX_STREAMS as u8 {
            r.push(&[0x00, c, 0, 0, 0, 0, 0, 200, 20, 0, 0, 0, 0]);
            r.push(&[0; 128]);
        }
        let mut result = Ok(None);
        for _ in 0..=MAX_STREAMS {
            result = r.next_message();
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result, Err(ChunkError::TooManyStreams));
    }

    #[test]
    fn answers_read_as_a_publisher_needs_them() {
        let enc = |values: &[Value]| {
            let mut b = Vec::new();
            for v in values {
                amf0::encode(v, &mut b);
            }
            b
        };
        assert_eq!(
            answer(&enc(&[
                amf0::string("_result"),
                Value::Number(4.0),
                Value::Null,
                Value::Number(1.0)
            ])),
            Ok(Answer::Result {
                tx: 4.0,
                number: Some(1.0)
            })
        );
        let status = enc(&[
            amf0::string("onStatus"),
            Value::Number(0.0),
            Value::Null,
            amf0::object([
                ("level", amf0::string("error")),
                ("code", amf0::string("NetStream.Publish.BadName")),
                ("description", amf0::string("Already publishing")),
            ]),
        ]);
        assert_eq!(
            answer(&status),
            Ok(Answer::Status {
                error: true,
                code: "NetStream.Publish.BadName".into(),
                description: "Already publishing".into()
            })
        );
        let err = enc(&[
            amf0::string("_error"),
            Value::Number(1.0),
            Value::Null,
            amf0::object([("code", amf0::string("NetConnection.Connect.Rejected"))]),
        ]);
        assert_eq!(
            answer(&err),
            Ok(Answer::Error {
                tx: 1.0,
                why: "NetConnection.Connect.Rejected".into()
            })
        );
        assert_eq!(answer(&enc(&[amf0::string("onBWDone")])), Ok(Answer::Other));
        assert!(answer(&[0x02, 0, 9]).is_err());
    }
}
