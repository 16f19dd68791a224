//! Named app presets: absolute pan/tilt/zoom/focus positions stored per camera, recalled with
//! absolute moves (so they work on any camera and survive a camera swap, unlike camera-memory
//! presets).

use super::StoreError;
use pinhole_base::FieldErrors;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Preset {
    pub id: i64,
    pub camera_id: String,
    pub name: String,
    pub pan: i32,
    pub tilt: i32,
    pub zoom: i32,
    pub focus: Option<i32>,
    pub created_at: i64,
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Preset> {
    Ok(Preset {
        id: r.get(0)?,
        camera_id: r.get(1)?,
        name: r.get(2)?,
        pan: r.get::<_, Option<i32>>(3)?.unwrap_or(0),
        tilt: r.get::<_, Option<i32>>(4)?.unwrap_or(0),
        zoom: r.get::<_, Option<i32>>(5)?.unwrap_or(0),
        focus: r.get(6)?,
        created_at: r.get(7)?,
    })
}

const COLUMNS: &str = "id, camera_id, name, pan, tilt, zoom, focus, created_at";

pub fn valid_name(name: &str) -> Result<(), StoreError> {
    if name.trim().is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err(FieldErrors::single("name", "must be 1-64 printable characters").into());
    }
    Ok(())
}

pub fn list(conn: &Connection, camera_id: &str) -> Result<Vec<Preset>, StoreError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM presets WHERE camera_id = ?1 ORDER BY name"
    ))?;
    let rows = stmt.query_map([camera_id], row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn get(conn: &Connection, id: i64) -> Result<Option<Preset>, StoreError> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM presets WHERE id = ?1"),
            [id],
            row,
        )
        .optional()?)
}

/// An absolute camera position in VISCA units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub pan: i32,
    pub tilt: i32,
    pub zoom: i32,
    pub focus: Option<i32>,
}

/// Saves a position under a name; an existing preset of that name on the camera is replaced.
pub fn save(
    conn: &mut Connection,
    camera_id: &str,
    name: &str,
    pos: Position,
    now: i64,
) -> Result<Preset, StoreError> {
    let Position {
        pan,
        tilt,
        zoom,
        focus,
    } = pos;
    valid_name(name)?;
    let tx = conn.transaction()?;
    let exists: bool = tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM cameras WHERE id = ?1)",
        [camera_id],
        |r| r.get(0),
    )?;
    if !exists {
        return Err(StoreError::NotFound(format!("camera `{camera_id}`")));
    }
    tx.execute(
        "INSERT INTO presets (camera_id, name, pan, tilt, zoom, focus, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (camera_id, name) DO UPDATE SET pan = excluded.pan, tilt = excluded.tilt,
           zoom = excluded.zoom, focus = excluded.focus",
        params![camera_id, name, pan, tilt, zoom, focus, now],
    )?;
    let id: i64 = tx.query_row(
        "SELECT id FROM presets WHERE camera_id = ?1 AND name = ?2",
        params![camera_id, name],
        |r| r.get(0),
    )?;
    tx.commit()?;
    get(conn, id)?.ok_or_else(|| StoreError::NotFound(format!("preset {id}")))
}

pub fn rename(conn: &Connection, id: i64, name: &str) -> Result<Preset, StoreError> {
    valid_name(name)?;
    let n = conn
        .execute(
            "UPDATE presets SET name = ?2 WHERE id = ?1",
            params![id, name],
        )
        .map_err(|e| match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::ConstraintViolation) => StoreError::Conflict(format!(
                "a preset named `{name}` already exists on this camera"
            )),
            _ => e.into(),
        })?;
    if n == 0 {
        return Err(StoreError::NotFound(format!("preset {id}")));
    }
    get(conn, id)?.ok_or_else(|| StoreError::NotFound(format!("preset {id}")))
}

pub fn delete(conn: &Connection, id: i64) -> Result<(), StoreError> {
    if conn.execute("DELETE FROM presets WHERE id = ?1", [id])? == 0 {
        return Err(StoreError::NotFound(format!("preset {id}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cameras::{CameraOrigin, SourceKind};
    use crate::secrets::SecretBox;
    use crate::{Store, cameras};

    #[test]
    fn save_replace_rename_delete_and_cascade() {
        let s = Store::open_in_memory().expect("store");
        s.call_blocking(|c| {
            let p = |pan, tilt, zoom, focus| Position {
                pan,
                tilt,
                zoom,
                focus,
            };
            assert!(matches!(
                save(c, "nocam", "door", p(1, 2, 3, None), 1),
                Err(StoreError::NotFound(_))
            ));
            let input = cameras::CameraInput {
                source: Some(SourceKind::Test),
                ..Default::default()
            };
            cameras::create(c, &SecretBox::new(&[0; 32]), &input, CameraOrigin::Api, 1)?;
            let a = save(c, "camera0", "door", p(1, 2, 3, None), 1)?;
            let b = save(c, "camera0", "door", p(10, 20, 30, Some(4)), 2)?;
            assert_eq!(a.id, b.id, "same name replaces");
            assert_eq!((b.pan, b.tilt, b.zoom, b.focus), (10, 20, 30, Some(4)));
            save(c, "camera0", "gate", p(0, 0, 0, None), 3)?;
            assert!(matches!(
                rename(c, a.id, "gate"),
                Err(StoreError::Conflict(_))
            ));
            assert_eq!(rename(c, a.id, "front door")?.name, "front door");
            assert!(matches!(
                save(c, "camera0", "", p(0, 0, 0, None), 3),
                Err(StoreError::Invalid(_))
            ));
            delete(c, a.id)?;
            assert_eq!(list(c, "camera0")?.len(), 1);
            cameras::delete(c, "camera0")?;
            assert!(
                list(c, "camera0")?.is_empty(),
                "presets go with their camera"
            );
            Ok(())
        })
        .expect("ops");
    }
}
