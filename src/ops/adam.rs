//! Adam, one bias-corrected update per parameter tensor, optionally with a
//! moving average of the weights (Polyak averaging; a GAN's generator
//! samples from it).

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

/// The moving average of the weights after an update:
/// avg = decay·avg + (1 − decay)·p.
pub fn average_update(avg: &mut [f32], p: &[f32], decay: f32) {
    for (a, &p) in avg.iter_mut().zip(p) {
        *a = decay * *a + (1.0 - decay) * p;
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
        pub average: f32,
        pub _pad1: u32,
        pub _pad2: u32,
    }
}

/// One Adam update of p from g at the step held in `step`, then, when
/// `avg` is given, its moving average ([`average_update`] at `cfg.average`).
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
    pub avg: Option<&'a T>,
}

impl Op for AdamStep {
    type Tensors<'a, T: 'a> = AdamTensors<'a, T>;

    fn bind_cpu(&self, _: &Cpu, t: AdamTensors<CpuTensor>) -> CpuOp {
        let cfg = self.cfg;
        let [pc, gc, mc, vc, sc] = [t.p, t.g, t.m, t.v, t.step].map(Clone::clone);
        let ac = t.avg.cloned();
        let mut writes = vec![t.p, t.m, t.v];
        writes.extend(t.avg);
        CpuOp::new("adam_step", &writes, &[t.g, t.step], move |s| unsafe {
            fast::adam_step_threaded(
                s.threads(),
                pc.get_mut(),
                gc.get(),
                mc.get_mut(),
                vc.get_mut(),
                sc.step(),
                cfg,
            );
            if let Some(a) = &ac {
                average_update(a.get_mut(), pc.get(), cfg.average);
            }
        })
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
            average: cfg.average,
            ..Zeroable::zeroed()
        };
        let mut tensors = vec![
            (1, Some(t.step)),
            (2, Some(t.p)),
            (3, Some(t.g)),
            (4, Some(t.m)),
            (5, Some(t.v)),
        ];
        let entry = match t.avg {
            Some(a) => {
                check_len("adam_step", "avg", a, t.p.len());
                tensors.push((6, Some(a)));
                "adam_step_averaged"
            }
            None => "adam_step",
        };
        gpu.launch(
            Kernel::new("adam", entry),
            &params,
            &tensors,
            grid(t.p.len()),
        )
    }
}
