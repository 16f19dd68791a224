# With DISTRO = "pinhole-os": D-Bus service (pinhole talks to it), streaming installs and JSON
# output; U-Boot's environment tools, which the uboot backend calls. pinhole is the update agent
# and calls mark-good itself after its health checks (crates/ota/): RAUC's unconditional
# rauc-mark-good.service would defeat that, so it is not recommended into the image.
PACKAGECONFIG:append:pinhole-os = " service streaming json"
RDEPENDS:${PN}:append:pinhole-os = " u-boot-fw-utils"
RRECOMMENDS:${PN}:remove:pinhole-os = "${PN}-mark-good"
