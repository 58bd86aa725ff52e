//! The plain autoencoder, 784 → [hidden →] code → [hidden →] 784 logits,
//! trained on the Bernoulli reconstruction of its input; the family code
//! and the model in one file (it is the only one of its family).

use super::{
    arenas, dense, reconstruction, vector, Evaluator, Family, ModelConfig, ModelInfo, ModelKind,
    Reconstructs, Trained, GRID,
};
use crate::backends::Backend;
use crate::core::rng::Rng;
use crate::core::Activation;
use crate::data::PIXELS;
use crate::nn::{
    InputGrad, Layer, Mode, NetParams, NetSpec, ParamArena, ParamsBuilder, Sequential,
};
use crate::ops::{StepIncrement, StepTensors};

pub(super) const INFO: ModelInfo = ModelInfo {
    kind: ModelKind::Autoencoder,
    name: "ae",
    title: "Autoencoder",
    description: "784 → 32 → 784 with ReLU, trained on the Bernoulli reconstruction of its input: a code, but no distribution to sample from.",
    family: Family::Autoencoder,
    // 784 → 32 → 784.
    material: || ModelConfig {
        batch: 128,
        latent: 32,
        hidden: 0,
        lr: 1e-3,
        ..ModelConfig::base(ModelKind::Autoencoder)
    },
    page: |c| ModelConfig { batch: 64, ..c },
    networks: |c| vec![("autoencoder", autoencoder(c))],
    conditional: false,
    tutorial: None,
};

/// The index of the code layer (its output is the code) among the
/// autoencoder's layers: the encoder is the layers up to it, the decoder
/// the layers after.
pub fn code_layer(c: &ModelConfig) -> usize {
    usize::from(c.hidden > 0)
}

/// 784 → [hidden →] code → [hidden →] 784 logits.
fn autoencoder(c: &ModelConfig) -> NetSpec {
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

fn declare_params(
    c: &ModelConfig,
    mut builder: impl FnMut() -> ParamsBuilder,
) -> (Vec<(&'static str, ParamsBuilder)>, NetParams) {
    let mut rng = Rng::new(c.seed, 0);
    let mut pb = builder();
    let net = NetParams::declare(&mut pb, "autoencoder", &autoencoder(c), &mut rng);
    (vec![("model", pb)], net)
}

/// The arena's builder and the floats of activations: the batch and the
/// network at N, and the sampler (which takes digits, not latents) at 64.
pub(super) fn declare(
    c: &ModelConfig,
    builder: impl FnMut() -> ParamsBuilder,
) -> (Vec<(&'static str, ParamsBuilder)>, u64) {
    let (builders, net) = declare_params(c, builder);
    let (n, grid) = (c.batch as u64, GRID as u64);
    let per = |mode| net.activations_per_sample(mode) as u64;
    let floats = (n + grid) * PIXELS as u64 + n * per(Mode::Train) + grid * per(Mode::Eval);
    (builders, floats)
}

/// One binding of the autoencoder.
pub struct AeBinding<B: Backend> {
    pub x: B::Tensor,
    pub net: Sequential<B>,
    recon_loss: B::Op,
    /// The code layer's index ([`code_layer`]).
    code: usize,
}

fn bind<B: Backend>(
    b: &B,
    c: &ModelConfig,
    net: &NetParams,
    a: &ParamArena<B>,
    n: usize,
    mode: Mode,
    losses: &B::Tensor,
) -> AeBinding<B> {
    let x = b.zeros(n * PIXELS);
    let net = net.bind(b, a, n, &x, InputGrad::None, None, mode, (c.seed, 0));
    let recon_loss = reconstruction(b, &net.dy, &net.y, &x, losses);
    AeBinding {
        x,
        net,
        recon_loss,
        code: code_layer(c),
    }
}

impl<B: Backend> Reconstructs<B> for AeBinding<B> {
    fn input(&self) -> &B::Tensor {
        &self.x
    }

    fn output(&self) -> &B::Tensor {
        &self.net.y
    }

    fn forward(&self, pass: &mut B::Pass<'_>) {
        self.net.forward(pass); // logits: [N, 784]
        B::record(pass, &self.recon_loss);
    }

    fn codes(&self) -> Vec<(&'static str, &B::Tensor)> {
        match &self.net.layers[self.code] {
            Layer::Linear(l) => vec![("code", &l.y)],
            _ => unreachable!("the code layer is dense"),
        }
    }
}

/// The autoencoder bound for training.
pub(super) struct Autoencoder<B: Backend> {
    config: ModelConfig,
    net: NetParams,
    arenas: Vec<(&'static str, ParamArena<B>)>,
    bound: AeBinding<B>,
}

impl<B: Backend> Autoencoder<B> {
    pub(super) fn new(b: &B, c: &ModelConfig, losses: &B::Tensor) -> Self {
        let (builders, net) = declare_params(c, || ParamsBuilder::new(b));
        let arenas = arenas(b, c, builders);
        let bound = bind(b, c, &net, &arenas[0].1, c.batch, Mode::Train, losses);
        Autoencoder {
            config: c.clone(),
            net,
            arenas,
            bound,
        }
    }
}

impl<B: Backend> Trained<B> for Autoencoder<B> {
    fn arenas(&self) -> &[(&'static str, ParamArena<B>)] {
        &self.arenas
    }

    fn arenas_mut(&mut self) -> &mut [(&'static str, ParamArena<B>)] {
        &mut self.arenas
    }

    fn batch_place(&self) -> (&B::Tensor, usize) {
        (&self.bound.x, 0)
    }

    fn gradients(&self, pass: &mut B::Pass<'_>) {
        self.arenas[0].1.zero_grad(pass);
        self.bound.forward(pass);
        self.bound.net.backward(pass);
    }

    fn sampler_net(&self) -> (&NetParams, usize) {
        (&self.net, PIXELS)
    }

    fn evaluator(&self, b: &B, n: usize) -> Option<Evaluator<B>> {
        let losses = b.zeros(self.config.loss_names().len());
        let step = b.zeros(1);
        let a = bind(
            b,
            &self.config,
            &self.net,
            &self.arenas[0].1,
            n,
            Mode::Eval,
            &losses,
        );
        Some(Evaluator {
            n,
            losses,
            tick: b.bind(&StepIncrement, StepTensors { step: &step }),
            _step: step,
            net: Box::new(a),
        })
    }
}
