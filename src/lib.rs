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
//! - [`discovery`]: finding ONVIF cameras (WS-Discovery), on demand and on a schedule.

pub mod api;
pub mod auth;
pub mod cli;
pub mod cmds;
pub mod config;
pub mod discovery;
pub mod logging;
pub mod supervisor;
pub mod tls;

// The layers below, under the names the application uses for them.
pub use pinhole_base::{VERSION, broadcast, clock, events, hex, http_auth, osd, png};
pub use pinhole_db as store;
pub use pinhole_db::secrets;
pub use pinhole_detect as detect;
pub use pinhole_media as media;
pub use pinhole_onvif as onvif;
pub use pinhole_ota as ota;
pub use pinhole_ptz as ptz;
pub use pinhole_sys as system;
