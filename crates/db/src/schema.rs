//! Numbered schema migrations.
//!
//! `schema_version` holds one row per applied migration. Migration N upgrades version N-1 to N and
//! runs in its own transaction together with its version row, so a crash mid-upgrade leaves the
//! previous version intact. A database newer than this binary understands is refused, untouched.
//! Migrations are append-only: a released one is never edited, only followed by a new one.

use super::StoreError;
use rusqlite::Connection;
use std::path::Path;

/// Version 1: identity, settings and the audit log (the control plane).
const V1: &str = r#"
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    -- Bumped on password or role change: tokens carry it and die with the old value.
    token_generation INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

-- Run-time settings changed through the API; the config file gives the defaults.
CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,           -- JSON
    updated_at INTEGER NOT NULL,
    updated_by TEXT
) STRICT;

CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY,
    at_ms INTEGER NOT NULL,
    actor TEXT,                    -- username, or NULL for anonymous / the system
    client TEXT,                   -- client address, or 'cli'
    action TEXT NOT NULL,          -- method or route
    target TEXT,
    details TEXT,                  -- JSON, secrets removed
    result TEXT NOT NULL           -- 'ok' or the error
) STRICT;
CREATE INDEX audit_log_at ON audit_log (at_ms);
"#;

/// Version 2: cameras and what they produce (media, PTZ, detection).
///
/// Recordings, snapshots and events keep their camera id as plain text rather than a foreign key:
/// deleting a camera must never delete its footage.
const V2: &str = r#"
CREATE TABLE cameras (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    enabled INTEGER NOT NULL DEFAULT 1,
    source_kind TEXT NOT NULL CHECK (source_kind IN ('test', 'v4l2', 'libcamera', 'rtsp')),
    source_url TEXT NOT NULL DEFAULT '',
    username TEXT,
    password_sealed BLOB,          -- XChaCha20-Poly1305 under the device key
    width INTEGER,
    height INTEGER,
    fps INTEGER,
    bitrate_kbps INTEGER,
    recording_mode TEXT NOT NULL DEFAULT 'continuous'
        CHECK (recording_mode IN ('continuous', 'events', 'off')),
    ptz TEXT,                      -- JSON link settings, owned by the PTZ subsystem
    detection TEXT,                -- JSON settings, owned by the detection subsystem
    origin TEXT NOT NULL DEFAULT 'api' CHECK (origin IN ('api', 'config')),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

CREATE TABLE presets (
    id INTEGER PRIMARY KEY,
    camera_id TEXT NOT NULL REFERENCES cameras (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    camera_slot INTEGER,           -- camera-memory preset number, if any
    pan INTEGER,
    tilt INTEGER,
    zoom INTEGER,
    focus INTEGER,
    thumbnail TEXT,
    created_at INTEGER NOT NULL,
    UNIQUE (camera_id, name)
) STRICT;

CREATE TABLE recordings (
    id INTEGER PRIMARY KEY,
    camera_id TEXT NOT NULL,
    filename TEXT NOT NULL UNIQUE,
    start_ms INTEGER NOT NULL,
    end_ms INTEGER,
    size_bytes INTEGER NOT NULL DEFAULT 0,
    format TEXT NOT NULL DEFAULT 'fmp4',
    state TEXT NOT NULL CHECK (state IN ('open', 'complete', 'recovered', 'damaged')),
    trigger TEXT NOT NULL DEFAULT 'continuous'
) STRICT;
CREATE INDEX recordings_camera_start ON recordings (camera_id, start_ms);

CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    camera_id TEXT NOT NULL,
    kind TEXT NOT NULL,            -- 'motion', 'object', ...
    label TEXT,
    score REAL,
    box TEXT,                      -- JSON [x, y, w, h], normalised
    start_ms INTEGER NOT NULL,
    end_ms INTEGER,
    details TEXT
) STRICT;
CREATE INDEX events_camera_start ON events (camera_id, start_ms);

CREATE TABLE snapshots (
    id INTEGER PRIMARY KEY,
    camera_id TEXT NOT NULL,
    filename TEXT NOT NULL UNIQUE,
    taken_ms INTEGER NOT NULL,
    size_bytes INTEGER NOT NULL,
    width INTEGER,
    height INTEGER,
    event_id INTEGER REFERENCES events (id) ON DELETE SET NULL
) STRICT;
CREATE INDEX snapshots_camera_taken ON snapshots (camera_id, taken_ms);
"#;

/// Version 3: PTZ tours (named sequences of presets with dwell times, optionally scheduled).
const V3: &str = r#"
CREATE TABLE tours (
    id INTEGER PRIMARY KEY,
    camera_id TEXT NOT NULL REFERENCES cameras (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    steps TEXT NOT NULL,           -- JSON [{"preset_id": 1, "dwell_secs": 10}, ...]
    repeat INTEGER NOT NULL DEFAULT 1,
    schedule TEXT NOT NULL DEFAULT '[]',  -- JSON ["HH:MM", ...]: daily start times, device time zone
    created_at INTEGER NOT NULL,
    UNIQUE (camera_id, name)
) STRICT;
"#;

/// Version 4: the RTSP Digest secret per user (HA1 = MD5(user:realm:password), sealed with the
/// device key; set whenever the password is set, NULL for accounts that have not set one since).
const V4: &str = r#"
ALTER TABLE users ADD COLUMN rtsp_ha1_sealed BLOB;
"#;

/// Version 5: per-camera keyframe interval.
const V5: &str = r#"
ALTER TABLE cameras ADD COLUMN keyframe_ms INTEGER;
"#;

/// Version 6: tokens revoked before their expiry (logged-out sessions).
const V6: &str = r#"
CREATE TABLE revoked_tokens (
    token_id TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL    -- Unix seconds; the row goes once the token would expire
) STRICT, WITHOUT ROWID;
"#;

/// Version 7: HTTP MJPEG cameras (`source_kind` 'mjpeg'). SQLite cannot change a CHECK in
/// place, so the table is rebuilt (its documented procedure: foreign keys are off while
/// migrations run, and checked before each commits), keeping every row.
const V7: &str = r#"
CREATE TABLE cameras_v7 (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    enabled INTEGER NOT NULL DEFAULT 1,
    source_kind TEXT NOT NULL
        CHECK (source_kind IN ('test', 'v4l2', 'libcamera', 'rtsp', 'mjpeg')),
    source_url TEXT NOT NULL DEFAULT '',
    username TEXT,
    password_sealed BLOB,          -- XChaCha20-Poly1305 under the device key
    width INTEGER,
    height INTEGER,
    fps INTEGER,
    bitrate_kbps INTEGER,
    recording_mode TEXT NOT NULL DEFAULT 'continuous'
        CHECK (recording_mode IN ('continuous', 'events', 'off')),
    ptz TEXT,                      -- JSON link settings, owned by the PTZ subsystem
    detection TEXT,                -- JSON settings, owned by the detection subsystem
    origin TEXT NOT NULL DEFAULT 'api' CHECK (origin IN ('api', 'config')),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    keyframe_ms INTEGER
) STRICT;
INSERT INTO cameras_v7 (id, name, enabled, source_kind, source_url, username, password_sealed,
    width, height, fps, bitrate_kbps, recording_mode, ptz, detection, origin, created_at,
    updated_at, keyframe_ms)
SELECT id, name, enabled, source_kind, source_url, username, password_sealed,
    width, height, fps, bitrate_kbps, recording_mode, ptz, detection, origin, created_at,
    updated_at, keyframe_ms FROM cameras;
DROP TABLE cameras;
ALTER TABLE cameras_v7 RENAME TO cameras;
"#;

/// Version 8: an RTSP camera's sub stream (previews and detection decode it).
const V8: &str = r#"
ALTER TABLE cameras ADD COLUMN sub_url TEXT;
"#;

/// Version 9: going out. Destinations (stream keys sealed like camera passwords), streams and
/// overlays (their specs as JSON, checked by `pinhole_base::broadcast`), overlay images.
const V9: &str = r#"
CREATE TABLE destinations (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    url TEXT NOT NULL,
    stream_key_sealed BLOB,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;
CREATE TABLE streams (
    id TEXT PRIMARY KEY,
    spec TEXT NOT NULL,            -- JSON StreamSpec
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;
CREATE TABLE overlays (
    id TEXT PRIMARY KEY,
    spec TEXT NOT NULL,            -- JSON OverlaySpec
    image BLOB,                    -- checked PNG
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;
"#;

/// Every migration, in order; index + 1 is the version it produces.
/// Version 10: each user's password sealed with the device key, for ONVIF's WS-Security
/// UsernameToken digest (`SHA-1(nonce + created + password)` needs the password itself). Set
/// whenever the password is set, and at the next sign-in for accounts older than this version.
const V10: &str = r#"
ALTER TABLE users ADD COLUMN onvif_password_sealed BLOB;
"#;

/// Version 11: media profiles ONVIF clients made (`CreateProfile`), by token, with the
/// configuration tokens they hold as JSON.
const V11: &str = r#"
CREATE TABLE onvif_profiles (
    token TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    parts TEXT NOT NULL,           -- JSON {"VideoSource": token, ...}
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;
"#;

/// Version 12: each camera's picture adjustments (brightness, contrast, saturation, 0..=100),
/// for the cameras whose picture was changed from the camera's own.
const V12: &str = r#"
CREATE TABLE camera_pictures (
    camera_id TEXT PRIMARY KEY REFERENCES cameras (id) ON DELETE CASCADE,
    brightness INTEGER NOT NULL CHECK (brightness BETWEEN 0 AND 100),
    contrast INTEGER NOT NULL CHECK (contrast BETWEEN 0 AND 100),
    saturation INTEGER NOT NULL CHECK (saturation BETWEEN 0 AND 100),
    updated_at INTEGER NOT NULL
) STRICT;
"#;

/// Version 13: the texts each camera draws on its picture (on-screen display), one JSON list
/// per camera with texts.
const V13: &str = r#"
CREATE TABLE camera_osd (
    camera_id TEXT PRIMARY KEY REFERENCES cameras (id) ON DELETE CASCADE,
    texts TEXT NOT NULL CHECK (json_valid(texts) AND json_type(texts) = 'array'),
    updated_at INTEGER NOT NULL
) STRICT;
"#;

pub const MIGRATIONS: &[&str] = &[V1, V2, V3, V4, V5, V6, V7, V8, V9, V10, V11, V12, V13];

/// The schema version this binary writes.
pub fn latest_version() -> i64 {
    MIGRATIONS.len() as i64
}

/// The version recorded in the database (0 for a new one).
pub fn current_version(conn: &Connection) -> rusqlite::Result<i64> {
    let has_table: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version')",
        [],
        |r| r.get(0),
    )?;
    if !has_table {
        return Ok(0);
    }
    conn.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM schema_version",
        [],
        |r| r.get(0),
    )
}

/// Fails with [`StoreError::NewerSchema`] when the database is newer than this binary.
pub fn check_not_newer(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let current = current_version(conn).map_err(|e| StoreError::classify(path, e))?;
    if current > latest_version() {
        return Err(StoreError::NewerSchema {
            path: path.display().to_string(),
            found: current,
            supported: latest_version(),
            version: pinhole_base::VERSION,
        });
    }
    Ok(())
}

/// Upgrades to the latest version.
pub fn upgrade(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    upgrade_to(conn, path, latest_version())
}

/// Upgrades to `target` (tests use it to build old databases).
pub fn upgrade_to(conn: &mut Connection, path: &Path, target: i64) -> Result<(), StoreError> {
    let classify = |e| StoreError::classify(path, e);
    check_not_newer(conn, path)?;
    let current = current_version(conn).map_err(classify)?;
    if current >= target {
        return Ok(());
    }
    if current > 0 && path != Path::new(":memory:") {
        backup_before_upgrade(conn, path, current)?;
    }
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_version (
             version INTEGER PRIMARY KEY,
             applied_at INTEGER NOT NULL,
             pinhole_version TEXT NOT NULL
         ) STRICT;",
    )
    .map_err(classify)?;
    // A migration may rebuild a table others refer to: with foreign keys on, dropping it would
    // cascade into them. Off for the migrations (it cannot change inside a transaction), each
    // one checked before it commits, and on again whatever happens.
    conn.pragma_update(None, "foreign_keys", "OFF")
        .map_err(classify)?;
    let migrated = migrate(conn, current, target).map_err(classify);
    let restored = conn
        .pragma_update(None, "foreign_keys", "ON")
        .map_err(classify);
    migrated.and(restored)
}

fn migrate(conn: &mut Connection, current: i64, target: i64) -> rusqlite::Result<()> {
    for version in (current + 1)..=target {
        let sql = MIGRATIONS[(version - 1) as usize];
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        let dangling: i64 =
            tx.query_row("SELECT COUNT(*) FROM pragma_foreign_key_check", [], |r| {
                r.get(0)
            })?;
        if dangling > 0 {
            return Err(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY),
                Some(format!(
                    "migration to version {version} would leave {dangling} dangling references"
                )),
            ));
        }
        tx.execute(
            "INSERT INTO schema_version (version, applied_at, pinhole_version) VALUES (?1, strftime('%s','now'), ?2)",
            rusqlite::params![version, pinhole_base::VERSION],
        )?;
        tx.commit()?;
        tracing::info!(version, "database schema upgraded");
    }
    Ok(())
}

fn backup_before_upgrade(conn: &Connection, path: &Path, from: i64) -> Result<(), StoreError> {
    let mut backup = path.with_extension(format!("db.pre-v{}.bak", from + 1));
    let mut n = 1;
    while backup.exists() {
        backup = path.with_extension(format!("db.pre-v{}.{n}.bak", from + 1));
        n += 1;
    }
    let target = backup.to_string_lossy().into_owned();
    conn.execute("VACUUM INTO ?1", [&target])
        .map_err(|e| StoreError::classify(path, e))?;
    tracing::info!(backup = %target, from, "copied the database before upgrading its schema");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Store;

    #[test]
    fn migrates_empty_database_to_latest() {
        let mut conn = Connection::open_in_memory().expect("open");
        upgrade(&mut conn, Path::new(":memory:")).expect("upgrade");
        assert_eq!(current_version(&conn).expect("v"), latest_version());
        for table in [
            "users",
            "cameras",
            "presets",
            "recordings",
            "snapshots",
            "events",
            "audit_log",
            "settings",
            "tours",
        ] {
            let n: i64 = conn
                .query_row(
                    "SELECT COUNT(*) FROM sqlite_master WHERE type='table' AND name=?1",
                    [table],
                    |r| r.get(0),
                )
                .expect("query");
            assert_eq!(n, 1, "table {table}");
        }
        // Idempotent.
        upgrade(&mut conn, Path::new(":memory:")).expect("again");
    }

    #[test]
    fn upgrades_previous_schema_keeping_data_and_a_backup() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("pinhole.db");
        {
            let mut conn = Connection::open(&p).expect("open");
            upgrade_to(&mut conn, &p, 1).expect("v1");
            conn.execute(
                "INSERT INTO users (username, password_hash, role, created_at, updated_at)
                 VALUES ('alice', 'x', 'admin', 1, 1)",
                [],
            )
            .expect("insert");
        }
        let store = Store::open(&p).expect("upgrade to latest");
        let (v, name): (i64, String) = store
            .call_blocking(|c| {
                Ok((
                    current_version(c)?,
                    c.query_row("SELECT username FROM users", [], |r| r.get(0))?,
                ))
            })
            .expect("read");
        assert_eq!(v, latest_version());
        assert_eq!(name, "alice");
        assert!(dir.path().join("pinhole.db.pre-v2.bak").exists());
    }

    #[test]
    fn rebuilding_the_cameras_table_keeps_cameras_and_what_refers_to_them() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("pinhole.db");
        {
            let mut conn = Connection::open(&p).expect("open");
            conn.pragma_update(None, "foreign_keys", "ON").expect("fk");
            upgrade_to(&mut conn, &p, 6).expect("v6");
            conn.execute_batch(
                "INSERT INTO cameras (id, name, source_kind, source_url, username, created_at, updated_at, keyframe_ms, ptz)
                     VALUES ('cam1', 'Gate', 'rtsp', 'rtsp://h/s', 'u', 1, 2, 1500, '{\"transport\":\"serial\"}');
                 INSERT INTO presets (camera_id, name, pan, created_at) VALUES ('cam1', 'door', 10, 1);
                 INSERT INTO tours (camera_id, name, steps, created_at) VALUES ('cam1', 't', '[]', 1);",
            )
            .expect("rows");
            let e = conn.execute(
                "INSERT INTO cameras (id, name, source_kind, created_at, updated_at) VALUES ('m', 'm', 'mjpeg', 1, 1)",
                [],
            );
            assert!(e.is_err(), "v6 refuses mjpeg");
        }
        let store = Store::open(&p).expect("upgrade to latest");
        store
            .call_blocking(|c| {
                let (name, keyframe, ptz): (String, i64, String) = c.query_row(
                    "SELECT name, keyframe_ms, ptz FROM cameras WHERE id = 'cam1'",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )?;
                assert_eq!((name.as_str(), keyframe), ("Gate", 1500));
                assert!(ptz.contains("serial"));
                let kept: i64 = c.query_row(
                    "SELECT (SELECT COUNT(*) FROM presets) + (SELECT COUNT(*) FROM tours)",
                    [],
                    |r| r.get(0),
                )?;
                assert_eq!(kept, 2, "presets and tours survive the rebuild");
                c.execute(
                    "INSERT INTO cameras (id, name, source_kind, created_at, updated_at) VALUES ('m', 'm', 'mjpeg', 1, 1)",
                    [],
                )?;
                let fk: i64 = c.query_row("PRAGMA foreign_keys", [], |r| r.get(0))?;
                assert_eq!(fk, 1, "foreign keys are on again");
                // And they still cascade into the rebuilt table's dependants.
                c.execute("DELETE FROM cameras WHERE id = 'cam1'", [])?;
                let left: i64 =
                    c.query_row("SELECT COUNT(*) FROM presets", [], |r| r.get(0))?;
                assert_eq!(left, 0);
                Ok(())
            })
            .expect("checks");
    }

    #[test]
    fn refuses_newer_schema_untouched() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("pinhole.db");
        {
            let mut conn = Connection::open(&p).expect("open");
            upgrade(&mut conn, &p).expect("latest");
            conn.execute(
                "INSERT INTO schema_version VALUES (?1, 0, 'future')",
                [latest_version() + 1],
            )
            .expect("bump");
        }
        let before = std::fs::read(&p).expect("read");
        let err = Store::open(&p).expect_err("newer");
        assert!(matches!(err, StoreError::NewerSchema { .. }), "{err}");
        assert_eq!(std::fs::read(&p).expect("read"), before);
    }
}
