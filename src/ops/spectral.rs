//! Spectral normalisation of a weight matrix (Miyato et al. 2018, as
//! PyTorch's `spectral_norm`): W_sn = W / σ(W), σ the largest singular value
//! of W seen as `rows` × `cols`, estimated by one power iteration per
//! training step from a vector u kept between steps; and its backward, with
//! u and v held fixed (∂σ/∂W = u·vᵀ): dW = (dW_sn − ⟨dW_sn, W_sn⟩·u·vᵀ) / σ.

use crate::backends::cpu::zero_unless;
use crate::backends::cpu::{Cpu, CpuOp, CpuTensor};
use crate::backends::gpu::uniform;
use crate::backends::gpu::{Gpu, Kernel, Launch, Tensor, Uniform, UniformLayout};
use crate::backends::{Op, TensorLen};
use crate::core::Grad;
use bytemuck::Zeroable;

/// The smallest norm divided by (as PyTorch's `normalize`): an all-zero W
/// gives W_sn = 0, not NaN.
pub const SPECTRAL_EPS: f32 = 1e-12;

/// A weight matrix as `rows` × `cols` (row-major): a dense layer's or a
/// convolution's weights, rows the first axis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpectralShape {
    pub rows: usize,
    pub cols: usize,
}

impl SpectralShape {
    pub fn len(self) -> usize {
        self.rows * self.cols
    }

    pub fn is_empty(self) -> bool {
        self.len() == 0
    }
}

// ---------------------------------------------------------------- CPU reference

/// One power iteration, then W_sn = W / σ:
/// v = Wᵀu / ‖Wᵀu‖, u ← W·v / ‖W·v‖, σ = ‖W·v‖ (= uᵀ·W·v).
pub fn spectral_norm_forward(
    w_sn: &mut [f32],
    u: &mut [f32],
    v: &mut [f32],
    sigma: &mut [f32],
    w: &[f32],
    s: SpectralShape,
) {
    let (rows, cols) = (s.rows, s.cols);
    let mut vv = 0.0f64;
    for j in 0..cols {
        let mut acc = 0.0f64;
        for i in 0..rows {
            acc += w[i * cols + j] as f64 * u[i] as f64;
        }
        v[j] = acc as f32;
        vv += acc * acc;
    }
    let vn = (vv.sqrt() as f32).max(SPECTRAL_EPS);
    v[..cols].iter_mut().for_each(|x| *x /= vn);
    let mut uu = 0.0f64;
    for i in 0..rows {
        let mut acc = 0.0f64;
        for j in 0..cols {
            acc += w[i * cols + j] as f64 * v[j] as f64;
        }
        u[i] = acc as f32;
        uu += acc * acc;
    }
    let sig = uu.sqrt() as f32;
    let d = sig.max(SPECTRAL_EPS);
    u[..rows].iter_mut().for_each(|x| *x /= d);
    sigma[0] = sig;
    for k in 0..s.len() {
        w_sn[k] = w[k] / d;
    }
}

/// dw += (dw_sn − c·u·vᵀ) / σ with c = ⟨dw_sn, w_sn⟩ = Σ dw_sn ⊙ w_sn.
pub fn spectral_norm_backward(
    dw: &mut [f32],
    dw_sn: &[f32],
    w_sn: &[f32],
    u: &[f32],
    v: &[f32],
    sigma: &[f32],
    s: SpectralShape,
) {
    let cols = s.cols;
    let c: f64 = (dw_sn[..s.len()].iter().zip(w_sn))
        .map(|(&g, &x)| g as f64 * x as f64)
        .sum();
    let c = c as f32;
    let d = sigma[0].max(SPECTRAL_EPS);
    let rows = dw[..s.len()].chunks_mut(cols).zip(dw_sn.chunks(cols));
    for ((dw_row, g_row), &ui) in rows.zip(u) {
        for ((dw, &g), &vj) in dw_row.iter_mut().zip(g_row).zip(v) {
            *dw += (g - c * ui * vj) / d;
        }
    }
}

// ---------------------------------------------------------------- binding

/// The uniform structs of this file's kernels (see `ops::uniform_layouts`).
pub const UNIFORMS: &[UniformLayout] = &[SpectralParams::LAYOUT];

uniform! {
    /// Mirrors `SpectralParams` in shaders/spectral.wgsl.
    pub struct SpectralParams {
        pub rows: u32,
        pub cols: u32,
        pub accumulate: u32,
        pub _pad0: u32,
    }
}

/// Panics with the op's name unless each tensor holds what `s` needs: the
/// matrices (W, W_sn, their gradients) rows × cols, u rows, v cols, σ one.
fn check<T: TensorLen>(
    name: &str,
    s: SpectralShape,
    matrices: &[(&str, &T)],
    [u, v, sigma]: [&T; 3],
) {
    assert!(!s.is_empty(), "{name}: an empty matrix {s:?}");
    let vectors = [("u", u, s.rows), ("v", v, s.cols), ("sigma", sigma, 1)];
    let need = matrices.iter().map(|&(what, t)| (what, t, s.len()));
    for (what, t, n) in need.chain(vectors) {
        assert!(
            t.len() >= n,
            "{name}: {what} has {} elements, needs {n} for {s:?}",
            t.len()
        );
    }
}

/// W_sn = W / σ(W) after one power iteration on u (written back), v and σ.
#[derive(Clone, Copy, Debug)]
pub struct SpectralNormForward {
    pub shape: SpectralShape,
}

pub struct SpectralNormForwardTensors<'a, T> {
    pub w_sn: &'a T,
    /// The power iteration's left vector [rows]: read, then updated.
    pub u: &'a T,
    /// Its right vector [cols], written (the backward reads it).
    pub v: &'a T,
    /// σ [1], written.
    pub sigma: &'a T,
    pub w: &'a T,
}

impl Op for SpectralNormForward {
    type Tensors<'a, T: 'a> = SpectralNormForwardTensors<'a, T>;

    fn bind_cpu(&self, _: &Cpu, t: SpectralNormForwardTensors<CpuTensor>) -> CpuOp {
        let s = self.shape;
        let matrices = [("w", t.w), ("w_sn", t.w_sn)];
        check("spectral_norm_forward", s, &matrices, [t.u, t.v, t.sigma]);
        let [wsc, uc, vc, sc, wc] = [t.w_sn, t.u, t.v, t.sigma, t.w].map(Clone::clone);
        CpuOp::new(
            "spectral_norm_forward",
            &[t.w_sn, t.u, t.v, t.sigma],
            &[t.w],
            move |_| unsafe {
                spectral_norm_forward(
                    wsc.get_mut(),
                    uc.get_mut(),
                    vc.get_mut(),
                    sc.get_mut(),
                    wc.get(),
                    s,
                );
            },
        )
    }

    fn bind_gpu(&self, gpu: &Gpu, t: SpectralNormForwardTensors<Tensor>) -> Launch {
        let s = self.shape;
        let name = "spectral_norm_forward";
        check(
            name,
            s,
            &[("w", t.w), ("w_sn", t.w_sn)],
            [t.u, t.v, t.sigma],
        );
        let params = SpectralParams {
            rows: s.rows as u32,
            cols: s.cols as u32,
            ..Zeroable::zeroed()
        };
        gpu.launch(
            Kernel::new("spectral", name),
            &params,
            &[
                (1, Some(t.w)),
                (2, Some(t.u)),
                (3, Some(t.v)),
                (4, Some(t.sigma)),
                (5, Some(t.w_sn)),
            ],
            // One workgroup: each phase needs the whole of the one before.
            [1, 1, 1],
        )
    }
}

/// dW (+)= (dW_sn − ⟨dW_sn, W_sn⟩·u·vᵀ) / σ, with the forward's W_sn, u, v and σ.
#[derive(Clone, Copy, Debug)]
pub struct SpectralNormBackward {
    pub shape: SpectralShape,
    pub grad: Grad,
}

pub struct SpectralNormBackwardTensors<'a, T> {
    pub dw: &'a T,
    pub dw_sn: &'a T,
    pub w_sn: &'a T,
    pub u: &'a T,
    pub v: &'a T,
    pub sigma: &'a T,
}

impl Op for SpectralNormBackward {
    type Tensors<'a, T: 'a> = SpectralNormBackwardTensors<'a, T>;

    fn bind_cpu(&self, _: &Cpu, t: SpectralNormBackwardTensors<CpuTensor>) -> CpuOp {
        let s = self.shape;
        let matrices = [("dw", t.dw), ("dw_sn", t.dw_sn), ("w_sn", t.w_sn)];
        check("spectral_norm_backward", s, &matrices, [t.u, t.v, t.sigma]);
        let accumulate = self.grad.accumulates();
        let [dwc, dsc, wsc, uc, vc, sc] =
            [t.dw, t.dw_sn, t.w_sn, t.u, t.v, t.sigma].map(Clone::clone);
        CpuOp::new(
            "spectral_norm_backward",
            &[t.dw],
            &[t.dw_sn, t.w_sn, t.u, t.v, t.sigma],
            move |_| unsafe {
                let dw = &mut dwc.get_mut()[..s.len()];
                zero_unless(accumulate, dw);
                let w_sn = &wsc.get()[..s.len()];
                spectral_norm_backward(dw, dsc.get(), w_sn, uc.get(), vc.get(), sc.get(), s);
            },
        )
    }

    fn bind_gpu(&self, gpu: &Gpu, t: SpectralNormBackwardTensors<Tensor>) -> Launch {
        let s = self.shape;
        let name = "spectral_norm_backward";
        let matrices = [("dw", t.dw), ("dw_sn", t.dw_sn), ("w_sn", t.w_sn)];
        check(name, s, &matrices, [t.u, t.v, t.sigma]);
        let params = SpectralParams {
            rows: s.rows as u32,
            cols: s.cols as u32,
            accumulate: self.grad.accumulates() as u32,
            ..Zeroable::zeroed()
        };
        gpu.launch(
            Kernel::new("spectral", name),
            &params,
            &[
                (2, Some(t.u)),
                (3, Some(t.v)),
                (4, Some(t.sigma)),
                (5, Some(t.w_sn)),
                (6, Some(t.dw_sn)),
                (7, Some(t.dw)),
            ],
            [1, 1, 1],
        )
    }
}
