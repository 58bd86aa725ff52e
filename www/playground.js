// The genlab playground: the page around genlab's wasm module.
//
//   import { mount } from './www/playground.js';
//   const lab = await mount(element, { models: 'dcgan,conv-vae', autostart: 1 });
//   lab.train(); lab.pause(); lab.reset(); lab.state();
//   lab.addEventListener('progress', e => console.log(e.detail));
//
// The options are the page's URL parameters (a query string works too):
// models, autostart, seed, steps, controls, charts, compact, backend, size.
//
// Each pane trains in its own dedicated Web Worker (www/worker.js, its own
// instance of the module, its own backend and GPU device), so the panes run
// on separate cores and this thread only keeps the DOM: it sends commands
// (src/app/protocol.rs) and draws the state and pictures the workers post.
// Here the module only describes: the registry (schema), the options a
// query asks for (page), the run-state machine (next_state). The model
// logic, the parameter checks and the run states are Rust (src/app/).

import init, { schema, page, next_state } from '../genlab.js';

// The registry, as Rust describes it (genlab::models::schema): the models
// with their titles and loss names, every setting with its range and the
// models it applies to, the loss labels. This file holds none of them.
let SCHEMA = null;
const title = (model) => SCHEMA.models.find((m) => m.name === model)?.title ?? model;
const lossLabel = (name) => Object.fromEntries(SCHEMA.losses)[name] ?? name;
const COLORS = ['#e0663a', '#3a8ee0'];

let moduleReady = null;
function loadModule() {
  moduleReady ??= init({ module_or_path: new URL('../genlab_bg.wasm', import.meta.url) }).then(() => {
    SCHEMA = schema();
  });
  return moduleReady;
}

let dataReady = null;
let classifierReady = null;

async function fetchBytes(url) {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`could not fetch ${url}: HTTP ${r.status}`);
  return new Uint8Array(await r.arrayBuffer());
}

function bundledDigits() {
  dataReady ??= Promise.all([
    fetchBytes(new URL('data/mnist-train-10k-images-idx3-ubyte.gz', import.meta.url)),
    fetchBytes(new URL('data/mnist-train-10k-labels-idx1-ubyte.gz', import.meta.url)),
  ]);
  return dataReady;
}

/// The scoring classifier: without it the page trains but shows no scores.
function classifierBytes() {
  classifierReady ??= fetchBytes(new URL('classifier.safetensors', import.meta.url)).catch((e) => {
    console.warn(`genlab: no scores: ${e}`);
    return undefined;
  });
  return classifierReady;
}

function toQuery(options) {
  if (typeof options === 'string') return options;
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(options || {})) {
    q.set(k, Array.isArray(v) ? v.join(',') : typeof v === 'boolean' ? (v ? '1' : '0') : String(v));
  }
  return q.toString();
}

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

let uid = 0;
const nextId = (what) => `genlab-${what}-${++uid}`;

function labelled(text, input) {
  input.id ||= nextId('in');
  return el('label', { for: input.id, class: 'field' }, el('span', {}, text), input);
}

function download(blob, name) {
  const a = el('a', { href: URL.createObjectURL(blob), download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

/// An error's text, for a sentence that goes on after it: wasm throws
/// strings, JavaScript throws Errors; no final full stop.
export function reason(e) {
  return String(e?.message ?? e).replace(/[\s.]+$/, '');
}

const fmt = (v) => (Math.abs(v) >= 100 ? v.toFixed(1) : Math.abs(v) >= 1 ? v.toFixed(3) : v.toPrecision(3));

/// Mounts a playground in `element`; resolves to its handle once every
/// pane's worker has built its model.
export async function mount(element, options = {}) {
  const query = toQuery(options);
  // The digits and the classifier load while the module compiles.
  bundledDigits();
  classifierBytes();
  await loadModule();
  const { options: parsed, problems } = page(query);
  const lab = new Lab(element, query, parsed);
  // A string is the page's own query (www/main.js): problems with it are about the address.
  lab.showProblems(problems, typeof options === 'string');
  await lab.started;
  if (parsed.autostart) lab.train();
  return lab;
}

/// One pane's worker: starts it, sends it commands (each a promise of the
/// worker's answer), and hands what it posts to the Lab.
class PaneWorker {
  constructor(lab, i) {
    this.lab = lab;
    this.i = i;
    this.restarts = 0;
  }

  /// Starts a new worker (a new instance of the module); resolves when its
  /// pane is built.
  spawn() {
    this.worker?.terminate();
    this.failAll(new Error('the worker was restarted'));
    this.pending = new Map();
    this.nextId = 1;
    this.state = null;
    this.seq = 0;
    this.intent = null;
    this.crash = null;
    const name = `genlab-pane-${this.i + 1}` + (this.restarts ? `-restart-${this.restarts}` : '');
    this.worker = new Worker(new URL('worker.js', import.meta.url), { type: 'module', name });
    this.worker.onmessage = (e) => this.receive(e.data);
    this.worker.onerror = (e) => {
      e.preventDefault();
      this.died(`its worker stopped (${e.message || 'the script did not load'})`);
    };
    this.started = new Promise((resolve, reject) => { this.onStarted = { resolve, reject }; });
    Promise.all([bundledDigits(), classifierBytes()]).then(([[images, labels], classifier]) => {
      this.worker.postMessage({
        type: 'start', query: this.lab.query, pane: this.i, images, labels, classifier,
        webgpu: !!navigator.gpu,
      });
    }, (e) => this.onStarted.reject(e));
    return this.started;
  }

  /// Sends `command` ({do: …}) with `files` (Uint8Arrays, copied); resolves
  /// to the answer, rejects with the worker's message.
  request(command, files = []) {
    if (this.crash) return Promise.reject(new Error(this.crash));
    const id = this.nextId++;
    this.worker.postMessage({ type: 'request', id, command, files });
    return new Promise((resolve, reject) => this.pending.set(id, { resolve, reject }));
  }

  /// Sends a run command and shows its effect at once: the worker answers
  /// after the step in progress.
  run(what) {
    const shown = this.view()?.state;
    if (shown) this.intent = { id: this.nextId, state: next_state(shown, what) };
    return this.request({ do: what });
  }

  /// The pane as the page shows it: the worker's last state, with a run
  /// command it has not answered yet already applied.
  view() {
    const p = this.state?.panes[0];
    if (!p) return null;
    const v = { ...p, worker: this.state.worker };
    if (this.crash) Object.assign(v, { state: 'crashed', error: this.crash });
    else if (this.intent && this.seq < this.intent.id) v.state = this.intent.state;
    return v;
  }

  receive(m) {
    switch (m.type) {
      case 'state':
        this.state = m.state;
        this.seq = m.seq;
        this.onStarted.resolve();
        this.lab.update(this.i);
        break;
      case 'pictures':
        this.lab.drawPictures(this.i, m.pictures);
        break;
      case 'reply': {
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        this.lastMs = m.ms;
        if (m.ok) p?.resolve(m.value); else p?.reject(new Error(m.error));
        break;
      }
      case 'notice':
        this.lab.notice(this.i, m.text, m.kind);
        break;
      case 'crashed':
        this.died(m.why);
        break;
      case 'failed':
        this.onStarted.reject(new Error(m.why));
        break;
    }
  }

  /// The worker's module panicked (a bug), or the worker itself failed.
  died(why) {
    if (this.crash) return;
    this.crash = why.includes('bug') ? why : `genlab stopped because of a bug: ${why}. Press Reset to start it again; the training so far is lost.`;
    this.failAll(new Error(this.crash));
    this.onStarted?.reject(new Error(this.crash));
    this.lab.crashed(this.i, this.crash);
  }

  failAll(e) {
    for (const p of this.pending?.values() ?? []) p.reject(e);
    this.pending?.clear();
  }

  terminate() {
    this.worker?.terminate();
    this.failAll(new Error('the playground was closed'));
  }
}

class Lab extends EventTarget {
  constructor(root, query, options) {
    super();
    this.root = root;
    this.query = query;
    this.options = options;
    this.rates = [];
    this.shownSettings = [];
    this.files = null;
    this.build();
    this.workers = options.models.map((_, i) => new PaneWorker(this, i));
    this.started = Promise.all(this.workers.map((w) => w.spawn())).then(() => this.update());
  }

  // ------------------------------------------------------------ public API

  train() { return this.all('train'); }
  pause() { return this.all('pause'); }
  reset() { return this.all('reset'); }

  /// {backend, note, note_detail, adapter, real, scored, panes: [{model, state, step, samples_seen, epoch, loss_names, losses, worker, ...}]}
  state() {
    const states = this.workers.map((w) => w.state).filter(Boolean);
    const first = states[0] ?? {};
    return {
      backend: first.backend, note: first.note ?? '', note_detail: first.note_detail ?? '', adapter: first.adapter ?? '',
      real: states.map((s) => s.real).find(Boolean) ?? null,
      scored: states.some((s) => s.scored),
      panes: this.workers.map((w) => w.view()).filter(Boolean),
    };
  }

  /// Memory of the panes' modules (for scripts/soak_page.py): {wasm_bytes}, over every worker.
  stats() {
    return { wasm_bytes: this.workers.reduce((n, w) => n + (w.state?.wasm_bytes ?? 0), 0) };
  }

  /// Destroys every pane's GPU device, as a driver reset would: the page
  /// should say so and rebuild the models on new devices (resolves false on the CPU).
  async simulateDeviceLoss() {
    const lost = await Promise.all(this.workers.map((w) => w.request({ do: 'lose-device' })));
    return lost.some(Boolean);
  }

  /// Makes pane `i`'s module panic, as a bug would (for the end-to-end test).
  simulateCrash(i = 0) {
    return this.workers[i].request({ do: 'panic' }).catch(() => {});
  }

  destroy() {
    for (const w of this.workers) w.terminate();
    this.root.replaceChildren();
  }

  all(what) {
    return Promise.all(this.workers.map((w, i) => this.run(i, what)));
  }

  /// Sends `what` (train, pause, reset) to pane `i`: Reset starts a crashed pane's worker again.
  run(i, what) {
    const w = this.workers[i];
    if (w.crash) return what === 'reset' ? this.restart(i) : Promise.resolve();
    if (what === 'reset') this.rates = [];
    const done = w.run(what).catch((e) => this.message(`Model ${i + 1}: could not ${what}: ${reason(e)}.`, 'error'));
    this.update();
    return done;
  }

  /// A new worker for pane `i` (a new instance of the module) after a bug.
  async restart(i) {
    const w = this.workers[i];
    if (w.restarting) return w.restarting;
    w.restarts += 1;
    this.banner.textContent = `Starting model ${i + 1} again…`;
    w.restarting = (async () => {
      try {
        await w.spawn();
        if (this.files) await w.request({ do: 'data' }, this.files);
        this.message(`Model ${i + 1} was started again after a bug; press Train to train it from the start.`, 'warn');
      } catch (e) {
        this.message(`Model ${i + 1} could not start again: ${reason(e)}. Reload the page.`, 'error');
      } finally {
        w.restarting = null;
        this.update();
      }
    })();
    return w.restarting;
  }

  crashed(i, why) {
    this.message(why, 'error');
    this.update(i);
    this.dispatchEvent(new CustomEvent('error', { detail: why }));
  }

  // ------------------------------------------------------------------ DOM

  build() {
    const o = this.options;
    this.root.classList.add('genlab');
    this.root.classList.toggle('compact', o.compact);
    this.banner = el('p', { class: 'banner', role: 'status' }, 'Starting the models…');
    // The raw reason behind the banner (say, WebGPU's error), for whoever asks.
    this.detailText = el('pre');
    this.detail = el('details', { class: 'note-detail', hidden: true }, el('summary', {}, 'Technical details'), this.detailText);
    this.msg = el('div', { class: 'message', role: 'alert', hidden: true });
    const button = (text, fn, title) => el('button', { type: 'button', onclick: fn, title }, text);
    this.trainButton = button('Train', () => this.train(), 'Train every model (each in its own worker)');
    this.trainButton.classList.add('primary');
    this.trainButton.dataset.action = 'train';
    this.trainButton.disabled = true;
    const pauseButton = button('Pause', () => this.pause(), 'Pause training');
    pauseButton.dataset.action = 'pause';
    const resetButton = button('Reset', () => this.reset(), 'New weights, step 0');
    resetButton.dataset.action = 'reset';

    this.backendSelect = el('select', { onchange: () => this.switchBackend() },
      ...['auto', 'gpu', 'cpu'].map((b) => el('option', { value: b, selected: b === o.backend }, { auto: 'automatic', gpu: 'WebGPU', cpu: 'CPU' }[b])));
    this.sizeSelect = el('select', { onchange: () => this.switchSize() },
      el('option', { value: 'page', selected: o.size === 'page' }, 'quick (page sizes)'),
      el('option', { value: 'full', selected: o.size === 'full' }, 'full (the material’s sizes)'));
    this.dataInput = el('input', { type: 'file', multiple: true, class: 'data-files', accept: '.gz,.idx,.ubyte,application/octet-stream,application/gzip' });
    this.dataInput.addEventListener('change', () => this.loadData([...this.dataInput.files]));
    const toolbar = el('div', { class: 'toolbar' },
      el('div', { class: 'buttons' }, this.trainButton, pauseButton, resetButton),
      labelled('Backend', this.backendSelect),
      labelled('Model sizes', this.sizeSelect),
      labelled('Load MNIST files (images + labels)', this.dataInput));
    toolbar.hidden = !o.controls;
    // What the side-by-side compares, now that each pane runs at its own speed.
    const fair = el('p', { class: 'fairness', hidden: o.models.length < 2 },
      'Each model trains in its own worker, at its own speed. At the same batch size both see the same mini-batches in the same order: compare them at the same step, not at the same moment.');

    this.panes = o.models.map((_, i) => this.buildPane(i));
    const panes = el('div', { class: 'panes' }, ...this.panes.map((p) => p.root));
    this.root.replaceChildren(this.banner, this.detail, toolbar, fair, this.msg, ...(o.pad ? [this.buildPad(), panes] : [panes]));

    this.root.addEventListener('dragover', (e) => { e.preventDefault(); this.root.classList.add('dropping'); });
    this.root.addEventListener('dragleave', () => this.root.classList.remove('dropping'));
    this.root.addEventListener('drop', (e) => {
      e.preventDefault();
      this.root.classList.remove('dropping');
      this.loadData([...e.dataTransfer.files]);
    });
  }

  buildPane(i) {
    const o = this.options;
    const p = { i };
    p.model = el('select', { onchange: () => this.switchModel(i), class: 'model' },
      ...SCHEMA.models.map((m) => el('option', { value: m.name, title: m.description }, m.title)));
    p.stats = el('p', { class: 'stats', 'aria-live': 'off' });
    p.error = el('div', { class: 'pane-error', role: 'alert', hidden: true });
    // What the numbers show has gone wrong (Rust's app::hint): D winning outright, a collapse.
    p.hint = el('p', { class: 'hint', role: 'status', hidden: true });
    p.scoreText = el('span', { class: 'score-text' });
    p.shares = el('span', { class: 'shares', role: 'img', 'aria-label': 'Share of each digit among the samples' },
      ...Array.from({ length: 10 }, (_, d) => el('span', { class: 'bar', title: `digit ${d}` }, el('i'), el('b', {}, String(d)))));
    p.score = el('div', { class: 'score' }, p.scoreText, p.shares,
      el('p', { class: 'explain' }, 'A small digit classifier judges 512 samples every 500 steps. FID: how far its view of the samples is from real digits (lower is better). IS: how confidently and evenly it sees all ten digits (10 at best). Bars: each digit’s share of the samples (real digits: about 10% each).'));
    const canvas = (title, cls) => {
      const c = el('canvas', { class: cls, width: 1, height: 1, role: 'img', 'aria-label': title });
      return [c, el('figure', { class: cls, hidden: true }, c, el('figcaption', {}, title))];
    };
    [p.grid, p.gridFig] = canvas('Samples from 64 fixed latent vectors', 'grid');
    [p.recon, p.reconFig] = canvas('Held-out digits (top) and their reconstructions', 'recon');
    [p.strip, p.stripFig] = canvas('Interpolation between two latent vectors', 'strip');
    [p.manifold, p.manifoldFig] = canvas('The 2-D latent space, decoded', 'manifold');
    // The pad's drawing as this pane answers it (autoencoding panes, with the pad).
    [p.padRecon, p.padReconFig] = canvas('Your drawing, reconstructed', 'pad-recon');
    [p.styles, p.stylesFig] = canvas('Your drawing’s style (its code) as each digit 0–9', 'styles');
    // A conditional pane: which digit its grid and strip ask for.
    p.digit = el('select', { class: 'digit', onchange: () => this.pickDigit(i) },
      el('option', { value: '' }, 'every digit (a row each)'),
      ...Array.from({ length: 10 }, (_, d) => el('option', { value: String(d) }, `the digit ${d}`)));
    p.digitField = labelled('Ask for', p.digit);
    p.digitField.classList.add('digit-picker');
    p.digitField.hidden = true;
    p.chart = el('canvas', { class: 'chart', width: 420, height: 150, role: 'img', 'aria-label': 'Loss curves' });
    p.chartFig = el('figure', { class: 'chart' }, p.chart, el('figcaption', {}, 'Losses over steps'));
    p.chartFig.hidden = !o.charts;

    // One control per setting of the schema: a menu for a choice, a number box otherwise.
    p.inputs = {};
    p.fields = {};
    for (const s of SCHEMA.settings) {
      const e = s.kind === 'choice'
        ? el('select', { 'data-key': s.key }, ...s.choices.map(([v, label]) => el('option', { value: v }, label)))
        : el('input', { type: 'number', 'data-key': s.key, min: s.min, max: s.max, step: s.kind === 'whole' ? 1 : 'any' });
      e.addEventListener('change', () => this.changeSetting(i, s.key, e.value, e));
      p.inputs[s.key] = e;
      p.fields[s.key] = labelled(s.title, e);
    }
    const settings = el('details', { class: 'settings' }, el('summary', {}, 'Settings'), ...Object.values(p.fields));
    settings.hidden = !o.controls;

    const weightsInput = el('input', { type: 'file', accept: '.safetensors', class: 'weights-file', hidden: true });
    weightsInput.addEventListener('change', () => this.loadWeights(i, weightsInput));
    const small = (text, fn) => el('button', { type: 'button', onclick: fn }, text);
    // Save: genlab's weights (to load here or resume with genlab train), or the
    // network the model draws with for other runtimes (ONNX; PyTorch: a state dict and model.py).
    const saveAs = (format, text, title) => {
      const b = el('button', { type: 'button', title, onclick: () => { this.saveAs(i, format); menu.open = false; } }, text);
      b.dataset.format = format;
      return b;
    };
    const menu = el('details', { class: 'save-menu' }, el('summary', {}, 'Save…'),
      el('div', { class: 'save-items' },
        saveAs('weights', 'genlab weights (.safetensors)', 'Weights, Adam’s state and settings: Load weights here, or genlab train --resume'),
        saveAs('onnx', 'ONNX (.onnx)', 'The network that draws the digits, for ONNX Runtime and other runtimes'),
        saveAs('pytorch', 'PyTorch (state dict + model.py)', 'The network that draws the digits as a torch.nn.Sequential state dict, and the model.py that builds it')));
    const actions = el('div', { class: 'actions' },
      menu,
      small('Load weights', () => weightsInput.click()),
      small('Export PNG', () => this.exportPng(i)),
      weightsInput);
    actions.hidden = !o.controls;

    p.resetButton = el('button', { type: 'button', onclick: () => this.run(i, 'reset') }, 'Reset this model');
    p.errorText = el('span');
    p.error.append(p.errorText, ' ', p.resetButton);

    p.root = el('section', { class: 'pane', 'data-pane': i, 'aria-label': `Model ${i + 1}` },
      el('header', {}, labelled(`Model ${i + 1}`, p.model), p.stats),
      p.error,
      p.hint,
      p.score,
      p.digitField,
      el('div', { class: 'pictures' }, p.gridFig, p.reconFig, p.stripFig, p.manifoldFig, p.padReconFig, p.stylesFig),
      p.chartFig, settings, actions);
    p.model.disabled = !o.controls;
    return p;
  }

  message(text, kind = 'info') {
    this.notes = [];
    this.msg.textContent = text;
    this.msg.dataset.kind = kind;
    this.msg.hidden = !text;
  }

  /// A worker's own notice (a device loss and what became of it): the
  /// latest of each pane, one line each, so that one pane's news does not
  /// hide the other's.
  notice(i, text, kind) {
    this.notes ??= [];
    this.notes[i] = { text: `Model ${i + 1}: ${text}`, kind };
    const notes = this.notes.filter(Boolean);
    this.msg.replaceChildren(...notes.map((n) => el('span', { class: 'line' }, n.text)));
    const rank = { info: 0, warn: 1, error: 2 };
    this.msg.dataset.kind = notes.map((n) => n.kind).reduce((a, b) => (rank[b] > rank[a] ? b : a), 'info');
    this.msg.hidden = false;
  }

  /// What was wrong in the parameters. They are whatever a link said (one can
  /// say "Your session has expired=1"), so they are shown as quoted items under
  /// a line that says where they come from, never as the page's own words.
  showProblems(params, fromAddress) {
    if (!params.length) return;
    const intro = fromAddress
      ? 'This page’s address has parameters genlab could not use; it ignored them and kept its defaults:'
      : 'genlab could not use some of the options it was given; it ignored them and kept its defaults:';
    this.msg.replaceChildren(intro, el('ul', {}, ...params.map((p) => el('li', {}, p))));
    this.msg.dataset.kind = 'warn';
    this.msg.hidden = false;
  }

  // -------------------------------------------------------------- actions

  confirmRebuild(i, what) {
    const s = this.workers[i].view();
    return !s || s.step === 0 || confirm(`${what} rebuilds ${title(s.model)} with new weights: its ${s.step} steps of training are lost. Go on?`);
  }

  /// Sends pane `i` a command that changes its model; on an error says so
  /// with `failed(reason)` and shows the pane's settings as they are.
  async change(i, command, failed, files = []) {
    try {
      await this.workers[i].request(command, files);
      this.rates = [];
      return true;
    } catch (e) {
      this.message(failed(reason(e)), 'error');
      return false;
    } finally {
      this.shownSettings[i] = null;
      this.update(i);
    }
  }

  async changeSetting(i, key, value, input) {
    let rebuilds;
    try {
      rebuilds = await this.workers[i].request({ do: 'setting-rebuilds', key, value });
    } catch (e) {
      this.message(`Model ${i + 1}: ${reason(e)}. The setting was not changed.`, 'error');
      this.shownSettings[i] = null;
      this.update(i);
      return;
    }
    if (rebuilds && !this.confirmRebuild(i, `Changing the ${input.closest('label').textContent.trim().toLowerCase()}`)) {
      this.shownSettings[i] = null;
      this.update(i);
      return;
    }
    if (await this.change(i, { do: 'setting', key, value }, (why) => `Model ${i + 1}: ${why}. The setting was not changed.`)) this.message('');
  }

  pickDigit(i) {
    const v = this.panes[i].digit.value;
    return this.change(i, { do: 'digit', digit: v === '' ? null : Number(v) },
      (why) => `Model ${i + 1}: could not ask for that digit: ${why}.`);
  }

  switchModel(i) {
    const p = this.panes[i];
    if (!this.confirmRebuild(i, 'Switching the model')) {
      this.shownSettings[i] = null;
      this.update(i);
      return;
    }
    return this.change(i, { do: 'model', model: p.model.value, size: this.sizeSelect.value },
      (why) => `Model ${i + 1}: could not switch the model: ${why}.`);
  }

  switchSize() {
    if (!this.workers.every((_, i) => this.confirmRebuild(i, 'Changing the model sizes'))) {
      this.sizeSelect.value = this.sizeSelect.value === 'full' ? 'page' : 'full';
      return;
    }
    return Promise.all(this.workers.map((w, i) => this.change(i, { do: 'model', model: w.view().model, size: this.sizeSelect.value },
      (why) => `Model ${i + 1}: could not change its size: ${why}.`)));
  }

  async switchBackend(choice = this.backendSelect.value) {
    if (!this.workers.every((_, i) => this.confirmRebuild(i, 'Switching the backend'))) {
      this.backendSelect.value = this.state().backend === 'gpu' ? 'gpu' : 'cpu';
      return;
    }
    this.banner.textContent = 'Rebuilding the models…';
    // The old models stay where they were when a rebuild fails (it replaces them only when it succeeds).
    const ok = await Promise.all(this.workers.map((w, i) => this.change(i, { do: 'backend', backend: choice },
      (why) => `Could not switch the backend of model ${i + 1}: ${why}. It stays where it was.`)));
    if (!ok.every(Boolean)) this.backendSelect.value = this.state().backend === 'gpu' ? 'gpu' : 'cpu';
  }

  async loadData(files) {
    try {
      if (files.length !== 2) {
        this.message(`Choose two files, the images and the labels of an MNIST-format set (IDX, gzip or raw); got ${files.length}.`, 'error');
        return;
      }
      const names = files.map((f) => f.name).join(' and ');
      const bytes = await Promise.all(files.map(async (f) => new Uint8Array(await f.arrayBuffer())));
      const answers = await Promise.allSettled(this.workers.map((w) => w.request({ do: 'data' }, bytes)));
      const refused = answers.map((a, i) => [a, i]).filter(([a]) => a.status === 'rejected');
      if (!refused.length) {
        this.files = bytes;
        this.message(`Loaded ${names}: ${answers[0].value}.`, 'info');
      } else if (refused.length === answers.length) {
        this.message(`Could not load ${names}: ${reason(refused[0][0].reason)}. Training goes on with the previous digits.`, 'error');
      } else {
        this.message(refused.map(([a, i]) => `Model ${i + 1} could not train on ${names}: ${reason(a.reason)}; it goes on with the previous digits.`).join(' '), 'error');
      }
    } finally {
      this.dataInput.value = '';
    }
  }

  /// Pane `i`'s files as `format`: 'weights' (genlab's safetensors), 'onnx'
  /// or 'pytorch' (a state dict and model.py). Resolves to [{name, bytes}].
  async exportFiles(i, format) {
    const w = this.workers[i];
    if (format === 'weights') {
      const s = w.view();
      return [{ name: `genlab-${s.model}-step${s.step}.safetensors`, bytes: await w.request({ do: 'save' }) }];
    }
    const files = await w.request({ do: 'export', format });
    return files.map(([name, bytes]) => ({ name, bytes }));
  }

  async saveAs(i, format) {
    try {
      for (const f of await this.exportFiles(i, format)) {
        download(new Blob([f.bytes], { type: f.name.endsWith('.py') ? 'text/x-python' : 'application/octet-stream' }), f.name);
      }
    } catch (e) {
      this.message(`Could not save model ${i + 1}: ${reason(e)}. Training goes on; try saving again later.`, 'error');
    }
  }

  async loadWeights(i, input) {
    const file = input.files[0];
    input.value = '';
    if (!file) return;
    const bytes = new Uint8Array(await file.arrayBuffer());
    // The pane is replaced only once the new one is built (Lab::load), so on an error nothing changed.
    if (await this.change(i, { do: 'load' }, (why) => `Could not load the weights in ${file.name} into model ${i + 1}: ${why}. Model ${i + 1} is unchanged and goes on as before.`, [bytes])) {
      this.message(`Model ${i + 1}: loaded ${file.name}.`);
    }
  }

  exportPng(i) {
    const s = this.workers[i].view();
    this.panes[i].grid.toBlob((blob) => download(blob, `genlab-${s.model}-step${s.step}.png`), 'image/png');
  }

  // --------------------------------------------------------------- drawing

  /// Shows the state the workers posted last (pane `only`'s, or every pane's).
  update(only) {
    const s = this.state();
    const first = this.workers.find((w) => w.state)?.state;
    if (first) {
      this.banner.textContent = `${s.note.replace(/[\s.]+$/, '')}. Adapter: ${s.adapter}.`;
      this.banner.dataset.kind = s.backend;
    }
    const detail = s.note_detail ?? '';
    if (this.detailText.textContent !== detail) this.detailText.textContent = detail;
    this.detail.hidden = !detail;
    const now = performance.now();
    const steps = this.workers.map((w) => w.view()?.step ?? 0);
    this.rates.push([now, steps]);
    while (this.rates.length > 2 && now - this.rates[0][0] > 2000) this.rates.shift();
    const [t0, steps0] = this.rates[0];
    this.workers.forEach((w, i) => {
      if (only !== undefined && only !== i) return;
      const ps = w.view();
      const p = this.panes[i];
      if (!ps) return;
      const rate = now > t0 ? ((ps.step - (steps0[i] ?? ps.step)) * 1000) / (now - t0) : 0;
      const losses = ps.losses.map((v, k) => `${lossLabel(ps.loss_names[k])} ${fmt(v)}`).join(' · ');
      p.stats.textContent = `${ps.state} · step ${ps.step} · ${ps.samples_seen.toLocaleString('en')} digits seen · epoch ${ps.epoch.toFixed(2)} · ${rate.toFixed(1)} steps/s${losses ? ' · ' + losses : ''}`;
      p.root.dataset.state = ps.state;
      p.root.dataset.step = ps.step;
      p.error.hidden = !ps.error;
      p.errorText.textContent = ps.error ?? '';
      p.hint.hidden = !ps.hint;
      if (p.hint.textContent !== (ps.hint ?? '')) p.hint.textContent = ps.hint ?? '';
      this.showScore(p, ps, s);
      p.gridFig.querySelector('figcaption').textContent = ps.grid_caption;
      p.stripFig.querySelector('figcaption').textContent = ps.strip_caption;
      p.digitField.hidden = !ps.conditional;
      const digit = ps.digit === null || ps.digit === undefined ? '' : String(ps.digit);
      if (document.activeElement !== p.digit && p.digit.value !== digit) p.digit.value = digit;
      if (!ps.autoencodes) p.padReconFig.hidden = p.stylesFig.hidden = true;
      // The settings boxes follow the model's settings (after a change, a load, a Reset).
      const shown = JSON.stringify(SCHEMA.settings.map((x) => ps[x.key]).concat(ps.model));
      if (this.shownSettings[i] !== shown) {
        this.shownSettings[i] = shown;
        p.model.value = ps.model;
        const model = SCHEMA.models.find((m) => m.name === ps.model);
        const titles = Object.fromEntries(model.titles);
        for (const x of SCHEMA.settings) {
          p.inputs[x.key].value = ps[x.key];
          p.fields[x.key].hidden = !x.models.includes(ps.model);
          p.fields[x.key].querySelector('span').textContent = titles[x.key] ?? x.title;
        }
        p.root.setAttribute('aria-label', `Model ${i + 1}: ${model.title}`);
      }
    });
    const panes = this.workers.map((w) => w.view());
    this.trainButton.disabled = !panes.some((p) => p && ['ready', 'paused'].includes(p.state));
    if (panes.every(Boolean)) this.dispatchEvent(new CustomEvent('progress', { detail: s }));
  }

  showScore(p, ps, s) {
    const sc = ps.score;
    const real = s.real;
    p.score.hidden = !s.scored;
    if (!sc) {
      p.scoreText.textContent = `First score at step ${ps.next_score}.`;
      p.shares.hidden = true;
      return;
    }
    const floor = (v, digits) => (real ? ` (real digits ${v(real).toFixed(digits)})` : '');
    const asked = sc.class_accuracy === null || sc.class_accuracy === undefined ? ''
      : ` · read as the digit asked for ${(100 * sc.class_accuracy).toFixed(1)}%`;
    p.scoreText.textContent = `Score at step ${sc.step}: FID ${sc.fid.toFixed(1)}${floor((r) => r.fid, 1)} · IS ${sc.inception_score.toFixed(2)}${floor((r) => r.inception_score, 2)}${asked}`;
    p.shares.hidden = false;
    [...p.shares.children].forEach((bar, d) => {
      const share = sc.class_shares[d];
      bar.firstChild.style.height = `${Math.min(100, share * 250)}%`;
      bar.title = `digit ${d}: ${(100 * share).toFixed(1)}% of the samples`;
    });
  }

  /// Puts pane `i`'s new pictures on its canvases.
  drawPictures(i, pictures) {
    const p = this.panes[i];
    for (const [name, canvas, fig] of [['grid', p.grid, p.gridFig], ['reconstructions', p.recon, p.reconFig], ['strip', p.strip, p.stripFig], ['manifold', p.manifold, p.manifoldFig]]) {
      const pic = pictures[name];
      fig.hidden = !pic;
      if (!pic) continue;
      if (canvas.width !== pic.width || canvas.height !== pic.height) {
        canvas.width = pic.width;
        canvas.height = pic.height;
      }
      canvas.getContext('2d').putImageData(new ImageData(pic.rgba, pic.width, pic.height), 0, 0);
    }
    if (pictures.manifold) {
      p.manifoldImage = new ImageData(pictures.manifold.rgba, pictures.manifold.width, pictures.manifold.height);
      this.markManifold(p);
    }
    const ps = this.workers[i].view();
    if (this.options.charts && ps) drawChart(p.chart, pictures.curve, ps.loss_names);
  }
}

// ------------------------------------------------------------ the drawing pad

/// The pad's canvas side: strokes are drawn at this size, then made into an
/// MNIST digit (fitted to 20×20, centred by mass in 28×28) by Rust.
const PAD_SIDE = 112;
/// Brush width on the pad: about MNIST's stroke once a digit is scaled to 20 pixels.
const BRUSH = 10;

Object.assign(Lab.prototype, {
  buildPad() {
    this.pad = el('canvas', { class: 'pad', width: PAD_SIDE, height: PAD_SIDE, role: 'img', 'aria-label': 'Drawing pad: draw a digit with the mouse, a finger or a pen' });
    // Per drawing: ms from the stroke to the first reconstruction shown, and
    // the answering worker's own time on it.
    this.padTimes = [];
    this.padWork = [];
    this.heldOutIndex = 0;
    // Read back at every stroke: a canvas kept in memory, not on the GPU.
    const ctx = this.pad.getContext('2d', { willReadFrequently: true });
    const clear = () => {
      ctx.fillStyle = '#000';
      ctx.fillRect(0, 0, PAD_SIDE, PAD_SIDE);
    };
    clear();
    let last = null;
    const at = (e) => {
      const r = this.pad.getBoundingClientRect();
      return [((e.clientX - r.left) * PAD_SIDE) / r.width, ((e.clientY - r.top) * PAD_SIDE) / r.height];
    };
    const stroke = (from, to) => {
      Object.assign(ctx, { strokeStyle: '#fff', lineWidth: BRUSH, lineCap: 'round', lineJoin: 'round' });
      ctx.beginPath();
      ctx.moveTo(...from);
      ctx.lineTo(...to);
      ctx.stroke();
      this.padLabel = null; // a drawing's digit is the classifier's reading
      this.padChanged();
    };
    this.pad.addEventListener('pointerdown', (e) => {
      e.preventDefault();
      this.pad.setPointerCapture(e.pointerId);
      last = at(e);
      stroke(last, last);
    });
    this.pad.addEventListener('pointermove', (e) => {
      if (!last) return;
      const p = at(e);
      stroke(last, p);
      last = p;
    });
    const up = () => { last = null; };
    this.pad.addEventListener('pointerup', up);
    this.pad.addEventListener('pointercancel', up);
    const button = (text, fn, title) => el('button', { type: 'button', onclick: fn, title }, text);
    const clearButton = button('Clear', () => { clear(); this.padLabel = null; this.padChanged(); }, 'Clear the pad');
    clearButton.dataset.action = 'clear-pad';
    const heldOut = button('Load a held-out digit', () => this.loadHeldOut(), 'Put the next held-out MNIST digit on the pad (instead of drawing)');
    heldOut.dataset.action = 'held-out';
    this.padDigit = el('canvas', { class: 'pad-digit', width: 28, height: 28, role: 'img', 'aria-label': 'The drawing as the models see it (28×28, centred as MNIST)' });
    this.padReading = el('p', { class: 'pad-reading', 'aria-live': 'polite' }, 'Draw a digit: each model that encodes digits answers with its reconstruction.');
    return el('section', { class: 'pad-section', 'aria-label': 'Drawing pad' },
      el('figure', { class: 'pad' }, this.pad, el('figcaption', {}, 'Draw a digit')),
      el('figure', { class: 'pad-digit' }, this.padDigit, el('figcaption', {}, 'As the models see it')),
      el('div', { class: 'pad-side' }, this.padReading, el('div', { class: 'buttons' }, clearButton, heldOut)));
  },

  /// The drawing changed: send it to every pane's worker. Each worker has
  /// one drawing out at a time; a change meanwhile is sent when its answer
  /// comes, so a pane busy with a long step delays only its own answer.
  padChanged() {
    const now = performance.now();
    this.workers.forEach((w, i) => {
      if (w.crash) return;
      w.padSince ??= now;
      if (!w.padBusy) this.padAsk(i);
    });
  },

  padAsk(i) {
    const w = this.workers[i];
    w.padBusy = true;
    const since = w.padSince;
    w.padSince = null;
    const rgba = this.pad.getContext('2d', { willReadFrequently: true }).getImageData(0, 0, PAD_SIDE, PAD_SIDE).data;
    const grey = new Uint8Array(PAD_SIDE * PAD_SIDE);
    for (let k = 0; k < grey.length; k++) grey[k] = rgba[4 * k];
    w.request({ do: 'pad', width: PAD_SIDE, height: PAD_SIDE, label: this.padLabel ?? null }, [grey])
      .then((a) => {
        this.showPad(i, a);
        // Per reconstruction: ms from the stroke to its picture, and the worker's own time.
        if (a.panes[0].reconstruction) {
          this.padTimes.push(performance.now() - since);
          this.padWork.push(w.lastMs);
        }
        this.dispatchEvent(new CustomEvent('pad', { detail: { pane: i } }));
      }, () => null)
      .finally(() => {
        w.padBusy = false;
        if (w.padSince !== null && !w.crash) this.padAsk(i);
      });
  },

  async loadHeldOut() {
    try {
      const { digit, label } = await this.workers[0].request({ do: 'held-out', index: this.heldOutIndex++ % 1000 });
      const small = el('canvas', { width: 28, height: 28 });
      small.getContext('2d').putImageData(greyImage(digit, 28, 28), 0, 0);
      const ctx = this.pad.getContext('2d');
      ctx.imageSmoothingEnabled = true;
      ctx.drawImage(small, 0, 0, PAD_SIDE, PAD_SIDE);
      this.padLabel = label;
      this.padChanged();
    } catch (e) {
      this.message(`Could not load a held-out digit: ${reason(e)}.`, 'error');
    }
  },

  /// Pane `i`'s answer to the drawing: the drawing as the models see it
  /// and the classifier's reading (every pane's worker has them), and the
  /// pane's own reconstruction, style row and place on its manifold.
  showPad(i, a) {
    this.padDigit.getContext('2d').putImageData(greyImage(a.digit, 28, 28), 0, 0);
    const blank = a.digit.every((v) => v === 0);
    if (blank) this.padReading.textContent = 'Draw a digit: each model that encodes digits answers with its reconstruction.';
    else if (a.reading) {
      const best = a.reading.indexOf(Math.max(...a.reading));
      this.padReading.textContent = `The classifier reads a ${best} (${(100 * a.reading[best]).toFixed(0)}% sure).`;
    }
    const p = this.panes[i];
    const mine = a.panes[0];
    p.padReconFig.hidden = !mine.reconstruction || blank;
    if (mine.reconstruction && !blank) paint(p.padRecon, greyImage(mine.reconstruction, 28, 28));
    p.stylesFig.hidden = !mine.styles || blank;
    if (mine.styles && !blank) paint(p.styles, greyImage(tileRow(mine.styles, 10), 28 * 10, 28));
    p.manifoldAt = blank ? null : mine.manifold_at ?? null;
    this.markManifold(p);
  },

  /// The manifold picture, with the drawing's place on it.
  markManifold(p) {
    if (!p.manifoldImage) return;
    const ctx = p.manifold.getContext('2d');
    ctx.putImageData(p.manifoldImage, 0, 0);
    if (!p.manifoldAt) return;
    const [x, y] = p.manifoldAt;
    Object.assign(ctx, { strokeStyle: '#e33', lineWidth: 3 });
    ctx.beginPath();
    ctx.arc(x, y, 9, 0, 2 * Math.PI);
    ctx.stroke();
  },
});

function paint(canvas, image) {
  if (canvas.width !== image.width || canvas.height !== image.height) {
    canvas.width = image.width;
    canvas.height = image.height;
  }
  canvas.getContext('2d').putImageData(image, 0, 0);
}

function greyImage(grey, width, height) {
  const rgba = new Uint8ClampedArray(width * height * 4);
  for (let k = 0; k < width * height; k++) {
    rgba[4 * k] = rgba[4 * k + 1] = rgba[4 * k + 2] = grey[k];
    rgba[4 * k + 3] = 255;
  }
  return new ImageData(rgba, width, height);
}

/// `n` 28×28 tiles (one after another) side by side.
function tileRow(tiles, n) {
  const out = new Uint8Array(28 * 28 * n);
  for (let t = 0; t < n; t++) {
    for (let y = 0; y < 28; y++) {
      for (let x = 0; x < 28; x++) out[y * 28 * n + t * 28 + x] = tiles[t * 784 + y * 28 + x];
    }
  }
  return out;
}

/// One small chart per loss, stacked: each on its own scale (a VAE's
/// reconstruction and KL differ tenfold), with its latest value.
function drawChart(canvas, flat, names) {
  const k = names.length;
  const per = k + 1;
  const n = flat.length / per;
  const ratio = window.devicePixelRatio || 1;
  const w = canvas.clientWidth || 420;
  const h = canvas.clientHeight || 150;
  if (canvas.width !== Math.round(w * ratio)) { canvas.width = Math.round(w * ratio); canvas.height = Math.round(h * ratio); }
  const g = canvas.getContext('2d');
  g.setTransform(ratio, 0, 0, ratio, 0, 0);
  g.clearRect(0, 0, w, h);
  g.font = '11px system-ui, sans-serif';
  if (n < 1) {
    g.fillStyle = '#888';
    g.fillText('Losses appear here once training starts.', 8, 20);
    return;
  }
  const band = h / k;
  const x0 = 44;
  const lastStep = flat[(n - 1) * per];
  const firstStep = Math.min(0, flat[0]);
  const xs = (step) => x0 + ((w - x0 - 6) * (step - firstStep)) / Math.max(1, lastStep - firstStep);
  for (let j = 0; j < k; j++) {
    const vals = [];
    for (let t = 0; t < n; t++) vals.push(flat[t * per + 1 + j]);
    const finite = vals.filter(Number.isFinite).sort((a, b) => a - b);
    if (!finite.length) continue;
    // The range of the middle 98%: one wild early point does not flatten the rest.
    const lo = finite[Math.floor(0.01 * (finite.length - 1))];
    const hi = finite[Math.ceil(0.99 * (finite.length - 1))];
    const top = j * band + 14;
    const bottom = (j + 1) * band - 4;
    const ys = (v) => bottom - ((bottom - top) * (Math.min(hi, Math.max(lo, v)) - lo)) / Math.max(1e-9, hi - lo);
    g.strokeStyle = '#ddd';
    g.beginPath();
    g.moveTo(x0, bottom); g.lineTo(w - 6, bottom);
    g.stroke();
    g.fillStyle = '#666';
    g.fillText(fmt(hi), 2, top + 8);
    g.fillText(fmt(lo), 2, bottom);
    g.strokeStyle = COLORS[j % COLORS.length];
    g.lineWidth = 1.5;
    g.beginPath();
    vals.forEach((v, t) => {
      const x = xs(flat[t * per]);
      if (t === 0) g.moveTo(x, ys(v)); else g.lineTo(x, ys(v));
    });
    g.stroke();
    g.fillStyle = COLORS[j % COLORS.length];
    const label = `${lossLabel(names[j])}: ${fmt(vals[n - 1])} at step ${lastStep}`;
    g.fillText(label, x0 + 4, top - 2);
  }
}
