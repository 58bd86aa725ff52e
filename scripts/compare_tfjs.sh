#!/usr/bin/env bash
# genlab's DCGAN training step against TensorFlow.js 4.22's on the same
# WebGPU adapter, in the same headless Chromium, rounds alternated, medians
# and their ratio printed (issue 13's goal: genlab <= 1/3 of TensorFlow.js).
#
#   scripts/compare_tfjs.sh PEER_DIR [BATCH] [STEPS] [ROUNDS]
#   e.g. scripts/compare_tfjs.sh ../shared/peer/tfjs-dcgan 8 2 3
#
# PEER_DIR is the TensorFlow.js peer benchmark (run.js, bench.html,
# package.json); it is copied to target/tfjs-peer and its packages installed
# there once (npm). genlab runs www/bench.html from dist/ (built here with
# trunk's release build). Both take 2 warm-up steps, then STEPS timed ones.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
peer_src="${1:?usage: scripts/compare_tfjs.sh PEER_DIR [BATCH] [STEPS] [ROUNDS]}"
batch="${2:-8}"
steps="${3:-2}"
rounds="${4:-3}"
peer="$PWD/target/tfjs-peer"

mkdir -p "$peer"
cp -r "$peer_src"/. "$peer"/
if [ ! -d "$peer/node_modules" ]; then
  (cd "$peer" && npm install --no-audit --no-fund >/dev/null)
fi
trunk build -q --release

genlab() {
  BENCH_TIMEOUT=3000 python3 scripts/bench_page.py \
    "model=dcgan&batch=$batch&steps=$steps&warmup=2&backend=gpu" dist |
    tail -1 | python3 -c "import json,sys; print(json.load(sys.stdin)['ms_per_step'])"
}
tfjs() {
  (cd "$peer" && node run.js webgpu "$batch" "$steps") |
    tail -1 | python3 -c "import json,sys; print(json.load(sys.stdin)['ms_per_step'])"
}

declare -a g t
for _ in $(seq "$rounds"); do
  g+=("$(genlab)"); t+=("$(tfjs)")
  echo "round: genlab ${g[-1]} ms, TensorFlow.js ${t[-1]} ms" >&2
done
python3 - "$batch" "${g[*]}" "${t[*]}" <<'EOF'
import statistics as st, sys
batch, g, t = sys.argv[1], [float(v) for v in sys.argv[2].split()], [float(v) for v in sys.argv[3].split()]
mg, mt = st.median(g), st.median(t)
print(f"DCGAN step at batch {batch} on WebGPU in headless Chromium: genlab {mg:.0f} ms {g}, "
      f"TensorFlow.js {mt:.0f} ms {t}; genlab / TensorFlow.js = {mg / mt:.3f} (medians)")
EOF
