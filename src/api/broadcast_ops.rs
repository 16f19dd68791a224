//! Going out, as the REST routes and the JSON-RPC methods share it: destinations, streams and
//! overlays in the store, and the running outputs in the media engine.
//!
//! Starting a stream reads everything it needs once (destinations with their opened keys, its
//! overlays with their images written where the compositor reads them, the camera's name),
//! recalls its PTZ preset when it has one, and hands the engine a plan. Changing an overlay or a
//! pushed value reaches every running output that draws it, live.

use super::SharedState;
use super::error::ApiError;
use crate::media::MediaEngine;
use crate::media::broadcast::{Layer, OutputPlan, OutputStatus, Target};
use crate::store::broadcast::{self as db, Overlay, OverlaySpec, Stream, StreamSpec};
use crate::store::{cameras, presets};
use pinhole_base::broadcast::{OverlayKind, publish_url};
use pinhole_base::broadcast::{TimeOfDay, Transition};
use serde::Serialize;
use serde_json::json;
use std::path::PathBuf;
use std::sync::Arc;

fn engine(state: &SharedState) -> Result<&Arc<MediaEngine>, ApiError> {
    state.media.as_ref().ok_or_else(|| {
        ApiError::Unavailable("the media engine is disabled (media.enabled = false)".into())
    })
}

/// A stream with what it is doing now.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StreamView {
    #[serde(flatten)]
    pub stream: Stream,
    pub running: bool,
    /// While running: the encoder's and each destination's state.
    pub status: Option<OutputStatus>,
}

fn view(state: &SharedState, stream: Stream) -> StreamView {
    let status = state
        .media
        .as_ref()
        .and_then(|m| m.output(&stream.id))
        .map(|o| o.status());
    StreamView {
        running: status.is_some(),
        status,
        stream,
    }
}

pub async fn streams(state: &SharedState) -> Result<Vec<StreamView>, ApiError> {
    let list = state.store.call(|c| db::streams(c)).await?;
    Ok(list.into_iter().map(|s| view(state, s)).collect())
}

async fn stored_stream(state: &SharedState, id: &str) -> Result<Stream, ApiError> {
    let key = id.to_string();
    state
        .store
        .call(move |c| db::stream(c, &key))
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("stream `{id}`")))
}

pub async fn stream(state: &SharedState, id: &str) -> Result<StreamView, ApiError> {
    Ok(view(state, stored_stream(state, id).await?))
}

pub async fn create_stream(
    state: &SharedState,
    id: Option<String>,
    spec: StreamSpec,
) -> Result<StreamView, ApiError> {
    let now = state.clock.now_secs();
    let s = state
        .store
        .call(move |c| db::create_stream(c, id.as_deref(), &spec, now))
        .await?;
    publish(
        state,
        "stream.status_change",
        &s.id,
        json!({"change": "added"}),
    );
    Ok(view(state, s))
}

/// Replaces a stream's spec. A running stream takes it live where it can: destinations added
/// connect and removed ones disconnect while the others stay connected, and a new size, rate,
/// bitrate or overlay set rebuilds the encoder under the same connections. A new camera, preset
/// or program restarts the stream.
pub async fn update_stream(
    state: &SharedState,
    id: &str,
    spec: StreamSpec,
) -> Result<StreamView, ApiError> {
    // One change at a time, so what runs is what was stored last.
    let _one = state.stream_edits.lock().await;
    let before = stored_stream(state, id).await?.spec;
    if state.media.as_ref().is_some_and(|m| m.output(id).is_some()) {
        // A destination the running stream could not send to is refused before it is stored.
        let ids = spec.destinations.clone();
        let protocols: Vec<_> = state
            .store
            .call(move |c| {
                let mut out = Vec::new();
                for d in &ids {
                    out.extend(db::destination(c, d)?.map(|d| d.protocol));
                }
                Ok(out)
            })
            .await?;
        for p in protocols {
            crate::media::broadcast::protocol_available(p)
                .map_err(|e| ApiError::from(crate::media::MediaError::InvalidState(e)))?;
        }
    }
    let now = state.clock.now_secs();
    let key = id.to_string();
    let s = state
        .store
        .call(move |c| db::update_stream(c, &key, &spec, now))
        .await?;
    let running = state.media.as_ref().and_then(|m| m.output(id));
    if let Some(out) = running {
        let restart = (&before.camera, &before.preset, &before.program)
            != (&s.spec.camera, &s.spec.preset, &s.spec.program);
        if restart {
            start_stream(state, id).await?;
        } else {
            let targets = targets_of(state, &s.spec.destinations).await?;
            let picture =
                |x: &StreamSpec| (x.width, x.height, x.fps, x.bitrate_kbps, x.overlays.clone());
            // Left alone otherwise: a running program's entry may have its own overlays on.
            if picture(&before) != picture(&s.spec) {
                out.update(plan(state, &s).await?);
            }
            out.set_targets(targets);
        }
    }
    Ok(view(state, s))
}

/// The destinations `ids` as an output sends to them, stream keys opened.
async fn targets_of(state: &SharedState, ids: &[String]) -> Result<Vec<Target>, ApiError> {
    let ids = ids.to_vec();
    let secrets = state.secrets.clone();
    Ok(state
        .store
        .call(move |c| {
            ids.iter()
                .map(|d| {
                    let dest = db::destination(c, d)?.ok_or_else(|| {
                        crate::store::StoreError::NotFound(format!("destination `{d}`"))
                    })?;
                    let key = db::stream_key(c, &secrets, d)?;
                    Ok(Target {
                        publish_url: publish_url(
                            &dest.url,
                            dest.protocol,
                            key.as_ref().map(|k| k.expose()),
                        ),
                        id: dest.id,
                        protocol: dest.protocol,
                    })
                })
                .collect()
        })
        .await?)
}

pub async fn delete_stream(state: &SharedState, id: &str) -> Result<(), ApiError> {
    stop_stream(state, id).await.ok();
    let key = id.to_string();
    state
        .store
        .call(move |c| db::delete_stream(c, &key))
        .await?;
    publish(
        state,
        "stream.status_change",
        id,
        json!({"change": "removed"}),
    );
    Ok(())
}

fn publish(state: &SharedState, topic: &str, stream: &str, extra: serde_json::Value) {
    let mut params = json!({"stream": stream});
    if let (Some(p), serde_json::Value::Object(e)) = (params.as_object_mut(), extra) {
        p.extend(e);
    }
    state.events.publish(topic, params, state.now_ms());
}

/// Where overlay images are written for the compositor to read.
fn images_dir(state: &SharedState) -> PathBuf {
    state.config.general.state_dir.join("overlays")
}

/// The layers of `overlay_ids`, bottom first, with their images written out.
async fn layers(state: &SharedState, overlay_ids: &[String]) -> Result<Vec<Layer>, ApiError> {
    let ids = overlay_ids.to_vec();
    let found: Vec<(Overlay, Option<Vec<u8>>)> = state
        .store
        .call(move |c| {
            ids.iter()
                .filter_map(|id| db::overlay(c, id).transpose())
                .map(|o| {
                    let o = o?;
                    let img = db::overlay_image(c, &o.id)?;
                    Ok((o, img))
                })
                .collect()
        })
        .await?;
    let dir = images_dir(state);
    let mut layers = Vec::with_capacity(found.len());
    for (o, img) in found {
        let image = match (o.spec.kind, img) {
            (OverlayKind::Image, Some(bytes)) => {
                let info = pinhole_base::png::header(&bytes).map_err(|e| {
                    ApiError::Internal(format!("overlay `{}`'s stored image: {e}", o.id))
                })?;
                // Named by its version: a new upload is a new file, which rebuilds the layer.
                let path = dir.join(format!("{}-{}.png", o.id, o.updated_at));
                if !path.exists() {
                    tokio::fs::create_dir_all(&dir).await.map_err(|e| {
                        ApiError::Internal(format!("cannot create {}: {e}", dir.display()))
                    })?;
                    tokio::fs::write(&path, &bytes).await.map_err(|e| {
                        ApiError::Internal(format!("cannot write {}: {e}", path.display()))
                    })?;
                }
                Some((path, info.width, info.height))
            }
            _ => None,
        };
        layers.push((
            o.spec.z,
            Layer {
                id: o.id,
                kind: o.spec.kind,
                text: o.spec.text,
                value: o.spec.value,
                image,
                x: o.spec.x,
                y: o.spec.y,
                size: o.spec.size,
                opacity: o.spec.opacity,
            },
        ));
    }
    // Stable: equal z keeps the stream's order.
    layers.sort_by_key(|(z, _)| *z);
    Ok(layers.into_iter().map(|(_, l)| l).collect())
}

async fn plan(state: &SharedState, s: &Stream) -> Result<OutputPlan, ApiError> {
    let camera_id = s.spec.camera.clone();
    let camera = state
        .store
        .call(move |c| cameras::get(c, &camera_id))
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("camera `{}`", s.spec.camera)))?;
    Ok(OutputPlan {
        width: s.spec.width,
        height: s.spec.height,
        fps: s.spec.fps,
        bitrate_kbps: s.spec.bitrate_kbps,
        layers: layers(state, &s.spec.overlays).await?,
        camera_name: camera.name,
        preset: s.spec.preset.clone().unwrap_or_default(),
        timezone: state.timezone_name().await,
    })
}

/// The picture a stream sends (or would send): the camera on air (or the stream's camera when
/// it is not running), scaled and drawn over with the stream's overlays as they are now. The
/// overlay editor's preview.
pub async fn preview(state: &SharedState, id: &str) -> Result<bytes::Bytes, ApiError> {
    let media = engine(state)?.clone();
    let s = stored_stream(state, id).await?;
    let plan = plan(state, &s).await?;
    let camera = media
        .output(id)
        .map(|o| o.camera().id.clone())
        .unwrap_or_else(|| s.spec.camera.clone());
    let picture = media
        .live_jpeg(&camera, std::time::Duration::from_secs(5))
        .await?;
    crate::media::broadcast::render_preview(&plan, picture)
        .await
        .map_err(|e| crate::media::MediaError::Failed(e).into())
}

/// Starts (or restarts) a stream: recalls its preset, then starts its output.
pub async fn start_stream(state: &SharedState, id: &str) -> Result<StreamView, ApiError> {
    let media = engine(state)?.clone();
    let s = stored_stream(state, id).await?;
    let targets = targets_of(state, &s.spec.destinations).await?;
    if let Some(name) = &s.spec.preset {
        recall_preset(state, &s.spec.camera, name).await?;
    }
    let plan = plan(state, &s).await?;
    let listener = {
        let weak = Arc::downgrade(state);
        Arc::new(move |stream_id: &str| {
            if let Some(state) = weak.upgrade()
                && let Some(o) = state.media.as_ref().and_then(|m| m.output(stream_id))
            {
                let status = serde_json::to_value(o.status()).unwrap_or_default();
                publish(
                    &state,
                    "stream.status_change",
                    stream_id,
                    json!({"change": "status", "status": status}),
                );
            }
        })
    };
    media
        .start_output(&s.id, &s.spec.camera, plan, targets, listener)
        .await?;
    publish(
        state,
        "stream.started",
        &s.id,
        json!({"camera": s.spec.camera}),
    );
    if !s.spec.program.is_empty()
        && let Some(out) = media.output(&s.id)
    {
        tokio::spawn(run_program(state.clone(), out, s.spec.clone()));
    }
    Ok(view(state, s))
}

/// Runs a stream's program for as long as this output runs (a restart or stop of the stream
/// replaces or ends the output, and with it this task). Each entry goes on air at its `at` (or
/// when the previous entry's `secs` are up), with its overlays and transition, and stays for its
/// `secs` (or until the next entry's `at`); then the next, in a loop.
async fn run_program(
    state: SharedState,
    out: Arc<crate::media::broadcast::Output>,
    spec: pinhole_base::broadcast::StreamSpec,
) {
    let still_running = |state: &SharedState| {
        state
            .media
            .as_ref()
            .and_then(|m| m.output(&out.stream_id))
            .is_some_and(|o| Arc::ptr_eq(&o, &out))
    };
    // Waits until `until`, false if the output ended meanwhile.
    let wait = |until: tokio::time::Instant| {
        let state = state.clone();
        async move {
            while tokio::time::Instant::now() < until {
                if !still_running(&state) {
                    return false;
                }
                tokio::time::sleep(
                    std::time::Duration::from_millis(250).min(until - tokio::time::Instant::now()),
                )
                .await;
            }
            still_running(&state)
        }
    };
    for entry in spec.program.iter().cycle() {
        if let Some(at) = entry.at.as_deref().and_then(TimeOfDay::parse) {
            // Read each time: the time zone may have been changed on the page meanwhile.
            let tz = state.timezone().await;
            let now = jiff::Timestamp::now();
            let until = at.next_after(now, &tz);
            let ms = until.duration_since(now).as_millis().max(0) as u64;
            if !wait(tokio::time::Instant::now() + std::time::Duration::from_millis(ms)).await {
                return;
            }
        } else if !still_running(&state) {
            return;
        }
        let overlays = entry.overlays.as_ref().unwrap_or(&spec.overlays);
        if let Err(e) = show_overlays(&state, &out, overlays).await {
            tracing::warn!(stream = %out.stream_id, error = ?e, "program entry's overlays not shown");
        }
        if let Err(e) = program_cue(
            &state,
            &out.stream_id,
            &entry.camera,
            entry.preset.as_deref(),
            entry.transition,
        )
        .await
        {
            tracing::warn!(stream = %out.stream_id, camera = %entry.camera, error = ?e, "program entry not taken");
        }
        if let Some(secs) = entry.secs
            && !wait(tokio::time::Instant::now() + std::time::Duration::from_secs(secs.into()))
                .await
        {
            return;
        }
    }
}

/// Makes `ids` the overlays a running output draws (a rebuild of its encoder if the set
/// changes; the destinations stay connected).
async fn show_overlays(
    state: &SharedState,
    out: &crate::media::broadcast::Output,
    ids: &[String],
) -> Result<(), ApiError> {
    let (mut now, mut want) = (out.overlay_ids(), ids.to_vec());
    now.sort();
    want.sort();
    if now == want {
        return Ok(());
    }
    let mut plan = out.plan();
    plan.layers = layers(state, ids).await?;
    out.update(plan);
    Ok(())
}

/// Moves the camera to its named preset before the stream starts.
async fn recall_preset(state: &SharedState, camera: &str, name: &str) -> Result<(), ApiError> {
    let cam = camera.to_string();
    let list = state.store.call(move |c| presets::list(c, &cam)).await?;
    let p = list.iter().find(|p| p.name == name).ok_or_else(|| {
        ApiError::from(pinhole_base::FieldErrors::single(
            "preset",
            format!("camera `{camera}` has no preset named `{name}`"),
        ))
    })?;
    super::ptz_ops::goto_preset(state, p.id).await?;
    Ok(())
}

/// A program cut: the running stream `stream` shows `camera` from now on (moved to its named
/// `preset` first), without a reconnection. The stream's stored camera is where it starts.
pub async fn program_cue(
    state: &SharedState,
    stream: &str,
    camera: &str,
    preset: Option<&str>,
    transition: Transition,
) -> Result<StreamView, ApiError> {
    let media = engine(state)?.clone();
    let s = stored_stream(state, stream).await?;
    let out = media.output(stream).ok_or_else(|| ApiError::Conflict {
        reason: "stream_not_running",
        detail: format!("stream `{stream}` is not running; start it first"),
    })?;
    let handle = media
        .camera(camera)
        .ok_or_else(|| ApiError::NotFound(format!("camera `{camera}`")))?;
    let cam_id = camera.to_string();
    let def = state
        .store
        .call(move |c| cameras::get(c, &cam_id))
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("camera `{camera}`")))?;
    if let Some(name) = preset {
        recall_preset(state, camera, name).await?;
    }
    match transition {
        Transition::Cut => out.switch_to(handle, &def.name, preset.unwrap_or_default()),
        Transition::Fade => {
            out.fade_to(handle, &def.name, preset.unwrap_or_default())
                .await
        }
        Transition::Dissolve => out.dissolve_to(handle, &def.name, preset.unwrap_or_default()),
    }
    publish(
        state,
        "stream.status_change",
        stream,
        json!({"change": "cue", "camera": camera, "preset": preset, "transition": transition}),
    );
    Ok(view(state, s))
}

pub async fn stop_stream(state: &SharedState, id: &str) -> Result<StreamView, ApiError> {
    let s = stored_stream(state, id).await?;
    if engine(state)?.stop_output(id).await {
        publish(state, "stream.stopped", id, json!({}));
    }
    Ok(view(state, s))
}

/// Starts the streams marked `autostart`; a failure is logged, not fatal.
pub async fn autostart(state: &SharedState) {
    let Ok(list) = state.store.call(|c| db::streams(c)).await else {
        return;
    };
    for s in list.into_iter().filter(|s| s.spec.autostart) {
        if let Err(e) = start_stream(state, &s.id).await {
            tracing::warn!(stream = %s.id, error = ?e, "cannot start the stream at boot");
        }
    }
}

// ---- overlays

/// Running outputs take the device's time zone (after it changed) for their clocks.
pub async fn retime_outputs(state: &SharedState) {
    let Some(media) = state.media.as_ref() else {
        return;
    };
    let tz = state.timezone_name().await;
    for out in media.outputs() {
        let mut plan = out.plan();
        if plan.timezone != tz {
            plan.timezone = tz.clone();
            out.update(plan);
        }
    }
}

/// Redraws every running output that uses `overlay_id` (live when only properties changed).
async fn refresh_outputs(state: &SharedState, overlay_id: &str) -> Result<(), ApiError> {
    let Some(media) = state.media.as_ref() else {
        return Ok(());
    };
    // The overlays each output shows now (a program entry may have its own set), on the camera
    // on air now.
    for out in media.outputs() {
        let ids = out.overlay_ids();
        if ids.iter().any(|o| o == overlay_id) {
            let mut plan = out.plan();
            plan.layers = layers(state, &ids).await?;
            out.update(plan);
        }
    }
    Ok(())
}

pub async fn create_overlay(
    state: &SharedState,
    id: Option<String>,
    spec: OverlaySpec,
) -> Result<Overlay, ApiError> {
    let now = state.clock.now_secs();
    Ok(state
        .store
        .call(move |c| db::create_overlay(c, id.as_deref(), &spec, now))
        .await?)
}

pub async fn update_overlay(
    state: &SharedState,
    id: &str,
    spec: OverlaySpec,
) -> Result<Overlay, ApiError> {
    let now = state.clock.now_secs();
    let key = id.to_string();
    let o = state
        .store
        .call(move |c| db::update_overlay(c, &key, &spec, now))
        .await?;
    refresh_outputs(state, id).await?;
    Ok(o)
}

/// Sets an overlay's `{value}`, live on every output that draws it.
pub async fn set_overlay_value(
    state: &SharedState,
    id: &str,
    value: String,
) -> Result<Overlay, ApiError> {
    let key = id.to_string();
    let now = state.clock.now_secs();
    let o = state
        .store
        .call(move |c| {
            let mut o = db::overlay(c, &key)?
                .ok_or_else(|| crate::store::StoreError::NotFound(format!("overlay `{key}`")))?;
            o.spec.value = value;
            db::update_overlay(c, &key, &o.spec, now)
        })
        .await?;
    if let Some(media) = state.media.as_ref() {
        for out in media.outputs() {
            out.set_value(id, &o.spec.value);
        }
    }
    Ok(o)
}

/// Stores an overlay's PNG after checking it.
pub async fn set_overlay_image(
    state: &SharedState,
    id: &str,
    png: Vec<u8>,
) -> Result<Overlay, ApiError> {
    pinhole_base::png::check(&png)
        .map_err(|e| ApiError::from(pinhole_base::FieldErrors::single("image", e)))?;
    let key = id.to_string();
    let now = state.clock.now_secs();
    let o = state
        .store
        .call(move |c| {
            let o = db::overlay(c, &key)?
                .ok_or_else(|| crate::store::StoreError::NotFound(format!("overlay `{key}`")))?;
            if o.spec.kind != OverlayKind::Image {
                return Err(pinhole_base::FieldErrors::single(
                    "kind",
                    "only an image overlay takes an image",
                )
                .into());
            }
            // A new version each upload, so the running layer reloads it.
            db::set_overlay_image(c, &key, &png, now.max(o.updated_at + 1))
        })
        .await?;
    refresh_outputs(state, id).await?;
    Ok(o)
}

pub async fn delete_overlay(state: &SharedState, id: &str) -> Result<(), ApiError> {
    let key = id.to_string();
    state
        .store
        .call(move |c| db::delete_overlay(c, &key))
        .await?;
    // Its image files go with it.
    if let Ok(mut dir) = tokio::fs::read_dir(images_dir(state)).await {
        let prefix = format!("{id}-");
        while let Ok(Some(e)) = dir.next_entry().await {
            // `{id}-{version}.png` only: another overlay's id may start with this one's.
            let name = e.file_name().to_string_lossy().into_owned();
            let version = name
                .strip_prefix(&prefix)
                .and_then(|rest| rest.strip_suffix(".png"));
            if version.is_some_and(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit())) {
                let _ = tokio::fs::remove_file(e.path()).await;
            }
        }
    }
    Ok(())
}
