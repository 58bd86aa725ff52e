//! One interface over the two places a model can run: the GPU ([`crate::gpu::Gpu`],
//! WGSL kernels through wgpu) and the CPU ([`Cpu`], the fast ops of
//! [`crate::fast`] and the reference of [`crate::cpu`]). Layers and models are
//! written once over [`Backend`].
//!
//! The shape of it is the GPU's: a tensor is a range of a buffer; an op binds
//! a kernel to its tensors once, when a network is built, and returns an
//! [`Backend::Op`]; a training step records its ops, in order, into one pass
//! ([`Backend::run`]), which the GPU submits once and the CPU runs as it goes.
//! Each op has the name, arguments and semantics of its CPU reference
//! (forward writes; parameter gradients accumulate; input gradients write or
//! accumulate as asked).
#![allow(clippy::too_many_arguments)] // each op mirrors its kernel's bindings

mod cpu;

pub use cpu::{Cpu, CpuOp, CpuPass, CpuTensor};

use crate::cpu::{Activation, AdamConfig, BatchNormConfig};
use crate::geom::Conv2dGeom;
use std::fmt;
use std::future::Future;

/// A loss's targets: one value for every element (a GAN's real/fake label) or one each.
#[derive(Debug)]
pub enum LossTarget<'a, T> {
    Const(f32),
    Values(&'a T),
}

impl<T> Clone for LossTarget<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for LossTarget<'_, T> {}

/// The tensors of one batch-norm layer over [N, C, P].
pub struct BatchNormTensors<'a, T> {
    pub x: &'a T,
    pub gamma: &'a T,
    pub beta: &'a T,
    pub y: &'a T,
    pub mean: &'a T,
    pub invstd: &'a T,
    pub running_mean: &'a T,
    pub running_var: &'a T,
}

/// Why a backend could not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendError(pub String);

impl fmt::Display for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BackendError {}

impl From<crate::gpu::GpuError> for BackendError {
    fn from(e: crate::gpu::GpuError) -> Self {
        BackendError(e.to_string())
    }
}

/// A tensor's length, whatever backend it lives on.
pub trait TensorLen {
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Where models run. See the module docs.
pub trait Backend {
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

    /// Runs `record`, which records ops into the pass: one encoder and one
    /// submit on the GPU; the ops run in order on the CPU.
    fn run(&self, record: impl FnOnce(&mut Self::Pass<'_>));
    fn record(pass: &mut Self::Pass<'_>, op: &Self::Op);
    /// One op that records these in order.
    fn concat(&self, ops: Vec<Self::Op>) -> Self::Op;

    fn readback(&self, t: &Self::Tensor) -> Self::Readback;
    /// The tensor's values after everything run so far. Never blocks on the web.
    fn read(&self, r: &Self::Readback) -> impl Future<Output = Result<Vec<f32>, BackendError>>;

    // ------------------------------------------------------------ dense

    fn linear_forward(
        &self,
        y: &Self::Tensor,
        x: &Self::Tensor,
        w: &Self::Tensor,
        b: Option<&Self::Tensor>,
        n: usize,
        d_in: usize,
        d_out: usize,
        act: Activation,
    ) -> Self::Op;
    fn linear_backward_input(
        &self,
        dx: &Self::Tensor,
        dy: &Self::Tensor,
        w: &Self::Tensor,
        n: usize,
        d_in: usize,
        d_out: usize,
        accumulate: bool,
    ) -> Self::Op;
    fn linear_backward_weight(
        &self,
        dw: &Self::Tensor,
        dy: &Self::Tensor,
        x: &Self::Tensor,
        n: usize,
        d_in: usize,
        d_out: usize,
    ) -> Self::Op;
    fn bias_backward(
        &self,
        db: &Self::Tensor,
        dy: &Self::Tensor,
        n: usize,
        c: usize,
        p: usize,
    ) -> Self::Op;

    // ------------------------------------------------------------ convolutions

    fn conv2d_forward(
        &self,
        y: &Self::Tensor,
        x: &Self::Tensor,
        w: &Self::Tensor,
        b: Option<&Self::Tensor>,
        g: &Conv2dGeom,
        act: Activation,
    ) -> Self::Op;
    fn conv2d_backward_input(
        &self,
        dx: &Self::Tensor,
        dy: &Self::Tensor,
        w: &Self::Tensor,
        g: &Conv2dGeom,
        accumulate: bool,
    ) -> Self::Op;
    fn conv2d_backward_weight(
        &self,
        dw: &Self::Tensor,
        dy: &Self::Tensor,
        x: &Self::Tensor,
        g: &Conv2dGeom,
    ) -> Self::Op;
    fn conv_transpose2d_forward(
        &self,
        y: &Self::Tensor,
        x: &Self::Tensor,
        w: &Self::Tensor,
        b: Option<&Self::Tensor>,
        g: &Conv2dGeom,
        act: Activation,
    ) -> Self::Op;
    fn conv_transpose2d_backward_input(
        &self,
        dx: &Self::Tensor,
        dy: &Self::Tensor,
        w: &Self::Tensor,
        g: &Conv2dGeom,
        accumulate: bool,
    ) -> Self::Op;
    fn conv_transpose2d_backward_weight(
        &self,
        dw: &Self::Tensor,
        dy: &Self::Tensor,
        x: &Self::Tensor,
        g: &Conv2dGeom,
    ) -> Self::Op;

    // ------------------------------------------------------------ elementwise

    fn activation_forward(&self, y: &Self::Tensor, x: &Self::Tensor, act: Activation) -> Self::Op;
    fn activation_backward(
        &self,
        dx: &Self::Tensor,
        dy: &Self::Tensor,
        y: &Self::Tensor,
        act: Activation,
        accumulate: bool,
    ) -> Self::Op;
    /// dst += src (an identity activation's backward).
    fn add_assign(&self, dst: &Self::Tensor, src: &Self::Tensor) -> Self::Op {
        self.activation_backward(dst, src, src, Activation::None, true)
    }
    fn fill(&self, out: &Self::Tensor, value: f32) -> Self::Op;
    /// step[0] += 1, the step counter held as one u32.
    fn step_increment(&self, step: &Self::Tensor) -> Self::Op;

    // ------------------------------------------------------------ batch norm

    fn batchnorm_forward_train(
        &self,
        t: &BatchNormTensors<Self::Tensor>,
        shape: (usize, usize, usize),
        cfg: BatchNormConfig,
    ) -> Self::Op;
    fn batchnorm_forward_eval(
        &self,
        t: &BatchNormTensors<Self::Tensor>,
        shape: (usize, usize, usize),
        cfg: BatchNormConfig,
    ) -> Self::Op;
    fn batchnorm_backward(
        &self,
        dx: &Self::Tensor,
        dgamma: &Self::Tensor,
        dbeta: &Self::Tensor,
        dy: &Self::Tensor,
        t: &BatchNormTensors<Self::Tensor>,
        shape: (usize, usize, usize),
        accumulate: bool,
    ) -> Self::Op;

    // ------------------------------------------------------------ randomness

    fn dropout_forward(
        &self,
        y: &Self::Tensor,
        x: &Self::Tensor,
        rate: f32,
        seed: u32,
        stream: u32,
        step: &Self::Tensor,
    ) -> Self::Op;
    fn dropout_backward(
        &self,
        dx: &Self::Tensor,
        dy: &Self::Tensor,
        rate: f32,
        seed: u32,
        stream: u32,
        step: &Self::Tensor,
        accumulate: bool,
    ) -> Self::Op;
    fn gaussian_noise(
        &self,
        out: &Self::Tensor,
        mean: f32,
        std: f32,
        seed: u32,
        stream: u32,
        step: &Self::Tensor,
    ) -> Self::Op;

    // ------------------------------------------------------------ losses (loss[slot] = value, dx = gradient)

    fn bce_with_logits(
        &self,
        dx: &Self::Tensor,
        x: &Self::Tensor,
        t: LossTarget<Self::Tensor>,
        loss: &Self::Tensor,
        slot: usize,
    ) -> Self::Op;
    fn bernoulli_reconstruction(
        &self,
        dx: &Self::Tensor,
        logits: &Self::Tensor,
        t: &Self::Tensor,
        n: usize,
        loss: &Self::Tensor,
        slot: usize,
    ) -> Self::Op;
    fn least_squares(
        &self,
        dx: &Self::Tensor,
        x: &Self::Tensor,
        t: LossTarget<Self::Tensor>,
        loss: &Self::Tensor,
        slot: usize,
    ) -> Self::Op;
    fn mse(
        &self,
        dx: &Self::Tensor,
        x: &Self::Tensor,
        t: LossTarget<Self::Tensor>,
        loss: &Self::Tensor,
        slot: usize,
    ) -> Self::Op;
    /// Softmax cross-entropy of `n` rows of logits against target
    /// distributions (one-hot labels), averaged over the rows.
    fn softmax_cross_entropy(
        &self,
        dx: &Self::Tensor,
        logits: &Self::Tensor,
        t: &Self::Tensor,
        n: usize,
        loss: &Self::Tensor,
        slot: usize,
    ) -> Self::Op;
    fn gaussian_kl(
        &self,
        dmu: &Self::Tensor,
        dlogvar: &Self::Tensor,
        mu: &Self::Tensor,
        logvar: &Self::Tensor,
        n: usize,
        beta: f32,
        loss: &Self::Tensor,
        slot: usize,
    ) -> Self::Op;

    // ------------------------------------------------------------ VAE, optimiser

    fn reparameterize_forward(
        &self,
        z: &Self::Tensor,
        mu: &Self::Tensor,
        logvar: &Self::Tensor,
        eps: &Self::Tensor,
    ) -> Self::Op;
    fn reparameterize_backward(
        &self,
        dmu: &Self::Tensor,
        dlogvar: &Self::Tensor,
        dz: &Self::Tensor,
        logvar: &Self::Tensor,
        eps: &Self::Tensor,
        accumulate: bool,
    ) -> Self::Op;
    fn adam_step(
        &self,
        p: &Self::Tensor,
        g: &Self::Tensor,
        m: &Self::Tensor,
        v: &Self::Tensor,
        step: &Self::Tensor,
        cfg: AdamConfig,
    ) -> Self::Op;
}
