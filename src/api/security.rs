//! Response headers that every answer carries.
//!
//! No cross-origin access is granted (no CORS headers): the web page is served by the appliance
//! itself. The Content-Security-Policy allows only the appliance's own scripts, styles and
//! connections; framing is refused (clickjacking of PTZ controls).

use axum::http::{HeaderName, HeaderValue, header};
use tower::ServiceBuilder;
use tower::layer::util::{Identity, Stack};
use tower_http::set_header::SetResponseHeaderLayer;

type H = SetResponseHeaderLayer<HeaderValue>;

pub const CSP: &str = "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; \
    connect-src 'self'; style-src 'self' 'unsafe-inline'; script-src 'self'; object-src 'none'; \
    frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

fn h(name: HeaderName, value: &'static str) -> H {
    SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
}

#[allow(clippy::type_complexity)]
pub fn headers_layer()
-> ServiceBuilder<Stack<H, Stack<H, Stack<H, Stack<H, Stack<H, Stack<H, Stack<H, Identity>>>>>>>> {
    ServiceBuilder::new()
        .layer(h(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(h(header::X_FRAME_OPTIONS, "DENY"))
        .layer(h(header::REFERRER_POLICY, "no-referrer"))
        .layer(h(header::CONTENT_SECURITY_POLICY, CSP))
        .layer(h(
            HeaderName::from_static("permissions-policy"),
            "camera=(), microphone=(), geolocation=()",
        ))
        .layer(h(
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ))
        .layer(h(header::CACHE_CONTROL, "no-store"))
}

/// Marks requests that came over the HTTPS listener (URLs handed back keep the scheme).
#[derive(Debug, Clone, Copy)]
pub struct OverTls;

/// HSTS, added on the HTTPS listener only.
pub fn hsts_layer() -> H {
    h(header::STRICT_TRANSPORT_SECURITY, "max-age=31536000")
}
