//! A foreign IP camera for the tests: gst-rtsp-server (the library, not Pinhole's use of it)
//! serving a moving test pattern encoded with x264 or x265 on 127.0.0.1, at `/stream`. Its
//! codec can be switched, as a camera's owner does in its web page: the clients are
//! disconnected and the next ones get the other codec.

use gst::glib;
use gst_rtsp_server::prelude::*;

/// The codecs such a camera offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpCodec {
    H264,
    H265,
    /// RTP/JPEG (RFC 2435), which some old cameras still send.
    Jpeg,
}

impl IpCodec {
    fn launch(self) -> String {
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
        format!(
            "( videotestsrc is-live=true pattern=ball ! video/x-raw,format=I420,width=640,height=360,framerate=15/1 ! {enc} ! {pay} name=pay0 pt=96 )"
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
        let cam = Self {
            server,
            context,
            main_loop,
            thread: Some(thread),
            port: u16::try_from(port).expect("port"),
        };
        cam.mount(codec);
        cam
    }

    pub fn url(&self) -> String {
        format!("rtsp://127.0.0.1:{}/stream", self.port)
    }

    fn mount(&self, codec: IpCodec) {
        let factory = gst_rtsp_server::RTSPMediaFactory::new();
        factory.set_launch(&codec.launch());
        factory.set_shared(true);
        self.server
            .mount_points()
            .expect("mount points")
            .add_factory("/stream", factory);
    }

    /// Serves `codec` from now on and drops every client.
    pub fn switch_codec(&self, codec: IpCodec) {
        self.mount(codec);
        let server = self.server.clone();
        self.context.invoke(move || {
            server.client_filter(Some(&mut |_, _| gst_rtsp_server::RTSPFilterResult::Remove));
        });
    }
}

impl Drop for IpCamera {
    fn drop(&mut self) {
        self.main_loop.quit();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
