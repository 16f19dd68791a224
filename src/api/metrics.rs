//! Prometheus metrics at `/metrics`, in the text exposition format (checked with
//! `promtool check metrics` in the tests). Uses the `prometheus` crate; process figures (RSS,
//! CPU seconds, open files) come from its process collector.

use super::SharedState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus::{
    Encoder, Gauge, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec,
    Opts, Registry, TextEncoder,
};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Registry,
    /// Label lookups resolved once per known method: the `ok` counter and the duration
    /// histogram are on the hot path of every call.
    per_method: std::collections::HashMap<&'static str, (IntCounter, prometheus::Histogram)>,
    http_requests: IntCounterVec,
    rpc_calls: IntCounterVec,
    pub ws_connections: IntGauge,
    pub notifications_dropped: IntCounter,
    pub logins: IntCounterVec,
    subsystem_up: IntGaugeVec,
    subsystem_restarts: IntGaugeVec,
    cpu_ratio: Gauge,
    memory_available: IntGauge,
    temperature: Gauge,
    disk_available: IntGauge,
    uptime: Gauge,
    camera_state: IntGaugeVec,
    camera_fps: prometheus::GaugeVec,
    camera_bitrate: prometheus::GaugeVec,
    camera_restarts: IntGaugeVec,
    camera_consumers: IntGaugeVec,
    camera_encoder: IntGaugeVec,
    /// Per outgoing stream and destination: 1 for the current state.
    destination_state: IntGaugeVec,
    destination_bytes: IntGaugeVec,
    destination_dropped: IntGaugeVec,
    rtsp_sessions: IntGauge,
    onvif_subscriptions: IntGauge,
    detection: IntGaugeVec,
    inference_seconds: prometheus::GaugeVec,
    mqtt: IntGaugeVec,
}

fn must<T>(r: prometheus::Result<T>) -> T {
    // Only fails for malformed metric names, which are constants here.
    match r {
        Ok(v) => v,
        Err(e) => panic!("metric definition: {e}"),
    }
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let http_requests = must(IntCounterVec::new(
            Opts::new(
                "pinhole_http_requests_total",
                "HTTP requests by route and status code.",
            ),
            &["route", "status"],
        ));
        let rpc_calls = must(IntCounterVec::new(
            Opts::new(
                "pinhole_rpc_calls_total",
                "JSON-RPC calls by method and outcome (ok or error code).",
            ),
            &["method", "outcome"],
        ));
        let rpc_duration = must(HistogramVec::new(
            HistogramOpts::new(
                "pinhole_rpc_call_duration_seconds",
                "Time to answer a JSON-RPC call.",
            )
            .buckets(vec![
                0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0,
            ]),
            &["method"],
        ));
        let ws_connections = must(IntGauge::new(
            "pinhole_websocket_connections",
            "Open WebSocket connections.",
        ));
        let notifications_dropped = must(IntCounter::new(
            "pinhole_notifications_dropped_total",
            "Event notifications a slow WebSocket client missed.",
        ));
        let logins = must(IntCounterVec::new(
            Opts::new("pinhole_login_attempts_total", "Password logins by result."),
            &["result"],
        ));
        let subsystem_up = must(IntGaugeVec::new(
            Opts::new(
                "pinhole_subsystem_up",
                "1 when the subsystem is running and its heartbeat is fresh.",
            ),
            &["subsystem"],
        ));
        let subsystem_restarts = must(IntGaugeVec::new(
            Opts::new(
                "pinhole_subsystem_restarts",
                "Times the subsystem was restarted since start.",
            ),
            &["subsystem"],
        ));
        let cpu_ratio = must(Gauge::new(
            "pinhole_system_cpu_usage_ratio",
            "Whole-machine CPU use, 0 to 1.",
        ));
        let memory_available = must(IntGauge::new(
            "pinhole_system_memory_available_bytes",
            "Memory available to new work (MemAvailable).",
        ));
        let temperature = must(Gauge::new(
            "pinhole_system_temperature_celsius",
            "SoC temperature.",
        ));
        let disk_available = must(IntGauge::new(
            "pinhole_state_disk_available_bytes",
            "Free space on the file system holding the state directory.",
        ));
        let uptime = must(Gauge::new(
            "pinhole_uptime_seconds",
            "Seconds since pinhole started.",
        ));
        let camera_state = must(IntGaugeVec::new(
            Opts::new(
                "pinhole_camera_state",
                "1 for the camera's current state (starting, streaming, reconnecting, failed, disabled).",
            ),
            &["camera", "state"],
        ));
        let camera_fps = must(prometheus::GaugeVec::new(
            Opts::new("pinhole_camera_fps", "Measured frames per second."),
            &["camera"],
        ));
        let camera_bitrate = must(prometheus::GaugeVec::new(
            Opts::new("pinhole_camera_bitrate_kbps", "Measured H.264 bitrate."),
            &["camera"],
        ));
        let camera_restarts = must(IntGaugeVec::new(
            Opts::new(
                "pinhole_camera_pipeline_restarts",
                "Capture pipeline rebuilds since start.",
            ),
            &["camera"],
        ));
        let camera_consumers = must(IntGaugeVec::new(
            Opts::new(
                "pinhole_camera_consumers",
                "Consumers of the camera's H.264 (RTSP media, recorder, live viewers).",
            ),
            &["camera"],
        ));
        let destination_state = must(IntGaugeVec::new(
            Opts::new(
                "pinhole_stream_destination_state",
                "Always 1, labelled with each running stream destination's state (connecting, live, retrying).",
            ),
            &["stream", "destination", "state"],
        ));
        let destination_bytes = must(IntGaugeVec::new(
            Opts::new(
                "pinhole_stream_destination_sent_bytes",
                "Bytes handed to a stream destination since the stream started.",
            ),
            &["stream", "destination"],
        ));
        let destination_dropped = must(IntGaugeVec::new(
            Opts::new(
                "pinhole_stream_destination_dropped_frames",
                "Video frames and audio blocks a stream destination lost because its server took them slower than they came.",
            ),
            &["stream", "destination"],
        ));
        let camera_encoder = must(IntGaugeVec::new(
            Opts::new(
                "pinhole_camera_encoder_info",
                "Always 1; the encoder in use.",
            ),
            &["camera", "encoder"],
        ));
        let detection = must(IntGaugeVec::new(
            Opts::new(
                "pinhole_detection_frames",
                "Detector frames per camera since start, by what became of them: seen, gated (no motion), dropped (workers busy), inferred.",
            ),
            &["camera", "outcome"],
        ));
        let inference_seconds = must(prometheus::GaugeVec::new(
            Opts::new(
                "pinhole_detection_inference_mean_seconds",
                "Mean inference time per camera since start.",
            ),
            &["camera"],
        ));
        let mqtt = must(IntGaugeVec::new(
            Opts::new(
                "pinhole_mqtt_messages",
                "MQTT messages since start: sent, dropped (queue full); queued now; connected (0/1).",
            ),
            &["state"],
        ));
        let rtsp_sessions = must(IntGauge::new(
            "pinhole_rtsp_sessions",
            "RTSP sessions currently open.",
        ));
        let onvif_subscriptions = must(IntGauge::new(
            "pinhole_onvif_event_subscriptions",
            "Event subscriptions of the ONVIF face open now (pull points and Notify).",
        ));
        let build_info = must(IntGaugeVec::new(
            Opts::new("pinhole_build_info", "Always 1; labels carry the build."),
            &["version", "arch"],
        ));
        build_info
            .with_label_values(&[crate::VERSION, std::env::consts::ARCH])
            .set(1);
        for c in [
            Box::new(http_requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(rpc_calls.clone()),
            Box::new(rpc_duration.clone()),
            Box::new(ws_connections.clone()),
            Box::new(notifications_dropped.clone()),
            Box::new(logins.clone()),
            Box::new(subsystem_up.clone()),
            Box::new(subsystem_restarts.clone()),
            Box::new(cpu_ratio.clone()),
            Box::new(memory_available.clone()),
            Box::new(temperature.clone()),
            Box::new(disk_available.clone()),
            Box::new(uptime.clone()),
            Box::new(camera_state.clone()),
            Box::new(camera_fps.clone()),
            Box::new(camera_bitrate.clone()),
            Box::new(camera_restarts.clone()),
            Box::new(camera_consumers.clone()),
            Box::new(camera_encoder.clone()),
            Box::new(destination_state.clone()),
            Box::new(destination_bytes.clone()),
            Box::new(destination_dropped.clone()),
            Box::new(rtsp_sessions.clone()),
            Box::new(onvif_subscriptions.clone()),
            Box::new(detection.clone()),
            Box::new(inference_seconds.clone()),
            Box::new(mqtt.clone()),
            Box::new(build_info),
            Box::new(prometheus::process_collector::ProcessCollector::for_self()),
        ] {
            must(registry.register(c));
        }
        let per_method = crate::api::rpc::methods::all()
            .iter()
            .map(|m| {
                (
                    m.name,
                    (
                        rpc_calls.with_label_values(&[m.name, "ok"]),
                        rpc_duration.with_label_values(&[m.name]),
                    ),
                )
            })
            .collect();
        Self {
            registry,
            per_method,
            http_requests,
            rpc_calls,
            ws_connections,
            notifications_dropped,
            logins,
            subsystem_up,
            subsystem_restarts,
            cpu_ratio,
            memory_available,
            temperature,
            disk_available,
            uptime,
            camera_state,
            camera_fps,
            camera_bitrate,
            camera_restarts,
            camera_consumers,
            camera_encoder,
            destination_state,
            destination_bytes,
            destination_dropped,
            rtsp_sessions,
            onvif_subscriptions,
            detection,
            inference_seconds,
            mqtt,
        }
    }

    /// `method` must be a declared method name or `unknown` (bounded label values).
    pub fn rpc_call(&self, method: &str, outcome: &str, took: Duration) {
        match self.per_method.get(method) {
            Some((ok, duration)) => {
                if outcome == "ok" {
                    ok.inc();
                } else {
                    self.rpc_calls.with_label_values(&[method, outcome]).inc();
                }
                duration.observe(took.as_secs_f64());
            }
            None => self.rpc_calls.with_label_values(&[method, outcome]).inc(),
        }
    }

    pub fn http_request(&self, route: &str, status: u16) {
        self.http_requests
            .with_label_values(&[route, &status.to_string()])
            .inc();
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Middleware: counts requests by matched route (never by raw path: bounded label values).
pub async fn track_http(State(state): State<SharedState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let response = next.run(req).await;
    state
        .metrics
        .http_request(&route, response.status().as_u16());
    response
}

pub async fn scrape(State(state): State<SharedState>) -> Response {
    let m = &state.metrics;
    for s in state.health.snapshot() {
        m.subsystem_up
            .with_label_values(&[s.name])
            .set(i64::from(s.healthy));
        m.subsystem_restarts
            .with_label_values(&[s.name])
            .set(i64::from(s.restarts));
    }
    if let Some(s) = state.monitor.latest() {
        m.cpu_ratio.set(s.cpu_percent / 100.0);
        m.memory_available
            .set(i64::try_from(s.memory_available_bytes).unwrap_or(i64::MAX));
        if let Some(t) = s.temperature_c {
            m.temperature.set(t);
        }
    }
    if let Ok(d) = crate::system::disk_usage(&state.config.general.state_dir) {
        m.disk_available
            .set(i64::try_from(d.available_bytes).unwrap_or(i64::MAX));
    }
    m.uptime.set(state.started_at.elapsed().as_secs_f64());
    m.onvif_subscriptions
        .set(state.onvif.events.subscriptions() as i64);
    if let Some(media) = &state.media {
        // Rebuilt at each scrape so removed cameras and old states disappear.
        m.camera_state.reset();
        m.camera_encoder.reset();
        for cam in media.cameras() {
            let s = cam.status();
            let id = cam.id.as_str();
            m.camera_state
                .with_label_values(&[id, s.state.as_str()])
                .set(1);
            m.camera_fps.with_label_values(&[id]).set(s.fps);
            m.camera_bitrate
                .with_label_values(&[id])
                .set(s.bitrate_kbps);
            m.camera_restarts
                .with_label_values(&[id])
                .set(i64::from(s.restarts));
            m.camera_consumers
                .with_label_values(&[id])
                .set(cam.hub.consumers() as i64);
            if let Some(e) = &s.encoder {
                m.camera_encoder.with_label_values(&[id, e]).set(1);
            }
        }
        m.rtsp_sessions.set(media.rtsp_sessions() as i64);
        m.destination_state.reset();
        m.destination_bytes.reset();
        m.destination_dropped.reset();
        for out in media.outputs() {
            for d in out.status().destinations {
                let state = serde_json::to_value(d.state).unwrap_or_default();
                m.destination_state
                    .with_label_values(&[&out.stream_id, &d.id, state.as_str().unwrap_or("")])
                    .set(1);
                m.destination_bytes
                    .with_label_values(&[&out.stream_id, &d.id])
                    .set(i64::try_from(d.bytes_sent).unwrap_or(i64::MAX));
                m.destination_dropped
                    .with_label_values(&[&out.stream_id, &d.id])
                    .set(i64::try_from(d.dropped_frames).unwrap_or(i64::MAX));
            }
        }
    }
    if let Some(d) = state.detection.get() {
        use std::sync::atomic::Ordering::Relaxed;
        let cams = d.cameras.lock().unwrap_or_else(|p| p.into_inner());
        for (id, s) in cams.iter() {
            let n = s.inferences.load(Relaxed);
            for (outcome, v) in [
                ("seen", s.frames.load(Relaxed)),
                ("gated", s.gated.load(Relaxed)),
                ("dropped", s.dropped.load(Relaxed)),
                ("inferred", n),
            ] {
                m.detection
                    .with_label_values(&[id.as_str(), outcome])
                    .set(v as i64);
            }
            let us = s.inference_us.load(Relaxed);
            m.inference_seconds
                .with_label_values(&[id.as_str()])
                .set(if n > 0 {
                    us as f64 / n as f64 / 1000.0
                } else {
                    0.0
                });
        }
    }
    if let Some(q) = state.mqtt.get() {
        use std::sync::atomic::Ordering::Relaxed;
        for (k, v) in [
            ("sent", q.sent.load(Relaxed) as i64),
            ("dropped", q.dropped.load(Relaxed) as i64),
            ("queued", q.queued.load(Relaxed) as i64),
            ("connected", i64::from(q.connected.load(Relaxed))),
        ] {
            m.mqtt.with_label_values(&[k]).set(v);
        }
    }
    let mut buf = Vec::new();
    let encoder = TextEncoder::new();
    if let Err(e) = encoder.encode(&m.registry.gather(), &mut buf) {
        return (
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot encode metrics: {e}"),
        )
            .into_response();
    }
    (
        [(header::CONTENT_TYPE, encoder.format_type().to_string())],
        buf,
    )
        .into_response()
}
