#!/bin/sh
# A stand-in boot loader for the OTA tests: RAUC's `custom` backend (bootloader=custom), keeping
# the primary slot and each slot's state in files. RAUC 1.8 calls get-primary, set-primary NAME,
# get-state NAME and set-state NAME good|bad. Like a real boot chooser, marking the primary slot
# bad makes the other (good) slot primary: that is the rollback.
set -eu
dir=${PINHOLE_BOOTSTATE:-$(cd "$(dirname "$0")" && pwd)/bootstate}
mkdir -p "$dir"
[ -f "$dir/primary" ] || echo A > "$dir/primary"
for s in A B; do [ -f "$dir/state.$s" ] || echo good > "$dir/state.$s"; done
echo "$*" >> "$dir/calls.log"
check() { case "$1" in A|B) ;; *) echo "unknown slot '$1'" >&2; exit 2 ;; esac; }
other() { if [ "$1" = A ]; then echo B; else echo A; fi; }
case "${1:-}" in
get-primary) cat "$dir/primary" ;;
set-primary) check "$2"; echo "$2" > "$dir/primary"; echo good > "$dir/state.$2" ;;
get-state) check "$2"; cat "$dir/state.$2" ;;
set-state)
    check "$2"
    case "$3" in
    good) echo good > "$dir/state.$2" ;;
    bad)
        echo bad > "$dir/state.$2"
        o=$(other "$2")
        if [ "$(cat "$dir/primary")" = "$2" ] && [ "$(cat "$dir/state.$o")" = good ]; then
            echo "$o" > "$dir/primary"
        fi
        ;;
    *) echo "unknown state '$3'" >&2; exit 2 ;;
    esac
    ;;
*) echo "unsupported: ${1:-}" >&2; exit 1 ;;
esac
