//! ONVIF: the SOAP requests Pinhole sends to IP cameras and the parsers of what they answer as
//! pure code (no I/O), so every byte a camera sends is handled by code that unit tests and a
//! fuzz target (`fuzz/fuzz_targets/onvif_xml.rs`) reach; and, apart from it, the HTTP client.
//!
//! Why its own crate: cameras are foreign and often odd (prefixes, SOAP 1.1 or 1.2, fields
//! missing); keeping the protocol apart from HTTP and discovery sockets keeps it testable
//! against captured answers, and lets the client (camera side) and, later, Pinhole's own
//! device face share the envelope and the XML rules.
//!
//! - [`xml`]: parsing with limits (no DTD, bounded size and node count), lookups by local name.
//! - [`soap`]: envelopes, WS-Security UsernameToken (password digest), faults.
//! - [`device`], [`media`], [`ptz`]: request bodies and answer parsers per service.
//! - [`discovery`]: WS-Discovery Probe and ProbeMatches, both ways.
//! - [`server`]: Pinhole's own ONVIF face: requests read, answers and faults written.
//! - `client` (feature `client`, on by default): the HTTP side, which the pure modules stay
//!   apart from.

#[cfg(feature = "client")]
pub mod client;
pub mod device;
pub mod discovery;
pub mod media;
pub mod ptz;
pub mod server;
pub mod soap;
pub mod xml;

/// What went wrong with an ONVIF exchange, as data a camera's status can show.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OnvifError {
    /// Not XML, or XML refused (a DTD, too large, too many nodes).
    #[error("the device answered with bad XML: {0}")]
    Xml(String),
    /// Well-formed, but not the SOAP envelope expected.
    #[error("the device's answer has no {0}")]
    Missing(&'static str),
    /// A field with a value that cannot be used.
    #[error("the device's {field} is not valid: {value:?}")]
    Invalid { field: &'static str, value: String },
    /// The device could not be reached or did not answer in time.
    #[error("{0}")]
    Network(String),
    /// An HTTP error without a SOAP fault to explain it.
    #[error("the device answered HTTP {0}")]
    Http(u16),
    /// The device refused the request.
    #[error("the device refused: {reason} ({code})")]
    Fault {
        /// The most specific fault code given (for example `ter:NotAuthorized`).
        code: String,
        reason: String,
    },
}

impl OnvifError {
    /// A fault (or HTTP 401) that means the credentials were refused.
    pub fn is_not_authorized(&self) -> bool {
        match self {
            OnvifError::Http(401) => true,
            OnvifError::Fault { code, reason } => {
                let c = code.to_ascii_lowercase();
                c.ends_with("notauthorized")
                    || c.ends_with("failedauthentication")
                    || reason.to_ascii_lowercase().contains("not authorized")
            }
            _ => false,
        }
    }
}
