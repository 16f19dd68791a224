//! Capture pipeline descriptions, built as text for `gst::parse::launch` from a camera's
//! definition. Pure, so every source kind and encoder can be unit tested without GStreamer.
//!
//! Shape (the design is in `docs/media.md`):
//! - raw sources (test, v4l2 raw/MJPEG, libcamera, HTTP MJPEG): `source ! videobalance
//!   name=picture ! tee name=raw` (the balance passes frames through untouched until the
//!   picture is adjusted), then
//!   `raw. ! queue(leaky) ! encoder ! h264parse config-interval=-1 ! avc/au ! appsink name=h264`
//!   and a low-fps JPEG branch `raw. ! gate ! queue(leaky) ! videorate ! videoscale ! jpegenc !
//!   appsink name=jpeg`;
//! - encoded sources (RTSP IP cameras in H.264 or H.265, v4l2 H.264): no transcode. An RTSP
//!   camera is played by Pinhole's own client before the pipeline is built, which is then
//!   just `appsink name=video`, fed the camera's access units with caps made from its
//!   parameter sets (`camera::ingest`). With rtspsrc instead (`rtsps://`, or
//!   `media.rtsp_client = "gstreamer"`) the codec is known only once the camera answers
//!   DESCRIBE, so the description is `rtspsrc` and `appsink name=video` unlinked, and the
//!   camera runner links each video stream through
//!   [`VideoCodec::depay_chain`] when it appears. Preview and detection decode on demand.
//!
//! URLs, device paths and credentials are never part of the text: they are set as properties on
//! the element named `src` after parsing, so no quoting problem or secret ends up in a log line.

use pinhole_base::config::SourceKind;

/// H.264 encoders in order of preference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoder {
    /// The Pi 4's hardware encoder (V4L2 M2M).
    V4l2,
    X264,
    OpenH264,
}

impl Encoder {
    pub const ALL: [Encoder; 3] = [Encoder::V4l2, Encoder::X264, Encoder::OpenH264];

    pub fn element(self) -> &'static str {
        match self {
            Encoder::V4l2 => "v4l2h264enc",
            Encoder::X264 => "x264enc",
            Encoder::OpenH264 => "openh264enc",
        }
    }

    pub fn from_element(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.element() == s)
    }

    /// The encoder's part of the pipeline, producing H.264 at `kbps` with a keyframe every
    /// `gop` frames.
    pub(crate) fn launch(self, kbps: u32, gop: u32) -> String {
        match self {
            Encoder::V4l2 => format!(
                "v4l2h264enc extra-controls=\"controls,video_bitrate={},h264_i_frame_period={gop},repeat_sequence_header=1\" ! video/x-h264,level=(string)4",
                kbps * 1000
            ),
            Encoder::X264 => format!(
                "x264enc tune=zerolatency speed-preset=ultrafast bitrate={kbps} key-int-max={gop} threads=2"
            ),
            Encoder::OpenH264 => format!(
                "openh264enc bitrate={} gop-size={gop} complexity=low rate-control=bitrate",
                kbps * 1000
            ),
        }
    }
}

/// Picks the encoder: `preference` is `auto` or an element name; `available` says whether an
/// element factory exists (and, for v4l2h264enc, whether its device does).
pub fn choose_encoder(
    preference: &str,
    available: impl Fn(&str) -> bool,
) -> Result<Encoder, String> {
    if preference != "auto" {
        let e = Encoder::from_element(preference).ok_or_else(|| {
            format!("unknown encoder `{preference}` (auto, v4l2h264enc, x264enc or openh264enc)")
        })?;
        return if available(e.element()) {
            Ok(e)
        } else {
            Err(format!(
                "encoder {} is not available on this system",
                e.element()
            ))
        };
    }
    Encoder::ALL
        .into_iter()
        .find(|e| available(e.element()))
        .ok_or_else(|| {
            "no H.264 encoder found (v4l2h264enc, x264enc, openh264enc); install gstreamer1.0-plugins-ugly".into()
        })
}

/// What a local device offers, best first; from the device monitor's caps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceFormat {
    H264,
    Mjpeg,
    Raw,
}

/// The video codecs Pinhole carries without transcoding, from camera to RTSP, recordings and
/// the live fMP4 preview.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum VideoCodec {
    H264,
    H265,
}

impl VideoCodec {
    /// From an RTP `encoding-name` (the SDP's `a=rtpmap`).
    pub fn from_encoding_name(name: &str) -> Option<Self> {
        match name.to_ascii_uppercase().as_str() {
            "H264" => Some(Self::H264),
            "H265" => Some(Self::H265),
            _ => None,
        }
    }

    /// From a caps structure name (`video/x-h264`).
    pub fn from_media_type(name: &str) -> Option<Self> {
        match name {
            "video/x-h264" => Some(Self::H264),
            "video/x-h265" => Some(Self::H265),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::H264 => "h264",
            Self::H265 => "h265",
        }
    }

    pub fn parser(self) -> &'static str {
        match self {
            Self::H264 => "h264parse",
            Self::H265 => "h265parse",
        }
    }

    /// What the camera's hub carries: whole access units, parameter sets in `codec_data` and
    /// in band before every keyframe (so RTSP clients and recordings can join anywhere).
    fn parsed(self) -> String {
        let (parser, caps) = match self {
            Self::H264 => ("h264parse", "video/x-h264,stream-format=avc,alignment=au"),
            Self::H265 => ("h265parse", "video/x-h265,stream-format=hvc1,alignment=au"),
        };
        format!("{parser} config-interval=-1 ! capsfilter caps=\"{caps}\"")
    }

    /// From an RTSP camera's RTP to what the hub carries (a bin description with one sink and
    /// one source pad).
    pub fn depay_chain(self) -> String {
        let depay = match self {
            Self::H264 => "rtph264depay",
            Self::H265 => "rtph265depay",
        };
        format!("{depay} ! {}", self.parsed())
    }

    /// The RTSP media factory's description: one shared media per camera, fed by an appsrc
    /// that consumes the hub (already parsed, parameter sets in band: no parser on the way out),
    /// and with `audio` a second one for the camera's AAC (`pay1`, MPEG4-GENERIC as cameras
    /// send it); with `metadata` a last one for its ONVIF metadata (`metasrc`, see
    /// [`crate::metadata`]).
    pub fn rtsp_factory_launch(self, audio: bool, metadata: bool) -> String {
        let pay = match self {
            Self::H264 => "rtph264pay",
            Self::H265 => "rtph265pay",
        };
        let audio_branch = if audio {
            " appsrc name=audiosrc ! rtpmp4gpay name=pay1 pt=97"
        } else {
            ""
        };
        // ONVIF metadata (events) as the last stream, when asked for.
        let metadata = if metadata {
            format!(
                " appsrc name=metasrc is-live=true format=time do-timestamp=true caps={} ! {} name=pay{} pt=107",
                crate::metadata::DOCUMENT_CAPS,
                crate::metadata::PAYLOADER,
                1 + usize::from(audio)
            )
        } else {
            String::new()
        };
        format!(
            "( appsrc name=src ! {pay} name=pay0 pt=96 config-interval=0{audio_branch}{metadata} )"
        )
    }
}

/// The audio codecs of IP cameras that Pinhole keeps. The hub carries AAC whatever the camera
/// sends, because MP4 recordings, RTMP and HLS take AAC and not G.711: AAC is relayed as it
/// is, G.711 (8 kHz, a few kbit/s) is encoded to AAC once, in the capture pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AudioCodec {
    /// AAC in RTP (RFC 3640, `MPEG4-GENERIC`).
    Aac,
    /// G.711 µ-law.
    Pcmu,
    /// G.711 A-law.
    Pcma,
}

/// The AAC encoder: voaacenc, else libav's.
pub fn aac_encoder() -> Option<&'static str> {
    ["voaacenc", "avenc_aac"]
        .into_iter()
        .find(|e| gst::ElementFactory::find(e).is_some())
}

/// The AAC decoder: libav's, else faad.
pub fn aac_decoder() -> Option<&'static str> {
    ["avdec_aac", "faad"]
        .into_iter()
        .find(|e| gst::ElementFactory::find(e).is_some())
}

/// What the camera's audio hub carries.
pub const HUB_AUDIO_CAPS: &str = "audio/mpeg,mpegversion=4,stream-format=raw";

impl AudioCodec {
    /// From an RTP `encoding-name`.
    pub fn from_encoding_name(name: &str) -> Option<Self> {
        match name.to_ascii_uppercase().as_str() {
            "MPEG4-GENERIC" => Some(Self::Aac),
            "PCMU" => Some(Self::Pcmu),
            "PCMA" => Some(Self::Pcma),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Aac => "aac",
            Self::Pcmu => "pcmu",
            Self::Pcma => "pcma",
        }
    }

    /// The caps of the camera's frames as its depayloader gives them (`rate`, `channels` and
    /// for AAC `codec_data` are added from the stream's parameters).
    pub fn media_type(self) -> &'static str {
        match self {
            Self::Aac => "audio/mpeg",
            Self::Pcmu => "audio/x-mulaw",
            Self::Pcma => "audio/x-alaw",
        }
    }

    /// From the camera's frames to the hub's AAC, into the appsink `audio` (a bin description
    /// with one sink pad). `aac_encoder` is only used for G.711.
    pub fn hub_chain(self, aac_encoder: &str) -> String {
        let to_aac = match self {
            Self::Aac => "aacparse".to_string(),
            Self::Pcmu | Self::Pcma => {
                let dec = if self == Self::Pcmu {
                    "mulawdec"
                } else {
                    "alawdec"
                };
                format!("{dec} ! audioconvert ! audioresample ! {aac_encoder} ! aacparse")
            }
        };
        format!(
            "{to_aac} ! capsfilter caps=\"{HUB_AUDIO_CAPS}\" ! appsink name=audio sync=false async=false"
        )
    }

    /// From an RTSP camera's RTP (rtspsrc) to the hub: depayloader, then [`Self::hub_chain`].
    pub fn depay_chain(self, aac_encoder: &str) -> String {
        let depay = match self {
            Self::Aac => "rtpmp4gdepay",
            Self::Pcmu => "rtppcmudepay",
            Self::Pcma => "rtppcmadepay",
        };
        format!("{depay} ! {}", self.hub_chain(aac_encoder))
    }
}

/// Everything the description depends on.
#[derive(Debug, Clone, PartialEq)]
pub struct CaptureSpec {
    pub source: SourceKind,
    /// For v4l2: what the device offers (raw when unknown).
    pub device_format: DeviceFormat,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub bitrate_kbps: u32,
    /// Keyframe interval in milliseconds (≤ 2000 so RTSP joins and segment cuts are quick).
    pub keyframe_ms: u32,
    pub encoder: Encoder,
    pub preview_fps: u32,
    pub preview_width: u32,
    /// The detector's raw RGB tap: frames per second and width (height keeps the aspect).
    pub detect_fps: u32,
    pub detect_width: u32,
    /// clockoverlay exists (gstreamer1.0-x): the test source shows the time.
    pub overlay: bool,
    /// RTSP: TCP interleaved (true) or UDP.
    pub rtsp_tcp: bool,
    /// An RTSP camera that Pinhole's own client already plays (false: rtspsrc).
    pub connected: bool,
    /// Test source showing a still picture (its path is the camera's `url`) instead of the
    /// moving pattern: a stand-in for a scene with objects in it.
    pub test_image: bool,
    /// Keep the source's own picture size (an MJPEG camera whose size was not configured)
    /// rather than scaling to `width`×`height`.
    pub source_size: bool,
    /// Draw the camera's texts ([`crate::osd`]): a raw source gets the slots.
    pub osd: bool,
}

impl CaptureSpec {
    /// Does this source produce H.264 itself (no encoder in the pipeline)?
    pub fn is_encoded(&self) -> bool {
        matches!(self.source, SourceKind::Rtsp)
            || (self.source == SourceKind::V4l2 && self.device_format == DeviceFormat::H264)
    }

    fn gop(&self) -> u32 {
        (self.fps * self.keyframe_ms / 1000).max(1)
    }

    fn raw_caps(&self, media: &str) -> String {
        format!(
            "{media},width={},height={},framerate={}/1",
            self.width, self.height, self.fps
        )
    }

    fn source(&self) -> String {
        match self.source {
            SourceKind::Test if self.test_image => {
                let mut s = format!(
                    "filesrc name=src ! decodebin ! videoconvert ! imagefreeze is-live=true ! videoscale ! videorate ! {}",
                    self.raw_caps("video/x-raw")
                );
                if self.overlay {
                    s.push_str(" ! clockoverlay time-format=\"%Y-%m-%d %H:%M:%S\" halignment=left valignment=top shaded-background=true");
                }
                s
            }
            SourceKind::Test => {
                let mut s = format!(
                    "videotestsrc name=src is-live=true pattern=smpte horizontal-speed=4 ! {}",
                    self.raw_caps("video/x-raw")
                );
                if self.overlay {
                    s.push_str(
                        " ! clockoverlay time-format=\"%Y-%m-%d %H:%M:%S\" halignment=left valignment=top shaded-background=true font-desc=\"Sans 14\"",
                    );
                }
                s
            }
            SourceKind::V4l2 => match self.device_format {
                DeviceFormat::Raw => format!(
                    "v4l2src name=src ! {} ! videoconvert",
                    self.raw_caps("video/x-raw")
                ),
                DeviceFormat::Mjpeg => format!(
                    "v4l2src name=src ! {} ! jpegdec ! videoconvert",
                    self.raw_caps("image/jpeg")
                ),
                DeviceFormat::H264 => {
                    format!("v4l2src name=src ! {}", self.raw_caps("video/x-h264"))
                }
            },
            SourceKind::Libcamera => format!(
                "libcamerasrc name=src ! {} ! videoconvert",
                self.raw_caps("video/x-raw")
            ),
            SourceKind::Mjpeg => {
                let mut s = format!(
                    "souphttpsrc name=src is-live=true do-timestamp=true ! multipartdemux single-stream=true ! jpegdec ! videoconvert ! videorate ! video/x-raw,framerate={}/1",
                    self.fps
                );
                if !self.source_size {
                    s.push_str(&format!(
                        " ! videoscale ! video/x-raw,width={},height={},pixel-aspect-ratio=1/1",
                        self.width, self.height
                    ));
                }
                s
            }
            SourceKind::Rtsp => format!(
                "rtspsrc name=src latency=200 protocols={}",
                if self.rtsp_tcp { "tcp" } else { "udp" }
            ),
        }
    }

    fn jpeg_tail(&self) -> String {
        format!(
            "queue name=previewq max-size-buffers=1 max-size-bytes=0 max-size-time=0 leaky=downstream ! videorate drop-only=true max-rate={} ! videoscale ! videoconvert ! video/x-raw,format=I420,width={},pixel-aspect-ratio=1/1 ! jpegenc quality=80 ! appsink name=jpeg sync=false async=false max-buffers=1 drop=true",
            self.preview_fps.max(1),
            self.preview_width
        )
    }

    /// The detector's branch: packed RGB at low rate, leaky, behind its own valve.
    fn detect_tail(&self) -> String {
        format!(
            "valve name=detectgate drop=true ! queue max-size-buffers=1 max-size-bytes=0 max-size-time=0 leaky=downstream ! videorate drop-only=true max-rate={} ! videoscale ! videoconvert ! video/x-raw,format=RGB,width={},pixel-aspect-ratio=1/1 ! appsink name=detect sync=false async=false max-buffers=1 drop=true",
            self.detect_fps.max(1),
            self.detect_width
        )
    }

    /// The full description.
    pub fn launch(&self) -> String {
        const SINK: &str = "appsink name=video sync=false async=false";
        let h264_out = format!("{} ! {SINK}", VideoCodec::H264.parsed());
        if self.source == SourceKind::Rtsp && self.connected {
            // Pinhole's own RTSP client pushes into the appsink ([`crate::camera`]'s ingest).
            SINK.into()
        } else if self.source == SourceKind::Rtsp {
            // Linked by the runner once the camera says which codec it sends.
            format!("{} {SINK}", self.source())
        } else if self.is_encoded() {
            // Nothing else: preview and detection decode in their own on-demand pipelines on
            // the hub ([`DecodeSpec`]), so a relay-only appliance never even loads a decoder.
            format!("{src} ! {h264_out}", src = self.source())
        } else if self.osd {
            // The detector taps the picture before the texts (a ticking clock is not motion);
            // the encoder and the JPEG branch take it after them.
            format!(
                "{src} ! videobalance name=picture ! tee name=raw \
                 raw. ! {detect} \
                 raw. ! queue max-size-buffers=3 max-size-bytes=0 max-size-time=0 leaky=downstream ! {osd} ! tee name=shown \
                 shown. ! {enc} ! {h264_out} \
                 shown. ! valve name=previewgate drop=true ! {jpeg}",
                src = self.source(),
                osd = crate::osd::chain(),
                enc = self.encoder.launch(self.bitrate_kbps, self.gop()),
                jpeg = self.jpeg_tail(),
                detect = self.detect_tail()
            )
        } else {
            format!(
                "{src} ! videobalance name=picture ! tee name=raw \
                 raw. ! queue max-size-buffers=3 max-size-bytes=0 max-size-time=0 leaky=downstream ! videoconvert ! {enc} ! {h264_out} \
                 raw. ! valve name=previewgate drop=true ! {jpeg} \
                 raw. ! {detect}",
                src = self.source(),
                enc = self.encoder.launch(self.bitrate_kbps, self.gop()),
                jpeg = self.jpeg_tail(),
                detect = self.detect_tail()
            )
        }
    }
}

/// The largest picture (in pixels) libav decodes on one thread. A live stream up to 1080p
/// decodes in a fraction of a frame's time on one core, and one thread costs less CPU than
/// libav's default frame threads, which hand every frame between threads (0.17 ms a 720p frame
/// less on the benchmark machine, `docs/benchmarks.md`) and hold frames back.
const ONE_THREAD_MAX_PIXELS: u32 = 1920 * 1088;

/// A decoder element as pipelines run it, for pictures of `size` when known: libav's on one
/// thread up to 1080p; larger or unknown pictures keep libav's threads.
pub fn decoder_launch(element: &str, size: Option<(u32, u32)>) -> String {
    match size {
        Some((w, h))
            if element.starts_with("avdec_")
                && w.checked_mul(h).is_some_and(|p| p <= ONE_THREAD_MAX_PIXELS) =>
        {
            format!("{element} max-threads=1")
        }
        _ => element.to_string(),
    }
}

/// What an on-demand decoding pipeline produces (previews and detector frames of cameras
/// that deliver H.264 or H.265).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeSpec {
    pub codec: VideoCodec,
    /// The decoder element (v4l2h264dec on a Pi, avdec_h264 elsewhere).
    pub decoder: &'static str,
    /// The size of the camera's pictures, when known.
    pub source_size: Option<(u32, u32)>,
    pub fps: u32,
    pub width: u32,
    /// JPEG (preview) or packed RGB (detector).
    pub jpeg: bool,
}

impl DecodeSpec {
    /// `appsrc ! parse ! decode ! rate ! scale ! convert ! (jpegenc | RGB) ! appsink`.
    pub fn launch(&self) -> String {
        let tail = if self.jpeg {
            format!(
                "video/x-raw,format=I420,width={},pixel-aspect-ratio=1/1 ! jpegenc quality=80",
                self.width
            )
        } else {
            format!(
                "video/x-raw,format=RGB,width={},pixel-aspect-ratio=1/1",
                self.width
            )
        };
        format!(
            "appsrc name=src ! {} ! {} ! videorate drop-only=true max-rate={} ! videoscale ! videoconvert ! {tail} ! appsink name=out sync=false async=false max-buffers=1 drop=true",
            self.codec.parser(),
            decoder_launch(self.decoder, self.source_size),
            self.fps.max(1)
        )
    }
}

/// The decoder for each codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoders {
    pub h264: &'static str,
    pub h265: &'static str,
}

impl Decoders {
    pub fn of(&self, codec: VideoCodec) -> &'static str {
        match codec {
            VideoCodec::H264 => self.h264,
            VideoCodec::H265 => self.h265,
        }
    }
}

/// The decoders to use: the Pi's hardware decoders when their devices exist (the H.265 one is
/// stateless, registered only where the kernel has it), else libav's.
pub fn choose_decoders(available: impl Fn(&str) -> bool) -> Decoders {
    // Without any, libav's is named: the decoder's start then fails saying it is missing.
    let first =
        |list: [&'static str; 3]| list.into_iter().find(|d| available(d)).unwrap_or(list[1]);
    Decoders {
        h264: first(["v4l2h264dec", "avdec_h264", "openh264dec"]),
        h265: first(["v4l2slh265dec", "avdec_h265", "libde265dec"]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(source: SourceKind) -> CaptureSpec {
        CaptureSpec {
            source,
            device_format: DeviceFormat::Raw,
            width: 1280,
            height: 720,
            fps: 30,
            bitrate_kbps: 2000,
            keyframe_ms: 1000,
            encoder: Encoder::X264,
            preview_fps: 5,
            preview_width: 640,
            detect_fps: 5,
            detect_width: 320,
            overlay: true,
            rtsp_tcp: true,
            connected: false,
            test_image: false,
            source_size: false,
            osd: false,
        }
    }

    #[test]
    fn encoder_choice() {
        let all = |_: &str| true;
        let no_hw = |e: &str| e != "v4l2h264enc";
        let only_openh264 = |e: &str| e == "openh264enc";
        assert_eq!(choose_encoder("auto", all), Ok(Encoder::V4l2));
        assert_eq!(choose_encoder("auto", no_hw), Ok(Encoder::X264));
        assert_eq!(choose_encoder("auto", only_openh264), Ok(Encoder::OpenH264));
        assert!(choose_encoder("auto", |_| false).is_err());
        assert_eq!(choose_encoder("x264enc", no_hw), Ok(Encoder::X264));
        assert!(
            choose_encoder("v4l2h264enc", no_hw)
                .unwrap_err()
                .contains("not available")
        );
        assert!(
            choose_encoder("nvenc", all)
                .unwrap_err()
                .contains("unknown encoder")
        );
    }

    #[test]
    fn test_source_encodes_once_with_gop_from_keyframe_interval() {
        let l = spec(SourceKind::Test).launch();
        assert!(l.starts_with("videotestsrc name=src is-live=true"));
        assert!(l.contains("video/x-raw,width=1280,height=720,framerate=30/1"));
        assert!(l.contains("clockoverlay"));
        assert_eq!(l.matches("x264enc").count(), 1);
        assert!(l.contains("bitrate=2000 key-int-max=30"));
        assert!(l.contains("appsink name=video"));
        assert!(l.contains("appsink name=jpeg"));
        // The picture is adjusted once, before the encoder, the preview and the detector.
        assert!(
            l.contains("videobalance name=picture ! tee name=raw"),
            "{l}"
        );
        assert!(l.contains("raw. ! valve name=detectgate drop=true"));
        assert!(l.contains("video/x-raw,format=RGB,width=320"));
        assert!(!l.contains("avdec_h264"));
        let mut s = spec(SourceKind::Test);
        s.test_image = true;
        assert!(s.launch().starts_with("filesrc name=src ! decodebin"));
        assert!(s.launch().contains("imagefreeze is-live=true"));
    }

    #[test]
    fn texts_are_drawn_after_the_detectors_tap_for_the_encoder_and_the_jpegs() {
        let mut s = spec(SourceKind::Test);
        s.osd = true;
        let l = s.launch();
        let at = |what: &str| l.find(what).unwrap_or_else(|| panic!("no {what} in {l}"));
        assert!(at("raw. ! valve name=detectgate") < at("textoverlay name=osd0"));
        assert!(at("textoverlay name=osd3") < at("tee name=shown"));
        assert!(at("shown. ! x264enc") > at("tee name=shown"));
        assert!(l.contains("shown. ! valve name=previewgate"));
        assert_eq!(l.matches("textoverlay").count(), crate::osd::SLOTS);
        // An encoded source has no picture of Pinhole's to draw on.
        let mut relayed = spec(SourceKind::Rtsp);
        relayed.osd = true;
        assert!(!relayed.launch().contains("textoverlay"));
        if gst::init().is_ok() && crate::osd::available() {
            gst::parse::launch(&l).expect("the description parses");
        }
    }

    #[test]
    fn rtsp_is_never_transcoded() {
        let s = spec(SourceKind::Rtsp);
        assert!(s.is_encoded());
        let l = s.launch();
        assert_eq!(
            l,
            "rtspsrc name=src latency=200 protocols=tcp appsink name=video sync=false async=false",
            "linked once the camera names its codec"
        );
        let mut played = spec(SourceKind::Rtsp);
        played.connected = true;
        assert_eq!(
            played.launch(),
            "appsink name=video sync=false async=false",
            "Pinhole's own client pushes into the appsink"
        );
        assert_eq!(
            VideoCodec::H265.depay_chain(),
            "rtph265depay ! h265parse config-interval=-1 ! capsfilter caps=\"video/x-h265,stream-format=hvc1,alignment=au\""
        );
        assert!(
            VideoCodec::H264
                .depay_chain()
                .starts_with("rtph264depay ! h264parse")
        );
        assert_eq!(
            VideoCodec::from_encoding_name("h265"),
            Some(VideoCodec::H265)
        );
        assert_eq!(VideoCodec::from_encoding_name("JPEG"), None);
        assert_eq!(
            VideoCodec::from_media_type("video/x-h264"),
            Some(VideoCodec::H264)
        );
        assert!(
            VideoCodec::H265
                .rtsp_factory_launch(false, false)
                .contains("rtph265pay name=pay0")
        );
        let d = DecodeSpec {
            codec: VideoCodec::H264,
            decoder: "avdec_h264",
            source_size: None,
            fps: 2,
            width: 320,
            jpeg: false,
        };
        assert!(
            d.launch()
                .contains("avdec_h264 ! videorate drop-only=true max-rate=2")
        );
        let hd = DecodeSpec {
            source_size: Some((1920, 1080)),
            ..d
        };
        assert!(hd.launch().contains("avdec_h264 max-threads=1 ! videorate"));
        assert!(d.launch().contains("format=RGB,width=320"));
        // libav on one thread up to 1080p; hardware decoders and larger pictures as they are.
        assert_eq!(
            decoder_launch("avdec_h265", Some((1280, 720))),
            "avdec_h265 max-threads=1"
        );
        assert_eq!(
            decoder_launch("avdec_h264", Some((3840, 2160))),
            "avdec_h264"
        );
        assert_eq!(decoder_launch("avdec_h264", None), "avdec_h264");
        assert_eq!(
            decoder_launch("avdec_h264", Some((1 << 20, 1 << 20))),
            "avdec_h264"
        );
        assert_eq!(
            decoder_launch("v4l2h264dec", Some((1280, 720))),
            "v4l2h264dec"
        );
        let soft = choose_decoders(|d| !d.starts_with("v4l2"));
        assert_eq!((soft.h264, soft.h265), ("avdec_h264", "avdec_h265"));
        let pi = choose_decoders(|_| true);
        assert_eq!((pi.h264, pi.h265), ("v4l2h264dec", "v4l2slh265dec"));
        let none = choose_decoders(|_| false);
        assert_eq!(none.of(VideoCodec::H265), "avdec_h265");
        let hevc = DecodeSpec {
            codec: VideoCodec::H265,
            decoder: "avdec_h265",
            ..d
        };
        assert!(hevc.launch().contains("h265parse ! avdec_h265"));
        assert!(
            !l.contains("rtsp://"),
            "URL is set as a property, not in the text"
        );
    }

    #[test]
    fn v4l2_uses_what_the_device_offers() {
        let mut s = spec(SourceKind::V4l2);
        assert!(s.launch().contains("v4l2src name=src ! video/x-raw"));
        s.device_format = DeviceFormat::Mjpeg;
        assert!(
            s.launch()
                .contains("image/jpeg,width=1280,height=720,framerate=30/1 ! jpegdec")
        );
        s.device_format = DeviceFormat::H264;
        assert!(s.is_encoded());
        assert!(!s.launch().contains("x264enc"));
    }

    #[test]
    fn an_mjpeg_camera_is_decoded_and_encoded_once() {
        let mut s = spec(SourceKind::Mjpeg);
        assert!(!s.is_encoded());
        let l = s.launch();
        assert!(
            l.starts_with("souphttpsrc name=src is-live=true do-timestamp=true ! multipartdemux"),
            "{l}"
        );
        assert!(l.contains("jpegdec") && l.contains("framerate=30/1"), "{l}");
        assert!(l.contains("video/x-raw,width=1280,height=720"), "{l}");
        assert_eq!(l.matches("x264enc").count(), 1);
        s.source_size = true;
        assert!(
            !s.launch().contains("width=1280"),
            "keeps the camera's size"
        );
        assert!(!l.contains("http://"), "the URL is a property");
    }

    #[test]
    fn other_encoders() {
        let mut s = spec(SourceKind::Libcamera);
        s.encoder = Encoder::OpenH264;
        assert!(
            s.launch()
                .contains("openh264enc bitrate=2000000 gop-size=30")
        );
        s.encoder = Encoder::V4l2;
        s.fps = 15;
        s.keyframe_ms = 2000;
        assert!(s.launch().contains("h264_i_frame_period=30"));
        assert!(s.launch().starts_with("libcamerasrc name=src"));
    }

    #[test]
    fn parses_with_gstreamer() {
        gst::init().expect("GStreamer initialises");
        for src in [SourceKind::Test, SourceKind::Rtsp, SourceKind::Mjpeg] {
            let mut s = spec(src);
            s.overlay = gst::ElementFactory::find("clockoverlay").is_some();
            gst::parse::launch(&s.launch()).unwrap_or_else(|e| panic!("{src:?}: {e}"));
        }
        let mut played = spec(SourceKind::Rtsp);
        played.connected = true;
        gst::parse::launch(&played.launch()).expect("played by Pinhole's own client");
        for codec in [VideoCodec::H264, VideoCodec::H265] {
            gst::parse::bin_from_description(&codec.depay_chain(), true)
                .unwrap_or_else(|e| panic!("{codec:?}: {e}"));
            crate::metadata::register().expect("the metadata payloader");
            for (audio, metadata) in [(false, false), (true, false), (false, true), (true, true)] {
                let launch = codec.rtsp_factory_launch(audio, metadata);
                let bin = gst::parse::bin_from_description(
                    launch.trim_matches(|c| c == '(' || c == ')' || c == ' '),
                    false,
                )
                .expect("factory launch parses");
                // The RTSP server takes pay0, pay1... as its streams, in order.
                let streams = 1 + usize::from(audio) + usize::from(metadata);
                assert!(
                    gst::prelude::GstBinExt::by_name(&bin, &format!("pay{}", streams - 1))
                        .is_some(),
                    "{launch}"
                );
                assert!(
                    gst::prelude::GstBinExt::by_name(&bin, &format!("pay{streams}")).is_none(),
                    "{launch}"
                );
            }
        }
        let aac = aac_encoder().expect("an AAC encoder");
        for codec in [AudioCodec::Aac, AudioCodec::Pcmu, AudioCodec::Pcma] {
            gst::parse::bin_from_description(&codec.depay_chain(aac), true)
                .unwrap_or_else(|e| panic!("{codec:?}: {e}"));
            assert_eq!(
                AudioCodec::from_encoding_name(&codec.as_str().replace("aac", "mpeg4-generic")),
                Some(codec)
            );
        }
        for jpeg in [true, false] {
            let d = DecodeSpec {
                codec: VideoCodec::H264,
                decoder: "avdec_h264",
                source_size: None,
                fps: 5,
                width: 320,
                jpeg,
            };
            gst::parse::launch(&d.launch()).expect("decode launch parses");
        }
    }
}
