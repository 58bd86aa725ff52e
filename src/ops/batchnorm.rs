//! Batch normalisation over x[N, C, P]: training (batch statistics, running
//! averages updated), evaluation (running statistics), and the backward.

use super::grid;
use crate::backends::cpu::{zero_unless, Cpu, CpuOp, CpuTensor};
use crate::backends::gpu::uniform;
use crate::backends::gpu::{Gpu, Kernel, Launch, Tensor, Uniform, UniformLayout};
use crate::backends::Op;
use crate::core::{BatchNormConfig, ChannelShape, Grad};
use bytemuck::Zeroable;

// ---------------------------------------------------------------- CPU reference

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

// ---------------------------------------------------------------- fast CPU

/// The reference's arithmetic, in its order (so the results are the same
/// to the bit), without its per-element index division, and with the
/// channels split between threads.
pub mod fast {
    use crate::backends::cpu::{run_parts, Shared};
    use crate::core::{BatchNormConfig, ChannelShape};

    /// Channels `lo..hi` of one op, on one thread.
    fn parts(threads: usize, s: ChannelShape) -> impl Iterator<Item = (usize, usize)> {
        // Small layers are not worth a thread.
        let parts = if s.len() < 1 << 15 {
            1
        } else {
            threads.clamp(1, s.c.max(1))
        };
        let per = s.c.div_ceil(parts).max(1);
        (0..s.c)
            .step_by(per)
            .map(move |lo| (lo, (lo + per).min(s.c)))
    }

    /// `ops::batchnorm_forward_train` on `threads` threads.
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
        s: ChannelShape,
        cfg: BatchNormConfig,
        threads: usize,
    ) {
        let ChannelShape { n, c, p } = s;
        assert!(
            x.len() >= s.len()
                && y.len() >= s.len()
                && [gamma.len(), beta.len(), mean.len()]
                    .iter()
                    .all(|&l| l >= c),
            "batchnorm_forward_train: buffers too small for {s:?}"
        );
        assert!(invstd.len() >= c && running_mean.len() >= c && running_var.len() >= c);
        let m = (n * p) as f64;
        let outs = [y, mean, invstd, running_mean, running_var].map(|t| Shared(t.as_mut_ptr()));
        run_parts(parts(threads, s).map(|(lo, hi)| {
            move || {
                let [y, mean, invstd, rm, rv] = outs;
                for ch in lo..hi {
                    let rows = |f: &mut dyn FnMut(usize)| {
                        for ni in 0..n {
                            let base = (ni * c + ch) * p;
                            for i in base..base + p {
                                f(i)
                            }
                        }
                    };
                    let mut sum = 0.0f64;
                    rows(&mut |i| sum += x[i] as f64);
                    let mu = sum / m;
                    let mut sq = 0.0f64;
                    rows(&mut |i| sq += (x[i] as f64 - mu).powi(2));
                    let var = sq / m;
                    let inv = 1.0 / (var + cfg.eps as f64).sqrt();
                    // SAFETY: each part writes only its own channels' elements
                    // and statistics, inside the lengths asserted above.
                    unsafe {
                        rows(&mut |i| {
                            *y.0.add(i) = gamma[ch] * ((x[i] as f64 - mu) * inv) as f32 + beta[ch]
                        });
                        *mean.0.add(ch) = mu as f32;
                        *invstd.0.add(ch) = inv as f32;
                        let (rm, rv) = (rm.0.add(ch), rv.0.add(ch));
                        *rm = cfg.momentum * *rm + (1.0 - cfg.momentum) * mu as f32;
                        *rv = cfg.momentum * *rv + (1.0 - cfg.momentum) * var as f32;
                    }
                }
            }
        }));
    }

    /// `ops::batchnorm_backward` on `threads` threads.
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
        s: ChannelShape,
        threads: usize,
    ) {
        let ChannelShape { n, c, p } = s;
        assert!(
            dx.len() >= s.len() && dy.len() >= s.len() && x.len() >= s.len(),
            "batchnorm_backward: buffers too small for {s:?}"
        );
        assert!([
            dgamma.len(),
            dbeta.len(),
            gamma.len(),
            mean.len(),
            invstd.len()
        ]
        .iter()
        .all(|&l| l >= c));
        let m = (n * p) as f32;
        let outs = [dx, dgamma, dbeta].map(|t| Shared(t.as_mut_ptr()));
        run_parts(parts(threads, s).map(|(lo, hi)| {
            move || {
                let [dx, dgamma, dbeta] = outs;
                for ch in lo..hi {
                    let rows = |f: &mut dyn FnMut(usize)| {
                        for ni in 0..n {
                            let base = (ni * c + ch) * p;
                            (base..base + p).for_each(&mut *f);
                        }
                    };
                    let xhat = |i: usize| (x[i] - mean[ch]) * invstd[ch];
                    let (mut sum_dy, mut sum_dyx) = (0.0f32, 0.0f32);
                    rows(&mut |i| {
                        sum_dy += dy[i];
                        sum_dyx += dy[i] * xhat(i);
                    });
                    let k = gamma[ch] * invstd[ch];
                    // SAFETY: each part writes only its own channels, in bounds (asserted).
                    unsafe {
                        *dgamma.0.add(ch) += sum_dyx;
                        *dbeta.0.add(ch) += sum_dy;
                        rows(&mut |i| {
                            *dx.0.add(i) += k * (dy[i] - sum_dy / m - xhat(i) * sum_dyx / m)
                        });
                    }
                }
            }
        }));
    }
}

// ---------------------------------------------------------------- binding

/// The uniform structs of this file's kernels (see `ops::uniform_layouts`).
pub const UNIFORMS: &[UniformLayout] = &[BatchNormParams::LAYOUT];

uniform! {
    /// Mirrors `BatchNormParams` in shaders/batchnorm.wgsl.
    pub struct BatchNormParams {
        pub n: u32,
        pub c: u32,
        pub p: u32,
        pub accumulate: u32,
        pub eps: f32,
        pub momentum: f32,
        pub _pad0: u32,
        pub _pad1: u32,
    }
}

/// The tensors of one batch-norm layer over [N, C, P].
pub struct BatchNormTensors<'a, T> {
    pub x: &'a T,
    pub gamma: &'a T,
    pub beta: &'a T,
    pub y: &'a T,
    pub mean: &'a T,
    pub invstd: &'a T,
    pub running_mean: &'a T,
    pub running_var: &'a T,
}

impl<T> Clone for BatchNormTensors<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for BatchNormTensors<'_, T> {}

fn bn_params(s: ChannelShape, cfg: BatchNormConfig, accumulate: bool) -> BatchNormParams {
    assert!(
        s.c <= 65535,
        "batchnorm: {} channels exceed one workgroup row",
        s.c
    );
    BatchNormParams {
        n: s.n as u32,
        c: s.c as u32,
        p: s.p as u32,
        accumulate: accumulate as u32,
        eps: cfg.eps,
        momentum: cfg.momentum,
        ..Zeroable::zeroed()
    }
}

/// Channels of at most this many values (N·P) get a thread each, not a
/// workgroup each (shaders/batchnorm.wgsl's narrow kernels).
pub const NARROW_MAX: usize = 64;

/// The training kernels' entry point and grid for `shape`: a workgroup per
/// channel, or a thread per channel where channels are narrow.
fn bn_grid(shape: ChannelShape, wide: &'static str, narrow: &'static str) -> (Kernel, [u32; 3]) {
    if shape.n * shape.p <= NARROW_MAX {
        (Kernel::new("batchnorm", narrow), grid(shape.c))
    } else {
        (Kernel::new("batchnorm", wide), [shape.c as u32, 1, 1])
    }
}

fn tuple(s: ChannelShape) -> (usize, usize, usize) {
    (s.n, s.c, s.p)
}

/// Training mode: normalise with the batch's statistics, keep them for the
/// backward, and update the running averages.
#[derive(Clone, Copy, Debug)]
pub struct BatchNormForwardTrain {
    pub shape: ChannelShape,
    pub cfg: BatchNormConfig,
}

impl Op for BatchNormForwardTrain {
    type Tensors<'a, T: 'a> = BatchNormTensors<'a, T>;

    fn bind_cpu(&self, _: &Cpu, t: BatchNormTensors<CpuTensor>) -> CpuOp {
        let (shape, cfg) = (self.shape, self.cfg);
        let [x, gamma, beta, y, mean, invstd, rm, rv] = [
            t.x,
            t.gamma,
            t.beta,
            t.y,
            t.mean,
            t.invstd,
            t.running_mean,
            t.running_var,
        ]
        .map(Clone::clone);
        CpuOp::new(
            "batchnorm_forward_train",
            &[t.y, t.mean, t.invstd, t.running_mean, t.running_var],
            &[t.x, t.gamma, t.beta],
            move |s| unsafe {
                fast::batchnorm_forward_train(
                    y.get_mut(),
                    mean.get_mut(),
                    invstd.get_mut(),
                    rm.get_mut(),
                    rv.get_mut(),
                    x.get(),
                    gamma.get(),
                    beta.get(),
                    shape,
                    cfg,
                    s.threads(),
                );
            },
        )
    }

    fn bind_gpu(&self, gpu: &Gpu, t: BatchNormTensors<Tensor>) -> Launch {
        let params = bn_params(self.shape, self.cfg, false);
        let bindings = [
            (1, Some(t.x)),
            (2, Some(t.gamma)),
            (3, Some(t.beta)),
            (4, Some(t.y)),
            (5, Some(t.mean)),
            (6, Some(t.invstd)),
            (7, Some(t.running_mean)),
            (8, Some(t.running_var)),
        ];
        let (kernel, groups) = bn_grid(
            self.shape,
            "batchnorm_forward_train",
            "batchnorm_forward_train_narrow",
        );
        gpu.launch(kernel, &params, &bindings, groups)
    }
}

/// Evaluation mode: normalise with the running statistics (`mean` and
/// `invstd` are not used).
#[derive(Clone, Copy, Debug)]
pub struct BatchNormForwardEval {
    pub shape: ChannelShape,
    pub cfg: BatchNormConfig,
}

impl Op for BatchNormForwardEval {
    type Tensors<'a, T: 'a> = BatchNormTensors<'a, T>;

    fn bind_cpu(&self, _: &Cpu, t: BatchNormTensors<CpuTensor>) -> CpuOp {
        let (shape, cfg) = (tuple(self.shape), self.cfg);
        let [x, gamma, beta, y, rm, rv] =
            [t.x, t.gamma, t.beta, t.y, t.running_mean, t.running_var].map(Clone::clone);
        CpuOp::new(
            "batchnorm_forward_eval",
            &[t.y],
            &[t.x, t.gamma, t.beta, t.running_mean, t.running_var],
            move |_| unsafe {
                batchnorm_forward_eval(
                    y.get_mut(),
                    x.get(),
                    gamma.get(),
                    beta.get(),
                    rm.get(),
                    rv.get(),
                    shape,
                    cfg,
                );
            },
        )
    }

    fn bind_gpu(&self, gpu: &Gpu, t: BatchNormTensors<Tensor>) -> Launch {
        let params = bn_params(self.shape, self.cfg, false);
        let bindings = [
            (1, Some(t.x)),
            (2, Some(t.gamma)),
            (3, Some(t.beta)),
            (4, Some(t.y)),
            (7, Some(t.running_mean)),
            (8, Some(t.running_var)),
        ];
        gpu.launch(
            Kernel::new("batchnorm", "batchnorm_forward_eval"),
            &params,
            &bindings,
            grid(self.shape.len()),
        )
    }
}

/// dγ += Σ dy·x̂, dβ += Σ dy, dx (+)= γ·inv·(dy − mean(dy) − x̂·mean(dy·x̂)).
#[derive(Clone, Copy, Debug)]
pub struct BatchNormBackward {
    pub shape: ChannelShape,
    pub grad: Grad,
}

pub struct BatchNormBackwardTensors<'a, T> {
    pub dx: &'a T,
    pub dgamma: &'a T,
    pub dbeta: &'a T,
    pub dy: &'a T,
    /// The forward's tensors (x, γ and the batch statistics are read).
    pub fwd: &'a BatchNormTensors<'a, T>,
}

impl Op for BatchNormBackward {
    type Tensors<'a, T: 'a> = BatchNormBackwardTensors<'a, T>;

    fn bind_cpu(&self, _: &Cpu, t: BatchNormBackwardTensors<CpuTensor>) -> CpuOp {
        let (shape, accumulate) = (self.shape, self.grad.accumulates());
        let f = t.fwd;
        let [dxc, dgc, dbc, dyc, x, gamma, mean, invstd] = [
            t.dx, t.dgamma, t.dbeta, t.dy, f.x, f.gamma, f.mean, f.invstd,
        ]
        .map(Clone::clone);
        CpuOp::new(
            "batchnorm_backward",
            &[t.dx, t.dgamma, t.dbeta],
            &[t.dy, f.x, f.gamma, f.mean, f.invstd],
            move |s| unsafe {
                let dx = dxc.get_mut();
                zero_unless(accumulate, dx);
                fast::batchnorm_backward(
                    dx,
                    dgc.get_mut(),
                    dbc.get_mut(),
                    dyc.get(),
                    x.get(),
                    gamma.get(),
                    mean.get(),
                    invstd.get(),
                    shape,
                    s.threads(),
                );
            },
        )
    }

    fn bind_gpu(&self, gpu: &Gpu, t: BatchNormBackwardTensors<Tensor>) -> Launch {
        let params = bn_params(
            self.shape,
            BatchNormConfig::default(),
            self.grad.accumulates(),
        );
        let f = t.fwd;
        let bindings = [
            (1, Some(f.x)),
            (2, Some(f.gamma)),
            (5, Some(f.mean)),
            (6, Some(f.invstd)),
            (9, Some(t.dy)),
            (10, Some(t.dx)),
            (11, Some(t.dgamma)),
            (12, Some(t.dbeta)),
        ];
        let (kernel, groups) = bn_grid(
            self.shape,
            "batchnorm_backward",
            "batchnorm_backward_narrow",
        );
        gpu.launch(kernel, &params, &bindings, groups)
    }
}
