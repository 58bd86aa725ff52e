#!/usr/bin/env bash
# Sets everything up (scripts/setup.sh), builds the page and serves it at
# http://127.0.0.1:8080 (another port: PORT=9000 scripts/serve.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
exec trunk serve --release --port "${PORT:-8080}"
