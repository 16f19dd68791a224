//! PTZ tours: a named sequence of a camera's presets with dwell times, run once or in a loop,
//! started by hand or at daily times (the source documents' "timeline" that switches presets
//! on cue).

use super::StoreError;
use pinhole_base::FieldErrors;
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TourStep {
    pub preset_id: i64,
    /// Seconds to stay after arriving (1-86400).
    pub dwell_secs: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Tour {
    pub id: i64,
    pub camera_id: String,
    pub name: String,
    pub steps: Vec<TourStep>,
    pub repeat: bool,
    /// Daily start times, "HH:MM" in the device's time zone (the `timezone` setting).
    pub schedule: Vec<String>,
    pub created_at: i64,
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Tour> {
    let steps: String = r.get(3)?;
    let schedule: String = r.get(5)?;
    Ok(Tour {
        id: r.get(0)?,
        camera_id: r.get(1)?,
        name: r.get(2)?,
        steps: serde_json::from_str(&steps).unwrap_or_default(),
        repeat: r.get(4)?,
        schedule: serde_json::from_str(&schedule).unwrap_or_default(),
        created_at: r.get(6)?,
    })
}

const COLUMNS: &str = "id, camera_id, name, steps, repeat, schedule, created_at";

/// "HH:MM", 00:00 to 23:59.
pub fn valid_time(t: &str) -> bool {
    let b = t.as_bytes();
    b.len() == 5
        && b[2] == b':'
        && t[..2].parse::<u8>().is_ok_and(|h| h < 24)
        && t[3..].parse::<u8>().is_ok_and(|m| m < 60)
        && b[..2].iter().chain(&b[3..]).all(u8::is_ascii_digit)
}

/// What a client sends to create or replace a tour.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TourInput {
    pub name: String,
    pub steps: Vec<TourStep>,
    #[serde(default = "yes")]
    pub repeat: bool,
    #[serde(default)]
    pub schedule: Vec<String>,
}

fn yes() -> bool {
    true
}

/// Creates or replaces (by name) a camera's tour; every step must be one of its presets.
pub fn save(
    conn: &mut Connection,
    camera_id: &str,
    t: &TourInput,
    now: i64,
) -> Result<Tour, StoreError> {
    super::presets::valid_name(&t.name)?;
    if t.steps.is_empty() || t.steps.len() > 100 {
        return Err(FieldErrors::single("steps", "give 1 to 100 steps").into());
    }
    if let Some(s) = t
        .steps
        .iter()
        .find(|s| !(1..=86_400).contains(&s.dwell_secs))
    {
        return Err(FieldErrors::single(
            "steps",
            format!("dwell_secs {} is outside 1..=86400", s.dwell_secs),
        )
        .into());
    }
    if let Some(bad) = t.schedule.iter().find(|s| !valid_time(s)) {
        return Err(FieldErrors::single("schedule", format!("`{bad}` is not HH:MM")).into());
    }
    let tx = conn.transaction()?;
    for s in &t.steps {
        let owner: Option<String> = tx
            .query_row(
                "SELECT camera_id FROM presets WHERE id = ?1",
                [s.preset_id],
                |r| r.get(0),
            )
            .optional()?;
        if owner.as_deref() != Some(camera_id) {
            return Err(FieldErrors::single(
                "steps",
                format!(
                    "preset {} is not a preset of camera `{camera_id}`",
                    s.preset_id
                ),
            )
            .into());
        }
    }
    let steps = serde_json::to_string(&t.steps)?;
    let schedule = serde_json::to_string(&t.schedule)?;
    tx.execute(
        "INSERT INTO tours (camera_id, name, steps, repeat, schedule, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (camera_id, name) DO UPDATE SET steps = excluded.steps, repeat = excluded.repeat,
           schedule = excluded.schedule",
        params![camera_id, t.name, steps, t.repeat, schedule, now],
    )?;
    let id: i64 = tx.query_row(
        "SELECT id FROM tours WHERE camera_id = ?1 AND name = ?2",
        params![camera_id, t.name],
        |r| r.get(0),
    )?;
    tx.commit()?;
    get(conn, id)?.ok_or_else(|| StoreError::NotFound(format!("tour {id}")))
}

pub fn get(conn: &Connection, id: i64) -> Result<Option<Tour>, StoreError> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM tours WHERE id = ?1"),
            [id],
            row,
        )
        .optional()?)
}

/// A camera's tours, or every tour when `camera_id` is None.
pub fn list(conn: &Connection, camera_id: Option<&str>) -> Result<Vec<Tour>, StoreError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM tours WHERE ?1 IS NULL OR camera_id = ?1 ORDER BY camera_id, name"
    ))?;
    let rows = stmt.query_map([camera_id], row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn delete(conn: &Connection, id: i64) -> Result<(), StoreError> {
    if conn.execute("DELETE FROM tours WHERE id = ?1", [id])? == 0 {
        return Err(StoreError::NotFound(format!("tour {id}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cameras::{CameraOrigin, SourceKind};
    use crate::presets::{self, Position};
    use crate::secrets::SecretBox;
    use crate::{Store, cameras};

    #[test]
    fn tours_only_use_the_cameras_own_presets() {
        assert!(
            valid_time("08:30")
                && valid_time("23:59")
                && !valid_time("24:00")
                && !valid_time("8:30")
                && !valid_time("ab:cd")
        );
        let s = Store::open_in_memory().expect("store");
        s.call_blocking(|c| {
            let sb = SecretBox::new(&[0; 32]);
            for _ in 0..2 {
                cameras::create(
                    c,
                    &sb,
                    &cameras::CameraInput {
                        source: Some(SourceKind::Test),
                        ..Default::default()
                    },
                    CameraOrigin::Api,
                    1,
                )?;
            }
            let pos = Position {
                pan: 0,
                tilt: 0,
                zoom: 0,
                focus: None,
            };
            let a = presets::save(c, "camera0", "a", pos, 1)?;
            let other = presets::save(c, "camera1", "b", pos, 1)?;
            let step = |preset_id| TourStep {
                preset_id,
                dwell_secs: 5,
            };
            let mut t = TourInput {
                name: "round".into(),
                steps: vec![step(a.id), step(other.id)],
                repeat: true,
                schedule: vec![],
            };
            assert!(matches!(
                save(c, "camera0", &t, 1),
                Err(StoreError::Invalid(_))
            ));
            t.steps = vec![step(a.id)];
            t.schedule = vec!["25:00".into()];
            assert!(matches!(
                save(c, "camera0", &t, 1),
                Err(StoreError::Invalid(_))
            ));
            t.schedule = vec!["06:00".into()];
            let saved = save(c, "camera0", &t, 1)?;
            assert_eq!(saved.steps, vec![step(a.id)]);
            assert_eq!(list(c, Some("camera0"))?.len(), 1);
            assert_eq!(list(c, None)?.len(), 1);
            delete(c, saved.id)?;
            assert!(get(c, saved.id)?.is_none());
            Ok(())
        })
        .expect("ops");
    }
}
