//! The DCGAN conditioned on the digit: the one-hot label joins G's noise
//! (10 more inputs to its dense layer) and its 7×7 maps, and D's image and
//! its first convolution's maps (10 constant maps beside their channels),
//! so D judges the pair "this image, this digit" at both scales. With the
//! classes loss (the page's preset) D takes no label and names the digit
//! or calls the image fake (11 logits), and G is asked to make its fakes
//! read as the digit asked for.
//!
//! At its input alone the label was learned slowly at the page's sizes: 900
//! steps of the page preset read as the digit asked for 19.7% of the time;
//! with the label at both depths, 34.5% (`genlab train --model cdcgan
//! --batch 32 --width 16 --g-average 0.99 --steps 900 --backend cpu`).

use super::{conditioned, dcgan, Family, GanLoss, ModelConfig, ModelInfo, ModelKind, CLASSES};
use crate::nn::{LayerSpec, NetSpec};

pub(super) const INFO: ModelInfo = ModelInfo {
    kind: ModelKind::Cdcgan,
    name: "cdcgan",
    title: "Conditional DCGAN",
    description: "The DCGAN asked for a digit: the one-hot label joins the generator's noise and maps; the discriminator sees it as ten maps beside the image or, with the classes loss, names the digit itself.",
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
    // Narrow (16) at batch 16, a faster rate with D's doubled, no dropout,
    // and D naming the digit (the classes loss): the label is learned in the
    // page's first minute. At the page's sizes natively (`genlab train
    // --model cdcgan --width 16 --g-average 0.99 --backend cpu` and these
    // flags), read as the digit asked for: batch 32, lr 2e-4, dropout 0.3
    // 34.5% at 900 steps; lr 4e-4, no dropout 65.8%; and D's rate ×2 69.7%;
    // batch 16 at 1,500 steps 73.9% (lr 6e-4: 70.8%; the label also at G's
    // 14×14 maps and before D's dense layer: 70.4%); with the classes loss
    // 99.2% (FID 37.2 against 62.8), and faster (D has no label maps to
    // convolve).
    page: |c| ModelConfig {
        batch: 16,
        width: 16,
        lr: 4e-4,
        dropout: 0.0,
        d_lr_scale: 2.0,
        g_average: 0.99,
        gan_loss: GanLoss::Classes,
        ..c
    },
    networks,
    conditional: true,
    tutorial: None,
};

/// The DCGAN's networks with the label at their inputs, and again at G's
/// 7×7 maps and after D's first convolution; with the classes loss, D
/// takes no label and answers 11 logits (fake, 0–9).
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
    if c.gan_loss == GanLoss::Classes {
        // D names the digit or calls it fake (its 11 answers: gan.rs), and
        // takes no label.
        return vec![("generator", g), ("discriminator", dcgan::discriminator(c))];
    }
    let mut d = conditioned(dcgan::discriminator(c));
    let at = after(&d, |l| matches!(l, LayerSpec::Dropout(_)));
    d.layers.insert(at, label);
    vec![("generator", g), ("discriminator", d)]
}
