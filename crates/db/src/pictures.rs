//! Cameras' picture adjustments (schema v12). A camera without a row shows its own picture; a
//! camera's row goes with it.

use super::StoreError;
use pinhole_base::picture::Picture;
use rusqlite::{Connection, OptionalExtension, params};

/// Camera `camera_id`'s picture (neutral where it was never changed).
pub fn get(conn: &Connection, camera_id: &str) -> Result<Picture, StoreError> {
    Ok(conn
        .query_row(
            "SELECT brightness, contrast, saturation FROM camera_pictures WHERE camera_id = ?1",
            [camera_id],
            |r| {
                Ok(Picture {
                    brightness: r.get(0)?,
                    contrast: r.get(1)?,
                    saturation: r.get(2)?,
                })
            },
        )
        .optional()?
        .unwrap_or_default())
}

/// Every camera's changed picture, by camera id.
pub fn all(conn: &Connection) -> Result<Vec<(String, Picture)>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT camera_id, brightness, contrast, saturation FROM camera_pictures ORDER BY camera_id",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            Picture {
                brightness: r.get(1)?,
                contrast: r.get(2)?,
                saturation: r.get(3)?,
            },
        ))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Stores camera `camera_id`'s picture; a neutral one leaves no row.
pub fn put(conn: &Connection, camera_id: &str, p: &Picture, now: i64) -> Result<(), StoreError> {
    if p.is_neutral() {
        conn.execute(
            "DELETE FROM camera_pictures WHERE camera_id = ?1",
            [camera_id],
        )?;
        return Ok(());
    }
    conn.execute(
        "INSERT INTO camera_pictures (camera_id, brightness, contrast, saturation, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (camera_id) DO UPDATE SET brightness = ?2, contrast = ?3, saturation = ?4,
             updated_at = ?5",
        params![camera_id, p.brightness, p.contrast, p.saturation, now],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_a_changed_picture_and_forgets_it_with_its_camera() {
        let conn = crate::test_db_with_camera("porch");
        assert!(get(&conn, "porch").expect("get").is_neutral());
        let bright = Picture {
            brightness: 80,
            ..Picture::default()
        };
        put(&conn, "porch", &bright, 1).expect("put");
        assert_eq!(get(&conn, "porch").expect("get"), bright);
        assert_eq!(
            all(&conn).expect("all"),
            vec![("porch".to_string(), bright)]
        );
        // Out of range is refused by the table itself.
        let wild = Picture {
            contrast: 101,
            ..Picture::default()
        };
        assert!(put(&conn, "porch", &wild, 2).is_err());
        // A picture for a camera that does not exist is refused.
        assert!(put(&conn, "nobody", &bright, 2).is_err());
        conn.execute("DELETE FROM cameras WHERE id = 'porch'", [])
            .expect("delete");
        assert!(all(&conn).expect("all").is_empty());
        // Back to neutral leaves no row.
        conn.execute(
            "INSERT INTO cameras (id, name, source_kind, created_at, updated_at)
             VALUES ('porch', 'Porch', 'test', 0, 0)",
            [],
        )
        .expect("camera");
        put(&conn, "porch", &bright, 3).expect("put");
        put(&conn, "porch", &Picture::default(), 4).expect("neutral");
        assert!(all(&conn).expect("all").is_empty());
    }
}
