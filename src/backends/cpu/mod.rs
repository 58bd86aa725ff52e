//! [`Backend`] on the CPU: each op is a closure (made by the op's
//! [`Op::bind_cpu`] in `crate::ops`: sgemm and im2col for the products, plain
//! loops for the rest), bound to its tensors when the network is built,
//! exactly as a GPU launch is; recording an op runs it.
//!
//! A [`CpuTensor`] is a range of a shared buffer, so that a parameter arena
//! can hand out slots and a model can place one layer's output inside the
//! next one's input, as on the GPU. Ops get plain slices of their tensors
//! while they run; that is sound because (1) an op's outputs are checked, when
//! it is made, to overlap neither its inputs nor each other, (2) ops run one
//! at a time on one thread (the handles are `Rc`, so never `Send`), and
//! (3) no slice outlives the op or the read/write that made it.

mod threads;

pub use threads::{grow, par_chunks_mut, run_parts, Scratch, Shared};

use super::{Backend, BackendError, Op, TensorLen};
use crate::core::{rng, RandomStream};
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
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn overlaps(&self, o: &CpuTensor) -> bool {
        Rc::ptr_eq(&self.buf, &o.buf)
            && self.len > 0
            && o.len > 0
            && self.start < o.start + o.len
            && o.start < self.start + self.len
    }

    /// # Safety
    /// No `&mut` to an overlapping range may be alive.
    pub(crate) unsafe fn get(&self) -> &[f32] {
        std::slice::from_raw_parts(self.buf.ptr.add(self.start), self.len)
    }

    /// # Safety
    /// No other reference to an overlapping range may be alive.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn get_mut(&self) -> &mut [f32] {
        std::slice::from_raw_parts_mut(self.buf.ptr.add(self.start), self.len)
    }

    /// The step counter held in element 0 as u32 bits.
    pub(crate) fn step(&self) -> u32 {
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

impl CpuOp {
    /// An op running `run`, after checking that its outputs overlap neither
    /// its inputs nor each other (what makes the slices of `run` sound).
    pub fn new(
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
}

/// The ops' working memory (im2col columns), lent to each run.
pub struct CpuPass<'p> {
    scratch: &'p mut Scratch,
}

/// A dropout mask, made by the forward of one step and reused by the
/// backward passes of that step (a GAN's discriminator runs two).
#[derive(Default)]
pub(crate) struct Mask {
    step: Option<u32>,
    keep: Vec<bool>,
}

impl Mask {
    /// The mask of (seed, stream, step) over `len` elements: kept, or drawn
    /// afresh exactly as `ops::dropout_forward` draws it.
    pub(crate) fn get(
        &mut self,
        rate: f32,
        r: RandomStream,
        len: usize,
        threads: usize,
    ) -> &[bool] {
        if self.step != Some(r.step) || self.keep.len() != len {
            // Counter-based: element i's draw depends on i alone, so threads may share the work.
            self.keep.resize(len, false);
            par_chunks_mut(threads, &mut self.keep, |start, keep| {
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

/// The CPU backend: one thread by default (the browser's), more with
/// [`Cpu::with_threads`]; the heavy products are sgemm with SIMD kernels
/// (AVX/FMA natively, simd128 in the browser).
#[derive(Default)]
pub struct Cpu {
    scratch: RefCell<Scratch>,
    masks: RefCell<HashMap<MaskKey, Rc<RefCell<Mask>>>>,
    /// Floats of every tensor made so far (freed ones included).
    made: std::cell::Cell<u64>,
}

impl Cpu {
    /// The dropout mask of (seed, stream) over `len` elements, shared by
    /// the forward and backward ops that draw it.
    pub(crate) fn mask(&self, seed: u32, stream: u32, len: usize) -> Rc<RefCell<Mask>> {
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

/// Zeroes a gradient that is to be written rather than accumulated.
pub(crate) fn zero_unless(accumulate: bool, t: &mut [f32]) {
    if !accumulate {
        t.fill(0.0);
    }
}

/// The random stream of (seed, stream) at the step held in `step`.
pub(crate) fn random(seed: u32, stream: u32, step: &CpuTensor) -> RandomStream {
    RandomStream {
        seed,
        stream,
        step: step.step(),
    }
}

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

    fn bind<O: Op>(&self, op: &O, t: O::Tensors<'_, CpuTensor>) -> CpuOp {
        op.bind_cpu(self, t)
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
}
