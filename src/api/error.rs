//! Errors of the control plane, by failure class: one type ([`ApiError`]) that every domain error
//! (store, media, PTZ) converts into once, with the one mapping to HTTP statuses and REST bodies
//! (`{"error", "detail", "fields"?}`, [`IntoResponse`]) and the one mapping to JSON-RPC codes
//! ([`RpcError::from`]). Field errors stay data end to end: `fields` names each invalid input so
//! the web page can show the reason next to the field.

use super::ptz_ops::PtzOpError;
use super::rpc::envelope::{self, RpcError};
use crate::media::MediaError;
use crate::store::StoreError;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use pinhole_base::FieldErrors;
use serde::Serialize;
use serde_json::json;
use std::collections::BTreeMap;

#[derive(Debug)]
pub enum ApiError {
    Unauthorized(String),
    Forbidden(String),
    NotFound(String),
    /// The request conflicts with the current state: a name taken, a camera not streaming, a
    /// camera that refused the command. `reason` is the JSON-RPC `data.reason`.
    Conflict {
        reason: &'static str,
        detail: String,
    },
    Invalid {
        detail: String,
        fields: FieldErrors,
    },
    RateLimited {
        retry_after_secs: u64,
    },
    PayloadTooLarge,
    /// Something the appliance depends on failed: a camera's link, GStreamer.
    Dependency {
        reason: &'static str,
        detail: String,
        suggestion: &'static str,
        dependency: Option<&'static str>,
    },
    /// The feature is switched off on this appliance (`media.enabled = false`, say).
    Unavailable(String),
    /// A fault of the appliance (I/O, a damaged database); details go to the log, not the client.
    Internal(String),
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Machine-readable kind: unauthorized, forbidden, not_found, conflict, invalid, rate_limited,
    /// payload_too_large, unavailable, internal.
    pub error: &'static str,
    pub detail: String,
    /// The invalid inputs, by field (`fps`, `ptz.addr`, `cameras[1].url`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, String>,
}

impl ApiError {
    pub fn invalid(detail: impl Into<String>) -> Self {
        ApiError::Invalid {
            detail: detail.into(),
            fields: FieldErrors::new(),
        }
    }

    pub fn field(field: &str, reason: impl Into<String>) -> Self {
        FieldErrors::single(field, reason).into()
    }

    pub fn conflict(detail: impl Into<String>) -> Self {
        ApiError::Conflict {
            reason: "conflict",
            detail: detail.into(),
        }
    }
}

impl From<FieldErrors> for ApiError {
    fn from(fields: FieldErrors) -> Self {
        ApiError::Invalid {
            detail: fields.to_string(),
            fields,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(m) => ApiError::NotFound(m),
            StoreError::Conflict(m) => ApiError::conflict(m),
            StoreError::Invalid(fields) => fields.into(),
            other => {
                tracing::error!(error = %other, "store error");
                ApiError::Internal("database error; see the appliance log".into())
            }
        }
    }
}

impl From<MediaError> for ApiError {
    fn from(e: MediaError) -> Self {
        match e {
            MediaError::NotFound(m) => ApiError::NotFound(format!("{m} not found")),
            MediaError::InvalidState(m) => ApiError::Conflict {
                reason: "invalid_state",
                detail: m,
            },
            MediaError::Invalid(fields) => fields.into(),
            MediaError::Failed(m) => ApiError::Dependency {
                reason: "media_failed",
                detail: m,
                suggestion: "Check the camera's status and the appliance log",
                dependency: Some("gstreamer"),
            },
            MediaError::Store(e) => e.into(),
        }
    }
}

/// An ONVIF device's failure: always the device's, never the appliance's.
impl From<crate::onvif::OnvifError> for ApiError {
    fn from(e: crate::onvif::OnvifError) -> Self {
        use crate::onvif::OnvifError;
        let (reason, suggestion) = match &e {
            e if e.is_not_authorized() => (
                "device_refused_credentials",
                "Check the camera's user name and password",
            ),
            OnvifError::Fault { .. } => ("device_refused", "The camera does not support this"),
            OnvifError::Network(_) => (
                "device_unreachable",
                "Check the address and that the camera is on",
            ),
            OnvifError::Http(_)
            | OnvifError::Xml(_)
            | OnvifError::Missing(_)
            | OnvifError::Invalid { .. } => (
                "device_answer_unusable",
                "The camera's ONVIF service answered something Pinhole cannot use",
            ),
        };
        ApiError::Dependency {
            reason,
            detail: e.to_string(),
            suggestion,
            dependency: Some("onvif"),
        }
    }
}

impl From<PtzOpError> for ApiError {
    fn from(e: PtzOpError) -> Self {
        use crate::ptz::controller::PtzError;
        use crate::ptz::visca::CameraError;
        match e {
            PtzOpError::NoCamera(m) => ApiError::NotFound(m),
            PtzOpError::Invalid(fields) => fields.into(),
            PtzOpError::Store(e) => e.into(),
            PtzOpError::Ptz(e) => {
                let detail = e.to_string();
                match e {
                    PtzError::Camera {
                        error: CameraError::Syntax | CameraError::MessageLength,
                        ..
                    } => ApiError::invalid(detail),
                    PtzError::Camera { .. } | PtzError::Refused { .. } => ApiError::Conflict {
                        reason: "camera_refused",
                        detail,
                    },
                    PtzError::Unsupported(_) => ApiError::Conflict {
                        reason: "not_supported_by_camera",
                        detail,
                    },
                    PtzError::Timeout { .. } | PtzError::LinkDown { .. } => ApiError::Dependency {
                        reason: "camera_unreachable",
                        detail,
                        suggestion: "Check the camera's network or serial link",
                        dependency: Some("camera"),
                    },
                    PtzError::Invalid(_) | PtzError::Stopped => ApiError::Internal(detail),
                }
            }
        }
    }
}

fn fields_map(fields: &FieldErrors) -> BTreeMap<String, String> {
    fields
        .iter()
        .map(|e| (e.field.clone(), e.reason.clone()))
        .collect()
}

/// The JSON-RPC side of the mapping: each failure class has its camera-service code.
impl From<ApiError> for RpcError {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::Unauthorized(d) => RpcError::new(
                envelope::AUTH_FAILED,
                "auth_failed",
                d,
                "Call authenticate with a valid token",
            ),
            ApiError::Forbidden(d) => RpcError::new(
                envelope::PERMISSION_DENIED,
                "permission_denied",
                d,
                "Ask an administrator for a role that allows this",
            ),
            ApiError::NotFound(d) => RpcError::new(envelope::NOT_FOUND, "not_found", d, ""),
            ApiError::Conflict { reason, detail } => {
                RpcError::new(envelope::INVALID_STATE, reason, detail, "")
            }
            ApiError::Invalid { detail, fields } => {
                let e = RpcError::invalid_params(detail);
                if fields.is_empty() {
                    e
                } else {
                    e.with_data("fields", json!(fields_map(&fields)))
                }
            }
            ApiError::RateLimited { retry_after_secs } => RpcError::new(
                envelope::RATE_LIMITED,
                "rate_limited",
                format!("too many attempts; retry in {retry_after_secs} s"),
                "",
            ),
            ApiError::PayloadTooLarge => RpcError::invalid_request("message too large"),
            ApiError::Dependency {
                reason,
                detail,
                suggestion,
                dependency,
            } => {
                let e = RpcError::new(envelope::DEPENDENCY_FAILED, reason, detail, suggestion);
                match dependency {
                    Some(d) => e.with_data("dependency", json!(d)),
                    None => e,
                }
            }
            ApiError::Unavailable(d) => RpcError::new(envelope::UNSUPPORTED, "unsupported", d, ""),
            ApiError::Internal(d) => RpcError::internal(d),
        }
    }
}

/// Domain errors reach JSON-RPC through [`ApiError`], so both protocols agree.
macro_rules! rpc_from_api {
    ($($t:ty),+) => {$(
        impl From<$t> for RpcError {
            fn from(e: $t) -> Self {
                ApiError::from(e).into()
            }
        }
    )+};
}
rpc_from_api!(
    StoreError,
    MediaError,
    PtzOpError,
    FieldErrors,
    crate::onvif::OnvifError
);

/// The ONVIF side of the mapping: the fault Pinhole's ONVIF face answers with.
impl ApiError {
    pub fn onvif_fault(self) -> crate::onvif::server::answer::Fault {
        use crate::onvif::server::answer::Fault;
        match self {
            ApiError::Unauthorized(d) | ApiError::Forbidden(d) => Fault::NotAuthorized(d),
            ApiError::NotFound(d) => Fault::NoToken(d),
            ApiError::Conflict {
                reason: "not_supported_by_camera",
                detail,
            } => Fault::ActionNotSupported(detail),
            ApiError::Invalid { detail, .. } => Fault::InvalidArgs(detail),
            ApiError::RateLimited { retry_after_secs } => {
                Fault::NotAuthorized(format!("too many attempts; retry in {retry_after_secs} s"))
            }
            ApiError::PayloadTooLarge => Fault::InvalidArgs("request body too large".into()),
            ApiError::Conflict { detail, .. }
            | ApiError::Dependency { detail, .. }
            | ApiError::Unavailable(detail) => Fault::Receiver(detail),
            ApiError::Internal(_) => Fault::Receiver("the device failed; see its log".into()),
        }
    }
}

/// The HTTP side of the mapping.
impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let none = BTreeMap::new;
        let (status, error, detail, fields) = match self {
            ApiError::Unauthorized(d) => (StatusCode::UNAUTHORIZED, "unauthorized", d, none()),
            ApiError::Forbidden(d) => (StatusCode::FORBIDDEN, "forbidden", d, none()),
            ApiError::NotFound(d) => (StatusCode::NOT_FOUND, "not_found", d, none()),
            ApiError::Conflict { detail, .. } => (StatusCode::CONFLICT, "conflict", detail, none()),
            ApiError::Invalid { detail, fields } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                detail,
                fields_map(&fields),
            ),
            ApiError::RateLimited { retry_after_secs } => {
                let body = ErrorBody {
                    error: "rate_limited",
                    detail: format!("too many attempts; retry in {retry_after_secs} s"),
                    fields: none(),
                };
                let mut r = (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
                if let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                    r.headers_mut().insert(header::RETRY_AFTER, v);
                }
                return r;
            }
            ApiError::PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "request body too large".into(),
                none(),
            ),
            ApiError::Dependency { detail, .. } | ApiError::Unavailable(detail) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                detail,
                none(),
            ),
            ApiError::Internal(d) => (StatusCode::INTERNAL_SERVER_ERROR, "internal", d, none()),
        };
        let mut r = (
            status,
            axum::Json(ErrorBody {
                error,
                detail,
                fields,
            }),
        )
            .into_response();
        if status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"pinhole\""),
            );
        }
        r
    }
}

/// A deserialisation error with the path of the offending value, as field errors: the field
/// is the path (`source`, `ptz.transport`, `steps[0].dwell_secs`), or none for the whole body.
pub fn deserialize_problem(path: &str, message: String) -> ApiError {
    if path == "." || path.is_empty() {
        ApiError::invalid(message)
    } else {
        ApiError::Invalid {
            detail: format!("{path}: {message}"),
            fields: FieldErrors::single(path, message),
        }
    }
}

/// Turns body-parsing rejections (bad JSON, wrong types, missing fields) into [`ApiError`].
pub fn from_json_rejection(r: axum::extract::rejection::JsonRejection) -> ApiError {
    use axum::extract::rejection::JsonRejection as J;
    match r {
        J::BytesRejection(b) if b.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::PayloadTooLarge
        }
        J::MissingJsonContentType(_) => {
            ApiError::invalid("expected Content-Type: application/json")
        }
        other => ApiError::invalid(other.body_text()),
    }
}

/// JSON body extractor whose rejections use [`ApiError`].
pub struct JsonBody<T>(pub T);

impl<S, T> axum::extract::FromRequest<S> for JsonBody<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|m| {
                let m = m.trim();
                m.eq_ignore_ascii_case("application/json")
                    || (m.starts_with("application/") && m.ends_with("+json"))
            });
        if !is_json {
            return Err(ApiError::invalid("expected Content-Type: application/json"));
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|r| {
                if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge
                } else {
                    ApiError::invalid(r.body_text())
                }
            })?;
        json_from_slice(&bytes).map(JsonBody)
    }
}

/// Parses a JSON request body: text that is not JSON is one error, a value of the wrong type or
/// an unknown key is a field error named by its path.
pub fn json_from_slice<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            ApiError::invalid(format!("not valid JSON: {inner}"))
        } else {
            deserialize_problem(&path, inner.to_string())
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_errors_reach_both_protocols_as_data() {
        let mut fields = FieldErrors::single("fps", "0 is outside 1..=120");
        fields.push("url", "`x` is not an rtsp:// or rtsps:// URL");
        let rpc = RpcError::from(ApiError::from(StoreError::Invalid(fields.clone())));
        assert_eq!(rpc.code, envelope::INVALID_PARAMS);
        let data = rpc.data.expect("data");
        assert_eq!(data["fields"]["fps"], "0 is outside 1..=120");
        let r = ApiError::from(StoreError::Invalid(fields)).into_response();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }

    #[test]
    fn a_real_database_failure_is_a_server_error_in_both_protocols() {
        // The database refuses every write, as a read-only or failing medium does.
        let store = crate::store::Store::open_in_memory().expect("store");
        let fail = || {
            store
                .call_blocking(|c| {
                    c.pragma_update(None, "query_only", true)?;
                    crate::store::presets::delete(c, 1)
                })
                .expect_err("writes fail")
        };
        assert!(matches!(fail(), StoreError::Sqlite(_)), "{}", fail());
        let rpc = RpcError::from(PtzOpError::from(fail()));
        assert_eq!(rpc.code, envelope::INTERNAL_ERROR, "{rpc:?}");
        for e in [
            ApiError::from(fail()),
            ApiError::from(PtzOpError::from(fail())),
        ] {
            let r = e.into_response();
            assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
        }
    }

    #[test]
    fn a_database_fault_is_a_server_error_in_both_protocols() {
        let fault = || StoreError::Io(std::io::Error::other("disk I/O error"));
        let rpc = RpcError::from(fault());
        assert_eq!(rpc.code, envelope::INTERNAL_ERROR);
        let r = ApiError::from(fault()).into_response();
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let ptz = ApiError::from(PtzOpError::Store(fault())).into_response();
        assert_eq!(ptz.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
