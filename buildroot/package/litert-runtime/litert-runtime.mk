################################################################################
#
# litert-runtime
#
################################################################################

LITERT_RUNTIME_VERSION = 2.1.4
LITERT_RUNTIME_SITE = https://files.pythonhosted.org/packages/b4/a3/dd09746925ce50d6a88ae9dfd1b1349f21568ee5587df25a7ce25d0fedc2
LITERT_RUNTIME_SOURCE = ai_edge_litert-$(LITERT_RUNTIME_VERSION)-cp311-cp311-manylinux_2_27_aarch64.whl
# The wheel declares Apache-2.0 but ships no license text.
LITERT_RUNTIME_LICENSE = Apache-2.0

# A wheel is a zip file; only the C library is needed (not the Python module).
define LITERT_RUNTIME_EXTRACT_CMDS
	$(UNZIP) -o -d $(@D) $(LITERT_RUNTIME_DL_DIR)/$(LITERT_RUNTIME_SOURCE) \
		ai_edge_litert/libLiteRt.so
endef

# The library itself is checked too: the same file pinhole's detection benches ran on.
LITERT_RUNTIME_SO_SHA256 = 332b30e12a0708279c44e883639ac4caa435f18f6333fc4f35f8293a90ea9819

define LITERT_RUNTIME_INSTALL_TARGET_CMDS
	echo "$(LITERT_RUNTIME_SO_SHA256)  $(@D)/ai_edge_litert/libLiteRt.so" | sha256sum -c -
	$(INSTALL) -D -m 0755 $(@D)/ai_edge_litert/libLiteRt.so \
		$(TARGET_DIR)/usr/lib/pinhole/libLiteRt.so
endef

$(eval $(generic-package))
