//! One pane: a model's trainer, its pictures (grid, reconstructions,
//! strip, manifold) and its loss history, read back a few times a second.

use super::*;

/// A drawn grid of digits: grey bytes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Picture {
    pub width: usize,
    pub height: usize,
    pub grey: Vec<u8>,
}

impl Picture {
    fn of(tiles: &[u8], cols: usize) -> Picture {
        let (width, height, grey) = train::tile(tiles, cols, 2);
        Picture {
            width,
            height,
            grey,
        }
    }

    /// RGBA, for a canvas's ImageData.
    pub fn rgba(&self) -> Vec<u8> {
        self.grey.iter().flat_map(|&g| [g, g, g, 255]).collect()
    }

    /// Whether anything is drawn: not all one value.
    pub fn is_blank(&self) -> bool {
        self.grey.iter().all(|&g| g == self.grey[0])
    }
}

/// A sampler with the latents it draws from (and a conditional model's
/// digit per sample; empty for the others).
pub(super) struct Drawn<B: Backend> {
    pub(super) sampler: Sampler<B>,
    pub(super) input: Vec<f32>,
    pub(super) labels: Vec<f32>,
}

impl<B: Backend> Drawn<B> {
    fn new(sampler: Sampler<B>, input: Vec<f32>) -> Drawn<B> {
        Drawn {
            sampler,
            input,
            labels: Vec::new(),
        }
    }

    /// Pixels in [0, 1] of every sample.
    async fn sample(&self, b: &B, model: &Model<B>) -> Result<Vec<f32>, BackendError> {
        if !self.labels.is_empty() {
            self.sampler.write_labels(b, &self.labels);
        }
        train::sample(b, model, &self.sampler, &self.input).await
    }
}

/// Columns of a conditional model's grid (a row per digit).
pub const DIGIT_COLUMNS: usize = 8;

/// One model on the page: its trainer, run state, pictures and curve.
pub struct Pane<B: Backend> {
    pub trainer: Trainer<B>,
    pub state: RunState,
    pub history: Vec<LossPoint>,
    /// The 8×8 grid from fixed latents (the autoencoder: held-out digits'
    /// reconstructions).
    pub grid: Picture,
    /// Held-out inputs (top row) and reconstructions (bottom), AE and VAEs.
    pub reconstructions: Option<Picture>,
    /// Samples along a path between two latents (not the autoencoder: its
    /// sampler takes digits, not codes).
    pub strip: Option<Picture>,
    /// The decoder over a grid of the 2-D latent space (a VAE with latent 2).
    pub manifold: Option<Picture>,
    /// The classifier's scores of the pane's samples, when last scored.
    pub score: Option<ScoreView>,
    /// A conditional model's digit picked for its grid and strip (None:
    /// the grid has a row per digit, the strip one style as each digit).
    pub digit: Option<u8>,
    /// The drawing pad's bindings, made at the pad's first drawing.
    pub(super) pad: Option<PadBinding<B>>,
    /// Score again once the pane reaches this step.
    pub next_score: u64,
    pub(super) grid_drawn: Drawn<B>,
    /// Draws `SCORE_SAMPLES` samples, `SCORE_CHUNK` at a time, for the scores.
    pub(super) score_drawn: Drawn<B>,
    pub(super) strip_drawn: Option<Drawn<B>>,
    pub(super) manifold_drawn: Option<Drawn<B>>,
    pub(super) recon: Option<(Evaluator<B>, B::Readback, Vec<u8>)>,
}

impl<B: Backend> Pane<B> {
    /// Builds a model and what draws its pictures.
    pub fn new(
        b: &B,
        config: ModelConfig,
        train_set: &Digits,
        held_out: &Digits,
        data_seed: u32,
    ) -> Result<Pane<B>, String> {
        config.validate()?;
        let model = Model::new(b, config.clone())?;
        let kind = config.kind;
        let grid_drawn = if kind.is_conditional() {
            // A row per digit, a column per latent.
            let (z, labels) = train::digit_rows(&config, DIGIT_COLUMNS, config.seed);
            Drawn {
                sampler: model.sampler(b, labels.len()),
                input: z,
                labels,
            }
        } else if kind == ModelKind::Autoencoder {
            let digits = &held_out.images[..GRID.min(held_out.len()) * PIXELS];
            Drawn::new(model.sampler(b, GRID), pixels01(digits, GRID))
        } else {
            let z = train::latents(&config, GRID, config.seed);
            Drawn::new(model.sampler(b, GRID), z)
        };
        // The scored samples: a conditional model's asked for the digits in
        // turn (each chunk writes its labels as it goes).
        let score_drawn = Drawn::new(
            model.sampler(b, SCORE_CHUNK),
            if kind == ModelKind::Autoencoder {
                let count = SCORE_SAMPLES.min(held_out.len());
                pixels01(&held_out.images[..count * PIXELS], SCORE_SAMPLES)
            } else {
                train::latents(&config, SCORE_SAMPLES, config.seed.wrapping_add(2))
            },
        );
        let strip_drawn = (kind != ModelKind::Autoencoder).then(|| {
            Drawn::new(
                model.sampler(b, STRIP),
                interpolation_latents(&config, STRIP, config.seed),
            )
        });
        let manifold_drawn = (kind.is_vae() && config.latent == 2).then(|| {
            Drawn::new(
                model.sampler(b, MANIFOLD_SIDE * MANIFOLD_SIDE),
                manifold_latents(MANIFOLD_SIDE),
            )
        });
        let recon = if held_out.len() >= RECONSTRUCTIONS {
            model.evaluator(b, RECONSTRUCTIONS).map(|e| {
                let digits = held_out.images[..RECONSTRUCTIONS * PIXELS].to_vec();
                b.write(e.input(), 0, &pixels01(&digits, RECONSTRUCTIONS));
                let readback = b.readback(e.output());
                (e, readback, digits)
            })
        } else {
            None
        };
        let mut trainer = Trainer::new(b, model, train_set.clone())?;
        trainer.data_seed = data_seed;
        let mut pane = Pane {
            trainer,
            state: RunState::Ready,
            history: Vec::new(),
            grid: Picture::default(),
            reconstructions: None,
            strip: None,
            manifold: None,
            score: None,
            digit: None,
            pad: None,
            next_score: 0,
            grid_drawn,
            score_drawn,
            strip_drawn,
            manifold_drawn,
            recon,
        };
        if kind.is_conditional() {
            pane.pick_digit(None)?;
        }
        Ok(pane)
    }

    /// Picks the digit a conditional pane's grid and strip draw: `Some(d)`,
    /// every sample a `d` (the strip: between two latents); `None`, a row
    /// per digit (the strip: one latent as each digit 0–9).
    pub fn pick_digit(&mut self, digit: Option<u8>) -> Result<(), String> {
        let config = self.config().clone();
        if !config.kind.is_conditional() {
            return Err(format!(
                "a {} is not asked for digits: choose a conditional model (cdcgan, cvae, conv-cvae)",
                config.kind
            ));
        }
        if let Some(d) = digit.filter(|&d| d as usize >= CLASSES) {
            return Err(format!("digit {d}: pick one of 0 to 9"));
        }
        let g = &mut self.grid_drawn;
        let (_, rows) = train::digit_rows(&config, DIGIT_COLUMNS, config.seed);
        g.labels = match digit {
            Some(d) => vec![d as f32; rows.len()],
            None => rows,
        };
        if let Some(s) = &mut self.strip_drawn {
            (s.input, s.labels) = match digit {
                Some(d) => (
                    interpolation_latents(&config, STRIP, config.seed),
                    vec![d as f32; STRIP],
                ),
                None => {
                    let z = train::latents(&config, 1, config.seed.wrapping_add(5));
                    (z.repeat(STRIP), cycled_labels(0, STRIP))
                }
            };
        }
        self.digit = digit;
        Ok(())
    }

    pub fn config(&self) -> &ModelConfig {
        self.trainer.model.config()
    }

    pub fn latest(&self) -> Option<&LossPoint> {
        self.history.last()
    }

    /// Reads the losses into the curve; a loss that is not finite fails the
    /// pane (with what to do), and the step limit finishes it. While the
    /// pane trains, the read trails by one call (the frame loop's steps run
    /// while it waits: [`Trainer::read_losses_behind`]); otherwise it catches up.
    pub async fn poll(&mut self, b: &B, limit: Option<u64>) -> Result<(), BackendError> {
        let at_limit = limit.is_some_and(|l| self.trainer.step >= l);
        let point = if self.state == RunState::Training && !at_limit {
            self.trainer.read_losses_behind(b).await?
        } else {
            self.trainer.read_losses(b).await?
        };
        if let Some(p) = point {
            let bad = self
                .config()
                .loss_names()
                .iter()
                .zip(&p.values)
                .find(|(_, v)| !v.is_finite());
            if let Some((name, v)) = bad {
                let why = format!(
                    "{} became {v} near step {}: training diverged. Reset, and try a lower learning rate (now {}).",
                    name.replace('_', " "),
                    p.step,
                    self.config().lr
                );
                self.state = self.state.clone().on(Event::Failure(why));
            }
            push_point(&mut self.history, p);
        }
        if at_limit {
            self.state = self.state.clone().on(Event::ReachedLimit);
        }
        Ok(())
    }

    /// Draws every picture from the current weights (a few small forward
    /// passes and one readback each).
    pub async fn draw(&mut self, b: &B) -> Result<(), BackendError> {
        let kind = self.config().kind;
        let model = &self.trainer.model;
        let px = self.grid_drawn.sample(b, model).await?;
        let cols = if kind.is_conditional() {
            DIGIT_COLUMNS
        } else {
            8
        };
        self.grid = Picture::of(&train::to_bytes(&px), cols);
        if let Some(d) = &self.strip_drawn {
            let px = d.sample(b, model).await?;
            self.strip = Some(Picture::of(&train::to_bytes(&px), STRIP));
        }
        if let Some(d) = &self.manifold_drawn {
            let px = d.sample(b, model).await?;
            self.manifold = Some(Picture::of(&train::to_bytes(&px), MANIFOLD_SIDE));
        }
        if let Some((e, readback, digits)) = &self.recon {
            b.run(|pass| e.forward(pass));
            let out = b.read(readback).await?;
            let mut tiles = digits.clone();
            tiles.extend(train::to_bytes(&train::to_pixels(kind, &out)));
            self.reconstructions = Some(Picture::of(&tiles, RECONSTRUCTIONS));
        }
        Ok(())
    }
}

pub(super) fn pixels01(bytes: &[u8], n: usize) -> Vec<f32> {
    let mut v: Vec<f32> = bytes.iter().map(|&p| p as f32 / 255.0).collect();
    v.resize(n * PIXELS, 0.0);
    v
}

/// Appends a loss point; past `HISTORY` points, merges neighbours pairwise
/// (weighted by their steps), so a long run keeps its whole shape.
pub(crate) fn push_point(history: &mut Vec<LossPoint>, p: LossPoint) {
    history.push(p);
    if history.len() <= HISTORY {
        return;
    }
    let merged = history
        .chunks(2)
        .map(|pair| match pair {
            [a, b] => {
                let steps = a.steps + b.steps;
                LossPoint {
                    step: b.step,
                    steps,
                    values: a
                        .values
                        .iter()
                        .zip(&b.values)
                        .map(|(x, y)| {
                            ((*x as f64 * a.steps as f64 + *y as f64 * b.steps as f64)
                                / steps as f64) as f32
                        })
                        .collect(),
                }
            }
            [a] => a.clone(),
            _ => unreachable!(),
        })
        .collect();
    *history = merged;
}

/// What the page shows of a pane, as it serialises to JavaScript.
#[derive(Clone, Debug, Serialize)]
pub struct PaneView {
    /// Every setting by its key (`model`, `latent`, `batch`, `lr`, …, as [`SETTINGS`]).
    #[serde(flatten)]
    pub config: ModelConfig,
    pub state: &'static str,
    pub error: Option<String>,
    pub step: u64,
    pub samples_seen: u64,
    pub epoch: f64,
    pub params: usize,
    pub loss_names: Vec<&'static str>,
    /// The latest mean losses (over the steps since the read before).
    pub losses: Vec<f32>,
    pub score: Option<ScoreView>,
    pub next_score: u64,
    /// Whether the model is asked for digits (a conditional model), and
    /// the digit picked (None: every digit, a row each).
    pub conditional: bool,
    pub digit: Option<u8>,
    /// What the grid and the strip show, in words.
    pub grid_caption: String,
    pub strip_caption: String,
    /// Whether the pane answers the drawing pad with a reconstruction.
    pub autoencodes: bool,
    /// One line when training has gone wrong in a way the numbers show
    /// ([`hint`]): the discriminator winning outright, or a collapse.
    pub hint: Option<String>,
}

/// A discriminator loss this low means D tells real from fake almost
/// perfectly (BCE, least squares and hinge all reach 0 there).
pub const D_WINS_BELOW: f32 = 0.05;
/// ... over at least this many of the last steps.
pub const D_WINS_FOR: u64 = 200;
/// Two digits holding more than this share of the samples is a collapse
/// (real digits: about 20%).
pub const COLLAPSE_SHARE: f64 = 0.6;

/// What a pane says when its numbers show a failure: the discriminator
/// winning outright (its loss below [`D_WINS_BELOW`] over the last
/// [`D_WINS_FOR`] steps or more), or the samples collapsing onto one or two
/// digits (more than [`COLLAPSE_SHARE`] of the latest score's samples).
pub fn hint(
    config: &ModelConfig,
    history: &[LossPoint],
    score: Option<&ScoreView>,
) -> Option<String> {
    if !config.kind.is_gan() {
        return None;
    }
    // The latest points, newest first, until they cover D_WINS_FOR steps.
    let (mut steps, mut worst) = (0u64, 0f32);
    for p in history.iter().rev() {
        worst = worst.max(p.values[0]);
        steps += p.steps;
        if steps >= D_WINS_FOR || worst >= D_WINS_BELOW {
            break;
        }
    }
    if steps >= D_WINS_FOR && worst < D_WINS_BELOW {
        return Some(format!(
            "The discriminator is winning outright (D loss under {D_WINS_BELOW} for the last {steps} steps): the generator gets almost no gradient. Try the hinge loss, a lower D rate, or Reset."
        ));
    }
    let s = score?;
    let mut shares: Vec<(usize, f64)> = s.class_shares.iter().copied().enumerate().collect();
    shares.sort_by(|a, b| b.1.total_cmp(&a.1));
    let top = shares[0].1 + shares[1].1;
    if top > COLLAPSE_SHARE {
        let which = if shares[0].1 > COLLAPSE_SHARE {
            format!("the digit {}", shares[0].0)
        } else {
            format!("the digits {} and {}", shares[0].0, shares[1].0)
        };
        return Some(format!(
            "The samples collapse onto {which} ({:.0}% of them at step {}): mode collapse. It may pass; if it stays, try the hinge loss, more D steps, or Reset.",
            100.0 * top,
            s.step
        ));
    }
    None
}

impl<B: Backend> Pane<B> {
    pub fn view(&self) -> PaneView {
        let c = self.config();
        PaneView {
            config: c.clone(),
            state: self.state.name(),
            error: match &self.state {
                RunState::Failed(why) => Some(why.clone()),
                _ => None,
            },
            step: self.trainer.step,
            samples_seen: self.trainer.samples_seen(),
            epoch: self.trainer.epoch(),
            params: self.trainer.model.param_count(),
            loss_names: c.loss_names().to_vec(),
            losses: self.latest().map(|p| p.values.clone()).unwrap_or_default(),
            score: self.score.clone(),
            next_score: self.next_score,
            conditional: c.kind.is_conditional(),
            digit: self.digit,
            grid_caption: self.grid_caption(),
            strip_caption: self.strip_caption(),
            autoencodes: !c.kind.is_gan(),
            hint: hint(c, &self.history, self.score.as_ref()),
        }
    }

    fn grid_caption(&self) -> String {
        let c = self.config();
        match (c.kind, self.digit) {
            (k, None) if k.is_conditional() => {
                "A row per digit 0–9: each column one latent vector (one style) asked for every digit"
                    .to_string()
            }
            (_, Some(d)) => format!("{} samples asked for the digit {d}", CLASSES * DIGIT_COLUMNS),
            (ModelKind::Autoencoder, _) => format!("Reconstructions of {GRID} held-out digits"),
            _ => format!("Samples from {GRID} fixed latent vectors"),
        }
    }

    fn strip_caption(&self) -> String {
        match (self.config().kind.is_conditional(), self.digit) {
            (true, None) => "One latent vector asked for each digit 0–9".to_string(),
            (true, Some(d)) => {
                format!("Interpolation between two latent vectors, as the digit {d}")
            }
            _ => "Interpolation between two latent vectors".to_string(),
        }
    }

    /// The loss curve flattened: step, then each loss, per point.
    pub fn curve(&self) -> Vec<f32> {
        self.history
            .iter()
            .flat_map(|p| std::iter::once(p.step as f32).chain(p.values.iter().copied()))
            .collect()
    }
}

/// Training digits and the last [`HELD_OUT`] (fewer for a small set: a tenth).
pub(super) fn split(digits: &Digits) -> Result<(Digits, Digits), String> {
    if digits.len() < 2 * GRID {
        return Err(format!(
            "{} digits are too few to train on (need at least {})",
            digits.len(),
            2 * GRID
        ));
    }
    let held = HELD_OUT.min(digits.len() / 10).max(RECONSTRUCTIONS);
    Ok(digits.split_held_out(held))
}
