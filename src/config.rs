//! Configuration: one TOML file, overridable by `PINHOLE_<SECTION>__<KEY>` environment variables.
//!
//! Every key lives in a section, so an override is always `PINHOLE_` + section + `__` + key
//! (`PINHOLE_HTTP__LISTEN=0.0.0.0:80`); variables without `__` (`PINHOLE_ADMIN_PASSWORD`,
//! `PINHOLE_LOG`) are not configuration and are never mistaken for it. Override values are read as
//! TOML literals when they parse as one (`8002`, `true`, `"text"`) and as plain strings otherwise.
//!
//! Unknown keys are errors (`deny_unknown_fields`): a typo must not silently fall back to a
//! default on a headless box. Loading collects *every* problem rather than stopping at the first:
//! after a type or unknown-key error the offending key is removed and deserialisation retried, then
//! semantic checks run over the whole result. Each problem names where the value came from (the file
//! or the environment variable), its key path, and why it is wrong.
//!
//! Settings changed at run time through the API live in the store (`settings` table) and take
//! precedence over this file; the file is never rewritten by the appliance.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::fmt;
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
    pub mqtt: crate::detect::mqtt::MqttConfig,
    pub ota: crate::ota::OtaConfig,
    pub supervisor: Supervisor,
    /// Cameras provisioned from the file. They are copied into the store on first start (by id);
    /// after that the store, edited through the API, is authoritative.
    pub cameras: Vec<CameraConfig>,
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
    /// Largest number of simultaneously open WebSocket connections.
    pub max_websocket_connections: usize,
}

impl Default for Http {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 8002)),
            max_message_bytes: 64 * 1024,
            max_websocket_connections: 4096,
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
    /// Length of one recording segment, in seconds.
    pub segment_secs: u32,
    /// The segment being written is flushed to the medium (fdatasync) this often, in seconds:
    /// the most video a power cut can lose. Lower is safer but wears an SD card faster.
    pub sync_interval_secs: u32,
    /// Initial retention policy (the API can change it; the database then keeps it).
    pub retention_max_age_days: f64,
    pub retention_max_size_gb: f64,
    /// Oldest recordings are deleted to keep this much free space, whatever the policy.
    pub min_free_mb: u64,
}

impl Default for Storage {
    fn default() -> Self {
        Self {
            recordings_dir: None,
            snapshots_dir: None,
            audit_retention_days: 365,
            segment_secs: 60,
            sync_interval_secs: 5,
            retention_max_age_days: 30.0,
            retention_max_size_gb: 0.0,
            min_free_mb: 1024,
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
    pub kind: Option<String>,
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

/// Where a camera's pictures come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
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
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Test => "test",
            SourceKind::V4l2 => "v4l2",
            SourceKind::Libcamera => "libcamera",
            SourceKind::Rtsp => "rtsp",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "test" => SourceKind::Test,
            "v4l2" => SourceKind::V4l2,
            "libcamera" => SourceKind::Libcamera,
            "rtsp" => SourceKind::Rtsp,
            _ => return None,
        })
    }
}

/// When a camera records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordingMode {
    Continuous,
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

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "continuous" => RecordingMode::Continuous,
            "events" => RecordingMode::Events,
            "off" => RecordingMode::Off,
            _ => return None,
        })
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
    pub detection: Option<crate::detect::motion::CameraDetection>,
    #[serde(default = "continuous")]
    pub recording: RecordingMode,
    /// PTZ link, when the camera can pan, tilt and zoom.
    #[serde(default)]
    pub ptz: Option<crate::ptz::link::PtzLink>,
}

fn yes() -> bool {
    true
}

fn continuous() -> RecordingMode {
    RecordingMode::Continuous
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

    /// The configuration used by `pinhole run --demo` before the file and overrides apply:
    /// everything under `./data`, plain HTTP only.
    pub fn demo_defaults() -> toml::Table {
        let mut t = toml::Table::new();
        let mut general = toml::Table::new();
        general.insert("state_dir".into(), toml::Value::String("./data".into()));
        general.insert(
            "device_name".into(),
            toml::Value::String("pinhole-demo".into()),
        );
        t.insert("general".into(), toml::Value::Table(general));
        // Small retention limits: the demo records its two cameras continuously.
        let mut storage = toml::Table::new();
        storage.insert("retention_max_age_days".into(), toml::Value::Float(1.0));
        storage.insert("retention_max_size_gb".into(), toml::Value::Float(0.5));
        storage.insert("min_free_mb".into(), toml::Value::Integer(512));
        t.insert("storage".into(), toml::Value::Table(storage));
        // Face detection on camera1 when the assets are there (scripts/fetch-detect-assets).
        if let Some(model) = demo_asset("models/face_detection_short_range.tflite") {
            let mut d = toml::Table::new();
            d.insert("enabled".into(), toml::Value::Boolean(true));
            d.insert(
                "model".into(),
                toml::Value::String(model.display().to_string()),
            );
            d.insert(
                "cameras".into(),
                toml::Value::Array(vec![toml::Value::String("camera1".into())]),
            );
            t.insert("detection".into(), toml::Value::Table(d));
        }
        t
    }
}

/// A file from `scripts/fetch-detect-assets`, if present ($PINHOLE_ASSETS or
/// ~/.cache/pinhole-assets).
pub fn demo_asset(rel: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("PINHOLE_ASSETS")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/pinhole-assets"))
        })?;
    let p = dir.join(rel);
    p.is_file().then_some(p)
}

/// One problem found in the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The file path, or `environment variable PINHOLE_...`.
    pub origin: String,
    /// Dotted key path (`http.listen`, `cameras[1].fps`).
    pub key: String,
    pub reason: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.origin, self.key, self.reason)
    }
}

/// Every problem found while loading a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub problems: Vec<ConfigProblem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "invalid configuration ({} problem(s)):",
            self.problems.len()
        )?;
        for p in &self.problems {
            writeln!(f, "  {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Where a configuration comes from.
#[derive(Debug, Clone, Default)]
pub struct ConfigSource {
    /// Values applied first (e.g. demo defaults).
    pub base: Option<toml::Table>,
    /// The file; `None` means built-in defaults only.
    pub file: Option<PathBuf>,
    /// Environment variables to consider (normally `std::env::vars()`).
    pub env: Vec<(String, String)>,
}

impl ConfigSource {
    pub fn from_process(file: Option<PathBuf>) -> Self {
        Self {
            base: None,
            file,
            env: std::env::vars().collect(),
        }
    }
}

const ENV_PREFIX: &str = "PINHOLE_";

/// Loads, merges and validates a configuration.
pub fn load(source: &ConfigSource) -> Result<Config, ConfigError> {
    let mut origins = Origins::default();
    let mut root = source.base.clone().unwrap_or_default();
    let mut problems = Vec::new();
    let file_origin = match &source.file {
        Some(p) => p.display().to_string(),
        None => "built-in defaults".to_string(),
    };

    if let Some(path) = &source.file {
        match std::fs::read_to_string(path) {
            Ok(text) => match text.parse::<toml::Table>() {
                Ok(table) => merge(&mut root, table),
                Err(e) => problems.push(ConfigProblem {
                    origin: file_origin.clone(),
                    key: "(syntax)".into(),
                    reason: e.to_string().trim().replace('\n', " "),
                }),
            },
            Err(e) => problems.push(ConfigProblem {
                origin: file_origin.clone(),
                key: "(file)".into(),
                reason: format!("cannot read: {e}"),
            }),
        }
        if !problems.is_empty() {
            return Err(ConfigError { problems });
        }
    }

    for (name, raw) in &source.env {
        let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        if !rest.contains("__") {
            continue;
        }
        let path: Vec<String> = rest.split("__").map(|s| s.to_ascii_lowercase()).collect();
        let key = path.join(".");
        if path.iter().any(|s| s.is_empty()) {
            problems.push(ConfigProblem {
                origin: format!("environment variable {name}"),
                key,
                reason: "empty key segment".into(),
            });
            continue;
        }
        let value = parse_env_value(raw);
        if let Err(reason) = set_path(&mut root, &path, value) {
            problems.push(ConfigProblem {
                origin: format!("environment variable {name}"),
                key,
                reason,
            });
            continue;
        }
        origins.env.insert(key, name.clone());
    }

    let origin_of = |key: &str| origins.origin_of(key, &file_origin);

    let mut value = toml::Value::Table(root);
    let mut config = None;
    // Bounded: each round removes one offending key.
    for _ in 0..64 {
        match serde_path_to_error::deserialize::<_, Config>(value.clone()) {
            Ok(c) => {
                config = Some(c);
                break;
            }
            Err(e) => {
                let mut path = segments(e.path());
                let inner = e.inner().to_string();
                let reason = inner.lines().next().unwrap_or_default().to_string();
                if let Some(field) = unknown_field_name(&reason)
                    && path.last().map(|s| s.as_str()) != Some(field.as_str())
                {
                    path.push(field);
                }
                let key = join_path(&path);
                let removed = remove_path(&mut value, &path);
                problems.push(ConfigProblem {
                    origin: origin_of(&key),
                    key,
                    reason,
                });
                if !removed {
                    break;
                }
            }
        }
    }

    let Some(config) = config else {
        return Err(ConfigError { problems });
    };
    for (key, reason) in validate(&config) {
        problems.push(ConfigProblem {
            origin: origin_of(&key),
            key,
            reason,
        });
    }
    if problems.is_empty() {
        Ok(config)
    } else {
        Err(ConfigError { problems })
    }
}

#[derive(Default)]
struct Origins {
    env: BTreeMap<String, String>,
}

impl Origins {
    fn origin_of(&self, key: &str, file: &str) -> String {
        match self.env.get(key) {
            Some(var) => format!("environment variable {var}"),
            None => file.to_string(),
        }
    }
}

fn parse_env_value(raw: &str) -> toml::Value {
    // `v = <raw>` parses when raw is a TOML literal; anything else is a plain string.
    match format!("v = {raw}").parse::<toml::Table>() {
        Ok(mut t) => match t.remove("v") {
            Some(v) if !matches!(v, toml::Value::Table(_) | toml::Value::Datetime(_)) => v,
            _ => toml::Value::String(raw.to_string()),
        },
        Err(_) => toml::Value::String(raw.to_string()),
    }
}

fn merge(into: &mut toml::Table, from: toml::Table) {
    for (k, v) in from {
        match (into.get_mut(&k), v) {
            (Some(toml::Value::Table(a)), toml::Value::Table(b)) => merge(a, b),
            (_, v) => {
                into.insert(k, v);
            }
        }
    }
}

fn set_path(root: &mut toml::Table, path: &[String], value: toml::Value) -> Result<(), String> {
    let (last, parents) = path.split_last().ok_or("empty key")?;
    let mut table = root;
    for seg in parents {
        let entry = table
            .entry(seg.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        table = match entry {
            toml::Value::Table(t) => t,
            _ => {
                return Err(format!(
                    "`{seg}` is not a section; cannot override inside it"
                ));
            }
        };
    }
    table.insert(last.clone(), value);
    Ok(())
}

fn segments(path: &serde_path_to_error::Path) -> Vec<String> {
    use serde_path_to_error::Segment;
    path.iter()
        .filter_map(|s| match s {
            Segment::Map { key } => Some(key.clone()),
            Segment::Seq { index } => Some(format!("[{index}]")),
            Segment::Enum { variant } => Some(variant.clone()),
            Segment::Unknown => None,
        })
        .collect()
}

fn join_path(path: &[String]) -> String {
    let mut out = String::new();
    for seg in path {
        if !seg.starts_with('[') && !out.is_empty() {
            out.push('.');
        }
        out.push_str(seg);
    }
    if out.is_empty() { "(root)".into() } else { out }
}

fn unknown_field_name(reason: &str) -> Option<String> {
    let rest = reason.strip_prefix("unknown field `")?;
    Some(rest.split('`').next()?.to_string())
}

fn remove_path(value: &mut toml::Value, path: &[String]) -> bool {
    let Some((last, parents)) = path.split_last() else {
        return false;
    };
    let mut cur = value;
    for seg in parents {
        cur = match (cur, seg.strip_prefix('[').and_then(|s| s.strip_suffix(']'))) {
            (toml::Value::Array(a), Some(i)) => {
                match i.parse::<usize>().ok().and_then(|i| a.get_mut(i)) {
                    Some(v) => v,
                    None => return false,
                }
            }
            (toml::Value::Table(t), None) => match t.get_mut(seg) {
                Some(v) => v,
                None => return false,
            },
            _ => return false,
        };
    }
    match (
        cur,
        last.strip_prefix('[').and_then(|s| s.strip_suffix(']')),
    ) {
        (toml::Value::Table(t), None) => t.remove(last).is_some(),
        (toml::Value::Array(a), Some(i)) => match i.parse::<usize>() {
            Ok(i) if i < a.len() => {
                a.remove(i);
                true
            }
            _ => false,
        },
        _ => false,
    }
}

/// Is this a usable camera id? Lowercase letters, digits, `-` and `_`, 1 to 32 characters,
/// starting with a letter: it appears in URLs, file names and RTSP paths.
pub fn valid_camera_id(id: &str) -> bool {
    let mut chars = id.chars();
    matches!(chars.next(), Some('a'..='z'))
        && id.len() <= 32
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '-' | '_'))
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

/// Semantic checks that serde cannot express. Returns (key, reason) pairs.
pub fn validate(c: &Config) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut bad = |k: &str, r: String| out.push((k.to_string(), r));
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
    for (k, r) in c.ota.problems() {
        bad(&k, r);
    }
    let d = &c.detection;
    if d.enabled && d.model.is_none() {
        bad(
            "detection.model",
            "required when detection.enabled = true".into(),
        );
    }
    if let Some(k) = &d.kind
        && crate::detect::model::Kind::parse(k).is_none()
    {
        bad(
            "detection.kind",
            format!("`{k}` is not face, person or coco"),
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
    if let Err(e) = tracing_subscriber::EnvFilter::try_new(&c.log.level) {
        bad("log.level", format!("not a valid filter: {e}"));
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
    for (i, cam) in c.cameras.iter().enumerate() {
        let k = |f: &str| format!("cameras[{i}].{f}");
        if !valid_camera_id(&cam.id) {
            bad(
                &k("id"),
                format!(
                    "`{}` must be 1-32 of a-z 0-9 - _, starting with a letter",
                    cam.id
                ),
            );
        } else if !seen.insert(cam.id.clone()) {
            bad(&k("id"), format!("duplicate camera id `{}`", cam.id));
        }
        if let Some(Err((key, reason))) = cam.ptz.as_ref().map(|p| p.resolve()) {
            bad(&k(&key), reason);
        }
        for (field, reason) in camera_problems(
            cam.source,
            &cam.url,
            cam.width,
            cam.height,
            cam.fps,
            cam.bitrate_kbps,
        ) {
            bad(&k(field), reason);
        }
    }
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
    let ranges: [(&str, u32, std::ops::RangeInclusive<u32>); 11] = [
        ("media.detect_fps", m.detect_fps, 1..=30),
        ("media.detect_width", m.detect_width, 32..=1920),
        (
            "media.keyframe_interval_ms",
            m.keyframe_interval_ms,
            250..=2000,
        ),
        ("media.default_width", m.default_width, 16..=7680),
        ("media.default_height", m.default_height, 16..=4320),
        ("media.default_fps", m.default_fps, 1..=120),
        (
            "media.default_bitrate_kbps",
            m.default_bitrate_kbps,
            64..=100_000,
        ),
        ("media.preview_fps", m.preview_fps, 1..=30),
        ("media.preview_width", m.preview_width, 64..=1920),
        ("media.stall_timeout_secs", m.stall_timeout_secs, 2..=300),
        ("storage.segment_secs", c.storage.segment_secs, 10..=3600),
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
    let policy = crate::media::retention::RetentionPolicy {
        enabled: true,
        max_age_days: c.storage.retention_max_age_days,
        max_size_gb: c.storage.retention_max_size_gb,
        min_free_mb: c.storage.min_free_mb,
    };
    for (k, r) in policy.problems() {
        let key = match k {
            "max_age_days" => "storage.retention_max_age_days",
            "max_size_gb" => "storage.retention_max_size_gb",
            _ => "storage.min_free_mb",
        };
        bad(key, r);
    }
}

pub fn camera_problems(
    source: SourceKind,
    url: &str,
    width: Option<u32>,
    height: Option<u32>,
    fps: Option<u32>,
    bitrate_kbps: Option<u32>,
) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    match source {
        SourceKind::Rtsp => {
            if !(url.starts_with("rtsp://") || url.starts_with("rtsps://")) {
                out.push(("url", format!("`{url}` is not an rtsp:// or rtsps:// URL")));
            }
        }
        SourceKind::V4l2 => {
            if !url.starts_with("/dev/") {
                out.push((
                    "url",
                    format!("`{url}` is not a device path like /dev/video0"),
                ));
            }
        }
        SourceKind::Test | SourceKind::Libcamera => {}
    }
    if let Some(w) = width
        && (!(16..=7680).contains(&w) || w % 2 != 0)
    {
        out.push(("width", format!("{w} must be even and within 16..=7680")));
    }
    if let Some(h) = height
        && (!(16..=4320).contains(&h) || h % 2 != 0)
    {
        out.push(("height", format!("{h} must be even and within 16..=4320")));
    }
    if let Some(f) = fps
        && !(1..=120).contains(&f)
    {
        out.push(("fps", format!("{f} is outside 1..=120")));
    }
    if let Some(b) = bitrate_kbps
        && !(64..=50_000).contains(&b)
    {
        out.push(("bitrate_kbps", format!("{b} is outside 64..=50000")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn load_text(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let mut f = tempfile::NamedTempFile::new().expect("temp file");
        f.write_all(text.as_bytes()).expect("write");
        load(&ConfigSource {
            base: None,
            file: Some(f.path().to_path_buf()),
            env: env
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
        })
    }

    #[test]
    fn shipped_default_file_is_valid() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config/pinhole.toml");
        let c = load(&ConfigSource {
            base: None,
            file: Some(path.into()),
            env: vec![],
        })
        .expect("config/pinhole.toml must load");
        assert_eq!(c.general.state_dir, PathBuf::from("/var/lib/pinhole"));
        assert_eq!(c.tls.mode, TlsMode::SelfSigned);
    }

    #[test]
    fn empty_file_gives_defaults() {
        let c = load_text("", &[]).expect("defaults");
        assert_eq!(c.http.listen.port(), 8002);
        assert_eq!(c.tls.mode, TlsMode::Off);
    }

    #[test]
    fn reports_every_problem_with_origin_and_key() {
        let err = load_text(
            "[http]\nlisten = \"nonsense\"\nlisen = 1\n[auth]\ntoken_ttl_secs = 1\n[bogus]\nx=1\n",
            &[],
        )
        .expect_err("must fail");
        let keys: Vec<_> = err.problems.iter().map(|p| p.key.as_str()).collect();
        assert!(keys.contains(&"http.listen"), "{err}");
        assert!(keys.contains(&"http.lisen"), "{err}");
        assert!(keys.contains(&"bogus"), "{err}");
        assert!(keys.contains(&"auth.token_ttl_secs"), "{err}");
        assert!(
            err.problems
                .iter()
                .all(|p| p.origin.ends_with(".tmp") || p.origin.contains("tmp"))
        );
    }

    #[test]
    fn env_overrides_and_is_named_in_errors() {
        let c = load_text(
            "[http]\nlisten = \"127.0.0.1:1\"\n",
            &[
                ("PINHOLE_HTTP__LISTEN", "127.0.0.1:9999"),
                ("PINHOLE_AUTH__TOKEN_TTL_SECS", "60"),
                ("PINHOLE_ADMIN_PASSWORD", "not config"),
                ("OTHER__THING", "ignored"),
            ],
        )
        .expect("valid");
        assert_eq!(c.http.listen.port(), 9999);
        assert_eq!(c.auth.token_ttl_secs, 60);

        let err = load_text("", &[("PINHOLE_AUTH__TOKEN_TTL_SECS", "soon")]).expect_err("bad");
        assert_eq!(err.problems.len(), 1, "{err}");
        assert_eq!(
            err.problems[0].origin,
            "environment variable PINHOLE_AUTH__TOKEN_TTL_SECS"
        );
        assert_eq!(err.problems[0].key, "auth.token_ttl_secs");
    }

    #[test]
    fn camera_checks() {
        let err = load_text(
            "[[cameras]]\nid = \"Cam 1\"\nsource = \"rtsp\"\nurl = \"http://x\"\nfps = 0\n\
             [[cameras]]\nid = \"b\"\nsource = \"warp\"\n",
            &[],
        )
        .expect_err("bad cameras");
        let keys: Vec<_> = err.problems.iter().map(|p| p.key.clone()).collect();
        assert!(keys.contains(&"cameras[1].source".to_string()), "{err}");
        assert!(keys.contains(&"cameras[0].id".to_string()), "{err}");
        assert!(keys.contains(&"cameras[0].url".to_string()), "{err}");
        assert!(keys.contains(&"cameras[0].fps".to_string()), "{err}");
    }

    #[test]
    fn syntax_error_is_reported() {
        let err = load_text("[http\n", &[]).expect_err("syntax");
        assert_eq!(err.problems[0].key, "(syntax)");
    }

    #[test]
    fn camera_ids() {
        assert!(valid_camera_id("camera0"));
        assert!(valid_camera_id("porch-2"));
        assert!(!valid_camera_id("0cam"));
        assert!(!valid_camera_id("a/b"));
        assert!(!valid_camera_id(""));
    }
}
