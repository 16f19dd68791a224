//! PTZ over VISCA and ONVIF: the VISCA wire format ([`visca`], pure), per-model limits
//! ([`profile`]), transports (serial, Sony VISCA over IP, raw TCP/UDP), the per-camera VISCA
//! controller, ONVIF PTZ ([`onvif`]), the operations both share ([`device`]), presets and tours,
//! and a VISCA camera simulator (`pinhole visca-sim`) that tests and the demo drive.

pub mod controller;
pub mod device;
pub mod link;
pub mod manager;
pub mod onvif;
pub mod profile;
pub mod sim;
pub mod simserver;
pub mod tours;
pub mod visca;
