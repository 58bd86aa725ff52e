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

use crate::cpu::{Activation, AdamConfig};
use crate::gpu::{ops, Gpu, Launch, Tensor};
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
        // The gradient before the activation: dz = dy·act'(y), fused away when there is no activation.
        let dz = (act != Activation::None).then(|| Tensor::zeros(gpu, n * d_out));
        let dpre = match &dz {
            Some(dz) => {
                backward.push(ops::activation_backward(gpu, dz, &dy, &y, act, false));
                dz
            }
            None => &dy,
        };
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
        for l in &self.backward {
            l.record(pass);
        }
    }
}
