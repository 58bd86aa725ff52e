//! Where ops run: the GPU ([`Gpu`], WGSL kernels through wgpu) and the CPU
//! ([`Cpu`], sgemm and plain loops). Layers and models are written once over
//! [`Backend`].
//!
//! The shape of it is the GPU's: a tensor is a range of a buffer; an op is
//! bound to its tensors once, when a network is built ([`Backend::bind`]),
//! which gives a [`Backend::Op`]; a training step records its ops, in order,
//! into one pass ([`Backend::run`]), which the GPU submits once and the CPU
//! runs as it goes.
//!
//! A backend knows no op by name: each op (in `crate::ops`, one unit with
//! its CPU reference, its uniform struct and its WGSL binding) implements
//! [`Op`], saying how it binds on each backend. Adding an op touches no file
//! here.

pub mod cpu;
pub mod gpu;

pub use cpu::{Cpu, CpuOp, CpuPass, CpuTensor};
pub use gpu::Gpu;

pub use crate::core::{BackendError, ErrorKind};
use std::fmt;
use std::future::Future;

/// Where a user asked models to run: the same words on the page (`backend=`)
/// and on the command line (`--backend`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendChoice {
    /// The GPU on a hardware adapter, else the CPU (a software adapter, such
    /// as SwiftShader or lavapipe, computes about 100× slower than the CPU backend).
    Auto,
    Gpu,
    Cpu,
}

impl BackendChoice {
    pub fn parse(s: &str) -> Result<BackendChoice, String> {
        match s {
            "auto" => Ok(BackendChoice::Auto),
            "gpu" | "webgpu" => Ok(BackendChoice::Gpu),
            "cpu" => Ok(BackendChoice::Cpu),
            _ => Err("choose auto, gpu or cpu".to_string()),
        }
    }

    /// Whether to run on `adapter`, the one found (the one rule of the page
    /// and the CLI). Decided before a device is opened or a pipeline built.
    pub fn takes(self, adapter: &gpu::Adapter) -> bool {
        match self {
            BackendChoice::Cpu => false,
            BackendChoice::Gpu => true,
            BackendChoice::Auto => !adapter.is_software(),
        }
    }
}

/// An op's parameters (shapes, settings), bindable on every backend to the
/// tensors it reads and writes.
pub trait Op {
    /// The op's tensors, named as in its WGSL bindings, on a backend whose tensors are `T`.
    type Tensors<'a, T: 'a>;
    fn bind_cpu(&self, cpu: &Cpu, t: Self::Tensors<'_, CpuTensor>) -> CpuOp;
    fn bind_gpu(&self, gpu: &Gpu, t: Self::Tensors<'_, gpu::Tensor>) -> gpu::Launch;
}

/// A tensor's length, whatever backend it lives on.
pub trait TensorLen {
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Where models run. See the module docs. (`'static`: a model holds its
/// family's networks as a trait object over its backend.)
pub trait Backend: 'static {
    /// A range of f32s in a buffer of this backend (cheap to clone: a handle).
    type Tensor: Clone + fmt::Debug + TensorLen;
    /// An op bound to its tensors.
    type Op;
    /// What ops are recorded into.
    type Pass<'p>;
    /// Reads one tensor back repeatedly (the GPU keeps a staging buffer).
    type Readback;

    /// One line for logs and the page: which device, and how it runs.
    fn describe(&self) -> String;
    /// Slices bound to ops must start at multiples of this many elements.
    fn alignment(&self) -> usize;

    fn zeros(&self, len: usize) -> Self::Tensor;
    fn upload(&self, data: &[f32]) -> Self::Tensor;
    /// Elements `start..start + len` (start a multiple of [`Backend::alignment`]).
    fn slice(&self, t: &Self::Tensor, start: usize, len: usize) -> Self::Tensor;
    /// Writes `data` into `t[start..]`, ordered before the next [`Backend::run`].
    fn write(&self, t: &Self::Tensor, start: usize, data: &[f32]);

    /// Binds `op` to its tensors. Made when a network is built, never inside a step.
    fn bind<O: Op>(&self, op: &O, t: O::Tensors<'_, Self::Tensor>) -> Self::Op;
    /// Names the layer that the ops bound from now on belong to ("" for
    /// none), for profiles. A backend that keeps no names ignores it.
    fn name_ops(&self, _layer: &str) {}

    /// Runs `record`, which records ops into the pass: one encoder and one
    /// submit on the GPU; the ops run in order on the CPU.
    fn run(&self, record: impl FnOnce(&mut Self::Pass<'_>));
    fn record(pass: &mut Self::Pass<'_>, op: &Self::Op);
    /// One op that records these in order.
    fn concat(&self, ops: Vec<Self::Op>) -> Self::Op;

    fn readback(&self, t: &Self::Tensor) -> Self::Readback;
    /// Begins a read of the tensor as it will be after everything run so
    /// far, for [`Backend::read`] to await later (the GPU copies it behind
    /// the work submitted; the CPU has nothing to begin).
    fn begin_read(&self, _r: &Self::Readback) {}
    /// The tensor's values after everything run so far. Never blocks on the web.
    fn read(&self, r: &Self::Readback) -> impl Future<Output = Result<Vec<f32>, BackendError>>;
}
