//! Browser glue. On the page's main thread: [`schema`], [`page`] (the
//! options a URL or `mount()` asks for) and [`next_state`], nothing that
//! trains. In each pane's dedicated Web Worker (www/worker.js):
//! [`Playground`], the worker's handle on a [`Lab`] of its one pane (which
//! backend, the GPU device, one frame of training at a time, pictures and
//! curves for the canvases, the commands of [`crate::app::protocol`]). And
//! `bench`, the headless training benchmark behind www/bench.html. The
//! page itself (DOM, events, charts) is www/playground.js.
//!
//! Calls from JavaScript must not overlap (www/worker.js queues them): a
//! frame holds its lab across awaits; an overlapping call gets an error
//! (every borrow is a `try_borrow_mut`), never a panic.
#![allow(clippy::await_holding_refcell_ref)]

use crate::app::{state_after, Answer, BackendChoice, Command, Lab, PageOptions, Picture, Size};
use crate::backends::gpu::Adapter;
use crate::backends::Gpu;
use crate::backends::{Backend, BackendError, Cpu, ErrorKind};
use crate::data::Digits;
use crate::models::{Model, ModelConfig, ModelKind};
use crate::train::Trainer;
use serde::Deserialize;
use serde::Serialize;
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;

#[wasm_bindgen(start)]
pub fn start() {
    std::panic::set_hook(Box::new(|info| {
        console_error_panic_hook::hook(info);
        CRASH.with(|c| {
            c.borrow_mut().get_or_insert_with(|| info.to_string());
        });
    }));
}

thread_local! {
    /// The panic that stopped this module, if one did. A panic in wasm aborts
    /// the call where it happened (there is no unwinding on stable Rust), so
    /// the module's state is not to be trusted after it: every later call
    /// answers with this message, and the page starts a new module instance.
    static CRASH: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// The registry as the page renders it: models, settings, loss labels
/// ([`crate::models::schema`]).
#[wasm_bindgen]
pub fn schema() -> Result<JsValue, JsValue> {
    crate::models::schema()
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(js_err)
}

/// The options `query` (URL parameters, or `mount()`'s as a query) asks
/// for, with what was wrong in it: `{options: {models, autostart, seed,
/// steps, controls, charts, compact, pad, size, backend}, problems: [...]}`.
/// Each pane's worker builds its model from the same query.
#[wasm_bindgen]
pub fn page(query: &str) -> Result<JsValue, JsValue> {
    let (options, mut problems) = PageOptions::parse(query);
    problems.extend(options.configs().1);
    let obj = js_sys::Object::new();
    let set = |k: &str, v: JsValue| js_sys::Reflect::set(&obj, &k.into(), &v).unwrap();
    set("options", options_js(&options));
    let list: js_sys::Array = problems.iter().map(|p| JsValue::from_str(p)).collect();
    set("problems", list.into());
    Ok(obj.into())
}

fn options_js(o: &PageOptions) -> JsValue {
    let obj = js_sys::Object::new();
    let set = |k: &str, v: JsValue| js_sys::Reflect::set(&obj, &k.into(), &v).unwrap();
    let models: js_sys::Array = o
        .models
        .iter()
        .map(|m| JsValue::from_str(m.name()))
        .collect();
    set("models", models.into());
    set("autostart", o.autostart.into());
    set("seed", o.seed.into());
    set("steps", o.steps.map(|s| s as f64).into());
    set("controls", o.controls.into());
    set("charts", o.charts.into());
    set("compact", o.compact.into());
    set("pad", o.pad.into());
    set(
        "size",
        (if o.size == Size::Full { "full" } else { "page" }).into(),
    );
    set("backend", format!("{:?}", o.backend).to_lowercase().into());
    obj.into()
}

/// The run state (`"ready"`, `"training"`, …) a pane in `state` moves to
/// on `event` (`"train"`, `"pause"`, `"reset"`): the main thread shows a
/// click at once, before the pane's worker has answered.
#[wasm_bindgen]
pub fn next_state(state: &str, event: &str) -> Result<String, JsValue> {
    state_after(state, event).map(String::from).map_err(js_err)
}

/// What a page says after a panic (a bug in genlab), or None.
#[wasm_bindgen]
pub fn crashed() -> Option<String> {
    CRASH.with(|c| {
        c.borrow().as_ref().map(|why| {
            format!("genlab stopped because of a bug ({why}). Press Reset to start it again; the training so far is lost.")
        })
    })
}

/// The error of a call that found the playground borrowed: after a panic
/// the crash message, else overlapping calls (a bug in the page).
fn busy() -> JsValue {
    js_err(crashed().unwrap_or_else(|| "the playground is busy: calls must not overlap".into()))
}

thread_local! {
    /// One device for every playground on the page (and recreated after a loss).
    static SHARED_GPU: RefCell<Option<Rc<Gpu>>> = const { RefCell::new(None) };
}

async fn shared_gpu() -> Result<Rc<Gpu>, String> {
    if let Some(g) = SHARED_GPU.with(|s| s.borrow().clone()) {
        if !g.is_lost() {
            return Ok(g);
        }
    }
    let g = Rc::new(Gpu::new().await.map_err(|e| e.to_string())?);
    SHARED_GPU.with(|s| *s.borrow_mut() = Some(g.clone()));
    Ok(g)
}

enum Engine {
    Gpu(Rc<Gpu>, Box<Lab<Gpu>>),
    Cpu(Cpu, Box<Lab<Cpu>>),
}

/// Runs `$body` with `$b` the backend and `$lab` the lab, whichever they are.
macro_rules! with_lab {
    ($engine:expr, |$b:ident, $lab:ident| $body:expr) => {
        match $engine {
            Engine::Gpu(g, $lab) => {
                let $b: &Gpu = &*g;
                $body
            }
            Engine::Cpu(c, $lab) => {
                let $b: &Cpu = &*c;
                $body
            }
        }
    };
}

struct Inner {
    engine: Engine,
    options: PageOptions,
    /// Whether the page's own thread has WebGPU.
    webgpu: bool,
    /// The page's own notices (a classifier that did not load).
    notices: Vec<String>,
    /// The scoring classifier's file, kept to rebuild the lab.
    classifier: Option<Vec<u8>>,
    /// Which backend runs the models, and why (for the banner), with its technical detail.
    note: String,
    note_detail: String,
    adapter: String,
    /// Milliseconds per round of steps (one of each training pane), smoothed.
    ms_per_round: f64,
    last_draw: f64,
    /// Draw at the next frame, whatever the time (after a reset, a load).
    dirty: bool,
}

fn js_err(e: impl std::fmt::Display) -> JsValue {
    JsValue::from_str(&e.to_string())
}

/// Which backend runs the models and why, for the banner.
struct Choice {
    gpu: Option<Rc<Gpu>>,
    /// One or two sentences for anyone.
    note: String,
    /// The technical detail behind the note (shown on request), or "".
    detail: String,
    adapter: String,
}

/// What a browser without WebGPU is told.
const NO_WEBGPU: &str = "This browser has no WebGPU, so genlab trains on the CPU: slower, but everything works. For the GPU, use a browser with WebGPU: Chrome or Edge 113 or later, Safari 26, or Firefox 141 or later on Windows.";

/// Chooses the backend: the GPU on a hardware adapter, else the CPU (a
/// software WebGPU adapter computes 100× slower than the CPU backend in
/// wasm). The adapter is probed first; a device is opened and its pipelines
/// built only when the GPU is taken (on a software adapter that work took
/// seconds, and nothing used it). `webgpu` is whether the page's own
/// thread has WebGPU: a worker whose page has none does not look for it.
async fn choose(choice: BackendChoice, webgpu: bool) -> Choice {
    let live = SHARED_GPU
        .with(|s| s.borrow().clone())
        .filter(|g| !g.is_lost());
    let probe = match &live {
        Some(g) => Ok(Adapter(g.info.clone())),
        None if !webgpu => {
            Err("navigator.gpu is undefined in this page: the browser offers it no WebGPU".into())
        }
        None => Adapter::probe().await.map_err(|e| e.to_string()),
    };
    let adapter = match &probe {
        Ok(a) => a.summary(),
        Err(_) => "no WebGPU adapter".into(),
    };
    let cpu = |note: &str, detail: String| (None, note.to_string(), detail);
    let (gpu, note, detail) = match probe {
        Ok(_) if choice == BackendChoice::Cpu => cpu("CPU backend, as chosen.", String::new()),
        Err(e) if choice == BackendChoice::Cpu => cpu("CPU backend, as chosen.", e),
        Ok(a) if choice.takes(&a) => match shared_gpu().await {
            Ok(g) => {
                let note = if a.is_software() {
                    "WebGPU, as chosen, on a software adapter: expect it to be slow."
                } else {
                    "WebGPU on a hardware adapter."
                };
                (Some(g), note.into(), String::new())
            }
            Err(e) => cpu(NO_WEBGPU, e),
        },
        Ok(_) => cpu(
            "CPU backend: this browser's WebGPU runs on a software adapter, about 100× slower than the CPU here.",
            String::new(),
        ),
        Err(e) => cpu(NO_WEBGPU, e),
    };
    Choice {
        gpu,
        note,
        detail,
        adapter,
    }
}

/// The lab on the chosen backend, with the scoring classifier if there is one
/// (a classifier that does not load costs the scores, not the page: the
/// message goes to `notices`).
fn build(
    gpu: Option<Rc<Gpu>>,
    configs: &[ModelConfig],
    digits: &Digits,
    o: &PageOptions,
    classifier: Option<&[u8]>,
    notices: &mut Vec<String>,
) -> Result<Engine, String> {
    let mut engine = match gpu {
        Some(g) => {
            let lab = Lab::new(&*g, configs, digits, o.seed, o.steps)?;
            Engine::Gpu(g, Box::new(lab))
        }
        None => {
            let c = Cpu::new();
            let lab = Lab::new(&c, configs, digits, o.seed, o.steps)?;
            Engine::Cpu(c, Box::new(lab))
        }
    };
    if let Some(bytes) = classifier {
        if let Err(e) = with_lab!(&mut engine, |b, lab| lab.set_judge(b, bytes)) {
            notices.push(format!(
                "No scores: the scoring classifier did not load ({e}). Training works without them."
            ));
        }
    }
    Ok(engine)
}

fn picture_js(p: &Picture) -> JsValue {
    let o = js_sys::Object::new();
    let set = |k: &str, v: JsValue| js_sys::Reflect::set(&o, &k.into(), &v).unwrap();
    set("width", (p.width as u32).into());
    set("height", (p.height as u32).into());
    set(
        "rgba",
        js_sys::Uint8ClampedArray::from(p.rgba().as_slice()).into(),
    );
    o.into()
}

/// The page's handle on its models.
#[wasm_bindgen]
pub struct Playground {
    inner: Rc<RefCell<Inner>>,
}

#[wasm_bindgen]
impl Playground {
    /// Builds pane `pane` of the page `query` asks for (URL parameters;
    /// the main thread reports wrong ones, see [`page`]) on the digits in
    /// `images` and `labels` (IDX), after choosing the backend (`webgpu`:
    /// whether the page's own thread has WebGPU).
    pub async fn create(
        query: String,
        pane: usize,
        images: Vec<u8>,
        labels: Vec<u8>,
        classifier: Option<Vec<u8>>,
        webgpu: bool,
    ) -> Result<Playground, JsValue> {
        let (options, _) = PageOptions::parse(&query);
        let digits = Digits::from_idx(&images, &labels).map_err(js_err)?;
        let configs = options.configs().0;
        let n = configs.len();
        let config = configs
            .into_iter()
            .nth(pane)
            .ok_or_else(|| js_err(format!("there is no pane {pane} (the page has {n})")))?;
        let choice = choose(options.backend, webgpu).await;
        let mut notices = Vec::new();
        let engine = build(
            choice.gpu,
            &[config],
            &digits,
            &options,
            classifier.as_deref(),
            &mut notices,
        )
        .map_err(js_err)?;
        let p = Playground {
            inner: Rc::new(RefCell::new(Inner {
                engine,
                options,
                webgpu,
                notices,
                classifier,
                note: choice.note,
                note_detail: choice.detail,
                adapter: choice.adapter,
                ms_per_round: 50.0,
                last_draw: f64::NEG_INFINITY,
                dirty: true,
            })),
        };
        Ok(p)
    }

    fn inner(&self) -> Result<std::cell::RefMut<'_, Inner>, JsValue> {
        self.inner.try_borrow_mut().map_err(|_| busy())
    }

    /// The page's own notices so far (one sentence or two each).
    pub fn notices(&self) -> Result<Vec<String>, JsValue> {
        Ok(self.inner()?.notices.clone())
    }

    /// {backend, note, adapter, real, panes: [{model, state, error, step, samples_seen, epoch, losses, score, ...}]}
    pub fn state(&self) -> Result<JsValue, JsValue> {
        let mut i = self.inner()?;
        let (backend, note, note_detail, adapter) = (
            match i.engine {
                Engine::Gpu(..) => "gpu",
                Engine::Cpu(..) => "cpu",
            },
            i.note.clone(),
            i.note_detail.clone(),
            i.adapter.clone(),
        );
        let (panes, real, scored): (Vec<_>, _, _) = with_lab!(&mut i.engine, |_b, lab| (
            lab.panes.iter().map(|p| p.view()).collect(),
            lab.real_score().cloned(),
            lab.judge.is_some()
        ));
        let obj = js_sys::Object::new();
        let set = |k: &str, v: JsValue| js_sys::Reflect::set(&obj, &k.into(), &v).unwrap();
        set("backend", backend.into());
        set("note", note.into());
        set("note_detail", note_detail.into());
        set("adapter", adapter.into());
        set(
            "panes",
            panes
                .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
                .map_err(js_err)?,
        );
        // The scores of real held-out digits (null until computed, or without a classifier).
        set("real", serde_wasm_bindgen::to_value(&real).map_err(js_err)?);
        set("scored", scored.into());
        Ok(obj.into())
    }

    /// One animation frame of work: rounds of steps (one step of each
    /// training pane) for about `budget_ms`, then the losses (which waits
    /// for the GPU: never more than a frame of work is queued), and the
    /// pictures every `draw_every_ms`. Resolves to "ok", "drawn" (the
    /// pictures are new) or "device-lost".
    pub fn frame(&self, budget_ms: f64, draw_every_ms: f64) -> js_sys::Promise {
        let inner = self.inner.clone();
        wasm_bindgen_futures::future_to_promise(async move {
            let mut guard = inner.try_borrow_mut().map_err(|_| busy())?;
            let i = &mut *guard;
            if let Engine::Gpu(g, _) = &i.engine {
                if g.is_lost() {
                    return Ok("device-lost".into());
                }
            }
            let t0 = js_sys::Date::now();
            let target = (budget_ms / i.ms_per_round).floor().clamp(1.0, 64.0) as usize;
            let mut rounds = 0;
            let mut drawn = false;
            let result: Result<(), BackendError> = with_lab!(&mut i.engine, |b, lab| 'work: {
                while rounds < target && js_sys::Date::now() - t0 < budget_ms {
                    if lab.step_round(b) == 0 {
                        break;
                    }
                    rounds += 1;
                }
                if let Err(e) = lab.poll(b).await {
                    break 'work Err(e);
                }
                let now = js_sys::Date::now();
                if i.dirty || (rounds > 0 && now - i.last_draw >= draw_every_ms) {
                    i.dirty = false;
                    i.last_draw = now;
                    if let Err(e) = lab.draw(b).await {
                        break 'work Err(e);
                    }
                    drawn = true;
                }
                // Then one slice of scoring, if any is due.
                lab.judge_tick(b).await.map(|_| ())
            });
            let lost = matches!(&i.engine, Engine::Gpu(g, _) if g.is_lost());
            match result {
                Err(e) if e.kind == ErrorKind::DeviceLost => return Ok("device-lost".into()),
                _ if lost => return Ok("device-lost".into()),
                r => r.map_err(js_err)?,
            }
            if rounds > 0 {
                let per = (js_sys::Date::now() - t0) / rounds as f64;
                i.ms_per_round = 0.8 * i.ms_per_round + 0.2 * per.max(0.05);
            }
            Ok((if drawn { "drawn" } else { "ok" }).into())
        })
    }

    /// The pane's pictures and loss curve, for the worker to post:
    /// `{grid, reconstructions, strip, manifold}`, each `{width, height,
    /// rgba}` or null (none yet, or none for this model), and `curve`: per
    /// point the step, then each loss (a Float32Array).
    pub fn pictures(&self) -> Result<JsValue, JsValue> {
        let mut i = self.inner()?;
        with_lab!(&mut i.engine, |_b, lab| {
            let p = lab.panes.first().ok_or_else(|| js_err("no pane"))?;
            let obj = js_sys::Object::new();
            let set = |k: &str, v: JsValue| js_sys::Reflect::set(&obj, &k.into(), &v).unwrap();
            let grid = Some(&p.grid).filter(|g| !g.grey.is_empty());
            for (name, pic) in [
                ("grid", grid),
                ("reconstructions", p.reconstructions.as_ref()),
                ("strip", p.strip.as_ref()),
                ("manifold", p.manifold.as_ref()),
            ] {
                set(name, pic.map(picture_js).unwrap_or(JsValue::NULL));
            }
            set(
                "curve",
                js_sys::Float32Array::from(p.curve().as_slice()).into(),
            );
            Ok(obj.into())
        })
    }

    /// Carries out a command of [`crate::app::protocol`] on this worker's
    /// pane: `command` is the plain object (`{do: "setting", key, value}`),
    /// `files` the contents of the files it carries (Uint8Arrays). Resolves
    /// to the answer: undefined, a boolean (`setting-rebuilds`), a string
    /// (`data`), a Uint8Array (`save`), [name, Uint8Array] pairs
    /// (`export`), the pad's view (`pad`: {digit, reading, label, panes:
    /// [{reconstruction, position, styles}]}) or {digit, label}
    /// (`held-out`); rejects with a message that says why nothing changed.
    pub fn handle(&self, command: JsValue, files: js_sys::Array) -> js_sys::Promise {
        let inner = self.inner.clone();
        wasm_bindgen_futures::future_to_promise(async move {
            let files = files
                .iter()
                .map(|f| js_sys::Uint8Array::new(&f).to_vec())
                .collect();
            let command = Command::check(Command::deserialize(
                serde_wasm_bindgen::Deserializer::from(command),
            ))
            .and_then(|c| c.with_files(files))
            .map_err(js_err)?;
            match command {
                Command::Backend { backend } => {
                    rebuild(&inner, &backend).await?;
                    return Ok(JsValue::UNDEFINED);
                }
                Command::LoseDevice => {
                    let i = inner.try_borrow().map_err(|_| busy())?;
                    return Ok(match &i.engine {
                        Engine::Gpu(g, _) => {
                            g.destroy();
                            true
                        }
                        Engine::Cpu(..) => false,
                    }
                    .into());
                }
                Command::Panic => {
                    let _held = inner.try_borrow_mut().map_err(|_| busy())?;
                    panic!("a deliberate panic, to test recovery from a bug");
                }
                _ => {}
            }
            let mut guard = inner.try_borrow_mut().map_err(|_| busy())?;
            let i = &mut *guard;
            let (answer, redraw) =
                with_lab!(&mut i.engine, |b, lab| lab.handle(b, 0, command).await)
                    .map_err(js_err)?;
            i.dirty |= redraw;
            Ok(match answer {
                Answer::Done => JsValue::UNDEFINED,
                Answer::Rebuilds(r) => r.into(),
                Answer::Summary(s) => s.into(),
                Answer::Bytes(bytes) => js_sys::Uint8Array::from(bytes.as_slice()).into(),
                Answer::Files(files) => files
                    .iter()
                    .map(|(name, bytes)| {
                        let pair = js_sys::Array::new();
                        pair.push(&JsValue::from_str(name));
                        pair.push(&js_sys::Uint8Array::from(bytes.as_slice()).into());
                        JsValue::from(pair)
                    })
                    .collect::<js_sys::Array>()
                    .into(),
                Answer::Pad(view) => serde_wasm_bindgen::to_value(&view).map_err(js_err)?,
                Answer::HeldOut { digit, label } => {
                    let obj = js_sys::Object::new();
                    let digit = js_sys::Uint8Array::from(digit.as_slice());
                    js_sys::Reflect::set(&obj, &"digit".into(), &digit.into())?;
                    js_sys::Reflect::set(&obj, &"label".into(), &label.into())?;
                    obj.into()
                }
            })
        })
    }

    /// Rebuilds the pane (same settings, new weights) on `backend`
    /// ("auto", "gpu", "cpu"; "" for the one chosen before, on a new GPU
    /// device after a loss).
    pub fn rebuild(&self, backend: String) -> js_sys::Promise {
        let inner = self.inner.clone();
        wasm_bindgen_futures::future_to_promise(async move {
            rebuild(&inner, &backend).await?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Whether the models' GPU device was lost (they must be rebuilt).
    pub fn device_lost(&self) -> Result<bool, JsValue> {
        Ok(matches!(&self.inner()?.engine, Engine::Gpu(g, _) if g.is_lost()))
    }
}

/// Rebuilds the lab in `inner` (same settings, new weights) on `backend`;
/// on an error the old one stays.
async fn rebuild(inner: &Rc<RefCell<Inner>>, backend: &str) -> Result<(), JsValue> {
    let (configs, data, options, classifier, webgpu) = {
        let mut i = inner.try_borrow_mut().map_err(|_| busy())?;
        let (configs, data) = with_lab!(&mut i.engine, |_b, lab| {
            let c: Vec<ModelConfig> = lab.panes.iter().map(|p| p.config().clone()).collect();
            let mut all = lab.train_set.clone();
            all.images.extend(&lab.held_out.images);
            all.labels.extend(&lab.held_out.labels);
            (c, all)
        });
        (
            configs,
            data,
            i.options.clone(),
            i.classifier.clone(),
            i.webgpu,
        )
    };
    // "" keeps the backend chosen before (after a device loss).
    let choice = match backend {
        "" => options.backend,
        b => BackendChoice::parse(b).map_err(js_err)?,
    };
    let chosen = choose(choice, webgpu).await;
    let mut notices = Vec::new();
    let engine = build(
        chosen.gpu,
        &configs,
        &data,
        &options,
        classifier.as_deref(),
        &mut notices,
    )
    .map_err(js_err)?;
    let mut i = inner.try_borrow_mut().map_err(|_| busy())?;
    i.notices = notices;
    i.engine = engine;
    i.note = chosen.note;
    i.note_detail = chosen.detail;
    i.adapter = chosen.adapter;
    i.options.backend = choice;
    i.ms_per_round = 50.0;
    i.dirty = true;
    Ok(())
}

/// Trains `model` at `size` ("full": the material's settings; "page": the
/// page's preset) and `batch` (0: the size's own) for `warmup` then `steps`
/// steps on `backend` ("gpu": WebGPU, whatever the adapter; "cpu": the CPU
/// backend in wasm) and returns one JSON line with the milliseconds per step
/// after warm-up, in the form of the TensorFlow.js peer benchmark. The digits
/// are random pixels, as the peer's: the figure is the speed of the step, not
/// of learning.
#[wasm_bindgen]
pub async fn bench(
    model: String,
    size: String,
    batch: usize,
    steps: usize,
    warmup: usize,
    backend: String,
) -> Result<String, JsValue> {
    let kind = ModelKind::parse(&model).map_err(|e| JsValue::from_str(&e))?;
    let chosen = crate::app::parse_size(&size).map_err(|e| JsValue::from_str(&e))?;
    // The steps run back to back without yielding: bound what a URL can ask.
    if !(1..=1000).contains(&steps) || warmup > 100 {
        return Err(JsValue::from_str(
            "steps must be 1 to 1000 and warmup 0 to 100: the benchmark runs them without a pause, and the tab waits for it",
        ));
    }
    let size = match chosen {
        Size::Page => "page",
        Size::Full => "full",
    };
    let preset = ModelConfig::preset(kind, chosen, ModelConfig::new(kind).seed);
    let config = ModelConfig {
        batch: if batch == 0 { preset.batch } else { batch },
        ..preset
    };
    config.validate().map_err(|e| JsValue::from_str(&e))?;
    let (ms, losses, device) = match backend.as_str() {
        "gpu" | "webgpu" => {
            let gpu = Gpu::new()
                .await
                .map_err(|e| JsValue::from_str(&e.to_string()))?;
            time_steps(&gpu, config.clone(), steps, warmup).await?
        }
        "cpu" => time_steps(&Cpu::new(), config.clone(), steps, warmup).await?,
        other => {
            return Err(JsValue::from_str(&format!(
                "unknown backend {other:?}: choose gpu or cpu"
            )))
        }
    };
    let names = config.loss_names();
    let losses: Vec<String> = names
        .iter()
        .zip(&losses)
        .map(|(n, v)| format!("\"{n}\":{v}"))
        .collect();
    Ok(format!(
        "{{\"peer\":\"genlab-{}\",\"backend\":\"{backend}\",\"device\":{:?},\"model\":\"{kind}\",\"size\":\"{size}\",\"batch\":{},\"steps\":{steps},\"warmup\":{warmup},\"ms_per_step\":{ms:.2},{}}}",
        env!("CARGO_PKG_VERSION"),
        device,
        config.batch,
        losses.join(",")
    ))
}

/// Profiles one training step of `model` at `batch` on WebGPU (see
/// `crate::profile`): `reps` timed runs. Returns [the table as text, the
/// profile as one JSON line].
#[wasm_bindgen]
pub async fn profile(model: String, batch: usize, reps: usize) -> Result<Vec<String>, JsValue> {
    let err = |e: String| JsValue::from_str(&e);
    let kind = ModelKind::parse(&model).map_err(err)?;
    if !(1..=100).contains(&reps) {
        return Err(err(
            "reps must be 1 to 100: the profile runs them without a pause".into(),
        ));
    }
    let config = ModelConfig {
        batch,
        ..ModelConfig::new(kind)
    };
    config.validate().map_err(err)?;
    let gpu = Gpu::new().await.map_err(|e| err(e.to_string()))?;
    let p = crate::profile::profile_step(&gpu, config, reps, None, &js_sys::Date::now)
        .await
        .map_err(err)?;
    Ok(vec![p.to_string(), p.to_json()])
}

async fn time_steps<B: Backend>(
    b: &B,
    config: ModelConfig,
    steps: usize,
    warmup: usize,
) -> Result<(f64, Vec<f32>, String), JsValue> {
    let err = |e: String| JsValue::from_str(&e);
    let digits = crate::profile::noise_digits(2 * config.batch, config.seed);
    let model = Model::new(b, config).map_err(err)?;
    let mut t = Trainer::new(b, model, digits).map_err(err)?;
    for _ in 0..warmup {
        t.step(b);
    }
    // Reading the loss sums waits for every step submitted so far.
    t.read_losses(b).await.map_err(|e| err(e.to_string()))?;
    let t0 = js_sys::Date::now();
    for _ in 0..steps {
        t.step(b);
    }
    let point = t
        .read_losses(b)
        .await
        .map_err(|e| err(e.to_string()))?
        .ok_or_else(|| err("no step ran".into()))?;
    let ms = (js_sys::Date::now() - t0) / steps as f64;
    Ok((ms, point.values, b.describe()))
}
