//! Every GPU op as a function that binds a kernel to its tensors and returns
//! the [`Launch`], named as its CPU reference in `crate::cpu`. Call these when
//! a network is built; record the launches in each step.
//!
//! Forward ops write their output. Parameter-gradient ops (`*_backward_weight`,
//! `bias_backward`, batch norm's dγ/dβ) accumulate, as in the CPU reference;
//! input-gradient ops take `accumulate` (false: write, which spares zeroing
//! activation gradients that have a single producer).
#![allow(clippy::too_many_arguments)] // each signature mirrors its kernel's bindings

use super::{grid_1d, Gpu, Kernel, Launch, Tensor};
use crate::cpu::{Activation, AdamConfig, BatchNormConfig};
use crate::geom::Conv2dGeom;
use bytemuck::{Pod, Zeroable};

const WG: usize = 256;

fn act_code(act: Activation) -> (u32, f32) {
    match act {
        Activation::None => (0, 0.0),
        Activation::Relu => (1, 0.0),
        Activation::LeakyRelu(s) => {
            assert!(
                s >= 0.0,
                "leaky relu slope must be >= 0 (backward reads the sign of y), got {s}"
            );
            (2, s)
        }
        Activation::Tanh => (3, 0.0),
        Activation::Sigmoid => (4, 0.0),
    }
}

fn check_len(op: &str, what: &str, t: &Tensor, need: usize) {
    assert!(
        t.len() >= need,
        "{op}: {what} has {} elements, needs {need}",
        t.len()
    );
}

// ---------------------------------------------------------------- matmul, dense

/// Mirrors `MatmulParams` in shaders/matmul.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
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
    pub _pad: [u32; 3],
}

/// C[M,N] (+)= act(op(A)·op(B) + bias).
pub fn matmul(
    gpu: &Gpu,
    c: &Tensor,
    a: &Tensor,
    b: &Tensor,
    bias: Option<&Tensor>,
    (m, n, k): (usize, usize, usize),
    trans_a: bool,
    trans_b: bool,
    accumulate: bool,
    act: Activation,
) -> Launch {
    check_len("matmul", "A", a, m * k);
    check_len("matmul", "B", b, k * n);
    check_len("matmul", "C", c, m * n);
    if let Some(bias) = bias {
        check_len("matmul", "bias", bias, n);
    }
    let (act, slope) = act_code(act);
    let params = MatmulParams {
        m: m as u32,
        n: n as u32,
        k: k as u32,
        trans_a: trans_a as u32,
        trans_b: trans_b as u32,
        accumulate: accumulate as u32,
        has_bias: bias.is_some() as u32,
        act,
        slope,
        _pad: [0; 3],
    };
    gpu.launch_gemm(
        Kernel::Matmul,
        &params,
        &[(1, Some(a)), (2, Some(b)), (3, bias), (4, Some(c))],
        (m, n, k),
    )
}

/// y[N, out] = act(x[N, in] · w[out, in]ᵀ + b).
pub fn linear_forward(
    gpu: &Gpu,
    y: &Tensor,
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    n: usize,
    d_in: usize,
    d_out: usize,
    act: Activation,
) -> Launch {
    matmul(gpu, y, x, w, b, (n, d_out, d_in), false, true, false, act)
}

/// dX (+)= dY·W.
pub fn linear_backward_input(
    gpu: &Gpu,
    dx: &Tensor,
    dy: &Tensor,
    w: &Tensor,
    n: usize,
    d_in: usize,
    d_out: usize,
    accumulate: bool,
) -> Launch {
    matmul(
        gpu,
        dx,
        dy,
        w,
        None,
        (n, d_in, d_out),
        false,
        false,
        accumulate,
        Activation::None,
    )
}

/// dW += dYᵀ·X.
pub fn linear_backward_weight(
    gpu: &Gpu,
    dw: &Tensor,
    dy: &Tensor,
    x: &Tensor,
    n: usize,
    d_in: usize,
    d_out: usize,
) -> Launch {
    matmul(
        gpu,
        dw,
        dy,
        x,
        None,
        (d_out, d_in, n),
        true,
        false,
        true,
        Activation::None,
    )
}

/// Mirrors `BiasParams` in shaders/bias.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BiasParams {
    pub n: u32,
    pub c: u32,
    pub p: u32,
    pub accumulate: u32,
}

/// db[c] += Σ_{n,p} dy[n, c, p].
pub fn bias_backward(gpu: &Gpu, db: &Tensor, dy: &Tensor, n: usize, c: usize, p: usize) -> Launch {
    check_len("bias_backward", "dy", dy, n * c * p);
    check_len("bias_backward", "db", db, c);
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
        Kernel::BiasBackward,
        &params,
        &[(1, Some(dy)), (2, Some(db))],
        [c as u32, 1, 1],
    )
}

// ---------------------------------------------------------------- convolutions

/// Mirrors `ConvParams` in shaders/conv.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
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
    pub _pad: u32,
}

fn conv_params(g: &Conv2dGeom, accumulate: bool, has_bias: bool, act: Activation) -> ConvParams {
    let (act, slope) = act_code(act);
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
        _pad: 0,
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

/// y = act(conv2d(x, w) + b).
pub fn conv2d_forward(
    gpu: &Gpu,
    y: &Tensor,
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    g: &Conv2dGeom,
    act: Activation,
) -> Launch {
    check_len("conv2d_forward", "x", x, g.input_len());
    check_len("conv2d_forward", "w", w, g.weight_len());
    check_len("conv2d_forward", "y", y, g.output_len());
    let params = conv_params(g, false, b.is_some(), act);
    let dims = (g.n * g.h_out * g.w_out, g.c_out, g.c_in * g.k * g.k);
    gpu.launch_gemm(
        Kernel::Conv2dForward,
        &params,
        &[(1, Some(x)), (2, Some(w)), (3, b), (4, Some(y))],
        dims,
    )
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

/// dX (+)= conv2d_transpose(dY, W).
pub fn conv2d_backward_input(
    gpu: &Gpu,
    dx: &Tensor,
    dy: &Tensor,
    w: &Tensor,
    g: &Conv2dGeom,
    accumulate: bool,
) -> Launch {
    conv2d_backward_input_via(gpu, dx, dy, w, g, accumulate, ConvInputPath::Auto)
}

/// [`conv2d_backward_input`] by a chosen path (for tests and benchmarks).
pub fn conv2d_backward_input_via(
    gpu: &Gpu,
    dx: &Tensor,
    dy: &Tensor,
    w: &Tensor,
    g: &Conv2dGeom,
    accumulate: bool,
    path: ConvInputPath,
) -> Launch {
    conv_input_grad(
        gpu,
        "conv2d_backward_input",
        dx,
        dy,
        w,
        None,
        g,
        accumulate,
        Activation::None,
        path,
    )
}

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
            Kernel::Conv2dBackwardInputDirect,
            &base,
            &bindings,
            grid_1d(g.input_len(), WG),
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
            phases.push(gpu.launch_gemm(Kernel::Conv2dBackwardInput, &params, &bindings, dims));
        }
    }
    Launch::concat(phases)
}

/// dW += Σ dY ⊗ patches of X.
pub fn conv2d_backward_weight(
    gpu: &Gpu,
    dw: &Tensor,
    dy: &Tensor,
    x: &Tensor,
    g: &Conv2dGeom,
) -> Launch {
    check_len("conv2d_backward_weight", "x", x, g.input_len());
    check_len("conv2d_backward_weight", "dw", dw, g.weight_len());
    check_len("conv2d_backward_weight", "dy", dy, g.output_len());
    let params = conv_params(g, true, false, Activation::None);
    let dims = (g.c_out, g.c_in * g.k * g.k, g.n * g.h_out * g.w_out);
    gpu.launch_gemm(
        Kernel::Conv2dBackwardWeight,
        &params,
        &[(1, Some(dy)), (2, Some(x)), (4, Some(dw))],
        dims,
    )
}

/// The transposed convolution of `g`: y[N, g.c_in, g.h, g.w] = act(conv2d_backward_input(x) + b).
pub fn conv_transpose2d_forward(
    gpu: &Gpu,
    y: &Tensor,
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    g: &Conv2dGeom,
    act: Activation,
) -> Launch {
    if let Some(b) = b {
        check_len("conv_transpose2d_forward", "b", b, g.c_in);
    }
    conv_input_grad(
        gpu,
        "conv_transpose2d_forward",
        y,
        x,
        w,
        b,
        g,
        false,
        act,
        ConvInputPath::Auto,
    )
}

/// dX (+)= conv2d(dY, W): the input gradient of a transposed convolution.
pub fn conv_transpose2d_backward_input(
    gpu: &Gpu,
    dx: &Tensor,
    dy: &Tensor,
    w: &Tensor,
    g: &Conv2dGeom,
    accumulate: bool,
) -> Launch {
    check_len("conv_transpose2d_backward_input", "dy", dy, g.input_len());
    check_len("conv_transpose2d_backward_input", "w", w, g.weight_len());
    check_len("conv_transpose2d_backward_input", "dx", dx, g.output_len());
    let params = conv_params(g, accumulate, false, Activation::None);
    let dims = (g.n * g.h_out * g.w_out, g.c_out, g.c_in * g.k * g.k);
    gpu.launch_gemm(
        Kernel::Conv2dForward,
        &params,
        &[(1, Some(dy)), (2, Some(w)), (3, None), (4, Some(dx))],
        dims,
    )
}

/// dW += the weight gradient of a transposed convolution (dy and x swap roles).
pub fn conv_transpose2d_backward_weight(
    gpu: &Gpu,
    dw: &Tensor,
    dy: &Tensor,
    x: &Tensor,
    g: &Conv2dGeom,
) -> Launch {
    conv2d_backward_weight(gpu, dw, x, dy, g)
}

// ---------------------------------------------------------------- elementwise

/// Mirrors `ElementwiseParams` in shaders/elementwise.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct ElementwiseParams {
    pub len: u32,
    pub act: u32,
    pub slope: f32,
    pub accumulate: u32,
    pub value: f32,
    pub _pad: [u32; 3],
}

fn elementwise(len: usize, act: Activation, accumulate: bool, value: f32) -> ElementwiseParams {
    let (act, slope) = act_code(act);
    ElementwiseParams {
        len: len as u32,
        act,
        slope,
        accumulate: accumulate as u32,
        value,
        _pad: [0; 3],
    }
}

/// y = act(x).
pub fn activation_forward(gpu: &Gpu, y: &Tensor, x: &Tensor, act: Activation) -> Launch {
    check_len("activation_forward", "y", y, x.len());
    let params = elementwise(x.len(), act, false, 0.0);
    gpu.launch(
        Kernel::ActivationForward,
        &params,
        &[(1, Some(x)), (2, Some(y))],
        grid_1d(x.len(), WG),
    )
}

/// dx (+)= dy · act'(x), through y = act(x).
pub fn activation_backward(
    gpu: &Gpu,
    dx: &Tensor,
    dy: &Tensor,
    y: &Tensor,
    act: Activation,
    accumulate: bool,
) -> Launch {
    check_len("activation_backward", "y", y, dy.len());
    check_len("activation_backward", "dx", dx, dy.len());
    let params = elementwise(dy.len(), act, accumulate, 0.0);
    gpu.launch(
        Kernel::ActivationBackward,
        &params,
        &[(3, Some(dy)), (4, Some(y)), (5, Some(dx))],
        grid_1d(dy.len(), WG),
    )
}

/// out = value (`fill(g, 0.0)` zeroes gradients).
pub fn fill(gpu: &Gpu, out: &Tensor, value: f32) -> Launch {
    let params = elementwise(out.len(), Activation::None, false, value);
    gpu.launch(
        Kernel::Fill,
        &params,
        &[(2, Some(out))],
        grid_1d(out.len(), WG),
    )
}

/// step[0] += 1 (the counter is a one-element tensor holding a u32).
pub fn step_increment(gpu: &Gpu, step: &Tensor) -> Launch {
    gpu.launch(
        Kernel::StepIncrement,
        &elementwise(1, Activation::None, false, 0.0),
        &[(6, Some(step))],
        [1, 1, 1],
    )
}

// ---------------------------------------------------------------- batch norm

/// Mirrors `BatchNormParams` in shaders/batchnorm.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct BatchNormParams {
    pub n: u32,
    pub c: u32,
    pub p: u32,
    pub accumulate: u32,
    pub eps: f32,
    pub momentum: f32,
    pub _pad: [u32; 2],
}

/// The tensors of one batch-norm layer over [N, C, P].
pub type BatchNormTensors<'a> = crate::backend::BatchNormTensors<'a, Tensor>;

fn bn_params(
    (n, c, p): (usize, usize, usize),
    cfg: BatchNormConfig,
    accumulate: bool,
) -> BatchNormParams {
    assert!(
        c <= 65535,
        "batchnorm: {c} channels exceed one workgroup row"
    );
    BatchNormParams {
        n: n as u32,
        c: c as u32,
        p: p as u32,
        accumulate: accumulate as u32,
        eps: cfg.eps,
        momentum: cfg.momentum,
        _pad: [0; 2],
    }
}

pub fn batchnorm_forward_train(
    gpu: &Gpu,
    t: &BatchNormTensors,
    shape: (usize, usize, usize),
    cfg: BatchNormConfig,
) -> Launch {
    let params = bn_params(shape, cfg, false);
    let bindings = [
        (1, Some(t.x)),
        (2, Some(t.gamma)),
        (3, Some(t.beta)),
        (4, Some(t.y)),
        (5, Some(t.mean)),
        (6, Some(t.invstd)),
        (7, Some(t.running_mean)),
        (8, Some(t.running_var)),
    ];
    gpu.launch(
        Kernel::BatchnormForwardTrain,
        &params,
        &bindings,
        [shape.1 as u32, 1, 1],
    )
}

pub fn batchnorm_forward_eval(
    gpu: &Gpu,
    t: &BatchNormTensors,
    shape: (usize, usize, usize),
    cfg: BatchNormConfig,
) -> Launch {
    let params = bn_params(shape, cfg, false);
    let bindings = [
        (1, Some(t.x)),
        (2, Some(t.gamma)),
        (3, Some(t.beta)),
        (4, Some(t.y)),
        (7, Some(t.running_mean)),
        (8, Some(t.running_var)),
    ];
    gpu.launch(
        Kernel::BatchnormForwardEval,
        &params,
        &bindings,
        grid_1d(shape.0 * shape.1 * shape.2, WG),
    )
}

/// dγ += Σ dy·x̂, dβ += Σ dy, dx (+)= ….
pub fn batchnorm_backward(
    gpu: &Gpu,
    dx: &Tensor,
    dgamma: &Tensor,
    dbeta: &Tensor,
    dy: &Tensor,
    t: &BatchNormTensors,
    shape: (usize, usize, usize),
    accumulate: bool,
) -> Launch {
    let params = bn_params(shape, BatchNormConfig::default(), accumulate);
    let bindings = [
        (1, Some(t.x)),
        (2, Some(t.gamma)),
        (5, Some(t.mean)),
        (6, Some(t.invstd)),
        (9, Some(dy)),
        (10, Some(dx)),
        (11, Some(dgamma)),
        (12, Some(dbeta)),
    ];
    gpu.launch(
        Kernel::BatchnormBackward,
        &params,
        &bindings,
        [shape.1 as u32, 1, 1],
    )
}

// ---------------------------------------------------------------- randomness

/// Mirrors `RandomParams` in shaders/random.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct RandomParams {
    pub len: u32,
    pub seed: u32,
    pub stream: u32,
    pub accumulate: u32,
    pub rate: f32,
    pub mean: f32,
    pub stddev: f32,
    pub _pad: u32,
}

/// y = keep ? x/(1 − rate) : 0; the mask is drawn from (seed, stream) at the
/// step held in `step` (a one-element u32 tensor).
pub fn dropout_forward(
    gpu: &Gpu,
    y: &Tensor,
    x: &Tensor,
    rate: f32,
    seed: u32,
    stream: u32,
    step: &Tensor,
) -> Launch {
    assert!(
        (0.0..1.0).contains(&rate),
        "dropout rate must be in [0, 1), got {rate}"
    );
    let params = RandomParams {
        len: x.len() as u32,
        seed,
        stream,
        accumulate: 0,
        rate,
        mean: 0.0,
        stddev: 0.0,
        _pad: 0,
    };
    gpu.launch(
        Kernel::DropoutForward,
        &params,
        &[(1, Some(step)), (2, Some(x)), (3, Some(y))],
        grid_1d(x.len(), WG),
    )
}

/// dx (+)= keep ? dy/(1 − rate) : 0, the same mask as the forward at the same step.
pub fn dropout_backward(
    gpu: &Gpu,
    dx: &Tensor,
    dy: &Tensor,
    rate: f32,
    seed: u32,
    stream: u32,
    step: &Tensor,
    accumulate: bool,
) -> Launch {
    let params = RandomParams {
        len: dy.len() as u32,
        seed,
        stream,
        accumulate: accumulate as u32,
        rate,
        mean: 0.0,
        stddev: 0.0,
        _pad: 0,
    };
    gpu.launch(
        Kernel::DropoutBackward,
        &params,
        &[(1, Some(step)), (2, Some(dy)), (3, Some(dx))],
        grid_1d(dy.len(), WG),
    )
}

/// out = mean + std·N(0, 1).
pub fn gaussian_noise(
    gpu: &Gpu,
    out: &Tensor,
    mean: f32,
    std: f32,
    seed: u32,
    stream: u32,
    step: &Tensor,
) -> Launch {
    let params = RandomParams {
        len: out.len() as u32,
        seed,
        stream,
        accumulate: 0,
        rate: 0.0,
        mean,
        stddev: std,
        _pad: 0,
    };
    gpu.launch(
        Kernel::GaussianNoise,
        &params,
        &[(1, Some(step)), (3, Some(out))],
        grid_1d(out.len(), WG),
    )
}

// ---------------------------------------------------------------- losses

/// Mirrors `LossParams` in shaders/loss.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct LossParams {
    pub len: u32,
    pub has_target: u32,
    pub target_value: f32,
    pub scale: f32,
    pub slot: u32,
    pub classes: u32,
    pub _pad: [u32; 2],
}

/// A loss's targets on the GPU.
pub type GpuTarget<'a> = crate::backend::LossTarget<'a, Tensor>;

fn elementwise_loss(
    gpu: &Gpu,
    kernel: Kernel,
    dx: &Tensor,
    x: &Tensor,
    t: GpuTarget,
    scale: f32,
    loss: &Tensor,
    slot: usize,
) -> Launch {
    check_len(kernel.entry_point(), "dx", dx, x.len());
    check_len(kernel.entry_point(), "loss", loss, slot + 1);
    let (has_target, target_value, target) = match t {
        GpuTarget::Const(v) => (0, v, None),
        GpuTarget::Values(t) => {
            check_len(kernel.entry_point(), "target", t, x.len());
            (1, 0.0, Some(t))
        }
    };
    let params = LossParams {
        len: x.len() as u32,
        has_target,
        target_value,
        scale,
        slot: slot as u32,
        classes: 0,
        _pad: [0; 2],
    };
    gpu.launch(
        kernel,
        &params,
        &[(1, Some(x)), (2, target), (3, Some(dx)), (4, Some(loss))],
        [1, 1, 1],
    )
}

/// Mean BCE of logits; loss[slot] = the value, dx = its gradient.
pub fn bce_with_logits(
    gpu: &Gpu,
    dx: &Tensor,
    x: &Tensor,
    t: GpuTarget,
    loss: &Tensor,
    slot: usize,
) -> Launch {
    elementwise_loss(
        gpu,
        Kernel::BceWithLogits,
        dx,
        x,
        t,
        1.0 / x.len() as f32,
        loss,
        slot,
    )
}

/// BCE of logits summed per image, averaged over `n` images.
pub fn bernoulli_reconstruction(
    gpu: &Gpu,
    dx: &Tensor,
    logits: &Tensor,
    t: &Tensor,
    n: usize,
    loss: &Tensor,
    slot: usize,
) -> Launch {
    elementwise_loss(
        gpu,
        Kernel::BceWithLogits,
        dx,
        logits,
        GpuTarget::Values(t),
        1.0 / n as f32,
        loss,
        slot,
    )
}

/// Mean of ½(x − t)².
pub fn least_squares(
    gpu: &Gpu,
    dx: &Tensor,
    x: &Tensor,
    t: GpuTarget,
    loss: &Tensor,
    slot: usize,
) -> Launch {
    elementwise_loss(
        gpu,
        Kernel::LeastSquares,
        dx,
        x,
        t,
        1.0 / x.len() as f32,
        loss,
        slot,
    )
}

/// Mean of (x − t)².
pub fn mse(gpu: &Gpu, dx: &Tensor, x: &Tensor, t: GpuTarget, loss: &Tensor, slot: usize) -> Launch {
    elementwise_loss(gpu, Kernel::Mse, dx, x, t, 1.0 / x.len() as f32, loss, slot)
}

/// β·KL(N(μ, e^lv) ‖ N(0, I)) summed per image, averaged over `n` images.
pub fn gaussian_kl(
    gpu: &Gpu,
    dmu: &Tensor,
    dlogvar: &Tensor,
    mu: &Tensor,
    logvar: &Tensor,
    n: usize,
    beta: f32,
    loss: &Tensor,
    slot: usize,
) -> Launch {
    check_len("gaussian_kl", "logvar", logvar, mu.len());
    check_len("gaussian_kl", "loss", loss, slot + 1);
    let params = LossParams {
        len: mu.len() as u32,
        has_target: 0,
        target_value: 0.0,
        scale: beta / n as f32,
        slot: slot as u32,
        classes: 0,
        _pad: [0; 2],
    };
    let bindings = [
        (4, Some(loss)),
        (5, Some(mu)),
        (6, Some(logvar)),
        (7, Some(dmu)),
        (8, Some(dlogvar)),
    ];
    gpu.launch(Kernel::GaussianKl, &params, &bindings, [1, 1, 1])
}

/// Softmax cross-entropy of `n` rows of logits against target distributions
/// (one-hot labels), averaged over the rows.
pub fn softmax_cross_entropy(
    gpu: &Gpu,
    dx: &Tensor,
    x: &Tensor,
    t: &Tensor,
    n: usize,
    loss: &Tensor,
    slot: usize,
) -> Launch {
    let name = "softmax_cross_entropy";
    assert!(
        n > 0 && x.len().is_multiple_of(n),
        "{name}: {} logits are not {n} rows",
        x.len()
    );
    check_len(name, "dx", dx, x.len());
    check_len(name, "target", t, x.len());
    check_len(name, "loss", loss, slot + 1);
    let params = LossParams {
        len: x.len() as u32,
        has_target: 1,
        target_value: 0.0,
        scale: 1.0 / n as f32,
        slot: slot as u32,
        classes: (x.len() / n) as u32,
        _pad: [0; 2],
    };
    gpu.launch(
        Kernel::SoftmaxCrossEntropy,
        &params,
        &[(1, Some(x)), (2, Some(t)), (3, Some(dx)), (4, Some(loss))],
        [1, 1, 1],
    )
}

// ---------------------------------------------------------------- reparameterisation

/// Mirrors `ReparamParams` in shaders/reparam.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct ReparamParams {
    pub len: u32,
    pub accumulate: u32,
    pub _pad: [u32; 2],
}

/// z = μ + e^{½·lv}·ε.
pub fn reparameterize_forward(
    gpu: &Gpu,
    z: &Tensor,
    mu: &Tensor,
    logvar: &Tensor,
    eps: &Tensor,
) -> Launch {
    let params = ReparamParams {
        len: mu.len() as u32,
        accumulate: 0,
        _pad: [0; 2],
    };
    gpu.launch(
        Kernel::ReparameterizeForward,
        &params,
        &[
            (1, Some(mu)),
            (2, Some(logvar)),
            (3, Some(eps)),
            (4, Some(z)),
        ],
        grid_1d(mu.len(), WG),
    )
}

/// dμ (+)= dz, dlv (+)= dz·ε·½e^{½·lv}.
pub fn reparameterize_backward(
    gpu: &Gpu,
    dmu: &Tensor,
    dlogvar: &Tensor,
    dz: &Tensor,
    logvar: &Tensor,
    eps: &Tensor,
    accumulate: bool,
) -> Launch {
    let params = ReparamParams {
        len: dz.len() as u32,
        accumulate: accumulate as u32,
        _pad: [0; 2],
    };
    let bindings = [
        (2, Some(logvar)),
        (3, Some(eps)),
        (5, Some(dz)),
        (6, Some(dmu)),
        (7, Some(dlogvar)),
    ];
    gpu.launch(
        Kernel::ReparameterizeBackward,
        &params,
        &bindings,
        grid_1d(dz.len(), WG),
    )
}

// ---------------------------------------------------------------- optimiser

/// Mirrors `AdamParams` in shaders/adam.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct AdamParams {
    pub len: u32,
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub _pad: [u32; 3],
}

/// One Adam update of p from g at the step held in `step`.
pub fn adam_step(
    gpu: &Gpu,
    p: &Tensor,
    g: &Tensor,
    m: &Tensor,
    v: &Tensor,
    step: &Tensor,
    cfg: AdamConfig,
) -> Launch {
    check_len("adam_step", "g", g, p.len());
    check_len("adam_step", "m", m, p.len());
    check_len("adam_step", "v", v, p.len());
    let params = AdamParams {
        len: p.len() as u32,
        lr: cfg.lr,
        beta1: cfg.beta1,
        beta2: cfg.beta2,
        eps: cfg.eps,
        _pad: [0; 3],
    };
    gpu.launch(
        Kernel::AdamStep,
        &params,
        &[
            (1, Some(step)),
            (2, Some(p)),
            (3, Some(g)),
            (4, Some(m)),
            (5, Some(v)),
        ],
        grid_1d(p.len(), WG),
    )
}
