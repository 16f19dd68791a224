//! A camera's demand-gated frame taps: the JPEG branch (live preview, MJPEG to any number of
//! browsers, and snapshots) and the detector's raw RGB branch.
//!
//! One low-fps branch per camera and purpose feeds a `tokio::sync::watch` channel; every reader
//! gets the latest frame from it, so a hundred viewers cost what one does, and a slow reader (the
//! detector) skips frames instead of slowing capture. Each branch is gated: while
//! nobody watches and no snapshot is pending, a `valve` drops frames before scaling and
//! encoding (and, for encoded sources, before decoding; frames decoded before the first
//! keyframe after the valve opens are not published, so nobody sees a half-decoded picture).

use bytes::Bytes;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use tokio::sync::watch;

/// One frame of a tap: a JPEG (preview) or packed RGB, 3 bytes per pixel, rows without padding
/// (detector).
#[derive(Debug, Clone)]
pub struct JpegFrame {
    pub data: Bytes,
    pub width: u32,
    pub height: u32,
    /// Wall-clock time the frame was produced, in ms since the epoch.
    pub at_ms: i64,
    /// Increases with every frame.
    pub seq: u64,
}

#[derive(Debug)]
pub struct Preview {
    /// The running pipeline's valve, opened while there is demand.
    valve: std::sync::Mutex<Option<gst::Element>>,
    tx: watch::Sender<Option<Arc<JpegFrame>>>,
    viewers: AtomicUsize,
    /// Snapshot requests waiting for a frame.
    pending: AtomicUsize,
    /// The gate has seen a keyframe since it opened (encoded sources).
    synced: AtomicBool,
    seq: std::sync::atomic::AtomicU64,
}

impl Default for Preview {
    fn default() -> Self {
        Self {
            valve: Default::default(),
            tx: watch::channel(None).0,
            viewers: AtomicUsize::new(0),
            pending: AtomicUsize::new(0),
            synced: AtomicBool::new(false),
            seq: Default::default(),
        }
    }
}

/// Keeps the gate open while alive.
#[derive(Debug)]
pub struct Demand {
    preview: Arc<Preview>,
    snapshot: bool,
}

impl Drop for Demand {
    fn drop(&mut self) {
        let c = if self.snapshot {
            &self.preview.pending
        } else {
            &self.preview.viewers
        };
        c.fetch_sub(1, Ordering::AcqRel);
        self.preview.update_valve();
    }
}

impl Preview {
    pub fn is_wanted(&self) -> bool {
        self.viewers.load(Ordering::Acquire) + self.pending.load(Ordering::Acquire) > 0
    }

    pub fn viewers(&self) -> usize {
        self.viewers.load(Ordering::Acquire)
    }

    /// Opens or closes the valve to match the demand.
    fn update_valve(&self) {
        let wanted = self.is_wanted();
        if !wanted {
            self.synced.store(false, Ordering::Release);
        }
        if let Some(v) = self
            .valve
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            use gst::prelude::ObjectExt;
            v.set_property("drop", !wanted);
        }
    }

    /// A new pipeline: its valve, closed until there is demand; encoded sources wait for a
    /// keyframe again.
    pub(crate) fn set_valve(&self, valve: Option<gst::Element>) {
        self.synced.store(false, Ordering::Release);
        *self.valve.lock().unwrap_or_else(|p| p.into_inner()) = valve;
        self.update_valve();
    }

    /// A buffer passed the valve (encoded sources): a keyframe makes decoded output valid.
    pub(crate) fn saw_input(&self, is_delta: bool) {
        if !is_delta {
            self.synced.store(true, Ordering::Release);
        }
    }

    /// May a decoded frame be published? Raw sources always; encoded ones after a keyframe.
    pub(crate) fn output_valid(&self, encoded: bool) -> bool {
        !encoded || self.synced.load(Ordering::Acquire)
    }

    /// A viewer: keeps frames coming while held.
    pub fn watch(self: &Arc<Self>) -> (Demand, watch::Receiver<Option<Arc<JpegFrame>>>) {
        self.viewers.fetch_add(1, Ordering::AcqRel);
        self.update_valve();
        (
            Demand {
                preview: self.clone(),
                snapshot: false,
            },
            self.tx.subscribe(),
        )
    }

    /// Waits for the next frame newer than now (a snapshot of the live picture).
    pub async fn next_frame(
        self: &Arc<Self>,
        timeout: std::time::Duration,
    ) -> Option<Arc<JpegFrame>> {
        self.pending.fetch_add(1, Ordering::AcqRel);
        self.update_valve();
        let _demand = Demand {
            preview: self.clone(),
            snapshot: true,
        };
        let mut rx = self.tx.subscribe();
        rx.mark_unchanged();
        let wait = async {
            loop {
                if rx.changed().await.is_err() {
                    return None;
                }
                if let Some(f) = rx.borrow_and_update().clone() {
                    return Some(f);
                }
            }
        };
        tokio::time::timeout(timeout, wait).await.ok().flatten()
    }

    pub fn latest(&self) -> Option<Arc<JpegFrame>> {
        self.tx.borrow().clone()
    }

    pub(crate) fn publish(&self, data: Bytes, width: u32, height: u32, at_ms: i64) {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        self.tx.send_replace(Some(Arc::new(JpegFrame {
            data,
            width,
            height,
            at_ms,
            seq,
        })));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valve_follows_demand_and_decoded_output_waits_for_a_keyframe() {
        gst::init().expect("GStreamer initialises");
        let valve = gst::ElementFactory::make("valve").build().expect("valve");
        let p = Arc::new(Preview::default());
        p.set_valve(Some(valve.clone()));
        let closed = |v: &gst::Element| gst::prelude::ObjectExt::property::<bool>(v, "drop");
        assert!(closed(&valve));
        let (d, _rx) = p.watch();
        assert!(!closed(&valve));
        assert!(p.output_valid(false), "raw frames are valid at once");
        assert!(!p.output_valid(true));
        p.saw_input(true);
        assert!(!p.output_valid(true), "not from a delta frame");
        p.saw_input(false);
        assert!(p.output_valid(true), "a keyframe makes it valid");
        drop(d);
        assert!(closed(&valve));
        assert!(!p.output_valid(true));
        assert_eq!(p.viewers(), 0);
    }

    #[tokio::test]
    async fn snapshot_waits_for_a_new_frame() {
        let p = Arc::new(Preview::default());
        p.publish(Bytes::from_static(b"old"), 1, 1, 0);
        let p2 = p.clone();
        let waiter =
            tokio::spawn(async move { p2.next_frame(std::time::Duration::from_secs(5)).await });
        while !p.is_wanted() {
            tokio::task::yield_now().await;
        }
        p.publish(Bytes::from_static(b"new"), 2, 2, 1);
        let f = waiter.await.unwrap().expect("frame");
        assert_eq!(&f.data[..], b"new");
        assert!(!p.is_wanted());
        assert!(
            p.next_frame(std::time::Duration::from_millis(20))
                .await
                .is_none()
        );
    }
}
