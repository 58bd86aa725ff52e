//! The arguments of `genlab train`, shared by the generative models and the
//! scoring classifier.

use clap::{Arg, ArgMatches, Command, FromArgMatches};
use genlab::backends::BackendChoice;
use genlab::models::{ModelKind, Setting, MODELS, SETTINGS};
use std::path::PathBuf;

/// `--backend auto|gpu|cpu`, as the page's `backend=`.
pub fn parse_backend(s: &str) -> Result<BackendChoice, String> {
    BackendChoice::parse(s)
}

#[derive(clap::Args)]
pub struct TrainArgs {
    /// Which model (required unless --resume): mlp-gan, dcgan, ae, mlp-vae,
    /// conv-vae, the conditional cdcgan, cvae, conv-cvae, or classifier (the
    /// scoring classifier; see `genlab score`).
    #[arg(long, value_parser = parse_model)]
    pub model: Option<ModelArg>,
    /// Training steps to run (with --resume: more steps on top of the saved ones).
    #[arg(long, default_value_t = 2000)]
    pub steps: u64,
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
    /// Start from the settings of the tutorial the model comes from (the
    /// DCGAN's: Adam 1e-4, β1 0.9, non-saturating BCE) instead of the
    /// default recipe; the flags below still apply on top.
    #[arg(long, value_enum)]
    pub recipe: Option<Recipe>,
    /// The model's settings, one flag each (`--latent`, `--batch`, `--lr`,
    /// `--gan-loss`, `--d-steps`, …), from the registry's SETTINGS.
    #[command(flatten)]
    pub settings: SettingArgs,
    /// Learning-rate schedule over this run's steps: constant, or cosine decay
    /// to `--lr-final` times the rate (updated every `--log-every` steps).
    #[arg(long, value_enum, default_value_t = LrSchedule::Constant)]
    pub lr_schedule: LrSchedule,
    /// Final learning rate of the cosine schedule, as a fraction of `--lr`.
    #[arg(long, default_value_t = 0.02)]
    pub lr_final: f32,
}

/// A model's starting settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Recipe {
    /// The recipe that trains best (the model's defaults).
    Default,
    /// The settings of the tutorial the model comes from.
    Tutorial,
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

/// One flag per setting of `genlab::models::SETTINGS` (the key with `-` for
/// `_`), kept as given: [`genlab::models::ModelConfig::with`] parses and
/// checks each, with the page's messages. A new setting needs no change here.
#[derive(Clone, Debug, Default)]
pub struct SettingArgs {
    /// (key, value) in the order of SETTINGS.
    pub given: Vec<(&'static str, String)>,
}

impl SettingArgs {
    /// The flag of a setting key: `gan_loss` → `--gan-loss`.
    pub fn flag(key: &str) -> String {
        format!("--{}", key.replace('_', "-"))
    }

    /// A setting parsed as `T` (for the classifier, whose settings are its own).
    pub fn get<T: std::str::FromStr>(&self, key: &str) -> Result<Option<T>, String> {
        self.given
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| {
                v.parse()
                    .map_err(|_| format!("{} {v:?}: not a valid value", Self::flag(key)))
            })
            .transpose()
    }
}

impl FromArgMatches for SettingArgs {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        let given = SETTINGS
            .iter()
            .filter_map(|s| m.get_one::<String>(s.key).map(|v| (s.key, v.clone())))
            .collect();
        Ok(SettingArgs { given })
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

/// "Latent size: 1..=1024 (every model)".
fn help(s: &Setting) -> String {
    let models: Vec<&str> = MODELS
        .iter()
        .filter(|m| (s.applies)(m.kind))
        .map(|m| m.name)
        .collect();
    let which = if models.len() == MODELS.len() {
        "every model".to_string()
    } else {
        models.join(", ")
    };
    format!("{}: {} ({which})", s.title, s.range.describe())
}

impl clap::Args for SettingArgs {
    fn augment_args(mut cmd: Command) -> Command {
        for s in SETTINGS {
            // Leaked once per process: clap keeps flag names for the program's life.
            let long: &'static str = Box::leak(s.key.replace('_', "-").into_boxed_str());
            cmd = cmd.arg(Arg::new(s.key).long(long).value_name("VALUE").help(help(s)));
        }
        cmd
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}
