//! The JSON-RPC methods: one registry, one declaration per method.
//!
//! Each domain file declares its methods once, with name, least role, whether calls are audited,
//! and the handler, whose argument type is the method's parameters (`deny_unknown_fields`
//! structs). [`dispatch`] finds the declaration, checks the role, parses the parameters, runs the
//! handler, and records metrics and the audit row; there is no other list of names to keep in
//! step. Names, parameters, result shapes, roles and error codes follow the camera service
//! (`docs/camera-service.md`) so its clients work unchanged; Pinhole's own methods follow the
//! same style.

use super::Session;
use super::envelope::{self, RpcError};
use crate::api::SharedState;
use crate::auth::Role;
use crate::store::audit::NewAuditEntry;
use futures_util::future::BoxFuture;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use std::sync::LazyLock;

/// Declares a method whose handler is `async fn(&SharedState, &mut Session, Params)`.
macro_rules! method {
    ($name:literal, $role:ident, $audit:ident, $handler:path) => {
        $crate::api::rpc::methods::Method {
            name: $name,
            min_role: $crate::api::rpc::methods::$role,
            audited: $crate::api::rpc::methods::$audit,
            call: |state, session, p| {
                Box::pin(async move {
                    $handler(state, session, $crate::api::rpc::methods::params(p)?).await
                })
            },
        }
    };
}

mod accounts;
mod broadcast;
mod detection;
mod discovery;
mod media;
mod ptz;
mod session;
mod system;

pub const PUBLIC: Option<Role> = None;
pub const VIEWER: Option<Role> = Some(Role::Viewer);
pub const OPERATOR: Option<Role> = Some(Role::Operator);
pub const ADMIN: Option<Role> = Some(Role::Admin);
/// Calls change state and are written to the audit log.
pub const AUDITED: bool = true;
pub const READ: bool = false;

/// A method's implementation: runs with the caller's session and the raw `params`.
pub type Handler = for<'a> fn(
    &'a SharedState,
    &'a mut Session,
    &'a Option<Value>,
) -> BoxFuture<'a, Result<Value, RpcError>>;

/// One method's declaration.
#[derive(Clone, Copy)]
pub struct Method {
    pub name: &'static str,
    /// `None`: callable without authentication.
    pub min_role: Option<Role>,
    /// Changes state: audited.
    pub audited: bool,
    pub call: Handler,
}

impl std::fmt::Debug for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Method")
            .field("name", &self.name)
            .field("min_role", &self.min_role)
            .field("audited", &self.audited)
            .finish()
    }
}

static METHODS: LazyLock<Vec<Method>> = LazyLock::new(|| {
    [
        session::methods(),
        system::methods(),
        media::methods(),
        detection::methods(),
        ptz::methods(),
        accounts::methods(),
        discovery::methods(),
        broadcast::methods(),
    ]
    .concat()
});

/// Every method, grouped by domain.
pub fn all() -> &'static [Method] {
    &METHODS
}

pub fn find(name: &str) -> Option<&'static Method> {
    METHODS.iter().find(|m| m.name == name)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NoParams {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeviceParams {
    device: String,
}

pub(crate) fn auth_error(reason: &str, details: impl Into<String>) -> RpcError {
    RpcError::new(
        envelope::AUTH_FAILED,
        reason,
        details,
        "Authenticate with a valid token (POST /api/auth/login)",
    )
}

/// Checks access, runs the method, records metrics and audit.
pub async fn dispatch(
    state: &SharedState,
    session: &mut Session,
    req: &envelope::Request,
) -> Result<Value, RpcError> {
    let started = std::time::Instant::now();
    let Some(spec) = find(&req.method) else {
        state
            .metrics
            .rpc_call("unknown", "method_not_found", started.elapsed());
        return Err(RpcError::method_not_found(&req.method));
    };
    let outcome = check_and_run(state, session, spec, req).await;
    let label = match &outcome {
        Ok(_) => "ok".to_string(),
        Err(e) => e.code.to_string(),
    };
    state.metrics.rpc_call(spec.name, &label, started.elapsed());
    match audit_as(spec, session, &outcome) {
        AuditAs::Nothing => {}
        AuditAs::Refusal => state.refused(session.client, spec.name),
        how @ (AuditAs::Row | AuditAs::RoleRefusal) => {
            let entry = NewAuditEntry {
                at_ms: state.now_ms(),
                actor: session.principal.as_ref().map(|p| p.username.clone()),
                client: Some(session.client.to_string()),
                action: spec.name.to_string(),
                target: None,
                details: req.params.as_ref().map(audit_details),
                result: match &outcome {
                    Ok(_) => "ok".into(),
                    Err(e) => format!(
                        "error {} {}",
                        e.code,
                        e.data
                            .as_ref()
                            .and_then(|d| d.get("details"))
                            .and_then(Value::as_str)
                            .unwrap_or(&e.message)
                    ),
                },
            };
            if how == AuditAs::RoleRefusal {
                state.audit_role_refusal(entry).await;
            } else {
                state.audit(entry).await;
            }
        }
    }
    outcome
}

#[derive(Debug, PartialEq)]
enum AuditAs {
    Nothing,
    /// Refused before anyone authenticated: counted, not a row each.
    Refusal,
    Row,
    /// Refused by role: a row, at most one a minute per account and method.
    RoleRefusal,
}

/// Which calls the audit log records: every audited call of an authenticated session, and each
/// token actually checked by `authenticate` (those are limited per address). Calls refused
/// because nobody authenticated are only counted (see `api::refusals`).
fn audit_as(spec: &Method, session: &Session, outcome: &Result<Value, RpcError>) -> AuditAs {
    let authenticated = session.principal.is_some();
    match outcome {
        Err(e) if spec.name == "authenticate" && e.code == envelope::AUTH_FAILED => AuditAs::Row,
        Err(_) if !authenticated => AuditAs::Refusal,
        // An account reaching past its role is on record, reads included.
        Err(e) if e.code == envelope::PERMISSION_DENIED => AuditAs::RoleRefusal,
        _ if spec.audited => AuditAs::Row,
        _ => AuditAs::Nothing,
    }
}

/// What the audit row keeps of a call's params: named params (secrets are redacted when the
/// row is written). Methods take only named params, so positional ones are refused and not kept,
/// since a position says nothing of whether it holds a password.
fn audit_details(p: &Value) -> Value {
    match p {
        Value::Object(_) => p.clone(),
        Value::Array(a) => json!({"positional_params": a.len()}),
        _ => json!({"params": "not an object"}),
    }
}

async fn check_and_run(
    state: &SharedState,
    session: &mut Session,
    spec: &Method,
    req: &envelope::Request,
) -> Result<Value, RpcError> {
    if let Some(min) = spec.min_role {
        let Some(p) = session.principal.as_mut() else {
            return Err(auth_error("auth_required", "Authentication required"));
        };
        match state.users.still_valid(p, state.clock.as_ref()) {
            Ok(role) => p.role = role,
            Err(e) => {
                session.principal = None;
                return Err(auth_error("auth_failed", e.to_string()));
            }
        }
        if p.role < min {
            return Err(RpcError::new(
                envelope::PERMISSION_DENIED,
                "insufficient_permissions",
                format!(
                    "{} needs the {min} role; this session is {}",
                    spec.name, p.role
                ),
                "Use an account with a higher role",
            )
            .with_data("required_role", json!(min.as_str()))
            .with_data("have_role", json!(p.role.as_str())));
        }
    }
    let handler = spec.call;
    handler(state, session, &req.params).await
}

/// Parses named params; absent params and `[]` mean "none".
pub fn params<T: DeserializeOwned>(p: &Option<Value>) -> Result<T, RpcError> {
    let v = match p {
        None => Value::Object(Map::new()),
        Some(Value::Array(a)) if a.is_empty() => Value::Object(Map::new()),
        Some(Value::Array(_)) => {
            return Err(RpcError::invalid_params(
                "this method takes named parameters (an object)",
            ));
        }
        Some(v) => v.clone(),
    };
    serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        RpcError::from(crate::api::error::deserialize_problem(
            &path,
            e.into_inner().to_string(),
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn table_has_unique_names_and_core_methods_are_implemented() {
        let mut names = BTreeSet::new();
        for s in all() {
            assert!(names.insert(s.name), "duplicate {}", s.name);
        }
        for required in [
            "ping",
            "authenticate",
            "get_server_info",
            "subscribe_events",
            "get_settings",
            "discover_external_streams",
        ] {
            assert!(find(required).is_some(), "{required}");
        }
        assert!(find("nope").is_none());
        // Only ping and authenticate are public.
        let public: Vec<_> = all()
            .iter()
            .filter(|s| s.min_role.is_none())
            .map(|s| s.name)
            .collect();
        assert_eq!(public, ["ping", "authenticate"]);
    }

    #[test]
    fn params_are_strict() {
        assert!(params::<NoParams>(&None).is_ok());
        assert!(params::<NoParams>(&Some(json!([]))).is_ok());
        assert_eq!(
            params::<NoParams>(&Some(json!({"x": 1})))
                .err()
                .map(|e| e.code),
            Some(-32602)
        );
        assert_eq!(
            params::<NoParams>(&Some(json!([1]))).err().map(|e| e.code),
            Some(-32602)
        );
        let e = params::<DeviceParams>(&Some(json!({"device": 5})))
            .err()
            .expect("type error");
        assert_eq!(e.code, -32602);
        assert!(
            e.data
                .map(|d| d.to_string())
                .unwrap_or_default()
                .contains("device")
        );
    }
}
