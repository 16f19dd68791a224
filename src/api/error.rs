//! REST errors: one type, one JSON shape (`{"error", "detail", "fields"?}`), one place that maps
//! them to status codes. `fields` names each invalid input so the web page can show the reason
//! next to the field.

use crate::store::StoreError;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug)]
pub enum ApiError {
    Unauthorized(String),
    Forbidden(String),
    NotFound(String),
    Conflict(String),
    Invalid {
        detail: String,
        fields: BTreeMap<String, String>,
    },
    RateLimited {
        retry_after_secs: u64,
    },
    PayloadTooLarge,
    Unavailable(String),
    Internal(String),
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Machine-readable kind: unauthorized, forbidden, not_found, conflict, invalid, rate_limited,
    /// payload_too_large, unavailable, internal.
    pub error: &'static str,
    pub detail: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, String>,
}

impl ApiError {
    pub fn invalid(detail: impl Into<String>) -> Self {
        ApiError::Invalid {
            detail: detail.into(),
            fields: BTreeMap::new(),
        }
    }

    pub fn field(field: &str, reason: impl Into<String>) -> Self {
        let reason = reason.into();
        let mut fields = BTreeMap::new();
        fields.insert(field.to_string(), reason.clone());
        ApiError::Invalid {
            detail: format!("{field}: {reason}"),
            fields,
        }
    }
}

/// Splits `"field: reason; other: reason"` (the store's validation messages) into a map.
pub fn field_errors(msg: &str) -> BTreeMap<String, String> {
    msg.split("; ")
        .filter_map(|part| {
            let (f, r) = part.split_once(": ")?;
            (!f.contains(' ')).then(|| (f.to_string(), r.to_string()))
        })
        .collect()
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(m) => ApiError::NotFound(m),
            StoreError::Conflict(m) => ApiError::Conflict(m),
            StoreError::Invalid(m) => ApiError::Invalid {
                fields: field_errors(&m),
                detail: m,
            },
            other => {
                tracing::error!(error = %other, "store error");
                ApiError::Internal("database error; see the appliance log".into())
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, error, detail, fields) = match self {
            ApiError::Unauthorized(d) => {
                (StatusCode::UNAUTHORIZED, "unauthorized", d, BTreeMap::new())
            }
            ApiError::Forbidden(d) => (StatusCode::FORBIDDEN, "forbidden", d, BTreeMap::new()),
            ApiError::NotFound(d) => (StatusCode::NOT_FOUND, "not_found", d, BTreeMap::new()),
            ApiError::Conflict(d) => (StatusCode::CONFLICT, "conflict", d, BTreeMap::new()),
            ApiError::Invalid { detail, fields } => {
                (StatusCode::UNPROCESSABLE_ENTITY, "invalid", detail, fields)
            }
            ApiError::RateLimited { retry_after_secs } => {
                let body = ErrorBody {
                    error: "rate_limited",
                    detail: format!("too many attempts; retry in {retry_after_secs} s"),
                    fields: BTreeMap::new(),
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
                BTreeMap::new(),
            ),
            ApiError::Unavailable(d) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                d,
                BTreeMap::new(),
            ),
            ApiError::Internal(d) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                d,
                BTreeMap::new(),
            ),
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
    axum::Json<T>:
        axum::extract::FromRequest<S, Rejection = axum::extract::rejection::JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(JsonBody(v)),
            Err(r) => Err(from_json_rejection(r)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_field_errors() {
        let f = field_errors("fps: 0 is outside 1..=120; url: `x` is not an rtsp:// URL");
        assert_eq!(f.len(), 2);
        assert_eq!(f["fps"], "0 is outside 1..=120");
        assert!(field_errors("setup is already done: a user exists").is_empty());
    }
}
