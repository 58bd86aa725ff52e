//! `genlab score`: FID, Inception Score and digit coverage of generated
//! digits by the scoring classifier.

use crate::common::{block, choose_gpu, read_file, read_saved, BUNDLED_IMAGES, BUNDLED_LABELS};
use genlab::backends::{Backend, BackendChoice, Cpu};
use genlab::data::Digits;
use genlab::models::{asked_digits, Model};
use genlab::score::{accuracy, Classifier, FeatureStats, Scores};
use genlab::train;
use serde_json::{json, Value};
use std::path::PathBuf;

/// The scoring classifier the page ships (scripts/make-classifier.sh makes it).
pub const CLASSIFIER: &[u8] = include_bytes!("../../www/classifier.safetensors");

/// Extraction batch: the GPU likes large ones; 250 divides the held-out 1,000.
pub const EXTRACT_BATCH: usize = 250;

#[derive(clap::Args)]
pub struct ScoreArgs {
    /// Generated digits: an IDX unsigned-byte file N×28×28 (gzip or raw), as `genlab train` writes.
    #[arg(required_unless_present = "weights", conflicts_with = "weights")]
    samples: Option<PathBuf>,
    /// The digits the samples were asked for (an IDX labels file, one per
    /// sample, as a conditional model's samples-labels.idx): adds the class
    /// accuracy, the share the classifier reads as the digit asked for.
    #[arg(long, conflicts_with = "weights")]
    labels: Option<PathBuf>,
    /// Instead of a samples file: draw --count samples from the model saved
    /// in DIR (its weights.safetensors, as `genlab train` or the page's Save
    /// writes), from the latents the page draws (its 64-digit grid at the
    /// model's seed; its 512 scored samples at --latent-seed seed+2).
    #[arg(long, value_name = "DIR")]
    weights: Option<PathBuf>,
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(2..=10_000))]
    count: u32,
    /// The latents' seed (default: the model's seed, the page's grid).
    #[arg(long)]
    latent_seed: Option<u32>,
    /// The scoring classifier (default: the one the page ships, www/classifier.safetensors).
    #[arg(long)]
    classifier: Option<PathBuf>,
    #[arg(long, value_parser = crate::args::parse_backend, default_value = "cpu")]
    backend: BackendChoice,
}

pub fn score(args: ScoreArgs) -> Result<(), String> {
    let (samples, asked) = match (&args.samples, &args.weights) {
        (Some(path), _) => {
            let (count, samples) = genlab::data::read_idx_images(&read_file(path)?)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            if count < 2 {
                return Err(format!(
                    "{}: {count} sample; the scores need at least 2",
                    path.display()
                ));
            }
            let asked = match &args.labels {
                Some(lp) => {
                    let labels = genlab::data::read_idx_labels(&read_file(lp)?)
                        .map_err(|e| format!("{}: {e}", lp.display()))?;
                    if labels.len() != count {
                        return Err(format!(
                            "{} holds {} labels but {} holds {count} samples: give one label per sample",
                            lp.display(),
                            labels.len(),
                            path.display()
                        ));
                    }
                    Some(labels)
                }
                None => None,
            };
            (samples, asked)
        }
        (None, Some(dir)) => drawn(dir, args.count as usize, args.latent_seed)?,
        (None, None) => return Err("give a samples file or --weights DIR".into()),
    };
    let classifier = match &args.classifier {
        Some(p) => read_file(p)?,
        None => CLASSIFIER.to_vec(),
    };
    let (train_set, held_out) = Digits::from_idx(BUNDLED_IMAGES, BUNDLED_LABELS)
        .map_err(|e| e.to_string())?
        .split_held_out(1000);
    let v = match choose_gpu(args.backend)? {
        Some(g) => score_on(
            &g,
            &classifier,
            &samples,
            asked.as_deref(),
            &train_set,
            &held_out,
        )?,
        None => score_on(
            &Cpu::new(),
            &classifier,
            &samples,
            asked.as_deref(),
            &train_set,
            &held_out,
        )?,
    };
    println!("{v}");
    Ok(())
}

/// `count` samples (bytes) of the model saved in `dir`, from the latents of
/// `seed` (default: the model's own), on the CPU backend; a conditional
/// model's asked for the digits in turn (and those digits).
fn drawn(
    dir: &std::path::Path,
    count: usize,
    seed: Option<u32>,
) -> Result<(Vec<u8>, Option<Vec<u8>>), String> {
    let (saved, config) = read_saved(dir)?;
    if !config.kind.is_gan() && !config.kind.is_vae() {
        return Err(format!(
            "{}: a {} draws no samples from latents",
            dir.display(),
            config.kind
        ));
    }
    let b = Cpu::new();
    let model = Model::new(&b, config.clone())?;
    train::load_weights(&b, &model, &saved)?;
    let z = train::latents(&config, count, seed.unwrap_or(config.seed));
    let sampler = model.sampler(&b, count);
    let px = block(train::sample(&b, &model, &sampler, &z))?;
    // A conditional sampler asks for 0, 1, …, 9, 0, … unless told otherwise.
    let asked = config.kind.is_conditional().then(|| asked_digits(0, count));
    Ok((train::to_bytes(&px), asked))
}

/// The scores of `samples` (bytes, N×784) and, for reference, of the
/// held-out digits, both against the features of the training digits.
pub fn score_on<B: Backend>(
    b: &B,
    classifier: &[u8],
    samples: &[u8],
    asked: Option<&[u8]>,
    train_set: &Digits,
    held_out: &Digits,
) -> Result<Value, String> {
    let c = Classifier::load(b, classifier)?;
    let ex = c.extractor(b, EXTRACT_BATCH);
    let reference = block(ex.run(b, &train_set.images))?;
    let stats = FeatureStats::of(&reference.features, c.config.features);
    let real = Scores::of(&block(ex.run(b, &held_out.images))?, &stats);
    let out = block(ex.run(b, samples))?;
    let got = Scores::of(&out, &stats);
    let js = |s: &Scores| {
        json!({"count": s.count, "fid": s.fid, "inception_score": s.inception_score,
               "class_shares": s.class_shares.to_vec()})
    };
    let mut samples = js(&got);
    if let Some(labels) = asked {
        samples["class_accuracy"] = json!(accuracy(&out.logits, labels));
    }
    Ok(json!({"samples": samples, "real_held_out": js(&real),
              "reference": format!("features of the {} training digits", train_set.len())}))
}
