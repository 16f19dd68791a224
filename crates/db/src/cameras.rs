//! Camera definitions. The media engine reads them; the API edits them; the config file seeds them.
//!
//! Credentials are sealed with the device key ([`crate::secrets::SecretBox`]) before they are
//! stored and are never part of what this module returns to the API ([`Camera::has_password`]).

use super::StoreError;
use crate::secrets::{SecretBox, SecretString};
use crate::wire_enum;
use pinhole_base::camera::camera_id_problem;
pub use pinhole_base::camera::{
    Camera, CameraInput, CameraOrigin, PtzLinkChange, RecordingMode, SourceKind, resolve,
    valid_camera_id,
};
use pinhole_base::config::CameraConfig;
use pinhole_base::{FieldErrors, ptz::PtzLink};
use rusqlite::{Connection, OptionalExtension, params};

const COLUMNS: &str =
    "id, name, enabled, source_kind, source_url, username, password_sealed IS NOT NULL,
    width, height, fps, bitrate_kbps, recording_mode, origin, created_at, updated_at, ptz,
    keyframe_ms, detection, sub_url";

fn row_to_camera(r: &rusqlite::Row<'_>) -> rusqlite::Result<Camera> {
    Ok(Camera {
        id: r.get(0)?,
        name: r.get(1)?,
        enabled: r.get(2)?,
        source: wire_enum(r, 3)?,
        url: r.get(4)?,
        sub_url: r.get(18)?,
        username: r.get(5)?,
        has_password: r.get(6)?,
        width: r.get(7)?,
        height: r.get(8)?,
        fps: r.get(9)?,
        bitrate_kbps: r.get(10)?,
        keyframe_ms: r.get(16)?,
        detection: r
            .get::<_, Option<String>>(17)?
            .and_then(|j| serde_json::from_str(&j).ok()),
        recording: wire_enum(r, 11)?,
        origin: wire_enum(r, 12)?,
        created_at: r.get(13)?,
        updated_at: r.get(14)?,
        // A value that no longer parses (hand-edited database) reads as "no PTZ".
        ptz: r
            .get::<_, Option<String>>(15)?
            .and_then(|j| serde_json::from_str(&j).ok()),
    })
}

pub fn list(conn: &Connection) -> Result<Vec<Camera>, StoreError> {
    let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM cameras ORDER BY id"))?;
    let rows = stmt.query_map([], row_to_camera)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn get(conn: &Connection, id: &str) -> Result<Option<Camera>, StoreError> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM cameras WHERE id = ?1"),
            [id],
            row_to_camera,
        )
        .optional()?)
}

/// The decrypted password, for the media engine only.
pub fn password(
    conn: &Connection,
    secrets: &SecretBox,
    id: &str,
) -> Result<Option<SecretString>, StoreError> {
    crate::secrets::open_column(
        conn,
        secrets,
        "cameras",
        "password_sealed",
        ("id", id),
        || format!("camera `{id}`'s password"),
    )
}

/// The next free `cameraN` id.
fn next_id(conn: &Connection) -> Result<String, StoreError> {
    let mut n = 0u32;
    loop {
        let id = format!("camera{n}");
        if get(conn, &id)?.is_none() {
            return Ok(id);
        }
        n += 1;
    }
}

fn detection_json(d: &Option<pinhole_base::detection::CameraDetection>) -> Option<String> {
    d.as_ref().and_then(|d| serde_json::to_string(d).ok())
}

/// Adds a camera; the id is generated (`cameraN`) when not given.
pub fn create(
    conn: &mut Connection,
    secrets: &SecretBox,
    input: &CameraInput,
    origin: CameraOrigin,
    now: i64,
) -> Result<Camera, StoreError> {
    create_at_most(conn, secrets, input, origin, now, u32::MAX)
}

/// Adds a camera unless `max` cameras exist already (a conflict that says so).
pub fn create_at_most(
    conn: &mut Connection,
    secrets: &SecretBox,
    input: &CameraInput,
    origin: CameraOrigin,
    now: i64,
    max: u32,
) -> Result<Camera, StoreError> {
    let input = &input.credentials_out_of_url();
    let tx = conn.transaction()?;
    let count: i64 = tx.query_row("SELECT count(*) FROM cameras", [], |r| r.get(0))?;
    if count >= i64::from(max) {
        return Err(StoreError::Conflict(format!(
            "the appliance takes at most {max} cameras (media.max_cameras); remove one first"
        )));
    }
    let id = match &input.id {
        Some(id) => {
            if !valid_camera_id(id) {
                return Err(FieldErrors::single("id", camera_id_problem(id)).into());
            }
            if get(&tx, id)?.is_some() {
                return Err(StoreError::Conflict(format!(
                    "camera `{id}` already exists"
                )));
            }
            id.clone()
        }
        None => next_id(&tx)?,
    };
    let mut cam = resolve(None, input)?;
    cam.id = id;
    if cam.name.is_empty() {
        cam.name = cam.id.clone();
    }
    let sealed = input
        .password
        .as_deref()
        .filter(|p| !p.is_empty())
        .map(|p| secrets.seal(p));
    tx.execute(
        "INSERT INTO cameras (id, name, enabled, source_kind, source_url, username, password_sealed,
            width, height, fps, bitrate_kbps, recording_mode, origin, created_at, updated_at, ptz)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?14, ?15)",
        params![
            cam.id,
            cam.name,
            cam.enabled,
            cam.source.as_str(),
            cam.url,
            cam.username,
            sealed,
            cam.width,
            cam.height,
            cam.fps,
            cam.bitrate_kbps,
            cam.recording.as_str(),
            origin.as_str(),
            now,
            ptz_json(&cam.ptz)
        ],
    )?;
    tx.execute(
        "UPDATE cameras SET keyframe_ms = ?2, detection = ?3, sub_url = ?4 WHERE id = ?1",
        params![
            cam.id,
            cam.keyframe_ms,
            detection_json(&cam.detection),
            cam.sub_url
        ],
    )?;
    tx.commit()?;
    get(conn, &cam.id)?.ok_or_else(|| StoreError::NotFound(cam.id))
}

/// Changes a camera; absent fields keep their value.
pub fn update(
    conn: &mut Connection,
    secrets: &SecretBox,
    id: &str,
    input: &CameraInput,
    now: i64,
) -> Result<Camera, StoreError> {
    let input = &input.credentials_out_of_url();
    let tx = conn.transaction()?;
    let base = get(&tx, id)?.ok_or_else(|| StoreError::NotFound(format!("camera `{id}`")))?;
    let cam = resolve(Some(&base), input)?;
    tx.execute(
        "UPDATE cameras SET name = ?2, enabled = ?3, source_kind = ?4, source_url = ?5,
            username = ?6, width = ?7, height = ?8, fps = ?9, bitrate_kbps = ?10,
            recording_mode = ?11, updated_at = ?12, ptz = ?13 WHERE id = ?1",
        params![
            id,
            cam.name,
            cam.enabled,
            cam.source.as_str(),
            cam.url,
            cam.username,
            cam.width,
            cam.height,
            cam.fps,
            cam.bitrate_kbps,
            cam.recording.as_str(),
            now,
            ptz_json(&cam.ptz)
        ],
    )?;
    tx.execute(
        "UPDATE cameras SET keyframe_ms = ?2, detection = ?3, sub_url = ?4 WHERE id = ?1",
        params![
            id,
            cam.keyframe_ms,
            detection_json(&cam.detection),
            cam.sub_url
        ],
    )?;
    match input.password.as_deref() {
        None => {}
        Some("") => {
            tx.execute(
                "UPDATE cameras SET password_sealed = NULL WHERE id = ?1",
                [id],
            )?;
        }
        Some(p) => {
            tx.execute(
                "UPDATE cameras SET password_sealed = ?2 WHERE id = ?1",
                params![id, secrets.seal(p)],
            )?;
        }
    }
    tx.commit()?;
    get(conn, id)?.ok_or_else(|| StoreError::NotFound(id.into()))
}

fn ptz_json(p: &Option<PtzLink>) -> Option<String> {
    p.as_ref().and_then(|p| serde_json::to_string(p).ok())
}

pub fn delete(conn: &Connection, id: &str) -> Result<(), StoreError> {
    if conn.execute("DELETE FROM cameras WHERE id = ?1", [id])? == 0 {
        return Err(StoreError::NotFound(format!("camera `{id}`")));
    }
    Ok(())
}

/// Copies config-file cameras whose id is not in the store yet. Returns how many were added.
pub fn seed_from_config(
    conn: &mut Connection,
    secrets: &SecretBox,
    cameras: &[CameraConfig],
    now: i64,
) -> Result<usize, StoreError> {
    let mut added = 0;
    for c in cameras {
        if get(conn, &c.id)?.is_none() {
            create(
                conn,
                secrets,
                &CameraInput::from(c),
                CameraOrigin::Config,
                now,
            )?;
            added += 1;
        }
    }
    Ok(added)
}

/// Moves credentials still embedded in stored URLs (written before they were taken out on
/// input) into the sealed fields. Returns how many cameras changed.
pub fn seal_url_credentials(
    conn: &mut Connection,
    secrets: &SecretBox,
    now: i64,
) -> Result<usize, StoreError> {
    let mut changed = 0;
    for cam in list(conn)? {
        let input = CameraInput {
            url: Some(cam.url.clone()),
            ..Default::default()
        };
        if input.credentials_out_of_url().url != input.url {
            update(conn, secrets, &cam.id, &input, now)?;
            changed += 1;
        }
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Store;

    #[test]
    fn credentials_never_stay_in_urls() {
        let s = Store::open_in_memory().expect("store");
        let sb = SecretBox::new(&[2u8; 32]);
        s.call_blocking(move |c| {
            let input = CameraInput {
                source: Some(pinhole_base::camera::SourceKind::Rtsp),
                url: Some("rtsp://cam:Url%2FPw@192.0.2.10/stream".into()),
                ..Default::default()
            };
            let cam = create(c, &sb, &input, CameraOrigin::Api, 1)?;
            assert_eq!(cam.url, "rtsp://192.0.2.10/stream");
            assert_eq!(cam.username.as_deref(), Some("cam"));
            assert!(cam.has_password);
            assert_eq!(
                password(c, &sb, &cam.id)?.map(|p| p.expose().to_string()),
                Some("Url/Pw".into())
            );
            // A URL stored by an older version is fixed at the next start.
            c.execute(
                "UPDATE cameras SET source_url = 'rtsp://old:Old-Pw@192.0.2.11/s',
                    username = NULL, password_sealed = NULL",
                [],
            )?;
            assert_eq!(seal_url_credentials(c, &sb, 2)?, 1);
            let cam = get(c, "camera0")?.expect("camera");
            assert_eq!(cam.url, "rtsp://192.0.2.11/s");
            assert_eq!(cam.username.as_deref(), Some("old"));
            assert_eq!(
                password(c, &sb, "camera0")?.map(|p| p.expose().to_string()),
                Some("Old-Pw".into())
            );
            assert_eq!(seal_url_credentials(c, &sb, 3)?, 0);
            Ok(())
        })
        .expect("ops");
    }

    #[test]
    fn keyframe_interval_per_camera() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.db")).unwrap();
        let secrets = SecretBox::new(&[1; 32]);
        store
            .call_blocking(|c| {
                let mut input = CameraInput {
                    id: Some("camera0".into()),
                    source: Some(SourceKind::Test),
                    keyframe_ms: Some(5000),
                    ..Default::default()
                };
                let e = create(c, &secrets, &input, CameraOrigin::Api, 0).unwrap_err();
                assert!(e.to_string().contains("keyframe_ms"), "{e}");
                input.keyframe_ms = Some(500);
                assert_eq!(
                    create(c, &secrets, &input, CameraOrigin::Api, 0)?.keyframe_ms,
                    Some(500)
                );
                let change = CameraInput {
                    fps: Some(10),
                    ..Default::default()
                };
                let cam = update(c, &secrets, "camera0", &change, 1)?;
                assert_eq!(cam.keyframe_ms, Some(500), "kept when not given");
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn crud_keeps_password_sealed() {
        let s = Store::open_in_memory().expect("store");
        let sb = SecretBox::new(&[1u8; 32]);
        s.call_blocking(move |c| {
            let cam = create(
                c,
                &sb,
                &CameraInput {
                    source: Some(SourceKind::Rtsp),
                    url: Some("rtsp://10.0.0.5/stream".into()),
                    username: Some("admin".into()),
                    password: Some("s3cret".into()),
                    ..Default::default()
                },
                CameraOrigin::Api,
                1,
            )?;
            assert_eq!(cam.id, "camera0");
            assert!(cam.has_password);
            let raw: Vec<u8> =
                c.query_row("SELECT password_sealed FROM cameras", [], |r| r.get(0))?;
            assert!(!raw.windows(6).any(|w| w == b"s3cret"));
            assert_eq!(
                password(c, &sb, "camera0")?.map(|p| p.expose().to_string()),
                Some("s3cret".into())
            );
            let bad = update(
                c,
                &sb,
                "camera0",
                &CameraInput {
                    fps: Some(0),
                    ..Default::default()
                },
                2,
            );
            assert!(matches!(bad, Err(StoreError::Invalid(_))));
            let up = update(
                c,
                &sb,
                "camera0",
                &CameraInput {
                    fps: Some(15),
                    password: Some(String::new()),
                    ..Default::default()
                },
                2,
            )?;
            assert_eq!(up.fps, Some(15));
            assert!(!up.has_password);
            let second = create(
                c,
                &sb,
                &CameraInput {
                    source: Some(SourceKind::Test),
                    ..Default::default()
                },
                CameraOrigin::Api,
                3,
            )?;
            assert_eq!(second.id, "camera1");
            delete(c, "camera0")?;
            assert!(matches!(delete(c, "camera0"), Err(StoreError::NotFound(_))));
            Ok(())
        })
        .expect("ops");
    }
}
