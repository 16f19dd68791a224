//! The audit log: who changed what, when, from where, and whether it worked.

use super::StoreError;
use rusqlite::{Connection, params};
use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub id: i64,
    pub at_ms: i64,
    pub actor: Option<String>,
    pub client: Option<String>,
    pub action: String,
    pub target: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub details: Option<Value>,
    pub result: String,
}

/// A row to write.
#[derive(Debug, Clone, Default)]
pub struct NewAuditEntry {
    pub at_ms: i64,
    pub actor: Option<String>,
    pub client: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub details: Option<Value>,
    pub result: String,
}

/// Keys whose values never reach the audit log.
const SECRET_KEYS: &[&str] = &[
    "password",
    "current_password",
    "new_password",
    "auth_token",
    "access_token",
    "token",
    "secret",
];

/// Replaces secret values (at any depth) with `"[redacted]"`.
pub fn redact(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let lower = k.to_ascii_lowercase();
                    if SECRET_KEYS
                        .iter()
                        .any(|s| lower == *s || lower.ends_with("_password"))
                    {
                        (k.clone(), Value::String("[redacted]".into()))
                    } else {
                        (k.clone(), redact(v))
                    }
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(redact).collect()),
        other => other.clone(),
    }
}

pub fn insert(conn: &Connection, e: &NewAuditEntry) -> Result<(), StoreError> {
    let details = e.details.as_ref().map(|d| redact(d).to_string());
    conn.execute(
        "INSERT INTO audit_log (at_ms, actor, client, action, target, details, result)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            e.at_ms, e.actor, e.client, e.action, e.target, details, e.result
        ],
    )?;
    Ok(())
}

/// Newest first.
pub fn list(conn: &Connection, limit: u32, offset: u32) -> Result<Vec<AuditEntry>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT id, at_ms, actor, client, action, target, details, result FROM audit_log
         ORDER BY id DESC LIMIT ?1 OFFSET ?2",
    )?;
    let rows = stmt.query_map(params![limit, offset], |r| {
        let details: Option<String> = r.get(6)?;
        Ok(AuditEntry {
            id: r.get(0)?,
            at_ms: r.get(1)?,
            actor: r.get(2)?,
            client: r.get(3)?,
            action: r.get(4)?,
            target: r.get(5)?,
            details: details.and_then(|d| serde_json::from_str(&d).ok()),
            result: r.get(7)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Deletes rows older than `before_ms`; returns how many.
pub fn prune(conn: &Connection, before_ms: i64) -> Result<usize, StoreError> {
    Ok(conn.execute("DELETE FROM audit_log WHERE at_ms < ?1", [before_ms])?)
}

/// Applies the retention (`storage.audit_retention_days`; 0 keeps everything): deletes rows
/// older than that many days before `now_ms`. Returns how many went.
pub fn apply_retention(conn: &Connection, now_ms: i64, days: u32) -> Result<usize, StoreError> {
    if days == 0 {
        return Ok(0);
    }
    prune(conn, now_ms - i64::from(days) * 86_400_000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Store;
    use serde_json::json;

    #[test]
    fn secrets_never_reach_the_log() {
        let s = Store::open_in_memory().expect("store");
        s.call_blocking(|c| {
            insert(
                c,
                &NewAuditEntry {
                    at_ms: 5,
                    actor: Some("root".into()),
                    action: "create_user".into(),
                    details: Some(json!({"username": "bob", "password": "pw1", "nested": {"rtsp_password": "pw2"}})),
                    result: "ok".into(),
                    ..Default::default()
                },
            )?;
            let rows = list(c, 10, 0)?;
            let text = serde_json::to_string(&rows[0]).unwrap_or_default();
            assert!(!text.contains("pw1") && !text.contains("pw2"), "{text}");
            assert!(text.contains("bob"));
            assert_eq!(prune(c, 6)?, 1);
            Ok(())
        })
        .expect("ops");
    }
}
