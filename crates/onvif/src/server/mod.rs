//! Pinhole's own ONVIF face, the protocol half: what an ONVIF client (a network video recorder,
//! Home Assistant) sends to Pinhole's device, media and PTZ services, read into an
//! [`Operation`], and the answers and faults written back ([`answer`]). No I/O: the HTTP routes
//! and the mapping onto Pinhole's cameras live in the server crate.
//!
//! Why here, beside the client: requests come from anyone on the network, so they go through
//! the same bounded parser ([`crate::xml::parse`]: no DTD, limited size and nodes) and the same
//! fuzz target as the answers of cameras.
//!
//! Authentication is checked in two steps: [`parse_request`] reads the WS-Security
//! UsernameToken (if any) as data, and [`UsernameTokenIn::verify`] checks it against the
//! user's password once the caller has looked the user up.

pub mod answer;
pub mod events;
pub mod imaging;
pub mod media2;
pub mod metadata;
pub mod osd;
pub mod profiles;

use crate::OnvifError;
use crate::xml::{self, child, text, text_at};
use base64::Engine;
use sha1::{Digest, Sha1};

/// Which service endpoint a request was posted to: several operations exist in more than one
/// (`GetServiceCapabilities`, `GetConfigurations`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Device,
    Media,
    /// Media2 (ver20).
    Media2,
    Ptz,
    /// Imaging (ver20): a video source's picture settings.
    Imaging,
    Events,
    /// One pull-point subscription (its address is [`Service::path`] and the subscription's id).
    Subscription,
}

impl Service {
    /// The endpoint's path under the HTTP root.
    pub fn path(self) -> &'static str {
        match self {
            Service::Device => "/onvif/device_service",
            Service::Media => "/onvif/media_service",
            Service::Media2 => "/onvif/media2_service",
            Service::Ptz => "/onvif/ptz_service",
            Service::Imaging => "/onvif/imaging_service",
            Service::Events => "/onvif/event_service",
            Service::Subscription => "/onvif/subscription",
        }
    }
}

/// Which media service a request came to: the answer's namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaVersion {
    /// Media (ver10), `trt`.
    V10,
    /// Media2 (ver20), `tr2`.
    V20,
}

impl MediaVersion {
    fn prefix(self) -> &'static str {
        match self {
            MediaVersion::V10 => "trt",
            MediaVersion::V20 => "tr2",
        }
    }
}

/// Pan, tilt and zoom values in ONVIF's generic spaces, as far as the request gave them.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Vector {
    pub pan: Option<f64>,
    pub tilt: Option<f64>,
    pub zoom: Option<f64>,
}

/// One request Pinhole answers.
#[derive(Debug, Clone, PartialEq)]
pub enum Operation {
    // Device service.
    GetSystemDateAndTime,
    GetCapabilities,
    GetServices {
        include_capability: bool,
    },
    GetServiceCapabilities(Service),
    GetDeviceInformation,
    GetScopes,
    GetHostname,
    GetNetworkInterfaces,
    GetWsdlUrl,
    GetDiscoveryMode,
    GetNetworkProtocols,
    GetNetworkDefaultGateway,
    GetDNS,
    // Media service (ver10).
    GetProfiles,
    GetProfile {
        profile: String,
    },
    GetVideoSources,
    GetVideoSourceConfigurations,
    GetVideoEncoderConfigurations,
    GetVideoSourceConfiguration {
        configuration: String,
    },
    GetVideoEncoderConfiguration {
        configuration: String,
    },
    GetAudioSourceConfigurations,
    GetAudioEncoderConfigurations,
    /// The cameras' microphones.
    GetAudioSources,
    /// What a video source configuration can be set to (its bounds: the whole picture).
    GetVideoSourceConfigurationOptions {
        filter: media2::ConfigurationFilter,
    },
    /// How many encoders a video source configuration feeds at once (main and sub stream).
    GetGuaranteedNumberOfVideoEncoderInstances {
        configuration: String,
    },
    /// What the encoder of a profile or configuration can be set to (the ranges NVRs build
    /// their forms from).
    GetVideoEncoderConfigurationOptions {
        filter: media2::ConfigurationFilter,
    },
    GetStreamUri {
        profile: String,
    },
    GetSnapshotUri {
        profile: String,
    },
    /// A new encoder setting: what recorders send when they add a camera at the resolution or
    /// rate they want.
    SetVideoEncoderConfiguration(EncoderChange),
    /// A profile made, changed or deleted (`CreateProfile`, `Add…Configuration`,
    /// `Remove…Configuration`, `DeleteProfile`); `name` is the operation's.
    EditProfile {
        name: &'static str,
        edit: ProfileEdit,
    },
    /// The configurations of `kind` that could go into a profile (`GetCompatible…`, and the PTZ
    /// service's `GetCompatibleConfigurations`).
    GetCompatibleConfigurations {
        name: &'static str,
        profile: String,
        kind: media2::ConfigurationKind,
    },
    /// Media2 (ver20).
    Media2(Media2Op),
    // PTZ service (ver20).
    GetNodes,
    GetNode {
        node: String,
    },
    GetConfigurations,
    GetConfiguration {
        configuration: String,
    },
    GetConfigurationOptions {
        configuration: String,
    },
    ContinuousMove {
        profile: String,
        velocity: Vector,
        timeout_ms: Option<u64>,
    },
    Stop {
        profile: String,
    },
    AbsoluteMove {
        profile: String,
        position: Vector,
    },
    RelativeMove {
        profile: String,
        translation: Vector,
    },
    GetStatus {
        profile: String,
    },
    GetPresets {
        profile: String,
    },
    GotoPreset {
        profile: String,
        preset: String,
    },
    SetPreset {
        profile: String,
        name: Option<String>,
        preset: Option<String>,
    },
    RemovePreset {
        profile: String,
        preset: String,
    },
    GotoHomePosition {
        profile: String,
    },
    /// Imaging (ver20).
    Imaging(imaging::ImagingOp),
    /// On-screen display in Media (ver10).
    Osd(osd::OsdOp),
    /// Metadata configurations in Media (ver10).
    Metadata(metadata::MetadataOp),
    // Event service (ver10).
    GetEventProperties,
    CreatePullPointSubscription {
        filter: events::TopicFilter,
        termination: Option<events::Termination>,
    },
    /// WS-BaseNotification: the device posts `Notify` to `consumer`.
    Subscribe {
        consumer: String,
        filter: events::TopicFilter,
        termination: Option<events::Termination>,
    },
    // A pull-point subscription.
    PullMessages {
        timeout_ms: u64,
        limit: u32,
    },
    Renew {
        termination: events::Termination,
    },
    Unsubscribe,
    SetSynchronizationPoint,
    /// Anything else: answered with an `ActionNotSupported` fault naming it.
    NotSupported(String),
}

/// A change to the media profiles, as either media service asks for it.
#[derive(Debug, Clone, PartialEq)]
pub enum ProfileEdit {
    /// A new profile, with the configurations given (Media2 only; Media adds them one by one).
    Create {
        name: String,
        token: Option<String>,
        parts: Vec<PartRef>,
    },
    Delete {
        profile: String,
    },
    /// Configurations added (replacing one of the same kind), and a new name (Media2).
    Add {
        profile: String,
        name: Option<String>,
        parts: Vec<PartRef>,
    },
    Remove {
        profile: String,
        parts: Vec<PartRef>,
    },
}

impl ProfileEdit {
    /// The profile it changes (none for a new one).
    pub fn profile(&self) -> Option<&str> {
        match self {
            ProfileEdit::Create { .. } => None,
            ProfileEdit::Delete { profile }
            | ProfileEdit::Add { profile, .. }
            | ProfileEdit::Remove { profile, .. } => Some(profile),
        }
    }
}

/// A configuration of a profile edit: its kind, and its token (Media2 may leave the choice to
/// the device, and removes by kind).
#[derive(Debug, Clone, PartialEq)]
pub struct PartRef {
    pub kind: media2::ConfigurationKind,
    pub token: Option<String>,
}

/// Media (ver10)'s operations on one kind of configuration of a profile:
/// (kind, add, remove, list the compatible ones).
const MEDIA_PART_OPS: [(media2::ConfigurationKind, &str, &str, Option<&str>); 6] = {
    use media2::ConfigurationKind::*;
    [
        (
            VideoSource,
            "AddVideoSourceConfiguration",
            "RemoveVideoSourceConfiguration",
            Some("GetCompatibleVideoSourceConfigurations"),
        ),
        (
            AudioSource,
            "AddAudioSourceConfiguration",
            "RemoveAudioSourceConfiguration",
            Some("GetCompatibleAudioSourceConfigurations"),
        ),
        (
            VideoEncoder,
            "AddVideoEncoderConfiguration",
            "RemoveVideoEncoderConfiguration",
            Some("GetCompatibleVideoEncoderConfigurations"),
        ),
        (
            AudioEncoder,
            "AddAudioEncoderConfiguration",
            "RemoveAudioEncoderConfiguration",
            Some("GetCompatibleAudioEncoderConfigurations"),
        ),
        // The PTZ service lists the compatible PTZ configurations.
        (Ptz, "AddPTZConfiguration", "RemovePTZConfiguration", None),
        (
            Metadata,
            "AddMetadataConfiguration",
            "RemoveMetadataConfiguration",
            Some("GetCompatibleMetadataConfigurations"),
        ),
    ]
};

/// A Media (ver10) request on a profile's configurations, if `name` is one.
fn media_part_operation(
    op: roxmltree::Node<'_, '_>,
    name: &str,
) -> Result<Option<Operation>, OnvifError> {
    let profile = || field(op, &["ProfileToken"], "ProfileToken");
    for (kind, add, remove, compatible) in MEDIA_PART_OPS {
        if name == add {
            let token = field(op, &["ConfigurationToken"], "ConfigurationToken")?;
            return Ok(Some(Operation::EditProfile {
                name: add,
                edit: ProfileEdit::Add {
                    profile: profile()?,
                    name: None,
                    parts: vec![PartRef {
                        kind,
                        token: Some(token),
                    }],
                },
            }));
        }
        if name == remove {
            return Ok(Some(Operation::EditProfile {
                name: remove,
                edit: ProfileEdit::Remove {
                    profile: profile()?,
                    parts: vec![PartRef { kind, token: None }],
                },
            }));
        }
        if let Some(compatible) = compatible.filter(|c| *c == name) {
            return Ok(Some(Operation::GetCompatibleConfigurations {
                name: compatible,
                profile: profile()?,
                kind,
            }));
        }
    }
    Ok(None)
}

/// The `Configuration` elements of a Media2 profile edit: `Type` (`All` stands for every kind)
/// and an optional `Token`.
fn media2_parts(op: roxmltree::Node<'_, '_>) -> Result<Vec<PartRef>, OnvifError> {
    let mut parts = Vec::new();
    for c in op
        .children()
        .filter(|n| n.is_element() && n.tag_name().name() == "Configuration")
    {
        let ty = text_at(c, &["Type"]).ok_or(OnvifError::Missing("Configuration Type"))?;
        let kinds = media2::kinds_of(ty).ok_or_else(|| invalid("Type", ty))?;
        let token = optional_field(c, &["Token"], "Token")?;
        if token.is_some() && kinds.len() != 1 {
            return Err(invalid("Type", ty));
        }
        parts.extend(kinds.into_iter().map(|kind| PartRef {
            kind,
            token: token.clone(),
        }));
        if parts.len() > 16 {
            return Err(invalid("Configuration", "more than 16"));
        }
    }
    Ok(parts)
}

/// A request to Media2.
#[derive(Debug, Clone, PartialEq)]
pub enum Media2Op {
    GetProfiles {
        token: Option<String>,
        kinds: Vec<media2::ConfigurationKind>,
    },
    GetConfigurations {
        kind: media2::ConfigurationKind,
        filter: media2::ConfigurationFilter,
    },
    GetStreamUri {
        profile: String,
        protocol: media2::StreamProtocol,
    },
    GetSnapshotUri {
        profile: String,
    },
    GetVideoEncoderConfigurationOptions {
        filter: media2::ConfigurationFilter,
    },
    GetVideoSourceConfigurationOptions {
        filter: media2::ConfigurationFilter,
    },
    /// How many encoders of each codec a video source configuration feeds at once.
    GetVideoEncoderInstances {
        configuration: String,
    },
    SetVideoEncoderConfiguration(EncoderChange),
    EditProfile {
        name: &'static str,
        edit: ProfileEdit,
    },
    Osd(osd::OsdOp),
    /// Metadata configurations' options and changes (they are listed as every kind).
    Metadata(metadata::MetadataOp),
}

/// A `SetVideoEncoderConfiguration` of either media service: the configuration it names and
/// what it asks that encoder to run at. What the request leaves out stays as it is.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EncoderChange {
    pub configuration: String,
    /// As sent (`H264`, `H265`): the answer says what Pinhole cannot encode.
    pub encoding: Option<String>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub fps: Option<u32>,
    pub bitrate_kbps: Option<u32>,
    /// Frames from one keyframe to the next.
    pub gov_length: Option<u32>,
}

impl Media2Op {
    fn name(&self) -> &'static str {
        use media2::ConfigurationKind as K;
        match self {
            Media2Op::GetProfiles { .. } => "GetProfiles",
            Media2Op::GetConfigurations { kind, .. } => match kind {
                K::VideoSource => "GetVideoSourceConfigurations",
                K::AudioSource => "GetAudioSourceConfigurations",
                K::VideoEncoder => "GetVideoEncoderConfigurations",
                K::AudioEncoder => "GetAudioEncoderConfigurations",
                K::Ptz => "GetPTZConfigurations",
                K::Metadata => "GetMetadataConfigurations",
            },
            Media2Op::GetStreamUri { .. } => "GetStreamUri",
            Media2Op::GetSnapshotUri { .. } => "GetSnapshotUri",
            Media2Op::GetVideoEncoderConfigurationOptions { .. } => {
                "GetVideoEncoderConfigurationOptions"
            }
            Media2Op::GetVideoSourceConfigurationOptions { .. } => {
                "GetVideoSourceConfigurationOptions"
            }
            Media2Op::GetVideoEncoderInstances { .. } => "GetVideoEncoderInstances",
            Media2Op::SetVideoEncoderConfiguration(_) => "SetVideoEncoderConfiguration",
            Media2Op::EditProfile { name, .. } => name,
            Media2Op::Osd(o) => o.name(),
            Media2Op::Metadata(m) => m.name(),
        }
    }
}

/// Who may do an operation, in Pinhole's roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    /// ONVIF's PRE_AUTH class: what a client needs before it can authenticate (the clock, to
    /// correct its tokens, and where the services are).
    PreAuth,
    /// Reads: any Pinhole user (viewer and up).
    Read,
    /// Moving a camera and changing its presets: operators and admins.
    Actuate,
    /// Changing a camera's settings: admins, as in the REST API.
    Configure,
}

impl Operation {
    pub fn access(&self) -> Access {
        use Operation::*;
        match self {
            GetSystemDateAndTime
            | GetCapabilities
            | GetServices { .. }
            | GetServiceCapabilities(_)
            | GetWsdlUrl
            | GetHostname => Access::PreAuth,
            ContinuousMove { .. }
            | Stop { .. }
            | AbsoluteMove { .. }
            | RelativeMove { .. }
            | GotoPreset { .. }
            | SetPreset { .. }
            | RemovePreset { .. }
            | GotoHomePosition { .. }
            | Imaging(imaging::ImagingOp::SetImagingSettings { .. }) => Access::Actuate,
            SetVideoEncoderConfiguration(_)
            | Media2(Media2Op::SetVideoEncoderConfiguration(_))
            | EditProfile { .. }
            | Media2(Media2Op::EditProfile { .. })
            | Metadata(metadata::MetadataOp::Set(_))
            | Media2(Media2Op::Metadata(metadata::MetadataOp::Set(_))) => Access::Configure,
            Osd(o) | Media2(Media2Op::Osd(o)) if o.changes() => Access::Configure,
            // Refused after authentication, so a probe of unknown operations learns nothing.
            _ => Access::Read,
        }
    }

    /// The operation's name, for logs and the audit trail.
    pub fn name(&self) -> &str {
        use Operation::*;
        match self {
            GetSystemDateAndTime => "GetSystemDateAndTime",
            GetCapabilities => "GetCapabilities",
            GetServices { .. } => "GetServices",
            GetServiceCapabilities(_) => "GetServiceCapabilities",
            GetDeviceInformation => "GetDeviceInformation",
            GetScopes => "GetScopes",
            GetHostname => "GetHostname",
            GetNetworkInterfaces => "GetNetworkInterfaces",
            GetWsdlUrl => "GetWsdlUrl",
            GetDiscoveryMode => "GetDiscoveryMode",
            GetNetworkProtocols => "GetNetworkProtocols",
            GetNetworkDefaultGateway => "GetNetworkDefaultGateway",
            GetDNS => "GetDNS",
            GetProfiles => "GetProfiles",
            GetProfile { .. } => "GetProfile",
            GetVideoSources => "GetVideoSources",
            GetVideoSourceConfigurations => "GetVideoSourceConfigurations",
            GetVideoEncoderConfigurations => "GetVideoEncoderConfigurations",
            GetVideoSourceConfiguration { .. } => "GetVideoSourceConfiguration",
            GetVideoEncoderConfiguration { .. } => "GetVideoEncoderConfiguration",
            GetAudioSourceConfigurations => "GetAudioSourceConfigurations",
            GetAudioEncoderConfigurations => "GetAudioEncoderConfigurations",
            GetAudioSources => "GetAudioSources",
            GetVideoSourceConfigurationOptions { .. } => "GetVideoSourceConfigurationOptions",
            GetGuaranteedNumberOfVideoEncoderInstances { .. } => {
                "GetGuaranteedNumberOfVideoEncoderInstances"
            }
            GetVideoEncoderConfigurationOptions { .. } => "GetVideoEncoderConfigurationOptions",
            GetStreamUri { .. } => "GetStreamUri",
            GetSnapshotUri { .. } => "GetSnapshotUri",
            SetVideoEncoderConfiguration(_) => "SetVideoEncoderConfiguration",
            EditProfile { name, .. } | GetCompatibleConfigurations { name, .. } => name,
            Media2(m) => m.name(),
            GetNodes => "GetNodes",
            GetNode { .. } => "GetNode",
            GetConfigurations => "GetConfigurations",
            GetConfiguration { .. } => "GetConfiguration",
            GetConfigurationOptions { .. } => "GetConfigurationOptions",
            ContinuousMove { .. } => "ContinuousMove",
            Stop { .. } => "Stop",
            AbsoluteMove { .. } => "AbsoluteMove",
            RelativeMove { .. } => "RelativeMove",
            GetStatus { .. } => "GetStatus",
            GetPresets { .. } => "GetPresets",
            GotoPreset { .. } => "GotoPreset",
            SetPreset { .. } => "SetPreset",
            RemovePreset { .. } => "RemovePreset",
            GotoHomePosition { .. } => "GotoHomePosition",
            Imaging(i) => i.name(),
            Osd(o) => o.name(),
            Metadata(m) => m.name(),
            GetEventProperties => "GetEventProperties",
            CreatePullPointSubscription { .. } => "CreatePullPointSubscription",
            Subscribe { .. } => "Subscribe",
            PullMessages { .. } => "PullMessages",
            Renew { .. } => "Renew",
            Unsubscribe => "Unsubscribe",
            SetSynchronizationPoint => "SetSynchronizationPoint",
            NotSupported(n) => n,
        }
    }
}

/// The WS-Security UsernameToken of a request, as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsernameTokenIn {
    pub username: String,
    /// The digest (Base64), or the password itself when `digest` is false.
    pub password: String,
    pub digest: bool,
    pub nonce: Vec<u8>,
    /// `wsu:Created`, as sent.
    pub created: Option<String>,
}

/// Why a UsernameToken was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenRefusal {
    #[error("send the password as a PasswordDigest, not as text")]
    PlainText,
    #[error("a PasswordDigest needs a Nonce and a Created time")]
    Incomplete,
    #[error("the token's Created time is not a time")]
    BadTime,
    #[error("the token's Created time is too far from the device's clock")]
    Stale,
    #[error("wrong user name or password")]
    Wrong,
}

/// How far a token's `Created` may be from the device's clock, either way (clients correct their
/// clock by `GetSystemDateAndTime`; this covers the round trip and a slow client).
pub const TOKEN_WINDOW_SECS: i64 = 300;

impl UsernameTokenIn {
    /// `Created` in Unix seconds.
    pub fn created_secs(&self) -> Result<i64, TokenRefusal> {
        let c = self.created.as_deref().ok_or(TokenRefusal::Incomplete)?;
        c.parse::<jiff::Timestamp>()
            .map(|t| t.as_second())
            .map_err(|_| TokenRefusal::BadTime)
    }

    /// Checks the digest against `password` at the device's time `now_secs`. The caller keeps
    /// the nonces it has accepted within the window, so a captured token cannot be replayed.
    pub fn verify(&self, password: &str, now_secs: i64) -> Result<(), TokenRefusal> {
        if !self.digest {
            return Err(TokenRefusal::PlainText);
        }
        if self.nonce.is_empty() {
            return Err(TokenRefusal::Incomplete);
        }
        let created = self.created_secs()?;
        if (created - now_secs).abs() > TOKEN_WINDOW_SECS {
            return Err(TokenRefusal::Stale);
        }
        let mut h = Sha1::new();
        h.update(&self.nonce);
        h.update(self.created.as_deref().unwrap_or("").as_bytes());
        h.update(password.as_bytes());
        let want = base64::engine::general_purpose::STANDARD.encode(h.finalize());
        if constant_time_eq(want.as_bytes(), self.password.trim().as_bytes()) {
            Ok(())
        } else {
            Err(TokenRefusal::Wrong)
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A request read from its envelope.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub operation: Operation,
    pub token: Option<UsernameTokenIn>,
    /// SOAP 1.1 (`http://schemas.xmlsoap.org/soap/envelope/`) rather than 1.2: the answer uses
    /// the same version.
    pub soap11: bool,
}

/// The longest token, name or text field read from a request.
const MAX_FIELD: usize = 256;

fn field(
    node: roxmltree::Node<'_, '_>,
    path: &[&str],
    name: &'static str,
) -> Result<String, OnvifError> {
    let t = text_at(node, path).ok_or(OnvifError::Missing(name))?;
    if t.len() > MAX_FIELD || t.chars().any(char::is_control) {
        return Err(invalid(name, t));
    }
    Ok(t.to_string())
}

fn optional_field(
    node: roxmltree::Node<'_, '_>,
    path: &[&str],
    name: &'static str,
) -> Result<Option<String>, OnvifError> {
    match text_at(node, path) {
        None => Ok(None),
        Some(_) => field(node, path, name).map(Some),
    }
}

fn number(
    node: roxmltree::Node<'_, '_>,
    attr: &str,
    name: &'static str,
) -> Result<Option<f64>, OnvifError> {
    match node.attribute(attr) {
        None => Ok(None),
        Some(v) => match v.trim().parse::<f64>() {
            Ok(x) if x.is_finite() => Ok(Some(x)),
            _ => Err(invalid(name, v)),
        },
    }
}

/// A `Position`, `Velocity` or `Translation` element: `PanTilt x= y=` and `Zoom x=`.
fn vector(node: Option<roxmltree::Node<'_, '_>>) -> Result<Vector, OnvifError> {
    let Some(n) = node else {
        return Ok(Vector::default());
    };
    let mut v = Vector::default();
    if let Some(pt) = child(n, "PanTilt") {
        v.pan = number(pt, "x", "PanTilt x")?;
        v.tilt = number(pt, "y", "PanTilt y")?;
    }
    if let Some(z) = child(n, "Zoom") {
        v.zoom = number(z, "x", "Zoom x")?;
    }
    Ok(v)
}

/// An `xs:duration` of the form ONVIF timeouts use (`PT5S`, `PT0.5S`, `PT1M30S`), in ms.
pub fn parse_duration_ms(s: &str) -> Option<u64> {
    let rest = s.trim().strip_prefix("PT")?;
    let mut total = 0f64;
    let mut num = String::new();
    for c in rest.chars() {
        match c {
            '0'..='9' | '.' => num.push(c),
            'H' | 'M' | 'S' => {
                let n: f64 = num.parse().ok()?;
                num.clear();
                total += n * match c {
                    'H' => 3_600_000.0,
                    'M' => 60_000.0,
                    _ => 1_000.0,
                };
            }
            _ => return None,
        }
        if num.len() > 12 {
            return None;
        }
    }
    (num.is_empty() && total.is_finite() && total <= 86_400_000.0).then_some(total as u64)
}

/// A Media2 request, if it is one Pinhole answers.
fn media2_operation(op: roxmltree::Node<'_, '_>) -> Result<Option<Media2Op>, OnvifError> {
    use media2::ConfigurationKind as K;
    let list = |kind| -> Result<Option<Media2Op>, OnvifError> {
        Ok(Some(Media2Op::GetConfigurations {
            kind,
            filter: configuration_filter(op)?,
        }))
    };
    match op.tag_name().name() {
        "GetProfiles" => {
            let mut kinds = Vec::new();
            for t in op
                .children()
                .filter(|n| n.is_element() && n.tag_name().name() == "Type")
            {
                let t = text(t);
                kinds.extend(media2::kinds_of(t).ok_or_else(|| invalid("Type", t))?);
            }
            kinds.sort();
            kinds.dedup();
            Ok(Some(Media2Op::GetProfiles {
                token: optional_field(op, &["Token"], "Token")?,
                kinds,
            }))
        }
        "GetVideoSourceConfigurations" => list(K::VideoSource),
        "GetAudioSourceConfigurations" => list(K::AudioSource),
        "GetVideoEncoderConfigurations" => list(K::VideoEncoder),
        "GetAudioEncoderConfigurations" => list(K::AudioEncoder),
        "GetMetadataConfigurations" => list(K::Metadata),
        "GetStreamUri" => Ok(Some(Media2Op::GetStreamUri {
            profile: field(op, &["ProfileToken"], "ProfileToken")?,
            protocol: media2::StreamProtocol::parse(
                text_at(op, &["Protocol"]).ok_or(OnvifError::Missing("Protocol"))?,
            ),
        })),
        "GetSnapshotUri" => Ok(Some(Media2Op::GetSnapshotUri {
            profile: field(op, &["ProfileToken"], "ProfileToken")?,
        })),
        "GetVideoEncoderConfigurationOptions" => {
            Ok(Some(Media2Op::GetVideoEncoderConfigurationOptions {
                filter: configuration_filter(op)?,
            }))
        }
        "GetVideoSourceConfigurationOptions" => {
            Ok(Some(Media2Op::GetVideoSourceConfigurationOptions {
                filter: configuration_filter(op)?,
            }))
        }
        "GetVideoEncoderInstances" => Ok(Some(Media2Op::GetVideoEncoderInstances {
            configuration: field(op, &["ConfigurationToken"], "ConfigurationToken")?,
        })),
        "SetVideoEncoderConfiguration" => Ok(Some(Media2Op::SetVideoEncoderConfiguration(
            encoder_change(op)?,
        ))),
        "CreateProfile" => Ok(Some(Media2Op::EditProfile {
            name: "CreateProfile",
            edit: ProfileEdit::Create {
                name: field(op, &["Name"], "Name")?,
                token: None,
                parts: media2_parts(op)?,
            },
        })),
        "DeleteProfile" => Ok(Some(Media2Op::EditProfile {
            name: "DeleteProfile",
            edit: ProfileEdit::Delete {
                profile: field(op, &["Token"], "Token")?,
            },
        })),
        "AddConfiguration" => Ok(Some(Media2Op::EditProfile {
            name: "AddConfiguration",
            edit: ProfileEdit::Add {
                profile: field(op, &["ProfileToken"], "ProfileToken")?,
                name: optional_field(op, &["Name"], "Name")?,
                parts: media2_parts(op)?,
            },
        })),
        "RemoveConfiguration" => Ok(Some(Media2Op::EditProfile {
            name: "RemoveConfiguration",
            edit: ProfileEdit::Remove {
                profile: field(op, &["ProfileToken"], "ProfileToken")?,
                parts: media2_parts(op)?,
            },
        })),
        other => match osd::parse(op, other)? {
            Some(o) => Ok(Some(Media2Op::Osd(o))),
            None => Ok(metadata::parse(op, other)?.map(Media2Op::Metadata)),
        },
    }
}

/// The `ConfigurationToken` and `ProfileToken` a list or options request may narrow by.
fn configuration_filter(
    op: roxmltree::Node<'_, '_>,
) -> Result<media2::ConfigurationFilter, OnvifError> {
    Ok(media2::ConfigurationFilter {
        configuration: optional_field(op, &["ConfigurationToken"], "ConfigurationToken")?,
        profile: optional_field(op, &["ProfileToken"], "ProfileToken")?,
    })
}

/// The `Configuration` of a `SetVideoEncoderConfiguration`, Media's (ver10: `RateControl` with
/// an integer `FrameRateLimit`, `H264/GovLength`) or Media2's (a decimal `FrameRateLimit`, a
/// `GovLength` attribute).
fn encoder_change(op: roxmltree::Node<'_, '_>) -> Result<EncoderChange, OnvifError> {
    let c = child(op, "Configuration").ok_or(OnvifError::Missing("Configuration"))?;
    let configuration = configuration_token(c, MAX_FIELD)?;
    let count = |t: &str| t.trim().parse::<u32>().ok();
    let size = |name: &'static str| match child(c, "Resolution") {
        None => Ok(None),
        Some(r) => optional_parsed(r, name, count),
    };
    let rate = child(c, "RateControl");
    let in_rate = |name: &'static str, parse: fn(&str) -> Option<u32>| match rate {
        None => Ok(None),
        Some(r) => optional_parsed(r, name, parse),
    };
    // Media2 sends the rate as a float; a whole number of frames per second is what encoders
    // run at.
    let fps = |t: &str| {
        let f = t.trim().parse::<f64>().ok()?;
        (f.is_finite() && (0.0..=1000.0).contains(&f)).then(|| f.round() as u32)
    };
    let gov_length = match c.attribute("GovLength") {
        Some(g) => Some(count(g).ok_or_else(|| invalid("GovLength", g))?),
        None => match child(c, "H264").or_else(|| child(c, "H265")) {
            Some(h) => optional_parsed(h, "GovLength", count)?,
            None => None,
        },
    };
    Ok(EncoderChange {
        configuration,
        encoding: optional_field(c, &["Encoding"], "Encoding")?,
        width: size("Width")?,
        height: size("Height")?,
        fps: in_rate("FrameRateLimit", fps)?,
        bitrate_kbps: in_rate("BitrateLimit", count)?,
        gov_length,
    })
}

/// The `token` attribute of a `Configuration` being set: at most `max` bytes, no control
/// characters.
fn configuration_token(c: roxmltree::Node<'_, '_>, max: usize) -> Result<String, OnvifError> {
    let token = c
        .attribute("token")
        .ok_or(OnvifError::Missing("Configuration token"))?;
    if token.len() > max || token.chars().any(char::is_control) {
        return Err(invalid("Configuration token", token));
    }
    Ok(token.to_string())
}

/// A request's field that must be refused, with the start of what was sent.
fn invalid(field: &'static str, value: &str) -> OnvifError {
    OnvifError::Invalid {
        field,
        value: value.chars().take(40).collect(),
    }
}

/// An optional parameter read by `parse`; sent but unreadable, an error naming it.
fn optional_parsed<T>(
    op: roxmltree::Node<'_, '_>,
    name: &'static str,
    parse: impl FnOnce(&str) -> Option<T>,
) -> Result<Option<T>, OnvifError> {
    match text_at(op, &[name]) {
        None => Ok(None),
        Some(t) => parse(t).map(Some).ok_or_else(|| invalid(name, t)),
    }
}

/// The topic expressions of a subscription's `Filter`. Message content filters are not applied
/// (every message of the chosen topics is sent; clients look at the state they carry).
fn topic_filter(op: roxmltree::Node<'_, '_>) -> Result<events::TopicFilter, OnvifError> {
    let mut f = events::TopicFilter::all();
    let Some(filter) = child(op, "Filter") else {
        return Ok(f);
    };
    for e in filter
        .children()
        .filter(|n| n.is_element() && n.tag_name().name() == "TopicExpression")
    {
        f.add(text(e)).map_err(|why| OnvifError::Invalid {
            field: "TopicExpression",
            value: why,
        })?;
    }
    Ok(f)
}

/// The UsernameToken in a request's header, if any.
fn username_token(env: roxmltree::Node<'_, '_>) -> Result<Option<UsernameTokenIn>, OnvifError> {
    let Some(t) = child(env, "Header")
        .and_then(|h| child(h, "Security"))
        .and_then(|s| child(s, "UsernameToken"))
    else {
        return Ok(None);
    };
    let username = field(t, &["Username"], "Username")?;
    let pw = child(t, "Password").ok_or(OnvifError::Missing("Password"))?;
    let digest = pw
        .attribute("Type")
        .is_some_and(|ty| ty.ends_with("#PasswordDigest"));
    let password = text(pw);
    if password.len() > MAX_FIELD {
        return Err(OnvifError::Invalid {
            field: "Password",
            value: String::new(),
        });
    }
    let nonce = match text_at(t, &["Nonce"]) {
        None => Vec::new(),
        Some(n) if n.len() <= MAX_FIELD => base64::engine::general_purpose::STANDARD
            .decode(n)
            .map_err(|_| invalid("Nonce", n))?,
        Some(_) => {
            return Err(OnvifError::Invalid {
                field: "Nonce",
                value: String::new(),
            });
        }
    };
    Ok(Some(UsernameTokenIn {
        username,
        password: password.to_string(),
        digest,
        nonce,
        created: optional_field(t, &["Created"], "Created")?,
    }))
}

/// Reads a request posted to `service`: its operation with parameters, its UsernameToken, and
/// its SOAP version. Malformed requests get an error a `Sender` fault can carry.
pub fn parse_request(service: Service, body: &str) -> Result<Request, OnvifError> {
    let doc = xml::parse(body)?;
    let env = doc.root_element();
    if env.tag_name().name() != "Envelope" {
        return Err(OnvifError::Missing("SOAP Envelope"));
    }
    let soap11 = env.tag_name().namespace() == Some("http://schemas.xmlsoap.org/soap/envelope/");
    let token = username_token(env)?;
    let b = child(env, "Body").ok_or(OnvifError::Missing("SOAP Body"))?;
    let op = b
        .children()
        .find(|n| n.is_element())
        .ok_or(OnvifError::Missing("operation in the SOAP Body"))?;
    let name = op.tag_name().name();
    let profile = || field(op, &["ProfileToken"], "ProfileToken");
    use Operation as O;
    let operation = match (service, name) {
        (_, "GetServiceCapabilities") => O::GetServiceCapabilities(service),
        (Service::Device, "GetSystemDateAndTime") => O::GetSystemDateAndTime,
        (Service::Device, "GetCapabilities") => O::GetCapabilities,
        (Service::Device, "GetServices") => O::GetServices {
            include_capability: text_at(op, &["IncludeCapability"])
                .is_some_and(|t| t == "true" || t == "1"),
        },
        (Service::Device, "GetDeviceInformation") => O::GetDeviceInformation,
        (Service::Device, "GetScopes") => O::GetScopes,
        (Service::Device, "GetHostname") => O::GetHostname,
        (Service::Device, "GetNetworkInterfaces") => O::GetNetworkInterfaces,
        (Service::Device, "GetWsdlUrl") => O::GetWsdlUrl,
        (Service::Device, "GetDiscoveryMode") => O::GetDiscoveryMode,
        (Service::Device, "GetNetworkProtocols") => O::GetNetworkProtocols,
        (Service::Device, "GetNetworkDefaultGateway") => O::GetNetworkDefaultGateway,
        (Service::Device, "GetDNS") => O::GetDNS,
        (Service::Media, "GetProfiles") => O::GetProfiles,
        (Service::Media, "GetProfile") => O::GetProfile {
            profile: profile()?,
        },
        (Service::Media, "GetVideoSources") => O::GetVideoSources,
        (Service::Media, "GetVideoSourceConfigurations") => O::GetVideoSourceConfigurations,
        (Service::Media, "GetVideoEncoderConfigurations") => O::GetVideoEncoderConfigurations,
        (Service::Media, "GetVideoSourceConfiguration") => O::GetVideoSourceConfiguration {
            configuration: field(op, &["ConfigurationToken"], "ConfigurationToken")?,
        },
        (Service::Media, "GetVideoEncoderConfiguration") => O::GetVideoEncoderConfiguration {
            configuration: field(op, &["ConfigurationToken"], "ConfigurationToken")?,
        },
        (Service::Media, "GetAudioSourceConfigurations") => O::GetAudioSourceConfigurations,
        (Service::Media, "GetAudioEncoderConfigurations") => O::GetAudioEncoderConfigurations,
        (Service::Media, "GetAudioSources") => O::GetAudioSources,
        (Service::Media, "GetVideoSourceConfigurationOptions") => {
            O::GetVideoSourceConfigurationOptions {
                filter: configuration_filter(op)?,
            }
        }
        (Service::Media, "GetGuaranteedNumberOfVideoEncoderInstances") => {
            O::GetGuaranteedNumberOfVideoEncoderInstances {
                configuration: field(op, &["ConfigurationToken"], "ConfigurationToken")?,
            }
        }
        (Service::Media, "GetVideoEncoderConfigurationOptions") => {
            O::GetVideoEncoderConfigurationOptions {
                filter: configuration_filter(op)?,
            }
        }
        (Service::Media, "GetStreamUri") => O::GetStreamUri {
            profile: profile()?,
        },
        (Service::Media, "GetSnapshotUri") => O::GetSnapshotUri {
            profile: profile()?,
        },
        (Service::Media, "SetVideoEncoderConfiguration") => {
            O::SetVideoEncoderConfiguration(encoder_change(op)?)
        }
        (Service::Media, "CreateProfile") => O::EditProfile {
            name: "CreateProfile",
            edit: ProfileEdit::Create {
                name: field(op, &["Name"], "Name")?,
                token: optional_field(op, &["Token"], "Token")?,
                parts: Vec::new(),
            },
        },
        (Service::Media, "DeleteProfile") => O::EditProfile {
            name: "DeleteProfile",
            edit: ProfileEdit::Delete {
                profile: profile()?,
            },
        },
        (Service::Ptz, "GetCompatibleConfigurations") => O::GetCompatibleConfigurations {
            name: "GetCompatibleConfigurations",
            profile: profile()?,
            kind: media2::ConfigurationKind::Ptz,
        },
        (Service::Media2, other) => match media2_operation(op)? {
            Some(m) => O::Media2(m),
            None => O::NotSupported(other.chars().take(64).collect()),
        },
        (Service::Ptz, "GetNodes") => O::GetNodes,
        (Service::Ptz, "GetNode") => O::GetNode {
            node: field(op, &["NodeToken"], "NodeToken")?,
        },
        (Service::Ptz, "GetConfigurations") => O::GetConfigurations,
        (Service::Ptz, "GetConfiguration") => O::GetConfiguration {
            configuration: field(op, &["PTZConfigurationToken"], "PTZConfigurationToken")?,
        },
        (Service::Ptz, "GetConfigurationOptions") => O::GetConfigurationOptions {
            configuration: field(op, &["ConfigurationToken"], "ConfigurationToken")?,
        },
        (Service::Ptz, "ContinuousMove") => O::ContinuousMove {
            profile: profile()?,
            velocity: vector(child(op, "Velocity"))?,
            timeout_ms: optional_parsed(op, "Timeout", parse_duration_ms)?,
        },
        (Service::Ptz, "Stop") => O::Stop {
            profile: profile()?,
        },
        (Service::Ptz, "AbsoluteMove") => O::AbsoluteMove {
            profile: profile()?,
            position: vector(child(op, "Position"))?,
        },
        (Service::Ptz, "RelativeMove") => O::RelativeMove {
            profile: profile()?,
            translation: vector(child(op, "Translation"))?,
        },
        (Service::Ptz, "GetStatus") => O::GetStatus {
            profile: profile()?,
        },
        (Service::Ptz, "GetPresets") => O::GetPresets {
            profile: profile()?,
        },
        (Service::Ptz, "GotoPreset") => O::GotoPreset {
            profile: profile()?,
            preset: field(op, &["PresetToken"], "PresetToken")?,
        },
        (Service::Ptz, "SetPreset") => O::SetPreset {
            profile: profile()?,
            name: optional_field(op, &["PresetName"], "PresetName")?,
            preset: optional_field(op, &["PresetToken"], "PresetToken")?,
        },
        (Service::Ptz, "RemovePreset") => O::RemovePreset {
            profile: profile()?,
            preset: field(op, &["PresetToken"], "PresetToken")?,
        },
        (Service::Ptz, "GotoHomePosition") => O::GotoHomePosition {
            profile: profile()?,
        },
        (Service::Imaging, other) => match imaging::parse(op, other)? {
            Some(i) => O::Imaging(i),
            None => O::NotSupported(other.chars().take(64).collect()),
        },
        (Service::Events, "GetEventProperties") => O::GetEventProperties,
        (Service::Events, "CreatePullPointSubscription") => O::CreatePullPointSubscription {
            filter: topic_filter(op)?,
            termination: optional_parsed(op, "InitialTerminationTime", events::Termination::parse)?,
        },
        (Service::Events, "Subscribe") => O::Subscribe {
            consumer: field(op, &["ConsumerReference", "Address"], "ConsumerReference")?,
            filter: topic_filter(op)?,
            termination: optional_parsed(op, "InitialTerminationTime", events::Termination::parse)?,
        },
        (Service::Subscription, "PullMessages") => O::PullMessages {
            timeout_ms: optional_parsed(op, "Timeout", parse_duration_ms)?
                .ok_or(OnvifError::Missing("Timeout"))?,
            limit: optional_parsed(op, "MessageLimit", |t| t.trim().parse().ok())?
                .ok_or(OnvifError::Missing("MessageLimit"))?,
        },
        (Service::Subscription, "Renew") => O::Renew {
            termination: optional_parsed(op, "TerminationTime", events::Termination::parse)?
                .ok_or(OnvifError::Missing("TerminationTime"))?,
        },
        (Service::Subscription, "Unsubscribe") => O::Unsubscribe,
        (Service::Subscription, "SetSynchronizationPoint") => O::SetSynchronizationPoint,
        (Service::Media, other) => match osd::parse(op, other)? {
            Some(o) => O::Osd(o),
            None => match metadata::parse(op, other)? {
                Some(m) => O::Metadata(m),
                None => match media_part_operation(op, other)? {
                    Some(o) => o,
                    None => O::NotSupported(other.chars().take(64).collect()),
                },
            },
        },
        (_, other) => O::NotSupported(other.chars().take(64).collect()),
    };
    // A header the client marked mustUnderstand that is not WS-Security or WS-Addressing would
    // change the meaning of the request; SOAP says to refuse it rather than ignore it.
    if let Some(h) = child(env, "Header") {
        for e in h.children().filter(|n| n.is_element()) {
            let must = e
                .attributes()
                .any(|a| a.name() == "mustUnderstand" && matches!(a.value().trim(), "1" | "true"));
            let known = matches!(
                e.tag_name().name(),
                "Security" | "Action" | "To" | "MessageID" | "ReplyTo"
            );
            if must && !known {
                return Err(invalid("mustUnderstand header", e.tag_name().name()));
            }
        }
    }
    Ok(Request {
        operation,
        token,
        soap11,
    })
}

#[cfg(test)]
mod tests;
