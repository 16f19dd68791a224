//! The engine's snapshots: a JPEG of the live picture, stored and indexed; names are never
//! overwritten.

use crate::*;

impl MediaEngine {
    /// Takes a JPEG of the live picture and indexes it; publishes `snapshot.taken`, or
    /// `snapshot.error` when the camera could not give one (not for a bad request).
    pub async fn take_snapshot(
        &self,
        id: &str,
        filename: Option<String>,
    ) -> Result<snapshots::Snapshot, MediaError> {
        let res = self.snapshot_of(id, filename).await;
        let now = self.clock.now_ms();
        match &res {
            Ok(s) => self.events.publish(
                "snapshot.taken",
                serde_json::json!({"device": id, "filename": s.filename, "file_size": s.size_bytes}),
                now,
            ),
            Err(MediaError::NotFound(_) | MediaError::Invalid(_)) => {}
            Err(e) => self.events.publish(
                "snapshot.error",
                serde_json::json!({"device": id, "error": e.to_string()}),
                now,
            ),
        }
        res
    }

    async fn snapshot_of(
        &self,
        id: &str,
        filename: Option<String>,
    ) -> Result<snapshots::Snapshot, MediaError> {
        let cam = self
            .camera(id)
            .ok_or_else(|| MediaError::NotFound(format!("camera `{id}`")))?;
        if cam.status().state != CameraState::Streaming {
            return Err(MediaError::InvalidState(format!(
                "camera `{id}` is {}, not streaming",
                cam.status().state.as_str()
            )));
        }
        let now = self.clock.now_ms();
        let filename = match filename {
            Some(f) => {
                let f = if f.to_ascii_lowercase().ends_with(".jpg") {
                    f
                } else {
                    format!("{f}.jpg")
                };
                if !valid_file_name(&f) {
                    return Err(MediaError::Invalid(pinhole_base::FieldErrors::single(
                        "filename",
                        format!("`{f}`: use letters, digits, `.`, `_` and `-` only (at most 128)"),
                    )));
                }
                f
            }
            None => {
                let stamp = jiff::Timestamp::from_millisecond(now)
                    .map(|t| t.strftime("%Y-%m-%d_%H-%M-%S_%3f").to_string())
                    .unwrap_or_else(|_| now.to_string());
                format!("{id}_{stamp}.jpg")
            }
        };
        let frame = cam
            .preview
            .next_frame(Duration::from_secs(5))
            .await
            .ok_or_else(|| {
                MediaError::Failed(format!("camera `{id}` delivered no picture within 5 s"))
            })?;
        let dir = self.snapshots_dir.join(id);
        let path = dir.join(&filename);
        let row = snapshots::NewSnapshot {
            camera_id: id.to_string(),
            filename: filename.clone(),
            taken_ms: frame.at_ms,
            size_bytes: frame.data.len() as i64,
            width: Some(frame.width.into()),
            height: Some(frame.height.into()),
            event_id: None,
        };
        let data = frame.data.clone();
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || -> Result<snapshots::Snapshot, MediaError> {
            std::fs::create_dir_all(&dir)
                .map_err(|e| MediaError::Failed(format!("cannot create {}: {e}", dir.display())))?;
            let exists = store
                .call_blocking(|c| snapshots::get(c, &row.filename))?
                .is_some();
            if exists || path.exists() {
                return Err(MediaError::InvalidState(format!(
                    "snapshot `{}` already exists",
                    row.filename
                )));
            }
            let tmp = path.with_extension("jpg.part");
            std::fs::write(&tmp, &data)
                .and_then(|_| std::fs::File::open(&tmp)?.sync_data())
                .and_then(|_| std::fs::rename(&tmp, &path))
                .map_err(|e| {
                    let _ = std::fs::remove_file(&tmp);
                    MediaError::Failed(format!("cannot write {}: {e}", path.display()))
                })?;
            store
                .call_blocking(|c| {
                    snapshots::insert(c, &row)?;
                    snapshots::get(c, &row.filename)
                })?
                .ok_or_else(|| MediaError::Failed("snapshot row vanished".into()))
        })
        .await
        .map_err(|e| MediaError::Failed(e.to_string()))?
    }

    pub fn snapshot_path(&self, s: &snapshots::Snapshot) -> PathBuf {
        self.snapshots_dir.join(&s.camera_id).join(&s.filename)
    }

    pub async fn delete_snapshot(&self, filename: &str) -> Result<(), MediaError> {
        let f = filename.to_string();
        let s = self
            .store
            .call(move |c| snapshots::get(c, &f))
            .await?
            .ok_or_else(|| MediaError::NotFound(format!("snapshot `{filename}`")))?;
        let path = self.snapshot_path(&s);
        remove_file_if_present(&path).await?;
        let f = filename.to_string();
        self.store.call(move |c| snapshots::delete(c, &f)).await?;
        Ok(())
    }
}
