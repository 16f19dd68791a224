//! One camera's fan-out point: its current H.264 producer (the capture pipeline's appsink) and
//! every consumer (RTSP media, recorder) attached to it.
//!
//! Consumers attach to the hub, not to a pipeline: when the capture pipeline is rebuilt after a
//! failure, [`Hub::set_producer`] moves every consumer to the new producer
//! (`ConsumptionLink::change_producer`), so RTSP clients and the recording in progress continue
//! instead of being torn down. Every pipeline shares one clock and base time
//! ([`super::adopt_shared_clock`]) so timestamps stay continuous across the switch.
//!
//! For cameras that record on events the hub also keeps the current GOP (the samples since the
//! last keyframe, [`Hub::cache_buffer`]): an event recording starts with it, so the clip holds
//! the moments before the trigger (pre-roll of up to one keyframe interval) instead of starting
//! at the next keyframe. The cache holds references to buffers the pipeline made anyway; it is
//! bounded ([`GOP_CACHE_MAX_BYTES`]) and kept only when asked ([`Hub::set_keep_gop`]).

use gst::prelude::*;
use gst_utils::{ConsumptionLink, StreamProducer};
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// A GOP larger than this (a camera with a very long keyframe interval) is not cached.
pub const GOP_CACHE_MAX_BYTES: usize = 8 << 20;

/// How much a consumer's appsrc may queue: room for a whole cached GOP pushed at once. Bounded
/// in bytes, not time: appsrc measures its first buffer's level from running time 0, so with
/// the shared clock's large timestamps a time limit would drop the very first (key)frame.
const CONSUMER_MAX_BYTES: u64 = 2 * GOP_CACHE_MAX_BYTES as u64;

#[derive(Debug, Default)]
pub struct Hub {
    inner: Mutex<Inner>,
    next_id: AtomicU64,
    keep_gop: AtomicBool,
    gop: Mutex<Gop>,
}

/// The samples since the last keyframe, first one a keyframe (or empty).
#[derive(Debug, Default)]
struct Gop {
    samples: Vec<gst::Sample>,
    bytes: usize,
}

/// Decode order of a buffer: DTS when set, else PTS.
fn decode_ts(b: &gst::BufferRef) -> Option<gst::ClockTime> {
    b.dts().or(b.pts())
}

#[derive(Debug, Default)]
struct Inner {
    producer: Option<StreamProducer>,
    links: HashMap<u64, ConsumptionLink>,
}

/// Identifies an attached consumer.
pub type ConsumerId = u64;

/// Asks the encoder upstream of `pad` for a keyframe with its parameter sets (a consumer is
/// joining).
pub fn ask_for_keyframe(pad: &gst::Pad) {
    pad.push_event(
        gst_video::UpstreamForceKeyUnitEvent::builder()
            .all_headers(true)
            .build(),
    );
}

impl Hub {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn gop(&self) -> std::sync::MutexGuard<'_, Gop> {
        self.gop.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A producer for a hub from the appsink `sink` (a capture pipeline's, an encoder's): not
    /// synchronised, and passing no end of stream on, since a rebuilt pipeline is not the end of
    /// its consumers' streams.
    pub fn producer(sink: &gst_app::AppSink) -> StreamProducer {
        let p = StreamProducer::with(
            sink,
            gst_utils::streamproducer::ProducerSettings { sync: false },
        );
        p.set_forward_events([gst::EventType::Gap]);
        p
    }

    fn settings() -> gst_utils::streamproducer::ConsumerSettings {
        gst_utils::streamproducer::ConsumerSettings {
            max_time: gst::ClockTime::ZERO,
            max_bytes: gst::format::Bytes::from_u64(CONSUMER_MAX_BYTES),
            ..Default::default()
        }
    }

    /// Sets a consumer's appsrc up (live, time format, queue size). Call before its pipeline
    /// starts: an appsrc configured while running does not stream.
    pub fn configure_consumer(appsrc: &gst_app::AppSrc) {
        StreamProducer::configure_consumer_with(appsrc, Self::settings());
    }

    /// Attaches a consumer; it receives data from the next keyframe on (the producer asks the
    /// encoder for one at once).
    pub fn attach(&self, appsrc: &gst_app::AppSrc) -> ConsumerId {
        self.attach_inner(appsrc, false).0
    }

    /// Attaches a consumer (configured and playing) that starts with the cached GOP, when there is one, then continues
    /// with live data without a gap or a repeated frame. Returns the consumer and how far back
    /// (in stream time) the pre-roll reaches.
    pub fn attach_with_preroll(
        &self,
        appsrc: &gst_app::AppSrc,
    ) -> (ConsumerId, Option<std::time::Duration>) {
        self.attach_inner(appsrc, true)
    }

    fn attach_inner(
        &self,
        appsrc: &gst_app::AppSrc,
        preroll: bool,
    ) -> (ConsumerId, Option<std::time::Duration>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut link = ConsumptionLink::disconnected_with(appsrc.clone(), Self::settings());
        // `disconnected_with` applies the default queue settings, not the ones given.
        Self::configure_consumer(appsrc);
        // Holding the GOP lock stops the capture thread from caching (and so from producing)
        // the next buffer until the link is in place: live data follows the cache in order.
        let gop = self.gop();
        let mut reach = None;
        if preroll && !gop.samples.is_empty() {
            let first = gop
                .samples
                .first()
                .and_then(|s| s.buffer().and_then(decode_ts));
            let last = gop
                .samples
                .last()
                .and_then(|s| s.buffer().and_then(decode_ts));
            for s in &gop.samples {
                let _ = appsrc.push_sample(s);
            }
            reach = match (first, last) {
                (Some(a), Some(b)) => Some(std::time::Duration::from_nanos((b - a).nseconds())),
                _ => None,
            };
            // The newest cached buffer may also reach the producer after this (the cache is
            // filled just before the appsink takes the buffer): drop what was already sent.
            if let (Some(last), Some(pad)) = (last, appsrc.static_pad("src")) {
                // The cached samples pass; after them, repeats are dropped.
                let cached = std::sync::atomic::AtomicUsize::new(gop.samples.len());
                pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
                    if cached
                        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                        .is_ok()
                    {
                        return gst::PadProbeReturn::Ok;
                    }
                    match info.buffer().and_then(|b| decode_ts(b)) {
                        Some(t) if t <= last => gst::PadProbeReturn::Drop,
                        _ => gst::PadProbeReturn::Remove,
                    }
                });
            }
            // The cache starts with a keyframe: take every live buffer from here.
            link.set_wait_for_keyframe(false);
        }
        let mut g = self.lock();
        if let Some(p) = &g.producer
            && let Err(e) = link.change_producer(p, false)
        {
            tracing::warn!(error = %e, "cannot attach a consumer");
        }
        link.set_wait_for_keyframe(true);
        g.links.insert(id, link);
        drop(g);
        drop(gop);
        (id, reach)
    }

    /// Samples in the GOP cache (the pre-roll an event recording would start with).
    pub fn cached_samples(&self) -> usize {
        self.gop().samples.len()
    }

    /// Keep the current GOP for pre-roll (cameras recording on events) or not.
    pub fn set_keep_gop(&self, keep: bool) {
        if self.keep_gop.swap(keep, Ordering::Relaxed) && !keep {
            *self.gop() = Gop::default();
        }
    }

    /// Called for every encoded buffer on the producer's pad, before the producer sees it.
    pub fn cache_buffer(&self, pad: &gst::Pad, buf: &gst::Buffer) {
        if !self.keep_gop.load(Ordering::Relaxed) {
            return;
        }
        let key = !buf.flags().contains(gst::BufferFlags::DELTA_UNIT);
        let mut gop = self.gop();
        if key {
            gop.samples.clear();
            gop.bytes = 0;
        } else if gop.samples.is_empty()
            || buf.flags().contains(gst::BufferFlags::DISCONT)
            || gop.bytes + buf.size() > GOP_CACHE_MAX_BYTES
        {
            // No keyframe to start from: nothing usable until the next one.
            gop.samples.clear();
            gop.bytes = 0;
            return;
        }
        let mut b = gst::Sample::builder().buffer(buf);
        let caps = pad.current_caps();
        if let Some(c) = &caps {
            b = b.caps(c);
        }
        let segment = pad.sticky_event::<gst::event::Segment>(0);
        if let Some(seg) = &segment {
            b = b.segment(seg.segment());
        }
        gop.bytes += buf.size();
        gop.samples.push(b.build());
    }

    pub fn detach(&self, id: ConsumerId) {
        // Dropping the link disconnects it; do it outside the lock.
        let link = self.lock().links.remove(&id);
        drop(link);
    }

    /// Switches every consumer to a new producer (or parks them when `None`).
    pub fn set_producer(&self, producer: Option<StreamProducer>) {
        // The cached GOP belongs to the old stream.
        *self.gop() = Gop::default();
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
