//! The lowest layer of Pinhole: the domain model and its validation, with no I/O.
//!
//! Everything above (the store, media, PTZ, detection, the update agent, the control plane)
//! shares these types, so a camera, its source kind, its recording mode, its PTZ link, its
//! detection settings, a retention policy, a role or an update state is one type everywhere.
//! Validation lives beside each type and returns [`FieldErrors`] as data: the config loader,
//! `check-config`, the store and the API all call the same checks and report the same errors.
//!
//! The crate also holds the few cross-cutting pieces every layer needs: the [`clock`] (real and
//! simulated time), the in-process [`events`] bus and [`password`] hashing.

pub mod broadcast;
pub mod camera;
pub mod clock;
pub mod config;
pub mod detection;
pub mod events;
pub mod field;
pub mod http_auth;
pub mod media_profile;
pub mod osd;
pub mod ota;
pub mod password;
pub mod picture;
pub mod png;
pub mod ptz;
pub mod retention;
pub mod role;

pub use field::{FieldError, FieldErrors};

/// `FromStr` by the wire names serde uses, for the command line and query strings. The error
/// lists the names accepted.
macro_rules! from_wire_name {
    ($($t:ty),+) => {$(
        impl std::str::FromStr for $t {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                serde_json::from_value(serde_json::Value::String(s.to_string()))
                    .map_err(|e| e.to_string())
            }
        }
    )+};
}
from_wire_name!(
    camera::SourceKind,
    camera::RecordingMode,
    detection::ModelKind,
    ptz::PtzTransport,
    ptz::PtzModel,
    role::Role,
    ota::UpdateState
);

/// The version reported by `--version`, `get_server_info`, `/metrics` and the database.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Lower-case hexadecimal of `bytes` (digests in logs, manifests and RTSP Digest).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Is `name` a plain file name (letters, digits, `.`, `_`, `-`; no path, not hidden)? Names of
/// recordings, snapshots and models that clients choose are checked with it before any path is
/// built from them.
pub fn valid_file_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        && !name.contains("..")
}
