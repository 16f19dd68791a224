SUMMARY = "Keeps pinhole's state on the data partition"
DESCRIPTION = "Bind-mounts /data/pinhole (on the data partition, which survives A/B \
               updates) over /var/lib/pinhole, so the database, recordings and keys are \
               shared by both root slots."
# No public address yet: the README installed with pinhole.
# nooelint: oelint.vars.homepageprefix
HOMEPAGE = "file:///usr/share/doc/pinhole/README.md"
SECTION = "base"
# The two unit files belong to this layer (Apache-2.0, like pinhole).
LICENSE = "Apache-2.0"
# nooelint: oelint.var.licenseremotefile
LIC_FILES_CHKSUM = "file://${COMMON_LICENSE_DIR}/Apache-2.0;md5=89aea4e17d99a7cacdbeed46a0096b10"

SRC_URI = "\
    file://pinhole-state-dir.service \
    file://var-lib-pinhole.mount \
"

S = "${UNPACKDIR}"

inherit allarch systemd

do_configure[noexec] = "1"
do_compile[noexec] = "1"

do_install() {
    install -d ${D}${systemd_system_unitdir} ${D}/data ${D}${localstatedir}/lib/pinhole
    install -m 0644 ${S}/pinhole-state-dir.service ${S}/var-lib-pinhole.mount \
        ${D}${systemd_system_unitdir}/
}

SYSTEMD_SERVICE:${PN} = "var-lib-pinhole.mount"
FILES:${PN} += "/data ${localstatedir}/lib/pinhole"
