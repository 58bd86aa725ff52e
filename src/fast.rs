//! The fast CPU ops: the same names, signatures and semantics as the
//! reference in [`crate::cpu`] (forward writes, backward accumulates), with
//! the heavy products on `matrixmultiply`'s sgemm. Convolutions go through
//! im2col into a caller-owned [`Scratch`] that keeps its allocation from one
//! step to the next. This is what the CPU backend runs; `tests/cpu_fast.rs`
//! checks every op against the reference.
//!
//! Threads: the products can use several (the dense layers' `threads`
//! argument, the convolutions' [`Scratch::with_threads`]). Work is split
//! into fixed contiguous parts (rows or columns of a product, images of a
//! batch), each computed by one thread, and partial weight gradients are
//! added in thread order: for a given thread count the results are the same
//! from run to run. One thread spawns nothing (the browser's build).

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
    matmul_threaded(1, c, a, b, m, n, k, trans_a, trans_b, accumulate);
}

/// A raw pointer that may cross to a scoped thread: each thread writes its own
/// rows or columns of one output.
#[derive(Clone, Copy)]
struct Shared(*mut f32);
// SAFETY: the threads that share one write disjoint parts (see `matmul_threaded`).
unsafe impl Send for Shared {}
unsafe impl Sync for Shared {}

/// Products smaller than this many multiply-adds stay on one thread.
const PARALLEL_MIN: usize = 1 << 18;

/// [`matmul`] on up to `threads` threads: C's rows (or, when it has more
/// columns than rows, its columns) are split into contiguous parts, one per
/// thread, each with the whole of K.
#[allow(clippy::too_many_arguments)]
pub fn matmul_threaded(
    threads: usize,
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
    let by_rows = m >= n;
    let len = if by_rows { m } else { n };
    let parts = if m * n * k < PARALLEL_MIN {
        1
    } else {
        threads.clamp(1, len)
    };
    let (rsa, csa) = if trans_a { (1, m) } else { (k, 1) };
    let (rsb, csb) = if trans_b { (1, k) } else { (n, 1) };
    let beta = if accumulate { 1.0 } else { 0.0 };
    let (ap, bp, cp) = (
        a.as_ptr() as *mut f32,
        b.as_ptr() as *mut f32,
        Shared(c.as_mut_ptr()),
    );
    let (ap, bp) = (Shared(ap), Shared(bp));
    let per = len.div_ceil(parts);
    // One block of C: rows (or columns) start..end, with the operands offset to match.
    let block = move |start: usize, end: usize| {
        let (ap, bp, cp) = (ap, bp, cp);
        let (mm, nn, a0, b0, c0) = if by_rows {
            (end - start, n, start * rsa, 0, start * n)
        } else {
            (m, end - start, 0, start * csb, start)
        };
        // SAFETY: the asserts above keep every index sgemm forms, (i·rs + p·cs)
        // for i < rows and p < cols of each operand, inside its slice; a block
        // writes only its own rows (columns) of C.
        unsafe {
            matrixmultiply::sgemm(
                mm,
                k,
                nn,
                1.0,
                ap.0.add(a0),
                rsa as isize,
                csa as isize,
                bp.0.add(b0),
                rsb as isize,
                csb as isize,
                beta,
                cp.0.add(c0),
                n as isize,
                1,
            );
        }
    };
    if parts == 1 {
        return block(0, len);
    }
    std::thread::scope(|s| {
        for start in (per..len).step_by(per) {
            s.spawn(move || block(start, (start + per).min(len)));
        }
        block(0, per.min(len));
    });
}

/// y[N, out] = act(x·wᵀ + b), the product on `threads` threads.
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
    threads: usize,
) {
    matmul_threaded(threads, y, x, w, n, d_out, d_in, false, true, false);
    finish_rows(&mut y[..n * d_out], b, d_out, 1, act, threads);
}

/// dx += dy·w, dw += dyᵀ·x, db += Σ dy (the products on `threads` threads).
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
    threads: usize,
) {
    if let Some(dx) = dx {
        matmul_threaded(threads, dx, dy, w, n, d_in, d_out, false, false, true);
    }
    matmul_threaded(threads, dw, dy, x, d_out, d_in, n, true, false, true);
    if let Some(db) = db {
        cpu::bias_backward(db, dy, n, d_out, 1);
    }
}

/// Adds the bias of each channel (blocks of `p` values, channels cycling with period `c`) and applies `act`.
fn finish_rows(
    y: &mut [f32],
    b: Option<&[f32]>,
    c: usize,
    p: usize,
    act: Activation,
    threads: usize,
) {
    par_chunks_mut(threads, y, |start, y| {
        for (i, v) in (start..).zip(y.iter_mut()) {
            let z = *v + b.map_or(0.0, |b| b[(i / p) % c]);
            *v = act.apply(z);
        }
    });
}

/// Elementwise work shorter than this stays on one thread.
const PARALLEL_MIN_LEN: usize = 1 << 15;

/// Runs `f(start, chunk)` over contiguous chunks of `out` on up to
/// `threads` threads (`start`: the chunk's first index in `out`). For
/// elementwise work, whose results do not depend on the split.
pub fn par_chunks_mut<T: Send>(threads: usize, out: &mut [T], f: impl Fn(usize, &mut [T]) + Sync) {
    let parts = threads.min(out.len() / PARALLEL_MIN_LEN).max(1);
    if parts == 1 {
        return f(0, out);
    }
    let per = out.len().div_ceil(parts);
    let f = &f;
    run_parts(
        out.chunks_mut(per)
            .enumerate()
            .map(|(i, chunk)| move || f(i * per, chunk)),
    );
}

/// Reused working memory for the im2col convolutions, and the number of
/// threads they use (one by default).
#[derive(Debug)]
pub struct Scratch {
    threads: usize,
    /// One im2col buffer per thread.
    cols: Vec<Vec<f32>>,
    /// One partial weight gradient per thread but the first.
    partial: Vec<Vec<f32>>,
}

impl Default for Scratch {
    fn default() -> Scratch {
        Scratch::with_threads(1)
    }
}

impl Scratch {
    /// Convolutions on up to `threads` threads (at least 1), a batch's images split between them.
    pub fn with_threads(threads: usize) -> Scratch {
        Scratch {
            threads: threads.max(1),
            cols: Vec::new(),
            partial: Vec::new(),
        }
    }

    pub fn threads(&self) -> usize {
        self.threads
    }

    /// How many threads share `n` images, and how many images each takes.
    fn split(&self, n: usize) -> (usize, usize) {
        let per = n.div_ceil(self.threads.min(n).max(1)).max(1);
        (n.div_ceil(per).max(1), per)
    }

    /// `parts` buffers of at least `len` floats; they grow once and then keep their allocation.
    fn cols(&mut self, parts: usize, len: usize) -> &mut [Vec<f32>] {
        grow(&mut self.cols, parts, len)
    }
}

fn grow(bufs: &mut Vec<Vec<f32>>, parts: usize, len: usize) -> &mut [Vec<f32>] {
    if bufs.len() < parts {
        bufs.resize_with(parts, Vec::new);
    }
    for b in &mut bufs[..parts] {
        if b.len() < len {
            b.resize(len, 0.0);
        }
    }
    &mut bufs[..parts]
}

/// Runs each part, the first on this thread and the others on scoped threads
/// of their own. A single part runs inline: nothing is spawned or allocated
/// (every op of a one-thread step, the browser's).
fn run_parts<F: FnOnce() + Send>(mut parts: impl Iterator<Item = F>) {
    let Some(first) = parts.next() else { return };
    match parts.next() {
        None => first(),
        Some(second) => std::thread::scope(|s| {
            s.spawn(second);
            for part in parts {
                s.spawn(part);
            }
            first();
        }),
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
                        matmul(out_n, w, cols, g.c_out, p, patch, false, false, accumulate);
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
        scratch.threads,
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
                        matmul(cols, w, dy_n, patch, p, g.c_out, true, false, false);
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
    let sums =
        std::iter::once(&mut dw[..w_len]).chain(partial_bufs.iter_mut().map(|b| &mut b[..w_len]));
    run_parts(
        sums.zip(x[..g.n * x_len].chunks(per * x_len))
            .zip(dy[..g.n * y_len].chunks(per * y_len))
            .zip(cols.iter_mut())
            .map(|(((dw, x), dy), cols)| {
                move || {
                    let cols = &mut cols[..patch * p];
                    for (x_n, dy_n) in x.chunks(x_len).zip(dy.chunks(y_len)) {
                        im2col(cols, x_n, g);
                        matmul(dw, dy_n, cols, g.c_out, patch, p, false, true, true);
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
        scratch.threads,
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
