//! The genlab command line.
//!
//! `genlab info` names the GPU adapter; `genlab bench` measures the kernels at
//! the DCGAN's real shapes.

mod bench;

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
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Info => pollster::block_on(genlab::gpu::Gpu::new()).map(|gpu| {
            println!("{}", gpu.adapter_summary());
            println!("software adapter: {}", gpu.is_software());
        }),
        Command::Bench(args) => pollster::block_on(bench::run(args)),
    };
    if let Err(e) = result {
        eprintln!("genlab: {e}");
        std::process::exit(1);
    }
}
