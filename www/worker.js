// One pane's training, in a dedicated module worker: its own instance of
// genlab's wasm, its own model, backend and GPU device, off the page's main
// thread. www/playground.js starts one per pane and speaks the protocol of
// src/app/protocol.rs:
//
//   page → worker  {type: 'start', query, pane, images, labels, classifier, webgpu}
//                  {type: 'request', id, command: {do: …}, files: [Uint8Array…]}
//   worker → page  {type: 'state', state, seq}     a few times a second, and after each request
//                  {type: 'pictures', pictures}    when new (their buffers are transferred)
//                  {type: 'reply', id, ok, value | error, ms}   ms: the module's time on it
//                  {type: 'notice', text, kind}    a device loss and what became of it
//                  {type: 'crashed', why}          a panic: the page starts a new worker
//
// Calls into the module never overlap: requests and frames queue on one chain.

import init, { Playground, crashed } from '../genlab.js';

// Milliseconds of training per frame: no screen waits on this thread, but a
// request waits for the frame in progress.
const BUDGET_MS = 30;
// While someone draws on the pad (a drawing came within this many ms),
// training holds, so that each stroke is answered at once, not after a frame.
const PAD_HOLD_MS = 300;
let lastPad = -Infinity;
const DRAW_EVERY_MS = 500;
const STATE_EVERY_MS = 200;
const IDENTITY = { name: self.name, scope: self.constructor.name };

let pg = null;
let wasm = null;
let chain = Promise.resolve();
let crash = null;
let training = false;
let wake = null;
let seq = 0; // the id of the last request carried out
let lastState = 0;

const post = (m, transfer = []) => self.postMessage(m, transfer);
const reason = (e) => String(e?.message ?? e).replace(/[\s.]+$/, '');

/// Queues `fn` after every earlier call into the module. After a panic
/// every call fails with its message, and the page is told once.
function call(fn) {
  const p = chain.then(() => {
    if (crash) throw new Error(crash);
    return fn();
  });
  chain = p.catch(() => checkCrash());
  return p;
}

function checkCrash() {
  if (crash || !wasm) return;
  let why;
  try {
    why = crashed();
  } catch (e) {
    why = `genlab stopped because of a bug (${reason(e)}). Press Reset to start it again; the training so far is lost.`;
  }
  if (!why) return;
  crash = why;
  post({ type: 'crashed', why });
}

function report(force = false) {
  const now = performance.now();
  if (!force && now - lastState < STATE_EVERY_MS) return;
  lastState = now;
  const state = pg.state();
  state.worker = IDENTITY;
  state.wasm_bytes = wasm.memory.buffer.byteLength;
  training = state.panes.some((p) => p.state === 'training');
  post({ type: 'state', state, seq });
  if (training) wake?.();
}

function sendPictures() {
  const pictures = pg.pictures();
  const transfer = [pictures.curve.buffer];
  for (const k of ['grid', 'reconstructions', 'strip', 'manifold']) if (pictures[k]) transfer.push(pictures[k].rgba.buffer);
  post({ type: 'pictures', pictures }, transfer);
}

async function start(m) {
  wasm = await init({ module_or_path: new URL('../genlab_bg.wasm', import.meta.url) });
  pg = await Playground.create(m.query, m.pane, m.images, m.labels, m.classifier, m.webgpu);
  for (const text of pg.notices()) post({ type: 'notice', text, kind: 'warn' });
  report(true);
  loop();
  // The first pictures after the first state: the page is ready without them.
  call(async () => {
    if ((await pg.frame(0, 0)) === 'drawn') sendPictures();
  }).catch(() => {});
}

async function request(m) {
  try {
    let ms = 0;
    const value = await call(async () => {
      const t = performance.now();
      const v = await pg.handle(m.command, m.files ?? []);
      ms = performance.now() - t;
      return v;
    });
    seq = m.id;
    const transfer = value instanceof Uint8Array ? [value.buffer]
      : Array.isArray(value) ? value.map(([, bytes]) => bytes.buffer) : [];
    post({ type: 'reply', id: m.id, ok: true, value, ms }, transfer);
  } catch (e) {
    seq = m.id;
    post({ type: 'reply', id: m.id, ok: false, error: crash ?? reason(e) });
  }
  if (crash) return;
  // The pad's questions change nothing: no state to report, nothing to redraw
  // (and the next stroke should not wait for a slice of scoring).
  if (['pad', 'held-out'].includes(m.command?.do)) return;
  await call(async () => {
    report(true);
    // A changed model has new pictures at once (a blank grid until then would
    // flash): a frame of no steps draws exactly when the command made them stale.
    if ((await pg.frame(0, 0)) === 'drawn') {
      sendPictures();
      report(true);
    }
  }).catch(() => {});
}

/// Lets the messages that arrived meanwhile run (a task, not a 4 ms timer).
const channel = new MessageChannel();
const yieldToMessages = () => new Promise((r) => {
  channel.port1.onmessage = () => r();
  channel.port2.postMessage(0);
});

async function loop() {
  while (!crash) {
    if (!training) {
      await new Promise((r) => { wake = r; });
      wake = null;
      continue;
    }
    const drawing = performance.now() - lastPad;
    if (drawing < PAD_HOLD_MS) {
      await new Promise((r) => setTimeout(r, PAD_HOLD_MS - drawing));
      continue;
    }
    try {
      await call(async () => {
        const result = await pg.frame(BUDGET_MS, DRAW_EVERY_MS);
        if (result === 'device-lost') return recover();
        if (result === 'drawn') sendPictures();
        report();
      });
    } catch (e) {
      if (crash) return;
      await call(() => recoverOrPause(e)).catch(() => {});
    }
    await yieldToMessages();
  }
}

/// A frame failed: a device lost mid-frame fails its read before the loss
/// is reported; anything else pauses training with the error.
async function recoverOrPause(e) {
  await new Promise((r) => setTimeout(r, 200));
  if (pg.device_lost()) return recover();
  post({ type: 'notice', text: `Training was paused by an error: ${reason(e)}. Press Train to go on, or Reset to start over.`, kind: 'error' });
  await pg.handle({ do: 'pause' }, []);
  report(true);
}

async function recover() {
  post({ type: 'notice', text: 'The GPU device was lost: rebuilding the models on a new device (their training starts over)…', kind: 'error' });
  try {
    await pg.rebuild('');
  } catch (e) {
    post({ type: 'notice', text: `The GPU device was lost and the models could not be rebuilt: ${reason(e)}. Reload the page to start again.`, kind: 'error' });
    training = false;
    return;
  }
  post({ type: 'notice', text: 'The GPU device was lost and the models were rebuilt on a new device; press Train to start again.', kind: 'warn' });
  await pg.frame(0, 0);
  sendPictures();
  report(true);
}

// A panic inside an async call aborts the wasm in a microtask: no promise
// settles, the error is uncaught. Say what the module recorded, in the pane.
self.addEventListener('error', (e) => {
  checkCrash();
  if (crash) e.preventDefault();
});
self.addEventListener('unhandledrejection', (e) => {
  checkCrash();
  if (crash) e.preventDefault();
});

self.onmessage = (e) => {
  const m = e.data;
  if (m.type === 'start') {
    call(() => start(m)).catch((err) => {
      if (!crash) post({ type: 'failed', why: reason(err) });
    });
  } else if (m.type === 'request') {
    if (m.command?.do === 'pad') lastPad = performance.now();
    request(m);
  }
  wake?.();
};
