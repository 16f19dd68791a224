//! A camera's picture adjustments (brightness, contrast, saturation), one service for the REST
//! routes, JSON-RPC, the ONVIF imaging service and the web page: checked, stored, applied to the
//! running pipeline at once, and announced (`camera.picture_changed`).

use super::error::ApiError;
use super::{AppState, SharedState};
use crate::store::{cameras, pictures};
use pinhole_base::picture::{Picture, PictureChange};
use serde::Serialize;

/// A camera's picture as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PictureView {
    pub camera: String,
    #[serde(flatten)]
    pub picture: Picture,
    /// Whether Pinhole makes this camera's picture and so can adjust it: not for a relayed IP
    /// camera (set its picture on the camera) or a V4L2 device's own H.264.
    pub adjustable: bool,
}

/// Why camera `id`'s picture cannot be adjusted here (it is not [`PictureView::adjustable`]).
pub fn not_adjustable_reason(id: &str) -> String {
    format!("camera `{id}` is relayed as it sends its video: set its picture on the camera itself")
}

async fn exists(state: &SharedState, id: &str) -> Result<(), ApiError> {
    let owned = id.to_string();
    state
        .store
        .call(move |c| cameras::get(c, &owned))
        .await?
        .map(|_| ())
        .ok_or_else(|| ApiError::NotFound(format!("no camera `{id}`")))
}

/// Refuses a change to a camera's picture while the media engine is off, or when the picture
/// is not Pinhole's to change (`ours` false, `why` says so).
pub(crate) fn ensure_changeable(
    state: &SharedState,
    ours: bool,
    why: impl FnOnce() -> String,
) -> Result<(), ApiError> {
    if state.media.is_none() {
        return Err(ApiError::Unavailable(
            "the media engine is off (media.enabled = false)".into(),
        ));
    }
    if !ours {
        return Err(ApiError::Conflict {
            reason: "not_supported_by_camera",
            detail: why(),
        });
    }
    Ok(())
}

/// Every running camera takes its stored picture adjustments (new ones need them; the others
/// already have them, read and applied between two changes, never across one).
pub async fn apply_stored(state: &AppState) {
    let Some(m) = &state.media else { return };
    let _no_change_meanwhile = state.picture_edits.lock().await;
    match state.store.call(|c| pictures::all(c)).await {
        Ok(all) => {
            for (id, picture) in all {
                if let Some(h) = m.camera(&id) {
                    h.set_picture(picture);
                }
            }
        }
        Err(e) => tracing::error!(error = %e, "could not read the cameras' pictures"),
    }
}

/// Whether Pinhole makes camera `id`'s picture (and so can adjust or draw on it).
pub(crate) fn adjustable(state: &SharedState, id: &str) -> bool {
    state
        .media
        .as_ref()
        .and_then(|m| m.camera(id))
        .is_some_and(|h| h.adjusts_picture())
}

/// Camera `id`'s picture.
pub async fn get(state: &SharedState, id: &str) -> Result<PictureView, ApiError> {
    exists(state, id).await?;
    let owned = id.to_string();
    let picture = state.store.call(move |c| pictures::get(c, &owned)).await?;
    Ok(PictureView {
        camera: id.to_string(),
        picture,
        adjustable: adjustable(state, id),
    })
}

/// Changes camera `id`'s picture: what `change` leaves out stays.
pub async fn set(
    state: &SharedState,
    id: &str,
    change: &PictureChange,
) -> Result<PictureView, ApiError> {
    // One change at a time: each reads what the last one stored, and the running pipeline
    // ends with what the store holds.
    let _one_at_a_time = state.picture_edits.lock().await;
    let now = get(state, id).await?;
    ensure_changeable(state, now.adjustable, || not_adjustable_reason(id))?;
    let next = now
        .picture
        .changed(change)
        .map_err(|fields| ApiError::Invalid {
            detail: "picture adjustments are 0 to 100".into(),
            fields,
        })?;
    let (owned, at) = (id.to_string(), state.now_ms());
    state
        .store
        .call(move |c| pictures::put(c, &owned, &next, at))
        .await?;
    if let Some(h) = state.media.as_ref().and_then(|m| m.camera(id)) {
        h.set_picture(next);
    }
    if next != now.picture {
        state.events.publish(
            "camera.picture_changed",
            serde_json::json!({
                "device": id,
                "brightness": next.brightness,
                "contrast": next.contrast,
                "saturation": next.saturation,
            }),
            state.now_ms(),
        );
    }
    Ok(PictureView {
        picture: next,
        ..now
    })
}
