//! Camera definitions. The media engine reads them; the API edits them; the config file seeds them.
//!
//! Credentials are sealed with the device key ([`crate::secrets::SecretBox`]) before they are
//! stored and are never part of what this module returns to the API ([`Camera::has_password`]).

use super::StoreError;
use crate::config::{CameraConfig, RecordingMode, SourceKind, camera_problems, valid_camera_id};
use crate::ptz::link::PtzLink;
use crate::secrets::{SecretBox, SecretString};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

/// A camera as the API shows it (no secrets).
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Camera {
    pub id: String,
    pub name: String,
    pub enabled: bool,
    /// test, v4l2, libcamera or rtsp.
    pub source: String,
    /// Device path or RTSP URL.
    pub url: String,
    pub username: Option<String>,
    pub has_password: bool,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub fps: Option<u32>,
    pub bitrate_kbps: Option<u32>,
    /// Keyframe interval in milliseconds (250..=2000) for encoded raw sources; default
    /// `media.keyframe_interval_ms`.
    pub keyframe_ms: Option<u32>,
    /// Detection settings for this camera (zones, masks, threshold, labels).
    pub detection: Option<crate::detect::motion::CameraDetection>,
    /// continuous, events or off.
    pub recording: String,
    /// PTZ link, when the camera pans, tilts and zooms.
    pub ptz: Option<PtzLink>,
    /// api, or config when provisioned from the configuration file.
    pub origin: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// The fields a client may set; on update, absent fields keep their value. `password`: absent
/// keeps it, `""` clears it, anything else replaces it.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CameraInput {
    pub id: Option<String>,
    pub name: Option<String>,
    pub enabled: Option<bool>,
    pub source: Option<String>,
    pub url: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub fps: Option<u32>,
    pub bitrate_kbps: Option<u32>,
    pub keyframe_ms: Option<u32>,
    pub detection: Option<crate::detect::motion::CameraDetection>,
    pub recording: Option<String>,
    /// PTZ link; `null` keeps it on update, `{"transport": "none"}` removes it.
    pub ptz: Option<PtzLink>,
}

impl CameraInput {
    pub fn from_config(c: &CameraConfig) -> Self {
        CameraInput {
            id: Some(c.id.clone()),
            name: c.name.clone(),
            enabled: Some(c.enabled),
            source: Some(c.source.as_str().into()),
            url: Some(c.url.clone()),
            username: c.username.clone(),
            password: c.password.clone(),
            width: c.width,
            height: c.height,
            fps: c.fps,
            bitrate_kbps: c.bitrate_kbps,
            keyframe_ms: c.keyframe_ms,
            detection: c.detection.clone(),
            recording: Some(c.recording.as_str().into()),
            ptz: c.ptz.clone(),
        }
    }
}

const COLUMNS: &str =
    "id, name, enabled, source_kind, source_url, username, password_sealed IS NOT NULL,
    width, height, fps, bitrate_kbps, recording_mode, origin, created_at, updated_at, ptz,
    keyframe_ms, detection";

fn row_to_camera(r: &rusqlite::Row<'_>) -> rusqlite::Result<Camera> {
    Ok(Camera {
        id: r.get(0)?,
        name: r.get(1)?,
        enabled: r.get(2)?,
        source: r.get(3)?,
        url: r.get(4)?,
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
        recording: r.get(11)?,
        origin: r.get(12)?,
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
    let sealed: Option<Option<Vec<u8>>> = conn
        .query_row(
            "SELECT password_sealed FROM cameras WHERE id = ?1",
            [id],
            |r| r.get(0),
        )
        .optional()?;
    match sealed.flatten() {
        None => Ok(None),
        Some(b) => secrets
            .open(&b)
            .map(Some)
            .map_err(|e| StoreError::Invalid(e.to_string())),
    }
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

/// Merges `input` over `base` and checks the result; errors are `field: reason` pairs.
fn resolve(base: Option<&Camera>, input: &CameraInput) -> Result<Camera, Vec<(String, String)>> {
    let mut errs: Vec<(String, String)> = Vec::new();
    let source_s = input
        .source
        .clone()
        .or_else(|| base.map(|b| b.source.clone()))
        .unwrap_or_default();
    let source = SourceKind::parse(&source_s);
    if source.is_none() {
        errs.push((
            "source".into(),
            format!("`{source_s}` is not one of test, v4l2, libcamera, rtsp"),
        ));
    }
    let recording = input
        .recording
        .clone()
        .or_else(|| base.map(|b| b.recording.clone()))
        .unwrap_or_else(|| "continuous".into());
    if RecordingMode::parse(&recording).is_none() {
        errs.push((
            "recording".into(),
            format!("`{recording}` is not one of continuous, events, off"),
        ));
    }
    let pick = |a: Option<u32>, b: Option<u32>| a.or(b);
    let cam = Camera {
        id: base
            .map(|b| b.id.clone())
            .or_else(|| input.id.clone())
            .unwrap_or_default(),
        name: input
            .name
            .clone()
            .or_else(|| base.map(|b| b.name.clone()))
            .unwrap_or_default(),
        enabled: input.enabled.or(base.map(|b| b.enabled)).unwrap_or(true),
        source: source_s,
        url: input
            .url
            .clone()
            .or_else(|| base.map(|b| b.url.clone()))
            .unwrap_or_default(),
        username: input
            .username
            .clone()
            .or_else(|| base.and_then(|b| b.username.clone()))
            .filter(|u| !u.is_empty()),
        has_password: false,
        width: pick(input.width, base.and_then(|b| b.width)),
        height: pick(input.height, base.and_then(|b| b.height)),
        fps: pick(input.fps, base.and_then(|b| b.fps)),
        bitrate_kbps: pick(input.bitrate_kbps, base.and_then(|b| b.bitrate_kbps)),
        keyframe_ms: pick(input.keyframe_ms, base.and_then(|b| b.keyframe_ms)),
        detection: input
            .detection
            .clone()
            .or_else(|| base.and_then(|b| b.detection.clone())),
        recording,
        ptz: match &input.ptz {
            Some(p) if p.transport == "none" => None,
            Some(p) => Some(p.clone()),
            None => base.and_then(|b| b.ptz.clone()),
        },
        origin: base
            .map(|b| b.origin.clone())
            .unwrap_or_else(|| "api".into()),
        created_at: base.map(|b| b.created_at).unwrap_or_default(),
        updated_at: 0,
    };
    if cam.name.chars().count() > 64 || cam.name.chars().any(char::is_control) {
        errs.push((
            "name".into(),
            "must be at most 64 printable characters".into(),
        ));
    }
    if let Some(d) = &cam.detection {
        for p in d.problems() {
            errs.push(("detection".into(), p));
        }
    }
    if let Some(k) = cam.keyframe_ms
        && !(250..=2000).contains(&k)
    {
        errs.push(("keyframe_ms".into(), format!("{k} is outside 250..=2000")));
    }
    if let Some(Err(e)) = cam.ptz.as_ref().map(|p| p.resolve()) {
        errs.push(e);
    }
    if let Some(source) = source {
        for (f, r) in camera_problems(
            source,
            &cam.url,
            cam.width,
            cam.height,
            cam.fps,
            cam.bitrate_kbps,
        ) {
            errs.push((f.into(), r));
        }
    }
    if errs.is_empty() { Ok(cam) } else { Err(errs) }
}

fn detection_json(d: &Option<crate::detect::motion::CameraDetection>) -> Option<String> {
    d.as_ref().and_then(|d| serde_json::to_string(d).ok())
}

fn invalid(errs: Vec<(String, String)>) -> StoreError {
    StoreError::Invalid(
        errs.iter()
            .map(|(f, r)| format!("{f}: {r}"))
            .collect::<Vec<_>>()
            .join("; "),
    )
}

/// Adds a camera; the id is generated (`cameraN`) when not given.
pub fn create(
    conn: &mut Connection,
    secrets: &SecretBox,
    input: &CameraInput,
    origin: &str,
    now: i64,
) -> Result<Camera, StoreError> {
    let tx = conn.transaction()?;
    let id = match &input.id {
        Some(id) => {
            if !valid_camera_id(id) {
                return Err(StoreError::Invalid(format!(
                    "id: `{id}` must be 1-32 of a-z 0-9 - _, starting with a letter"
                )));
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
    let mut cam = resolve(None, input).map_err(invalid)?;
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
            cam.id, cam.name, cam.enabled, cam.source, cam.url, cam.username, sealed, cam.width,
            cam.height, cam.fps, cam.bitrate_kbps, cam.recording, origin, now, ptz_json(&cam.ptz)
        ],
    )?;
    tx.execute(
        "UPDATE cameras SET keyframe_ms = ?2, detection = ?3 WHERE id = ?1",
        params![cam.id, cam.keyframe_ms, detection_json(&cam.detection)],
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
    let tx = conn.transaction()?;
    let base = get(&tx, id)?.ok_or_else(|| StoreError::NotFound(format!("camera `{id}`")))?;
    if input.id.as_deref().is_some_and(|new| new != id) {
        return Err(StoreError::Invalid("id: cannot be changed".into()));
    }
    let cam = resolve(Some(&base), input).map_err(invalid)?;
    tx.execute(
        "UPDATE cameras SET name = ?2, enabled = ?3, source_kind = ?4, source_url = ?5,
            username = ?6, width = ?7, height = ?8, fps = ?9, bitrate_kbps = ?10,
            recording_mode = ?11, updated_at = ?12, ptz = ?13 WHERE id = ?1",
        params![
            id,
            cam.name,
            cam.enabled,
            cam.source,
            cam.url,
            cam.username,
            cam.width,
            cam.height,
            cam.fps,
            cam.bitrate_kbps,
            cam.recording,
            now,
            ptz_json(&cam.ptz)
        ],
    )?;
    tx.execute(
        "UPDATE cameras SET keyframe_ms = ?2, detection = ?3 WHERE id = ?1",
        params![id, cam.keyframe_ms, detection_json(&cam.detection)],
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
            create(conn, secrets, &CameraInput::from_config(c), "config", now)?;
            added += 1;
        }
    }
    Ok(added)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    #[test]
    fn keyframe_interval_per_camera() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.db")).unwrap();
        let secrets = SecretBox::new(&[1; 32]);
        store
            .call_blocking(|c| {
                let mut input = CameraInput {
                    id: Some("camera0".into()),
                    source: Some("test".into()),
                    keyframe_ms: Some(5000),
                    ..Default::default()
                };
                let e = create(c, &secrets, &input, "api", 0).unwrap_err();
                assert!(e.to_string().contains("keyframe_ms"), "{e}");
                input.keyframe_ms = Some(500);
                assert_eq!(
                    create(c, &secrets, &input, "api", 0)?.keyframe_ms,
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
                    source: Some("rtsp".into()),
                    url: Some("rtsp://10.0.0.5/stream".into()),
                    username: Some("admin".into()),
                    password: Some("s3cret".into()),
                    ..Default::default()
                },
                "api",
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
                    source: Some("test".into()),
                    ..Default::default()
                },
                "api",
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
