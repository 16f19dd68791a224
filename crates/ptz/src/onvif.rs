//! PTZ of an ONVIF camera: the PTZ service's moves, status and presets, behind the same
//! operations as VISCA ([`crate::device::PtzDevice`]).
//!
//! A task owns the connection: it reads the device's clock (tokens are dated by it), finds the
//! PTZ service and the media profile that carries a PTZ configuration, asks the PTZ node what it
//! supports, then polls GetStatus every second for the position, published like VISCA's. A
//! device that cannot be reached is retried with back-off; meanwhile requests fail at once with
//! the reason instead of hanging.
//!
//! Positions: ONVIF's generic spaces are -1..1 (pan, tilt) and 0..1 (zoom). The API's integer
//! position units for an ONVIF camera are those × [`UNITS`], so named presets and tours store
//! and replay them exactly as they do VISCA positions. Camera presets are addressed by number
//! like VISCA's: number `n` is the camera preset whose token or name is `n`.

use crate::controller::{PtzError, PtzStatus};
use pinhole_onvif::OnvifError;
use pinhole_onvif::client::{Client, Credentials};
use pinhole_onvif::ptz::{self as wire, NodeSupport};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

pub use crate::profile::ONVIF_UNITS as UNITS;

const TIMEOUT: Duration = Duration::from_secs(5);
const POLL_EVERY: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(30);

/// What an ONVIF camera's PTZ node offers.
#[derive(Debug, Clone)]
struct Session {
    client: Client,
    ptz_url: String,
    profile: String,
    support: NodeSupport,
}

#[derive(Debug)]
struct Inner {
    link: String,
    session: RwLock<Option<Session>>,
    status: watch::Sender<PtzStatus>,
}

/// A handle on one ONVIF camera's PTZ (cheap to clone).
#[derive(Debug, Clone)]
pub struct OnvifPtz {
    inner: Arc<Inner>,
}

/// Where the camera points, in ONVIF's generic spaces.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Position {
    pub pan: f64,
    pub tilt: f64,
    pub zoom: f64,
}

/// Camera-memory preset operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PresetAction {
    Set,
    Recall,
    Reset,
}

impl PresetAction {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "set" => PresetAction::Set,
            "recall" => PresetAction::Recall,
            "reset" => PresetAction::Reset,
            _ => return None,
        })
    }
}

/// An API position unit count from a generic-space value.
pub fn to_units(v: f64) -> i32 {
    (v.clamp(-1.0, 1.0) * UNITS).round() as i32
}

pub fn from_units(v: i32) -> f64 {
    f64::from(v) / UNITS
}

impl OnvifPtz {
    /// Starts the task that connects to `device_url` and keeps the status.
    pub fn spawn(
        device_url: String,
        credentials: Option<Credentials>,
        shutdown: CancellationToken,
    ) -> Self {
        let link = format!("onvif {device_url}");
        let (status, _) = watch::channel(PtzStatus {
            link: link.clone(),
            ..Default::default()
        });
        let ptz = OnvifPtz {
            inner: Arc::new(Inner {
                link,
                session: RwLock::new(None),
                status,
            }),
        };
        tokio::spawn(ptz.clone().run(device_url, credentials, shutdown));
        ptz
    }

    pub fn status(&self) -> PtzStatus {
        self.inner.status.borrow().clone()
    }

    pub fn watch(&self) -> watch::Receiver<PtzStatus> {
        self.inner.status.subscribe()
    }

    /// What the camera's PTZ node supports; `None` until connected.
    pub fn support(&self) -> Option<NodeSupport> {
        self.session().map(|s| s.support)
    }

    fn session(&self) -> Option<Session> {
        self.inner
            .session
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn set_session(&self, s: Option<Session>) {
        *self
            .inner
            .session
            .write()
            .unwrap_or_else(|p| p.into_inner()) = s;
    }

    async fn run(
        self,
        device_url: String,
        credentials: Option<Credentials>,
        shutdown: CancellationToken,
    ) {
        let mut retry = Duration::from_secs(1);
        loop {
            let wait = if self.session().is_none() {
                match connect(&device_url, credentials.clone()).await {
                    Ok(s) => {
                        tracing::info!(link = %self.inner.link, profile = %s.profile, "ONVIF PTZ connected");
                        self.set_session(Some(s));
                        retry = Duration::from_secs(1);
                        Duration::ZERO
                    }
                    Err(e) => {
                        self.inner.status.send_modify(|st| {
                            st.connected = false;
                            st.last_error = Some(e.to_string());
                        });
                        let wait = retry;
                        retry = (retry * 2).min(RETRY_MAX);
                        wait
                    }
                }
            } else {
                match self.position().await {
                    Ok(p) => self.inner.status.send_modify(|st| {
                        st.connected = true;
                        st.last_error = None;
                        st.pan = i16::try_from(to_units(p.pan)).ok();
                        st.tilt = i16::try_from(to_units(p.tilt)).ok();
                        st.zoom = u16::try_from(to_units(p.zoom)).ok();
                    }),
                    Err(e) => {
                        if matches!(e, PtzError::LinkDown { .. }) {
                            self.set_session(None);
                        }
                        self.inner.status.send_modify(|st| {
                            st.connected = false;
                            st.last_error = Some(e.to_string());
                        });
                    }
                }
                POLL_EVERY
            };
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    fn error(&self, what: &str, e: OnvifError) -> PtzError {
        let link = self.inner.link.clone();
        match e {
            OnvifError::Network(reason) => PtzError::LinkDown { link, reason },
            OnvifError::Fault { reason, .. } => PtzError::Refused {
                link,
                what: what.to_string(),
                reason,
            },
            other => PtzError::Refused {
                link,
                what: what.to_string(),
                reason: other.to_string(),
            },
        }
    }

    /// One request to the PTZ service, built for the profile in use.
    async fn request(
        &self,
        what: &str,
        body: impl FnOnce(&str) -> String,
    ) -> Result<String, PtzError> {
        let Some(s) = self.session() else {
            return Err(PtzError::LinkDown {
                link: self.inner.link.clone(),
                reason: self
                    .status()
                    .last_error
                    .unwrap_or_else(|| "connecting".into()),
            });
        };
        s.client
            .call(&s.ptz_url, &body(&s.profile))
            .await
            .map_err(|e| self.error(what, e))
    }

    fn require(
        &self,
        supported: impl Fn(&NodeSupport) -> bool,
        what: &str,
    ) -> Result<(), PtzError> {
        match self.support() {
            Some(s) if !supported(&s) => Err(PtzError::Unsupported(format!(
                "this camera's ONVIF PTZ has no {what}"
            ))),
            _ => Ok(()),
        }
    }

    /// Moves at these speeds (-1..1) until stopped; all zero stops.
    pub async fn continuous(&self, pan: f64, tilt: f64, zoom: f64) -> Result<(), PtzError> {
        if pan == 0.0 && tilt == 0.0 && zoom == 0.0 {
            return self.stop().await;
        }
        self.require(|s| s.continuous, "continuous moves")?;
        self.request("ContinuousMove", |p| {
            wire::continuous_move(p, pan, tilt, zoom, None)
        })
        .await
        .map(drop)
    }

    pub async fn stop(&self) -> Result<(), PtzError> {
        self.request("Stop", wire::stop).await.map(drop)
    }

    /// Goes to a position; axes left out keep where they are.
    pub async fn absolute(
        &self,
        pan: Option<f64>,
        tilt: Option<f64>,
        zoom: Option<f64>,
    ) -> Result<(), PtzError> {
        self.require(|s| s.absolute, "absolute moves")?;
        let (pan, tilt) = match (pan, tilt) {
            (Some(p), Some(t)) => (p, t),
            _ => {
                let now = self.position().await?;
                (pan.unwrap_or(now.pan), tilt.unwrap_or(now.tilt))
            }
        };
        self.request("AbsoluteMove", |p| wire::absolute_move(p, pan, tilt, zoom))
            .await
            .map(drop)
    }

    /// The camera's home position, or the centre where it has none.
    pub async fn home(&self) -> Result<(), PtzError> {
        if self.support().is_some_and(|s| s.home) {
            self.request("GotoHomePosition", wire::goto_home_position)
                .await
                .map(drop)
        } else {
            self.absolute(Some(0.0), Some(0.0), None).await
        }
    }

    pub async fn position(&self) -> Result<Position, PtzError> {
        let answer = self.request("GetStatus", wire::get_status).await?;
        let st = wire::parse_status(&answer).map_err(|e| self.error("GetStatus", e))?;
        Ok(Position {
            pan: st.pan.unwrap_or(0.0),
            tilt: st.tilt.unwrap_or(0.0),
            zoom: st.zoom.unwrap_or(0.0),
        })
    }

    /// Camera preset `n`: the one whose token or name is `n`.
    pub async fn preset(&self, action: PresetAction, n: u8) -> Result<(), PtzError> {
        self.require(|s| s.max_presets > 0, "presets")?;
        let name = n.to_string();
        let answer = self.request("GetPresets", wire::get_presets).await?;
        let presets = wire::parse_presets(&answer).map_err(|e| self.error("GetPresets", e))?;
        let existing = presets
            .iter()
            .find(|p| p.token == name || p.name == name)
            .map(|p| p.token.clone());
        let missing = || PtzError::Unsupported(format!("the camera has no preset {n}"));
        match action {
            PresetAction::Set => self
                .request("SetPreset", |p| {
                    wire::set_preset(p, &name, existing.as_deref())
                })
                .await
                .map(drop),
            PresetAction::Recall => {
                let token = existing.ok_or_else(missing)?;
                self.request("GotoPreset", |p| wire::goto_preset(p, &token))
                    .await
                    .map(drop)
            }
            PresetAction::Reset => {
                let token = existing.ok_or_else(missing)?;
                self.request("RemovePreset", |p| wire::remove_preset(p, &token))
                    .await
                    .map(drop)
            }
        }
    }
}

/// Clock, services, the profile with PTZ, and what its node supports.
async fn connect(
    device_url: &str,
    credentials: Option<Credentials>,
) -> Result<Session, OnvifError> {
    let mut client = Client::new(device_url, credentials, TIMEOUT)?;
    client.sync_clock().await?;
    let services = client.services().await?;
    let ptz_url = services.ptz.ok_or(OnvifError::Missing("PTZ service"))?;
    let media_url = services.media.ok_or(OnvifError::Missing("media service"))?;
    let profiles = client.profiles(&media_url).await?;
    let profile = profiles
        .iter()
        .find(|p| p.ptz_configuration.is_some())
        .or(profiles.first())
        .ok_or(OnvifError::Missing("media profile"))?
        .token
        .clone();
    let support = wire::parse_nodes(&client.call(&ptz_url, &wire::get_nodes()).await?)?
        .into_iter()
        .next()
        .ok_or(OnvifError::Missing("PTZ node"))?;
    Ok(Session {
        client,
        ptz_url,
        profile,
        support,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_round_trip_and_clamp() {
        assert_eq!(to_units(0.25), 2500);
        assert_eq!(to_units(-1.5), -10_000);
        assert_eq!(from_units(to_units(-0.3333)), -0.3333);
        assert_eq!(PresetAction::parse("recall"), Some(PresetAction::Recall));
        assert_eq!(PresetAction::parse("goto"), None);
    }
}
