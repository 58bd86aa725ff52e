#!/usr/bin/env python3
"""How the page feels while it trains, in headless Chromium (this machine:
SwiftShader, so the CPU backend): the main thread's long tasks (> 50 ms)
during SECONDS of training, the delay from a click on Pause to every pane
showing "paused", and each pane's steps/s, with the page's two panes and
with the first pane alone. One fresh browser profile per measurement.

Usage: scripts/page_responsiveness.py [DIST] [SECONDS] [SIZE] [ROUNDS]
  e.g. scripts/page_responsiveness.py dist 20 page 3    (SIZE: page or full)
Each round measures two panes and one pane, side by side (the order
alternates between rounds). Prints one JSON line per page and a summary
line with medians over the rounds.

The Pause delay is measured twice: from the click event in the page to
every pane showing "paused" (pause_delay_ms), and from before WebDriver's
click command (pause_delay_webdriver_ms, which adds the driver's latency)."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from page_e2e import Browser, chromedriver, serve  # noqa: E402

DIST = sys.argv[1] if len(sys.argv) > 1 else "dist"
SECONDS = float(sys.argv[2]) if len(sys.argv) > 2 else 20.0
SIZE = sys.argv[3] if len(sys.argv) > 3 else "page"
ROUNDS = int(sys.argv[4]) if len(sys.argv) > 4 else 1

READY = """
const done = arguments[0];
const t = setInterval(() => {
  const train = document.querySelector('button[data-action=train]');
  const panes = [...document.querySelectorAll('.pane')];
  if (train && !train.disabled && panes.length && panes.every((p) => p.dataset.state === 'ready')) {
    clearInterval(t);
    window.__long = [];
    new PerformanceObserver((l) => window.__long.push(...l.getEntries().map((e) => e.duration)))
      .observe({ type: 'longtask' });
    // When every pane shows "paused", in the page's clock (Date.now, shared with the test).
    window.__paused = null;
    window.__clicked = null;
    train.parentElement.querySelector('[data-action=pause]').addEventListener('click', () => { window.__clicked = Date.now(); }, { capture: true });
    new MutationObserver(() => {
      if (window.__paused === null && [...document.querySelectorAll('.pane')].every((p) => p.dataset.state === 'paused'))
        window.__paused = Date.now();
    }).observe(document.body, { subtree: true, attributes: true, attributeFilter: ['data-state'] });
    done(performance.now());
  }
}, 5);
"""
STEPS = "return [...document.querySelectorAll('.pane')].map((p) => Number(p.dataset.step || 0));"


def measure(origin, port, models):
    b = Browser(port)
    try:
        b.call("POST", f"{b.base}/timeouts", {"script": 300000})
        b.go(f"{origin}/index.html?models={models}&size={SIZE}")
        ready_ms = b.js_async(READY)
        b.click("button[data-action=train]")
        b.wait("the first steps", "return [...document.querySelectorAll('.pane')].every((p) => Number(p.dataset.step) >= 1)",
               timeout=600)
        t0, s0 = time.time(), b.js(STEPS)
        time.sleep(SECONDS)
        t1, s1 = time.time(), b.js(STEPS)
        rates = [(b_ - a_) / (t1 - t0) for a_, b_ in zip(s0, s1)]
        long_tasks = b.js("return window.__long")
        clicked = time.time() * 1000
        b.click("button[data-action=pause]")
        paused = b.wait("every pane paused", "return window.__paused", timeout=600)
        out = {
            "models": models, "size": SIZE, "ready_ms": round(ready_ms),
            "steps_per_s": [round(r, 2) for r in rates],
            "long_tasks": len(long_tasks), "longest_task_ms": round(max(long_tasks, default=0)),
            "pause_delay_ms": round(paused - b.js("return window.__clicked")),
            "pause_delay_webdriver_ms": round(paused - clicked),
        }
        print(json.dumps(out))
        return out
    finally:
        b.close()


def measure_or_frozen(origin, port, models):
    """A page whose main thread does not answer WebDriver for 120 s is frozen: say so."""
    try:
        return measure(origin, port, models)
    except TimeoutError:
        out = {"models": models, "size": SIZE, "frozen": "a WebDriver command waited over 120 s for the page's main thread"}
        print(json.dumps(out))
        return None


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def main():
    server, origin = serve(DIST)
    driver, port = chromedriver()
    rounds = []
    try:
        for r in range(ROUNDS):
            order = ["dcgan,conv-vae", "dcgan"] if r % 2 == 0 else ["dcgan", "dcgan,conv-vae"]
            got = {m: measure_or_frozen(origin, port, m) for m in order}
            if None in got.values():
                return
            rounds.append((got["dcgan,conv-vae"], got["dcgan"]))
    finally:
        driver.kill()
        server.shutdown()
    twos = [t for t, _ in rounds]
    print(json.dumps({
        "summary": f"{SIZE} sizes, {SECONDS:.0f} s of training, median of {len(rounds)} rounds",
        "ready_ms": median([t["ready_ms"] for t, _ in rounds] + [o["ready_ms"] for _, o in rounds]),
        "long_tasks_two_panes": max(t["long_tasks"] for t in twos),
        "longest_task_ms": max(t["longest_task_ms"] for t in twos),
        "pause_delay_ms": median([t["pause_delay_ms"] for t in twos]),
        "pause_delay_webdriver_ms": median([t["pause_delay_webdriver_ms"] for t in twos]),
        "dcgan_steps_per_s_with_two_panes": median([t["steps_per_s"][0] for t in twos]),
        "dcgan_steps_per_s_alone": median([o["steps_per_s"][0] for _, o in rounds]),
        "two_over_one": median([t["steps_per_s"][0] / max(o["steps_per_s"][0], 1e-9) for t, o in rounds]),
    }))


if __name__ == "__main__":
    main()
