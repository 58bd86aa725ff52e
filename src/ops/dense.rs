//! Dense layers: the general product, a linear layer's forward and
//! backward, and the bias gradient (shared with the convolutions).

use super::check_len;
use crate::backends::cpu::{Cpu, CpuOp, CpuTensor};
use crate::backends::gpu::uniform;
use crate::backends::gpu::{Gpu, Kernel, Launch, Tensor, Uniform, UniformLayout};
use crate::backends::Op;
use crate::core::{Activation, Grad, LinearShape, MatmulShape};
use bytemuck::Zeroable;

// ---------------------------------------------------------------- CPU reference

/// C[M,N] (+)= op(A)·op(B), where A is stored [M,K] (or [K,M] if `trans_a`)
/// and B is stored [K,N] (or [N,K] if `trans_b`).
pub fn matmul(c: &mut [f32], a: &[f32], b: &[f32], shape: MatmulShape, grad: Grad) {
    let MatmulShape {
        m,
        n,
        k,
        trans_a,
        trans_b,
    } = shape;
    let accumulate = grad.accumulates();
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
pub fn linear_forward(
    y: &mut [f32],
    x: &[f32],
    w: &[f32],
    b: Option<&[f32]>,
    shape: LinearShape,
    act: Activation,
) {
    let LinearShape { n, d_in, d_out } = shape;
    matmul(
        y,
        x,
        w,
        MatmulShape {
            m: n,
            n: d_out,
            k: d_in,
            trans_a: false,
            trans_b: true,
        },
        Grad::Write,
    );
    for r in 0..n {
        for o in 0..d_out {
            let v = y[r * d_out + o] + b.map_or(0.0, |b| b[o]);
            y[r * d_out + o] = act.apply(v);
        }
    }
}

/// dx += dy·w, dw += dyᵀ·x, db += Σ_rows dy (for a linear layer without activation:
/// apply `activation_backward` first when there is one).
pub fn linear_backward(
    dx: Option<&mut [f32]>,
    dw: &mut [f32],
    db: Option<&mut [f32]>,
    dy: &[f32],
    x: &[f32],
    w: &[f32],
    shape: LinearShape,
) {
    let LinearShape { n, d_in, d_out } = shape;
    if let Some(dx) = dx {
        matmul(
            dx,
            dy,
            w,
            MatmulShape {
                m: n,
                n: d_in,
                k: d_out,
                trans_a: false,
                trans_b: false,
            },
            Grad::Accumulate,
        );
    }
    matmul(
        dw,
        dy,
        x,
        MatmulShape {
            m: d_out,
            n: d_in,
            k: n,
            trans_a: true,
            trans_b: false,
        },
        Grad::Accumulate,
    );
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

// ---------------------------------------------------------------- fast CPU

/// The products on `matrixmultiply`'s sgemm (SIMD natively and with
/// +simd128 in wasm), split over threads by rows or columns of C.
pub mod fast {
    use crate::backends::cpu::{par_chunks_mut, Shared};
    use crate::core::{Activation, Grad, LinearShape, MatmulShape};

    /// C[M,N] (+)= op(A)·op(B): `ops::matmul` on sgemm. A is stored [M,K]
    /// (or [K,M] if `trans_a`), B [K,N] (or [N,K] if `trans_b`); the transposes
    /// are only strides.
    pub fn matmul(c: &mut [f32], a: &[f32], b: &[f32], shape: MatmulShape, grad: Grad) {
        matmul_threaded(1, c, a, b, shape, grad);
    }

    /// Products smaller than this many multiply-adds stay on one thread.
    const PARALLEL_MIN: usize = 1 << 18;

    /// [`matmul`] on up to `threads` threads: C's rows (or, when it has more
    /// columns than rows, its columns) are split into contiguous parts, one per
    /// thread, each with the whole of K.
    pub fn matmul_threaded(
        threads: usize,
        c: &mut [f32],
        a: &[f32],
        b: &[f32],
        shape: MatmulShape,
        grad: Grad,
    ) {
        let MatmulShape {
            m,
            n,
            k,
            trans_a,
            trans_b,
        } = shape;
        let accumulate = grad.accumulates();
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
    pub fn linear_forward(
        y: &mut [f32],
        x: &[f32],
        w: &[f32],
        b: Option<&[f32]>,
        shape: LinearShape,
        act: Activation,
        threads: usize,
    ) {
        let LinearShape { n, d_in, d_out } = shape;
        matmul_threaded(
            threads,
            y,
            x,
            w,
            MatmulShape {
                m: n,
                n: d_out,
                k: d_in,
                trans_a: false,
                trans_b: true,
            },
            Grad::Write,
        );
        finish_rows(&mut y[..n * d_out], b, d_out, 1, act, threads);
    }

    /// dx += dy·w, dw += dyᵀ·x, db += Σ dy (the products on `threads` threads).
    #[allow(clippy::too_many_arguments)] // three gradients, three inputs, the shape, the threads
    pub fn linear_backward(
        dx: Option<&mut [f32]>,
        dw: &mut [f32],
        db: Option<&mut [f32]>,
        dy: &[f32],
        x: &[f32],
        w: &[f32],
        shape: LinearShape,
        threads: usize,
    ) {
        let LinearShape { n, d_in, d_out } = shape;
        if let Some(dx) = dx {
            matmul_threaded(
                threads,
                dx,
                dy,
                w,
                MatmulShape {
                    m: n,
                    n: d_in,
                    k: d_out,
                    trans_a: false,
                    trans_b: false,
                },
                Grad::Accumulate,
            );
        }
        matmul_threaded(
            threads,
            dw,
            dy,
            x,
            MatmulShape {
                m: d_out,
                n: d_in,
                k: n,
                trans_a: true,
                trans_b: false,
            },
            Grad::Accumulate,
        );
        if let Some(db) = db {
            super::bias_backward(db, dy, n, d_out, 1);
        }
    }

    /// Adds the bias of each channel (blocks of `p` values, channels cycling with period `c`) and applies `act`.
    pub(crate) fn finish_rows(
        y: &mut [f32],
        b: Option<&[f32]>,
        c: usize,
        p: usize,
        act: Activation,
        threads: usize,
    ) {
        par_chunks_mut(threads, y, |start, y| {
            // Block by block of one channel: its bias is read once.
            let mut i = start;
            let mut rest = y;
            while !rest.is_empty() {
                let (block, tail) = rest.split_at_mut((p - i % p).min(rest.len()));
                act.add_apply_slice(block, b.map_or(0.0, |b| b[(i / p) % c]));
                i += block.len();
                rest = tail;
            }
        });
    }
}

// ---------------------------------------------------------------- binding

/// The uniform structs of this file's kernels (see `ops::uniform_layouts`).
pub const UNIFORMS: &[UniformLayout] = &[MatmulParams::LAYOUT, BiasParams::LAYOUT];

uniform! {
    /// Mirrors `MatmulParams` in shaders/matmul.wgsl.
    pub struct MatmulParams {
        pub m: u32,
        pub n: u32,
        pub k: u32,
        pub trans_a: u32,
        pub trans_b: u32,
        pub accumulate: u32,
        pub has_bias: u32,
        pub act: u32,
        pub slope: f32,
        pub _pad0: u32,
        pub _pad1: u32,
        pub _pad2: u32,
    }
}

/// C[M, N] (+)= act(op(A)·op(B) + bias).
#[derive(Clone, Copy, Debug)]
pub struct Matmul {
    pub shape: MatmulShape,
    pub grad: Grad,
    pub act: Activation,
}

pub struct MatmulTensors<'a, T> {
    pub c: &'a T,
    pub a: &'a T,
    pub b: &'a T,
    pub bias: Option<&'a T>,
}

impl Op for Matmul {
    type Tensors<'a, T: 'a> = MatmulTensors<'a, T>;

    fn bind_cpu(&self, _: &Cpu, t: MatmulTensors<CpuTensor>) -> CpuOp {
        let (shape, grad, act) = (self.shape, self.grad, self.act);
        let [cc, ac, bc] = [t.c, t.a, t.b].map(Clone::clone);
        let biasc = t.bias.cloned();
        let mut ins = vec![t.a, t.b];
        ins.extend(t.bias);
        CpuOp::new("matmul", &[t.c], &ins, move |s| unsafe {
            let c = cc.get_mut();
            fast::matmul_threaded(s.threads(), c, ac.get(), bc.get(), shape, grad);
            let bias = biasc.as_ref().map(|b| b.get());
            if bias.is_some() || act != Activation::None {
                let (m, n) = (shape.m, shape.n);
                fast::finish_rows(&mut c[..m * n], bias, n, 1, act, s.threads());
            }
        })
    }

    fn bind_gpu(&self, gpu: &Gpu, t: MatmulTensors<Tensor>) -> Launch {
        let MatmulShape {
            m,
            n,
            k,
            trans_a,
            trans_b,
        } = self.shape;
        check_len("matmul", "A", t.a, m * k);
        check_len("matmul", "B", t.b, k * n);
        check_len("matmul", "C", t.c, m * n);
        if let Some(bias) = t.bias {
            check_len("matmul", "bias", bias, n);
        }
        let (act, slope) = self.act.code();
        let params = MatmulParams {
            m: m as u32,
            n: n as u32,
            k: k as u32,
            trans_a: trans_a as u32,
            trans_b: trans_b as u32,
            accumulate: self.grad.accumulates() as u32,
            has_bias: t.bias.is_some() as u32,
            act,
            slope,
            ..Zeroable::zeroed()
        };
        gpu.launch_gemm(
            Kernel::new("matmul", "matmul"),
            &params,
            &[(1, Some(t.a)), (2, Some(t.b)), (3, t.bias), (4, Some(t.c))],
            (m, n, k),
        )
    }
}

/// y[N, out] = act(x[N, in] · w[out, in]ᵀ + b).
#[derive(Clone, Copy, Debug)]
pub struct LinearForward {
    pub shape: LinearShape,
    pub act: Activation,
}

pub struct LinearForwardTensors<'a, T> {
    pub y: &'a T,
    pub x: &'a T,
    pub w: &'a T,
    pub b: Option<&'a T>,
}

/// The product a dense layer's op is, on either backend.
fn product(m: usize, n: usize, k: usize, trans_a: bool, grad: Grad, act: Activation) -> Matmul {
    Matmul {
        shape: MatmulShape {
            m,
            n,
            k,
            trans_a,
            trans_b: false,
        },
        grad,
        act,
    }
}

impl LinearForward {
    fn product(&self) -> Matmul {
        let LinearShape { n, d_in, d_out } = self.shape;
        Matmul {
            shape: MatmulShape {
                m: n,
                n: d_out,
                k: d_in,
                trans_a: false,
                trans_b: true,
            },
            grad: Grad::Write,
            act: self.act,
        }
    }

    fn tensors<'a, T>(t: LinearForwardTensors<'a, T>) -> MatmulTensors<'a, T> {
        MatmulTensors {
            c: t.y,
            a: t.x,
            b: t.w,
            bias: t.b,
        }
    }
}

impl Op for LinearForward {
    type Tensors<'a, T: 'a> = LinearForwardTensors<'a, T>;

    fn bind_cpu(&self, cpu: &Cpu, t: LinearForwardTensors<CpuTensor>) -> CpuOp {
        self.product().bind_cpu(cpu, Self::tensors(t))
    }

    fn bind_gpu(&self, gpu: &Gpu, t: LinearForwardTensors<Tensor>) -> Launch {
        self.product().bind_gpu(gpu, Self::tensors(t))
    }
}

/// dX (+)= dY·W.
#[derive(Clone, Copy, Debug)]
pub struct LinearBackwardInput {
    pub shape: LinearShape,
    pub grad: Grad,
}

pub struct LinearBackwardInputTensors<'a, T> {
    pub dx: &'a T,
    pub dy: &'a T,
    pub w: &'a T,
}

impl LinearBackwardInput {
    fn product(&self) -> Matmul {
        let LinearShape { n, d_in, d_out } = self.shape;
        product(n, d_in, d_out, false, self.grad, Activation::None)
    }

    fn tensors<'a, T>(t: LinearBackwardInputTensors<'a, T>) -> MatmulTensors<'a, T> {
        MatmulTensors {
            c: t.dx,
            a: t.dy,
            b: t.w,
            bias: None,
        }
    }
}

impl Op for LinearBackwardInput {
    type Tensors<'a, T: 'a> = LinearBackwardInputTensors<'a, T>;

    fn bind_cpu(&self, cpu: &Cpu, t: LinearBackwardInputTensors<CpuTensor>) -> CpuOp {
        self.product().bind_cpu(cpu, Self::tensors(t))
    }

    fn bind_gpu(&self, gpu: &Gpu, t: LinearBackwardInputTensors<Tensor>) -> Launch {
        self.product().bind_gpu(gpu, Self::tensors(t))
    }
}

/// dW += dYᵀ·X.
#[derive(Clone, Copy, Debug)]
pub struct LinearBackwardWeight {
    pub shape: LinearShape,
}

pub struct LinearBackwardWeightTensors<'a, T> {
    pub dw: &'a T,
    pub dy: &'a T,
    pub x: &'a T,
}

impl LinearBackwardWeight {
    fn product(&self) -> Matmul {
        let LinearShape { n, d_in, d_out } = self.shape;
        product(d_out, d_in, n, true, Grad::Accumulate, Activation::None)
    }

    fn tensors<'a, T>(t: LinearBackwardWeightTensors<'a, T>) -> MatmulTensors<'a, T> {
        MatmulTensors {
            c: t.dw,
            a: t.dy,
            b: t.x,
            bias: None,
        }
    }
}

impl Op for LinearBackwardWeight {
    type Tensors<'a, T: 'a> = LinearBackwardWeightTensors<'a, T>;

    fn bind_cpu(&self, cpu: &Cpu, t: LinearBackwardWeightTensors<CpuTensor>) -> CpuOp {
        self.product().bind_cpu(cpu, Self::tensors(t))
    }

    fn bind_gpu(&self, gpu: &Gpu, t: LinearBackwardWeightTensors<Tensor>) -> Launch {
        self.product().bind_gpu(gpu, Self::tensors(t))
    }
}

uniform! {
    /// Mirrors `BiasParams` in shaders/bias.wgsl.
    pub struct BiasParams {
        pub n: u32,
        pub c: u32,
        pub p: u32,
        pub accumulate: u32,
    }
}

/// db[c] += Σ_{n,p} dy[n, c, p].
#[derive(Clone, Copy, Debug)]
pub struct BiasBackward {
    pub shape: crate::core::ChannelShape,
}

pub struct BiasBackwardTensors<'a, T> {
    pub db: &'a T,
    pub dy: &'a T,
}

impl Op for BiasBackward {
    type Tensors<'a, T: 'a> = BiasBackwardTensors<'a, T>;

    fn bind_cpu(&self, _: &Cpu, t: BiasBackwardTensors<CpuTensor>) -> CpuOp {
        let crate::core::ChannelShape { n, c, p } = self.shape;
        let (dbc, dyc) = (t.db.clone(), t.dy.clone());
        CpuOp::new("bias_backward", &[t.db], &[t.dy], move |_| unsafe {
            bias_backward(dbc.get_mut(), dyc.get(), n, c, p);
        })
    }

    fn bind_gpu(&self, gpu: &Gpu, t: BiasBackwardTensors<Tensor>) -> Launch {
        let crate::core::ChannelShape { n, c, p } = self.shape;
        check_len("bias_backward", "dy", t.dy, n * c * p);
        check_len("bias_backward", "db", t.db, c);
        assert!(
            c <= 65535,
            "bias_backward: {c} channels exceed one workgroup row"
        );
        let params = BiasParams {
            n: n as u32,
            c: c as u32,
            p: p as u32,
            accumulate: 1,
        };
        gpu.launch(
            Kernel::new("bias", "bias_backward"),
            &params,
            &[(1, Some(t.dy)), (2, Some(t.db))],
            [c as u32, 1, 1],
        )
    }
}
