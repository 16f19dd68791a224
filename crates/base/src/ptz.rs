//! A camera's PTZ link: how Pinhole reaches the camera's pan/tilt/zoom, as stored and as the
//! API and the config file take it (flat, so unknown keys are refused):
//! `{"transport": "sony-udp", "addr": "192.168.1.50:52381", "profile": "sony"}`, or
//! `{"transport": "serial", "path": "/dev/ttyUSB0", "baud": 9600, "address": 2}`, or
//! `{"transport": "onvif", "addr": "http://192.168.1.64/onvif/device_service"}` (the camera's own
//! username and password sign the ONVIF requests).
//! A camera without PTZ has no link (`None`); there is no "none" transport.

use crate::FieldErrors;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

/// How Pinhole reaches the camera's PTZ: VISCA over one of four transports, or ONVIF.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum PtzTransport {
    /// Sony VISCA over IP, normally UDP port 52381.
    SonyUdp,
    /// Raw VISCA datagrams (PTZOptics / Avonic: UDP 1259).
    RawUdp,
    /// Raw VISCA over TCP (PTZOptics: 5678).
    RawTcp,
    /// A serial line (RS-232/RS-422), possibly a daisy chain.
    Serial,
    /// The ONVIF PTZ service of an IP camera (SOAP over HTTP).
    Onvif,
}

impl PtzTransport {
    pub fn as_str(self) -> &'static str {
        match self {
            PtzTransport::SonyUdp => "sony-udp",
            PtzTransport::RawUdp => "raw-udp",
            PtzTransport::RawTcp => "raw-tcp",
            PtzTransport::Serial => "serial",
            PtzTransport::Onvif => "onvif",
        }
    }
}

/// The camera model's VISCA dialect (speed ranges, preset numbers).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum PtzModel {
    #[default]
    Generic,
    Sony,
    Ptzoptics,
}

/// Serial speeds a VISCA camera may use.
pub const SERIAL_BAUDS: [u32; 5] = [2400, 4800, 9600, 19200, 38400];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PtzLink {
    pub transport: PtzTransport,
    /// HOST:PORT for the VISCA IP transports; for ONVIF the device service URL (or HOST[:PORT],
    /// meaning `http://HOST[:PORT]/onvif/device_service`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addr: Option<String>,
    /// Device path for serial.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Serial speed (default 9600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baud: Option<u32>,
    /// Camera address 1-7 on a serial chain (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<u8>,
    /// Model profile (default generic).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<PtzModel>,
}

/// Where a checked link goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PtzEndpoint {
    SonyUdp(SocketAddr),
    RawUdp(SocketAddr),
    RawTcp(SocketAddr),
    Serial {
        path: String,
        baud: u32,
    },
    /// An ONVIF device service URL.
    Onvif {
        device_url: String,
    },
}

/// A link that passed [`PtzLink::check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedPtzLink {
    pub endpoint: PtzEndpoint,
    pub model: PtzModel,
    /// VISCA camera address, 1-7.
    pub address: u8,
}

impl PtzLink {
    /// Checks the link; each problem names its key (`ptz.addr`, `ptz.baud`, ...).
    pub fn check(&self) -> Result<CheckedPtzLink, FieldErrors> {
        let mut errs = FieldErrors::new();
        let ip = |errs: &mut FieldErrors| -> Option<SocketAddr> {
            let Some(a) = self.addr.as_deref() else {
                errs.push("ptz.addr", "required for this transport");
                return None;
            };
            let parsed = a.parse().ok();
            if parsed.is_none() {
                errs.push(
                    "ptz.addr",
                    format!("`{a}` is not HOST:PORT with a numeric address"),
                );
            }
            parsed
        };
        let endpoint = match self.transport {
            PtzTransport::SonyUdp => ip(&mut errs).map(PtzEndpoint::SonyUdp),
            PtzTransport::RawUdp => ip(&mut errs).map(PtzEndpoint::RawUdp),
            PtzTransport::RawTcp => ip(&mut errs).map(PtzEndpoint::RawTcp),
            PtzTransport::Onvif => match self.addr.as_deref().map(str::trim) {
                None | Some("") => {
                    errs.push(
                        "ptz.addr",
                        "required: the camera's ONVIF device service URL",
                    );
                    None
                }
                Some(a) => match onvif_device_url(a) {
                    Ok(device_url) => Some(PtzEndpoint::Onvif { device_url }),
                    Err(reason) => {
                        errs.push("ptz.addr", reason);
                        None
                    }
                },
            },
            PtzTransport::Serial => {
                let baud = self.baud.unwrap_or(9600);
                if !SERIAL_BAUDS.contains(&baud) {
                    errs.push(
                        "ptz.baud",
                        format!("baud {baud} is not one of 2400, 4800, 9600, 19200, 38400"),
                    );
                }
                match &self.path {
                    Some(path) if !path.is_empty() => Some(PtzEndpoint::Serial {
                        path: path.clone(),
                        baud,
                    }),
                    _ => {
                        errs.push("ptz.path", "required for serial");
                        None
                    }
                }
            }
        };
        let address = self.address.unwrap_or(1);
        if !(1..=7).contains(&address) {
            errs.push("ptz.address", format!("{address} is outside 1..=7"));
        } else if address != 1 && self.transport != PtzTransport::Serial {
            errs.push("ptz.address", "over IP the camera address is always 1");
        }
        if self.transport == PtzTransport::Onvif && self.profile.is_some() {
            errs.push(
                "ptz.profile",
                "VISCA models do not apply to ONVIF: the camera says what it can do",
            );
        }
        match endpoint {
            Some(endpoint) if errs.is_empty() => Ok(CheckedPtzLink {
                endpoint,
                model: self.profile.unwrap_or_default(),
                address,
            }),
            _ => Err(errs),
        }
    }

    pub fn is_onvif(&self) -> bool {
        self.transport == PtzTransport::Onvif
    }

    pub fn problems(&self) -> FieldErrors {
        self.check().err().unwrap_or_default()
    }
}

/// The device service URL from what an installer types: a URL as it is, or HOST[:PORT].
fn onvif_device_url(addr: &str) -> Result<String, String> {
    let bad = |why: &str| format!("`{addr}` {why}");
    let (scheme, rest) = match addr.split_once("://") {
        Some((s @ ("http" | "https"), rest)) => (s, rest),
        Some(_) => return Err(bad("is not an http:// or https:// URL")),
        None => ("http", addr),
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty()
        || host.contains('@')
        || addr.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(bad(
            "is not a device address (no credentials in it, no spaces)",
        ));
    }
    Ok(if addr.contains("://") {
        addr.to_string()
    } else if rest.contains('/') {
        format!("{scheme}://{rest}")
    } else {
        format!("http://{host}/onvif/device_service")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(json: &str) -> PtzLink {
        serde_json::from_str(json).expect("parses")
    }

    #[test]
    fn checks_each_transport() {
        let ok = link(r#"{"transport":"sony-udp","addr":"127.0.0.1:52381","profile":"sony"}"#)
            .check()
            .expect("valid");
        assert_eq!(
            ok.endpoint,
            PtzEndpoint::SonyUdp(([127, 0, 0, 1], 52381).into())
        );
        assert_eq!(ok.model, PtzModel::Sony);
        let e = link(r#"{"transport":"raw-tcp","addr":"camera.local:5678"}"#).problems();
        assert!(e.get("ptz.addr").is_some(), "{e}");
        let e = link(r#"{"transport":"serial","baud":1200,"address":9}"#).problems();
        assert!(
            e.get("ptz.path").is_some() && e.get("ptz.baud").is_some(),
            "{e}"
        );
        assert!(e.get("ptz.address").is_some(), "{e}");
        let e = link(r#"{"transport":"raw-udp","addr":"10.0.0.2:1259","address":2}"#).problems();
        assert_eq!(
            e.get("ptz.address"),
            Some("over IP the camera address is always 1")
        );
    }

    #[test]
    fn onvif_links_name_the_device_service() {
        let url = |a: &str| match link(&format!(r#"{{"transport":"onvif","addr":"{a}"}}"#))
            .check()
            .map(|c| c.endpoint)
        {
            Ok(PtzEndpoint::Onvif { device_url }) => Ok(device_url),
            Ok(other) => panic!("{other:?}"),
            Err(e) => Err(e.to_string()),
        };
        assert_eq!(
            url("192.168.1.64").as_deref(),
            Ok("http://192.168.1.64/onvif/device_service")
        );
        assert_eq!(
            url("cam.local:8080").as_deref(),
            Ok("http://cam.local:8080/onvif/device_service")
        );
        assert_eq!(
            url("https://10.0.0.9/onvif/device_service").as_deref(),
            Ok("https://10.0.0.9/onvif/device_service")
        );
        assert!(url("ftp://x/").is_err());
        assert!(
            url("http://admin:pw@cam/")
                .unwrap_err()
                .contains("credentials")
        );
        assert!(url("http://").is_err());
        let e = link(r#"{"transport":"onvif"}"#).problems();
        assert!(e.get("ptz.addr").is_some(), "{e}");
        let e = link(r#"{"transport":"onvif","addr":"10.0.0.9","profile":"sony"}"#).problems();
        assert!(e.get("ptz.profile").is_some(), "{e}");
    }

    #[test]
    fn refuses_unknown_transports_and_keys() {
        assert!(serde_json::from_str::<PtzLink>(r#"{"transport":"none"}"#).is_err());
        assert!(serde_json::from_str::<PtzLink>(r#"{"transport":"serial","bogus":1}"#).is_err());
    }
}
