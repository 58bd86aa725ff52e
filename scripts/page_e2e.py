#!/usr/bin/env python3
"""End-to-end test of the built playground (dist/) in headless Chromium.

Serves dist/ on loopback and, through chromedriver (WebDriver, standard
library only):
  1. opens the page, checks the banner names a backend and an adapter;
  2. clicks Train, waits until both panes have advanced, checks both sample
     grids changed since before training and are not blank, and that both
     panes show the classifier's scores (first at step 200);
  3. loads a bad IDX file through the file picker, checks the message, and
     that training goes on; then weights whose header describes a huge
     model through a pane's "Load weights", checks they are refused with a
     message, and that both panes go on training;
  4. opens the page with wrong URL parameters and checks each is reported,
     as data from the address (a long name shortened, not echoed);
  5. on the GPU backend, destroys the device and checks the page says so,
     rebuilds the models on a new device and trains again;
  6. opens the tutorial and checks its mounted instance trains through the
     JS API (mount's handle);
  7. hides WebGPU from the page and checks the banner says so in one short
     sentence, with the error itself under "Technical details";
and saves screenshots to target/page-e2e.png and target/page-e2e-tutorial.png.
Every response carries the Content-Security-Policy of Trunk.toml, as
`trunk serve` sends it; any violation on any page fails the test.
Usage: scripts/page_e2e.py [DIST_DIR]"""
import base64
import functools
import html.parser
import http.server
import json
import os
import re
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
import urllib.request

DIST = sys.argv[1] if len(sys.argv) > 1 else "dist"
SHOTS = "target"
TIMEOUT_S = int(os.environ.get("PAGE_E2E_TIMEOUT", "240"))
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")

# The pages' policy has one copy, in Trunk.toml, which `trunk serve` sends.
with open(os.path.join(ROOT, "Trunk.toml"), "rb") as f:
    CSP = tomllib.load(f)["serve"]["headers"]["Content-Security-Policy"]


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


def serve(dist):
    """Serves `dist` on loopback, every response with the pages' policy; returns (server, origin)."""
    class Handler(http.server.SimpleHTTPRequestHandler):
        extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, ".wasm": "application/wasm", ".js": "text/javascript", ".mjs": "text/javascript"}

        def end_headers(self):
            self.send_header("Content-Security-Policy", CSP)
            super().end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), functools.partial(Handler, directory=dist))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def chromedriver():
    """Starts chromedriver on a free port and waits until it answers: (process, port)."""
    port = free_port()
    proc = subprocess.Popen(["chromedriver", f"--port={port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=1)
            break
        except OSError:
            time.sleep(0.1)
    return proc, port


class InlineFinder(html.parser.HTMLParser):
    """What in a page the policy refuses before it runs: inline scripts and styles."""
    def __init__(self):
        super().__init__()
        self.found = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "script" and not a.get("src"):
            self.found.append(f"line {self.getpos()[0]}: an inline <script>")
        if tag == "style":
            self.found.append(f"line {self.getpos()[0]}: a <style> element")
        if "style" in a:
            self.found.append(f"line {self.getpos()[0]}: a style attribute on <{tag}>")
        self.found += [f"line {self.getpos()[0]}: an {k} handler on <{tag}>" for k in a if k.startswith("on")]


class Browser:
    def __init__(self, driver_port, extra_args=()):
        self.port = driver_port
        with open("webdriver.json") as f:
            chrome = json.load(f)["goog:chromeOptions"]
        args = chrome["args"] + ["--headless=new", "--window-size=1280,1000", f"--user-data-dir={tempfile.mkdtemp()}", *extra_args]
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"args": args},
            "goog:loggingPrefs": {"browser": "ALL"},
            "unhandledPromptBehavior": "accept",
        }}}
        self.base = f"/session/{self.call('POST', '/session', caps)['sessionId']}"
        self.log = []  # the console so far (reading it empties the browser's buffer)
        self.checked = 0  # how much of it check_csp has seen

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
        """Every console line so far."""
        try:
            self.log += [e["message"] for e in self.call("POST", f"{self.base}/se/log", {"type": "browser"})]
        except (OSError, RuntimeError):
            return self.log + ["(the browser's console could not be read)"]
        return self.log

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
# The first grid's 10 rows (a conditional GAN's, one per digit): a digest each.
ROWS = """
const c = document.querySelector('.pane canvas.grid');
const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
return Array.from({ length: 10 }, (_, r) => {
  let sum = 0;
  for (let y = 2 + r * 30; y < 30 + r * 30; y++) for (let x = 0; x < c.width; x++) sum = (sum * 31 + d[4 * (y * c.width + x)]) % 1000000007;
  return sum;
});
"""
# The pad and each pane's answer to it: digests and ranges of their canvases.
PAD_VIEW = """
const pic = (c) => {
  if (!c || c.closest('figure').hidden) return null;
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let lo = 255, hi = 0, sum = 0;
  for (let i = 0; i < d.length; i += 4) { lo = Math.min(lo, d[i]); hi = Math.max(hi, d[i]); sum = (sum * 31 + d[i]) % 1000000007; }
  return { w: c.width, lo, hi, sum };
};
return {
  digit: pic(document.querySelector('canvas.pad-digit')),
  reading: document.querySelector('.pad-reading').textContent,
  recon: [...document.querySelectorAll('.pane canvas.pad-recon')].map(pic),
  styles: pic(document.querySelectorAll('.pane canvas.styles')[1]),
};
"""
STEPS = "return [...document.querySelectorAll('.pane')].map((p) => Number(p.dataset.step || 0));"


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)
    print(f"ok: {msg}")


# What the page's own record (www/csp-violations.js) holds, in the page and its frames.
VIOLATIONS = """
const all = [window, ...[...document.querySelectorAll('iframe')].map((f) => f.contentWindow)];
return all.flatMap((w) => w.genlabCspViolations === undefined
  ? [`${w.location.href}: no record of violations (www/csp-violations.js did not run)`]
  : w.genlabCspViolations.map((v) => `${w.location.href}: ${v}`));
"""


def check_csp(b, page):
    """Fails on any Content-Security-Policy violation since the last check: in
    the console (Chromium logs each refusal), and in the pages' own record."""
    log = b.console()
    refused = [m for m in log[b.checked:] if "Content Security Policy" in m or "Refused to" in m]
    b.checked = len(log)
    refused += b.js(VIOLATIONS)
    check(not refused, f"no Content-Security-Policy violation on {page}" + "".join(f"\n  {m}" for m in refused))


# A safetensors file with no tensors whose settings describe a DCGAN far
# too big to build: the page must refuse it, not try to allocate it.
HUGE_DCGAN = {"__metadata__": {
    "genlab.model": "dcgan", "genlab.batch": "1024", "genlab.latent": "1024", "genlab.hidden": "128",
    "genlab.width": "256", "genlab.lr": "0.0001", "genlab.adam_beta1": "0.9", "genlab.beta": "1",
    "genlab.gan_loss": "bce", "genlab.dropout": "0.3", "genlab.seed": "1", "genlab.step": "0"}}


def safetensors(header):
    """A safetensors file: the JSON header's length (u64, little-endian), the header, no data."""
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text


def main():
    # No inline script or style in the built pages (the policy would refuse it).
    for page in ["index.html", "www/tutorial.html", "www/bench.html", "www/onnx.html"]:
        finder = InlineFinder()
        with open(os.path.join(DIST, page), encoding="utf-8") as f:
            finder.feed(f.read())
        check(not finder.found, f"{DIST}/{page} has no inline script or style" + "".join(f"\n  {m}" for m in finder.found))

    server, origin = serve(DIST)
    with urllib.request.urlopen(f"{origin}/") as r:
        check(r.headers["Content-Security-Policy"] == CSP, f"the test server sends Trunk.toml's policy: {CSP}")
    driver, driver_port = chromedriver()
    b = None
    try:
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
        # 1b. The settings are Rust's schema, rendered: one control per setting,
        # each shown only for the models it applies to, with the pane's values.
        view = b.js("""
            const s = window.genlab.state();
            return [...document.querySelectorAll('.pane')].map((p, i) => ({
              keys: [...p.querySelectorAll('.settings [data-key]')].map((e) => e.dataset.key),
              shown: [...p.querySelectorAll('.settings label.field')].filter((l) => !l.hidden)
                .map((l) => l.querySelector('[data-key]').dataset.key),
              latent: p.querySelector('.settings [data-key=latent]').closest('label').querySelector('span').textContent,
              lr: Number(p.querySelector('.settings [data-key=lr]').value), want_lr: s.panes[i].lr,
              options: [...p.querySelectorAll('select.model option')].map((o) => o.value),
            }));""")
        print(f"settings: {view}")
        for v in view:
            check({"latent", "batch", "lr", "seed", "gan_loss", "beta", "d_steps"} <= set(v["keys"]), f"every page setting has a control ({v['keys']})")
            check(v["lr"] == v["want_lr"], f"the learning-rate box shows the pane's rate ({v['lr']})")
            check(set(v["options"]) == {"mlp-gan", "dcgan", "ae", "mlp-vae", "conv-vae", "cdcgan", "cvae", "conv-cvae"}, f"the model menu is the registry's ({v['options']})")
        check("gan_loss" in view[0]["shown"] and "beta" not in view[0]["shown"] and view[0]["latent"] == "Noise size (z)",
              f"the DCGAN pane shows the GAN settings ({view[0]['shown']}, {view[0]['latent']})")
        check("beta" in view[1]["shown"] and "gan_loss" not in view[1]["shown"] and view[1]["latent"] == "Latent size",
              f"the VAE pane shows the VAE settings ({view[1]['shown']}, {view[1]['latent']})")
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
        # The training runs in the panes' dedicated workers, each its own module.
        workers = b.js("return window.genlab.state().panes.map((p) => p.worker)")
        check([w["scope"] for w in workers] == ["DedicatedWorkerGlobalScope"] * 2
              and [w["name"] for w in workers] == ["genlab-pane-1", "genlab-pane-2"],
              f"each pane reports its own dedicated worker ({workers})")

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

        # 3b. Weights that describe a model too big to build are refused with a
        # message (saying why, from Rust); the pane keeps its model and both train on.
        huge = os.path.join(tmp, "huge-dcgan.safetensors")
        with open(huge, "wb") as f:
            f.write(safetensors(HUGE_DCGAN))
        b.send_files(".pane[data-pane='0'] input.weights-file", [huge])
        msg = b.wait("the bad-weights message",
                     "const m = document.querySelector('.message');"
                     " return m && !m.hidden && m.dataset.kind === 'error' && m.textContent.includes('huge-dcgan.safetensors') && m.textContent")
        print(f"message: {msg}")
        # The page's words end at the first ": "; what follows is the reason the module gave,
        # which must say how big the model would have been.
        why = msg.split(": ", 1)[1]
        check("weights" in msg and re.search(r"\d [KMGT]i?B\b", why),
              "weights describing a huge model are refused with a message that says how big it would be")
        steps_then = b.js(STEPS)
        b.wait("training to go on", f"return [...document.querySelectorAll('.pane')].every((p, i) => Number(p.dataset.step) > {steps_then}[i])")
        check(True, f"both panes go on training after the refused weights ({steps_then} -> {b.js(STEPS)})")
        b.screenshot(os.path.join(SHOTS, "page-e2e.png"))
        check_csp(b, "the page")

        # 3c. A panic in pane 0's worker (a bug in its module) is reported in that
        # pane, not answered with "busy" forever; the other pane trains on; the
        # pane's Reset starts a new worker, which trains again.
        b.js("window.genlab.simulateCrash(0)")
        why = b.wait("the crash message",
                     "const m = document.querySelector('.message'); const p = document.querySelector('.pane[data-pane=\"0\"]');"
                     " return p.dataset.state === 'crashed' && m && !m.hidden && p.querySelector('.pane-error').textContent")
        check("bug" in why and "Reset" in why, f"a panic is reported in its pane with what to do: {why}")
        other = b.js("return document.querySelector('.pane[data-pane=\"1\"]').dataset.state")
        check(other == "training", f"the other pane is still training after the crash ({other})")
        steps_then = b.js(STEPS)
        b.wait("the other pane to go on", f"return Number(document.querySelector('.pane[data-pane=\"1\"]').dataset.step) > {steps_then}[1] + 3")
        check(True, f"the other pane keeps training while pane 0 is crashed ({steps_then} -> {b.js(STEPS)})")
        b.click(".pane[data-pane='0'] .pane-error button")
        b.wait("a new worker", "return document.querySelector('.pane[data-pane=\"0\"]').dataset.state === 'ready'")
        b.click("button[data-action=train]")
        b.wait("training after the restart", "return [...document.querySelectorAll('.pane')].every((p) => p.dataset.state === 'training' && Number(p.dataset.step) > 5)")
        workers = b.js("return window.genlab.state().panes.map((p) => p.worker)")
        check(workers[0]["name"] == "genlab-pane-1-restart-1", f"pane 0 trains in its new worker ({workers[0]})")
        check_csp(b, "the page after a restart")

        # 3d. Pause, clicked while both panes train, shows "paused" within a second
        # (each worker finishes the step it is in; the main thread answers at once).
        clicked = b.js("document.querySelector('button[data-action=pause]').click(); return performance.now()")
        paused = b.wait("both panes paused", "return [...document.querySelectorAll('.pane')].every((p) => p.dataset.state === 'paused') && performance.now()")
        check(paused - clicked < 1000, f"Pause shows on both panes within a second ({paused - clicked:.0f} ms, polled)")
        time.sleep(1.0)
        steps_then = b.js(STEPS)
        time.sleep(1.5)
        check(b.js(STEPS) == steps_then, f"paused panes stay at their steps ({steps_then})")

        # 4. Wrong URL parameters are each reported, under a line that says they
        # come from the address; a name is data, shortened, never a message of its own.
        b.go(f"{origin}/?models=dcgan,nope&steps=abc&controls=maybe&Your%20session%20has%20expired%2C%20call%200800%20123%20456=1")
        msg = b.wait("the parameter message",
                     "const m = document.querySelector('.message'); return m && !m.hidden && m.textContent")
        items = b.js("return [...document.querySelectorAll('.message li')].map((li) => li.textContent)")
        print(f"message: {msg}")
        check(msg.startswith("This page’s address has parameters"), "the message says the parameters come from the address")
        check(any("models=dcgan,nope" in t for t in items) and any("steps=abc" in t for t in items)
              and any("controls=maybe" in t for t in items), f"each wrong URL parameter is reported, one per item ({items})")
        check(any("Your session" in t and "…" in t for t in items) and "0800" not in msg,
              "an unknown parameter's long name is quoted shortened, not shown whole")
        check_csp(b, "the page with wrong parameters")

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
        check_csp(b, "the GPU page")

        # 6. The tutorial's mounted instance trains through the JS API.
        b.go(f"{origin}/www/tutorial.html")
        b.wait("the mounted instance", "return !!window.genlab")
        b.js("window.genlab.train()")
        got = b.wait("the mounted models to advance",
                     "const s = window.genlab.state(); return s.panes.every((p) => p.step >= 5) && s.panes.map((p) => p.model + ':' + p.step)")
        check(True, f"the tutorial's mount() instance trains ({got})")
        frames = b.js("return [...document.querySelectorAll('iframe')].map((f) => f.getAttribute('src'))")
        check(len(frames) == 2 and "pad=1" in frames[1] and "models=cdcgan,cvae" in frames[1],
              f"the tutorial embeds the page twice: the 2-D VAE, then the conditional models with the pad ({frames})")
        b.wait("the embedded page", "const w = document.querySelector('iframe').contentWindow; return !!(w && w.genlab)")
        b.screenshot(os.path.join(SHOTS, "page-e2e-tutorial.png"))
        check_csp(b, "the tutorial and its embedded page")

        # 6b. The benchmark page refuses a step count that would freeze the tab.
        b.go(f"{origin}/www/bench.html?model=mlp-gan&batch=8&steps=4294967295&backend=cpu")
        out = b.wait("the benchmark's answer", "const t = document.getElementById('out').textContent; return t !== 'pending' && t")
        check("steps must be 1 to 1000" in out, f"bench.html refuses steps=4294967295 at once: {out}")
        check_csp(b, "the benchmark page")
        # ...times the page's preset on the CPU backend in wasm (its own batch), and refuses an unknown size.
        b.go(f"{origin}/www/bench.html?model=dcgan&size=page&steps=2&warmup=0&backend=cpu")
        out = b.wait("the benchmark's answer", "const t = document.getElementById('out').textContent; return t !== 'pending' && t")
        got = json.loads(out)
        check(got.get("size") == "page" and got.get("batch") == 32 and got.get("ms_per_step", 0) > 0
              and got.get("device", "").startswith("CPU"),
              f"bench.html?size=page times the page's DCGAN preset on the CPU backend ({out})")
        b.go(f"{origin}/www/bench.html?model=dcgan&size=huge&steps=2&backend=cpu")
        out = b.wait("the benchmark's answer", "const t = document.getElementById('out').textContent; return t !== 'pending' && t")
        check("size=huge: choose page or full" in out, f"bench.html refuses size=huge: {out}")
        # ...and profiles a step op by op on the browser's WebGPU (a small model: SwiftShader is slow).
        b.go(f"{origin}/www/bench.html?model=mlp-gan&batch=2&reps=1&profile=1")
        out = b.wait("the profile", "const t = document.getElementById('out').textContent; return t !== 'pending' && t")
        prof = json.loads(out)
        table = b.js("return document.getElementById('table').textContent")
        check(prof.get("profile") == "mlp-gan" and len(prof["rows"]) > 10 and prof["step_ms"] > 0
              and sum(r["dispatches"] for r in prof["rows"]) == prof["dispatches"]
              and "AdamStep" in table and "by kernel:" in table,
              f"bench.html?profile=1 profiles the MLP GAN's step on WebGPU ({prof.get('method')}, "
              f"{len(prof.get('rows', []))} ops, step {prof.get('step_ms')} ms)")

        # 6c. A pane's Save… → ONNX and PyTorch files; the ONNX file runs in ONNX
        # Runtime Web on www/onnx.html (no genlab code on that page).
        b.go(f"{origin}/")
        b.wait("the panes", "return !!window.genlab && window.genlab.state().panes.length === 2")
        names = b.js_async("window.genlab.exportFiles(0, 'pytorch').then((f) => arguments[0](f.map((x) => [x.name, x.bytes.length])))")
        check([n for n, _ in names] == ["genlab-dcgan-step0-generator.safetensors", "model.py"] and all(size > 0 for _, size in names),
              f"Save… → PyTorch gives the state dict and model.py ({names})")
        onnx_b64 = b.js_async("""window.genlab.exportFiles(0, 'onnx').then(([f]) => {
            let s = '';
            for (let i = 0; i < f.bytes.length; i += 8192) s += String.fromCharCode.apply(null, f.bytes.subarray(i, i + 8192));
            arguments[0]([f.name, btoa(s)]);
        })""")
        check(onnx_b64[0] == "genlab-dcgan-step0-generator.onnx", f"Save… → ONNX gives {onnx_b64[0]}")
        onnx_path = os.path.join(tmp, onnx_b64[0])
        with open(onnx_path, "wb") as f:
            f.write(base64.b64decode(onnx_b64[1]))
        b.go(f"{origin}/www/onnx.html")
        b.send_files("#model", [onnx_path])
        got = b.wait("ONNX Runtime Web's samples", "return window.onnxResult")
        status = b.js("return document.getElementById('status').textContent")
        print(f"onnx.html: {got}; {status}")
        check(got.get("dims") == [64, 1, 28, 28] and 0 <= got["min"] < got["max"] <= 1,
              "the exported DCGAN generator runs in ONNX Runtime Web: 64 samples [64, 1, 28, 28] in [0, 1]")
        check_csp(b, "the ONNX Runtime Web page")

        # 6b. Conditional models and the drawing pad: a conditional GAN's grid
        # has a row per digit (rows differ); the digit picker makes them one
        # digit (rows equal); a stroke on the pad (pointer events) gets the
        # conditional VAE's reconstruction and its style as every digit, and
        # the classifier's reading; a second stroke changes the reconstruction.
        b.go(f"{origin}/?models=cdcgan,cvae&pad=1&backend=cpu")
        b.wait("two conditional panes", "return document.querySelectorAll('.pane[data-state]').length === 2")
        b.wait("the conditional grid", "return document.querySelector('.pane canvas.grid').height === 302")
        b.click("button[data-action=train]")
        b.wait("both panes at step 30", "return [...document.querySelectorAll('.pane')].every((p) => Number(p.dataset.step) >= 30)")
        time.sleep(1.0)
        rows = b.js(ROWS)
        print(f"cdcgan grid rows: {rows}")
        check(len(set(rows)) == 10, f"the conditional GAN's 10 rows (one per digit) all differ ({rows})")
        check(b.js("return !document.querySelector('.pane .digit-picker').hidden && document.querySelectorAll('.pane .digit-picker:not([hidden])').length === 2"),
              "both conditional panes show the digit picker")
        b.js("const s = document.querySelector('.pane select.digit'); s.value = '3'; s.dispatchEvent(new Event('change'));")
        b.wait("one digit in every row", f"const r = (() => {{ {ROWS} }})(); return r.every((v) => v === r[0]);")
        caption = b.js("return document.querySelector('.pane figure.grid figcaption').textContent")
        check("digit 3" in caption, f"the grid's caption says which digit ({caption})")
        def stroke(x0, y0, x1, y1):
            """A pen stroke from (x0, y0) to (x1, y1), pixels from the pad's centre."""
            b.js("document.querySelector('canvas.pad').scrollIntoView({block: 'center'})")
            cx, cy = b.js("const r = document.querySelector('canvas.pad').getBoundingClientRect();"
                          " return [Math.round(r.left + r.width / 2), Math.round(r.top + r.height / 2)]")
            at = lambda x, y: {"origin": "viewport", "x": cx + x, "y": cy + y}
            b.call("POST", f"{b.base}/actions", {"actions": [{"type": "pointer", "id": "pen", "parameters": {"pointerType": "pen"}, "actions": [
                {"type": "pointerMove", "duration": 0, **at(x0, y0)},
                {"type": "pointerDown", "button": 0},
                *[{"type": "pointerMove", "duration": 60, **at(x0 + (x1 - x0) * k // 10, y0 + (y1 - y0) * k // 10)} for k in range(1, 11)],
                {"type": "pointerUp", "button": 0}]}]})
            b.call("DELETE", f"{b.base}/actions")

        stroke(0, -80, 0, 80)  # a "1"
        b.wait("the pad's answers", "return window.genlab.padTimes.length > 0 && !document.querySelectorAll('.pane figure.pad-recon')[1].hidden")
        time.sleep(1.0)
        first = b.js(PAD_VIEW)
        print(f"pad after one stroke: {first}")
        check(first["recon"][0] is None, "the conditional GAN answers no reconstruction (it has no encoder)")
        check(first["recon"][1] and first["recon"][1]["hi"] - first["recon"][1]["lo"] > 60,
              "the conditional VAE's reconstruction of the drawing is not blank")
        check(first["styles"] and first["styles"]["w"] == 280, "the conditional VAE redraws the drawing's style as each digit")
        check("reads a" in first["reading"], f"the classifier's reading is shown ({first['reading']})")
        check(first["digit"]["hi"] > 200, "the drawing as the models see it has ink")
        stroke(-50, -80, 50, -80)  # a top bar: a "7"
        b.wait("a new answer", "return window.genlab.padTimes.length > 1")
        time.sleep(1.0)
        second = b.js(PAD_VIEW)
        check(second["recon"][1]["sum"] != first["recon"][1]["sum"], "a second stroke changes the reconstruction")
        times = sorted(b.js("return window.genlab.padTimes"))
        work = sorted(b.js("return window.genlab.padWork"))
        print(f"pad answers while both panes train: {len(times)}, median {times[len(times) // 2]:.0f} ms (max {times[-1]:.0f});"
              f" the worker's own time on each: median {work[len(work) // 2]:.1f} ms (max {work[-1]:.1f})")
        b.click("button[data-action=held-out]")
        b.wait("a held-out digit on the pad", f"return window.genlab.padTimes.length > {len(times)}")
        check_csp(b, "the conditional page with the pad")
        b.screenshot(os.path.join(SHOTS, "page-e2e-pad.png"))
        b.click("button[data-action=pause]")

        # 7. Without WebGPU the banner says so in a sentence; the error itself
        # waits under "Technical details". (Hidden before the page's scripts run.)
        b.call("POST", f"{b.base}/goog/cdp/execute", {"cmd": "Page.addScriptToEvaluateOnNewDocument", "params": {
            "source": "Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined });"}})
        b.go(f"{origin}/?models=mlp-gan,ae")
        b.wait("the page without WebGPU", "return !!window.genlab")
        banner, summary, detail = b.js("const d = document.querySelector('.note-detail');"
                                       " return [document.querySelector('.banner').textContent,"
                                       " d && !d.hidden && d.querySelector('summary').textContent, d && d.querySelector('pre').textContent]")
        print(f"banner: {banner}\ndetails: {detail}")
        check("WebGPU" in banner and len(banner) < 400, "without WebGPU the banner says so, briefly")
        check(summary == "Technical details" and detail and detail not in banner,
              "the error itself is under Technical details, not in the banner")
        check_csp(b, "the page without WebGPU")
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
