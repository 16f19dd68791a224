//! Media over HTTP: stream status, snapshots, on-demand recording, recording and snapshot
//! listings, downloads with Range (`/files/...`), and the MJPEG live preview.
//!
//! The MJPEG stream (`multipart/x-mixed-replace`, viewable in a plain `<img>`) reads the camera's
//! shared JPEG branch: a hundred viewers cost one encoder. A viewer that reads slowly skips
//! frames instead of queueing them.

use crate::api::SharedState;
use crate::api::authn::{AsAdmin, AsOperator, AsViewer};
use crate::api::error::{ApiError, ErrorBody};
use crate::api::views::{
    DeviceList, EventPage, EventView, RecordingPage, RecordingView, SnapshotPage, SnapshotView,
    StoppedRecording, StreamList, StreamView,
};

use crate::media::MediaEngine;
use crate::media::recorder::Format;
use crate::store::{recordings, snapshots};
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

fn engine(state: &SharedState) -> Result<&Arc<MediaEngine>, ApiError> {
    state.media.as_ref().ok_or_else(|| {
        ApiError::Unavailable("the media engine is disabled (media.enabled = false)".into())
    })
}

fn host(req_headers: &axum::http::HeaderMap) -> Option<String> {
    req_headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
}

/// Local cameras (V4L2, libcamera) that could be added, with what they offer.
#[utoipa::path(get, path = "/api/devices", tag = "media",
    responses((status = 200, body = DeviceList), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn devices(
    State(state): State<SharedState>,
    _: AsOperator,
) -> Result<Json<DeviceList>, ApiError> {
    let devices = state.local_devices().await;
    Ok(Json(DeviceList {
        total: devices.len(),
        devices,
    }))
}

/// Every camera's stream: state, encoder, measured fps and bitrate, RTSP URL.
#[utoipa::path(get, path = "/api/live", tag = "media",
    responses((status = 200, body = StreamList), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn streams(
    State(state): State<SharedState>,
    _: AsViewer,
    headers: axum::http::HeaderMap,
) -> Result<Json<StreamList>, ApiError> {
    let e = engine(&state)?;
    let h = host(&headers);
    let streams: Vec<StreamView> = e
        .cameras()
        .iter()
        .filter_map(|c| StreamView::of(e, &c.id, h.as_deref()))
        .collect();
    Ok(Json(StreamList {
        total: streams.len(),
        streams,
        rtsp_sessions: e.rtsp_sessions(),
    }))
}

/// One camera's stream.
#[utoipa::path(get, path = "/api/cameras/{id}/stream", tag = "media", params(("id" = String, Path)),
    responses((status = 200, body = StreamView), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn stream(
    State(state): State<SharedState>,
    _: AsViewer,
    Path(id): Path<String>,
    headers: axum::http::HeaderMap,
) -> Result<Json<StreamView>, ApiError> {
    let e = engine(&state)?;
    StreamView::of(e, &id, host(&headers).as_deref())
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("camera `{id}`")))
}

/// A JSON body that may be left out entirely (its defaults then apply).
fn optional_body<T: Default + serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.is_empty() {
        return Ok(T::default());
    }
    crate::api::error::json_from_slice(body)
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SnapshotRequest {
    /// File name (letters, digits, `.`, `_`, `-`); default `<camera>_<time>.jpg`.
    #[serde(default)]
    pub filename: Option<String>,
}

/// Takes a snapshot of the live picture and stores it.
#[utoipa::path(post, path = "/api/cameras/{id}/snapshot", tag = "media", params(("id" = String, Path)),
    request_body(content = SnapshotRequest, description = "optional"),
    responses((status = 201, body = SnapshotView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn take_snapshot(
    State(state): State<SharedState>,
    _: AsOperator,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<SnapshotView>), ApiError> {
    let e = engine(&state)?;
    let req: SnapshotRequest = optional_body(&body)?;
    let s = e.take_snapshot(&id, req.filename).await?;
    Ok((StatusCode::CREATED, Json(SnapshotView::from(&s))))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordRequest {
    /// Seconds (1..=86400); absent: until stopped.
    #[serde(default)]
    pub duration: Option<u32>,
    /// fmp4 (default), mp4 or mkv.
    #[serde(default)]
    pub format: Option<String>,
}

/// Starts an on-demand recording.
#[utoipa::path(post, path = "/api/cameras/{id}/recording/start", tag = "media", params(("id" = String, Path)),
    request_body(content = RecordRequest, description = "optional"),
    responses((status = 200, body = crate::media::RecordingState), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn start_recording(
    State(state): State<SharedState>,
    _: AsOperator,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<crate::media::RecordingState>, ApiError> {
    let e = engine(&state)?;
    let req: RecordRequest = optional_body(&body)?;
    let format = match req.format.as_deref() {
        None => Format::Fmp4,
        Some(f) => Format::parse(f)
            .ok_or_else(|| ApiError::field("format", format!("`{f}` is not fmp4, mp4 or mkv")))?,
    };
    if let Some(d) = req.duration
        && !(1..=86_400).contains(&d)
    {
        return Err(ApiError::field(
            "duration",
            format!("{d} is outside 1..=86400"),
        ));
    }
    Ok(Json(e.start_recording(&id, format, req.duration).await?))
}

/// Stops an on-demand recording.
#[utoipa::path(post, path = "/api/cameras/{id}/recording/stop", tag = "media", params(("id" = String, Path)),
    responses((status = 200, body = StoppedRecording), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn stop_recording(
    State(state): State<SharedState>,
    _: AsOperator,
    Path(id): Path<String>,
) -> Result<Json<StoppedRecording>, ApiError> {
    let e = engine(&state)?;
    let (recording, row) = e.stop_recording(&id).await?;
    Ok(Json(StoppedRecording {
        recording,
        segment: row.as_ref().map(RecordingView::from),
    }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only this camera.
    pub camera: Option<String>,
    /// Segments overlapping [from, to), RFC 3339.
    pub from: Option<String>,
    pub to: Option<String>,
    /// 1..=1000, default 50.
    pub limit: Option<u32>,
    pub offset: Option<u32>,
}

fn parse_time(field: &str, v: &Option<String>) -> Result<Option<i64>, ApiError> {
    v.as_deref()
        .map(|s| {
            s.parse::<jiff::Timestamp>()
                .map(|t| t.as_millisecond())
                .map_err(|e| ApiError::field(field, format!("`{s}` is not an RFC 3339 time: {e}")))
        })
        .transpose()
}

/// `limit` (1..=1000, default 50) and `offset` (default 0).
fn page(limit: Option<u32>, offset: Option<u32>) -> Result<(u32, u32), ApiError> {
    let l = limit.unwrap_or(50);
    if !(1..=1000).contains(&l) {
        return Err(ApiError::field("limit", format!("{l} is outside 1..=1000")));
    }
    Ok((l, offset.unwrap_or(0)))
}

/// Recording segments, newest first, with filters and paging.
#[utoipa::path(get, path = "/api/recordings", tag = "media", params(ListQuery),
    responses((status = 200, body = RecordingPage), (status = 400, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_recordings(
    State(state): State<SharedState>,
    _: AsViewer,
    Query(q): Query<ListQuery>,
) -> Result<Json<RecordingPage>, ApiError> {
    let (l, o) = page(q.limit, q.offset)?;
    let f = recordings::Filter {
        camera_id: q.camera.clone(),
        from_ms: parse_time("from", &q.from)?,
        to_ms: parse_time("to", &q.to)?,
    };
    let (rows, total) = state
        .store
        .call(move |c| recordings::list(c, &f, l, o))
        .await?;
    Ok(Json(RecordingPage {
        recordings: rows.iter().map(RecordingView::from).collect(),
        total,
        limit: l,
        offset: o,
    }))
}

/// Snapshots, newest first.
#[utoipa::path(get, path = "/api/snapshots", tag = "media", params(ListQuery),
    responses((status = 200, body = SnapshotPage), (status = 400, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_snapshots(
    State(state): State<SharedState>,
    _: AsViewer,
    Query(q): Query<ListQuery>,
) -> Result<Json<SnapshotPage>, ApiError> {
    let (l, o) = page(q.limit, q.offset)?;
    let cam = q.camera.clone();
    let (rows, total) = state
        .store
        .call(move |c| snapshots::list(c, cam.as_deref(), l, o))
        .await?;
    Ok(Json(SnapshotPage {
        snapshots: rows.iter().map(SnapshotView::from).collect(),
        total,
        limit: l,
        offset: o,
    }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct EventQuery {
    /// Only this camera.
    pub camera: Option<String>,
    /// Only this label (face, person, motion, ...).
    pub label: Option<String>,
    /// object or motion.
    pub kind: Option<String>,
    /// Events overlapping [from, to), RFC 3339.
    pub from: Option<String>,
    pub to: Option<String>,
    /// 1..=1000, default 50.
    pub limit: Option<u32>,
    pub offset: Option<u32>,
}

/// Detection and motion events, newest first, with filters and paging.
#[utoipa::path(get, path = "/api/events", tag = "detection", params(EventQuery),
    responses((status = 200, body = EventPage), (status = 400, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_events(
    State(state): State<SharedState>,
    _: AsViewer,
    Query(q): Query<EventQuery>,
) -> Result<Json<EventPage>, ApiError> {
    let (l, o) = page(q.limit, q.offset)?;
    let f = crate::store::events::Filter {
        camera_id: q.camera.clone(),
        label: q.label.clone(),
        kind: q.kind.clone(),
        from_ms: parse_time("from", &q.from)?,
        to_ms: parse_time("to", &q.to)?,
    };
    let (rows, total) = state
        .store
        .call(move |c| crate::store::events::list(c, &f, l, o))
        .await?;
    Ok(Json(EventPage {
        events: rows,
        total,
        limit: l,
        offset: o,
    }))
}

/// One event, with its snapshot's download URL.
#[utoipa::path(get, path = "/api/events/{id}", tag = "detection", params(("id" = i64, Path)),
    responses((status = 200, body = EventView), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_event(
    State(state): State<SharedState>,
    _: AsViewer,
    Path(id): Path<i64>,
) -> Result<Json<EventView>, ApiError> {
    let ev = state
        .store
        .call(move |c| crate::store::events::get(c, id))
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("event {id}")))?;
    Ok(Json(EventView::from(ev)))
}

/// Deletes a recording segment (not the one being written).
#[utoipa::path(delete, path = "/api/recordings/{name}", tag = "media", params(("name" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete_recording(
    State(state): State<SharedState>,
    _: AsAdmin,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    engine(&state)?
        .delete_recording(recordings::stem(&name))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes a snapshot.
#[utoipa::path(delete, path = "/api/snapshots/{name}", tag = "media", params(("name" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete_snapshot(
    State(state): State<SharedState>,
    _: AsAdmin,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    engine(&state)?.delete_snapshot(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Serves a file with Range and conditional requests.
async fn serve_file(path: std::path::PathBuf, mime: &'static str, req: Request) -> Response {
    use tower::ServiceExt;
    match tower_http::services::ServeFile::new(&path)
        .oneshot(req)
        .await
    {
        Ok(mut r) => {
            if r.status().is_success() {
                r.headers_mut()
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
            }
            r.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, max-age=3600"),
            );
            r.into_response()
        }
        Err(e) => {
            ApiError::Internal(format!("cannot read {}: {e}", path.display())).into_response()
        }
    }
}

/// `GET /files/recordings/{name}`: a segment, with Range support for seeking players.
pub async fn download_recording(
    State(state): State<SharedState>,
    _: AsViewer,
    Path(name): Path<String>,
    req: Request,
) -> Response {
    let Ok(e) = engine(&state) else {
        return ApiError::Unavailable("media engine disabled".into()).into_response();
    };
    if !crate::media::valid_file_name(&name) {
        return ApiError::NotFound(format!("recording `{name}`")).into_response();
    }
    let stem = recordings::stem(&name).to_string();
    let row = match state.store.call(move |c| recordings::get(c, &stem)).await {
        Ok(Some(r)) if r.file_name() == name => r,
        Ok(_) => return ApiError::NotFound(format!("recording `{name}`")).into_response(),
        Err(err) => return ApiError::from(err).into_response(),
    };
    let mime = if row.format == "mkv" {
        "video/x-matroska"
    } else {
        "video/mp4"
    };
    serve_file(e.recording_path(&row), mime, req).await
}

/// `GET /files/snapshots/{name}`.
pub async fn download_snapshot(
    State(state): State<SharedState>,
    _: AsViewer,
    Path(name): Path<String>,
    req: Request,
) -> Response {
    let Ok(e) = engine(&state) else {
        return ApiError::Unavailable("media engine disabled".into()).into_response();
    };
    if !crate::media::valid_file_name(&name) {
        return ApiError::NotFound(format!("snapshot `{name}`")).into_response();
    }
    let n = name.clone();
    let row = match state.store.call(move |c| snapshots::get(c, &n)).await {
        Ok(Some(s)) => s,
        Ok(None) => return ApiError::NotFound(format!("snapshot `{name}`")).into_response(),
        Err(err) => return ApiError::from(err).into_response(),
    };
    serve_file(e.snapshot_path(&row), "image/jpeg", req).await
}

const BOUNDARY: &str = "frame";

/// `GET /api/cameras/{id}/mjpeg`: live preview as `multipart/x-mixed-replace`.
pub async fn mjpeg(
    State(state): State<SharedState>,
    _: AsViewer,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let e = engine(&state)?;
    let cam = e
        .camera(&id)
        .ok_or_else(|| ApiError::NotFound(format!("camera `{id}`")))?;
    let (demand, rx) = cam.preview.watch();
    let shutdown = state.shutdown.clone();
    // The demand guard lives in the stream's state: the valve closes when the viewer leaves.
    let stream = futures_util::stream::unfold(
        (demand, rx, shutdown),
        |(demand, mut rx, shutdown)| async move {
            let frame = tokio::select! {
                _ = shutdown.cancelled() => None,
                r = rx.changed() => match r {
                    Ok(()) => rx.borrow_and_update().clone(),
                    Err(_) => None,
                },
            }?;
            let mut part = Vec::with_capacity(frame.data.len() + 128);
            part.extend_from_slice(
                format!(
                    "--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n",
                    frame.data.len()
                )
                .as_bytes(),
            );
            part.extend_from_slice(&frame.data);
            part.extend_from_slice(b"\r\n");
            Some((
                Ok::<_, std::io::Error>(bytes::Bytes::from(part)),
                (demand, rx, shutdown),
            ))
        },
    );
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(
            header::CONTENT_TYPE,
            format!("multipart/x-mixed-replace; boundary={BOUNDARY}"),
        )
        .header(header::CACHE_CONTROL, "no-store")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response()))
}

/// `GET /api/cameras/{id}/preview.jpg`: the next live JPEG (not stored).
pub async fn preview_jpeg(
    State(state): State<SharedState>,
    _: AsViewer,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok((
        [
            (header::CONTENT_TYPE, "image/jpeg"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        live_jpeg(&state, &id).await?,
    )
        .into_response())
}

/// The next live JPEG of camera `id`, waiting at most 5 s for it.
pub async fn live_jpeg(state: &SharedState, id: &str) -> Result<bytes::Bytes, ApiError> {
    Ok(engine(state)?
        .live_jpeg(id, std::time::Duration::from_secs(5))
        .await?)
}

/// `GET /api/cameras/{id}/live` (WebSocket): fragmented MP4 for Media Source Extensions.
/// First a text message `{"type": "init", "mime": "video/mp4; codecs=\"avc1...\""}` (with
/// `, mp4a.40.2` when the camera's sound comes along), then binary messages: the init segment,
/// then ~200 ms fragments. When the camera's sound stops, the socket is closed (1011): the
/// viewer reconnects to the stream as it is then. See [`crate::media::live`].
pub async fn live(
    State(state): State<SharedState>,
    _: AsViewer,
    Path(id): Path<String>,
    ws: axum::extract::ws::WebSocketUpgrade,
) -> Result<Response, ApiError> {
    use axum::extract::ws::{CloseFrame, Message};
    let e = engine(&state)?;
    let cam = e
        .camera(&id)
        .ok_or_else(|| ApiError::NotFound(format!("camera `{id}`")))?;
    let shutdown = state.shutdown.clone();
    Ok(ws.on_upgrade(move |mut socket| async move {
        if cam.video_caps().is_none() {
            let _ = socket
                .send(Message::Close(Some(CloseFrame {
                    code: 1013,
                    reason: "camera is not streaming yet; retry".into(),
                })))
                .await;
            return;
        }
        let (live, mut rx, mime) = match crate::media::live::LiveMp4::start(cam.clone(), 200) {
            Ok(v) => v,
            Err(err) => {
                tracing::warn!(camera = %cam.id, error = %err, "live stream failed");
                let _ = socket
                    .send(Message::Close(Some(CloseFrame { code: 1011, reason: err.into() })))
                    .await;
                return;
            }
        };
        let hello = json!({"type": "init", "device": cam.id, "mime": mime}).to_string();
        if socket.send(Message::Text(hello.into())).await.is_err() {
            return;
        }
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                frag = rx.recv() => match frag {
                    Some(b) => if socket.send(Message::Binary(b)).await.is_err() { break },
                    None => {
                        let _ = socket.send(Message::Close(Some(CloseFrame { code: 1011, reason: "stream ended or viewer too slow; reconnect".into() }))).await;
                        break;
                    }
                },
                msg = socket.recv() => match msg {
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    _ => {}
                },
            }
        }
        drop(live);
    }))
}

/// `GET /api/cameras/{id}/hls/{file}`: the camera's HLS (`index.m3u8`, `init-<generation>.mp4`
/// (`init.mp4`: the newest), `<sequence>.m4s`; see [`crate::media::hls`]). The first request
/// starts the packager and the playlist waits (up to 10 s) for its first segment; each playlist
/// request has the packager follow the camera (its audio coming or going, a stalled muxer).
pub async fn hls(
    State(state): State<SharedState>,
    _: AsViewer,
    Path((id, file)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let e = engine(&state)?;
    let packager = e.hls(&id)?;
    let init = |generation: Option<u32>| {
        packager.init(generation).ok_or_else(|| {
            ApiError::Unavailable(format!("camera `{id}` has no such HLS stream now; retry"))
        })
    };
    let (kind, body): (&'static str, Body) = match file.as_str() {
        "index.m3u8" => {
            let p = packager.clone();
            let _ = tokio::task::spawn_blocking(move || p.maintain()).await;
            let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
            loop {
                match packager.playlist().map_err(ApiError::Internal)? {
                    Some(p) => break ("application/vnd.apple.mpegurl", Body::from(p)),
                    None if tokio::time::Instant::now() < deadline => {
                        tokio::time::sleep(std::time::Duration::from_millis(200)).await
                    }
                    None => {
                        return Err(ApiError::Unavailable(format!(
                            "camera `{id}` has no HLS segment yet; retry"
                        )));
                    }
                }
            }
        }
        "init.mp4" => ("video/mp4", Body::from(init(None)?)),
        name if name.starts_with("init-") => {
            let generation = name
                .strip_prefix("init-")
                .and_then(|r| r.strip_suffix(".mp4"))
                .and_then(|g| g.parse::<u32>().ok())
                .ok_or_else(|| ApiError::NotFound(format!("HLS file `{name}` of camera `{id}`")))?;
            ("video/mp4", Body::from(init(Some(generation))?))
        }
        segment => {
            let data = segment
                .strip_suffix(".m4s")
                .and_then(|n| n.parse::<u64>().ok())
                .and_then(|n| packager.segment(n))
                .ok_or_else(|| {
                    ApiError::NotFound(format!("HLS file `{segment}` of camera `{id}`"))
                })?;
            ("video/iso.segment", Body::from(data))
        }
    };
    Ok((
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response())
}

/// Routes outside the OpenAPI document (binary bodies).
pub fn router() -> axum::Router<SharedState> {
    use axum::routing::get;
    axum::Router::new()
        .route("/files/recordings/{name}", get(download_recording))
        .route("/files/snapshots/{name}", get(download_snapshot))
        .route("/api/cameras/{id}/mjpeg", get(mjpeg))
        .route("/api/cameras/{id}/preview.jpg", get(preview_jpeg))
        .route("/api/cameras/{id}/live", get(live))
        .route("/api/cameras/{id}/hls/{file}", get(hls))
}
