SUMMARY = "Pinhole camera appliance image (Raspberry Pi 4/5, 64-bit, A/B root slots)"
DESCRIPTION = "Root file system of one A/B slot (systemd, GStreamer, RAUC, pinhole) \
               and the first SD card image (wic) with both slots and the data partition."
# No public address yet: the README installed with pinhole.
# nooelint: oelint.vars.homepageprefix
HOMEPAGE = "file:///usr/share/doc/pinhole/README.md"
SECTION = "images"
LICENSE = "MIT"

inherit core-image

IMAGE_FEATURES += "ssh-server-dropbear"

IMAGE_INSTALL = "\
    packagegroup-core-boot \
    kernel-image \
    kernel-modules \
    pinhole \
    pinhole-data \
    litert-runtime \
    pinhole-face-model \
    rauc \
    rauc-conf \
    u-boot-fw-utils \
    e2fsprogs-resize2fs \
    gstreamer1.0 \
    gstreamer1.0-plugins-base \
    gstreamer1.0-plugins-good \
    gstreamer1.0-plugins-bad \
    gstreamer1.0-plugins-ugly \
    gstreamer1.0-rtsp-server \
    gstreamer1.0-libav \
    ${CORE_IMAGE_EXTRA_INSTALL} \
"

# ext4 for RAUC bundles (the slot image), wic for the first SD card.
IMAGE_FSTYPES = "ext4 wic.bz2 wic.bmap"
WKS_FILE = "pinhole-rpi-ab.wks.in"
PINHOLE_SLOT_SIZE ?= "1536M"
PINHOLE_DATA_SIZE ?= "1024M"
WICVARS:append = " PINHOLE_SLOT_SIZE PINHOLE_DATA_SIZE"

# ext4 slot image must fit the fixed-size partitions above.
IMAGE_ROOTFS_MAXSIZE = "1572864"

# Logs stay in RAM (SD card wear); pinhole keeps what matters in its database on /data.
ROOTFS_POSTPROCESS_COMMAND += "pinhole_volatile_journal;"
# A rootfs post-process function, not a task.
# nooelint: oelint.task.docstrings
pinhole_volatile_journal() {
    install -d ${IMAGE_ROOTFS}${sysconfdir}/systemd/journald.conf.d
    printf '[Journal]\nStorage=volatile\nRuntimeMaxUse=32M\n' \
        > ${IMAGE_ROOTFS}${sysconfdir}/systemd/journald.conf.d/10-pinhole.conf
    # Feed the Pi's hardware watchdog (max ~15 s) from systemd.
    install -d ${IMAGE_ROOTFS}${sysconfdir}/systemd/system.conf.d
    printf '[Manager]\nRuntimeWatchdogSec=10\nRebootWatchdogSec=2min\n' \
        > ${IMAGE_ROOTFS}${sysconfdir}/systemd/system.conf.d/10-pinhole-watchdog.conf
}
