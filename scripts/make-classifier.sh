#!/usr/bin/env bash
# Regenerates www/classifier.safetensors, the scoring classifier the page and
# `genlab score` use: genlab trains it with its own kernels on the bundled
# digits (the last 1,000 held out), on the CPU backend, deterministically.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --release -q -p genlab-cli -- train --model classifier --steps 4000 --seed 1 \
  --backend cpu --log-every 100 --out target/classifier
cp target/classifier/classifier.safetensors www/classifier.safetensors
echo "wrote www/classifier.safetensors"
