//! A VAE's reparameterisation z = μ + σ·ε and its backward.

use super::grid;
use crate::backends::cpu::zero_unless;
use crate::backends::cpu::{Cpu, CpuOp, CpuTensor};
use crate::backends::gpu::uniform;
use crate::backends::gpu::{Gpu, Kernel, Launch, Tensor, Uniform, UniformLayout};
use crate::backends::Op;
use crate::core::Grad;
use bytemuck::Zeroable;

// ---------------------------------------------------------------- CPU reference

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

// ---------------------------------------------------------------- binding

/// The uniform structs of this file's kernels (see `ops::uniform_layouts`).
pub const UNIFORMS: &[UniformLayout] = &[ReparamParams::LAYOUT];

uniform! {
    /// Mirrors `ReparamParams` in shaders/reparam.wgsl.
    pub struct ReparamParams {
        pub len: u32,
        pub accumulate: u32,
        pub _pad0: u32,
        pub _pad1: u32,
    }
}

/// z = μ + e^{½·lv}·ε.
#[derive(Clone, Copy, Debug)]
pub struct ReparameterizeForward;

pub struct ReparameterizeForwardTensors<'a, T> {
    pub z: &'a T,
    pub mu: &'a T,
    pub logvar: &'a T,
    pub eps: &'a T,
}

impl Op for ReparameterizeForward {
    type Tensors<'a, T: 'a> = ReparameterizeForwardTensors<'a, T>;

    fn bind_cpu(&self, _: &Cpu, t: ReparameterizeForwardTensors<CpuTensor>) -> CpuOp {
        let [zc, mc, lc, ec] = [t.z, t.mu, t.logvar, t.eps].map(Clone::clone);
        CpuOp::new(
            "reparameterize_forward",
            &[t.z],
            &[t.mu, t.logvar, t.eps],
            move |_| unsafe {
                reparameterize_forward(zc.get_mut(), mc.get(), lc.get(), ec.get());
            },
        )
    }

    fn bind_gpu(&self, gpu: &Gpu, t: ReparameterizeForwardTensors<Tensor>) -> Launch {
        let params = ReparamParams {
            len: t.mu.len() as u32,
            accumulate: 0,
            ..Zeroable::zeroed()
        };
        gpu.launch(
            Kernel::new("reparam", "reparameterize_forward"),
            &params,
            &[
                (1, Some(t.mu)),
                (2, Some(t.logvar)),
                (3, Some(t.eps)),
                (4, Some(t.z)),
            ],
            grid(t.mu.len()),
        )
    }
}

/// dμ (+)= dz, dlv (+)= dz·ε·½e^{½·lv}.
#[derive(Clone, Copy, Debug)]
pub struct ReparameterizeBackward {
    pub grad: Grad,
}

pub struct ReparameterizeBackwardTensors<'a, T> {
    pub dmu: &'a T,
    pub dlogvar: &'a T,
    pub dz: &'a T,
    pub logvar: &'a T,
    pub eps: &'a T,
}

impl Op for ReparameterizeBackward {
    type Tensors<'a, T: 'a> = ReparameterizeBackwardTensors<'a, T>;

    fn bind_cpu(&self, _: &Cpu, t: ReparameterizeBackwardTensors<CpuTensor>) -> CpuOp {
        let accumulate = self.grad.accumulates();
        let [dmc, dlc, dzc, lc, ec] = [t.dmu, t.dlogvar, t.dz, t.logvar, t.eps].map(Clone::clone);
        CpuOp::new(
            "reparameterize_backward",
            &[t.dmu, t.dlogvar],
            &[t.dz, t.logvar, t.eps],
            move |_| unsafe {
                let (dmu, dlogvar) = (dmc.get_mut(), dlc.get_mut());
                zero_unless(accumulate, dmu);
                zero_unless(accumulate, dlogvar);
                reparameterize_backward(dmu, dlogvar, dzc.get(), lc.get(), ec.get());
            },
        )
    }

    fn bind_gpu(&self, gpu: &Gpu, t: ReparameterizeBackwardTensors<Tensor>) -> Launch {
        let params = ReparamParams {
            len: t.dz.len() as u32,
            accumulate: self.grad.accumulates() as u32,
            ..Zeroable::zeroed()
        };
        let bindings = [
            (2, Some(t.logvar)),
            (3, Some(t.eps)),
            (5, Some(t.dz)),
            (6, Some(t.dmu)),
            (7, Some(t.dlogvar)),
        ];
        gpu.launch(
            Kernel::new("reparam", "reparameterize_backward"),
            &params,
            &bindings,
            grid(t.dz.len()),
        )
    }
}
