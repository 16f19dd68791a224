# With DISTRO = "pinhole-os": replaces meta-raspberrypi's boot.cmd.in with an A/B script (slot
# choice and boot counting for RAUC's uboot backend, kernel loaded from the chosen root slot).
FILESEXTRAPATHS:prepend:pinhole-os := "${THISDIR}/files:"
