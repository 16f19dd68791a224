//! Pinhole: a camera appliance for the Raspberry Pi.
//!
//! One supervisor process owns capture, serving, recording, PTZ, detection and the control plane.
//! The library holds all of it so that the thin `pinhole` binary and the integration tests drive
//! the same code. The data path shows in the module names:
//!
//! - [`config`]: the TOML file plus `PINHOLE_*` overrides, validated up front.
//! - [`store`]: SQLite (WAL, numbered migrations) behind an async-friendly handle.
//! - [`auth`]: password hashing, tokens, roles, login rate limiting.
//! - [`api`]: the HTTP control plane: JSON-RPC 2.0 (WebSocket and POST), REST, health, metrics.
//! - [`supervisor`]: subsystem tasks with restart and backoff, systemd notify and watchdog.
//! - [`events`]: the in-process event bus behind `subscribe_events`.

pub mod api;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod cmds;
pub mod config;
pub mod detect;
pub mod events;
pub mod logging;
pub mod media;
pub mod ota;
pub mod ptz;
pub mod secrets;
pub mod store;
pub mod supervisor;
pub mod system;
pub mod tls;

/// The version reported by `--version`, `get_server_info` and `/metrics`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Lower-case hexadecimal of `bytes` (digests in logs, manifests and RTSP Digest).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
