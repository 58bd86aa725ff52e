//! genlab: a WebGPU playground for generative models.
//!
//! WGSL compute kernels (`shaders/`) for the forward and backward passes of
//! dense layers, convolutions and transposed convolutions, batch norm,
//! activations, dropout, losses and Adam, each with a CPU reference of the
//! same name ([`cpu`]), run through wgpu natively and in the browser.
//!
//! Shape letters, used throughout: N batch, C channels, H×W image, K kernel,
//! S stride, Z latent. Images are NCHW.

pub mod backend;
pub mod cpu;
pub mod data;
pub mod fast;
pub mod geom;
pub mod gpu;
pub mod models;
pub mod nn;
pub mod playground;
pub mod rng;
pub mod score;
pub mod train;

#[cfg(target_arch = "wasm32")]
mod web;
