// The genlab playground: the page around the wasm module's Playground.
//
//   import { mount } from './www/playground.js';
//   const lab = await mount(element, { models: 'dcgan,conv-vae', autostart: 1 });
//   lab.train(); lab.pause(); lab.reset(); lab.state();
//   lab.addEventListener('progress', e => console.log(e.detail));
//
// The options are the page's URL parameters (a query string works too):
// models, autostart, seed, steps, controls, charts, compact, backend, size.
// Every instance on a page shares one GPU device. The model logic, the
// parameter checks and the run states are Rust (src/app/); this
// file builds the DOM, runs the animation loop and draws.

import init, * as genlab from '../genlab.js';

// The registry, as Rust describes it (genlab::models::schema): the models
// with their titles and loss names, every setting with its range and the
// models it applies to, the loss labels. This file holds none of them.
let SCHEMA = null;
const title = (model) => SCHEMA.models.find((m) => m.name === model)?.title ?? model;
const lossLabel = (name) => Object.fromEntries(SCHEMA.losses)[name] ?? name;
const COLORS = ['#e0663a', '#3a8ee0'];
// Milliseconds of training per animation frame: the rest of the frame is the page's.
const BUDGET_MS = 12;
const DRAW_EVERY_MS = 300;

// The wasm module every instance on the page uses. A panic in it (a bug)
// aborts the call and leaves its state unusable; Reset then starts a new
// instance of the module (the same file under another URL is a new ES
// module with its own memory) and rebuilds the playground from its options.
let generation = 0;
let current = null; // { Playground, crashed, exports } of the live instance
let wasmReady = null;

function loadModule() {
  wasmReady ??= (async () => {
    const m = generation === 0 ? { default: init, ...genlab } : await import(`../genlab.js?instance=${generation}`);
    const exports = await m.default({ module_or_path: new URL('../genlab_bg.wasm', import.meta.url) });
    current = { Playground: m.Playground, crashed: m.crashed, exports };
    SCHEMA = m.schema();
    return current;
  })();
  return wasmReady;
}

/// A live module: `dead`'s successor if `dead` is the current one.
function freshModule(dead) {
  if (dead && dead === current) {
    generation += 1;
    wasmReady = null;
    creating = Promise.resolve();
  }
  return loadModule();
}

/// Why the module stopped (a panic's message), or null while it works.
function crashedWhy(mod) {
  try {
    return mod.crashed() ?? null;
  } catch (e) {
    return `genlab stopped because of a bug (${reason(e)}). Press Reset to start it again; the training so far is lost.`;
  }
}
let dataReady = null;
let classifierReady = null;
// Instances are created one after another, so that they share one device.
let creating = Promise.resolve();

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

/// Mounts a playground in `element`; resolves to its handle.
export async function mount(element, options = {}) {
  const query = toQuery(options);
  const [mod, pg] = await create(query, null);
  // A string is the page's own query (www/main.js): problems with it are about the address.
  return new Lab(element, mod, pg, query, typeof options === 'string');
}

/// A Playground for `query` on a live module (a new one if `dead` was the current one).
async function create(query, dead) {
  const mod = await freshModule(dead);
  const [[images, labels], classifier] = await Promise.all([bundledDigits(), classifierBytes()]);
  const made = creating.then(() => mod.Playground.create(query, images, labels, classifier));
  creating = made.catch(() => {});
  return [mod, await made];
}

class Lab extends EventTarget {
  constructor(root, mod, pg, query, fromAddress) {
    super();
    this.root = root;
    this.query = query;
    this.start(mod, pg);
    this.showProblems(pg.problems(), pg.notices(), fromAddress);
    if (this.options.autostart) this.train();
  }

  /// Builds the page around `pg` and starts its animation loop.
  start(mod, pg) {
    this.mod = mod;
    this.pg = pg;
    this.crash = null;
    this.last = null;
    this.chain = Promise.resolve();
    this.options = pg.options();
    this.rates = [];
    this.running = true;
    this.wantFrame = true;
    this.build();
    this.refresh();
    this.loops = (this.loops ?? 0) + 1;
    this.loop(this.loops);
  }

  /// Runs `fn` after every earlier call into the module (calls must not
  /// overlap). After a panic every call fails with its message.
  call(fn) {
    const p = this.chain.then(() => {
      if (this.crash) throw new Error(this.crash);
      return fn();
    });
    this.chain = p.catch(() => this.checkCrash());
    return p;
  }

  /// After a failed call: if the module panicked, say so and stop the loop;
  /// Reset (any of them) then starts genlab again.
  checkCrash() {
    if (this.crash) return;
    const why = crashedWhy(this.mod);
    if (!why) return;
    this.crash = why;
    this.running = false;
    this.banner.textContent = 'genlab stopped because of a bug.';
    this.banner.dataset.kind = 'error';
    this.message(why, 'error');
    for (const p of this.panes) {
      p.root.dataset.state = 'crashed';
      p.errorText.textContent = why;
      p.error.hidden = false;
    }
    this.dispatchEvent(new CustomEvent('error', { detail: why }));
  }

  /// A new module instance and a new playground with the same options.
  async restart() {
    if (this.restarting) return this.restarting;
    this.banner.textContent = 'Starting genlab again…';
    this.restarting = (async () => {
      try {
        const [mod, pg] = await create(this.query, this.mod);
        this.start(mod, pg);
        this.message('genlab was started again after a bug; press Train to train from the start.', 'warn');
      } catch (e) {
        this.message(`genlab could not start again: ${reason(e)}. Reload the page.`, 'error');
      } finally {
        this.restarting = null;
      }
    })();
    return this.restarting;
  }

  /// Memory of the page's module (for scripts/soak_page.py): {wasm_bytes}.
  stats() {
    return { wasm_bytes: this.mod.exports.memory.buffer.byteLength };
  }

  /// Makes the module panic, as a bug would (for the end-to-end test).
  simulateCrash() {
    return this.call(() => this.pg.debug_panic()).catch(() => {});
  }

  // ------------------------------------------------------------ public API

  train() { return this.all('train'); }
  pause() { return this.all('pause'); }
  reset() { return this.all('reset'); }

  /// {backend, note, note_detail, adapter, panes: [{model, state, step, samples_seen, epoch, loss_names, losses, ...}]}
  state() { return this.last ?? this.pg.state(); }

  /// Destroys the GPU device, as a driver reset would: the page should say
  /// so and rebuild its models on a new device (resolves false on the CPU).
  simulateDeviceLoss() { return this.call(() => this.pg.lose_device()); }

  destroy() {
    this.running = false;
    this.root.replaceChildren();
  }

  all(what) {
    if (this.crash) return what === 'reset' ? this.restart() : Promise.resolve();
    return this.call(() => {
      this.panes.forEach((_, i) => this.pg.command(i, what));
      if (what === 'reset') this.rates = [];
      this.wantFrame = true;
      this.refresh();
    });
  }

  // ------------------------------------------------------------------ DOM

  build() {
    const o = this.options;
    this.root.classList.add('genlab');
    this.root.classList.toggle('compact', o.compact);
    this.banner = el('p', { class: 'banner', role: 'status' });
    // The raw reason behind the banner (say, WebGPU's error), for whoever asks.
    this.detailText = el('pre');
    this.detail = el('details', { class: 'note-detail', hidden: true }, el('summary', {}, 'Technical details'), this.detailText);
    this.msg = el('div', { class: 'message', role: 'alert', hidden: true });
    const button = (text, fn, title) => el('button', { type: 'button', onclick: fn, title }, text);
    this.trainButton = button('Train', () => this.train(), 'Train every model (both panes, interleaved)');
    this.trainButton.classList.add('primary');
    this.trainButton.dataset.action = 'train';
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

    this.panes = o.models.map((_, i) => this.buildPane(i));
    this.root.replaceChildren(this.banner, this.detail, toolbar, this.msg, el('div', { class: 'panes' }, ...this.panes.map((p) => p.root)));

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
    const actions = el('div', { class: 'actions' },
      small('Save weights', () => this.saveWeights(i)),
      small('Load weights', () => weightsInput.click()),
      small('Export PNG', () => this.exportPng(i)),
      weightsInput);
    actions.hidden = !o.controls;

    p.resetButton = el('button', { type: 'button', onclick: () => this.crash ? this.restart() : this.call(() => { this.pg.command(i, 'reset'); this.wantFrame = true; this.refresh(); }) }, 'Reset this model');
    p.errorText = el('span');
    p.error.append(p.errorText, ' ', p.resetButton);

    p.root = el('section', { class: 'pane', 'data-pane': i, 'aria-label': `Model ${i + 1}` },
      el('header', {}, labelled(`Model ${i + 1}`, p.model), p.stats),
      p.error,
      p.score,
      el('div', { class: 'pictures' }, p.gridFig, p.reconFig, p.stripFig, p.manifoldFig),
      p.chartFig, settings, actions);
    p.model.disabled = !o.controls;
    return p;
  }

  message(text, kind = 'info') {
    this.msg.textContent = text;
    this.msg.dataset.kind = kind;
    this.msg.hidden = !text;
  }

  /// What was wrong in the parameters. They are whatever a link said (one can
  /// say "Your session has expired=1"), so they are shown as quoted items under
  /// a line that says where they come from, never as the page's own words.
  showProblems(params, notices, fromAddress) {
    if (!params.length && !notices.length) return;
    const intro = fromAddress
      ? 'This page’s address has parameters genlab could not use; it ignored them and kept its defaults:'
      : 'genlab could not use some of the options it was given; it ignored them and kept its defaults:';
    this.msg.replaceChildren(
      ...(params.length ? [intro, el('ul', {}, ...params.map((p) => el('li', {}, p)))] : []),
      ...notices.map((p) => el('span', { class: 'line' }, p)));
    this.msg.dataset.kind = 'warn';
    this.msg.hidden = false;
  }

  // -------------------------------------------------------------- actions

  confirmRebuild(i, what) {
    const s = this.last?.panes[i];
    return !s || s.step === 0 || confirm(`${what} rebuilds ${title(s.model)} with new weights: its ${s.step} steps of training are lost. Go on?`);
  }

  changeSetting(i, key, value, input) {
    return this.call(() => {
      let rebuilds;
      try {
        rebuilds = this.pg.setting_rebuilds(i, key, value);
      } catch (e) {
        this.message(`Model ${i + 1}: ${reason(e)}. The setting was not changed.`, 'error');
        this.refresh(true);
        return;
      }
      if (rebuilds && !this.confirmRebuild(i, `Changing the ${input.closest('label').textContent.trim().toLowerCase()}`)) {
        this.refresh(true);
        return;
      }
      this.pg.set_setting(i, key, value);
      this.message('');
      this.wantFrame = true;
      this.refresh(true);
    });
  }

  switchModel(i) {
    const p = this.panes[i];
    return this.call(() => {
      if (!this.confirmRebuild(i, 'Switching the model')) { this.refresh(true); return; }
      this.pg.set_model(i, p.model.value, this.sizeSelect.value);
      this.wantFrame = true;
      this.refresh(true);
    });
  }

  switchSize() {
    return this.call(() => {
      if (!this.panes.every((_, i) => this.confirmRebuild(i, 'Changing the model sizes'))) {
        this.sizeSelect.value = this.sizeSelect.value === 'full' ? 'page' : 'full';
        return;
      }
      const models = this.last.panes.map((s) => s.model);
      models.forEach((m, i) => this.pg.set_model(i, m, this.sizeSelect.value));
      this.wantFrame = true;
      this.refresh(true);
    });
  }

  switchBackend(choice = this.backendSelect.value) {
    return this.call(async () => {
      if (!this.panes.every((_, i) => this.confirmRebuild(i, 'Switching the backend'))) {
        this.backendSelect.value = this.last?.backend === 'gpu' ? 'gpu' : 'cpu';
        return;
      }
      this.banner.textContent = 'Rebuilding the models…';
      try {
        await this.pg.rebuild(choice);
      } catch (e) {
        // The old models are still there (rebuild replaces them only when it succeeds).
        this.message(`Could not switch the backend: ${reason(e)}. The models stay where they were.`, 'error');
        this.backendSelect.value = this.last?.backend === 'gpu' ? 'gpu' : 'cpu';
        this.refresh();
        return;
      }
      this.rates = [];
      this.wantFrame = true;
      this.refresh(true);
    });
  }

  loadData(files) {
    return this.call(async () => {
      if (files.length !== 2) {
        this.message(`Choose two files, the images and the labels of an MNIST-format set (IDX, gzip or raw); got ${files.length}.`, 'error');
        return;
      }
      const [a, b] = await Promise.all(files.map(async (f) => new Uint8Array(await f.arrayBuffer())));
      try {
        const summary = this.pg.load_data(a, b);
        this.message(`Loaded ${files.map((f) => f.name).join(' and ')}: ${summary}.`, 'info');
        this.wantFrame = true;
      } catch (e) {
        this.message(`Could not load ${files.map((f) => f.name).join(' and ')}: ${reason(e)}. Training goes on with the previous digits.`, 'error');
      } finally {
        this.dataInput.value = '';
      }
    });
  }

  saveWeights(i) {
    return this.call(async () => {
      const bytes = await this.pg.save(i);
      const s = this.pg.state().panes[i];
      download(new Blob([bytes], { type: 'application/octet-stream' }), `genlab-${s.model}-step${s.step}.safetensors`);
    }).catch((e) => this.message(`Could not save model ${i + 1}: ${reason(e)}. Training goes on; try saving again later.`, 'error'));
  }

  loadWeights(i, input) {
    const file = input.files[0];
    input.value = '';
    if (!file) return;
    return this.call(async () => {
      try {
        this.pg.load(i, new Uint8Array(await file.arrayBuffer()));
        this.message(`Model ${i + 1}: loaded ${file.name}.`);
        this.rates = [];
        this.wantFrame = true;
        this.refresh(true);
      } catch (e) {
        // The pane is replaced only once the new one is built (Lab::load), so nothing changed.
        this.message(`Could not load the weights in ${file.name} into model ${i + 1}: ${reason(e)}. Model ${i + 1} is unchanged and goes on as before.`, 'error');
      }
    });
  }

  exportPng(i) {
    const s = this.last.panes[i];
    this.panes[i].grid.toBlob((blob) => download(blob, `genlab-${s.model}-step${s.step}.png`), 'image/png');
  }

  // ----------------------------------------------------------------- loop

  async loop(id) {
    // A restart starts a new loop; this one ends.
    while (this.running && this.root.isConnected && id === this.loops) {
      await new Promise((r) => requestAnimationFrame(r));
      const training = this.last?.panes.some((p) => p.state === 'training');
      if (!training && !this.wantFrame) continue;
      this.wantFrame = false;
      try {
        const result = await this.call(() => this.pg.frame(BUDGET_MS, DRAW_EVERY_MS));
        if (result === 'device-lost') {
          await this.recover();
          continue;
        }
        await this.call(() => { this.refresh(); this.draw(); });
        this.dispatchEvent(new CustomEvent('progress', { detail: this.last }));
      } catch (e) {
        if (this.crash) break;
        // A device lost mid-frame fails the frame's read before the loss is reported.
        await new Promise((r) => setTimeout(r, 200));
        if (await this.call(() => this.pg.device_lost())) {
          await this.recover();
          continue;
        }
        this.message(`Training was paused by an error: ${reason(e)}. Press Train to go on, or Reset to start over.`, 'error');
        this.dispatchEvent(new CustomEvent('error', { detail: String(e) }));
        await this.call(() => { this.panes.forEach((_, i) => this.pg.command(i, 'pause')); this.refresh(); });
      }
    }
  }

  async recover() {
    this.banner.textContent = 'The GPU device was lost: rebuilding the models on a new device (their training starts over)…';
    this.banner.dataset.kind = 'error';
    try {
      await this.call(() => this.pg.rebuild(this.backendSelect.value));
    } catch (e) {
      // The old models died with the device: nothing is left to train.
      this.running = false;
      this.banner.textContent = 'The GPU device was lost.';
      this.message(`The GPU device was lost and the models could not be rebuilt: ${reason(e)}. Reload the page to start again.`, 'error');
      return;
    }
    this.message('The GPU device was lost and the models were rebuilt on a new device; press Train to start again.', 'warn');
    this.rates = [];
    this.wantFrame = true;
    await this.call(() => this.refresh(true));
  }

  /// Updates the text and controls from the module's state.
  refresh(settings = false) {
    const s = this.pg.state();
    const first = !this.last;
    this.last = s;
    this.banner.textContent = `${s.note.replace(/[\s.]+$/, '')}. Adapter: ${s.adapter}.`;
    this.banner.dataset.kind = s.backend;
    const detail = s.note_detail ?? '';
    if (this.detailText.textContent !== detail) this.detailText.textContent = detail;
    this.detail.hidden = !detail;
    const now = performance.now();
    this.rates.push([now, s.panes.map((p) => p.step)]);
    while (this.rates.length > 2 && now - this.rates[0][0] > 2000) this.rates.shift();
    const [t0, steps0] = this.rates[0];
    s.panes.forEach((ps, i) => {
      const p = this.panes[i];
      const rate = now > t0 ? ((ps.step - (steps0[i] ?? ps.step)) * 1000) / (now - t0) : 0;
      const losses = ps.losses.map((v, k) => `${lossLabel(ps.loss_names[k])} ${fmt(v)}`).join(' · ');
      p.stats.textContent = `${ps.state} · step ${ps.step} · ${ps.samples_seen.toLocaleString('en')} digits seen · epoch ${ps.epoch.toFixed(2)} · ${rate.toFixed(1)} steps/s${losses ? ' · ' + losses : ''}`;
      p.root.dataset.state = ps.state;
      p.root.dataset.step = ps.step;
      p.error.hidden = !ps.error;
      this.showScore(p, ps, s);
      p.errorText.textContent = ps.error ?? '';
      if (first || settings) {
        p.model.value = ps.model;
        const model = SCHEMA.models.find((m) => m.name === ps.model);
        const titles = Object.fromEntries(model.titles);
        for (const s of SCHEMA.settings) {
          p.inputs[s.key].value = ps[s.key];
          p.fields[s.key].hidden = !s.models.includes(ps.model);
          p.fields[s.key].querySelector('span').textContent = titles[s.key] ?? s.title;
        }
        p.root.setAttribute('aria-label', `Model ${i + 1}: ${model.title}`);
      }
    });
    this.trainButton.disabled = !s.panes.some((p) => ['ready', 'paused'].includes(p.state));
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
    p.scoreText.textContent = `Score at step ${sc.step}: FID ${sc.fid.toFixed(1)}${floor((r) => r.fid, 1)} · IS ${sc.inception_score.toFixed(2)}${floor((r) => r.inception_score, 2)}`;
    p.shares.hidden = false;
    [...p.shares.children].forEach((bar, d) => {
      const share = sc.class_shares[d];
      bar.firstChild.style.height = `${Math.min(100, share * 250)}%`;
      bar.title = `digit ${d}: ${(100 * share).toFixed(1)}% of the samples`;
    });
  }

  draw() {
    this.last.panes.forEach((ps, i) => {
      const p = this.panes[i];
      for (const [name, canvas, fig] of [['grid', p.grid, p.gridFig], ['reconstructions', p.recon, p.reconFig], ['strip', p.strip, p.stripFig], ['manifold', p.manifold, p.manifoldFig]]) {
        const pic = this.pg.picture(i, name);
        fig.hidden = !pic;
        if (!pic) continue;
        if (canvas.width !== pic.width || canvas.height !== pic.height) {
          canvas.width = pic.width;
          canvas.height = pic.height;
        }
        canvas.getContext('2d').putImageData(new ImageData(pic.rgba, pic.width, pic.height), 0, 0);
      }
      if (this.options.charts) drawChart(p.chart, this.pg.curve(i), ps.loss_names);
    });
  }
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
