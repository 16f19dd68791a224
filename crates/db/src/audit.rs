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
    "stream_key",
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

/// The most a row's `details` may take, as JSON text; longer details keep their first bytes.
pub const MAX_DETAILS_BYTES: usize = 1024;
/// The most the short text columns (actor, client, action) keep.
const MAX_NAME_CHARS: usize = 64;
/// The most `target` and `result` keep.
const MAX_TEXT_CHARS: usize = 256;
/// Rows kept when no budget is configured.
pub const DEFAULT_MAX_ROWS: u32 = 50_000;

/// `s` cut to at most `max` characters, marked with `…` when cut.
fn bounded(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_string(),
        Some((end, _)) => format!("{}…", &s[..end]),
    }
}

/// The stored form of `details`: redacted, and at most [`MAX_DETAILS_BYTES`] of JSON (a longer
/// value becomes `{"truncated_from_bytes": N, "head": "<its first bytes>"}`).
fn stored_details(d: &Value) -> String {
    let text = redact(d).to_string();
    if text.len() <= MAX_DETAILS_BYTES {
        return text;
    }
    let mut end = MAX_DETAILS_BYTES - 128;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    serde_json::json!({"truncated_from_bytes": text.len(), "head": &text[..end]}).to_string()
}

/// Writes a row, every field bounded, then drops the oldest rows beyond `max_rows` (at least
/// 1000), so the log has a size budget whatever is sent to the appliance.
pub fn insert(conn: &Connection, e: &NewAuditEntry, max_rows: u32) -> Result<(), StoreError> {
    let details = e.details.as_ref().map(stored_details);
    let name = |s: &Option<String>| s.as_deref().map(|s| bounded(s, MAX_NAME_CHARS));
    conn.execute(
        "INSERT INTO audit_log (at_ms, actor, client, action, target, details, result)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            e.at_ms,
            name(&e.actor),
            name(&e.client),
            bounded(&e.action, MAX_NAME_CHARS),
            e.target.as_deref().map(|t| bounded(t, MAX_TEXT_CHARS)),
            details,
            bounded(&e.result, MAX_TEXT_CHARS)
        ],
    )?;
    let keep = i64::from(max_rows.max(1000));
    conn.execute(
        "DELETE FROM audit_log WHERE id <= ?1 - ?2",
        params![conn.last_insert_rowid(), keep],
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
                DEFAULT_MAX_ROWS,
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

    #[test]
    fn rows_are_bounded_and_the_log_has_a_budget() {
        let s = Store::open_in_memory().expect("store");
        s.call_blocking(|c| {
            let big = "x".repeat(60_000);
            for i in 0..1500 {
                insert(
                    c,
                    &NewAuditEntry {
                        at_ms: i,
                        actor: Some(big.clone()),
                        client: Some("é".repeat(100)),
                        action: "create_user".into(),
                        target: Some(big.clone()),
                        details: Some(json!({"username": big, "n": i})),
                        result: big.clone(),
                    },
                    10, // below the floor: 1000 kept
                )?;
            }
            let count: i64 = c.query_row("SELECT count(*) FROM audit_log", [], |r| r.get(0))?;
            assert_eq!(count, 1000);
            let bytes: i64 = c.query_row(
                "SELECT max(length(actor) + length(client) + length(action) + length(target)
                        + length(details) + length(result)) FROM audit_log",
                [],
                |r| r.get(0),
            )?;
            assert!(bytes < 1800, "{bytes}");
            let rows = list(c, 1, 0)?;
            assert_eq!(rows[0].at_ms, 1499, "the newest rows stay");
            assert_eq!(
                rows[0]
                    .details
                    .as_ref()
                    .map(|d| d["truncated_from_bytes"].is_u64()),
                Some(true)
            );
            assert_eq!(
                rows[0].client.as_deref().map(|c| c.chars().count()),
                Some(65)
            );
            Ok(())
        })
        .expect("ops");
    }
}
