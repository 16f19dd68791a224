//! The WS-Discovery responder of Pinhole's ONVIF face: while the face is on, it listens on the
//! discovery port (UDP 3702) joined to 239.255.255.250 on every IPv4 interface, answers Probes
//! for ONVIF video devices with a ProbeMatch naming the device service at the address the
//! prober can reach, and multicasts Hello when the face comes up and Bye when it goes down.
//!
//! Answers go only to the sender of a Probe that matches, at most [`ANSWERS_PER_SECOND`] a
//! second, so the port cannot be used to flood a third party.

use crate::api::SharedState;
use crate::onvif::discovery::{self, Advert};
use crate::supervisor::Supervisor;
use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

const GROUP: Ipv4Addr = Ipv4Addr::new(239, 255, 255, 250);
/// The most ProbeMatches sent in one second.
const ANSWERS_PER_SECOND: u32 = 50;
/// Interfaces are looked at again this often (an address from DHCP, a link brought up).
const REJOIN_EVERY: Duration = Duration::from_secs(15);

/// The ports of Pinhole's web listeners, for the device service's URLs.
#[derive(Debug, Clone, Copy)]
pub struct Ports {
    pub http: u16,
    /// The HTTPS listener's, when it runs.
    pub https: Option<u16>,
}

/// Answers probes while the face is on, for the web listeners the face was given
/// ([`super::OnvifFace::set_ports`], before this).
pub fn spawn(sup: &Supervisor, state: SharedState) {
    if !state.config.onvif.discovery {
        return;
    }
    let Some(ports) = state.onvif.ports() else {
        tracing::warn!("ONVIF discovery: no web listener to announce");
        return;
    };
    sup.spawn("onvif-discovery", REJOIN_EVERY * 3, move |ctx| {
        let state = state.clone();
        async move {
            let mut enabled = state.onvif.watch_enabled();
            loop {
                // Off: nothing listens; wake on the switch. Idle is healthy (the watchdog
                // must not wait for a face nobody switched on).
                while !*enabled.borrow_and_update() {
                    ctx.heartbeat.beat();
                    tokio::select! {
                        r = enabled.changed() => if r.is_err() { return Ok(()) },
                        _ = tokio::time::sleep(REJOIN_EVERY) => {}
                        _ = ctx.shutdown.cancelled() => return Ok(()),
                    }
                }
                let port = state.config.onvif.discovery_port;
                let sock = bind(port)?;
                let mut joined = BTreeSet::new();
                join(&sock, &mut joined);
                let id = message_id();
                announce(
                    &sock,
                    port,
                    &joined,
                    |ad| discovery::hello(&id, ad),
                    &state,
                    ports,
                )
                .await;
                ctx.heartbeat.beat();
                tracing::info!(
                    port,
                    interfaces = joined.len(),
                    "ONVIF discovery: answering probes"
                );
                let mut buf = vec![0u8; 65_536];
                let mut window = (tokio::time::Instant::now(), 0u32);
                let mut rejoin = tokio::time::interval(REJOIN_EVERY);
                let stop = loop {
                    tokio::select! {
                        r = sock.recv_from(&mut buf) => {
                            let Ok((n, from)) = r else { continue };
                            let now = tokio::time::Instant::now();
                            if now.duration_since(window.0) >= Duration::from_secs(1) {
                                window = (now, 0);
                            }
                            if window.1 >= ANSWERS_PER_SECOND {
                                continue;
                            }
                            if answer(&sock, &buf[..n], from, &state, ports).await {
                                window.1 += 1;
                            }
                        }
                        _ = rejoin.tick() => {
                            join(&sock, &mut joined);
                            ctx.heartbeat.beat();
                        }
                        r = enabled.changed() => {
                            if r.is_err() || !*enabled.borrow_and_update() {
                                break false;
                            }
                        }
                        _ = ctx.shutdown.cancelled() => break true,
                    }
                };
                let id = message_id();
                announce(
                    &sock,
                    port,
                    &joined,
                    |ad| discovery::bye(&id, ad),
                    &state,
                    ports,
                )
                .await;
                tracing::info!("ONVIF discovery: stopped");
                if stop {
                    return Ok(());
                }
            }
        }
    });
}

fn bind(port: u16) -> anyhow::Result<tokio::net::UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    // Other discovery software on the machine may hold the port too; each gets the multicast.
    s.set_reuse_address(true)?;
    s.set_nonblocking(true)?;
    s.set_multicast_loop_v4(false)?;
    s.bind(&SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port).into())
        .map_err(|e| {
            anyhow::anyhow!("cannot listen on UDP port {port} for ONVIF discovery: {e}")
        })?;
    Ok(tokio::net::UdpSocket::from_std(s.into())?)
}

/// Joins the group on every IPv4 interface not joined yet.
fn join(sock: &tokio::net::UdpSocket, joined: &mut BTreeSet<Ipv4Addr>) {
    for i in pinhole_sys::ipv4_interfaces() {
        if joined.contains(&i.addr) {
            continue;
        }
        match sock.join_multicast_v4(GROUP, i.addr) {
            Ok(()) => {
                joined.insert(i.addr);
            }
            Err(e) => {
                tracing::debug!(interface = %i.name, error = %e, "ONVIF discovery: cannot join the group")
            }
        }
    }
}

fn message_id() -> String {
    crate::onvif::client::urn_uuid()
}

/// The device service's URLs at `host`: over HTTP, and over HTTPS when that listener runs.
fn device_xaddrs(host: Ipv4Addr, ports: Ports) -> String {
    let mut x = format!("http://{host}:{}/onvif/device_service", ports.http);
    if let Some(p) = ports.https {
        x.push_str(&format!(" https://{host}:{p}/onvif/device_service"));
    }
    x
}

/// What Pinhole announces, with the device service at `host`.
async fn advert(state: &SharedState, host: Ipv4Addr, ports: Ports) -> Advert {
    let name = super::ops::device_name(state).await;
    let ptz = super::ops::any_ptz(state);
    Advert {
        endpoint: state.onvif.endpoint.clone(),
        scopes: super::ops::scopes(&name, ptz, super::ops::mac_for(Some(host)).as_deref())
            .into_iter()
            .map(|(s, _)| s)
            .collect(),
        xaddrs: device_xaddrs(host, ports),
        metadata_version: 1,
    }
}

/// The address the HTTP server is reached at from `peer`: the listen address if it is a
/// specific one, else the local address the route to the peer leaves from.
fn reachable_host(state: &SharedState, peer: SocketAddr) -> Option<Ipv4Addr> {
    match state.config.http.listen.ip() {
        std::net::IpAddr::V4(ip) if !ip.is_unspecified() => return Some(ip),
        std::net::IpAddr::V6(ip) if !ip.is_unspecified() => return None,
        _ => {}
    }
    let probe = std::net::UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).ok()?;
    probe.connect(peer).ok()?;
    match probe.local_addr().ok()?.ip() {
        std::net::IpAddr::V4(ip) if !ip.is_unspecified() => Some(ip),
        _ => None,
    }
}

/// Answers a datagram if it is a Probe for what Pinhole is; true when an answer went out.
async fn answer(
    sock: &tokio::net::UdpSocket,
    datagram: &[u8],
    from: SocketAddr,
    state: &SharedState,
    ports: Ports,
) -> bool {
    let Ok(text) = std::str::from_utf8(datagram) else {
        return false;
    };
    let probe = match discovery::parse_probe(text) {
        Ok(Some(p)) => p,
        Ok(None) => return false,
        Err(e) => {
            tracing::debug!(%from, error = %e, "ONVIF discovery: not a probe");
            return false;
        }
    };
    let Some(host) = reachable_host(state, from) else {
        return false;
    };
    let ad = advert(state, host, ports).await;
    if !probe.matches(&ad) {
        return false;
    }
    let reply = discovery::probe_matches(&probe, &message_id(), &ad);
    match sock.send_to(reply.as_bytes(), from).await {
        Ok(_) => true,
        Err(e) => {
            tracing::debug!(%from, error = %e, "ONVIF discovery: cannot answer");
            false
        }
    }
}

/// Multicasts a Hello or Bye out of every joined interface.
async fn announce(
    sock: &tokio::net::UdpSocket,
    port: u16,
    joined: &BTreeSet<Ipv4Addr>,
    message: impl Fn(&Advert) -> String,
    state: &SharedState,
    ports: Ports,
) {
    let to = SocketAddr::from((GROUP, port));
    for &addr in joined {
        let host = match state.config.http.listen.ip() {
            std::net::IpAddr::V4(ip) if !ip.is_unspecified() => ip,
            _ => addr,
        };
        let ad = advert(state, host, ports).await;
        if let Err(e) = socket2::SockRef::from(sock).set_multicast_if_v4(&addr) {
            tracing::debug!(%addr, error = %e, "ONVIF discovery: cannot choose the interface");
            continue;
        }
        if let Err(e) = sock.send_to(message(&ad).as_bytes(), to).await {
            tracing::debug!(%addr, error = %e, "ONVIF discovery: cannot announce");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_device_service_is_announced_on_each_listener() {
        let host = Ipv4Addr::new(192, 168, 1, 20);
        let http_only = Ports {
            http: 8002,
            https: None,
        };
        assert_eq!(
            device_xaddrs(host, http_only),
            "http://192.168.1.20:8002/onvif/device_service"
        );
        let both = Ports {
            http: 8002,
            https: Some(8443),
        };
        assert_eq!(
            device_xaddrs(host, both),
            "http://192.168.1.20:8002/onvif/device_service https://192.168.1.20:8443/onvif/device_service"
        );
    }
}
