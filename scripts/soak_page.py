#!/usr/bin/env python3
"""Soak benchmark of the built playground (dist/) in headless Chromium: trains
both panes for STEPS steps each and, every EVERY steps, pauses them and
samples the wasm module's memory, the page's JS heap (after a forced garbage
collection, with no frame in flight) and, on the GPU path, the number of
live GPU buffers (counted by wrapping GPUDevice.createBuffer and
GPUBuffer.destroy, and a FinalizationRegistry for buffers collected without
destroy); then trains on. All three should be flat after the first EVERY
steps: a leak per step or per picture shows as a rising column.

Not a test (it takes the better part of an hour on the CPU backend):
  scripts/soak_page.py [QUERY] [STEPS] [EVERY] [DIST_DIR]
  scripts/soak_page.py '' 10000 1000                       # the default panes
  scripts/soak_page.py 'models=mlp-gan,mlp-vae&backend=gpu' 2000 200
Prints one line per sample and a verdict; exits non-zero if a column grew."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from page_e2e import Browser, chromedriver, serve  # noqa: E402

QUERY = sys.argv[1] if len(sys.argv) > 1 else ""
STEPS = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
EVERY = int(sys.argv[3]) if len(sys.argv) > 3 else 1_000
DIST = sys.argv[4] if len(sys.argv) > 4 else "dist"
# A JS heap within this fraction of its first sample counts as flat (it holds
# charts and pictures that are replaced, not grown).
HEAP_SLACK = 0.10

# Runs in every document before its own scripts (DevTools' addScriptToEvaluateOnNewDocument).
COUNT_BUFFERS = """
(() => {
  if (!self.GPUDevice) return;
  let live = 0, made = 0;
  const gone = new FinalizationRegistry((token) => { if (!token.gone) { token.gone = true; live--; } });
  const create = GPUDevice.prototype.createBuffer;
  GPUDevice.prototype.createBuffer = function (...args) {
    const buffer = create.apply(this, args);
    const token = { gone: false };
    Object.defineProperty(buffer, '__genlabToken', { value: token });
    gone.register(buffer, token);
    live++; made++;
    return buffer;
  };
  const destroy = GPUBuffer.prototype.destroy;
  GPUBuffer.prototype.destroy = function () {
    const token = this.__genlabToken;
    if (token && !token.gone) { token.gone = true; live--; }
    return destroy.call(this);
  };
  self.genlabGpuBuffers = () => ({ live, made });
})();
"""

SAMPLE = """
if (self.gc) { gc(); gc(); }
const s = window.genlab.state();
const stats = window.genlab.stats();
const buffers = self.genlabGpuBuffers ? self.genlabGpuBuffers() : null;
return {
  steps: s.panes.map((p) => p.step),
  states: s.panes.map((p) => p.state),
  backend: s.backend,
  wasm_bytes: stats.wasm_bytes,
  js_heap: performance.memory ? performance.memory.usedJSHeapSize : null,
  gpu_buffers: buffers && buffers.live,
};
"""


def main():
    server, origin = serve(DIST)
    driver, driver_port = chromedriver()
    samples = []
    try:
        b = Browser(driver_port, extra_args=["--js-flags=--expose-gc", "--enable-precise-memory-info"])
        b.call("POST", f"{b.base}/goog/cdp/execute",
               {"cmd": "Page.addScriptToEvaluateOnNewDocument", "params": {"source": COUNT_BUFFERS}})
        query = "&".join(q for q in [QUERY, f"steps={STEPS}"] if q)
        b.go(f"{origin}/?{query}")
        b.wait("the playground", "return !!(window.genlab && document.querySelectorAll('.pane[data-state]').length)")
        b.click("button[data-action=train]")
        t0 = time.time()
        next_at = EVERY
        print(f"soak: {origin}/?{query}, a sample every {EVERY} steps", flush=True)
        print("steps      seconds  wasm MiB  JS heap MiB  GPU buffers", flush=True)
        done = "return window.genlab.state().panes.every((p) => ['finished', 'failed'].includes(p.state))"
        while True:
            low = b.js("return Math.min(...window.genlab.state().panes.map((p) => p.step))")
            if low >= next_at or b.js(done):
                # Measured paused: no frame in flight holds garbage that a GC cannot free yet.
                b.js("window.genlab.pause()")
                b.wait("the panes to pause", "return window.genlab.state().panes.every((p) => p.state !== 'training')")
                time.sleep(1)
                s = b.js(SAMPLE)
                s["seconds"] = round(time.time() - t0, 1)
                samples.append(s)
                heap = "-" if s["js_heap"] is None else f"{s['js_heap'] / 2**20:.1f}"
                gpu = "-" if s["gpu_buffers"] is None else str(s["gpu_buffers"])
                print(f"{'/'.join(map(str, s['steps'])):10} {s['seconds']:7} {s['wasm_bytes'] / 2**20:9.1f} {heap:>12} {gpu:>12}", flush=True)
                next_at = (low // EVERY + 1) * EVERY
                if all(st in ("finished", "failed") for st in s["states"]):
                    break
                b.js("window.genlab.train()")
            time.sleep(2)
        if any(st == "failed" for st in samples[-1]["states"]):
            sys.exit(f"a pane failed: {samples[-1]['states']}")
        b.close()
    finally:
        driver.terminate()
        server.shutdown()

    # Flat after the first sample (the first EVERY steps allocate what a run keeps).
    first, rest = samples[0], samples[1:]
    grew = []
    if any(s["wasm_bytes"] > first["wasm_bytes"] for s in rest):
        grew.append(f"wasm memory grew from {first['wasm_bytes']} to {max(s['wasm_bytes'] for s in rest)} bytes")
    if first["js_heap"] is not None and any(s["js_heap"] > first["js_heap"] * (1 + HEAP_SLACK) for s in rest):
        grew.append(f"the JS heap grew from {first['js_heap']} to {max(s['js_heap'] for s in rest)} bytes")
    if first["gpu_buffers"] is not None and any(s["gpu_buffers"] != first["gpu_buffers"] for s in rest):
        grew.append(f"live GPU buffers went from {first['gpu_buffers']} to {[s['gpu_buffers'] for s in rest]}")
    print(json.dumps({"query": QUERY, "steps": STEPS, "every": EVERY, "backend": first["backend"], "samples": samples}))
    if grew:
        sys.exit("not flat: " + "; ".join(grew))
    print(f"flat after the first {EVERY} steps: wasm memory, JS heap (within {HEAP_SLACK:.0%})"
          + (", live GPU buffers" if first["gpu_buffers"] is not None else ""))


if __name__ == "__main__":
    main()
