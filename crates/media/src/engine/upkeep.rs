//! Retention: the policy in force, and the loop that applies it after every closed segment and
//! on a timer, so a full disk is handled before the muxer hits it.

use crate::*;

impl MediaEngine {
    pub fn retention_policy(&self) -> RetentionPolicy {
        self.retention
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn set_retention_policy(&self, p: RetentionPolicy) {
        *self.retention.write().unwrap_or_else(|p| p.into_inner()) = p;
        self.retention_kick.notify_one();
    }

    pub(crate) async fn retention_loop(self: Arc<Self>) {
        let mut tick = tokio::time::interval(Duration::from_secs(30));
        loop {
            tokio::select! {
                _ = self.shutdown.cancelled() => break,
                _ = tick.tick() => {}
                _ = self.retention_kick.notified() => {}
            }
            if let Err(e) = self.apply_retention().await {
                tracing::error!(error = %e, "retention failed");
            }
            if let Err(e) = self.apply_snapshot_retention().await {
                tracing::error!(error = %e, "snapshot retention failed");
            }
        }
    }

    /// Deletes snapshots older than `storage.snapshot_retention_days` (files, then rows), a
    /// batch per pass; returns how many went.
    pub async fn apply_snapshot_retention(&self) -> Result<u32, MediaError> {
        let days = self.snapshot_retention_days;
        if days == 0 {
            return Ok(0);
        }
        let before = self.clock.now_ms() - i64::from(days) * 86_400_000;
        let old = self
            .store
            .call(move |c| snapshots::older_than(c, before, 500))
            .await?;
        let mut n = 0;
        for s in &old {
            remove_file_if_present(&self.snapshot_path(s)).await?;
            let f = s.filename.clone();
            self.store.call(move |c| snapshots::delete(c, &f)).await?;
            n += 1;
        }
        if n > 0 {
            tracing::info!(
                removed = n,
                days,
                "snapshot retention deleted old snapshots"
            );
        }
        Ok(n)
    }

    /// Deletes what the policy says; returns (files deleted, bytes freed).
    pub async fn apply_retention(&self) -> Result<(u32, u64), MediaError> {
        let rows = self.store.call(|c| recordings::all_oldest_first(c)).await?;
        let dir = self.rec.dir.clone();
        let free = tokio::task::spawn_blocking(move || pinhole_sys::disk_usage(&dir))
            .await
            .map_err(|e| MediaError::Failed(e.to_string()))?
            .map(|d| d.available_bytes)
            .unwrap_or(u64::MAX);
        let segs: Vec<_> = rows
            .iter()
            .map(|r| retention::SegmentInfo {
                id: r.id,
                start_ms: r.start_ms,
                size_bytes: r.size_bytes.max(0) as u64,
                open: r.state == "open",
            })
            .collect();
        let plan = retention::plan(&segs, &self.retention_policy(), self.clock.now_ms(), free);
        let (mut n, mut bytes) = (0u32, 0u64);
        for (id, reason) in plan {
            if let Some(r) = rows.iter().find(|r| r.id == id) {
                match self.remove_recording(r).await {
                    Ok(()) => {
                        n += 1;
                        bytes += r.size_bytes.max(0) as u64;
                        tracing::info!(file = %r.file_name(), ?reason, "retention deleted a recording");
                    }
                    Err(e) => {
                        tracing::warn!(file = %r.file_name(), error = %e, "retention could not delete")
                    }
                }
            }
        }
        Ok((n, bytes))
    }
}
