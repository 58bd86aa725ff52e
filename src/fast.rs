//! The fast CPU ops: the same names, signatures and semantics as the
//! reference in [`crate::cpu`] (forward writes, backward accumulates), with
//! the heavy products on `matrixmultiply`'s sgemm. Convolutions go through
//! im2col into a caller-owned [`Scratch`] that keeps its allocation from one
//! step to the next. This is what the CPU backend runs; `tests/cpu_fast.rs`
//! checks every op against the reference.

use crate::cpu::{self, check_conv, Activation, AdamConfig};
use crate::geom::Conv2dGeom;

/// C[M,N] (+)= op(A)·op(B): `crate::cpu::matmul` on sgemm. A is stored [M,K]
/// (or [K,M] if `trans_a`), B [K,N] (or [N,K] if `trans_b`); the transposes
/// are only strides.
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
    if m == 0 || n == 0 {
        return;
    }
    let (rsa, csa) = if trans_a {
        (1, m as isize)
    } else {
        (k as isize, 1)
    };
    let (rsb, csb) = if trans_b {
        (1, k as isize)
    } else {
        (n as isize, 1)
    };
    let beta = if accumulate { 1.0 } else { 0.0 };
    // SAFETY: the asserts above keep every index sgemm forms, (i·rs + p·cs) for
    // i < rows and p < cols of each operand, inside its slice.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.as_ptr(),
            rsa,
            csa,
            b.as_ptr(),
            rsb,
            csb,
            beta,
            c.as_mut_ptr(),
            n as isize,
            1,
        );
    }
}

/// y[N, out] = act(x·wᵀ + b).
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
    finish_rows(&mut y[..n * d_out], b, d_out, 1, act);
}

/// dx += dy·w, dw += dyᵀ·x, db += Σ dy.
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
        cpu::bias_backward(db, dy, n, d_out, 1);
    }
}

/// Adds the bias of each channel (blocks of `p` values, channels cycling with period `c`) and applies `act`.
fn finish_rows(y: &mut [f32], b: Option<&[f32]>, c: usize, p: usize, act: Activation) {
    for (i, v) in y.iter_mut().enumerate() {
        let z = *v + b.map_or(0.0, |b| b[(i / p) % c]);
        *v = act.apply(z);
    }
}

/// Reused working memory for the im2col convolutions.
#[derive(Default, Debug)]
pub struct Scratch {
    cols: Vec<f32>,
}

impl Scratch {
    /// At least `len` floats; grows once and then keeps its allocation.
    fn cols(&mut self, len: usize) -> &mut [f32] {
        if self.cols.len() < len {
            self.cols.resize(len, 0.0);
        }
        &mut self.cols[..len]
    }
}

/// cols[(ci·K + kh)·K + kw][oh·W_out + ow] = x[ci, oh·S + kh − pad_h, ow·S + kw − pad_w] (0 outside), for one image.
fn im2col(cols: &mut [f32], x: &[f32], g: &Conv2dGeom) {
    let p = g.h_out * g.w_out;
    for ci in 0..g.c_in {
        for kh in 0..g.k {
            for kw in 0..g.k {
                let row = &mut cols[((ci * g.k + kh) * g.k + kw) * p..][..p];
                for oh in 0..g.h_out {
                    let ih = (oh * g.stride + kh).wrapping_sub(g.pad_h);
                    for ow in 0..g.w_out {
                        let iw = (ow * g.stride + kw).wrapping_sub(g.pad_w);
                        row[oh * g.w_out + ow] = if ih < g.h && iw < g.w {
                            x[(ci * g.h + ih) * g.w + iw]
                        } else {
                            0.0
                        };
                    }
                }
            }
        }
    }
}

/// dx[ci, ih, iw] += Σ over the taps that read it of cols[…][…], for one image (the adjoint of im2col).
fn col2im_add(dx: &mut [f32], cols: &[f32], g: &Conv2dGeom) {
    let p = g.h_out * g.w_out;
    for ci in 0..g.c_in {
        for kh in 0..g.k {
            for kw in 0..g.k {
                let row = &cols[((ci * g.k + kh) * g.k + kw) * p..][..p];
                for oh in 0..g.h_out {
                    let ih = (oh * g.stride + kh).wrapping_sub(g.pad_h);
                    if ih >= g.h {
                        continue;
                    }
                    for ow in 0..g.w_out {
                        let iw = (ow * g.stride + kw).wrapping_sub(g.pad_w);
                        if iw < g.w {
                            dx[(ci * g.h + ih) * g.w + iw] += row[oh * g.w_out + ow];
                        }
                    }
                }
            }
        }
    }
}

/// out (+)= conv2d(x, w) without bias or activation: per image,
/// out_n[C_out, P] = w[C_out, C_in·K·K] · im2col(x_n). The forward of a
/// convolution, and (accumulating) the input gradient of a transposed one.
fn conv_gemm(
    out: &mut [f32],
    x: &[f32],
    w: &[f32],
    g: &Conv2dGeom,
    accumulate: bool,
    scratch: &mut Scratch,
) {
    let (p, patch) = (g.h_out * g.w_out, g.c_in * g.k * g.k);
    let cols = scratch.cols(patch * p);
    for n in 0..g.n {
        im2col(cols, &x[n * g.c_in * g.h * g.w..], g);
        let out_n = &mut out[n * g.c_out * p..(n + 1) * g.c_out * p];
        matmul(out_n, w, cols, g.c_out, p, patch, false, false, accumulate);
    }
}

/// y = act(conv2d(x, w) + b): per image, y_n[C_out, P] = w[C_out, C_in·K·K] · im2col(x_n).
pub fn conv2d_forward(
    y: &mut [f32],
    x: &[f32],
    w: &[f32],
    b: Option<&[f32]>,
    g: &Conv2dGeom,
    act: Activation,
    scratch: &mut Scratch,
) {
    check_conv("conv2d_forward", g, x.len(), y.len(), w.len());
    conv_gemm(y, x, w, g, false, scratch);
    let p = g.h_out * g.w_out;
    finish_rows(&mut y[..g.output_len()], b, g.c_out, p, act);
}

/// dx += conv2d_transpose(dy, w): per image, cols = wᵀ · dy_n, then col2im.
pub fn conv2d_backward_input(
    dx: &mut [f32],
    dy: &[f32],
    w: &[f32],
    g: &Conv2dGeom,
    scratch: &mut Scratch,
) {
    check_conv("conv2d_backward_input", g, dx.len(), dy.len(), w.len());
    let (p, patch) = (g.h_out * g.w_out, g.c_in * g.k * g.k);
    let cols = scratch.cols(patch * p);
    for n in 0..g.n {
        matmul(
            cols,
            w,
            &dy[n * g.c_out * p..],
            patch,
            p,
            g.c_out,
            true,
            false,
            false,
        );
        col2im_add(
            &mut dx[n * g.c_in * g.h * g.w..(n + 1) * g.c_in * g.h * g.w],
            cols,
            g,
        );
    }
}

/// dw += Σ_n dy_n · im2col(x_n)ᵀ.
pub fn conv2d_backward_weight(
    dw: &mut [f32],
    dy: &[f32],
    x: &[f32],
    g: &Conv2dGeom,
    scratch: &mut Scratch,
) {
    check_conv("conv2d_backward_weight", g, x.len(), dy.len(), dw.len());
    let (p, patch) = (g.h_out * g.w_out, g.c_in * g.k * g.k);
    let cols = scratch.cols(patch * p);
    for n in 0..g.n {
        im2col(cols, &x[n * g.c_in * g.h * g.w..], g);
        matmul(
            dw,
            &dy[n * g.c_out * p..],
            cols,
            g.c_out,
            patch,
            p,
            false,
            true,
            true,
        );
    }
}

/// The transposed convolution of `g`: y = act(conv2d_backward_input(x, w) + b).
pub fn conv_transpose2d_forward(
    y: &mut [f32],
    x: &[f32],
    w: &[f32],
    b: Option<&[f32]>,
    g: &Conv2dGeom,
    act: Activation,
    scratch: &mut Scratch,
) {
    y[..g.input_len()].fill(0.0);
    conv2d_backward_input(y, x, w, g, scratch);
    finish_rows(&mut y[..g.input_len()], b, g.c_in, g.h * g.w, act);
}

/// dx += conv2d(dy, w): the input gradient of a transposed convolution.
pub fn conv_transpose2d_backward_input(
    dx: &mut [f32],
    dy: &[f32],
    w: &[f32],
    g: &Conv2dGeom,
    scratch: &mut Scratch,
) {
    check_conv(
        "conv_transpose2d_backward_input",
        g,
        dy.len(),
        dx.len(),
        w.len(),
    );
    conv_gemm(dx, dy, w, g, true, scratch);
}

/// dw += the weight gradient of a transposed convolution (dy and x swap roles).
pub fn conv_transpose2d_backward_weight(
    dw: &mut [f32],
    dy: &[f32],
    x: &[f32],
    g: &Conv2dGeom,
    scratch: &mut Scratch,
) {
    conv2d_backward_weight(dw, x, dy, g, scratch);
}

/// `crate::cpu::adam_step` with the bias corrections computed once, not per weight.
pub fn adam_step(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], t: u32, cfg: AdamConfig) {
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
