//! What a camera model accepts: speed ranges, preset numbers, position limits.
//!
//! Speeds and preset ranges come from the vendors' command tables (Sony: pan 01-18h, tilt 01-17h,
//! presets 00-3Fh on the SRG/BRC families' standard command; PTZOptics: pan 01-18h, tilt 01-14h,
//! presets 00-59h and 64h-FEh). Position limits differ per model and mount; the values here are
//! conservative defaults that an installer overrides per camera. The generic profile accepts what
//! every VISCA camera of these families accepts.

use pinhole_base::ptz::PtzModel;
use std::ops::RangeInclusive;

/// API position units per unit of ONVIF's generic spaces (-1..1).
pub const ONVIF_UNITS: f64 = 10_000.0;

#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    pub name: &'static str,
    pub pan_speed: RangeInclusive<u8>,
    pub tilt_speed: RangeInclusive<u8>,
    /// Variable zoom/focus speed (the `p` of `2p`/`3p`).
    pub zoom_speed: RangeInclusive<u8>,
    pub focus_speed: RangeInclusive<u8>,
    /// Camera-memory preset numbers, possibly in several ranges.
    pub presets: Vec<RangeInclusive<u8>>,
    pub pan_limits: RangeInclusive<i16>,
    pub tilt_limits: RangeInclusive<i16>,
    /// Zoom positions 0 (wide) to this (tele).
    pub zoom_max: u16,
    pub focus_limits: RangeInclusive<u16>,
    /// Pan/tilt position units per degree, for the REST routes that speak degrees (14.4 on the
    /// EVI-D70 / PTZOptics class: 0x0990 = 170°).
    pub units_per_degree: f64,
}

impl Profile {
    pub fn generic() -> Self {
        Profile {
            name: "generic",
            pan_speed: 0x01..=0x18,
            tilt_speed: 0x01..=0x14,
            zoom_speed: 0..=7,
            focus_speed: 0..=7,
            presets: vec![0x00..=0x0F],
            pan_limits: -0x0990..=0x0990,
            tilt_limits: -0x0190..=0x0510,
            zoom_max: 0x4000,
            focus_limits: 0x1000..=0xC000,
            units_per_degree: 14.4,
        }
    }

    pub fn sony() -> Self {
        Profile {
            name: "sony",
            tilt_speed: 0x01..=0x17,
            presets: vec![0x00..=0x3F],
            ..Profile::generic()
        }
    }

    pub fn ptzoptics() -> Self {
        Profile {
            name: "ptzoptics",
            presets: vec![0x00..=0x59, 0x64..=0xFE],
            ..Profile::generic()
        }
    }

    /// An ONVIF camera: positions are ONVIF's generic spaces × [`ONVIF_UNITS`] (pan -1..1
    /// spans -180..180°), presets are whatever numbers the camera keeps.
    pub fn onvif() -> Self {
        let units = ONVIF_UNITS as i16;
        Profile {
            name: "onvif",
            presets: vec![0x00..=0xFF],
            pan_limits: -units..=units,
            tilt_limits: -units..=units,
            zoom_max: units as u16,
            units_per_degree: ONVIF_UNITS / 180.0,
            ..Profile::generic()
        }
    }

    pub fn for_model(model: PtzModel) -> Self {
        match model {
            PtzModel::Generic => Profile::generic(),
            PtzModel::Sony => Profile::sony(),
            PtzModel::Ptzoptics => Profile::ptzoptics(),
        }
    }

    pub fn preset_ok(&self, n: u8) -> bool {
        self.presets.iter().any(|r| r.contains(&n))
    }

    /// Checks a pan/tilt speed pair; the error names the allowed range.
    pub fn check_speeds(&self, pan: u8, tilt: u8) -> Result<(), String> {
        if !self.pan_speed.contains(&pan) {
            return Err(format!("pan speed {pan} outside {:?}", self.pan_speed));
        }
        if !self.tilt_speed.contains(&tilt) {
            return Err(format!("tilt speed {tilt} outside {:?}", self.tilt_speed));
        }
        Ok(())
    }

    pub fn check_position(&self, pan: i16, tilt: i16) -> Result<(), String> {
        if !self.pan_limits.contains(&pan) {
            return Err(format!("pan {pan} outside {:?}", self.pan_limits));
        }
        if !self.tilt_limits.contains(&tilt) {
            return Err(format!("tilt {tilt} outside {:?}", self.tilt_limits));
        }
        Ok(())
    }

    /// Maps a normalised speed (-1..1, sign = direction) to a VISCA speed; 0 means stop.
    pub fn pan_speed_from_unit(&self, v: f64) -> u8 {
        scale(v.abs(), &self.pan_speed)
    }

    pub fn tilt_speed_from_unit(&self, v: f64) -> u8 {
        scale(v.abs(), &self.tilt_speed)
    }
}

fn scale(v: f64, range: &RangeInclusive<u8>) -> u8 {
    if v <= 0.0 || !v.is_finite() {
        return 0;
    }
    let (lo, hi) = (f64::from(*range.start()), f64::from(*range.end()));
    (lo + (hi - lo) * v.min(1.0)).round() as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_differ_where_vendors_differ() {
        let g = Profile::generic();
        let s = Profile::sony();
        let p = Profile::ptzoptics();
        assert!(s.check_speeds(0x18, 0x17).is_ok());
        assert!(g.check_speeds(0x18, 0x17).is_err());
        assert!(p.preset_ok(0x64) && !p.preset_ok(0x60) && !s.preset_ok(0x64));
        assert_eq!(g.pan_speed_from_unit(1.0), 0x18);
        assert_eq!(g.pan_speed_from_unit(0.0), 0);
        assert_eq!(g.tilt_speed_from_unit(-1.0), 0x14);
        assert_eq!(g.pan_speed_from_unit(0.01), 1);
        assert_eq!(Profile::for_model(PtzModel::Sony), s);
    }
}
