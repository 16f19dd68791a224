# With DISTRO = "pinhole-os": the fstab of the A/B layout of files/wic/pinhole-rpi-ab.wks.in
# (p1 boot vfat, p2/p3 root slots, p4 data).
FILESEXTRAPATHS:prepend:pinhole-os := "${THISDIR}/files:"
