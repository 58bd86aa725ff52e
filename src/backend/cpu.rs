//! [`Backend`] on the CPU: each op is a closure over the fast ops of
//! [`crate::fast`] (sgemm and im2col for the products) and the reference of
//! [`crate::cpu`] (the cheap elementwise ops), bound to its tensors when the
//! network is built, exactly as a GPU launch is; recording an op runs it.
//!
//! A [`CpuTensor`] is a range of a shared buffer, so that a parameter arena
//! can hand out slots and a model can place one layer's output inside the
//! next one's input, as on the GPU. Ops get plain slices of their tensors
//! while they run; that is sound because (1) an op's outputs are checked, when
//! it is made, to overlap neither its inputs nor each other, (2) ops run one
//! at a time on one thread (the handles are `Rc`, so never `Send`), and
//! (3) no slice outlives the op or the read/write that made it.

use super::{Backend, BackendError, BatchNormTensors, LossTarget, TensorLen};
use crate::cpu::{self, Activation, AdamConfig, BatchNormConfig, RandomStream, Target};
use crate::fast::{self, Scratch};
use crate::geom::Conv2dGeom;
use crate::rng;
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::rc::Rc;

/// A fixed-size heap buffer, reached only through raw pointers so that
/// disjoint ranges can be borrowed at once.
struct Buffer {
    ptr: *mut f32,
    len: usize,
}

impl Buffer {
    fn new(data: Vec<f32>) -> Buffer {
        let len = data.len();
        let ptr = Box::into_raw(data.into_boxed_slice()) as *mut f32;
        Buffer { ptr, len }
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        // SAFETY: ptr and len come from the boxed slice made in `new`.
        unsafe {
            drop(Box::from_raw(std::ptr::slice_from_raw_parts_mut(
                self.ptr, self.len,
            )))
        };
    }
}

/// A range of f32s in a CPU buffer.
#[derive(Clone)]
pub struct CpuTensor {
    buf: Rc<Buffer>,
    start: usize,
    len: usize,
}

impl fmt::Debug for CpuTensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "CpuTensor({:p}[{}..{}])",
            self.buf.ptr,
            self.start,
            self.start + self.len
        )
    }
}

impl TensorLen for CpuTensor {
    fn len(&self) -> usize {
        self.len
    }
}

impl CpuTensor {
    fn overlaps(&self, o: &CpuTensor) -> bool {
        Rc::ptr_eq(&self.buf, &o.buf)
            && self.len > 0
            && o.len > 0
            && self.start < o.start + o.len
            && o.start < self.start + self.len
    }

    /// # Safety
    /// No `&mut` to an overlapping range may be alive.
    unsafe fn get(&self) -> &[f32] {
        std::slice::from_raw_parts(self.buf.ptr.add(self.start), self.len)
    }

    /// # Safety
    /// No other reference to an overlapping range may be alive.
    #[allow(clippy::mut_from_ref)]
    unsafe fn get_mut(&self) -> &mut [f32] {
        std::slice::from_raw_parts_mut(self.buf.ptr.add(self.start), self.len)
    }

    /// The step counter held in element 0 as u32 bits.
    fn step(&self) -> u32 {
        // SAFETY: read between ops (or as an op's input, see the module docs).
        unsafe { self.get()[0].to_bits() }
    }
}

/// An op bound to its tensors; recording it runs it.
pub struct CpuOp {
    pub name: &'static str,
    run: Box<dyn Fn(&mut Scratch)>,
}

impl fmt::Debug for CpuOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CpuOp({})", self.name)
    }
}

/// Makes an op after checking that its outputs overlap neither its inputs nor each other.
fn op(
    name: &'static str,
    outs: &[&CpuTensor],
    ins: &[&CpuTensor],
    run: impl Fn(&mut Scratch) + 'static,
) -> CpuOp {
    for (i, o) in outs.iter().enumerate() {
        for other in outs[i + 1..].iter().chain(ins) {
            assert!(
                !o.overlaps(other),
                "{name}: output {o:?} overlaps {other:?}; give it a tensor of its own"
            );
        }
    }
    CpuOp {
        name,
        run: Box::new(run),
    }
}

/// The ops' working memory (im2col columns), lent to each run.
pub struct CpuPass<'p> {
    scratch: &'p mut Scratch,
}

/// A dropout mask, made by the forward of one step and reused by the
/// backward passes of that step (a GAN's discriminator runs two).
#[derive(Default)]
struct Mask {
    step: Option<u32>,
    keep: Vec<bool>,
}

impl Mask {
    /// The mask of (seed, stream, step) over `len` elements: kept, or drawn
    /// afresh exactly as `cpu::dropout_forward` draws it.
    fn get(&mut self, rate: f32, r: RandomStream, len: usize, threads: usize) -> &[bool] {
        if self.step != Some(r.step) || self.keep.len() != len {
            // Counter-based: element i's draw depends on i alone, so threads may share the work.
            self.keep.resize(len, false);
            fast::par_chunks_mut(threads, &mut self.keep, |start, keep| {
                for (i, k) in (start as u32..).zip(keep.iter_mut()) {
                    *k = rng::uniform(r.seed, r.stream, i, r.step) >= rate;
                }
            });
            self.step = Some(r.step);
        }
        &self.keep
    }
}

type MaskKey = (u32, u32, usize);

/// The CPU backend. One thread; the heavy products are sgemm with SIMD
/// kernels (AVX/FMA natively, simd128 in the browser).
#[derive(Default)]
pub struct Cpu {
    scratch: RefCell<Scratch>,
    masks: RefCell<HashMap<MaskKey, Rc<RefCell<Mask>>>>,
    /// Floats of every tensor made so far (freed ones included).
    made: std::cell::Cell<u64>,
}

impl Cpu {
    fn mask(&self, seed: u32, stream: u32, len: usize) -> Rc<RefCell<Mask>> {
        self.masks
            .borrow_mut()
            .entry((seed, stream, len))
            .or_default()
            .clone()
    }
}

impl Cpu {
    /// One thread: what the browser runs (each page worker has one).
    pub fn new() -> Cpu {
        Cpu::default()
    }

    /// The products (dense layers, convolutions) on up to `threads` threads;
    /// results are deterministic for a given count.
    pub fn with_threads(threads: usize) -> Cpu {
        Cpu {
            scratch: RefCell::new(Scratch::with_threads(threads)),
            ..Cpu::default()
        }
    }

    pub fn threads(&self) -> usize {
        self.scratch.borrow().threads()
    }

    /// Bytes of every tensor made so far, freed ones included (what a
    /// model's memory estimate is checked against).
    pub fn bytes_made(&self) -> u64 {
        4 * self.made.get()
    }
}

/// An elementwise loss op: loss[slot] = f(dx, x, target).
fn loss_op(
    name: &'static str,
    dx: &CpuTensor,
    x: &CpuTensor,
    t: LossTarget<CpuTensor>,
    loss: &CpuTensor,
    slot: usize,
    f: fn(&mut [f32], &[f32], Target) -> f32,
) -> CpuOp {
    assert_eq!(
        dx.len, x.len,
        "{name}: dx has {} elements, x {}",
        dx.len, x.len
    );
    assert!(slot < loss.len, "{name}: loss slot {slot} of {}", loss.len);
    let (values, constant) = match t {
        LossTarget::Values(v) => {
            assert_eq!(
                v.len, x.len,
                "{name}: {} targets for {} values",
                v.len, x.len
            );
            (Some(v.clone()), 0.0)
        }
        LossTarget::Const(c) => (None, c),
    };
    let mut ins = vec![x];
    if let LossTarget::Values(v) = t {
        ins.push(v);
    }
    let outs = [dx, loss];
    let (dx, x, loss) = (dx.clone(), x.clone(), loss.clone());
    op(name, &outs, &ins, move |_| unsafe {
        let t = match &values {
            Some(v) => Target::Values(v.get()),
            None => Target::Const(constant),
        };
        loss.get_mut()[slot] = f(dx.get_mut(), x.get(), t);
    })
}

fn zero_unless(accumulate: bool, t: &mut [f32]) {
    if !accumulate {
        t.fill(0.0);
    }
}

fn random(seed: u32, stream: u32, step: &CpuTensor) -> RandomStream {
    RandomStream {
        seed,
        stream,
        step: step.step(),
    }
}

// SAFETY (every `unsafe` block below): each closure borrows the tensors of
// its own op, whose outputs `op` has checked to be disjoint from the rest.
impl Backend for Cpu {
    type Tensor = CpuTensor;
    type Op = CpuOp;
    type Pass<'p> = CpuPass<'p>;
    type Readback = CpuTensor;

    fn describe(&self) -> String {
        match self.threads() {
            1 => "CPU: one thread, sgemm (matrixmultiply) with SIMD".to_string(),
            t => format!("CPU: {t} threads, sgemm (matrixmultiply) with SIMD"),
        }
    }
    fn alignment(&self) -> usize {
        1
    }
    fn zeros(&self, len: usize) -> CpuTensor {
        self.upload(&vec![0.0; len])
    }
    fn upload(&self, data: &[f32]) -> CpuTensor {
        self.made.set(self.made.get() + data.len() as u64);
        CpuTensor {
            buf: Rc::new(Buffer::new(data.to_vec())),
            start: 0,
            len: data.len(),
        }
    }
    fn slice(&self, t: &CpuTensor, start: usize, len: usize) -> CpuTensor {
        assert!(
            start + len <= t.len,
            "tensor slice {start}..{} out of 0..{}",
            start + len,
            t.len
        );
        CpuTensor {
            buf: t.buf.clone(),
            start: t.start + start,
            len,
        }
    }
    fn write(&self, t: &CpuTensor, start: usize, data: &[f32]) {
        assert!(
            start + data.len() <= t.len,
            "tensor write: {} values at {start} into a tensor of {}",
            data.len(),
            t.len
        );
        // SAFETY: no op is running (ops run only inside `run`, which holds no slices between ops).
        unsafe { t.get_mut()[start..start + data.len()].copy_from_slice(data) };
    }

    fn run(&self, record: impl FnOnce(&mut CpuPass<'_>)) {
        let mut scratch = self.scratch.borrow_mut();
        record(&mut CpuPass {
            scratch: &mut scratch,
        });
    }
    fn record(pass: &mut CpuPass<'_>, op: &CpuOp) {
        (op.run)(pass.scratch);
    }
    fn concat(&self, ops: Vec<CpuOp>) -> CpuOp {
        CpuOp {
            name: "concat",
            run: Box::new(move |s| {
                for o in &ops {
                    (o.run)(s)
                }
            }),
        }
    }

    fn readback(&self, t: &CpuTensor) -> CpuTensor {
        t.clone()
    }
    async fn read(&self, t: &CpuTensor) -> Result<Vec<f32>, BackendError> {
        // SAFETY: between ops.
        Ok(unsafe { t.get() }.to_vec())
    }

    fn linear_forward(
        &self,
        y: &CpuTensor,
        x: &CpuTensor,
        w: &CpuTensor,
        b: Option<&CpuTensor>,
        n: usize,
        d_in: usize,
        d_out: usize,
        act: Activation,
    ) -> CpuOp {
        let (yc, xc, wc, bc) = (y.clone(), x.clone(), w.clone(), b.cloned());
        let mut ins = vec![x, w];
        ins.extend(b);
        op("linear_forward", &[y], &ins, move |s| unsafe {
            let b = bc.as_ref().map(|b| b.get());
            let (y, x, w) = (yc.get_mut(), xc.get(), wc.get());
            fast::linear_forward(y, x, w, b, n, d_in, d_out, act, s.threads());
        })
    }
    fn linear_backward_input(
        &self,
        dx: &CpuTensor,
        dy: &CpuTensor,
        w: &CpuTensor,
        n: usize,
        d_in: usize,
        d_out: usize,
        accumulate: bool,
    ) -> CpuOp {
        let (dxc, dyc, wc) = (dx.clone(), dy.clone(), w.clone());
        op("linear_backward_input", &[dx], &[dy, w], move |s| unsafe {
            fast::matmul_threaded(
                s.threads(),
                dxc.get_mut(),
                dyc.get(),
                wc.get(),
                n,
                d_in,
                d_out,
                false,
                false,
                accumulate,
            );
        })
    }
    fn linear_backward_weight(
        &self,
        dw: &CpuTensor,
        dy: &CpuTensor,
        x: &CpuTensor,
        n: usize,
        d_in: usize,
        d_out: usize,
    ) -> CpuOp {
        let (dwc, dyc, xc) = (dw.clone(), dy.clone(), x.clone());
        op("linear_backward_weight", &[dw], &[dy, x], move |s| unsafe {
            fast::matmul_threaded(
                s.threads(),
                dwc.get_mut(),
                dyc.get(),
                xc.get(),
                d_out,
                d_in,
                n,
                true,
                false,
                true,
            );
        })
    }
    fn bias_backward(&self, db: &CpuTensor, dy: &CpuTensor, n: usize, c: usize, p: usize) -> CpuOp {
        let (dbc, dyc) = (db.clone(), dy.clone());
        op("bias_backward", &[db], &[dy], move |_| unsafe {
            cpu::bias_backward(dbc.get_mut(), dyc.get(), n, c, p);
        })
    }

    fn conv2d_forward(
        &self,
        y: &CpuTensor,
        x: &CpuTensor,
        w: &CpuTensor,
        b: Option<&CpuTensor>,
        g: &Conv2dGeom,
        act: Activation,
    ) -> CpuOp {
        let (yc, xc, wc, bc, g) = (y.clone(), x.clone(), w.clone(), b.cloned(), *g);
        let mut ins = vec![x, w];
        ins.extend(b);
        op("conv2d_forward", &[y], &ins, move |s| unsafe {
            let b = bc.as_ref().map(|b| b.get());
            fast::conv2d_forward(yc.get_mut(), xc.get(), wc.get(), b, &g, act, s);
        })
    }
    fn conv2d_backward_input(
        &self,
        dx: &CpuTensor,
        dy: &CpuTensor,
        w: &CpuTensor,
        g: &Conv2dGeom,
        accumulate: bool,
    ) -> CpuOp {
        let (dxc, dyc, wc, g) = (dx.clone(), dy.clone(), w.clone(), *g);
        op("conv2d_backward_input", &[dx], &[dy, w], move |s| unsafe {
            let dx = dxc.get_mut();
            zero_unless(accumulate, dx);
            fast::conv2d_backward_input(dx, dyc.get(), wc.get(), &g, s);
        })
    }
    fn conv2d_backward_weight(
        &self,
        dw: &CpuTensor,
        dy: &CpuTensor,
        x: &CpuTensor,
        g: &Conv2dGeom,
    ) -> CpuOp {
        let (dwc, dyc, xc, g) = (dw.clone(), dy.clone(), x.clone(), *g);
        op("conv2d_backward_weight", &[dw], &[dy, x], move |s| unsafe {
            fast::conv2d_backward_weight(dwc.get_mut(), dyc.get(), xc.get(), &g, s);
        })
    }
    fn conv_transpose2d_forward(
        &self,
        y: &CpuTensor,
        x: &CpuTensor,
        w: &CpuTensor,
        b: Option<&CpuTensor>,
        g: &Conv2dGeom,
        act: Activation,
    ) -> CpuOp {
        let (yc, xc, wc, bc, g) = (y.clone(), x.clone(), w.clone(), b.cloned(), *g);
        let mut ins = vec![x, w];
        ins.extend(b);
        op("conv_transpose2d_forward", &[y], &ins, move |s| unsafe {
            let b = bc.as_ref().map(|b| b.get());
            fast::conv_transpose2d_forward(yc.get_mut(), xc.get(), wc.get(), b, &g, act, s);
        })
    }
    fn conv_transpose2d_backward_input(
        &self,
        dx: &CpuTensor,
        dy: &CpuTensor,
        w: &CpuTensor,
        g: &Conv2dGeom,
        accumulate: bool,
    ) -> CpuOp {
        let (dxc, dyc, wc, g) = (dx.clone(), dy.clone(), w.clone(), *g);
        op(
            "conv_transpose2d_backward_input",
            &[dx],
            &[dy, w],
            move |s| unsafe {
                let dx = dxc.get_mut();
                zero_unless(accumulate, dx);
                fast::conv_transpose2d_backward_input(dx, dyc.get(), wc.get(), &g, s);
            },
        )
    }
    fn conv_transpose2d_backward_weight(
        &self,
        dw: &CpuTensor,
        dy: &CpuTensor,
        x: &CpuTensor,
        g: &Conv2dGeom,
    ) -> CpuOp {
        let (dwc, dyc, xc, g) = (dw.clone(), dy.clone(), x.clone(), *g);
        op(
            "conv_transpose2d_backward_weight",
            &[dw],
            &[dy, x],
            move |s| unsafe {
                fast::conv_transpose2d_backward_weight(dwc.get_mut(), dyc.get(), xc.get(), &g, s);
            },
        )
    }

    fn activation_forward(&self, y: &CpuTensor, x: &CpuTensor, act: Activation) -> CpuOp {
        let (yc, xc) = (y.clone(), x.clone());
        op("activation_forward", &[y], &[x], move |s| unsafe {
            let x = xc.get();
            fast::par_chunks_mut(s.threads(), yc.get_mut(), |i, y| {
                cpu::activation_forward(y, &x[i..i + y.len()], act)
            });
        })
    }
    fn activation_backward(
        &self,
        dx: &CpuTensor,
        dy: &CpuTensor,
        y: &CpuTensor,
        act: Activation,
        accumulate: bool,
    ) -> CpuOp {
        let (dxc, dyc, yc) = (dx.clone(), dy.clone(), y.clone());
        op("activation_backward", &[dx], &[dy, y], move |s| unsafe {
            let (dy, y) = (dyc.get(), yc.get());
            fast::par_chunks_mut(s.threads(), dxc.get_mut(), |i, dx| {
                let n = dx.len();
                zero_unless(accumulate, dx);
                cpu::activation_backward(dx, &dy[i..i + n], &y[i..i + n], act);
            });
        })
    }
    fn fill(&self, out: &CpuTensor, value: f32) -> CpuOp {
        let oc = out.clone();
        op("fill", &[out], &[], move |_| unsafe {
            cpu::fill(oc.get_mut(), value);
        })
    }
    fn step_increment(&self, step: &CpuTensor) -> CpuOp {
        let sc = step.clone();
        op("step_increment", &[step], &[], move |_| unsafe {
            let s = &mut sc.get_mut()[0];
            *s = f32::from_bits(s.to_bits().wrapping_add(1));
        })
    }

    fn batchnorm_forward_train(
        &self,
        t: &BatchNormTensors<CpuTensor>,
        shape: (usize, usize, usize),
        cfg: BatchNormConfig,
    ) -> CpuOp {
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
        op(
            "batchnorm_forward_train",
            &[t.y, t.mean, t.invstd, t.running_mean, t.running_var],
            &[t.x, t.gamma, t.beta],
            move |_| unsafe {
                cpu::batchnorm_forward_train(
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
                );
            },
        )
    }
    fn batchnorm_forward_eval(
        &self,
        t: &BatchNormTensors<CpuTensor>,
        shape: (usize, usize, usize),
        cfg: BatchNormConfig,
    ) -> CpuOp {
        let [x, gamma, beta, y, rm, rv] =
            [t.x, t.gamma, t.beta, t.y, t.running_mean, t.running_var].map(Clone::clone);
        op(
            "batchnorm_forward_eval",
            &[t.y],
            &[t.x, t.gamma, t.beta, t.running_mean, t.running_var],
            move |_| unsafe {
                cpu::batchnorm_forward_eval(
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
    fn batchnorm_backward(
        &self,
        dx: &CpuTensor,
        dgamma: &CpuTensor,
        dbeta: &CpuTensor,
        dy: &CpuTensor,
        t: &BatchNormTensors<CpuTensor>,
        shape: (usize, usize, usize),
        accumulate: bool,
    ) -> CpuOp {
        let [dxc, dgc, dbc, dyc, x, gamma, mean, invstd] =
            [dx, dgamma, dbeta, dy, t.x, t.gamma, t.mean, t.invstd].map(Clone::clone);
        op(
            "batchnorm_backward",
            &[dx, dgamma, dbeta],
            &[dy, t.x, t.gamma, t.mean, t.invstd],
            move |_| unsafe {
                let dx = dxc.get_mut();
                zero_unless(accumulate, dx);
                cpu::batchnorm_backward(
                    dx,
                    dgc.get_mut(),
                    dbc.get_mut(),
                    dyc.get(),
                    x.get(),
                    gamma.get(),
                    mean.get(),
                    invstd.get(),
                    shape,
                );
            },
        )
    }

    fn dropout_forward(
        &self,
        y: &CpuTensor,
        x: &CpuTensor,
        rate: f32,
        seed: u32,
        stream: u32,
        step: &CpuTensor,
    ) -> CpuOp {
        assert_eq!(
            y.len, x.len,
            "dropout_forward: y has {}, x {}",
            y.len, x.len
        );
        let (yc, xc, sc, mask) = (
            y.clone(),
            x.clone(),
            step.clone(),
            self.mask(seed, stream, x.len),
        );
        op("dropout_forward", &[y], &[x, step], move |s| unsafe {
            let mut mask = mask.borrow_mut();
            let keep = mask.get(rate, random(seed, stream, &sc), xc.len, s.threads());
            let x = xc.get();
            fast::par_chunks_mut(s.threads(), yc.get_mut(), |i, y| {
                let n = y.len();
                for ((y, &x), &k) in y.iter_mut().zip(&x[i..i + n]).zip(&keep[i..i + n]) {
                    *y = if k { x / (1.0 - rate) } else { 0.0 };
                }
            });
        })
    }
    fn dropout_backward(
        &self,
        dx: &CpuTensor,
        dy: &CpuTensor,
        rate: f32,
        seed: u32,
        stream: u32,
        step: &CpuTensor,
        accumulate: bool,
    ) -> CpuOp {
        assert_eq!(
            dx.len, dy.len,
            "dropout_backward: dx has {}, dy {}",
            dx.len, dy.len
        );
        let (dxc, dyc, sc, mask) = (
            dx.clone(),
            dy.clone(),
            step.clone(),
            self.mask(seed, stream, dy.len),
        );
        op("dropout_backward", &[dx], &[dy, step], move |s| unsafe {
            let mut mask = mask.borrow_mut();
            let keep = mask.get(rate, random(seed, stream, &sc), dyc.len, s.threads());
            let dy = dyc.get();
            fast::par_chunks_mut(s.threads(), dxc.get_mut(), |i, dx| {
                let n = dx.len();
                zero_unless(accumulate, dx);
                for ((dx, &dy), &k) in dx.iter_mut().zip(&dy[i..i + n]).zip(&keep[i..i + n]) {
                    if k {
                        *dx += dy / (1.0 - rate);
                    }
                }
            });
        })
    }
    fn gaussian_noise(
        &self,
        out: &CpuTensor,
        mean: f32,
        std: f32,
        seed: u32,
        stream: u32,
        step: &CpuTensor,
    ) -> CpuOp {
        let (oc, sc) = (out.clone(), step.clone());
        op("gaussian_noise", &[out], &[step], move |_| unsafe {
            cpu::gaussian_noise(oc.get_mut(), mean, std, random(seed, stream, &sc));
        })
    }

    fn bce_with_logits(
        &self,
        dx: &CpuTensor,
        x: &CpuTensor,
        t: LossTarget<CpuTensor>,
        loss: &CpuTensor,
        slot: usize,
    ) -> CpuOp {
        loss_op(
            "bce_with_logits",
            dx,
            x,
            t,
            loss,
            slot,
            cpu::bce_with_logits,
        )
    }
    fn bernoulli_reconstruction(
        &self,
        dx: &CpuTensor,
        logits: &CpuTensor,
        t: &CpuTensor,
        n: usize,
        loss: &CpuTensor,
        slot: usize,
    ) -> CpuOp {
        assert_eq!(
            t.len, logits.len,
            "bernoulli_reconstruction: {} targets for {} logits",
            t.len, logits.len
        );
        assert!(
            slot < loss.len,
            "bernoulli_reconstruction: loss slot {slot} of {}",
            loss.len
        );
        let [dxc, lc, tc, lossc] = [dx, logits, t, loss].map(Clone::clone);
        op(
            "bernoulli_reconstruction",
            &[dx, loss],
            &[logits, t],
            move |_| unsafe {
                lossc.get_mut()[slot] =
                    cpu::bernoulli_reconstruction(dxc.get_mut(), lc.get(), tc.get(), n);
            },
        )
    }
    fn least_squares(
        &self,
        dx: &CpuTensor,
        x: &CpuTensor,
        t: LossTarget<CpuTensor>,
        loss: &CpuTensor,
        slot: usize,
    ) -> CpuOp {
        loss_op("least_squares", dx, x, t, loss, slot, cpu::least_squares)
    }
    fn mse(
        &self,
        dx: &CpuTensor,
        x: &CpuTensor,
        t: LossTarget<CpuTensor>,
        loss: &CpuTensor,
        slot: usize,
    ) -> CpuOp {
        loss_op("mse", dx, x, t, loss, slot, cpu::mse)
    }
    fn softmax_cross_entropy(
        &self,
        dx: &CpuTensor,
        logits: &CpuTensor,
        t: &CpuTensor,
        n: usize,
        loss: &CpuTensor,
        slot: usize,
    ) -> CpuOp {
        let name = "softmax_cross_entropy";
        assert!(
            n > 0 && logits.len.is_multiple_of(n) && dx.len == logits.len && t.len == logits.len,
            "{name}: {} logits, {} gradients, {} targets in {n} rows",
            logits.len,
            dx.len,
            t.len
        );
        assert!(slot < loss.len, "{name}: loss slot {slot} of {}", loss.len);
        let [dxc, lc, tc, lossc] = [dx, logits, t, loss].map(Clone::clone);
        op(name, &[dx, loss], &[logits, t], move |_| unsafe {
            lossc.get_mut()[slot] =
                cpu::softmax_cross_entropy(dxc.get_mut(), lc.get(), tc.get(), n);
        })
    }

    fn gaussian_kl(
        &self,
        dmu: &CpuTensor,
        dlogvar: &CpuTensor,
        mu: &CpuTensor,
        logvar: &CpuTensor,
        n: usize,
        beta: f32,
        loss: &CpuTensor,
        slot: usize,
    ) -> CpuOp {
        assert!(
            slot < loss.len,
            "gaussian_kl: loss slot {slot} of {}",
            loss.len
        );
        let [dmc, dlc, mc, lc, lossc] = [dmu, dlogvar, mu, logvar, loss].map(Clone::clone);
        op(
            "gaussian_kl",
            &[dmu, dlogvar, loss],
            &[mu, logvar],
            move |_| unsafe {
                lossc.get_mut()[slot] =
                    cpu::gaussian_kl(dmc.get_mut(), dlc.get_mut(), mc.get(), lc.get(), n, beta);
            },
        )
    }

    fn reparameterize_forward(
        &self,
        z: &CpuTensor,
        mu: &CpuTensor,
        logvar: &CpuTensor,
        eps: &CpuTensor,
    ) -> CpuOp {
        let [zc, mc, lc, ec] = [z, mu, logvar, eps].map(Clone::clone);
        op(
            "reparameterize_forward",
            &[z],
            &[mu, logvar, eps],
            move |_| unsafe {
                cpu::reparameterize_forward(zc.get_mut(), mc.get(), lc.get(), ec.get());
            },
        )
    }
    fn reparameterize_backward(
        &self,
        dmu: &CpuTensor,
        dlogvar: &CpuTensor,
        dz: &CpuTensor,
        logvar: &CpuTensor,
        eps: &CpuTensor,
        accumulate: bool,
    ) -> CpuOp {
        let [dmc, dlc, dzc, lc, ec] = [dmu, dlogvar, dz, logvar, eps].map(Clone::clone);
        op(
            "reparameterize_backward",
            &[dmu, dlogvar],
            &[dz, logvar, eps],
            move |_| unsafe {
                let (dmu, dlogvar) = (dmc.get_mut(), dlc.get_mut());
                zero_unless(accumulate, dmu);
                zero_unless(accumulate, dlogvar);
                cpu::reparameterize_backward(dmu, dlogvar, dzc.get(), lc.get(), ec.get());
            },
        )
    }
    fn adam_step(
        &self,
        p: &CpuTensor,
        g: &CpuTensor,
        m: &CpuTensor,
        v: &CpuTensor,
        step: &CpuTensor,
        cfg: AdamConfig,
    ) -> CpuOp {
        let [pc, gc, mc, vc, sc] = [p, g, m, v, step].map(Clone::clone);
        op("adam_step", &[p, m, v], &[g, step], move |_| unsafe {
            fast::adam_step(
                pc.get_mut(),
                gc.get(),
                mc.get_mut(),
                vc.get_mut(),
                sc.step(),
                cfg,
            );
        })
    }
}
