//! The arguments of `genlab train`, shared by the generative models and the
//! scoring classifier.

use genlab::backends::BackendChoice;
use genlab::models::{GanLoss, ModelKind};
use std::path::PathBuf;

/// `--backend auto|gpu|cpu`, as the page's `backend=`.
pub fn parse_backend(s: &str) -> Result<BackendChoice, String> {
    BackendChoice::parse(s)
}

#[derive(clap::Args)]
pub struct TrainArgs {
    /// Which model (required unless --resume): mlp-gan, dcgan, ae, mlp-vae,
    /// conv-vae, or classifier (the scoring classifier; see `genlab score`).
    #[arg(long, value_parser = parse_model)]
    pub model: Option<ModelArg>,
    /// Training steps to run (with --resume: more steps on top of the saved ones).
    #[arg(long, default_value_t = 2000)]
    pub steps: u64,
    /// Batch size (default: the model's).
    #[arg(long)]
    pub batch: Option<usize>,
    /// Random seed of the weights, the data order and every random op (default 1).
    #[arg(long)]
    pub seed: Option<u32>,
    #[arg(long, value_parser = parse_backend, default_value = "auto")]
    pub backend: BackendChoice,
    /// Threads of the CPU backend's products (default: every core). Results
    /// are the same from run to run for a given count.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub threads: Option<u32>,
    /// Output folder (created if missing; default with --resume: the resumed folder).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// MNIST-format images file (IDX, gzip or raw); default: the bundled 10,000 digits.
    #[arg(long, requires = "labels")]
    pub images: Option<PathBuf>,
    /// Its labels file.
    #[arg(long, requires = "images")]
    pub labels: Option<PathBuf>,
    /// Digits written to samples.idx.
    #[arg(long, default_value_t = 1000)]
    pub samples: usize,
    /// Continue from DIR/weights.safetensors (its config and step).
    #[arg(long, value_name = "DIR")]
    pub resume: Option<PathBuf>,
    /// The last this many digits are held out for evaluation.
    #[arg(long, default_value_t = 1000)]
    pub held_out: usize,
    /// Read the losses back every this many steps.
    #[arg(long, default_value_t = 10)]
    pub log_every: u64,
    /// Evaluate on the held-out digits every this many steps (autoencoders; 0: only at the end).
    #[arg(long, default_value_t = 0)]
    pub eval_every: u64,
    /// Passes over the held-out digits per VAE evaluation, each with new ε draws.
    #[arg(long, default_value_t = 10)]
    pub eval_passes: usize,
    /// Latent size (GAN noise, VAE latent, autoencoder code).
    #[arg(long)]
    pub latent: Option<usize>,
    /// Hidden width of the MLPs.
    #[arg(long)]
    pub hidden: Option<usize>,
    /// Channel width of the convolutional models.
    #[arg(long)]
    pub width: Option<usize>,
    /// Adam learning rate.
    #[arg(long)]
    pub lr: Option<f32>,
    /// Adam's β1.
    #[arg(long)]
    pub adam_beta1: Option<f32>,
    /// KL weight of the VAEs.
    #[arg(long)]
    pub beta: Option<f32>,
    /// GAN loss.
    #[arg(long, value_parser = GanLoss::parse)]
    pub gan_loss: Option<GanLoss>,
    /// Dropout of the DCGAN discriminator.
    #[arg(long)]
    pub dropout: Option<f32>,
    /// Learning-rate schedule over this run's steps: constant, or cosine decay
    /// to `--lr-final` times the rate (updated every `--log-every` steps).
    #[arg(long, value_enum, default_value_t = LrSchedule::Constant)]
    pub lr_schedule: LrSchedule,
    /// Final learning rate of the cosine schedule, as a fraction of `--lr`.
    #[arg(long, default_value_t = 0.02)]
    pub lr_final: f32,
}

/// A generative model, or the scoring classifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelArg {
    Generative(ModelKind),
    Classifier,
}

pub fn parse_model(s: &str) -> Result<ModelArg, String> {
    match s {
        "classifier" => Ok(ModelArg::Classifier),
        _ => ModelKind::parse(s)
            .map(ModelArg::Generative)
            .map_err(|e| format!("{e}, or classifier")),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LrSchedule {
    Constant,
    Cosine,
}
