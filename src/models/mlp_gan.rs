//! The MLP GAN of the material: z(100) → 128 → 128 → 784 (tanh); D 784 →
//! 128 → 128 → 1, LeakyReLU 0.2.

use super::{dense, vector, Family, ModelConfig, ModelInfo, ModelKind, LEAK};
use crate::core::Activation;
use crate::data::PIXELS;
use crate::nn::NetSpec;

pub(super) const INFO: ModelInfo = ModelInfo {
    kind: ModelKind::MlpGan,
    name: "mlp-gan",
    title: "MLP GAN",
    description: "A generator z(100) → 128 → 128 → 784 against a discriminator 784 → 128 → 128 → 1, both dense.",
    family: Family::Gan,
    // Adam β1 0.5: at 0.9 the discriminator won (D loss 0.08, G loss 4.6
    // after 10k steps, noise for samples); at 0.5 they balance (0.29, 2.6).
    material: || ModelConfig {
        lr: 2e-4,
        adam_beta1: 0.5,
        ..ModelConfig::base(ModelKind::MlpGan)
    },
    page: |c| c,
    networks: |c| {
        vec![
            ("generator", generator(c)),
            ("discriminator", discriminator(c)),
        ]
    },
    conditional: false,
    tutorial: None,
};

fn generator(c: &ModelConfig) -> NetSpec {
    NetSpec {
        input: vector(c.latent),
        layers: vec![
            dense(c.hidden, Activation::Relu),
            dense(c.hidden, Activation::Relu),
            dense(PIXELS, Activation::Tanh),
        ],
    }
}

fn discriminator(c: &ModelConfig) -> NetSpec {
    NetSpec {
        input: vector(PIXELS),
        layers: vec![
            dense(c.hidden, LEAK),
            dense(c.hidden, LEAK),
            dense(1, Activation::None),
        ],
    }
}
