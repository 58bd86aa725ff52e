//! Adam, one bias-corrected update per parameter tensor.

use super::{check_len, grid};
use crate::backends::cpu::{Cpu, CpuOp, CpuTensor};
use crate::backends::gpu::uniform;
use crate::backends::gpu::{Gpu, Kernel, Launch, Tensor, Uniform, UniformLayout};
use crate::backends::Op;
use crate::core::AdamConfig;
use bytemuck::Zeroable;

// ---------------------------------------------------------------- CPU reference

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

// ---------------------------------------------------------------- fast CPU

pub mod fast {
    use crate::backends::cpu::run_parts;
    use crate::core::AdamConfig;

    /// [`adam_step`] with the parameters split between `threads` threads
    /// (each element's update is independent: the split changes nothing).
    pub fn adam_step_threaded(
        threads: usize,
        p: &mut [f32],
        g: &[f32],
        m: &mut [f32],
        v: &mut [f32],
        t: u32,
        cfg: AdamConfig,
    ) {
        let parts = threads.min(p.len() >> 15).max(1);
        if parts == 1 {
            return adam_step(p, g, m, v, t, cfg);
        }
        assert!(
            g.len() == p.len() && m.len() == p.len() && v.len() == p.len(),
            "adam_step: {} params, {} grads, {} m, {} v",
            p.len(),
            g.len(),
            m.len(),
            v.len()
        );
        let per = p.len().div_ceil(parts);
        run_parts(
            p.chunks_mut(per)
                .zip(g.chunks(per))
                .zip(m.chunks_mut(per))
                .zip(v.chunks_mut(per))
                .map(|(((p, g), m), v)| move || adam_step(p, g, m, v, t, cfg)),
        );
    }

    /// `ops::adam_step` with the bias corrections computed once, not per weight.
    pub fn adam_step(
        p: &mut [f32],
        g: &[f32],
        m: &mut [f32],
        v: &mut [f32],
        t: u32,
        cfg: AdamConfig,
    ) {
        assert!(
            g.len() == p.len() && m.len() == p.len() && v.len() == p.len(),
            "adam_step: {} params, {} grads, {} m, {} v",
            p.len(),
            g.len(),
            m.len(),
            v.len()
        );
        let t = t.max(1) as f32;
        let c1 = 1.0 / (1.0 - cfg.beta1.powf(t));
        let c2 = 1.0 / (1.0 - cfg.beta2.powf(t));
        for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
            *m = cfg.beta1 * *m + (1.0 - cfg.beta1) * g;
            *v = cfg.beta2 * *v + (1.0 - cfg.beta2) * g * g;
            *p -= cfg.lr * (*m * c1) / ((*v * c2).sqrt() + cfg.eps);
        }
    }
}

// ---------------------------------------------------------------- binding

/// The uniform structs of this file's kernels (see `ops::uniform_layouts`).
pub const UNIFORMS: &[UniformLayout] = &[AdamParams::LAYOUT];

uniform! {
    /// Mirrors `AdamParams` in shaders/adam.wgsl.
    pub struct AdamParams {
        pub len: u32,
        pub lr: f32,
        pub beta1: f32,
        pub beta2: f32,
        pub eps: f32,
        pub _pad0: u32,
        pub _pad1: u32,
        pub _pad2: u32,
    }
}

/// One Adam update of p from g at the step held in `step`.
#[derive(Clone, Copy, Debug)]
pub struct AdamStep {
    pub cfg: AdamConfig,
}

pub struct AdamTensors<'a, T> {
    pub p: &'a T,
    pub g: &'a T,
    pub m: &'a T,
    pub v: &'a T,
    pub step: &'a T,
}

impl Op for AdamStep {
    type Tensors<'a, T: 'a> = AdamTensors<'a, T>;

    fn bind_cpu(&self, _: &Cpu, t: AdamTensors<CpuTensor>) -> CpuOp {
        let cfg = self.cfg;
        let [pc, gc, mc, vc, sc] = [t.p, t.g, t.m, t.v, t.step].map(Clone::clone);
        CpuOp::new(
            "adam_step",
            &[t.p, t.m, t.v],
            &[t.g, t.step],
            move |s| unsafe {
                fast::adam_step_threaded(
                    s.threads(),
                    pc.get_mut(),
                    gc.get(),
                    mc.get_mut(),
                    vc.get_mut(),
                    sc.step(),
                    cfg,
                );
            },
        )
    }

    fn bind_gpu(&self, gpu: &Gpu, t: AdamTensors<Tensor>) -> Launch {
        check_len("adam_step", "g", t.g, t.p.len());
        check_len("adam_step", "m", t.m, t.p.len());
        check_len("adam_step", "v", t.v, t.p.len());
        let cfg = self.cfg;
        let params = AdamParams {
            len: t.p.len() as u32,
            lr: cfg.lr,
            beta1: cfg.beta1,
            beta2: cfg.beta2,
            eps: cfg.eps,
            ..Zeroable::zeroed()
        };
        gpu.launch(
            Kernel::new("adam", "adam_step"),
            &params,
            &[
                (1, Some(t.step)),
                (2, Some(t.p)),
                (3, Some(t.g)),
                (4, Some(t.m)),
                (5, Some(t.v)),
            ],
            grid(t.p.len()),
        )
    }
}
