//! The web page: a few static files (`web/`) embedded in the binary at build time and served
//! from memory, gzip-compressed once on first use when the browser accepts it. No build step
//! (plain ES modules), no CDN: the page works offline on the local network. Everything the page
//! shows comes from the API, which enforces every permission; the page only hides what a role
//! may not do.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::io::Write;
use std::sync::OnceLock;

struct Asset {
    name: &'static str,
    mime: &'static str,
    body: &'static [u8],
    gzip: OnceLock<Vec<u8>>,
}

macro_rules! asset {
    ($name:literal, $mime:literal) => {
        Asset {
            name: $name,
            mime: $mime,
            body: include_bytes!(concat!("../../web/", $name)),
            gzip: OnceLock::new(),
        }
    };
}

static ASSETS: [Asset; 10] = [
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("app.css", "text/css; charset=utf-8"),
    asset!("app.js", "text/javascript; charset=utf-8"),
    asset!("api.js", "text/javascript; charset=utf-8"),
    asset!("ui.js", "text/javascript; charset=utf-8"),
    asset!("camera.js", "text/javascript; charset=utf-8"),
    asset!("live.js", "text/javascript; charset=utf-8"),
    asset!("archive.js", "text/javascript; charset=utf-8"),
    asset!("settings.js", "text/javascript; charset=utf-8"),
    asset!("broadcast.js", "text/javascript; charset=utf-8"),
];

fn gzip(body: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    // Writing to a Vec cannot fail.
    let _ = e.write_all(body);
    e.finish().unwrap_or_default()
}

/// The page's total size as shipped: (plain bytes, gzip bytes).
pub fn bundle_size() -> (usize, usize) {
    ASSETS.iter().fold((0, 0), |(p, g), a| {
        (
            p + a.body.len(),
            g + a.gzip.get_or_init(|| gzip(a.body)).len(),
        )
    })
}

fn serve(name: &str, headers: &HeaderMap) -> Response {
    let Some(a) = ASSETS.iter().find(|a| a.name == name) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let accepts_gzip = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|e| e.trim().starts_with("gzip")));
    let mut res = if accepts_gzip {
        let body = a.gzip.get_or_init(|| gzip(a.body)).clone();
        let mut r = body.into_response();
        r.headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        r
    } else {
        a.body.into_response()
    };
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(a.mime));
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    // Revalidate every time: an update must never leave an old page talking to a new API.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    res
}

async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

async fn file(Path(name): Path<String>, headers: HeaderMap) -> Response {
    serve(&name, &headers)
}

pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", axum::routing::get(index))
        .route("/ui/{name}", axum::routing::get(file))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_is_served_and_the_bundle_is_small() {
        let mut gz = HeaderMap::new();
        gz.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("gzip, br"),
        );
        for a in &ASSETS {
            let r = serve(a.name, &gz);
            assert_eq!(r.status(), 200, "{}", a.name);
            assert_eq!(r.headers()[header::CONTENT_ENCODING], "gzip");
            let plain = serve(a.name, &HeaderMap::new());
            assert!(plain.headers().get(header::CONTENT_ENCODING).is_none());
        }
        assert_eq!(serve("../Cargo.toml", &gz).status(), 404);
        let (_, compressed) = bundle_size();
        assert!(compressed < 150 * 1024, "{compressed} bytes compressed");
    }

    #[test]
    fn the_page_references_only_embedded_files() {
        let all: String = ASSETS
            .iter()
            .map(|a| String::from_utf8_lossy(a.body).into_owned())
            .collect();
        for needle in ["/ui/", "'./"] {
            for part in all.split(needle).skip(1) {
                let name: String = part
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '_')
                    .collect();
                assert!(
                    ASSETS.iter().any(|a| a.name == name),
                    "`{needle}{name}` is not embedded"
                );
            }
        }
    }
}
