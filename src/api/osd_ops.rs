//! A camera's texts on its picture (name, date, time), one service for the REST routes,
//! JSON-RPC, ONVIF's OSD operations and the web page: checked, stored, shown by the running
//! pipeline from its next frame, and announced (`camera.osd_changed`).

use super::error::ApiError;
use super::{AppState, SharedState};
use crate::store::{cameras, osds};
use pinhole_base::osd::{self, OsdText};
use serde::{Deserialize, Serialize};

/// A camera's texts as the API shows them.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OsdView {
    pub camera: String,
    /// In drawing order (later ones over earlier ones where they meet).
    pub texts: Vec<OsdText>,
    /// Whether Pinhole draws on this camera's picture: not on a relayed IP camera's or a
    /// V4L2 device's own H.264 (set texts on the camera itself), nor where GStreamer's text
    /// rendering (pango) is not installed.
    pub drawable: bool,
}

/// A camera's texts as a client sets them: all of them, in drawing order.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OsdChange {
    pub texts: Vec<OsdText>,
}

/// Why camera `id`'s picture takes no texts here (it is not [`OsdView::drawable`]).
pub fn not_drawable_reason(id: &str) -> String {
    if pinhole_media::osd::available() {
        format!(
            "camera `{id}` is relayed as it sends its video: set its texts on the camera itself"
        )
    } else {
        "this system cannot draw text (GStreamer's pango plugin is not installed)".into()
    }
}

fn drawable(state: &SharedState, id: &str) -> bool {
    pinhole_media::osd::available() && super::picture_ops::adjustable(state, id)
}

/// Camera `id`'s texts.
pub async fn get(state: &SharedState, id: &str) -> Result<OsdView, ApiError> {
    let owned = id.to_string();
    let texts = state
        .store
        .call(move |c| {
            if cameras::get(c, &owned)?.is_none() {
                return Ok(None);
            }
            osds::get(c, &owned).map(Some)
        })
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no camera `{id}`")))?;
    Ok(OsdView {
        camera: id.to_string(),
        texts,
        drawable: drawable(state, id),
    })
}

/// Every camera's texts (cameras without texts left out).
pub async fn all(state: &SharedState) -> Result<Vec<(String, Vec<OsdText>)>, ApiError> {
    Ok(state.store.call(|c| osds::all(c)).await?)
}

/// Sets camera `id`'s texts to `next`: texts with a token it has are changed, texts without
/// one are new, and the ones left out go.
pub async fn set(state: &SharedState, id: &str, next: Vec<OsdText>) -> Result<OsdView, ApiError> {
    edit(state, id, |_| Ok(next)).await
}

/// Adds a text to camera `id`; its token.
pub async fn create(state: &SharedState, id: &str, mut text: OsdText) -> Result<String, ApiError> {
    text.token.clear();
    let view = edit(state, id, |now| {
        let mut next = now.to_vec();
        next.push(text);
        Ok(next)
    })
    .await?;
    view.texts
        .last()
        .map(|t| t.token.clone())
        .ok_or_else(|| ApiError::Internal("the new text was not kept".into()))
}

fn missing(token: &str) -> ApiError {
    ApiError::NotFound(format!("no text `{token}`"))
}

/// The camera whose text `token` names.
fn camera_of_token(token: &str) -> Result<&str, ApiError> {
    osd::camera_of(token).ok_or_else(|| missing(token))
}

/// Replaces the text `text.token` names.
pub async fn replace(state: &SharedState, text: OsdText) -> Result<(), ApiError> {
    let id = camera_of_token(&text.token)?.to_string();
    edit(state, &id, |now| {
        let i = now
            .iter()
            .position(|t| t.token == text.token)
            .ok_or_else(|| missing(&text.token))?;
        let mut next = now.to_vec();
        next[i] = text;
        Ok(next)
    })
    .await
    .map(|_| ())
}

/// Deletes the text `token` names.
pub async fn delete(state: &SharedState, token: &str) -> Result<(), ApiError> {
    let id = camera_of_token(token)?.to_string();
    edit(state, &id, |now| {
        if !now.iter().any(|t| t.token == token) {
            return Err(missing(token));
        }
        Ok(now.iter().filter(|t| t.token != token).cloned().collect())
    })
    .await
    .map(|_| ())
}

/// One change of camera `id`'s texts: `change` makes the next list from the stored one.
async fn edit(
    state: &SharedState,
    id: &str,
    change: impl FnOnce(&[OsdText]) -> Result<Vec<OsdText>, ApiError>,
) -> Result<OsdView, ApiError> {
    // One change at a time: each reads what the last one stored, and the running pipeline
    // ends with what the store holds.
    let _one_at_a_time = state.osd_edits.lock().await;
    let now = get(state, id).await?;
    super::picture_ops::ensure_changeable(state, now.drawable, || not_drawable_reason(id))?;
    let next =
        osd::settle(id, &now.texts, change(&now.texts)?).map_err(|fields| ApiError::Invalid {
            detail: "a text on the picture is not right".into(),
            fields,
        })?;
    let (owned, stored, at) = (id.to_string(), next.clone(), state.now_ms());
    state
        .store
        .call(move |c| osds::put(c, &owned, &stored, at))
        .await?;
    if let Some(h) = state.media.as_ref().and_then(|m| m.camera(id)) {
        h.set_osd(next.clone(), state.timezone().await);
    }
    if next != now.texts {
        state.events.publish(
            "camera.osd_changed",
            serde_json::json!({"device": id, "texts": next}),
            state.now_ms(),
        );
    }
    Ok(OsdView { texts: next, ..now })
}

/// Every running camera takes its stored texts in the device's time zone (at start, after
/// cameras change, and when the time zone does).
pub async fn apply_stored(state: &AppState) {
    let Some(m) = &state.media else { return };
    let _no_change_meanwhile = state.osd_edits.lock().await;
    let tz = state.timezone().await;
    match state.store.call(|c| osds::all(c)).await {
        Ok(all) => {
            for (id, texts) in all {
                if let Some(h) = m.camera(&id) {
                    h.set_osd(texts, tz.clone());
                }
            }
        }
        Err(e) => tracing::error!(error = %e, "could not read the cameras' texts"),
    }
}
