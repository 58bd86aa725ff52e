//! The TensorFlow tutorial's DCGAN: G dense z → 7·7·4w (no bias) → BN →
//! LeakyReLU → transposed conv 5×5 to 2w (stride 1), w (2), 1 (2), tanh;
//! D conv 5×5/2 to w and 2w, LeakyReLU, dropout, dense 1.

use super::{dense, image, vector, Family, GanLoss, ModelConfig, ModelInfo, ModelKind, KERAS_LEAK};
use crate::core::Activation;
use crate::nn::{LayerSpec, NetSpec};

pub(super) const INFO: ModelInfo = ModelInfo {
    kind: ModelKind::Dcgan,
    name: "dcgan",
    title: "DCGAN",
    description: "The TensorFlow tutorial's DCGAN: dense → 7×7×256 → transposed convolutions to 128, 64, 1 with batch norm; a two-convolution discriminator with dropout.",
    family: Family::Gan,
    // The tutorial's layers (z 100, 256-128-64 channels) with the recipe
    // that worked best: the DCGAN paper's Adam (2e-4, β1 0.5), D naming the
    // digit or calling the image fake (the classes loss), G's digit-balance
    // term at 1, sampled from G's weight average. Without the balance term
    // (`genlab train --model dcgan --steps 2000 --g-balance 0 --backend
    // cpu`): FID 22.3, IS 8.39 by genlab's classifier at 2,000 steps; with
    // BCE at the same Adam 105.9, 6.43, and with the average added 72.5,
    // 6.85. At 10,000 steps without the term the 5s fell to 6.6% of 1,000
    // samples on seeds 1 and 2 (FID 10.8 / 11.4, IS 9.04 / 8.86); with it
    // (`--seed 1|2 --steps 10000 --backend cpu --threads 2`): FID 9.5 / 9.1,
    // IS 9.01 / 8.999, every digit 8.1-11.6% / 9.0-10.9%. README: "Measured
    // quality".
    material: || ModelConfig {
        lr: 2e-4,
        adam_beta1: 0.5,
        g_average: 0.995,
        gan_loss: GanLoss::Classes,
        g_balance: 1.0,
        ..ModelConfig::base(ModelKind::Dcgan)
    },
    // The TensorFlow tutorial's: Adam 1e-4 (β1 0.9), non-saturating BCE,
    // sampled from the weights themselves.
    tutorial: Some(|| ModelConfig::base(ModelKind::Dcgan)),
    // Narrow (G 16, D 8: a discriminator half the generator's width) at
    // batch 32, Adam 8e-4 with the DCGAN paper's β1 (0.5), no dropout, D
    // naming the digit or calling the image fake (the classes loss), sampled
    // from the generator's weight average at 0.995. Natively, about the
    // page's 90 s of work (1,300 steps, 43 s on one thread; `genlab train
    // --model dcgan --batch 32 --width 16 --d-width 8 --lr 8e-4 --adam-beta1
    // 0.5 --dropout 0 --g-average 0.995 --gan-loss classes --g-balance 0
    // --backend cpu --threads 1`): FID 36.6, IS 8.29 by genlab's classifier
    // (seed 2: 35.8, 8.32); D as wide as G, batch 16 at 4e-4 (the preset
    // before, 1,500 steps): 39.2, 7.61; with BCE 118.3, 5.79. In the page at 90 s
    // (scripts/page_quality.py): grid IS 7.88, 8.05, 7.53, 7.51 (four runs;
    // 512 samples: 7.96-8.01, FID about 46), against 7.55 (7.49, FID 37)
    // for the preset before. The README has the table. The balance term
    // did not lift the preset at its 1,200 steps (IS of 1,000 samples 8.19
    // and 8.24 on seeds 1 and 2 at --g-balance 1, against 8.36 and 8.24),
    // so it stays off here.
    page: |c| ModelConfig {
        batch: 32,
        width: 16,
        d_width: 8,
        lr: 8e-4,
        adam_beta1: 0.5,
        dropout: 0.0,
        g_average: 0.995,
        gan_loss: GanLoss::Classes,
        g_balance: 0.0,
        ..c
    },
    networks: |c| {
        vec![
            ("generator", generator(c)),
            ("discriminator", discriminator(c)),
        ]
    },
    conditional: false,
};

/// dense z → 7·7·4w (no bias) → BN → LeakyReLU → convT 5×5 to 2w (s1) →
/// BN → LeakyReLU → w (s2) → BN → LeakyReLU → 1 (s2), tanh.
pub(super) fn generator(c: &ModelConfig) -> NetSpec {
    let w = c.width;
    let convt = |c_out, stride, act| LayerSpec::ConvTranspose {
        c_out,
        k: 5,
        stride,
        bias: false,
        act,
    };
    NetSpec {
        input: vector(c.latent),
        layers: vec![
            LayerSpec::Dense {
                out: 7 * 7 * 4 * w,
                bias: false,
                act: Activation::None,
            },
            LayerSpec::BatchNorm,
            LayerSpec::Act(KERAS_LEAK),
            LayerSpec::Reshape([4 * w, 7, 7]),
            convt(2 * w, 1, Activation::None),
            LayerSpec::BatchNorm,
            LayerSpec::Act(KERAS_LEAK),
            convt(w, 2, Activation::None),
            LayerSpec::BatchNorm,
            LayerSpec::Act(KERAS_LEAK),
            convt(1, 2, Activation::Tanh),
        ],
    }
}

/// conv 5×5/2 to w → LeakyReLU → dropout → conv 5×5/2 to 2w → LeakyReLU →
/// dropout → dense 1, with w the discriminator's width.
pub(super) fn discriminator(c: &ModelConfig) -> NetSpec {
    let w = c.discriminator_width();
    let conv = |c_out| LayerSpec::Conv {
        c_out,
        k: 5,
        stride: 2,
        bias: true,
        act: KERAS_LEAK,
    };
    NetSpec {
        input: image(),
        layers: vec![
            conv(w),
            LayerSpec::Dropout(c.dropout),
            conv(2 * w),
            LayerSpec::Dropout(c.dropout),
            dense(1, Activation::None),
        ],
    }
}
