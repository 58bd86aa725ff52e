#!/usr/bin/env bash
# Installs what genlab's build and tests need, skipping whatever is present:
#   Debian packages  chromium, chromium-driver (headless WebGPU on SwiftShader),
#                    mesa-vulkan-drivers (native wgpu on lavapipe), npm when missing
#   Rust             the wasm32-unknown-unknown target; wasm-bindgen-cli at exactly
#                    the version in Cargo.lock; wasm-pack; trunk 0.21.x
#   Python           numpy and onnxruntime from PyPI, in a virtual environment in
#                    target/py (the export check, scripts/check_export.py)
#   npm              onnxruntime-web (for www/onnx.html), installed in target/npm and
#                    its wasm build copied into www/vendor/onnxruntime-web/
# Needs rustup's cargo (https://rustup.rs) and, for the Debian packages, root or sudo.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1msetup:\033[0m %s\n' "$*"; }

export PATH="$HOME/.cargo/bin:$PATH"
if ! command -v cargo >/dev/null || ! command -v rustup >/dev/null; then
    echo "setup: cargo and rustup are needed first; install them from https://rustup.rs and run this again" >&2
    exit 1
fi

# --- Debian packages --------------------------------------------------------
packages=(chromium chromium-driver mesa-vulkan-drivers)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# The page smoke test drives chromedriver from Python's standard library.
command -v python3 >/dev/null || missing+=(python3)
# npm fetches onnxruntime-web for www/onnx.html (below).
command -v npm >/dev/null || missing+=(npm)
if ((${#missing[@]})); then
    if ! command -v apt-get >/dev/null; then
        echo "setup: missing ${missing[*]} and no apt-get: install their equivalents (Chromium + ChromeDriver, a Vulkan driver) by hand" >&2
        exit 1
    fi
    sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    say "installing ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
else
    say "Debian packages present"
fi

# --- Rust target and tools ----------------------------------------------------
if rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    say "wasm32-unknown-unknown present"
else
    say "adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
fi

# The wasm-bindgen CLI must match the wasm-bindgen crate in Cargo.lock exactly.
wbg_version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3 }' Cargo.lock)
[ -n "$wbg_version" ] || { echo "setup: no wasm-bindgen in Cargo.lock" >&2; exit 1; }
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" = "$wbg_version" ]; then
    say "wasm-bindgen-cli $wbg_version present"
else
    say "installing wasm-bindgen-cli $wbg_version"
    # --locked can fail when a crate in its lockfile has left the registry; then resolve afresh.
    cargo install -q wasm-bindgen-cli --version "$wbg_version" --locked --force ||
        cargo install -q wasm-bindgen-cli --version "$wbg_version" --force
fi

if command -v wasm-pack >/dev/null; then
    say "wasm-pack present"
else
    say "installing wasm-pack"
    cargo install -q wasm-pack --locked || cargo install -q wasm-pack
fi

if trunk --version 2>/dev/null | grep -q '^trunk 0\.21\.'; then
    say "trunk 0.21 present"
else
    say "installing trunk 0.21"
    cargo install -q trunk --version '~0.21' --locked --force || cargo install -q trunk --version '~0.21' --force
fi
# --- Python packages for the export check -------------------------------------
if target/py/bin/python -c "import numpy, onnxruntime" 2>/dev/null; then
    say "numpy and onnxruntime present (target/py)"
else
    say "installing numpy and onnxruntime in target/py"
    if ! python3 -m venv target/py 2>/dev/null; then
        # Debian's python3 needs its venv package for this.
        sudo=""
        [ "$(id -u)" = 0 ] || sudo="sudo"
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3-venv >/dev/null
        python3 -m venv target/py
    fi
    target/py/bin/pip install -q --upgrade pip
    target/py/bin/pip install -q numpy onnxruntime
fi
# --- onnxruntime-web for www/onnx.html, served from the page's own origin ------
ort_version=1.31.1
ort_dir=www/vendor/onnxruntime-web
if [ "$(cat "$ort_dir/VERSION" 2>/dev/null)" = "$ort_version" ]; then
    say "onnxruntime-web $ort_version present ($ort_dir)"
else
    command -v npm >/dev/null || { echo "setup: npm is needed for onnxruntime-web (Debian: apt-get install npm)" >&2; exit 1; }
    say "installing onnxruntime-web $ort_version into $ort_dir"
    mkdir -p target/npm "$ort_dir"
    [ -f target/npm/package.json ] || echo '{"private": true}' > target/npm/package.json
    npm install -s --prefix target/npm "onnxruntime-web@$ort_version" >/dev/null
    # The wasm backend only (no WebGPU/WebGL build): its module, its loader and its wasm.
    for f in ort.wasm.min.mjs ort-wasm-simd-threaded.mjs ort-wasm-simd-threaded.wasm; do
        cp "target/npm/node_modules/onnxruntime-web/dist/$f" "$ort_dir/"
    done
    cp target/npm/node_modules/onnxruntime-web/LICENSE "$ort_dir/" 2>/dev/null || true
    echo "$ort_version" > "$ort_dir/VERSION"
fi
say "done"
