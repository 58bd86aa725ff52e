#!/usr/bin/env python3
"""How well pane 0's GAN draws digits in the page after 30, 60 and 90 s of
training, in headless Chromium on this machine (both panes training, as a
user would see them).

At each time after the click on Train it saves pane 0's weights through the
page (lab.exportFiles, answered by the pane's worker between two frames),
and after the run scores them natively with `genlab score --weights`:
the Inception Score of the 64 grid samples (the latents the page's grid
draws) and FID, IS and digit shares of 512 samples (the page's scoring
latents), by genlab's classifier; for a conditional model (asked for the
digits in turn) also the class accuracy: the share read as the digit asked
for.

Usage: [TIMES=30,60,90] scripts/page_quality.py DIST GENLAB QUERY [KEY=VALUE ...]
  e.g. scripts/page_quality.py dist target/release/genlab 'models=dcgan,conv-vae' g_average=0.99
KEY=VALUE pairs are pane 0's settings, applied before Train."""
import base64
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from page_e2e import Browser, chromedriver, serve  # noqa: E402

TIMES = [int(t) for t in os.environ.get("TIMES", "30,60,90").split(",")]
SAVE = """
window.genlab.exportFiles(0, 'weights').then(([f]) => {
  let s = '';
  for (let i = 0; i < f.bytes.length; i += 8192) s += String.fromCharCode.apply(null, f.bytes.subarray(i, i + 8192));
  arguments[0]({ step: window.genlab.state().panes[0].step, bytes: btoa(s) });
}, (e) => arguments[0]({ error: String(e) }));
"""


def main():
    dist, genlab, query = sys.argv[1], sys.argv[2], sys.argv[3]
    settings = [a.split("=", 1) for a in sys.argv[4:]]
    work = tempfile.mkdtemp(prefix="genlab-quality-")
    server, origin = serve(dist)
    driver, port = chromedriver()
    saved = []
    try:
        b = Browser(port)
        b.go(f"{origin}/index.html?{query}")
        b.wait("the panes", "return !!window.genlab && window.genlab.state().panes.every((p) => p.state === 'ready')")
        for key, value in settings:
            b.js_async(f"window.genlab.workers[0].request({{do: 'setting', key: {json.dumps(key)}, value: {json.dumps(value)}}})"
                       ".then(() => arguments[0](true), (e) => arguments[0](String(e)))")
        time.sleep(0.5)
        model = b.js("return window.genlab.state().panes[0].model")
        b.click("button[data-action=train]")
        t0 = time.time()
        for t in TIMES:
            time.sleep(max(0.0, t0 + t - time.time()))
            got = b.js_async(SAVE)
            if "error" in got:
                raise SystemExit(f"could not save at {t} s: {got['error']}")
            d = os.path.join(work, f"{t}s")
            os.makedirs(d)
            with open(os.path.join(d, "weights.safetensors"), "wb") as f:
                f.write(base64.b64decode(got["bytes"]))
            saved.append((t, got["step"], d))
        b.close()
    finally:
        driver.kill()
        server.shutdown()
    rows = []
    for t, step, d in saved:
        grid = json.loads(subprocess.run([genlab, "score", "--weights", d, "--count", "64"],
                                         check=True, capture_output=True, text=True).stdout)
        scored = json.loads(subprocess.run([genlab, "score", "--weights", d, "--count", "512", "--latent-seed",
                                            str(seed_of(d) + 2)], check=True, capture_output=True, text=True).stdout)
        s = scored["samples"]
        row = {"query": query, "settings": dict(settings), "model": model, "seconds": t, "step": step,
               "grid_is": round(grid["samples"]["inception_score"], 2),
               "is_512": round(s["inception_score"], 2), "fid_512": round(s["fid"], 1),
               "min_share_512": round(min(s["class_shares"]), 3)}
        if "class_accuracy" in s:
            row["class_accuracy_512"] = round(s["class_accuracy"], 3)
        rows.append(row)
        print(json.dumps(row))


def seed_of(d):
    """The model's seed, from the weights file's header."""
    with open(os.path.join(d, "weights.safetensors"), "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
    return int(header["__metadata__"]["genlab.seed"])


if __name__ == "__main__":
    main()
