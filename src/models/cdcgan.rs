//! The DCGAN conditioned on the digit: the one-hot label joins G's noise
//! (10 more inputs to its dense layer) and its 7×7 maps, and D's image and
//! its first convolution's maps (10 constant maps beside their channels),
//! so D judges the pair "this image, this digit" at both scales.
//!
//! At its input alone the label was learned slowly at the page's sizes: 900
//! steps of the page preset read as the digit asked for 19.7% of the time;
//! with the label at both depths, 34.5% (`genlab train --model cdcgan
//! --batch 32 --width 16 --g-average 0.99 --steps 900 --backend cpu`).

use super::{conditioned, dcgan, Family, ModelConfig, ModelInfo, ModelKind, CLASSES};
use crate::nn::{LayerSpec, NetSpec};

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
    // Narrow (16) at batch 16, a faster rate with D's doubled and no
    // dropout: the label is learned in the page's first minutes. At the
    // page's sizes natively (`genlab train --model cdcgan --width 16
    // --g-average 0.99 --backend cpu` and these flags), read as the digit
    // asked for: batch 32, lr 2e-4, dropout 0.3 34.5% at 900 steps; lr 4e-4,
    // no dropout 65.8%; and D's rate ×2 69.7%; batch 16 at 1,500 steps
    // 73.9% (lr 6e-4: 70.8%).
    page: |c| ModelConfig {
        batch: 16,
        width: 16,
        lr: 4e-4,
        dropout: 0.0,
        d_lr_scale: 2.0,
        g_average: 0.99,
        ..c
    },
    networks,
    conditional: true,
};

/// The DCGAN's networks with the label at their inputs, and again at G's
/// 7×7 maps and after D's first convolution.
fn networks(c: &ModelConfig) -> Vec<(&'static str, NetSpec)> {
    let label = LayerSpec::Label { classes: CLASSES };
    let after = |net: &NetSpec, first: fn(&LayerSpec) -> bool| {
        net.layers
            .iter()
            .position(first)
            .expect("the DCGAN's layers")
            + 1
    };
    let mut g = conditioned(dcgan::generator(c));
    let at = after(&g, |l| matches!(l, LayerSpec::Reshape(_)));
    g.layers.insert(at, label);
    let mut d = conditioned(dcgan::discriminator(c));
    let at = after(&d, |l| matches!(l, LayerSpec::Dropout(_)));
    d.layers.insert(at, label);
    vec![("generator", g), ("discriminator", d)]
}
