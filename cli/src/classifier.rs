//! `genlab train --model classifier` (the scoring classifier) and `genlab
//! eval` of a classifier folder.

use crate::args::TrainArgs;
use crate::common::{block, block_str, choose_gpu, cpu, read_file, training_data, write_file};
use crate::score::EXTRACT_BATCH;
use genlab::backends::{Backend, BackendChoice, Cpu};
use genlab::data::Digits;
use genlab::score::{accuracy, Classifier, ClassifierConfig};
use genlab::train::{LrSchedule, Plan, Progress, Trainer};
use serde_json::json;
use std::path::Path;
use std::time::Instant;

/// Trains the classifier on the training digits (shifted at random), reports
/// its held-out accuracy, and writes DIR/classifier.safetensors and DIR/metrics.json.
pub fn train(args: &TrainArgs) -> Result<(), String> {
    let defaults = ClassifierConfig::default();
    let config = ClassifierConfig {
        batch: args.settings.get("batch")?.unwrap_or(defaults.batch),
        width: args.settings.get("width")?.unwrap_or(defaults.width),
        features: args.settings.get("hidden")?.unwrap_or(defaults.features),
        lr: args.settings.get("lr")?.unwrap_or(defaults.lr),
        seed: args.settings.get("seed")?.unwrap_or(defaults.seed),
        ..defaults
    };
    config.validate()?;
    let out = args.out.clone().ok_or("say where to write: --out DIR")?;
    std::fs::create_dir_all(&out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let (train_set, held_out) = training_data(args)?;
    match choose_gpu(args.backend)? {
        Some(g) => classifier_on(&g, args, config, &train_set, &held_out, &out),
        None => classifier_on(
            &cpu(args.threads),
            args,
            config,
            &train_set,
            &held_out,
            &out,
        ),
    }
}

fn classifier_on<B: Backend>(
    b: &B,
    args: &TrainArgs,
    config: ClassifierConfig,
    train_set: &Digits,
    held_out: &Digits,
    out: &Path,
) -> Result<(), String> {
    let c = Classifier::new(b, config.clone())?;
    eprintln!(
        "classifier: {} parameters, batch {}, on {}",
        c.param_count(),
        config.batch,
        b.describe()
    );
    let mut t = Trainer::new(b, c.trainer(b), train_set.clone())?;
    let bar = indicatif::ProgressBar::new(args.steps);
    let started = Instant::now();
    let mut curve = Vec::new();
    let plan = Plan {
        steps: args.steps,
        log_every: args.log_every,
        schedule: LrSchedule::Constant,
    };
    let run = block_str(t.run(b, &plan, |_, p| {
        match p {
            Progress::Losses(p) => {
                bar.set_message(format!("loss {:.4}", p.values[0]));
                curve.push(json!({"step": p.step, "loss": p.values[0]}));
            }
            Progress::Step(done) => bar.set_position(done),
        }
        Ok(())
    }));
    if let Err(e) = run {
        bar.abandon();
        return Err(e);
    }
    bar.finish();
    let wall = started.elapsed().as_secs_f64();
    let c = &t.model.classifier;
    let ex = c.extractor(b, EXTRACT_BATCH);
    let outputs = block(ex.run(b, &held_out.images))?;
    let acc = accuracy(&outputs.logits, &held_out.labels);
    let bytes = block(c.save(b))?;
    write_file(&out.join("classifier.safetensors"), &bytes)?;
    let metrics = json!({
        "model": "classifier",
        "config": {"batch": config.batch, "width": config.width, "features": config.features,
                   "lr": config.lr, "seed": config.seed, "shift": config.shift},
        "backend": b.describe(),
        "steps": args.steps,
        "wall_seconds": wall,
        "steps_per_second": args.steps as f64 / wall,
        "loss_curve": curve,
        "held_out_digits": held_out.len(),
        "held_out_accuracy": acc,
    });
    write_file(
        &out.join("metrics.json"),
        serde_json::to_string_pretty(&metrics).unwrap().as_bytes(),
    )?;
    println!(
        "classifier: {} steps in {wall:.1} s; held-out accuracy {:.2}% over {} digits; wrote {} ({} bytes)",
        args.steps,
        100.0 * acc,
        held_out.len(),
        out.join("classifier.safetensors").display(),
        bytes.len()
    );
    Ok(())
}

/// The classifier's accuracy on a labelled set (for `genlab eval` of a classifier folder).
pub fn eval(path: &Path, digits: &Digits, backend: BackendChoice) -> Result<(), String> {
    let bytes = read_file(path)?;
    fn on<B: Backend>(b: &B, bytes: &[u8], digits: &Digits) -> Result<f64, String> {
        let c = Classifier::load(b, bytes)?;
        let outputs = block(c.extractor(b, EXTRACT_BATCH).run(b, &digits.images))?;
        Ok(accuracy(&outputs.logits, &digits.labels))
    }
    let acc = match choose_gpu(backend)? {
        Some(g) => on(&g, &bytes, digits)?,
        None => on(&Cpu::new(), &bytes, digits)?,
    };
    println!("{}", json!({"digits": digits.len(), "accuracy": acc}));
    Ok(())
}
