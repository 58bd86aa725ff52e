#!/usr/bin/env python3
"""End-to-end test of the built playground (dist/) in headless Chromium.

Serves dist/ on loopback and, through chromedriver (WebDriver, standard
library only):
  1. opens the page, checks the banner names a backend and an adapter;
  2. clicks Train, waits until both panes have advanced, checks both sample
     grids changed since before training and are not blank, and that both
     panes show the classifier's scores (first at step 200);
  3. loads a bad IDX file through the file picker, checks the message, and
     that training goes on;
  4. opens the page with wrong URL parameters and checks each is reported;
  5. on the GPU backend, destroys the device and checks the page says so,
     rebuilds the models on a new device and trains again;
  6. opens the tutorial and checks its mounted instance trains through the
     JS API (mount's handle);
and saves screenshots to target/page-e2e.png and target/page-e2e-tutorial.png.
Usage: scripts/page_e2e.py [DIST_DIR]"""
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
SHOTS = "target"
TIMEOUT_S = int(os.environ.get("PAGE_E2E_TIMEOUT", "240"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def webdriver(port, method, path, body=None):
    """One WebDriver command to chromedriver on `port`; returns its value."""
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return json.load(r)["value"]
    except urllib.error.HTTPError as e:
        raise RuntimeError(f"WebDriver {method} {path}: {e.read().decode()[:500]}") from None


class Browser:
    def __init__(self, driver_port):
        self.port = driver_port
        with open("webdriver.json") as f:
            chrome = json.load(f)["goog:chromeOptions"]
        args = chrome["args"] + ["--headless=new", "--window-size=1280,1000", f"--user-data-dir={tempfile.mkdtemp()}"]
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"args": args},
            "goog:loggingPrefs": {"browser": "ALL"},
            "unhandledPromptBehavior": "accept",
        }}}
        self.base = f"/session/{self.call('POST', '/session', caps)['sessionId']}"

    def call(self, method, path, body=None):
        return webdriver(self.port, method, path, body)

    def go(self, url):
        self.call("POST", f"{self.base}/url", {"url": url})

    def js(self, script, *args):
        return self.call("POST", f"{self.base}/execute/sync", {"script": script, "args": list(args)})

    def js_async(self, script):
        """Runs `script`, which calls arguments[0] with its result."""
        return self.call("POST", f"{self.base}/execute/async", {"script": script, "args": []})

    def find(self, css):
        return list(self.call("POST", f"{self.base}/element", {"using": "css selector", "value": css}).values())[0]

    def click(self, css):
        self.call("POST", f"{self.base}/element/{self.find(css)}/click", {})

    def send_files(self, css, paths):
        self.call("POST", f"{self.base}/element/{self.find(css)}/value", {"text": "\n".join(paths)})

    def screenshot(self, path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(base64.b64decode(self.call("GET", f"{self.base}/screenshot")))

    def console(self):
        try:
            return [e["message"] for e in self.call("POST", f"{self.base}/se/log", {"type": "browser"})]
        except (OSError, RuntimeError):
            return ["(the browser's console could not be read)"]

    def wait(self, what, script, *args, timeout=TIMEOUT_S):
        deadline = time.time() + timeout
        while True:
            got = self.js(script, *args)
            if got:
                return got
            if time.time() > deadline:
                raise AssertionError(f"timed out after {timeout} s waiting for {what}")
            time.sleep(0.5)

    def close(self):
        self.call("DELETE", self.base)


# The grid canvases' pixels: a digest (to see change) and the range (to see ink).
GRIDS = """
return [...document.querySelectorAll('.pane canvas.grid')].map((c) => {
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let lo = 255, hi = 0, sum = 0;
  for (let i = 0; i < d.length; i += 4) { lo = Math.min(lo, d[i]); hi = Math.max(hi, d[i]); sum = (sum * 31 + d[i]) % 1000000007; }
  return { w: c.width, h: c.height, lo, hi, sum };
});
"""
STEPS = "return [...document.querySelectorAll('.pane')].map((p) => Number(p.dataset.step || 0));"


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)
    print(f"ok: {msg}")


def main():
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), functools.partial(Quiet, directory=DIST))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    origin = f"http://127.0.0.1:{server.server_address[1]}"
    driver_port = free_port()
    driver = subprocess.Popen(["chromedriver", f"--port={driver_port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    b = None
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{driver_port}/status", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        b = Browser(driver_port)
        t0 = time.time()

        # 1. The page comes up with two panes and says which backend runs them.
        b.go(f"{origin}/")
        b.wait("two panes", "return document.querySelectorAll('.pane[data-state]').length === 2")
        banner = b.js("return document.querySelector('.banner').textContent")
        print(f"banner: {banner}")
        check("backend" in banner.lower() or "webgpu" in banner.lower(), "the banner names the backend")
        check("Adapter:" in banner, "the banner names the adapter")
        models = b.js("return [...document.querySelectorAll('.pane select.model')].map((s) => s.value)")
        check(models == ["dcgan", "conv-vae"], f"default panes are DCGAN and conv VAE ({models})")
        b.wait("the first grids", "return [...document.querySelectorAll('.pane canvas.grid')].every((c) => c.width > 1)")
        before = b.js(GRIDS)

        # 2. Train: both panes advance, both grids change and show something.
        b.click("button[data-action=train]")
        b.wait("both panes at step 20", "return [...document.querySelectorAll('.pane')].every((p) => Number(p.dataset.step) >= 20)")
        time.sleep(1.0)  # one more picture refresh
        after = b.js(GRIDS)
        steps = b.js(STEPS)
        print(f"steps: {steps} after {time.time() - t0:.0f} s; grids before {before}, after {after}")
        for i, (x, y) in enumerate(zip(before, after)):
            check(x["sum"] != y["sum"], f"pane {i}'s sample grid changed while training")
            check(y["hi"] - y["lo"] > 60, f"pane {i}'s sample grid is not blank (pixel range {y['lo']}..{y['hi']})")
        states = b.js("return [...document.querySelectorAll('.pane')].map((p) => p.dataset.state)")
        check(states == ["training", "training"], f"both panes are training ({states})")

        # 2b. The classifier scores both panes (first at step 200), with the real-digit floor.
        scores = b.wait("both panes' scores",
                        "const t = [...document.querySelectorAll('.pane .score-text')].map((e) => e.textContent);"
                        " return t.length === 2 && t.every((x) => x.startsWith('Score at step')) && t")
        print(f"scores: {scores}")
        check(all("FID" in t and "real digits" in t for t in scores), "both panes show FID and IS against real digits")

        # 3. A bad IDX file gets a message; training goes on with the old data.
        tmp = tempfile.mkdtemp()
        bad_images, labels = os.path.join(tmp, "bad-images.idx"), os.path.join(tmp, "labels.idx")
        with open(bad_images, "wb") as f:
            f.write(b"\x00\x00\x08\x07" + b"\x00" * 60)  # wrong magic
        with open(labels, "wb") as f:
            f.write(b"\x00\x00\x08\x01\x00\x00\x00\x02\x01\x02")
        b.send_files("input.data-files", [bad_images, labels])
        msg = b.wait("the bad-file message",
                     "const m = document.querySelector('.message'); return m && !m.hidden && m.dataset.kind === 'error' && m.textContent")
        print(f"message: {msg}")
        check("Could not load" in msg and "magic" in msg, "a bad IDX file is reported with its cause")
        steps_then = b.js(STEPS)
        b.wait("training to go on", f"return [...document.querySelectorAll('.pane')].every((p, i) => Number(p.dataset.step) > {steps_then}[i])")
        check(True, "training goes on after the bad file")
        b.screenshot(os.path.join(SHOTS, "page-e2e.png"))

        # 4. Wrong URL parameters are each reported.
        b.go(f"{origin}/?models=dcgan,nope&steps=abc&controls=maybe")
        msg = b.wait("the parameter message",
                     "const m = document.querySelector('.message'); return m && !m.hidden && m.textContent")
        print(f"message: {msg}")
        check("models=dcgan,nope" in msg and "steps=abc" in msg and "controls=maybe" in msg,
              "each wrong URL parameter is reported")

        # 5. On the GPU backend, a lost device is reported and the models rebuilt on a new one.
        b.go(f"{origin}/?backend=gpu&models=ae,mlp-vae")
        b.wait("the GPU panes", "return !!window.genlab && window.genlab.state().backend === 'gpu'")
        b.click("button[data-action=train]")
        b.wait("a GPU step", "return window.genlab.state().panes.every((p) => p.step >= 1)")
        check(b.js_async("window.genlab.simulateDeviceLoss().then(arguments[0])"), "the GPU device was destroyed")
        msg = b.wait("the device-loss message",
                     "const m = document.querySelector('.message'); return m && !m.hidden && m.textContent.includes('lost') && m.textContent")
        print(f"message: {msg}")
        b.wait("the rebuilt models", "const s = window.genlab.state(); return s.backend === 'gpu' && s.panes.every((p) => p.state === 'ready')")
        b.click("button[data-action=train]")
        b.wait("a step on the new device", "return window.genlab.state().panes.every((p) => p.step >= 1)")
        check(True, "after a device loss the models are rebuilt on a new device and train")

        # 6. The tutorial's mounted instance trains through the JS API.
        b.go(f"{origin}/www/tutorial.html")
        b.wait("the mounted instance", "return !!window.genlab")
        b.js("window.genlab.train()")
        got = b.wait("the mounted models to advance",
                     "const s = window.genlab.state(); return s.panes.every((p) => p.step >= 5) && s.panes.map((p) => p.model + ':' + p.step)")
        check(True, f"the tutorial's mount() instance trains ({got})")
        frames = b.js("return document.querySelectorAll('iframe').length")
        check(frames == 1, "the tutorial embeds the page in an iframe")
        b.screenshot(os.path.join(SHOTS, "page-e2e-tutorial.png"))
        print(f"page end-to-end test passed in {time.time() - t0:.0f} s; screenshots in {SHOTS}/page-e2e*.png")
    except Exception:
        if b is not None:
            try:
                b.screenshot(os.path.join(SHOTS, "page-e2e-failed.png"))
            except Exception:
                pass
            print("browser console:", *b.console(), sep="\n  ")
        raise
    finally:
        if b is not None:
            b.close()
        driver.terminate()
        server.shutdown()


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        sys.exit(f"page end-to-end test failed: {e}")
