//! What the subcommands share: the bundled digits, files, a trained
//! model's folder, and the choice of backend (the rule of
//! `genlab::backends::BackendChoice`, as on the page).

use crate::args::TrainArgs;
use genlab::backends::gpu::Adapter;
use genlab::backends::{BackendChoice, Cpu, Gpu};
use genlab::data::Digits;
use genlab::models::ModelConfig;
use genlab::train::{self, SavedWeights};
use std::path::Path;

pub const BUNDLED_IMAGES: &[u8] =
    include_bytes!("../../www/data/mnist-train-10k-images-idx3-ubyte.gz");
pub const BUNDLED_LABELS: &[u8] =
    include_bytes!("../../www/data/mnist-train-10k-labels-idx1-ubyte.gz");

pub fn read_file(p: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()))
}

pub fn write_file(p: &Path, bytes: &[u8]) -> Result<(), String> {
    std::fs::write(p, bytes).map_err(|e| format!("cannot write {}: {e}", p.display()))
}

/// An IDX file of unsigned bytes, count × 28 × 28.
/// The digits to train on and the held-out ones: --images/--labels or the
/// bundled set, the last --held-out kept out.
pub fn training_data(args: &TrainArgs) -> Result<(Digits, Digits), String> {
    let digits = match (&args.images, &args.labels) {
        (Some(i), Some(l)) => Digits::from_idx(&read_file(i)?, &read_file(l)?),
        _ => Digits::from_idx(BUNDLED_IMAGES, BUNDLED_LABELS),
    }
    .map_err(|e| e.to_string())?;
    if args.held_out >= digits.len() {
        return Err(format!(
            "--held-out {} leaves nothing of {} digits to train on",
            args.held_out,
            digits.len()
        ));
    }
    Ok(digits.split_held_out(args.held_out))
}

/// The weights and settings in a folder written by `genlab train` (its
/// weights.safetensors), checked; errors name the file.
pub fn read_saved(dir: &Path) -> Result<(SavedWeights, ModelConfig), String> {
    let path = dir.join("weights.safetensors");
    let saved =
        train::read_weights(&read_file(&path)?).map_err(|e| format!("{}: {e}", path.display()))?;
    let config = saved
        .config
        .clone()
        .ok_or_else(|| format!("{}: no genlab settings in its header", path.display()))?;
    Ok((saved, config))
}

/// The CPU backend on `threads` threads (default: every core).
pub fn cpu(threads: Option<u32>) -> Cpu {
    let all = std::thread::available_parallelism().map_or(1, |n| n.get());
    Cpu::with_threads(threads.map_or(all, |t| t as usize))
}

/// The GPU to run on, if any, by the rule the page follows ([`BackendChoice::takes`]).
pub fn choose_gpu(choice: BackendChoice) -> Result<Option<Gpu>, String> {
    Ok(match choice {
        BackendChoice::Cpu => None,
        BackendChoice::Gpu => Some(pollster::block_on(Gpu::new()).map_err(|e| e.to_string())?),
        // Probed first: no device is opened on an adapter that will not be used.
        BackendChoice::Auto => match pollster::block_on(Adapter::probe()) {
            Ok(a) if choice.takes(&a) => pollster::block_on(Gpu::new()).ok(),
            _ => None,
        },
    })
}

pub fn block<T>(
    f: impl std::future::Future<Output = Result<T, genlab::backends::BackendError>>,
) -> Result<T, String> {
    pollster::block_on(f).map_err(|e| e.to_string())
}

/// Blocks on a future whose error is already a message.
pub fn block_str<T>(f: impl std::future::Future<Output = Result<T, String>>) -> Result<T, String> {
    pollster::block_on(f)
}
