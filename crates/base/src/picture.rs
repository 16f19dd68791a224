//! A camera's picture adjustments: brightness, contrast and colour saturation.
//!
//! The scale is ONVIF's imaging scale, 0 to 100, so the REST API, JSON-RPC, the web page and an
//! ONVIF client (a recorder's image settings) speak of the same numbers; 50 leaves the picture
//! as the camera gives it. Pinhole applies them where it encodes the picture itself (test,
//! libcamera and MJPEG cameras, V4L2 devices giving raw or MJPEG frames); a relayed IP
//! camera's picture, and a V4L2 device's own H.264, are the camera's.

use crate::FieldErrors;
use serde::{Deserialize, Serialize};

/// The neutral value: the picture as the camera gives it.
pub const NEUTRAL: u8 = 50;
/// The largest value of each adjustment.
pub const MAX: u8 = 100;

/// A camera's picture adjustments, each 0..=100 (50 neutral).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Picture {
    pub brightness: u8,
    pub contrast: u8,
    pub saturation: u8,
}

impl Default for Picture {
    fn default() -> Self {
        Self {
            brightness: NEUTRAL,
            contrast: NEUTRAL,
            saturation: NEUTRAL,
        }
    }
}

/// A change to a camera's picture: what it leaves out stays as it is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PictureChange {
    #[serde(default)]
    pub brightness: Option<u8>,
    #[serde(default)]
    pub contrast: Option<u8>,
    #[serde(default)]
    pub saturation: Option<u8>,
}

impl Picture {
    /// `self` with `change` applied, or every value out of range.
    pub fn changed(self, change: &PictureChange) -> Result<Picture, FieldErrors> {
        let mut errors = FieldErrors::new();
        let mut take = |field: &str, value: Option<u8>, now: u8| match value {
            Some(v) if v > MAX => {
                errors.push(field, format!("must be 0 to {MAX} (50 leaves it as it is)"));
                now
            }
            Some(v) => v,
            None => now,
        };
        let next = Picture {
            brightness: take("brightness", change.brightness, self.brightness),
            contrast: take("contrast", change.contrast, self.contrast),
            saturation: take("saturation", change.saturation, self.saturation),
        };
        errors.into_result(next)
    }

    /// Nothing changed from the camera's own picture.
    pub fn is_neutral(&self) -> bool {
        *self == Picture::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_keeps_what_it_leaves_out_and_refuses_values_out_of_range() {
        let p = Picture::default();
        let q = p
            .changed(&PictureChange {
                brightness: Some(80),
                ..Default::default()
            })
            .unwrap();
        assert_eq!((q.brightness, q.contrast, q.saturation), (80, 50, 50));
        assert!(!q.is_neutral() && p.is_neutral());
        let e = q
            .changed(&PictureChange {
                contrast: Some(101),
                saturation: Some(255),
                brightness: Some(0),
            })
            .unwrap_err();
        assert_eq!(e.len(), 2);
        assert!(e.get("contrast").is_some() && e.get("saturation").is_some());
    }

    #[test]
    fn unknown_fields_are_refused() {
        assert!(serde_json::from_str::<PictureChange>(r#"{"brightnes": 3}"#).is_err());
        assert!(serde_json::from_str::<PictureChange>(r#"{"contrast": -1}"#).is_err());
        let c: PictureChange = serde_json::from_str(r#"{"saturation": 0}"#).unwrap();
        assert_eq!(c.saturation, Some(0));
    }
}
