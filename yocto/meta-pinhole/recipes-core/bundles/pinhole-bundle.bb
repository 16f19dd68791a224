SUMMARY = "Signed RAUC update bundle with the pinhole-image root file system"
DESCRIPTION = "RAUC bundle (verity format) with the pinhole-image ext4 root file system \
               for the other A/B slot; compatible string per machine."
# No public address yet: the README installed with pinhole.
# nooelint: oelint.vars.homepageprefix
HOMEPAGE = "file:///usr/share/doc/pinhole/README.md"
SECTION = "images"
LICENSE = "MIT"

inherit bundle

RAUC_BUNDLE_COMPATIBLE = "${PINHOLE_RAUC_COMPATIBLE}"
RAUC_BUNDLE_VERSION = "${DISTRO_VERSION}"
RAUC_BUNDLE_DESCRIPTION = "Pinhole ${DISTRO_VERSION} for ${MACHINE}"
RAUC_BUNDLE_FORMAT = "verity"

RAUC_BUNDLE_SLOTS = "rootfs"
RAUC_SLOT_rootfs = "pinhole-image"
RAUC_SLOT_rootfs[fstype] = "ext4"

# Signing material is never in the layer: PINHOLE_RAUC_KEY_DIR (default ${TOPDIR}/pinhole-keys)
# holds a key and certificate chaining to the ca.cert.pem installed on devices.
RAUC_KEY_FILE = "${PINHOLE_RAUC_KEY_DIR}/signing.key.pem"
RAUC_CERT_FILE = "${PINHOLE_RAUC_KEY_DIR}/signing.cert.pem"
