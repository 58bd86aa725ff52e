//! The MLP VAE conditioned on the digit (a CVAE): the one-hot label joins
//! the encoder's pixels and the decoder's latent, so the latent is free to
//! hold the style (slant, thickness) and the label says which digit.

use super::{conditioned, mlp_vae, Family, ModelConfig, ModelInfo, ModelKind};

pub(super) const INFO: ModelInfo = ModelInfo {
    kind: ModelKind::Cvae,
    name: "cvae",
    title: "Conditional VAE",
    description: "The MLP VAE given the digit: the one-hot label joins the encoder's pixels and the decoder's latent, so the latent holds the style.",
    family: Family::Vae,
    material: || ModelConfig {
        kind: ModelKind::Cvae,
        ..(mlp_vae::INFO.material)()
    },
    page: mlp_vae::INFO.page,
    networks: |c| {
        vec![
            ("encoder", conditioned(mlp_vae::encoder(c))),
            ("decoder", conditioned(mlp_vae::decoder(c))),
        ]
    },
    conditional: true,
    tutorial: None,
};
