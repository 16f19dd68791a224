//! The REST routes, registered through `utoipa-axum` so the router and the OpenAPI document at
//! `/api/openapi.json` come from the same declarations and cannot drift apart.

use super::SharedState;
use super::rest::{audit, auth, broadcast, cameras, media, ptz, settings, status, users};
use axum::Json;
use axum::response::IntoResponse;
use std::sync::OnceLock;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Pinhole",
        description = "Camera appliance control plane. JSON-RPC 2.0 is served at /ws (WebSocket) and /rpc (POST); this document covers the REST routes.",
        license(name = "Apache-2.0")
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Login, sessions, first-run setup"),
        (name = "users", description = "Accounts (admin)"),
        (name = "cameras", description = "Camera definitions"),
        (name = "ptz", description = "Pan, tilt, zoom over VISCA"),
        (name = "status", description = "Machine and service status"),
        (name = "settings", description = "Run-time settings"),
        (name = "audit", description = "Audit log (admin)"),
        (name = "broadcast", description = "Destinations, streams to live platforms, overlays"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// Every REST route, with its documentation.
pub fn api_router() -> OpenApiRouter<SharedState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(auth::login))
        .routes(routes!(auth::create_session, auth::delete_session))
        .routes(routes!(auth::setup_status, auth::setup))
        .routes(routes!(auth::me))
        .routes(routes!(auth::change_password))
        .routes(routes!(users::list, users::create))
        .routes(routes!(users::update, users::delete))
        .routes(routes!(cameras::list, cameras::create))
        .routes(routes!(cameras::get, cameras::update, cameras::delete))
        .routes(routes!(cameras::picture, cameras::set_picture))
        .routes(routes!(cameras::osd, cameras::set_osd))
        .routes(routes!(ptz::continuous))
        .routes(routes!(ptz::stop))
        .routes(routes!(ptz::absolute))
        .routes(routes!(ptz::status))
        .routes(routes!(ptz::list_presets, ptz::save_preset))
        .routes(routes!(ptz::move_to_preset))
        .routes(routes!(ptz::rename_preset, ptz::delete_preset))
        .routes(routes!(media::devices))
        .routes(routes!(media::list_events))
        .routes(routes!(media::get_event))
        .routes(routes!(media::streams))
        .routes(routes!(media::stream))
        .routes(routes!(media::take_snapshot))
        .routes(routes!(media::start_recording))
        .routes(routes!(media::stop_recording))
        .routes(routes!(media::list_recordings))
        .routes(routes!(media::delete_recording))
        .routes(routes!(media::list_snapshots))
        .routes(routes!(media::delete_snapshot))
        .routes(routes!(status::system))
        .routes(routes!(status::system_info))
        .routes(routes!(status::cameras))
        .routes(routes!(status::health))
        .routes(routes!(settings::get, settings::put))
        .routes(routes!(audit::list))
        .routes(routes!(
            broadcast::list_destinations,
            broadcast::create_destination
        ))
        .routes(routes!(
            broadcast::get_destination,
            broadcast::update_destination,
            broadcast::delete_destination
        ))
        .routes(routes!(broadcast::list_streams, broadcast::create_stream))
        .routes(routes!(
            broadcast::get_stream,
            broadcast::put_stream,
            broadcast::delete_stream
        ))
        .routes(routes!(broadcast::start_stream))
        .routes(routes!(broadcast::stop_stream))
        .routes(routes!(broadcast::stream_preview))
        .routes(routes!(broadcast::program_cue))
        .routes(routes!(broadcast::list_overlays, broadcast::create_overlay))
        .routes(routes!(
            broadcast::get_overlay,
            broadcast::put_overlay,
            broadcast::delete_overlay
        ))
        .routes(routes!(broadcast::put_overlay_value))
        .routes(routes!(
            broadcast::put_overlay_image,
            broadcast::get_overlay_image
        ))
        .route("/api/openapi.json", axum::routing::get(serve))
}

/// The OpenAPI document.
pub fn document() -> utoipa::openapi::OpenApi {
    api_router().split_for_parts().1
}

async fn serve() -> impl IntoResponse {
    static DOC: OnceLock<serde_json::Value> = OnceLock::new();
    Json(
        DOC.get_or_init(|| serde_json::to_value(document()).unwrap_or_default())
            .clone(),
    )
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    match (k.as_str(), v) {
                        ("$ref", Value::String(r)) => out.push(r),
                        _ => refs(v, out),
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }

    #[test]
    fn every_schema_a_body_refers_to_is_in_the_document() {
        let doc = serde_json::to_value(super::document()).expect("document");
        let mut found = Vec::new();
        refs(&doc, &mut found);
        assert!(found.iter().any(|r| r.ends_with("/RecordingPage")));
        for r in found {
            let name = r.trim_start_matches("#/components/schemas/");
            assert!(
                doc["components"]["schemas"][name].is_object(),
                "{r} is not described"
            );
        }
    }
}
