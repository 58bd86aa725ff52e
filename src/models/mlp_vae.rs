//! The PyTorch example's VAE: 784 → 400 → (μ, log σ²) of 20 → 400 → 784.

use super::{dense, vector, Family, ModelConfig, ModelInfo, ModelKind};
use crate::core::Activation;
use crate::data::PIXELS;
use crate::nn::NetSpec;

pub(super) const INFO: ModelInfo = ModelInfo {
    kind: ModelKind::MlpVae,
    name: "mlp-vae",
    title: "MLP VAE",
    description: "The PyTorch example's VAE: 784 → 400 → a 20-dimensional Gaussian → 400 → 784, with a β-weighted KL.",
    family: Family::Vae,
    material: || ModelConfig {
        batch: 128,
        latent: 20,
        hidden: 400,
        lr: 1e-3,
        ..ModelConfig::base(ModelKind::MlpVae)
    },
    page: |c| ModelConfig {
        batch: 64,
        hidden: 256,
        ..c
    },
    networks: |c| vec![("encoder", encoder(c)), ("decoder", decoder(c))],
    conditional: false,
    tutorial: None,
};

/// 784 → hidden (the μ and log σ² heads are the family's).
pub(super) fn encoder(c: &ModelConfig) -> NetSpec {
    NetSpec {
        input: vector(PIXELS),
        layers: vec![dense(c.hidden, Activation::Relu)],
    }
}

/// z → hidden → 784 logits.
pub(super) fn decoder(c: &ModelConfig) -> NetSpec {
    NetSpec {
        input: vector(c.latent),
        layers: vec![
            dense(c.hidden, Activation::Relu),
            dense(PIXELS, Activation::None),
        ],
    }
}
