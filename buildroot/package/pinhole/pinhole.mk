################################################################################
#
# pinhole
#
################################################################################

# Built from the pinhole repository this external tree lives in, at the commit checked out
# there (HEAD), so `make` builds what the tree holds. A release build names its tag and the
# published repository on the command line: make PINHOLE_VERSION=v0.2.0 PINHOLE_SITE=https://...
# PINHOLE_OVERRIDE_SRCDIR builds a work tree, but then its crates must already be vendored
# (see README).
PINHOLE_SITE = $(realpath $(BR2_EXTERNAL_PINHOLE_PATH)/..)
PINHOLE_VERSION := $(shell git -C $(PINHOLE_SITE) rev-parse HEAD 2>/dev/null)
PINHOLE_SITE_METHOD = git
ifeq ($(PINHOLE_VERSION),)
$(error pinhole: cannot read the commit of $(PINHOLE_SITE): set PINHOLE_VERSION to a tag or commit)
endif
PINHOLE_LICENSE = Apache-2.0
# Buildroot makes this tarball from the commit and vendors Cargo.lock's crates into it, so its
# hash cannot be written down before the commit exists: it is exempt (pinhole.hash explains; a
# release adds its hash there, which is then checked). The commit id names the source; cargo
# checks every vendored crate against Cargo.lock's checksum (--locked --offline).
BR_NO_CHECK_HASH_FOR += $(PINHOLE_SOURCE)
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
