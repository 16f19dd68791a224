//! One RTMP destination's connection: TCP (TLS for `rtmps`), the handshake, `connect` and
//! `publish`, then the output's FLV tags ([`crate::flv_feed`]) written as they come, on the
//! appliance's async runtime rather than on threads of its own.
//!
//! Every way it can end is an error in words a user can act on (nothing listens there, the
//! server refused the stream key, the server went away); the caller reconnects with backoff.

use crate::flv::{Tag, TagKind};
use crate::flv_feed::Subscription;
use crate::rtmp::{self, Address, Answer, ChunkReader, Message, chunk_stream, kind};
use bytes::BytesMut;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// How long connecting, the handshake and the publish may take.
const SETUP_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a write may wait on a server that takes nothing.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Tags written at once at most (a keyframe with the audio that waited for it).
const BATCH: usize = 32;

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// Publishes to `url` (with its stream key) until the connection fails; returns why.
/// `subscribe` is called once the server has accepted the stream.
pub async fn publish(
    url: &str,
    subscribe: impl FnOnce() -> Subscription,
    bytes_sent: &AtomicU64,
) -> String {
    let address = match Address::parse(url) {
        Ok(a) => a,
        Err(e) => return e,
    };
    let setup = tokio::time::timeout(SETUP_TIMEOUT, async {
        let stream = open(&address).await?;
        let mut c = Connection::new(stream);
        c.handshake().await?;
        let stream_id = c.start_publish(&address).await?;
        Ok::<_, String>((c, stream_id))
    })
    .await;
    let (mut c, stream_id) = match setup {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => return e,
        Err(_) => return "the server did not answer in time (no publish within 10 s)".into(),
    };
    c.stream(stream_id, subscribe(), bytes_sent).await
}

async fn open(a: &Address) -> Result<Box<dyn Stream>, String> {
    let tcp = tokio::net::TcpStream::connect((a.host.as_str(), a.port))
        .await
        .map_err(|e| connect_error(&e))?;
    let _ = tcp.set_nodelay(true);
    if !a.tls {
        return Ok(Box::new(tcp));
    }
    let name = rustls::pki_types::ServerName::try_from(a.host.clone())
        .map_err(|e| format!("not a TLS server name: {e}"))?;
    let tls = tokio_rustls::TlsConnector::from(tls_config()?)
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS with the server failed: {e}"))?;
    Ok(Box::new(tls))
}

/// The system's certificate file, as OpenSSL reads it (`SSL_CERT_FILE` names another).
const SYSTEM_CERTS: &str = "/etc/ssl/certs/ca-certificates.crt";

/// TLS for `rtmps://`: the web's root certificates (built in, so an appliance without a CA
/// bundle can still reach the platforms), and the system's, where it has them.
fn tls_config() -> Result<Arc<rustls::ClientConfig>, String> {
    static CONFIG: std::sync::OnceLock<Result<Arc<rustls::ClientConfig>, String>> =
        std::sync::OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let mut roots = rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            let file = std::env::var_os("SSL_CERT_FILE")
                .map(std::path::PathBuf::from)
                .unwrap_or_else(|| SYSTEM_CERTS.into());
            if let Ok(certs) = <rustls::pki_types::CertificateDer as rustls::pki_types::pem::PemObject>::pem_file_iter(&file) {
                let (added, ignored) = roots.add_parsable_certificates(certs.flatten());
                tracing::debug!(file = %file.display(), added, ignored, "RTMPS trusts the system's certificates");
            }
            let config = rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
            Ok(Arc::new(config))
        })
        .clone()
}

fn connect_error(e: &std::io::Error) -> String {
    use std::io::ErrorKind as K;
    match e.kind() {
        K::ConnectionRefused => {
            "nothing listens there: check the host and port (connection refused)".into()
        }
        K::TimedOut => "the server did not answer in time (connecting timed out)".into(),
        _ if e.to_string().contains("lookup") || e.to_string().contains("resolve") => {
            format!("the host name does not resolve ({e})")
        }
        _ => format!("cannot connect: {e}"),
    }
}

/// Why the server's answer ends the publish.
fn refused(why: &str) -> String {
    format!("the server refused to publish: check the stream key ({why})")
}

struct Connection {
    io: Box<dyn Stream>,
    reader: ChunkReader,
    read_buf: Vec<u8>,
    out: BytesMut,
    /// Bytes read, and the server's acknowledgement window.
    received: u64,
    acked: u64,
    window: Option<u32>,
}

impl Connection {
    fn new(io: Box<dyn Stream>) -> Connection {
        Connection {
            io,
            reader: ChunkReader::default(),
            read_buf: vec![0; 16 * 1024],
            out: BytesMut::new(),
            received: 0,
            acked: 0,
            window: None,
        }
    }

    async fn handshake(&mut self) -> Result<(), String> {
        let mut random = [0u8; rtmp::HANDSHAKE_SIZE - 8];
        rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut random);
        self.io
            .write_all(&rtmp::c0_c1(&random))
            .await
            .map_err(|e| closed(&e))?;
        let mut s0_s1 = vec![0u8; 1 + rtmp::HANDSHAKE_SIZE];
        self.io
            .read_exact(&mut s0_s1)
            .await
            .map_err(|e| closed(&e))?;
        let c2 = rtmp::c2(&s0_s1)?;
        self.io.write_all(&c2).await.map_err(|e| closed(&e))?;
        let mut s2 = vec![0u8; rtmp::HANDSHAKE_SIZE];
        self.io.read_exact(&mut s2).await.map_err(|e| closed(&e))?;
        Ok(())
    }

    /// `connect`, then `createStream` and `publish`; returns the stream's id.
    async fn start_publish(&mut self, a: &Address) -> Result<u32, String> {
        rtmp::write_control(
            &mut self.out,
            kind::SET_CHUNK_SIZE,
            rtmp::CHUNK_SIZE,
            rtmp::CHUNK_SIZE,
        );
        rtmp::write_command(
            &mut self.out,
            0,
            &rtmp::command::connect(a),
            rtmp::CHUNK_SIZE,
        );
        self.flush().await?;
        loop {
            match self.next_answer().await? {
                Answer::Result { tx, .. } if tx == rtmp::command::CONNECT_TX => break,
                Answer::Error { tx, why } if tx == rtmp::command::CONNECT_TX => {
                    return Err(format!(
                        "the server refused the connection ({why}): check the application in the address"
                    ));
                }
                Answer::Close(why) => return Err(refused(&why)),
                _ => {}
            }
        }
        for command in rtmp::command::before_publish(a) {
            rtmp::write_command(&mut self.out, 0, &command, rtmp::CHUNK_SIZE);
        }
        self.flush().await?;
        let stream_id = loop {
            match self.next_answer().await? {
                Answer::Result { tx, number } if tx == rtmp::command::CREATE_STREAM_TX => {
                    break number
                        .filter(|n| *n >= 0.0 && *n < f64::from(u32::MAX))
                        .unwrap_or(1.0) as u32;
                }
                Answer::Error { tx, why } if tx == rtmp::command::CREATE_STREAM_TX => {
                    return Err(refused(&why));
                }
                Answer::Close(why) => return Err(refused(&why)),
                _ => {}
            }
        };
        rtmp::write_command(
            &mut self.out,
            stream_id,
            &rtmp::command::publish(a),
            rtmp::CHUNK_SIZE,
        );
        self.flush().await?;
        loop {
            match self.next_answer().await {
                Ok(Answer::Status {
                    error: false, code, ..
                }) if code == "NetStream.Publish.Start" => {
                    return Ok(stream_id);
                }
                Ok(Answer::Status {
                    error: true,
                    code,
                    description,
                }) => {
                    return Err(refused(&format!("{code}: {description}")));
                }
                Ok(Answer::Error { why, .. } | Answer::Close(why)) => return Err(refused(&why)),
                Ok(_) => {}
                // Servers that check keys out of band (nginx's on_publish) just hang up.
                Err(e) if e.starts_with("the server closed") => {
                    return Err(refused("it closed the connection on publish"));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Sends the stream: metadata and codec configurations, then tags until the connection
    /// fails or the output ends.
    async fn stream(
        &mut self,
        stream_id: u32,
        mut sub: Subscription,
        bytes_sent: &AtomicU64,
    ) -> String {
        rtmp::write_message(
            &mut self.out,
            chunk_stream::DATA,
            kind::DATA_AMF0,
            0,
            stream_id,
            &sub.metadata,
            rtmp::CHUNK_SIZE,
        );
        for tag in &sub.configs {
            write_tag(&mut self.out, stream_id, tag);
        }
        loop {
            if !self.out.is_empty() {
                let n = self.out.len() as u64;
                match tokio::time::timeout(WRITE_TIMEOUT, self.flush()).await {
                    Ok(Ok(())) => {
                        bytes_sent.fetch_add(n, Ordering::Relaxed);
                    }
                    Ok(Err(e)) => return e,
                    Err(_) => {
                        return "the server stopped taking the stream (nothing written for 10 s)"
                            .into();
                    }
                }
            }
            tokio::select! {
                tag = sub.tags.recv() => {
                    let Some(tag) = tag else {
                        return "the output ended".into();
                    };
                    write_tag(&mut self.out, stream_id, &tag);
                    for _ in 1..BATCH {
                        match sub.tags.try_recv() {
                            Ok(tag) => write_tag(&mut self.out, stream_id, &tag),
                            Err(_) => break,
                        }
                    }
                }
                read = self.io.read(&mut self.read_buf) => {
                    if let Err(e) = self.took(read) {
                        return e;
                    }
                    loop {
                        match self.reader.next_message() {
                            Ok(Some(m)) => {
                                if let Err(e) = self.handle(m) {
                                    return e;
                                }
                            }
                            Ok(None) => break,
                            Err(e) => return format!("the server sent bad RTMP: {e}"),
                        }
                    }
                }
            }
        }
    }

    async fn flush(&mut self) -> Result<(), String> {
        let out = self.out.split();
        self.io.write_all(&out).await.map_err(|e| closed(&e))?;
        self.io.flush().await.map_err(|e| closed(&e))
    }

    /// Takes in what a read gave.
    fn took(&mut self, read: std::io::Result<usize>) -> Result<(), String> {
        match read {
            Ok(0) => Err("the server closed the connection".into()),
            Ok(n) => {
                self.reader.push(&self.read_buf[..n]);
                self.received += n as u64;
                Ok(())
            }
            Err(e) => Err(closed(&e)),
        }
    }

    /// The next command from the server, answering its control messages meanwhile.
    async fn next_answer(&mut self) -> Result<Answer, String> {
        loop {
            while let Some(m) = self
                .reader
                .next_message()
                .map_err(|e| format!("the server sent bad RTMP: {e}"))?
            {
                if m.kind == kind::COMMAND_AMF0 {
                    let answer = rtmp::answer(&m.payload)?;
                    if !self.out.is_empty() {
                        self.flush().await?;
                    }
                    return Ok(answer);
                }
                self.handle(m)?;
            }
            if !self.out.is_empty() {
                self.flush().await?;
            }
            let read = self.io.read(&mut self.read_buf).await;
            self.took(read)?;
        }
    }

    /// Answers a server's message while streaming: pings, acknowledgements, a stream closed
    /// under it.
    fn handle(&mut self, m: Message) -> Result<(), String> {
        match m.kind {
            kind::WINDOW_ACK_SIZE => {
                if let Some(w) = m.value() {
                    self.window = Some(w).filter(|w| *w > 0);
                }
            }
            kind::USER_CONTROL if m.payload.len() >= 6 && m.payload[..2] == [0, 6] => {
                // Ping request: answer with the same time.
                let mut pong = vec![0, 7];
                pong.extend_from_slice(&m.payload[2..6]);
                rtmp::write_message(
                    &mut self.out,
                    chunk_stream::CONTROL,
                    kind::USER_CONTROL,
                    0,
                    0,
                    &pong,
                    rtmp::CHUNK_SIZE,
                );
            }
            kind::COMMAND_AMF0 => match rtmp::answer(&m.payload)? {
                Answer::Status {
                    error: true,
                    code,
                    description,
                } => {
                    return Err(format!(
                        "the server ended the stream ({code}: {description})"
                    ));
                }
                Answer::Close(why) => return Err(format!("the server ended the stream ({why})")),
                _ => {}
            },
            _ => {}
        }
        if let Some(w) = self.window
            && self.received - self.acked >= u64::from(w)
        {
            self.acked = self.received;
            rtmp::write_control(
                &mut self.out,
                kind::ACKNOWLEDGEMENT,
                self.received as u32,
                rtmp::CHUNK_SIZE,
            );
        }
        Ok(())
    }
}

fn write_tag(out: &mut BytesMut, stream_id: u32, tag: &Tag) {
    let (csid, k) = match tag.kind {
        TagKind::Audio => (chunk_stream::AUDIO, kind::AUDIO),
        TagKind::Video => (chunk_stream::VIDEO, kind::VIDEO),
    };
    rtmp::write_message(out, csid, k, tag.ms, stream_id, &tag.body, rtmp::CHUNK_SIZE);
}

fn closed(e: &std::io::Error) -> String {
    use std::io::ErrorKind as K;
    match e.kind() {
        K::UnexpectedEof | K::ConnectionReset | K::BrokenPipe | K::ConnectionAborted => {
            format!("the server closed the connection ({e})")
        }
        _ => format!("the connection failed: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(out: &[u8]) -> Vec<Message> {
        let mut r = ChunkReader::default();
        r.push(out);
        let mut m = Vec::new();
        while let Some(x) = r.next_message().unwrap() {
            // What Pinhole sends is in its own chunk size.
            if x.kind == kind::SET_CHUNK_SIZE {
                continue;
            }
            m.push(x);
        }
        m
    }

    fn connection() -> Connection {
        let (io, _peer) = tokio::io::duplex(64);
        Connection::new(Box::new(io))
    }

    #[test]
    fn pings_are_answered_with_their_time() {
        let mut c = connection();
        c.handle(Message {
            kind: kind::USER_CONTROL,
            timestamp: 0,
            stream_id: 0,
            payload: bytes::Bytes::from_static(&[0, 6, 0, 0, 0x30, 0x39]),
        })
        .unwrap();
        let m = messages(&c.out);
        assert_eq!(m.len(), 1);
        assert_eq!(
            (m[0].kind, &m[0].payload[..]),
            (kind::USER_CONTROL, &[0, 7, 0, 0, 0x30, 0x39][..])
        );
        // Other user control events (stream begin) need no answer.
        c.out.clear();
        c.handle(Message {
            kind: kind::USER_CONTROL,
            timestamp: 0,
            stream_id: 0,
            payload: bytes::Bytes::from_static(&[0, 0, 0, 0, 0, 1]),
        })
        .unwrap();
        assert!(c.out.is_empty());
    }

    #[test]
    fn what_was_read_is_acknowledged_each_window() {
        let mut c = connection();
        let window = |n: u32| Message {
            kind: kind::WINDOW_ACK_SIZE,
            timestamp: 0,
            stream_id: 0,
            payload: bytes::Bytes::copy_from_slice(&n.to_be_bytes()),
        };
        c.handle(window(1000)).unwrap();
        c.received = 999;
        c.handle(window(1000)).unwrap();
        assert!(c.out.is_empty(), "not a window yet");
        c.received = 2500;
        c.handle(window(1000)).unwrap();
        let m = messages(&c.out);
        assert_eq!(
            (m[0].kind, &m[0].payload[..]),
            (kind::ACKNOWLEDGEMENT, &2500u32.to_be_bytes()[..])
        );
    }

    #[test]
    fn a_stream_the_server_ends_is_an_error() {
        let mut c = connection();
        let mut payload = Vec::new();
        for v in [
            crate::amf0::string("onStatus"),
            crate::amf0::Value::Number(0.0),
            crate::amf0::Value::Null,
            crate::amf0::object([
                ("level", crate::amf0::string("error")),
                ("code", crate::amf0::string("NetStream.Publish.Denied")),
            ]),
        ] {
            crate::amf0::encode(&v, &mut payload);
        }
        let e = c
            .handle(Message {
                kind: kind::COMMAND_AMF0,
                timestamp: 0,
                stream_id: 1,
                payload: payload.into(),
            })
            .unwrap_err();
        assert!(e.contains("NetStream.Publish.Denied"), "{e}");
    }

    #[test]
    fn connection_errors_say_what_to_do() {
        use std::io::{Error, ErrorKind};
        assert!(
            connect_error(&Error::from(ErrorKind::ConnectionRefused))
                .starts_with("nothing listens")
        );
        assert!(
            connect_error(&Error::other(
                "failed to lookup address information: Name or service not known"
            ))
            .starts_with("the host name does not resolve")
        );
        assert!(refused("x").contains("stream key"));
        assert!(closed(&Error::from(ErrorKind::UnexpectedEof)).starts_with("the server closed"));
    }
}
