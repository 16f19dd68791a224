//! Overlays drawn on an output's frames inside its pipeline by Pinhole's own blending
//! ([`crate::picture_layer`]): a picture on the frames leaving an `identity`, and the text a
//! `textoverlay` renders.
//!
//! Why the text is taken from `textoverlay`: it lays text out with pango (any script, the
//! system's fonts, an outline), but blends through GStreamer's generic blend, which unpacks every
//! covered line to ARGB and back on every frame (1 % of a core for a clock line at 720p30).
//! Offered the overlay-composition meta, it renders the text only when the text changes and
//! attaches the rendering to the frames instead. The probes here offer the meta on its source
//! pad (nothing downstream sees it), convert each new rendering once, blend it, and take the
//! meta off. Where the offer is not taken, `textoverlay` blends as before.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use gst::prelude::*;
use gst_video::prelude::VideoFrameExt;

use crate::picture_layer::{
    ConvertedPicture, PackedOrder, PictureLayer, Placement, Plane, rgba_of_packed,
};

/// Draws `picture` on every I420 frame of `info` leaving `element` (an `identity`).
pub fn draw_picture(
    element: &gst::Element,
    picture: Arc<PictureLayer>,
    info: gst_video::VideoInfo,
) {
    let Some(pad) = element.static_pad("src") else {
        return;
    };
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, probe| {
        if let Some(gst::PadProbeData::Buffer(buffer)) = probe.data.as_mut() {
            with_planes(buffer, &info, |y, u, v| picture.draw(y, u, v));
        }
        gst::PadProbeReturn::Ok
    });
}

/// How many of a `textoverlay`'s renderings Pinhole has taken over and converted.
#[derive(Debug, Clone, Default)]
pub struct TakenRenderings(Arc<AtomicU32>);

impl TakenRenderings {
    #[cfg(test)]
    pub fn count(&self) -> u32 {
        self.0.load(Ordering::Relaxed)
    }
}

/// The I420 frames a `textoverlay` draws on.
#[derive(Debug, Clone)]
pub enum Frames {
    /// Known when the pipeline is built; `hd`: BT.709 colours.
    Known {
        info: gst_video::VideoInfo,
        hd: bool,
    },
    /// As negotiated (a camera's size may be the source's own); colours by the caps' matrix.
    FromCaps,
}

/// Has `element` (a `textoverlay`) hand its rendered text over on its I420 `frames`, and draws
/// it on them.
pub fn draw_rendered_text(element: &gst::Element, frames: Frames) -> TakenRenderings {
    let taken = TakenRenderings::default();
    let Some(pad) = element.static_pad("src") else {
        return taken;
    };
    let from_caps = matches!(frames, Frames::FromCaps);
    let shape = Arc::new(Mutex::new(match frames {
        Frames::Known { info, hd } => Some((info, hd)),
        Frames::FromCaps => None,
    }));
    let negotiated = from_caps.then(|| shape.clone());
    pad.add_probe(
        gst::PadProbeType::QUERY_DOWNSTREAM | gst::PadProbeType::PUSH,
        offer_composition_meta,
    );
    pad.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, move |_, probe| {
        if let Some(gst::PadProbeData::Event(event)) = probe.data.as_mut()
            && let gst::EventView::Caps(c) = event.view()
        {
            let plain = without_composition_feature(c.caps());
            if let Some(shape) = &negotiated
                && let Ok(info) = gst_video::VideoInfo::from_caps(&plain)
            {
                let hd = info.colorimetry().matrix() == gst_video::VideoColorMatrix::Bt709;
                *shape.lock().unwrap_or_else(|p| p.into_inner()) = Some((info, hd));
            }
            if c.caps().iter_with_features().any(|(_, f)| has_feature(f)) {
                *event = gst::event::Caps::new(&plain);
            }
        }
        gst::PadProbeReturn::Ok
    });
    let converted = Mutex::new(Vec::<(u32, Arc<ConvertedPicture>)>::new());
    let counter = taken.0.clone();
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, probe| {
        let Some(gst::PadProbeData::Buffer(buffer)) = probe.data.as_mut() else {
            return gst::PadProbeReturn::Ok;
        };
        let Some(composition) = buffer
            .meta::<gst_video::VideoOverlayCompositionMeta>()
            .map(|m| m.overlay_owned())
        else {
            return gst::PadProbeReturn::Ok;
        };
        let Some((info, hd)) = shape.lock().unwrap_or_else(|p| p.into_inner()).clone() else {
            return gst::PadProbeReturn::Ok;
        };
        if let Some(meta) = buffer
            .make_mut()
            .meta_mut::<gst_video::VideoOverlayCompositionMeta>()
        {
            let _ = meta.remove();
        }
        let mut all_converted = true;
        let pictures = {
            let mut cache = converted.lock().unwrap_or_else(|p| p.into_inner());
            let wanted: Vec<_> = composition.iter().collect();
            // Renderings no longer attached are let go; a new one is converted once.
            cache.retain(|(seqnum, _)| wanted.iter().any(|r| r.seqnum() == *seqnum));
            let mut pictures = Vec::with_capacity(wanted.len());
            for rect in &wanted {
                let known = cache.iter().find(|(s, _)| *s == rect.seqnum());
                let picture = match known {
                    Some((_, p)) => p.clone(),
                    None => match convert(rect, hd) {
                        Some(p) => {
                            counter.fetch_add(1, Ordering::Relaxed);
                            let p = Arc::new(p);
                            cache.push((rect.seqnum(), p.clone()));
                            p
                        }
                        None => {
                            all_converted = false;
                            continue;
                        }
                    },
                };
                pictures.push(picture);
            }
            pictures
        };
        if !all_converted {
            // A rendering in a form Pinhole does not read: GStreamer's own blend draws the
            // whole composition, so the text is slower, never lost.
            if let Ok(mut frame) =
                gst_video::VideoFrameRef::from_buffer_ref_writable(buffer.make_mut(), &info)
            {
                let _ = composition.blend(&mut frame);
            }
            return gst::PadProbeReturn::Ok;
        }
        with_planes(buffer, &info, |y, u, v| {
            for p in &pictures {
                p.draw(y, u, v);
            }
        });
        gst::PadProbeReturn::Ok
    });
    taken
}

/// Answers textoverlay's questions about the meta for the element downstream: caps with the
/// meta's feature are taken where the same caps without it are, and the meta is taken.
fn offer_composition_meta(pad: &gst::Pad, probe: &mut gst::PadProbeInfo) -> gst::PadProbeReturn {
    let Some(gst::PadProbeData::Query(query)) = probe.data.as_mut() else {
        return gst::PadProbeReturn::Ok;
    };
    match query.view_mut() {
        // textoverlay asks with the feature alone whether downstream takes it at all: by a caps
        // query in GStreamer 1.22, by accept-caps in other versions.
        gst::QueryViewMut::Caps(q) if q.filter().is_some_and(only_composition) => {
            let plain = q.filter().map(without_composition_feature);
            let Some(mut answer) = pad.peer().map(|peer| peer.query_caps(plain.as_ref())) else {
                return gst::PadProbeReturn::Ok;
            };
            for features in answer.make_mut().iter_with_features_mut().map(|(_, f)| f) {
                features.add(gst_video::CAPS_FEATURE_META_GST_VIDEO_OVERLAY_COMPOSITION);
            }
            q.set_result(&answer);
            gst::PadProbeReturn::Handled
        }
        gst::QueryViewMut::AcceptCaps(q) if only_composition(q.caps()) => {
            let plain = without_composition_feature(q.caps());
            let accepted = pad
                .peer()
                .is_some_and(|peer| peer.query_accept_caps(&plain));
            q.set_result(accepted);
            gst::PadProbeReturn::Handled
        }
        // textoverlay's own question, with the feature's caps, asked only to learn whether the
        // meta is taken; the answer's pools are not used.
        gst::QueryViewMut::Allocation(q) if q.caps().is_some_and(only_composition) => {
            q.add_allocation_meta::<gst_video::VideoOverlayCompositionMeta>(None);
            gst::PadProbeReturn::Handled
        }
        _ => gst::PadProbeReturn::Ok,
    }
}

/// Every structure of `caps` has the overlay-composition feature (and there is one).
fn only_composition(caps: &gst::CapsRef) -> bool {
    !caps.is_empty() && caps.iter_with_features().all(|(_, f)| has_feature(f))
}

fn has_feature(f: &gst::CapsFeaturesRef) -> bool {
    f.contains(gst_video::CAPS_FEATURE_META_GST_VIDEO_OVERLAY_COMPOSITION)
}

fn without_composition_feature(caps: &gst::CapsRef) -> gst::Caps {
    let mut plain = caps.to_owned();
    for features in plain.make_mut().iter_with_features_mut().map(|(_, f)| f) {
        features.remove(gst_video::CAPS_FEATURE_META_GST_VIDEO_OVERLAY_COMPOSITION);
    }
    plain
}

/// One rendering of the composition, converted for blending where it is placed.
fn convert(rect: &gst_video::VideoOverlayRectangleRef, hd: bool) -> Option<ConvertedPicture> {
    let (x, y, width, height) = rect.render_rectangle();
    let pixels = rect.pixels_unscaled_argb(gst_video::VideoOverlayFormatFlags::empty());
    let meta = pixels.meta::<gst_video::VideoMeta>()?;
    let order = match meta.format() {
        gst_video::VideoFormat::Bgra => PackedOrder::Bgra,
        gst_video::VideoFormat::Argb => PackedOrder::Argb,
        _ => return None,
    };
    let stride = usize::try_from(*meta.stride().first()?).ok()?;
    let (pw, ph) = (meta.width(), meta.height());
    let map = pixels.map_readable().ok()?;
    let rgba = rgba_of_packed(&map, stride, pw, ph, order)?;
    Some(ConvertedPicture::new(
        &rgba,
        Placement {
            x,
            y,
            width,
            height,
            opacity: 1.0,
        },
        hd,
    ))
}

/// Maps `buffer` as an I420 frame of `info` for writing and hands `draw` its three planes.
fn with_planes(
    buffer: &mut gst::Buffer,
    info: &gst_video::VideoInfo,
    draw: impl FnOnce(&mut Plane<'_>, &mut Plane<'_>, &mut Plane<'_>),
) {
    let Ok(mut frame) = gst_video::VideoFrameRef::from_buffer_ref_writable(buffer.make_mut(), info)
    else {
        return;
    };
    let layout: Vec<(usize, usize, usize)> = (0..3u32)
        .map(|i| {
            let stride = frame.plane_stride()[i as usize].max(0) as usize;
            (
                stride,
                frame.comp_width(i) as usize,
                frame.comp_height(i) as usize,
            )
        })
        .collect();
    let [y, u, v, _] = frame.planes_data_mut();
    let mut planes = [y, u, v]
        .into_iter()
        .zip(layout)
        .map(|(data, (stride, width, height))| Plane {
            data,
            stride,
            width,
            height,
        });
    if let (Some(mut y), Some(mut u), Some(mut v)) = (planes.next(), planes.next(), planes.next()) {
        draw(&mut y, &mut u, &mut v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The luma plane of the first frame of white text on black, drawn by `textoverlay` itself
    /// or taken over, with the renderings taken.
    fn text_frame(take_over: bool) -> Option<(Vec<u8>, u32)> {
        gst::init().ok()?;
        // The arm64 test sysroot has no pango.
        gst::ElementFactory::find("textoverlay")?;
        let pipeline = gst::parse::launch(
            "videotestsrc pattern=black num-buffers=2 ! video/x-raw,format=I420,width=320,height=240 ! \
             textoverlay name=text text=Pinhole font-desc=\"Sans Bold 40px\" halignment=left valignment=top \
             xpad=0 ypad=0 deltax=20 deltay=100 draw-shadow=false draw-outline=true ! \
             videoconvert ! video/x-raw,format=I420 ! appsink name=out sync=false",
        )
        .expect("pipeline")
        .downcast::<gst::Pipeline>()
        .expect("a pipeline");
        let info = gst_video::VideoInfo::builder(gst_video::VideoFormat::I420, 320, 240)
            .build()
            .expect("info");
        let taken = take_over.then(|| {
            draw_rendered_text(
                &pipeline.by_name("text").expect("text"),
                Frames::Known { info, hd: false },
            )
        });
        let sink = pipeline
            .by_name("out")
            .expect("sink")
            .downcast::<gst_app::AppSink>()
            .expect("appsink");
        pipeline.set_state(gst::State::Playing).expect("playing");
        let sample = sink.pull_sample().expect("a frame");
        let luma = sample
            .buffer()
            .expect("buffer")
            .map_readable()
            .expect("map")[..320 * 240]
            .to_vec();
        let _ = pipeline.set_state(gst::State::Null);
        Some((luma, taken.map_or(0, |t| t.count())))
    }

    #[test]
    fn text_taken_over_from_textoverlay_is_drawn_where_it_would_have_drawn_it() {
        let (Some((own, _)), Some((taken, renderings))) = (text_frame(false), text_frame(true))
        else {
            eprintln!("no textoverlay here");
            return;
        };
        assert_eq!(renderings, 1, "the rendering was not handed over");
        let lit =
            |luma: &[u8]| -> Vec<usize> { (0..luma.len()).filter(|&i| luma[i] > 128).collect() };
        let (a, b) = (lit(&own), lit(&taken));
        assert!(a.len() > 300, "textoverlay drew {} lit pixels", a.len());
        // Every lit pixel is in the text's box (from 20,100), as textoverlay puts it.
        assert!(
            b.iter().all(|&i| i % 320 >= 20 && i / 320 >= 100),
            "text outside its place"
        );
        let both = a.iter().filter(|i| b.binary_search(i).is_ok()).count();
        assert!(
            both * 100 >= a.len().max(b.len()) * 95,
            "{} lit by textoverlay, {} taken over, {both} by both",
            a.len(),
            b.len()
        );
    }
}
