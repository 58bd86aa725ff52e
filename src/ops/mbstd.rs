//! Minibatch standard deviation (Karras et al. 2018, ProGAN): a
//! discriminator layer that lets D see how varied a group of samples is.
//! The batch is cut into groups of `group` consecutive samples; for each
//! group, the standard deviation of every input value over the group's
//! members is averaged into one number s, which joins each member's values
//! as one more map of `spatial` positions. A generator that makes the same
//! image again and again gets s near 0 on its fakes, which D then tells
//! apart from real groups.
//!
//! Groups never cross a multiple of `segment` samples: a GAN's D runs over
//! [fake; real] and each half is one segment, so no group mixes the two
//! (the last group of a segment may be smaller than `group`).
//!
//! Forward, for a group g with members M (|M| = m) and each value j:
//!   μ_j = Σ_M x_ij / m,  σ_j = √(Σ_M (x_ij − μ_j)² / m + ε),  s_g = Σ_j σ_j / per
//! Backward, with S_g = Σ_M Σ_p dy_i[per + p] (the gradient of s_g):
//!   dx_ij (+)= dy_ij + S_g · (x_ij − μ_j) / (per · m · σ_j)

use super::grid;
use crate::backends::cpu::zero_unless;
use crate::backends::cpu::{Cpu, CpuOp, CpuTensor};
use crate::backends::gpu::uniform;
use crate::backends::gpu::{grid_1d, Gpu, Kernel, Launch, Tensor, Uniform, UniformLayout};
use crate::backends::{Op, TensorLen};
use crate::core::{Grad, WORKGROUP_SIZE};
use bytemuck::Zeroable;
use std::ops::Range;

/// Added to each variance before its square root (as ProGAN's): a group
/// of one, or of equal samples, has s = √ε and a finite gradient.
pub const MBSTD_EPS: f32 = 1e-8;

/// `n` samples of `per` values, in groups of `group` within segments of
/// `segment` samples; the output has `spatial` more values per sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MinibatchStdShape {
    pub n: usize,
    pub per: usize,
    pub spatial: usize,
    pub group: usize,
    pub segment: usize,
}

impl MinibatchStdShape {
    /// Values per sample of the output.
    pub fn width(self) -> usize {
        self.per + self.spatial
    }

    fn groups_per_segment(self) -> usize {
        self.segment.div_ceil(self.group)
    }

    /// The number of groups (one statistic each).
    pub fn groups(self) -> usize {
        self.n / self.segment * self.groups_per_segment()
    }

    /// The samples of group `g`.
    pub fn members(self, g: usize) -> Range<usize> {
        let (seg, k) = (g / self.groups_per_segment(), g % self.groups_per_segment());
        let start = seg * self.segment + k * self.group;
        start..start + self.group.min(self.segment - k * self.group)
    }

    /// The group of sample `i`.
    pub fn group_of(self, i: usize) -> usize {
        let (seg, j) = (i / self.segment, i % self.segment);
        seg * self.groups_per_segment() + j / self.group
    }

    /// Panics with the op's name unless the shape is whole: every size at
    /// least 1 and `n` a multiple of `segment`.
    fn check(self, name: &str) {
        let s = self;
        assert!(
            s.n > 0 && s.per > 0 && s.spatial > 0 && s.group > 0 && s.segment > 0,
            "{name}: an empty size in {s:?}"
        );
        assert!(
            s.n.is_multiple_of(s.segment),
            "{name}: {} samples do not split into segments of {} ({s:?})",
            s.n,
            s.segment
        );
    }
}

// ---------------------------------------------------------------- CPU reference

/// μ_j and σ_j of value `j` over the members of a group.
fn member_stats(x: &[f32], per: usize, members: Range<usize>, j: usize) -> (f64, f64) {
    let m = members.len() as f64;
    let mean = members.clone().map(|i| x[i * per + j] as f64).sum::<f64>() / m;
    let var = members
        .map(|i| (x[i * per + j] as f64 - mean).powi(2))
        .sum::<f64>()
        / m;
    (mean, (var + MBSTD_EPS as f64).sqrt())
}

/// stat[g] = s_g; y[i] = x[i] ++ s_{group of i} repeated over `spatial`.
pub fn minibatch_std_forward(y: &mut [f32], stat: &mut [f32], x: &[f32], s: MinibatchStdShape) {
    for (g, st) in stat[..s.groups()].iter_mut().enumerate() {
        let sum: f64 = (0..s.per)
            .map(|j| member_stats(x, s.per, s.members(g), j).1)
            .sum();
        *st = (sum / s.per as f64) as f32;
    }
    let w = s.width();
    for i in 0..s.n {
        y[i * w..i * w + s.per].copy_from_slice(&x[i * s.per..(i + 1) * s.per]);
        y[i * w + s.per..(i + 1) * w].fill(stat[s.group_of(i)]);
    }
}

/// dstat[g] = S_g (written); dx (+)= dy's part for x + S_g·(x − μ)/(per·m·σ).
pub fn minibatch_std_backward(
    dx: &mut [f32],
    dstat: &mut [f32],
    dy: &[f32],
    x: &[f32],
    s: MinibatchStdShape,
) {
    let w = s.width();
    for (g, ds) in dstat[..s.groups()].iter_mut().enumerate() {
        let members = s.members(g);
        let m = members.len() as f64;
        let total: f64 = (members.clone())
            .flat_map(|i| &dy[i * w + s.per..(i + 1) * w])
            .map(|&v| v as f64)
            .sum();
        *ds = total as f32;
        for j in 0..s.per {
            let (mean, sd) = member_stats(x, s.per, members.clone(), j);
            for i in members.clone() {
                let spread = total * (x[i * s.per + j] as f64 - mean) / (s.per as f64 * m * sd);
                dx[i * s.per + j] += dy[i * w + j] + spread as f32;
            }
        }
    }
}

// ---------------------------------------------------------------- binding

/// The uniform structs of this file's kernels (see `ops::uniform_layouts`).
pub const UNIFORMS: &[UniformLayout] = &[MinibatchStdParams::LAYOUT];

uniform! {
    /// Mirrors `MinibatchStdParams` in shaders/mbstd.wgsl.
    pub struct MinibatchStdParams {
        pub n: u32,
        pub per: u32,
        pub spatial: u32,
        pub group: u32,
        pub segment: u32,
        pub accumulate: u32,
        pub _pad0: u32,
        pub _pad1: u32,
    }
}

impl MinibatchStdParams {
    fn of(s: MinibatchStdShape, grad: Grad) -> MinibatchStdParams {
        MinibatchStdParams {
            n: s.n as u32,
            per: s.per as u32,
            spatial: s.spatial as u32,
            group: s.group as u32,
            segment: s.segment as u32,
            accumulate: grad.accumulates() as u32,
            ..Zeroable::zeroed()
        }
    }
}

/// Panics with the op's name unless the shape is whole and each tensor
/// holds what it needs: inputs and their gradients n·per, outputs and
/// theirs n·width, the statistics one per group.
fn check<T: TensorLen>(
    name: &str,
    s: MinibatchStdShape,
    inputs: &[(&str, &T)],
    outputs: &[(&str, &T)],
    stat: (&str, &T),
) {
    s.check(name);
    let need = (inputs.iter().map(|&(what, t)| (what, t, s.n * s.per)))
        .chain(outputs.iter().map(|&(what, t)| (what, t, s.n * s.width())))
        .chain([(stat.0, stat.1, s.groups())]);
    for (what, t, n) in need {
        assert!(
            t.len() >= n,
            "{name}: {what} has {} elements, needs {n} for {s:?}",
            t.len()
        );
    }
}

/// One workgroup per group (its statistic is a sum over every value).
fn per_group(s: MinibatchStdShape) -> [u32; 3] {
    grid_1d(
        s.groups() * WORKGROUP_SIZE as usize,
        WORKGROUP_SIZE as usize,
    )
}

/// y = x ++ the standard deviation of each sample's group, as one more map.
#[derive(Clone, Copy, Debug)]
pub struct MinibatchStdForward {
    pub shape: MinibatchStdShape,
}

pub struct MinibatchStdForwardTensors<'a, T> {
    pub y: &'a T,
    /// s per group, written (the op's scratch).
    pub stat: &'a T,
    pub x: &'a T,
}

impl Op for MinibatchStdForward {
    type Tensors<'a, T: 'a> = MinibatchStdForwardTensors<'a, T>;

    fn bind_cpu(&self, _: &Cpu, t: MinibatchStdForwardTensors<CpuTensor>) -> CpuOp {
        let s = self.shape;
        let name = "minibatch_std_forward";
        check(name, s, &[("x", t.x)], &[("y", t.y)], ("stat", t.stat));
        let [yc, sc, xc] = [t.y, t.stat, t.x].map(Clone::clone);
        CpuOp::new(name, &[t.y, t.stat], &[t.x], move |_| unsafe {
            minibatch_std_forward(yc.get_mut(), sc.get_mut(), xc.get(), s)
        })
    }

    fn bind_gpu(&self, gpu: &Gpu, t: MinibatchStdForwardTensors<Tensor>) -> Launch {
        let s = self.shape;
        let name = "minibatch_std_forward";
        check(name, s, &[("x", t.x)], &[("y", t.y)], ("stat", t.stat));
        let params = MinibatchStdParams::of(s, Grad::Write);
        Launch::concat(vec![
            gpu.launch(
                Kernel::new("mbstd", "minibatch_std_stat"),
                &params,
                &[(1, Some(t.x)), (2, Some(t.stat))],
                per_group(s),
            ),
            gpu.launch(
                Kernel::new("mbstd", name),
                &params,
                &[(1, Some(t.x)), (2, Some(t.stat)), (3, Some(t.y))],
                grid(s.n * s.width()),
            ),
        ])
    }
}

/// dx (+)= dy's part for x plus the gradient through each group's s.
#[derive(Clone, Copy, Debug)]
pub struct MinibatchStdBackward {
    pub shape: MinibatchStdShape,
    pub grad: Grad,
}

pub struct MinibatchStdBackwardTensors<'a, T> {
    pub dx: &'a T,
    /// S per group (the gradient of s), written (the op's scratch).
    pub dstat: &'a T,
    pub dy: &'a T,
    /// The forward's input.
    pub x: &'a T,
}

impl Op for MinibatchStdBackward {
    type Tensors<'a, T: 'a> = MinibatchStdBackwardTensors<'a, T>;

    fn bind_cpu(&self, _: &Cpu, t: MinibatchStdBackwardTensors<CpuTensor>) -> CpuOp {
        let s = self.shape;
        let name = "minibatch_std_backward";
        let inputs = [("dx", t.dx), ("x", t.x)];
        check(name, s, &inputs, &[("dy", t.dy)], ("dstat", t.dstat));
        let accumulate = self.grad.accumulates();
        let [dxc, dsc, dyc, xc] = [t.dx, t.dstat, t.dy, t.x].map(Clone::clone);
        CpuOp::new(name, &[t.dx, t.dstat], &[t.dy, t.x], move |_| unsafe {
            let dx = &mut dxc.get_mut()[..s.n * s.per];
            zero_unless(accumulate, dx);
            minibatch_std_backward(dx, dsc.get_mut(), dyc.get(), xc.get(), s);
        })
    }

    fn bind_gpu(&self, gpu: &Gpu, t: MinibatchStdBackwardTensors<Tensor>) -> Launch {
        let s = self.shape;
        let name = "minibatch_std_backward";
        let inputs = [("dx", t.dx), ("x", t.x)];
        check(name, s, &inputs, &[("dy", t.dy)], ("dstat", t.dstat));
        let params = MinibatchStdParams::of(s, self.grad);
        Launch::concat(vec![
            gpu.launch(
                Kernel::new("mbstd", "minibatch_std_stat_grad"),
                &params,
                &[(4, Some(t.dy)), (5, Some(t.dstat))],
                per_group(s),
            ),
            gpu.launch(
                Kernel::new("mbstd", name),
                &params,
                &[
                    (1, Some(t.x)),
                    (4, Some(t.dy)),
                    (5, Some(t.dstat)),
                    (6, Some(t.dx)),
                ],
                grid(s.n * s.per),
            ),
        ])
    }
}
