//! Activations as their own ops (where they are not fused into the producing
//! product), fills (gradient zeroing), and the per-model step counter.

use super::{check_len, grid};
use crate::backends::cpu::par_chunks_mut;
use crate::backends::cpu::{zero_unless, Cpu, CpuOp, CpuTensor};
use crate::backends::gpu::uniform;
use crate::backends::gpu::{Gpu, Kernel, Launch, Tensor, Uniform, UniformLayout};
use crate::backends::Op;
use crate::core::{Activation, Grad};
use bytemuck::Zeroable;

// ---------------------------------------------------------------- CPU reference

/// y = act(x) elementwise.
pub fn activation_forward(y: &mut [f32], x: &[f32], act: Activation) {
    act.apply_slice(y, x);
}

/// dx += dy · act'(x), with act' written through y = act(x).
pub fn activation_backward(dx: &mut [f32], dy: &[f32], y: &[f32], act: Activation) {
    act.backward_slice(dx, dy, y);
}

/// out = value (gradient zeroing is `fill(g, 0.0)`).
pub fn fill(out: &mut [f32], value: f32) {
    out.fill(value);
}

// ---------------------------------------------------------------- binding

/// The uniform structs of this file's kernels (see `ops::uniform_layouts`).
pub const UNIFORMS: &[UniformLayout] = &[ElementwiseParams::LAYOUT];

uniform! {
    /// Mirrors `ElementwiseParams` in shaders/elementwise.wgsl.
    pub struct ElementwiseParams {
        pub len: u32,
        pub act: u32,
        pub slope: f32,
        pub accumulate: u32,
        pub value: f32,
        pub _pad0: u32,
        pub _pad1: u32,
        pub _pad2: u32,
    }
}

fn elementwise(len: usize, act: Activation, accumulate: bool, value: f32) -> ElementwiseParams {
    let (act, slope) = act.code();
    ElementwiseParams {
        len: len as u32,
        act,
        slope,
        accumulate: accumulate as u32,
        value,
        ..Zeroable::zeroed()
    }
}

/// y = act(x).
#[derive(Clone, Copy, Debug)]
pub struct ActivationForward {
    pub act: Activation,
}

pub struct ActivationForwardTensors<'a, T> {
    pub y: &'a T,
    pub x: &'a T,
}

impl Op for ActivationForward {
    type Tensors<'a, T: 'a> = ActivationForwardTensors<'a, T>;

    fn bind_cpu(&self, _: &Cpu, t: ActivationForwardTensors<CpuTensor>) -> CpuOp {
        let act = self.act;
        let (yc, xc) = (t.y.clone(), t.x.clone());
        CpuOp::new("activation_forward", &[t.y], &[t.x], move |s| unsafe {
            let x = xc.get();
            par_chunks_mut(s.threads(), yc.get_mut(), |i, y| {
                activation_forward(y, &x[i..i + y.len()], act)
            });
        })
    }

    fn bind_gpu(&self, gpu: &Gpu, t: ActivationForwardTensors<Tensor>) -> Launch {
        check_len("activation_forward", "y", t.y, t.x.len());
        let params = elementwise(t.x.len(), self.act, false, 0.0);
        gpu.launch(
            Kernel::new("elementwise", "activation_forward"),
            &params,
            &[(1, Some(t.x)), (2, Some(t.y))],
            grid(t.x.len()),
        )
    }
}

/// dx (+)= dy · act'(x), through y = act(x). With `Activation::None` and
/// `Grad::Accumulate` it is dx += dy (how gradients of a branch are summed).
#[derive(Clone, Copy, Debug)]
pub struct ActivationBackward {
    pub act: Activation,
    pub grad: Grad,
}

pub struct ActivationBackwardTensors<'a, T> {
    pub dx: &'a T,
    pub dy: &'a T,
    pub y: &'a T,
}

impl Op for ActivationBackward {
    type Tensors<'a, T: 'a> = ActivationBackwardTensors<'a, T>;

    fn bind_cpu(&self, _: &Cpu, t: ActivationBackwardTensors<CpuTensor>) -> CpuOp {
        let (act, accumulate) = (self.act, self.grad.accumulates());
        let (dxc, dyc, yc) = (t.dx.clone(), t.dy.clone(), t.y.clone());
        CpuOp::new(
            "activation_backward",
            &[t.dx],
            &[t.dy, t.y],
            move |s| unsafe {
                let (dy, y) = (dyc.get(), yc.get());
                par_chunks_mut(s.threads(), dxc.get_mut(), |i, dx| {
                    let n = dx.len();
                    zero_unless(accumulate, dx);
                    activation_backward(dx, &dy[i..i + n], &y[i..i + n], act);
                });
            },
        )
    }

    fn bind_gpu(&self, gpu: &Gpu, t: ActivationBackwardTensors<Tensor>) -> Launch {
        check_len("activation_backward", "y", t.y, t.dy.len());
        check_len("activation_backward", "dx", t.dx, t.dy.len());
        let params = elementwise(t.dy.len(), self.act, self.grad.accumulates(), 0.0);
        gpu.launch(
            Kernel::new("elementwise", "activation_backward"),
            &params,
            &[(3, Some(t.dy)), (4, Some(t.y)), (5, Some(t.dx))],
            grid(t.dy.len()),
        )
    }
}

/// out = value (`Fill { value: 0.0 }` zeroes gradients).
#[derive(Clone, Copy, Debug)]
pub struct Fill {
    pub value: f32,
}

pub struct FillTensors<'a, T> {
    pub out: &'a T,
}

impl Op for Fill {
    type Tensors<'a, T: 'a> = FillTensors<'a, T>;

    fn bind_cpu(&self, _: &Cpu, t: FillTensors<CpuTensor>) -> CpuOp {
        let (oc, value) = (t.out.clone(), self.value);
        CpuOp::new("fill", &[t.out], &[], move |s| unsafe {
            par_chunks_mut(s.threads(), oc.get_mut(), |_, out| fill(out, value));
        })
    }

    fn bind_gpu(&self, gpu: &Gpu, t: FillTensors<Tensor>) -> Launch {
        let params = elementwise(t.out.len(), Activation::None, false, self.value);
        gpu.launch(
            Kernel::new("elementwise", "fill"),
            &params,
            &[(2, Some(t.out))],
            grid(t.out.len()),
        )
    }
}

/// step[0] += 1 (the counter is a one-element tensor holding a u32).
#[derive(Clone, Copy, Debug)]
pub struct StepIncrement;

pub struct StepTensors<'a, T> {
    pub step: &'a T,
}

impl Op for StepIncrement {
    type Tensors<'a, T: 'a> = StepTensors<'a, T>;

    fn bind_cpu(&self, _: &Cpu, t: StepTensors<CpuTensor>) -> CpuOp {
        let sc = t.step.clone();
        CpuOp::new("step_increment", &[t.step], &[], move |_| unsafe {
            let s = &mut sc.get_mut()[0];
            *s = f32::from_bits(s.to_bits().wrapping_add(1));
        })
    }

    fn bind_gpu(&self, gpu: &Gpu, t: StepTensors<Tensor>) -> Launch {
        gpu.launch(
            Kernel::new("elementwise", "step_increment"),
            &elementwise(1, Activation::None, false, 0.0),
            &[(6, Some(t.step))],
            [1, 1, 1],
        )
    }
}

/// dst += src (an identity activation's backward), bound on `b`.
pub fn add_assign<B: crate::backends::Backend>(b: &B, dst: &B::Tensor, src: &B::Tensor) -> B::Op {
    let op = ActivationBackward {
        act: Activation::None,
        grad: Grad::Accumulate,
    };
    b.bind(
        &op,
        ActivationBackwardTensors {
            dx: dst,
            dy: src,
            y: src,
        },
    )
}

/// t = value, bound on `b`.
pub fn fill_op<B: crate::backends::Backend>(b: &B, t: &B::Tensor, value: f32) -> B::Op {
    b.bind(&Fill { value }, FillTensors { out: t })
}
