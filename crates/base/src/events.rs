//! The in-process event bus behind `subscribe_events`.
//!
//! Subsystems publish [`Event`]s (a topic such as `camera.connected` and flat params, as the camera
//! service sends them); each WebSocket connection keeps a [`Subscription`] and forwards the events
//! that match as JSON-RPC notifications whose `method` is the topic. The bus is a bounded
//! broadcast channel: a slow client misses events (counted) rather than slowing publishers.

use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::sync::Arc;
use tokio::sync::broadcast;

/// Every topic a client may subscribe to. `group.*` and `*` subscribe to several.
pub const TOPICS: &[&str] = &[
    "camera.connected",
    "camera.disconnected",
    "camera.status_change",
    "camera.discovered",
    "camera.device_added",
    "camera.device_removed",
    "camera.picture_changed",
    "camera.osd_changed",
    "recording.start",
    "recording.stop",
    "recording.progress",
    "recording.error",
    "snapshot.taken",
    "snapshot.error",
    "system.startup",
    "system.shutdown",
    "system.health",
    "system.error",
    "system.settings_changed",
    "system.users_changed",
    "system.cameras_changed",
    "ptz.position",
    "ptz.preset",
    "ptz.error",
    "detection.start",
    "detection.update",
    "detection.end",
    "update.status",
    "stream.started",
    "stream.stopped",
    "stream.status_change",
];

#[derive(Debug, Clone, Serialize)]
pub struct Event {
    pub topic: String,
    pub params: Value,
}

#[derive(Debug, Clone)]
pub struct EventBus {
    tx: broadcast::Sender<Arc<Event>>,
}

impl EventBus {
    pub fn new(capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity.max(1));
        Self { tx }
    }

    /// Publishes `params` (an object; `timestamp` is added when missing) on `topic`.
    pub fn publish(&self, topic: &str, params: Value, now_ms: i64) {
        debug_assert!(TOPICS.contains(&topic), "undeclared topic {topic}");
        let mut params = match params {
            Value::Object(m) => m,
            other => {
                let mut m = Map::new();
                m.insert("value".into(), other);
                m
            }
        };
        params
            .entry("timestamp")
            .or_insert_with(|| Value::String(crate::clock::rfc3339_ms(now_ms)));
        // No receivers is normal (nobody subscribed).
        let _ = self.tx.send(Arc::new(Event {
            topic: topic.to_string(),
            params: Value::Object(params),
        }));
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.tx.subscribe()
    }
}

/// The JSON-RPC method a notification for `topic` is sent as: the camera service's
/// `camera_status_update` and `recording_status_update` for camera and recording state, the
/// topic itself otherwise.
pub fn notification_method(topic: &str) -> &str {
    match topic {
        "camera.connected" | "camera.disconnected" | "camera.status_change" => {
            "camera_status_update"
        }
        "recording.start" | "recording.stop" | "recording.error" => "recording_status_update",
        other => other,
    }
}

/// Is `pattern` something a client may subscribe to?
pub fn valid_pattern(pattern: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    if let Some(group) = pattern.strip_suffix(".*") {
        return TOPICS.iter().any(|t| t.split('.').next() == Some(group));
    }
    TOPICS.contains(&pattern)
}

fn pattern_matches(pattern: &str, topic: &str) -> bool {
    if pattern == "*" || pattern == topic {
        return true;
    }
    match pattern.strip_suffix(".*") {
        Some(group) => topic
            .strip_prefix(group)
            .is_some_and(|rest| rest.starts_with('.')),
        None => false,
    }
}

/// One client's subscription: topic patterns plus exact-match filters on event params.
#[derive(Debug, Clone, Default)]
pub struct Subscription {
    pub topics: BTreeSet<String>,
    pub filters: Option<Map<String, Value>>,
}

impl Subscription {
    pub fn matches(&self, e: &Event) -> bool {
        if !self.topics.iter().any(|p| pattern_matches(p, &e.topic)) {
            return false;
        }
        match &self.filters {
            None => true,
            Some(f) => f.iter().all(|(k, want)| e.params.get(k) == Some(want)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn patterns_and_filters() {
        assert!(valid_pattern("camera.connected"));
        assert!(valid_pattern("system.*"));
        assert!(valid_pattern("*"));
        assert!(!valid_pattern("camera.exploded"));
        assert!(!valid_pattern("nothing.*"));
        let e = Event {
            topic: "camera.connected".into(),
            params: json!({"device": "camera0"}),
        };
        let mut s = Subscription::default();
        assert!(!s.matches(&e));
        s.topics.insert("camera.*".into());
        assert!(s.matches(&e));
        s.filters = Some(
            json!({"device": "camera1"})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        );
        assert!(!s.matches(&e));
        assert!(!pattern_matches("cam.*", "camera.connected"));
    }

    #[tokio::test]
    async fn publish_adds_timestamp() {
        let bus = EventBus::new(4);
        let mut rx = bus.subscribe();
        bus.publish("system.startup", json!({"version": "x"}), 0);
        let e = rx.recv().await.expect("event");
        assert_eq!(e.params["timestamp"], json!("1970-01-01T00:00:00Z"));
    }
}
