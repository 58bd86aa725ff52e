//! The genlab command line.
//!
//! `genlab info` names the GPU adapter; `genlab bench` measures the kernels at
//! the DCGAN's real shapes; `genlab train` trains a model; `genlab data`
//! checks a pair of IDX files; `genlab profile` times one training step op by op.

// Modules import only those listed above them: args, common → bench,
// score, profile → classifier, export → train.
mod args;
mod common;

mod bench;
mod profile;
mod score;

mod classifier;
mod export;
mod train;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "genlab",
    version,
    about = "genlab: generative models on WebGPU, natively"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the GPU adapter genlab would use (WGPU_BACKEND / WGPU_ADAPTER_NAME choose another).
    Info,
    /// GFLOP/s of the matmul and conv kernels at the DCGAN's shapes, GPU and CPU reference.
    Bench(bench::BenchArgs),
    /// One training step on the GPU, op by op: time, GFLOP/s, GB/s and share of each kernel.
    Profile(profile::ProfileArgs),
    /// Train a model and write samples.png, samples.idx, metrics.json and weights.safetensors.
    Train(Box<args::TrainArgs>),
    /// Evaluate a trained autoencoder or VAE (−ELBO in nats per digit) or classifier (accuracy) on held-out digits.
    Eval(train::EvalArgs),
    /// Export a trained model's generator or decoder as ONNX, or as a PyTorch state dict with its model.py.
    Export(export::ExportArgs),
    /// Score generated digits with the scoring classifier: FID, Inception Score, digit shares (JSON).
    Score(score::ScoreArgs),
    /// Check an MNIST-format pair of IDX files (gzip or raw) and print its size and digit counts.
    Data {
        /// Images file (IDX unsigned bytes, N×28×28).
        images: std::path::PathBuf,
        /// Labels file (IDX unsigned bytes, N).
        labels: std::path::PathBuf,
    },
}

fn data_summary(images: &std::path::Path, labels: &std::path::Path) -> Result<(), String> {
    let read = |p: &std::path::Path| {
        std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()))
    };
    let digits = genlab::data::Digits::from_idx(&read(images)?, &read(labels)?)
        .map_err(|e| e.to_string())?;
    println!("{} digits of 28×28", digits.len());
    println!("per digit 0-9: {:?}", digits.histogram());
    Ok(())
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Info => pollster::block_on(genlab::backends::Gpu::new())
            .map(|gpu| {
                println!("{}", gpu.adapter_summary());
                println!("software adapter: {}", gpu.is_software());
            })
            .map_err(|e| e.to_string()),
        Command::Bench(args) => pollster::block_on(bench::run(args)).map_err(|e| e.to_string()),
        Command::Profile(args) => profile::run(args),
        Command::Data { images, labels } => data_summary(&images, &labels),
        Command::Train(args) => train::run(*args),
        Command::Eval(args) => train::eval(args),
        Command::Score(args) => score::score(args),
        Command::Export(args) => export::run(args),
    };
    if let Err(e) = result {
        eprintln!("genlab: {e}");
        std::process::exit(1);
    }
}
