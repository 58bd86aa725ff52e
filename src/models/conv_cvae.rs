//! The conv VAE conditioned on the digit: the label joins the encoder's
//! image as ten constant maps and the decoder's latent as ten more inputs.

use super::{conditioned, conv_vae, Family, ModelConfig, ModelInfo, ModelKind};

pub(super) const INFO: ModelInfo = ModelInfo {
    kind: ModelKind::ConvCvae,
    name: "conv-cvae",
    title: "Conditional conv VAE",
    description: "The conv VAE given the digit: the label joins the encoder's image as ten maps and the decoder's latent as ten inputs.",
    family: Family::Vae,
    material: || ModelConfig {
        kind: ModelKind::ConvCvae,
        ..(conv_vae::INFO.material)()
    },
    page: conv_vae::INFO.page,
    networks: |c| {
        vec![
            ("encoder", conditioned(conv_vae::encoder(c))),
            ("decoder", conditioned(conv_vae::decoder(c))),
        ]
    },
    conditional: true,
    tutorial: None,
};
