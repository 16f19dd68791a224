# The Raspberry Pi boot layer of the SD image, kept apart from everything else (sourced by
# scripts/image). It is the only part that is specific to the Pi:
#
#   - raspi-firmware (Debian, non-free-firmware): the Pi's boot firmware (start*.elf, fixup*.dat),
#     the device trees, and its kernel hook that copies Debian's arm64 kernel and initramfs into
#     the boot partition and writes config.txt and cmdline.txt. It supports the Pi 3, 4, 400,
#     CM4 and Zero 2 W; not the Pi 5 (the Pi 5 and the Pi's CSI camera drivers need the Raspberry
#     Pi kernel: use the Yocto layer or the Buildroot tree for those).
#   - the A/B layout of the boot partition: firmware at the top, a directory per root slot with
#     its kernel, initramfs, device trees and cmdline.txt, and a config.txt that picks the
#     directory (os_prefix) from slot.txt or, after a tryboot reboot, tryboot.txt. RAUC's backend
#     /usr/lib/pinhole/rauc-pi-boot keeps them (README, "Updates").
#   - Pinhole's config.txt settings: the UART console and the camera auto-detection.
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

# Fills the boot partition directory (BOOTDIR starts as a copy of raspi-firmware's /boot/firmware)
# for A/B: the firmware files stay at the top, each root slot gets a directory with its kernel,
# initramfs, device trees and cmdline.txt (filled by the RAUC backend, /usr/lib/pinhole/rauc-pi-boot,
# which copies them from a slot on each update), and config.txt picks the directory with
# os_prefix from slot.txt, or from tryboot.txt when the firmware's one-shot tryboot flag is set.
pi_boot_fill() { # BOOTDIR ROOTFS
    local bootdir="$1" rootfs="$2" base
    # raspi-firmware's command line, without the root: the backend adds root= and rauc.slot=.
    base=$(sed -e 's/root=[^ ]*//' -e 's/  */ /g' -e 's/^ //' -e 's/ $//' "$bootdir/cmdline.txt")
    rm -f "$bootdir"/vmlinuz-* "$bootdir"/initrd.img-* "$bootdir"/*.dtb "$bootdir/cmdline.txt"
    printf '%s\n' "$base" > "$bootdir/cmdline-base.txt"
    for slot in A B; do
        PINHOLE_BOOT_DIR="$bootdir" "$rootfs/usr/lib/pinhole/rauc-pi-boot" populate "$slot" "$rootfs"
    done
    printf 'os_prefix=slot-a/\n' > "$bootdir/slot.txt"
    printf 'os_prefix=slot-a/\n' > "$bootdir/tryboot.txt"
    cat > "$bootdir/config.txt" <<'CFG'
# Pinhole A/B boot. The firmware loads the kernel, initramfs, device trees and cmdline.txt from the
# slot directory named by os_prefix: slot.txt's, or tryboot.txt's after `reboot '0 tryboot'`.
# /usr/lib/pinhole/rauc-pi-boot (RAUC's boot loader backend) writes those two files.
arm_64bit=1
upstream_kernel=1
kernel=vmlinuz
initramfs initrd.img followkernel
# Serial console on the GPIO UART; cameras found by the firmware.
enable_uart=1
camera_auto_detect=1

[all]
include slot.txt
[tryboot]
include tryboot.txt
[all]
CFG
}
