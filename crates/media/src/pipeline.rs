//! Capture pipeline descriptions, built as text for `gst::parse::launch` from a camera's
//! definition. Pure, so every source kind and encoder can be unit tested without GStreamer.
//!
//! Shape (the design is in `docs/media.md`):
//! - raw sources (test, v4l2 raw/MJPEG, libcamera): `source ! tee name=raw`, then
//!   `raw. ! queue(leaky) ! encoder ! h264parse config-interval=-1 ! avc/au ! appsink name=h264`
//!   and a low-fps JPEG branch `raw. ! gate ! queue(leaky) ! videorate ! videoscale ! jpegenc !
//!   appsink name=jpeg`;
//! - encoded sources (RTSP IP cameras, v4l2 H.264): no transcode, `depay/parse ! tee name=enc`,
//!   `enc. ! appsink name=h264`, and a JPEG branch that decodes only when someone watches.
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
    fn launch(self, kbps: u32, gop: u32) -> String {
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
    /// Test source showing a still picture (its path is the camera's `url`) instead of the
    /// moving pattern: a stand-in for a scene with objects in it.
    pub test_image: bool,
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
            SourceKind::Rtsp => format!(
                "rtspsrc name=src latency=200 protocols={} ! rtph264depay",
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
        const H264_OUT: &str = "h264parse config-interval=-1 ! video/x-h264,stream-format=avc,alignment=au ! appsink name=h264 sync=false async=false";
        if self.is_encoded() {
            // Nothing else: preview and detection decode in their own on-demand pipelines on
            // the hub ([`DecodeSpec`]), so a relay-only appliance never even loads a decoder.
            format!("{src} ! {H264_OUT}", src = self.source())
        } else {
            format!(
                "{src} ! tee name=raw \
                 raw. ! queue max-size-buffers=3 max-size-bytes=0 max-size-time=0 leaky=downstream ! videoconvert ! {enc} ! {H264_OUT} \
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

/// What an on-demand decoding pipeline produces (previews and detector frames of cameras
/// that deliver H.264).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeSpec {
    /// The H.264 decoder element (v4l2h264dec on a Pi, avdec_h264 elsewhere).
    pub decoder: &'static str,
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
            "appsrc name=src ! h264parse ! {} ! videorate drop-only=true max-rate={} ! videoscale ! videoconvert ! {tail} ! appsink name=out sync=false async=false max-buffers=1 drop=true",
            self.decoder,
            self.fps.max(1)
        )
    }
}

/// The decoder to use: the Pi's hardware decoder when its device exists, else libav's.
pub fn choose_decoder(available: impl Fn(&str) -> bool) -> &'static str {
    ["v4l2h264dec", "avdec_h264", "openh264dec"]
        .into_iter()
        .find(|d| available(d))
        .unwrap_or("avdec_h264")
}

/// The RTSP media factory's description: one shared media per camera, fed by an appsrc that
/// consumes the camera's H.264 (already parsed, access units with parameter sets in band: no
/// second h264parse on the way out, nor in the recorder and live muxers).
pub const RTSP_FACTORY_LAUNCH: &str =
    "( appsrc name=src ! rtph264pay name=pay0 pt=96 config-interval=0 )";

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
            test_image: false,
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
        assert!(l.contains("appsink name=h264"));
        assert!(l.contains("appsink name=jpeg"));
        assert!(l.contains("raw. ! valve name=detectgate drop=true"));
        assert!(l.contains("video/x-raw,format=RGB,width=320"));
        assert!(!l.contains("avdec_h264"));
        let mut s = spec(SourceKind::Test);
        s.test_image = true;
        assert!(s.launch().starts_with("filesrc name=src ! decodebin"));
        assert!(s.launch().contains("imagefreeze is-live=true"));
    }

    #[test]
    fn rtsp_is_never_transcoded() {
        let s = spec(SourceKind::Rtsp);
        assert!(s.is_encoded());
        let l = s.launch();
        assert!(l.contains("rtspsrc name=src latency=200 protocols=tcp ! rtph264depay"));
        assert!(!l.contains("x264enc") && !l.contains("openh264enc"));
        assert!(
            !l.contains("avdec_h264"),
            "decoding happens on demand, elsewhere"
        );
        assert_eq!(l.matches("h264parse").count(), 1);
        let d = DecodeSpec {
            decoder: "avdec_h264",
            fps: 2,
            width: 320,
            jpeg: false,
        };
        assert!(
            d.launch()
                .contains("avdec_h264 ! videorate drop-only=true max-rate=2")
        );
        assert!(d.launch().contains("format=RGB,width=320"));
        assert_eq!(choose_decoder(|d| d != "v4l2h264dec"), "avdec_h264");
        assert_eq!(choose_decoder(|_| true), "v4l2h264dec");
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
        for src in [SourceKind::Test, SourceKind::Rtsp] {
            let mut s = spec(src);
            s.overlay = gst::ElementFactory::find("clockoverlay").is_some();
            gst::parse::launch(&s.launch()).unwrap_or_else(|e| panic!("{src:?}: {e}"));
        }
        for jpeg in [true, false] {
            let d = DecodeSpec {
                decoder: "avdec_h264",
                fps: 5,
                width: 320,
                jpeg,
            };
            gst::parse::launch(&d.launch()).expect("decode launch parses");
        }
        gst::parse::launch(RTSP_FACTORY_LAUNCH.trim_matches(|c| c == '(' || c == ')' || c == ' '))
            .expect("factory launch parses");
    }
}
