#!/usr/bin/env bash
# Side-by-side speed of the working tree against another revision, on this
# machine: the DCGAN at batch 64 on the native CPU backend (steps/s of
# `genlab train`, every core) and in headless Chromium's CPU backend
# (ms/step of www/bench.html, one thread), rounds alternated, medians printed.
#
#   scripts/compare_speed.sh REV [ROUNDS]     # e.g. scripts/compare_speed.sh 7f70b80 3
#
# REV is checked out in target/compare-REV (a git worktree) and built there
# (release CLI and trunk's release build); the working tree is built as usual.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
rev="${1:?usage: scripts/compare_speed.sh REV [ROUNDS]}"
rounds="${2:-3}"
here="$PWD"
old="$here/target/compare-$rev"

if [ ! -d "$old" ]; then
  git worktree add -f "$old" "$rev" >/dev/null
fi
(cd "$old" && cargo build -q --release -p genlab-cli && trunk build -q --release --dist "$old/dist")
cargo build -q --release -p genlab-cli
trunk build -q --release

native() {  # steps/s of 40 DCGAN steps at batch 64 on the CPU backend
  local out
  out=$(mktemp -d)
  "$1/target/release/genlab" train --model dcgan --steps 40 --backend cpu --out "$out" \
    --samples 2 --held-out 64 --log-every 10 >/dev/null 2>&1
  python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['steps_per_second'])" "$out/metrics.json"
}
browser() {  # ms/step of 10 steps after 2 of warm-up in the page's CPU backend
  python3 scripts/bench_page.py 'model=dcgan&batch=64&steps=10&warmup=2&backend=cpu' "$1/dist" 2>/dev/null |
    tail -1 | python3 -c "import json,sys; print(json.load(sys.stdin)['ms_per_step'])"
}

declare -a n_old n_new b_old b_new
for _ in $(seq "$rounds"); do
  n_old+=("$(native "$old")"); n_new+=("$(native "$here")")
done
for _ in $(seq "$rounds"); do
  b_old+=("$(browser "$old")"); b_new+=("$(browser "$here")")
done
python3 - "$rev" "${n_old[*]}" "${n_new[*]}" "${b_old[*]}" "${b_new[*]}" <<'EOF'
import statistics as st, sys
rev, *runs = sys.argv[1:]
n_old, n_new, b_old, b_new = [[float(v) for v in r.split()] for r in runs]
def line(what, unit, old, new, better_higher):
    mo, mn = st.median(old), st.median(new)
    change = (mn / mo - 1) * 100
    faster = change if better_higher else -change
    print(f"{what}: {rev} {mo:.3f} {unit} {old}, working tree {mn:.3f} {unit} {new}: "
          f"{'faster' if faster >= 0 else 'slower'} by {abs(faster):.1f}% (medians)")
line("native CPU backend, DCGAN batch 64", "steps/s", n_old, n_new, True)
line("browser CPU backend, DCGAN batch 64", "ms/step", b_old, b_new, False)
EOF
