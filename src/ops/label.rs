//! Conditioning on a class label: each sample's values followed by the
//! one-hot code of its label, repeated over `spatial` positions (one map
//! per class for images, one value per class for vectors), and the backward
//! that hands the gradient of the sample's own part back to its input.
//!
//! Labels are class indices held as floats (exact for any class count
//! genlab uses); a label outside 0..classes has an all-zero code.

use super::{check_len, grid};
use crate::backends::cpu::zero_unless;
use crate::backends::cpu::{Cpu, CpuOp, CpuTensor};
use crate::backends::gpu::uniform;
use crate::backends::gpu::{Gpu, Kernel, Launch, Tensor, Uniform, UniformLayout};
use crate::backends::Op;
use crate::core::Grad;
use bytemuck::Zeroable;

/// The layout of a labelled batch: `n` samples of `per` values, each
/// followed by `classes` maps of `spatial` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LabelShape {
    pub n: usize,
    pub per: usize,
    pub classes: usize,
    pub spatial: usize,
}

impl LabelShape {
    /// Values per sample of the output.
    pub fn width(self) -> usize {
        self.per + self.classes * self.spatial
    }
}

// ---------------------------------------------------------------- CPU reference

/// y[i] = x[i] ++ one_hot(labels[i]) repeated over `spatial` positions.
pub fn label_concat_forward(y: &mut [f32], x: &[f32], labels: &[f32], s: LabelShape) {
    let w = s.width();
    for i in 0..s.n {
        y[i * w..i * w + s.per].copy_from_slice(&x[i * s.per..(i + 1) * s.per]);
        for k in 0..s.classes {
            let on = labels[i] == k as f32;
            let maps = i * w + s.per + k * s.spatial;
            y[maps..maps + s.spatial].fill(if on { 1.0 } else { 0.0 });
        }
    }
}

/// dx[i] += dy[i][..per] (the label's part has no gradient to pass on).
pub fn label_concat_backward(dx: &mut [f32], dy: &[f32], s: LabelShape) {
    let w = s.width();
    for i in 0..s.n {
        for j in 0..s.per {
            dx[i * s.per + j] += dy[i * w + j];
        }
    }
}

// ---------------------------------------------------------------- binding

/// The uniform structs of this file's kernels (see `ops::uniform_layouts`).
pub const UNIFORMS: &[UniformLayout] = &[LabelParams::LAYOUT];

uniform! {
    /// Mirrors `LabelParams` in shaders/label.wgsl.
    pub struct LabelParams {
        pub n: u32,
        pub per: u32,
        pub classes: u32,
        pub spatial: u32,
        pub accumulate: u32,
        pub _pad0: u32,
        pub _pad1: u32,
        pub _pad2: u32,
    }
}

impl LabelParams {
    fn of(s: LabelShape, grad: Grad) -> LabelParams {
        LabelParams {
            n: s.n as u32,
            per: s.per as u32,
            classes: s.classes as u32,
            spatial: s.spatial as u32,
            accumulate: grad.accumulates() as u32,
            ..Zeroable::zeroed()
        }
    }
}

/// y = x ++ one_hot(labels), per sample.
#[derive(Clone, Copy, Debug)]
pub struct LabelConcat {
    pub shape: LabelShape,
}

pub struct LabelConcatTensors<'a, T> {
    pub y: &'a T,
    pub x: &'a T,
    pub labels: &'a T,
}

impl Op for LabelConcat {
    type Tensors<'a, T: 'a> = LabelConcatTensors<'a, T>;

    fn bind_cpu(&self, _: &Cpu, t: LabelConcatTensors<CpuTensor>) -> CpuOp {
        let s = self.shape;
        let [yc, xc, lc] = [t.y, t.x, t.labels].map(Clone::clone);
        CpuOp::new("label_concat", &[t.y], &[t.x, t.labels], move |_| unsafe {
            label_concat_forward(yc.get_mut(), xc.get(), lc.get(), s)
        })
    }

    fn bind_gpu(&self, gpu: &Gpu, t: LabelConcatTensors<Tensor>) -> Launch {
        let s = self.shape;
        check_len("label_concat", "x", t.x, s.n * s.per);
        check_len("label_concat", "labels", t.labels, s.n);
        check_len("label_concat", "y", t.y, s.n * s.width());
        gpu.launch(
            Kernel::new("label", "label_concat"),
            &LabelParams::of(s, Grad::Write),
            &[(1, Some(t.x)), (2, Some(t.labels)), (3, Some(t.y))],
            grid(s.n * s.width()),
        )
    }
}

/// dx (+)= dy's part for x, per sample.
#[derive(Clone, Copy, Debug)]
pub struct LabelConcatBackward {
    pub shape: LabelShape,
    pub grad: Grad,
}

pub struct LabelConcatBackwardTensors<'a, T> {
    pub dx: &'a T,
    pub dy: &'a T,
}

impl Op for LabelConcatBackward {
    type Tensors<'a, T: 'a> = LabelConcatBackwardTensors<'a, T>;

    fn bind_cpu(&self, _: &Cpu, t: LabelConcatBackwardTensors<CpuTensor>) -> CpuOp {
        let (s, accumulate) = (self.shape, self.grad.accumulates());
        let [dxc, dyc] = [t.dx, t.dy].map(Clone::clone);
        CpuOp::new("label_concat_backward", &[t.dx], &[t.dy], move |_| unsafe {
            let dx = dxc.get_mut();
            zero_unless(accumulate, dx);
            label_concat_backward(dx, dyc.get(), s);
        })
    }

    fn bind_gpu(&self, gpu: &Gpu, t: LabelConcatBackwardTensors<Tensor>) -> Launch {
        let s = self.shape;
        check_len("label_concat_backward", "dy", t.dy, s.n * s.width());
        check_len("label_concat_backward", "dx", t.dx, s.n * s.per);
        gpu.launch(
            Kernel::new("label", "label_concat_backward"),
            &LabelParams::of(s, self.grad),
            &[(4, Some(t.dy)), (5, Some(t.dx))],
            grid(s.n * s.per),
        )
    }
}
