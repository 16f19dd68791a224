//! The texts each camera draws on its picture (schema v13), as one JSON list per camera in
//! drawing order. A camera without a row draws none; a camera's row goes with it.

use super::StoreError;
use pinhole_base::osd::OsdText;
use rusqlite::{Connection, OptionalExtension, params};

fn read(json: &str) -> Result<Vec<OsdText>, StoreError> {
    Ok(serde_json::from_str(json)?)
}

/// Camera `camera_id`'s texts.
pub fn get(conn: &Connection, camera_id: &str) -> Result<Vec<OsdText>, StoreError> {
    let json: Option<String> = conn
        .query_row(
            "SELECT texts FROM camera_osd WHERE camera_id = ?1",
            [camera_id],
            |r| r.get(0),
        )
        .optional()?;
    json.map_or(Ok(Vec::new()), |j| read(&j))
}

/// Every camera's texts, by camera id (cameras without texts left out).
pub fn all(conn: &Connection) -> Result<Vec<(String, Vec<OsdText>)>, StoreError> {
    let mut stmt = conn.prepare("SELECT camera_id, texts FROM camera_osd ORDER BY camera_id")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    let mut out = Vec::new();
    for row in rows {
        let (id, json) = row?;
        let texts = read(&json)?;
        out.push((id, texts));
    }
    Ok(out)
}

/// Stores camera `camera_id`'s texts; none leaves no row.
pub fn put(
    conn: &Connection,
    camera_id: &str,
    texts: &[OsdText],
    now: i64,
) -> Result<(), StoreError> {
    if texts.is_empty() {
        conn.execute("DELETE FROM camera_osd WHERE camera_id = ?1", [camera_id])?;
        return Ok(());
    }
    let json = serde_json::to_string(texts)?;
    conn.execute(
        "INSERT INTO camera_osd (camera_id, texts, updated_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (camera_id) DO UPDATE SET texts = ?2, updated_at = ?3",
        params![camera_id, json, now],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use pinhole_base::osd::{OsdKind, settle};

    #[test]
    fn keeps_a_cameras_texts_in_order_and_forgets_them_with_it() {
        let conn = crate::test_db_with_camera("porch");
        assert!(get(&conn, "porch").expect("get").is_empty());
        let mut name = OsdText::new(OsdKind::Plain);
        name.text = "Porch".into();
        let texts =
            settle("porch", &[], vec![OsdText::new(OsdKind::DateAndTime), name]).expect("texts");
        put(&conn, "porch", &texts, 1).expect("put");
        assert_eq!(get(&conn, "porch").expect("get"), texts);
        assert_eq!(
            all(&conn).expect("all"),
            vec![("porch".to_string(), texts.clone())]
        );
        assert!(put(&conn, "nobody", &texts, 2).is_err());
        put(&conn, "porch", &[], 3).expect("none");
        assert!(all(&conn).expect("all").is_empty());
        put(&conn, "porch", &texts, 4).expect("put");
        conn.execute("DELETE FROM cameras WHERE id = 'porch'", [])
            .expect("delete");
        assert!(all(&conn).expect("all").is_empty());
    }
}
