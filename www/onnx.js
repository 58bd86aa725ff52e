// www/onnx.html: an ONNX model exported by genlab, run by ONNX Runtime Web
// (the npm package onnxruntime-web, its wasm backend, copied into
// www/vendor/ by scripts/setup.sh). No genlab code runs on this page.
import * as ort from './vendor/onnxruntime-web/ort.wasm.min.mjs';

// One thread: threads need SharedArrayBuffer, so cross-origin isolation.
ort.env.wasm.numThreads = 1;
ort.env.wasm.wasmPaths = new URL('./vendor/onnxruntime-web/', import.meta.url).href;

const SAMPLES = 64;
const input = document.getElementById('model');
const again = document.getElementById('again');
const status = document.getElementById('status');
const canvas = document.getElementById('grid');
let session = null;

function say(text, kind = 'info') {
  status.textContent = text;
  status.dataset.kind = kind;
}

/// Standard normal numbers (Box–Muller).
function normal(n) {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const r = Math.sqrt(-2 * Math.log(1 - Math.random()));
    const t = 2 * Math.PI * Math.random();
    out[i] = r * Math.cos(t);
    if (i + 1 < n) out[i + 1] = r * Math.sin(t);
  }
  return out;
}

async function draw() {
  const name = session.inputNames[0];
  const shape = session.inputMetadata?.[0]?.shape ?? [];
  const per = shape.slice(1);
  if (!per.length || per.some((d) => typeof d !== 'number')) throw new Error(`the model's input ${name} has no fixed size per sample (${JSON.stringify(shape)})`);
  const len = per.reduce((a, b) => a * b, 1);
  if (name !== 'z') throw new Error(`this part takes ${name}, not latents z: it is an encoder; choose a generator's or a decoder's file`);
  const data = normal(SAMPLES * len);
  const out = await session.run({ [name]: new ort.Tensor('float32', data, [SAMPLES, ...per]) });
  const images = out[session.outputNames[0]];
  const [n, c, h, w] = images.dims;
  if (c !== 1 || h !== 28 || w !== 28) throw new Error(`the model draws [${images.dims}], not [N, 1, 28, 28] digits`);
  const px = images.data;
  const grid = new ImageData(8 * w, 8 * h);
  for (let s = 0; s < n; s++) {
    const gx = (s % 8) * w;
    const gy = Math.floor(s / 8) * h;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const v = Math.round(255 * Math.min(1, Math.max(0, px[(s * h + y) * w + x])));
        const o = 4 * ((gy + y) * 8 * w + gx + x);
        grid.data.set([v, v, v, 255], o);
      }
    }
  }
  canvas.getContext('2d').putImageData(grid, 0, 0);
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of px) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  // For scripts/page_e2e.py.
  window.onnxResult = { input: name, dims: images.dims, min: lo, max: hi };
  say(`ONNX Runtime Web ${ort.env.versions.web} drew ${n} samples from random latents: output [${images.dims.join(', ')}], pixels ${lo.toFixed(3)} to ${hi.toFixed(3)}.`);
}

input.addEventListener('change', async () => {
  const file = input.files[0];
  if (!file) return;
  again.disabled = true;
  say(`Loading ${file.name}…`);
  try {
    session = await ort.InferenceSession.create(new Uint8Array(await file.arrayBuffer()), { executionProviders: ['wasm'] });
    await draw();
    again.disabled = false;
  } catch (e) {
    session = null;
    window.onnxResult = { error: String(e?.message ?? e) };
    say(`Could not run ${file.name}: ${String(e?.message ?? e).replace(/[\s.]+$/, '')}. Choose an ONNX file exported by genlab.`, 'error');
  }
});

again.addEventListener('click', () => draw().catch((e) => say(`Could not draw: ${e?.message ?? e}`, 'error')));
