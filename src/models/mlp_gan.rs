//! The MLP GAN of the material: z(100) → 128 → 128 → 784 (tanh); D 784 →
//! 128 → 128 → 1, LeakyReLU 0.2, dropout after each hidden layer.

use super::{dense, vector, Family, GanLoss, ModelConfig, ModelInfo, ModelKind, LEAK};
use crate::core::Activation;
use crate::data::PIXELS;
use crate::nn::{LayerSpec, NetSpec};

pub(super) const INFO: ModelInfo = ModelInfo {
    kind: ModelKind::MlpGan,
    name: "mlp-gan",
    title: "MLP GAN",
    description: "A generator z(100) → 128 → 128 → 784 against a discriminator 784 → 128 → 128 → 1 with dropout, both dense.",
    family: Family::Gan,
    // Adam β1 0.5: at 0.9 the discriminator won (D loss 0.08, G loss 4.6
    // after 10k steps, noise for samples); at 0.5 they balance (0.29, 2.6).
    // D naming the digit or calling the image fake (the classes loss), with
    // dropout 0.3 (the base setting) after its hidden layers, G's weight
    // average at 0.999, Adam 1e-3. 20,000 steps (`genlab train --model
    // mlp-gan --steps 20000 --backend cpu --threads 1`, seeds 1 / 2 / 3),
    // IS by genlab's classifier: 8.51 / 8.25 / 8.67 (FID 17.8 / 21.1 /
    // 15.9); at 8e-4 7.95 / 8.26 / 8.37, at 4e-4 7.77 / 8.06 / 7.77, at
    // 2e-4 7.10 / 6.83; without the dropout (2e-4) 6.09 / 5.59.
    material: || ModelConfig {
        lr: 1e-3,
        adam_beta1: 0.5,
        gan_loss: GanLoss::Classes,
        g_average: 0.999,
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
            LayerSpec::Dropout(c.dropout),
            dense(c.hidden, LEAK),
            LayerSpec::Dropout(c.dropout),
            dense(1, Activation::None),
        ],
    }
}
