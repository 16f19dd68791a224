# With DISTRO = "pinhole-os": RAUC's system.conf and its keyring ca.cert.pem. meta-rauc (wrynose)
# installs both from rauc-conf, not from rauc itself, into /usr/lib/rauc (RAUC reads it there
# when /etc/rauc has none; the keyring path in system.conf is relative to it), so this is where
# they are replaced. The keyring comes from PINHOLE_RAUC_KEY_DIR, outside the layer.
FILESEXTRAPATHS:prepend:pinhole-os := "${THISDIR}/files:${PINHOLE_RAUC_KEY_DIR}:"
PACKAGE_ARCH:pinhole-os = "${MACHINE_ARCH}"

RAUC_KEYRING_FILE:pinhole-os = "ca.cert.pem"

do_install:append:pinhole-os() {
    sed -i -e 's/@COMPATIBLE@/${PINHOLE_RAUC_COMPATIBLE}/' ${D}${nonarch_libdir}/rauc/system.conf
}
