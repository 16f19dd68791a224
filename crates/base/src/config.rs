//! The configuration's types and the checks serde cannot express.
//!
//! The file format is documented in `config/pinhole.toml`; loading it (the file, `PINHOLE_*`
//! overrides, collecting every problem with its origin) is the application's job. Unknown keys are
//! errors (`deny_unknown_fields`): a typo must not silently fall back to a default on a headless
//! box.

use crate::FieldErrors;
use crate::camera::{BITRATE_KBPS, CameraInput, KEYFRAME_MS, PtzLinkChange};
pub use crate::camera::{RecordingMode, SourceKind, valid_camera_id};
use crate::detection::{CameraDetection, ModelKind};
use crate::ptz::PtzLink;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The whole configuration.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub general: General,
    pub http: Http,
    pub tls: Tls,
    pub auth: Auth,
    pub log: Log,
    pub storage: Storage,
    pub media: Media,
    pub detection: Detection,
    pub mqtt: MqttConfig,
    pub ota: OtaConfig,
    pub supervisor: Supervisor,
    pub discovery: DiscoveryConfig,
    /// Pinhole as an ONVIF device (`[onvif]`).
    pub onvif: OnvifConfig,
    /// Cameras provisioned from the file. They are copied into the store on first start (by id);
    /// after that the store, edited through the API, is authoritative.
    pub cameras: Vec<CameraConfig>,
}

/// Pinhole's own ONVIF face: network video recorders and home-automation systems find it by
/// WS-Discovery and use its cameras as they use any ONVIF camera.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct OnvifConfig {
    /// The default of the `onvif_enabled` setting (off: nothing answers on `/onvif/` or on the
    /// discovery port until an admin switches it on).
    pub enabled: bool,
    /// Answer WS-Discovery probes, and announce Hello and Bye, while the face is on.
    pub discovery: bool,
    /// The WS-Discovery port (3702 is what every client probes).
    pub discovery_port: u16,
}

impl Default for OnvifConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            discovery: true,
            discovery_port: 3702,
        }
    }
}

/// Finding ONVIF cameras on the network (WS-Discovery).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DiscoveryConfig {
    /// Probe this often, in seconds; 0 probes only when asked. The API's
    /// `set_discovery_interval` changes it (kept in the database).
    pub interval_secs: u32,
    /// Send the multicast probe (239.255.255.250:3702).
    pub multicast: bool,
    /// Addresses also probed one by one (`IP` or `IP:port`), for networks that drop multicast.
    pub unicast: Vec<String>,
    /// How long a probe waits for answers, in ms.
    pub wait_ms: u32,
}

impl Default for DiscoveryConfig {
    fn default() -> Self {
        Self {
            interval_secs: 0,
            multicast: true,
            unicast: Vec::new(),
            wait_ms: 2000,
        }
    }
}

/// A discovery interval: 0 (off) or 10 s to a day.
pub fn valid_discovery_interval(secs: u64) -> Result<(), String> {
    if secs == 0 || (10..=86_400).contains(&secs) {
        Ok(())
    } else {
        Err(format!("{secs} must be 0 (off) or 10..=86400 seconds"))
    }
}

/// A unicast probe target: `IP` (port 3702) or `IP:port`.
pub fn discovery_target(s: &str) -> Result<SocketAddr, String> {
    s.parse::<SocketAddr>()
        .or_else(|_| {
            s.parse::<std::net::IpAddr>()
                .map(|ip| SocketAddr::new(ip, 3702))
        })
        .map_err(|_| format!("`{s}` is not an IP address or IP:port"))
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct General {
    /// Name shown on the web page and in `get_server_info`.
    pub device_name: String,
    /// Where the database, keys, certificates and (by default) media live.
    pub state_dir: PathBuf,
    /// IANA time zone used by the web page for display.
    pub timezone: String,
}

impl Default for General {
    fn default() -> Self {
        Self {
            device_name: "pinhole".into(),
            state_dir: PathBuf::from("/var/lib/pinhole"),
            timezone: "UTC".into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Http {
    /// Plain HTTP listener: web page, REST, `/ws`, `/rpc`, `/metrics`.
    pub listen: SocketAddr,
    /// Largest accepted JSON-RPC message or request body, in bytes.
    pub max_message_bytes: usize,
    /// Largest number of simultaneously open WebSocket connections. An eighth of them are kept
    /// for clients that authenticate with the upgrade request (cookie or bearer token).
    pub max_websocket_connections: usize,
    /// Largest number of WebSocket connections from one address.
    pub max_websocket_connections_per_address: usize,
    /// A WebSocket that has not authenticated within this many seconds is closed (1008).
    pub websocket_auth_timeout_secs: u32,
    /// A client must send its request headers within this many seconds (slow clients that never
    /// finish them are disconnected).
    pub header_read_timeout_secs: u32,
}

impl Default for Http {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 8002)),
            max_message_bytes: 64 * 1024,
            max_websocket_connections: 4096,
            max_websocket_connections_per_address: 32,
            websocket_auth_timeout_secs: 10,
            header_read_timeout_secs: 10,
        }
    }
}

/// How HTTPS is provided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TlsMode {
    /// No HTTPS listener.
    Off,
    /// A per-device self-signed certificate generated on first start in `<state_dir>/tls/`.
    SelfSigned,
    /// The certificate and key files named by `cert` and `key`.
    Files,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Tls {
    pub mode: TlsMode,
    /// HTTPS listener (same routes as the plain listener).
    pub listen: SocketAddr,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

impl Default for Tls {
    fn default() -> Self {
        Self {
            mode: TlsMode::Off,
            listen: SocketAddr::from(([0, 0, 0, 0], 8443)),
            cert: None,
            key: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Auth {
    /// Lifetime of access tokens and web sessions, in seconds.
    pub token_ttl_secs: u64,
    /// Password logins allowed per client address per minute (burst of the same size).
    pub login_attempts_per_minute: u32,
    /// Minimum password length for new passwords.
    pub min_password_length: usize,
}

impl Default for Auth {
    fn default() -> Self {
        Self {
            token_ttl_secs: 12 * 3600,
            login_attempts_per_minute: 10,
            min_password_length: 8,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// journald when started by systemd with its output on the journal, text otherwise.
    Auto,
    Text,
    Json,
    Journald,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Log {
    pub format: LogFormat,
    /// A tracing filter directive, e.g. `info` or `pinhole=debug,tower_http=info`.
    pub level: String,
}

impl Default for Log {
    fn default() -> Self {
        Self {
            format: LogFormat::Auto,
            level: "info".into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Storage {
    /// Recordings directory; default `<state_dir>/recordings`.
    pub recordings_dir: Option<PathBuf>,
    /// Snapshots directory; default `<state_dir>/snapshots`.
    pub snapshots_dir: Option<PathBuf>,
    /// Audit log rows older than this many days are deleted (0 keeps them forever).
    pub audit_retention_days: u32,
    /// The audit log keeps at most this many rows (the oldest go first). Each row is bounded
    /// (about 1.5 KB at most), so this is the log's size budget on the data partition.
    pub audit_max_rows: u32,
    /// Length of one recording segment, in seconds.
    pub segment_secs: u32,
    /// The segment being written is flushed to the medium (fdatasync) this often, in seconds:
    /// the most video a power cut can lose. Lower is safer but wears an SD card faster.
    pub sync_interval_secs: u32,
    /// Fragment duration of fragmented MP4 recordings, in ms (500..=5000): the most video a
    /// crash of the process loses (the page cache keeps what was written).
    pub fragment_ms: u32,
    /// Initial retention policy (the API can change it; the database then keeps it).
    pub retention_max_age_days: f64,
    pub retention_max_size_gb: f64,
    /// Oldest recordings are deleted to keep this much free space, whatever the policy.
    pub min_free_mb: u64,
    /// Snapshots older than this many days are deleted (0 keeps them).
    pub snapshot_retention_days: u32,
}

impl Default for Storage {
    fn default() -> Self {
        Self {
            recordings_dir: None,
            snapshots_dir: None,
            audit_retention_days: 365,
            audit_max_rows: 50_000,
            segment_secs: 60,
            sync_interval_secs: 5,
            fragment_ms: 500,
            retention_max_age_days: 30.0,
            retention_max_size_gb: 0.0,
            min_free_mb: 1024,
            snapshot_retention_days: 30,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Detection {
    /// Run detection on the cameras' detector frames.
    pub enabled: bool,
    /// libLiteRt.so; default: beside the binary, /usr/lib/pinhole, ~/.cache/pinhole-assets.
    pub library: Option<PathBuf>,
    /// The .tflite model (BlazeFace, BlazePose, or a TFLite_Detection_PostProcess model).
    pub model: Option<PathBuf>,
    /// Where per-camera models (a camera's `detection.model`) are looked up; default
    /// `<state_dir>/models`. Cameras name a file here, never a path.
    pub models_dir: Option<PathBuf>,
    /// face, person or coco; recognised from the model when absent.
    pub kind: Option<ModelKind>,
    /// Labels file for COCO models.
    pub labels: Option<PathBuf>,
    /// Minimum score for a detection.
    pub threshold: f32,
    /// Only these labels make events (empty: all).
    pub label_filter: Vec<String>,
    /// Cameras to run on (empty: all).
    pub cameras: Vec<String>,
    /// Inferences per second per camera, at most.
    pub fps: f32,
    /// Concurrent inferences (size of the worker pool); frames arriving while all are busy are
    /// dropped (newest frame wins).
    pub workers: usize,
    /// XNNPACK threads per inference.
    pub threads: u32,
    /// Frames reach the model only when the motion gate sees motion, or every
    /// `keepalive_secs` (so a still object is still reported).
    pub motion_gate: bool,
    /// 1 (only strong motion) to 100 (the slightest).
    pub motion_sensitivity: u8,
    pub keepalive_secs: u32,
    /// An object unseen for this long ends its event.
    pub event_end_secs: u32,
    /// Events older than this are deleted (0: kept).
    pub event_retention_days: u32,
    /// Cameras in `events` recording mode keep recording this long after the last sighting.
    pub post_roll_secs: u32,
}

impl Default for Detection {
    fn default() -> Self {
        Self {
            enabled: false,
            library: None,
            model: None,
            models_dir: None,
            kind: None,
            labels: None,
            threshold: 0.6,
            label_filter: Vec::new(),
            cameras: Vec::new(),
            fps: 2.0,
            workers: 1,
            threads: 2,
            motion_gate: true,
            motion_sensitivity: 50,
            keepalive_secs: 10,
            event_end_secs: 5,
            event_retention_days: 30,
            post_roll_secs: 10,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Media {
    /// Run the capture pipelines and the RTSP server. Off: PTZ and the control plane only.
    pub enabled: bool,
    /// RTSP server address; streams are `rtsp://HOST:PORT/<camera-id>`. Port 0 picks a free one.
    pub rtsp_listen: SocketAddr,
    /// Host name or address put in the stream URLs the API returns. Default: the address the
    /// client used to reach the API.
    pub public_host: Option<String>,
    /// H.264 encoder for raw sources: auto (v4l2h264enc, then x264enc, then openh264enc),
    /// or one of those element names.
    pub encoder: String,
    /// Keyframe interval of encoded cameras, in milliseconds (250..=2000).
    pub keyframe_interval_ms: u32,
    /// Defaults for cameras that do not set them.
    pub default_width: u32,
    pub default_height: u32,
    pub default_fps: u32,
    pub default_bitrate_kbps: u32,
    /// Browser preview (MJPEG) and snapshot branch: frames per second and width.
    pub preview_fps: u32,
    pub preview_width: u32,
    /// The detector's frames: packed RGB at this rate and width (the height keeps the aspect);
    /// produced only while a detector reads them.
    pub detect_fps: u32,
    pub detect_width: u32,
    /// A camera that delivers no frame for this long is rebuilt.
    pub stall_timeout_secs: u32,
    /// Pull RTSP cameras over TCP (true) or UDP.
    pub rtsp_tcp: bool,
    /// Which RTSP client pulls IP cameras.
    pub rtsp_client: RtspClient,
    /// The most cameras the appliance takes (`get_server_info` reports it; adding one more
    /// is refused).
    pub max_cameras: u32,
}

/// The RTSP client that pulls IP cameras.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RtspClient {
    /// Pinhole's own (retina): one task per camera, about half rtspsrc's CPU. `rtsps://`
    /// cameras still go through rtspsrc, as retina speaks no TLS.
    #[default]
    Retina,
    /// GStreamer's rtspsrc with its jitter buffer, for a camera retina cannot talk to.
    Gstreamer,
}

impl Default for Media {
    fn default() -> Self {
        Self {
            enabled: true,
            rtsp_listen: SocketAddr::from(([0, 0, 0, 0], 8554)),
            public_host: None,
            encoder: "auto".into(),
            keyframe_interval_ms: 1000,
            default_width: 1280,
            default_height: 720,
            default_fps: 15,
            default_bitrate_kbps: 2000,
            preview_fps: 5,
            preview_width: 640,
            detect_fps: 5,
            detect_width: 320,
            stall_timeout_secs: 5,
            rtsp_tcp: true,
            rtsp_client: RtspClient::Retina,
            max_cameras: 16,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Supervisor {
    /// First restart delay after a subsystem fails, in milliseconds; doubles on each failure.
    pub restart_backoff_initial_ms: u64,
    /// Longest restart delay, in seconds.
    pub restart_backoff_max_secs: u64,
    /// Upper bound for a graceful shutdown before the process exits anyway, in seconds.
    pub shutdown_timeout_secs: u64,
}

impl Default for Supervisor {
    fn default() -> Self {
        Self {
            restart_backoff_initial_ms: 500,
            restart_backoff_max_secs: 60,
            shutdown_timeout_secs: 5,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CameraConfig {
    /// Stable identifier used in URLs and the API (`camera0`, `porch`, ...).
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default = "yes")]
    pub enabled: bool,
    pub source: SourceKind,
    /// Device path (`/dev/video0`), RTSP URL, or empty for `test`.
    #[serde(default)]
    pub url: String,
    /// An RTSP camera's sub stream, for previews and detection.
    #[serde(default)]
    pub sub_url: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub width: Option<u32>,
    #[serde(default)]
    pub height: Option<u32>,
    #[serde(default)]
    pub fps: Option<u32>,
    #[serde(default)]
    pub bitrate_kbps: Option<u32>,
    /// Keyframe interval in ms (250..=2000); default `media.keyframe_interval_ms`.
    #[serde(default)]
    pub keyframe_ms: Option<u32>,
    /// Detection settings for this camera (zones, masks, threshold, labels).
    #[serde(default)]
    pub detection: Option<CameraDetection>,
    #[serde(default = "continuous")]
    pub recording: RecordingMode,
    /// PTZ link, when the camera can pan, tilt and zoom.
    #[serde(default)]
    pub ptz: Option<PtzLink>,
}

impl From<&CameraConfig> for CameraInput {
    /// The camera a `[[cameras]]` entry of the configuration file describes.
    fn from(c: &CameraConfig) -> Self {
        CameraInput {
            id: Some(c.id.clone()),
            name: c.name.clone(),
            enabled: Some(c.enabled),
            source: Some(c.source),
            url: Some(c.url.clone()),
            sub_url: c.sub_url.clone(),
            username: c.username.clone(),
            password: c.password.clone(),
            width: c.width,
            height: c.height,
            fps: c.fps,
            bitrate_kbps: c.bitrate_kbps,
            keyframe_ms: c.keyframe_ms,
            detection: c.detection.clone(),
            recording: Some(c.recording),
            ptz: c.ptz.clone().map(PtzLinkChange::Set),
        }
    }
}

fn yes() -> bool {
    true
}

fn continuous() -> RecordingMode {
    RecordingMode::Continuous
}

/// `[ota]`: the update agent.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct OtaConfig {
    /// Talk to RAUC and confirm (or roll back) the booted slot.
    pub enabled: bool,
    /// D-Bus address of RAUC's bus; empty: the system bus.
    pub dbus_address: String,
    /// A fresh slot must stay healthy this long before it is marked good.
    pub health_settle_secs: u64,
    /// ... and become so within this long after start, or it is marked bad (rollback).
    pub health_timeout_secs: u64,
    /// Run after marking a slot bad, to boot the other one, and after installing an update.
    pub reboot_command: Vec<String>,
    /// A signed update manifest to poll (plain HTTPS update source); empty: no polling.
    pub manifest_url: String,
    /// The Ed25519 public key (base64) that signs the manifest.
    pub manifest_key: String,
    /// Seconds between manifest checks.
    pub poll_secs: u64,
    /// When an installed update may reboot the device: "HH:MM-HH:MM" in `general.timezone`
    /// (may wrap midnight); empty: at once.
    pub reboot_window: String,
    /// The hawkBit server to take updates from (DDI API); its `url` empty: not used.
    pub hawkbit: HawkbitConfig,
    /// The device's time zone for `reboot_window` (set from `general.timezone`).
    #[serde(skip)]
    pub timezone: String,
}

/// `[ota.hawkbit]`: the device is a hawkBit target (controller) polling the DDI API.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct HawkbitConfig {
    /// The server, e.g. "https://hawkbit.example.com"; empty: no hawkBit.
    pub url: String,
    pub tenant: String,
    /// This device's controller id; empty: its host name (unique per device on the SD image).
    pub controller_id: String,
    /// The target's own security token (`TargetToken`), or ...
    pub target_token: String,
    /// ... the tenant's gateway token (`GatewayToken`). At most one of the two.
    pub gateway_token: String,
}

impl Default for HawkbitConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            tenant: "DEFAULT".into(),
            controller_id: String::new(),
            target_token: String::new(),
            gateway_token: String::new(),
        }
    }
}

impl Default for OtaConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            dbus_address: String::new(),
            health_settle_secs: 30,
            health_timeout_secs: 300,
            reboot_command: vec!["systemctl".into(), "reboot".into()],
            manifest_url: String::new(),
            manifest_key: String::new(),
            poll_secs: 3600,
            reboot_window: String::new(),
            hawkbit: HawkbitConfig::default(),
            timezone: "UTC".into(),
        }
    }
}

/// `[mqtt]`: where detection events are published.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MqttConfig {
    pub enabled: bool,
    pub host: String,
    pub port: u16,
    pub username: Option<String>,
    pub password: Option<String>,
    /// Default: `pinhole-<device name>`.
    pub client_id: Option<String>,
    pub topic_prefix: String,
    /// Messages kept while the broker is unreachable.
    pub queue: usize,
}

impl Default for MqttConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            host: "127.0.0.1".into(),
            port: 1883,
            username: None,
            password: None,
            client_id: None,
            topic_prefix: "pinhole".into(),
            queue: 1000,
        }
    }
}

impl Config {
    pub fn recordings_dir(&self) -> PathBuf {
        self.storage
            .recordings_dir
            .clone()
            .unwrap_or_else(|| self.general.state_dir.join("recordings"))
    }

    pub fn snapshots_dir(&self) -> PathBuf {
        self.storage
            .snapshots_dir
            .clone()
            .unwrap_or_else(|| self.general.state_dir.join("snapshots"))
    }

    pub fn models_dir(&self) -> PathBuf {
        self.detection
            .models_dir
            .clone()
            .unwrap_or_else(|| self.general.state_dir.join("models"))
    }

    pub fn database_path(&self) -> PathBuf {
        self.general.state_dir.join("pinhole.db")
    }
}

/// Device names become host names and titles: 1-63 printable characters.
pub fn valid_device_name(name: &str) -> Result<(), String> {
    if name.trim().is_empty() {
        return Err("must not be empty".into());
    }
    if name.chars().count() > 63 {
        return Err("must be at most 63 characters".into());
    }
    if name.chars().any(|c| c.is_control()) {
        return Err("must not contain control characters".into());
    }
    Ok(())
}

/// An IANA zone name such as `Europe/Paris` or `UTC`.
pub fn valid_timezone(tz: &str) -> Result<(), String> {
    let shape_ok = !tz.is_empty()
        && tz.len() <= 64
        && !tz.starts_with('/')
        && !tz.contains("..")
        && tz
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-' | '+'));
    if !shape_ok {
        return Err(format!(
            "`{tz}` is not a time zone name like `Europe/Paris` or `UTC`"
        ));
    }
    let zoneinfo = Path::new("/usr/share/zoneinfo");
    if zoneinfo.is_dir() && !zoneinfo.join(tz).is_file() {
        return Err(format!("unknown time zone `{tz}`"));
    }
    Ok(())
}

/// Checks that serde cannot express, with each problem's key path (`cameras[1].fps`). The
/// `[ota]` section is checked by the update agent's crate, which knows its formats.
pub fn validate(c: &Config) -> FieldErrors {
    let mut out = FieldErrors::new();
    let mut bad = |k: &str, r: String| out.push(k, r);
    if let Err(r) = valid_device_name(&c.general.device_name) {
        bad("general.device_name", r);
    }
    if c.general.state_dir.as_os_str().is_empty() {
        bad("general.state_dir", "must not be empty".into());
    }
    if let Err(r) = valid_timezone(&c.general.timezone) {
        bad("general.timezone", r);
    }
    if !(1024..=16 * 1024 * 1024).contains(&c.http.max_message_bytes) {
        bad(
            "http.max_message_bytes",
            format!("{} is outside 1024..=16777216", c.http.max_message_bytes),
        );
    }
    media_problems(c, &mut bad);
    if let Err(r) = valid_discovery_interval(u64::from(c.discovery.interval_secs)) {
        bad("discovery.interval_secs", r);
    }
    if !(200..=10_000).contains(&c.discovery.wait_ms) {
        bad(
            "discovery.wait_ms",
            format!("{} is outside 200..=10000", c.discovery.wait_ms),
        );
    }
    for (i, t) in c.discovery.unicast.iter().enumerate() {
        if let Err(r) = discovery_target(t) {
            bad(&format!("discovery.unicast[{i}]"), r);
        }
    }
    let d = &c.detection;
    if d.enabled && d.model.is_none() {
        bad(
            "detection.model",
            "required when detection.enabled = true".into(),
        );
    }
    if !(0.0..=1.0).contains(&d.threshold) {
        bad(
            "detection.threshold",
            format!("{} is outside 0..=1", d.threshold),
        );
    }
    if !(d.fps > 0.0 && d.fps <= 30.0) {
        bad("detection.fps", format!("{} is outside (0, 30]", d.fps));
    }
    if !(1..=16).contains(&d.workers) {
        bad(
            "detection.workers",
            format!("{} is outside 1..=16", d.workers),
        );
    }
    if !(1..=16).contains(&d.threads) {
        bad(
            "detection.threads",
            format!("{} is outside 1..=16", d.threads),
        );
    }
    if !(1..=100).contains(&d.motion_sensitivity) {
        bad(
            "detection.motion_sensitivity",
            format!("{} is outside 1..=100", d.motion_sensitivity),
        );
    }
    if c.http.max_websocket_connections == 0 {
        bad(
            "http.max_websocket_connections",
            "must be at least 1".into(),
        );
    }
    if c.http.max_websocket_connections_per_address == 0 {
        bad(
            "http.max_websocket_connections_per_address",
            "must be at least 1".into(),
        );
    }
    for (k, v) in [
        (
            "http.websocket_auth_timeout_secs",
            c.http.websocket_auth_timeout_secs,
        ),
        (
            "http.header_read_timeout_secs",
            c.http.header_read_timeout_secs,
        ),
    ] {
        if !(1..=300).contains(&v) {
            bad(k, format!("{v} is outside 1..=300"));
        }
    }
    if c.tls.mode == TlsMode::Files {
        if c.tls.cert.is_none() {
            bad("tls.cert", "required when tls.mode = \"files\"".into());
        }
        if c.tls.key.is_none() {
            bad("tls.key", "required when tls.mode = \"files\"".into());
        }
    }
    if c.tls.mode != TlsMode::Off && c.tls.listen == c.http.listen {
        bad("tls.listen", "must differ from http.listen".into());
    }
    if c.auth.token_ttl_secs < 5 || c.auth.token_ttl_secs > 30 * 24 * 3600 {
        bad(
            "auth.token_ttl_secs",
            format!("{} is outside 5..=2592000 (30 days)", c.auth.token_ttl_secs),
        );
    }
    if c.auth.login_attempts_per_minute == 0 {
        bad(
            "auth.login_attempts_per_minute",
            "must be at least 1".into(),
        );
    }
    if c.auth.min_password_length < 8 {
        bad("auth.min_password_length", "must be at least 8".into());
    }
    if c.supervisor.restart_backoff_initial_ms == 0 {
        bad(
            "supervisor.restart_backoff_initial_ms",
            "must be at least 1".into(),
        );
    }
    if c.supervisor.restart_backoff_max_secs == 0 {
        bad(
            "supervisor.restart_backoff_max_secs",
            "must be at least 1".into(),
        );
    }
    if !(1..=120).contains(&c.supervisor.shutdown_timeout_secs) {
        bad(
            "supervisor.shutdown_timeout_secs",
            format!("{} is outside 1..=120", c.supervisor.shutdown_timeout_secs),
        );
    }
    let mut seen = HashSet::new();
    let mut camera_errors = FieldErrors::new();
    for (i, cam) in c.cameras.iter().enumerate() {
        let prefix = format!("cameras[{i}].");
        let problems = match crate::camera::resolve(None, &CameraInput::from(cam)) {
            Ok(_) => FieldErrors::new(),
            Err(e) => e,
        };
        if problems.get("id").is_none() && !seen.insert(cam.id.clone()) {
            camera_errors.push(
                format!("{prefix}id"),
                format!("duplicate camera id `{}`", cam.id),
            );
        }
        camera_errors.extend_prefixed(&prefix, problems);
    }
    if c.cameras.len() > c.media.max_cameras as usize {
        camera_errors.push(
            "cameras",
            format!(
                "{} cameras, more than media.max_cameras ({})",
                c.cameras.len(),
                c.media.max_cameras
            ),
        );
    }
    out.extend(camera_errors);
    out
}

/// Checks shared by the config file and the camera API.
fn media_problems(c: &Config, bad: &mut impl FnMut(&str, String)) {
    let m = &c.media;
    if !["auto", "v4l2h264enc", "x264enc", "openh264enc"].contains(&m.encoder.as_str()) {
        bad(
            "media.encoder",
            format!(
                "`{}` is not auto, v4l2h264enc, x264enc or openh264enc",
                m.encoder
            ),
        );
    }
    let ranges: [(&str, u32, std::ops::RangeInclusive<u32>); 14] = [
        ("media.detect_fps", m.detect_fps, 1..=30),
        ("media.detect_width", m.detect_width, 32..=1920),
        (
            "media.keyframe_interval_ms",
            m.keyframe_interval_ms,
            KEYFRAME_MS,
        ),
        ("media.default_width", m.default_width, 16..=7680),
        ("media.default_height", m.default_height, 16..=4320),
        ("media.default_fps", m.default_fps, 1..=120),
        (
            "media.default_bitrate_kbps",
            m.default_bitrate_kbps,
            BITRATE_KBPS,
        ),
        ("media.preview_fps", m.preview_fps, 1..=30),
        ("media.preview_width", m.preview_width, 64..=1920),
        ("media.stall_timeout_secs", m.stall_timeout_secs, 2..=300),
        ("media.max_cameras", m.max_cameras, 1..=64),
        ("storage.segment_secs", c.storage.segment_secs, 10..=3600),
        ("storage.fragment_ms", c.storage.fragment_ms, 500..=5000),
        (
            "storage.audit_max_rows",
            c.storage.audit_max_rows,
            1000..=1_000_000,
        ),
    ];
    for (k, v, r) in ranges {
        if !r.contains(&v) {
            bad(k, format!("{v} is outside {}..={}", r.start(), r.end()));
        }
    }
    if !(1..=60).contains(&c.storage.sync_interval_secs) {
        bad(
            "storage.sync_interval_secs",
            format!("{} is outside 1..=60", c.storage.sync_interval_secs),
        );
    }
    if !m.preview_width.is_multiple_of(2) {
        bad("media.preview_width", "must be even".into());
    }
    let policy = crate::retention::RetentionPolicy {
        enabled: true,
        max_age_days: c.storage.retention_max_age_days,
        max_size_gb: c.storage.retention_max_size_gb,
        min_free_mb: c.storage.min_free_mb,
    };
    for e in policy.problems() {
        let key = match e.field.as_str() {
            "max_age_days" => "storage.retention_max_age_days",
            "max_size_gb" => "storage.retention_max_size_gb",
            _ => "storage.min_free_mb",
        };
        bad(key, e.reason);
    }
}
