//! PTZ over VISCA: the wire format ([`visca`], pure), per-model limits ([`profile`]), transports
//! (serial, Sony VISCA over IP, raw TCP/UDP), the per-camera controller, presets and tours, and a
//! camera simulator (`pinhole visca-sim`) that tests and the demo drive.

pub mod controller;
pub mod link;
pub mod manager;
pub mod profile;
pub mod sim;
pub mod simserver;
pub mod tours;
pub mod visca;
