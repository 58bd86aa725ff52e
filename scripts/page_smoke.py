#!/usr/bin/env python3
"""Opens the built page (dist/) in headless Chromium with WebGPU and checks
that the kernel it runs matches the CPU reference: the page, not just the
build. Talks WebDriver to chromedriver with the standard library only.
Serves dist/ on loopback, saves a screenshot to target/page-smoke.png.
Usage: scripts/page_smoke.py [DIST_DIR]"""
import base64
import functools
import http.server
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

DIST = sys.argv[1] if len(sys.argv) > 1 else "dist"
SHOT = os.path.join("target", "page-smoke.png")
TIMEOUT_S = int(os.environ.get("PAGE_SMOKE_TIMEOUT", "120"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def webdriver(port, method, path, body=None):
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.load(r)["value"]


def main():
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=DIST)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    page = f"http://127.0.0.1:{server.server_address[1]}/"

    driver_port = free_port()
    driver = subprocess.Popen(["chromedriver", f"--port={driver_port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                webdriver(driver_port, "GET", "/status")
                break
            except OSError:
                time.sleep(0.1)
        with open("webdriver.json") as f:
            chrome = json.load(f)["goog:chromeOptions"]
        args = chrome["args"] + ["--headless=new", "--window-size=900,640", f"--user-data-dir={tempfile.mkdtemp()}"]
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"args": args},
            "goog:loggingPrefs": {"browser": "ALL"},
        }}}
        session = webdriver(driver_port, "POST", "/session", caps)["sessionId"]
        base = f"/session/{session}"
        try:
            webdriver(driver_port, "POST", f"{base}/url", {"url": page})
            read = {"script": "return [document.getElementById('adapter').textContent, document.getElementById('result').textContent]", "args": []}
            deadline = time.time() + TIMEOUT_S
            adapter, result = webdriver(driver_port, "POST", f"{base}/execute/sync", read)
            while result.startswith("running") and time.time() < deadline:
                time.sleep(0.5)
                adapter, result = webdriver(driver_port, "POST", f"{base}/execute/sync", read)
            os.makedirs("target", exist_ok=True)
            with open(SHOT, "wb") as f:
                f.write(base64.b64decode(webdriver(driver_port, "GET", f"{base}/screenshot")))
            try:
                console = [e["message"] for e in webdriver(driver_port, "POST", f"{base}/se/log", {"type": "browser"})]
            except OSError:
                console = ["(the browser's console could not be read)"]
        finally:
            webdriver(driver_port, "DELETE", base)
    finally:
        driver.terminate()
        server.shutdown()
    print(f"page adapter: {adapter}")
    print(f"page result: {result}")
    print(f"screenshot: {SHOT}")
    if "matches the CPU reference" not in result:
        print("browser console:", *console, sep="\n  ")
        sys.exit("page smoke test failed: the page did not report a kernel matching the CPU reference")


if __name__ == "__main__":
    main()
