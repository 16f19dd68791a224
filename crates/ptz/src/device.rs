//! A camera's PTZ, whichever way it is reached: one set of operations (continuous drive, stop,
//! absolute moves, position, camera presets) that the API, named presets and tours use, done
//! over VISCA by the [`Controller`] or over ONVIF by [`OnvifPtz`]. Values arrive checked
//! against the camera's [`Profile`]: speeds -1..1, positions in the profile's units.

use crate::controller::{Controller, PtzError, PtzStatus};
use crate::onvif::{OnvifPtz, PresetAction, from_units};
use crate::profile::Profile;
use crate::visca::{Answer, Command, Inquiry, PanDirection, TiltDirection};
use serde::Serialize;
use tokio::sync::watch;

#[derive(Debug, Clone)]
pub enum PtzDevice {
    Visca(Controller),
    Onvif(OnvifPtz),
}

/// What a camera's PTZ can do, so a page offers only that.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Capabilities {
    pub continuous: bool,
    pub absolute: bool,
    pub zoom: bool,
    /// Presets stored in the camera (by number).
    pub camera_presets: bool,
    pub focus: bool,
    pub power: bool,
}

fn direction(v: f64) -> std::cmp::Ordering {
    v.partial_cmp(&0.0).unwrap_or(std::cmp::Ordering::Equal)
}

impl PtzDevice {
    pub fn status(&self) -> PtzStatus {
        match self {
            PtzDevice::Visca(c) => c.status(),
            PtzDevice::Onvif(o) => o.status(),
        }
    }

    pub fn watch(&self) -> watch::Receiver<PtzStatus> {
        match self {
            PtzDevice::Visca(c) => c.watch(),
            PtzDevice::Onvif(o) => o.watch(),
        }
    }

    pub fn capabilities(&self) -> Capabilities {
        match self {
            PtzDevice::Visca(_) => Capabilities {
                continuous: true,
                absolute: true,
                zoom: true,
                camera_presets: true,
                focus: true,
                power: true,
            },
            // Until the device answered, offer the moves every ONVIF PTZ camera has.
            PtzDevice::Onvif(o) => {
                let s = o.support();
                Capabilities {
                    continuous: s.as_ref().is_none_or(|s| s.continuous),
                    absolute: s.as_ref().is_some_and(|s| s.absolute),
                    zoom: s.as_ref().is_some_and(|s| s.zoom),
                    camera_presets: s.as_ref().is_some_and(|s| s.max_presets > 0),
                    focus: false,
                    power: false,
                }
            }
        }
    }

    /// The VISCA controller, for what only VISCA has (focus, power, raw commands).
    pub fn visca(&self) -> Result<&Controller, PtzError> {
        match self {
            PtzDevice::Visca(c) => Ok(c),
            PtzDevice::Onvif(_) => Err(PtzError::Unsupported(
                "this camera is steered over ONVIF PTZ, which has no focus, power or VISCA commands"
                    .into(),
            )),
        }
    }

    /// Drives at these speeds (-1..1; sign: pan right, tilt up, zoom tele); zero stops an axis.
    pub async fn drive(
        &self,
        p: &Profile,
        pan: f64,
        tilt: f64,
        zoom: Option<f64>,
    ) -> Result<(), PtzError> {
        use std::cmp::Ordering::*;
        let c = match self {
            PtzDevice::Onvif(o) => return o.continuous(pan, tilt, zoom.unwrap_or(0.0)).await,
            PtzDevice::Visca(c) => c,
        };
        c.command(Command::PanTiltDrive {
            pan_speed: p.pan_speed_from_unit(pan).max(*p.pan_speed.start()),
            tilt_speed: p.tilt_speed_from_unit(tilt).max(*p.tilt_speed.start()),
            pan: match direction(pan) {
                Greater => PanDirection::Right,
                Less => PanDirection::Left,
                Equal => PanDirection::Stop,
            },
            tilt: match direction(tilt) {
                Greater => TiltDirection::Up,
                Less => TiltDirection::Down,
                Equal => TiltDirection::Stop,
            },
        })
        .await?;
        if let Some(z) = zoom {
            let speed = Some(
                ((z.abs() * f64::from(*p.zoom_speed.end())).round() as u8)
                    .clamp(*p.zoom_speed.start(), *p.zoom_speed.end()),
            );
            c.command(match direction(z) {
                Greater => Command::ZoomTele { speed },
                Less => Command::ZoomWide { speed },
                Equal => Command::ZoomStop,
            })
            .await?;
        }
        Ok(())
    }

    pub async fn stop(&self, p: &Profile) -> Result<(), PtzError> {
        match self {
            PtzDevice::Onvif(o) => o.stop().await,
            PtzDevice::Visca(c) => {
                c.command(Command::PanTiltDrive {
                    pan_speed: *p.pan_speed.start(),
                    tilt_speed: *p.tilt_speed.start(),
                    pan: PanDirection::Stop,
                    tilt: TiltDirection::Stop,
                })
                .await?;
                c.command(Command::ZoomStop).await
            }
        }
    }

    /// Goes to a position in the profile's units at `speed` (0..1]; axes left out stay.
    pub async fn go_to(
        &self,
        p: &Profile,
        pan: Option<i16>,
        tilt: Option<i16>,
        zoom: Option<u16>,
        speed: f64,
    ) -> Result<(), PtzError> {
        let c = match self {
            PtzDevice::Onvif(o) => {
                let unit = |v: Option<i16>| v.map(|v| from_units(i32::from(v)));
                return o
                    .absolute(
                        unit(pan),
                        unit(tilt),
                        zoom.map(|z| from_units(i32::from(z))),
                    )
                    .await;
            }
            PtzDevice::Visca(c) => c,
        };
        if pan.is_some() || tilt.is_some() {
            let (cur_pan, cur_tilt) = match (pan, tilt) {
                (Some(a), Some(b)) => (a, b),
                _ => {
                    let (a, b, _) = self.position().await?;
                    (a, b)
                }
            };
            c.command(Command::PanTiltAbsolute {
                pan_speed: p.pan_speed_from_unit(speed).max(*p.pan_speed.start()),
                tilt_speed: p.tilt_speed_from_unit(speed).max(*p.tilt_speed.start()),
                pan: pan.unwrap_or(cur_pan),
                tilt: tilt.unwrap_or(cur_tilt),
            })
            .await?;
        }
        if let Some(z) = zoom {
            c.command(Command::ZoomDirect { position: z }).await?;
        }
        Ok(())
    }

    pub async fn home(&self) -> Result<(), PtzError> {
        match self {
            PtzDevice::Onvif(o) => o.home().await,
            PtzDevice::Visca(c) => c.command(Command::PanTiltHome).await,
        }
    }

    /// Pan, tilt and zoom in the profile's units, asked from the camera.
    pub async fn position(&self) -> Result<(i16, i16, u16), PtzError> {
        match self {
            PtzDevice::Onvif(o) => {
                let p = o.position().await?;
                let units = |v: f64| crate::onvif::to_units(v);
                Ok((
                    units(p.pan) as i16,
                    units(p.tilt) as i16,
                    units(p.zoom).max(0) as u16,
                ))
            }
            PtzDevice::Visca(c) => {
                let (pan, tilt) = match c.inquire(Inquiry::PanTiltPosition).await? {
                    Answer::PanTiltPosition { pan, tilt } => (pan, tilt),
                    _ => (0, 0),
                };
                let zoom = match c.inquire(Inquiry::ZoomPosition).await? {
                    Answer::ZoomPosition(z) => z,
                    _ => 0,
                };
                Ok((pan, tilt, zoom))
            }
        }
    }

    /// Stores, recalls or clears camera preset `n`.
    pub async fn camera_preset(&self, action: PresetAction, n: u8) -> Result<(), PtzError> {
        match self {
            PtzDevice::Onvif(o) => o.preset(action, n).await,
            PtzDevice::Visca(c) => {
                c.command(match action {
                    PresetAction::Set => Command::PresetSet { preset: n },
                    PresetAction::Recall => Command::PresetRecall { preset: n },
                    PresetAction::Reset => Command::PresetReset { preset: n },
                })
                .await
            }
        }
    }
}
