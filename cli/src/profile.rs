//! `genlab profile`: one whole training step of a model on the GPU, op by
//! op (see `genlab::profile`).

use crate::args::{parse_model, ModelArg};
use genlab::backends::gpu::{Gpu, TimingMethod};
use genlab::models::ModelConfig;
use std::time::Instant;

#[derive(clap::Args)]
pub struct ProfileArgs {
    /// Which model: mlp-gan, dcgan, ae, mlp-vae, conv-vae, cdcgan, cvae, conv-cvae (the material's sizes).
    #[arg(long, value_parser = parse_model)]
    model: ModelArg,
    /// Digits per step.
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Only the GPU is profiled (its kernels are what the table describes).
    #[arg(long, default_value = "gpu", value_parser = ["gpu"])]
    backend: String,
    /// Timed runs (medians are printed), after one warm-up.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1000))]
    reps: u32,
    /// How ops are timed: timestamp queries where the adapter has them, else
    /// each op submitted alone and timed by the clock.
    #[arg(long, value_enum, default_value_t = Timing::Auto)]
    timing: Timing,
    /// Print the profile as one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Timing {
    Auto,
    Timestamps,
    WallClock,
}

pub fn run(args: ProfileArgs) -> Result<(), String> {
    let ModelArg::Generative(kind) = args.model else {
        return Err(
            "genlab profile times a generative model's step; the classifier is not one".into(),
        );
    };
    let config = ModelConfig {
        batch: args.batch,
        ..ModelConfig::new(kind)
    };
    config.validate()?;
    let gpu = pollster::block_on(Gpu::new()).map_err(|e| e.to_string())?;
    let method = match args.timing {
        Timing::Auto => None,
        Timing::Timestamps if !gpu.has_timestamps() => {
            return Err(format!(
                "{} offers no timestamp queries: use --timing wall-clock (or auto)",
                gpu.adapter_summary()
            ))
        }
        Timing::Timestamps => Some(TimingMethod::Timestamps),
        Timing::WallClock => Some(TimingMethod::WallClock),
    };
    let start = Instant::now();
    let clock = || start.elapsed().as_secs_f64() * 1e3;
    let profile = pollster::block_on(genlab::profile::profile_step(
        &gpu,
        config,
        args.reps as usize,
        method,
        &clock,
    ))?;
    if args.json {
        println!("{}", profile.to_json());
    } else {
        print!("{profile}");
    }
    Ok(())
}
