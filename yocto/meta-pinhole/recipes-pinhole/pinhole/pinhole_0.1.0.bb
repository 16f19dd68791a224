SUMMARY = "Pinhole camera appliance: capture, RTSP, recording, PTZ and detection"
DESCRIPTION = "One supervisor process (pinhole) for a Raspberry Pi camera appliance. \
               It is also the RAUC update agent: it installs bundles over D-Bus and marks \
               the booted slot good after its own health checks."
# No public address yet: the README installed with pinhole.
# nooelint: oelint.vars.homepageprefix
HOMEPAGE = "file:///usr/share/doc/pinhole/README.md"
SECTION = "multimedia"
# The repository has no separate license text: Cargo.toml's license field (line 7) is checked.
LICENSE = "Apache-2.0"
LIC_FILES_CHKSUM = "file://Cargo.toml;beginline=7;endline=7;md5=2507bd5f0713f05419cd2f22fa06fe62"

DEPENDS += "\
    gstreamer1.0 \
    gstreamer1.0-plugins-bad \
    gstreamer1.0-plugins-base \
    gstreamer1.0-rtsp-server \
"

PV .= "+git"

# Default: the checkout that contains this layer (PINHOLE_REPO_DIR, set in conf/layer.conf).
# CI or a release sets PINHOLE_GIT_URI to the published repository and SRCREV to the tagged
# commit (see yocto/README.md).
PINHOLE_GIT_URI ??= "git://${PINHOLE_REPO_DIR};protocol=file;branch=main"
SRC_URI = "${PINHOLE_GIT_URI}"

require ${BPN}-crates.inc

# Development default: whatever main points at. Release builds pin SRCREV (yocto/README.md).
# nooelint: oelint.vars.autorev
SRCREV ??= "${AUTOREV}"

inherit cargo cargo-update-recipe-crates pkgconfig systemd useradd

# rust-version in Cargo.toml. Wrynose's oe-core ships 1.94.1; an older toolchain (scarthgap has
# 1.75) cannot build pinhole (yocto/README.md, "Rust toolchain"). Say so at parse time instead of
# failing deep inside do_compile with an MSRV error.
PINHOLE_MIN_RUST = "1.92"

# A parse-time check is the point here (SkipRecipe names the reason in bitbake's output).
# nooelint: oelint.task.noanonpython
python __anonymous() {
    have = (d.getVar("RUSTVERSION") or "0").rstrip("%")

    def key(version):
        return [int(part) for part in version.split(".")[:2] if part.isdigit()]

    if key(have) < key(d.getVar("PINHOLE_MIN_RUST")):
        raise bb.parse.SkipRecipe("needs Rust >= %s but RUSTVERSION is %s: add a newer Rust toolchain layer"
                                  % (d.getVar("PINHOLE_MIN_RUST"), have))
}

do_install:append() {
    install -d ${D}${systemd_system_unitdir} ${D}${nonarch_libdir}/sysusers.d \
        ${D}${sysconfdir}/pinhole ${D}${docdir}/pinhole
    install -m 0644 ${S}/systemd/pinhole.service ${D}${systemd_system_unitdir}/pinhole.service
    install -m 0644 ${S}/systemd/pinhole.sysusers ${D}${nonarch_libdir}/sysusers.d/pinhole.conf
    install -m 0640 -g pinhole ${S}/config/pinhole.toml ${D}${sysconfdir}/pinhole/pinhole.toml
    install -m 0644 ${S}/README.md ${D}${docdir}/pinhole/README.md
}

# The account is made at build time (a root slot should not depend on systemd-sysusers writing
# /etc/passwd at boot); systemd/pinhole.sysusers is installed as well and describes the same
# user and groups, so systemd-sysusers finds nothing to do.
USERADD_PACKAGES = "${PN}"
USERADD_PARAM:${PN} = "--system --home-dir ${localstatedir}/lib/pinhole \
                        --no-create-home --shell /sbin/nologin --user-group \
                        --groups video,dialout pinhole"

SYSTEMD_SERVICE:${PN} = "pinhole.service"
SYSTEMD_AUTO_ENABLE:${PN} = "enable"

CONFFILES:${PN} = "${sysconfdir}/pinhole/pinhole.toml"
FILES:${PN} += "${nonarch_libdir}/sysusers.d/pinhole.conf"

# GStreamer elements pinhole builds pipelines from (capture, parse, mux, RTP/RTSP, encode; HTTP
# MJPEG cameras; IP cameras' AAC and G.711 audio; streams to live platforms: overlays, the
# camera's audio or silence as AAC; FLV and RTMP are pinhole's own), the LiteRT runtime, the
# /data bind mount and RAUC (pinhole is the update agent). The AAC encoder and decoder are gstreamer1.0-libav's
# avenc_aac and avdec_aac (recommended below) where voaacenc and faad are not built.
RDEPENDS:${PN} += "\
    gstreamer1.0 \
    gstreamer1.0-plugins-bad-videoparsersbad \
    gstreamer1.0-plugins-base-app \
    gstreamer1.0-plugins-base-audioconvert \
    gstreamer1.0-plugins-base-audiomixer \
    gstreamer1.0-plugins-base-audioresample \
    gstreamer1.0-plugins-base-audiotestsrc \
    gstreamer1.0-plugins-base-pango \
    gstreamer1.0-plugins-base-playback \
    gstreamer1.0-plugins-base-typefindfunctions \
    gstreamer1.0-plugins-base-videoconvertscale \
    gstreamer1.0-plugins-base-videorate \
    gstreamer1.0-plugins-good-alaw \
    gstreamer1.0-plugins-good-alpha \
    gstreamer1.0-plugins-good-audioparsers \
    gstreamer1.0-plugins-good-imagefreeze \
    gstreamer1.0-plugins-good-isomp4 \
    gstreamer1.0-plugins-good-jpeg \
    gstreamer1.0-plugins-good-matroska \
    gstreamer1.0-plugins-good-mulaw \
    gstreamer1.0-plugins-good-multipart \
    gstreamer1.0-plugins-good-rtp \
    gstreamer1.0-plugins-good-rtpmanager \
    gstreamer1.0-plugins-good-rtsp \
    gstreamer1.0-plugins-good-soup \
    gstreamer1.0-plugins-good-udp \
    gstreamer1.0-plugins-good-video4linux2 \
    gstreamer1.0-plugins-good-videofilter \
    gstreamer1.0-plugins-ugly-x264 \
    gstreamer1.0-rtsp-server \
    litert-runtime \
    pinhole-data \
    rauc \
"
# A font for text and clock overlays (pango finds it through fontconfig).
RRECOMMENDS:${PN} += "gstreamer1.0-libav liberation-fonts pinhole-face-model"
