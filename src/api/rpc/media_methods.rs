//! The camera service's media methods: cameras, streams, snapshots, recordings, storage.
//!
//! Result shapes follow the camera service (`shared/reference/camera-service-api.md`): times are
//! RFC 3339, sizes bytes, durations seconds; recordings are named without their extension and
//! downloaded from `/files/recordings/<name>.<ext>`, snapshots with it.

use super::Session;
use super::envelope::{self, RpcError};
use crate::api::SharedState;
use crate::clock::rfc3339_ms;
use crate::media::camera::CameraState;
use crate::media::recorder::Format;
use crate::media::retention::RetentionPolicy;
use crate::media::{MediaEngine, MediaError};
use crate::store::recordings::{self, Recording};
use crate::store::snapshots::{self, Snapshot};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

pub const METHODS: &[&str] = &[
    "get_camera_list",
    "get_camera_status",
    "get_camera_capabilities",
    "take_snapshot",
    "start_recording",
    "stop_recording",
    "list_recordings",
    "list_snapshots",
    "get_recording_info",
    "get_snapshot_info",
    "delete_recording",
    "delete_snapshot",
    "start_streaming",
    "stop_streaming",
    "get_stream_url",
    "get_stream_status",
    "get_streams",
    "set_retention_policy",
    "cleanup_old_files",
    "list_local_devices",
    "list_events",
    "get_event",
    "delete_event",
    "get_detection_status",
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoParams {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeviceParams {
    device: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SnapshotParams {
    device: String,
    #[serde(default)]
    filename: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StartRecordingParams {
    device: String,
    #[serde(default)]
    duration: Option<f64>,
    #[serde(default)]
    format: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PageParams {
    #[serde(default)]
    limit: Option<i64>,
    #[serde(default)]
    offset: Option<i64>,
    /// Pinhole extension: only this camera.
    #[serde(default)]
    device: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventQuery {
    #[serde(default)]
    device: Option<String>,
    #[serde(default)]
    label: Option<String>,
    /// object or motion.
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    from_ms: Option<i64>,
    #[serde(default)]
    to_ms: Option<i64>,
    #[serde(default)]
    limit: Option<i64>,
    #[serde(default)]
    offset: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventId {
    id: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FilenameParams {
    filename: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RetentionParams {
    policy_type: String,
    #[serde(default)]
    max_age_days: Option<f64>,
    #[serde(default)]
    max_size_gb: Option<f64>,
    enabled: bool,
    /// Pinhole extension.
    #[serde(default)]
    min_free_mb: Option<u64>,
}

fn page(p: &PageParams) -> Result<(u32, u32), RpcError> {
    let limit = p.limit.unwrap_or(50);
    let offset = p.offset.unwrap_or(0);
    if !(1..=1000).contains(&limit) {
        return Err(
            RpcError::invalid_params(format!("limit: {limit} is outside 1..=1000"))
                .with_data("param", json!("limit"))
                .with_data("rule", json!("1..=1000")),
        );
    }
    if offset < 0 || offset > u32::MAX as i64 {
        return Err(
            RpcError::invalid_params(format!("offset: {offset} must be >= 0"))
                .with_data("param", json!("offset")),
        );
    }
    Ok((limit as u32, offset as u32))
}

fn engine(state: &SharedState) -> Result<&Arc<MediaEngine>, RpcError> {
    state.media.as_ref().ok_or_else(|| {
        RpcError::new(
            envelope::UNSUPPORTED,
            "not_available",
            "the media engine is disabled on this appliance (media.enabled = false)",
            "Enable it in the configuration",
        )
        .with_data("feature", json!("media"))
    })
}

fn camera_not_found(id: &str) -> RpcError {
    RpcError::new(
        envelope::NOT_FOUND,
        "not_found",
        format!("camera `{id}` not found"),
        "Use get_camera_list to see available cameras",
    )
    .with_data("resource", json!("camera"))
    .with_data("id", json!(id))
}

/// A camera in the camera service's shape, with Pinhole's details added.
fn camera_json(e: &MediaEngine, session: &Session, id: &str) -> Option<Value> {
    let h = e.camera(id)?;
    let def = h.definition();
    let st = h.status();
    let (w, hgt) = (st.width.or(def.width), st.height.or(def.height));
    Some(json!({
        "device": id,
        "status": st.state.service_status(),
        "name": def.name,
        "resolution": match (w, hgt) { (Some(w), Some(h)) => format!("{w}x{h}"), _ => String::new() },
        "fps": st.fps.round() as i64,
        "streams": {"rtsp": e.stream_url(id, session.host.as_deref())},
        "state": st.state.as_str(),
        "source": def.source,
        "encoder": st.encoder,
        "bitrate_kbps": st.bitrate_kbps,
        "error": st.error,
        "restarts": st.restarts,
        "since": rfc3339_ms(st.since_ms),
        "preview_viewers": h.preview.viewers(),
        "rtsp_consumers": h.hub.consumers(),
    }))
}

fn recording_json(r: &Recording) -> Value {
    json!({
        "filename": r.filename,
        "device": r.camera_id,
        "file_size": r.size_bytes,
        "modified_time": rfc3339_ms(r.end_ms.unwrap_or(r.start_ms)),
        "created_time": rfc3339_ms(r.start_ms),
        "duration": r.duration_ms().map(|d| d / 1000),
        "format": r.format,
        "state": r.state,
        "trigger": r.trigger,
        "download_url": format!("/files/recordings/{}", r.file_name()),
    })
}

fn snapshot_json(s: &Snapshot) -> Value {
    json!({
        "filename": s.filename,
        "device": s.camera_id,
        "file_size": s.size_bytes,
        "modified_time": rfc3339_ms(s.taken_ms),
        "created_time": rfc3339_ms(s.taken_ms),
        "width": s.width,
        "height": s.height,
        "download_url": format!("/files/snapshots/{}", s.filename),
    })
}

fn parse<T: serde::de::DeserializeOwned>(p: &Option<Value>) -> Result<T, RpcError> {
    super::methods::params(p)
}

pub async fn call(
    state: &SharedState,
    session: &mut Session,
    name: &str,
    p: &Option<Value>,
) -> Result<Value, RpcError> {
    let e = engine(state)?;
    match name {
        "get_camera_list" => {
            parse::<NoParams>(p)?;
            let cams: Vec<Value> = e
                .cameras()
                .iter()
                .filter_map(|h| camera_json(e, session, &h.id))
                .collect();
            let connected = cams.iter().filter(|c| c["status"] == "CONNECTED").count();
            Ok(json!({"cameras": cams, "total": cams.len(), "connected": connected}))
        }
        "get_camera_status" => {
            let DeviceParams { device } = parse(p)?;
            let mut v =
                camera_json(e, session, &device).ok_or_else(|| camera_not_found(&device))?;
            let h = e.camera(&device).ok_or_else(|| camera_not_found(&device))?;
            let st = h.status();
            v["metrics"] = json!({
                "bytes_sent": h.bytes.load(std::sync::atomic::Ordering::Relaxed),
                "frames": h.frames.load(std::sync::atomic::Ordering::Relaxed),
                "readers": h.hub.consumers(),
                "uptime": if st.state == CameraState::Streaming { (state.now_ms() - st.since_ms) / 1000 } else { 0 },
            });
            v["recording"] = json!(e.recording_state(&device).await);
            Ok(v)
        }
        "get_camera_capabilities" => {
            let DeviceParams { device } = parse(p)?;
            let h = e.camera(&device).ok_or_else(|| camera_not_found(&device))?;
            let def = h.definition();
            let st = h.status();
            let formats: Vec<&str> = match def.source.as_str() {
                "rtsp" => vec!["H264"],
                _ => vec!["H264", "MJPEG"],
            };
            Ok(json!({
                "device": device,
                "formats": formats,
                "resolutions": match (st.width, st.height) { (Some(w), Some(h)) => vec![format!("{w}x{h}")], _ => vec![] },
                "fps_options": def.fps.map(|f| vec![f]).unwrap_or_default(),
                "validation_status": if st.state == CameraState::Streaming { "CONFIRMED" } else { "DISCONNECTED" },
                "ptz": def.ptz.is_some(),
                "encoder": st.encoder,
            }))
        }
        "take_snapshot" => {
            let SnapshotParams { device, filename } = parse(p)?;
            if e.camera(&device).is_none() {
                return Err(camera_not_found(&device));
            }
            let s = e
                .take_snapshot(&device, filename)
                .await
                .map_err(RpcError::from)?;
            Ok(json!({
                "device": device,
                "filename": s.filename,
                "status": "SUCCESS",
                "timestamp": rfc3339_ms(s.taken_ms),
                "file_size": s.size_bytes,
                "file_path": e.snapshot_path(&s).display().to_string(),
                "download_url": format!("/files/snapshots/{}", s.filename),
                "width": s.width,
                "height": s.height,
            }))
        }
        "start_recording" => {
            let StartRecordingParams {
                device,
                duration,
                format,
            } = parse(p)?;
            let format = match format.as_deref() {
                None => Format::Fmp4,
                Some(f) => Format::parse(f).ok_or_else(|| {
                    RpcError::invalid_params(format!("format: `{f}` is not fmp4, mp4 or mkv"))
                        .with_data("param", json!("format"))
                })?,
            };
            let duration = match duration {
                None => None,
                Some(d) if d.fract() == 0.0 && (1.0..=86_400.0).contains(&d) => Some(d as u32),
                Some(d) => {
                    return Err(RpcError::invalid_params(format!(
                        "duration: {d} must be a whole number of seconds within 1..=86400"
                    ))
                    .with_data("param", json!("duration"))
                    .with_data("rule", json!("1..=86400")));
                }
            };
            if e.camera(&device).is_none() {
                return Err(camera_not_found(&device));
            }
            let r = e
                .start_recording(&device, format, duration)
                .await
                .map_err(RpcError::from)?;
            let v = json!({
                "device": device,
                "filename": r.filename,
                "status": "RECORDING",
                "start_time": rfc3339_ms(r.started_ms),
                "duration": duration,
                "format": r.format,
            });
            Ok(v)
        }
        "stop_recording" => {
            let DeviceParams { device } = parse(p)?;
            if e.camera(&device).is_none() {
                return Err(camera_not_found(&device));
            }
            let (st, row) = e.stop_recording(&device).await.map_err(RpcError::from)?;
            let now = state.now_ms();
            Ok(json!({
                "device": device,
                "filename": st.filename,
                "status": "STOPPED",
                "start_time": rfc3339_ms(st.started_ms),
                "end_time": rfc3339_ms(now),
                "duration": (now - st.started_ms) / 1000,
                "file_size": row.as_ref().map(|r| r.size_bytes),
                "format": st.format,
            }))
        }
        "list_recordings" => {
            let pp: PageParams = parse(p)?;
            let (limit, offset) = page(&pp)?;
            let f = recordings::Filter {
                camera_id: pp.device,
                ..Default::default()
            };
            let (rows, total) = state
                .store
                .call(move |c| recordings::list(c, &f, limit, offset))
                .await
                .map_err(RpcError::from)?;
            Ok(json!({
                "files": rows.iter().map(recording_json).collect::<Vec<_>>(),
                "total": total, "limit": limit, "offset": offset,
            }))
        }
        "list_snapshots" => {
            let pp: PageParams = parse(p)?;
            let (limit, offset) = page(&pp)?;
            let dev = pp.device;
            let (rows, total) = state
                .store
                .call(move |c| snapshots::list(c, dev.as_deref(), limit, offset))
                .await
                .map_err(RpcError::from)?;
            Ok(json!({
                "files": rows.iter().map(snapshot_json).collect::<Vec<_>>(),
                "total": total, "limit": limit, "offset": offset,
            }))
        }
        "get_recording_info" => {
            let FilenameParams { filename } = parse(p)?;
            let name = recordings::stem(&filename).to_string();
            let r = state
                .store
                .call(move |c| recordings::get(c, &name))
                .await
                .map_err(RpcError::from)?
                .ok_or_else(|| file_not_found("recording", &filename))?;
            Ok(recording_json(&r))
        }
        "get_snapshot_info" => {
            let FilenameParams { filename } = parse(p)?;
            let name = filename.clone();
            let s = state
                .store
                .call(move |c| snapshots::get(c, &name))
                .await
                .map_err(RpcError::from)?
                .ok_or_else(|| file_not_found("snapshot", &filename))?;
            Ok(snapshot_json(&s))
        }
        "delete_recording" => {
            let FilenameParams { filename } = parse(p)?;
            e.delete_recording(recordings::stem(&filename))
                .await
                .map_err(|err| match err {
                    MediaError::NotFound(_) => file_not_found("recording", &filename),
                    other => RpcError::from(other),
                })?;
            Ok(
                json!({"filename": filename, "deleted": true, "message": "Recording file deleted successfully"}),
            )
        }
        "delete_snapshot" => {
            let FilenameParams { filename } = parse(p)?;
            e.delete_snapshot(&filename)
                .await
                .map_err(|err| match err {
                    MediaError::NotFound(_) => file_not_found("snapshot", &filename),
                    other => RpcError::from(other),
                })?;
            Ok(
                json!({"filename": filename, "deleted": true, "message": "Snapshot file deleted successfully"}),
            )
        }
        "start_streaming" | "stop_streaming" | "get_stream_url" | "get_stream_status" => {
            let DeviceParams { device } = parse(p)?;
            let h = e.camera(&device).ok_or_else(|| camera_not_found(&device))?;
            let st = h.status();
            let url = e.stream_url(&device, session.host.as_deref());
            let ready = st.state == CameraState::Streaming;
            let now = rfc3339_ms(state.now_ms());
            Ok(match name {
                // The RTSP stream is always served while the camera runs; these calls report it
                // (there is no separate streaming process to start or stop).
                "start_streaming" => json!({
                    "device": device, "stream_name": device, "stream_url": url,
                    "status": if ready { "STARTED" } else { "FAILED" },
                    "start_time": rfc3339_ms(st.since_ms), "auto_close_after": "never",
                }),
                "stop_streaming" => json!({
                    "device": device, "stream_name": device, "status": "STOPPED",
                    "start_time": rfc3339_ms(st.since_ms), "end_time": now, "duration": 0,
                    "stream_continues": true,
                    "message": "the RTSP stream stays available while the camera is enabled; disable the camera to stop it",
                }),
                "get_stream_url" => json!({
                    "device": device, "stream_name": device, "stream_url": url, "available": ready,
                    "active_consumers": h.hub.consumers(),
                    "stream_status": match st.state { CameraState::Streaming => "READY", CameraState::Failed => "ERROR", _ => "NOT_READY" },
                }),
                _ => json!({
                    "device": device, "stream_name": device,
                    "status": match st.state { CameraState::Streaming => "ACTIVE", CameraState::Failed => "ERROR", CameraState::Starting | CameraState::Reconnecting => "STARTING", CameraState::Disabled => "INACTIVE" },
                    "ready": ready,
                    "metrics": {
                        "bytes_sent": h.bytes.load(std::sync::atomic::Ordering::Relaxed),
                        "frames_sent": h.frames.load(std::sync::atomic::Ordering::Relaxed),
                        "bitrate": (st.bitrate_kbps * 1000.0) as i64,
                        "fps": st.fps.round() as i64,
                    },
                    "readers": h.hub.consumers(),
                    "start_time": rfc3339_ms(st.since_ms),
                    "error": st.error,
                }),
            })
        }
        "get_streams" => {
            parse::<NoParams>(p)?;
            Ok(Value::Array(
                e.cameras()
                    .iter()
                    .map(|h| {
                        let st = h.status();
                        json!({
                            "name": h.id,
                            "source": h.definition().source,
                            "ready": st.state == CameraState::Streaming,
                            "readers": h.hub.consumers(),
                            "bytes_sent": h.bytes.load(std::sync::atomic::Ordering::Relaxed),
                            "url": e.stream_url(&h.id, session.host.as_deref()),
                        })
                    })
                    .collect(),
            ))
        }
        "set_retention_policy" => {
            let r: RetentionParams = parse(p)?;
            let cur = e.retention_policy();
            let policy = match r.policy_type.as_str() {
                "age" => RetentionPolicy {
                    enabled: r.enabled,
                    max_age_days: r.max_age_days.ok_or_else(|| {
                        RpcError::invalid_params("max_age_days: required for policy_type age")
                            .with_data("param", json!("max_age_days"))
                    })?,
                    max_size_gb: 0.0,
                    min_free_mb: r.min_free_mb.unwrap_or(cur.min_free_mb),
                },
                "size" => RetentionPolicy {
                    enabled: r.enabled,
                    max_age_days: 0.0,
                    max_size_gb: r.max_size_gb.ok_or_else(|| {
                        RpcError::invalid_params("max_size_gb: required for policy_type size")
                            .with_data("param", json!("max_size_gb"))
                    })?,
                    min_free_mb: r.min_free_mb.unwrap_or(cur.min_free_mb),
                },
                // Pinhole extension: both limits at once.
                "age_and_size" => RetentionPolicy {
                    enabled: r.enabled,
                    max_age_days: r.max_age_days.unwrap_or(cur.max_age_days),
                    max_size_gb: r.max_size_gb.unwrap_or(cur.max_size_gb),
                    min_free_mb: r.min_free_mb.unwrap_or(cur.min_free_mb),
                },
                "manual" => RetentionPolicy {
                    enabled: false,
                    max_age_days: 0.0,
                    max_size_gb: 0.0,
                    min_free_mb: r.min_free_mb.unwrap_or(cur.min_free_mb),
                },
                other => {
                    return Err(RpcError::invalid_params(format!(
                        "policy_type: `{other}` is not age, size, age_and_size or manual"
                    ))
                    .with_data("param", json!("policy_type")));
                }
            };
            let problems = policy.problems();
            let first = problems.iter().next().map(|e| e.field.clone());
            if let Some(param) = first {
                return Err(RpcError::from(problems).with_data("param", json!(param)));
            }
            let mut changes = std::collections::BTreeMap::new();
            changes.insert(
                "retention_policy".to_string(),
                serde_json::to_value(&policy).unwrap_or_default(),
            );
            let by = session.principal.as_ref().map(|p| p.username.clone());
            let now = state.clock.now_secs();
            state
                .store
                .call(move |c| crate::store::settings::update(c, &changes, by.as_deref(), now))
                .await
                .map_err(RpcError::from)?;
            e.set_retention_policy(policy.clone());
            Ok(json!({
                "policy_type": r.policy_type,
                "max_age_days": policy.max_age_days,
                "max_size_gb": policy.max_size_gb,
                "min_free_mb": policy.min_free_mb,
                "enabled": policy.enabled,
                "message": "Retention policy configured successfully",
            }))
        }
        "cleanup_old_files" => {
            parse::<NoParams>(p)?;
            let (n, bytes) = e.apply_retention().await.map_err(RpcError::from)?;
            Ok(json!({
                "cleanup_executed": true,
                "files_deleted": n,
                "space_freed": bytes,
                "message": "Cleanup completed successfully",
            }))
        }
        "list_local_devices" => {
            parse::<NoParams>(p)?;
            let list = tokio::task::spawn_blocking(crate::media::devices::list)
                .await
                .map_err(|e| RpcError::internal(e.to_string()))?;
            Ok(json!({"devices": list, "total": list.len()}))
        }
        "list_events" => {
            let q: EventQuery = parse(p)?;
            let (limit, offset) = page(&PageParams {
                limit: q.limit,
                offset: q.offset,
                device: None,
            })?;
            let f = crate::store::events::Filter {
                camera_id: q.device,
                label: q.label,
                kind: q.kind,
                from_ms: q.from_ms,
                to_ms: q.to_ms,
            };
            let (rows, total) = state
                .store
                .call(move |c| crate::store::events::list(c, &f, limit, offset))
                .await
                .map_err(RpcError::from)?;
            Ok(json!({"events": rows, "total": total, "limit": limit, "offset": offset}))
        }
        "get_event" | "delete_event" => {
            let EventId { id } = parse(p)?;
            let ev = state
                .store
                .call(move |c| crate::store::events::get(c, id))
                .await
                .map_err(RpcError::from)?
                .ok_or_else(|| {
                    RpcError::new(
                        envelope::NOT_FOUND,
                        "not_found",
                        format!("event {id} not found"),
                        "Use list_events",
                    )
                    .with_data("resource", json!("event"))
                    .with_data("id", json!(id))
                })?;
            if name == "get_event" {
                return Ok(json!(ev));
            }
            if let Some(s) = &ev.snapshot {
                let _ = e.delete_snapshot(s).await;
            }
            state
                .store
                .call(move |c| crate::store::events::delete(c, id))
                .await
                .map_err(RpcError::from)?;
            Ok(json!({"id": id, "deleted": true}))
        }
        "get_detection_status" => {
            parse::<NoParams>(p)?;
            let mut v = state
                .detection
                .get()
                .map(|s| s.json())
                .unwrap_or_else(|| json!({"enabled": false}));
            if let Some(m) = state.mqtt.get() {
                use std::sync::atomic::Ordering::Relaxed;
                v["mqtt"] = json!({
                    "enabled": state.config.mqtt.enabled,
                    "connected": m.connected.load(Relaxed),
                    "sent": m.sent.load(Relaxed),
                    "queued": m.queued.load(Relaxed),
                    "dropped": m.dropped.load(Relaxed),
                });
            }
            Ok(v)
        }
        other => Err(RpcError::internal(format!("{other} is not a media method"))),
    }
}

fn file_not_found(kind: &str, name: &str) -> RpcError {
    RpcError::new(
        envelope::NOT_FOUND,
        "not_found",
        format!("{kind} `{name}` not found"),
        if kind == "recording" {
            "Use list_recordings to see what exists"
        } else {
            "Use list_snapshots to see what exists"
        },
    )
    .with_data("resource", json!(kind))
    .with_data("id", json!(name))
}
