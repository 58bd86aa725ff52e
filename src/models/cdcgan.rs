//! The DCGAN conditioned on the digit: the one-hot label joins G's noise
//! (10 more inputs to its dense layer) and D's image (10 constant maps
//! beside its channel, so D judges the pair "this image, this digit").

use super::{conditioned, dcgan, Family, ModelConfig, ModelInfo, ModelKind};

pub(super) const INFO: ModelInfo = ModelInfo {
    kind: ModelKind::Cdcgan,
    name: "cdcgan",
    title: "Conditional DCGAN",
    description: "The DCGAN asked for a digit: the one-hot label joins the generator's noise and, as ten maps, the discriminator's image.",
    family: Family::Gan,
    // The DCGAN's layers with the DCGAN paper's Adam (2e-4, β1 0.5), which
    // the tutorial's 1e-4 needs far more steps to match, sampled from the
    // generator's weight average.
    material: || ModelConfig {
        lr: 2e-4,
        adam_beta1: 0.5,
        g_average: 0.995,
        ..ModelConfig::base(ModelKind::Cdcgan)
    },
    // The DCGAN's page preset.
    page: |c| ModelConfig {
        batch: 32,
        width: 16,
        g_average: 0.99,
        ..c
    },
    networks: |c| {
        vec![
            ("generator", conditioned(dcgan::generator(c))),
            ("discriminator", conditioned(dcgan::discriminator(c))),
        ]
    },
    conditional: true,
};
