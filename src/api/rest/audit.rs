//! `/api/audit`: the audit log, newest first; admins only.

use crate::api::SharedState;
use crate::api::authn::AsAdmin;
use crate::api::error::{ApiError, ErrorBody};
use crate::store::audit::{self, AuditEntry};
use axum::Json;
use axum::extract::{Query, State};
use serde::Deserialize;
use utoipa::IntoParams;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct Page {
    /// Default 50, at most 1000.
    pub limit: Option<u32>,
    pub offset: Option<u32>,
}

/// Audit log entries.
#[utoipa::path(get, path = "/api/audit", tag = "audit", params(Page),
    responses((status = 200, body = Vec<AuditEntry>), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<SharedState>,
    _: AsAdmin,
    Query(page): Query<Page>,
) -> Result<Json<Vec<AuditEntry>>, ApiError> {
    let limit = page.limit.unwrap_or(50).min(1000);
    let offset = page.offset.unwrap_or(0);
    Ok(Json(
        state
            .store
            .call(move |c| audit::list(c, limit, offset))
            .await?,
    ))
}
