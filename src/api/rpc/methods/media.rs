//! The camera service's media methods: cameras, streams, snapshots, recordings, storage.
//!
//! Result shapes follow the camera service (`docs/camera-service.md`): times are
//! RFC 3339, sizes bytes, durations seconds; recordings are named without their extension and
//! downloaded from `/files/recordings/<name>.<ext>`, snapshots with it. Every method answers
//! -32030 when the media engine is off (`media.enabled = false`).

use super::{DeviceParams, Method, NoParams, Session};
use crate::api::SharedState;
use crate::api::rpc::envelope::{self, RpcError};
use crate::api::views::{RecordingView, SnapshotView};
use crate::clock::rfc3339_ms;
use crate::media::camera::CameraState;
use crate::media::pipeline::VideoCodec;
use crate::media::recorder::Format;
use crate::media::retention::RetentionPolicy;
use crate::media::{MediaEngine, MediaError};
use crate::store::cameras::SourceKind;
use crate::store::recordings;
use crate::store::snapshots;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

pub(super) fn methods() -> Vec<Method> {
    vec![
        method!("get_camera_list", VIEWER, READ, get_camera_list),
        method!("get_camera_status", VIEWER, READ, get_camera_status),
        method!(
            "get_camera_capabilities",
            VIEWER,
            READ,
            get_camera_capabilities
        ),
        method!("take_snapshot", OPERATOR, AUDITED, take_snapshot),
        method!("start_recording", OPERATOR, AUDITED, start_recording),
        method!("stop_recording", OPERATOR, AUDITED, stop_recording),
        method!("list_recordings", VIEWER, READ, list_recordings),
        method!("list_snapshots", VIEWER, READ, list_snapshots),
        method!("get_recording_info", VIEWER, READ, get_recording_info),
        method!("get_snapshot_info", VIEWER, READ, get_snapshot_info),
        method!("delete_recording", ADMIN, AUDITED, delete_recording),
        method!("delete_snapshot", ADMIN, AUDITED, delete_snapshot),
        method!("start_streaming", OPERATOR, AUDITED, start_streaming),
        method!("stop_streaming", OPERATOR, AUDITED, stop_streaming),
        method!("get_stream_url", VIEWER, READ, get_stream_url),
        method!("get_stream_status", VIEWER, READ, get_stream_status),
        method!("get_streams", VIEWER, READ, get_streams),
        method!("set_retention_policy", ADMIN, AUDITED, set_retention_policy),
        method!("cleanup_old_files", ADMIN, AUDITED, cleanup_old_files),
        method!("list_local_devices", OPERATOR, READ, list_local_devices),
        method!("get_camera_picture", VIEWER, READ, get_camera_picture),
        method!("set_camera_picture", OPERATOR, AUDITED, set_camera_picture),
        method!("get_camera_osd", VIEWER, READ, get_camera_osd),
        method!("set_camera_osd", ADMIN, AUDITED, set_camera_osd),
    ]
}

async fn get_camera_osd(
    state: &SharedState,
    _session: &mut Session,
    DeviceParams { device }: DeviceParams,
) -> Result<Value, RpcError> {
    let v = crate::api::osd_ops::get(state, &device).await?;
    serde_json::to_value(v).map_err(|e| RpcError::internal(e.to_string()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OsdParams {
    device: String,
    texts: Vec<pinhole_base::osd::OsdText>,
}

async fn set_camera_osd(
    state: &SharedState,
    _session: &mut Session,
    p: OsdParams,
) -> Result<Value, RpcError> {
    let v = crate::api::osd_ops::set(state, &p.device, p.texts).await?;
    serde_json::to_value(v).map_err(|e| RpcError::internal(e.to_string()))
}

async fn get_camera_picture(
    state: &SharedState,
    _session: &mut Session,
    DeviceParams { device }: DeviceParams,
) -> Result<Value, RpcError> {
    let v = crate::api::picture_ops::get(state, &device).await?;
    serde_json::to_value(v).map_err(|e| RpcError::internal(e.to_string()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PictureParams {
    device: String,
    #[serde(default)]
    brightness: Option<u8>,
    #[serde(default)]
    contrast: Option<u8>,
    #[serde(default)]
    saturation: Option<u8>,
}

async fn set_camera_picture(
    state: &SharedState,
    _session: &mut Session,
    p: PictureParams,
) -> Result<Value, RpcError> {
    let change = pinhole_base::picture::PictureChange {
        brightness: p.brightness,
        contrast: p.contrast,
        saturation: p.saturation,
    };
    let v = crate::api::picture_ops::set(state, &p.device, &change).await?;
    serde_json::to_value(v).map_err(|e| RpcError::internal(e.to_string()))
}

async fn get_camera_list(
    state: &SharedState,
    session: &mut Session,
    _: NoParams,
) -> Result<Value, RpcError> {
    let e = engine(state)?;
    let cams: Vec<Value> = e
        .cameras()
        .iter()
        .filter_map(|h| camera_json(e, state.tls_enabled, session, &h.id))
        .collect();
    let connected = cams.iter().filter(|c| c["status"] == "CONNECTED").count();
    Ok(json!({"cameras": cams, "total": cams.len(), "connected": connected}))
}

async fn get_camera_status(
    state: &SharedState,
    session: &mut Session,
    DeviceParams { device }: DeviceParams,
) -> Result<Value, RpcError> {
    let e = engine(state)?;
    let mut v = camera_json(e, state.tls_enabled, session, &device)
        .ok_or_else(|| camera_not_found(&device))?;
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

async fn get_camera_capabilities(
    state: &SharedState,
    _session: &mut Session,
    DeviceParams { device }: DeviceParams,
) -> Result<Value, RpcError> {
    let e = engine(state)?;
    let h = e.camera(&device).ok_or_else(|| camera_not_found(&device))?;
    let def = h.definition();
    let st = h.status();
    let formats: Vec<&str> = match def.source {
        SourceKind::Rtsp => match st.codec.or(h.last_codec()) {
            Some(VideoCodec::H265) => vec!["H265", "MJPEG"],
            Some(VideoCodec::H264) => vec!["H264", "MJPEG"],
            None => vec![],
        },
        SourceKind::Test | SourceKind::V4l2 | SourceKind::Libcamera | SourceKind::Mjpeg => {
            vec!["H264", "MJPEG"]
        }
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

async fn take_snapshot(
    state: &SharedState,
    _session: &mut Session,
    SnapshotParams { device, filename }: SnapshotParams,
) -> Result<Value, RpcError> {
    let e = engine(state)?;
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

async fn start_recording(
    state: &SharedState,
    _session: &mut Session,
    StartRecordingParams {
        device,
        duration,
        format,
    }: StartRecordingParams,
) -> Result<Value, RpcError> {
    let e = engine(state)?;
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

async fn stop_recording(
    state: &SharedState,
    _session: &mut Session,
    DeviceParams { device }: DeviceParams,
) -> Result<Value, RpcError> {
    let e = engine(state)?;
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

async fn list_recordings(
    state: &SharedState,
    _session: &mut Session,
    pp: PageParams,
) -> Result<Value, RpcError> {
    engine(state)?;
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
        "files": rows.iter().map(RecordingView::from).collect::<Vec<_>>(),
        "total": total, "limit": limit, "offset": offset,
    }))
}

async fn list_snapshots(
    state: &SharedState,
    _session: &mut Session,
    pp: PageParams,
) -> Result<Value, RpcError> {
    engine(state)?;
    let (limit, offset) = page(&pp)?;
    let dev = pp.device;
    let (rows, total) = state
        .store
        .call(move |c| snapshots::list(c, dev.as_deref(), limit, offset))
        .await
        .map_err(RpcError::from)?;
    Ok(json!({
        "files": rows.iter().map(SnapshotView::from).collect::<Vec<_>>(),
        "total": total, "limit": limit, "offset": offset,
    }))
}

async fn get_recording_info(
    state: &SharedState,
    _session: &mut Session,
    FilenameParams { filename }: FilenameParams,
) -> Result<Value, RpcError> {
    engine(state)?;
    let name = recordings::stem(&filename).to_string();
    let r = state
        .store
        .call(move |c| recordings::get(c, &name))
        .await
        .map_err(RpcError::from)?
        .ok_or_else(|| file_not_found("recording", &filename))?;
    Ok(json!(RecordingView::from(&r)))
}

async fn get_snapshot_info(
    state: &SharedState,
    _session: &mut Session,
    FilenameParams { filename }: FilenameParams,
) -> Result<Value, RpcError> {
    engine(state)?;
    let name = filename.clone();
    let s = state
        .store
        .call(move |c| snapshots::get(c, &name))
        .await
        .map_err(RpcError::from)?
        .ok_or_else(|| file_not_found("snapshot", &filename))?;
    Ok(json!(SnapshotView::from(&s)))
}

async fn delete_recording(
    state: &SharedState,
    _session: &mut Session,
    FilenameParams { filename }: FilenameParams,
) -> Result<Value, RpcError> {
    let e = engine(state)?;
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

async fn delete_snapshot(
    state: &SharedState,
    _session: &mut Session,
    FilenameParams { filename }: FilenameParams,
) -> Result<Value, RpcError> {
    let e = engine(state)?;
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

async fn get_streams(
    state: &SharedState,
    session: &mut Session,
    _: NoParams,
) -> Result<Value, RpcError> {
    let e = engine(state)?;
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

async fn set_retention_policy(
    state: &SharedState,
    session: &mut Session,
    r: RetentionParams,
) -> Result<Value, RpcError> {
    let e = engine(state)?;
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

async fn cleanup_old_files(
    state: &SharedState,
    _session: &mut Session,
    _: NoParams,
) -> Result<Value, RpcError> {
    let e = engine(state)?;
    let (n, bytes) = e.apply_retention().await.map_err(RpcError::from)?;
    Ok(json!({
        "cleanup_executed": true,
        "files_deleted": n,
        "space_freed": bytes,
        "message": "Cleanup completed successfully",
    }))
}

async fn list_local_devices(
    state: &SharedState,
    _session: &mut Session,
    _: NoParams,
) -> Result<Value, RpcError> {
    engine(state)?;
    let list = state.local_devices().await;
    Ok(json!({"devices": list, "total": list.len()}))
}

/// The RTSP stream of a camera, reported in the shape each streaming method answers.
async fn streaming(
    state: &SharedState,
    session: &mut Session,
    DeviceParams { device }: DeviceParams,
    which: &str,
) -> Result<Value, RpcError> {
    let e = engine(state)?;
    let h = e.camera(&device).ok_or_else(|| camera_not_found(&device))?;
    // start_streaming and stop_streaming switch the RTSP mount; recording goes on either way.
    let was_serving = match which {
        "start_streaming" | "stop_streaming" => e
            .set_rtsp_serving(&device, which == "start_streaming")
            .map_err(RpcError::from)?,
        _ => h.rtsp_serving.load(std::sync::atomic::Ordering::SeqCst),
    };
    let serving = h.rtsp_serving.load(std::sync::atomic::Ordering::SeqCst);
    let st = h.status();
    let url = e.stream_url(&device, session.host.as_deref());
    let ready = st.state == CameraState::Streaming && serving;
    let now_ms = state.now_ms();
    let now = rfc3339_ms(now_ms);
    Ok(match which {
        "start_streaming" => json!({
            "device": device, "stream_name": device, "stream_url": url,
            "status": if ready { "STARTED" } else { "FAILED" },
            "already_started": was_serving,
            "start_time": rfc3339_ms(st.since_ms), "auto_close_after": "never",
            "error": (!ready).then(|| st.error.clone().unwrap_or_else(|| "the camera is not streaming".into())),
        }),
        "stop_streaming" => json!({
            "device": device, "stream_name": device, "status": "STOPPED",
            "start_time": rfc3339_ms(st.since_ms), "end_time": now,
            "duration": if was_serving { (now_ms - st.since_ms).max(0) / 1000 } else { 0 },
            "recording_continues": true,
            "message": "RTSP clients were disconnected and the mount is down until start_streaming",
        }),
        "get_stream_url" => json!({
            "device": device, "stream_name": device, "stream_url": url, "available": ready,
            "active_consumers": h.hub.consumers(),
            "stream_status": match st.state {
                _ if !serving => "STOPPED",
                CameraState::Streaming => "READY",
                CameraState::Failed => "ERROR",
                _ => "NOT_READY",
            },
        }),
        _ => json!({
            "device": device, "stream_name": device,
            "status": match st.state {
                _ if !serving => "STOPPED",
                CameraState::Streaming => "ACTIVE",
                CameraState::Failed => "ERROR",
                CameraState::Starting | CameraState::Reconnecting => "STARTING",
                CameraState::Disabled => "INACTIVE",
            },
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

async fn start_streaming(
    state: &SharedState,
    session: &mut Session,
    p: DeviceParams,
) -> Result<Value, RpcError> {
    streaming(state, session, p, "start_streaming").await
}

async fn stop_streaming(
    state: &SharedState,
    session: &mut Session,
    p: DeviceParams,
) -> Result<Value, RpcError> {
    streaming(state, session, p, "stop_streaming").await
}

async fn get_stream_url(
    state: &SharedState,
    session: &mut Session,
    p: DeviceParams,
) -> Result<Value, RpcError> {
    streaming(state, session, p, "get_stream_url").await
}

async fn get_stream_status(
    state: &SharedState,
    session: &mut Session,
    p: DeviceParams,
) -> Result<Value, RpcError> {
    streaming(state, session, p, "get_stream_status").await
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
pub(super) struct PageParams {
    #[serde(default)]
    pub(super) limit: Option<i64>,
    #[serde(default)]
    pub(super) offset: Option<i64>,
    /// Pinhole extension: only this camera.
    #[serde(default)]
    pub(super) device: Option<String>,
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

pub(super) fn page(p: &PageParams) -> Result<(u32, u32), RpcError> {
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

pub(super) fn engine(state: &SharedState) -> Result<&Arc<MediaEngine>, RpcError> {
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

/// Where a camera's HLS playlist is, on the host the client reached the API by.
fn hls_url(tls: bool, host: Option<&str>, id: &str) -> String {
    let path = format!("/api/cameras/{id}/hls/index.m3u8");
    match host {
        Some(h) => format!("{}://{h}{path}", if tls { "https" } else { "http" }),
        None => path,
    }
}

/// A camera in the camera service's shape, with Pinhole's details added.
fn camera_json(e: &MediaEngine, tls: bool, session: &Session, id: &str) -> Option<Value> {
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
        "streams": {
            "rtsp": e.stream_url(id, session.host.as_deref()),
            "hls": hls_url(tls, session.host.as_deref(), id),
        },
        "sub_stream": h.sub_stream().map(|sub| {
            let s = sub.status();
            json!({
                "rtsp": e.stream_url(&sub.id, session.host.as_deref()),
                "status": s.state.service_status(),
                "state": s.state.as_str(),
                "codec": s.codec,
                "resolution": match (s.width, s.height) { (Some(w), Some(h)) => format!("{w}x{h}"), _ => String::new() },
                "error": s.error,
            })
        }),
        "state": st.state.as_str(),
        "source": def.source,
        "encoder": st.encoder,
        "codec": st.codec,
        "audio": st.audio,
        "bitrate_kbps": st.bitrate_kbps,
        "error": st.error,
        "restarts": st.restarts,
        "since": rfc3339_ms(st.since_ms),
        "preview_viewers": h.preview.viewers(),
        "rtsp_consumers": h.hub.consumers(),
    }))
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
