# With DISTRO = "pinhole": /etc/rauc/system.conf and the keyring /etc/rauc/ca.cert.pem.
# meta-rauc (scarthgap) installs both from rauc-conf, not from rauc itself, so this is where they
# are replaced. The keyring comes from PINHOLE_RAUC_KEY_DIR, outside the layer.
FILESEXTRAPATHS:prepend:pinhole := "${THISDIR}/files:${PINHOLE_RAUC_KEY_DIR}:"
PACKAGE_ARCH:pinhole = "${MACHINE_ARCH}"

RAUC_KEYRING_FILE:pinhole = "ca.cert.pem"

do_install:append:pinhole() {
    sed -i -e 's/@COMPATIBLE@/${PINHOLE_RAUC_COMPATIBLE}/' ${D}${sysconfdir}/rauc/system.conf
}
