//! Layers, the parameter arena they share, and sequential networks built from
//! a list of layer specs, on any [`Backend`].
//!
//! A layer is a plain struct that owns what backward needs and the ops of its
//! forward and backward, all made when the network is built; `forward` and
//! `backward` only record those ops. A model's parameters live in one
//! [`ParamArena`]: one buffer of values, one of gradients, two of Adam
//! moments, so zeroing the gradients and the Adam update are one op each,
//! whatever the number of layers.
//!
//! A training step is then a list of calls recorded into one pass:
//! `arena.zero_grad(pass)`, the layers' `forward`, the loss, the layers'
//! `backward` in reverse, `arena.update(pass)`.

mod learner;
mod loss_sums;
mod safetensors;

pub use learner::Learner;
pub use loss_sums::{LossSums, Means};
pub use safetensors::{read_safetensors, write_safetensors, write_safetensors_shaped};

use crate::backends::{Backend, BackendError, ErrorKind, TensorLen};
use crate::core::rng::Rng;
use crate::core::{
    Activation, AdamConfig, BatchNormConfig, ChannelShape, Conv2dGeom, Grad, LinearShape,
};
use crate::ops::{
    ActivationBackward, ActivationBackwardTensors, ActivationForward, ActivationForwardTensors,
    AdamStep, AdamTensors, BatchNormBackward, BatchNormBackwardTensors, BatchNormForwardEval,
    BatchNormForwardTrain, BatchNormTensors, BiasBackward, BiasBackwardTensors,
    Conv2dBackwardInput, Conv2dBackwardWeight, Conv2dForward, ConvBackwardInputTensors,
    ConvBackwardWeightTensors, ConvForwardTensors, ConvInputPath, ConvTranspose2dBackwardInput,
    ConvTranspose2dBackwardWeight, ConvTranspose2dForward, DropoutBackward, DropoutBackwardTensors,
    DropoutForward, DropoutForwardTensors, Fill, FillTensors, Key, LabelConcat,
    LabelConcatBackward, LabelConcatBackwardTensors, LabelConcatTensors, LabelShape,
    LinearBackwardInput, LinearBackwardInputTensors, LinearBackwardWeight,
    LinearBackwardWeightTensors, LinearForward, LinearForwardTensors, MinibatchStdBackward,
    MinibatchStdBackwardTensors, MinibatchStdForward, MinibatchStdForwardTensors,
    MinibatchStdShape, SpectralNormBackward, SpectralNormBackwardTensors, SpectralNormForward,
    SpectralNormForwardTensors, SpectralShape, StepIncrement, StepTensors,
};

/// A named tensor with its real shape (row-major values), as saved.
pub type ShapedTensor = (String, Vec<usize>, Vec<f32>);

/// A parameter's place in its arena.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParamId(usize);

/// A non-trained value's place in its arena (batch norm's running statistics).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StateId(usize);

#[derive(Clone, Debug)]
struct Slot {
    name: String,
    /// The tensor's real shape (its values are row-major), as saved.
    shape: Vec<usize>,
    offset: usize,
    len: usize,
}

#[derive(Default)]
struct Slots {
    slots: Vec<Slot>,
    /// One past the last slot (with the alignment padding).
    end: usize,
    /// The initial values (empty in a layout-only builder).
    init: Vec<f32>,
}

impl Slots {
    fn add(&mut self, align: usize, name: &str, shape: &[usize], init: Option<Vec<f32>>) -> usize {
        let len = shape.iter().product();
        let offset = self.end.next_multiple_of(align);
        if let Some(init) = init {
            assert_eq!(
                init.len(),
                len,
                "{name}: {} initial values for {len}",
                init.len()
            );
            self.init.resize(offset, 0.0);
            self.init.extend(init);
        }
        self.slots.push(Slot {
            name: name.to_string(),
            shape: shape.to_vec(),
            offset,
            len,
        });
        self.end = offset + len;
        self.slots.len() - 1
    }
}

/// Collects a model's parameters (with their initial values) before the arena exists.
///
/// A layout-only builder ([`ParamsBuilder::layout`]) records names and sizes
/// and computes no initial values: what a model of given settings would
/// hold, known before anything is allocated (to check a weights file or a
/// memory budget against it).
pub struct ParamsBuilder {
    align: usize,
    layout_only: bool,
    params: Slots,
    state: Slots,
}

/// A named tensor of a parameter layout: its saved name and length.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotInfo {
    pub name: String,
    pub len: usize,
}

impl ParamsBuilder {
    pub fn new<B: Backend>(b: &B) -> Self {
        ParamsBuilder {
            align: b.alignment(),
            layout_only: false,
            params: Slots::default(),
            state: Slots::default(),
        }
    }

    /// A builder that only records names and sizes (it cannot be built).
    pub fn layout() -> Self {
        ParamsBuilder {
            align: 1,
            layout_only: true,
            params: Slots::default(),
            state: Slots::default(),
        }
    }

    /// Adds a parameter of `shape` (row-major), `init()` its initial values
    /// (not called by a layout-only builder); each starts on a binding boundary.
    pub fn add(&mut self, name: &str, shape: &[usize], init: impl FnOnce() -> Vec<f32>) -> ParamId {
        let init = (!self.layout_only).then(init);
        ParamId(self.params.add(self.align, name, shape, init))
    }

    /// Adds a value that forward passes update but the optimiser does not.
    pub fn add_state(
        &mut self,
        name: &str,
        shape: &[usize],
        init: impl FnOnce() -> Vec<f32>,
    ) -> StateId {
        let init = (!self.layout_only).then(init);
        StateId(self.state.add(self.align, name, shape, init))
    }

    /// Parameters declared so far (without padding).
    pub fn param_count(&self) -> usize {
        self.params.slots.iter().map(|s| s.len).sum()
    }

    /// State values declared so far (without padding).
    pub fn state_count(&self) -> usize {
        self.state.slots.iter().map(|s| s.len).sum()
    }

    /// The tensors of `part` an arena built from this would hold, by saved name.
    pub fn saved_slots(&self, part: ArenaPart) -> Vec<SlotInfo> {
        let slots = match part {
            ArenaPart::State => &self.state.slots,
            _ => &self.params.slots,
        };
        slots
            .iter()
            .map(|s| SlotInfo {
                name: part.saved_name(&s.name),
                len: s.len,
            })
            .collect()
    }

    pub fn build<B: Backend>(self, b: &B, adam: AdamConfig) -> ParamArena<B> {
        assert!(
            !self.layout_only,
            "a layout-only ParamsBuilder cannot be built"
        );
        let len = self.params.init.len();
        let values = b.upload(&self.params.init);
        let grads = b.zeros(len);
        let m = b.zeros(len);
        let v = b.zeros(len);
        let step = b.zeros(1);
        let state = b.upload(&self.state.init);
        // The moving average starts at the initial weights.
        let average = (adam.average > 0.0).then(|| b.upload(&self.params.init));
        let zero = b.bind(&Fill { value: 0.0 }, FillTensors { out: &grads });
        let tick = b.bind(&StepIncrement, StepTensors { step: &step });
        let adam_op = b.bind(
            &AdamStep { cfg: adam },
            AdamTensors {
                p: &values,
                g: &grads,
                m: &m,
                v: &v,
                step: &step,
                avg: average.as_ref(),
            },
        );
        ParamArena {
            values,
            grads,
            m,
            v,
            step,
            state,
            average,
            slots: self.params.slots,
            state_slots: self.state.slots,
            adam,
            zero,
            tick,
            adam_op,
        }
    }
}

/// All parameters of a model, their gradients and Adam state, the step counter,
/// and the model's non-trained state.
pub struct ParamArena<B: Backend> {
    pub values: B::Tensor,
    pub grads: B::Tensor,
    /// Adam's moments.
    pub m: B::Tensor,
    pub v: B::Tensor,
    /// One u32: the number of updates so far (Adam's t; the RNG's step).
    pub step: B::Tensor,
    pub state: B::Tensor,
    /// The moving average of the values, when `adam.average` > 0.
    pub average: Option<B::Tensor>,
    slots: Vec<Slot>,
    state_slots: Vec<Slot>,
    pub adam: AdamConfig,
    zero: B::Op,
    tick: B::Op,
    adam_op: B::Op,
}

/// One of an arena's buffers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArenaPart {
    Value,
    Grad,
    AdamM,
    AdamV,
    State,
    /// The moving average of the values (an arena with `adam.average` > 0).
    Average,
}

impl ArenaPart {
    /// What a saved model holds (gradients are recomputed each step).
    pub const SAVED: [ArenaPart; 4] = [
        ArenaPart::Value,
        ArenaPart::AdamM,
        ArenaPart::AdamV,
        ArenaPart::State,
    ];

    /// The saved name of a slot: the parameter's own name for values and
    /// state, with a suffix for the optimiser's moments.
    pub fn saved_name(self, name: &str) -> String {
        match self {
            ArenaPart::Value | ArenaPart::State => name.to_string(),
            ArenaPart::Grad => format!("{name}.grad"),
            ArenaPart::Average => format!("{name}.average"),
            ArenaPart::AdamM => format!("{name}.adam_m"),
            ArenaPart::AdamV => format!("{name}.adam_v"),
        }
    }
}

impl<B: Backend> ParamArena<B> {
    pub fn value(&self, b: &B, id: ParamId) -> B::Tensor {
        let s = &self.slots[id.0];
        b.slice(&self.values, s.offset, s.len)
    }

    pub fn grad(&self, b: &B, id: ParamId) -> B::Tensor {
        let s = &self.slots[id.0];
        b.slice(&self.grads, s.offset, s.len)
    }

    pub fn state_value(&self, b: &B, id: StateId) -> B::Tensor {
        let s = &self.state_slots[id.0];
        b.slice(&self.state, s.offset, s.len)
    }

    pub fn name(&self, id: ParamId) -> &str {
        &self.slots[id.0].name
    }

    /// Number of parameters (without the alignment padding).
    pub fn count(&self) -> usize {
        self.slots.iter().map(|s| s.len).sum()
    }

    /// Records: every gradient = 0.
    pub fn zero_grad(&self, pass: &mut B::Pass<'_>) {
        B::record(pass, &self.zero);
    }

    /// Records: step += 1, then one Adam update of every parameter.
    pub fn update(&self, pass: &mut B::Pass<'_>) {
        B::record(pass, &self.tick);
        B::record(pass, &self.adam_op);
    }

    /// Changes Adam's learning rate from the next step on. This rebuilds the
    /// update op (a new uniform on the GPU): call it every so many steps, not every step.
    pub fn set_lr(&mut self, b: &B, lr: f32) {
        self.adam.lr = lr;
        self.adam_op = b.bind(
            &AdamStep { cfg: self.adam },
            AdamTensors {
                p: &self.values,
                g: &self.grads,
                m: &self.m,
                v: &self.v,
                step: &self.step,
                avg: self.average.as_ref(),
            },
        );
    }

    /// Reads one parameter's values back (outside a step).
    pub async fn read(&self, b: &B, id: ParamId) -> Result<Vec<f32>, BackendError> {
        b.read(&b.readback(&self.value(b, id))).await
    }

    fn part(&self, part: ArenaPart) -> (&B::Tensor, &[Slot]) {
        match part {
            ArenaPart::Value => (&self.values, &self.slots),
            ArenaPart::Grad => (&self.grads, &self.slots),
            ArenaPart::AdamM => (&self.m, &self.slots),
            ArenaPart::AdamV => (&self.v, &self.slots),
            ArenaPart::State => (&self.state, &self.state_slots),
            ArenaPart::Average => (
                self.average.as_ref().expect("this arena keeps no average"),
                &self.slots,
            ),
        }
    }

    /// Every named tensor of the arena that a saved model holds (with the
    /// moving average of the weights, when it keeps one), read back.
    pub async fn export(&self, b: &B) -> Result<Vec<ShapedTensor>, BackendError> {
        let mut parts = ArenaPart::SAVED.to_vec();
        if self.average.is_some() {
            parts.push(ArenaPart::Average);
        }
        self.read_parts(b, &parts).await
    }

    /// The named tensors of these parts (without the alignment padding),
    /// with their shapes, read back.
    pub async fn read_parts(
        &self,
        b: &B,
        parts: &[ArenaPart],
    ) -> Result<Vec<ShapedTensor>, BackendError> {
        let mut out = Vec::new();
        for &part in parts {
            let (t, slots) = self.part(part);
            let all = b.read(&b.readback(t)).await?;
            for s in slots {
                out.push((
                    part.saved_name(&s.name),
                    s.shape.clone(),
                    all[s.offset..s.offset + s.len].to_vec(),
                ));
            }
        }
        Ok(out)
    }

    /// The Adam step count.
    pub async fn read_step(&self, b: &B) -> Result<u32, BackendError> {
        Ok(b.read(&b.readback(&self.step)).await?[0].to_bits())
    }

    /// Loads the tensors `get` finds by saved name. Parameter values and
    /// state must all be there; Adam's moments are optional (weights saved
    /// without them start the optimiser afresh), as is `step`.
    pub fn import(
        &self,
        b: &B,
        get: impl Fn(&str) -> Option<Vec<f32>>,
        step: Option<u32>,
    ) -> Result<(), BackendError> {
        for part in ArenaPart::SAVED {
            let (t, slots) = self.part(part);
            for s in slots {
                let name = part.saved_name(&s.name);
                match get(&name) {
                    Some(v) if v.len() == s.len => b.write(t, s.offset, &v),
                    Some(v) => {
                        return Err(BackendError::new(ErrorKind::BadInput, format!(
                            "tensor {name} has {} values, the model needs {}: was it saved by a model of another size?",
                            v.len(),
                            s.len
                        )))
                    }
                    None if matches!(part, ArenaPart::AdamM | ArenaPart::AdamV) => {
                        b.write(t, s.offset, &vec![0.0; s.len])
                    }
                    None => {
                        return Err(BackendError::new(ErrorKind::BadInput, format!(
                            "the weights file has no tensor {name}: was it saved by another model?"
                        )))
                    }
                }
            }
        }
        // The average as saved; from weights saved without one, the weights.
        if let Some(avg) = &self.average {
            for s in &self.slots {
                let v = get(&ArenaPart::Average.saved_name(&s.name))
                    .filter(|v| v.len() == s.len)
                    .or_else(|| get(&s.name))
                    .expect("checked above");
                b.write(avg, s.offset, &v);
            }
        }
        b.write(&self.step, 0, &[f32::from_bits(step.unwrap_or(0))]);
        Ok(())
    }
}

/// Where a network's layers find their tensors when bound: an arena's
/// live weights ([`ParamArena`]) or their moving average ([`Averaged`]).
pub trait Weights<B: Backend> {
    fn value(&self, b: &B, id: ParamId) -> B::Tensor;
    fn grad(&self, b: &B, id: ParamId) -> B::Tensor;
    fn state_value(&self, b: &B, id: StateId) -> B::Tensor;
    /// The update counter (the random streams' step).
    fn step(&self) -> &B::Tensor;
}

impl<B: Backend> Weights<B> for ParamArena<B> {
    fn value(&self, b: &B, id: ParamId) -> B::Tensor {
        ParamArena::value(self, b, id)
    }
    fn grad(&self, b: &B, id: ParamId) -> B::Tensor {
        ParamArena::grad(self, b, id)
    }
    fn state_value(&self, b: &B, id: StateId) -> B::Tensor {
        ParamArena::state_value(self, b, id)
    }
    fn step(&self) -> &B::Tensor {
        &self.step
    }
}

/// An arena's moving average of its weights, where it keeps one (else its
/// weights): what a GAN's generator samples with.
pub struct Averaged<'a, B: Backend>(pub &'a ParamArena<B>);

impl<B: Backend> Weights<B> for Averaged<'_, B> {
    fn value(&self, b: &B, id: ParamId) -> B::Tensor {
        let a = self.0;
        match &a.average {
            Some(avg) => {
                let s = &a.slots[id.0];
                b.slice(avg, s.offset, s.len)
            }
            None => a.value(b, id),
        }
    }
    fn grad(&self, b: &B, id: ParamId) -> B::Tensor {
        self.0.grad(b, id)
    }
    fn state_value(&self, b: &B, id: StateId) -> B::Tensor {
        self.0.state_value(b, id)
    }
    fn step(&self) -> &B::Tensor {
        &self.0.step
    }
}

/// Spectral normalisation of one weight matrix of an arena (see
/// [`crate::ops::spectral`]): the layer that uses the weight reads `w_sn`
/// and writes its gradient into `dw_sn`, through [`Normalized`]; `forward`
/// runs before the network's forward, `backward` after its parameter
/// gradients. The power iteration's u is arena state (saved with the weights).
pub struct SpectralNorm<B: Backend> {
    pub id: ParamId,
    pub shape: SpectralShape,
    pub w_sn: B::Tensor,
    pub dw_sn: B::Tensor,
    /// σ, the largest singular value of W as last estimated [1].
    pub sigma: B::Tensor,
    zero: B::Op,
    forward: B::Op,
    backward: B::Op,
    _v: B::Tensor,
}

impl<B: Backend> SpectralNorm<B> {
    pub fn new(
        b: &B,
        arena: &ParamArena<B>,
        id: ParamId,
        u: StateId,
        shape: SpectralShape,
    ) -> Self {
        let (w, dw, u) = (
            arena.value(b, id),
            arena.grad(b, id),
            arena.state_value(b, u),
        );
        let (w_sn, dw_sn) = (b.zeros(shape.len()), b.zeros(shape.len()));
        let (v, sigma) = (b.zeros(shape.cols), b.zeros(1));
        let zero = b.bind(&Fill { value: 0.0 }, FillTensors { out: &dw_sn });
        let forward = b.bind(
            &SpectralNormForward { shape },
            SpectralNormForwardTensors {
                w_sn: &w_sn,
                u: &u,
                v: &v,
                sigma: &sigma,
                w: &w,
            },
        );
        let backward = b.bind(
            &SpectralNormBackward {
                shape,
                grad: Grad::Accumulate,
            },
            SpectralNormBackwardTensors {
                dw: &dw,
                dw_sn: &dw_sn,
                w_sn: &w_sn,
                u: &u,
                v: &v,
                sigma: &sigma,
            },
        );
        SpectralNorm {
            id,
            shape,
            w_sn,
            dw_sn,
            sigma,
            zero,
            forward,
            backward,
            _v: v,
        }
    }

    /// Records: dW_sn = 0, one power iteration, W_sn = W / σ.
    pub fn forward(&self, pass: &mut B::Pass<'_>) {
        B::record(pass, &self.zero);
        B::record(pass, &self.forward);
    }

    /// Records: dW += dW_sn through the division by σ.
    pub fn backward(&self, pass: &mut B::Pass<'_>) {
        B::record(pass, &self.backward);
    }
}

/// An arena's weights with some matrices spectrally normalised: a layer
/// bound through it reads W_sn for those, and writes their gradient to dW_sn.
pub struct Normalized<'a, B: Backend> {
    pub arena: &'a ParamArena<B>,
    pub norms: &'a [SpectralNorm<B>],
}

impl<B: Backend> Normalized<'_, B> {
    fn norm(&self, id: ParamId) -> Option<&SpectralNorm<B>> {
        self.norms.iter().find(|s| s.id == id)
    }
}

impl<B: Backend> Weights<B> for Normalized<'_, B> {
    fn value(&self, b: &B, id: ParamId) -> B::Tensor {
        match self.norm(id) {
            Some(s) => s.w_sn.clone(),
            None => self.arena.value(b, id),
        }
    }
    fn grad(&self, b: &B, id: ParamId) -> B::Tensor {
        match self.norm(id) {
            Some(s) => s.dw_sn.clone(),
            None => self.arena.grad(b, id),
        }
    }
    fn state_value(&self, b: &B, id: StateId) -> B::Tensor {
        self.arena.state_value(b, id)
    }
    fn step(&self) -> &B::Tensor {
        &self.arena.step
    }
}

/// How a layer's backward hands the gradient to its input.
pub enum InputGrad<'a, T> {
    /// The input needs no gradient (the data, say).
    None,
    /// dx = the gradient.
    Write(&'a T),
    /// dx += the gradient (an input read by two layers).
    Accumulate(&'a T),
}

impl<T> Clone for InputGrad<'_, T> {
    fn clone(&self) -> Self {
        match *self {
            InputGrad::None => InputGrad::None,
            InputGrad::Write(t) => InputGrad::Write(t),
            InputGrad::Accumulate(t) => InputGrad::Accumulate(t),
        }
    }
}

impl<'a, T> InputGrad<'a, T> {
    fn get(&self) -> Option<(&'a T, Grad)> {
        match *self {
            InputGrad::None => None,
            InputGrad::Write(t) => Some((t, Grad::Write)),
            InputGrad::Accumulate(t) => Some((t, Grad::Accumulate)),
        }
    }
}

/// A layer's output and its gradient: given (to write into a slice of a
/// bigger tensor), or new.
fn output<B: Backend>(
    b: &B,
    out: Option<(B::Tensor, B::Tensor)>,
    len: usize,
) -> (B::Tensor, B::Tensor) {
    let (y, dy) = out.unwrap_or_else(|| (b.zeros(len), b.zeros(len)));
    assert!(
        y.len() == len && dy.len() == len,
        "layer output: given {} and {} elements, needs {len}",
        y.len(),
        dy.len()
    );
    (y, dy)
}

/// A layer's backward ops: the gradient before its fused activation, the
/// parameter gradients, the input gradient.
struct BackwardOps<B: Backend> {
    pre: Option<B::Op>,
    params: Vec<B::Op>,
    input: Option<B::Op>,
    _dz: Option<B::Tensor>,
}

impl<B: Backend> BackwardOps<B> {
    /// dz = dy·act'(y), a tensor of its own, or dy itself when there is no activation.
    fn new(b: &B, act: Activation, y: &B::Tensor, dy: &B::Tensor) -> Self {
        let (pre, dz) = if act == Activation::None {
            (None, None)
        } else {
            let dz = b.zeros(dy.len());
            let op = ActivationBackward {
                act,
                grad: Grad::Write,
            };
            let t = ActivationBackwardTensors { dx: &dz, dy, y };
            (Some(b.bind(&op, t)), Some(dz))
        };
        BackwardOps {
            pre,
            params: Vec::new(),
            input: None,
            _dz: dz,
        }
    }

    /// The gradient the parameter and input ops read.
    fn dpre<'t>(&'t self, dy: &'t B::Tensor) -> &'t B::Tensor {
        self._dz.as_ref().unwrap_or(dy)
    }

    fn record(&self, pass: &mut B::Pass<'_>, params: bool, input: bool) {
        for op in self
            .pre
            .iter()
            .chain(self.params.iter().filter(|_| params))
            .chain(self.input.iter().filter(|_| input))
        {
            B::record(pass, op);
        }
    }
}

/// db += Σ dy over all but the channel axis.
fn bias_grad<B: Backend>(b: &B, db: &B::Tensor, dy: &B::Tensor, shape: ChannelShape) -> B::Op {
    b.bind(&BiasBackward { shape }, BiasBackwardTensors { db, dy })
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
        let w = builder.add(&format!("{name}.weight"), &[d_out, d_in], || {
            glorot_uniform(rng, d_in, d_out, d_out * d_in)
        });
        let b = bias.then(|| builder.add(&format!("{name}.bias"), &[d_out], || vec![0.0; d_out]));
        LinearParams { w, b, d_in, d_out }
    }
}

/// y[N, out] = act(x[N, in]·wᵀ + b).
pub struct Linear<B: Backend> {
    pub params: LinearParams,
    pub n: usize,
    pub act: Activation,
    /// The output, and the gradient of the loss with respect to it (written by the next layer or the loss).
    pub y: B::Tensor,
    pub dy: B::Tensor,
    forward: B::Op,
    backward: BackwardOps<B>,
}

impl<B: Backend> Linear<B> {
    /// Binds the layer to its input `x` (N×in), the input's gradient `dx`
    /// (which backward writes), and its output (`None`: new tensors).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        b: &B,
        arena: &impl Weights<B>,
        params: LinearParams,
        n: usize,
        x: &B::Tensor,
        dx: InputGrad<B::Tensor>,
        act: Activation,
        out: Option<(B::Tensor, B::Tensor)>,
    ) -> Self {
        let LinearParams { d_in, d_out, .. } = params;
        let w = arena.value(b, params.w);
        let bias = params.b.map(|id| arena.value(b, id));
        let (y, dy) = output(b, out, n * d_out);
        let shape = LinearShape { n, d_in, d_out };
        let forward = b.bind(
            &LinearForward { shape, act },
            LinearForwardTensors {
                y: &y,
                x,
                w: &w,
                b: bias.as_ref(),
            },
        );
        let mut backward = BackwardOps::new(b, act, &y, &dy);
        let dpre = backward.dpre(&dy).clone();
        backward.params.push(b.bind(
            &LinearBackwardWeight { shape },
            LinearBackwardWeightTensors {
                dw: &arena.grad(b, params.w),
                dy: &dpre,
                x,
            },
        ));
        if let Some(id) = params.b {
            backward.params.push(bias_grad(
                b,
                &arena.grad(b, id),
                &dpre,
                ChannelShape { n, c: d_out, p: 1 },
            ));
        }
        if let Some((dx, grad)) = dx.get() {
            let t = LinearBackwardInputTensors {
                dx,
                dy: &dpre,
                w: &w,
            };
            backward.input = Some(b.bind(&LinearBackwardInput { shape, grad }, t));
        }
        Linear {
            params,
            n,
            act,
            y,
            dy,
            forward,
            backward,
        }
    }

    pub fn forward(&self, pass: &mut B::Pass<'_>) {
        B::record(pass, &self.forward); // y: [N, out]
    }

    /// Parameter gradients (accumulated) and the input gradient.
    pub fn backward(&self, pass: &mut B::Pass<'_>) {
        self.backward.record(pass, true, true);
    }

    /// The input gradient alone (the parameters' gradients left untouched).
    pub fn backward_input(&self, pass: &mut B::Pass<'_>) {
        self.backward.record(pass, false, true);
    }
}

/// The parameters of a [`Conv2d`] or [`ConvTranspose2d`] layer.
#[derive(Clone, Copy, Debug)]
pub struct ConvParams {
    pub w: ParamId,
    pub b: Option<ParamId>,
    /// For a transposed layer, the convolution it transposes. Its `n` is
    /// replaced by the batch size when the layer is bound.
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
        let shape = [geom.c_out, geom.c_in, geom.k, geom.k];
        let w = builder.add(&format!("{name}.weight"), &shape, || {
            glorot_uniform(rng, geom.c_in * kk, geom.c_out * kk, geom.weight_len())
        });
        let b = bias_channels.map(|c| builder.add(&format!("{name}.bias"), &[c], || vec![0.0; c]));
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
pub struct Conv2d<B: Backend> {
    pub params: ConvParams,
    pub act: Activation,
    pub y: B::Tensor,
    pub dy: B::Tensor,
    forward: B::Op,
    backward: BackwardOps<B>,
}

impl<B: Backend> Conv2d<B> {
    /// Binds the layer at batch size `n` (see [`Linear::new`]).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        b: &B,
        arena: &impl Weights<B>,
        params: ConvParams,
        n: usize,
        x: &B::Tensor,
        dx: InputGrad<B::Tensor>,
        act: Activation,
        out: Option<(B::Tensor, B::Tensor)>,
    ) -> Self {
        let g = Conv2dGeom { n, ..params.geom };
        let w = arena.value(b, params.w);
        let bias = params.b.map(|id| arena.value(b, id));
        let (y, dy) = output(b, out, g.output_len());
        let forward = b.bind(
            &Conv2dForward { geom: g, act },
            ConvForwardTensors {
                y: &y,
                x,
                w: &w,
                b: bias.as_ref(),
            },
        );
        let mut backward = BackwardOps::new(b, act, &y, &dy);
        let dpre = backward.dpre(&dy).clone();
        backward.params.push(b.bind(
            &Conv2dBackwardWeight { geom: g },
            ConvBackwardWeightTensors {
                dw: &arena.grad(b, params.w),
                dy: &dpre,
                x,
            },
        ));
        if let Some(id) = params.b {
            let shape = ChannelShape {
                n: g.n,
                c: g.c_out,
                p: g.h_out * g.w_out,
            };
            backward
                .params
                .push(bias_grad(b, &arena.grad(b, id), &dpre, shape));
        }
        if let Some((dx, grad)) = dx.get() {
            let op = Conv2dBackwardInput {
                geom: g,
                grad,
                path: ConvInputPath::Auto,
            };
            let t = ConvBackwardInputTensors {
                dx,
                dy: &dpre,
                w: &w,
            };
            backward.input = Some(b.bind(&op, t));
        }
        Conv2d {
            params,
            act,
            y,
            dy,
            forward,
            backward,
        }
    }

    pub fn forward(&self, pass: &mut B::Pass<'_>) {
        B::record(pass, &self.forward);
    }

    pub fn backward(&self, pass: &mut B::Pass<'_>) {
        self.backward.record(pass, true, true);
    }

    pub fn backward_input(&self, pass: &mut B::Pass<'_>) {
        self.backward.record(pass, false, true);
    }
}

/// The transposed convolution of `params.geom`: x[N, g.c_out, g.h_out, g.w_out] → y[N, g.c_in, g.h, g.w]
/// (Keras' Conv2DTranspose with `Conv2dGeom::transposed_same`).
pub struct ConvTranspose2d<B: Backend> {
    pub params: ConvParams,
    pub act: Activation,
    pub y: B::Tensor,
    pub dy: B::Tensor,
    forward: B::Op,
    backward: BackwardOps<B>,
}

impl<B: Backend> ConvTranspose2d<B> {
    /// Binds the layer at batch size `n` (see [`Linear::new`]).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        b: &B,
        arena: &impl Weights<B>,
        params: ConvParams,
        n: usize,
        x: &B::Tensor,
        dx: InputGrad<B::Tensor>,
        act: Activation,
        out: Option<(B::Tensor, B::Tensor)>,
    ) -> Self {
        let g = Conv2dGeom { n, ..params.geom };
        let w = arena.value(b, params.w);
        let bias = params.b.map(|id| arena.value(b, id));
        let (y, dy) = output(b, out, g.input_len());
        let forward = b.bind(
            &ConvTranspose2dForward { geom: g, act },
            ConvForwardTensors {
                y: &y,
                x,
                w: &w,
                b: bias.as_ref(),
            },
        );
        let mut backward = BackwardOps::new(b, act, &y, &dy);
        let dpre = backward.dpre(&dy).clone();
        backward.params.push(b.bind(
            &ConvTranspose2dBackwardWeight { geom: g },
            ConvBackwardWeightTensors {
                dw: &arena.grad(b, params.w),
                dy: &dpre,
                x,
            },
        ));
        if let Some(id) = params.b {
            let shape = ChannelShape {
                n: g.n,
                c: g.c_in,
                p: g.h * g.w,
            };
            backward
                .params
                .push(bias_grad(b, &arena.grad(b, id), &dpre, shape));
        }
        if let Some((dx, grad)) = dx.get() {
            let t = ConvBackwardInputTensors {
                dx,
                dy: &dpre,
                w: &w,
            };
            backward.input = Some(b.bind(&ConvTranspose2dBackwardInput { geom: g, grad }, t));
        }
        ConvTranspose2d {
            params,
            act,
            y,
            dy,
            forward,
            backward,
        }
    }

    pub fn forward(&self, pass: &mut B::Pass<'_>) {
        B::record(pass, &self.forward);
    }

    pub fn backward(&self, pass: &mut B::Pass<'_>) {
        self.backward.record(pass, true, true);
    }

    pub fn backward_input(&self, pass: &mut B::Pass<'_>) {
        self.backward.record(pass, false, true);
    }
}

/// The parameters of a [`BatchNorm`] layer: γ = 1, β = 0 to start; running
/// mean 0 and variance 1 as state.
#[derive(Clone, Copy, Debug)]
pub struct BatchNormParams {
    pub gamma: ParamId,
    pub beta: ParamId,
    pub running_mean: StateId,
    pub running_var: StateId,
    pub channels: usize,
}

impl BatchNormParams {
    pub fn declare(builder: &mut ParamsBuilder, name: &str, channels: usize) -> Self {
        BatchNormParams {
            gamma: builder.add(&format!("{name}.gamma"), &[channels], || {
                vec![1.0; channels]
            }),
            beta: builder.add(&format!("{name}.beta"), &[channels], || vec![0.0; channels]),
            running_mean: builder.add_state(&format!("{name}.running_mean"), &[channels], || {
                vec![0.0; channels]
            }),
            running_var: builder.add_state(&format!("{name}.running_var"), &[channels], || {
                vec![1.0; channels]
            }),
            channels,
        }
    }
}

/// Batch normalisation over x[N, C, P] (P = H·W, or 1 after a dense layer):
/// batch statistics in training (`forward`), running statistics in evaluation (`forward_eval`).
pub struct BatchNorm<B: Backend> {
    pub params: BatchNormParams,
    pub y: B::Tensor,
    pub dy: B::Tensor,
    /// Running statistics (slots of the arena's state), updated by every training forward.
    pub running_mean: B::Tensor,
    pub running_var: B::Tensor,
    forward_train: B::Op,
    forward_eval: B::Op,
    backward: B::Op,
    _saved: [B::Tensor; 2],
}

impl<B: Backend> BatchNorm<B> {
    pub fn new(
        b: &B,
        arena: &impl Weights<B>,
        params: BatchNormParams,
        x: &B::Tensor,
        dx: &B::Tensor,
        (n, p): (usize, usize),
        cfg: BatchNormConfig,
    ) -> Self {
        let c = params.channels;
        let shape = ChannelShape { n, c, p };
        let (gamma, beta) = (arena.value(b, params.gamma), arena.value(b, params.beta));
        let (y, dy) = (b.zeros(n * c * p), b.zeros(n * c * p));
        let (mean, invstd) = (b.zeros(c), b.zeros(c));
        let running_mean = arena.state_value(b, params.running_mean);
        let running_var = arena.state_value(b, params.running_var);
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
        let forward_train = b.bind(&BatchNormForwardTrain { shape, cfg }, t);
        let forward_eval = b.bind(&BatchNormForwardEval { shape, cfg }, t);
        let (dgamma, dbeta) = (arena.grad(b, params.gamma), arena.grad(b, params.beta));
        let backward = b.bind(
            &BatchNormBackward {
                shape,
                grad: Grad::Write,
            },
            BatchNormBackwardTensors {
                dx,
                dgamma: &dgamma,
                dbeta: &dbeta,
                dy: &dy,
                fwd: &t,
            },
        );
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

    pub fn forward(&self, pass: &mut B::Pass<'_>) {
        B::record(pass, &self.forward_train);
    }

    pub fn forward_eval(&self, pass: &mut B::Pass<'_>) {
        B::record(pass, &self.forward_eval);
    }

    pub fn backward(&self, pass: &mut B::Pass<'_>) {
        B::record(pass, &self.backward);
    }
}

/// y = act(x) as a layer of its own (after batch norm, say).
pub struct ActivationLayer<B: Backend> {
    pub act: Activation,
    pub y: B::Tensor,
    pub dy: B::Tensor,
    forward: B::Op,
    backward: B::Op,
}

impl<B: Backend> ActivationLayer<B> {
    pub fn new(b: &B, x: &B::Tensor, dx: &B::Tensor, act: Activation) -> Self {
        let (y, dy) = (b.zeros(x.len()), b.zeros(x.len()));
        let forward = b.bind(
            &ActivationForward { act },
            ActivationForwardTensors { y: &y, x },
        );
        let backward = b.bind(
            &ActivationBackward {
                act,
                grad: Grad::Write,
            },
            ActivationBackwardTensors { dx, dy: &dy, y: &y },
        );
        ActivationLayer {
            act,
            y,
            dy,
            forward,
            backward,
        }
    }

    pub fn forward(&self, pass: &mut B::Pass<'_>) {
        B::record(pass, &self.forward);
    }

    pub fn backward(&self, pass: &mut B::Pass<'_>) {
        B::record(pass, &self.backward);
    }
}

/// y = x ++ the one-hot code of each sample's label ([`LayerSpec::Label`]);
/// the gradient of x's part goes back to x where x needs one.
pub struct LabelLayer<B: Backend> {
    pub y: B::Tensor,
    pub dy: B::Tensor,
    forward: B::Op,
    backward: Option<B::Op>,
}

impl<B: Backend> LabelLayer<B> {
    pub fn new(
        b: &B,
        shape: LabelShape,
        x: &B::Tensor,
        labels: &B::Tensor,
        dx: InputGrad<B::Tensor>,
    ) -> Self {
        let len = shape.n * shape.width();
        let (y, dy) = (b.zeros(len), b.zeros(len));
        let forward = b.bind(
            &LabelConcat { shape },
            LabelConcatTensors { y: &y, x, labels },
        );
        let backward = match dx {
            InputGrad::None => None,
            InputGrad::Write(dx) => Some((dx, Grad::Write)),
            InputGrad::Accumulate(dx) => Some((dx, Grad::Accumulate)),
        }
        .map(|(dx, grad)| {
            b.bind(
                &LabelConcatBackward { shape, grad },
                LabelConcatBackwardTensors { dx, dy: &dy },
            )
        });
        LabelLayer {
            y,
            dy,
            forward,
            backward,
        }
    }

    pub fn forward(&self, pass: &mut B::Pass<'_>) {
        B::record(pass, &self.forward);
    }

    pub fn backward(&self, pass: &mut B::Pass<'_>) {
        if let Some(op) = &self.backward {
            B::record(pass, op);
        }
    }
}

/// y = x ++ the standard deviation of each sample's group as one more map
/// ([`LayerSpec::MinibatchStd`]); the backward always writes x's gradient
/// (it sits between layers with parameters).
pub struct MinibatchStdLayer<B: Backend> {
    pub shape: MinibatchStdShape,
    pub y: B::Tensor,
    pub dy: B::Tensor,
    forward: B::Op,
    backward: B::Op,
}

impl<B: Backend> MinibatchStdLayer<B> {
    pub fn new(b: &B, shape: MinibatchStdShape, x: &B::Tensor, dx: &B::Tensor) -> Self {
        let len = shape.n * shape.width();
        let (y, dy) = (b.zeros(len), b.zeros(len));
        let (stat, dstat) = (b.zeros(shape.groups()), b.zeros(shape.groups()));
        let forward = b.bind(
            &MinibatchStdForward { shape },
            MinibatchStdForwardTensors {
                y: &y,
                stat: &stat,
                x,
            },
        );
        let backward = b.bind(
            &MinibatchStdBackward {
                shape,
                grad: Grad::Write,
            },
            MinibatchStdBackwardTensors {
                dx,
                dstat: &dstat,
                dy: &dy,
                x,
            },
        );
        MinibatchStdLayer {
            shape,
            y,
            dy,
            forward,
            backward,
        }
    }

    pub fn forward(&self, pass: &mut B::Pass<'_>) {
        B::record(pass, &self.forward);
    }

    pub fn backward(&self, pass: &mut B::Pass<'_>) {
        B::record(pass, &self.backward);
    }
}

/// Inverted dropout; the mask is a pure function of (seed, stream, element,
/// step), so backward regenerates it and each step draws a new one.
pub struct Dropout<B: Backend> {
    pub rate: f32,
    pub y: B::Tensor,
    pub dy: B::Tensor,
    forward: B::Op,
    backward: B::Op,
}

impl<B: Backend> Dropout<B> {
    /// `step` is the model's step counter (see [`ParamArena::step`]).
    pub fn new(
        b: &B,
        x: &B::Tensor,
        dx: &B::Tensor,
        rate: f32,
        seed: u32,
        stream: u32,
        step: &B::Tensor,
    ) -> Self {
        let (y, dy) = (b.zeros(x.len()), b.zeros(x.len()));
        let key = Key { seed, stream };
        let forward = b.bind(
            &DropoutForward { rate, key },
            DropoutForwardTensors { y: &y, x, step },
        );
        let op = DropoutBackward {
            rate,
            key,
            grad: Grad::Write,
        };
        let backward = b.bind(&op, DropoutBackwardTensors { dx, dy: &dy, step });
        Dropout {
            rate,
            y,
            dy,
            forward,
            backward,
        }
    }

    pub fn forward(&self, pass: &mut B::Pass<'_>) {
        B::record(pass, &self.forward);
    }

    pub fn backward(&self, pass: &mut B::Pass<'_>) {
        B::record(pass, &self.backward);
    }
}

// ---------------------------------------------------------------- sequential networks

/// One layer of a [`NetSpec`]. Convolutions use TensorFlow's 'same' padding.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LayerSpec {
    Dense {
        out: usize,
        bias: bool,
        act: Activation,
    },
    Conv {
        c_out: usize,
        k: usize,
        stride: usize,
        bias: bool,
        act: Activation,
    },
    ConvTranspose {
        c_out: usize,
        k: usize,
        stride: usize,
        bias: bool,
        act: Activation,
    },
    BatchNorm,
    Act(Activation),
    Dropout(f32),
    /// Reinterprets each sample as [C, H, W] (the same number of values).
    Reshape([usize; 3]),
    /// Appends the one-hot code of each sample's class label as `classes`
    /// channels, constant over H×W: [C, H, W] → [C + classes, H, W]. The
    /// labels are given when the network is bound ([`NetParams::bind_labelled`]).
    Label {
        classes: usize,
    },
    /// Appends one map, constant over H×W, holding the standard deviation
    /// of the sample's group of `group` consecutive samples, averaged over
    /// their values (ProGAN's minibatch standard deviation): [C, H, W] →
    /// [C + 1, H, W]. The batch is `segments` equal parts that no group
    /// crosses (a GAN's D sees [fake; real]: 2).
    MinibatchStd {
        group: usize,
        segments: usize,
    },
}

impl LayerSpec {
    /// Whether the layer leaves its input as it is in `mode`, and so binds
    /// no op: a reshape, and dropout when evaluating or at rate 0.
    pub fn passes_through(&self, mode: Mode) -> bool {
        match *self {
            LayerSpec::Reshape(_) => true,
            LayerSpec::Dropout(rate) => mode == Mode::Eval || rate == 0.0,
            _ => false,
        }
    }
}

/// A sequential network: a per-sample input shape [C, H, W] and its layers.
#[derive(Clone, Debug, PartialEq)]
pub struct NetSpec {
    pub input: [usize; 3],
    pub layers: Vec<LayerSpec>,
}

#[derive(Clone, Copy, Debug)]
enum Declared {
    Linear(LinearParams),
    Conv(ConvParams),
    ConvTranspose(ConvParams),
    BatchNorm(BatchNormParams),
    None,
}

/// A [`NetSpec`] with its parameters declared in an arena: bind it (at any
/// batch size, as often as needed) to get a [`Sequential`].
#[derive(Clone, Debug)]
pub struct NetParams {
    pub spec: NetSpec,
    /// The name its parameters were declared under (`G`, `D`): its layers are `G.0`, `G.1`…
    pub name: String,
    declared: Vec<(LayerSpec, Declared, [usize; 3])>,
}

/// Training (batch statistics, dropout) or evaluation (running statistics, no dropout).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Train,
    Eval,
}

fn numel(s: [usize; 3]) -> usize {
    s[0] * s[1] * s[2]
}

impl NetParams {
    /// Every weight matrix (dense and convolution layers; not biases, γ or
    /// β) as (parameter, shape): rows its first axis (outputs).
    pub fn weight_matrices(&self) -> Vec<(ParamId, SpectralShape)> {
        let shape = |rows, cols| SpectralShape { rows, cols };
        self.declared
            .iter()
            .filter_map(|(_, d, _)| match d {
                Declared::Linear(p) => Some((p.w, shape(p.d_out, p.d_in))),
                Declared::Conv(p) | Declared::ConvTranspose(p) => {
                    let g = p.geom;
                    Some((p.w, shape(g.c_out, g.c_in * g.k * g.k)))
                }
                _ => None,
            })
            .collect()
    }

    /// Declares every layer's parameters as `{name}.{index}.weight` etc.
    pub fn declare(builder: &mut ParamsBuilder, name: &str, spec: &NetSpec, rng: &mut Rng) -> Self {
        let mut shape = spec.input;
        let mut declared = Vec::new();
        for (i, &layer) in spec.layers.iter().enumerate() {
            let lname = format!("{name}.{i}");
            let [c, h, w] = shape;
            let (d, out) = match layer {
                LayerSpec::Dense { out, bias, .. } => (
                    Declared::Linear(LinearParams::declare(
                        builder,
                        &lname,
                        numel(shape),
                        out,
                        bias,
                        rng,
                    )),
                    [out, 1, 1],
                ),
                LayerSpec::Conv {
                    c_out,
                    k,
                    stride,
                    bias,
                    ..
                } => {
                    let g = Conv2dGeom::same(1, c, h, w, c_out, k, stride);
                    (
                        Declared::Conv(ConvParams::declare_conv(builder, &lname, g, bias, rng)),
                        [c_out, g.h_out, g.w_out],
                    )
                }
                LayerSpec::ConvTranspose {
                    c_out,
                    k,
                    stride,
                    bias,
                    ..
                } => {
                    let g = Conv2dGeom::transposed_same(1, c, h, w, c_out, k, stride);
                    (
                        Declared::ConvTranspose(ConvParams::declare_transposed(
                            builder, &lname, g, bias, rng,
                        )),
                        [c_out, g.h, g.w],
                    )
                }
                LayerSpec::BatchNorm => (
                    Declared::BatchNorm(BatchNormParams::declare(builder, &lname, c)),
                    shape,
                ),
                LayerSpec::Act(_) | LayerSpec::Dropout(_) => (Declared::None, shape),
                LayerSpec::Label { classes } => (Declared::None, [c + classes, h, w]),
                LayerSpec::MinibatchStd { .. } => (Declared::None, [c + 1, h, w]),
                LayerSpec::Reshape(to) => {
                    assert_eq!(
                        numel(to),
                        numel(shape),
                        "{lname}: cannot reshape {shape:?} to {to:?}"
                    );
                    (Declared::None, to)
                }
            };
            declared.push((layer, d, out));
            shape = out;
        }
        NetParams {
            spec: spec.clone(),
            name: name.to_string(),
            declared,
        }
    }

    /// The per-sample output shape [C, H, W].
    pub fn output_shape(&self) -> [usize; 3] {
        self.declared.last().map_or(self.spec.input, |d| d.2)
    }

    pub fn output_len(&self) -> usize {
        numel(self.output_shape())
    }

    pub fn input_len(&self) -> usize {
        numel(self.spec.input)
    }

    /// Floats a binding allocates per sample for its layers' outputs and
    /// their gradients (y, dy, and dz before a fused activation), in `mode`:
    /// what [`NetParams::bind`] makes, counted without making it (for
    /// memory budgets). Batch norm's per-channel statistics are left out.
    pub fn activations_per_sample(&self, mode: Mode) -> usize {
        self.declared
            .iter()
            .map(|&(layer, _, out)| match layer {
                _ if layer.passes_through(mode) => 0,
                LayerSpec::Dense { act, .. }
                | LayerSpec::Conv { act, .. }
                | LayerSpec::ConvTranspose { act, .. } => {
                    numel(out) * if act == Activation::None { 2 } else { 3 }
                }
                LayerSpec::BatchNorm
                | LayerSpec::Act(_)
                | LayerSpec::Label { .. }
                | LayerSpec::MinibatchStd { .. }
                | LayerSpec::Dropout(_) => 2 * numel(out),
                LayerSpec::Reshape(_) => 0,
            })
            .sum()
    }

    /// Whether the network has a [`LayerSpec::Label`] layer (and so must be
    /// bound with labels).
    pub fn is_conditional(&self) -> bool {
        self.spec
            .layers
            .iter()
            .any(|l| matches!(l, LayerSpec::Label { .. }))
    }

    /// Builds the layers at batch size `n` over input `x` (N × input), with
    /// the input gradient `dx` and, optionally, given output tensors.
    /// `stream` numbers this binding's dropout streams (stream + layer index).
    #[allow(clippy::too_many_arguments)]
    pub fn bind<B: Backend>(
        &self,
        b: &B,
        arena: &impl Weights<B>,
        n: usize,
        x: &B::Tensor,
        dx: InputGrad<B::Tensor>,
        out: Option<(B::Tensor, B::Tensor)>,
        mode: Mode,
        seeds: (u32, u32),
    ) -> Sequential<B> {
        self.bind_labelled(b, arena, n, x, dx, out, mode, seeds, None)
    }

    /// [`NetParams::bind`] with each sample's class label (N floats) for the
    /// network's [`LayerSpec::Label`] layers.
    #[allow(clippy::too_many_arguments)]
    pub fn bind_labelled<B: Backend>(
        &self,
        b: &B,
        arena: &impl Weights<B>,
        n: usize,
        x: &B::Tensor,
        dx: InputGrad<B::Tensor>,
        out: Option<(B::Tensor, B::Tensor)>,
        mode: Mode,
        (seed, stream): (u32, u32),
        labels: Option<&B::Tensor>,
    ) -> Sequential<B> {
        assert_eq!(
            labels.is_some(),
            self.is_conditional(),
            "a network with label layers is bound with labels, and only such a network"
        );
        if let Some(l) = labels {
            assert_eq!(l.len(), n, "labels: one per sample");
        }
        assert_eq!(
            x.len(),
            n * self.input_len(),
            "network input: {} values for {n} samples of {:?}",
            x.len(),
            self.spec.input
        );
        // The last layer that makes a tensor of its own writes into `out`.
        let last = self
            .declared
            .iter()
            .rposition(|(l, _, _)| !l.passes_through(mode));
        let mut out = out;
        if out.is_some() {
            assert!(
                last.is_some_and(|i| !matches!(
                    self.declared[i].0,
                    LayerSpec::BatchNorm
                        | LayerSpec::Act(_)
                        | LayerSpec::Dropout(_)
                        | LayerSpec::Label { .. }
                        | LayerSpec::MinibatchStd { .. }
                )),
                "a network's given output must be written by a dense or convolution layer"
            );
        }
        let mut layers: Vec<Layer<B>> = Vec::new();
        let (mut cur_x, mut cur_dx) = (x.clone(), None::<B::Tensor>);
        let mut shape = self.spec.input;
        for (i, &(spec, d, out_shape)) in self.declared.iter().enumerate() {
            let dxi = match (&cur_dx, layers.is_empty()) {
                (Some(t), _) => InputGrad::Write(t),
                (None, true) => dx.clone(),
                (None, false) => unreachable!(),
            };
            let o = if Some(i) == last { out.take() } else { None };
            b.name_ops(&format!("{}.{i}", self.name));
            let layer = match (spec, d) {
                (LayerSpec::Dense { act, .. }, Declared::Linear(p)) => {
                    Layer::Linear(Linear::new(b, arena, p, n, &cur_x, dxi, act, o))
                }
                (LayerSpec::Conv { act, .. }, Declared::Conv(p)) => {
                    Layer::Conv(Conv2d::new(b, arena, p, n, &cur_x, dxi, act, o))
                }
                (LayerSpec::ConvTranspose { act, .. }, Declared::ConvTranspose(p)) => {
                    Layer::ConvTranspose(ConvTranspose2d::new(b, arena, p, n, &cur_x, dxi, act, o))
                }
                (LayerSpec::BatchNorm, Declared::BatchNorm(p)) => {
                    let dx = Self::dx_for(b, dxi, &cur_x);
                    let layer = BatchNorm::new(
                        b,
                        arena,
                        p,
                        &cur_x,
                        &dx,
                        (n, shape[1] * shape[2]),
                        BatchNormConfig::default(),
                    );
                    Layer::BatchNorm(layer, mode)
                }
                (LayerSpec::Act(act), _) => {
                    let dx = Self::dx_for(b, dxi, &cur_x);
                    Layer::Act(ActivationLayer::new(b, &cur_x, &dx, act))
                }
                (LayerSpec::Label { classes }, _) => {
                    let shape = LabelShape {
                        n,
                        per: numel(shape),
                        classes,
                        spatial: shape[1] * shape[2],
                    };
                    let labels = labels.expect("checked above");
                    Layer::Label(LabelLayer::new(b, shape, &cur_x, labels, dxi))
                }
                (LayerSpec::MinibatchStd { group, segments }, _) => {
                    assert!(
                        segments > 0 && n.is_multiple_of(segments),
                        "{}.{i}: a batch of {n} does not split into {segments} equal parts",
                        self.name
                    );
                    let shape = MinibatchStdShape {
                        n,
                        per: numel(shape),
                        spatial: shape[1] * shape[2],
                        group,
                        segment: n / segments,
                    };
                    let dx = Self::dx_for(b, dxi, &cur_x);
                    Layer::MinibatchStd(MinibatchStdLayer::new(b, shape, &cur_x, &dx))
                }
                (spec, _) if spec.passes_through(mode) => {
                    shape = out_shape;
                    continue;
                }
                (LayerSpec::Dropout(rate), _) => {
                    let dx = Self::dx_for(b, dxi, &cur_x);
                    Layer::Dropout(Dropout::new(
                        b,
                        &cur_x,
                        &dx,
                        rate,
                        seed,
                        stream + i as u32,
                        arena.step(),
                    ))
                }
                (spec, d) => unreachable!("layer {spec:?} declared as {d:?}"),
            };
            let (y, dy) = layer.output();
            cur_x = y.clone();
            cur_dx = Some(dy.clone());
            layers.push(layer);
            shape = out_shape;
        }
        b.name_ops("");
        let (y, dy) = match layers.last() {
            Some(l) => {
                let (y, dy) = l.output();
                (y.clone(), dy.clone())
            }
            None => (x.clone(), b.zeros(x.len())),
        };
        Sequential { layers, y, dy, n }
    }

    /// Layers without parameters always write an input gradient; where the
    /// input needs none (the network's own input), into a tensor of their own.
    fn dx_for<B: Backend>(b: &B, dx: InputGrad<B::Tensor>, x: &B::Tensor) -> B::Tensor {
        match dx {
            InputGrad::Write(t) => t.clone(),
            InputGrad::None => b.zeros(x.len()),
            InputGrad::Accumulate(_) => {
                panic!("a network that starts with batch norm, an activation or dropout cannot accumulate into its input gradient")
            }
        }
    }
}

/// One bound layer of a [`Sequential`].
pub enum Layer<B: Backend> {
    Linear(Linear<B>),
    Conv(Conv2d<B>),
    ConvTranspose(ConvTranspose2d<B>),
    BatchNorm(BatchNorm<B>, Mode),
    Act(ActivationLayer<B>),
    Dropout(Dropout<B>),
    Label(LabelLayer<B>),
    MinibatchStd(MinibatchStdLayer<B>),
}

impl<B: Backend> Layer<B> {
    fn output(&self) -> (&B::Tensor, &B::Tensor) {
        match self {
            Layer::Linear(l) => (&l.y, &l.dy),
            Layer::Conv(l) => (&l.y, &l.dy),
            Layer::ConvTranspose(l) => (&l.y, &l.dy),
            Layer::BatchNorm(l, _) => (&l.y, &l.dy),
            Layer::Act(l) => (&l.y, &l.dy),
            Layer::Dropout(l) => (&l.y, &l.dy),
            Layer::Label(l) => (&l.y, &l.dy),
            Layer::MinibatchStd(l) => (&l.y, &l.dy),
        }
    }

    fn has_params(&self) -> bool {
        matches!(
            self,
            Layer::Linear(_) | Layer::Conv(_) | Layer::ConvTranspose(_) | Layer::BatchNorm(..)
        )
    }

    fn forward(&self, pass: &mut B::Pass<'_>) {
        match self {
            Layer::Linear(l) => l.forward(pass),
            Layer::Conv(l) => l.forward(pass),
            Layer::ConvTranspose(l) => l.forward(pass),
            Layer::BatchNorm(l, Mode::Train) => l.forward(pass),
            Layer::BatchNorm(l, Mode::Eval) => l.forward_eval(pass),
            Layer::Act(l) => l.forward(pass),
            Layer::Dropout(l) => l.forward(pass),
            Layer::Label(l) => l.forward(pass),
            Layer::MinibatchStd(l) => l.forward(pass),
        }
    }

    /// `params`: also the parameter gradients; `input`: also the input
    /// gradient (layers without parameters always compute it).
    fn backward(&self, pass: &mut B::Pass<'_>, params: bool, input: bool) {
        match self {
            Layer::Linear(l) => l.backward.record(pass, params, input),
            Layer::Conv(l) => l.backward.record(pass, params, input),
            Layer::ConvTranspose(l) => l.backward.record(pass, params, input),
            Layer::BatchNorm(l, _) => {
                assert!(
                    params,
                    "batch norm's backward always accumulates dγ and dβ: it cannot run input-only"
                );
                l.backward(pass)
            }
            Layer::Act(l) => l.backward(pass),
            Layer::Dropout(l) => l.backward(pass),
            Layer::Label(l) if input => l.backward(pass),
            Layer::Label(_) => {}
            Layer::MinibatchStd(l) => l.backward(pass),
        }
    }
}

/// A bound network: `forward`, and the two backward passes a GAN needs.
pub struct Sequential<B: Backend> {
    pub layers: Vec<Layer<B>>,
    /// The output [N, out] and its gradient (which the loss writes).
    pub y: B::Tensor,
    pub dy: B::Tensor,
    pub n: usize,
}

impl<B: Backend> Sequential<B> {
    pub fn forward(&self, pass: &mut B::Pass<'_>) {
        for l in &self.layers {
            l.forward(pass);
        }
    }

    /// Accumulates every parameter gradient; writes the input gradient when
    /// the network was bound with one.
    pub fn backward(&self, pass: &mut B::Pass<'_>) {
        for l in self.layers.iter().rev() {
            l.backward(pass, true, true);
        }
    }

    /// Every parameter gradient, without the gradient of the network's input.
    pub fn backward_params(&self, pass: &mut B::Pass<'_>) {
        // Layers before the first with parameters need no gradient at all
        // (a label layer at the input, say), and that one none for its input.
        let first = self.layers.iter().position(Layer::has_params).unwrap_or(0);
        for (i, l) in self.layers.iter().enumerate().skip(first).rev() {
            l.backward(pass, true, i > first);
        }
    }

    /// The input gradient alone, parameters' gradients untouched: how a
    /// generator's loss reaches it through the discriminator. Only for
    /// networks without batch norm (whose samples do not interact).
    pub fn backward_input(&self, pass: &mut B::Pass<'_>) {
        for l in self.layers.iter().rev() {
            l.backward(pass, false, true);
        }
    }
}
