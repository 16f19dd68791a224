//! A camera's demand-gated frame taps: the JPEG branch (live preview, MJPEG to any number of
//! browsers, and snapshots) and the detector's raw RGB branch.
//!
//! One low-fps branch per camera and purpose feeds a `tokio::sync::watch` channel; every reader
//! gets the latest frame from it, so a hundred viewers cost what one does, and a slow reader (the
//! detector) skips frames instead of slowing capture. Each branch runs only on demand: for raw
//! sources a `valve` in the capture pipeline drops frames before scaling and encoding while
//! nobody reads; for cameras that deliver H.264 a decoding pipeline is started on the camera's
//! hub when the first reader arrives and stopped when the last one leaves
//! ([`super::decode`]).

use bytes::Bytes;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
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

/// Called with `true` when readers appear and `false` when they are gone (may repeat).
pub type DemandHook = Box<dyn Fn(bool) + Send + Sync>;

pub struct Preview {
    /// The running pipeline's valve, opened while there is demand.
    valve: std::sync::Mutex<Option<gst::Element>>,
    on_demand: std::sync::Mutex<Option<DemandHook>>,
    tx: watch::Sender<Option<Arc<JpegFrame>>>,
    viewers: AtomicUsize,
    /// Snapshot requests waiting for a frame.
    pending: AtomicUsize,
    seq: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for Preview {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Preview")
            .field("viewers", &self.viewers)
            .field("pending", &self.pending)
            .finish_non_exhaustive()
    }
}

impl Default for Preview {
    fn default() -> Self {
        Self {
            valve: Default::default(),
            on_demand: Default::default(),
            tx: watch::channel(None).0,
            viewers: AtomicUsize::new(0),
            pending: AtomicUsize::new(0),
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
        if let Some(v) = self
            .valve
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            use gst::prelude::ObjectExt;
            v.set_property("drop", !wanted);
        }
        if let Some(hook) = self
            .on_demand
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            hook(wanted);
        }
    }

    /// A new capture pipeline: its valve, closed until there is demand.
    pub(crate) fn set_valve(&self, valve: Option<gst::Element>) {
        *self.valve.lock().unwrap_or_else(|p| p.into_inner()) = valve;
        self.update_valve();
    }

    /// Frames come from an on-demand pipeline started and stopped by `hook`; `None` removes it
    /// (and so stops that pipeline).
    pub(crate) fn set_on_demand(&self, hook: Option<DemandHook>) {
        let old = std::mem::replace(
            &mut *self.on_demand.lock().unwrap_or_else(|p| p.into_inner()),
            hook,
        );
        if let Some(old) = old {
            old(false);
        }
        self.update_valve();
    }

    /// Stops the on-demand pipeline and starts it again if it is wanted: the camera now streams
    /// another codec, or streams at last after a reader asked in vain.
    pub(crate) fn restart_on_demand(&self) {
        if let Some(hook) = self
            .on_demand
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            hook(false);
        }
        self.update_valve();
    }

    pub(crate) fn has_on_demand(&self) -> bool {
        self.on_demand
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
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
    fn valve_and_hook_follow_demand() {
        gst::init().expect("GStreamer initialises");
        let valve = gst::ElementFactory::make("valve").build().expect("valve");
        let p = Arc::new(Preview::default());
        p.set_valve(Some(valve.clone()));
        let calls = Arc::new(std::sync::Mutex::new(Vec::new()));
        let c = calls.clone();
        p.set_on_demand(Some(Box::new(move |w| c.lock().unwrap().push(w))));
        let closed = |v: &gst::Element| gst::prelude::ObjectExt::property::<bool>(v, "drop");
        assert!(closed(&valve));
        let (d, _rx) = p.watch();
        assert!(!closed(&valve));
        drop(d);
        assert!(closed(&valve));
        assert_eq!(*calls.lock().unwrap(), vec![false, true, false]);
        p.set_on_demand(None);
        assert_eq!(
            calls.lock().unwrap().last(),
            Some(&false),
            "removing the hook stops it"
        );
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
