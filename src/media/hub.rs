//! One camera's fan-out point: its current H.264 producer (the capture pipeline's appsink) and
//! every consumer (RTSP media, recorder) attached to it.
//!
//! Consumers attach to the hub, not to a pipeline: when the capture pipeline is rebuilt after a
//! failure, [`Hub::set_producer`] moves every consumer to the new producer
//! (`ConsumptionLink::change_producer`), so RTSP clients and the recording in progress continue
//! instead of being torn down. Every pipeline shares one clock and base time
//! ([`super::adopt_shared_clock`]) so timestamps stay continuous across the switch.

use gst_utils::{ConsumptionLink, StreamProducer};
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct Hub {
    inner: Mutex<Inner>,
    next_id: AtomicU64,
}

#[derive(Debug, Default)]
struct Inner {
    producer: Option<StreamProducer>,
    links: HashMap<u64, ConsumptionLink>,
}

/// Identifies an attached consumer.
pub type ConsumerId = u64;

impl Hub {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Attaches a consumer; it receives data from the next keyframe on (the producer asks the
    /// encoder for one at once).
    pub fn attach(&self, appsrc: &gst_app::AppSrc) -> ConsumerId {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut g = self.lock();
        let link = match &g.producer {
            Some(p) => match p.add_consumer(appsrc) {
                Ok(l) => l,
                Err(_) => ConsumptionLink::disconnected(appsrc.clone()),
            },
            None => ConsumptionLink::disconnected(appsrc.clone()),
        };
        g.links.insert(id, link);
        id
    }

    pub fn detach(&self, id: ConsumerId) {
        // Dropping the link disconnects it; do it outside the lock.
        let link = self.lock().links.remove(&id);
        drop(link);
    }

    /// Switches every consumer to a new producer (or parks them when `None`).
    pub fn set_producer(&self, producer: Option<StreamProducer>) {
        let mut g = self.lock();
        for link in g.links.values_mut() {
            match &producer {
                Some(p) => {
                    if let Err(e) = link.change_producer(p, false) {
                        tracing::warn!(error = %e, "cannot move a consumer to the new pipeline");
                    }
                }
                None => link.disconnect(),
            }
        }
        g.producer = producer;
    }

    pub fn consumers(&self) -> usize {
        self.lock().links.len()
    }

    /// Buffers pushed and dropped over all current consumers.
    pub fn counters(&self) -> (u64, u64) {
        let g = self.lock();
        g.links
            .values()
            .fold((0, 0), |(p, d), l| (p + l.pushed(), d + l.dropped()))
    }
}
