//! Destinations, streams and overlays (schema v9). Stream keys are sealed with the device key and
//! only [`stream_key`] opens them, for the media engine. A stream names its camera, destinations
//! and overlays by id; they are checked to exist when the stream is written, and a destination
//! or overlay a stream uses cannot be removed.

use super::StoreError;
use crate::secrets::{SecretBox, SecretString};
use pinhole_base::FieldErrors;
pub use pinhole_base::broadcast::{
    Destination, DestinationInput, Overlay, OverlaySpec, Protocol, Stream, StreamSpec,
};
use pinhole_base::camera::valid_camera_id;
use rusqlite::{Connection, OptionalExtension, params};

/// Is there a row `id` in `table`?
fn exists(conn: &Connection, table: &str, id: &str) -> Result<bool, StoreError> {
    Ok(conn.query_row(
        &format!("SELECT EXISTS (SELECT 1 FROM {table} WHERE id = ?1)"),
        [id],
        |r| r.get(0),
    )?)
}

/// The first free `{prefix}N` id of `table`.
fn next_id(conn: &Connection, table: &str, prefix: &str) -> Result<String, StoreError> {
    for n in 0u32.. {
        let id = format!("{prefix}{n}");
        if !exists(conn, table, &id)? {
            return Ok(id);
        }
    }
    Err(StoreError::Conflict(format!("no free id in {table}")))
}

/// The id a new row gets: the one asked for (checked, free) or the next `{prefix}N`.
fn new_id(
    conn: &Connection,
    table: &str,
    prefix: &str,
    asked: Option<&str>,
    what: &str,
) -> Result<String, StoreError> {
    let Some(id) = asked else {
        return next_id(conn, table, prefix);
    };
    if !pinhole_base::broadcast::valid_id(id) {
        return Err(FieldErrors::single(
            "id",
            "must be 1-32 of a-z 0-9 - _, starting with a letter",
        )
        .into());
    }
    if exists(conn, table, id)? {
        return Err(StoreError::Conflict(format!(
            "{what} `{id}` already exists"
        )));
    }
    Ok(id.to_string())
}

// ---- destinations

fn row_to_destination(r: &rusqlite::Row<'_>) -> rusqlite::Result<Destination> {
    let url: String = r.get(2)?;
    Ok(Destination {
        id: r.get(0)?,
        name: r.get(1)?,
        protocol: Protocol::of_url(&url).unwrap_or(Protocol::Rtmp),
        url,
        has_stream_key: r.get(3)?,
        created_at: r.get(4)?,
        updated_at: r.get(5)?,
    })
}

const DEST_COLUMNS: &str = "id, name, url, stream_key_sealed IS NOT NULL, created_at, updated_at";

pub fn destinations(conn: &Connection) -> Result<Vec<Destination>, StoreError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {DEST_COLUMNS} FROM destinations ORDER BY id"
    ))?;
    let rows = stmt.query_map([], row_to_destination)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn destination(conn: &Connection, id: &str) -> Result<Option<Destination>, StoreError> {
    Ok(conn
        .query_row(
            &format!("SELECT {DEST_COLUMNS} FROM destinations WHERE id = ?1"),
            [id],
            row_to_destination,
        )
        .optional()?)
}

pub fn create_destination(
    conn: &mut Connection,
    secrets: &SecretBox,
    input: &DestinationInput,
    now: i64,
) -> Result<Destination, StoreError> {
    input.check()?;
    let tx = conn.transaction()?;
    let id = new_id(
        &tx,
        "destinations",
        "dest",
        input.id.as_deref(),
        "destination",
    )?;
    let sealed = input
        .stream_key
        .as_deref()
        .filter(|k| !k.is_empty())
        .map(|k| secrets.seal(k));
    tx.execute(
        "INSERT INTO destinations (id, name, url, stream_key_sealed, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
        params![id, input.name, input.url, sealed, now],
    )?;
    tx.commit()?;
    destination(conn, &id)?.ok_or(StoreError::NotFound(id))
}

/// Replaces a destination's name and URL; its key is kept unless `stream_key` is given.
pub fn update_destination(
    conn: &mut Connection,
    secrets: &SecretBox,
    id: &str,
    input: &DestinationInput,
    now: i64,
) -> Result<Destination, StoreError> {
    input.check()?;
    if input.id.as_deref().is_some_and(|new| new != id) {
        return Err(FieldErrors::single("id", "cannot be changed").into());
    }
    let tx = conn.transaction()?;
    let n = tx.execute(
        "UPDATE destinations SET name = ?2, url = ?3, updated_at = ?4 WHERE id = ?1",
        params![id, input.name, input.url, now],
    )?;
    if n == 0 {
        return Err(StoreError::NotFound(format!("destination `{id}`")));
    }
    if let Some(k) = &input.stream_key {
        let sealed = (!k.is_empty()).then(|| secrets.seal(k));
        tx.execute(
            "UPDATE destinations SET stream_key_sealed = ?2 WHERE id = ?1",
            params![id, sealed],
        )?;
    }
    tx.commit()?;
    destination(conn, id)?.ok_or_else(|| StoreError::NotFound(id.to_string()))
}

/// The ids of the streams that use `what` (`destinations` or `overlays`) `id`.
fn streams_using(conn: &Connection, what: &str, id: &str) -> Result<Vec<String>, StoreError> {
    Ok(streams(conn)?
        .into_iter()
        .filter(|s| match what {
            "destinations" => s.spec.destinations.iter().any(|d| d == id),
            // The stream's own overlays, and those of its program's entries.
            _ => s
                .spec
                .overlays
                .iter()
                .chain(
                    s.spec
                        .program
                        .iter()
                        .flat_map(|e| e.overlays.iter().flatten()),
                )
                .any(|d| d == id),
        })
        .map(|s| s.id)
        .collect())
}

pub fn delete_destination(conn: &Connection, id: &str) -> Result<(), StoreError> {
    let users = streams_using(conn, "destinations", id)?;
    if !users.is_empty() {
        return Err(StoreError::Conflict(format!(
            "destination `{id}` is used by stream {}; remove it there first",
            users.join(", ")
        )));
    }
    if conn.execute("DELETE FROM destinations WHERE id = ?1", [id])? == 0 {
        return Err(StoreError::NotFound(format!("destination `{id}`")));
    }
    Ok(())
}

/// The opened stream key, for the media engine only.
pub fn stream_key(
    conn: &Connection,
    secrets: &SecretBox,
    id: &str,
) -> Result<Option<SecretString>, StoreError> {
    crate::secrets::open_column(
        conn,
        secrets,
        "destinations",
        "stream_key_sealed",
        ("id", id),
        || format!("destination `{id}`'s stream key"),
    )
}

// ---- streams

fn row_to_stream(r: &rusqlite::Row<'_>) -> rusqlite::Result<(String, String, i64, i64)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
}

fn stream_of(row: (String, String, i64, i64)) -> Result<Stream, StoreError> {
    let (id, spec, created_at, updated_at) = row;
    Ok(Stream {
        id,
        spec: serde_json::from_str(&spec)?,
        created_at,
        updated_at,
    })
}

pub fn streams(conn: &Connection) -> Result<Vec<Stream>, StoreError> {
    let mut stmt =
        conn.prepare("SELECT id, spec, created_at, updated_at FROM streams ORDER BY id")?;
    let rows = stmt.query_map([], row_to_stream)?;
    rows.map(|r| stream_of(r?)).collect()
}

pub fn stream(conn: &Connection, id: &str) -> Result<Option<Stream>, StoreError> {
    conn.query_row(
        "SELECT id, spec, created_at, updated_at FROM streams WHERE id = ?1",
        [id],
        row_to_stream,
    )
    .optional()?
    .map(stream_of)
    .transpose()
}

/// The spec's problems, including references to what does not exist.
fn check_stream(conn: &Connection, spec: &StreamSpec) -> Result<(), StoreError> {
    let mut errs = spec.problems();
    let exists = |table: &str, id: &str| exists(conn, table, id);
    if errs.get("camera").is_none() && !exists("cameras", &spec.camera)? {
        errs.push("camera", format!("no camera `{}`", spec.camera));
    }
    for (i, e) in spec.program.iter().enumerate() {
        if valid_camera_id(&e.camera) && !exists("cameras", &e.camera)? {
            errs.push(
                format!("program[{i}].camera"),
                format!("no camera `{}`", e.camera),
            );
        }
        for o in e.overlays.iter().flatten() {
            if !exists("overlays", o)? {
                errs.push(
                    format!("program[{i}].overlays"),
                    format!("no overlay `{o}`"),
                );
            }
        }
    }
    for d in &spec.destinations {
        if !exists("destinations", d)? {
            errs.push("destinations", format!("no destination `{d}`"));
        }
    }
    for o in &spec.overlays {
        if !exists("overlays", o)? {
            errs.push("overlays", format!("no overlay `{o}`"));
        }
    }
    errs.into_result(()).map_err(Into::into)
}

pub fn create_stream(
    conn: &mut Connection,
    id: Option<&str>,
    spec: &StreamSpec,
    now: i64,
) -> Result<Stream, StoreError> {
    let tx = conn.transaction()?;
    check_stream(&tx, spec)?;
    let id = new_id(&tx, "streams", "stream", id, "stream")?;
    tx.execute(
        "INSERT INTO streams (id, spec, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)",
        params![id, serde_json::to_string(spec)?, now],
    )?;
    tx.commit()?;
    stream(conn, &id)?.ok_or(StoreError::NotFound(id))
}

pub fn update_stream(
    conn: &mut Connection,
    id: &str,
    spec: &StreamSpec,
    now: i64,
) -> Result<Stream, StoreError> {
    let tx = conn.transaction()?;
    check_stream(&tx, spec)?;
    let n = tx.execute(
        "UPDATE streams SET spec = ?2, updated_at = ?3 WHERE id = ?1",
        params![id, serde_json::to_string(spec)?, now],
    )?;
    if n == 0 {
        return Err(StoreError::NotFound(format!("stream `{id}`")));
    }
    tx.commit()?;
    stream(conn, id)?.ok_or_else(|| StoreError::NotFound(id.to_string()))
}

pub fn delete_stream(conn: &Connection, id: &str) -> Result<(), StoreError> {
    if conn.execute("DELETE FROM streams WHERE id = ?1", [id])? == 0 {
        return Err(StoreError::NotFound(format!("stream `{id}`")));
    }
    Ok(())
}

// ---- overlays

fn row_to_overlay(r: &rusqlite::Row<'_>) -> rusqlite::Result<(String, String, bool, i64, i64)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
}

fn overlay_of(row: (String, String, bool, i64, i64)) -> Result<Overlay, StoreError> {
    let (id, spec, has_image, created_at, updated_at) = row;
    Ok(Overlay {
        id,
        spec: serde_json::from_str(&spec)?,
        has_image,
        created_at,
        updated_at,
    })
}

const OVERLAY_COLUMNS: &str = "id, spec, image IS NOT NULL, created_at, updated_at";

pub fn overlays(conn: &Connection) -> Result<Vec<Overlay>, StoreError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {OVERLAY_COLUMNS} FROM overlays ORDER BY id"
    ))?;
    let rows = stmt.query_map([], row_to_overlay)?;
    rows.map(|r| overlay_of(r?)).collect()
}

pub fn overlay(conn: &Connection, id: &str) -> Result<Option<Overlay>, StoreError> {
    conn.query_row(
        &format!("SELECT {OVERLAY_COLUMNS} FROM overlays WHERE id = ?1"),
        [id],
        row_to_overlay,
    )
    .optional()?
    .map(overlay_of)
    .transpose()
}

pub fn create_overlay(
    conn: &mut Connection,
    id: Option<&str>,
    spec: &OverlaySpec,
    now: i64,
) -> Result<Overlay, StoreError> {
    spec.problems().into_result(())?;
    let tx = conn.transaction()?;
    let id = new_id(&tx, "overlays", "overlay", id, "overlay")?;
    tx.execute(
        "INSERT INTO overlays (id, spec, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)",
        params![id, serde_json::to_string(spec)?, now],
    )?;
    tx.commit()?;
    overlay(conn, &id)?.ok_or(StoreError::NotFound(id))
}

pub fn update_overlay(
    conn: &Connection,
    id: &str,
    spec: &OverlaySpec,
    now: i64,
) -> Result<Overlay, StoreError> {
    spec.problems().into_result(())?;
    let n = conn.execute(
        "UPDATE overlays SET spec = ?2, updated_at = ?3 WHERE id = ?1",
        params![id, serde_json::to_string(spec)?, now],
    )?;
    if n == 0 {
        return Err(StoreError::NotFound(format!("overlay `{id}`")));
    }
    overlay(conn, id)?.ok_or_else(|| StoreError::NotFound(id.to_string()))
}

/// Stores an image already checked by the caller (`pinhole_base::png::check`).
pub fn set_overlay_image(
    conn: &Connection,
    id: &str,
    png: &[u8],
    now: i64,
) -> Result<Overlay, StoreError> {
    let n = conn.execute(
        "UPDATE overlays SET image = ?2, updated_at = ?3 WHERE id = ?1",
        params![id, png, now],
    )?;
    if n == 0 {
        return Err(StoreError::NotFound(format!("overlay `{id}`")));
    }
    overlay(conn, id)?.ok_or_else(|| StoreError::NotFound(id.to_string()))
}

pub fn overlay_image(conn: &Connection, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(conn
        .query_row("SELECT image FROM overlays WHERE id = ?1", [id], |r| {
            r.get::<_, Option<Vec<u8>>>(0)
        })
        .optional()?
        .flatten())
}

pub fn delete_overlay(conn: &Connection, id: &str) -> Result<(), StoreError> {
    let users = streams_using(conn, "overlays", id)?;
    if !users.is_empty() {
        return Err(StoreError::Conflict(format!(
            "overlay `{id}` is used by stream {}; remove it there first",
            users.join(", ")
        )));
    }
    if conn.execute("DELETE FROM overlays WHERE id = ?1", [id])? == 0 {
        return Err(StoreError::NotFound(format!("overlay `{id}`")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Store;

    fn spec(dest: &str) -> StreamSpec {
        serde_json::from_value(serde_json::json!({"camera": "camera0", "destinations": [dest]}))
            .unwrap()
    }

    #[test]
    fn destinations_keep_keys_sealed_and_streams_check_references() {
        let store = Store::open_in_memory().unwrap();
        let secrets = SecretBox::new(&[7; 32]);
        store
            .call_blocking(move |c| {
                crate::cameras::create(
                    c,
                    &secrets,
                    &serde_json::from_value(serde_json::json!({"id": "camera0", "source": "test"}))
                        .unwrap(),
                    crate::cameras::CameraOrigin::Api,
                    1,
                )?;
                let d = create_destination(
                    c,
                    &secrets,
                    &DestinationInput {
                        id: None,
                        name: "Platform".into(),
                        url: "rtmp://127.0.0.1/live".into(),
                        stream_key: Some("s3cret".into()),
                    },
                    1,
                )?;
                assert_eq!((d.id.as_str(), d.has_stream_key), ("dest0", true));
                assert_eq!(
                    stream_key(c, &secrets, "dest0")?.unwrap().expose(),
                    "s3cret"
                );
                // A new URL keeps the key; "" clears it.
                let mut input = DestinationInput {
                    id: None,
                    name: "Platform".into(),
                    url: "rtmps://127.0.0.1/live".into(),
                    stream_key: None,
                };
                let d = update_destination(c, &secrets, "dest0", &input, 2)?;
                assert_eq!((d.protocol, d.has_stream_key), (Protocol::Rtmps, true));
                input.stream_key = Some(String::new());
                assert!(!update_destination(c, &secrets, "dest0", &input, 3)?.has_stream_key);

                let bad = create_stream(c, None, &spec("nowhere"), 4).unwrap_err();
                assert!(
                    matches!(&bad, StoreError::Invalid(e) if e.get("destinations").is_some()),
                    "{bad}"
                );
                let s = create_stream(c, None, &spec("dest0"), 4)?;
                assert_eq!(s.id, "stream0");
                let used = delete_destination(c, "dest0").unwrap_err();
                assert!(matches!(used, StoreError::Conflict(_)), "{used}");
                delete_stream(c, "stream0")?;
                delete_destination(c, "dest0")?;
                Ok(())
            })
            .unwrap();
    }
}
