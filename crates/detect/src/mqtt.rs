//! Detection events to an MQTT broker, in Frigate's style so existing home-automation setups
//! work: `<prefix>/events` gets `{"type": "new"|"update"|"end", "after": {...}}` for every
//! change, and `<prefix>/<camera>/<label>` the number of such objects in view (retained).
//!
//! The broker may be down: messages wait in a bounded queue (oldest dropped first, drops
//! counted) and go out once the connection is back. rumqttc reconnects on the next poll; the
//! poll loop backs off up to 30 s.

use pinhole_base::events::EventBus;
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub use pinhole_base::config::MqttConfig;

/// One message to publish.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub topic: String,
    pub payload: String,
    pub retain: bool,
}

/// Turns detection events into MQTT messages; keeps the per-camera, per-label counts. Pure.
#[derive(Debug, Default)]
pub struct Translator {
    prefix: String,
    counts: HashMap<(String, String), i64>,
}

impl Translator {
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.trim_end_matches('/').to_string(),
            counts: HashMap::new(),
        }
    }

    pub fn translate(&mut self, topic: &str, params: &Value) -> Vec<Message> {
        let kind = match topic {
            "detection.start" => "new",
            "detection.update" => "update",
            "detection.end" => "end",
            _ => return Vec::new(),
        };
        let camera = params["device"].as_str().unwrap_or("unknown").to_string();
        let label = params["label"].as_str().unwrap_or("unknown").to_string();
        let mut out = vec![Message {
            topic: format!("{}/events", self.prefix),
            payload: json!({
                "type": kind,
                "after": {
                    "id": params["event_id"],
                    "camera": camera,
                    "label": label,
                    "kind": params["kind"],
                    "score": params["score"],
                    "box": params["box"],
                    "snapshot": params["snapshot"],
                    "timestamp": params["timestamp"],
                },
            })
            .to_string(),
            retain: false,
        }];
        let delta = match kind {
            "new" => 1,
            "end" => -1,
            _ => 0,
        };
        if delta != 0 {
            let c = self
                .counts
                .entry((camera.clone(), label.clone()))
                .or_default();
            *c = (*c + delta).max(0);
            out.push(Message {
                topic: format!("{}/{camera}/{label}", self.prefix),
                payload: c.to_string(),
                retain: true,
            });
        }
        out
    }
}

/// Connection state for the status API.
#[derive(Debug, Default)]
pub struct MqttStatus {
    pub connected: AtomicBool,
    pub sent: AtomicU64,
    pub dropped: AtomicU64,
    pub queued: AtomicU64,
}

/// Runs until shutdown.
pub fn spawn(
    cfg: MqttConfig,
    device: &str,
    events: EventBus,
    shutdown: CancellationToken,
) -> Arc<MqttStatus> {
    let status = Arc::new(MqttStatus::default());
    if !cfg.enabled {
        return status;
    }
    let client_id = cfg
        .client_id
        .clone()
        .unwrap_or_else(|| format!("pinhole-{device}"));
    let mut opts = rumqttc::MqttOptions::new(client_id, cfg.host.clone(), cfg.port);
    opts.set_keep_alive(Duration::from_secs(15));
    if let (Some(u), Some(p)) = (&cfg.username, &cfg.password) {
        opts.set_credentials(u.clone(), p.clone());
    }
    let (client, mut eventloop) = rumqttc::AsyncClient::new(opts, 64);
    let st = status.clone();
    let stop = shutdown.clone();
    // The connection: poll forever, back off on errors.
    tokio::spawn(async move {
        let mut backoff = Duration::from_millis(500);
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                ev = eventloop.poll() => match ev {
                    Ok(rumqttc::Event::Incoming(rumqttc::Packet::ConnAck(_))) => {
                        tracing::info!("MQTT connected");
                        st.connected.store(true, Ordering::Release);
                        backoff = Duration::from_millis(500);
                    }
                    Ok(_) => {}
                    Err(e) => {
                        if st.connected.swap(false, Ordering::AcqRel) {
                            tracing::warn!(error = %e, "MQTT connection lost");
                        } else {
                            tracing::debug!(error = %e, "MQTT broker unreachable");
                        }
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(30));
                    }
                }
            }
        }
    });
    let st = status.clone();
    let prefix = cfg.topic_prefix.clone();
    let cap = cfg.queue.max(1);
    tokio::spawn(async move {
        let mut rx = events.subscribe();
        let mut tr = Translator::new(&prefix);
        let mut queue: VecDeque<Message> = VecDeque::new();
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tick.tick() => {}
                ev = rx.recv() => match ev {
                    Ok(ev) => {
                        for m in tr.translate(&ev.topic, &ev.params) {
                            if queue.len() >= cap {
                                queue.pop_front();
                                st.dropped.fetch_add(1, Ordering::Relaxed);
                            }
                            queue.push_back(m);
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        st.dropped.fetch_add(n, Ordering::Relaxed);
                    }
                    Err(_) => break,
                },
            }
            while st.connected.load(Ordering::Acquire) {
                let Some(m) = queue.front().cloned() else {
                    break;
                };
                match client.try_publish(
                    m.topic.clone(),
                    rumqttc::QoS::AtLeastOnce,
                    m.retain,
                    m.payload.clone(),
                ) {
                    Ok(()) => {
                        queue.pop_front();
                        st.sent.fetch_add(1, Ordering::Relaxed);
                    }
                    // The client's own queue is full: try again on the next tick.
                    Err(_) => break,
                }
            }
            st.queued.store(queue.len() as u64, Ordering::Relaxed);
        }
    });
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frigate_style_messages_and_counts() {
        let mut t = Translator::new("pinhole/");
        let start = json!({"device": "porch", "label": "person", "event_id": 7, "score": 0.9, "kind": "object"});
        let m = t.translate("detection.start", &start);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].topic, "pinhole/events");
        let v: Value = serde_json::from_str(&m[0].payload).unwrap();
        assert_eq!(v["type"], "new");
        assert_eq!(v["after"]["camera"], "porch");
        assert_eq!(
            (m[1].topic.as_str(), m[1].payload.as_str(), m[1].retain),
            ("pinhole/porch/person", "1", true)
        );
        let m = t.translate(
            "detection.start",
            &json!({"device": "porch", "label": "person", "event_id": 8}),
        );
        assert_eq!(m[1].payload, "2");
        let m = t.translate("detection.update", &start);
        assert_eq!(m.len(), 1, "updates do not change the count");
        let m = t.translate("detection.end", &start);
        assert_eq!(m[1].payload, "1");
        assert!(t.translate("camera.connected", &start).is_empty());
    }
}
