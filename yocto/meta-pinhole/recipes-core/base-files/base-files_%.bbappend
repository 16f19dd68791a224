# With DISTRO = "pinhole": the fstab of the A/B layout of wic/pinhole-rpi-ab.wks.in
# (p1 boot vfat, p2/p3 root slots, p4 data).
FILESEXTRAPATHS:prepend:pinhole := "${THISDIR}/files:"
