# Pinhole tasks. `just --list` shows them.

set shell := ["bash", "-euo", "pipefail", "-c"]

default:
    @just --list

# Build the release binary.
build:
    cargo build --release --locked

# Run the appliance in demo mode: state in ./data, admin password printed (or PINHOLE_ADMIN_PASSWORD), http://localhost:8002
demo *ARGS:
    cargo run --release --locked -- run --demo {{ARGS}}

# Everything CI checks: formatting, layering, lints, unit and integration tests.
test:
    cargo fmt --all -- --check
    scripts/check-module-cycles
    cargo clippy --locked --workspace --all-targets -- -D warnings
    # The test device provider the hot-plug test loads into the appliance (a cdylib: not built by `cargo test`).
    cargo build --locked -p gst-fake-devices
    cargo test --locked --workspace
    just lint-scripts
    scripts/lint-yocto-buildroot

# shellcheck (warnings and errors) on every shell script: build, image, boot, update and test scripts.
lint-scripts:
    shellcheck -x -S warning $(grep -d skip -lE '^#!.*\b(ba)?sh\b' scripts/* scripts/cross/* image/overlay/usr/lib/pinhole/* tests/ota/*.sh)

# Check the cross-rs image's recipe without a container engine: its setup in a chroot, then a cross build, tests and demo there (root, ~20 min).
cross-check:
    scripts/cross/check

# The flashable SD image (Debian arm64 root file system, A/B slots, data partition); needs root.
image:
    scripts/image build

# Build the image, then boot it under qemu-system-aarch64 and check pinhole reaches READY=1 and answers.
image-test:
    scripts/image test

# image-test, then an update in the emulated system: verity bundle, RAUC, boot into B (not in CI).
image-ota-test:
    scripts/image ota-test

# A signed RAUC update bundle (verity) from the image's root file system (after just image).
bundle:
    scripts/bundle

# Static checks of yocto/meta-pinhole and the buildroot/ tree (their builds cannot run here).
lint-yocto-buildroot:
    scripts/lint-yocto-buildroot

# Check a configuration file.
check-config FILE="config/pinhole.toml":
    cargo run --locked -- check-config {{FILE}}

# The WebSocket JSON-RPC load benchmark, against the seeds' FastAPI/uvicorn stack in the same run.
bench:
    #!/usr/bin/env bash
    set -euo pipefail
    venv="${CARGO_TARGET_DIR:-target}/bench-venv"
    if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import fastapi, uvicorn, websockets' 2>/dev/null; then
        python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet fastapi uvicorn websockets
    fi
    BENCH_BASELINE_PYTHON="$venv/bin/python" cargo bench --locked --bench ws_rpc

# PTZ command round trip against the simulator over loopback UDP and TCP.
bench-ptz:
    cargo bench --locked --bench ptz_rtt

# Detection figures: face and person inference vs the Python runtime, the whole path, appliance CPU.
bench-detect:
    #!/usr/bin/env bash
    set -euo pipefail
    scripts/fetch-detect-assets >/dev/null
    venv="${CARGO_TARGET_DIR:-target}/bench-litert-venv"
    if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import ai_edge_litert, numpy' 2>/dev/null; then
        python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet ai-edge-litert==2.1.4 numpy
    fi
    BENCH_BASELINE_PYTHON="$venv/bin/python" cargo bench --locked --bench detect

# Media figures: RTSP fan-out CPU/RSS, relay + record vs ffmpeg (also per codec, from replayed
# clips), RSS of 4 cameras, time to first frame, 16 relayed cameras (8 H.264, 8 H.265) recording.
bench-media WINDOW="10":
    cargo bench --locked --bench media -- --window {{WINDOW}}

# Soak (not in CI): CAMERAS cameras for MINUTES with camera outages, RTSP clients, API load and
# retention at the free-space floor (a tmpfs when root); RSS, fds and CPU each minute, then every segment checked.
soak MINUTES="120" CAMERAS="16":
    cargo bench --locked --bench soak -- --minutes {{MINUTES}} --cameras {{CAMERAS}}

# cargo-fuzz needs the sanitizer flags, which RUSTC_BOOTSTRAP lets the stable toolchain use.
# Fuzz every parser of outside input for SECONDS each (needs cargo-fuzz): the VISCA decoders,
# the JSON-RPC envelope, the config loader, the fMP4 recovery scanner, RTSP Authorization headers,
# hawkBit's DDI answers, camera URLs (credentials taken out), ONVIF and WS-Discovery answers,
# requests to Pinhole's ONVIF face, overlay inputs, RTSP cameras' H.264/H.265 access units,
# cameras' HTTP Digest challenges, and what RTMP servers send a publisher (chunks, AMF0).
fuzz SECONDS="60":
    RUSTC_BOOTSTRAP=1 cargo fuzz run visca_decoders -- -max_total_time={{SECONDS}}
    RUSTC_BOOTSTRAP=1 cargo fuzz run jsonrpc_envelope -- -max_total_time={{SECONDS}}
    RUSTC_BOOTSTRAP=1 cargo fuzz run config -- -max_total_time={{SECONDS}}
    RUSTC_BOOTSTRAP=1 cargo fuzz run fmp4_scan -- -max_total_time={{SECONDS}}
    RUSTC_BOOTSTRAP=1 cargo fuzz run rtsp_authorization -- -max_total_time={{SECONDS}}
    RUSTC_BOOTSTRAP=1 cargo fuzz run hawkbit_ddi -- -max_total_time={{SECONDS}}
    RUSTC_BOOTSTRAP=1 cargo fuzz run camera_url -- -max_total_time={{SECONDS}}
    RUSTC_BOOTSTRAP=1 cargo fuzz run onvif_xml -- -max_total_time={{SECONDS}}
    RUSTC_BOOTSTRAP=1 cargo fuzz run onvif_request -- -max_total_time={{SECONDS}}
    RUSTC_BOOTSTRAP=1 cargo fuzz run overlay_input -- -max_total_time={{SECONDS}}
    RUSTC_BOOTSTRAP=1 cargo fuzz run nal_framing -- -max_total_time={{SECONDS}}
    RUSTC_BOOTSTRAP=1 cargo fuzz run www_authenticate -- -max_total_time={{SECONDS}}
    RUSTC_BOOTSTRAP=1 cargo fuzz run rtmp_server -- -max_total_time={{SECONDS}}

# Cross-build for aarch64 with Debian's Rust (no containers), run the unit tests and a smoke test under qemu-user.
arm64 *ARGS:
    scripts/arm64 {{ARGS}}

# Format the code.
fmt:
    cargo fmt --all
