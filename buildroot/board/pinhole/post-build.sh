#!/usr/bin/env bash
# Buildroot post-build script for Pinhole: finishes the root slot.
#   $1: TARGET_DIR   $2: board (rpi4 | rpi5), from BR2_ROOTFS_POST_SCRIPT_ARGS
# Environment: PINHOLE_RAUC_KEY_DIR (default $BR2_EXTERNAL_PINHOLE_PATH/../pinhole-keys) holds
# ca.cert.pem, the keyring installed as /etc/rauc/ca.cert.pem.
set -euo pipefail

target="$1"
board="${2:?board name (rpi4 or rpi5) expected in BR2_ROOTFS_POST_SCRIPT_ARGS}"
here="$(cd "$(dirname "$0")" && pwd)"
keys="${PINHOLE_RAUC_KEY_DIR:-$here/../../../pinhole-keys}"

case "$board" in
    rpi4) compatible=pinhole-rpi4-64 ;;
    rpi5) compatible=pinhole-rpi5-64 ;;
    *) echo "post-build.sh: unknown board '$board'" >&2; exit 1 ;;
esac

# RAUC: system.conf with this model's compatible string, and the keyring.
install -d "$target/etc/rauc"
sed "s/@COMPATIBLE@/$compatible/" "$here/rauc/system.conf" > "$target/etc/rauc/system.conf"
if [ -f "$keys/ca.cert.pem" ]; then
    install -m 0644 "$keys/ca.cert.pem" "$target/etc/rauc/ca.cert.pem"
else
    echo "post-build.sh: WARNING: no $keys/ca.cert.pem: this image will refuse every bundle" >&2
fi

# Mount points: /boot (p1, U-Boot environment) and /data (p4); /var/lib/pinhole is bind-mounted
# from /data/pinhole by var-lib-pinhole.mount.
install -d "$target/boot" "$target/data" "$target/var/lib/pinhole"
if ! grep -q '^/dev/mmcblk0p4' "$target/etc/fstab"; then
    cat >> "$target/etc/fstab" <<'FSTAB'
/dev/mmcblk0p1	/boot	vfat	defaults,noatime	0	2
/dev/mmcblk0p4	/data	ext4	defaults,noatime,x-systemd.growfs	0	2
FSTAB
fi

# Units enabled in the image itself (no first-boot preset run on a read-mostly slot).
wants="$target/etc/systemd/system/multi-user.target.wants"
install -d "$wants" "$target/etc/systemd/system/local-fs.target.wants"
ln -sf /usr/lib/systemd/system/pinhole.service "$wants/pinhole.service"
ln -sf /usr/lib/systemd/system/var-lib-pinhole.mount \
    "$target/etc/systemd/system/local-fs.target.wants/var-lib-pinhole.mount"

# pinhole marks the slot good after its own health checks: never RAUC's unconditional helper.
rm -f "$target/etc/systemd/system/multi-user.target.wants/rauc-mark-good.service"
