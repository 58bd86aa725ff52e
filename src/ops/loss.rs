//! Losses. Each writes the gradient of its value with respect to its input
//! (losses start the backward pass) and puts the value in one slot of a loss
//! tensor, which the training loop reads back a few times a second.

use super::check_len;
use crate::backends::cpu::{Cpu, CpuOp, CpuTensor};
use crate::backends::gpu::uniform;
use crate::backends::gpu::{Gpu, Kernel, Launch, Tensor, Uniform, UniformLayout};
use crate::backends::Op;
use bytemuck::Zeroable;

// ---------------------------------------------------------------- CPU reference

/// The targets of a loss: one value for every element (a GAN's real/fake label) or one each.
#[derive(Clone, Copy, Debug)]
pub enum Target<'a> {
    Const(f32),
    Values(&'a [f32]),
}

impl Target<'_> {
    fn at(&self, i: usize) -> f32 {
        match self {
            Target::Const(v) => *v,
            Target::Values(t) => t[i],
        }
    }
}

fn sigmoid(x: f32) -> f32 {
    crate::core::Activation::Sigmoid.apply(x)
}

fn bce_with_logits_scaled(dx: &mut [f32], x: &[f32], t: Target, scale: f32) -> f32 {
    let mut s = 0.0f64;
    for (i, &v) in x.iter().enumerate() {
        let t = t.at(i);
        s += (v.max(0.0) - v * t + (-v.abs()).exp().ln_1p()) as f64;
        dx[i] = scale * (sigmoid(v) - t);
    }
    scale * s as f32
}

/// Mean binary cross-entropy of logits x against targets t (the GAN losses).
pub fn bce_with_logits(dx: &mut [f32], x: &[f32], t: Target) -> f32 {
    bce_with_logits_scaled(dx, x, t, 1.0 / x.len() as f32)
}

/// Bernoulli reconstruction loss of logits against targets in [0, 1], summed
/// over each image and averaged over the `n` images (nats per image).
pub fn bernoulli_reconstruction(dx: &mut [f32], logits: &[f32], t: &[f32], n: usize) -> f32 {
    bce_with_logits_scaled(dx, logits, Target::Values(t), 1.0 / n as f32)
}

/// Softmax cross-entropy of logits x [N, K] against target distributions t
/// [N, K] (one-hot labels), averaged over the N rows:
/// ℓ = −Σ_k t_k log softmax(x)_k, ∂x_k = (softmax(x)_k · Σ_j t_j − t_k) / N.
pub fn softmax_cross_entropy(dx: &mut [f32], x: &[f32], t: &[f32], n: usize) -> f32 {
    let k = x.len() / n;
    let mut s = 0.0f64;
    for r in 0..n {
        let (xr, tr) = (&x[r * k..(r + 1) * k], &t[r * k..(r + 1) * k]);
        let lse = log_sum_exp(xr);
        let t_sum: f64 = tr.iter().map(|&v| v as f64).sum();
        for j in 0..k {
            s -= tr[j] as f64 * (xr[j] as f64 - lse);
            let p = (xr[j] as f64 - lse).exp();
            dx[r * k + j] = ((p * t_sum - tr[j] as f64) / n as f64) as f32;
        }
    }
    (s / n as f64) as f32
}

/// log Σ e^v, from the largest v (no overflow).
fn log_sum_exp(v: &[f32]) -> f64 {
    let m = v.iter().fold(f32::NEG_INFINITY, |a, &x| a.max(x)) as f64;
    m + v.iter().map(|&x| (x as f64 - m).exp()).sum::<f64>().ln()
}

/// The smallest class share whose log the balance term takes.
pub const BALANCE_EPS: f64 = 1e-12;

/// An unconditional GAN's G under the classes loss: rows of 1 + K logits
/// (fake, then K classes), ℓ = −log(1 − softmax(x)_0) = lse(x) − lse(x[1..])
/// ("call it anything but fake"), averaged over the `n` rows;
/// ∂_0 = p_0, ∂_j = p_j − q_j with p = softmax(x), q = softmax(x[1..]).
///
/// With `balance` λ > 0, plus λ·Σ_j Q_j log Q_j, Q = mean of q over the
/// rows: minus the entropy of the classes D reads in the batch of fakes
/// (CatGAN's marginal entropy, Springenberg 2016), lowest when every class
/// is equally common; ∂_rj += λ·q_rj·(g_j − Σ_i q_ri·g_i) / n, g = log Q.
pub fn classes_generator(dx: &mut [f32], x: &[f32], n: usize, balance: f32) -> f32 {
    let k = x.len() / n;
    let mut s = 0.0f64;
    for r in 0..n {
        let xr = &x[r * k..(r + 1) * k];
        let (all, classes) = (log_sum_exp(xr), log_sum_exp(&xr[1..]));
        s += all - classes;
        for j in 0..k {
            let p = (xr[j] as f64 - all).exp();
            let q = if j == 0 {
                0.0
            } else {
                (xr[j] as f64 - classes).exp()
            };
            dx[r * k + j] = ((p - q) / n as f64) as f32;
        }
    }
    if balance > 0.0 {
        // q_rj = softmax(x_r[1..])_j, computed again where needed: nothing
        // is allocated inside a step.
        assert!(
            k <= BALANCE_MAX_CLASSES,
            "classes_generator: {k} logits a row"
        );
        let lam = balance as f64;
        let q = |r: usize| {
            let xr = &x[r * k..(r + 1) * k];
            let classes = log_sum_exp(&xr[1..]);
            move |j: usize| (xr[j] as f64 - classes).exp()
        };
        let mut share = [0.0f64; BALANCE_MAX_CLASSES];
        for r in 0..n {
            let qr = q(r);
            for (j, sh) in share[..k].iter_mut().enumerate().skip(1) {
                *sh += qr(j) / n as f64;
            }
        }
        let mut g = [0.0f64; BALANCE_MAX_CLASSES];
        for j in 1..k {
            g[j] = share[j].max(BALANCE_EPS).ln();
            s += lam * n as f64 * share[j] * g[j];
        }
        for r in 0..n {
            let qr = q(r);
            let mean: f64 = (1..k).map(|j| qr(j) * g[j]).sum();
            for j in 1..k {
                dx[r * k + j] += (lam * qr(j) * (g[j] - mean) / n as f64) as f32;
            }
        }
    }
    (s / n as f64) as f32
}

/// Least-squares GAN loss: mean of ½(x − t)².
pub fn least_squares(dx: &mut [f32], x: &[f32], t: Target) -> f32 {
    let scale = 1.0 / x.len() as f32;
    let mut s = 0.0f64;
    for (i, &v) in x.iter().enumerate() {
        let d = v - t.at(i);
        s += 0.5 * (d * d) as f64;
        dx[i] = scale * d;
    }
    scale * s as f32
}

/// The hinge GAN's discriminator loss: Σ max(0, 1 − s·x) / n with
/// s = 2t − 1 (+1 for real, −1 for fake), so over real and fake logits with
/// n = N it is the mean on real plus the mean on fake.
pub fn hinge(dx: &mut [f32], x: &[f32], t: Target, n: usize) -> f32 {
    let scale = 1.0 / n as f32;
    let mut s = 0.0f64;
    for (i, &v) in x.iter().enumerate() {
        let sign = 2.0 * t.at(i) - 1.0;
        let margin = 1.0 - sign * v;
        s += margin.max(0.0) as f64;
        dx[i] = if margin > 0.0 { -scale * sign } else { 0.0 };
    }
    scale * s as f32
}

/// The hinge GAN's generator loss: mean of −s·x (with t = 1: −mean D(G(z))).
pub fn hinge_generator(dx: &mut [f32], x: &[f32], t: Target) -> f32 {
    let scale = 1.0 / x.len() as f32;
    let mut s = 0.0f64;
    for (i, &v) in x.iter().enumerate() {
        let sign = 2.0 * t.at(i) - 1.0;
        s -= (sign * v) as f64;
        dx[i] = -scale * sign;
    }
    scale * s as f32
}

/// Mean squared error: mean of (x − t)².
pub fn mse(dx: &mut [f32], x: &[f32], t: Target) -> f32 {
    let scale = 1.0 / x.len() as f32;
    let mut s = 0.0f64;
    for (i, &v) in x.iter().enumerate() {
        let d = v - t.at(i);
        s += (d * d) as f64;
        dx[i] = scale * 2.0 * d;
    }
    scale * s as f32
}

/// β · KL(N(μ, e^lv) ‖ N(0, I)) summed per image and averaged over `n` images.
pub fn gaussian_kl(
    dmu: &mut [f32],
    dlogvar: &mut [f32],
    mu: &[f32],
    logvar: &[f32],
    n: usize,
    beta: f32,
) -> f32 {
    let scale = beta / n as f32;
    let mut s = 0.0f64;
    for i in 0..mu.len() {
        let e = logvar[i].exp();
        s += (-0.5 * (1.0 + logvar[i] - mu[i] * mu[i] - e)) as f64;
        dmu[i] = scale * mu[i];
        dlogvar[i] = scale * 0.5 * (e - 1.0);
    }
    scale * s as f32
}

// ---------------------------------------------------------------- binding

/// The uniform structs of this file's kernels (see `ops::uniform_layouts`).
pub const UNIFORMS: &[UniformLayout] = &[LossParams::LAYOUT];

uniform! {
    /// Mirrors `LossParams` in shaders/loss.wgsl.
    pub struct LossParams {
        pub len: u32,
        pub has_target: u32,
        pub target_value: f32,
        pub scale: f32,
        pub slot: u32,
        pub classes: u32,
        pub balance: f32,
        pub _pad1: u32,
    }
}

/// A loss's targets on a backend: one value for every element (a GAN's
/// real/fake label) or one each.
#[derive(Debug)]
pub enum LossTarget<'a, T> {
    Const(f32),
    Values(&'a T),
}

impl<T> Clone for LossTarget<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for LossTarget<'_, T> {}

/// The tensors of an elementwise loss: loss[slot] = ℓ(x, target), dx = ∂ℓ/∂x.
pub struct LossTensors<'a, T> {
    pub dx: &'a T,
    pub x: &'a T,
    pub target: LossTarget<'a, T>,
    pub loss: &'a T,
}

/// Which elementwise loss, and how its sum is scaled.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Elementwise {
    /// Mean binary cross-entropy of logits (the GAN losses).
    Bce,
    /// Binary cross-entropy of logits summed per image, averaged over this many images.
    Bernoulli(usize),
    /// Mean of ½(x − t)².
    LeastSquares,
    /// Mean of (x − t)².
    Mse,
    /// The hinge GAN's D: Σ max(0, 1 − s·x) over this many images.
    Hinge(usize),
    /// The hinge GAN's G: mean of −s·x.
    HingeGenerator,
}

impl Elementwise {
    fn name(self) -> &'static str {
        match self {
            Elementwise::Bce => "bce_with_logits",
            Elementwise::Bernoulli(_) => "bernoulli_reconstruction",
            Elementwise::LeastSquares => "least_squares",
            Elementwise::Mse => "mse",
            Elementwise::Hinge(_) => "hinge",
            Elementwise::HingeGenerator => "hinge_generator",
        }
    }

    fn reference(self, dx: &mut [f32], x: &[f32], t: Target) -> f32 {
        match (self, t) {
            (Elementwise::Bce, t) => bce_with_logits(dx, x, t),
            (Elementwise::Bernoulli(n), Target::Values(t)) => bernoulli_reconstruction(dx, x, t, n),
            (Elementwise::Bernoulli(_), Target::Const(_)) => {
                unreachable!("bernoulli_reconstruction takes one target per logit")
            }
            (Elementwise::LeastSquares, t) => least_squares(dx, x, t),
            (Elementwise::Mse, t) => mse(dx, x, t),
            (Elementwise::Hinge(n), t) => hinge(dx, x, t, n),
            (Elementwise::HingeGenerator, t) => hinge_generator(dx, x, t),
        }
    }

    fn bind_cpu(self, t: LossTensors<CpuTensor>, slot: usize) -> CpuOp {
        let name = self.name();
        assert_eq!(
            t.dx.len(),
            t.x.len(),
            "{name}: dx has {} elements, x {}",
            t.dx.len(),
            t.x.len()
        );
        assert!(
            slot < t.loss.len(),
            "{name}: loss slot {slot} of {}",
            t.loss.len()
        );
        let mut ins = vec![t.x];
        let (values, constant) = match t.target {
            LossTarget::Values(v) => {
                assert_eq!(
                    v.len(),
                    t.x.len(),
                    "{name}: {} targets for {} values",
                    v.len(),
                    t.x.len()
                );
                ins.push(v);
                (Some(v.clone()), 0.0)
            }
            LossTarget::Const(c) => {
                assert!(
                    !matches!(self, Elementwise::Bernoulli(_)),
                    "{name} takes one target per logit"
                );
                (None, c)
            }
        };
        let (dx, x, loss) = (t.dx.clone(), t.x.clone(), t.loss.clone());
        CpuOp::new(name, &[t.dx, t.loss], &ins, move |_| unsafe {
            let t = match &values {
                Some(v) => Target::Values(v.get()),
                None => Target::Const(constant),
            };
            loss.get_mut()[slot] = self.reference(dx.get_mut(), x.get(), t);
        })
    }

    fn bind_gpu(self, gpu: &Gpu, t: LossTensors<Tensor>, slot: usize) -> Launch {
        let name = self.name();
        let (entry, scale) = match self {
            Elementwise::Bce => ("bce_with_logits", 1.0 / t.x.len() as f32),
            Elementwise::Bernoulli(n) => ("bce_with_logits", 1.0 / n as f32),
            Elementwise::LeastSquares => ("least_squares", 1.0 / t.x.len() as f32),
            Elementwise::Mse => ("mse", 1.0 / t.x.len() as f32),
            Elementwise::Hinge(n) => ("hinge", 1.0 / n as f32),
            Elementwise::HingeGenerator => ("hinge_generator", 1.0 / t.x.len() as f32),
        };
        check_len(name, "dx", t.dx, t.x.len());
        check_len(name, "loss", t.loss, slot + 1);
        let (has_target, target_value, target) = match t.target {
            LossTarget::Const(v) => (0, v, None),
            LossTarget::Values(v) => {
                check_len(name, "target", v, t.x.len());
                (1, 0.0, Some(v))
            }
        };
        let params = LossParams {
            len: t.x.len() as u32,
            has_target,
            target_value,
            scale,
            slot: slot as u32,
            classes: 0,
            ..Zeroable::zeroed()
        };
        gpu.launch(
            Kernel::new("loss", entry),
            &params,
            &[
                (1, Some(t.x)),
                (2, target),
                (3, Some(t.dx)),
                (4, Some(t.loss)),
            ],
            [1, 1, 1],
        )
    }
}

macro_rules! elementwise_loss {
    ($(#[$doc:meta])* $name:ident, $kind:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug)]
        pub struct $name {
            /// Where the value goes in the loss tensor.
            pub slot: usize,
        }

        impl Op for $name {
            type Tensors<'a, T: 'a> = LossTensors<'a, T>;

            fn bind_cpu(&self, _: &Cpu, t: LossTensors<CpuTensor>) -> CpuOp {
                $kind.bind_cpu(t, self.slot)
            }

            fn bind_gpu(&self, gpu: &Gpu, t: LossTensors<Tensor>) -> Launch {
                $kind.bind_gpu(gpu, t, self.slot)
            }
        }
    };
}

elementwise_loss!(
    /// Mean BCE of logits.
    BceWithLogits,
    Elementwise::Bce
);
elementwise_loss!(
    /// Least-squares GAN loss: mean of ½(x − t)².
    LeastSquares,
    Elementwise::LeastSquares
);
elementwise_loss!(
    /// Mean of (x − t)².
    Mse,
    Elementwise::Mse
);

elementwise_loss!(
    /// The hinge GAN's generator loss: mean of −(2t − 1)·x.
    HingeGenerator,
    Elementwise::HingeGenerator
);

/// The hinge GAN's discriminator loss: Σ max(0, 1 − (2t − 1)·x) / n.
#[derive(Clone, Copy, Debug)]
pub struct Hinge {
    pub n: usize,
    pub slot: usize,
}

impl Op for Hinge {
    type Tensors<'a, T: 'a> = LossTensors<'a, T>;

    fn bind_cpu(&self, _: &Cpu, t: LossTensors<CpuTensor>) -> CpuOp {
        Elementwise::Hinge(self.n).bind_cpu(t, self.slot)
    }

    fn bind_gpu(&self, gpu: &Gpu, t: LossTensors<Tensor>) -> Launch {
        Elementwise::Hinge(self.n).bind_gpu(gpu, t, self.slot)
    }
}

/// BCE of logits summed per image, averaged over `n` images (target: one value per logit).
#[derive(Clone, Copy, Debug)]
pub struct BernoulliReconstruction {
    pub n: usize,
    pub slot: usize,
}

impl Op for BernoulliReconstruction {
    type Tensors<'a, T: 'a> = LossTensors<'a, T>;

    fn bind_cpu(&self, _: &Cpu, t: LossTensors<CpuTensor>) -> CpuOp {
        Elementwise::Bernoulli(self.n).bind_cpu(t, self.slot)
    }

    fn bind_gpu(&self, gpu: &Gpu, t: LossTensors<Tensor>) -> Launch {
        assert!(
            matches!(t.target, LossTarget::Values(_)),
            "bernoulli_reconstruction takes one target per logit"
        );
        Elementwise::Bernoulli(self.n).bind_gpu(gpu, t, self.slot)
    }
}

/// Softmax cross-entropy of `n` rows of logits against target distributions
/// (one-hot labels), averaged over the rows.
#[derive(Clone, Copy, Debug)]
pub struct SoftmaxCrossEntropy {
    pub n: usize,
    pub slot: usize,
}

/// G's loss under the classes loss of an unconditional GAN: `n` rows of
/// 1 + K logits (fake first), ℓ = −log(1 − p_fake) averaged over the rows,
/// plus `balance` × minus the entropy of the batch's class shares (see
/// [`classes_generator`]).
#[derive(Clone, Copy, Debug)]
pub struct ClassesGenerator {
    pub n: usize,
    pub slot: usize,
    pub balance: f32,
}

/// The most logits per row the GPU's balance term keeps (one per thread).
pub const BALANCE_MAX_CLASSES: usize = 64;

/// The tensors of a loss of logits alone: loss[slot] = ℓ(x), dx = ∂ℓ/∂x.
pub struct LogitLossTensors<'a, T> {
    pub dx: &'a T,
    pub x: &'a T,
    pub loss: &'a T,
}

impl Op for ClassesGenerator {
    type Tensors<'a, T: 'a> = LogitLossTensors<'a, T>;

    fn bind_cpu(&self, _: &Cpu, t: LogitLossTensors<CpuTensor>) -> CpuOp {
        let (n, slot, balance) = (self.n, self.slot, self.balance);
        let name = "classes_generator";
        let len = t.x.len();
        assert!(
            n > 0 && len.is_multiple_of(n) && len / n >= 2 && t.dx.len() == len,
            "{name}: {len} logits, {} gradients in {n} rows of at least 2",
            t.dx.len()
        );
        assert!(
            slot < t.loss.len(),
            "{name}: loss slot {slot} of {}",
            t.loss.len()
        );
        let [dxc, xc, lossc] = [t.dx, t.x, t.loss].map(Clone::clone);
        CpuOp::new(name, &[t.dx, t.loss], &[t.x], move |_| unsafe {
            lossc.get_mut()[slot] = classes_generator(dxc.get_mut(), xc.get(), n, balance);
        })
    }

    fn bind_gpu(&self, gpu: &Gpu, t: LogitLossTensors<Tensor>) -> Launch {
        let (n, slot) = (self.n, self.slot);
        let name = "classes_generator";
        let x = t.x;
        assert!(
            n > 0 && x.len().is_multiple_of(n) && x.len() / n >= 2,
            "{name}: {} logits are not {n} rows of at least 2",
            x.len()
        );
        check_len(name, "dx", t.dx, x.len());
        check_len(name, "loss", t.loss, slot + 1);
        assert!(
            self.balance == 0.0 || x.len() / n <= BALANCE_MAX_CLASSES,
            "{name}: the balance term takes at most {BALANCE_MAX_CLASSES} logits a row, not {}",
            x.len() / n
        );
        let params = LossParams {
            len: x.len() as u32,
            scale: 1.0 / n as f32,
            slot: slot as u32,
            classes: (x.len() / n) as u32,
            balance: self.balance,
            ..Zeroable::zeroed()
        };
        gpu.launch(
            Kernel::new("loss", "classes_generator"),
            &params,
            &[(1, Some(x)), (3, Some(t.dx)), (4, Some(t.loss))],
            [1, 1, 1],
        )
    }
}

/// The tensors of a loss against one target per logit.
pub struct TargetLossTensors<'a, T> {
    pub dx: &'a T,
    pub logits: &'a T,
    pub t: &'a T,
    pub loss: &'a T,
}

impl Op for SoftmaxCrossEntropy {
    type Tensors<'a, T: 'a> = TargetLossTensors<'a, T>;

    fn bind_cpu(&self, _: &Cpu, t: TargetLossTensors<CpuTensor>) -> CpuOp {
        let (n, slot) = (self.n, self.slot);
        let name = "softmax_cross_entropy";
        let len = t.logits.len();
        assert!(
            n > 0 && len.is_multiple_of(n) && t.dx.len() == len && t.t.len() == len,
            "{name}: {len} logits, {} gradients, {} targets in {n} rows",
            t.dx.len(),
            t.t.len()
        );
        assert!(
            slot < t.loss.len(),
            "{name}: loss slot {slot} of {}",
            t.loss.len()
        );
        let [dxc, lc, tc, lossc] = [t.dx, t.logits, t.t, t.loss].map(Clone::clone);
        CpuOp::new(name, &[t.dx, t.loss], &[t.logits, t.t], move |_| unsafe {
            lossc.get_mut()[slot] = softmax_cross_entropy(dxc.get_mut(), lc.get(), tc.get(), n);
        })
    }

    fn bind_gpu(&self, gpu: &Gpu, t: TargetLossTensors<Tensor>) -> Launch {
        let (n, slot) = (self.n, self.slot);
        let name = "softmax_cross_entropy";
        let x = t.logits;
        assert!(
            n > 0 && x.len().is_multiple_of(n),
            "{name}: {} logits are not {n} rows",
            x.len()
        );
        check_len(name, "dx", t.dx, x.len());
        check_len(name, "target", t.t, x.len());
        check_len(name, "loss", t.loss, slot + 1);
        let params = LossParams {
            len: x.len() as u32,
            has_target: 1,
            target_value: 0.0,
            scale: 1.0 / n as f32,
            slot: slot as u32,
            classes: (x.len() / n) as u32,
            ..Zeroable::zeroed()
        };
        gpu.launch(
            Kernel::new("loss", "softmax_cross_entropy"),
            &params,
            &[
                (1, Some(x)),
                (2, Some(t.t)),
                (3, Some(t.dx)),
                (4, Some(t.loss)),
            ],
            [1, 1, 1],
        )
    }
}

/// β·KL(N(μ, e^lv) ‖ N(0, I)) summed per image, averaged over `n` images.
#[derive(Clone, Copy, Debug)]
pub struct GaussianKl {
    pub n: usize,
    pub beta: f32,
    pub slot: usize,
}

pub struct GaussianKlTensors<'a, T> {
    pub dmu: &'a T,
    pub dlogvar: &'a T,
    pub mu: &'a T,
    pub logvar: &'a T,
    pub loss: &'a T,
}

impl Op for GaussianKl {
    type Tensors<'a, T: 'a> = GaussianKlTensors<'a, T>;

    fn bind_cpu(&self, _: &Cpu, t: GaussianKlTensors<CpuTensor>) -> CpuOp {
        let (n, beta, slot) = (self.n, self.beta, self.slot);
        assert!(
            slot < t.loss.len(),
            "gaussian_kl: loss slot {slot} of {}",
            t.loss.len()
        );
        let [dmc, dlc, mc, lc, lossc] =
            [t.dmu, t.dlogvar, t.mu, t.logvar, t.loss].map(Clone::clone);
        CpuOp::new(
            "gaussian_kl",
            &[t.dmu, t.dlogvar, t.loss],
            &[t.mu, t.logvar],
            move |_| unsafe {
                lossc.get_mut()[slot] =
                    gaussian_kl(dmc.get_mut(), dlc.get_mut(), mc.get(), lc.get(), n, beta);
            },
        )
    }

    fn bind_gpu(&self, gpu: &Gpu, t: GaussianKlTensors<Tensor>) -> Launch {
        check_len("gaussian_kl", "logvar", t.logvar, t.mu.len());
        check_len("gaussian_kl", "loss", t.loss, self.slot + 1);
        let params = LossParams {
            len: t.mu.len() as u32,
            has_target: 0,
            target_value: 0.0,
            scale: self.beta / self.n as f32,
            slot: self.slot as u32,
            classes: 0,
            ..Zeroable::zeroed()
        };
        let bindings = [
            (4, Some(t.loss)),
            (5, Some(t.mu)),
            (6, Some(t.logvar)),
            (7, Some(t.dmu)),
            (8, Some(t.dlogvar)),
        ];
        gpu.launch(
            Kernel::new("loss", "gaussian_kl"),
            &params,
            &bindings,
            [1, 1, 1],
        )
    }
}
