//! genlab: a WebGPU playground for generative models.
//!
//! WGSL compute kernels (`shaders/`) for the forward and backward passes of
//! dense layers, convolutions and transposed convolutions, batch norm,
//! activations, dropout, losses and Adam, each one unit with its CPU
//! reference of the same name ([`ops`]), run through wgpu natively and in
//! the browser, or on the CPU.
//!
//! Layers, each importing only those above it in this list (see the
//! README's ARCHITECTURE section): [`core`] (shapes, settings, errors) →
//! [`data`] → [`backends`] (where ops run) → [`ops`] → [`nn`] (layers) →
//! [`models`] → [`train`] / [`score`] → [`profile`] → [`export`] (ONNX and PyTorch) →
//! [`app`] (what the page decides) → `web` (the browser glue).
//!
//! Shape letters, used throughout: N batch, C channels, H×W image, K kernel,
//! S stride, Z latent. Images are NCHW.

pub mod app;
pub mod backends;
pub mod core;
pub mod data;
pub mod export;
pub mod models;
pub mod nn;
pub mod ops;
pub mod profile;
pub mod score;
pub mod train;

#[cfg(target_arch = "wasm32")]
mod web;
