//! The recordings index: one row per segment file, inserted when the file is opened (`open`) and
//! finalised when it is closed (`complete`). After a crash, the media engine's `recorder::reconcile`
//! turns leftover `open` rows into `recovered` (with their real duration) or removes them.
//!
//! A segment's file is `<recordings_dir>/<camera_id>/<filename>.<ext>`; `filename` (without
//! extension, as the camera service names recordings) is unique.

use super::StoreError;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Recording {
    pub id: i64,
    pub camera_id: String,
    pub filename: String,
    pub start_ms: i64,
    pub end_ms: Option<i64>,
    pub size_bytes: i64,
    /// fmp4, mp4 or mkv.
    pub format: String,
    /// open, complete, recovered or damaged.
    pub state: String,
    /// continuous, manual or event.
    pub trigger: String,
}

impl Recording {
    pub fn extension(&self) -> &'static str {
        extension(&self.format)
    }

    /// The file name on disk and in download URLs.
    pub fn file_name(&self) -> String {
        format!("{}.{}", self.filename, self.extension())
    }

    pub fn duration_ms(&self) -> Option<i64> {
        self.end_ms.map(|e| (e - self.start_ms).max(0))
    }
}

/// A recording's name without the extension a client may have added (`camera0_x.mp4`).
pub fn stem(name: &str) -> &str {
    name.strip_suffix(".mp4")
        .or_else(|| name.strip_suffix(".mkv"))
        .or_else(|| name.strip_suffix(".fmp4"))
        .unwrap_or(name)
}

pub fn extension(format: &str) -> &'static str {
    match format {
        "mkv" => "mkv",
        _ => "mp4",
    }
}

const COLUMNS: &str =
    "id, camera_id, filename, start_ms, end_ms, size_bytes, format, state, trigger";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Recording> {
    Ok(Recording {
        id: r.get(0)?,
        camera_id: r.get(1)?,
        filename: r.get(2)?,
        start_ms: r.get(3)?,
        end_ms: r.get(4)?,
        size_bytes: r.get(5)?,
        format: r.get(6)?,
        state: r.get(7)?,
        trigger: r.get(8)?,
    })
}

pub fn filename_taken(conn: &Connection, filename: &str) -> Result<bool, StoreError> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM recordings WHERE filename = ?1",
            [filename],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

pub fn insert_open(
    conn: &Connection,
    camera_id: &str,
    filename: &str,
    start_ms: i64,
    format: &str,
    trigger: &str,
) -> Result<i64, StoreError> {
    conn.execute(
        "INSERT INTO recordings (camera_id, filename, start_ms, format, state, trigger)
         VALUES (?1, ?2, ?3, ?4, 'open', ?5)",
        params![camera_id, filename, start_ms, format, trigger],
    )?;
    Ok(conn.last_insert_rowid())
}

pub fn finish(
    conn: &Connection,
    id: i64,
    end_ms: i64,
    size_bytes: i64,
    state: &str,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE recordings SET end_ms = ?2, size_bytes = ?3, state = ?4 WHERE id = ?1",
        params![id, end_ms, size_bytes, state],
    )?;
    Ok(())
}

/// Updates the size of a segment that is still being written (for storage figures).
pub fn set_size(conn: &Connection, id: i64, size_bytes: i64) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE recordings SET size_bytes = ?2 WHERE id = ?1",
        params![id, size_bytes],
    )?;
    Ok(())
}

pub fn get(conn: &Connection, filename: &str) -> Result<Option<Recording>, StoreError> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM recordings WHERE filename = ?1"),
            [filename],
            row,
        )
        .optional()?)
}

pub fn get_by_id(conn: &Connection, id: i64) -> Result<Option<Recording>, StoreError> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM recordings WHERE id = ?1"),
            [id],
            row,
        )
        .optional()?)
}

/// Filters for listing.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub camera_id: Option<String>,
    /// Segments overlapping [from_ms, to_ms).
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
}

/// Newest first, with the total count.
pub fn list(
    conn: &Connection,
    f: &Filter,
    limit: u32,
    offset: u32,
) -> Result<(Vec<Recording>, u64), StoreError> {
    let cond = "(?1 IS NULL OR camera_id = ?1) AND (?2 IS NULL OR COALESCE(end_ms, 9223372036854775807) >= ?2)
                AND (?3 IS NULL OR start_ms < ?3)";
    let total: i64 = conn.query_row(
        &format!("SELECT COUNT(*) FROM recordings WHERE {cond}"),
        params![f.camera_id, f.from_ms, f.to_ms],
        |r| r.get(0),
    )?;
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM recordings WHERE {cond} ORDER BY start_ms DESC, id DESC LIMIT ?4 OFFSET ?5"
    ))?;
    let rows = stmt.query_map(params![f.camera_id, f.from_ms, f.to_ms, limit, offset], row)?;
    Ok((rows.collect::<Result<_, _>>()?, total.max(0) as u64))
}

/// Every segment, oldest first (for retention and reconciliation).
pub fn all_oldest_first(conn: &Connection) -> Result<Vec<Recording>, StoreError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM recordings ORDER BY start_ms, id"
    ))?;
    let rows = stmt.query_map([], row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn delete(conn: &Connection, id: i64) -> Result<bool, StoreError> {
    Ok(conn.execute("DELETE FROM recordings WHERE id = ?1", [id])? > 0)
}

/// Total bytes of all segments.
pub fn total_size(conn: &Connection) -> Result<u64, StoreError> {
    let n: i64 = conn.query_row(
        "SELECT COALESCE(SUM(size_bytes), 0) FROM recordings",
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
    fn lifecycle_and_listing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.db")).unwrap();
        store
            .call_blocking(|c| {
                let a = insert_open(c, "camera0", "camera0_a", 1000, "fmp4", "continuous")?;
                let b = insert_open(c, "camera1", "camera1_b", 2000, "mkv", "manual")?;
                assert!(filename_taken(c, "camera0_a")?);
                assert!(!filename_taken(c, "nope")?);
                finish(c, a, 61_000, 1234, "complete")?;
                let r = get(c, "camera0_a")?.unwrap();
                assert_eq!(r.duration_ms(), Some(60_000));
                assert_eq!(r.file_name(), "camera0_a.mp4");
                assert_eq!(get_by_id(c, b)?.unwrap().file_name(), "camera1_b.mkv");
                let (page, total) = list(c, &Filter::default(), 1, 0)?;
                assert_eq!((page.len(), total), (1, 2));
                assert_eq!(page[0].filename, "camera1_b", "newest first");
                let f = Filter {
                    camera_id: Some("camera0".into()),
                    ..Default::default()
                };
                assert_eq!(list(c, &f, 10, 0)?.1, 1);
                let f = Filter {
                    from_ms: Some(62_000),
                    ..Default::default()
                };
                // camera0_a ended at 61 s; camera1_b is still open.
                assert_eq!(list(c, &f, 10, 0)?.0[0].filename, "camera1_b");
                assert_eq!(total_size(c)?, 1234);
                assert!(delete(c, a)?);
                assert!(!delete(c, a)?);
                assert_eq!(all_oldest_first(c)?.len(), 1);
                Ok(())
            })
            .unwrap();
    }
}
