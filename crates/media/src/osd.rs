//! A camera's texts on its picture ([`pinhole_base::osd`]), drawn in its capture pipeline.
//!
//! The pipeline of a camera with texts has a row of [`SLOTS`] `textoverlay` elements between
//! the detector's tap and the encoder, silent until given a text; Pinhole blends their
//! renderings itself ([`crate::overlay_draw`]), so a clock costs one rendering a second.
//! Texts change, come and go on the running pipeline: only a camera's first text rebuilds it
//! (a camera without texts carries no slots). A probe on the first slot updates the slots on
//! the frame after a change and on the first frame of each second, so what a frame shows is
//! the time it was captured.

use std::sync::{Arc, Mutex};

use gst::prelude::*;
use jiff::tz::TimeZone;
use pinhole_base::osd::{MAX_TEXTS, OsdPosition, OsdText};

use crate::overlay_draw;

/// `textoverlay` elements in a pipeline with texts: one per text a camera may have.
pub const SLOTS: usize = MAX_TEXTS;

/// The pipeline part drawing the texts (I420 frames in and out).
pub(crate) fn chain() -> String {
    let mut s = String::from("videoconvert ! video/x-raw,format=I420");
    for i in 0..SLOTS {
        s.push_str(&format!(
            " ! textoverlay name=osd{i} silent=true wait-text=false auto-resize=false \
             draw-shadow=false draw-outline=true halignment=left valignment=top xpad=0 ypad=0"
        ));
    }
    s
}

/// Whether texts can be drawn here (GStreamer's pango plugin is installed).
pub fn available() -> bool {
    gst::ElementFactory::find("textoverlay").is_some()
}

/// How a slot was last set, so a frame sets only what changed.
#[derive(Debug, Clone, PartialEq)]
struct Shown {
    text: String,
    geometry: Geometry,
}

/// A slot's placement and font, in the picture's pixels.
#[derive(Debug, Clone, PartialEq)]
struct Geometry {
    halign: &'static str,
    valign: &'static str,
    pad: i32,
    dx: i32,
    dy: i32,
    font: String,
}

fn geometry(t: &OsdText, (width, height): (u32, u32)) -> Geometry {
    // A margin from the edges that scales with the picture (20 px at 720p).
    let pad = (height / 36).max(4) as i32;
    let (halign, valign) = match t.position {
        OsdPosition::UpperLeft | OsdPosition::Custom => ("left", "top"),
        OsdPosition::UpperRight => ("right", "top"),
        OsdPosition::LowerLeft => ("left", "bottom"),
        OsdPosition::LowerRight => ("right", "bottom"),
    };
    let custom = t.position == OsdPosition::Custom;
    Geometry {
        halign,
        valign,
        pad: if custom { 0 } else { pad },
        dx: if custom {
            (t.x * width as f64) as i32
        } else {
            0
        },
        dy: if custom {
            (t.y * height as f64) as i32
        } else {
            0
        },
        font: format!("Sans Bold {}px", t.font_size),
    }
}

#[derive(Debug)]
struct Inner {
    texts: Vec<OsdText>,
    tz: TimeZone,
    /// The running pipeline's slots (none: a pipeline without texts, or none running).
    slots: Vec<gst::Element>,
    shown: Vec<Option<Shown>>,
    /// Texts changed since the slots were last set.
    changed: bool,
    /// The second (Unix) the slots were last set in.
    second: i64,
    #[cfg(test)]
    taken: Vec<overlay_draw::TakenRenderings>,
}

impl Inner {
    fn lacks_slots(&self) -> bool {
        !self.texts.is_empty() && self.slots.is_empty()
    }
}

/// A camera's texts and the slots of its running pipeline that draw them.
#[derive(Debug)]
pub struct CameraOsd {
    inner: Mutex<Inner>,
}

impl Default for CameraOsd {
    fn default() -> Self {
        Self {
            inner: Mutex::new(Inner {
                texts: Vec::new(),
                tz: TimeZone::UTC,
                slots: Vec::new(),
                shown: Vec::new(),
                changed: false,
                second: 0,
                #[cfg(test)]
                taken: Vec::new(),
            }),
        }
    }
}

impl CameraOsd {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sets the texts and the device's time zone; the running pipeline shows them from its
    /// next frame. Returns whether it cannot, having no slots (it needs a rebuild).
    pub fn set(&self, texts: Vec<OsdText>, tz: TimeZone) -> bool {
        let mut inner = self.lock();
        inner.texts = texts;
        inner.tz = tz;
        inner.changed = true;
        inner.lacks_slots()
    }

    /// Whether there are texts and no slots to draw them.
    pub(crate) fn lacks_slots(&self) -> bool {
        self.lock().lacks_slots()
    }

    /// Whether the camera has texts (a pipeline built now gets slots).
    pub fn wants_slots(&self) -> bool {
        !self.lock().texts.is_empty()
    }

    /// Takes the slots of a new pipeline (`osd0`... in `pipeline`, none for a pipeline
    /// without texts) and draws on its frames.
    pub(crate) fn attach(self: &Arc<Self>, pipeline: &gst::Pipeline) {
        let slots: Vec<gst::Element> = (0..SLOTS)
            .map_while(|i| pipeline.by_name(&format!("osd{i}")))
            .collect();
        let _taken: Vec<_> = slots
            .iter()
            .map(|slot| overlay_draw::draw_rendered_text(slot, overlay_draw::Frames::FromCaps))
            .collect();
        if let Some(pad) = slots.first().and_then(|s| s.static_pad("video_sink")) {
            let osd = Arc::downgrade(self);
            pad.add_probe(gst::PadProbeType::BUFFER, move |pad, _| {
                if let Some(osd) = osd.upgrade() {
                    osd.on_frame(pad);
                }
                gst::PadProbeReturn::Ok
            });
        }
        let mut inner = self.lock();
        #[cfg(test)]
        {
            inner.taken = _taken;
        }
        inner.shown = vec![None; slots.len()];
        inner.slots = slots;
        inner.changed = true;
    }

    /// Lets go of the stopped pipeline's slots.
    pub(crate) fn detach(&self) {
        let mut inner = self.lock();
        inner.slots.clear();
        inner.shown.clear();
    }

    /// Before a frame enters the first slot: the slots are set when the texts changed or a
    /// new second began.
    fn on_frame(&self, pad: &gst::Pad) {
        let now = jiff::Timestamp::now();
        let mut inner = self.lock();
        if !inner.changed && inner.second == now.as_second() {
            return;
        }
        let Some(size) = pad.current_caps().and_then(|c| {
            let s = c.structure(0)?;
            Some((
                u32::try_from(s.get::<i32>("width").ok()?).ok()?,
                u32::try_from(s.get::<i32>("height").ok()?).ok()?,
            ))
        }) else {
            return;
        };
        inner.changed = false;
        inner.second = now.as_second();
        let zoned = now.to_zoned(inner.tz.clone());
        let Inner {
            texts,
            slots,
            shown,
            ..
        } = &mut *inner;
        for (i, slot) in slots.iter().enumerate() {
            let want = texts.get(i).map(|t| Shown {
                text: t.render(&zoned),
                geometry: geometry(t, size),
            });
            if shown[i] == want {
                continue;
            }
            match &want {
                Some(w) => set_slot(slot, w, shown[i].as_ref()),
                None => slot.set_property("silent", true),
            }
            shown[i] = want;
        }
    }
}

fn set_slot(slot: &gst::Element, want: &Shown, was: Option<&Shown>) {
    let g = &want.geometry;
    if was.map(|w| &w.geometry) != Some(g) {
        slot.set_property_from_str("halignment", g.halign);
        slot.set_property_from_str("valignment", g.valign);
        slot.set_property("xpad", g.pad);
        slot.set_property("ypad", g.pad);
        slot.set_property("deltax", g.dx);
        slot.set_property("deltay", g.dy);
        slot.set_property("font-desc", &g.font);
    }
    if was.map(|w| &w.text) != Some(&want.text) {
        slot.set_property("text", &want.text);
    }
    if was.is_none() {
        slot.set_property("silent", false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pinhole_base::osd::OsdKind;

    #[test]
    fn corners_keep_a_margin_and_custom_places_the_top_left() {
        let mut t = OsdText::new(OsdKind::Time);
        t.position = OsdPosition::LowerRight;
        let g = geometry(&t, (1280, 720));
        assert_eq!(
            (g.halign, g.valign, g.pad, g.dx),
            ("right", "bottom", 20, 0)
        );
        t.position = OsdPosition::Custom;
        t.x = 0.5;
        t.y = 0.25;
        t.font_size = 48;
        let g = geometry(&t, (1280, 720));
        assert_eq!(
            (g.halign, g.valign, g.pad, g.dx, g.dy),
            ("left", "top", 0, 640, 180)
        );
        assert_eq!(g.font, "Sans Bold 48px");
    }

    /// Luma of the frames of a pipeline drawing `texts` on black 320×240, the first frame after
    /// the texts are set and one after they are taken away.
    fn frames_with(texts: Vec<OsdText>) -> Option<(Vec<u8>, Vec<u8>)> {
        gst::init().ok()?;
        if !available() {
            return None;
        }
        let pipeline = gst::parse::launch(&format!(
            "videotestsrc pattern=black is-live=true ! video/x-raw,format=I420,width=320,height=240,framerate=30/1 ! {} ! appsink name=out sync=false max-buffers=1 drop=true",
            chain()
        ))
        .expect("pipeline")
        .downcast::<gst::Pipeline>()
        .expect("a pipeline");
        let osd = Arc::new(CameraOsd::default());
        assert!(osd.set(texts, TimeZone::UTC), "no slots yet");
        osd.attach(&pipeline);
        let sink = pipeline
            .by_name("out")
            .expect("sink")
            .downcast::<gst_app::AppSink>()
            .expect("appsink");
        let luma = |sink: &gst_app::AppSink| {
            let sample = sink.pull_sample().expect("a frame");
            sample
                .buffer()
                .expect("buffer")
                .map_readable()
                .expect("map")[..320 * 240]
                .to_vec()
        };
        pipeline.set_state(gst::State::Playing).expect("playing");
        let with = luma(&sink);
        let taken: u32 = osd.lock().taken.iter().map(|t| t.count()).sum();
        assert!(
            taken >= 2,
            "{taken} renderings taken over: textoverlay blended them itself"
        );
        assert!(!osd.set(Vec::new(), TimeZone::UTC), "slots are there");
        // The change shows from the next frame that enters the slots; frames already past
        // them (a slow machine, qemu) still carry the texts.
        let lit = |luma: &[u8]| luma.iter().filter(|&&v| v > 128).count();
        let mut without = luma(&sink);
        for _ in 0..90 {
            if lit(&without) == 0 {
                break;
            }
            without = luma(&sink);
        }
        let _ = pipeline.set_state(gst::State::Null);
        osd.detach();
        Some((with, without))
    }

    #[test]
    fn texts_are_drawn_where_placed_and_go_when_taken_away() {
        let mut name = OsdText::new(OsdKind::Plain);
        name.text = "PORCH".into();
        name.font_size = 40;
        let mut clock = OsdText::new(OsdKind::Time);
        clock.position = OsdPosition::LowerRight;
        clock.font_size = 24;
        let Some((with, without)) = frames_with(vec![name, clock]) else {
            eprintln!("no textoverlay here");
            return;
        };
        let lit = |luma: &[u8], x0: usize, y0: usize, x1: usize, y1: usize| {
            (y0..y1)
                .flat_map(|y| (x0..x1).map(move |x| (x, y)))
                .filter(|&(x, y)| luma[y * 320 + x] > 128)
                .count()
        };
        assert!(lit(&with, 0, 0, 160, 60) > 100, "no name in the upper left");
        assert!(
            lit(&with, 160, 180, 320, 240) > 50,
            "no clock in the lower right"
        );
        assert_eq!(lit(&with, 0, 90, 320, 150), 0, "text in the middle");
        assert_eq!(lit(&without, 0, 0, 320, 240), 0, "the texts stayed");
    }
}
