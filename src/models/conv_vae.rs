//! A convolutional VAE: conv 5×5/2 to w, 2w; the decoder has the DCGAN
//! generator's shape without batch norm (dense → 7·7·4w → transposed convs
//! to 2w (s1), w (s2), 1 (s2)).

use super::{dense, image, vector, Family, ModelConfig, ModelInfo, ModelKind};
use crate::core::Activation;
use crate::nn::{LayerSpec, NetSpec};

pub(super) const INFO: ModelInfo = ModelInfo {
    kind: ModelKind::ConvVae,
    name: "conv-vae",
    title: "Conv VAE",
    description: "A VAE with a two-convolution encoder and a decoder shaped like the DCGAN generator (transposed convolutions), with a β-weighted KL.",
    family: Family::Vae,
    material: || ModelConfig {
        batch: 64,
        latent: 20,
        width: 32,
        lr: 1e-3,
        ..ModelConfig::base(ModelKind::ConvVae)
    },
    page: |c| ModelConfig {
        batch: 32,
        width: 16,
        ..c
    },
    networks: |c| vec![("encoder", encoder(c)), ("decoder", decoder(c))],
    conditional: false,
    tutorial: None,
};

pub(super) fn encoder(c: &ModelConfig) -> NetSpec {
    let conv = |c_out| LayerSpec::Conv {
        c_out,
        k: 5,
        stride: 2,
        bias: true,
        act: Activation::Relu,
    };
    NetSpec {
        input: image(),
        layers: vec![conv(c.width), conv(2 * c.width)],
    }
}

pub(super) fn decoder(c: &ModelConfig) -> NetSpec {
    let w = c.width;
    let convt = |c_out, stride, act| LayerSpec::ConvTranspose {
        c_out,
        k: 5,
        stride,
        bias: true,
        act,
    };
    NetSpec {
        input: vector(c.latent),
        layers: vec![
            dense(7 * 7 * 4 * w, Activation::Relu),
            LayerSpec::Reshape([4 * w, 7, 7]),
            convt(2 * w, 1, Activation::Relu),
            convt(w, 2, Activation::Relu),
            convt(1, 2, Activation::None),
        ],
    }
}
