//! The five models of the GAN/VAE material, written once over [`Backend`]:
//! an MLP GAN, the DCGAN of the TensorFlow tutorial, an autoencoder, an MLP
//! VAE and a VAE whose decoder uses transposed convolutions.
//!
//! Each model is declared once ([`Model::new`]: specs, initial weights, one
//! arena per optimiser) and bound several times: for training at the batch
//! size, for evaluation on held-out digits, and for drawing samples.
//! Everything a step needs is made here; a step only records ops.

use crate::backends::{Backend, TensorLen};
use crate::core::rng::Rng;
use crate::core::{Activation, AdamConfig, Grad};
use crate::data::PIXELS;
use crate::nn::{
    ArenaPart, InputGrad, LayerSpec, Linear, LinearParams, Mode, NetParams, NetSpec, ParamArena,
    ParamsBuilder, Sequential,
};
use crate::ops::{
    add_assign, BceWithLogits, BernoulliReconstruction, GaussianKl, GaussianKlTensors,
    GaussianNoise, Hinge, HingeGenerator, Key, LeastSquares, LossTarget, LossTensors, Mse,
    NoiseTensors, ReparameterizeBackward, ReparameterizeBackwardTensors, ReparameterizeForward,
    ReparameterizeForwardTensors, StepIncrement, StepTensors,
};
use std::fmt;

/// Which model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ModelKind {
    MlpGan,
    Dcgan,
    Autoencoder,
    MlpVae,
    ConvVae,
}

impl ModelKind {
    pub const ALL: [ModelKind; 5] = [
        ModelKind::MlpGan,
        ModelKind::Dcgan,
        ModelKind::Autoencoder,
        ModelKind::MlpVae,
        ModelKind::ConvVae,
    ];

    /// The name used on the command line, in URLs and in saved files.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::MlpGan => "mlp-gan",
            ModelKind::Dcgan => "dcgan",
            ModelKind::Autoencoder => "ae",
            ModelKind::MlpVae => "mlp-vae",
            ModelKind::ConvVae => "conv-vae",
        }
    }

    pub fn parse(s: &str) -> Result<ModelKind, String> {
        ModelKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = ModelKind::ALL.iter().map(|k| k.name()).collect();
                format!("unknown model {s:?}: choose one of {}", names.join(", "))
            })
    }

    pub fn is_gan(self) -> bool {
        matches!(self, ModelKind::MlpGan | ModelKind::Dcgan)
    }

    pub fn is_vae(self) -> bool {
        matches!(self, ModelKind::MlpVae | ModelKind::ConvVae)
    }
}

impl fmt::Display for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The GAN losses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GanLoss {
    /// D: BCE of real → 1 and fake → 0; G: non-saturating BCE of fake → 1.
    Bce,
    /// Least squares (LSGAN): D: ½(D(x) − 1)² + ½D(G(z))²; G: ½(D(G(z)) − 1)².
    LeastSquares,
    /// Hinge: D: max(0, 1 − D(x)) + max(0, 1 + D(G(z))); G: −D(G(z)).
    Hinge,
}

impl GanLoss {
    pub fn name(self) -> &'static str {
        match self {
            GanLoss::Bce => "bce",
            GanLoss::LeastSquares => "least-squares",
            GanLoss::Hinge => "hinge",
        }
    }

    pub fn parse(s: &str) -> Result<GanLoss, String> {
        match s {
            "bce" => Ok(GanLoss::Bce),
            "least-squares" | "lsgan" => Ok(GanLoss::LeastSquares),
            "hinge" => Ok(GanLoss::Hinge),
            _ => Err(format!(
                "unknown GAN loss {s:?}: choose bce, least-squares or hinge"
            )),
        }
    }
}

/// A model's settings. Defaults ([`ModelConfig::new`]) are the material's.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelConfig {
    pub kind: ModelKind,
    pub batch: usize,
    /// Z: the GAN's noise, the VAE's latent, the autoencoder's code.
    pub latent: usize,
    /// Width of the MLPs' hidden layers (0: none, for the autoencoder).
    pub hidden: usize,
    /// Channels of the convolutional models' widest... narrowest layer: the DCGAN
    /// generator runs 4w → 2w → w → 1, its discriminator w → 2w.
    pub width: usize,
    pub lr: f32,
    /// Adam's β1 (0.9 as Keras; GANs often train better at 0.5).
    pub adam_beta1: f32,
    /// Weight of the KL term (VAEs).
    pub beta: f32,
    pub gan_loss: GanLoss,
    /// Dropout of the DCGAN discriminator.
    pub dropout: f32,
    pub seed: u32,
}

impl ModelConfig {
    pub fn new(kind: ModelKind) -> ModelConfig {
        let base = ModelConfig {
            kind,
            batch: 64,
            latent: 100,
            hidden: 128,
            width: 64,
            lr: 1e-4,
            adam_beta1: 0.9,
            beta: 1.0,
            gan_loss: GanLoss::Bce,
            dropout: 0.3,
            seed: 1,
        };
        match kind {
            // z(100) → 128 → 128 → 784; D 784 → 128 → 128 → 1. Adam β1 0.5:
            // at 0.9 the discriminator won (D loss 0.08, G loss 4.6 after
            // 10k steps, noise for samples); at 0.5 they balance (0.29, 2.6).
            ModelKind::MlpGan => ModelConfig {
                lr: 2e-4,
                adam_beta1: 0.5,
                ..base
            },
            // The TensorFlow tutorial: Adam 1e-4, z 100, 256-128-64 channels.
            ModelKind::Dcgan => base,
            // 784 → 32 → 784.
            ModelKind::Autoencoder => ModelConfig {
                batch: 128,
                latent: 32,
                hidden: 0,
                lr: 1e-3,
                ..base
            },
            // 784 → 400 → (μ, log σ²) of 20 → 400 → 784 (the PyTorch example).
            ModelKind::MlpVae => ModelConfig {
                batch: 128,
                latent: 20,
                hidden: 400,
                lr: 1e-3,
                ..base
            },
            // conv 5×5/2 to 32, 64; decoder dense → 7·7·128 → 64 → 32 → 1.
            ModelKind::ConvVae => ModelConfig {
                batch: 64,
                latent: 20,
                width: 32,
                lr: 1e-3,
                ..base
            },
        }
    }

    /// Checks the settings a user can get wrong.
    pub fn validate(&self) -> Result<(), String> {
        let bad = |m: String| Err(format!("{}: {m}", self.kind));
        if self.batch == 0 || self.batch > 1024 {
            return bad(format!("batch size {} is out of 1..=1024", self.batch));
        }
        if self.latent == 0 || self.latent > 1024 {
            return bad(format!("latent size {} is out of 1..=1024", self.latent));
        }
        if self.kind.is_vae() && !(2..=64).contains(&self.latent) {
            return bad(format!(
                "a VAE's latent size must be 2..=64, not {}",
                self.latent
            ));
        }
        if self.hidden > 4096 || (self.hidden == 0 && self.kind != ModelKind::Autoencoder) {
            return bad(format!("hidden width {} is out of 1..=4096", self.hidden));
        }
        if self.width == 0 || self.width > 256 {
            return bad(format!("width {} is out of 1..=256", self.width));
        }
        if !(self.lr > 0.0 && self.lr < 1.0) {
            return bad(format!("learning rate {} is out of (0, 1)", self.lr));
        }
        if !(self.adam_beta1 >= 0.0 && self.adam_beta1 < 1.0) {
            return bad(format!("Adam β1 {} is out of [0, 1)", self.adam_beta1));
        }
        if !(self.beta >= 0.0 && self.beta <= 100.0) {
            return bad(format!("β {} is out of [0, 100]", self.beta));
        }
        if !(0.0..0.95).contains(&self.dropout) {
            return bad(format!("dropout {} is out of [0, 0.95)", self.dropout));
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

    /// Pixel range the model trains on: GANs end in tanh ([−1, 1]); the
    /// autoencoders' outputs are Bernoulli logits of pixels in [0, 1].
    pub fn pixel_range(&self) -> (f32, f32) {
        if self.kind.is_gan() {
            (-1.0, 1.0)
        } else {
            (0.0, 1.0)
        }
    }

    /// The loss slots this model writes each step.
    pub fn loss_names(&self) -> &'static [&'static str] {
        match self.kind {
            ModelKind::MlpGan | ModelKind::Dcgan => &["d_loss", "g_loss"],
            ModelKind::Autoencoder => &["reconstruction"],
            ModelKind::MlpVae | ModelKind::ConvVae => &["reconstruction", "kl"],
        }
    }
}

/// N(0, 1) into `out`, drawn from `key` at the step held in `step`.
fn gaussian<B: Backend>(b: &B, out: &B::Tensor, key: Key, step: &B::Tensor) -> B::Op {
    let op = GaussianNoise {
        mean: 0.0,
        std: 1.0,
        key,
    };
    b.bind(&op, NoiseTensors { out, step })
}

/// The Bernoulli reconstruction loss of images `x` from `logits`, per image
/// averaged over the batch, into loss slot 0.
fn reconstruction<B: Backend>(
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

const LEAK: Activation = Activation::LeakyRelu(0.2);
/// Keras' LeakyReLU default, which the DCGAN tutorial uses.
const KERAS_LEAK: Activation = Activation::LeakyRelu(0.3);

fn dense(out: usize, act: Activation) -> LayerSpec {
    LayerSpec::Dense {
        out,
        bias: true,
        act,
    }
}

fn image() -> [usize; 3] {
    [1, 28, 28]
}

fn vector(n: usize) -> [usize; 3] {
    [n, 1, 1]
}

/// The networks of each model.
pub mod specs {
    use super::*;

    pub fn mlp_generator(c: &ModelConfig) -> NetSpec {
        NetSpec {
            input: vector(c.latent),
            layers: vec![
                dense(c.hidden, Activation::Relu),
                dense(c.hidden, Activation::Relu),
                dense(PIXELS, Activation::Tanh),
            ],
        }
    }

    pub fn mlp_discriminator(c: &ModelConfig) -> NetSpec {
        NetSpec {
            input: vector(PIXELS),
            layers: vec![
                dense(c.hidden, LEAK),
                dense(c.hidden, LEAK),
                dense(1, Activation::None),
            ],
        }
    }

    /// dense z → 7·7·4w (no bias) → BN → LeakyReLU → convT 5×5 to 2w (s1) →
    /// BN → LeakyReLU → w (s2) → BN → LeakyReLU → 1 (s2), tanh.
    pub fn dcgan_generator(c: &ModelConfig) -> NetSpec {
        let w = c.width;
        let convt = |c_out, stride, act| LayerSpec::ConvTranspose {
            c_out,
            k: 5,
            stride,
            bias: false,
            act,
        };
        NetSpec {
            input: vector(c.latent),
            layers: vec![
                LayerSpec::Dense {
                    out: 7 * 7 * 4 * w,
                    bias: false,
                    act: Activation::None,
                },
                LayerSpec::BatchNorm,
                LayerSpec::Act(KERAS_LEAK),
                LayerSpec::Reshape([4 * w, 7, 7]),
                convt(2 * w, 1, Activation::None),
                LayerSpec::BatchNorm,
                LayerSpec::Act(KERAS_LEAK),
                convt(w, 2, Activation::None),
                LayerSpec::BatchNorm,
                LayerSpec::Act(KERAS_LEAK),
                convt(1, 2, Activation::Tanh),
            ],
        }
    }

    /// conv 5×5/2 to w → LeakyReLU → dropout → conv 5×5/2 to 2w → LeakyReLU → dropout → dense 1.
    pub fn dcgan_discriminator(c: &ModelConfig) -> NetSpec {
        let conv = |c_out| LayerSpec::Conv {
            c_out,
            k: 5,
            stride: 2,
            bias: true,
            act: KERAS_LEAK,
        };
        NetSpec {
            input: image(),
            layers: vec![
                conv(c.width),
                LayerSpec::Dropout(c.dropout),
                conv(2 * c.width),
                LayerSpec::Dropout(c.dropout),
                dense(1, Activation::None),
            ],
        }
    }

    /// 784 → [hidden →] code → [hidden →] 784 logits.
    pub fn autoencoder(c: &ModelConfig) -> NetSpec {
        let mut layers = Vec::new();
        if c.hidden > 0 {
            layers.push(dense(c.hidden, Activation::Relu));
        }
        layers.push(dense(c.latent, Activation::Relu));
        if c.hidden > 0 {
            layers.push(dense(c.hidden, Activation::Relu));
        }
        layers.push(dense(PIXELS, Activation::None));
        NetSpec {
            input: vector(PIXELS),
            layers,
        }
    }

    /// The VAE encoder up to the two heads (μ and log σ², dense layers of their own).
    pub fn vae_encoder(c: &ModelConfig) -> NetSpec {
        match c.kind {
            ModelKind::ConvVae => {
                let conv = |c_out| LayerSpec::Conv {
                    c_out,
                    k: 5,
                    stride: 2,
                    bias: true,
                    act: Activation::Relu,
                };
                NetSpec {
                    input: image(),
                    layers: vec![conv(c.width), conv(2 * c.width)],
                }
            }
            _ => NetSpec {
                input: vector(PIXELS),
                layers: vec![dense(c.hidden, Activation::Relu)],
            },
        }
    }

    /// z → 784 logits: an MLP, or the DCGAN generator's shape without batch
    /// norm (dense → 7·7·4w → convT 5×5 to 2w (s1) → w (s2) → 1 (s2)).
    pub fn vae_decoder(c: &ModelConfig) -> NetSpec {
        match c.kind {
            ModelKind::ConvVae => {
                let w = c.width;
                let convt = |c_out, stride, act| LayerSpec::ConvTranspose {
                    c_out,
                    k: 5,
                    stride,
                    bias: true,
                    act,
                };
                NetSpec {
                    input: vector(c.latent),
                    layers: vec![
                        dense(7 * 7 * 4 * w, Activation::Relu),
                        LayerSpec::Reshape([4 * w, 7, 7]),
                        convt(2 * w, 1, Activation::Relu),
                        convt(w, 2, Activation::Relu),
                        convt(1, 2, Activation::None),
                    ],
                }
            }
            _ => NetSpec {
                input: vector(c.latent),
                layers: vec![
                    dense(c.hidden, Activation::Relu),
                    dense(PIXELS, Activation::None),
                ],
            },
        }
    }
}

/// Random streams, so that no two random ops of a model draw the same numbers.
mod stream {
    pub const GAN_NOISE: u32 = 1;
    pub const VAE_EPS: u32 = 2;
    pub const EVAL_EPS: u32 = 3;
    /// The discriminator's dropout layers: this + layer index.
    pub const D_DROPOUT: u32 = 100;
}

/// The declared parameters of a model.
enum Params {
    Gan {
        g: NetParams,
        d: NetParams,
    },
    Autoencoder {
        net: NetParams,
    },
    Vae {
        enc: NetParams,
        mu: LinearParams,
        logvar: LinearParams,
        dec: NetParams,
    },
}

/// One binding of a GAN: G at N, D at 2N over [fake; real].
pub struct GanBinding<B: Backend> {
    pub n: usize,
    pub z: B::Tensor,
    pub g: Sequential<B>,
    pub d: Sequential<B>,
    /// D's input [2N, 784]: G writes the first half, the data the second.
    pub d_input: B::Tensor,
    noise: B::Op,
    d_loss: B::Op,
    g_loss: B::Op,
    _targets: B::Tensor,
    _d_dx: B::Tensor,
}

/// One binding of a VAE at batch size N.
pub struct VaeBinding<B: Backend> {
    pub n: usize,
    pub x: B::Tensor,
    pub enc: Sequential<B>,
    pub mu: Linear<B>,
    pub logvar: Linear<B>,
    pub eps: B::Tensor,
    pub z: B::Tensor,
    pub dz: B::Tensor,
    pub dec: Sequential<B>,
    noise: B::Op,
    reparam: B::Op,
    reparam_backward: B::Op,
    recon_loss: B::Op,
    kl: B::Op,
}

/// One binding of the autoencoder.
pub struct AeBinding<B: Backend> {
    pub n: usize,
    pub x: B::Tensor,
    pub net: Sequential<B>,
    recon_loss: B::Op,
}

enum Train<B: Backend> {
    Gan(GanBinding<B>),
    Vae(VaeBinding<B>),
    Ae(AeBinding<B>),
}

/// What draws the samples shown in a grid: a generator (or decoder) bound
/// at the grid's size in evaluation mode, fed latents written by the host.
pub struct Sampler<B: Backend> {
    pub n: usize,
    pub z: B::Tensor,
    pub net: Sequential<B>,
    /// Reads the samples back (one staging buffer, made once).
    pub readback: B::Readback,
}

/// What a model is before it is bound: its settings, its declared networks
/// and one parameter arena per optimiser.
struct Parts<B: Backend> {
    config: ModelConfig,
    params: Params,
    arenas: Vec<(&'static str, ParamArena<B>)>,
}

/// A model on a backend: its arenas and bindings.
pub struct Model<B: Backend> {
    parts: Parts<B>,
    train: Train<B>,
    /// Loss slots of the training step, then a constant 1 (which counts steps in `loss_sums`).
    pub losses: B::Tensor,
    /// Running sums of `losses` since the start: the host reads these every
    /// few steps and differences them, so no step's loss is lost and no step waits.
    pub loss_sums: B::Tensor,
    accumulate: B::Op,
}

/// How many samples a sampler draws at once for a grid.
pub const GRID: usize = 64;

impl<B: Backend> Parts<B> {
    fn arena(&self, i: usize) -> &ParamArena<B> {
        &self.arenas[i].1
    }

    /// G at `n`, D at 2n over [G(z); data]; the two losses into `losses[0..2]`.
    fn bind_gan(&self, b: &B, n: usize, losses: &B::Tensor) -> GanBinding<B> {
        let Params::Gan { g, d } = &self.params else {
            unreachable!()
        };
        let (ga, da) = (self.arena(0), self.arena(1));
        let seed = self.config.seed;
        let z = b.zeros(n * self.config.latent);
        let noise = gaussian(
            b,
            &z,
            Key {
                seed,
                stream: stream::GAN_NOISE,
            },
            &ga.step,
        );
        let d_input = b.zeros(2 * n * PIXELS);
        let d_dx = b.zeros(2 * n * PIXELS);
        let fake = (
            b.slice(&d_input, 0, n * PIXELS),
            b.slice(&d_dx, 0, n * PIXELS),
        );
        let g = g.bind(
            b,
            ga,
            n,
            &z,
            InputGrad::None,
            Some(fake),
            Mode::Train,
            (seed, 0),
        );
        let d = d.bind(
            b,
            da,
            2 * n,
            &d_input,
            InputGrad::Write(&d_dx),
            None,
            Mode::Train,
            (seed, stream::D_DROPOUT),
        );
        let mut targets = vec![0.0; 2 * n];
        targets[n..].fill(1.0);
        let targets = b.upload(&targets);
        let (fake_logits, fake_dlogits) = (b.slice(&d.y, 0, n), b.slice(&d.dy, 0, n));
        // G's loss: D's fake logits against the "real" label.
        let g_loss_tensors = LossTensors {
            dx: &fake_dlogits,
            x: &fake_logits,
            target: LossTarget::Const(1.0),
            loss: losses,
        };
        let (d_loss, g_loss) = match self.config.gan_loss {
            GanLoss::Bce => (
                // Σ over 2N / N: the mean on real plus the mean on fake, as the tutorial.
                b.bind(
                    &BernoulliReconstruction { n, slot: 0 },
                    LossTensors {
                        dx: &d.dy,
                        x: &d.y,
                        target: LossTarget::Values(&targets),
                        loss: losses,
                    },
                ),
                b.bind(&BceWithLogits { slot: 1 }, g_loss_tensors),
            ),
            GanLoss::LeastSquares => (
                b.bind(
                    &Mse { slot: 0 },
                    LossTensors {
                        dx: &d.dy,
                        x: &d.y,
                        target: LossTarget::Values(&targets),
                        loss: losses,
                    },
                ),
                b.bind(&LeastSquares { slot: 1 }, g_loss_tensors),
            ),
            GanLoss::Hinge => (
                // The mean over real plus the mean over fake, as for BCE.
                b.bind(
                    &Hinge { n, slot: 0 },
                    LossTensors {
                        dx: &d.dy,
                        x: &d.y,
                        target: LossTarget::Values(&targets),
                        loss: losses,
                    },
                ),
                b.bind(&HingeGenerator { slot: 1 }, g_loss_tensors),
            ),
        };
        GanBinding {
            n,
            z,
            g,
            d,
            d_input,
            noise,
            d_loss,
            g_loss,
            _targets: targets,
            _d_dx: d_dx,
        }
    }

    /// `noise_step` is the counter the ε draws read: the arena's step in
    /// training, the evaluator's own count in evaluation.
    #[allow(clippy::too_many_arguments)]
    fn bind_vae(
        &self,
        b: &B,
        n: usize,
        mode: Mode,
        beta: f32,
        losses: &B::Tensor,
        noise_step: &B::Tensor,
    ) -> VaeBinding<B> {
        let Params::Vae {
            enc,
            mu,
            logvar,
            dec,
        } = &self.params
        else {
            unreachable!()
        };
        let a = self.arena(0);
        let (seed, zl) = (self.config.seed, self.config.latent);
        let x = b.zeros(n * PIXELS);
        let enc = enc.bind(b, a, n, &x, InputGrad::None, None, mode, (seed, 0));
        let mu = Linear::new(
            b,
            a,
            *mu,
            n,
            &enc.y,
            InputGrad::Write(&enc.dy),
            Activation::None,
            None,
        );
        let logvar = Linear::new(
            b,
            a,
            *logvar,
            n,
            &enc.y,
            InputGrad::Accumulate(&enc.dy),
            Activation::None,
            None,
        );
        let (eps, z, dz) = (b.zeros(n * zl), b.zeros(n * zl), b.zeros(n * zl));
        let eps_stream = if mode == Mode::Train {
            stream::VAE_EPS
        } else {
            stream::EVAL_EPS
        };
        let key = Key {
            seed,
            stream: eps_stream,
        };
        let noise = gaussian(b, &eps, key, noise_step);
        let reparam = b.bind(
            &ReparameterizeForward,
            ReparameterizeForwardTensors {
                z: &z,
                mu: &mu.y,
                logvar: &logvar.y,
                eps: &eps,
            },
        );
        let dec = dec.bind(b, a, n, &z, InputGrad::Write(&dz), None, mode, (seed, 0));
        let reparam_backward = b.bind(
            &ReparameterizeBackward {
                grad: Grad::Accumulate,
            },
            ReparameterizeBackwardTensors {
                dmu: &mu.dy,
                dlogvar: &logvar.dy,
                dz: &dz,
                logvar: &logvar.y,
                eps: &eps,
            },
        );
        let recon_loss = reconstruction(b, &dec.dy, &dec.y, &x, losses);
        let kl = b.bind(
            &GaussianKl { n, beta, slot: 1 },
            GaussianKlTensors {
                dmu: &mu.dy,
                dlogvar: &logvar.dy,
                mu: &mu.y,
                logvar: &logvar.y,
                loss: losses,
            },
        );
        VaeBinding {
            n,
            x,
            enc,
            mu,
            logvar,
            eps,
            z,
            dz,
            dec,
            noise,
            reparam,
            reparam_backward,
            recon_loss,
            kl,
        }
    }

    fn bind_ae(&self, b: &B, n: usize, mode: Mode, losses: &B::Tensor) -> AeBinding<B> {
        let Params::Autoencoder { net } = &self.params else {
            unreachable!()
        };
        let x = b.zeros(n * PIXELS);
        let net = net.bind(
            b,
            self.arena(0),
            n,
            &x,
            InputGrad::None,
            None,
            mode,
            (self.config.seed, 0),
        );
        let recon_loss = reconstruction(b, &net.dy, &net.y, &x, losses);
        AeBinding {
            n,
            x,
            net,
            recon_loss,
        }
    }
}

/// A model's networks declared into one [`ParamsBuilder`] per optimiser.
fn declare(
    c: &ModelConfig,
    mut builder: impl FnMut() -> ParamsBuilder,
) -> (Vec<(&'static str, ParamsBuilder)>, Params) {
    let mut rng = Rng::new(c.seed, 0);
    if c.kind.is_gan() {
        let (gs, ds) = match c.kind {
            ModelKind::MlpGan => (specs::mlp_generator(c), specs::mlp_discriminator(c)),
            _ => (specs::dcgan_generator(c), specs::dcgan_discriminator(c)),
        };
        let mut gb = builder();
        let g = NetParams::declare(&mut gb, "generator", &gs, &mut rng);
        let mut db = builder();
        let d = NetParams::declare(&mut db, "discriminator", &ds, &mut rng);
        (
            vec![("generator", gb), ("discriminator", db)],
            Params::Gan { g, d },
        )
    } else if c.kind.is_vae() {
        let mut pb = builder();
        let enc = NetParams::declare(&mut pb, "encoder", &specs::vae_encoder(c), &mut rng);
        let h = enc.output_len();
        let mu = LinearParams::declare(&mut pb, "encoder.mu", h, c.latent, true, &mut rng);
        let logvar = LinearParams::declare(&mut pb, "encoder.logvar", h, c.latent, true, &mut rng);
        let dec = NetParams::declare(&mut pb, "decoder", &specs::vae_decoder(c), &mut rng);
        (
            vec![("model", pb)],
            Params::Vae {
                enc,
                mu,
                logvar,
                dec,
            },
        )
    } else {
        let mut pb = builder();
        let net = NetParams::declare(&mut pb, "autoencoder", &specs::autoencoder(c), &mut rng);
        (vec![("model", pb)], Params::Autoencoder { net })
    }
}

/// The most memory a model may take (parameters, gradients, Adam's moments,
/// activations at its batch size and a 64-sample sampler): 1 GiB. The page
/// runs in wasm, whose memory ends at 4 GiB; the largest preset (the full
/// DCGAN at batch 64) needs about 0.1 GiB.
pub const MEMORY_BUDGET: u64 = 1 << 30;

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
        let (builders, params) = declare(self, ParamsBuilder::layout);
        let mut arenas = Vec::new();
        let (mut param_count, mut floats) = (0usize, 0u64);
        for (name, pb) in &builders {
            let mut tensors = Vec::new();
            for part in ArenaPart::SAVED {
                let required = !matches!(part, ArenaPart::AdamM | ArenaPart::AdamV);
                tensors.extend(pb.saved_slots(part).into_iter().map(|s| SavedTensor {
                    name: s.name,
                    len: s.len,
                    required,
                }));
            }
            arenas.push((*name, tensors));
            param_count += pb.param_count();
            // values, gradients, two moments; the state.
            floats += 4 * pb.param_count() as u64 + pb.state_count() as u64;
        }
        let n = self.batch as u64;
        let grid = GRID as u64;
        let per = |net: &NetParams, mode| net.activations_per_sample(mode) as u64;
        floats += match &params {
            Params::Gan { g, d } => {
                // G at N, D at 2N over [fake; real] (with its input and
                // input gradient), the sampler: G at 64.
                n * per(g, Mode::Train)
                    + 2 * n * (per(d, Mode::Train) + 2 * PIXELS as u64)
                    + grid * per(g, Mode::Eval)
            }
            Params::Vae { enc, dec, .. } => {
                let heads = 7 * self.latent as u64; // μ, log σ² (y, dy each), ε, z, dz
                n * (PIXELS as u64 + per(enc, Mode::Train) + heads + per(dec, Mode::Train))
                    + grid * per(dec, Mode::Eval)
            }
            Params::Autoencoder { net } => {
                // The sampler takes digits, not latents.
                (n + grid) * PIXELS as u64 + n * per(net, Mode::Train) + grid * per(net, Mode::Eval)
            }
        };
        Layout {
            arenas,
            params: param_count,
            bytes: 4 * floats,
        }
    }
}

impl<B: Backend> Model<B> {
    pub fn new(b: &B, config: ModelConfig) -> Result<Model<B>, String> {
        config.validate()?;
        let c = &config;
        let adam = AdamConfig {
            lr: c.lr,
            beta1: c.adam_beta1,
            ..AdamConfig::default()
        };
        let (builders, params) = declare(c, || ParamsBuilder::new(b));
        let arenas = builders
            .into_iter()
            .map(|(name, pb)| (name, pb.build(b, adam)))
            .collect();
        let parts = Parts {
            config,
            params,
            arenas,
        };
        let slots = parts.config.loss_names().len();
        let mut init = vec![0.0; slots + 1];
        init[slots] = 1.0;
        let losses = b.upload(&init);
        let loss_sums = b.zeros(slots + 1);
        let accumulate = add_assign(b, &loss_sums, &losses);
        let n = parts.config.batch;
        let train = match &parts.params {
            Params::Gan { .. } => Train::Gan(parts.bind_gan(b, n, &losses)),
            Params::Vae { .. } => {
                let step = &parts.arenas[0].1.step;
                Train::Vae(parts.bind_vae(b, n, Mode::Train, parts.config.beta, &losses, step))
            }
            Params::Autoencoder { .. } => Train::Ae(parts.bind_ae(b, n, Mode::Train, &losses)),
        };
        Ok(Model {
            parts,
            train,
            losses,
            loss_sums,
            accumulate,
        })
    }

    pub fn config(&self) -> &ModelConfig {
        &self.parts.config
    }

    /// Sets every optimiser's learning rate (see [`ParamArena::set_lr`]).
    pub fn set_lr(&mut self, b: &B, lr: f32) {
        // The settings are what trains: saved with the weights, kept by a rebuild.
        self.parts.config.lr = lr;
        for (_, a) in &mut self.parts.arenas {
            a.set_lr(b, lr);
        }
    }

    /// One arena per optimiser: ("generator", …), ("discriminator", …) or ("model", …).
    pub fn arenas(&self) -> &[(&'static str, ParamArena<B>)] {
        &self.parts.arenas
    }

    /// Where a batch of real digits goes (N × 784, in [`ModelConfig::pixel_range`]).
    pub fn batch_input(&self, b: &B) -> B::Tensor {
        match &self.train {
            Train::Gan(g) => b.slice(&g.d_input, g.n * PIXELS, g.n * PIXELS),
            Train::Vae(v) => v.x.clone(),
            Train::Ae(a) => a.x.clone(),
        }
    }

    /// Writes a batch of digits (N × 784 values in [0, 1]) as the model's input.
    pub fn write_batch(&self, b: &B, pixels01: &[f32], scratch: &mut Vec<f32>) {
        let n = self.parts.config.batch;
        assert_eq!(
            pixels01.len(),
            n * PIXELS,
            "a batch is {n} digits of {PIXELS} pixels"
        );
        let (lo, hi) = self.parts.config.pixel_range();
        scratch.clear();
        scratch.extend(pixels01.iter().map(|&p| lo + (hi - lo) * p));
        match &self.train {
            Train::Gan(g) => b.write(&g.d_input, n * PIXELS, scratch),
            Train::Vae(v) => b.write(&v.x, 0, scratch),
            Train::Ae(a) => b.write(&a.x, 0, scratch),
        }
    }

    /// Records one training step (the batch already written): zero grads,
    /// forward, losses, backward, Adam, and the loss sums.
    pub fn step(&self, pass: &mut B::Pass<'_>) {
        self.gradients(pass);
        for (_, a) in &self.parts.arenas {
            a.update(pass);
        }
        B::record(pass, &self.accumulate);
    }

    /// Records a step without its update: zero grads, forward, losses and
    /// every gradient (each optimiser's of its own loss). The losses are a
    /// pure function of the weights, the batch and the step counter, so a
    /// test can difference them.
    pub fn gradients(&self, pass: &mut B::Pass<'_>) {
        for (_, a) in &self.parts.arenas {
            a.zero_grad(pass);
        }
        match &self.train {
            Train::Gan(g) => {
                B::record(pass, &g.noise);
                g.g.forward(pass); // fake: [N, 784] into d_input[..N]
                g.d.forward(pass); // logits: [2N, 1]
                B::record(pass, &g.d_loss);
                g.d.backward_params(pass); // D's gradients of its own loss
                B::record(pass, &g.g_loss); // overwrites dlogits[..N]
                g.d.backward_input(pass); // dD/dfake, D's gradients untouched
                g.g.backward(pass);
            }
            Train::Vae(v) => {
                v.forward(pass);
                B::record(pass, &v.recon_loss);
                B::record(pass, &v.kl); // writes dμ, dlog σ²
                v.dec.backward(pass); // dz
                B::record(pass, &v.reparam_backward); // dμ, dlog σ² += …
                v.mu.backward(pass);
                v.logvar.backward(pass); // accumulates into the encoder's dy
                v.enc.backward(pass);
            }
            Train::Ae(a) => {
                a.net.forward(pass);
                B::record(pass, &a.recon_loss);
                a.net.backward(pass);
            }
        }
    }

    /// The number of training steps taken, from the first arena's step counter.
    pub async fn steps_done(&self, b: &B) -> Result<u32, crate::backends::BackendError> {
        self.parts.arena(0).read_step(b).await
    }

    /// Binds the sampler: the generator (GANs), the decoder (VAEs) or the
    /// whole network (the autoencoder, fed digits) at `n`, evaluation mode.
    pub fn sampler(&self, b: &B, n: usize) -> Sampler<B> {
        self.sampler_in(b, n, Mode::Eval)
    }

    /// The sampler in either mode (`Mode::Train`: batch norm over the
    /// samples' own statistics, and dropout where the network has it).
    pub fn sampler_in(&self, b: &B, n: usize, mode: Mode) -> Sampler<B> {
        let seed = self.parts.config.seed;
        let a = self.parts.arena(0);
        let (net, input) = match &self.parts.params {
            Params::Gan { g, .. } => (g, self.parts.config.latent),
            Params::Vae { dec, .. } => (dec, self.parts.config.latent),
            Params::Autoencoder { net } => (net, PIXELS),
        };
        let z = b.zeros(n * input);
        let net = net.bind(b, a, n, &z, InputGrad::None, None, mode, (seed, 0));
        let readback = b.readback(&net.y);
        Sampler {
            n,
            z,
            net,
            readback,
        }
    }

    /// The sampler's input per sample: latents, or digits for the autoencoder.
    pub fn sampler_input_len(&self) -> usize {
        if self.parts.config.kind == ModelKind::Autoencoder {
            PIXELS
        } else {
            self.parts.config.latent
        }
    }

    /// An evaluation binding for held-out digits: losses per batch of `n`
    /// into `losses` (VAE: reconstruction and KL with β = 1; AE: reconstruction).
    pub fn evaluator(&self, b: &B, n: usize) -> Option<Evaluator<B>> {
        let slots = self.parts.config.loss_names().len();
        let losses = b.zeros(slots);
        // Each evaluation batch draws its own ε.
        let step = b.zeros(1);
        match &self.parts.params {
            Params::Gan { .. } => None,
            Params::Vae { .. } => {
                let v = self.parts.bind_vae(b, n, Mode::Eval, 1.0, &losses, &step);
                Some(Evaluator {
                    n,
                    losses,
                    tick: b.bind(&StepIncrement, StepTensors { step: &step }),
                    _step: step,
                    net: EvalNet::Vae(v),
                })
            }
            Params::Autoencoder { .. } => {
                let a = self.parts.bind_ae(b, n, Mode::Eval, &losses);
                Some(Evaluator {
                    n,
                    losses,
                    tick: b.bind(&StepIncrement, StepTensors { step: &step }),
                    _step: step,
                    net: EvalNet::Ae(a),
                })
            }
        }
    }

    /// The training binding of a GAN (for tests and tools).
    pub fn gan(&self) -> Option<&GanBinding<B>> {
        match &self.train {
            Train::Gan(g) => Some(g),
            _ => None,
        }
    }

    /// The training binding of a VAE (for tests and tools).
    pub fn vae(&self) -> Option<&VaeBinding<B>> {
        match &self.train {
            Train::Vae(v) => Some(v),
            _ => None,
        }
    }

    /// Total parameters.
    pub fn param_count(&self) -> usize {
        self.parts.arenas.iter().map(|(_, a)| a.count()).sum()
    }
}

impl<B: Backend> VaeBinding<B> {
    /// x → μ, log σ² → z = μ + σ·ε → logits.
    pub fn forward(&self, pass: &mut B::Pass<'_>) {
        self.enc.forward(pass); // h: [N, H]
        self.mu.forward(pass); // μ: [N, Z]
        self.logvar.forward(pass); // log σ²: [N, Z]
        B::record(pass, &self.noise); // ε: [N, Z]
        B::record(pass, &self.reparam); // z: [N, Z]
        self.dec.forward(pass); // logits: [N, 784]
    }
}

impl<B: Backend> Sampler<B> {
    pub fn forward(&self, pass: &mut B::Pass<'_>) {
        self.net.forward(pass);
    }
}

enum EvalNet<B: Backend> {
    Vae(VaeBinding<B>),
    Ae(AeBinding<B>),
}

/// Held-out evaluation of an autoencoder or VAE, a batch of `n` at a time.
pub struct Evaluator<B: Backend> {
    pub n: usize,
    /// Per batch: mean reconstruction nats per image (and KL for VAEs).
    pub losses: B::Tensor,
    /// Counts evaluation batches: the ε stream's step (kept with the ops that use it).
    _step: B::Tensor,
    tick: B::Op,
    net: EvalNet<B>,
}

impl<B: Backend> Evaluator<B> {
    /// Where the batch goes (N × 784 in [0, 1]).
    pub fn input(&self) -> &B::Tensor {
        match &self.net {
            EvalNet::Vae(v) => &v.x,
            EvalNet::Ae(a) => &a.x,
        }
    }

    /// The reconstructions' logits [N, 784].
    pub fn output(&self) -> &B::Tensor {
        match &self.net {
            EvalNet::Vae(v) => &v.dec.y,
            EvalNet::Ae(a) => &a.net.y,
        }
    }

    /// One batch: forward and losses, then the next ε draw.
    pub fn forward(&self, pass: &mut B::Pass<'_>) {
        match &self.net {
            EvalNet::Vae(v) => {
                v.forward(pass);
                B::record(pass, &v.recon_loss);
                B::record(pass, &v.kl);
            }
            EvalNet::Ae(a) => {
                a.net.forward(pass);
                B::record(pass, &a.recon_loss);
            }
        }
        B::record(pass, &self.tick);
    }
}
