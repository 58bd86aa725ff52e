//! How every VAE trains (the MLP VAE and the conv VAE declare only their
//! encoder and decoder): x → encoder → (μ, log σ²) heads → z = μ + σ·ε →
//! decoder → Bernoulli logits; the loss is the reconstruction plus β·KL.
//! One optimizer for the whole model.

use super::{
    arenas, gaussian, network, reconstruction, stream, Evaluator, ModelConfig, Reconstructs,
    Trained, GRID,
};
use crate::backends::Backend;
use crate::core::rng::Rng;
use crate::core::{Activation, Grad};
use crate::data::PIXELS;
use crate::nn::{
    InputGrad, Linear, LinearParams, Mode, NetParams, ParamArena, ParamsBuilder, Sequential,
};
use crate::ops::{
    GaussianKl, GaussianKlTensors, Key, ReparameterizeBackward, ReparameterizeBackwardTensors,
    ReparameterizeForward, ReparameterizeForwardTensors, StepIncrement, StepTensors,
};

/// The encoder, its two heads and the decoder, declared.
pub(super) struct VaeParams {
    enc: NetParams,
    mu: LinearParams,
    logvar: LinearParams,
    dec: NetParams,
}

fn declare_params(
    c: &ModelConfig,
    mut builder: impl FnMut() -> ParamsBuilder,
) -> (Vec<(&'static str, ParamsBuilder)>, VaeParams) {
    let mut rng = Rng::new(c.seed, 0);
    let mut pb = builder();
    let enc = NetParams::declare(&mut pb, "encoder", &network(c, "encoder"), &mut rng);
    let h = enc.output_len();
    let mu = LinearParams::declare(&mut pb, "encoder.mu", h, c.latent, true, &mut rng);
    let logvar = LinearParams::declare(&mut pb, "encoder.logvar", h, c.latent, true, &mut rng);
    let dec = NetParams::declare(&mut pb, "decoder", &network(c, "decoder"), &mut rng);
    (
        vec![("model", pb)],
        VaeParams {
            enc,
            mu,
            logvar,
            dec,
        },
    )
}

/// The arena's builder and the floats of activations (training at N, the
/// sampler: the decoder at 64).
pub(super) fn declare(
    c: &ModelConfig,
    builder: impl FnMut() -> ParamsBuilder,
) -> (Vec<(&'static str, ParamsBuilder)>, u64) {
    let (builders, p) = declare_params(c, builder);
    let n = c.batch as u64;
    let per = |net: &NetParams, mode| net.activations_per_sample(mode) as u64;
    let heads = 7 * c.latent as u64; // μ, log σ² (y, dy each), ε, z, dz
    let floats = n * (PIXELS as u64 + per(&p.enc, Mode::Train) + heads + per(&p.dec, Mode::Train))
        + GRID as u64 * per(&p.dec, Mode::Eval);
    (builders, floats)
}

/// One binding of a VAE at batch size N.
pub struct VaeBinding<B: Backend> {
    pub n: usize,
    pub x: B::Tensor,
    /// A conditional VAE's labels [N] (the encoder's and the decoder's).
    pub labels: Option<B::Tensor>,
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

impl<B: Backend> Reconstructs<B> for VaeBinding<B> {
    fn input(&self) -> &B::Tensor {
        &self.x
    }

    fn output(&self) -> &B::Tensor {
        &self.dec.y
    }

    fn labels(&self) -> Option<&B::Tensor> {
        self.labels.as_ref()
    }

    fn forward(&self, pass: &mut B::Pass<'_>) {
        VaeBinding::forward(self, pass);
        B::record(pass, &self.recon_loss);
        B::record(pass, &self.kl);
    }

    fn codes(&self) -> Vec<(&'static str, &B::Tensor)> {
        vec![("mu", &self.mu.y), ("logvar", &self.logvar.y)]
    }
}

/// A VAE bound for training.
pub(super) struct Vae<B: Backend> {
    config: ModelConfig,
    params: VaeParams,
    arenas: Vec<(&'static str, ParamArena<B>)>,
    bound: VaeBinding<B>,
}

impl<B: Backend> Vae<B> {
    pub(super) fn new(b: &B, c: &ModelConfig, losses: &B::Tensor) -> Self {
        let (builders, params) = declare_params(c, || ParamsBuilder::new(b));
        let arenas = arenas(b, c, builders);
        let step = &arenas[0].1.step;
        let bound = bind_at(
            b,
            c,
            &params,
            &arenas[0].1,
            c.batch,
            Mode::Train,
            c.beta,
            losses,
            step,
        );
        Vae {
            config: c.clone(),
            params,
            arenas,
            bound,
        }
    }
}

/// One binding at batch size `n`. `noise_step` is the counter the ε draws
/// read: the arena's step in training, the evaluator's own count in evaluation.
#[allow(clippy::too_many_arguments)]
fn bind_at<B: Backend>(
    b: &B,
    c: &ModelConfig,
    p: &VaeParams,
    a: &ParamArena<B>,
    n: usize,
    mode: Mode,
    beta: f32,
    losses: &B::Tensor,
    noise_step: &B::Tensor,
) -> VaeBinding<B> {
    let (seed, zl) = (c.seed, c.latent);
    let x = b.zeros(n * PIXELS);
    let labels = p.enc.is_conditional().then(|| b.zeros(n));
    let enc = p.enc.bind_labelled(
        b,
        a,
        n,
        &x,
        InputGrad::None,
        None,
        mode,
        (seed, 0),
        labels.as_ref(),
    );
    let mu = Linear::new(
        b,
        a,
        p.mu,
        n,
        &enc.y,
        InputGrad::Write(&enc.dy),
        Activation::None,
        None,
    );
    let logvar = Linear::new(
        b,
        a,
        p.logvar,
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
    let dec = p.dec.bind_labelled(
        b,
        a,
        n,
        &z,
        InputGrad::Write(&dz),
        None,
        mode,
        (seed, 0),
        labels.as_ref(),
    );
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
        labels,
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

impl<B: Backend> Trained<B> for Vae<B> {
    fn arenas(&self) -> &[(&'static str, ParamArena<B>)] {
        &self.arenas
    }

    fn arenas_mut(&mut self) -> &mut [(&'static str, ParamArena<B>)] {
        &mut self.arenas
    }

    fn batch_place(&self) -> (&B::Tensor, usize) {
        (&self.bound.x, 0)
    }

    fn label_places(&self) -> Vec<(&B::Tensor, usize)> {
        self.bound.labels.iter().map(|l| (l, 0)).collect()
    }

    fn gradients(&self, pass: &mut B::Pass<'_>) {
        let v = &self.bound;
        self.arenas[0].1.zero_grad(pass);
        v.forward(pass);
        B::record(pass, &v.recon_loss);
        B::record(pass, &v.kl); // writes dμ, dlog σ²
        v.dec.backward(pass); // dz
        B::record(pass, &v.reparam_backward); // dμ, dlog σ² += …
        v.mu.backward(pass);
        v.logvar.backward(pass); // accumulates into the encoder's dy
        v.enc.backward(pass);
    }

    fn sampler_net(&self) -> (&NetParams, usize) {
        (&self.params.dec, self.config.latent)
    }

    fn evaluator(&self, b: &B, n: usize) -> Option<Evaluator<B>> {
        let losses = b.zeros(self.config.loss_names().len());
        // Each evaluation batch draws its own ε.
        let step = b.zeros(1);
        let a = &self.arenas[0].1;
        let v = bind_at(
            b,
            &self.config,
            &self.params,
            a,
            n,
            Mode::Eval,
            1.0,
            &losses,
            &step,
        );
        Some(Evaluator {
            n,
            losses,
            tick: b.bind(&StepIncrement, StepTensors { step: &step }),
            _step: step,
            net: Box::new(v),
        })
    }

    fn vae(&self) -> Option<&VaeBinding<B>> {
        Some(&self.bound)
    }
}
