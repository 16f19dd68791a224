"""A foreign ONVIF device for the interoperability tests: ipycam (PyPI) serving its device,
media and PTZ services and its WS-Discovery responder, fed a synthetic picture a few times a
second so its snapshot URI answers with a JPEG (its RTSP stream is not run).

    onvif_device.py --port P --workdir DIR [--ip A] [--user U --password W] [--stream-uri URI]
                    [--advertise-port Q]

Prints `READY <device service URL>` once it answers; stops on SIGTERM. ipycam binds HTTP on
all interfaces at P and WS-Discovery on 3702; --ip is the address it advertises, and
--advertise-port the port (a device behind a reverse proxy, which then listens on Q).
"""
import argparse
import os
import signal
import sys
import threading


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ip", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--user", default="")
    ap.add_argument("--password", default="")
    ap.add_argument("--stream-uri", default="")
    ap.add_argument("--name", default="ForeignCam")
    ap.add_argument("--advertise-port", type=int, default=0)
    ap.add_argument("--workdir", required=True)
    args = ap.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    # Presets and the configuration are kept in the working directory.
    os.chdir(args.workdir)

    import ipycam.camera
    from ipycam import CameraConfig, IPCamera

    # Its own RTSP server would start ffmpeg: the tests point GetStreamUri at a real one instead.
    ipycam.camera.is_native_rtsp_available = lambda: False
    if args.stream_uri:
        CameraConfig.main_stream_rtsp = property(lambda self: args.stream_uri)
        CameraConfig.sub_stream_rtsp = property(lambda self: args.stream_uri)
    config = CameraConfig(
        name=args.name,
        local_ip=args.ip,
        onvif_port=args.port,
        rtsp_port=1,
        go2rtc_api_port=1,
        username=args.user,
        password=args.password,
    )
    config._config_path = os.path.join(args.workdir, "camera_config.json")
    camera = IPCamera(config)
    if not camera.start():
        print("FAILED", flush=True)
        return 1
    if args.advertise_port:
        # Bound already: from here on its answers name the proxy's port.
        config.onvif_port = args.advertise_port
    stop = threading.Event()

    def feed():
        import numpy as np

        frame = np.zeros((360, 640, 3), dtype=np.uint8)
        frame[:, :, 1] = np.linspace(0, 255, 640, dtype=np.uint8)
        while not stop.is_set():
            camera.stream(frame.copy())
            stop.wait(0.2)

    threading.Thread(target=feed, daemon=True).start()
    print(f"READY {config.onvif_url}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    camera.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
