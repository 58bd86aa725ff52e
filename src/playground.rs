//! The playground's logic, the same natively and in the browser (web.rs only
//! wraps it for JavaScript and draws): the page's options from URL
//! parameters, page-sized model presets, each pane's run state, and [`Lab`]:
//! models trained interleaved on the same mini-batches, with their sample
//! grids, reconstructions, interpolation strips, 2-D manifolds and loss
//! curves, all read back a few times a second, never per step.

pub use crate::backends::BackendChoice;
use crate::backends::{Backend, BackendError};
use crate::core::rng::Rng;
use crate::data::{Digits, PIXELS};
pub use crate::models::Size;
use crate::models::{Evaluator, Model, ModelConfig, ModelKind, Sampler, GRID, SETTINGS};
use crate::score::{Classifier, FeatureExtractor, FeatureStats, Outputs, Scores, CLASSES};
use crate::train::{self, LossPoint, Trainer};
use serde::Serialize;

/// Digits kept out of training for reconstructions (the last of the set).
pub const HELD_OUT: usize = 1000;
/// Reconstructions shown per pane (inputs above, outputs below).
pub const RECONSTRUCTIONS: usize = 8;
/// Samples in an interpolation strip.
pub const STRIP: usize = 10;
/// The 2-D manifold is this many samples a side.
pub const MANIFOLD_SIDE: usize = 10;
/// Samples scored per pane (and real held-out digits in the floor).
pub const SCORE_SAMPLES: usize = 512;
/// Digits one frame's slice of scoring runs through the classifier.
pub const SCORE_CHUNK: usize = 32;
/// Training digits whose features are the reference statistics.
pub const REFERENCE_DIGITS: usize = 2048;
/// Loss points kept per pane: beyond this, neighbours are merged.
const HISTORY: usize = 1200;

// ------------------------------------------------------------------ options

/// `size=page|full`.
pub fn parse_size(s: &str) -> Result<Size, String> {
    {
        match s {
            "page" | "small" => Ok(Size::Page),
            "full" => Ok(Size::Full),
            _ => Err(format!("size={}: choose page or full", shown(s))),
        }
    }
}

/// What a page (or a `mount` call) asks for.
#[derive(Clone, Debug, PartialEq)]
pub struct PageOptions {
    /// One or two panes.
    pub models: Vec<ModelKind>,
    pub autostart: bool,
    pub seed: u32,
    /// Stop after this many steps.
    pub steps: Option<u64>,
    pub controls: bool,
    pub charts: bool,
    pub compact: bool,
    pub backend: BackendChoice,
    pub size: Size,
    /// Every pane's latent size, instead of its preset's.
    pub latent: Option<usize>,
}

impl Default for PageOptions {
    fn default() -> Self {
        PageOptions {
            models: vec![ModelKind::Dcgan, ModelKind::ConvVae],
            autostart: false,
            seed: 1,
            steps: None,
            controls: true,
            charts: true,
            compact: false,
            backend: BackendChoice::Auto,
            size: Size::Page,
            latent: None,
        }
    }
}

/// The parameters a page understands, for the message about an unknown one.
pub const PARAMETERS: &str =
    "models, autostart, seed, steps, controls, charts, compact, backend, size, latent";

/// Text from a URL as a message shows it: at most 24 characters (then "…"),
/// control characters escaped, so that a link cannot write the page's
/// messages for it.
pub fn shown(s: &str) -> String {
    const MAX: usize = 24;
    let mut out: String = s
        .chars()
        .take(MAX)
        .collect::<String>()
        .escape_debug()
        .to_string();
    if s.chars().nth(MAX).is_some() {
        out.push('…');
    }
    out
}

fn flag(key: &str, v: &str) -> Result<bool, String> {
    match v {
        "1" | "true" | "yes" | "" => Ok(true),
        "0" | "false" | "no" => Ok(false),
        _ => Err(format!("{key}={}: use 1 or 0", shown(v))),
    }
}

fn whole<T: std::str::FromStr>(key: &str, v: &str, lo: u64, hi: u64) -> Result<T, String> {
    match v.parse::<u64>() {
        Ok(n) if (lo..=hi).contains(&n) => v
            .parse()
            .map_err(|_| format!("{key}={}: out of range", shown(v))),
        _ => Err(format!(
            "{key}={}: expected a whole number in {lo}..={hi}",
            shown(v)
        )),
    }
}

/// `%2C` → `,`, `+` → space: enough of URL decoding for these values.
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl PageOptions {
    /// Reads a query string (`?models=dcgan,conv-vae&autostart=1`). Every
    /// wrong parameter is reported (one message each) and left at its
    /// default, so the page still comes up and says what to fix.
    pub fn parse(query: &str) -> (PageOptions, Vec<String>) {
        let mut o = PageOptions::default();
        let mut problems = Vec::new();
        for pair in query.trim_start_matches('?').split('&') {
            if pair.is_empty() {
                continue;
            }
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let (key, value) = (decode(key), decode(value));
            let value = value.trim();
            let result = match key.as_str() {
                "models" => parse_models(value).map(|m| o.models = m),
                "autostart" => flag(&key, value).map(|v| o.autostart = v),
                "seed" => whole(&key, value, 0, u32::MAX as u64).map(|v| o.seed = v),
                "steps" => whole(&key, value, 1, 10_000_000).map(|v| o.steps = Some(v)),
                "controls" => flag(&key, value).map(|v| o.controls = v),
                "charts" => flag(&key, value).map(|v| o.charts = v),
                "compact" => flag(&key, value).map(|v| o.compact = v),
                "backend" => BackendChoice::parse(value)
                    .map(|v| o.backend = v)
                    .map_err(|e| format!("backend={}: {e}", shown(value))),
                "size" => parse_size(value).map(|v| o.size = v),
                "latent" => whole(&key, value, 1, 1024).map(|v| o.latent = Some(v)),
                _ => Err(format!(
                    "unknown parameter \"{}\" ignored (the page reads {PARAMETERS})",
                    shown(&key)
                )),
            };
            if let Err(e) = result {
                problems.push(e);
            }
        }
        (o, problems)
    }
}

impl PageOptions {
    /// Each pane's settings: its preset at the page's size and seed, with
    /// the page's latent size if given and valid for that model (if not,
    /// the preset's, and a message).
    pub fn configs(&self) -> (Vec<ModelConfig>, Vec<String>) {
        let mut problems = Vec::new();
        let configs = self
            .models
            .iter()
            .map(|&k| {
                let c = preset(k, self.size, self.seed);
                match self.latent {
                    Some(latent) => {
                        let with = ModelConfig {
                            latent,
                            ..c.clone()
                        };
                        match with.validate() {
                            Ok(()) => with,
                            Err(e) => {
                                problems.push(format!("latent={latent}: {e}"));
                                c
                            }
                        }
                    }
                    None => c,
                }
            })
            .collect();
        (configs, problems)
    }
}

fn parse_models(v: &str) -> Result<Vec<ModelKind>, String> {
    let kinds = v
        .split(',')
        .map(|m| {
            ModelKind::parse(m.trim()).map_err(|_| {
                let names: Vec<&str> = ModelKind::ALL.iter().map(|k| k.name()).collect();
                format!(
                    "models={}: unknown model \"{}\": choose one of {}",
                    shown(v),
                    shown(m.trim()),
                    names.join(", ")
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    match kinds.len() {
        1 | 2 => Ok(kinds),
        n => Err(format!(
            "models={}: give one or two models, not {n}",
            shown(v)
        )),
    }
}

/// A model's settings on the page: its registry preset at `size`
/// ([`ModelConfig::preset`]).
pub fn preset(kind: ModelKind, size: Size, seed: u32) -> ModelConfig {
    ModelConfig::preset(kind, size, seed)
}

/// Whether going from `old` to `new` settings needs the model rebuilt (and
/// its training lost): another model, or a setting that [`SETTINGS`] marks
/// as rebuilding (all but the learning rate).
pub fn needs_rebuild(old: &ModelConfig, new: &ModelConfig) -> bool {
    old.kind != new.kind
        || SETTINGS
            .iter()
            .any(|s| s.rebuilds && s.get(old) != s.get(new))
}

/// Applies one setting by name, as the page's controls send it ([`ModelConfig::with`]).
pub fn with_setting(c: &ModelConfig, key: &str, value: &str) -> Result<ModelConfig, String> {
    c.with(key, value)
}

// ------------------------------------------------------------- run state

/// Where a pane is.
#[derive(Clone, Debug, PartialEq)]
pub enum RunState {
    /// Built, not started (or reset).
    Ready,
    Training,
    Paused,
    /// Reached the page's step limit.
    Finished,
    /// Stopped by a failure (a loss that is not finite); Reset recovers.
    Failed(String),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    Train,
    Pause,
    Reset,
    ReachedLimit,
    Failure(String),
}

impl RunState {
    pub fn on(self, e: Event) -> RunState {
        use RunState::*;
        match (self, e) {
            (_, Event::Reset) => Ready,
            (Ready | Paused | Training, Event::Train) => Training,
            (Training, Event::Pause) => Paused,
            (Training, Event::ReachedLimit) => Finished,
            (Training | Paused | Ready, Event::Failure(why)) => Failed(why),
            (s, _) => s,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            RunState::Ready => "ready",
            RunState::Training => "training",
            RunState::Paused => "paused",
            RunState::Finished => "finished",
            RunState::Failed(_) => "failed",
        }
    }
}

// ---------------------------------------------------------------- latents

/// `n` latents on the great-circle path between two fixed N(0, I) draws
/// (slerp: a linear path would pass through the unlikely middle of the ball).
pub fn interpolation_latents(c: &ModelConfig, n: usize, seed: u32) -> Vec<f32> {
    let mut rng = Rng::new(seed, 11);
    let (a, b) = (rng.normal_vec(c.latent, 1.0), rng.normal_vec(c.latent, 1.0));
    let dot: f64 = a.iter().zip(&b).map(|(x, y)| (x * y) as f64).sum();
    let norm = |v: &[f32]| v.iter().map(|x| (x * x) as f64).sum::<f64>().sqrt();
    let omega = (dot / (norm(&a) * norm(&b))).clamp(-1.0, 1.0).acos();
    let mut out = Vec::with_capacity(n * c.latent);
    for i in 0..n {
        let t = i as f64 / (n.max(2) - 1) as f64;
        let (wa, wb) = if omega.abs() < 1e-6 {
            (1.0 - t, t)
        } else {
            (
                ((1.0 - t) * omega).sin() / omega.sin(),
                (t * omega).sin() / omega.sin(),
            )
        };
        out.extend(
            a.iter()
                .zip(&b)
                .map(|(x, y)| (wa * *x as f64 + wb * *y as f64) as f32),
        );
    }
    out
}

/// The inverse of the standard normal CDF (Acklam's rational approximation,
/// relative error below 1.2e-9).
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.38357751867269e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] = [
        -5.447609879822406e1,
        1.615858368580409e2,
        -1.556989798598866e2,
        6.680131188771972e1,
        -1.328068155288572e1,
    ];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [
        7.784695709041462e-3,
        3.224671290700398e-1,
        2.445134137142996,
        3.754408661907416,
    ];
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

/// A `side`×`side` grid over a 2-D latent space at evenly spaced quantiles
/// of N(0, 1) on each axis (rows: the second coordinate, top = high).
pub fn manifold_latents(side: usize) -> Vec<f32> {
    let q = |i: usize| normal_quantile((i as f64 + 0.5) / side as f64) as f32;
    let mut out = Vec::with_capacity(side * side * 2);
    for r in 0..side {
        for col in 0..side {
            out.extend([q(col), q(side - 1 - r)]);
        }
    }
    out
}

// ------------------------------------------------------------------- panes

/// A drawn grid of digits: grey bytes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Picture {
    pub width: usize,
    pub height: usize,
    pub grey: Vec<u8>,
}

impl Picture {
    fn of(tiles: &[u8], cols: usize) -> Picture {
        let (width, height, grey) = train::tile(tiles, cols, 2);
        Picture {
            width,
            height,
            grey,
        }
    }

    /// RGBA, for a canvas's ImageData.
    pub fn rgba(&self) -> Vec<u8> {
        self.grey.iter().flat_map(|&g| [g, g, g, 255]).collect()
    }

    /// Whether anything is drawn: not all one value.
    pub fn is_blank(&self) -> bool {
        self.grey.iter().all(|&g| g == self.grey[0])
    }
}

/// A sampler with the latents it draws from.
struct Drawn<B: Backend> {
    sampler: Sampler<B>,
    input: Vec<f32>,
}

/// One model on the page: its trainer, run state, pictures and curve.
pub struct Pane<B: Backend> {
    pub trainer: Trainer<B>,
    pub state: RunState,
    pub history: Vec<LossPoint>,
    /// The 8×8 grid from fixed latents (the autoencoder: held-out digits'
    /// reconstructions).
    pub grid: Picture,
    /// Held-out inputs (top row) and reconstructions (bottom), AE and VAEs.
    pub reconstructions: Option<Picture>,
    /// Samples along a path between two latents (not the autoencoder: its
    /// sampler takes digits, not codes).
    pub strip: Option<Picture>,
    /// The decoder over a grid of the 2-D latent space (a VAE with latent 2).
    pub manifold: Option<Picture>,
    /// The classifier's scores of the pane's samples, when last scored.
    pub score: Option<ScoreView>,
    /// Score again once the pane reaches this step.
    pub next_score: u64,
    grid_drawn: Drawn<B>,
    /// Draws `SCORE_SAMPLES` samples, `SCORE_CHUNK` at a time, for the scores.
    score_drawn: Drawn<B>,
    strip_drawn: Option<Drawn<B>>,
    manifold_drawn: Option<Drawn<B>>,
    recon: Option<(Evaluator<B>, B::Readback, Vec<u8>)>,
}

impl<B: Backend> Pane<B> {
    /// Builds a model and what draws its pictures.
    pub fn new(
        b: &B,
        config: ModelConfig,
        train_set: &Digits,
        held_out: &Digits,
        data_seed: u32,
    ) -> Result<Pane<B>, String> {
        config.validate()?;
        let model = Model::new(b, config.clone())?;
        let kind = config.kind;
        let grid_input = if kind == ModelKind::Autoencoder {
            pixels01(&held_out.images[..GRID.min(held_out.len()) * PIXELS], GRID)
        } else {
            train::latents(&config, GRID, config.seed)
        };
        let grid_drawn = Drawn {
            sampler: model.sampler(b, GRID),
            input: grid_input,
        };
        let score_drawn = Drawn {
            sampler: model.sampler(b, SCORE_CHUNK),
            input: if kind == ModelKind::Autoencoder {
                let count = SCORE_SAMPLES.min(held_out.len());
                pixels01(&held_out.images[..count * PIXELS], SCORE_SAMPLES)
            } else {
                train::latents(&config, SCORE_SAMPLES, config.seed.wrapping_add(2))
            },
        };
        let strip_drawn = (kind != ModelKind::Autoencoder).then(|| Drawn {
            sampler: model.sampler(b, STRIP),
            input: interpolation_latents(&config, STRIP, config.seed),
        });
        let manifold_drawn = (kind.is_vae() && config.latent == 2).then(|| Drawn {
            sampler: model.sampler(b, MANIFOLD_SIDE * MANIFOLD_SIDE),
            input: manifold_latents(MANIFOLD_SIDE),
        });
        let recon = if held_out.len() >= RECONSTRUCTIONS {
            model.evaluator(b, RECONSTRUCTIONS).map(|e| {
                let digits = held_out.images[..RECONSTRUCTIONS * PIXELS].to_vec();
                b.write(e.input(), 0, &pixels01(&digits, RECONSTRUCTIONS));
                let readback = b.readback(e.output());
                (e, readback, digits)
            })
        } else {
            None
        };
        let mut trainer = Trainer::new(b, model, train_set.clone())?;
        trainer.data_seed = data_seed;
        Ok(Pane {
            trainer,
            state: RunState::Ready,
            history: Vec::new(),
            grid: Picture::default(),
            reconstructions: None,
            strip: None,
            manifold: None,
            score: None,
            next_score: 0,
            grid_drawn,
            score_drawn,
            strip_drawn,
            manifold_drawn,
            recon,
        })
    }

    pub fn config(&self) -> &ModelConfig {
        self.trainer.model.config()
    }

    pub fn latest(&self) -> Option<&LossPoint> {
        self.history.last()
    }

    /// Reads the losses since the last read into the curve; a loss that is
    /// not finite fails the pane (with what to do), and the step limit finishes it.
    pub async fn poll(&mut self, b: &B, limit: Option<u64>) -> Result<(), BackendError> {
        if let Some(p) = self.trainer.read_losses(b).await? {
            let bad = self
                .config()
                .loss_names()
                .iter()
                .zip(&p.values)
                .find(|(_, v)| !v.is_finite());
            if let Some((name, v)) = bad {
                let why = format!(
                    "{} became {v} near step {}: training diverged. Reset, and try a lower learning rate (now {}).",
                    name.replace('_', " "),
                    p.step,
                    self.config().lr
                );
                self.state = self.state.clone().on(Event::Failure(why));
            }
            push_point(&mut self.history, p);
        }
        if limit.is_some_and(|l| self.trainer.step >= l) {
            self.state = self.state.clone().on(Event::ReachedLimit);
        }
        Ok(())
    }

    /// Draws every picture from the current weights (a few small forward
    /// passes and one readback each).
    pub async fn draw(&mut self, b: &B) -> Result<(), BackendError> {
        let kind = self.config().kind;
        let model = &self.trainer.model;
        let d = &self.grid_drawn;
        let px = train::sample(b, model, &d.sampler, &d.input).await?;
        self.grid = Picture::of(&train::to_bytes(&px), 8);
        if let Some(d) = &self.strip_drawn {
            let px = train::sample(b, model, &d.sampler, &d.input).await?;
            self.strip = Some(Picture::of(&train::to_bytes(&px), STRIP));
        }
        if let Some(d) = &self.manifold_drawn {
            let px = train::sample(b, model, &d.sampler, &d.input).await?;
            self.manifold = Some(Picture::of(&train::to_bytes(&px), MANIFOLD_SIDE));
        }
        if let Some((e, readback, digits)) = &self.recon {
            b.run(|pass| e.forward(pass));
            let out = b.read(readback).await?;
            let mut tiles = digits.clone();
            tiles.extend(train::to_bytes(&train::to_pixels(kind, &out)));
            self.reconstructions = Some(Picture::of(&tiles, RECONSTRUCTIONS));
        }
        Ok(())
    }
}

fn pixels01(bytes: &[u8], n: usize) -> Vec<f32> {
    let mut v: Vec<f32> = bytes.iter().map(|&p| p as f32 / 255.0).collect();
    v.resize(n * PIXELS, 0.0);
    v
}

/// Appends a loss point; past `HISTORY` points, merges neighbours pairwise
/// (weighted by their steps), so a long run keeps its whole shape.
fn push_point(history: &mut Vec<LossPoint>, p: LossPoint) {
    history.push(p);
    if history.len() <= HISTORY {
        return;
    }
    let merged = history
        .chunks(2)
        .map(|pair| match pair {
            [a, b] => {
                let steps = a.steps + b.steps;
                LossPoint {
                    step: b.step,
                    steps,
                    values: a
                        .values
                        .iter()
                        .zip(&b.values)
                        .map(|(x, y)| {
                            ((*x as f64 * a.steps as f64 + *y as f64 * b.steps as f64)
                                / steps as f64) as f32
                        })
                        .collect(),
                }
            }
            [a] => a.clone(),
            _ => unreachable!(),
        })
        .collect();
    *history = merged;
}

// -------------------------------------------------------------------- lab

/// The panes of one page, trained interleaved (one step of each in turn)
/// on the same data, the same data order and so, at one batch size, the
/// same mini-batches.
pub struct Lab<B: Backend> {
    pub panes: Vec<Pane<B>>,
    pub train_set: Digits,
    pub held_out: Digits,
    /// Draws the data order of every pane.
    pub data_seed: u32,
    /// Stop each pane after this many steps.
    pub limit: Option<u64>,
    /// The scoring classifier, when the page has one.
    pub judge: Option<Judge<B>>,
    /// Score a pane first at this step, then every `score_every` steps.
    pub score_first: u64,
    pub score_every: u64,
}

impl<B: Backend> Lab<B> {
    /// Builds one pane per config on `digits` (the last [`HELD_OUT`] held out).
    pub fn new(
        b: &B,
        configs: &[ModelConfig],
        digits: &Digits,
        data_seed: u32,
        limit: Option<u64>,
    ) -> Result<Lab<B>, String> {
        let (train_set, held_out) = split(digits)?;
        let panes = configs
            .iter()
            .map(|c| Pane::new(b, c.clone(), &train_set, &held_out, data_seed))
            .collect::<Result<_, _>>()?;
        let mut lab = Lab {
            panes,
            train_set,
            held_out,
            data_seed,
            limit,
            judge: None,
            score_first: 200,
            score_every: 500,
        };
        for p in &mut lab.panes {
            p.next_score = lab.score_first;
        }
        Ok(lab)
    }

    /// Replaces pane `i` with a new model (its training is lost).
    pub fn rebuild(&mut self, b: &B, i: usize, config: ModelConfig) -> Result<(), String> {
        let mut pane = Pane::new(b, config, &self.train_set, &self.held_out, self.data_seed)?;
        pane.next_score = self.score_first;
        self.replace(i, pane)
    }

    fn replace(&mut self, i: usize, pane: Pane<B>) -> Result<(), String> {
        *self.pane_mut(i)? = pane;
        if let Some(j) = &mut self.judge {
            if matches!(j.job, Some(Job::Pane { pane, .. }) if pane == i) {
                j.job = None;
            }
        }
        Ok(())
    }

    /// Scores the panes with the classifier in `bytes` (safetensors from
    /// `genlab train --model classifier`), a slice at a time ([`Lab::judge_tick`]).
    pub fn set_judge(&mut self, b: &B, bytes: &[u8]) -> Result<(), String> {
        let classifier = Classifier::load(b, bytes)?;
        let extractor = classifier.extractor(b, SCORE_CHUNK);
        self.judge = Some(Judge {
            classifier,
            extractor,
            reference: None,
            real: None,
            job: None,
        });
        Ok(())
    }

    /// One slice of scoring work (`SCORE_CHUNK` digits through the
    /// classifier, and at the end of a set the statistics), so that scoring
    /// never stalls training: the reference statistics of the training
    /// digits, then the real held-out digits' scores (the floor), then any
    /// pane due for a score. Returns whether it did anything.
    pub async fn judge_tick(&mut self, b: &B) -> Result<bool, BackendError> {
        let Lab {
            judge,
            panes,
            train_set,
            held_out,
            score_every,
            ..
        } = self;
        let Some(j) = judge else { return Ok(false) };
        if j.job.is_none() {
            j.job = if j.reference.is_none() {
                Some(Job::Reference(Outputs::default()))
            } else if j.real.is_none() {
                Some(Job::Real(Outputs::default()))
            } else {
                panes
                    .iter()
                    .position(|p| {
                        p.trainer.step > 0
                            && p.trainer.step >= p.next_score
                            && !matches!(p.state, RunState::Failed(_))
                    })
                    .map(|i| Job::Pane {
                        pane: i,
                        step: panes[i].trainer.step,
                        out: Outputs::default(),
                    })
            };
        }
        let f = j.classifier.config.features;
        match &mut j.job {
            None => return Ok(false),
            Some(Job::Reference(out)) => {
                let total = REFERENCE_DIGITS.min(train_set.len());
                if next_slice(b, &j.extractor, &train_set.images, total, out).await? {
                    j.reference = Some(FeatureStats::of(&out.features, f));
                    j.job = None;
                }
            }
            Some(Job::Real(out)) => {
                let total = SCORE_SAMPLES.min(held_out.len());
                if next_slice(b, &j.extractor, &held_out.images, total, out).await? {
                    let s = Scores::of(out, j.reference.as_ref().unwrap());
                    j.real = Some(ScoreView::of(0, &s));
                    j.job = None;
                }
            }
            Some(Job::Pane { pane, step, out }) => {
                let p = &mut panes[*pane];
                let d = &p.score_drawn;
                let per = d.input.len() / SCORE_SAMPLES;
                let next = out.count;
                let input = &d.input[next * per..(next + SCORE_CHUNK) * per];
                let px = train::sample(b, &p.trainer.model, &d.sampler, input).await?;
                let o = j.extractor.run(b, &train::to_bytes(&px)).await?;
                extend(out, o);
                if out.count >= SCORE_SAMPLES {
                    let s = Scores::of(out, j.reference.as_ref().unwrap());
                    p.score = Some(ScoreView::of(*step, &s));
                    p.next_score = *step + *score_every;
                    j.job = None;
                }
            }
        }
        Ok(true)
    }

    /// The real held-out digits' scores: the floor a model can reach.
    pub fn real_score(&self) -> Option<&ScoreView> {
        self.judge.as_ref().and_then(|j| j.real.as_ref())
    }

    /// Starts pane `i` again from new weights with the same settings.
    pub fn reset(&mut self, b: &B, i: usize) -> Result<(), String> {
        let config = self.pane_mut(i)?.config().clone();
        self.rebuild(b, i, config)
    }

    pub fn send(&mut self, i: usize, e: Event) -> Result<(), String> {
        let p = self.pane_mut(i)?;
        p.state = p.state.clone().on(e);
        Ok(())
    }

    fn pane_mut(&mut self, i: usize) -> Result<&mut Pane<B>, String> {
        let n = self.panes.len();
        self.panes
            .get_mut(i)
            .ok_or_else(|| format!("there is no pane {i} (the page has {n})"))
    }

    /// One step of each training pane that is under the limit; returns how
    /// many ran. Nothing is read back.
    pub fn step_round(&mut self, b: &B) -> usize {
        let mut ran = 0;
        for p in &mut self.panes {
            let under = self.limit.is_none_or(|l| p.trainer.step < l);
            if p.state == RunState::Training && under {
                p.trainer.step(b);
                ran += 1;
            }
        }
        ran
    }

    /// Reads every pane's losses (this waits for the steps submitted so far).
    pub async fn poll(&mut self, b: &B) -> Result<(), BackendError> {
        for p in &mut self.panes {
            p.poll(b, self.limit).await?;
        }
        Ok(())
    }

    pub async fn draw(&mut self, b: &B) -> Result<(), BackendError> {
        for p in &mut self.panes {
            p.draw(b).await?;
        }
        Ok(())
    }

    /// Trains every pane on other digits from its next step (the last
    /// [`HELD_OUT`] held out). On error nothing changes.
    pub fn set_data(&mut self, digits: &Digits) -> Result<(), String> {
        let (train_set, held_out) = split(digits)?;
        for p in &self.panes {
            if train_set.len() < p.config().batch {
                return Err(format!(
                    "{} training digits are fewer than one batch of {} ({})",
                    train_set.len(),
                    p.config().batch,
                    p.config().kind
                ));
            }
        }
        for p in &mut self.panes {
            p.trainer.set_data(train_set.clone())?;
            // Scored against the new data from the next slice on.
            p.score = None;
            p.next_score = p.trainer.step;
        }
        self.train_set = train_set;
        self.held_out = held_out;
        if let Some(j) = &mut self.judge {
            (j.reference, j.real, j.job) = (None, None, None);
        }
        Ok(())
    }

    /// Pane `i`'s weights, Adam state and settings as safetensors.
    pub async fn save(&self, b: &B, i: usize) -> Result<Vec<u8>, String> {
        let p = self
            .panes
            .get(i)
            .ok_or_else(|| format!("there is no pane {i}"))?;
        train::save_weights(b, &p.trainer.model)
            .await
            .map_err(|e| e.to_string())
    }

    /// Replaces pane `i` with the model in a safetensors file written by
    /// [`Lab::save`] or `genlab train`, continuing from its step.
    pub fn load(&mut self, b: &B, i: usize, bytes: &[u8]) -> Result<(), String> {
        let saved = train::read_weights(bytes)?;
        let config = saved.config.clone().ok_or(
            "this safetensors file has no genlab settings in its header: save weights from genlab",
        )?;
        let mut pane = Pane::new(b, config, &self.train_set, &self.held_out, self.data_seed)?;
        pane.trainer.resume(b, &saved)?;
        pane.next_score = pane.trainer.step;
        self.replace(i, pane)
    }
}

/// The scoring classifier and its work in progress.
pub struct Judge<B: Backend> {
    classifier: Classifier<B>,
    extractor: FeatureExtractor<B>,
    /// Feature statistics of `REFERENCE_DIGITS` training digits.
    reference: Option<FeatureStats>,
    /// The scores of real held-out digits.
    real: Option<ScoreView>,
    job: Option<Job>,
}

/// A set of digits going through the classifier a slice at a time.
enum Job {
    Reference(Outputs),
    Real(Outputs),
    Pane {
        pane: usize,
        step: u64,
        out: Outputs,
    },
}

/// Runs the next `SCORE_CHUNK` of the first `total` digits in `images`
/// through the classifier into `out`; returns whether all `total` are in.
async fn next_slice<B: Backend>(
    b: &B,
    extractor: &FeatureExtractor<B>,
    images: &[u8],
    total: usize,
    out: &mut Outputs,
) -> Result<bool, BackendError> {
    let (next, end) = (out.count, (out.count + SCORE_CHUNK).min(total));
    let o = extractor
        .run(b, &images[next * PIXELS..end * PIXELS])
        .await?;
    extend(out, o);
    Ok(end == total)
}

fn extend(out: &mut Outputs, more: Outputs) {
    out.count += more.count;
    out.features.extend(more.features);
    out.logits.extend(more.logits);
}

/// A pane's (or the real digits') scores, as the page shows them.
#[derive(Clone, Debug, Serialize)]
pub struct ScoreView {
    /// The step of the weights scored.
    pub step: u64,
    pub samples: usize,
    pub fid: f64,
    pub inception_score: f64,
    pub class_shares: [f64; CLASSES],
}

impl ScoreView {
    fn of(step: u64, s: &Scores) -> ScoreView {
        ScoreView {
            step,
            samples: s.count,
            fid: s.fid,
            inception_score: s.inception_score,
            class_shares: s.class_shares,
        }
    }
}

/// Reads the two files of an MNIST-format set (images and labels, gzip or
/// raw, in either order: told apart by their magic numbers).
pub fn digits_from_files(files: &[&[u8]]) -> Result<Digits, String> {
    let [a, b] = files else {
        return Err(format!(
            "choose two files, the images and the labels (IDX, gzip or raw), not {}",
            files.len()
        ));
    };
    let is_labels = crate::data::is_labels_file;
    let (images, labels) = if is_labels(a) && !is_labels(b) {
        (b, a)
    } else {
        (a, b)
    };
    Digits::from_idx(images, labels).map_err(|e| e.to_string())
}

/// What the page shows of a pane, as it serialises to JavaScript.
#[derive(Clone, Debug, Serialize)]
pub struct PaneView {
    /// Every setting by its key (`model`, `latent`, `batch`, `lr`, …, as [`SETTINGS`]).
    #[serde(flatten)]
    pub config: ModelConfig,
    pub state: &'static str,
    pub error: Option<String>,
    pub step: u64,
    pub samples_seen: u64,
    pub epoch: f64,
    pub params: usize,
    pub loss_names: Vec<&'static str>,
    /// The latest mean losses (over the steps since the read before).
    pub losses: Vec<f32>,
    pub score: Option<ScoreView>,
    pub next_score: u64,
}

impl<B: Backend> Pane<B> {
    pub fn view(&self) -> PaneView {
        let c = self.config();
        PaneView {
            config: c.clone(),
            state: self.state.name(),
            error: match &self.state {
                RunState::Failed(why) => Some(why.clone()),
                _ => None,
            },
            step: self.trainer.step,
            samples_seen: self.trainer.samples_seen(),
            epoch: self.trainer.epoch(),
            params: self.trainer.model.param_count(),
            loss_names: c.loss_names().to_vec(),
            losses: self.latest().map(|p| p.values.clone()).unwrap_or_default(),
            score: self.score.clone(),
            next_score: self.next_score,
        }
    }

    /// The loss curve flattened: step, then each loss, per point.
    pub fn curve(&self) -> Vec<f32> {
        self.history
            .iter()
            .flat_map(|p| std::iter::once(p.step as f32).chain(p.values.iter().copied()))
            .collect()
    }
}

/// Training digits and the last [`HELD_OUT`] (fewer for a small set: a tenth).
fn split(digits: &Digits) -> Result<(Digits, Digits), String> {
    if digits.len() < 2 * GRID {
        return Err(format!(
            "{} digits are too few to train on (need at least {})",
            digits.len(),
            2 * GRID
        ));
    }
    let held = HELD_OUT.min(digits.len() / 10).max(RECONSTRUCTIONS);
    Ok(digits.split_held_out(held))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_percent_escapes() {
        assert_eq!(decode("dcgan%2Cconv-vae"), "dcgan,conv-vae");
        assert_eq!(decode("a+b"), "a b");
        assert_eq!(decode("100%"), "100%");
        assert_eq!(decode("%zz"), "%zz");
    }

    #[test]
    fn quantiles_invert_the_normal_cdf() {
        assert!(normal_quantile(0.5).abs() < 1e-12);
        assert!((normal_quantile(0.975) - 1.959963985).abs() < 1e-6);
        assert!((normal_quantile(0.01) + 2.326347874).abs() < 1e-6);
        assert!((normal_quantile(1e-5) + 4.264890794).abs() < 1e-6);
    }

    #[test]
    fn history_merges_keep_the_mean_and_the_last_step() {
        let mut h = Vec::new();
        for s in 1..=(HISTORY as u64 + 1) {
            push_point(
                &mut h,
                LossPoint {
                    step: s,
                    steps: 1,
                    values: vec![s as f32],
                },
            );
        }
        assert!(h.len() <= HISTORY / 2 + 1);
        assert_eq!(h.last().unwrap().step, HISTORY as u64 + 1);
        let total: u64 = h.iter().map(|p| p.steps).sum();
        assert_eq!(total, HISTORY as u64 + 1);
        assert_eq!(h[0].values[0], 1.5);
    }
}
