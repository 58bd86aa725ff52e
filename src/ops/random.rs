//! Randomness inside a step: dropout (forward and backward draw the same
//! mask) and Gaussian noise (a VAE's ε). Counter-based (`core::rng`): a draw
//! is a function of (seed, stream, index, step), the same on CPU and GPU.

use super::grid;
use crate::backends::cpu::{par_chunks_mut, random, zero_unless};
use crate::backends::cpu::{Cpu, CpuOp, CpuTensor};
use crate::backends::gpu::uniform;
use crate::backends::gpu::{Gpu, Kernel, Launch, Tensor, Uniform, UniformLayout};
use crate::backends::Op;
use crate::core::{rng, Grad, RandomStream};
use bytemuck::Zeroable;

// ---------------------------------------------------------------- CPU reference

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

// ---------------------------------------------------------------- binding

/// The uniform structs of this file's kernels (see `ops::uniform_layouts`).
pub const UNIFORMS: &[UniformLayout] = &[RandomParams::LAYOUT];

uniform! {
    /// Mirrors `RandomParams` in shaders/random.wgsl.
    pub struct RandomParams {
        pub len: u32,
        pub seed: u32,
        pub stream: u32,
        pub accumulate: u32,
        pub rate: f32,
        pub mean: f32,
        pub stddev: f32,
        pub _pad0: u32,
    }
}

/// Where a random op's draws come from: its key; the counter's step is read
/// from the model's step tensor when the op runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Key {
    pub seed: u32,
    pub stream: u32,
}

/// y = keep ? x/(1 − rate) : 0; the mask is drawn from `key` at the step
/// held in `step` (a one-element u32 tensor).
#[derive(Clone, Copy, Debug)]
pub struct DropoutForward {
    pub rate: f32,
    pub key: Key,
}

pub struct DropoutForwardTensors<'a, T> {
    pub y: &'a T,
    pub x: &'a T,
    pub step: &'a T,
}

impl Op for DropoutForward {
    type Tensors<'a, T: 'a> = DropoutForwardTensors<'a, T>;

    fn bind_cpu(&self, cpu: &Cpu, t: DropoutForwardTensors<CpuTensor>) -> CpuOp {
        let (rate, Key { seed, stream }) = (self.rate, self.key);
        assert_eq!(
            t.y.len(),
            t.x.len(),
            "dropout_forward: y has {}, x {}",
            t.y.len(),
            t.x.len()
        );
        let (yc, xc, sc) = (t.y.clone(), t.x.clone(), t.step.clone());
        let mask = cpu.mask(seed, stream, t.x.len());
        CpuOp::new("dropout_forward", &[t.y], &[t.x, t.step], move |s| unsafe {
            let mut mask = mask.borrow_mut();
            let x = xc.get();
            let keep = mask.get(rate, random(seed, stream, &sc), x.len(), s.threads());
            par_chunks_mut(s.threads(), yc.get_mut(), |i, y| {
                let n = y.len();
                for ((y, &x), &k) in y.iter_mut().zip(&x[i..i + n]).zip(&keep[i..i + n]) {
                    *y = if k { x / (1.0 - rate) } else { 0.0 };
                }
            });
        })
    }

    fn bind_gpu(&self, gpu: &Gpu, t: DropoutForwardTensors<Tensor>) -> Launch {
        let rate = self.rate;
        assert!(
            (0.0..1.0).contains(&rate),
            "dropout rate must be in [0, 1), got {rate}"
        );
        let params = RandomParams {
            len: t.x.len() as u32,
            seed: self.key.seed,
            stream: self.key.stream,
            accumulate: 0,
            rate,
            mean: 0.0,
            stddev: 0.0,
            ..Zeroable::zeroed()
        };
        gpu.launch(
            Kernel::new("random", "dropout_forward"),
            &params,
            &[(1, Some(t.step)), (2, Some(t.x)), (3, Some(t.y))],
            grid(t.x.len()),
        )
    }
}

/// dx (+)= keep ? dy/(1 − rate) : 0, the same mask as the forward at the same step.
#[derive(Clone, Copy, Debug)]
pub struct DropoutBackward {
    pub rate: f32,
    pub key: Key,
    pub grad: Grad,
}

pub struct DropoutBackwardTensors<'a, T> {
    pub dx: &'a T,
    pub dy: &'a T,
    pub step: &'a T,
}

impl Op for DropoutBackward {
    type Tensors<'a, T: 'a> = DropoutBackwardTensors<'a, T>;

    fn bind_cpu(&self, cpu: &Cpu, t: DropoutBackwardTensors<CpuTensor>) -> CpuOp {
        let (rate, Key { seed, stream }) = (self.rate, self.key);
        let accumulate = self.grad.accumulates();
        assert_eq!(
            t.dx.len(),
            t.dy.len(),
            "dropout_backward: dx has {}, dy {}",
            t.dx.len(),
            t.dy.len()
        );
        let (dxc, dyc, sc) = (t.dx.clone(), t.dy.clone(), t.step.clone());
        let mask = cpu.mask(seed, stream, t.dy.len());
        CpuOp::new(
            "dropout_backward",
            &[t.dx],
            &[t.dy, t.step],
            move |s| unsafe {
                let mut mask = mask.borrow_mut();
                let dy = dyc.get();
                let keep = mask.get(rate, random(seed, stream, &sc), dy.len(), s.threads());
                par_chunks_mut(s.threads(), dxc.get_mut(), |i, dx| {
                    let n = dx.len();
                    zero_unless(accumulate, dx);
                    for ((dx, &dy), &k) in dx.iter_mut().zip(&dy[i..i + n]).zip(&keep[i..i + n]) {
                        if k {
                            *dx += dy / (1.0 - rate);
                        }
                    }
                });
            },
        )
    }

    fn bind_gpu(&self, gpu: &Gpu, t: DropoutBackwardTensors<Tensor>) -> Launch {
        let params = RandomParams {
            len: t.dy.len() as u32,
            seed: self.key.seed,
            stream: self.key.stream,
            accumulate: self.grad.accumulates() as u32,
            rate: self.rate,
            mean: 0.0,
            stddev: 0.0,
            ..Zeroable::zeroed()
        };
        gpu.launch(
            Kernel::new("random", "dropout_backward"),
            &params,
            &[(1, Some(t.step)), (2, Some(t.dy)), (3, Some(t.dx))],
            grid(t.dy.len()),
        )
    }
}

/// out = mean + std·N(0, 1).
#[derive(Clone, Copy, Debug)]
pub struct GaussianNoise {
    pub mean: f32,
    pub std: f32,
    pub key: Key,
}

pub struct NoiseTensors<'a, T> {
    pub out: &'a T,
    pub step: &'a T,
}

impl Op for GaussianNoise {
    type Tensors<'a, T: 'a> = NoiseTensors<'a, T>;

    fn bind_cpu(&self, _: &Cpu, t: NoiseTensors<CpuTensor>) -> CpuOp {
        let (mean, std, Key { seed, stream }) = (self.mean, self.std, self.key);
        let (oc, sc) = (t.out.clone(), t.step.clone());
        CpuOp::new("gaussian_noise", &[t.out], &[t.step], move |_| unsafe {
            gaussian_noise(oc.get_mut(), mean, std, random(seed, stream, &sc));
        })
    }

    fn bind_gpu(&self, gpu: &Gpu, t: NoiseTensors<Tensor>) -> Launch {
        let params = RandomParams {
            len: t.out.len() as u32,
            seed: self.key.seed,
            stream: self.key.stream,
            accumulate: 0,
            rate: 0.0,
            mean: self.mean,
            stddev: self.std,
            ..Zeroable::zeroed()
        };
        gpu.launch(
            Kernel::new("random", "gaussian_noise"),
            &params,
            &[(1, Some(t.step)), (3, Some(t.out))],
            grid(t.out.len()),
        )
    }
}
