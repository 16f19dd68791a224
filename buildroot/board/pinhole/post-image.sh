#!/usr/bin/env bash
# Buildroot post-image script for Pinhole: SD card image (genimage) and, when signing keys are
# present, a RAUC bundle of the root slot.
#   $1: BINARIES_DIR   $2: board (rpi4 | rpi5)
# Environment (from Buildroot): HOST_DIR, BUILD_DIR, TARGET_DIR, BR2_CONFIG.
# PINHOLE_RAUC_KEY_DIR: signing.key.pem + signing.cert.pem for the bundle (optional).
set -euo pipefail

bin="$1"
board="${2:?board name (rpi4 or rpi5) expected in BR2_ROOTFS_POST_SCRIPT_ARGS}"
here="$(cd "$(dirname "$0")" && pwd)"
keys="${PINHOLE_RAUC_KEY_DIR:-$here/../../../pinhole-keys}"
cfg="$here/genimage-$board.cfg"
[ -f "$cfg" ] || { echo "post-image.sh: no $cfg" >&2; exit 1; }

case "$board" in
    rpi4) compatible=pinhole-rpi4-64 ;;
    rpi5) compatible=pinhole-rpi5-64 ;;
    *) echo "post-image.sh: unknown board '$board'" >&2; exit 1 ;;
esac

# Everything the FAT partition needs: the firmware directory (config.txt, cmdline.txt, start*.elf,
# fixup*.dat, overlays/), the DTBs, U-Boot and its script. The kernel is NOT here: it is in the
# root slots.
files=()
for f in "$bin"/rpi-firmware/*; do
    files+=("rpi-firmware/$(basename "$f")")
done
for f in "$bin"/*.dtb u-boot.bin boot.scr; do
    f="${f#"$bin"/}"
    [ -e "$bin/$f" ] || { echo "post-image.sh: missing $bin/$f" >&2; exit 1; }
    files+=("$f")
done
list=""
for f in "${files[@]}"; do
    list+="\t\t\t\"$f\",\n"
done
list="${list%,\\n}"

gen="$(mktemp -d)"
trap 'rm -rf "$gen"' EXIT
mkdir -p "$gen/empty-root"
sed "s|^#BOOT_FILES#|$list|" "$cfg" > "$gen/genimage.cfg"

"${HOST_DIR:?}/bin/genimage" \
    --rootpath "$gen/empty-root" \
    --tmppath "$gen/tmp" \
    --inputpath "$bin" \
    --outputpath "$bin" \
    --config "$gen/genimage.cfg"
echo "post-image.sh: $bin/sdcard.img"

# RAUC bundle (verity format) of the root slot, signed with the development/production key.
if [ -f "$keys/signing.key.pem" ] && [ -f "$keys/signing.cert.pem" ]; then
    version="$(sed -n 's/^VERSION_ID=//p' "${TARGET_DIR:?}/usr/lib/os-release" | tr -d '"')"
    mkdir -p "$gen/bundle"
    cp "$bin/rootfs.ext4" "$gen/bundle/rootfs.ext4"
    cat > "$gen/bundle/manifest.raucm" <<MANIFEST
[update]
compatible=$compatible
version=${version:-0}

[bundle]
format=verity

[image.rootfs]
filename=rootfs.ext4
MANIFEST
    rm -f "$bin/pinhole-$board.raucb"
    "$HOST_DIR/bin/rauc" bundle --cert="$keys/signing.cert.pem" --key="$keys/signing.key.pem" \
        "$gen/bundle" "$bin/pinhole-$board.raucb"
    echo "post-image.sh: $bin/pinhole-$board.raucb"
else
    echo "post-image.sh: no signing key in $keys: no RAUC bundle made"
fi
