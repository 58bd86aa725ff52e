//! How every GAN trains (the MLP GAN and the DCGAN declare only their
//! networks): G at N writes straight into the first half of D's input, the
//! real batch fills the second half, D runs once over those 2N images; D's
//! gradients of its own loss, then G's through D with an input-only
//! backward that leaves D's gradients alone. Each network has its own
//! optimizer (D's rate scaled by `d_lr_scale`); with `d_steps` > 1, the
//! step starts with that many − 1 discriminator-only updates on fresh noise.
//! With `spectral_norm`, D's layers read their weight matrices divided by
//! their largest singular value (one power iteration per D update, before
//! D's forward; its backward after D's parameter gradients).

use super::{arenas, gaussian, network, stream, Evaluator, ModelConfig, Trained, CLASSES, GRID};
use crate::backends::Backend;
use crate::backends::TensorLen;
use crate::core::rng::Rng;
use crate::data::PIXELS;
use crate::nn::{
    InputGrad, LayerSpec, Mode, NetParams, Normalized, ParamArena, ParamId, ParamsBuilder,
    Sequential, SpectralNorm, StateId,
};
use crate::ops::{
    BceWithLogits, BernoulliReconstruction, ClassesGenerator, Hinge, HingeGenerator, Key,
    LabelConcat, LabelConcatTensors, LabelShape, LeastSquares, LogitLossTensors, LossTarget,
    LossTensors, Mse, SoftmaxCrossEntropy, SpectralShape, TargetLossTensors,
};
use serde::{Deserialize, Serialize};

/// The GAN losses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum GanLoss {
    /// D: BCE of real → 1 and fake → 0; G: non-saturating BCE of fake → 1.
    Bce,
    /// Least squares (LSGAN): D: ½(D(x) − 1)² + ½D(G(z))²; G: ½(D(G(z)) − 1)².
    LeastSquares,
    /// Hinge: D: max(0, 1 − D(x)) + max(0, 1 + D(G(z))); G: −D(G(z)).
    Hinge,
    /// D names the digit or calls the image fake: 11 logits (fake, 0–9)
    /// under softmax cross-entropy, real digits → their digit, fakes →
    /// fake (the semi-supervised GAN's K + 1 classes), so it trains on the
    /// data's labels. G: a conditional G's fakes → the digit each was asked
    /// for; an unconditional G's → anything but fake, −log(1 − p_fake).
    /// D takes no label: the class signal is in its answer.
    Classes,
}

impl GanLoss {
    /// Every loss as (name, label): the choices of the `gan_loss` setting.
    pub const CHOICES: &'static [(&'static str, &'static str)] = &[
        ("bce", "non-saturating BCE"),
        ("least-squares", "least squares"),
        ("hinge", "hinge"),
        ("classes", "D names the digit or 'fake'"),
    ];

    pub fn name(self) -> &'static str {
        match self {
            GanLoss::Bce => "bce",
            GanLoss::LeastSquares => "least-squares",
            GanLoss::Hinge => "hinge",
            GanLoss::Classes => "classes",
        }
    }

    pub fn parse(s: &str) -> Result<GanLoss, String> {
        match s {
            "bce" => Ok(GanLoss::Bce),
            "least-squares" | "lsgan" => Ok(GanLoss::LeastSquares),
            "hinge" => Ok(GanLoss::Hinge),
            "classes" => Ok(GanLoss::Classes),
            _ => {
                let names: Vec<&str> = GanLoss::CHOICES.iter().map(|c| c.0).collect();
                Err(format!(
                    "unknown GAN loss {s:?}: choose {}",
                    names.join(", ")
                ))
            }
        }
    }
}

impl TryFrom<String> for GanLoss {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        GanLoss::parse(&s)
    }
}

impl From<GanLoss> for String {
    fn from(l: GanLoss) -> String {
        l.name().to_string()
    }
}

/// The generator and discriminator, declared.
pub(super) struct GanParams {
    g: NetParams,
    d: NetParams,
    /// With spectral normalisation: D's weight matrices and their power
    /// iterations' u (D's arena state).
    d_norms: Vec<(ParamId, StateId, SpectralShape)>,
}

fn declare_params(
    c: &ModelConfig,
    mut builder: impl FnMut() -> ParamsBuilder,
) -> (Vec<(&'static str, ParamsBuilder)>, GanParams) {
    let mut rng = Rng::new(c.seed, 0);
    let mut gb = builder();
    let g = NetParams::declare(&mut gb, "generator", &network(c, "generator"), &mut rng);
    let mut db = builder();
    let mut d_spec = network(c, "discriminator");
    if c.gan_loss == GanLoss::Classes {
        // D's answers: fake, then each digit.
        match d_spec.layers.last_mut() {
            Some(LayerSpec::Dense { out, .. }) => *out = 1 + CLASSES,
            _ => unreachable!("every GAN's D ends in a dense layer"),
        }
    }
    if c.minibatch_std > 0 {
        // Before D's last (dense) layer, as ProGAN's before its last block;
        // D runs over [fake; real], two parts no group crosses.
        let at = d_spec.layers.len() - 1;
        let group = c.minibatch_std;
        (d_spec.layers).insert(at, LayerSpec::MinibatchStd { group, segments: 2 });
    }
    let d = NetParams::declare(&mut db, "discriminator", &d_spec, &mut rng);
    let mut d_norms = Vec::new();
    if c.spectral_norm {
        for (i, (id, shape)) in d.weight_matrices().into_iter().enumerate() {
            // u starts as a random unit vector (as PyTorch's).
            let mut u0 = rng.normal_vec(shape.rows, 1.0);
            let norm = u0.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
            u0.iter_mut().for_each(|x| *x /= norm);
            let u = db.add_state(&format!("discriminator.sn{i}.u"), &[shape.rows], || u0);
            d_norms.push((id, u, shape));
        }
    }
    (
        vec![("generator", gb), ("discriminator", db)],
        GanParams { g, d, d_norms },
    )
}

/// The arenas' builders and the floats of activations: G at N, D at 2N over
/// [fake; real] (with its input and input gradient), the sampler: G at 64.
pub(super) fn declare(
    c: &ModelConfig,
    builder: impl FnMut() -> ParamsBuilder,
) -> (Vec<(&'static str, ParamsBuilder)>, u64) {
    let (builders, p) = declare_params(c, builder);
    let n = c.batch as u64;
    let per = |net: &NetParams, mode| net.activations_per_sample(mode) as u64;
    // Spectral normalisation: W_sn, dW_sn, v and σ per weight matrix.
    let norms: u64 = (p.d_norms.iter())
        .map(|(_, _, s)| (2 * s.len() + s.cols + 1) as u64)
        .sum();
    let floats = n * per(&p.g, Mode::Train)
        + 2 * n * (per(&p.d, Mode::Train) + 2 * PIXELS as u64)
        + GRID as u64 * per(&p.g, Mode::Eval)
        + norms;
    (builders, floats)
}

/// One binding of a GAN: G at N, D at 2N over [fake; real].
pub struct GanBinding<B: Backend> {
    pub n: usize,
    pub z: B::Tensor,
    pub g: Sequential<B>,
    pub d: Sequential<B>,
    /// D's spectral normalisations (empty without `spectral_norm`).
    pub d_norms: Vec<SpectralNorm<B>>,
    /// D's input [2N, 784]: G writes the first half, the data the second.
    pub d_input: B::Tensor,
    /// A conditional GAN's labels [2N]: the real batch's, twice (G is
    /// asked for the digits of the real batch, and D sees both halves so).
    pub labels: Option<B::Tensor>,
    /// With [`GanLoss::Classes`]: the ops that make D's and G's one-hot
    /// targets from the labels (see [`ClassTargets`]).
    classes: Option<ClassTargets<B>>,
    noise: B::Op,
    /// The noise of a discriminator-only update (drawn at D's step).
    d_noise: B::Op,
    d_loss: B::Op,
    g_loss: B::Op,
    _targets: B::Tensor,
    _d_dx: B::Tensor,
}

/// A GAN bound for training.
pub(super) struct Gan<B: Backend> {
    params: GanParams,
    arenas: Vec<(&'static str, ParamArena<B>)>,
    bound: GanBinding<B>,
    d_steps: u32,
}

impl<B: Backend> Gan<B> {
    pub(super) fn new(b: &B, c: &ModelConfig, losses: &B::Tensor) -> Self {
        let (builders, params) = declare_params(c, || ParamsBuilder::new(b));
        let arenas = arenas(b, c, builders);
        let bound = bind(b, c, &params, &arenas, c.batch, losses);
        Gan {
            params,
            arenas,
            bound,
            d_steps: c.d_steps,
        }
    }

    fn generator(&self) -> &ParamArena<B> {
        &self.arenas[0].1
    }

    fn discriminator(&self) -> &ParamArena<B> {
        &self.arenas[1].1
    }

    /// A discriminator-only update: fresh noise, G forward, D forward, D's
    /// loss and gradients, D's optimizer.
    fn d_update(&self, pass: &mut B::Pass<'_>) {
        let g = &self.bound;
        self.discriminator().zero_grad(pass);
        g.record_targets(pass);
        B::record(pass, &g.d_noise);
        g.g.forward(pass); // fake: [N, 784] into d_input[..N]
        g.normalize_d(pass);
        g.d.forward(pass); // logits: [2N, 1]
        B::record(pass, &g.d_loss);
        g.d.backward_params(pass);
        g.normalize_d_backward(pass);
        self.discriminator().update(pass);
    }
}

/// G at `n`, D at 2n over [G(z); data]; the two losses into `losses[0..2]`.
fn bind<B: Backend>(
    b: &B,
    c: &ModelConfig,
    p: &GanParams,
    arenas: &[(&'static str, ParamArena<B>)],
    n: usize,
    losses: &B::Tensor,
) -> GanBinding<B> {
    let (ga, da) = (&arenas[0].1, &arenas[1].1);
    let seed = c.seed;
    let z = b.zeros(n * c.latent);
    let key = |stream| Key { seed, stream };
    let noise = gaussian(b, &z, key(stream::GAN_NOISE), &ga.step);
    let d_noise = gaussian(b, &z, key(stream::GAN_D_NOISE), &da.step);
    let d_input = b.zeros(2 * n * PIXELS);
    let d_dx = b.zeros(2 * n * PIXELS);
    let labels = p.g.is_conditional().then(|| b.zeros(2 * n));
    let g_labels = labels.as_ref().map(|l| b.slice(l, 0, n));
    let fake = (
        b.slice(&d_input, 0, n * PIXELS),
        b.slice(&d_dx, 0, n * PIXELS),
    );
    let g = p.g.bind_labelled(
        b,
        ga,
        n,
        &z,
        InputGrad::None,
        Some(fake),
        Mode::Train,
        (seed, 0),
        g_labels.as_ref(),
    );
    let d_norms: Vec<SpectralNorm<B>> = (p.d_norms.iter())
        .map(|&(id, u, shape)| SpectralNorm::new(b, da, id, u, shape))
        .collect();
    let d_weights = Normalized {
        arena: da,
        norms: &d_norms,
    };
    let d = p.d.bind_labelled(
        b,
        &d_weights,
        2 * n,
        &d_input,
        InputGrad::Write(&d_dx),
        None,
        Mode::Train,
        (seed, stream::D_DROPOUT),
        labels.as_ref().filter(|_| p.d.is_conditional()),
    );
    let mut targets = vec![0.0; 2 * n];
    targets[n..].fill(1.0);
    let targets = b.upload(&targets);
    // D's answers per image: one logit, or 11 with classes.
    let answers = TensorLen::len(&d.y) / (2 * n);
    let (fake_logits, fake_dlogits) = (
        b.slice(&d.y, 0, n * answers),
        b.slice(&d.dy, 0, n * answers),
    );
    // D's loss: every logit against its label (fake 0, real 1).
    let d_tensors = LossTensors {
        dx: &d.dy,
        x: &d.y,
        target: LossTarget::Values(&targets),
        loss: losses,
    };
    // G's loss: D's fake logits against the "real" label.
    let g_tensors = LossTensors {
        dx: &fake_dlogits,
        x: &fake_logits,
        target: LossTarget::Const(1.0),
        loss: losses,
    };
    let classes =
        (c.gan_loss == GanLoss::Classes).then(|| ClassTargets::new(b, n, labels.as_ref()));
    let (d_loss, g_loss) = match c.gan_loss {
        // Σ over 2N / N: the mean on real plus the mean on fake, as the tutorial.
        GanLoss::Bce => (
            b.bind(&BernoulliReconstruction { n, slot: 0 }, d_tensors),
            b.bind(&BceWithLogits { slot: 1 }, g_tensors),
        ),
        GanLoss::LeastSquares => (
            b.bind(&Mse { slot: 0 }, d_tensors),
            b.bind(&LeastSquares { slot: 1 }, g_tensors),
        ),
        // The mean over real plus the mean over fake, as for BCE.
        GanLoss::Hinge => (
            b.bind(&Hinge { n, slot: 0 }, d_tensors),
            b.bind(&HingeGenerator { slot: 1 }, g_tensors),
        ),
        // The mean over D's 2N answers / G's N.
        GanLoss::Classes => {
            let t = classes.as_ref().expect("made above");
            let ce = |rows, slot, t: &B::Tensor, dx, logits| {
                let tensors = TargetLossTensors {
                    dx,
                    logits,
                    t,
                    loss: losses,
                };
                b.bind(&SoftmaxCrossEntropy { n: rows, slot }, tensors)
            };
            let g_loss = match &t.g {
                Some((g, _)) => ce(n, 1, g, &fake_dlogits, &fake_logits),
                None => b.bind(
                    &ClassesGenerator {
                        n,
                        slot: 1,
                        balance: c.g_balance,
                    },
                    LogitLossTensors {
                        dx: &fake_dlogits,
                        x: &fake_logits,
                        loss: losses,
                    },
                ),
            };
            (ce(2 * n, 0, &t.d, &d.dy, &d.y), g_loss)
        }
    };
    GanBinding {
        n,
        z,
        g,
        d,
        d_norms,
        d_input,
        labels,
        classes,
        noise,
        d_noise,
        d_loss,
        g_loss,
        _targets: targets,
        _d_dx: d_dx,
    }
}

impl<B: Backend> Trained<B> for Gan<B> {
    fn arenas(&self) -> &[(&'static str, ParamArena<B>)] {
        &self.arenas
    }

    fn arenas_mut(&mut self) -> &mut [(&'static str, ParamArena<B>)] {
        &mut self.arenas
    }

    fn batch_place(&self) -> (&B::Tensor, usize) {
        (&self.bound.d_input, self.bound.n * PIXELS)
    }

    fn label_places(&self) -> Vec<(&B::Tensor, usize)> {
        let g = &self.bound;
        let mut places: Vec<_> = g.labels.iter().flat_map(|l| [(l, 0), (l, g.n)]).collect();
        // D's targets for the real half: the real digits.
        places.extend(g.classes.iter().map(|t| (&t.d_labels, g.n)));
        places
    }

    fn gradients(&self, pass: &mut B::Pass<'_>) {
        let g = &self.bound;
        self.generator().zero_grad(pass);
        self.discriminator().zero_grad(pass);
        g.record_targets(pass);
        B::record(pass, &g.noise);
        g.g.forward(pass); // fake: [N, 784] into d_input[..N]
        g.normalize_d(pass);
        g.d.forward(pass); // logits: [2N, 1] ([2N, 11] with classes)
        B::record(pass, &g.d_loss);
        g.d.backward_params(pass); // D's gradients of its own loss
        g.normalize_d_backward(pass);
        B::record(pass, &g.g_loss); // overwrites dlogits[..N]
        g.d.backward_input(pass); // dD/dfake, D's gradients untouched
        g.g.backward(pass);
    }

    fn step(&self, pass: &mut B::Pass<'_>) {
        for _ in 1..self.d_steps {
            self.d_update(pass);
        }
        self.gradients(pass);
        for (_, a) in &self.arenas {
            a.update(pass);
        }
    }

    fn sampler_net(&self) -> (&NetParams, usize) {
        (&self.params.g, self.bound.z_len_per_sample())
    }

    fn evaluator(&self, _: &B, _: usize) -> Option<Evaluator<B>> {
        None
    }

    fn gan(&self) -> Option<&GanBinding<B>> {
        Some(&self.bound)
    }
}

impl<B: Backend> GanBinding<B> {
    fn z_len_per_sample(&self) -> usize {
        TensorLen::len(&self.z) / self.n
    }

    /// With [`GanLoss::Classes`]: D's targets [2N × 11] and G's [N × 11]
    /// as the step made them (for tests).
    /// G's are absent for an unconditional G (its loss needs none).
    pub fn class_targets(&self) -> Option<(&B::Tensor, Option<&B::Tensor>)> {
        self.classes
            .as_ref()
            .map(|t| (&t.d, t.g.as_ref().map(|(g, _)| g)))
    }

    /// With spectral normalisation: D's W_sn from this step's power iteration.
    fn normalize_d(&self, pass: &mut B::Pass<'_>) {
        for s in &self.d_norms {
            s.forward(pass);
        }
    }

    /// With spectral normalisation: D's weight gradients through it.
    fn normalize_d_backward(&self, pass: &mut B::Pass<'_>) {
        for s in &self.d_norms {
            s.backward(pass);
        }
    }

    /// With classes: D's and G's one-hot targets from this step's labels.
    fn record_targets(&self, pass: &mut B::Pass<'_>) {
        if let Some(t) = &self.classes {
            B::record(pass, &t.make_d);
            if let Some((_, make_g)) = &t.g {
                B::record(pass, make_g);
            }
        }
    }
}

/// The targets of [`GanLoss::Classes`], rows of 11 (fake, then 0–9), made
/// on the device by the label op from the labels the host writes: a fake
/// row is (1, 0, …, 0) for D and, for a conditional G, (0, one-hot of the
/// digit asked for); a real row is (0, one-hot of its digit).
struct ClassTargets<B: Backend> {
    /// D's target digits [2N]: the fake half out of range (no digit), the
    /// real half the batch's labels (a label place).
    d_labels: B::Tensor,
    /// [2N × 11], and its op.
    d: B::Tensor,
    make_d: B::Op,
    /// A conditional G's [N × 11], and its op.
    g: Option<(B::Tensor, B::Op)>,
    _flags: (B::Tensor, B::Tensor),
}

impl<B: Backend> ClassTargets<B> {
    /// `labels`: a conditional G's [2N] (the first N asked of G).
    fn new(b: &B, n: usize, labels: Option<&B::Tensor>) -> Self {
        let mut d_labels = vec![0.0; 2 * n];
        d_labels[..n].fill(CLASSES as f32); // out of range: an all-zero code
        let d_labels = b.upload(&d_labels);
        let mut fake = vec![0.0; 2 * n];
        fake[..n].fill(1.0);
        let d_fake = b.upload(&fake);
        let g_fake = b.zeros(n);
        let d = b.zeros(2 * n * (CLASSES + 1));
        let shape = |n| LabelShape {
            n,
            per: 1,
            classes: CLASSES,
            spatial: 1,
        };
        let concat = |n, tensors| b.bind(&LabelConcat { shape: shape(n) }, tensors);
        let make_d = concat(
            2 * n,
            LabelConcatTensors {
                y: &d,
                x: &d_fake,
                labels: &d_labels,
            },
        );
        let g = labels.map(|labels| {
            let (g, asked) = (b.zeros(n * (CLASSES + 1)), b.slice(labels, 0, n));
            let tensors = LabelConcatTensors {
                y: &g,
                x: &g_fake,
                labels: &asked,
            };
            let make_g = b.bind(&LabelConcat { shape: shape(n) }, tensors);
            (g, make_g)
        });
        ClassTargets {
            d_labels,
            d,
            make_d,
            g,
            _flags: (d_fake, g_fake),
        }
    }
}
