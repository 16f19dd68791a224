//! The camera service's discovery methods. Discovered streams are the ONVIF devices that
//! answered WS-Discovery; external streams are the appliance's network (RTSP) cameras, which
//! `add_external_stream` and `remove_external_stream` add and remove by URL.
//! `test_onvif_device` (Pinhole's own) connects to a device with credentials before it is
//! added: what it is, its clock, its profiles with their stream and snapshot URLs.

use super::{Method, NoParams, Session};
use crate::api::SharedState;
use crate::api::rpc::envelope::{self, RpcError};
use crate::clock::rfc3339_ms;
use crate::discovery::FoundDevice;
use crate::store::cameras::{self, Camera, CameraInput, SourceKind};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;

pub(super) fn methods() -> Vec<Method> {
    vec![
        method!(
            "discover_external_streams",
            OPERATOR,
            AUDITED,
            discover_external_streams
        ),
        method!(
            "add_external_stream",
            OPERATOR,
            AUDITED,
            add_external_stream
        ),
        method!(
            "remove_external_stream",
            OPERATOR,
            AUDITED,
            remove_external_stream
        ),
        method!("get_external_streams", VIEWER, READ, get_external_streams),
        method!(
            "set_discovery_interval",
            ADMIN,
            AUDITED,
            set_discovery_interval
        ),
        method!("test_onvif_device", OPERATOR, READ, test_onvif_device),
    ]
}

/// A scan this recent answers `discover_external_streams` unless a rescan is forced.
const FRESH_MS: i64 = 30_000;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct DiscoverParams {
    skydio_enabled: Option<bool>,
    generic_enabled: Option<bool>,
    force_rescan: Option<bool>,
    include_offline: Option<bool>,
}

/// The host of a URL (`scheme://[user@]host[:port]/...`), lower-cased.
fn host_of(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next()?,
        None => host_port.split(':').next()?,
    };
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

fn discovered_view(d: &FoundDevice, added_hosts: &[String]) -> Value {
    let added = host_of(&d.device_url).is_some_and(|h| added_hosts.contains(&h));
    json!({
        "url": d.device_url,
        "type": "onvif",
        "name": d.name.clone().unwrap_or_else(|| d.endpoint.clone()),
        "status": if added { "added" } else { "discovered" },
        "discovered_at": rfc3339_ms(d.first_seen_ms),
        "last_seen": rfc3339_ms(d.last_seen_ms),
        "capabilities": {"types": d.types},
        "metadata": {"endpoint": d.endpoint, "hardware": d.hardware},
    })
}

async fn network_cameras(state: &SharedState) -> Result<Vec<Camera>, RpcError> {
    let list = state
        .store
        .call(|c| cameras::list(c))
        .await
        .map_err(RpcError::from)?;
    Ok(list
        .into_iter()
        .filter(|c| c.source == SourceKind::Rtsp)
        .collect())
}

async fn discover_external_streams(
    state: &SharedState,
    _session: &mut Session,
    p: DiscoverParams,
) -> Result<Value, RpcError> {
    let now = state.now_ms();
    let scan = match state.discovery.last_scan() {
        Some(s) if !p.force_rescan.unwrap_or(false) && now - s.at_ms < FRESH_MS => s,
        _ => state.discover().await,
    };
    let include_offline = p.include_offline.unwrap_or(false);
    let added_hosts: Vec<String> = network_cameras(state)
        .await?
        .iter()
        .filter_map(|c| host_of(&c.url))
        .collect();
    let generic_enabled = p.generic_enabled.unwrap_or(true);
    let streams: Vec<Value> = state
        .discovery
        .devices()
        .iter()
        .filter(|d| include_offline || scan.answered.contains(&d.endpoint))
        .map(|d| discovered_view(d, &added_hosts))
        .collect();
    Ok(json!({
        "discovered_streams": streams,
        // Pinhole knows no Skydio drones; every device found is a generic one.
        "skydio_streams": [],
        "generic_streams": if generic_enabled { streams.clone() } else { Vec::new() },
        "scan_timestamp": scan.at_ms / 1000,
        "total_found": streams.len(),
        "discovery_options": {
            "skydio_enabled": p.skydio_enabled.unwrap_or(false),
            "generic_enabled": generic_enabled,
            "force_rescan": p.force_rescan.unwrap_or(false),
            "include_offline": include_offline,
        },
        "scan_duration": format!("{:.1}s", scan.took.as_secs_f64()),
        "errors": scan.errors,
    }))
}

fn external_view(c: &Camera, status: &str) -> Value {
    json!({
        "url": c.url,
        "type": "generic_rtsp",
        "name": c.name,
        "status": status,
        "discovered_at": rfc3339_ms(c.created_at * 1000),
        "last_seen": rfc3339_ms(c.updated_at * 1000),
        "capabilities": {},
        "metadata": {"device": c.id},
    })
}

async fn get_external_streams(
    state: &SharedState,
    _session: &mut Session,
    _: NoParams,
) -> Result<Value, RpcError> {
    let cams = network_cameras(state).await?;
    let streams: Vec<Value> = cams
        .iter()
        .map(|c| {
            let status = state
                .media
                .as_ref()
                .and_then(|m| m.camera(&c.id))
                .map(|h| h.status().state.service_status().to_ascii_lowercase())
                .unwrap_or_else(|| "added".into());
            external_view(c, &status)
        })
        .collect();
    Ok(json!({
        "external_streams": streams,
        "skydio_streams": [],
        "generic_streams": streams,
        "total_count": streams.len(),
        "timestamp": state.now_ms() / 1000,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddParams {
    stream_url: String,
    stream_name: Option<String>,
    stream_type: Option<String>,
}

async fn add_external_stream(
    state: &SharedState,
    _session: &mut Session,
    p: AddParams,
) -> Result<Value, RpcError> {
    if let Some(t) = p.stream_type.as_deref()
        && !matches!(t, "generic_rtsp" | "rtsp" | "generic")
    {
        return Err(RpcError::invalid_params(format!(
            "stream_type: `{t}` is not supported (generic_rtsp)"
        )));
    }
    let input = CameraInput {
        name: p.stream_name.clone(),
        source: Some(SourceKind::Rtsp),
        url: Some(p.stream_url.clone()),
        ..Default::default()
    }
    .credentials_out_of_url();
    let now = state.clock.now_secs();
    let cam = state.add_camera(input).await.map_err(RpcError::from)?;
    Ok(json!({
        // Without the credentials it may have carried: those are sealed with the camera.
        "stream_url": cam.url,
        "stream_name": cam.name,
        "stream_type": "generic_rtsp",
        "status": "added",
        "timestamp": now,
        "device": cam.id,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RemoveParams {
    stream_url: String,
}

/// A URL without the credentials it may carry (cameras keep theirs sealed, apart).
fn without_credentials(url: &str) -> String {
    CameraInput {
        url: Some(url.to_string()),
        ..Default::default()
    }
    .credentials_out_of_url()
    .url
    .unwrap_or_default()
}

async fn remove_external_stream(
    state: &SharedState,
    _session: &mut Session,
    RemoveParams { stream_url }: RemoveParams,
) -> Result<Value, RpcError> {
    // Cameras keep their URL without credentials; compare the same way.
    let wanted = without_credentials(&stream_url);
    let cam = network_cameras(state)
        .await?
        .into_iter()
        .find(|c| c.url == wanted)
        .ok_or_else(|| {
            RpcError::new(
                envelope::NOT_FOUND,
                "not_found",
                format!("no external stream `{wanted}`"),
                "Use get_external_streams to see the streams",
            )
        })?;
    state.remove_camera(&cam.id).await.map_err(RpcError::from)?;
    Ok(json!({
        "stream_url": wanted,
        "status": "removed",
        "timestamp": state.now_ms() / 1000,
        "device": cam.id,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IntervalParams {
    scan_interval: u64,
}

async fn set_discovery_interval(
    state: &SharedState,
    session: &mut Session,
    IntervalParams { scan_interval }: IntervalParams,
) -> Result<Value, RpcError> {
    let by = session.principal.as_ref().map(|p| p.username.clone());
    let changes = BTreeMap::from([("discovery_interval_secs".to_string(), json!(scan_interval))]);
    crate::api::accounts::update_settings(state, by, changes)
        .await
        .map_err(RpcError::from)?;
    Ok(json!({
        "scan_interval": scan_interval,
        "status": "updated",
        "message": if scan_interval == 0 {
            "periodic discovery is off; discover_external_streams still probes".to_string()
        } else {
            format!("probing for cameras every {scan_interval} s")
        },
        "timestamp": state.now_ms() / 1000,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestDeviceParams {
    device_url: String,
    username: Option<String>,
    password: Option<String>,
}

async fn test_onvif_device(
    state: &SharedState,
    _session: &mut Session,
    p: TestDeviceParams,
) -> Result<Value, RpcError> {
    use crate::onvif::client::{Client, Credentials};
    let timeout = std::time::Duration::from_millis(u64::from(state.config.discovery.wait_ms) * 5);
    let credentials = p.username.map(|username| Credentials {
        username,
        password: p.password.unwrap_or_default(),
    });
    let mut client = Client::new(&p.device_url, credentials, timeout)
        .map_err(|e| RpcError::invalid_params(format!("device_url: {e}")))?;
    let summary = client.connect().await.map_err(RpcError::from)?;
    let by_size = |pick: fn(u64, u64) -> bool| {
        summary
            .profiles
            .iter()
            .filter(|p| p.stream_uri.is_some())
            .reduce(|a, b| {
                if pick(b.profile.pixels(), a.profile.pixels()) {
                    b
                } else {
                    a
                }
            })
            .map(|p| p.profile.token.clone())
    };
    let profiles: Vec<Value> = summary
        .profiles
        .iter()
        .map(|p| {
            json!({
                "token": p.profile.token,
                "name": p.profile.name,
                "encoding": p.profile.encoding.map(|e| format!("{e:?}").to_ascii_uppercase()),
                "width": p.profile.width,
                "height": p.profile.height,
                "fps": p.profile.fps,
                "bitrate_kbps": p.profile.bitrate_kbps,
                "ptz": p.profile.ptz_configuration.is_some(),
                "audio": p.profile.audio.map(|a| format!("{a:?}").to_ascii_uppercase()),
                "stream_url": p.stream_uri.as_deref().map(without_credentials),
                "snapshot_url": p.snapshot_uri.as_deref().map(without_credentials),
            })
        })
        .collect();
    // A picture from the camera, so the installer sees what they are adding: the main
    // profile's snapshot, or any profile's.
    let main = by_size(|a, b| a > b);
    let snapshot_uri = summary
        .profiles
        .iter()
        .filter(|p| p.snapshot_uri.is_some())
        .max_by_key(|p| Some(&p.profile.token) == main.as_ref())
        .and_then(|p| p.snapshot_uri.clone());
    let snapshot = match snapshot_uri {
        None => json!({"ok": false, "error": "the device gives no snapshot URI"}),
        Some(uri) => match client.snapshot(&uri).await {
            Ok(jpeg) => {
                use base64::Engine as _;
                json!({
                    "ok": true,
                    "bytes": jpeg.len(),
                    "jpeg": format!(
                        "data:image/jpeg;base64,{}",
                        base64::engine::general_purpose::STANDARD.encode(&jpeg)
                    ),
                })
            }
            Err(e) => json!({"ok": false, "error": e.to_string()}),
        },
    };
    let info = &summary.information;
    Ok(json!({
        "device_url": p.device_url,
        "manufacturer": info.manufacturer,
        "model": info.model,
        "firmware_version": info.firmware_version,
        "serial_number": info.serial_number,
        "clock_offset_secs": summary.clock_offset_secs,
        "ptz": summary.services.ptz.is_some(),
        "media_service": match summary.media_service {
            crate::onvif::media::MediaService::Media => "media",
            crate::onvif::media::MediaService::Media2 => "media2",
        },
        "profiles": profiles,
        // Main stream for recording, sub stream for preview and detection.
        "main_profile": main,
        "sub_profile": by_size(|a, b| a < b),
        "snapshot": snapshot,
    }))
}

#[cfg(test)]
mod tests {
    use super::host_of;

    #[test]
    fn hosts_of_urls() {
        assert_eq!(
            host_of("rtsp://u:p@Cam.local:554/x").as_deref(),
            Some("cam.local")
        );
        assert_eq!(
            host_of("http://[fe80::1]:80/onvif").as_deref(),
            Some("fe80::1")
        );
        assert_eq!(
            host_of("http://10.0.0.5/onvif/device_service").as_deref(),
            Some("10.0.0.5")
        );
        assert_eq!(host_of("nonsense"), None);
        assert_eq!(host_of("rtsp:///x"), None);
    }
}
