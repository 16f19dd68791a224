# With DISTRO = "pinhole-os": kernel features RAUC needs for verity bundles (loop, dm-verity,
# squashfs) and streaming (nbd), and the BCM2835 watchdog systemd feeds.
FILESEXTRAPATHS:prepend:pinhole-os := "${THISDIR}/files:"
SRC_URI:append:pinhole-os = " file://rauc.cfg"
