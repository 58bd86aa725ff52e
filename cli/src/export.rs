//! `genlab export DIR --format onnx|pytorch --out PATH`: the network a
//! trained model draws with (a GAN's generator, a VAE's decoder, the
//! autoencoder) as ONNX, or as a PyTorch state dict with its model.py
//! (genlab::export). `--reference N` also writes N inputs and the images
//! genlab draws from them, to check another runtime against.

use crate::common::{block, cpu, read_saved, write_file, BUNDLED_IMAGES, BUNDLED_LABELS};
use genlab::backends::Backend;
use genlab::data::Digits;
use genlab::data::PIXELS;
use genlab::export::{self, Format, Graph, Part};
use genlab::models::{Model, ModelKind};
use genlab::nn::write_safetensors_shaped;
use genlab::train;
use std::collections::HashMap;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct ExportArgs {
    /// A folder written by `genlab train` (its weights.safetensors).
    dir: PathBuf,
    /// onnx: an .onnx file per part; pytorch: a safetensors state dict per part and model.py.
    #[arg(long, value_parser = Format::parse)]
    format: Format,
    /// A folder for the files; or, for one ONNX part, the .onnx file itself.
    #[arg(long)]
    out: PathBuf,
    /// Only this part: generator (GANs), decoder or encoder (VAEs, autoencoder). Default: all.
    #[arg(long, value_parser = Part::parse)]
    part: Option<Part>,
    /// Also write, per part, N inputs and what genlab computes from them
    /// (CPU backend) to reference-{part}.safetensors beside the export:
    /// `input` and each output by name (`images`, `mu`, `logvar`, `code`).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
    reference: Option<u32>,
}

pub fn run(args: ExportArgs) -> Result<(), String> {
    let (saved, config) = read_saved(&args.dir)?;
    let path = args.dir.join("weights.safetensors");
    let chosen: Vec<Part> = match args.part {
        Some(p) => vec![p],
        None => export::parts(config.kind).to_vec(),
    };
    let graphs = chosen
        .iter()
        .map(|&p| Graph::from_weights(&saved, p))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    // One ONNX part to a named .onnx file; anything else into a folder.
    let single = args.format == Format::Onnx
        && chosen.len() == 1
        && args.out.extension().is_some_and(|e| e == "onnx");
    let (folder, stem) = if single {
        let stem = args
            .out
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("model");
        (
            args.out.parent().map(PathBuf::from).unwrap_or_default(),
            stem.to_string(),
        )
    } else {
        (args.out.clone(), format!("genlab-{}", config.kind))
    };
    let mut files = export::export(&saved, args.format, &stem, &chosen)?;
    if single {
        files[0].0 = format!("{stem}.onnx");
    }
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
        for g in &graphs {
            let file = folder.join(format!("reference-{}.safetensors", g.part.name()));
            write_file(&file, &reference(&saved, g, n as usize)?)?;
            println!("wrote {} ({n} inputs and genlab's outputs)", file.display());
        }
    }
    for g in &graphs {
        println!("{}", g.description());
    }
    Ok(())
}

/// `n` inputs of `g` and what genlab computes from them: latents (from the
/// sampling stream) and the sampler's images; held-out digits and the
/// encoder's outputs; for the autoencoder's decoder, the codes of held-out
/// digits and the images the whole autoencoder makes of them.
fn reference(saved: &train::SavedWeights, g: &Graph, n: usize) -> Result<Vec<u8>, String> {
    let b = cpu(None);
    let config = g.config.clone();
    let model = Model::new(&b, config.clone())?;
    train::load_weights(&b, &model, saved)?;
    let mut tensors: Vec<(String, Vec<usize>, Vec<f32>)> = Vec::new();
    let batch = |per: &[usize]| {
        std::iter::once(n)
            .chain(per.iter().copied())
            .collect::<Vec<_>>()
    };
    let digits = || -> Result<Vec<f32>, String> {
        let held = Digits::from_idx(BUNDLED_IMAGES, BUNDLED_LABELS)
            .map_err(|e| e.to_string())?
            .split_held_out(1000)
            .1;
        Ok(held.images[..n * PIXELS]
            .iter()
            .map(|&p| p as f32 / 255.0)
            .collect())
    };
    let sampled = g.part != Part::Encoder && config.kind != ModelKind::Autoencoder;
    if sampled {
        let input = train::latents(&config, n, config.seed.wrapping_add(7));
        let sampler = model.sampler(&b, n);
        let images = block(train::sample(&b, &model, &sampler, &input))?;
        tensors.push(("input".into(), batch(&g.input), input));
        tensors.push(("images".into(), batch(&[1, 28, 28]), images));
    } else {
        let e = model
            .evaluator(&b, n)
            .ok_or_else(|| format!("a {} has no encoder", config.kind))?;
        let x = digits()?;
        b.write(e.input(), 0, &x);
        b.run(|pass| e.forward(pass));
        let mut codes = Vec::new();
        for (name, t) in e.codes() {
            codes.push((name, block(b.read(&b.readback(t)))?));
        }
        if g.part == Part::Encoder {
            tensors.push(("input".into(), batch(&g.input), x));
            for (name, v) in codes {
                tensors.push((name.into(), batch(&[config.latent]), v));
            }
        } else {
            // The autoencoder's decoder: from the codes to the images.
            let logits = block(b.read(&b.readback(e.output())))?;
            let (_, code) = codes.into_iter().next().ok_or("no code")?;
            tensors.push(("input".into(), batch(&g.input), code));
            tensors.push((
                "images".into(),
                batch(&[1, 28, 28]),
                train::to_pixels(config.kind, &logits),
            ));
        }
    }
    let mut meta = HashMap::new();
    meta.insert("genlab.reference".into(), g.description());
    write_safetensors_shaped(&tensors, meta).map_err(|e| e.to_string())
}
