//! The engine's recording control: segments started and stopped by hand or by detection events,
//! and the loop that keeps each camera's recorder in step with its recording mode.

use crate::*;

impl MediaEngine {
    pub fn recording_path(&self, r: &recordings::Recording) -> PathBuf {
        self.rec.dir.join(&r.camera_id).join(r.file_name())
    }

    pub async fn delete_recording(&self, filename: &str) -> Result<(), MediaError> {
        let f = filename.to_string();
        let r = self
            .store
            .call(move |c| recordings::get(c, &f))
            .await?
            .ok_or_else(|| MediaError::NotFound(format!("recording `{filename}`")))?;
        if r.state == "open" {
            return Err(MediaError::InvalidState(format!(
                "recording `{filename}` is being written; stop the recording first"
            )));
        }
        self.remove_recording(&r).await
    }

    pub(crate) async fn remove_recording(
        &self,
        r: &recordings::Recording,
    ) -> Result<(), MediaError> {
        let path = self.recording_path(r);
        remove_file_if_present(&path).await?;
        let id = r.id;
        self.store.call(move |c| recordings::delete(c, id)).await?;
        Ok(())
    }

    // ---- recording ----

    /// Starts an on-demand recording (optionally for `duration_secs`).
    pub async fn start_recording(
        &self,
        id: &str,
        format: Format,
        duration_secs: Option<u32>,
    ) -> Result<RecordingState, MediaError> {
        let cam = self
            .camera(id)
            .ok_or_else(|| MediaError::NotFound(format!("camera `{id}`")))?;
        if !cam.definition().enabled {
            return Err(MediaError::InvalidState(format!(
                "camera `{id}` is disabled"
            )));
        }
        let now = self.clock.now_ms();
        {
            let mut recs = self.recs.lock().await;
            let slot = recs.entry(id.to_string()).or_default();
            if slot.recorder.is_some() || slot.manual.is_some() {
                return Err(MediaError::InvalidState(format!(
                    "camera `{id}` is already recording ({})",
                    if slot.trigger == "continuous" {
                        "continuous recording"
                    } else {
                        "on demand"
                    }
                )));
            }
            slot.manual = Some(Manual {
                format,
                until_ms: duration_secs.map(|d| now + i64::from(d) * 1000),
            });
            slot.next_try_ms = 0;
            slot.failures = 0;
        }
        self.reconcile_recorders().await;
        let recs = self.recs.lock().await;
        let slot = recs.get(id);
        match slot.and_then(|s| s.recorder.as_ref()) {
            Some(r) => Ok(RecordingState {
                device: id.to_string(),
                filename: r.current_filename(),
                started_ms: r.started_ms,
                format: r.format.as_str(),
                trigger: "manual",
                until_ms: duration_secs.map(|d| now + i64::from(d) * 1000),
            }),
            None => Err(MediaError::Failed(
                slot.and_then(|s| s.last_error.clone())
                    .unwrap_or_else(|| "the recorder did not start".into()),
            )),
        }
    }

    /// Stops an on-demand recording; returns the finished segment's row.
    pub async fn stop_recording(
        &self,
        id: &str,
    ) -> Result<(RecordingState, Option<recordings::Recording>), MediaError> {
        let cam = self
            .camera(id)
            .ok_or_else(|| MediaError::NotFound(format!("camera `{id}`")))?;
        let mut recs = self.recs.lock().await;
        let slot = recs.entry(id.to_string()).or_default();
        if slot.manual.is_none() {
            return Err(MediaError::InvalidState(
                if cam.definition().recording == RecordingMode::Continuous {
                    format!(
                        "camera `{id}` records continuously; change its recording mode to stop it"
                    )
                } else {
                    format!("camera `{id}` is not recording")
                },
            ));
        }
        let manual = slot.manual.take();
        let Some(r) = slot.recorder.take() else {
            return Err(MediaError::InvalidState(format!(
                "camera `{id}` is not recording"
            )));
        };
        let state = RecordingState {
            device: id.to_string(),
            filename: r.current_filename(),
            started_ms: r.started_ms,
            format: r.format.as_str(),
            trigger: "manual",
            until_ms: manual.and_then(|m| m.until_ms),
        };
        drop(recs);
        r.stop().await;
        self.events.publish(
            "recording.stop",
            serde_json::json!({"device": id, "filename": state.filename, "status": "STOPPED"}),
            self.clock.now_ms(),
        );
        let row = match &state.filename {
            Some(f) => {
                let f = f.clone();
                self.store.call(move |c| recordings::get(c, &f)).await?
            }
            None => None,
        };
        // Continuous cameras resume continuous recording at once.
        self.rec_kick.notify_one();
        Ok((state, row))
    }

    /// A detection on a camera whose recording mode is `events`: record until `until_ms`
    /// (extended by every later detection). Returns whether the camera records on events.
    pub async fn trigger_event_recording(&self, id: &str, until_ms: i64) -> bool {
        let Some(cam) = self.camera(id) else {
            return false;
        };
        if cam.definition().recording != RecordingMode::Events {
            return false;
        }
        {
            let mut recs = self.recs.lock().await;
            let slot = recs.entry(id.to_string()).or_default();
            slot.event_until_ms = slot.event_until_ms.max(until_ms);
        }
        self.rec_kick.notify_one();
        true
    }

    pub async fn recording_state(&self, id: &str) -> Option<RecordingState> {
        let recs = self.recs.lock().await;
        let slot = recs.get(id)?;
        let r = slot.recorder.as_ref()?;
        Some(RecordingState {
            device: id.to_string(),
            filename: r.current_filename(),
            started_ms: r.started_ms,
            format: r.format.as_str(),
            trigger: slot.trigger,
            until_ms: slot.manual.as_ref().and_then(|m| m.until_ms),
        })
    }

    pub(crate) async fn recording_loop(self: Arc<Self>) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = self.shutdown.cancelled() => break,
                _ = tick.tick() => {}
                _ = self.rec_kick.notified() => {}
            }
            self.reconcile_recorders().await;
        }
        // Shutdown: finalise every segment.
        let mut recs = self.recs.lock().await;
        let all: Vec<Recorder> = recs
            .values_mut()
            .filter_map(|s| s.recorder.take())
            .collect();
        drop(recs);
        for r in all {
            r.stop().await;
        }
    }

    /// Starts, stops and restarts recorders so they match what each camera should do.
    pub(crate) async fn reconcile_recorders(&self) {
        let now = self.clock.now_ms();
        let cams = self.cameras();
        let mut recs = self.recs.lock().await;
        for cam in cams {
            let def = cam.definition();
            // Event recordings start with the GOP before the trigger (pre-roll).
            cam.hub
                .set_keep_gop(def.enabled && def.recording == RecordingMode::Events);
            let slot = recs.entry(cam.id.clone()).or_default();
            if slot
                .manual
                .as_ref()
                .is_some_and(|m| m.until_ms.is_some_and(|u| u <= now))
            {
                slot.manual = None;
            }
            let continuous = def.enabled && def.recording == RecordingMode::Continuous;
            let event = def.recording == RecordingMode::Events && slot.event_until_ms > now;
            let want = def.enabled && (continuous || event || slot.manual.is_some());
            let (format, trigger) = match &slot.manual {
                Some(m) => (m.format, "manual"),
                None if continuous => (Format::Fmp4, "continuous"),
                None => (Format::Fmp4, "event"),
            };
            // A failed recorder: finalise, back off, retry.
            if slot.recorder.as_ref().is_some_and(|r| r.failed())
                && let Some(r) = slot.recorder.take()
            {
                {
                    let reason = r.stop().await.unwrap_or_else(|| "recorder stopped".into());
                    slot.failures += 1;
                    let delay = 1000i64 << slot.failures.min(5);
                    slot.next_try_ms = now + delay;
                    slot.last_error = Some(reason);
                    self.retention_kick.notify_one();
                }
            }
            let wrong_kind = slot
                .recorder
                .as_ref()
                .is_some_and(|r| r.format != format || slot.trigger != trigger);
            if (!want || wrong_kind)
                && let Some(r) = slot.recorder.take()
            {
                let filename = r.current_filename();
                r.stop().await;
                self.events.publish(
                    "recording.stop",
                    serde_json::json!({"device": cam.id, "filename": filename, "status": "STOPPED"}),
                    now,
                );
            }
            if want && slot.recorder.is_none() && now >= slot.next_try_ms {
                let kick = self.retention_kick.clone();
                let args = recorder::StartArgs {
                    camera: cam.clone(),
                    format,
                    trigger: trigger.to_string(),
                    settings: self.rec.clone(),
                    store: self.store.clone(),
                    clock: self.clock.clone(),
                    events: self.events.clone(),
                    on_closed: Arc::new(move || kick.notify_one()),
                };
                let rt = tokio::runtime::Handle::current();
                match tokio::task::spawn_blocking(move || {
                    let _g = rt.enter();
                    Recorder::start(args)
                })
                .await
                {
                    Ok(Ok(r)) => {
                        slot.recorder = Some(r);
                        slot.trigger = trigger;
                        slot.last_error = None;
                        self.events.publish(
                            "recording.start",
                            serde_json::json!({"device": cam.id, "status": "STARTED", "format": format.as_str(), "trigger": trigger}),
                            now,
                        );
                    }
                    Ok(Err(e)) => {
                        let e = e.to_string();
                        slot.failures += 1;
                        slot.next_try_ms = now + (1000i64 << slot.failures.min(5));
                        tracing::error!(camera = %cam.id, error = %e, "cannot start recording");
                        self.events.publish(
                            "recording.error",
                            serde_json::json!({"device": cam.id, "error": e}),
                            now,
                        );
                        slot.last_error = Some(e);
                    }
                    Err(e) => slot.last_error = Some(e.to_string()),
                }
            }
            if slot.recorder.is_some() && slot.failures > 0 && slot.last_error.is_none() {
                slot.failures = 0;
            }
        }
    }

    // ---- retention ----
}
