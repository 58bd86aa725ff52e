//! `genlab train`: trains one model on MNIST-format digits (the bundled
//! 10,000 by default) on the GPU or the CPU backend, and writes into `--out`:
//! samples.png (an 8×8 grid; a conditional model's: a row per digit 0–9),
//! samples.idx (generated digits as IDX bytes; a conditional model's with
//! samples-labels.idx, the digits asked for),
//! metrics.json (config, speed, loss curve, held-out scores) and
//! weights.safetensors (which `--resume` continues from).

use crate::args::{LrSchedule, ModelArg, Recipe, SettingArgs, TrainArgs};
use crate::common::{
    block, block_str, choose_gpu, cpu, read_file, read_saved, training_data, write_file,
    BUNDLED_IMAGES, BUNDLED_LABELS,
};
use genlab::backends::{Backend, BackendChoice, Cpu, Gpu};
use genlab::data::{Digits, PIXELS, SIDE};
use genlab::models::{asked_digits, Model, ModelConfig, ModelKind, GRID, MODELS, SETTINGS};
use genlab::train::{self, LossPoint, Plan, Progress, Trainer};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Instant;

fn config_from(
    args: &TrainArgs,
    saved: Option<&train::SavedWeights>,
) -> Result<ModelConfig, String> {
    let model = match args.model {
        Some(ModelArg::Generative(k)) => Some(k),
        _ => None,
    };
    let mut c = match (saved.and_then(|s| s.config.clone()), model) {
        (Some(c), Some(k)) if c.kind != k => {
            return Err(format!("--resume holds a {}, not a {k}", c.kind))
        }
        (Some(_), _) if args.recipe.is_some() => {
            return Err("--resume continues the saved model with its own settings, so --recipe would be ignored: drop it, or train a new model without --resume".into())
        }
        (Some(mut c), _) => {
            // The saved model's settings are its own; only the rate can change.
            let ignored: Vec<String> = args
                .settings
                .given
                .iter()
                .filter(|(k, _)| *k != "lr")
                .map(|(k, _)| SettingArgs::flag(k))
                .collect();
            if !ignored.is_empty() {
                return Err(format!(
                    "--resume continues the saved model with its own settings, so {} would be ignored: drop {}, or train a new model without --resume",
                    ignored.join(", "),
                    if ignored.len() == 1 { "it" } else { "them" }
                ));
            }
            if let Some((_, lr)) = args.settings.given.iter().find(|(k, _)| *k == "lr") {
                c = c.with("lr", lr).map_err(|e| format!("--lr: {e}"))?;
            }
            c.validate()?;
            return Ok(c);
        }
        (None, Some(k)) => match args.recipe {
            Some(Recipe::Tutorial) => match k.info().tutorial {
                Some(tutorial) => tutorial(),
                None => {
                    let with: Vec<&str> = genlab::models::MODELS
                        .iter()
                        .filter(|m| m.tutorial.is_some())
                        .map(|m| m.name)
                        .collect();
                    return Err(format!(
                        "--recipe tutorial: the {k}'s defaults are its tutorial's settings already; only {} has another recipe: drop --recipe",
                        with.join(", ")
                    ));
                }
            },
            Some(Recipe::Default) | None => ModelConfig::new(k),
        },
        (None, None) => {
            let names: Vec<&str> = genlab::models::MODELS.iter().map(|m| m.name).collect();
            return Err(format!("say which model: --model {{{}}}", names.join(",")));
        }
    };
    for (key, value) in &args.settings.given {
        let flag = SettingArgs::flag(key);
        // A flag the model ignores is a mistake, not a no-op: say so.
        if let Some(s) = SETTINGS.iter().find(|s| s.key == *key) {
            if !(s.applies)(c.kind) {
                let models: Vec<&str> = MODELS
                    .iter()
                    .filter(|m| (s.applies)(m.kind))
                    .map(|m| m.name)
                    .collect();
                return Err(format!(
                    "{flag} does not change the {} (only {}): drop it, or pick one of those models",
                    c.kind,
                    models.join(", ")
                ));
            }
        }
        c = c.with(key, value).map_err(|e| format!("{flag}: {e}"))?;
    }
    Ok(c)
}

pub fn run(args: TrainArgs) -> Result<(), String> {
    if args.model == Some(ModelArg::Classifier) {
        check_run(&args, 0)?;
        return crate::classifier::train(&args);
    }
    let saved = match &args.resume {
        Some(dir) => Some(read_saved(dir)?.0),
        None => None,
    };
    let config = config_from(&args, saved.as_ref())?;
    let saved_step = saved.as_ref().and_then(|s| s.step).unwrap_or(0);
    check_run(&args, saved_step)?;
    let out = args
        .out
        .clone()
        .or_else(|| args.resume.clone())
        .ok_or("say where to write: --out DIR")?;
    std::fs::create_dir_all(&out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let (train_set, held_out) = training_data(&args)?;
    let gpu = choose_gpu(args.backend)?;
    let run = Run {
        args: &args,
        config,
        saved,
        out,
        train_set,
        held_out,
    };
    match gpu {
        Some(gpu) => run.on(&gpu),
        None => run.on(&cpu(args.threads)),
    }
}

/// The fewest held-out digits: the autoencoder's grid shows 64 of them, and
/// the scores and the held-out evaluation compare against them.
const MIN_HELD_OUT: usize = GRID;

/// The flags that only matter after training, checked before it starts.
fn check_run(args: &TrainArgs, saved_step: u32) -> Result<(), String> {
    if args.log_every == 0 {
        return Err("--log-every must be at least 1".into());
    }
    if args.steps == 0 {
        return Err("--steps must be at least 1".into());
    }
    // Adam's step counter (saved with the weights) is 32 bits.
    if (saved_step as u64)
        .checked_add(args.steps)
        .is_none_or(|end| end > u32::MAX as u64)
    {
        return Err(format!(
            "--steps {}: with the {saved_step} steps already done that passes 2^32 - 1 steps, the most a model counts",
            args.steps
        ));
    }
    if !(0.0..=1.0).contains(&args.lr_final) {
        return Err(format!(
            "--lr-final {} must be a fraction of --lr in [0, 1]",
            args.lr_final
        ));
    }
    if args.held_out < MIN_HELD_OUT {
        return Err(format!(
            "--held-out {}: keep at least {MIN_HELD_OUT} digits out (the sample grid, the scores and the held-out evaluation use them)",
            args.held_out
        ));
    }
    if args.samples < 2 {
        return Err(format!(
            "--samples {}: the scores need at least 2 samples",
            args.samples
        ));
    }
    if args.eval_passes == 0 {
        return Err("--eval-passes must be at least 1".into());
    }
    Ok(())
}

struct Run<'a> {
    args: &'a TrainArgs,
    config: ModelConfig,
    saved: Option<train::SavedWeights>,
    out: PathBuf,
    train_set: Digits,
    held_out: Digits,
}

impl Run<'_> {
    fn on<B: Backend>(self, b: &B) -> Result<(), String> {
        let args = self.args;
        let c = self.config.clone();
        let names = c.loss_names();
        let model = Model::new(b, c.clone())?;
        eprintln!(
            "{}: {} parameters, batch {}, on {}",
            c.kind,
            model.param_count(),
            c.batch,
            b.describe()
        );
        let mut t = Trainer::new(b, model, self.train_set.clone())?;
        let mut curve: Vec<Value> = Vec::new();
        let mut evals: Vec<Value> = Vec::new();
        if let Some(saved) = &self.saved {
            t.resume(b, saved)?;
            // Keep the curve of the run we continue.
            let old =
                std::fs::read_to_string(self.args.resume.as_ref().unwrap().join("metrics.json"))
                    .ok()
                    .and_then(|s| serde_json::from_str::<Value>(&s).ok());
            if let Some(old) = old {
                curve.extend(old["loss_curve"].as_array().cloned().unwrap_or_default());
                evals.extend(
                    old["held_out_curve"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default(),
                );
            }
            eprintln!("resuming at step {}", t.step);
        }
        let evaluator = t.model.evaluator(b, eval_batch(self.held_out.len()));
        let start_step = t.step;
        let end = start_step + args.steps;
        let bar = indicatif::ProgressBar::new(args.steps);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:30} {pos}/{len} steps {per_sec} eta {eta} {msg}",
            )
            .unwrap(),
        );
        let point_json = |p: &LossPoint| {
            let mut o = serde_json::Map::new();
            o.insert("step".into(), json!(p.step));
            for (n, v) in names.iter().zip(&p.values) {
                o.insert((*n).into(), json!(v));
            }
            Value::Object(o)
        };
        let started = Instant::now();
        let mut last_point: Option<LossPoint> = None;
        let plan = Plan {
            steps: args.steps,
            log_every: args.log_every,
            schedule: match args.lr_schedule {
                LrSchedule::Constant => train::LrSchedule::Constant,
                LrSchedule::Cosine => train::LrSchedule::Cosine {
                    final_fraction: args.lr_final,
                },
            },
        };
        let held_out = &self.held_out;
        let run = block_str(t.run(b, &plan, |t, p| {
            match p {
                Progress::Losses(p) => {
                    let shown: Vec<String> = names
                        .iter()
                        .zip(&p.values)
                        .map(|(n, v)| format!("{n} {v:.4}"))
                        .collect();
                    bar.set_message(shown.join(" "));
                    curve.push(point_json(p));
                    last_point = Some(p.clone());
                }
                Progress::Step(done) => {
                    if let Some(ev) = &evaluator {
                        if args.eval_every > 0 && done % args.eval_every == 0 && t.step != end {
                            let passes = args.eval_passes;
                            let h =
                                block(train::evaluate(b, ev, held_out, c.kind.is_vae(), passes))?;
                            evals.push(held_out_json(t.step, &h));
                        }
                    }
                    bar.set_position(done);
                }
            }
            Ok(())
        }));
        if let Err(e) = run {
            bar.abandon();
            return Err(e);
        }
        let wall = started.elapsed().as_secs_f64();
        bar.finish();
        let steps_run = t.step - start_step;
        // The weights first: nothing after training may cost the training.
        let weights = block(train::save_weights(b, &t.model))?;
        write_file(&self.out.join("weights.safetensors"), &weights)?;

        // Held-out evaluation, samples.
        let held = match &evaluator {
            Some(ev) => {
                let h = block(train::evaluate(
                    b,
                    ev,
                    &self.held_out,
                    c.kind.is_vae(),
                    args.eval_passes,
                ))?;
                evals.push(held_out_json(t.step, &h));
                Some(h)
            }
            None => None,
        };
        let sampler = t.model.sampler(b, GRID);
        let mut cols = 8;
        let grid = if c.kind.is_conditional() {
            // A row per digit; a column per latent (one style across the digits).
            cols = DIGIT_COLUMNS;
            let (z, labels) = train::digit_rows(&c, cols, c.seed);
            let rows = t.model.sampler(b, labels.len());
            rows.write_labels(b, &labels);
            train::to_bytes(&block(train::sample(b, &t.model, &rows, &z))?)
        } else if c.kind == ModelKind::Autoencoder {
            // Rows alternate: 8 held-out digits, their reconstructions.
            let mut input = vec![0.0; GRID * PIXELS];
            for (i, v) in input.iter_mut().enumerate() {
                *v = self.held_out.images[i] as f32 / 255.0;
            }
            let recon = block(train::sample(b, &t.model, &sampler, &input))?;
            let mut tiles = Vec::with_capacity(GRID * PIXELS);
            for pair in 0..4 {
                let rows = pair * 8..pair * 8 + 8;
                tiles.extend(train::to_bytes(
                    &input[rows.start * PIXELS..rows.end * PIXELS],
                ));
                tiles.extend(train::to_bytes(
                    &recon[rows.start * PIXELS..rows.end * PIXELS],
                ));
            }
            tiles
        } else {
            let z = train::latents(&c, GRID, c.seed);
            train::to_bytes(&block(train::sample(b, &t.model, &sampler, &z))?)
        };
        write_png(&self.out.join("samples.png"), &grid, cols)?;
        let count = if c.kind == ModelKind::Autoencoder {
            args.samples.min(self.held_out.len())
        } else {
            args.samples
        };
        let generated = block(train::generate(
            b,
            &t.model,
            &sampler,
            count,
            c.seed.wrapping_add(1),
            &self.held_out,
        ))?;
        write_file(
            &self.out.join("samples.idx"),
            &idx_images(&generated, count),
        )?;
        // The digits a conditional model was asked for: sample i is i mod 10.
        let asked = c.kind.is_conditional().then(|| asked_digits(0, count));
        if let Some(labels) = &asked {
            write_file(&self.out.join("samples-labels.idx"), &idx_labels(labels))?;
        }

        let mut metrics = json!({
            "model": c.kind.name(),
            "config": config_json(&c),
            "backend": b.describe(),
            "parameters": t.model.param_count(),
            "steps": t.step,
            "steps_this_run": steps_run,
            "resumed_from_step": self.saved.as_ref().map(|_| start_step),
            "epochs": t.epoch(),
            "samples_seen": t.samples_seen(),
            "train_digits": self.train_set.len(),
            "held_out_digits": self.held_out.len(),
            "wall_seconds": wall,
            "steps_per_second": steps_run as f64 / wall,
            "lr_schedule": format!("{:?}", args.lr_schedule).to_lowercase(),
            "lr_final_fraction": (args.lr_schedule != LrSchedule::Constant).then_some(args.lr_final),
            "loss_names": names,
            "final_losses": last_point.as_ref().map(point_json),
            "loss_curve": curve,
            "samples_idx": {"count": count, "seed": c.seed.wrapping_add(1)},
        });
        if let Some(h) = &held {
            metrics["held_out"] = held_out_json(t.step, h);
            metrics["held_out_curve"] = json!(evals);
            if let Some(nelbo) = h.negative_elbo() {
                metrics["held_out_negative_elbo"] = json!(nelbo);
            }
        }
        // The scoring classifier's view of the samples and of real held-out digits.
        let scores = crate::score::score_on(
            b,
            crate::score::CLASSIFIER,
            &generated,
            asked.as_deref(),
            &self.train_set,
            &self.held_out,
        )?;
        metrics["scores"] = scores.clone();
        let text = serde_json::to_string_pretty(&metrics).map_err(|e| e.to_string())?;
        write_file(&self.out.join("metrics.json"), text.as_bytes())?;

        let summary = match &held {
            Some(h) => match h.negative_elbo() {
                Some(n) => format!(
                    "held-out −ELBO {n:.2} nats (reconstruction {:.2} + KL {:.2}) over {} digits × {} ε draws",
                    h.reconstruction,
                    h.kl.unwrap_or(0.0),
                    h.digits,
                    h.passes
                ),
                None => format!(
                    "held-out reconstruction {:.2} nats per digit over {} digits",
                    h.reconstruction, h.digits
                ),
            },
            None => last_point
                .map(|p| format!("last losses {:?} = {:?}", names, p.values))
                .unwrap_or_default(),
        };
        let s = &scores["samples"];
        let accuracy = match s["class_accuracy"].as_f64() {
            Some(a) => format!(", read as the digit asked for {:.1}%", 100.0 * a),
            None => String::new(),
        };
        println!(
            "{}: {} steps in {:.1} s ({:.2} steps/s); {summary}; samples: FID {:.1}, IS {:.2}{accuracy} (real held-out: {:.1}, {:.2}); wrote {}",
            c.kind,
            steps_run,
            wall,
            steps_run as f64 / wall,
            s["fid"].as_f64().unwrap_or(f64::NAN),
            s["inception_score"].as_f64().unwrap_or(f64::NAN),
            scores["real_held_out"]["fid"].as_f64().unwrap_or(f64::NAN),
            scores["real_held_out"]["inception_score"].as_f64().unwrap_or(f64::NAN),
            self.out.display()
        );
        Ok(())
    }
}

/// The largest batch ≤ 100 that divides the held-out set (so every digit counts).
fn eval_batch(held_out: usize) -> usize {
    (1..=100.min(held_out.max(1)))
        .rev()
        .find(|n| held_out.is_multiple_of(*n))
        .unwrap_or(1)
}

fn held_out_json(step: u64, h: &train::HeldOut) -> Value {
    json!({
        "step": step,
        "digits": h.digits,
        "passes": h.passes,
        "reconstruction": h.reconstruction,
        "kl": h.kl,
        "negative_elbo": h.negative_elbo(),
    })
}

fn config_json(c: &ModelConfig) -> Value {
    serde_json::to_value(c).expect("settings serialize")
}

/// Columns of a conditional model's samples.png (a row per digit).
const DIGIT_COLUMNS: usize = 10;

/// Labels (digits) as an IDX unsigned-byte file.
pub fn idx_labels(labels: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 8, 1];
    out.extend((labels.len() as u32).to_be_bytes());
    out.extend(labels);
    out
}

pub fn idx_images(pixels: &[u8], count: usize) -> Vec<u8> {
    let mut out = vec![0, 0, 8, 3];
    for d in [count as u32, SIDE as u32, SIDE as u32] {
        out.extend(d.to_be_bytes());
    }
    out.extend(pixels);
    out
}

/// Tiles (28×28 bytes each, row-major) in a grid `cols` wide, 2 px gaps, as an 8-bit grey PNG.
fn write_png(p: &Path, tiles: &[u8], cols: usize) -> Result<(), String> {
    let (w, h, img) = train::tile(tiles, cols, 2);
    let file =
        std::fs::File::create(p).map_err(|e| format!("cannot write {}: {e}", p.display()))?;
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), w as u32, h as u32);
    enc.set_color(png::ColorType::Grayscale);
    enc.set_depth(png::BitDepth::Eight);
    enc.write_header()
        .and_then(|mut wr| wr.write_image_data(&img))
        .map_err(|e| format!("cannot write {}: {e}", p.display()))
}

#[derive(clap::Args)]
pub struct EvalArgs {
    /// A folder written by `genlab train` (its weights.safetensors).
    dir: PathBuf,
    /// MNIST-format images to evaluate on (default: the bundled held-out 1,000).
    #[arg(long, requires = "labels")]
    images: Option<PathBuf>,
    #[arg(long, requires = "images")]
    labels: Option<PathBuf>,
    #[arg(long, value_parser = crate::args::parse_backend, default_value = "cpu")]
    backend: BackendChoice,
    /// Passes over the digits, each with new ε draws (VAEs).
    #[arg(long, default_value_t = 10)]
    passes: usize,
}

/// `genlab eval DIR`: the held-out losses of a trained autoencoder or VAE on
/// any MNIST-format set (the official test set, say), as one JSON line.
pub fn eval(args: EvalArgs) -> Result<(), String> {
    let path = args.dir.join("weights.safetensors");
    let classifier = args.dir.join("classifier.safetensors");
    if !path.exists() && classifier.exists() {
        let digits = match (&args.images, &args.labels) {
            (Some(i), Some(l)) => Digits::from_idx(&read_file(i)?, &read_file(l)?),
            _ => Digits::from_idx(BUNDLED_IMAGES, BUNDLED_LABELS).map(|d| d.split_held_out(1000).1),
        }
        .map_err(|e| e.to_string())?;
        return crate::classifier::eval(&classifier, &digits, args.backend);
    }
    let (saved, config) = read_saved(&args.dir)?;
    let digits = match (&args.images, &args.labels) {
        (Some(i), Some(l)) => Digits::from_idx(&read_file(i)?, &read_file(l)?),
        _ => Digits::from_idx(BUNDLED_IMAGES, BUNDLED_LABELS).map(|d| d.split_held_out(1000).1),
    }
    .map_err(|e| e.to_string())?;
    fn on<B: Backend>(
        b: &B,
        config: ModelConfig,
        saved: &train::SavedWeights,
        digits: &Digits,
        passes: usize,
    ) -> Result<(), String> {
        let model = Model::new(b, config)?;
        train::load_weights(b, &model, saved)?;
        let ev = model
            .evaluator(b, eval_batch(digits.len()))
            .ok_or_else(|| {
                format!(
                    "a {} has no held-out likelihood to evaluate",
                    model.config().kind
                )
            })?;
        let h = block(train::evaluate(
            b,
            &ev,
            digits,
            model.config().kind.is_vae(),
            passes,
        ))?;
        println!("{}", held_out_json(saved.step.unwrap_or(0) as u64, &h));
        Ok(())
    }
    match args.backend {
        BackendChoice::Cpu => on(&Cpu::new(), config, &saved, &digits, args.passes),
        _ => {
            let gpu = pollster::block_on(Gpu::new()).map_err(|e| e.to_string())?;
            on(&gpu, config, &saved, &digits, args.passes)
        }
    }
}
