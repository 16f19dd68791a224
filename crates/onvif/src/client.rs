//! The ONVIF client: SOAP over HTTP to one device, authenticated with WS-Security tokens dated
//! by the device's clock.
//!
//! `connect` does what adding a camera needs: read the device's clock (many cameras run hours
//! or days off, and refuse tokens dated by ours), what it is, where its services are, and its
//! profiles with their stream and snapshot URIs (from Media2 where the device lists it, else
//! from Media).
//!
//! Devices that also guard their services with HTTP Digest (many do, and most guard snapshot
//! URIs so) get their challenge answered; the challenge is kept and its nonce reused with a
//! growing count, so a guarded device costs one extra round trip per client, not per call.

use crate::device::{self, DeviceInformation, Services};
use crate::media::{self, MediaService, Profile};
use crate::{OnvifError, soap};
use pinhole_base::http_auth::{ChallengeError, DigestChallenge};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The largest answer read from a device.
const MAX_ANSWER: usize = crate::xml::MAX_BYTES;

#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

/// The password never reaches a log line.
impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// One device, its credentials and how far its clock is from ours.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    device_url: String,
    credentials: Option<Credentials>,
    /// Device clock minus ours, in seconds.
    clock_offset: i64,
    /// The device's last HTTP Digest challenge and how often its nonce was used.
    digest: Arc<Mutex<Option<(DigestChallenge, u32)>>>,
}

/// A profile with where to get its video and pictures.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileUris {
    pub profile: Profile,
    pub stream_uri: Option<String>,
    pub snapshot_uri: Option<String>,
}

/// What `connect` learns about a device.
#[derive(Debug, Clone)]
pub struct DeviceSummary {
    pub information: DeviceInformation,
    pub services: Services,
    pub profiles: Vec<ProfileUris>,
    /// Which media service the profiles came from.
    pub media_service: MediaService,
    /// Device clock minus ours, in seconds.
    pub clock_offset_secs: i64,
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl Client {
    pub fn new(
        device_url: &str,
        credentials: Option<Credentials>,
        timeout: Duration,
    ) -> Result<Self, OnvifError> {
        if !(device_url.starts_with("http://") || device_url.starts_with("https://")) {
            return Err(OnvifError::Invalid {
                field: "device URL",
                value: device_url.to_string(),
            });
        }
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| OnvifError::Network(e.to_string()))?;
        Ok(Client {
            http,
            device_url: device_url.to_string(),
            credentials,
            clock_offset: 0,
            digest: Arc::default(),
        })
    }

    pub fn clock_offset_secs(&self) -> i64 {
        self.clock_offset
    }

    /// Reads the device's clock. Unauthenticated as the specification allows; with a token at
    /// our own time for devices that insist.
    pub async fn sync_clock(&mut self) -> Result<i64, OnvifError> {
        let body = device::get_system_date_and_time();
        let answer = match self.post(&self.device_url, &body, false).await {
            Err(e) if e.is_not_authorized() || e == OnvifError::Http(401) => {
                self.post(&self.device_url, &body, true).await?
            }
            other => other?,
        };
        let device_now = device::parse_system_date_and_time(&answer)?;
        self.clock_offset = device_now - now_unix();
        Ok(self.clock_offset)
    }

    /// One authenticated call to a service of the device; the answer's text, once it is known
    /// to be a SOAP answer and not a fault.
    pub async fn call(&self, service_url: &str, body: &str) -> Result<String, OnvifError> {
        self.post(service_url, body, true).await
    }

    async fn post(&self, url: &str, body: &str, authenticate: bool) -> Result<String, OnvifError> {
        let created = device::utc_timestamp(now_unix() + self.clock_offset);
        let nonce: [u8; 16] = rand::random();
        let token =
            self.credentials
                .as_ref()
                .filter(|_| authenticate)
                .map(|c| soap::UsernameToken {
                    username: &c.username,
                    password: &c.password,
                    nonce,
                    created: &created,
                });
        let envelope = soap::envelope(body, token.as_ref());
        let url = reqwest::Url::parse(url).map_err(|_| OnvifError::Invalid {
            field: "service URL",
            value: url.to_string(),
        })?;
        let creds = self.credentials.as_ref().filter(|_| authenticate);
        let mut resp = self
            .send(reqwest::Method::POST, url, Some(envelope), creds, false)
            .await?;
        let status = resp.status().as_u16();
        let bytes = read_at_most(&mut resp, MAX_ANSWER)
            .await?
            .ok_or_else(|| OnvifError::Xml(format!("an answer of more than {MAX_ANSWER} bytes")))?;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        // Only an envelope with a body is an answer; a fault is the device's refusal whatever
        // the HTTP status (some send faults with 200), and says more than the status.
        match soap::read(&text, |_| Ok(())) {
            Err(fault @ OnvifError::Fault { .. }) => Err(fault),
            _ if status != 200 => Err(OnvifError::Http(status)),
            Err(e) => Err(e),
            Ok(()) => Ok(text),
        }
    }

    /// A JPEG from the device's snapshot URI, at most 4 MB. Credentials go only to the device's
    /// own host, and only when it asks (Digest, or Basic when that is all it offers): a URI
    /// naming another host gets none, so a device cannot send them elsewhere in clear.
    pub async fn snapshot(&self, uri: &str) -> Result<Vec<u8>, OnvifError> {
        const MAX: usize = 4 * 1024 * 1024;
        let invalid = || OnvifError::Invalid {
            field: "snapshot URI",
            value: uri.to_string(),
        };
        let target = reqwest::Url::parse(uri).map_err(|_| invalid())?;
        if !matches!(target.scheme(), "http" | "https") {
            return Err(invalid());
        }
        let device = reqwest::Url::parse(&self.device_url).ok();
        let same_host = device.is_some_and(|d| {
            d.host_str() == target.host_str()
                && d.port_or_known_default() == target.port_or_known_default()
        });
        let creds = self.credentials.as_ref().filter(|_| same_host);
        let mut resp = self
            .send(reqwest::Method::GET, target, None, creds, true)
            .await?;
        let status = resp.status().as_u16();
        if status != 200 {
            return Err(OnvifError::Http(status));
        }
        let bytes = read_at_most(&mut resp, MAX)
            .await?
            .ok_or_else(|| OnvifError::Invalid {
                field: "snapshot",
                value: format!("more than {MAX} bytes"),
            })?;
        if !bytes.starts_with(&[0xFF, 0xD8]) {
            return Err(OnvifError::Invalid {
                field: "snapshot",
                value: "not a JPEG".into(),
            });
        }
        Ok(bytes)
    }

    /// Sends a request, with the answer to the device's Digest challenge when one is known; a
    /// 401 with a challenge is answered once (Digest; Basic only where `basic` allows it and the
    /// device offers nothing else). Without `creds` the request goes as it is.
    async fn send(
        &self,
        method: reqwest::Method,
        url: reqwest::Url,
        body: Option<String>,
        creds: Option<&Credentials>,
        basic: bool,
    ) -> Result<reqwest::Response, OnvifError> {
        let uri = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        };
        let go = |auth: Option<String>| {
            let mut req = self.http.request(method.clone(), url.clone());
            if let Some(b) = &body {
                req = req
                    .header(CONTENT_TYPE, "application/soap+xml; charset=utf-8")
                    .body(b.clone());
            }
            if let Some(a) = auth {
                req = req.header(AUTHORIZATION, a);
            }
            async move {
                req.send()
                    .await
                    .map_err(|e| OnvifError::Network(network_reason(&e)))
            }
        };
        let Some(c) = creds else {
            return go(None).await;
        };
        let resp = go(self.digest_answer(c, method.as_str(), &uri, None)).await?;
        if resp.status() != reqwest::StatusCode::UNAUTHORIZED {
            return Ok(resp);
        }
        let offered: Vec<String> = resp
            .headers()
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_string))
            .collect();
        let auth = match DigestChallenge::pick(offered.iter().map(String::as_str)) {
            Ok(challenge) => self.digest_answer(c, method.as_str(), &uri, Some(challenge)),
            Err(ChallengeError::NotDigest) => {
                let offers_basic = offered
                    .iter()
                    .any(|v| v.get(..5).is_some_and(|s| s.eq_ignore_ascii_case("basic")));
                if !(basic && offers_basic) {
                    return Ok(resp);
                }
                use base64::Engine;
                let pair = format!("{}:{}", c.username, c.password);
                let b64 = base64::engine::general_purpose::STANDARD.encode(pair);
                Some(format!("Basic {b64}"))
            }
            Err(e) => {
                return Err(OnvifError::Invalid {
                    field: "authentication challenge",
                    value: e.to_string(),
                });
            }
        };
        go(auth).await
    }

    /// The `Authorization` value answering the kept (or a `fresh`, then kept) Digest challenge.
    fn digest_answer(
        &self,
        c: &Credentials,
        method: &str,
        uri: &str,
        fresh: Option<DigestChallenge>,
    ) -> Option<String> {
        let mut kept = self.digest.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(f) = fresh {
            *kept = Some((f, 0));
        }
        let (challenge, uses) = kept.as_mut()?;
        *uses = uses.wrapping_add(1);
        let cnonce = pinhole_base::hex(&rand::random::<[u8; 12]>());
        Some(challenge.authorization(&c.username, &c.password, method, uri, &cnonce, *uses))
    }

    /// Where the device's services are: GetServices, which lists them all (Media2 only
    /// appears there), or GetCapabilities from devices that refuse it or list no media there.
    pub async fn services(&self) -> Result<Services, OnvifError> {
        match self.call(&self.device_url, &device::get_services()).await {
            Ok(a) => match device::parse_services(&a) {
                Ok(s) if s.media.is_some() || s.media2.is_some() => return Ok(s),
                Ok(_) | Err(_) => {}
            },
            Err(OnvifError::Fault { .. }) => {}
            Err(e) => return Err(e),
        }
        device::parse_services(
            &self
                .call(&self.device_url, &device::get_capabilities())
                .await?,
        )
    }

    /// The device's profiles (without their URIs), from Media (ver10).
    pub async fn profiles(&self, media_url: &str) -> Result<Vec<Profile>, OnvifError> {
        media::parse_profiles(&self.call(media_url, &media::get_profiles()).await?)
    }

    /// Each profile's stream and snapshot URI, asked of `url` in the service's own words.
    async fn uris(
        &self,
        service: MediaService,
        url: &str,
        profiles: Vec<Profile>,
    ) -> Result<Vec<ProfileUris>, OnvifError> {
        let mut out = Vec::new();
        for profile in profiles {
            let (stream, snapshot) = match service {
                MediaService::Media => (
                    media::get_stream_uri(&profile.token),
                    media::get_snapshot_uri(&profile.token),
                ),
                MediaService::Media2 => (
                    media::get_stream_uri2(&profile.token),
                    media::get_snapshot_uri2(&profile.token),
                ),
            };
            let stream_uri = match self.call(url, &stream).await {
                Ok(a) => Some(media::parse_media_uri(&a)?),
                Err(OnvifError::Fault { .. }) => None,
                Err(e) => return Err(e),
            };
            let snapshot_uri = match self.call(url, &snapshot).await {
                Ok(a) => media::parse_media_uri(&a).ok(),
                Err(OnvifError::Fault { .. }) => None,
                Err(e) => return Err(e),
            };
            out.push(ProfileUris {
                profile,
                stream_uri,
                snapshot_uri,
            });
        }
        Ok(out)
    }

    /// Clock, identity, services, profiles and their URIs.
    pub async fn connect(&mut self) -> Result<DeviceSummary, OnvifError> {
        self.sync_clock().await?;
        let information = device::parse_device_information(
            &self
                .call(&self.device_url, &device::get_device_information())
                .await?,
        )?;
        let services = self.services().await?;
        // Media2 first; a device that lists it but fails it is read through Media.
        if let Some(url) = &services.media2 {
            let read = match self.call(url, &media::get_profiles2()).await {
                Ok(a) => media::parse_profiles2(&a),
                Err(e) => Err(e),
            };
            match read {
                Ok(list) if !list.is_empty() || services.media.is_none() => {
                    let profiles = self.uris(MediaService::Media2, url, list).await?;
                    return Ok(DeviceSummary {
                        information,
                        services,
                        profiles,
                        media_service: MediaService::Media2,
                        clock_offset_secs: self.clock_offset,
                    });
                }
                Err(e) if e.is_not_authorized() || services.media.is_none() => return Err(e),
                Ok(_) | Err(_) => {}
            }
        }
        let media_url = services
            .media
            .clone()
            .ok_or(OnvifError::Missing("media service"))?;
        let list = self.profiles(&media_url).await?;
        let profiles = self.uris(MediaService::Media, &media_url, list).await?;
        Ok(DeviceSummary {
            information,
            services,
            profiles,
            media_service: MediaService::Media,
            clock_offset_secs: self.clock_offset,
        })
    }
}

/// The body, unless it is longer than `max` bytes (`None`: stopped reading there).
async fn read_at_most(
    resp: &mut reqwest::Response,
    max: usize,
) -> Result<Option<Vec<u8>>, OnvifError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| OnvifError::Network(network_reason(&e)))?
    {
        if bytes.len() + chunk.len() > max {
            return Ok(None);
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Some(bytes))
}

/// A network failure in words a camera's status can show.
fn network_reason(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "the device did not answer in time".into()
    } else if e.is_connect() {
        "cannot connect to the device".into()
    } else {
        e.to_string()
    }
}

/// Sends a WS-Discovery Probe to `target` (the multicast group, or one device's address for
/// networks that drop multicast) from `bind` and collects the devices that answer within
/// `wait`, once each (by endpoint). Answers to other probes and malformed ones are skipped.
pub async fn probe(
    bind: std::net::SocketAddr,
    target: std::net::SocketAddr,
    wait: Duration,
) -> Result<Vec<crate::discovery::ProbeMatch>, OnvifError> {
    let socket = tokio::net::UdpSocket::bind(bind)
        .await
        .map_err(|e| OnvifError::Network(format!("cannot bind {bind} for discovery: {e}")))?;
    if target.ip().is_multicast() {
        // Stay on the local network, and leave by the interface of the address bound to, if
        // one was given (a machine with several networks probes each of them).
        let _ = socket.set_multicast_ttl_v4(1);
        if let std::net::IpAddr::V4(ip) = bind.ip()
            && !ip.is_unspecified()
        {
            socket2::SockRef::from(&socket)
                .set_multicast_if_v4(&ip)
                .map_err(|e| OnvifError::Network(format!("cannot probe from {ip}: {e}")))?;
        }
    }
    let message_id = urn_uuid();
    socket
        .send_to(crate::discovery::probe(&message_id).as_bytes(), target)
        .await
        .map_err(|e| OnvifError::Network(format!("cannot send the probe to {target}: {e}")))?;
    let deadline = tokio::time::Instant::now() + wait;
    let mut found: Vec<crate::discovery::ProbeMatch> = Vec::new();
    let mut buf = vec![0u8; 65_536];
    while let Ok(Ok((n, _))) = tokio::time::timeout_at(deadline, socket.recv_from(&mut buf)).await {
        let Ok(text) = std::str::from_utf8(&buf[..n]) else {
            continue;
        };
        let Ok((relates_to, matches)) = crate::discovery::parse_probe_matches(text) else {
            continue;
        };
        // Devices answer `uuid:...` or `urn:uuid:...` for the same id.
        let ours = relates_to
            .is_some_and(|r| r.trim_start_matches("urn:") == message_id.trim_start_matches("urn:"));
        if !ours {
            continue;
        }
        for m in matches {
            if !found.iter().any(|f| f.endpoint == m.endpoint) {
                found.push(m);
            }
        }
    }
    Ok(found)
}

/// A random (version 4) UUID.
/// A random (version 4) UUID as a URN, for WS-Addressing message ids and endpoint ids.
pub fn urn_uuid() -> String {
    format!("urn:uuid:{}", uuid_v4())
}

fn uuid_v4() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// An HTTP server guarding a tiny JPEG: a request without credentials gets 401 and
    /// `challenge`, one with them the picture. Yields the `Authorization` value the picture went
    /// to (none when no request carried one within 2 s of the last).
    async fn picture_server(
        challenge: &'static str,
    ) -> (u16, tokio::task::JoinHandle<Option<String>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            let wait = Duration::from_secs(2);
            while let Ok(Ok((mut s, _))) = tokio::time::timeout(wait, listener.accept()).await {
                let mut buf = vec![0u8; 4096];
                let n = s.read(&mut buf).await.unwrap();
                let head = String::from_utf8_lossy(&buf[..n]).into_owned();
                let auth = head
                    .lines()
                    .find_map(|l| {
                        l.strip_prefix("authorization: ")
                            .or(l.strip_prefix("Authorization: "))
                    })
                    .map(str::to_string);
                let body: &[u8] = if auth.is_some() {
                    &[0xFF, 0xD8, 0xFF, 0xD9]
                } else {
                    b""
                };
                let status = if auth.is_some() {
                    "200 OK"
                } else {
                    "401 Unauthorized"
                };
                let reply = format!(
                    "HTTP/1.1 {status}\r\nWWW-Authenticate: {challenge}\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                s.write_all(reply.as_bytes()).await.unwrap();
                s.write_all(body).await.unwrap();
                if auth.is_some() {
                    return auth;
                }
            }
            None
        });
        (port, task)
    }

    /// A client of the device at `port` with an account, and the snapshot at `snap_port`.
    async fn snapshot_of(port: u16, snap_port: u16) -> Result<Vec<u8>, OnvifError> {
        let admin = Credentials {
            username: "admin".into(),
            password: "secret".into(),
        };
        let url = format!("http://127.0.0.1:{port}/onvif/device_service");
        let c = Client::new(&url, Some(admin), Duration::from_secs(5)).unwrap();
        c.snapshot(&format!("http://127.0.0.1:{snap_port}/snap.jpg"))
            .await
    }

    #[tokio::test]
    async fn credentials_go_only_to_the_devices_own_host_and_only_when_asked() {
        for (challenge, scheme) in [
            (r#"Basic realm="cam""#, "Basic "),
            (r#"Digest realm="cam", nonce="abc", qop="auth""#, "Digest "),
        ] {
            let (port, seen) = picture_server(challenge).await;
            let jpeg = snapshot_of(port, port).await.unwrap();
            assert_eq!(jpeg, [0xFF, 0xD8, 0xFF, 0xD9]);
            let auth = seen
                .await
                .unwrap()
                .expect("the device's own host gets them");
            assert!(auth.starts_with(scheme), "{auth}");
            if scheme == "Digest " {
                assert!(
                    auth.contains(r#"uri="/snap.jpg""#) && auth.contains("nc=00000001"),
                    "{auth}"
                );
            }
        }

        // A snapshot URI on another port (another service) gets none.
        let (other, seen) = picture_server(r#"Basic realm="elsewhere""#).await;
        let e = snapshot_of(1, other).await.unwrap_err();
        assert_eq!(e, OnvifError::Http(401));
        assert!(
            seen.await.unwrap().is_none(),
            "another host gets no credentials"
        );
        let c = Client::new("http://127.0.0.1:1/", None, Duration::from_secs(5)).unwrap();
        assert!(c.snapshot("file:///etc/passwd").await.is_err());
    }

    #[tokio::test]
    async fn a_challenge_that_cannot_be_answered_says_why() {
        let (port, _seen) =
            picture_server(r#"Digest realm="cam", nonce="n", algorithm=SHA-512-256"#).await;
        let e = snapshot_of(port, port).await.unwrap_err();
        assert!(e.to_string().contains("SHA-512-256"), "{e}");
    }
}
