//! The models, one file each, and the registry that the CLI, the page and
//! the README read: [`MODELS`] (names, descriptions, presets, networks) and
//! [`SETTINGS`] (every setting: its range, which models it applies to,
//! whether changing it rebuilds the model).
//!
//! A model file declares its networks ([`ModelInfo::networks`]) and its
//! presets; the training of each family (a GAN's two networks and losses, a
//! VAE's heads and reparameterisation, an autoencoder's reconstruction) is
//! written once, in `gan.rs`, `vae.rs` and `autoencoder.rs`, over
//! [`Backend`]. A built model is a [`Model`]: the settings, the family's
//! [`Trained`] networks (one parameter arena, with its own optimizer, per
//! network that learns on its own), the loss slots and their running sums.
//! Everything a step needs is made when the model is built; a step only
//! records ops.

mod autoencoder;
mod cdcgan;
mod conv_cvae;
mod conv_vae;
mod cvae;
mod dcgan;
mod gan;
mod mlp_gan;
mod mlp_vae;
mod settings;
mod vae;

pub use autoencoder::code_layer;
pub use gan::{GanBinding, GanLoss};
pub use settings::{schema, ModelView, Range, Schema, Setting, SettingView, SETTINGS};
pub use vae::VaeBinding;

use crate::backends::{Backend, BackendError, TensorLen};
use crate::core::{Activation, AdamConfig};
use crate::data::{Digits, PIXELS};
use crate::nn::{
    ArenaPart, Averaged, InputGrad, LayerSpec, Learner, Mode, NetParams, NetSpec, ParamArena,
    ParamsBuilder, Sequential,
};
use crate::ops::{
    add_assign, BernoulliReconstruction, GaussianNoise, Key, LossTarget, LossTensors, NoiseTensors,
};
use serde::{Deserialize, Serialize};
use std::fmt;

// ---------------------------------------------------------------- registry

/// What a model learns and how it is trained.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Family {
    /// A generator and a discriminator, each with its own optimizer.
    Gan,
    /// An encoder to (μ, log σ²), the reparameterisation, a decoder; β·KL.
    Vae,
    /// An encoder to a code and a decoder back.
    Autoencoder,
}

impl Family {
    /// The loss slots a step writes, in order.
    pub fn loss_names(self) -> &'static [&'static str] {
        match self {
            Family::Gan => &["d_loss", "g_loss"],
            Family::Autoencoder => &["reconstruction"],
            Family::Vae => &["reconstruction", "kl"],
        }
    }

    /// Pixel range the model trains on: GANs end in tanh ([−1, 1]); the
    /// autoencoders' outputs are Bernoulli logits of pixels in [0, 1].
    pub fn pixel_range(self) -> (f32, f32) {
        match self {
            Family::Gan => (-1.0, 1.0),
            _ => (0.0, 1.0),
        }
    }

    /// What the `latent` setting is called for this family.
    pub fn latent_label(self) -> &'static str {
        match self {
            Family::Gan => "Noise size (z)",
            Family::Vae => "Latent size",
            Family::Autoencoder => "Code size",
        }
    }
}

/// How each loss slot is shown.
pub const LOSS_LABELS: &[(&str, &str)] = &[
    ("d_loss", "D loss"),
    ("g_loss", "G loss"),
    ("reconstruction", "reconstruction (nats)"),
    ("kl", "KL (nats)"),
];

/// One model of the registry.
pub struct ModelInfo {
    pub kind: ModelKind,
    /// On the command line, in URLs and in saved files.
    pub name: &'static str,
    /// In the page's model menu.
    pub title: &'static str,
    /// One sentence for the README and the page.
    pub description: &'static str,
    pub family: Family,
    /// The material's settings (`genlab train --model NAME`, the page's `size=full`).
    pub material: fn() -> ModelConfig,
    /// The page's settings from the material's (`size=page`): sized so that
    /// digits show within minutes on a laptop's CPU.
    pub page: fn(ModelConfig) -> ModelConfig,
    /// The networks, by the names the family trains them under (a GAN:
    /// generator, discriminator; a VAE: encoder, decoder; the autoencoder: autoencoder).
    pub networks: fn(&ModelConfig) -> Vec<(&'static str, NetSpec)>,
    /// Whether the model is conditioned on the digit's class: its networks
    /// start with a [`LayerSpec::Label`] and train on the digits' labels; its
    /// samples are asked for a digit.
    pub conditional: bool,
    /// The settings of the tutorial the model comes from, where the
    /// default recipe is another (`genlab train --recipe tutorial`).
    pub tutorial: Option<fn() -> ModelConfig>,
}

/// Every model, in the order of [`ModelKind`].
pub const MODELS: &[&ModelInfo] = &[
    &mlp_gan::INFO,
    &dcgan::INFO,
    &autoencoder::INFO,
    &mlp_vae::INFO,
    &conv_vae::INFO,
    &cdcgan::INFO,
    &cvae::INFO,
    &conv_cvae::INFO,
];

/// Which model: an index into [`MODELS`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum ModelKind {
    MlpGan,
    Dcgan,
    Autoencoder,
    MlpVae,
    ConvVae,
    Cdcgan,
    Cvae,
    ConvCvae,
}

impl ModelKind {
    pub const ALL: [ModelKind; 8] = [
        ModelKind::MlpGan,
        ModelKind::Dcgan,
        ModelKind::Autoencoder,
        ModelKind::MlpVae,
        ModelKind::ConvVae,
        ModelKind::Cdcgan,
        ModelKind::Cvae,
        ModelKind::ConvCvae,
    ];

    pub fn info(self) -> &'static ModelInfo {
        let info = MODELS[self as usize];
        debug_assert_eq!(info.kind, self, "MODELS is out of the order of ModelKind");
        info
    }

    /// The name used on the command line, in URLs and in saved files.
    pub fn name(self) -> &'static str {
        self.info().name
    }

    pub fn family(self) -> Family {
        self.info().family
    }

    pub fn parse(s: &str) -> Result<ModelKind, String> {
        MODELS
            .iter()
            .find(|m| m.name == s)
            .map(|m| m.kind)
            .ok_or_else(|| {
                let names: Vec<&str> = MODELS.iter().map(|m| m.name).collect();
                format!("unknown model {s:?}: choose one of {}", names.join(", "))
            })
    }

    pub fn is_gan(self) -> bool {
        self.family() == Family::Gan
    }

    pub fn is_vae(self) -> bool {
        self.family() == Family::Vae
    }

    /// Whether the model is conditioned on the digit's class ([`ModelInfo::conditional`]).
    pub fn is_conditional(self) -> bool {
        self.info().conditional
    }
}

impl fmt::Display for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl TryFrom<String> for ModelKind {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        ModelKind::parse(&s)
    }
}

impl From<ModelKind> for String {
    fn from(k: ModelKind) -> String {
        k.name().to_string()
    }
}

// ---------------------------------------------------------------- settings

/// A model's settings. Defaults ([`ModelConfig::new`]) are the material's;
/// [`SETTINGS`] describes each (range, models, label) for the page and the CLI.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    #[serde(rename = "model")]
    pub kind: ModelKind,
    pub batch: usize,
    /// Z: the GAN's noise, the VAE's latent, the autoencoder's code.
    pub latent: usize,
    /// Width of the MLPs' hidden layers (0: none, for the autoencoder).
    pub hidden: usize,
    /// Channels of the convolutional models' narrowest layer: the DCGAN
    /// generator runs 4w → 2w → w → 1, its discriminator w → 2w (unless
    /// `d_width` says otherwise).
    pub width: usize,
    /// Channels of the DCGAN discriminator's first convolution (it runs
    /// d → 2d); 0: `width`, as the tutorial. A discriminator narrower than
    /// its generator trained better at the page's sizes (see dcgan.rs).
    pub d_width: usize,
    /// The learning rate (of the generator, in a GAN).
    pub lr: f32,
    /// Adam's β1 (0.9 as Keras; GANs often train better at 0.5).
    pub adam_beta1: f32,
    /// Weight of the KL term (VAEs).
    pub beta: f32,
    pub gan_loss: GanLoss,
    /// Dropout of a GAN discriminator (the DCGAN's, the MLP GAN's).
    pub dropout: f32,
    /// A GAN discriminator's learning rate as a multiple of `lr` (the
    /// two-timescale rule gives D a higher rate than G).
    pub d_lr_scale: f32,
    /// Discriminator updates per generator update (the extra ones on the
    /// step's real batch with fresh noise).
    pub d_steps: u32,
    /// The decay of a GAN generator's moving average of its weights (EMA),
    /// which draws its samples; 0: it samples with its live weights.
    pub g_average: f32,
    /// Spectral normalisation of a GAN discriminator's weight matrices
    /// (each divided by its largest singular value, estimated by one power
    /// iteration per step): each matrix D uses has spectral norm 1. For a
    /// convolution that is its reshaped kernel's, which only approximates
    /// the layer's Lipschitz constant (as in Miyato et al.).
    pub spectral_norm: bool,
    /// A GAN discriminator's minibatch standard deviation (ProGAN): before
    /// its last layer, one more map holding how much each group of this
    /// many samples varies (fakes and reals grouped apart); 0: none.
    pub minibatch_std: usize,
    /// An unconditional GAN's weight, under the classes loss, on evening
    /// out the digits D reads in each batch of fakes (CatGAN's marginal
    /// entropy: G's loss gains −λ·H of the batch's digit shares); 0: none.
    /// The other losses have no digits to read and ignore it, so that
    /// `--gan-loss hinge` works on the DCGAN, whose default has it on.
    pub g_balance: f32,
    pub seed: u32,
}

/// Sizes of the page's presets or the material's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Size {
    /// Quick to train on a laptop or on the CPU fallback.
    Page,
    /// The material's.
    Full,
}

impl ModelConfig {
    /// The material's settings of `kind`.
    pub fn new(kind: ModelKind) -> ModelConfig {
        (kind.info().material)()
    }

    /// The preset of `kind` at `size`, with `seed`.
    pub fn preset(kind: ModelKind, size: Size, seed: u32) -> ModelConfig {
        let full = ModelConfig {
            seed,
            ..ModelConfig::new(kind)
        };
        match size {
            Size::Full => full,
            Size::Page => (kind.info().page)(full),
        }
    }

    /// The settings every model starts from (each model file changes some).
    pub fn base(kind: ModelKind) -> ModelConfig {
        ModelConfig {
            kind,
            batch: 64,
            latent: 100,
            hidden: 128,
            width: 64,
            d_width: 0,
            lr: 1e-4,
            adam_beta1: 0.9,
            beta: 1.0,
            gan_loss: GanLoss::Bce,
            dropout: 0.3,
            d_lr_scale: 1.0,
            d_steps: 1,
            g_average: 0.0,
            spectral_norm: false,
            minibatch_std: 0,
            g_balance: 0.0,
            seed: 1,
        }
    }

    /// Checks the settings a user can get wrong: every setting's range
    /// ([`SETTINGS`]), the rules between them, and the memory budget.
    pub fn validate(&self) -> Result<(), String> {
        let bad = |m: String| Err(format!("{}: {m}", self.kind));
        for s in SETTINGS {
            if let Err(m) = s.check(self) {
                return bad(m);
            }
        }
        if self.kind.is_vae() && !(2..=64).contains(&self.latent) {
            return bad(format!(
                "a VAE's latent size must be 2..=64, not {}",
                self.latent
            ));
        }
        if self.hidden == 0 && self.kind != ModelKind::Autoencoder {
            return bad(format!("hidden width {} is out of 1..=4096", self.hidden));
        }
        // Every size is bounded above, so the layout's arithmetic cannot overflow.
        let bytes = self.layout().bytes;
        if bytes > MEMORY_BUDGET {
            return bad(format!(
                "at these settings (batch {}, latent {}, hidden {}, width {}) the model would need {:.1} GiB of memory, more than genlab's budget of {} GiB: choose a smaller batch or width",
                self.batch,
                self.latent,
                self.hidden,
                self.width,
                bytes as f64 / (1u64 << 30) as f64,
                MEMORY_BUDGET >> 30
            ));
        }
        Ok(())
    }

    pub fn family(&self) -> Family {
        self.kind.family()
    }

    /// Whether training reads the digits' labels: a conditional model's,
    /// and a GAN's under the classes loss (D names the digit).
    pub fn takes_labels(&self) -> bool {
        self.kind.is_conditional() || (self.kind.is_gan() && self.gan_loss == GanLoss::Classes)
    }

    pub fn pixel_range(&self) -> (f32, f32) {
        self.family().pixel_range()
    }

    /// The loss slots this model writes each step.
    pub fn loss_names(&self) -> &'static [&'static str] {
        self.family().loss_names()
    }

    /// Applies one setting by its key (as the page's controls, the CLI's
    /// flags and saved files give it), then checks the result. Changing
    /// `model` starts from the new model's page preset, keeping the seed.
    pub fn with(&self, key: &str, value: &str) -> Result<ModelConfig, String> {
        let mut c = self.clone();
        if key == "model" {
            let kind = ModelKind::parse(value)?;
            if kind != c.kind {
                c = ModelConfig::preset(kind, Size::Page, c.seed);
            }
        } else {
            let s = SETTINGS
                .iter()
                .find(|s| s.key == key)
                .ok_or_else(|| format!("unknown setting {key:?}"))?;
            s.set(&mut c, value)?;
        }
        c.validate()?;
        Ok(c)
    }

    /// The settings as (key, value) strings, `model` first: what a weights
    /// file's header holds (each key prefixed with `genlab.`).
    pub fn to_pairs(&self) -> Vec<(&'static str, String)> {
        let mut out = vec![("model", self.kind.name().to_string())];
        out.extend(SETTINGS.iter().map(|s| (s.key, s.get(self))));
        out
    }

    /// Settings from (key, value) strings: `model` is required, and every
    /// setting that was not optional when files first had it.
    pub fn from_pairs(get: impl Fn(&str) -> Option<String>) -> Result<ModelConfig, String> {
        let model = get("model").ok_or("no model named")?;
        let mut c = ModelConfig::base(ModelKind::parse(&model)?);
        for s in SETTINGS {
            match get(s.key) {
                Some(v) => s.set(&mut c, &v)?,
                None if s.since_v1 => return Err(format!("no {}", s.key)),
                None => {}
            }
        }
        c.validate()?;
        Ok(c)
    }
}

// ---------------------------------------------------------------- shared pieces

pub(crate) const LEAK: Activation = Activation::LeakyRelu(0.2);
/// Keras' LeakyReLU default, which the DCGAN tutorial uses.
pub(crate) const KERAS_LEAK: Activation = Activation::LeakyRelu(0.3);

pub(crate) fn dense(out: usize, act: Activation) -> LayerSpec {
    LayerSpec::Dense {
        out,
        bias: true,
        act,
    }
}

pub(crate) fn image() -> [usize; 3] {
    [1, 28, 28]
}

pub(crate) fn vector(n: usize) -> [usize; 3] {
    [n, 1, 1]
}

/// The classes a conditional model is asked for: the digits.
pub const CLASSES: usize = 10;

/// `spec` conditioned on the class: the one-hot label joins its input (as
/// [`CLASSES`] more values of a vector, or maps beside an image's channel).
pub(crate) fn conditioned(spec: NetSpec) -> NetSpec {
    let mut layers = vec![LayerSpec::Label { classes: CLASSES }];
    layers.extend(spec.layers);
    NetSpec {
        input: spec.input,
        layers,
    }
}

/// The labels of `n` samples asked for digit by digit (0, 1, …, 9, 0, …)
/// from the `start`-th: a conditional sampler's default.
pub fn cycled_labels(start: usize, n: usize) -> Vec<f32> {
    asked_digits(start, n).into_iter().map(f32::from).collect()
}

/// The digits samples `start..start + n` are asked for, as [`cycled_labels`]
/// writes them: what their class accuracy is scored against.
pub fn asked_digits(start: usize, n: usize) -> Vec<u8> {
    (start..start + n).map(|i| (i % CLASSES) as u8).collect()
}

/// The network called `name` of a model's [`ModelInfo::networks`].
pub(crate) fn network(c: &ModelConfig, name: &str) -> NetSpec {
    (c.kind.info().networks)(c)
        .into_iter()
        .find(|(n, _)| *n == name)
        .map(|(_, spec)| spec)
        .unwrap_or_else(|| panic!("{}: no network called {name}", c.kind))
}

/// Random streams, so that no two random ops of a model draw the same numbers.
pub(crate) mod stream {
    pub const GAN_NOISE: u32 = 1;
    pub const VAE_EPS: u32 = 2;
    pub const EVAL_EPS: u32 = 3;
    /// The noise of a GAN's extra discriminator steps.
    pub const GAN_D_NOISE: u32 = 4;
    /// The discriminator's dropout layers: this + layer index.
    pub const D_DROPOUT: u32 = 100;
}

/// N(0, 1) into `out`, drawn from `key` at the step held in `step`.
pub(crate) fn gaussian<B: Backend>(b: &B, out: &B::Tensor, key: Key, step: &B::Tensor) -> B::Op {
    let op = GaussianNoise {
        mean: 0.0,
        std: 1.0,
        key,
    };
    b.bind(&op, NoiseTensors { out, step })
}

/// The Bernoulli reconstruction loss of images `x` from `logits`, per image
/// averaged over the batch, into loss slot 0.
pub(crate) fn reconstruction<B: Backend>(
    b: &B,
    dx: &B::Tensor,
    logits: &B::Tensor,
    x: &B::Tensor,
    losses: &B::Tensor,
) -> B::Op {
    let op = BernoulliReconstruction {
        n: x.len() / PIXELS,
        slot: 0,
    };
    let t = LossTensors {
        dx,
        x: logits,
        target: LossTarget::Values(x),
        loss: losses,
    };
    b.bind(&op, t)
}

// ---------------------------------------------------------------- the family interface

/// A model's networks bound for training on a backend: what each family
/// file implements. Its arenas are one per network with its own optimizer.
pub trait Trained<B: Backend> {
    /// One arena per optimizer: ("generator", …), ("discriminator", …) or ("model", …).
    fn arenas(&self) -> &[(&'static str, ParamArena<B>)];
    fn arenas_mut(&mut self) -> &mut [(&'static str, ParamArena<B>)];
    /// Where a batch of real digits goes (N × 784, in the family's pixel
    /// range): a tensor and the element it starts at.
    fn batch_place(&self) -> (&B::Tensor, usize);
    /// Where a conditional model's batch labels go (class indices as
    /// floats), each place a tensor and its start; none for other models.
    fn label_places(&self) -> Vec<(&B::Tensor, usize)> {
        Vec::new()
    }
    /// Zero grads, forward, losses and every network's gradients of its own
    /// loss, without updates: a pure function of the weights, the batch and
    /// the step counters, which tests can difference.
    fn gradients(&self, pass: &mut B::Pass<'_>);
    /// One training step: the gradients, then each network's update (a GAN
    /// adds its extra discriminator updates first).
    fn step(&self, pass: &mut B::Pass<'_>) {
        self.gradients(pass);
        for (_, a) in self.arenas() {
            a.update(pass);
        }
    }
    /// The network that draws samples, and its input per sample.
    fn sampler_net(&self) -> (&NetParams, usize);
    /// A held-out evaluation binding at batch `n` (None: the family has none).
    fn evaluator(&self, b: &B, n: usize) -> Option<Evaluator<B>>;
    fn gan(&self) -> Option<&GanBinding<B>> {
        None
    }
    fn vae(&self) -> Option<&VaeBinding<B>> {
        None
    }
}

/// A model's networks declared into one [`ParamsBuilder`] per optimizer,
/// and the floats of activations its bindings hold (training at the batch
/// size, and a [`GRID`]-sample sampler).
struct Declared {
    builders: Vec<(&'static str, ParamsBuilder)>,
    activations: u64,
}

fn declare(c: &ModelConfig, builder: impl FnMut() -> ParamsBuilder) -> Declared {
    let (builders, activations) = match c.family() {
        Family::Gan => gan::declare(c, builder),
        Family::Vae => vae::declare(c, builder),
        Family::Autoencoder => autoencoder::declare(c, builder),
    };
    Declared {
        builders,
        activations,
    }
}

// ---------------------------------------------------------------- memory

/// The most memory a model may take (parameters, gradients, Adam's moments,
/// activations at its batch size and a 64-sample sampler): 1 GiB. The page
/// runs in wasm, whose memory ends at 4 GiB; the largest preset (the full
/// DCGAN at batch 64) needs about 0.1 GiB.
pub const MEMORY_BUDGET: u64 = 1 << 30;

/// How many samples a sampler draws at once for a grid.
pub const GRID: usize = 64;

/// What a model of given settings holds, known without building it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Each optimiser's saved tensors: values, Adam moments, state.
    pub arenas: Vec<(&'static str, Vec<SavedTensor>)>,
    pub params: usize,
    /// Bytes of every buffer of the model and its training binding, plus a
    /// [`GRID`]-sample sampler (an estimate within about 20% of what the
    /// CPU backend allocates; the GPU's buffers are the same tensors).
    pub bytes: u64,
}

/// A tensor of a saved model: name, length, and whether a file must have it
/// (Adam's moments may be missing: the optimiser then starts afresh).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SavedTensor {
    pub name: String,
    pub len: usize,
    pub required: bool,
}

impl ModelConfig {
    /// The model's tensors and memory, by arithmetic on its layer specs
    /// (nothing is allocated but names). Call after [`ModelConfig::validate`]'s
    /// range checks (which bound every size).
    pub fn layout(&self) -> Layout {
        let d = declare(self, ParamsBuilder::layout);
        let mut arenas = Vec::new();
        let (mut param_count, mut floats) = (0usize, d.activations);
        for (name, pb) in &d.builders {
            let mut tensors = Vec::new();
            for part in ArenaPart::SAVED {
                let required = !matches!(part, ArenaPart::AdamM | ArenaPart::AdamV);
                tensors.extend(pb.saved_slots(part).into_iter().map(|s| SavedTensor {
                    name: s.name,
                    len: s.len,
                    required,
                }));
            }
            // The moving average, where it is kept (files without it start it at the weights).
            let averaged = self.adam(name).average > 0.0;
            if averaged {
                let slots = pb.saved_slots(ArenaPart::Value);
                tensors.extend(slots.into_iter().map(|s| SavedTensor {
                    name: ArenaPart::Average.saved_name(&s.name),
                    len: s.len,
                    required: false,
                }));
            }
            arenas.push((*name, tensors));
            param_count += pb.param_count();
            // values, gradients, two moments (and the average); the state.
            floats += (4 + u64::from(averaged)) * pb.param_count() as u64 + pb.state_count() as u64;
        }
        Layout {
            arenas,
            params: param_count,
            bytes: 4 * floats,
        }
    }

    /// Channels of the DCGAN discriminator's first convolution: `d_width`,
    /// or `width` where it is 0.
    pub fn discriminator_width(&self) -> usize {
        match self.d_width {
            0 => self.width,
            d => d,
        }
    }

    /// Adam's settings of the arena called `network`: a GAN's discriminator
    /// learns at `lr · d_lr_scale`, everything else at `lr`; a GAN's
    /// generator keeps the moving average of its weights at `g_average`.
    pub fn adam(&self, network: &str) -> AdamConfig {
        let scale = if network == "discriminator" {
            self.d_lr_scale
        } else {
            1.0
        };
        let average = if network == "generator" {
            self.g_average
        } else {
            0.0
        };
        AdamConfig {
            lr: self.lr * scale,
            beta1: self.adam_beta1,
            average,
            ..AdamConfig::default()
        }
    }
}

// ---------------------------------------------------------------- a built model

/// A model on a backend: its settings, its trained networks, its loss slots.
pub struct Model<B: Backend> {
    config: ModelConfig,
    net: Box<dyn Trained<B>>,
    /// Loss slots of the training step, then a constant 1 (which counts steps in `loss_sums`).
    pub losses: B::Tensor,
    /// Running sums of `losses` since the start: the host reads these every
    /// few steps and differences them, so no step's loss is lost and no step waits.
    pub loss_sums: B::Tensor,
    accumulate: B::Op,
    /// The batch on the host, in [0, 1] and in the model's range, and its
    /// labels (kept, so that writing a batch allocates nothing).
    host: Vec<f32>,
    scratch: Vec<f32>,
    labels: Vec<f32>,
}

impl<B: Backend> Learner<B> for Model<B> {
    fn batch_size(&self) -> usize {
        self.config.batch
    }

    fn seed(&self) -> u32 {
        self.config.seed
    }

    fn loss_names(&self) -> Vec<&'static str> {
        self.config.loss_names().to_vec()
    }

    fn write_batch(&mut self, b: &B, data: &Digits, indices: &[u32], _step: u64) {
        let mut host = std::mem::take(&mut self.host);
        let mut scratch = std::mem::take(&mut self.scratch);
        host.clear();
        for &i in indices {
            host.extend(data.image(i as usize).iter().map(|&p| p as f32 / 255.0));
        }
        Model::write_batch(self, b, &host, &mut scratch);
        (self.host, self.scratch) = (host, scratch);
        if self.config.takes_labels() {
            let mut labels = std::mem::take(&mut self.labels);
            labels.clear();
            labels.extend(indices.iter().map(|&i| data.labels[i as usize] as f32));
            self.write_labels(b, &labels);
            self.labels = labels;
        }
    }

    fn step(&self, pass: &mut B::Pass<'_>) {
        Model::step(self, pass);
    }

    fn loss_sums(&self) -> &B::Tensor {
        &self.loss_sums
    }

    fn lr(&self) -> f32 {
        self.config.lr
    }

    fn set_lr(&mut self, b: &B, lr: f32) {
        Model::set_lr(self, b, lr);
    }
}

impl<B: Backend> Model<B> {
    pub fn new(b: &B, config: ModelConfig) -> Result<Model<B>, String> {
        config.validate()?;
        let slots = config.loss_names().len();
        let mut init = vec![0.0; slots + 1];
        init[slots] = 1.0;
        let losses = b.upload(&init);
        let loss_sums = b.zeros(slots + 1);
        let accumulate = add_assign(b, &loss_sums, &losses);
        let net: Box<dyn Trained<B>> = match config.family() {
            Family::Gan => Box::new(gan::Gan::new(b, &config, &losses)),
            Family::Vae => Box::new(vae::Vae::new(b, &config, &losses)),
            Family::Autoencoder => Box::new(autoencoder::Autoencoder::new(b, &config, &losses)),
        };
        let (n, batch) = (config.batch * PIXELS, config.batch);
        Ok(Model {
            config,
            net,
            losses,
            loss_sums,
            accumulate,
            host: Vec::with_capacity(n),
            scratch: Vec::with_capacity(n),
            labels: Vec::with_capacity(batch),
        })
    }

    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// Sets the learning rate (each network's: a GAN's discriminator keeps
    /// its `d_lr_scale`; see [`ParamArena::set_lr`]).
    pub fn set_lr(&mut self, b: &B, lr: f32) {
        // The settings are what trains: saved with the weights, kept by a rebuild.
        self.config.lr = lr;
        let config = self.config.clone();
        for (name, a) in self.net.arenas_mut() {
            a.set_lr(b, config.adam(name).lr);
        }
    }

    /// One arena per optimiser: ("generator", …), ("discriminator", …) or ("model", …).
    pub fn arenas(&self) -> &[(&'static str, ParamArena<B>)] {
        self.net.arenas()
    }

    /// Where a batch of real digits goes (N × 784, in [`ModelConfig::pixel_range`]).
    pub fn batch_input(&self, b: &B) -> B::Tensor {
        let (t, start) = self.net.batch_place();
        b.slice(t, start, self.config.batch * PIXELS)
    }

    /// Writes a batch of digits (N × 784 values in [0, 1]) as the model's input.
    pub fn write_batch(&self, b: &B, pixels01: &[f32], scratch: &mut Vec<f32>) {
        let n = self.config.batch;
        assert_eq!(
            pixels01.len(),
            n * PIXELS,
            "a batch is {n} digits of {PIXELS} pixels"
        );
        let (lo, hi) = self.config.pixel_range();
        scratch.clear();
        scratch.extend(pixels01.iter().map(|&p| lo + (hi - lo) * p));
        let (t, start) = self.net.batch_place();
        b.write(t, start, scratch);
    }

    /// Writes a conditional model's batch labels (N class indices as
    /// floats, of the digits [`Model::write_batch`] wrote); nothing for
    /// other models.
    pub fn write_labels(&self, b: &B, labels: &[f32]) {
        for (t, start) in self.net.label_places() {
            assert_eq!(labels.len(), self.config.batch, "a label per digit");
            b.write(t, start, labels);
        }
    }

    /// Records one training step (the batch already written): the family's
    /// zero grads, forward, losses, backward and updates, then the loss sums.
    pub fn step(&self, pass: &mut B::Pass<'_>) {
        self.net.step(pass);
        B::record(pass, &self.accumulate);
    }

    /// Records a step without its updates (see [`Trained::gradients`]).
    pub fn gradients(&self, pass: &mut B::Pass<'_>) {
        self.net.gradients(pass);
    }

    /// The number of training steps taken, from the first arena's step counter.
    pub async fn steps_done(&self, b: &B) -> Result<u32, BackendError> {
        self.net.arenas()[0].1.read_step(b).await
    }

    /// Binds the sampler: the generator (GANs), the decoder (VAEs) or the
    /// whole network (the autoencoder, fed digits) at `n`, evaluation mode.
    pub fn sampler(&self, b: &B, n: usize) -> Sampler<B> {
        self.sampler_in(b, n, Mode::Eval)
    }

    /// The sampler in either mode (`Mode::Train`: batch norm over the
    /// samples' own statistics, and dropout where the network has it).
    pub fn sampler_in(&self, b: &B, n: usize, mode: Mode) -> Sampler<B> {
        let (net, input) = self.net.sampler_net();
        // A GAN's generator samples with the moving average of its weights, where it keeps one.
        let a = Averaged(&self.net.arenas()[0].1);
        let z = b.zeros(n * input);
        // A conditional sampler asks for the digits in turn until told otherwise.
        let labels = net.is_conditional().then(|| b.upload(&cycled_labels(0, n)));
        let net = net.bind_labelled(
            b,
            &a,
            n,
            &z,
            InputGrad::None,
            None,
            mode,
            (self.config.seed, 0),
            labels.as_ref(),
        );
        let readback = b.readback(&net.y);
        Sampler {
            n,
            z,
            labels,
            net,
            readback,
        }
    }

    /// The sampler's input per sample: latents, or digits for the autoencoder.
    pub fn sampler_input_len(&self) -> usize {
        self.net.sampler_net().1
    }

    /// An evaluation binding for held-out digits: losses per batch of `n`
    /// into its `losses` (VAE: reconstruction and KL with β = 1; AE: reconstruction).
    pub fn evaluator(&self, b: &B, n: usize) -> Option<Evaluator<B>> {
        self.net.evaluator(b, n)
    }

    /// The training binding of a GAN (for tests and tools).
    pub fn gan(&self) -> Option<&GanBinding<B>> {
        self.net.gan()
    }

    /// The training binding of a VAE (for tests and tools).
    pub fn vae(&self) -> Option<&VaeBinding<B>> {
        self.net.vae()
    }

    /// Total parameters.
    pub fn param_count(&self) -> usize {
        self.net.arenas().iter().map(|(_, a)| a.count()).sum()
    }
}

/// Builds one arena per declared network, each with its own optimizer.
pub(crate) fn arenas<B: Backend>(
    b: &B,
    c: &ModelConfig,
    builders: Vec<(&'static str, ParamsBuilder)>,
) -> Vec<(&'static str, ParamArena<B>)> {
    builders
        .into_iter()
        .map(|(name, pb)| (name, pb.build(b, c.adam(name))))
        .collect()
}

/// What draws the samples shown in a grid: a generator (or decoder) bound
/// at the grid's size in evaluation mode, fed latents written by the host.
pub struct Sampler<B: Backend> {
    pub n: usize,
    pub z: B::Tensor,
    /// A conditional model's digit per sample (class indices as floats).
    pub labels: Option<B::Tensor>,
    pub net: Sequential<B>,
    /// Reads the samples back (one staging buffer, made once).
    pub readback: B::Readback,
}

impl<B: Backend> Sampler<B> {
    pub fn forward(&self, pass: &mut B::Pass<'_>) {
        self.net.forward(pass);
    }

    /// Asks a conditional sampler for these digits (one per sample, as
    /// floats); nothing for other models.
    pub fn write_labels(&self, b: &B, labels: &[f32]) {
        if let Some(t) = &self.labels {
            assert_eq!(labels.len(), self.n, "a label per sample");
            b.write(t, 0, labels);
        }
    }
}

/// A binding that reconstructs digits and scores them (a VAE's or the
/// autoencoder's, in evaluation mode).
pub trait Reconstructs<B: Backend> {
    /// Where the batch goes (N × 784 in [0, 1]).
    fn input(&self) -> &B::Tensor;
    /// The reconstructions' logits [N, 784].
    fn output(&self) -> &B::Tensor;
    /// A conditional model's labels of the batch [N].
    fn labels(&self) -> Option<&B::Tensor> {
        None
    }
    /// Forward and losses.
    fn forward(&self, pass: &mut B::Pass<'_>);
    /// The encoder's outputs after a forward, by name: a VAE's `mu` and
    /// `logvar` [N, Z], the autoencoder's `code` [N, Z].
    fn codes(&self) -> Vec<(&'static str, &B::Tensor)>;
}

/// Held-out evaluation of an autoencoder or VAE, a batch of `n` at a time.
pub struct Evaluator<B: Backend> {
    pub n: usize,
    /// Per batch: mean reconstruction nats per image (and KL for VAEs).
    pub losses: B::Tensor,
    /// Counts evaluation batches: the ε stream's step (kept with the ops that use it).
    pub(crate) _step: B::Tensor,
    pub(crate) tick: B::Op,
    pub(crate) net: Box<dyn Reconstructs<B>>,
}

impl<B: Backend> Evaluator<B> {
    pub fn input(&self) -> &B::Tensor {
        self.net.input()
    }

    pub fn output(&self) -> &B::Tensor {
        self.net.output()
    }

    /// Writes the batch's labels, where the model is conditional (class
    /// indices as floats, one per digit).
    pub fn write_labels(&self, b: &B, labels: &[f32]) {
        if let Some(t) = self.net.labels() {
            assert_eq!(labels.len(), self.n, "a label per digit");
            b.write(t, 0, labels);
        }
    }

    /// The encoder's outputs by name ([`Reconstructs::codes`]).
    pub fn codes(&self) -> Vec<(&'static str, &B::Tensor)> {
        self.net.codes()
    }

    /// One batch: forward and losses, then the next ε draw.
    pub fn forward(&self, pass: &mut B::Pass<'_>) {
        self.net.forward(pass);
        B::record(pass, &self.tick);
    }
}
