//! A foreign IP camera for the tests and benches: gst-rtsp-server (the library, not Pinhole's
//! use of it) on 127.0.0.1, at `/stream`, serving either a moving test pattern encoded live with
//! x264 or x265 (with a 440 Hz tone as AAC or G.711 audio if asked) (its codec can be switched, as a camera's owner does in its web page: the
//! clients are disconnected and the next ones get the other codec), or a clip encoded once and
//! replayed in a loop at its own pace, so a benchmark's source costs no encoder.
#![allow(dead_code)]

use gst::glib;
use gst::prelude::*;
use gst_rtsp_server::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The codecs such a camera offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpCodec {
    H264,
    H265,
    /// RTP/JPEG (RFC 2435), which some old cameras still send.
    Jpeg,
}

impl IpCodec {
    fn encoder(self, kbps: u32, gop: u32) -> String {
        match self {
            IpCodec::H264 => format!(
                "x264enc tune=zerolatency speed-preset=ultrafast bitrate={kbps} key-int-max={gop} ! video/x-h264,profile=high ! h264parse"
            ),
            IpCodec::H265 => format!(
                "x265enc tune=zerolatency speed-preset=ultrafast bitrate={kbps} key-int-max={gop} ! video/x-h265,profile=main ! h265parse"
            ),
            IpCodec::Jpeg => "jpegenc".into(),
        }
    }

    fn launch(self, audio: Option<IpAudio>) -> String {
        let (enc, pay) = match self {
            IpCodec::H264 => (
                "x264enc tune=zerolatency speed-preset=ultrafast bitrate=600 key-int-max=15 ! video/x-h264,profile=baseline",
                "rtph264pay",
            ),
            IpCodec::H265 => (
                "x265enc tune=zerolatency speed-preset=ultrafast bitrate=600 key-int-max=15 ! video/x-h265,profile=main",
                "rtph265pay",
            ),
            IpCodec::Jpeg => ("jpegenc quality=60", "rtpjpegpay"),
        };
        let audio = audio.map(IpAudio::launch).unwrap_or_default();
        format!(
            "( videotestsrc is-live=true pattern=ball ! video/x-raw,format=I420,width=640,height=360,framerate=15/1 ! {enc} ! {pay} name=pay0 pt=96 {audio})"
        )
    }
}

/// The audio such a camera sends: a 440 Hz tone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpAudio {
    /// AAC-LC, 16 kHz mono (RFC 3640 `MPEG4-GENERIC`).
    Aac,
    /// G.711 µ-law, 8 kHz (`PCMU`).
    Pcmu,
    /// G.711 A-law, 8 kHz (`PCMA`).
    Pcma,
}

impl IpAudio {
    fn launch(self) -> String {
        let (rate, enc) = match self {
            IpAudio::Aac => (16000, "voaacenc bitrate=32000 ! rtpmp4gpay"),
            IpAudio::Pcmu => (8000, "mulawenc ! rtppcmupay"),
            IpAudio::Pcma => (8000, "alawenc ! rtppcmapay"),
        };
        format!(
            "audiotestsrc is-live=true wave=sine freq=440 volume=0.5 ! audio/x-raw,rate={rate},channels=1 ! {enc} name=pay1 pt=97 "
        )
    }
}

pub struct IpCamera {
    server: gst_rtsp_server::RTSPServer,
    context: glib::MainContext,
    main_loop: glib::MainLoop,
    thread: Option<std::thread::JoinHandle<()>>,
    pub port: u16,
}

impl IpCamera {
    pub fn start(codec: IpCodec) -> Self {
        Self::start_with_audio(codec, None)
    }

    /// [`IpCamera::start_with_audio`] off the async runtime (its server's start blocks).
    pub async fn started(codec: IpCodec, audio: Option<IpAudio>) -> Self {
        tokio::task::spawn_blocking(move || Self::start_with_audio(codec, audio))
            .await
            .expect("the IP camera")
    }

    /// A camera with a microphone, started off the async runtime: H.264 and a 440 Hz tone as AAC.
    pub async fn with_aac() -> Self {
        Self::started(IpCodec::H264, Some(IpAudio::Aac)).await
    }

    /// The appliance's configuration for this camera as `camera0` beside a test camera without
    /// audio, `camera1`, neither recording; `extra` goes first (tables of its own).
    pub fn beside_a_test_camera(&self, extra: &str) -> String {
        format!(
            "{extra}[[cameras]]\nid = \"camera0\"\nsource = \"rtsp\"\nurl = \"{}\"\nrecording = \"off\"\n\n[[cameras]]\nid = \"camera1\"\nsource = \"test\"\nrecording = \"off\"\n",
            self.url()
        )
    }

    /// A camera that also sends `audio`.
    pub fn start_with_audio(codec: IpCodec, audio: Option<IpAudio>) -> Self {
        let cam = Self::serve();
        cam.mount(codec, audio);
        cam
    }

    /// The server alone, nothing mounted yet.
    fn serve() -> Self {
        gst::init().expect("GStreamer");
        let context = glib::MainContext::new();
        let server = gst_rtsp_server::RTSPServer::new();
        server.set_address("127.0.0.1");
        server.set_service("0");
        let cam_server = server.clone();
        let (main_loop, ctx) = (glib::MainLoop::new(Some(&context), false), context.clone());
        let ml = main_loop.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            ctx.with_thread_default(|| {
                cam_server
                    .attach(Some(&ctx))
                    .expect("attach the test camera");
                let _ = tx.send(cam_server.bound_port());
                ml.run();
            })
            .expect("main context");
        });
        let port = rx.recv().expect("the test camera listens");
        Self {
            server,
            context,
            main_loop,
            thread: Some(thread),
            port: u16::try_from(port).expect("port"),
        }
    }

    /// Serves `clip` (an MP4 from [`clip`]) in a loop, timestamped as it is sent.
    pub fn replay(clip: &Path) -> Self {
        let (caps, frames) = load_clip(clip);
        let cam = Self::serve();
        let factory = gst_rtsp_server::RTSPMediaFactory::new();
        let pay = if caps
            .structure(0)
            .is_some_and(|s| s.name() == "video/x-h265")
        {
            "rtph265pay"
        } else {
            "rtph264pay"
        };
        factory.set_launch(&format!(
            "( appsrc name=src is-live=true do-timestamp=true format=time ! {pay} name=pay0 pt=96 config-interval=-1 )"
        ));
        factory.set_shared(true);
        let frames = Arc::new(frames);
        factory.connect_media_configure(move |_, media| {
            let Some(src) = media
                .element()
                .downcast_ref::<gst::Bin>()
                .and_then(|b| b.by_name("src"))
                .and_then(|e| e.downcast::<gst_app::AppSrc>().ok())
            else {
                return;
            };
            src.set_caps(Some(&caps));
            // Paced from the source's first request for data, once its pipeline streams: a
            // pacer started with the media's configuration, before its pipeline started, now
            // and then sent nothing at all on a busy machine (the H.265 relay test's failures).
            let frames = frames.clone();
            let started = std::sync::Once::new();
            src.set_callbacks(
                gst_app::AppSrcCallbacks::builder()
                    .need_data(move |src, _| {
                        started.call_once(|| {
                            let (src, frames) = (src.clone(), frames.clone());
                            std::thread::spawn(move || pace(&src, &frames));
                        });
                    })
                    .build(),
            );
        });
        cam.server
            .mount_points()
            .expect("mount points")
            .add_factory("/stream", factory);
        cam
    }

    pub fn url(&self) -> String {
        format!("rtsp://127.0.0.1:{}/stream", self.port)
    }

    fn mount(&self, codec: IpCodec, audio: Option<IpAudio>) {
        let factory = gst_rtsp_server::RTSPMediaFactory::new();
        factory.set_launch(&codec.launch(audio));
        factory.set_shared(true);
        self.server
            .mount_points()
            .expect("mount points")
            .add_factory("/stream", factory);
    }

    /// Serves `codec` from now on and drops every client.
    pub fn switch_codec(&self, codec: IpCodec) {
        self.switch(codec, None);
    }

    /// Serves `codec` and `audio` from now on and drops every client.
    pub fn switch(&self, codec: IpCodec, audio: Option<IpAudio>) {
        self.mount(codec, audio);
        let server = self.server.clone();
        self.context.invoke(move || {
            server.client_filter(Some(&mut |_, _| gst_rtsp_server::RTSPFilterResult::Remove));
        });
    }
}

impl Drop for IpCamera {
    /// The camera goes away as a powered-off one does: its clients' connections close.
    fn drop(&mut self) {
        if let Some(m) = self.server.mount_points() {
            m.remove_factory("/stream");
        }
        let (server, (tx, rx)) = (self.server.clone(), std::sync::mpsc::channel());
        self.context.invoke(move || {
            server.client_filter(Some(&mut |_, _| gst_rtsp_server::RTSPFilterResult::Remove));
            let _ = tx.send(());
        });
        let _ = rx.recv_timeout(Duration::from_secs(5));
        self.main_loop.quit();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A clip of `secs` seconds of a moving test pattern, encoded once and kept in `dir` for the
/// next run: `width`×`height` at 30 fps, `kbps`, a keyframe every second.
pub fn clip(dir: &Path, codec: IpCodec, width: u32, height: u32, kbps: u32, secs: u32) -> PathBuf {
    let path = dir.join(format!("{codec:?}-{width}x{height}-{kbps}k-{secs}s.mp4").to_lowercase());
    if path.exists() {
        return path;
    }
    std::fs::create_dir_all(dir).expect("clip dir");
    let partial = path.with_extension("partial");
    gst::init().expect("GStreamer");
    let launch = format!(
        "videotestsrc num-buffers={} pattern=smpte horizontal-speed=4 ! video/x-raw,format=I420,width={width},height={height},framerate=30/1 ! timeoverlay font-desc=\"Sans 48\" ! {} ! mp4mux ! filesink name=out",
        secs * 30,
        codec.encoder(kbps, 30),
    );
    let pipeline = gst::parse::launch(&launch).expect("clip encoder");
    let bin = pipeline.downcast_ref::<gst::Bin>().expect("a bin");
    bin.by_name("out")
        .expect("filesink")
        .set_property("location", partial.to_string_lossy().as_ref());
    pipeline.set_state(gst::State::Playing).expect("encode");
    let bus = pipeline.bus().expect("bus");
    let end = bus.timed_pop_filtered(
        gst::ClockTime::from_seconds(600),
        &[gst::MessageType::Eos, gst::MessageType::Error],
    );
    let _ = pipeline.set_state(gst::State::Null);
    assert!(
        end.is_some_and(|m| m.type_() == gst::MessageType::Eos),
        "encoding the clip failed: {launch}"
    );
    std::fs::rename(&partial, &path).expect("clip");
    path
}

/// The clip's caps and frames (whole access units, in order).
fn load_clip(path: &Path) -> (gst::Caps, Vec<gst::Buffer>) {
    gst::init().expect("GStreamer");
    let pipeline =
        gst::parse::launch("filesrc name=f ! qtdemux ! parsebin ! appsink name=out sync=false")
            .expect("clip reader")
            .downcast::<gst::Pipeline>()
            .expect("pipeline");
    pipeline
        .by_name("f")
        .expect("filesrc")
        .set_property("location", path.to_string_lossy().as_ref());
    let sink = pipeline
        .by_name("out")
        .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
        .expect("appsink");
    pipeline.set_state(gst::State::Playing).expect("play");
    let mut caps = None;
    let mut frames = Vec::new();
    while let Ok(sample) = sink.pull_sample() {
        if caps.is_none() {
            caps = sample.caps_owned();
        }
        if let Some(b) = sample.buffer_owned() {
            frames.push(b);
        }
    }
    let _ = pipeline.set_state(gst::State::Null);
    (caps.expect("the clip has video"), frames)
}

/// Sends the frames in a loop, one every 1/30 s, until the media stops.
fn pace(src: &gst_app::AppSrc, frames: &[gst::Buffer]) {
    let period = Duration::from_secs(1) / 30;
    let start = Instant::now();
    for (n, frame) in frames.iter().cycle().enumerate() {
        let due = start + period * n as u32;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let mut b = frame.copy();
        {
            let b = b.make_mut();
            b.set_pts(gst::ClockTime::NONE);
            b.set_dts(gst::ClockTime::NONE);
            b.set_duration(gst::ClockTime::from_nseconds(period.as_nanos() as u64));
        }
        // A live source refuses buffers (flushing) for a moment whenever its pipeline leaves
        // PLAYING: only a stopped source ends the stream.
        if src.push_buffer(b).is_err() && src.current_state() < gst::State::Paused {
            return;
        }
    }
}
