//! The host side of training, the same on both backends and in the browser:
//! the order of the data, one step at a time, loss curves read back every few
//! steps without waiting on any step, samples, the held-out ELBO, and saving
//! and loading weights as safetensors.
//!
//! Deterministic: the data order of epoch e is a permutation drawn from
//! (seed, e); every random op on the device draws from (seed, stream, step);
//! so a model's whole trajectory is a function of its config, and a resumed
//! run (weights, Adam state, step) continues exactly where it stopped.

use crate::backends::{Backend, BackendError, ErrorKind};
use crate::core::rng::Rng;
use crate::data::{Digits, PIXELS, SIDE};
use crate::models::{cycled_labels, Evaluator, Model, ModelConfig, ModelKind, Sampler, CLASSES};
use crate::nn::{read_safetensors, write_safetensors_shaped, Learner, LossSums, Means};
use std::collections::HashMap;

/// The random stream of epoch e's data order is this + e.
const ORDER_STREAM: u32 = 1 << 20;
/// The stream of the latents of sample grids and generated sets.
const SAMPLE_STREAM: u32 = 7;

/// Mean losses over the steps since the previous read.
#[derive(Clone, Debug, PartialEq)]
pub struct LossPoint {
    /// Steps done when read.
    pub step: u64,
    /// How many steps this point averages.
    pub steps: u64,
    pub values: Vec<f32>,
}

/// The training loop: a learner (a model, or the scoring classifier) with
/// its data, stepping through shuffled epochs, its losses read back every
/// few steps without waiting on any step. The CLI runs it to a step count
/// ([`Trainer::run`]), the page a frame at a time ([`Trainer::step`]).
pub struct Trainer<B: Backend, L: Learner<B> = Model<B>> {
    pub model: L,
    pub train: Digits,
    /// Steps recorded so far.
    pub step: u64,
    /// Draws the data order (the model's seed unless set): two trainers with
    /// one data seed and one batch size see the same mini-batches.
    pub data_seed: u32,
    order: Vec<u32>,
    order_epoch: Option<u64>,
    sums: LossSums<B>,
    /// Steps counted by the loss reads so far, from `base_step` on.
    counted: u64,
    /// Steps done before the device's loss sums started (a resumed run).
    base_step: u64,
}

/// How the learning rate goes over a run's steps.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LrSchedule {
    Constant,
    /// Cosine decay from the rate to this fraction of it.
    Cosine {
        final_fraction: f32,
    },
}

impl LrSchedule {
    /// The rate after `done` of `total` steps, from `lr`.
    pub fn at(self, lr: f32, done: u64, total: u64) -> f32 {
        match self {
            LrSchedule::Constant => lr,
            LrSchedule::Cosine { final_fraction } => {
                let t = (done as f64 / total.max(1) as f64).min(1.0);
                let f = final_fraction as f64
                    + (1.0 - final_fraction as f64)
                        * 0.5
                        * (1.0 + (std::f64::consts::PI * t).cos());
                (lr as f64 * f) as f32
            }
        }
    }
}

/// A run of [`Trainer::run`].
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    pub steps: u64,
    /// Read the losses back every this many steps (and after the last).
    pub log_every: u64,
    /// The schedule's rate is set every `log_every` steps.
    pub schedule: LrSchedule,
}

/// What [`Trainer::run`] reports to its hook after a step.
#[derive(Debug)]
pub enum Progress<'a> {
    /// Steps of this run done so far.
    Step(u64),
    /// Mean losses since the previous read.
    Losses(&'a LossPoint),
}

impl<B: Backend, L: Learner<B>> Trainer<B, L> {
    pub fn new(b: &B, model: L, train: Digits) -> Result<Trainer<B, L>, String> {
        let n = model.batch_size();
        if train.len() < n {
            return Err(format!(
                "{} training digits are fewer than one batch of {n}",
                train.len()
            ));
        }
        let sums = LossSums::new(b, model.loss_sums());
        Ok(Trainer {
            data_seed: model.seed(),
            model,
            train,
            step: 0,
            order: Vec::new(),
            order_epoch: None,
            sums,
            counted: 0,
            base_step: 0,
        })
    }

    /// Full batches per epoch (the remainder of each shuffled epoch is skipped).
    pub fn batches_per_epoch(&self) -> u64 {
        (self.train.len() / self.model.batch_size()) as u64
    }

    /// Epochs done, fractional.
    pub fn epoch(&self) -> f64 {
        self.step as f64 / self.batches_per_epoch() as f64
    }

    /// Digits seen so far.
    pub fn samples_seen(&self) -> u64 {
        self.step * self.model.batch_size() as u64
    }

    /// Trains on other digits from the next step on (new epochs of the new set).
    pub fn set_data(&mut self, train: Digits) -> Result<(), String> {
        let n = self.model.batch_size();
        if train.len() < n {
            return Err(format!(
                "{} training digits are fewer than one batch of {n}",
                train.len()
            ));
        }
        self.train = train;
        self.order_epoch = None;
        Ok(())
    }

    /// Writes the next batch and runs one training step (one submit on the
    /// GPU; nothing is read back).
    pub fn step(&mut self, b: &B) {
        let n = self.model.batch_size();
        let per_epoch = self.batches_per_epoch();
        let (epoch, k) = (self.step / per_epoch, (self.step % per_epoch) as usize);
        if self.order_epoch != Some(epoch) {
            self.order = shuffled(self.train.len(), self.data_seed, epoch);
            self.order_epoch = Some(epoch);
        }
        let indices = &self.order[k * n..(k + 1) * n];
        self.model.write_batch(b, &self.train, indices, self.step);
        b.run(|pass| self.model.step(pass));
        self.step += 1;
    }

    /// The mean of each loss over the steps since the last read (None if no
    /// step ran since). Sums are kept on the device, so nothing is missed.
    pub async fn read_losses(&mut self, b: &B) -> Result<Option<LossPoint>, BackendError> {
        let means = self.sums.read(b).await?;
        Ok(self.point(means))
    }

    /// Like [`Trainer::read_losses`], one call behind ([`LossSums::read_behind`]):
    /// begins the read of the losses of the steps submitted since the last
    /// call, and returns those the last call began, so that the steps just
    /// submitted run while it waits (the page's frame loop: at most two
    /// frames of steps in flight).
    pub async fn read_losses_behind(&mut self, b: &B) -> Result<Option<LossPoint>, BackendError> {
        let means = self.sums.read_behind(b).await?;
        Ok(self.point(means))
    }

    fn point(&mut self, means: Means) -> Option<LossPoint> {
        let (steps, values) = means?;
        self.counted += steps;
        Some(LossPoint {
            step: self.base_step + self.counted,
            steps,
            values,
        })
    }

    /// Runs `plan.steps` steps: the schedule's learning rate, the losses
    /// read every `log_every` steps (a loss that is not finite stops the run
    /// with an error), and `hook` after every step with what happened (the
    /// CLI's progress bar, loss curve and held-out evaluations).
    pub async fn run(
        &mut self,
        b: &B,
        plan: &Plan,
        mut hook: impl FnMut(&mut Self, Progress) -> Result<(), String>,
    ) -> Result<(), String> {
        let (start, lr) = (self.step, self.model.lr());
        let every = plan.log_every.max(1);
        let names = self.model.loss_names();
        while self.step < start + plan.steps {
            let before = self.step - start;
            if plan.schedule != LrSchedule::Constant && before.is_multiple_of(every) {
                self.model
                    .set_lr(b, plan.schedule.at(lr, before, plan.steps));
            }
            self.step(b);
            let done = self.step - start;
            if done.is_multiple_of(every) || done == plan.steps {
                if let Some(p) = self.read_losses(b).await.map_err(|e| e.to_string())? {
                    if p.values.iter().any(|v| !v.is_finite()) {
                        return Err(format!(
                            "step {}: a loss is not finite ({names:?} = {:?}); lower the learning rate (--lr) and train again",
                            p.step, p.values
                        ));
                    }
                    hook(self, Progress::Losses(&p))?;
                }
            }
            hook(self, Progress::Step(done))?;
        }
        Ok(())
    }
}

impl<B: Backend> Trainer<B> {
    /// Continues from saved weights: loads them and moves the data order and
    /// step counters to where they stopped.
    pub fn resume(&mut self, b: &B, saved: &SavedWeights) -> Result<(), String> {
        load_weights(b, &self.model, saved)?;
        self.step = saved.step.unwrap_or(0) as u64;
        // The device's loss sums restart from zero, counted from here.
        self.sums.reset(b);
        self.counted = 0;
        self.base_step = self.step;
        Ok(())
    }
}

/// A permutation of 0..len drawn from (seed, epoch) (Fisher–Yates).
pub fn shuffled(len: usize, seed: u32, epoch: u64) -> Vec<u32> {
    let mut rng = Rng::new(seed, ORDER_STREAM.wrapping_add(epoch as u32));
    let mut order: Vec<u32> = (0..len as u32).collect();
    for i in (1..len).rev() {
        let j = ((rng.uniform(0.0, 1.0) as f64 * (i + 1) as f64) as usize).min(i);
        order.swap(i, j);
    }
    order
}

/// Latents for `n` samples: N(0, I), fixed by `seed` (the same grid every time).
pub fn latents(config: &ModelConfig, n: usize, seed: u32) -> Vec<f32> {
    Rng::new(seed, SAMPLE_STREAM).normal_vec(n * config.latent, 1.0)
}

/// A conditional model's grid: a row per digit 0–9, `cols` columns, each
/// column one latent of `seed` (so a column shows one style across the
/// digits). Returns the latents and the labels, row after row.
pub fn digit_rows(config: &ModelConfig, cols: usize, seed: u32) -> (Vec<f32>, Vec<f32>) {
    let z = latents(config, cols, seed);
    let mut all = Vec::with_capacity(CLASSES * z.len());
    let mut labels = Vec::with_capacity(CLASSES * cols);
    for digit in 0..CLASSES {
        all.extend_from_slice(&z);
        labels.extend(std::iter::repeat_n(digit as f32, cols));
    }
    (all, labels)
}

/// A model's outputs as pixels in [0, 1]: tanh outputs are rescaled, logits squashed.
pub fn to_pixels(kind: ModelKind, out: &[f32]) -> Vec<f32> {
    if kind.is_gan() {
        out.iter()
            .map(|&y| ((y + 1.0) * 0.5).clamp(0.0, 1.0))
            .collect()
    } else {
        out.iter().map(|&l| 1.0 / (1.0 + (-l).exp())).collect()
    }
}

pub fn to_bytes(pixels: &[f32]) -> Vec<u8> {
    pixels
        .iter()
        .map(|&p| (p.clamp(0.0, 1.0) * 255.0).round() as u8)
        .collect()
}

/// Tiles of 28×28 bytes (row-major, one after another) laid out `cols` wide
/// with `gap`-pixel dark gaps: (width, height, grey bytes).
pub fn tile(tiles: &[u8], cols: usize, gap: usize) -> (usize, usize, Vec<u8>) {
    let count = tiles.len() / PIXELS;
    let rows = count.div_ceil(cols.max(1));
    let (w, h) = (cols * (SIDE + gap) + gap, rows * (SIDE + gap) + gap);
    let mut img = vec![40u8; w * h];
    for t in 0..count {
        let (r, c) = (t / cols, t % cols);
        for y in 0..SIDE {
            let row = (r * (SIDE + gap) + gap + y) * w + c * (SIDE + gap) + gap;
            img[row..row + SIDE]
                .copy_from_slice(&tiles[t * PIXELS + y * SIDE..t * PIXELS + (y + 1) * SIDE]);
        }
    }
    (w, h, img)
}

/// Runs a sampler on `input` (latents, or digits for the autoencoder: as
/// many samples as the sampler's batch); returns pixels in [0, 1].
pub async fn sample<B: Backend>(
    b: &B,
    model: &Model<B>,
    sampler: &Sampler<B>,
    input: &[f32],
) -> Result<Vec<f32>, BackendError> {
    b.write(&sampler.z, 0, input);
    b.run(|pass| sampler.forward(pass));
    let out = b.read(&sampler.readback).await?;
    Ok(to_pixels(model.config().kind, &out))
}

/// `count` generated digits as bytes (count × 784): from latents of `seed`
/// for the generative models, reconstructions of `held_out` for the autoencoder.
pub async fn generate<B: Backend>(
    b: &B,
    model: &Model<B>,
    sampler: &Sampler<B>,
    count: usize,
    seed: u32,
    held_out: &Digits,
) -> Result<Vec<u8>, BackendError> {
    let n = sampler.n;
    let per = model.sampler_input_len();
    let is_ae = model.config().kind == ModelKind::Autoencoder;
    if is_ae && count > held_out.len() {
        return Err(BackendError::new(
            ErrorKind::BadInput,
            format!(
                "the autoencoder reconstructs held-out digits: {count} asked, {} held out",
                held_out.len()
            ),
        ));
    }
    let all_latents = latents(model.config(), count.next_multiple_of(n), seed);
    // A conditional model is asked for the digits in turn: sample i is i mod 10.
    let conditional = model.config().kind.is_conditional();
    let mut out = Vec::with_capacity(count * PIXELS);
    let mut input = vec![0.0; n * per];
    for start in (0..count).step_by(n) {
        if is_ae {
            input.fill(0.0);
            for i in 0..n.min(count - start) {
                for (v, &p) in input[i * PIXELS..(i + 1) * PIXELS]
                    .iter_mut()
                    .zip(held_out.image(start + i))
                {
                    *v = p as f32 / 255.0;
                }
            }
        } else {
            input.copy_from_slice(&all_latents[start * per..(start + n) * per]);
        }
        if conditional {
            sampler.write_labels(b, &cycled_labels(start, n));
        }
        let pixels = sample(b, model, sampler, &input).await?;
        let take = n.min(count - start) * PIXELS;
        out.extend(to_bytes(&pixels[..take]));
    }
    Ok(out)
}

/// Held-out losses of an autoencoder or VAE, in nats per image: the mean
/// reconstruction term (continuous targets: pixel/255), and for VAEs the KL
/// term and their sum, the negative ELBO (β = 1 whatever the training β).
#[derive(Clone, Debug, PartialEq)]
pub struct HeldOut {
    pub digits: usize,
    /// Passes over the digits, each with its own ε draws.
    pub passes: usize,
    pub reconstruction: f64,
    pub kl: Option<f64>,
}

impl HeldOut {
    pub fn negative_elbo(&self) -> Option<f64> {
        self.kl.map(|kl| self.reconstruction + kl)
    }
}

/// `passes` times over the held-out digits, each pass with new ε draws
/// (the estimate's noise falls as 1/√passes; the autoencoder is deterministic).
pub async fn evaluate<B: Backend>(
    b: &B,
    eval: &Evaluator<B>,
    held_out: &Digits,
    is_vae: bool,
    passes: usize,
) -> Result<HeldOut, BackendError> {
    let n = eval.n;
    let batches = held_out.len() / n;
    if batches == 0 {
        return Err(BackendError::new(
            ErrorKind::BadInput,
            format!(
                "{} held-out digits are fewer than one evaluation batch of {n}",
                held_out.len()
            ),
        ));
    }
    let reader = b.readback(&eval.losses);
    let (mut recon, mut kl) = (0.0f64, 0.0f64);
    let mut x = vec![0.0; n * PIXELS];
    let mut labels = vec![0.0; n];
    let passes = if is_vae { passes.max(1) } else { 1 };
    for _ in 0..passes {
        for k in 0..batches {
            for (i, v) in x.iter_mut().enumerate() {
                *v = held_out.images[k * n * PIXELS + i] as f32 / 255.0;
            }
            b.write(eval.input(), 0, &x);
            for (l, &d) in labels.iter_mut().zip(&held_out.labels[k * n..(k + 1) * n]) {
                *l = d as f32;
            }
            eval.write_labels(b, &labels);
            b.run(|pass| eval.forward(pass));
            let l = b.read(&reader).await?;
            recon += l[0] as f64;
            if is_vae {
                kl += l[1] as f64;
            }
        }
    }
    let count = (batches * passes) as f64;
    Ok(HeldOut {
        digits: batches * n,
        passes,
        reconstruction: recon / count,
        kl: is_vae.then_some(kl / count),
    })
}

// ---------------------------------------------------------------- weights

/// Weights read from a safetensors file: tensors by name, the config and the step.
pub struct SavedWeights {
    pub tensors: HashMap<String, Vec<f32>>,
    pub config: Option<ModelConfig>,
    pub step: Option<u32>,
}

impl ModelConfig {
    /// The config as the string pairs of a safetensors header (`genlab.` + each key).
    pub fn to_metadata(&self) -> HashMap<String, String> {
        self.to_pairs()
            .into_iter()
            .map(|(k, v)| (format!("genlab.{k}"), v))
            .collect()
    }

    pub fn from_metadata(m: &HashMap<String, String>) -> Result<ModelConfig, String> {
        ModelConfig::from_pairs(|k| m.get(&format!("genlab.{k}")).cloned())
            .map_err(|e| format!("the weights file's settings: {e}"))
    }
}

/// Every tensor of the model (parameters, Adam moments, batch-norm running
/// statistics) as safetensors (f32, each with its real shape: a dense
/// weight `[out, in]`, a convolution's `[out, in, k, k]`), with the config
/// and the step count in the header.
pub async fn save_weights<B: Backend>(b: &B, model: &Model<B>) -> Result<Vec<u8>, BackendError> {
    let mut tensors = Vec::new();
    for (_, arena) in model.arenas() {
        tensors.extend(arena.export(b).await?);
    }
    let mut meta = model.config().to_metadata();
    meta.insert(
        "genlab.step".to_string(),
        model.steps_done(b).await?.to_string(),
    );
    write_safetensors_shaped(&tensors, meta)
}

/// Reads a genlab weights file. Everything is checked before anything
/// is allocated or built: the header's settings (ranges and the memory
/// budget, [`ModelConfig::validate`]), then every tensor's name, dtype and
/// size against the layout those settings declare; only then are the
/// values copied out (at most the file's own size).
pub fn read_weights(bytes: &[u8]) -> Result<SavedWeights, String> {
    let (_, header) = safetensors::SafeTensors::read_metadata(bytes)
        .map_err(|e| format!("not a safetensors file ({e})"))?;
    let meta = header.metadata().clone();
    let (config, step) = match &meta {
        Some(m) => (
            Some(ModelConfig::from_metadata(m)?),
            match m.get("genlab.step") {
                Some(s) => Some(s.parse::<u32>().map_err(|_| {
                    format!("the weights file's step {s:?} is not a whole number below 2^32")
                })?),
                None => None,
            },
        ),
        None => (None, None),
    };
    if let Some(c) = &config {
        check_tensors(c, &header)?;
    }
    let (tensors, _) = read_safetensors(bytes)?;
    Ok(SavedWeights {
        tensors,
        config,
        step,
    })
}

/// Every tensor of the file is one the model of `c` has, of the same size
/// and f32; every tensor it needs is there.
fn check_tensors(c: &ModelConfig, header: &safetensors::tensor::Metadata) -> Result<(), String> {
    let layout = c.layout();
    let want: HashMap<&str, &crate::models::SavedTensor> = layout
        .arenas
        .iter()
        .flat_map(|(_, t)| t)
        .map(|t| (t.name.as_str(), t))
        .collect();
    let infos = header.tensors();
    for (name, info) in &infos {
        let Some(w) = want.get(name.as_str()) else {
            return Err(format!(
                "the weights file has a tensor {name:?} that a {} of its settings does not: was it saved by another version or edited?",
                c.kind
            ));
        };
        if info.dtype != safetensors::Dtype::F32 {
            return Err(format!(
                "tensor {name} is {:?}; genlab reads f32 weights",
                info.dtype
            ));
        }
        let len = info
            .shape
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .filter(|&l| l == w.len);
        if len.is_none() {
            return Err(format!(
                "tensor {name} has shape {:?}; a {} of its settings needs {} values: was it saved by a model of another size?",
                info.shape, c.kind, w.len
            ));
        }
    }
    if let Some(missing) = want
        .values()
        .find(|t| t.required && !infos.contains_key(&t.name))
    {
        return Err(format!(
            "the weights file has no tensor {}: was it saved by another model?",
            missing.name
        ));
    }
    Ok(())
}

/// Loads saved weights into a model of the same shape (all step counters set to the saved step).
pub fn load_weights<B: Backend>(
    b: &B,
    model: &Model<B>,
    saved: &SavedWeights,
) -> Result<(), String> {
    if let Some(c) = &saved.config {
        if c.kind != model.config().kind {
            return Err(format!(
                "these weights are of a {}, not a {}",
                c.kind,
                model.config().kind
            ));
        }
    }
    for (_, arena) in model.arenas() {
        arena
            .import(b, |name| saved.tensors.get(name).cloned(), saved.step)
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}
