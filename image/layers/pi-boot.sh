# The Raspberry Pi boot layer of the SD image, kept apart from everything else (sourced by
# scripts/image). It is the only part that is specific to the Pi:
#
#   - raspi-firmware (Debian, non-free-firmware): the Pi's boot firmware (start*.elf, fixup*.dat),
#     the device trees, and its kernel hook that copies Debian's arm64 kernel and initramfs into
#     the boot partition and writes config.txt and cmdline.txt. It supports the Pi 3, 4, 400,
#     CM4 and Zero 2 W; not the Pi 5 (the Pi 5 and the Pi's CSI camera drivers need the Raspberry
#     Pi kernel: use the Yocto layer or the Buildroot tree for those).
#   - the root= of cmdline.txt: LABEL=rootA (the A/B switch rewrites it; see the OTA notes).
#   - Pinhole's additions to config.txt: the UART console and the camera auto-detection.
#
# Raspberry Pi OS's own packages (its kernel, libcamera, rpicam) are not reachable from the
# machines that build this image, so this layer uses Debian's. Swap this file for one that
# installs Raspberry Pi OS's raspberrypi-kernel and firmware to build against those.

pi_boot_packages=(raspi-firmware)

# Runs before packages are installed: raspi-firmware's hooks read this file.
pi_boot_setup_hook() {
    echo 'mkdir -p "$1/etc/default" && printf "ROOTPART=LABEL=rootA\nCONSOLES=\"ttyS1,115200 tty0\"\n" > "$1/etc/default/raspi-firmware"'
}

# Runs after the install (and after the initramfs is built): refresh the boot files.
pi_boot_customize_hook() {
    echo 'chroot "$1" sh -c "[ -x /etc/kernel/postinst.d/z50-raspi-firmware ] && /etc/kernel/postinst.d/z50-raspi-firmware \$(ls /lib/modules | sort -V | tail -n1) || true"'
}

# Fills the boot partition directory: raspi-firmware's files are already in it; add Pinhole's
# config.txt settings.
pi_boot_fill() { # BOOTDIR ROOTFS
    local bootdir="$1"
    if [ -f "$bootdir/config.txt" ]; then
        cat >> "$bootdir/config.txt" <<'CFG'

[all]
# Pinhole: serial console on the GPIO UART; cameras found by the firmware.
enable_uart=1
camera_auto_detect=1
CFG
    fi
}
