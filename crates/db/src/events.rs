//! Detection and motion events: one row per object appearance, opened when first seen, its best
//! score and box kept up to date, closed when the object is gone.

use super::StoreError;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Event {
    pub id: i64,
    pub camera_id: String,
    /// object or motion.
    pub kind: String,
    pub label: Option<String>,
    pub score: Option<f64>,
    /// Normalised [x, y, w, h] of the best sighting.
    #[serde(rename = "box")]
    pub bbox: Option<Vec<f64>>,
    pub start_ms: i64,
    pub end_ms: Option<i64>,
    /// The event's snapshot file name, if one was taken.
    pub snapshot: Option<String>,
}

const COLUMNS: &str = "e.id, e.camera_id, e.kind, e.label, e.score, e.box, e.start_ms, e.end_ms,
    (SELECT s.filename FROM snapshots s WHERE s.event_id = e.id ORDER BY s.id LIMIT 1)";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Event> {
    Ok(Event {
        id: r.get(0)?,
        camera_id: r.get(1)?,
        kind: r.get(2)?,
        label: r.get(3)?,
        score: r.get(4)?,
        bbox: r
            .get::<_, Option<String>>(5)?
            .and_then(|j| serde_json::from_str(&j).ok()),
        start_ms: r.get(6)?,
        end_ms: r.get(7)?,
        snapshot: r.get(8)?,
    })
}

pub fn insert(
    conn: &Connection,
    camera_id: &str,
    kind: &str,
    label: &str,
    score: f32,
    bbox: [f32; 4],
    start_ms: i64,
) -> Result<i64, StoreError> {
    conn.execute(
        "INSERT INTO events (camera_id, kind, label, score, box, start_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![camera_id, kind, label, f64::from(score), serde_json::json!(bbox).to_string(), start_ms],
    )?;
    Ok(conn.last_insert_rowid())
}

pub fn improve(conn: &Connection, id: i64, score: f32, bbox: [f32; 4]) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE events SET score = ?2, box = ?3 WHERE id = ?1",
        params![id, f64::from(score), serde_json::json!(bbox).to_string()],
    )?;
    Ok(())
}

pub fn finish(conn: &Connection, id: i64, end_ms: i64) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE events SET end_ms = ?2 WHERE id = ?1",
        params![id, end_ms],
    )?;
    Ok(())
}

/// Events left open by a crash end when they were last known to be alive (their start).
pub fn close_dangling(conn: &Connection) -> Result<usize, StoreError> {
    Ok(conn.execute(
        "UPDATE events SET end_ms = start_ms WHERE end_ms IS NULL",
        [],
    )?)
}

/// An event still open: (id, camera, kind, label).
pub type OpenEvent = (i64, String, String, Option<String>);

/// The events not ended yet, oldest first.
pub fn open(conn: &Connection) -> Result<Vec<OpenEvent>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT id, camera_id, kind, label FROM events WHERE end_ms IS NULL ORDER BY id",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub camera_id: Option<String>,
    pub label: Option<String>,
    pub kind: Option<String>,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
}

/// Newest first, with the total count.
pub fn list(
    conn: &Connection,
    f: &Filter,
    limit: u32,
    offset: u32,
) -> Result<(Vec<Event>, u64), StoreError> {
    let cond = "(?1 IS NULL OR e.camera_id = ?1) AND (?2 IS NULL OR e.label = ?2) AND (?3 IS NULL OR e.kind = ?3)
        AND (?4 IS NULL OR COALESCE(e.end_ms, 9223372036854775807) >= ?4) AND (?5 IS NULL OR e.start_ms < ?5)";
    let p = params![f.camera_id, f.label, f.kind, f.from_ms, f.to_ms];
    let total: i64 = conn.query_row(
        &format!("SELECT COUNT(*) FROM events e WHERE {cond}"),
        p,
        |r| r.get(0),
    )?;
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM events e WHERE {cond} ORDER BY e.start_ms DESC, e.id DESC LIMIT ?6 OFFSET ?7"
    ))?;
    let rows = stmt.query_map(
        params![
            f.camera_id,
            f.label,
            f.kind,
            f.from_ms,
            f.to_ms,
            limit,
            offset
        ],
        row,
    )?;
    Ok((rows.collect::<Result<_, _>>()?, total.max(0) as u64))
}

pub fn get(conn: &Connection, id: i64) -> Result<Option<Event>, StoreError> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM events e WHERE e.id = ?1"),
            [id],
            row,
        )
        .optional()?)
}

pub fn delete(conn: &Connection, id: i64) -> Result<bool, StoreError> {
    Ok(conn.execute("DELETE FROM events WHERE id = ?1", [id])? > 0)
}

/// Deletes events that ended before `before_ms`; returns how many.
pub fn prune(conn: &Connection, before_ms: i64) -> Result<usize, StoreError> {
    Ok(conn.execute(
        "DELETE FROM events WHERE end_ms IS NOT NULL AND end_ms < ?1",
        [before_ms],
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Store;

    #[test]
    fn lifecycle() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.db")).unwrap();
        store
            .call_blocking(|c| {
                let id = insert(
                    c,
                    "camera0",
                    "object",
                    "face",
                    0.8,
                    [0.1, 0.1, 0.2, 0.2],
                    1000,
                )?;
                improve(c, id, 0.9, [0.1, 0.1, 0.3, 0.3])?;
                let e = get(c, id)?.unwrap();
                assert_eq!(e.score, Some(0.8999999761581421));
                assert_eq!(e.end_ms, None);
                let f = Filter {
                    label: Some("face".into()),
                    ..Default::default()
                };
                assert_eq!(list(c, &f, 10, 0)?.1, 1);
                let f = Filter {
                    label: Some("person".into()),
                    ..Default::default()
                };
                assert_eq!(list(c, &f, 10, 0)?.1, 0);
                assert_eq!(
                    open(c)?,
                    [(id, "camera0".into(), "object".into(), Some("face".into()))]
                );
                assert_eq!(close_dangling(c)?, 1);
                assert!(open(c)?.is_empty());
                finish(c, id, 5000)?;
                assert_eq!(prune(c, 4000)?, 0);
                assert_eq!(prune(c, 6000)?, 1);
                assert!(!delete(c, id)?);
                Ok(())
            })
            .unwrap();
    }
}
