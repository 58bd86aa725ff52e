//! The CPU reference: every op of the engine as plain loops, written for
//! clarity, with the same names as the WGSL entry points. The finite-difference
//! tests check these, and these check every kernel.
//!
//! Conventions (as in llm.c): outputs first; forward writes its output;
//! backward *accumulates* (`+=`) into the gradients it is given, which the
//! caller zeroes once per step. Losses write their gradient (they start the
//! backward pass) and return the loss value.

use crate::geom::Conv2dGeom;
use crate::rng;

/// A pointwise nonlinearity. Backward is written through the output y.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub enum Activation {
    #[default]
    None,
    Relu,
    /// Leaky ReLU with this (non-negative) slope for x < 0.
    LeakyRelu(f32),
    Tanh,
    Sigmoid,
}

impl Activation {
    pub fn apply(self, x: f32) -> f32 {
        match self {
            Activation::None => x,
            Activation::Relu => x.max(0.0),
            Activation::LeakyRelu(s) => {
                if x > 0.0 {
                    x
                } else {
                    s * x
                }
            }
            Activation::Tanh => x.tanh(),
            Activation::Sigmoid => 1.0 / (1.0 + (-x).exp()),
        }
    }

    /// d act / dx at the point where act(x) = y.
    pub fn grad_from_output(self, y: f32) -> f32 {
        match self {
            Activation::None => 1.0,
            Activation::Relu => (y > 0.0) as u8 as f32,
            Activation::LeakyRelu(s) => {
                if y > 0.0 {
                    1.0
                } else {
                    s
                }
            }
            Activation::Tanh => 1.0 - y * y,
            Activation::Sigmoid => y * (1.0 - y),
        }
    }
}

// ---------------------------------------------------------------- matmul, dense

/// C[M,N] (+)= op(A)·op(B), where A is stored [M,K] (or [K,M] if `trans_a`)
/// and B is stored [K,N] (or [N,K] if `trans_b`).
#[allow(clippy::too_many_arguments)]
pub fn matmul(
    c: &mut [f32],
    a: &[f32],
    b: &[f32],
    m: usize,
    n: usize,
    k: usize,
    trans_a: bool,
    trans_b: bool,
    accumulate: bool,
) {
    assert!(
        a.len() >= m * k && b.len() >= k * n && c.len() >= m * n,
        "matmul: buffers too small for {m}x{k} · {k}x{n}"
    );
    for i in 0..m {
        for j in 0..n {
            let mut s = 0.0f32;
            for p in 0..k {
                let av = if trans_a { a[p * m + i] } else { a[i * k + p] };
                let bv = if trans_b { b[j * k + p] } else { b[p * n + j] };
                s += av * bv;
            }
            c[i * n + j] = if accumulate { c[i * n + j] + s } else { s };
        }
    }
}

/// y[N, out] = act(x[N, in] · w[out, in]ᵀ + b[out]).
#[allow(clippy::too_many_arguments)]
pub fn linear_forward(
    y: &mut [f32],
    x: &[f32],
    w: &[f32],
    b: Option<&[f32]>,
    n: usize,
    d_in: usize,
    d_out: usize,
    act: Activation,
) {
    matmul(y, x, w, n, d_out, d_in, false, true, false);
    for r in 0..n {
        for o in 0..d_out {
            let v = y[r * d_out + o] + b.map_or(0.0, |b| b[o]);
            y[r * d_out + o] = act.apply(v);
        }
    }
}

/// dx += dy·w, dw += dyᵀ·x, db += Σ_rows dy (for a linear layer without activation:
/// apply `activation_backward` first when there is one).
#[allow(clippy::too_many_arguments)]
pub fn linear_backward(
    dx: Option<&mut [f32]>,
    dw: &mut [f32],
    db: Option<&mut [f32]>,
    dy: &[f32],
    x: &[f32],
    w: &[f32],
    n: usize,
    d_in: usize,
    d_out: usize,
) {
    if let Some(dx) = dx {
        matmul(dx, dy, w, n, d_in, d_out, false, false, true);
    }
    matmul(dw, dy, x, d_out, d_in, n, true, false, true);
    if let Some(db) = db {
        bias_backward(db, dy, n, d_out, 1);
    }
}

/// db[c] += Σ_{n,p} dy[n, c, p].
pub fn bias_backward(db: &mut [f32], dy: &[f32], n: usize, c: usize, p: usize) {
    for ni in 0..n {
        for ci in 0..c {
            for pi in 0..p {
                db[ci] += dy[(ni * c + ci) * p + pi];
            }
        }
    }
}

// ---------------------------------------------------------------- convolutions

/// The input pixel under kernel tap (kh, kw) of output pixel (oh, ow), if inside the image.
fn tap(g: &Conv2dGeom, oh: usize, ow: usize, kh: usize, kw: usize) -> Option<(usize, usize)> {
    let ih = (oh * g.stride + kh).checked_sub(g.pad_h)?;
    let iw = (ow * g.stride + kw).checked_sub(g.pad_w)?;
    (ih < g.h && iw < g.w).then_some((ih, iw))
}

/// Visits every (input index, output index, weight index) triple of the convolution.
fn for_each_tap(g: &Conv2dGeom, mut f: impl FnMut(usize, usize, usize)) {
    for n in 0..g.n {
        for co in 0..g.c_out {
            for oh in 0..g.h_out {
                for ow in 0..g.w_out {
                    let yi = ((n * g.c_out + co) * g.h_out + oh) * g.w_out + ow;
                    for ci in 0..g.c_in {
                        for kh in 0..g.k {
                            for kw in 0..g.k {
                                if let Some((ih, iw)) = tap(g, oh, ow, kh, kw) {
                                    let xi = ((n * g.c_in + ci) * g.h + ih) * g.w + iw;
                                    let wi = ((co * g.c_in + ci) * g.k + kh) * g.k + kw;
                                    f(xi, yi, wi);
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// y = act(conv2d(x, w) + b): y[n,co,oh,ow] = Σ x[n,ci,oh·S+kh−pad_h,ow·S+kw−pad_w]·w[co,ci,kh,kw] + b[co].
pub fn conv2d_forward(
    y: &mut [f32],
    x: &[f32],
    w: &[f32],
    b: Option<&[f32]>,
    g: &Conv2dGeom,
    act: Activation,
) {
    check_conv("conv2d_forward", g, x.len(), y.len(), w.len());
    let p = g.h_out * g.w_out;
    for (i, v) in y[..g.output_len()].iter_mut().enumerate() {
        *v = b.map_or(0.0, |b| b[(i / p) % g.c_out]);
    }
    for_each_tap(g, |xi, yi, wi| y[yi] += x[xi] * w[wi]);
    for v in y[..g.output_len()].iter_mut() {
        *v = act.apply(*v);
    }
}

/// dx += ∂(Σ dy·y)/∂x: every output gradient flows back through the taps that produced it.
pub fn conv2d_backward_input(dx: &mut [f32], dy: &[f32], w: &[f32], g: &Conv2dGeom) {
    check_conv("conv2d_backward_input", g, dx.len(), dy.len(), w.len());
    for_each_tap(g, |xi, yi, wi| dx[xi] += dy[yi] * w[wi]);
}

/// dw += ∂(Σ dy·y)/∂w.
pub fn conv2d_backward_weight(dw: &mut [f32], dy: &[f32], x: &[f32], g: &Conv2dGeom) {
    check_conv("conv2d_backward_weight", g, x.len(), dy.len(), dw.len());
    for_each_tap(g, |xi, yi, wi| dw[wi] += dy[yi] * x[xi]);
}

/// The transposed convolution of `g` (see geom.rs): x[N, g.c_out, g.h_out, g.w_out] →
/// y[N, g.c_in, g.h, g.w]; y = act(conv2d_backward_input(x, w) + b).
pub fn conv_transpose2d_forward(
    y: &mut [f32],
    x: &[f32],
    w: &[f32],
    b: Option<&[f32]>,
    g: &Conv2dGeom,
    act: Activation,
) {
    let p = g.h * g.w;
    for (i, v) in y[..g.input_len()].iter_mut().enumerate() {
        *v = b.map_or(0.0, |b| b[(i / p) % g.c_in]);
    }
    conv2d_backward_input(y, x, w, g);
    for v in y[..g.input_len()].iter_mut() {
        *v = act.apply(*v);
    }
}

/// dx += conv2d(dy, w): the input gradient of a transposed convolution.
pub fn conv_transpose2d_backward_input(dx: &mut [f32], dy: &[f32], w: &[f32], g: &Conv2dGeom) {
    check_conv(
        "conv_transpose2d_backward_input",
        g,
        dy.len(),
        dx.len(),
        w.len(),
    );
    for_each_tap(g, |yi_t, xi_t, wi| dx[xi_t] += dy[yi_t] * w[wi]);
}

/// dw += the weight gradient of a transposed convolution (conv2d_backward_weight with dy and x swapped).
pub fn conv_transpose2d_backward_weight(dw: &mut [f32], dy: &[f32], x: &[f32], g: &Conv2dGeom) {
    conv2d_backward_weight(dw, x, dy, g);
}

/// Asserts that conv buffers are large enough for `g` (shared with `crate::fast`).
pub(crate) fn check_conv(op: &str, g: &Conv2dGeom, x_len: usize, y_len: usize, w_len: usize) {
    assert!(
        x_len >= g.input_len() && y_len >= g.output_len() && w_len >= g.weight_len(),
        "{op}: buffers (x {x_len}, y {y_len}, w {w_len}) too small for {g:?}"
    );
}

// ---------------------------------------------------------------- activations

/// y = act(x) elementwise.
pub fn activation_forward(y: &mut [f32], x: &[f32], act: Activation) {
    for (y, &x) in y.iter_mut().zip(x) {
        *y = act.apply(x);
    }
}

/// dx += dy · act'(x), with act' written through y = act(x).
pub fn activation_backward(dx: &mut [f32], dy: &[f32], y: &[f32], act: Activation) {
    for ((dx, &dy), &y) in dx.iter_mut().zip(dy).zip(y) {
        *dx += dy * act.grad_from_output(y);
    }
}

// ---------------------------------------------------------------- batch norm

/// Batch normalisation settings (Keras defaults: momentum 0.99, ε 1e-3).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchNormConfig {
    pub eps: f32,
    /// Weight of the old running statistics: r = momentum·r + (1 − momentum)·batch.
    pub momentum: f32,
}

impl Default for BatchNormConfig {
    fn default() -> Self {
        BatchNormConfig {
            eps: 1e-3,
            momentum: 0.99,
        }
    }
}

fn bn_index(c: usize, p: usize, ch: usize, e: usize) -> usize {
    ((e / p) * c + ch) * p + e % p
}

/// Training-mode batch norm over x[N, C, P]: y = γ·(x − μ_B)/√(σ²_B + ε) + β.
/// Writes the batch mean and 1/√(σ²_B + ε) to `mean`/`invstd` and updates the running statistics.
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_forward_train(
    y: &mut [f32],
    mean: &mut [f32],
    invstd: &mut [f32],
    running_mean: &mut [f32],
    running_var: &mut [f32],
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    (n, c, p): (usize, usize, usize),
    cfg: BatchNormConfig,
) {
    let m = n * p;
    for ch in 0..c {
        let mu = (0..m).map(|e| x[bn_index(c, p, ch, e)] as f64).sum::<f64>() / m as f64;
        let var = (0..m)
            .map(|e| (x[bn_index(c, p, ch, e)] as f64 - mu).powi(2))
            .sum::<f64>()
            / m as f64;
        let inv = 1.0 / (var + cfg.eps as f64).sqrt();
        for e in 0..m {
            let i = bn_index(c, p, ch, e);
            y[i] = gamma[ch] * ((x[i] as f64 - mu) * inv) as f32 + beta[ch];
        }
        mean[ch] = mu as f32;
        invstd[ch] = inv as f32;
        running_mean[ch] = cfg.momentum * running_mean[ch] + (1.0 - cfg.momentum) * mu as f32;
        running_var[ch] = cfg.momentum * running_var[ch] + (1.0 - cfg.momentum) * var as f32;
    }
}

/// Evaluation-mode batch norm with the running statistics.
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_forward_eval(
    y: &mut [f32],
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    running_mean: &[f32],
    running_var: &[f32],
    (n, c, p): (usize, usize, usize),
    cfg: BatchNormConfig,
) {
    for i in 0..n * c * p {
        let ch = (i / p) % c;
        y[i] =
            gamma[ch] * (x[i] - running_mean[ch]) / (running_var[ch] + cfg.eps).sqrt() + beta[ch];
    }
}

/// dγ += Σ dy·x̂, dβ += Σ dy, dx += γ·inv·(dy − mean(dy) − x̂·mean(dy·x̂)).
#[allow(clippy::too_many_arguments)]
pub fn batchnorm_backward(
    dx: &mut [f32],
    dgamma: &mut [f32],
    dbeta: &mut [f32],
    dy: &[f32],
    x: &[f32],
    gamma: &[f32],
    mean: &[f32],
    invstd: &[f32],
    (n, c, p): (usize, usize, usize),
) {
    let m = n * p;
    for ch in 0..c {
        let xhat = |i: usize| (x[i] - mean[ch]) * invstd[ch];
        let mut sum_dy = 0.0f32;
        let mut sum_dyx = 0.0f32;
        for e in 0..m {
            let i = bn_index(c, p, ch, e);
            sum_dy += dy[i];
            sum_dyx += dy[i] * xhat(i);
        }
        dgamma[ch] += sum_dyx;
        dbeta[ch] += sum_dy;
        for e in 0..m {
            let i = bn_index(c, p, ch, e);
            dx[i] +=
                gamma[ch] * invstd[ch] * (dy[i] - sum_dy / m as f32 - xhat(i) * sum_dyx / m as f32);
        }
    }
}

// ---------------------------------------------------------------- randomness

/// Where a random op draws from: key (seed, stream), counter (index, step).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RandomStream {
    pub seed: u32,
    pub stream: u32,
    pub step: u32,
}

/// y = keep ? x/(1 − rate) : 0 with keep ⇔ uniform ≥ rate (inverted dropout).
pub fn dropout_forward(y: &mut [f32], x: &[f32], rate: f32, r: RandomStream) {
    for (i, (y, &x)) in y.iter_mut().zip(x).enumerate() {
        let keep = rng::uniform(r.seed, r.stream, i as u32, r.step) >= rate;
        *y = if keep { x / (1.0 - rate) } else { 0.0 };
    }
}

/// dx += keep ? dy/(1 − rate) : 0, with the same mask as the forward.
pub fn dropout_backward(dx: &mut [f32], dy: &[f32], rate: f32, r: RandomStream) {
    for (i, (dx, &dy)) in dx.iter_mut().zip(dy).enumerate() {
        let keep = rng::uniform(r.seed, r.stream, i as u32, r.step) >= rate;
        *dx += if keep { dy / (1.0 - rate) } else { 0.0 };
    }
}

/// out = mean + std·N(0, 1).
pub fn gaussian_noise(out: &mut [f32], mean: f32, std: f32, r: RandomStream) {
    for (i, v) in out.iter_mut().enumerate() {
        *v = mean + std * rng::normal(r.seed, r.stream, i as u32, r.step);
    }
}

// ---------------------------------------------------------------- losses

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
    Activation::Sigmoid.apply(x)
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
        let m = xr.iter().fold(f32::NEG_INFINITY, |a, &v| a.max(v));
        let sum: f64 = xr.iter().map(|&v| ((v - m) as f64).exp()).sum();
        let lse = m as f64 + sum.ln();
        let t_sum: f64 = tr.iter().map(|&v| v as f64).sum();
        for j in 0..k {
            s -= tr[j] as f64 * (xr[j] as f64 - lse);
            let p = (xr[j] as f64 - lse).exp();
            dx[r * k + j] = ((p * t_sum - tr[j] as f64) / n as f64) as f32;
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

// ---------------------------------------------------------------- reparameterisation

/// z = μ + e^{½·lv}·ε.
pub fn reparameterize_forward(z: &mut [f32], mu: &[f32], logvar: &[f32], eps: &[f32]) {
    for i in 0..z.len() {
        z[i] = mu[i] + (0.5 * logvar[i]).exp() * eps[i];
    }
}

/// dμ += dz, dlv += dz·ε·½e^{½·lv}.
pub fn reparameterize_backward(
    dmu: &mut [f32],
    dlogvar: &mut [f32],
    dz: &[f32],
    logvar: &[f32],
    eps: &[f32],
) {
    for i in 0..dz.len() {
        dmu[i] += dz[i];
        dlogvar[i] += dz[i] * eps[i] * 0.5 * (0.5 * logvar[i]).exp();
    }
}

// ---------------------------------------------------------------- optimiser

/// Adam's settings (defaults from the DCGAN tutorial: lr 1e-4).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamConfig {
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig {
            lr: 1e-4,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-7,
        }
    }
}

/// One bias-corrected Adam update at step t (t ≥ 1).
pub fn adam_step(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], t: u32, cfg: AdamConfig) {
    let t = t.max(1) as f32;
    for i in 0..p.len() {
        m[i] = cfg.beta1 * m[i] + (1.0 - cfg.beta1) * g[i];
        v[i] = cfg.beta2 * v[i] + (1.0 - cfg.beta2) * g[i] * g[i];
        let m_hat = m[i] / (1.0 - cfg.beta1.powf(t));
        let v_hat = v[i] / (1.0 - cfg.beta2.powf(t));
        p[i] -= cfg.lr * m_hat / (v_hat.sqrt() + cfg.eps);
    }
}

/// out = value (gradient zeroing is `fill(g, 0.0)`).
pub fn fill(out: &mut [f32], value: f32) {
    out.fill(value);
}
