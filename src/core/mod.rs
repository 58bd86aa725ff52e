//! The shared vocabulary, at the bottom of the crate: shapes, activation
//! kinds, how a gradient is written, the optimizer and batch-norm settings,
//! the constants that WGSL and Rust share, and the backend error kinds.
//! Everything above imports these from here; this imports nothing of genlab.

pub mod geom;
pub mod rng;

pub use geom::Conv2dGeom;

use std::fmt;

/// Threads per workgroup of every one-dimensional kernel. The WGSL files
/// receive it as the `WG` constant that `backends::gpu::shaders` prepends, so
/// it is written only here.
pub const WORKGROUP_SIZE: u32 = 256;

/// Runs `$body` with `$act` bound to `$value`, the body written out once per
/// variant: inside it the activation is a constant, so a loop over a slice
/// takes its `match` once instead of once per element.
macro_rules! for_each_variant {
    ($value:expr, $act:ident => $body:block) => {
        match $value {
            Activation::None => {
                let $act = Activation::None;
                $body
            }
            Activation::Relu => {
                let $act = Activation::Relu;
                $body
            }
            Activation::LeakyRelu(s) => {
                let $act = Activation::LeakyRelu(s);
                $body
            }
            Activation::Tanh => {
                let $act = Activation::Tanh;
                $body
            }
            Activation::Sigmoid => {
                let $act = Activation::Sigmoid;
                $body
            }
        }
    };
}

/// A pointwise nonlinearity. Backward is written through the output y.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub enum Activation {
    #[default]
    None,
    Relu,
    /// Leaky ReLU with this (non-negative) slope for x < 0.
    LeakyRelu(f32),
    Tanh,
    Sigmoid,
}

/// The activation codes of the WGSL `act` fields (`shaders/activation.wgsl`
/// declares the same names from this list).
pub const ACTIVATION_CODES: [(&str, u32); 5] = [
    ("ACT_NONE", 0),
    ("ACT_RELU", 1),
    ("ACT_LEAKY_RELU", 2),
    ("ACT_TANH", 3),
    ("ACT_SIGMOID", 4),
];

impl Activation {
    pub fn apply(self, x: f32) -> f32 {
        match self {
            Activation::None => x,
            Activation::Relu => x.max(0.0),
            Activation::LeakyRelu(s) => {
                if x > 0.0 {
                    x
                } else {
                    s * x
                }
            }
            Activation::Tanh => x.tanh(),
            Activation::Sigmoid => 1.0 / (1.0 + (-x).exp()),
        }
    }

    /// d act / dx at the point where act(x) = y.
    pub fn grad_from_output(self, y: f32) -> f32 {
        match self {
            Activation::None => 1.0,
            Activation::Relu => (y > 0.0) as u8 as f32,
            Activation::LeakyRelu(s) => {
                if y > 0.0 {
                    1.0
                } else {
                    s
                }
            }
            Activation::Tanh => 1.0 - y * y,
            Activation::Sigmoid => y * (1.0 - y),
        }
    }

    /// ys[i] = act(ys[i] + bias) over a whole slice. The activation is
    /// matched once, not per element, so each variant's loop is plain
    /// arithmetic the compiler can vectorize.
    pub fn add_apply_slice(self, ys: &mut [f32], bias: f32) {
        for_each_variant!(self, act => {
            for y in ys.iter_mut() {
                *y = act.apply(*y + bias);
            }
        })
    }

    /// ys[i] = act(xs[i]), matched once per slice.
    pub fn apply_slice(self, ys: &mut [f32], xs: &[f32]) {
        for_each_variant!(self, act => {
            for (y, &x) in ys.iter_mut().zip(xs) {
                *y = act.apply(x);
            }
        })
    }

    /// dxs[i] += dys[i] · act'(x) where act(x) = ys[i], matched once per slice.
    pub fn backward_slice(self, dxs: &mut [f32], dys: &[f32], ys: &[f32]) {
        for_each_variant!(self, act => {
            for ((dx, &dy), &y) in dxs.iter_mut().zip(dys).zip(ys) {
                *dx += dy * act.grad_from_output(y);
            }
        })
    }

    /// The kernel's code (an index of [`ACTIVATION_CODES`]) and slope.
    pub fn code(self) -> (u32, f32) {
        match self {
            Activation::None => (ACTIVATION_CODES[0].1, 0.0),
            Activation::Relu => (ACTIVATION_CODES[1].1, 0.0),
            Activation::LeakyRelu(s) => {
                assert!(
                    s >= 0.0,
                    "leaky relu slope must be >= 0 (backward reads the sign of y), got {s}"
                );
                (ACTIVATION_CODES[2].1, s)
            }
            Activation::Tanh => (ACTIVATION_CODES[3].1, 0.0),
            Activation::Sigmoid => (ACTIVATION_CODES[4].1, 0.0),
        }
    }
}

/// How an op writes an input gradient: parameter gradients always
/// accumulate (they are zeroed once per step); an input gradient with a
/// single producer is written, which spares zeroing it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grad {
    Write,
    Accumulate,
}

impl Grad {
    pub fn accumulates(self) -> bool {
        self == Grad::Accumulate
    }

    pub fn from_accumulate(accumulate: bool) -> Grad {
        if accumulate {
            Grad::Accumulate
        } else {
            Grad::Write
        }
    }
}

/// A dense layer's product: x[N, d_in] → y[N, d_out].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinearShape {
    pub n: usize,
    pub d_in: usize,
    pub d_out: usize,
}

/// A general product C[M, N] (+)= op(A)·op(B) over K, A stored [M, K]
/// (or [K, M] if `trans_a`), B [K, N] (or [N, K] if `trans_b`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MatmulShape {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub trans_a: bool,
    pub trans_b: bool,
}

/// A per-channel layout x[N, C, P] (P pixels per channel; 1 for vectors).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChannelShape {
    pub n: usize,
    pub c: usize,
    pub p: usize,
}

impl ChannelShape {
    pub fn len(&self) -> usize {
        self.n * self.c * self.p
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Batch normalisation settings (Keras defaults: momentum 0.99, ε 1e-3).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchNormConfig {
    pub eps: f32,
    /// Weight of the old running statistics: r = momentum·r + (1 − momentum)·batch.
    pub momentum: f32,
}

impl Default for BatchNormConfig {
    fn default() -> Self {
        BatchNormConfig {
            eps: 1e-3,
            momentum: 0.99,
        }
    }
}

/// Adam's settings (defaults from the DCGAN tutorial: lr 1e-4).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamConfig {
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    /// The decay of a moving average of the weights kept beside them
    /// (Polyak averaging, "EMA" in GAN papers): after each update,
    /// avg = average·avg + (1 − average)·p. 0: none.
    pub average: f32,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig {
            lr: 1e-4,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-7,
            average: 0.0,
        }
    }
}

/// Where a random op draws from: key (seed, stream), counter (index, step).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RandomStream {
    pub seed: u32,
    pub stream: u32,
    pub step: u32,
}

/// What kind of failure a backend reports, for callers to match on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// No adapter, or one whose limits are too small.
    Unavailable,
    /// The device was lost (a driver reset, a browser reclaiming the GPU):
    /// everything made on it is gone; make a new backend and rebuild.
    DeviceLost,
    /// An allocation failed.
    OutOfMemory,
    /// What was asked cannot be done with these inputs.
    BadInput,
    /// A buffer could not be read back.
    Readback,
}

/// Why a backend could not do what was asked: a kind to match on and a
/// message for the person who has to act on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendError {
    pub kind: ErrorKind,
    pub message: String,
}

impl BackendError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> BackendError {
        BackendError {
            kind,
            message: message.into(),
        }
    }
}

impl fmt::Display for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for BackendError {}
