//! Run-time settings: a small, typed set of keys changed through the API.
//!
//! The config file gives each key's default; a value set through the API is stored here (as JSON)
//! and wins from then on. Keys are declared in [`SETTINGS`] with their validation, so the API,
//! the web page and this store agree on what exists.

use super::StoreError;
use pinhole_base::FieldErrors;
use pinhole_base::config::{Config, valid_device_name, valid_discovery_interval, valid_timezone};
use rusqlite::{Connection, params};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// One declared setting.
pub struct SettingDef {
    pub key: &'static str,
    pub description: &'static str,
    /// The default, from the loaded configuration.
    pub default: fn(&Config) -> Value,
    /// Checks a proposed value.
    pub validate: fn(&Value) -> Result<(), String>,
}

fn string_with(v: &Value, check: fn(&str) -> Result<(), String>) -> Result<(), String> {
    match v.as_str() {
        Some(s) => check(s),
        None => Err("must be a string".into()),
    }
}

fn absolute_path(s: &str) -> Result<(), String> {
    if Path::new(s).is_absolute() && !s.contains('\0') {
        Ok(())
    } else {
        Err(format!("`{s}` must be an absolute path"))
    }
}

pub const SETTINGS: &[SettingDef] = &[
    SettingDef {
        key: "device_name",
        description: "Name shown on the web page and reported by get_server_info",
        default: |c| Value::String(c.general.device_name.clone()),
        validate: |v| string_with(v, valid_device_name),
    },
    SettingDef {
        key: "timezone",
        description: "IANA time zone for display, e.g. Europe/Paris",
        default: |c| Value::String(c.general.timezone.clone()),
        validate: |v| string_with(v, valid_timezone),
    },
    SettingDef {
        key: "recordings_dir",
        description: "Where recordings are written (an SSD mount point, say)",
        default: |c| Value::String(c.recordings_dir().display().to_string()),
        validate: |v| string_with(v, absolute_path),
    },
    SettingDef {
        key: "discovery_interval_secs",
        description: "Probe for ONVIF cameras this often, in seconds (0: only when asked)",
        default: |c| Value::from(c.discovery.interval_secs),
        validate: |v| match v.as_u64() {
            Some(secs) => valid_discovery_interval(secs),
            None => Err("must be a whole number of seconds".into()),
        },
    },
    SettingDef {
        key: "onvif_enabled",
        description: "Pinhole answers as an ONVIF camera (device, media and PTZ services, WS-Discovery)",
        default: |c| Value::Bool(c.onvif.enabled),
        validate: |v| match v {
            Value::Bool(_) => Ok(()),
            _ => Err("must be true or false".into()),
        },
    },
    SettingDef {
        key: "retention_policy",
        description: "Recording retention: {enabled, max_age_days, max_size_gb, min_free_mb}",
        default: |c| {
            serde_json::to_value(pinhole_base::retention::RetentionPolicy {
                enabled: true,
                max_age_days: c.storage.retention_max_age_days,
                max_size_gb: c.storage.retention_max_size_gb,
                min_free_mb: c.storage.min_free_mb,
            })
            .unwrap_or(Value::Null)
        },
        validate: |v| {
            let p: pinhole_base::retention::RetentionPolicy = serde_json::from_value(v.clone())
                .map_err(|e| format!("not a retention policy: {e}"))?;
            match p.problems().iter().next() {
                Some(e) => Err(format!("{} {}", e.field, e.reason)),
                None => Ok(()),
            }
        },
    },
];

pub fn def(key: &str) -> Option<&'static SettingDef> {
    SETTINGS.iter().find(|d| d.key == key)
}

/// Stored overrides only.
pub fn stored(conn: &Connection) -> Result<BTreeMap<String, Value>, StoreError> {
    let mut stmt = conn.prepare("SELECT key, value FROM settings")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    let mut out = BTreeMap::new();
    for row in rows {
        let (k, v) = row?;
        // A value that no longer parses (hand-edited database) falls back to the default.
        if let Ok(v) = serde_json::from_str(&v) {
            out.insert(k, v);
        }
    }
    Ok(out)
}

/// Every declared setting: the stored value, or the config default.
pub fn effective(
    conn: &Connection,
    config: &Config,
) -> Result<BTreeMap<String, Value>, StoreError> {
    let stored = stored(conn)?;
    Ok(SETTINGS
        .iter()
        .map(|d| {
            let v = stored
                .get(d.key)
                .cloned()
                .unwrap_or_else(|| (d.default)(config));
            (d.key.to_string(), v)
        })
        .collect())
}

/// Validates every change first, then writes them all in one transaction.
pub fn update(
    conn: &mut Connection,
    changes: &BTreeMap<String, Value>,
    by: Option<&str>,
    now: i64,
) -> Result<(), StoreError> {
    let mut problems = FieldErrors::new();
    for (k, v) in changes {
        match def(k) {
            None => problems.push(k.as_str(), "unknown setting"),
            Some(d) => {
                if let Err(r) = (d.validate)(v) {
                    problems.push(k.as_str(), r);
                }
            }
        }
    }
    if !problems.is_empty() {
        return Err(problems.into());
    }
    let tx = conn.transaction()?;
    for (k, v) in changes {
        tx.execute(
            "INSERT INTO settings (key, value, updated_at, updated_by) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value,
               updated_at = excluded.updated_at, updated_by = excluded.updated_by",
            params![k, v.to_string(), now, by],
        )?;
    }
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Store;
    use serde_json::json;

    #[test]
    fn defaults_then_overrides_all_or_nothing() {
        let s = Store::open_in_memory().expect("store");
        let cfg = Config::default();
        s.call_blocking(move |c| {
            assert_eq!(effective(c, &cfg)?["device_name"], json!("pinhole"));
            let mut ch = BTreeMap::new();
            ch.insert("device_name".to_string(), json!("porch"));
            ch.insert("timezone".to_string(), json!(42));
            assert!(matches!(
                update(c, &ch, None, 1),
                Err(StoreError::Invalid(_))
            ));
            assert_eq!(effective(c, &cfg)?["device_name"], json!("pinhole"));
            ch.insert("timezone".to_string(), json!("UTC"));
            update(c, &ch, Some("root"), 1)?;
            assert_eq!(effective(c, &cfg)?["device_name"], json!("porch"));
            Ok(())
        })
        .expect("ops");
    }
}
