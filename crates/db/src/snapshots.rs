//! The snapshots index: one row per JPEG in `<snapshots_dir>/<camera_id>/<filename>`.

use super::StoreError;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Snapshot {
    pub id: i64,
    pub camera_id: String,
    /// With its `.jpg` extension, unique.
    pub filename: String,
    pub taken_ms: i64,
    pub size_bytes: i64,
    pub width: Option<i64>,
    pub height: Option<i64>,
    pub event_id: Option<i64>,
}

const COLUMNS: &str = "id, camera_id, filename, taken_ms, size_bytes, width, height, event_id";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Snapshot> {
    Ok(Snapshot {
        id: r.get(0)?,
        camera_id: r.get(1)?,
        filename: r.get(2)?,
        taken_ms: r.get(3)?,
        size_bytes: r.get(4)?,
        width: r.get(5)?,
        height: r.get(6)?,
        event_id: r.get(7)?,
    })
}

#[derive(Debug, Clone)]
pub struct NewSnapshot {
    pub camera_id: String,
    pub filename: String,
    pub taken_ms: i64,
    pub size_bytes: i64,
    pub width: Option<i64>,
    pub height: Option<i64>,
    pub event_id: Option<i64>,
}

pub fn insert(conn: &Connection, s: &NewSnapshot) -> Result<i64, StoreError> {
    conn.execute(
        "INSERT INTO snapshots (camera_id, filename, taken_ms, size_bytes, width, height, event_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            s.camera_id,
            s.filename,
            s.taken_ms,
            s.size_bytes,
            s.width,
            s.height,
            s.event_id
        ],
    )
    .map_err(|e| match e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            StoreError::Conflict(format!("snapshot `{}` already exists", s.filename))
        }
        e => e.into(),
    })?;
    Ok(conn.last_insert_rowid())
}

pub fn get(conn: &Connection, filename: &str) -> Result<Option<Snapshot>, StoreError> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM snapshots WHERE filename = ?1"),
            [filename],
            row,
        )
        .optional()?)
}

/// Newest first, with the total count.
pub fn list(
    conn: &Connection,
    camera_id: Option<&str>,
    limit: u32,
    offset: u32,
) -> Result<(Vec<Snapshot>, u64), StoreError> {
    let total: i64 = conn.query_row(
        "SELECT COUNT(*) FROM snapshots WHERE ?1 IS NULL OR camera_id = ?1",
        [camera_id],
        |r| r.get(0),
    )?;
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM snapshots WHERE ?1 IS NULL OR camera_id = ?1
         ORDER BY taken_ms DESC, id DESC LIMIT ?2 OFFSET ?3"
    ))?;
    let rows = stmt.query_map(params![camera_id, limit, offset], row)?;
    Ok((rows.collect::<Result<_, _>>()?, total.max(0) as u64))
}

pub fn delete(conn: &Connection, filename: &str) -> Result<bool, StoreError> {
    Ok(conn.execute("DELETE FROM snapshots WHERE filename = ?1", [filename])? > 0)
}

/// Snapshots taken before `before_ms`, oldest first, at most `limit`.
pub fn older_than(
    conn: &Connection,
    before_ms: i64,
    limit: u32,
) -> Result<Vec<Snapshot>, StoreError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM snapshots WHERE taken_ms < ?1 ORDER BY taken_ms, id LIMIT ?2"
    ))?;
    let rows = stmt.query_map(params![before_ms, limit], row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn total_size(conn: &Connection) -> Result<u64, StoreError> {
    let n: i64 = conn.query_row(
        "SELECT COALESCE(SUM(size_bytes), 0) FROM snapshots",
        [],
        |r| r.get(0),
    )?;
    Ok(n.max(0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Store;

    #[test]
    fn insert_list_delete() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.db")).unwrap();
        store
            .call_blocking(|c| {
                let s = NewSnapshot {
                    camera_id: "camera0".into(),
                    filename: "camera0_x.jpg".into(),
                    taken_ms: 5,
                    size_bytes: 10,
                    width: Some(640),
                    height: Some(360),
                    event_id: None,
                };
                insert(c, &s)?;
                assert!(matches!(insert(c, &s), Err(StoreError::Conflict(_))));
                assert_eq!(get(c, "camera0_x.jpg")?.unwrap().width, Some(640));
                assert_eq!(list(c, Some("camera0"), 10, 0)?.1, 1);
                assert_eq!(list(c, Some("camera1"), 10, 0)?.1, 0);
                assert_eq!(total_size(c)?, 10);
                assert!(delete(c, "camera0_x.jpg")?);
                Ok(())
            })
            .unwrap();
    }
}
