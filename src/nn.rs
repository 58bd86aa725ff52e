//! Layers on the GPU, and the parameter arena they share.
//!
//! A layer is a plain struct that owns its activations and gradients and the
//! [`Launch`]es of its forward and backward, all made when the network is
//! built; `forward`/`backward` only record those launches into a compute pass.
//! A model's parameters live in one [`ParamArena`]: one buffer of values, one
//! of gradients, two of Adam moments, so zeroing the gradients and the Adam
//! update are one dispatch each, whatever the number of layers.
//!
//! A training step is then a list of calls recorded into one encoder and
//! submitted once (see `tests/gpu_training.rs`):
//! `arena.zero_grad(pass)`, the layers' `forward`, the loss, the layers'
//! `backward` in reverse, `arena.update(pass)`.

use crate::cpu::{Activation, AdamConfig, BatchNormConfig};
use crate::geom::Conv2dGeom;
use crate::gpu::ops::{self, BatchNormTensors};
use crate::gpu::{Gpu, Launch, Tensor};
use crate::rng::Rng;

/// A parameter's place in its arena.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParamId(usize);

#[derive(Clone, Debug)]
struct Slot {
    name: String,
    offset: usize,
    len: usize,
}

/// Collects a model's parameters (with their initial values) before the arena exists.
pub struct ParamsBuilder {
    align: usize,
    slots: Vec<Slot>,
    init: Vec<f32>,
}

impl ParamsBuilder {
    pub fn new(gpu: &Gpu) -> Self {
        ParamsBuilder {
            align: (gpu.storage_alignment() / 4) as usize,
            slots: Vec::new(),
            init: Vec::new(),
        }
    }

    /// Adds a parameter with these initial values; each starts on a binding boundary.
    pub fn add(&mut self, name: &str, init: Vec<f32>) -> ParamId {
        let offset = self.init.len().next_multiple_of(self.align);
        self.init.resize(offset, 0.0);
        self.slots.push(Slot {
            name: name.to_string(),
            offset,
            len: init.len(),
        });
        self.init.extend(init);
        ParamId(self.slots.len() - 1)
    }

    pub fn build(self, gpu: &Gpu, adam: AdamConfig) -> ParamArena {
        let len = self.init.len();
        let values = Tensor::from_slice(gpu, &self.init);
        let grads = Tensor::zeros(gpu, len);
        let m = Tensor::zeros(gpu, len);
        let v = Tensor::zeros(gpu, len);
        let step = Tensor::zeros(gpu, 1);
        let zero = ops::fill(gpu, &grads, 0.0);
        let tick = ops::step_increment(gpu, &step);
        let adam = ops::adam_step(gpu, &values, &grads, &m, &v, &step, adam);
        ParamArena {
            values,
            grads,
            step,
            slots: self.slots,
            zero,
            tick,
            adam,
            _moments: [m, v],
        }
    }
}

/// All parameters of a model, their gradients and Adam state, and the step counter.
pub struct ParamArena {
    pub values: Tensor,
    pub grads: Tensor,
    /// One u32: the number of updates so far (Adam's t; the RNG's step).
    pub step: Tensor,
    slots: Vec<Slot>,
    zero: Launch,
    tick: Launch,
    adam: Launch,
    _moments: [Tensor; 2],
}

impl ParamArena {
    pub fn value(&self, gpu: &Gpu, id: ParamId) -> Tensor {
        let s = &self.slots[id.0];
        self.values.slice(gpu, s.offset, s.len)
    }

    pub fn grad(&self, gpu: &Gpu, id: ParamId) -> Tensor {
        let s = &self.slots[id.0];
        self.grads.slice(gpu, s.offset, s.len)
    }

    pub fn name(&self, id: ParamId) -> &str {
        &self.slots[id.0].name
    }

    /// Number of parameters (without the alignment padding).
    pub fn count(&self) -> usize {
        self.slots.iter().map(|s| s.len).sum()
    }

    /// Records: every gradient = 0.
    pub fn zero_grad(&self, pass: &mut wgpu::ComputePass<'_>) {
        self.zero.record(pass);
    }

    /// Records: step += 1, then one Adam update of every parameter.
    pub fn update(&self, pass: &mut wgpu::ComputePass<'_>) {
        self.tick.record(pass);
        self.adam.record(pass);
    }

    /// Reads one parameter's values back (outside a step).
    pub async fn read(&self, gpu: &Gpu, id: ParamId) -> Result<Vec<f32>, crate::gpu::GpuError> {
        self.value(gpu, id).read(gpu).await
    }
}

/// The gradient before a fused activation, dz = dy·act'(y): a new tensor and
/// the launch that fills it, or `None` (use dy itself) when there is no activation.
fn pre_activation_grad(
    gpu: &Gpu,
    act: Activation,
    y: &Tensor,
    dy: &Tensor,
    backward: &mut Vec<Launch>,
) -> Option<Tensor> {
    (act != Activation::None).then(|| {
        let dz = Tensor::zeros(gpu, dy.len());
        backward.push(ops::activation_backward(gpu, &dz, dy, y, act, false));
        dz
    })
}

/// Records launches in order.
fn record_all(launches: &[Launch], pass: &mut wgpu::ComputePass<'_>) {
    for l in launches {
        l.record(pass);
    }
}

/// Glorot/Xavier uniform initial weights (the Keras default for Dense and Conv).
pub fn glorot_uniform(rng: &mut Rng, fan_in: usize, fan_out: usize, len: usize) -> Vec<f32> {
    let limit = (6.0 / (fan_in + fan_out) as f32).sqrt();
    rng.uniform_vec(len, -limit, limit)
}

/// The parameters of a [`Linear`] layer, declared before the arena is built.
#[derive(Clone, Copy, Debug)]
pub struct LinearParams {
    pub w: ParamId,
    pub b: Option<ParamId>,
    pub d_in: usize,
    pub d_out: usize,
}

impl LinearParams {
    /// w[out, in] Glorot-uniform, b = 0.
    pub fn declare(
        builder: &mut ParamsBuilder,
        name: &str,
        d_in: usize,
        d_out: usize,
        bias: bool,
        rng: &mut Rng,
    ) -> Self {
        let w = builder.add(
            &format!("{name}.weight"),
            glorot_uniform(rng, d_in, d_out, d_out * d_in),
        );
        let b = bias.then(|| builder.add(&format!("{name}.bias"), vec![0.0; d_out]));
        LinearParams { w, b, d_in, d_out }
    }
}

/// y[N, out] = act(x[N, in]·wᵀ + b).
pub struct Linear {
    pub params: LinearParams,
    pub n: usize,
    pub act: Activation,
    /// The output, and the gradient of the loss with respect to it (written by the next layer or the loss).
    pub y: Tensor,
    pub dy: Tensor,
    forward: Launch,
    backward: Vec<Launch>,
    _dz: Option<Tensor>,
}

impl Linear {
    /// Binds the layer to its input `x` (N×in) and, when the input needs a
    /// gradient, to `dx`, which this layer's backward writes.
    pub fn new(
        gpu: &Gpu,
        arena: &ParamArena,
        params: LinearParams,
        n: usize,
        x: &Tensor,
        dx: Option<&Tensor>,
        act: Activation,
    ) -> Self {
        let LinearParams { d_in, d_out, .. } = params;
        let w = arena.value(gpu, params.w);
        let dw = arena.grad(gpu, params.w);
        let b = params.b.map(|b| arena.value(gpu, b));
        let y = Tensor::zeros(gpu, n * d_out);
        let dy = Tensor::zeros(gpu, n * d_out);
        let forward = ops::linear_forward(gpu, &y, x, &w, b.as_ref(), n, d_in, d_out, act);
        let mut backward = Vec::new();
        let dz = pre_activation_grad(gpu, act, &y, &dy, &mut backward);
        let dpre = dz.as_ref().unwrap_or(&dy);
        backward.push(ops::linear_backward_weight(
            gpu, &dw, dpre, x, n, d_in, d_out,
        ));
        if let Some(bid) = params.b {
            backward.push(ops::bias_backward(
                gpu,
                &arena.grad(gpu, bid),
                dpre,
                n,
                d_out,
                1,
            ));
        }
        if let Some(dx) = dx {
            backward.push(ops::linear_backward_input(
                gpu, dx, dpre, &w, n, d_in, d_out, false,
            ));
        }
        Linear {
            params,
            n,
            act,
            y,
            dy,
            forward,
            backward,
            _dz: dz,
        }
    }

    pub fn forward(&self, pass: &mut wgpu::ComputePass<'_>) {
        self.forward.record(pass); // y: [N, out]
    }

    pub fn backward(&self, pass: &mut wgpu::ComputePass<'_>) {
        record_all(&self.backward, pass);
    }
}

/// The parameters of a [`Conv2d`] or [`ConvTranspose2d`] layer.
#[derive(Clone, Copy, Debug)]
pub struct ConvParams {
    pub w: ParamId,
    pub b: Option<ParamId>,
    /// For a transposed layer, the convolution it transposes.
    pub geom: Conv2dGeom,
}

impl ConvParams {
    /// w[C_out, C_in, K, K] Glorot-uniform (fans C_in·K² and C_out·K², as Keras), b = 0
    /// over `bias_channels` (C_out for a convolution, the conv's C_in for a transposed one).
    fn declare(
        builder: &mut ParamsBuilder,
        name: &str,
        geom: Conv2dGeom,
        bias_channels: Option<usize>,
        rng: &mut Rng,
    ) -> Self {
        let kk = geom.k * geom.k;
        let w = builder.add(
            &format!("{name}.weight"),
            glorot_uniform(rng, geom.c_in * kk, geom.c_out * kk, geom.weight_len()),
        );
        let b = bias_channels.map(|c| builder.add(&format!("{name}.bias"), vec![0.0; c]));
        ConvParams { w, b, geom }
    }

    pub fn declare_conv(
        builder: &mut ParamsBuilder,
        name: &str,
        geom: Conv2dGeom,
        bias: bool,
        rng: &mut Rng,
    ) -> Self {
        Self::declare(builder, name, geom, bias.then_some(geom.c_out), rng)
    }

    pub fn declare_transposed(
        builder: &mut ParamsBuilder,
        name: &str,
        geom: Conv2dGeom,
        bias: bool,
        rng: &mut Rng,
    ) -> Self {
        Self::declare(builder, name, geom, bias.then_some(geom.c_in), rng)
    }
}

/// y = act(conv2d(x, w) + b): x[N, C_in, H, W] → y[N, C_out, H_out, W_out].
pub struct Conv2d {
    pub params: ConvParams,
    pub act: Activation,
    pub y: Tensor,
    pub dy: Tensor,
    forward: Launch,
    backward: Vec<Launch>,
    _dz: Option<Tensor>,
}

impl Conv2d {
    pub fn new(
        gpu: &Gpu,
        arena: &ParamArena,
        params: ConvParams,
        x: &Tensor,
        dx: Option<&Tensor>,
        act: Activation,
    ) -> Self {
        let g = params.geom;
        let w = arena.value(gpu, params.w);
        let b = params.b.map(|b| arena.value(gpu, b));
        let (y, dy) = (
            Tensor::zeros(gpu, g.output_len()),
            Tensor::zeros(gpu, g.output_len()),
        );
        let forward = ops::conv2d_forward(gpu, &y, x, &w, b.as_ref(), &g, act);
        let mut backward = Vec::new();
        let dz = pre_activation_grad(gpu, act, &y, &dy, &mut backward);
        let dpre = dz.as_ref().unwrap_or(&dy);
        backward.push(ops::conv2d_backward_weight(
            gpu,
            &arena.grad(gpu, params.w),
            dpre,
            x,
            &g,
        ));
        if let Some(bid) = params.b {
            backward.push(ops::bias_backward(
                gpu,
                &arena.grad(gpu, bid),
                dpre,
                g.n,
                g.c_out,
                g.h_out * g.w_out,
            ));
        }
        if let Some(dx) = dx {
            backward.push(ops::conv2d_backward_input(gpu, dx, dpre, &w, &g, false));
        }
        Conv2d {
            params,
            act,
            y,
            dy,
            forward,
            backward,
            _dz: dz,
        }
    }

    pub fn forward(&self, pass: &mut wgpu::ComputePass<'_>) {
        self.forward.record(pass);
    }

    pub fn backward(&self, pass: &mut wgpu::ComputePass<'_>) {
        record_all(&self.backward, pass);
    }
}

/// The transposed convolution of `params.geom`: x[N, g.c_out, g.h_out, g.w_out] → y[N, g.c_in, g.h, g.w]
/// (Keras' Conv2DTranspose with `Conv2dGeom::transposed_same`).
pub struct ConvTranspose2d {
    pub params: ConvParams,
    pub act: Activation,
    pub y: Tensor,
    pub dy: Tensor,
    forward: Launch,
    backward: Vec<Launch>,
    _dz: Option<Tensor>,
}

impl ConvTranspose2d {
    pub fn new(
        gpu: &Gpu,
        arena: &ParamArena,
        params: ConvParams,
        x: &Tensor,
        dx: Option<&Tensor>,
        act: Activation,
    ) -> Self {
        let g = params.geom;
        let w = arena.value(gpu, params.w);
        let b = params.b.map(|b| arena.value(gpu, b));
        let (y, dy) = (
            Tensor::zeros(gpu, g.input_len()),
            Tensor::zeros(gpu, g.input_len()),
        );
        let forward = ops::conv_transpose2d_forward(gpu, &y, x, &w, b.as_ref(), &g, act);
        let mut backward = Vec::new();
        let dz = pre_activation_grad(gpu, act, &y, &dy, &mut backward);
        let dpre = dz.as_ref().unwrap_or(&dy);
        backward.push(ops::conv_transpose2d_backward_weight(
            gpu,
            &arena.grad(gpu, params.w),
            dpre,
            x,
            &g,
        ));
        if let Some(bid) = params.b {
            backward.push(ops::bias_backward(
                gpu,
                &arena.grad(gpu, bid),
                dpre,
                g.n,
                g.c_in,
                g.h * g.w,
            ));
        }
        if let Some(dx) = dx {
            backward.push(ops::conv_transpose2d_backward_input(
                gpu, dx, dpre, &w, &g, false,
            ));
        }
        ConvTranspose2d {
            params,
            act,
            y,
            dy,
            forward,
            backward,
            _dz: dz,
        }
    }

    pub fn forward(&self, pass: &mut wgpu::ComputePass<'_>) {
        self.forward.record(pass);
    }

    pub fn backward(&self, pass: &mut wgpu::ComputePass<'_>) {
        record_all(&self.backward, pass);
    }
}

/// The parameters of a [`BatchNorm`] layer: γ = 1, β = 0 to start.
#[derive(Clone, Copy, Debug)]
pub struct BatchNormParams {
    pub gamma: ParamId,
    pub beta: ParamId,
    pub channels: usize,
}

impl BatchNormParams {
    pub fn declare(builder: &mut ParamsBuilder, name: &str, channels: usize) -> Self {
        let gamma = builder.add(&format!("{name}.gamma"), vec![1.0; channels]);
        let beta = builder.add(&format!("{name}.beta"), vec![0.0; channels]);
        BatchNormParams {
            gamma,
            beta,
            channels,
        }
    }
}

/// Batch normalisation over x[N, C, P] (P = H·W, or 1 after a dense layer):
/// batch statistics in training (`forward`), running statistics in evaluation (`forward_eval`).
pub struct BatchNorm {
    pub params: BatchNormParams,
    pub y: Tensor,
    pub dy: Tensor,
    /// Running statistics, updated by every training forward.
    pub running_mean: Tensor,
    pub running_var: Tensor,
    forward_train: Launch,
    forward_eval: Launch,
    backward: Launch,
    _saved: [Tensor; 2],
}

impl BatchNorm {
    pub fn new(
        gpu: &Gpu,
        arena: &ParamArena,
        params: BatchNormParams,
        x: &Tensor,
        dx: &Tensor,
        (n, p): (usize, usize),
        cfg: BatchNormConfig,
    ) -> Self {
        let c = params.channels;
        let shape = (n, c, p);
        let (gamma, beta) = (
            arena.value(gpu, params.gamma),
            arena.value(gpu, params.beta),
        );
        let (y, dy) = (Tensor::zeros(gpu, n * c * p), Tensor::zeros(gpu, n * c * p));
        let (mean, invstd) = (Tensor::zeros(gpu, c), Tensor::zeros(gpu, c));
        let (running_mean, running_var) = (
            Tensor::zeros(gpu, c),
            Tensor::from_slice(gpu, &vec![1.0; c]),
        );
        let t = BatchNormTensors {
            x,
            gamma: &gamma,
            beta: &beta,
            y: &y,
            mean: &mean,
            invstd: &invstd,
            running_mean: &running_mean,
            running_var: &running_var,
        };
        let forward_train = ops::batchnorm_forward_train(gpu, &t, shape, cfg);
        let forward_eval = ops::batchnorm_forward_eval(gpu, &t, shape, cfg);
        let (dgamma, dbeta) = (arena.grad(gpu, params.gamma), arena.grad(gpu, params.beta));
        let backward = ops::batchnorm_backward(gpu, dx, &dgamma, &dbeta, &dy, &t, shape, false);
        BatchNorm {
            params,
            y,
            dy,
            running_mean,
            running_var,
            forward_train,
            forward_eval,
            backward,
            _saved: [mean, invstd],
        }
    }

    pub fn forward(&self, pass: &mut wgpu::ComputePass<'_>) {
        self.forward_train.record(pass);
    }

    pub fn forward_eval(&self, pass: &mut wgpu::ComputePass<'_>) {
        self.forward_eval.record(pass);
    }

    pub fn backward(&self, pass: &mut wgpu::ComputePass<'_>) {
        self.backward.record(pass);
    }
}

/// y = act(x) as a layer of its own (after batch norm, say).
pub struct ActivationLayer {
    pub act: Activation,
    pub y: Tensor,
    pub dy: Tensor,
    forward: Launch,
    backward: Launch,
}

impl ActivationLayer {
    pub fn new(gpu: &Gpu, x: &Tensor, dx: &Tensor, act: Activation) -> Self {
        let (y, dy) = (Tensor::zeros(gpu, x.len()), Tensor::zeros(gpu, x.len()));
        let forward = ops::activation_forward(gpu, &y, x, act);
        let backward = ops::activation_backward(gpu, dx, &dy, &y, act, false);
        ActivationLayer {
            act,
            y,
            dy,
            forward,
            backward,
        }
    }

    pub fn forward(&self, pass: &mut wgpu::ComputePass<'_>) {
        self.forward.record(pass);
    }

    pub fn backward(&self, pass: &mut wgpu::ComputePass<'_>) {
        self.backward.record(pass);
    }
}

/// Inverted dropout; the mask is a pure function of (seed, stream, element,
/// step), so backward regenerates it and each step draws a new one.
pub struct Dropout {
    pub rate: f32,
    pub y: Tensor,
    pub dy: Tensor,
    forward: Launch,
    backward: Launch,
}

impl Dropout {
    /// `step` is the model's step counter (see [`ParamArena::step`]).
    pub fn new(
        gpu: &Gpu,
        x: &Tensor,
        dx: &Tensor,
        rate: f32,
        seed: u32,
        stream: u32,
        step: &Tensor,
    ) -> Self {
        let (y, dy) = (Tensor::zeros(gpu, x.len()), Tensor::zeros(gpu, x.len()));
        let forward = ops::dropout_forward(gpu, &y, x, rate, seed, stream, step);
        let backward = ops::dropout_backward(gpu, dx, &dy, rate, seed, stream, step, false);
        Dropout {
            rate,
            y,
            dy,
            forward,
            backward,
        }
    }

    pub fn forward(&self, pass: &mut wgpu::ComputePass<'_>) {
        self.forward.record(pass);
    }

    pub fn backward(&self, pass: &mut wgpu::ComputePass<'_>) {
        self.backward.record(pass);
    }
}
