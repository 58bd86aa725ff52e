#!/usr/bin/env python3
"""Time from navigation to a clickable Train button on the built page, in
headless Chromium with WebGPU (SwiftShader here), as a new visitor sees it:
a fresh browser profile per run. Prints one JSON line per run and the median.

Usage: scripts/page_ready.py [DIST] [RUNS] [QUERY]
  e.g. scripts/page_ready.py dist 5 'size=page'
The time is the page's own performance.now() (milliseconds since the
navigation started) when the Train button is enabled and every pane is ready,
polled every 5 ms inside the page."""
import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from page_e2e import Browser, chromedriver, serve  # noqa: E402

DIST = sys.argv[1] if len(sys.argv) > 1 else "dist"
RUNS = int(sys.argv[2]) if len(sys.argv) > 2 else 5
QUERY = sys.argv[3] if len(sys.argv) > 3 else ""

READY = """
const done = arguments[0];
const t = setInterval(() => {
  const train = document.querySelector('button[data-action=train]');
  const panes = [...document.querySelectorAll('.pane')];
  if (train && !train.disabled && panes.length && panes.every((p) => p.dataset.state === 'ready')) {
    clearInterval(t);
    done({ ms: performance.now(), banner: document.querySelector('.banner')?.textContent ?? '' });
  }
}, 5);
"""


def main():
    server, origin = serve(DIST)
    driver, port = chromedriver()
    times = []
    try:
        for run in range(RUNS):
            b = Browser(port)
            try:
                b.call("POST", f"{b.base}/timeouts", {"script": 120000})
                b.go(f"{origin}/index.html{'?' + QUERY if QUERY else ''}")
                got = b.js_async(READY)
                times.append(got["ms"])
                print(json.dumps({"run": run + 1, "ready_ms": round(got["ms"]), "banner": got["banner"][:90]}))
            finally:
                b.close()
    finally:
        driver.kill()
        server.shutdown()
    print(json.dumps({"query": QUERY, "runs": RUNS, "median_ready_ms": round(statistics.median(times)),
                      "all_ms": [round(t) for t in times]}))


if __name__ == "__main__":
    main()
