# Pinhole A/B boot script (compiled to boot.scr by host-uboot-tools).
# RAUC's uboot backend owns BOOT_ORDER ("A B" or "B A") and BOOT_<slot>_LEFT (tries left).
# Each boot of a slot spends one try; `rauc status mark-good` (called by pinhole after its health
# checks) refills it. A slot with no tries left is skipped, so a bad update falls back by itself.
# The environment is the file uboot.env on partition 1 (/etc/fw_env.config on Linux).

fdt addr ${fdt_addr} && fdt get value bootargs /chosen bootargs

test -n "${BOOT_ORDER}" || setenv BOOT_ORDER "A B"
test -n "${BOOT_A_LEFT}" || setenv BOOT_A_LEFT 3
test -n "${BOOT_B_LEFT}" || setenv BOOT_B_LEFT 3

setenv pinhole_part
for slot in ${BOOT_ORDER}; do
  if test -z "${pinhole_part}"; then
    if test "${slot}" = "A" && test ${BOOT_A_LEFT} -gt 0; then
      setexpr BOOT_A_LEFT ${BOOT_A_LEFT} - 1
      setenv pinhole_part 2
      setenv pinhole_slot A
    elif test "${slot}" = "B" && test ${BOOT_B_LEFT} -gt 0; then
      setexpr BOOT_B_LEFT ${BOOT_B_LEFT} - 1
      setenv pinhole_part 3
      setenv pinhole_slot B
    fi
  fi
done

if test -z "${pinhole_part}"; then
  echo "pinhole: no root slot has tries left; giving both 3 more and resetting"
  setenv BOOT_A_LEFT 3
  setenv BOOT_B_LEFT 3
  saveenv
  reset
fi

echo "pinhole: booting slot ${pinhole_slot} (mmc 0:${pinhole_part})"
saveenv
setenv bootargs "${bootargs} root=/dev/mmcblk0p${pinhole_part} rootfstype=ext4 rootwait rauc.slot=${pinhole_slot}"
load mmc 0:${pinhole_part} ${kernel_addr_r} boot/Image
booti ${kernel_addr_r} - ${fdt_addr}
