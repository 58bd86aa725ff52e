#!/usr/bin/env bash
# Sets everything up (scripts/setup.sh) and runs every test:
#   1. formatting and clippy
#   2. native: unit tests, finite differences of the CPU reference, every WGSL
#      kernel against the CPU reference and the training-step test on the
#      native GPU (lavapipe where there is no GPU; a missing adapter fails)
#   3. the same GPU tests in headless Chromium on WebGPU (SwiftShader)
#   4. the page builds with trunk
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
# lavapipe warns without a runtime dir; give it one of its own.
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "format and lints"
cargo fmt --all -- --check
cargo clippy -q --workspace --all-targets -- -D warnings
cargo clippy -q --target wasm32-unknown-unknown --all-targets -- -D warnings

step "native tests (CPU reference, GPU kernels on the native adapter)"
cargo test --workspace 2>&1 | tee /tmp/genlab-native-tests.log
grep -h "^GPU:" /tmp/genlab-native-tests.log | sort -u || true

step "browser tests (headless Chromium, WebGPU)"
wasm-pack test --headless --chrome

step "page build (trunk)"
trunk build --release

echo
echo "all tests passed"
