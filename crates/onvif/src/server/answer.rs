//! The answers of Pinhole's ONVIF face: each response body in the element order of the ONVIF
//! schemas (clients such as zeep check the order), faults with ONVIF's subcodes, and the SOAP
//! envelope around them. Every value from outside (names, tokens, URLs) is escaped.

use super::Service;
use super::media2::ConfigurationKind;
use crate::xml::escape;

const NS_SOAP12: &str = "http://www.w3.org/2003/05/soap-envelope";
const NS_SOAP11: &str = "http://schemas.xmlsoap.org/soap/envelope/";
const NS_DEVICE: &str = "http://www.onvif.org/ver10/device/wsdl";
const NS_MEDIA: &str = "http://www.onvif.org/ver10/media/wsdl";
const NS_MEDIA2: &str = "http://www.onvif.org/ver20/media/wsdl";
const NS_PTZ: &str = "http://www.onvif.org/ver20/ptz/wsdl";
const NS_IMAGING: &str = "http://www.onvif.org/ver20/imaging/wsdl";
pub(super) const NS_SCHEMA: &str = "http://www.onvif.org/ver10/schema";
const NS_ERROR: &str = "http://www.onvif.org/ver10/error";
const NS_EVENTS: &str = "http://www.onvif.org/ver10/events/wsdl";
pub(super) const NS_WSNT: &str = "http://docs.oasis-open.org/wsn/b-2";
const NS_WSA: &str = "http://www.w3.org/2005/08/addressing";
pub(super) const NS_TOPICS: &str = "http://www.onvif.org/ver10/topics";
const NS_WSTOP: &str = "http://docs.oasis-open.org/wsn/t-1";
const NS_WSRF_RW: &str = "http://docs.oasis-open.org/wsrf/rw-2";
const NS_XS: &str = "http://www.w3.org/2001/XMLSchema";

const SPACE_PT_POSITION: &str =
    "http://www.onvif.org/ver10/tptz/PanTiltSpaces/PositionGenericSpace";
const SPACE_ZOOM_POSITION: &str = "http://www.onvif.org/ver10/tptz/ZoomSpaces/PositionGenericSpace";
const SPACE_PT_TRANSLATION: &str =
    "http://www.onvif.org/ver10/tptz/PanTiltSpaces/TranslationGenericSpace";
const SPACE_ZOOM_TRANSLATION: &str =
    "http://www.onvif.org/ver10/tptz/ZoomSpaces/TranslationGenericSpace";
const SPACE_PT_VELOCITY: &str =
    "http://www.onvif.org/ver10/tptz/PanTiltSpaces/VelocityGenericSpace";
const SPACE_ZOOM_VELOCITY: &str = "http://www.onvif.org/ver10/tptz/ZoomSpaces/VelocityGenericSpace";
const SPACE_PT_SPEED: &str = "http://www.onvif.org/ver10/tptz/PanTiltSpaces/GenericSpeedSpace";
const SPACE_ZOOM_SPEED: &str = "http://www.onvif.org/ver10/tptz/ZoomSpaces/ZoomGenericSpeedSpace";

/// The SOAP envelope of an answer (or fault), in the request's SOAP version.
pub fn envelope(body: &str, soap11: bool) -> String {
    let ns = if soap11 { NS_SOAP11 } else { NS_SOAP12 };
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
         <s:Envelope xmlns:s=\"{ns}\" xmlns:tds=\"{NS_DEVICE}\" xmlns:trt=\"{NS_MEDIA}\" \
         xmlns:tr2=\"{NS_MEDIA2}\" xmlns:tptz=\"{NS_PTZ}\" xmlns:timg=\"{NS_IMAGING}\" xmlns:tt=\"{NS_SCHEMA}\" xmlns:ter=\"{NS_ERROR}\" \
         xmlns:tev=\"{NS_EVENTS}\" xmlns:wsnt=\"{NS_WSNT}\" xmlns:wsa=\"{NS_WSA}\" \
         xmlns:tns1=\"{NS_TOPICS}\" xmlns:wstop=\"{NS_WSTOP}\" xmlns:wsrf-rw=\"{NS_WSRF_RW}\" \
         xmlns:xs=\"{NS_XS}\">\
         <s:Body>{body}</s:Body></s:Envelope>"
    )
}

/// Why a request failed, as ONVIF names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// No or wrong credentials, or a role too low for the operation.
    NotAuthorized(String),
    /// The request is not well-formed SOAP, or a parameter is missing or wrong.
    InvalidArgs(String),
    /// An operation Pinhole does not offer.
    ActionNotSupported(String),
    /// The profile token names no camera.
    NoProfile(String),
    /// The profile's camera has no PTZ.
    NoPtzProfile(String),
    /// The preset token names no preset of this camera.
    NoToken(String),
    /// The configuration token names no configuration of that kind.
    NoConfig(String),
    /// The configuration cannot be set to what was asked (a relayed camera's encoder, a value
    /// outside its options).
    ConfigModify(String),
    /// The subscription addressed does not exist (any more): it ended, or was never made.
    UnknownSubscription(String),
    /// The camera refused or could not be reached: the device's fault, not the client's.
    Receiver(String),
    /// `CreateProfile` with a token already in use.
    ProfileExists(String),
    /// No room for another profile.
    MaxProfiles(String),
    /// Pinhole's own profiles are not deleted or changed.
    FixedProfile(String),
    /// A configuration that does not go with the profile's others (another camera's).
    ConfigurationConflict(String),
    /// The video source token names no source.
    NoSource(String),
    /// The source's picture is not Pinhole's to set (a relayed IP camera's).
    NoImagingForSource(String),
    /// An imaging setting Pinhole has not, or a value outside its options.
    SettingsInvalid(String),
}

impl Fault {
    /// The HTTP status of the answer carrying this fault: 400 for the sender's, 500 for ours
    /// (SOAP 1.2 over HTTP).
    pub fn http_status(&self) -> u16 {
        match self {
            Fault::Receiver(_) | Fault::NoImagingForSource(_) => 500,
            _ => 400,
        }
    }

    /// The reason given to the client.
    pub fn reason(&self) -> &str {
        self.parts().3
    }

    fn parts(&self) -> (&'static str, &'static str, Option<&'static str>, &str) {
        match self {
            Fault::NotAuthorized(r) => ("Sender", "ter:NotAuthorized", None, r),
            Fault::InvalidArgs(r) => ("Sender", "ter:InvalidArgVal", None, r),
            Fault::ActionNotSupported(r) => ("Receiver", "ter:ActionNotSupported", None, r),
            Fault::NoProfile(r) => ("Sender", "ter:InvalidArgVal", Some("ter:NoProfile"), r),
            Fault::NoPtzProfile(r) => ("Sender", "ter:InvalidArgVal", Some("ter:NoPTZProfile"), r),
            Fault::NoToken(r) => ("Sender", "ter:InvalidArgVal", Some("ter:NoToken"), r),
            Fault::NoConfig(r) => ("Sender", "ter:InvalidArgVal", Some("ter:NoConfig"), r),
            Fault::ConfigModify(r) => ("Sender", "ter:InvalidArgVal", Some("ter:ConfigModify"), r),
            Fault::UnknownSubscription(r) => ("Sender", "wsrf-rw:ResourceUnknownFault", None, r),
            Fault::Receiver(r) => ("Receiver", "ter:Action", None, r),
            Fault::ProfileExists(r) => {
                ("Sender", "ter:InvalidArgVal", Some("ter:ProfileExists"), r)
            }
            Fault::MaxProfiles(r) => ("Receiver", "ter:Action", Some("ter:MaxNVTProfiles"), r),
            Fault::FixedProfile(r) => (
                "Sender",
                "ter:Action",
                Some("ter:DeletionOfFixedProfile"),
                r,
            ),
            Fault::ConfigurationConflict(r) => {
                ("Sender", "ter:Action", Some("ter:ConfigurationConflict"), r)
            }
            Fault::NoSource(r) => ("Sender", "ter:InvalidArgVal", Some("ter:NoSource"), r),
            Fault::NoImagingForSource(r) => (
                "Receiver",
                "ter:ActionNotSupported",
                Some("ter:NoImagingForSource"),
                r,
            ),
            Fault::SettingsInvalid(r) => (
                "Sender",
                "ter:InvalidArgVal",
                Some("ter:SettingsInvalid"),
                r,
            ),
        }
    }

    /// The fault's body element, in the request's SOAP version.
    pub fn body(&self, soap11: bool) -> String {
        let (code, sub, subsub, reason) = self.parts();
        if soap11 {
            let code = if code == "Sender" { "Client" } else { "Server" };
            return format!(
                "<s:Fault><faultcode>s:{code}</faultcode><faultstring>{}</faultstring></s:Fault>",
                escape(reason)
            );
        }
        let inner = subsub
            .map(|s| format!("<s:Subcode><s:Value>{s}</s:Value></s:Subcode>"))
            .unwrap_or_default();
        format!(
            "<s:Fault><s:Code><s:Value>s:{code}</s:Value><s:Subcode><s:Value>{sub}</s:Value>{inner}</s:Subcode></s:Code>\
             <s:Reason><s:Text xml:lang=\"en\">{}</s:Text></s:Reason></s:Fault>",
            escape(reason)
        )
    }
}

/// Where the services are: `http://host:port` as the client reached Pinhole.
#[derive(Debug, Clone)]
pub struct Endpoints {
    pub base: String,
}

impl Endpoints {
    pub fn url(&self, service: Service) -> String {
        format!("{}{}", self.base, service.path())
    }
}

/// What `GetDeviceInformation` says.
#[derive(Debug, Clone)]
pub struct DeviceInfo {
    pub manufacturer: String,
    pub model: String,
    pub firmware: String,
    pub serial: String,
    pub hardware_id: String,
}

/// A video codec as ONVIF media (ver10) names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    H264,
    /// Not in ver10's enumeration; sent as `H265`, as cameras do before Media2.
    H265,
}

impl Encoding {
    /// The name both media services give it.
    pub fn name(self) -> &'static str {
        match self {
            Encoding::H264 => "H264",
            Encoding::H265 => "H265",
        }
    }

    /// The codec profile Pinhole's streams are described with.
    pub fn profile(self) -> &'static str {
        match self {
            Encoding::H264 => "High",
            Encoding::H265 => "Main",
        }
    }
}

/// A camera's PTZ as its profile shows it.
#[derive(Debug, Clone)]
pub struct PtzInfo {
    pub node: String,
    pub configuration: String,
    pub absolute: bool,
    pub relative: bool,
    pub continuous: bool,
    pub home: bool,
    pub max_presets: u32,
}

/// One media profile: one of Pinhole's streams (a camera's main or sub stream), or a profile a
/// client made from the configurations of one.
#[derive(Debug, Clone)]
pub struct ProfileInfo {
    pub token: String,
    pub name: String,
    /// The token of Pinhole's own profile whose stream and configurations these are (`token`
    /// itself for Pinhole's own).
    pub stream: String,
    /// Pinhole's own (one per stream, never deleted) rather than made by a client.
    pub fixed: bool,
    /// The kinds of configuration it holds: all for Pinhole's own (audio and PTZ where the
    /// stream has them), those it was given for a client's.
    pub parts: std::collections::BTreeSet<ConfigurationKind>,
    /// The camera's video source token (main and sub share it).
    pub source: String,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub bitrate_kbps: u32,
    pub encoding: Encoding,
    /// Time from one keyframe to the next.
    pub keyframe_ms: u32,
    /// What its encoder can be set to, when Pinhole runs it; `None` for a relayed stream,
    /// whose encoder is the IP camera's own.
    pub choices: Option<EncoderChoices>,
    /// The stream's audio, when it carries some (served as AAC beside the video).
    pub audio: Option<AudioInfo>,
    pub ptz: Option<PtzInfo>,
}

/// What an encoder's options answer offers; ranges are (min, max).
pub struct Offered {
    pub resolutions: Vec<(u32, u32)>,
    pub fps: (u32, u32),
    pub bitrate_kbps: (u32, u32),
    /// Frames from one keyframe to the next.
    pub gov: (u32, u32),
}

/// The settings an encoder Pinhole runs accepts (Pinhole's own limits for a camera).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncoderChoices {
    pub resolutions: Vec<(u32, u32)>,
    pub fps: (u32, u32),
    pub bitrate_kbps: (u32, u32),
    pub keyframe_ms: (u32, u32),
}

impl EncoderChoices {
    /// The keyframe interval's bounds in frames at `fps`.
    pub fn gov_range(&self, fps: u32) -> (u32, u32) {
        let frames = |ms: u32| u64::from(ms) * u64::from(fps.max(1));
        let lo = frames(self.keyframe_ms.0).div_ceil(1000).max(1) as u32;
        let hi = (frames(self.keyframe_ms.1) / 1000).max(u64::from(lo)) as u32;
        (lo, hi)
    }
}

/// The tokens of a profile's configurations, one place for both media services: what is listed
/// is what can be asked for.
impl ProfileInfo {
    /// A profile with a name and nothing in it (no stream): what a made profile shows when none
    /// of its configurations is left.
    pub fn empty(token: &str, name: &str) -> ProfileInfo {
        ProfileInfo {
            token: token.into(),
            name: name.into(),
            stream: String::new(),
            fixed: false,
            parts: Default::default(),
            source: String::new(),
            width: 0,
            height: 0,
            fps: 0,
            bitrate_kbps: 0,
            encoding: Encoding::H264,
            keyframe_ms: 0,
            choices: None,
            audio: None,
            ptz: None,
        }
    }

    /// Whether it has a configuration of `kind` (audio and PTZ only where the stream has them).
    pub fn has(&self, kind: ConfigurationKind) -> bool {
        self.parts.contains(&kind)
            && match kind {
                ConfigurationKind::AudioSource | ConfigurationKind::AudioEncoder => {
                    self.audio.is_some()
                }
                ConfigurationKind::Ptz => self.ptz.is_some(),
                ConfigurationKind::VideoSource
                | ConfigurationKind::VideoEncoder
                | ConfigurationKind::Metadata => true,
            }
    }

    /// Its PTZ, if it holds the PTZ configuration.
    pub fn ptz(&self) -> Option<&PtzInfo> {
        self.ptz
            .as_ref()
            .filter(|_| self.has(ConfigurationKind::Ptz))
    }

    pub fn encoder_token(&self) -> String {
        format!("enc_{}", self.stream)
    }

    /// One audio source per camera, named after its video source.
    pub fn audio_source_token(&self) -> String {
        format!("a{}", self.source)
    }

    pub fn audio_encoder_token(&self) -> String {
        format!("aenc_{}", self.stream)
    }

    /// One metadata configuration per camera (its events), named after its video source.
    pub fn metadata_token(&self) -> String {
        format!("m{}", self.source)
    }

    /// Frames from one keyframe to the next.
    pub fn gov_length(&self) -> u32 {
        ((u64::from(self.keyframe_ms) * u64::from(self.fps.max(1)) + 500) / 1000).max(1) as u32
    }

    /// What the options answers offer: the encoder's choices, or what it runs at as the only
    /// one.
    pub fn offered(&self) -> Offered {
        let gov = self.gov_length();
        match &self.choices {
            Some(c) => Offered {
                resolutions: c.resolutions.clone(),
                fps: c.fps,
                bitrate_kbps: c.bitrate_kbps,
                gov: c.gov_range(self.fps),
            },
            None => Offered {
                resolutions: vec![(self.width, self.height)],
                fps: (self.fps, self.fps),
                bitrate_kbps: (self.bitrate_kbps, self.bitrate_kbps),
                gov: (gov, gov),
            },
        }
    }
}

/// A stream's AAC audio as its profile shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioInfo {
    /// Sample rate in Hz.
    pub sample_rate: u32,
    pub bitrate_kbps: u32,
    pub channels: u32,
}

impl AudioInfo {
    /// The sample rate as both media services give it: in kHz.
    pub fn sample_rate_khz(&self) -> u32 {
        self.sample_rate.div_ceil(1000)
    }
}

/// A position in the generic spaces: pan and tilt -1..1, zoom 0..1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Position {
    pub pan: f64,
    pub tilt: f64,
    pub zoom: f64,
}

/// A named preset.
#[derive(Debug, Clone)]
pub struct PresetInfo {
    pub token: String,
    pub name: String,
    pub position: Option<Position>,
}

/// A network interface for `GetNetworkInterfaces`.
#[derive(Debug, Clone)]
pub struct InterfaceInfo {
    pub name: String,
    pub mac: String,
    pub ipv4: Option<(std::net::Ipv4Addr, u8)>,
}

fn b(v: bool) -> &'static str {
    if v { "true" } else { "false" }
}

fn f(v: f64) -> String {
    let v = if v.is_finite() { v } else { 0.0 };
    format!("{v:.4}")
}

/// `YYYY-MM-DDTHH:MM:SSZ` of Unix seconds.
pub fn utc(secs: i64) -> String {
    jiff::Timestamp::from_second(secs)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".into())
}

// Device service.

pub fn system_date_and_time(now_secs: i64) -> String {
    let t = jiff::Timestamp::from_second(now_secs)
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .to_zoned(jiff::tz::TimeZone::UTC);
    let dt = format!(
        "<tt:Time><tt:Hour>{}</tt:Hour><tt:Minute>{}</tt:Minute><tt:Second>{}</tt:Second></tt:Time>\
         <tt:Date><tt:Year>{}</tt:Year><tt:Month>{}</tt:Month><tt:Day>{}</tt:Day></tt:Date>",
        t.hour(),
        t.minute(),
        t.second(),
        t.year(),
        t.month(),
        t.day()
    );
    format!(
        "<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime>\
         <tt:DateTimeType>NTP</tt:DateTimeType><tt:DaylightSavings>false</tt:DaylightSavings>\
         <tt:TimeZone><tt:TZ>UTC0</tt:TZ></tt:TimeZone>\
         <tt:UTCDateTime>{dt}</tt:UTCDateTime><tt:LocalDateTime>{dt}</tt:LocalDateTime>\
         </tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>"
    )
}

pub fn device_information(i: &DeviceInfo) -> String {
    format!(
        "<tds:GetDeviceInformationResponse><tds:Manufacturer>{}</tds:Manufacturer>\
         <tds:Model>{}</tds:Model><tds:FirmwareVersion>{}</tds:FirmwareVersion>\
         <tds:SerialNumber>{}</tds:SerialNumber><tds:HardwareId>{}</tds:HardwareId>\
         </tds:GetDeviceInformationResponse>",
        escape(&i.manufacturer),
        escape(&i.model),
        escape(&i.firmware),
        escape(&i.serial),
        escape(&i.hardware_id)
    )
}

/// `GetCapabilities` (the ONVIF 1.0 way to find the services), with PTZ when a camera has it.
pub fn capabilities(e: &Endpoints, ptz: bool) -> String {
    let ptz = if ptz {
        format!(
            "<tt:PTZ><tt:XAddr>{}</tt:XAddr></tt:PTZ>",
            escape(&e.url(Service::Ptz))
        )
    } else {
        String::new()
    };
    format!(
        "<tds:GetCapabilitiesResponse><tds:Capabilities>\
         <tt:Device><tt:XAddr>{}</tt:XAddr>\
         <tt:Network><tt:IPFilter>false</tt:IPFilter><tt:ZeroConfiguration>false</tt:ZeroConfiguration>\
         <tt:IPVersion6>false</tt:IPVersion6><tt:DynDNS>false</tt:DynDNS></tt:Network>\
         <tt:System><tt:DiscoveryResolve>false</tt:DiscoveryResolve><tt:DiscoveryBye>true</tt:DiscoveryBye>\
         <tt:RemoteDiscovery>false</tt:RemoteDiscovery><tt:SystemBackup>false</tt:SystemBackup>\
         <tt:SystemLogging>false</tt:SystemLogging><tt:FirmwareUpgrade>false</tt:FirmwareUpgrade>\
         <tt:SupportedVersions><tt:Major>2</tt:Major><tt:Minor>60</tt:Minor></tt:SupportedVersions></tt:System>\
         <tt:Security><tt:TLS1.1>false</tt:TLS1.1><tt:TLS1.2>false</tt:TLS1.2>\
         <tt:OnboardKeyGeneration>false</tt:OnboardKeyGeneration><tt:AccessPolicyConfig>false</tt:AccessPolicyConfig>\
         <tt:X.509Token>false</tt:X.509Token><tt:SAMLToken>false</tt:SAMLToken>\
         <tt:KerberosToken>false</tt:KerberosToken><tt:RELToken>false</tt:RELToken></tt:Security>\
         </tt:Device>\
         <tt:Events><tt:XAddr>{}</tt:XAddr><tt:WSSubscriptionPolicySupport>false</tt:WSSubscriptionPolicySupport>\
         <tt:WSPullPointSupport>true</tt:WSPullPointSupport>\
         <tt:WSPausableSubscriptionManagerInterfaceSupport>false</tt:WSPausableSubscriptionManagerInterfaceSupport></tt:Events>\
         <tt:Imaging><tt:XAddr>{}</tt:XAddr></tt:Imaging>\
         <tt:Media><tt:XAddr>{}</tt:XAddr><tt:StreamingCapabilities>\
         <tt:RTPMulticast>false</tt:RTPMulticast><tt:RTP_TCP>true</tt:RTP_TCP><tt:RTP_RTSP_TCP>true</tt:RTP_RTSP_TCP>\
         </tt:StreamingCapabilities></tt:Media>{ptz}\
         </tds:Capabilities></tds:GetCapabilitiesResponse>",
        escape(&e.url(Service::Device)),
        escape(&e.url(Service::Events)),
        escape(&e.url(Service::Imaging)),
        escape(&e.url(Service::Media)),
    )
}

fn device_service_capabilities() -> &'static str {
    "<tds:Network IPFilter=\"false\" ZeroConfiguration=\"false\" IPVersion6=\"false\" DynDNS=\"false\" \
     Dot11Configuration=\"false\" HostnameFromDHCP=\"false\" NTP=\"0\"/>\
     <tds:Security TLS1.0=\"false\" TLS1.1=\"false\" TLS1.2=\"false\" OnboardKeyGeneration=\"false\" \
     AccessPolicyConfig=\"false\" DefaultAccessPolicy=\"false\" Dot1X=\"false\" RemoteUserHandling=\"false\" \
     X.509Token=\"false\" SAMLToken=\"false\" KerberosToken=\"false\" UsernameToken=\"true\" \
     HttpDigest=\"true\" RELToken=\"false\"/>\
     <tds:System DiscoveryResolve=\"false\" DiscoveryBye=\"true\" RemoteDiscovery=\"false\" \
     SystemBackup=\"false\" SystemLogging=\"false\" FirmwareUpgrade=\"false\"/>"
}

fn media_service_capabilities(profiles: usize) -> String {
    format!(
        "<trt:ProfileCapabilities MaximumNumberOfProfiles=\"{profiles}\"/>\
         <trt:StreamingCapabilities RTPMulticast=\"false\" RTP_TCP=\"true\" RTP_RTSP_TCP=\"true\" \
         NonAggregateControl=\"false\" NoRTSPStreaming=\"false\"/>"
    )
}

const PTZ_SERVICE_CAPABILITIES: &str =
    "EFlip=\"false\" Reverse=\"false\" GetCompatibleConfigurations=\"false\"";

/// `GetServiceCapabilities` of one service.
pub fn service_capabilities(service: Service, profiles: usize) -> String {
    match service {
        Service::Device => format!(
            "<tds:GetServiceCapabilitiesResponse><tds:Capabilities>{}</tds:Capabilities></tds:GetServiceCapabilitiesResponse>",
            device_service_capabilities()
        ),
        Service::Media => format!(
            "<trt:GetServiceCapabilitiesResponse><trt:Capabilities SnapshotUri=\"true\" Rotation=\"false\" \
             VideoSourceMode=\"false\" OSD=\"true\">{}</trt:Capabilities></trt:GetServiceCapabilitiesResponse>",
            media_service_capabilities(profiles)
        ),
        Service::Ptz => format!(
            "<tptz:GetServiceCapabilitiesResponse><tptz:Capabilities {PTZ_SERVICE_CAPABILITIES}/></tptz:GetServiceCapabilitiesResponse>"
        ),
        Service::Media2 => super::media2::service_capabilities(profiles),
        Service::Imaging => super::imaging::service_capabilities(),
        Service::Events | Service::Subscription => super::events::service_capabilities(),
    }
}

/// `GetServices`: the device, media (ver10 and Media2), event and imaging services, and PTZ
/// when a camera has it.
pub fn services(e: &Endpoints, ptz: bool, include_capability: bool, profiles: usize) -> String {
    let mut out = String::from("<tds:GetServicesResponse>");
    let mut one = |ns: &str, service: Service, caps: String, major: u32, minor: u32| {
        let caps = if include_capability {
            format!("<tds:Capabilities>{caps}</tds:Capabilities>")
        } else {
            String::new()
        };
        out.push_str(&format!(
            "<tds:Service><tds:Namespace>{ns}</tds:Namespace><tds:XAddr>{}</tds:XAddr>{caps}\
             <tds:Version><tt:Major>{major}</tt:Major><tt:Minor>{minor}</tt:Minor></tds:Version></tds:Service>",
            escape(&e.url(service))
        ));
    };
    one(
        NS_DEVICE,
        Service::Device,
        format!(
            "<tds:Capabilities>{}</tds:Capabilities>",
            device_service_capabilities()
        ),
        2,
        60,
    );
    one(
        NS_MEDIA,
        Service::Media,
        format!(
            "<trt:Capabilities SnapshotUri=\"true\" Rotation=\"false\" VideoSourceMode=\"false\" OSD=\"true\">{}</trt:Capabilities>",
            media_service_capabilities(profiles)
        ),
        2,
        60,
    );
    one(
        NS_MEDIA2,
        Service::Media2,
        super::media2::capabilities(profiles),
        2,
        60,
    );
    one(
        NS_EVENTS,
        Service::Events,
        super::events::capabilities(),
        2,
        60,
    );
    one(
        NS_IMAGING,
        Service::Imaging,
        super::imaging::capabilities().to_string(),
        2,
        60,
    );
    if ptz {
        one(
            NS_PTZ,
            Service::Ptz,
            format!("<tptz:Capabilities {PTZ_SERVICE_CAPABILITIES}/>"),
            2,
            60,
        );
    }
    out.push_str("</tds:GetServicesResponse>");
    out
}

/// `GetScopes`: fixed scopes (what Pinhole is), and its name as a configurable one.
pub fn scopes(scopes: &[(String, bool)]) -> String {
    let mut out = String::from("<tds:GetScopesResponse>");
    for (item, fixed) in scopes {
        out.push_str(&format!(
            "<tds:Scopes><tt:ScopeDef>{}</tt:ScopeDef><tt:ScopeItem>{}</tt:ScopeItem></tds:Scopes>",
            if *fixed { "Fixed" } else { "Configurable" },
            escape(item)
        ));
    }
    out.push_str("</tds:GetScopesResponse>");
    out
}

pub fn hostname(name: &str) -> String {
    format!(
        "<tds:GetHostnameResponse><tds:HostnameInformation><tt:FromDHCP>false</tt:FromDHCP>\
         <tt:Name>{}</tt:Name></tds:HostnameInformation></tds:GetHostnameResponse>",
        escape(name)
    )
}

pub fn network_interfaces(list: &[InterfaceInfo]) -> String {
    let mut out = String::from("<tds:GetNetworkInterfacesResponse>");
    for i in list {
        let ipv4 = match i.ipv4 {
            Some((addr, prefix)) => format!(
                "<tt:IPv4><tt:Enabled>true</tt:Enabled><tt:Config><tt:Manual><tt:Address>{addr}</tt:Address>\
                 <tt:PrefixLength>{prefix}</tt:PrefixLength></tt:Manual><tt:DHCP>false</tt:DHCP></tt:Config></tt:IPv4>"
            ),
            None => String::new(),
        };
        out.push_str(&format!(
            "<tds:NetworkInterfaces token=\"{}\"><tt:Enabled>true</tt:Enabled>\
             <tt:Info><tt:Name>{}</tt:Name><tt:HwAddress>{}</tt:HwAddress></tt:Info>{ipv4}</tds:NetworkInterfaces>",
            escape(&i.name),
            escape(&i.name),
            escape(&i.mac)
        ));
    }
    out.push_str("</tds:GetNetworkInterfacesResponse>");
    out
}

/// A `tt:IPAddress` (`DNSManual`, `DNSFromDHCP`...) named `element`.
fn ip_address(element: &str, ip: &std::net::IpAddr) -> String {
    let (kind, field) = match ip {
        std::net::IpAddr::V4(_) => ("IPv4", "IPv4Address"),
        std::net::IpAddr::V6(_) => ("IPv6", "IPv6Address"),
    };
    format!("<tt:{element}><tt:Type>{kind}</tt:Type><tt:{field}>{ip}</tt:{field}></tt:{element}>")
}

/// `GetNetworkDefaultGateway`: the gateways of the machine's default routes.
pub fn default_gateway(gateways: &[std::net::IpAddr]) -> String {
    let (v4, v6): (Vec<_>, Vec<_>) = gateways.iter().partition(|ip| ip.is_ipv4());
    let list = |ips: Vec<&std::net::IpAddr>, field: &str| -> String {
        ips.iter()
            .map(|ip| format!("<tt:{field}>{ip}</tt:{field}>"))
            .collect()
    };
    format!(
        "<tds:GetNetworkDefaultGatewayResponse><tds:NetworkGateway>{}{}</tds:NetworkGateway>\
         </tds:GetNetworkDefaultGatewayResponse>",
        list(v4, "IPv4Address"),
        list(v6, "IPv6Address")
    )
}

/// `GetDNS`: the name servers the machine asks (from DHCP or set by hand) and its search
/// domains.
pub fn dns(servers: &[std::net::IpAddr], search: &[String], from_dhcp: bool) -> String {
    let element = if from_dhcp {
        "DNSFromDHCP"
    } else {
        "DNSManual"
    };
    let domains: String = search
        .iter()
        .map(|d| format!("<tt:SearchDomain>{}</tt:SearchDomain>", escape(d)))
        .collect();
    let servers: String = servers.iter().map(|ip| ip_address(element, ip)).collect();
    format!(
        "<tds:GetDNSResponse><tds:DNSInformation><tt:FromDHCP>{from_dhcp}</tt:FromDHCP>\
         {domains}{servers}</tds:DNSInformation></tds:GetDNSResponse>"
    )
}

pub fn wsdl_url() -> &'static str {
    "<tds:GetWsdlUrlResponse><tds:WsdlUrl>http://www.onvif.org/ver10/device/wsdl/devicemgmt.wsdl</tds:WsdlUrl></tds:GetWsdlUrlResponse>"
}

/// A protocol the device serves, for `GetNetworkProtocols`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkProtocol {
    Http,
    Https,
    Rtsp,
}

/// `GetNetworkProtocols`: where recorders find the RTSP port, and the web ports.
pub fn network_protocols(list: &[(NetworkProtocol, u16)]) -> String {
    let all: String = list
        .iter()
        .map(|(p, port)| {
            let name = match p {
                NetworkProtocol::Http => "HTTP",
                NetworkProtocol::Https => "HTTPS",
                NetworkProtocol::Rtsp => "RTSP",
            };
            format!(
                "<tds:NetworkProtocols><tt:Name>{name}</tt:Name><tt:Enabled>true</tt:Enabled>\
                 <tt:Port>{port}</tt:Port></tds:NetworkProtocols>"
            )
        })
        .collect();
    format!("<tds:GetNetworkProtocolsResponse>{all}</tds:GetNetworkProtocolsResponse>")
}

pub fn discovery_mode() -> &'static str {
    "<tds:GetDiscoveryModeResponse><tds:DiscoveryMode>Discoverable</tds:DiscoveryMode></tds:GetDiscoveryModeResponse>"
}

// Media service.

pub(super) fn source_configuration(p: &ProfileInfo, element: &str) -> String {
    format!(
        "<{element} token=\"{src}\"><tt:Name>{src}</tt:Name><tt:UseCount>1</tt:UseCount>\
         <tt:SourceToken>{src}</tt:SourceToken><tt:Bounds x=\"0\" y=\"0\" width=\"{}\" height=\"{}\"/>\
         </{element}>",
        p.width,
        p.height,
        src = escape(&p.source)
    )
}

/// No multicast: streams are RTSP unicast (every encoder configuration, both media services).
pub(super) const NO_MULTICAST: &str = "<tt:Multicast><tt:Address><tt:Type>IPv4</tt:Type>\
    <tt:IPv4Address>0.0.0.0</tt:IPv4Address></tt:Address><tt:Port>0</tt:Port><tt:TTL>1</tt:TTL>\
    <tt:AutoStart>false</tt:AutoStart></tt:Multicast>";

/// The RTSP session's timeout, which Media (ver10) encoder configurations end with.
const SESSION_TIMEOUT: &str = "<tt:SessionTimeout>PT60S</tt:SessionTimeout>";

fn encoder_configuration(p: &ProfileInfo, element: &str) -> String {
    let h264 = match p.encoding {
        Encoding::H264 => format!(
            "<tt:H264><tt:GovLength>{}</tt:GovLength><tt:H264Profile>{}</tt:H264Profile></tt:H264>",
            p.gov_length(),
            p.encoding.profile()
        ),
        Encoding::H265 => String::new(),
    };
    format!(
        "<{element} token=\"{tok}\"><tt:Name>{tok}</tt:Name><tt:UseCount>1</tt:UseCount>\
         <tt:Encoding>{}</tt:Encoding>\
         <tt:Resolution><tt:Width>{}</tt:Width><tt:Height>{}</tt:Height></tt:Resolution>\
         <tt:Quality>5</tt:Quality>\
         <tt:RateControl><tt:FrameRateLimit>{}</tt:FrameRateLimit><tt:EncodingInterval>1</tt:EncodingInterval>\
         <tt:BitrateLimit>{}</tt:BitrateLimit></tt:RateControl>{h264}\
         {NO_MULTICAST}{SESSION_TIMEOUT}</{element}>",
        p.encoding.name(),
        p.width,
        p.height,
        p.fps,
        p.bitrate_kbps,
        tok = escape(&p.encoder_token())
    )
}

/// The audio source and encoder configurations of a profile with audio.
pub(super) fn audio_source_configuration(p: &ProfileInfo, element: &str) -> String {
    format!(
        "<{element} token=\"{src}\"><tt:Name>{src}</tt:Name><tt:UseCount>1</tt:UseCount>\
         <tt:SourceToken>{src}</tt:SourceToken></{element}>",
        src = escape(&p.audio_source_token())
    )
}

fn audio_encoder_configuration(p: &ProfileInfo, a: &AudioInfo, element: &str) -> String {
    format!(
        "<{element} token=\"{tok}\"><tt:Name>{tok}</tt:Name><tt:UseCount>1</tt:UseCount>\
         <tt:Encoding>AAC</tt:Encoding><tt:Bitrate>{}</tt:Bitrate><tt:SampleRate>{}</tt:SampleRate>\
         {NO_MULTICAST}{SESSION_TIMEOUT}</{element}>",
        a.bitrate_kbps,
        a.sample_rate_khz(),
        tok = escape(&p.audio_encoder_token())
    )
}

fn range(lo: f64, hi: f64) -> String {
    format!("<tt:Min>{}</tt:Min><tt:Max>{}</tt:Max>", f(lo), f(hi))
}

fn space2(element: &str, uri: &str, lo: f64) -> String {
    format!(
        "<tt:{element}><tt:URI>{uri}</tt:URI><tt:XRange>{}</tt:XRange><tt:YRange>{}</tt:YRange></tt:{element}>",
        range(lo, 1.0),
        range(lo, 1.0)
    )
}

fn space1(element: &str, uri: &str, lo: f64) -> String {
    format!(
        "<tt:{element}><tt:URI>{uri}</tt:URI><tt:XRange>{}</tt:XRange></tt:{element}>",
        range(lo, 1.0)
    )
}

pub(super) fn ptz_configuration(z: &PtzInfo, element: &str) -> String {
    let mut defaults = String::new();
    if z.absolute {
        defaults.push_str(&format!(
            "<tt:DefaultAbsolutePantTiltPositionSpace>{SPACE_PT_POSITION}</tt:DefaultAbsolutePantTiltPositionSpace>\
             <tt:DefaultAbsoluteZoomPositionSpace>{SPACE_ZOOM_POSITION}</tt:DefaultAbsoluteZoomPositionSpace>"
        ));
    }
    if z.relative {
        defaults.push_str(&format!(
            "<tt:DefaultRelativePanTiltTranslationSpace>{SPACE_PT_TRANSLATION}</tt:DefaultRelativePanTiltTranslationSpace>\
             <tt:DefaultRelativeZoomTranslationSpace>{SPACE_ZOOM_TRANSLATION}</tt:DefaultRelativeZoomTranslationSpace>"
        ));
    }
    if z.continuous {
        defaults.push_str(&format!(
            "<tt:DefaultContinuousPanTiltVelocitySpace>{SPACE_PT_VELOCITY}</tt:DefaultContinuousPanTiltVelocitySpace>\
             <tt:DefaultContinuousZoomVelocitySpace>{SPACE_ZOOM_VELOCITY}</tt:DefaultContinuousZoomVelocitySpace>"
        ));
    }
    let limits = if z.absolute {
        format!(
            "<tt:PanTiltLimits>{}</tt:PanTiltLimits><tt:ZoomLimits>{}</tt:ZoomLimits>",
            space2("Range", SPACE_PT_POSITION, -1.0),
            space1("Range", SPACE_ZOOM_POSITION, 0.0)
        )
    } else {
        String::new()
    };
    format!(
        "<{element} token=\"{cfg}\"><tt:Name>{cfg}</tt:Name><tt:UseCount>1</tt:UseCount>\
         <tt:NodeToken>{}</tt:NodeToken>{defaults}\
         <tt:DefaultPTZSpeed><tt:PanTilt x=\"1.0\" y=\"1.0\" space=\"{SPACE_PT_SPEED}\"/>\
         <tt:Zoom x=\"1.0\" space=\"{SPACE_ZOOM_SPEED}\"/></tt:DefaultPTZSpeed>\
         <tt:DefaultPTZTimeout>PT5S</tt:DefaultPTZTimeout>{limits}</{element}>",
        escape(&z.node),
        cfg = escape(&z.configuration)
    )
}

fn profile(p: &ProfileInfo, element: &str) -> String {
    use ConfigurationKind as K;
    let part = |kind, render: &dyn Fn() -> String| {
        if p.has(kind) { render() } else { String::new() }
    };
    // The schema's order: video source, audio source, video encoder, audio encoder, ..., PTZ,
    // metadata.
    let audio = p.audio.unwrap_or(AudioInfo {
        sample_rate: 0,
        bitrate_kbps: 0,
        channels: 0,
    });
    let parts = [
        part(K::VideoSource, &|| {
            source_configuration(p, "tt:VideoSourceConfiguration")
        }),
        part(K::AudioSource, &|| {
            audio_source_configuration(p, "tt:AudioSourceConfiguration")
        }),
        part(K::VideoEncoder, &|| {
            encoder_configuration(p, "tt:VideoEncoderConfiguration")
        }),
        part(K::AudioEncoder, &|| {
            audio_encoder_configuration(p, &audio, "tt:AudioEncoderConfiguration")
        }),
        part(K::Ptz, &|| {
            p.ptz()
                .map(|z| ptz_configuration(z, "tt:PTZConfiguration"))
                .unwrap_or_default()
        }),
        part(K::Metadata, &|| {
            super::metadata::configuration(p, "tt:MetadataConfiguration")
        }),
    ]
    .concat();
    format!(
        "<{element} token=\"{}\" fixed=\"{}\"><tt:Name>{}</tt:Name>{parts}</{element}>",
        escape(&p.token),
        p.fixed,
        escape(&p.name),
    )
}

pub fn profiles(list: &[ProfileInfo]) -> String {
    let all: String = list.iter().map(|p| profile(p, "trt:Profiles")).collect();
    format!("<trt:GetProfilesResponse>{all}</trt:GetProfilesResponse>")
}

pub fn one_profile(p: &ProfileInfo) -> String {
    format!(
        "<trt:GetProfileResponse>{}</trt:GetProfileResponse>",
        profile(p, "trt:Profile")
    )
}

/// `GetVideoSources`: one per camera (`(token, width, height, fps)`).
pub fn video_sources(list: &[(String, u32, u32, u32)]) -> String {
    let all: String = list
        .iter()
        .map(|(token, w, h, fps)| {
            format!(
                "<trt:VideoSources token=\"{}\"><tt:Framerate>{fps}</tt:Framerate>\
                 <tt:Resolution><tt:Width>{w}</tt:Width><tt:Height>{h}</tt:Height></tt:Resolution></trt:VideoSources>",
                escape(token)
            )
        })
        .collect();
    format!("<trt:GetVideoSourcesResponse>{all}</trt:GetVideoSourcesResponse>")
}

/// The answer to a profile edit of Media (ver10): `CreateProfile` gives the new profile back,
/// the others answer empty.
pub fn profile_edited(name: &str, made: Option<&ProfileInfo>) -> String {
    match made {
        Some(p) => format!(
            "<trt:CreateProfileResponse>{}</trt:CreateProfileResponse>",
            profile(p, "trt:Profile")
        ),
        None => format!("<trt:{name}Response/>"),
    }
}

/// `GetCompatible…Configurations` (Media) and the PTZ service's `GetCompatibleConfigurations`:
/// the configurations of `kind` that the streams of `list` (Pinhole's own profiles) have, each
/// once.
pub fn compatible_configurations(
    name: &str,
    kind: ConfigurationKind,
    list: &[ProfileInfo],
) -> String {
    use ConfigurationKind as K;
    let mut seen = std::collections::BTreeSet::new();
    let all: String = list
        .iter()
        .filter_map(|p| Some((p, super::media2::offered_token(p, kind)?)))
        .filter(|(_, token)| seen.insert(token.clone()))
        .map(|(p, _)| p)
        .map(|p| match (kind, p.audio, p.ptz()) {
            (K::VideoSource, ..) => source_configuration(p, "trt:Configurations"),
            (K::VideoEncoder, ..) => encoder_configuration(p, "trt:Configurations"),
            (K::AudioSource, ..) => audio_source_configuration(p, "trt:Configurations"),
            (K::AudioEncoder, Some(a), _) => {
                audio_encoder_configuration(p, &a, "trt:Configurations")
            }
            (K::Ptz, _, Some(z)) => ptz_configuration(z, "tptz:PTZConfiguration"),
            (K::Metadata, ..) => super::metadata::configuration(p, "trt:Configurations"),
            _ => String::new(),
        })
        .collect();
    let ns = if kind == K::Ptz { "tptz" } else { "trt" };
    format!("<{ns}:{name}Response>{all}</{ns}:{name}Response>")
}

pub fn video_source_configurations(list: &[ProfileInfo]) -> String {
    let mut seen = std::collections::BTreeSet::new();
    let all: String = list
        .iter()
        .filter(|p| seen.insert(p.source.clone()))
        .map(|p| source_configuration(p, "trt:Configurations"))
        .collect();
    format!(
        "<trt:GetVideoSourceConfigurationsResponse>{all}</trt:GetVideoSourceConfigurationsResponse>"
    )
}

pub fn video_encoder_configurations(list: &[ProfileInfo]) -> String {
    let all: String = list
        .iter()
        .map(|p| encoder_configuration(p, "trt:Configurations"))
        .collect();
    format!(
        "<trt:GetVideoEncoderConfigurationsResponse>{all}</trt:GetVideoEncoderConfigurationsResponse>"
    )
}

pub fn one_video_source_configuration(p: &ProfileInfo) -> String {
    format!(
        "<trt:GetVideoSourceConfigurationResponse>{}</trt:GetVideoSourceConfigurationResponse>",
        source_configuration(p, "trt:Configuration")
    )
}

pub fn one_video_encoder_configuration(p: &ProfileInfo) -> String {
    format!(
        "<trt:GetVideoEncoderConfigurationResponse>{}</trt:GetVideoEncoderConfigurationResponse>",
        encoder_configuration(p, "trt:Configuration")
    )
}

/// `GetAudioSourceConfigurations` and `GetAudioEncoderConfigurations` of the profiles with
/// audio (chosen and without repeats).
pub fn audio_configurations(list: &[ProfileInfo], encoders: bool) -> String {
    let all: String = list
        .iter()
        .filter_map(|p| {
            let a = p.audio.as_ref()?;
            Some(if encoders {
                audio_encoder_configuration(p, a, "trt:Configurations")
            } else {
                audio_source_configuration(p, "trt:Configurations")
            })
        })
        .collect();
    let op = if encoders {
        "GetAudioEncoderConfigurations"
    } else {
        "GetAudioSourceConfigurations"
    };
    format!("<trt:{op}Response>{all}</trt:{op}Response>")
}

/// `GetAudioSources`: one per camera with audio (`(token, channels)`).
pub fn audio_sources(list: &[(String, u32)]) -> String {
    let all: String = list
        .iter()
        .map(|(token, channels)| {
            format!(
                "<trt:AudioSources token=\"{}\"><tt:Channels>{channels}</tt:Channels></trt:AudioSources>",
                escape(token)
            )
        })
        .collect();
    format!("<trt:GetAudioSourcesResponse>{all}</trt:GetAudioSourcesResponse>")
}

/// `GetVideoSourceConfigurationOptions` (either media service): a source's bounds are its whole
/// picture, so the range is the sizes of `sources` (`(token, width, height)`), each listed as
/// available.
pub fn video_source_options(
    v: super::MediaVersion,
    sources: &[(String, u32, u32)],
    max_profiles: usize,
) -> String {
    let p = v.prefix();
    let span = |f: fn(&(String, u32, u32)) -> u32| {
        let lo = sources.iter().map(f).min().unwrap_or(0);
        let hi = sources.iter().map(f).max().unwrap_or(0);
        int_range(lo, hi)
    };
    let tokens: String = sources
        .iter()
        .map(|(t, ..)| {
            format!(
                "<tt:VideoSourceTokensAvailable>{}</tt:VideoSourceTokensAvailable>",
                escape(t)
            )
        })
        .collect();
    format!(
        "<{p}:GetVideoSourceConfigurationOptionsResponse>\
         <{p}:Options MaximumNumberOfProfiles=\"{max_profiles}\"><tt:BoundsRange>\
         <tt:XRange>{zero}</tt:XRange><tt:YRange>{zero}</tt:YRange>\
         <tt:WidthRange>{}</tt:WidthRange><tt:HeightRange>{}</tt:HeightRange></tt:BoundsRange>\
         {tokens}</{p}:Options></{p}:GetVideoSourceConfigurationOptionsResponse>",
        span(|s| s.1),
        span(|s| s.2),
        zero = int_range(0, 0),
    )
}

/// `GetGuaranteedNumberOfVideoEncoderInstances`: the streams a source's encoders give at once
/// (`total`), `h264` of them H.264 (Media ver10 has no name for H.265).
pub fn guaranteed_encoders(total: usize, h264: usize) -> String {
    format!(
        "<trt:GetGuaranteedNumberOfVideoEncoderInstancesResponse><trt:TotalNumber>{total}</trt:TotalNumber>\
         <trt:H264>{h264}</trt:H264></trt:GetGuaranteedNumberOfVideoEncoderInstancesResponse>"
    )
}

pub(super) fn int_range(lo: u32, hi: u32) -> String {
    format!("<tt:Min>{lo}</tt:Min><tt:Max>{hi}</tt:Max>")
}

/// `<tt:ResolutionsAvailable>` for each size.
pub(super) fn resolutions(list: &[(u32, u32)]) -> String {
    list.iter()
        .map(|(w, h)| {
            format!("<tt:ResolutionsAvailable><tt:Width>{w}</tt:Width><tt:Height>{h}</tt:Height></tt:ResolutionsAvailable>")
        })
        .collect()
}

/// `GetVideoEncoderConfigurationOptions`: what the profile's encoder can be set to
/// ([`ProfileInfo::offered`]). H.265 has no options element in Media (ver10): its profile
/// gives the quality range alone.
pub fn video_encoder_options(p: &ProfileInfo) -> String {
    let Offered {
        resolutions: sizes,
        fps,
        bitrate_kbps: bitrate,
        gov,
    } = p.offered();
    let h264 = match p.encoding {
        Encoding::H264 => {
            let common = format!(
                "{}<tt:GovLengthRange>{}</tt:GovLengthRange><tt:FrameRateRange>{}</tt:FrameRateRange>\
                 <tt:EncodingIntervalRange>{}</tt:EncodingIntervalRange>\
                 <tt:H264ProfilesSupported>{}</tt:H264ProfilesSupported>",
                resolutions(&sizes),
                int_range(gov.0, gov.1),
                int_range(fps.0, fps.1),
                int_range(1, 1),
                p.encoding.profile()
            );
            format!(
                "<tt:H264>{common}</tt:H264><tt:Extension><tt:H264>{common}\
                 <tt:BitrateRange>{}</tt:BitrateRange></tt:H264></tt:Extension>",
                int_range(bitrate.0, bitrate.1)
            )
        }
        Encoding::H265 => String::new(),
    };
    format!(
        "<trt:GetVideoEncoderConfigurationOptionsResponse><trt:Options>\
         <tt:QualityRange>{}</tt:QualityRange>{h264}</trt:Options>\
         </trt:GetVideoEncoderConfigurationOptionsResponse>",
        int_range(5, 5)
    )
}

/// `SetVideoEncoderConfiguration` done.
pub fn video_encoder_configuration_set() -> &'static str {
    "<trt:SetVideoEncoderConfigurationResponse/>"
}

fn media_uri(element: &str, uri: &str) -> String {
    format!(
        "<{element}><trt:MediaUri><tt:Uri>{}</tt:Uri><tt:InvalidAfterConnect>false</tt:InvalidAfterConnect>\
         <tt:InvalidAfterReboot>false</tt:InvalidAfterReboot><tt:Timeout>PT0S</tt:Timeout></trt:MediaUri></{element}>",
        escape(uri)
    )
}

pub fn stream_uri(uri: &str) -> String {
    media_uri("trt:GetStreamUriResponse", uri)
}

pub fn snapshot_uri(uri: &str) -> String {
    media_uri("trt:GetSnapshotUriResponse", uri)
}

// PTZ service.

/// The spaces a camera's PTZ supports: what it can do, in generic units.
fn spaces(z: &PtzInfo) -> String {
    let mut spaces = String::new();
    if z.absolute {
        spaces.push_str(&space2(
            "AbsolutePanTiltPositionSpace",
            SPACE_PT_POSITION,
            -1.0,
        ));
        spaces.push_str(&space1(
            "AbsoluteZoomPositionSpace",
            SPACE_ZOOM_POSITION,
            0.0,
        ));
    }
    if z.relative {
        spaces.push_str(&space2(
            "RelativePanTiltTranslationSpace",
            SPACE_PT_TRANSLATION,
            -1.0,
        ));
        spaces.push_str(&space1(
            "RelativeZoomTranslationSpace",
            SPACE_ZOOM_TRANSLATION,
            -1.0,
        ));
    }
    if z.continuous {
        spaces.push_str(&space2(
            "ContinuousPanTiltVelocitySpace",
            SPACE_PT_VELOCITY,
            -1.0,
        ));
        spaces.push_str(&space1(
            "ContinuousZoomVelocitySpace",
            SPACE_ZOOM_VELOCITY,
            -1.0,
        ));
    }
    spaces.push_str(&space1("PanTiltSpeedSpace", SPACE_PT_SPEED, 0.0));
    spaces.push_str(&space1("ZoomSpeedSpace", SPACE_ZOOM_SPEED, 0.0));
    spaces
}

fn node(z: &PtzInfo, name: &str, element: &str) -> String {
    let spaces = spaces(z);
    format!(
        "<{element} token=\"{}\" FixedHomePosition=\"false\"><tt:Name>{}</tt:Name>\
         <tt:SupportedPTZSpaces>{spaces}</tt:SupportedPTZSpaces>\
         <tt:MaximumNumberOfPresets>{}</tt:MaximumNumberOfPresets><tt:HomeSupported>{}</tt:HomeSupported></{element}>",
        escape(&z.node),
        escape(name),
        z.max_presets,
        b(z.home)
    )
}

/// `GetNodes`: `(camera name, its PTZ)`.
pub fn nodes(list: &[(String, PtzInfo)]) -> String {
    let all: String = list
        .iter()
        .map(|(name, z)| node(z, name, "tptz:PTZNode"))
        .collect();
    format!("<tptz:GetNodesResponse>{all}</tptz:GetNodesResponse>")
}

pub fn one_node(name: &str, z: &PtzInfo) -> String {
    format!(
        "<tptz:GetNodeResponse>{}</tptz:GetNodeResponse>",
        node(z, name, "tptz:PTZNode")
    )
}

pub fn configurations(list: &[PtzInfo]) -> String {
    let all: String = list
        .iter()
        .map(|z| ptz_configuration(z, "tptz:PTZConfiguration"))
        .collect();
    format!("<tptz:GetConfigurationsResponse>{all}</tptz:GetConfigurationsResponse>")
}

pub fn one_configuration(z: &PtzInfo) -> String {
    format!(
        "<tptz:GetConfigurationResponse>{}</tptz:GetConfigurationResponse>",
        ptz_configuration(z, "tptz:PTZConfiguration")
    )
}

pub fn configuration_options(z: &PtzInfo) -> String {
    let spaces = spaces(z);
    format!(
        "<tptz:GetConfigurationOptionsResponse><tptz:PTZConfigurationOptions>\
         <tt:Spaces>{spaces}</tt:Spaces>\
         <tt:PTZTimeout><tt:Min>PT1S</tt:Min><tt:Max>PT60S</tt:Max></tt:PTZTimeout>\
         </tptz:PTZConfigurationOptions></tptz:GetConfigurationOptionsResponse>"
    )
}

fn vector(p: &Position, element: &str) -> String {
    format!(
        "<{element}><tt:PanTilt x=\"{}\" y=\"{}\" space=\"{SPACE_PT_POSITION}\"/>\
         <tt:Zoom x=\"{}\" space=\"{SPACE_ZOOM_POSITION}\"/></{element}>",
        f(p.pan),
        f(p.tilt),
        f(p.zoom)
    )
}

/// `GetStatus`: where the camera is and whether it moves.
pub fn status(
    position: Option<&Position>,
    moving: bool,
    error: Option<&str>,
    now_secs: i64,
) -> String {
    let pos = position
        .map(|p| vector(p, "tt:Position"))
        .unwrap_or_default();
    let state = if moving { "MOVING" } else { "IDLE" };
    let err = error
        .map(|e| format!("<tt:Error>{}</tt:Error>", escape(e)))
        .unwrap_or_default();
    format!(
        "<tptz:GetStatusResponse><tptz:PTZStatus>{pos}\
         <tt:MoveStatus><tt:PanTilt>{state}</tt:PanTilt><tt:Zoom>{state}</tt:Zoom></tt:MoveStatus>{err}\
         <tt:UtcTime>{}</tt:UtcTime></tptz:PTZStatus></tptz:GetStatusResponse>",
        utc(now_secs)
    )
}

pub fn presets(list: &[PresetInfo]) -> String {
    let all: String = list
        .iter()
        .map(|p| {
            format!(
                "<tptz:Preset token=\"{}\"><tt:Name>{}</tt:Name>{}</tptz:Preset>",
                escape(&p.token),
                escape(&p.name),
                p.position
                    .as_ref()
                    .map(|v| vector(v, "tt:PTZPosition"))
                    .unwrap_or_default()
            )
        })
        .collect();
    format!("<tptz:GetPresetsResponse>{all}</tptz:GetPresetsResponse>")
}

pub fn set_preset(token: &str) -> String {
    format!(
        "<tptz:SetPresetResponse><tptz:PresetToken>{}</tptz:PresetToken></tptz:SetPresetResponse>",
        escape(token)
    )
}

/// The empty answer of an operation that returns nothing (`ContinuousMove`, `Stop`, ...).
pub fn empty(prefix: &str, operation: &str) -> String {
    format!("<{prefix}:{operation}Response/>")
}
