//! `genlab export DIR --format onnx|pytorch --out PATH`: the network a
//! trained model draws with (a GAN's generator, a VAE's decoder, the
//! autoencoder) as ONNX, or as a PyTorch state dict with its model.py
//! (genlab::export). `--reference N` also writes N inputs and the images
//! genlab draws from them, to check another runtime against.

use crate::common::{block, cpu, read_file, write_file, BUNDLED_IMAGES, BUNDLED_LABELS};
use genlab::data::Digits;
use genlab::export::{self, Format, Graph};
use genlab::models::{Model, ModelKind};
use genlab::nn::write_safetensors_shaped;
use genlab::train;
use std::collections::HashMap;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct ExportArgs {
    /// A folder written by `genlab train` (its weights.safetensors).
    dir: PathBuf,
    /// onnx: one .onnx file; pytorch: a safetensors state dict and model.py.
    #[arg(long, value_parser = Format::parse)]
    format: Format,
    /// The .onnx file (onnx), or the folder for the state dict and model.py (pytorch).
    #[arg(long)]
    out: PathBuf,
    /// Also write N inputs and genlab's images from them (CPU backend) to
    /// reference.safetensors beside the export: tensors `input` [N, …] and
    /// `images` [N, 1, 28, 28].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
    reference: Option<u32>,
}

pub fn run(args: ExportArgs) -> Result<(), String> {
    let path = args.dir.join("weights.safetensors");
    let saved =
        train::read_weights(&read_file(&path)?).map_err(|e| format!("{}: {e}", path.display()))?;
    let graph = Graph::from_weights(&saved).map_err(|e| format!("{}: {e}", path.display()))?;
    let (folder, files) = match args.format {
        Format::Onnx => {
            let stem = args
                .out
                .file_stem()
                .and_then(|s| s.to_str())
                .ok_or_else(|| {
                    format!("--out {}: give the .onnx file's name", args.out.display())
                })?;
            let folder = args.out.parent().map(PathBuf::from).unwrap_or_default();
            (folder, export::export(&saved, Format::Onnx, stem)?)
        }
        Format::Pytorch => {
            let stem = format!("genlab-{}-{}", graph.config.kind, graph.network);
            (
                args.out.clone(),
                export::export(&saved, Format::Pytorch, &stem)?,
            )
        }
    };
    if !folder.as_os_str().is_empty() {
        std::fs::create_dir_all(&folder)
            .map_err(|e| format!("cannot create {}: {e}", folder.display()))?;
    }
    for (name, bytes) in &files {
        write_file(&folder.join(name), bytes)?;
        println!(
            "wrote {} ({} bytes)",
            folder.join(name).display(),
            bytes.len()
        );
    }
    if let Some(n) = args.reference {
        let file = folder.join("reference.safetensors");
        write_file(&file, &reference(&saved, &graph, n as usize)?)?;
        println!("wrote {} ({n} inputs and genlab's images)", file.display());
    }
    println!("{}", graph.description());
    Ok(())
}

/// `n` inputs (latents from the sampling stream, or held-out digits for the
/// autoencoder) and the images genlab's own sampler draws from them.
fn reference(saved: &train::SavedWeights, graph: &Graph, n: usize) -> Result<Vec<u8>, String> {
    let b = cpu(None);
    let config = graph.config.clone();
    let model = Model::new(&b, config.clone())?;
    train::load_weights(&b, &model, saved)?;
    let input: Vec<f32> = if config.kind == ModelKind::Autoencoder {
        let digits = Digits::from_idx(BUNDLED_IMAGES, BUNDLED_LABELS)
            .map_err(|e| e.to_string())?
            .split_held_out(1000)
            .1;
        digits.images[..n * genlab::data::PIXELS]
            .iter()
            .map(|&p| p as f32 / 255.0)
            .collect()
    } else {
        train::latents(&config, n, config.seed.wrapping_add(7))
    };
    let sampler = model.sampler(&b, n);
    let images = block(train::sample(&b, &model, &sampler, &input))?;
    let mut input_shape = vec![n];
    input_shape.extend(&graph.input);
    let tensors = vec![
        ("input".to_string(), input_shape, input),
        ("images".to_string(), vec![n, 1, 28, 28], images),
    ];
    let mut meta = HashMap::new();
    meta.insert("genlab.reference".into(), graph.description());
    write_safetensors_shaped(&tensors, meta).map_err(|e| e.to_string())
}
