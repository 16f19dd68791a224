//! A camera's PTZ link: how Pinhole reaches the camera's pan/tilt/zoom, as stored and as the
//! API and the config file take it (flat, so unknown keys are refused):
//! `{"transport": "sony-udp", "addr": "192.168.1.50:52381", "profile": "sony"}`, or
//! `{"transport": "serial", "path": "/dev/ttyUSB0", "baud": 9600, "address": 2}`.
//! A camera without PTZ has no link (`None`); there is no "none" transport.

use crate::FieldErrors;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

/// How VISCA reaches the camera.
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
}

impl PtzTransport {
    pub fn as_str(self) -> &'static str {
        match self {
            PtzTransport::SonyUdp => "sony-udp",
            PtzTransport::RawUdp => "raw-udp",
            PtzTransport::RawTcp => "raw-tcp",
            PtzTransport::Serial => "serial",
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
    /// HOST:PORT for the IP transports.
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
    Serial { path: String, baud: u32 },
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
        match endpoint {
            Some(endpoint) if errs.is_empty() => Ok(CheckedPtzLink {
                endpoint,
                model: self.profile.unwrap_or_default(),
                address,
            }),
            _ => Err(errs),
        }
    }

    pub fn problems(&self) -> FieldErrors {
        self.check().err().unwrap_or_default()
    }
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
    fn refuses_unknown_transports_and_keys() {
        assert!(serde_json::from_str::<PtzLink>(r#"{"transport":"none"}"#).is_err());
        assert!(serde_json::from_str::<PtzLink>(r#"{"transport":"serial","bogus":1}"#).is_err());
    }
}
