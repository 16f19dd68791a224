# With DISTRO = "pinhole-os": x264enc, the software H.264 encoder pinhole falls back to on a Pi 5
# (no hardware encoder). gst-plugins-ugly is LICENSE_FLAGS "commercial"; conf/distro/pinhole-os.conf
# accepts it.
PACKAGECONFIG:append:pinhole-os = " x264"
