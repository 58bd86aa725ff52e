//! Convolutions and transposed convolutions (NCHW, square kernels; the
//! geometry in `crate::core::geom`): forward, input gradient, weight gradient.
//! A transposed convolution is described by the convolution it transposes.

use super::{check_len, grid};
use crate::backends::cpu::{zero_unless, Cpu, CpuOp, CpuTensor, Scratch};
use crate::backends::gpu::uniform;
use crate::backends::gpu::{Gpu, Kernel, Launch, Tensor, Uniform, UniformLayout};
use crate::backends::Op;
use crate::core::{Activation, Conv2dGeom, Grad};
use bytemuck::Zeroable;

// ---------------------------------------------------------------- CPU reference

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

/// Asserts that conv buffers are large enough for `g` (shared with the fast versions).
pub(crate) fn check_conv(op: &str, g: &Conv2dGeom, x_len: usize, y_len: usize, w_len: usize) {
    assert!(
        x_len >= g.input_len() && y_len >= g.output_len() && w_len >= g.weight_len(),
        "{op}: buffers (x {x_len}, y {y_len}, w {w_len}) too small for {g:?}"
    );
}

// ---------------------------------------------------------------- fast CPU

/// im2col and sgemm, a batch's images split between the scratch's threads;
/// each thread's partial weight gradient is added in thread order, so the
/// result depends only on the thread count.
pub mod fast {
    use super::check_conv;
    use crate::backends::cpu::{grow, run_parts, Scratch};
    use crate::core::{Activation, Conv2dGeom, Grad, MatmulShape};
    use crate::ops::dense::fast::{finish_rows, matmul};

    /// The output columns whose tap `kw` lands inside the image's row,
    /// 0 ≤ ow·S + kw − pad_w < W, as the range lo..hi (empty when none do).
    fn inside_cols(g: &Conv2dGeom, kw: usize) -> (usize, usize) {
        let s = g.stride;
        let lo = g.pad_w.saturating_sub(kw).div_ceil(s);
        let hi = (g.w + g.pad_w).saturating_sub(kw).div_ceil(s).min(g.w_out);
        (lo.min(hi), hi)
    }

    /// The image row under tap `kh` of output row `oh`, if inside the image.
    fn input_row(g: &Conv2dGeom, oh: usize, kh: usize) -> Option<usize> {
        (oh * g.stride + kh)
            .checked_sub(g.pad_h)
            .filter(|&ih| ih < g.h)
    }

    /// out[j] = src[j·s]: a plain copy for s = 1; s = 2 (the strided
    /// convolutions) gets a loop of its own, without `step_by`'s arithmetic.
    fn gather(out: &mut [f32], src: &[f32], s: usize) {
        let src = &src[..(out.len() - 1) * s + 1];
        match s {
            1 => out.iter_mut().zip(src).for_each(|(o, &v)| *o = v),
            2 => out
                .iter_mut()
                .zip(src.chunks(2))
                .for_each(|(o, c)| *o = c[0]),
            _ => out
                .iter_mut()
                .zip(src.iter().step_by(s))
                .for_each(|(o, &v)| *o = v),
        }
    }

    /// dst[j·s] += add[j], the adjoint of [`gather`].
    fn scatter_add(dst: &mut [f32], add: &[f32], s: usize) {
        let dst = &mut dst[..(add.len() - 1) * s + 1];
        match s {
            1 => dst.iter_mut().zip(add).for_each(|(d, &v)| *d += v),
            2 => dst.chunks_mut(2).zip(add).for_each(|(d, &v)| d[0] += v),
            _ => dst
                .iter_mut()
                .step_by(s)
                .zip(add)
                .for_each(|(d, &v)| *d += v),
        }
    }

    /// cols[(ci·K + kh)·K + kw][oh·W_out + ow] = x[ci, oh·S + kh − pad_h, ow·S + kw − pad_w] (0 outside), for one image.
    /// Row by row: the columns inside the image are one (strided) copy,
    /// those outside are zeros; no test per pixel.
    fn im2col(cols: &mut [f32], x: &[f32], g: &Conv2dGeom) {
        let (p, plane) = (g.h_out * g.w_out, g.h * g.w);
        for kh in 0..g.k {
            for kw in 0..g.k {
                let (lo, hi) = inside_cols(g, kw);
                for ci in 0..g.c_in {
                    let image = &x[ci * plane..][..plane];
                    let taps = &mut cols[((ci * g.k + kh) * g.k + kw) * p..][..p];
                    for (oh, out) in taps.chunks_exact_mut(g.w_out).enumerate() {
                        let Some(ih) = input_row(g, oh, kh).filter(|_| lo < hi) else {
                            out.fill(0.0);
                            continue;
                        };
                        out[..lo].fill(0.0);
                        out[hi..].fill(0.0);
                        let first = ih * g.w + lo * g.stride + kw - g.pad_w;
                        gather(&mut out[lo..hi], &image[first..], g.stride);
                    }
                }
            }
        }
    }

    /// dx[ci, ih, iw] += Σ over the taps that read it of cols[…][…], for one image (the adjoint of im2col).
    fn col2im_add(dx: &mut [f32], cols: &[f32], g: &Conv2dGeom) {
        let (p, plane) = (g.h_out * g.w_out, g.h * g.w);
        for kh in 0..g.k {
            for kw in 0..g.k {
                let (lo, hi) = inside_cols(g, kw);
                if lo == hi {
                    continue;
                }
                for ci in 0..g.c_in {
                    let image = &mut dx[ci * plane..][..plane];
                    let taps = &cols[((ci * g.k + kh) * g.k + kw) * p..][..p];
                    for (oh, row) in taps.chunks_exact(g.w_out).enumerate() {
                        if let Some(ih) = input_row(g, oh, kh) {
                            let first = ih * g.w + lo * g.stride + kw - g.pad_w;
                            scatter_add(&mut image[first..], &row[lo..hi], g.stride);
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
        let (x_len, out_len) = (g.c_in * g.h * g.w, g.c_out * p);
        let (parts, per) = scratch.split(g.n);
        let cols = scratch.cols(parts, patch * p);
        run_parts(
            out[..g.n * out_len]
                .chunks_mut(per * out_len)
                .zip(x[..g.n * x_len].chunks(per * x_len))
                .zip(cols.iter_mut())
                .map(|((out, x), cols)| {
                    move || {
                        let cols = &mut cols[..patch * p];
                        for (out_n, x_n) in out.chunks_mut(out_len).zip(x.chunks(x_len)) {
                            im2col(cols, x_n, g);
                            matmul(
                                out_n,
                                w,
                                cols,
                                MatmulShape {
                                    m: g.c_out,
                                    n: p,
                                    k: patch,
                                    trans_a: false,
                                    trans_b: false,
                                },
                                Grad::from_accumulate(accumulate),
                            );
                        }
                    }
                }),
        );
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
        finish_rows(
            &mut y[..g.output_len()],
            b,
            g.c_out,
            p,
            act,
            scratch.threads(),
        );
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
        let (x_len, y_len) = (g.c_in * g.h * g.w, g.c_out * p);
        let (parts, per) = scratch.split(g.n);
        let cols = scratch.cols(parts, patch * p);
        run_parts(
            dx[..g.n * x_len]
                .chunks_mut(per * x_len)
                .zip(dy[..g.n * y_len].chunks(per * y_len))
                .zip(cols.iter_mut())
                .map(|((dx, dy), cols)| {
                    move || {
                        let cols = &mut cols[..patch * p];
                        for (dx_n, dy_n) in dx.chunks_mut(x_len).zip(dy.chunks(y_len)) {
                            matmul(
                                cols,
                                w,
                                dy_n,
                                MatmulShape {
                                    m: patch,
                                    n: p,
                                    k: g.c_out,
                                    trans_a: true,
                                    trans_b: false,
                                },
                                Grad::Write,
                            );
                            col2im_add(dx_n, cols, g);
                        }
                    }
                }),
        );
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
        let (x_len, y_len, w_len) = (g.c_in * g.h * g.w, g.c_out * p, g.weight_len());
        let (parts, per) = scratch.split(g.n);
        // The first part accumulates into dw itself, the others into partial
        // sums of their own, added to dw in order afterwards.
        let mut partial = std::mem::take(&mut scratch.partial);
        let partial_bufs = grow(&mut partial, parts - 1, w_len);
        for b in partial_bufs.iter_mut() {
            b[..w_len].fill(0.0);
        }
        let cols = scratch.cols(parts, patch * p);
        let sums = std::iter::once(&mut dw[..w_len])
            .chain(partial_bufs.iter_mut().map(|b| &mut b[..w_len]));
        run_parts(
            sums.zip(x[..g.n * x_len].chunks(per * x_len))
                .zip(dy[..g.n * y_len].chunks(per * y_len))
                .zip(cols.iter_mut())
                .map(|(((dw, x), dy), cols)| {
                    move || {
                        let cols = &mut cols[..patch * p];
                        for (x_n, dy_n) in x.chunks(x_len).zip(dy.chunks(y_len)) {
                            im2col(cols, x_n, g);
                            matmul(
                                dw,
                                dy_n,
                                cols,
                                MatmulShape {
                                    m: g.c_out,
                                    n: patch,
                                    k: p,
                                    trans_a: false,
                                    trans_b: true,
                                },
                                Grad::Accumulate,
                            );
                        }
                    }
                }),
        );
        for b in partial_bufs.iter() {
            for (d, &v) in dw[..w_len].iter_mut().zip(&b[..w_len]) {
                *d += v;
            }
        }
        scratch.partial = partial;
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
        finish_rows(
            &mut y[..g.input_len()],
            b,
            g.c_in,
            g.h * g.w,
            act,
            scratch.threads(),
        );
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
}

// ---------------------------------------------------------------- binding

/// The uniform structs of this file's kernels (see `ops::uniform_layouts`).
pub const UNIFORMS: &[UniformLayout] = &[ConvParams::LAYOUT];

uniform! {
    /// Mirrors `ConvParams` in shaders/conv.wgsl.
    pub struct ConvParams {
        pub n: u32,
        pub c_in: u32,
        pub h: u32,
        pub w: u32,
        pub c_out: u32,
        pub h_out: u32,
        pub w_out: u32,
        pub k: u32,
        pub stride: u32,
        pub pad_h: u32,
        pub pad_w: u32,
        pub accumulate: u32,
        pub has_bias: u32,
        pub act: u32,
        pub slope: f32,
        pub phase_h: u32,
        pub phase_w: u32,
        pub first_h: u32,
        pub first_w: u32,
        pub rows: u32,
        pub cols: u32,
        pub taps_h: u32,
        pub taps_w: u32,
        pub _pad0: u32,
    }
}

fn conv_params(g: &Conv2dGeom, accumulate: bool, has_bias: bool, act: Activation) -> ConvParams {
    let (act, slope) = act.code();
    ConvParams {
        n: g.n as u32,
        c_in: g.c_in as u32,
        h: g.h as u32,
        w: g.w as u32,
        c_out: g.c_out as u32,
        h_out: g.h_out as u32,
        w_out: g.w_out as u32,
        k: g.k as u32,
        stride: g.stride as u32,
        pad_h: g.pad_h as u32,
        pad_w: g.pad_w as u32,
        accumulate: accumulate as u32,
        has_bias: has_bias as u32,
        act,
        slope,
        phase_h: 0,
        phase_w: 0,
        first_h: 0,
        first_w: 0,
        rows: 0,
        cols: 0,
        taps_h: 0,
        taps_w: 0,
        ..Zeroable::zeroed()
    }
}

/// For one stride phase r of one axis (size, padding): the first pixel with
/// (i + pad) mod S = r, how many such pixels, and how many kernel taps k ≡ r (mod S).
fn phase_1d(r: usize, size: usize, pad: usize, k: usize, s: usize) -> (usize, usize, usize) {
    let first = (r + s - pad % s) % s;
    let count = if first < size {
        (size - first).div_ceil(s)
    } else {
        0
    };
    let taps = if r < k { (k - r).div_ceil(s) } else { 0 };
    (first, count, taps)
}

/// How the input gradient of a convolution (and the forward of a transposed
/// one) is computed. Both forms gather only the taps of each pixel's stride phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvInputPath {
    /// `Direct` up to [`DIRECT_MAX_C_IN`] input channels, `Gemm` above.
    Auto,
    /// One implicit GEMM per stride phase (shaders/conv2d_backward_input.wgsl).
    Gemm,
    /// One thread per input pixel, no workgroup memory: wins when the GEMM's N (= C_in) is tiny.
    Direct,
}

/// Input channels up to which [`ConvInputPath::Auto`] takes the direct form.
pub const DIRECT_MAX_C_IN: usize = 4;

#[allow(clippy::too_many_arguments)] // the two ops that share it differ in every one
fn conv_input_grad(
    gpu: &Gpu,
    op: &str,
    out: &Tensor,
    dy: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    g: &Conv2dGeom,
    accumulate: bool,
    act: Activation,
    path: ConvInputPath,
) -> Launch {
    check_len(op, "input-side tensor", out, g.input_len());
    check_len(op, "w", w, g.weight_len());
    check_len(op, "output-side tensor", dy, g.output_len());
    let base = conv_params(g, accumulate, b.is_some(), act);
    let direct = match path {
        ConvInputPath::Auto => g.c_in <= DIRECT_MAX_C_IN,
        ConvInputPath::Gemm => false,
        ConvInputPath::Direct => true,
    };
    let bindings = [(1, Some(dy)), (2, Some(w)), (3, b), (4, Some(out))];
    if direct {
        return gpu.launch(
            Kernel::new("conv2d_backward_input", "conv2d_backward_input_direct"),
            &base,
            &bindings,
            grid(g.input_len()),
        );
    }
    let s = g.stride;
    let mut phases = Vec::new();
    for rh in 0..s {
        for rw in 0..s {
            let (first_h, rows, taps_h) = phase_1d(rh, g.h, g.pad_h, g.k, s);
            let (first_w, cols, taps_w) = phase_1d(rw, g.w, g.pad_w, g.k, s);
            if rows == 0 || cols == 0 {
                continue;
            }
            let params = ConvParams {
                phase_h: rh as u32,
                phase_w: rw as u32,
                first_h: first_h as u32,
                first_w: first_w as u32,
                rows: rows as u32,
                cols: cols as u32,
                taps_h: taps_h as u32,
                taps_w: taps_w as u32,
                ..base
            };
            let dims = (g.n * rows * cols, g.c_in, g.c_out * taps_h * taps_w);
            phases.push(gpu.launch_gemm(
                Kernel::new("conv2d_backward_input", "conv2d_backward_input"),
                &params,
                &bindings,
                dims,
            ));
        }
    }
    Launch::concat(phases)
}

/// The tensors of a convolution's forward (and a transposed one's): y = act(op(x, w) + b).
pub struct ConvForwardTensors<'a, T> {
    pub y: &'a T,
    pub x: &'a T,
    pub w: &'a T,
    pub b: Option<&'a T>,
}

/// The tensors of an input gradient: dx (+)= op(dy, w).
pub struct ConvBackwardInputTensors<'a, T> {
    pub dx: &'a T,
    pub dy: &'a T,
    pub w: &'a T,
}

/// The tensors of a weight gradient: dw += op(dy, x).
pub struct ConvBackwardWeightTensors<'a, T> {
    pub dw: &'a T,
    pub dy: &'a T,
    pub x: &'a T,
}

/// The CPU bindings of the six convolution ops: the op's fast function
/// over its tensors (a transposed convolution's are the convolution's, swapped).
type ForwardFn =
    fn(&mut [f32], &[f32], &[f32], Option<&[f32]>, &Conv2dGeom, Activation, &mut Scratch);
type GradFn = fn(&mut [f32], &[f32], &[f32], &Conv2dGeom, &mut Scratch);

fn cpu_forward(
    name: &'static str,
    f: ForwardFn,
    g: Conv2dGeom,
    act: Activation,
    t: ConvForwardTensors<CpuTensor>,
) -> CpuOp {
    let (yc, xc, wc, bc) = (t.y.clone(), t.x.clone(), t.w.clone(), t.b.cloned());
    let mut ins = vec![t.x, t.w];
    ins.extend(t.b);
    CpuOp::new(name, &[t.y], &ins, move |s| unsafe {
        let b = bc.as_ref().map(|b| b.get());
        f(yc.get_mut(), xc.get(), wc.get(), b, &g, act, s);
    })
}

/// dx (+)= f(dy, w): written or accumulated as `grad` says.
fn cpu_input_grad(
    name: &'static str,
    f: GradFn,
    g: Conv2dGeom,
    grad: Grad,
    t: ConvBackwardInputTensors<CpuTensor>,
) -> CpuOp {
    let (dxc, dyc, wc) = (t.dx.clone(), t.dy.clone(), t.w.clone());
    CpuOp::new(name, &[t.dx], &[t.dy, t.w], move |s| unsafe {
        let dx = dxc.get_mut();
        zero_unless(grad.accumulates(), dx);
        f(dx, dyc.get(), wc.get(), &g, s);
    })
}

/// dw += f(dy, x).
fn cpu_weight_grad(
    name: &'static str,
    f: GradFn,
    g: Conv2dGeom,
    t: ConvBackwardWeightTensors<CpuTensor>,
) -> CpuOp {
    let (dwc, dyc, xc) = (t.dw.clone(), t.dy.clone(), t.x.clone());
    CpuOp::new(name, &[t.dw], &[t.dy, t.x], move |s| unsafe {
        f(dwc.get_mut(), dyc.get(), xc.get(), &g, s);
    })
}

/// y = act(conv2d(x, w) + b).
#[derive(Clone, Copy, Debug)]
pub struct Conv2dForward {
    pub geom: Conv2dGeom,
    pub act: Activation,
}

impl Op for Conv2dForward {
    type Tensors<'a, T: 'a> = ConvForwardTensors<'a, T>;

    fn bind_cpu(&self, _: &Cpu, t: ConvForwardTensors<CpuTensor>) -> CpuOp {
        cpu_forward(
            "conv2d_forward",
            fast::conv2d_forward,
            self.geom,
            self.act,
            t,
        )
    }

    fn bind_gpu(&self, gpu: &Gpu, t: ConvForwardTensors<Tensor>) -> Launch {
        let g = &self.geom;
        check_len("conv2d_forward", "x", t.x, g.input_len());
        check_len("conv2d_forward", "w", t.w, g.weight_len());
        check_len("conv2d_forward", "y", t.y, g.output_len());
        let params = conv_params(g, false, t.b.is_some(), self.act);
        let dims = (g.n * g.h_out * g.w_out, g.c_out, g.c_in * g.k * g.k);
        gpu.launch_gemm(
            Kernel::new("conv2d_forward", "conv2d_forward"),
            &params,
            &[(1, Some(t.x)), (2, Some(t.w)), (3, t.b), (4, Some(t.y))],
            dims,
        )
    }
}

/// dX (+)= conv2d_transpose(dY, W).
#[derive(Clone, Copy, Debug)]
pub struct Conv2dBackwardInput {
    pub geom: Conv2dGeom,
    pub grad: Grad,
    /// How the GPU computes it (tests and benchmarks pick; layers leave `Auto`).
    pub path: ConvInputPath,
}

impl Op for Conv2dBackwardInput {
    type Tensors<'a, T: 'a> = ConvBackwardInputTensors<'a, T>;

    fn bind_cpu(&self, _: &Cpu, t: ConvBackwardInputTensors<CpuTensor>) -> CpuOp {
        let f = fast::conv2d_backward_input;
        cpu_input_grad("conv2d_backward_input", f, self.geom, self.grad, t)
    }

    fn bind_gpu(&self, gpu: &Gpu, t: ConvBackwardInputTensors<Tensor>) -> Launch {
        conv_input_grad(
            gpu,
            "conv2d_backward_input",
            t.dx,
            t.dy,
            t.w,
            None,
            &self.geom,
            self.grad.accumulates(),
            Activation::None,
            self.path,
        )
    }
}

/// dW += Σ dY ⊗ patches of X.
#[derive(Clone, Copy, Debug)]
pub struct Conv2dBackwardWeight {
    pub geom: Conv2dGeom,
}

impl Op for Conv2dBackwardWeight {
    type Tensors<'a, T: 'a> = ConvBackwardWeightTensors<'a, T>;

    fn bind_cpu(&self, _: &Cpu, t: ConvBackwardWeightTensors<CpuTensor>) -> CpuOp {
        let f = fast::conv2d_backward_weight;
        cpu_weight_grad("conv2d_backward_weight", f, self.geom, t)
    }

    fn bind_gpu(&self, gpu: &Gpu, t: ConvBackwardWeightTensors<Tensor>) -> Launch {
        weight_grad(gpu, t.dw, t.dy, t.x, &self.geom)
    }
}

/// dW += Σ dY ⊗ patches of X, on the GPU (a transposed convolution swaps dY and X).
fn weight_grad(gpu: &Gpu, dw: &Tensor, dy: &Tensor, x: &Tensor, g: &Conv2dGeom) -> Launch {
    check_len("conv2d_backward_weight", "x", x, g.input_len());
    check_len("conv2d_backward_weight", "dw", dw, g.weight_len());
    check_len("conv2d_backward_weight", "dy", dy, g.output_len());
    let params = conv_params(g, true, false, Activation::None);
    let dims = (g.c_out, g.c_in * g.k * g.k, g.n * g.h_out * g.w_out);
    gpu.launch_gemm(
        Kernel::new("conv2d_backward_weight", "conv2d_backward_weight"),
        &params,
        &[(1, Some(dy)), (2, Some(x)), (4, Some(dw))],
        dims,
    )
}

/// The transposed convolution of `geom`: y[N, g.c_in, g.h, g.w] = act(conv2d_backward_input(x) + b).
#[derive(Clone, Copy, Debug)]
pub struct ConvTranspose2dForward {
    pub geom: Conv2dGeom,
    pub act: Activation,
}

impl Op for ConvTranspose2dForward {
    type Tensors<'a, T: 'a> = ConvForwardTensors<'a, T>;

    fn bind_cpu(&self, _: &Cpu, t: ConvForwardTensors<CpuTensor>) -> CpuOp {
        let f = fast::conv_transpose2d_forward;
        cpu_forward("conv_transpose2d_forward", f, self.geom, self.act, t)
    }

    fn bind_gpu(&self, gpu: &Gpu, t: ConvForwardTensors<Tensor>) -> Launch {
        if let Some(b) = t.b {
            check_len("conv_transpose2d_forward", "b", b, self.geom.c_in);
        }
        conv_input_grad(
            gpu,
            "conv_transpose2d_forward",
            t.y,
            t.x,
            t.w,
            t.b,
            &self.geom,
            false,
            self.act,
            ConvInputPath::Auto,
        )
    }
}

/// dX (+)= conv2d(dY, W): the input gradient of a transposed convolution.
#[derive(Clone, Copy, Debug)]
pub struct ConvTranspose2dBackwardInput {
    pub geom: Conv2dGeom,
    pub grad: Grad,
}

impl Op for ConvTranspose2dBackwardInput {
    type Tensors<'a, T: 'a> = ConvBackwardInputTensors<'a, T>;

    fn bind_cpu(&self, _: &Cpu, t: ConvBackwardInputTensors<CpuTensor>) -> CpuOp {
        let f = fast::conv_transpose2d_backward_input;
        cpu_input_grad(
            "conv_transpose2d_backward_input",
            f,
            self.geom,
            self.grad,
            t,
        )
    }

    fn bind_gpu(&self, gpu: &Gpu, t: ConvBackwardInputTensors<Tensor>) -> Launch {
        let g = &self.geom;
        let name = "conv_transpose2d_backward_input";
        check_len(name, "dy", t.dy, g.input_len());
        check_len(name, "w", t.w, g.weight_len());
        check_len(name, "dx", t.dx, g.output_len());
        let params = conv_params(g, self.grad.accumulates(), false, Activation::None);
        let dims = (g.n * g.h_out * g.w_out, g.c_out, g.c_in * g.k * g.k);
        gpu.launch_gemm(
            Kernel::new("conv2d_forward", "conv2d_forward"),
            &params,
            &[(1, Some(t.dy)), (2, Some(t.w)), (3, None), (4, Some(t.dx))],
            dims,
        )
    }
}

/// dW += the weight gradient of a transposed convolution (dy and x swap roles).
#[derive(Clone, Copy, Debug)]
pub struct ConvTranspose2dBackwardWeight {
    pub geom: Conv2dGeom,
}

impl Op for ConvTranspose2dBackwardWeight {
    type Tensors<'a, T: 'a> = ConvBackwardWeightTensors<'a, T>;

    fn bind_cpu(&self, _: &Cpu, t: ConvBackwardWeightTensors<CpuTensor>) -> CpuOp {
        let f = fast::conv_transpose2d_backward_weight;
        cpu_weight_grad("conv_transpose2d_backward_weight", f, self.geom, t)
    }

    fn bind_gpu(&self, gpu: &Gpu, t: ConvBackwardWeightTensors<Tensor>) -> Launch {
        weight_grad(gpu, t.dw, t.x, t.dy, &self.geom)
    }
}
