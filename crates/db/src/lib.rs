//! The appliance's SQLite database.
//!
//! One file (`<state_dir>/pinhole.db`) in WAL mode with foreign keys on and `synchronous=FULL`
//! (a committed user, setting or segment row survives a power cut; the write rate is low enough
//! that the extra fsyncs cost nothing measurable on an SD card). The schema is upgraded by
//! numbered migrations ([`schema`]); before upgrading a database that already holds data, a copy is
//! taken with `VACUUM INTO`, so a failed or unwanted upgrade never loses anything.
//!
//! Async callers go through [`Store::call`], which runs the closure on tokio's blocking pool while
//! holding the connection: database work never stalls the async runtime. A single connection
//! serialises access, which is what SQLite does for writers anyway, and the appliance's read load
//! is small. (The `tokio-rusqlite` crate offers the same with a dedicated thread; this is the few
//! lines it would save, without pinning our rusqlite version to its releases.)

pub mod audit;
pub mod broadcast;
pub mod cameras;
pub mod events;
pub mod onvif_profiles;
pub mod osds;
pub mod pictures;
pub mod presets;
pub mod recordings;
pub mod schema;
pub mod secrets;
pub mod settings;
pub mod snapshots;
pub mod tours;
pub mod users;

pub use pinhole_base::FieldErrors;
use rusqlite::{Connection, OpenFlags};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Errors from the store, each saying what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "{path} is not an SQLite database (its header is wrong); it was left untouched. Move it aside or restore it from backup"
    )]
    NotSqlite { path: String },
    #[error(
        "{path} has schema version {found}, newer than the {supported} this pinhole {version} understands; it was left untouched. Run a newer pinhole or restore a backup"
    )]
    NewerSchema {
        path: String,
        found: i64,
        supported: i64,
        version: &'static str,
    },
    #[error(
        "{path} is damaged ({detail}); it was left untouched. Restore it from backup or from the pre-upgrade copy next to it"
    )]
    Corrupt { path: String, detail: String },
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("conflict: {0}")]
    Conflict(String),
    /// The input is wrong; each problem names its field.
    #[error("invalid: {0}")]
    Invalid(FieldErrors),
    #[error("{what} cannot be opened with this device's key ({detail}); set it again")]
    Sealed { what: String, detail: String },
    /// A value read from or written to the database does not (de)serialise.
    #[error("database value: {0}")]
    Encoding(#[from] serde_json::Error),
    #[error("database task failed: {0}")]
    Task(String),
}

impl From<FieldErrors> for StoreError {
    fn from(e: FieldErrors) -> Self {
        StoreError::Invalid(e)
    }
}

impl StoreError {
    fn classify(path: &Path, e: rusqlite::Error) -> StoreError {
        use rusqlite::ErrorCode;
        match e.sqlite_error_code() {
            Some(ErrorCode::NotADatabase) => StoreError::NotSqlite {
                path: path.display().to_string(),
            },
            Some(ErrorCode::DatabaseCorrupt) => StoreError::Corrupt {
                path: path.display().to_string(),
                detail: e.to_string(),
            },
            _ => StoreError::Sqlite(e),
        }
    }
}

/// A shared handle on the database.
#[derive(Clone, Debug)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
}

const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";

impl Store {
    /// Opens (creating if needed) and upgrades the database. Blocking: call it at start-up or from
    /// `spawn_blocking`.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        check_header(path)?;
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| StoreError::classify(path, e))?;
        let mut conn = conn;
        // Refuse a newer schema before touching anything (even the journal mode).
        schema::check_not_newer(&conn, path)?;
        configure(&conn).map_err(|e| StoreError::classify(path, e))?;
        schema::upgrade(&mut conn, path)?;
        Ok(Store {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// An in-memory database with the current schema; for tests.
    pub fn open_in_memory() -> Result<Store, StoreError> {
        let mut conn = Connection::open_in_memory()?;
        configure(&conn)?;
        schema::upgrade(&mut conn, Path::new(":memory:"))?;
        Ok(Store {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `f` with the connection on the blocking pool.
    pub async fn call<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        F: FnOnce(&mut Connection) -> Result<R, StoreError> + Send + 'static,
        R: Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn
                .lock()
                .map_err(|_| StoreError::Task("connection lock poisoned".into()))?;
            f(&mut guard)
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
    }

    /// Runs `f` with the connection on the current thread; for the CLI and start-up.
    pub fn call_blocking<R>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let mut guard = self
            .conn
            .lock()
            .map_err(|_| StoreError::Task("connection lock poisoned".into()))?;
        f(&mut guard)
    }
}

/// Reads a text column holding an enum's wire name (`rtsp`, `continuous`, ...).
pub(crate) fn wire_enum<T: serde::de::DeserializeOwned>(
    row: &rusqlite::Row<'_>,
    i: usize,
) -> rusqlite::Result<T> {
    let s: String = row.get(i)?;
    serde_json::from_value(serde_json::Value::String(s)).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn check_header(path: &Path) -> Result<(), StoreError> {
    use std::io::Read;
    let mut f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let mut header = [0u8; 16];
    let mut read = 0;
    while read < header.len() {
        match f.read(&mut header[read..])? {
            0 => break,
            n => read += n,
        }
    }
    if read == 0 {
        return Ok(()); // an empty file is a new database
    }
    if read < header.len() || &header != SQLITE_HEADER {
        return Err(StoreError::NotSqlite {
            path: path.display().to_string(),
        });
    }
    Ok(())
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") && !mode.eq_ignore_ascii_case("memory") {
        tracing::warn!(%mode, "SQLite refused WAL mode; continuing in this journal mode");
    }
    conn.pragma_update(None, "synchronous", "FULL")?;
    Ok(())
}

/// A database at the latest schema, with foreign keys on and one test camera `id`.
#[cfg(test)]
pub(crate) fn test_db_with_camera(id: &str) -> Connection {
    let mut conn = Connection::open_in_memory().expect("db");
    schema::upgrade(&mut conn, Path::new(":memory:")).expect("schema");
    conn.execute_batch("PRAGMA foreign_keys = ON;")
        .expect("foreign keys");
    conn.execute(
        "INSERT INTO cameras (id, name, source_kind, created_at, updated_at)
         VALUES (?1, ?1, 'test', 0, 0)",
        [id],
    )
    .expect("camera");
    conn
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_non_sqlite_file_without_touching_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("pinhole.db");
        let junk = b"this is not a database, it is a shopping list\n".repeat(100);
        std::fs::write(&p, &junk).expect("write");
        let err = Store::open(&p).expect_err("must refuse");
        assert!(matches!(err, StoreError::NotSqlite { .. }), "{err}");
        assert_eq!(std::fs::read(&p).expect("read"), junk);
    }

    #[test]
    fn opens_in_wal_with_foreign_keys() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("pinhole.db");
        let s = Store::open(&p).expect("open");
        let (mode, fk): (String, i64) = s
            .call_blocking(|c| {
                Ok((
                    c.query_row("PRAGMA journal_mode", [], |r| r.get(0))?,
                    c.query_row("PRAGMA foreign_keys", [], |r| r.get(0))?,
                ))
            })
            .expect("pragmas");
        assert_eq!(mode, "wal");
        assert_eq!(fk, 1);
    }
}
