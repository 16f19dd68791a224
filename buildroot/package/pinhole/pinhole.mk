################################################################################
#
# pinhole
#
################################################################################

# Built from a git tag of the pinhole repository. By default that repository is the one this
# external tree lives in; set PINHOLE_SITE (e.g. in a local.mk) to build the published one, or
# PINHOLE_OVERRIDE_SRCDIR for a work tree (then crates must already be vendored, see README).
PINHOLE_VERSION = v0.1.0
PINHOLE_SITE = $(realpath $(BR2_EXTERNAL_PINHOLE_PATH)/..)
PINHOLE_SITE_METHOD = git
PINHOLE_LICENSE = Apache-2.0
PINHOLE_DEPENDENCIES = \
	host-pkgconf \
	gstreamer1 \
	gst1-plugins-base \
	gst1-plugins-good \
	gst1-plugins-bad \
	gst1-rtsp-server

# gstreamer-sys and friends find the target's libraries through pkg-config.
PINHOLE_CARGO_ENV = PKG_CONFIG_ALLOW_CROSS=1

define PINHOLE_INSTALL_FILES
	$(INSTALL) -D -m 0644 $(@D)/config/pinhole.toml \
		$(TARGET_DIR)/etc/pinhole/pinhole.toml
	$(INSTALL) -D -m 0644 $(@D)/README.md \
		$(TARGET_DIR)/usr/share/doc/pinhole/README.md
endef
PINHOLE_POST_INSTALL_TARGET_HOOKS += PINHOLE_INSTALL_FILES

define PINHOLE_INSTALL_INIT_SYSTEMD
	$(INSTALL) -D -m 0644 $(@D)/systemd/pinhole.service \
		$(TARGET_DIR)/usr/lib/systemd/system/pinhole.service
	$(INSTALL) -D -m 0644 $(@D)/systemd/pinhole.sysusers \
		$(TARGET_DIR)/usr/lib/sysusers.d/pinhole.conf
endef

# Same account as systemd/pinhole.sysusers, made at build time so the root slot is complete.
define PINHOLE_USERS
	pinhole -1 pinhole -1 * /var/lib/pinhole - video,dialout Pinhole camera appliance
endef

# /etc/pinhole/pinhole.toml is readable by the service group only (it may hold secrets).
define PINHOLE_PERMISSIONS
	/etc/pinhole/pinhole.toml f 0640 0 pinhole - - - - -
endef

$(eval $(cargo-package))
