//! A camera's ONVIF metadata stream: its events (motion, people) as `tt:MetadataStream` XML
//! documents, sent over RTP beside its video on `rtsp://HOST:PORT/<camera>/metadata`, the way
//! ONVIF cameras stream metadata (Profile T, "RTSP Metadata Stream": payload
//! `VND.ONVIF.METADATA/90000`, one document per marker bit).
//!
//! Documents come from the application (it knows the events and renders ONVIF's XML) through
//! the camera's [`MetadataFeed`], which hands each to every RTSP media playing the camera and
//! keeps the last state document, sent again whenever a client starts playing (a shared media's
//! later clients would otherwise know nothing until the next change). [`OnvifMetadataPay`] is the
//! payloader: Debian's GStreamer has none for ONVIF metadata.

use gst::glib;
use gst::prelude::*;
use std::sync::Mutex;

/// What the payloader takes: one whole UTF-8 XML document per buffer.
pub const DOCUMENT_CAPS: &str = "application/x-onvif-metadata,encoding=(string)utf8";
/// A document of no events, for a media starting before the camera's state is known.
const EMPTY_DOCUMENT: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><tt:MetadataStream xmlns:tt=\"http://www.onvif.org/ver10/schema\"/>";
/// The element's name in launch lines.
pub const PAYLOADER: &str = "pinholeonvifmetapay";

glib::wrapper! {
    /// RTP payloader of ONVIF metadata documents: a document is cut into packets of at most
    /// the MTU, the last one marked.
    pub struct OnvifMetadataPay(ObjectSubclass<imp::OnvifMetadataPay>)
        @extends gst_rtp::RTPBasePayload, gst::Element, gst::Object;
}

/// Registers [`PAYLOADER`] (once; later calls are no-ops).
pub fn register() -> Result<(), glib::BoolError> {
    static DONE: std::sync::OnceLock<Result<(), glib::BoolError>> = std::sync::OnceLock::new();
    DONE.get_or_init(|| {
        gst::Element::register(
            None,
            PAYLOADER,
            gst::Rank::NONE,
            OnvifMetadataPay::static_type(),
        )
    })
    .clone()
}

mod imp {
    use super::*;
    use gst_rtp::prelude::*;
    use gst_rtp::subclass::prelude::*;
    use std::sync::LazyLock;

    #[derive(Default)]
    pub struct OnvifMetadataPay;

    #[glib::object_subclass]
    impl ObjectSubclass for OnvifMetadataPay {
        const NAME: &'static str = "PinholeOnvifMetadataPay";
        type Type = super::OnvifMetadataPay;
        type ParentType = gst_rtp::RTPBasePayload;
    }

    impl ObjectImpl for OnvifMetadataPay {}
    impl GstObjectImpl for OnvifMetadataPay {}

    impl ElementImpl for OnvifMetadataPay {
        fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
            static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
                gst::subclass::ElementMetadata::new(
                    "ONVIF metadata RTP payloader",
                    "Codec/Payloader/Network/RTP",
                    "Payloads ONVIF metadata documents in RTP (VND.ONVIF.METADATA)",
                    "Pinhole",
                )
            });
            Some(&META)
        }

        fn pad_templates() -> &'static [gst::PadTemplate] {
            static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
                let sink = gst::Caps::builder("application/x-onvif-metadata")
                    .field("encoding", "utf8")
                    .build();
                let src = gst::Caps::builder("application/x-rtp")
                    .field("media", "application")
                    .field("payload", gst::IntRange::new(96, 127))
                    .field("clock-rate", 90000)
                    .field("encoding-name", "VND.ONVIF.METADATA")
                    .build();
                [
                    (gst::PadDirection::Sink, "sink", sink),
                    (gst::PadDirection::Src, "src", src),
                ]
                .into_iter()
                .filter_map(|(dir, name, caps)| {
                    gst::PadTemplate::new(name, dir, gst::PadPresence::Always, &caps).ok()
                })
                .collect()
            });
            TEMPLATES.as_ref()
        }
    }

    impl RTPBasePayloadImpl for OnvifMetadataPay {
        fn set_caps(&self, _caps: &gst::Caps) -> Result<(), gst::LoggableError> {
            let obj = self.obj();
            obj.set_options("application", true, "VND.ONVIF.METADATA", 90000);
            obj.set_outcaps(None)
                .map_err(|e| gst::loggable_error!(gst::CAT_RUST, "{e}"))
        }

        fn handle_buffer(&self, buffer: gst::Buffer) -> Result<gst::FlowSuccess, gst::FlowError> {
            let obj = self.obj();
            let map = buffer.map_readable().map_err(|_| gst::FlowError::Error)?;
            let room = gst_rtp::calc_payload_len(obj.mtu(), 0, 0).max(1) as usize;
            let mut list = gst::BufferList::new_sized(map.len().div_ceil(room));
            {
                let list = list.get_mut().ok_or(gst::FlowError::Error)?;
                let pieces = cut(&map, room);
                let last = pieces.len().saturating_sub(1);
                for (i, piece) in pieces.into_iter().enumerate() {
                    let mut packet = gst::Buffer::new_rtp_with_sizes(piece.len() as u32, 0, 0)
                        .map_err(|_| gst::FlowError::Error)?;
                    {
                        let packet = packet.get_mut().ok_or(gst::FlowError::Error)?;
                        packet.set_pts(buffer.pts());
                        let mut rtp = gst_rtp::RTPBuffer::from_buffer_writable(packet)
                            .map_err(|_| gst::FlowError::Error)?;
                        rtp.payload_mut()
                            .map_err(|_| gst::FlowError::Error)?
                            .copy_from_slice(piece);
                        rtp.set_marker(i == last);
                    }
                    list.add(packet);
                }
            }
            drop(map);
            obj.push_list(list)
        }
    }
}

/// A document cut into pieces of at most `room` bytes (one, empty, for an empty document).
fn cut(doc: &[u8], room: usize) -> Vec<&[u8]> {
    if doc.is_empty() {
        return vec![doc];
    }
    doc.chunks(room.max(1)).collect()
}

/// The RTSP media playing a camera's metadata, and the state a new one starts with.
#[derive(Debug, Default)]
pub struct MetadataFeed {
    inner: Mutex<FeedInner>,
}

#[derive(Debug, Default)]
struct FeedInner {
    sinks: Vec<(u64, gst_app::AppSrc)>,
    next: u64,
    /// The camera's whole event state as a document (each topic `Initialized`).
    state: Option<String>,
}

impl FeedInner {
    /// Hands `doc` to every media playing the metadata.
    fn send(&self, doc: &str) {
        let buffer = document(doc);
        for (_, src) in &self.sinks {
            let _ = src.push_buffer(buffer.clone());
        }
    }
}

fn document(doc: &str) -> gst::Buffer {
    gst::Buffer::from_slice(doc.as_bytes().to_vec())
}

impl MetadataFeed {
    fn lock(&self) -> std::sync::MutexGuard<'_, FeedInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Feeds `src` from now on, starting with the camera's state (an empty document when it
    /// is not known yet): the RTSP server prepares a media, and so answers DESCRIBE, only once
    /// every stream has given its first buffer.
    pub fn attach(&self, src: &gst_app::AppSrc) -> u64 {
        let mut inner = self.lock();
        inner.next += 1;
        let id = inner.next;
        let _ = src.push_buffer(document(inner.state.as_deref().unwrap_or(EMPTY_DOCUMENT)));
        inner.sinks.push((id, src.clone()));
        id
    }

    /// Sends the camera's state, when known, to every media playing the metadata: a client
    /// started playing.
    pub fn repeat_state(&self) {
        let inner = self.lock();
        if let Some(state) = &inner.state {
            inner.send(state);
        }
    }

    pub fn detach(&self, id: u64) {
        self.lock().sinks.retain(|(i, _)| *i != id);
    }

    /// Whether the camera's state was given (media starting now get it first).
    pub fn has_state(&self) -> bool {
        self.lock().state.is_some()
    }

    /// Media now playing the metadata.
    #[cfg(test)]
    fn listeners(&self) -> usize {
        self.lock().sinks.len()
    }

    /// Sends `changes` (a document of the topics that changed) to every media playing the
    /// metadata, and keeps `state` for those that start later. The first state given goes to
    /// those already playing too (they started on an empty document).
    pub fn publish(&self, changes: Option<&str>, state: String) {
        let mut inner = self.lock();
        match changes {
            Some(changes) => inner.send(changes),
            None if inner.state.is_none() => inner.send(&state),
            None => {}
        }
        inner.state = Some(state);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_is_cut_at_the_room_left_and_nothing_is_lost() {
        let doc = vec![7u8; 2500];
        let pieces = cut(&doc, 1000);
        assert_eq!(
            pieces.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [1000, 1000, 500]
        );
        assert_eq!(cut(b"", 1000), [b"" as &[u8]]);
        assert_eq!(cut(b"abc", 0), [b"a" as &[u8], b"b", b"c"]);
    }

    /// The payloader in a pipeline: a document longer than the MTU arrives as packets of
    /// `VND.ONVIF.METADATA` whose payloads, in order, are the document, only the last marked;
    /// a second document follows with the next sequence numbers.
    #[test]
    fn documents_go_out_as_marked_runs_of_rtp_packets() {
        gst::init().expect("GStreamer");
        register().expect("registered");
        let pipeline = gst::parse::launch(&format!(
            "appsrc name=src format=time caps={DOCUMENT_CAPS} ! {PAYLOADER} mtu=400 pt=107 ! appsink name=out sync=false"
        ))
        .expect("pipeline")
        .downcast::<gst::Pipeline>()
        .expect("a pipeline");
        let src = crate::element::<gst_app::AppSrc>(&pipeline, "src").expect("appsrc");
        let out = crate::element::<gst_app::AppSink>(&pipeline, "out").expect("appsink");
        pipeline.set_state(gst::State::Playing).expect("play");
        let long: String = (0..100).map(|i| format!("<tt:Item n=\"{i}\"/>")).collect();
        for doc in [long.as_str(), "<short/>"] {
            let mut b = document(doc);
            b.get_mut().expect("writable").set_pts(gst::ClockTime::ZERO);
            src.push_buffer(b).expect("pushed");
        }
        let _ = src.end_of_stream();
        let mut packets = Vec::new();
        while let Some(sample) = out.try_pull_sample(gst::ClockTime::from_seconds(5)) {
            if packets.is_empty() {
                let caps = sample
                    .caps()
                    .expect("caps")
                    .structure(0)
                    .expect("s")
                    .to_owned();
                assert_eq!(caps.get::<&str>("encoding-name"), Ok("VND.ONVIF.METADATA"));
                assert_eq!(caps.get::<&str>("media"), Ok("application"));
                assert_eq!(caps.get::<i32>("clock-rate"), Ok(90000));
            }
            let buffer = sample.buffer_owned().expect("buffer");
            let rtp = gst_rtp::RTPBuffer::from_buffer_readable(&buffer).expect("an RTP packet");
            assert!(buffer.size() <= 400);
            assert_eq!(rtp.payload_type(), 107);
            packets.push((
                rtp.seq(),
                rtp.is_marker(),
                rtp.payload().expect("payload").to_vec(),
            ));
        }
        let _ = pipeline.set_state(gst::State::Null);
        let ends: Vec<usize> = packets
            .iter()
            .enumerate()
            .filter(|(_, p)| p.1)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(ends, [packets.len() - 2, packets.len() - 1], "{ends:?}");
        let first: Vec<u8> = packets[..packets.len() - 1]
            .iter()
            .flat_map(|p| p.2.clone())
            .collect();
        assert_eq!(first, long.as_bytes());
        assert_eq!(packets[packets.len() - 1].2, b"<short/>");
        for w in packets.windows(2) {
            assert_eq!(w[1].0, w[0].0.wrapping_add(1), "sequence numbers in order");
        }
    }

    #[test]
    fn a_feed_sends_changes_to_all_and_the_state_when_a_client_starts() {
        gst::init().expect("GStreamer");
        let feed = MetadataFeed::default();
        let make = || {
            gst_app::AppSrc::builder()
                .caps(&gst::Caps::builder("application/x-onvif-metadata").build())
                .max_bytes(0)
                .build()
        };
        let (a, b) = (make(), make());
        let level = |s: &gst_app::AppSrc| s.current_level_buffers();
        let ia = feed.attach(&a);
        assert_eq!(level(&a), 1, "an empty document: no state yet");
        feed.publish(Some("<change/>"), "<state/>".into());
        assert_eq!(level(&a), 2);
        feed.attach(&b);
        assert_eq!(level(&b), 1, "the state");
        feed.repeat_state();
        assert_eq!((level(&a), level(&b)), (3, 2), "the state again to all");
        assert_eq!(feed.listeners(), 2);
        feed.detach(ia);
        feed.publish(None, "<state2/>".into());
        assert_eq!((level(&a), level(&b), feed.listeners()), (3, 2, 1));
        // A client that started before the camera's state was known gets it when it is.
        let late = MetadataFeed::default();
        let c = make();
        late.attach(&c);
        late.publish(None, "<first/>".into());
        late.publish(None, "<again/>".into());
        assert_eq!(
            level(&c),
            2,
            "the empty document, then the first state only"
        );
    }
}
