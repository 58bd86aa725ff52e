//! Every op of the engine, one family per file. An op is one unit under one
//! name: its CPU reference (plain loops written for clarity; the
//! finite-difference tests check these, and these check every kernel), its
//! fast CPU version where the reference would be slow (same name, in the
//! file's `fast` module), the `#[repr(C)]` mirror of its WGSL uniform struct,
//! and its binding on each backend (an [`Op`](crate::backends::Op) struct
//! holding its shape and settings, with a `…Tensors` struct naming its tensors).
//!
//! Conventions (as in llm.c): outputs first; forward writes its output;
//! parameter gradients *accumulate* (`+=`) and are zeroed once per step;
//! input gradients are written or accumulated as their [`Grad`](crate::core::Grad)
//! says. Losses write their gradient (they start the backward pass), put
//! their value in a slot of a loss tensor, and the reference returns it.

pub mod adam;
pub mod batchnorm;
pub mod conv;
pub mod dense;
pub mod elementwise;
pub mod label;
pub mod loss;
pub mod mbstd;
pub mod random;
pub mod reparam;
pub mod spectral;

// Each family's `UNIFORMS` is reached through its module (`ops::dense::UNIFORMS`):
// the glob leaves that one name ambiguous on purpose.
#[allow(ambiguous_glob_reexports)]
pub use adam::*;
pub use batchnorm::*;
pub use conv::*;
pub use dense::*;
pub use elementwise::*;
pub use label::*;
pub use loss::*;
pub use mbstd::*;
pub use random::*;
pub use reparam::*;
pub use spectral::*;

use crate::backends::gpu::{Tensor, UniformLayout};

/// Every uniform struct the ops bind, for the WGSL contract test.
pub fn uniform_layouts() -> Vec<UniformLayout> {
    [
        adam::UNIFORMS,
        batchnorm::UNIFORMS,
        conv::UNIFORMS,
        dense::UNIFORMS,
        elementwise::UNIFORMS,
        label::UNIFORMS,
        loss::UNIFORMS,
        mbstd::UNIFORMS,
        random::UNIFORMS,
        reparam::UNIFORMS,
        spectral::UNIFORMS,
        crate::backends::gpu::UNIFORMS,
    ]
    .concat()
}

/// The fast CPU ops, named as their references.
pub mod fast {
    pub use super::adam::fast::*;
    pub use super::batchnorm::fast::*;
    pub use super::conv::fast::*;
    pub use super::dense::fast::*;
}

/// Panics with the op's name unless the GPU tensor holds at least `need` elements.
fn check_len(op: &str, what: &str, t: &Tensor, need: usize) {
    assert!(
        t.len() >= need,
        "{op}: {what} has {} elements, needs {need}",
        t.len()
    );
}

/// Workgroups of [`crate::core::WORKGROUP_SIZE`] threads over `len` elements.
fn grid(len: usize) -> [u32; 3] {
    crate::backends::gpu::grid_1d(len, crate::core::WORKGROUP_SIZE as usize)
}
