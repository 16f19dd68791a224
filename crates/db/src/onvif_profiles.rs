//! Media profiles that ONVIF clients made (schema v11), kept across restarts. Pinhole's own
//! profiles are not stored: they follow the cameras. What a profile may hold is the ONVIF
//! face's business; this keeps what it was given.

use super::StoreError;
pub use pinhole_base::media_profile::MadeProfile;
use rusqlite::{Connection, params};

/// Every made profile, oldest first.
pub fn list(conn: &Connection) -> Result<Vec<MadeProfile>, StoreError> {
    let mut stmt =
        conn.prepare("SELECT token, name, parts FROM onvif_profiles ORDER BY created_at, token")?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (token, name, parts) = row?;
        // A row this binary cannot read (written by a newer one) is left out, not fatal.
        match serde_json::from_str(&parts) {
            Ok(parts) => out.push(MadeProfile { token, name, parts }),
            Err(e) => tracing::warn!(%token, error = %e, "unreadable ONVIF profile left out"),
        }
    }
    Ok(out)
}

/// Stores `p` whole, new or changed.
pub fn put(conn: &Connection, p: &MadeProfile, now: i64) -> Result<(), StoreError> {
    p.validate()?;
    let parts = serde_json::to_string(&p.parts)
        .map_err(|e| StoreError::Conflict(format!("profile parts: {e}")))?;
    conn.execute(
        "INSERT INTO onvif_profiles (token, name, parts, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?4)
         ON CONFLICT (token) DO UPDATE SET name = ?2, parts = ?3, updated_at = ?4",
        params![p.token, p.name, parts, now],
    )?;
    Ok(())
}

/// Deletes profile `token`; whether there was one.
pub fn delete(conn: &Connection, token: &str) -> Result<bool, StoreError> {
    Ok(conn.execute("DELETE FROM onvif_profiles WHERE token = ?1", [token])? > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pinhole_base::media_profile::ConfigurationKind;

    #[test]
    fn keeps_what_it_was_given_and_forgets_what_is_deleted() {
        let mut conn = Connection::open_in_memory().expect("db");
        crate::schema::upgrade(&mut conn, std::path::Path::new(":memory:")).expect("schema");
        let mut p = MadeProfile {
            token: "nvr_0".into(),
            name: "Recorder".into(),
            parts: [(ConfigurationKind::VideoSource, "src_camera0".into())].into(),
        };
        put(&conn, &p, 10).expect("put");
        p.parts
            .insert(ConfigurationKind::VideoEncoder, "enc_camera0".into());
        p.name = "Recorder 2".into();
        put(&conn, &p, 20).expect("put again");
        let q = MadeProfile {
            token: "nvr_1".into(),
            name: "Other".into(),
            parts: Default::default(),
        };
        put(&conn, &q, 30).expect("put");
        assert_eq!(list(&conn).expect("list"), vec![p.clone(), q]);
        assert!(delete(&conn, "nvr_1").expect("delete"));
        assert!(!delete(&conn, "nvr_1").expect("delete again"));
        assert_eq!(list(&conn).expect("list"), vec![p]);
        let bad = MadeProfile {
            token: String::new(),
            ..Default::default()
        };
        assert!(matches!(put(&conn, &bad, 40), Err(StoreError::Invalid(_))));
    }
}
