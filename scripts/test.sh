#!/usr/bin/env bash
# Sets everything up (scripts/setup.sh) and runs every test:
#   1. formatting and clippy
#   2. native: unit tests, finite differences of the CPU reference, every WGSL
#      kernel against the CPU reference and the training-step test on the
#      native GPU (lavapipe where there is no GPU; a missing adapter fails)
#   3. the exports (genlab export): ONNX files run in ONNX Runtime, and PyTorch
#      state dicts through a NumPy forward pass that follows PyTorch, draw
#      genlab's own images from the same inputs (scripts/check_export.py)
#   4. the same GPU tests in headless Chromium on WebGPU (SwiftShader)
#   5. the playground builds with trunk and works end to end in headless
#      Chromium under its Content-Security-Policy: Train advances both
#      panes, the grids change, both panes get their classifier scores, a
#      bad IDX file and a huge weights file get messages, each pane trains
#      in its own dedicated worker, a panic in one pane's worker is reported
#      in that pane while the other trains on and its Reset starts a new
#      worker, Pause shows within a second, bad URL parameters are reported, a lost
#      GPU device is recovered from, the tutorial's mount() instance trains,
#      the benchmark refuses a freezing step count, a conditional GAN's
#      grid rows (one per digit) differ and the digit picker makes them one
#      digit, strokes drawn on the pad (pen events) get the conditional
#      VAE's reconstruction and styles and the classifier's reading, a
#      browser without WebGPU is told so (scripts/page_e2e.py; screenshots
#      in target/)
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

logs=$(mktemp -d)
step "native tests (CPU reference, GPU kernels on the native adapter)"
cargo run -q -p genlab-cli -- info
cargo test --workspace 2>&1 | tee "$logs/native.log"

step "export check (ONNX Runtime and PyTorch's semantics against genlab's samples)"
cargo build -q -p genlab-cli
target/py/bin/python scripts/check_export.py target/debug/genlab target/export-check | tee "$logs/export.log"
export_passed=1

step "browser tests (headless Chromium, WebGPU)"
# SwiftShader is slow and CI shares two cores: more than the runner's default 20 s per test.
export WASM_BINDGEN_TEST_TIMEOUT="${WASM_BINDGEN_TEST_TIMEOUT:-180}"
wasm-pack test --headless --chrome 2>&1 | tee "$logs/browser.log"
grep -h "GPU:" "$logs/browser.log" | sed 's/^ *//' | sort -u || true

step "playground build (trunk) and end-to-end test (headless Chromium)"
trunk build --release
python3 scripts/page_e2e.py dist
page_passed=1

# One total over both runners (each prints a "test result:" line per test binary).
total() { grep -ho "[0-9]* $2" "$1" | awk '{ s += $1 } END { print s + 0 }'; }
native_passed=$(total "$logs/native.log" passed)
browser_passed=$(total "$logs/browser.log" passed)
failed=$(($(total "$logs/native.log" failed) + $(total "$logs/browser.log" failed)))
echo
echo "native: $native_passed passed; export: $export_passed passed; headless Chrome: $browser_passed passed; page: $page_passed passed"
echo "$((native_passed + export_passed + browser_passed + page_passed)) passed, $failed failed"
