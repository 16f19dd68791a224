//! REST routes under `/api`, in the style of the VistterStream design (`/api/auth`,
//! `/api/cameras`, `/api/status`) plus users, settings and the audit log. Each handler is small:
//! it declares its least role with an extractor and leaves validation to the store and
//! [`crate::api::accounts`].

pub mod audit;
pub mod auth;
pub mod broadcast;
pub mod cameras;
pub mod media;
pub mod ptz;
pub mod settings;
pub mod status;
pub mod users;
