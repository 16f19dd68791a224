SUMMARY = "LiteRT (TensorFlow Lite) runtime library used by pinhole's detectors"
DESCRIPTION = "libLiteRt.so taken unchanged from Google's ai-edge-litert ${PV} \
               manylinux_2_27 aarch64 wheel on PyPI, installed where pinhole looks for it \
               (${libdir}/pinhole)."
HOMEPAGE = "https://github.com/google-ai-edge/LiteRT"
SECTION = "libs"
# The wheel declares Apache-2.0 but carries no license text: the common license file is used.
LICENSE = "Apache-2.0"
# nooelint: oelint.var.licenseremotefile
LIC_FILES_CHKSUM = "file://${COMMON_LICENSE_DIR}/Apache-2.0;md5=89aea4e17d99a7cacdbeed46a0096b10"

DEPENDS = "unzip-native"

WHEEL = "ai_edge_litert-${PV}-cp311-cp311-manylinux_2_27_aarch64.whl"
SRC_URI = "https://files.pythonhosted.org/packages/b4/a3/dd09746925ce50d6a88ae9dfd1b1349f21568ee5587df25a7ce25d0fedc2/${WHEEL};downloadfilename=${WHEEL}.zip;subdir=${BP}"
SRC_URI[sha256sum] = "f2f07d27211a6b64ed374733bcbdd78dcf0cdc70de5c5f7d0ce7f198d4890a23"

# Built by Google for manylinux_2_27 (glibc >= 2.34 in practice), aarch64 only.
COMPATIBLE_HOST = "aarch64.*-linux"
COMPATIBLE_HOST:libc-musl = "null"

# The library itself, checked after unpacking: the same file the project's benches ran on.
LITERT_SO_SHA256 = "332b30e12a0708279c44e883639ac4caa435f18f6333fc4f35f8293a90ea9819"

do_configure[noexec] = "1"
do_compile[noexec] = "1"

do_install() {
    so=${S}/ai_edge_litert/libLiteRt.so
    echo "${LITERT_SO_SHA256}  $so" | sha256sum -c -
    install -d ${D}${libdir}/pinhole
    install -m 0755 $so ${D}${libdir}/pinhole/libLiteRt.so
}

# Only the one library, in pinhole's private directory (no -dev split for a dlopen()ed file).
# nooelint: oelint.var.filesoverride
FILES:${PN} = "${libdir}/pinhole/libLiteRt.so"
# A prebuilt, unversioned library loaded with dlopen(): not a -dev symlink, already stripped by
# its vendor, and linked without this build's LDFLAGS.
# nooelint: oelint.vars.insaneskip
INSANE_SKIP:${PN} = "already-stripped ldflags dev-so"
INHIBIT_PACKAGE_STRIP = "1"
INHIBIT_SYSROOT_STRIP = "1"
