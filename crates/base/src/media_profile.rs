//! Media profiles that clients make: ONVIF recorders create profiles of their own on a camera
//! (`CreateProfile`, then `Add…Configuration`) from the configurations the device offers, and
//! expect them to be there after a restart. A profile made this way is a name and, per kind,
//! the token of a configuration of one of Pinhole's own profiles; what those configurations run
//! at stays with the camera they belong to.

use crate::FieldErrors;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A kind of configuration in a media profile, as ONVIF names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ConfigurationKind {
    VideoSource,
    AudioSource,
    VideoEncoder,
    AudioEncoder,
    #[serde(rename = "PTZ")]
    Ptz,
    /// The camera's events as ONVIF metadata: a profile holding it streams them beside the
    /// video.
    Metadata,
}

impl ConfigurationKind {
    pub const ALL: [ConfigurationKind; 6] = [
        ConfigurationKind::VideoSource,
        ConfigurationKind::AudioSource,
        ConfigurationKind::VideoEncoder,
        ConfigurationKind::AudioEncoder,
        ConfigurationKind::Ptz,
        ConfigurationKind::Metadata,
    ];

    /// What each of Pinhole's own profiles holds: every kind but metadata, so their stream
    /// URIs stay the plain video every player expects. A client that wants the events in the
    /// stream adds the metadata configuration to a profile of its own.
    pub const OWN: [ConfigurationKind; 5] = [
        ConfigurationKind::VideoSource,
        ConfigurationKind::AudioSource,
        ConfigurationKind::VideoEncoder,
        ConfigurationKind::AudioEncoder,
        ConfigurationKind::Ptz,
    ];

    /// The name ONVIF gives it (`PTZ`, `VideoEncoder`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            ConfigurationKind::VideoSource => "VideoSource",
            ConfigurationKind::AudioSource => "AudioSource",
            ConfigurationKind::VideoEncoder => "VideoEncoder",
            ConfigurationKind::AudioEncoder => "AudioEncoder",
            ConfigurationKind::Ptz => "PTZ",
            ConfigurationKind::Metadata => "Metadata",
        }
    }
}

/// The most profiles clients may make, beside Pinhole's own (one per stream).
pub const MAX_MADE_PROFILES: usize = 16;

/// A profile a client made: its name and its configurations by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MadeProfile {
    pub token: String,
    pub name: String,
    #[serde(default)]
    pub parts: BTreeMap<ConfigurationKind, String>,
}

/// A token or a name: 1-64 printable characters (tokens are `tt:ReferenceToken`s, at most 64).
fn check_text(errors: &mut FieldErrors, field: &str, v: &str) {
    if v.trim().is_empty() || v.chars().count() > 64 || v.chars().any(char::is_control) {
        errors.push(field, "must be 1-64 printable characters");
    }
}

impl MadeProfile {
    pub fn validate(&self) -> Result<(), FieldErrors> {
        let mut errors = FieldErrors::new();
        check_text(&mut errors, "token", &self.token);
        check_text(&mut errors, "name", &self.name);
        for (kind, token) in &self.parts {
            check_text(&mut errors, &format!("parts.{}", kind.as_str()), token);
        }
        errors.into_result(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_back_what_it_writes_and_refuses_what_it_does_not_know() {
        let p = MadeProfile {
            token: "nvr_1".into(),
            name: "Recorder".into(),
            parts: [
                (ConfigurationKind::VideoSource, "src_camera0".into()),
                (ConfigurationKind::Ptz, "ptz_camera0".into()),
            ]
            .into(),
        };
        let json = serde_json::to_string(&p).expect("json");
        assert!(json.contains("\"PTZ\":\"ptz_camera0\""), "{json}");
        assert_eq!(serde_json::from_str::<MadeProfile>(&json).expect("back"), p);
        assert!(serde_json::from_str::<MadeProfile>(r#"{"token":"a","name":"b","x":1}"#).is_err());
        assert!(p.validate().is_ok());
        let bad = MadeProfile {
            token: String::new(),
            name: "a\nb".into(),
            parts: [(ConfigurationKind::VideoEncoder, "x".repeat(65))].into(),
        };
        let errors = bad.validate().expect_err("bad");
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["token", "name", "parts.VideoEncoder"]);
    }
}
