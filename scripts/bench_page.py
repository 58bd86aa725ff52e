#!/usr/bin/env python3
"""Runs the built benchmark page (dist/www/bench.html) in headless Chromium
with WebGPU and prints its one JSON line: milliseconds per training step
after warm-up, in the form of the TensorFlow.js peer benchmark; with
profile=1, the page's op-by-op profile of one step (its table, then its JSON);
with cpuprofile=1, first the functions (Rust's, in the wasm) that took the
most of the run's time by V8's sampling profiler: where the CPU backend's
step goes in the browser.
Usage: scripts/bench_page.py 'model=dcgan&batch=8&steps=2&backend=gpu' [DIST_DIR]
       scripts/bench_page.py 'model=dcgan&batch=8&reps=3&profile=1' [DIST_DIR]
       scripts/bench_page.py 'model=dcgan&size=page&steps=200&backend=cpu&cpuprofile=1' [DIST_DIR]
(BENCH_TIMEOUT seconds, default 1800). The page is served with its
Content-Security-Policy (Trunk.toml), as `trunk serve` serves it."""
import json
import os
import re
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from page_e2e import chromedriver, serve, webdriver  # noqa: E402

QUERY = sys.argv[1] if len(sys.argv) > 1 else "model=dcgan&batch=8&steps=2&backend=gpu"
CPU_PROFILE = "cpuprofile=1" in QUERY.split("&")
DIST = sys.argv[2] if len(sys.argv) > 2 else "dist"
TIMEOUT_S = int(os.environ.get("BENCH_TIMEOUT", "1800"))


def main():
    server, origin = serve(DIST)
    page = f"{origin}/www/bench.html?{QUERY}" + ("&hold=1" if CPU_PROFILE else "")
    driver, driver_port = chromedriver()
    out = "pending"
    refused = []
    try:
        with open("webdriver.json") as f:
            chrome = json.load(f)["goog:chromeOptions"]
        args = chrome["args"] + ["--headless=new", f"--user-data-dir={tempfile.mkdtemp()}"]
        caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {"args": args},
                                                 "timeouts": {"script": TIMEOUT_S * 1000}}}}
        session = webdriver(driver_port, "POST", "/session", caps)["sessionId"]
        base = f"/session/{session}"
        try:
            webdriver(driver_port, "POST", f"{base}/url", {"url": page})
            if CPU_PROFILE:
                cdp = lambda cmd, params={}: webdriver(driver_port, "POST", f"{base}/goog/cdp/execute",
                                                       {"cmd": cmd, "params": params})
                held = {"script": "return typeof window.genlabGo === 'function'", "args": []}
                while not webdriver(driver_port, "POST", f"{base}/execute/sync", held):
                    time.sleep(0.1)
                cdp("Profiler.enable")
                cdp("Profiler.setSamplingInterval", {"interval": 250})
                cdp("Profiler.start")
                webdriver(driver_port, "POST", f"{base}/execute/sync", {"script": "window.genlabGo()", "args": []})
            read = {"script": "return document.getElementById('out').textContent", "args": []}
            deadline = time.time() + TIMEOUT_S
            while time.time() < deadline:
                out = webdriver(driver_port, "POST", f"{base}/execute/sync", read)
                if out != "pending":
                    break
                time.sleep(1)
            if CPU_PROFILE:
                print_self_times(cdp("Profiler.stop")["profile"])
            table = webdriver(driver_port, "POST", f"{base}/execute/sync",
                              {"script": "return document.getElementById('table').textContent", "args": []})
            if table:
                print(table)
            refused = webdriver(driver_port, "POST", f"{base}/execute/sync",
                                {"script": "return window.genlabCspViolations", "args": []})
        finally:
            webdriver(driver_port, "DELETE", base)
    finally:
        driver.terminate()
        server.shutdown()
    print(out)
    if out == "pending" or '"error"' in out:
        sys.exit("benchmark page did not report a result")
    if refused:
        sys.exit("the benchmark page broke its Content-Security-Policy:" + "".join(f"\n  {v}" for v in refused))


def print_self_times(profile, top=12):
    """The functions with the most samples of their own, as shares of the
    samples outside V8's idle and GC entries (Rust's hash suffixes cut)."""
    name = {n["id"]: n["callFrame"]["functionName"] or "(anonymous)" for n in profile["nodes"]}
    counts = {}
    for node in profile["samples"]:
        f = re.sub(r"::h[0-9a-f]{16}$", "", name[node])
        if f not in ("(idle)", "(program)", "(garbage collector)"):
            counts[f] = counts.get(f, 0) + 1
    total = sum(counts.values()) or 1
    print(f"self time by function, {total} samples:")
    for f, c in sorted(counts.items(), key=lambda kv: -kv[1])[:top]:
        print(f"  {100 * c / total:5.1f}%  {f[:120]}")


if __name__ == "__main__":
    main()
