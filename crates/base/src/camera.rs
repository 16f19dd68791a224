//! Cameras: where the pictures come from, how they are encoded, when they are recorded, how
//! they pan and tilt, what detection runs on them.
//!
//! [`CameraInput`] is a change as the API and the config file give it; [`resolve`] merges it over
//! the camera it changes (or none) and checks the result, so the config loader, `check-config`,
//! the store and the API report the same [`FieldErrors`] for the same bad camera.

use crate::FieldErrors;
use crate::detection::CameraDetection;
use crate::ptz::PtzLink;
use serde::{Deserialize, Serialize};

/// Where a camera's pictures come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// videotestsrc: a moving pattern with a clock overlay; the demo source.
    Test,
    /// A V4L2 device (USB camera, or CSI through the legacy stack).
    V4l2,
    /// A Pi CSI camera through libcamera.
    Libcamera,
    /// An IP camera over RTSP.
    Rtsp,
    /// An HTTP camera serving MJPEG (`multipart/x-mixed-replace`, as cheap IP and ESP32
    /// cameras do): decoded and encoded once, like a local sensor.
    Mjpeg,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Test => "test",
            SourceKind::V4l2 => "v4l2",
            SourceKind::Libcamera => "libcamera",
            SourceKind::Rtsp => "rtsp",
            SourceKind::Mjpeg => "mjpeg",
        }
    }

    /// A camera attached to this machine (not reached over the network).
    pub fn is_local(self) -> bool {
        !matches!(self, SourceKind::Rtsp | SourceKind::Mjpeg)
    }
}

/// When a camera records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RecordingMode {
    Continuous,
    /// Only around detection events (with pre- and post-roll).
    Events,
    Off,
}

impl RecordingMode {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordingMode::Continuous => "continuous",
            RecordingMode::Events => "events",
            RecordingMode::Off => "off",
        }
    }
}

/// Who created a camera.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CameraOrigin {
    /// Added through the API or the web page.
    Api,
    /// Provisioned from the configuration file.
    Config,
}

impl CameraOrigin {
    pub fn as_str(self) -> &'static str {
        match self {
            CameraOrigin::Api => "api",
            CameraOrigin::Config => "config",
        }
    }
}

/// A camera as the API shows it (no secrets).
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Camera {
    pub id: String,
    pub name: String,
    pub enabled: bool,
    pub source: SourceKind,
    /// Device path or RTSP URL.
    pub url: String,
    /// An RTSP camera's second, smaller stream (its sub profile), with the same account: the
    /// preview, snapshots and detection decode it instead of the main stream, and it is served
    /// at `rtsp://…/<id>/sub`. Only the main stream is recorded.
    pub sub_url: Option<String>,
    pub username: Option<String>,
    pub has_password: bool,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub fps: Option<u32>,
    pub bitrate_kbps: Option<u32>,
    /// Keyframe interval in milliseconds (250..=2000) for encoded raw sources; default
    /// `media.keyframe_interval_ms`.
    pub keyframe_ms: Option<u32>,
    /// Detection settings for this camera (zones, masks, threshold, labels).
    pub detection: Option<CameraDetection>,
    pub recording: RecordingMode,
    /// PTZ link, when the camera pans, tilts and zooms.
    pub ptz: Option<PtzLink>,
    pub origin: CameraOrigin,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A change to a camera's PTZ link. On the wire: a link, or `{"transport": "none"}` to remove it.
#[derive(Debug, Clone, PartialEq)]
pub enum PtzLinkChange {
    Remove,
    Set(PtzLink),
}

impl<'de> Deserialize<'de> for PtzLinkChange {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        if v.get("transport").and_then(|t| t.as_str()) == Some("none") {
            return Ok(PtzLinkChange::Remove);
        }
        PtzLink::deserialize(v)
            .map(PtzLinkChange::Set)
            .map_err(serde::de::Error::custom)
    }
}

/// The fields a client may set; on update, absent fields keep their value. `password`: absent
/// keeps it, `""` clears it, anything else replaces it.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CameraInput {
    pub id: Option<String>,
    pub name: Option<String>,
    pub enabled: Option<bool>,
    pub source: Option<SourceKind>,
    pub url: Option<String>,
    /// The sub stream's RTSP URL; `""` removes it.
    pub sub_url: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub fps: Option<u32>,
    pub bitrate_kbps: Option<u32>,
    pub keyframe_ms: Option<u32>,
    pub detection: Option<CameraDetection>,
    pub recording: Option<RecordingMode>,
    /// PTZ link; `null` keeps it on update, `{"transport": "none"}` removes it.
    #[schema(value_type = Option<PtzLink>)]
    pub ptz: Option<PtzLinkChange>,
}

impl CameraInput {
    /// Moves credentials typed into the URL (`rtsp://user:pass@host/...`) to `username` and
    /// `password`, where the store seals the password and viewers never see either; the URL
    /// keeps no userinfo. A username or password also given explicitly wins over the URL's.
    pub fn credentials_out_of_url(&self) -> CameraInput {
        let mut input = self.clone();
        // The sub stream uses the main stream's account: its userinfo only fills gaps.
        if let Some((url, user, pass)) = input.sub_url.as_deref().and_then(split_userinfo) {
            input.sub_url = Some(url);
            if input.username.is_none() && !user.is_empty() {
                input.username = Some(user);
            }
            if input.password.is_none() {
                input.password = pass;
            }
        }
        let Some((url, user, pass)) = input.url.as_deref().and_then(split_userinfo) else {
            return input;
        };
        input.url = Some(url);
        if input.username.is_none() && !user.is_empty() {
            input.username = Some(user);
        }
        if input.password.is_none()
            && let Some(p) = pass
        {
            input.password = Some(p);
        }
        input
    }
}

/// `scheme://user:pass@host/rest` → (`scheme://host/rest`, user, pass), percent-decoded;
/// `None` when the URL has no userinfo.
fn split_userinfo(url: &str) -> Option<(String, String, Option<String>)> {
    let (scheme, rest) = url.split_once("://")?;
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let (userinfo, host) = authority.rsplit_once('@')?;
    let (user, pass) = match userinfo.split_once(':') {
        Some((u, p)) => (u, Some(percent_decode(p))),
        None => (userinfo, None),
    };
    Some((
        format!("{scheme}://{host}{path}"),
        percent_decode(user),
        pass,
    ))
}

/// Decodes `%XX` escapes (invalid ones stay as they are; bytes that are not UTF-8 become U+FFFD).
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(h), Some(l)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Encodes every byte but RFC 3986's unreserved characters as `%XX` (a name in a URI path
/// segment, such as an ONVIF scope).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Is this a usable camera id? Lowercase letters, digits, `-` and `_`, 1 to 32 characters,
/// starting with a letter: it appears in URLs, file names and RTSP paths.
pub fn valid_camera_id(id: &str) -> bool {
    let mut chars = id.chars();
    matches!(chars.next(), Some('a'..='z'))
        && id.len() <= 32
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '-' | '_'))
}

/// The reason given for an id that [`valid_camera_id`] refuses.
pub fn camera_id_problem(id: &str) -> String {
    format!("`{id}` must be 1-32 of a-z 0-9 - _, starting with a letter")
}

/// Merges `input` over `base` (the camera being changed; `None` for a new one) and checks the
/// result. The id of a new camera without one is left empty for the store to choose.
pub fn resolve(base: Option<&Camera>, input: &CameraInput) -> Result<Camera, FieldErrors> {
    let mut errs = FieldErrors::new();
    if let Some(b) = base
        && input.id.as_deref().is_some_and(|new| new != b.id)
    {
        errs.push("id", "cannot be changed");
    }
    let source = input.source.or(base.map(|b| b.source));
    if source.is_none() {
        errs.push(
            "source",
            "required: one of test, v4l2, libcamera, rtsp, mjpeg",
        );
    }
    let pick = |a: Option<u32>, b: Option<u32>| a.or(b);
    let cam = Camera {
        id: base
            .map(|b| b.id.clone())
            .or_else(|| input.id.clone())
            .unwrap_or_default(),
        name: input
            .name
            .clone()
            .or_else(|| base.map(|b| b.name.clone()))
            .unwrap_or_default(),
        enabled: input.enabled.or(base.map(|b| b.enabled)).unwrap_or(true),
        source: source.unwrap_or(SourceKind::Test),
        url: input
            .url
            .clone()
            .or_else(|| base.map(|b| b.url.clone()))
            .unwrap_or_default(),
        sub_url: match &input.sub_url {
            Some(u) if u.is_empty() => None,
            Some(u) => Some(u.clone()),
            None => base.and_then(|b| b.sub_url.clone()),
        },
        username: input
            .username
            .clone()
            .or_else(|| base.and_then(|b| b.username.clone()))
            .filter(|u| !u.is_empty()),
        has_password: false,
        width: pick(input.width, base.and_then(|b| b.width)),
        height: pick(input.height, base.and_then(|b| b.height)),
        fps: pick(input.fps, base.and_then(|b| b.fps)),
        bitrate_kbps: pick(input.bitrate_kbps, base.and_then(|b| b.bitrate_kbps)),
        keyframe_ms: pick(input.keyframe_ms, base.and_then(|b| b.keyframe_ms)),
        detection: input
            .detection
            .clone()
            .or_else(|| base.and_then(|b| b.detection.clone())),
        recording: input
            .recording
            .or(base.map(|b| b.recording))
            .unwrap_or(RecordingMode::Continuous),
        ptz: match &input.ptz {
            Some(PtzLinkChange::Remove) => None,
            Some(PtzLinkChange::Set(p)) => Some(p.clone()),
            None => base.and_then(|b| b.ptz.clone()),
        },
        origin: base.map(|b| b.origin).unwrap_or(CameraOrigin::Api),
        created_at: base.map(|b| b.created_at).unwrap_or_default(),
        updated_at: 0,
    };
    errs.extend(cam.problems());
    errs.into_result(cam)
}

impl Camera {
    /// Everything wrong with this camera's settings; an empty id is allowed (not chosen yet).
    pub fn problems(&self) -> FieldErrors {
        let mut errs = FieldErrors::new();
        if !self.id.is_empty() && !valid_camera_id(&self.id) {
            errs.push("id", camera_id_problem(&self.id));
        }
        if self.name.chars().count() > 64 || self.name.chars().any(char::is_control) {
            errs.push("name", "must be at most 64 printable characters");
        }
        match self.source {
            SourceKind::Rtsp => {
                if !(self.url.starts_with("rtsp://") || self.url.starts_with("rtsps://")) {
                    errs.push(
                        "url",
                        format!("`{}` is not an rtsp:// or rtsps:// URL", self.url),
                    );
                }
            }
            SourceKind::Mjpeg => {
                if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
                    errs.push(
                        "url",
                        format!(
                            "`{}` is not an http:// or https:// URL of an MJPEG stream",
                            self.url
                        ),
                    );
                }
            }
            SourceKind::V4l2 => {
                if !self.url.starts_with("/dev/") {
                    errs.push(
                        "url",
                        format!("`{}` is not a device path like /dev/video0", self.url),
                    );
                }
            }
            SourceKind::Test | SourceKind::Libcamera => {}
        }
        if let Some(sub) = &self.sub_url {
            if self.source != SourceKind::Rtsp {
                errs.push("sub_url", "only an RTSP camera has a sub stream");
            } else if !(sub.starts_with("rtsp://") || sub.starts_with("rtsps://")) {
                errs.push(
                    "sub_url",
                    format!("`{sub}` is not an rtsp:// or rtsps:// URL"),
                );
            }
        }
        if let Some(w) = self.width
            && (!(16..=7680).contains(&w) || w % 2 != 0)
        {
            errs.push("width", format!("{w} must be even and within 16..=7680"));
        }
        if let Some(h) = self.height
            && (!(16..=4320).contains(&h) || h % 2 != 0)
        {
            errs.push("height", format!("{h} must be even and within 16..=4320"));
        }
        if let Some(f) = self.fps
            && !(1..=120).contains(&f)
        {
            errs.push("fps", format!("{f} is outside 1..=120"));
        }
        if let Some(b) = self.bitrate_kbps
            && !BITRATE_KBPS.contains(&b)
        {
            errs.push(
                "bitrate_kbps",
                format!(
                    "{b} is outside {}..={}",
                    BITRATE_KBPS.start(),
                    BITRATE_KBPS.end()
                ),
            );
        }
        if let Some(k) = self.keyframe_ms
            && !KEYFRAME_MS.contains(&k)
        {
            errs.push("keyframe_ms", format!("{k} is outside 250..=2000"));
        }
        if let Some(d) = &self.detection {
            for p in d.problems() {
                errs.push("detection", p);
            }
        }
        if let Some(p) = &self.ptz {
            errs.extend(p.problems());
        }
        errs
    }
}

/// Encoder bitrates a camera (and the `media.default_bitrate_kbps`) may ask for.
pub const BITRATE_KBPS: std::ops::RangeInclusive<u32> = 64..=50_000;
/// Keyframe intervals a camera (and `media.keyframe_interval_ms`) may ask for.
pub const KEYFRAME_MS: std::ops::RangeInclusive<u32> = 250..=2000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_leave_the_url() {
        let input = CameraInput {
            url: Some("rtsp://admin:p%40ss:w@192.0.2.10:554/Streaming/101?x=@".into()),
            ..Default::default()
        };
        let out = input.credentials_out_of_url();
        assert_eq!(
            out.url.as_deref(),
            Some("rtsp://192.0.2.10:554/Streaming/101?x=@")
        );
        assert_eq!(out.username.as_deref(), Some("admin"));
        assert_eq!(out.password.as_deref(), Some("p@ss:w"));
        // Explicit fields win; a URL without userinfo is left alone.
        let explicit = CameraInput {
            url: Some("rtsp://u:p@cam/x".into()),
            username: Some("other".into()),
            password: Some("pw".into()),
            ..Default::default()
        };
        let out = explicit.credentials_out_of_url();
        assert_eq!(out.url.as_deref(), Some("rtsp://cam/x"));
        assert_eq!(
            (out.username.as_deref(), out.password.as_deref()),
            (Some("other"), Some("pw"))
        );
        let plain = CameraInput {
            url: Some("rtsp://cam/x".into()),
            ..Default::default()
        };
        assert_eq!(
            plain.credentials_out_of_url().url.as_deref(),
            Some("rtsp://cam/x")
        );
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
    }
}
