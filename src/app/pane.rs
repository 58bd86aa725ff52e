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

/// A sampler with the latents it draws from.
pub(super) struct Drawn<B: Backend> {
    pub(super) sampler: Sampler<B>,
    pub(super) input: Vec<f32>,
}

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
        let grid_input = if kind == ModelKind::Autoencoder {
            pixels01(&held_out.images[..GRID.min(held_out.len()) * PIXELS], GRID)
        } else {
            train::latents(&config, GRID, config.seed)
        };
        let grid_drawn = Drawn {
            sampler: model.sampler(b, GRID),
            input: grid_input,
        };
        let score_drawn = Drawn {
            sampler: model.sampler(b, SCORE_CHUNK),
            input: if kind == ModelKind::Autoencoder {
                let count = SCORE_SAMPLES.min(held_out.len());
                pixels01(&held_out.images[..count * PIXELS], SCORE_SAMPLES)
            } else {
                train::latents(&config, SCORE_SAMPLES, config.seed.wrapping_add(2))
            },
        };
        let strip_drawn = (kind != ModelKind::Autoencoder).then(|| Drawn {
            sampler: model.sampler(b, STRIP),
            input: interpolation_latents(&config, STRIP, config.seed),
        });
        let manifold_drawn = (kind.is_vae() && config.latent == 2).then(|| Drawn {
            sampler: model.sampler(b, MANIFOLD_SIDE * MANIFOLD_SIDE),
            input: manifold_latents(MANIFOLD_SIDE),
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
        Ok(Pane {
            trainer,
            state: RunState::Ready,
            history: Vec::new(),
            grid: Picture::default(),
            reconstructions: None,
            strip: None,
            manifold: None,
            score: None,
            next_score: 0,
            grid_drawn,
            score_drawn,
            strip_drawn,
            manifold_drawn,
            recon,
        })
    }

    pub fn config(&self) -> &ModelConfig {
        self.trainer.model.config()
    }

    pub fn latest(&self) -> Option<&LossPoint> {
        self.history.last()
    }

    /// Reads the losses since the last read into the curve; a loss that is
    /// not finite fails the pane (with what to do), and the step limit finishes it.
    pub async fn poll(&mut self, b: &B, limit: Option<u64>) -> Result<(), BackendError> {
        if let Some(p) = self.trainer.read_losses(b).await? {
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
        if limit.is_some_and(|l| self.trainer.step >= l) {
            self.state = self.state.clone().on(Event::ReachedLimit);
        }
        Ok(())
    }

    /// Draws every picture from the current weights (a few small forward
    /// passes and one readback each).
    pub async fn draw(&mut self, b: &B) -> Result<(), BackendError> {
        let kind = self.config().kind;
        let model = &self.trainer.model;
        let d = &self.grid_drawn;
        let px = train::sample(b, model, &d.sampler, &d.input).await?;
        self.grid = Picture::of(&train::to_bytes(&px), 8);
        if let Some(d) = &self.strip_drawn {
            let px = train::sample(b, model, &d.sampler, &d.input).await?;
            self.strip = Some(Picture::of(&train::to_bytes(&px), STRIP));
        }
        if let Some(d) = &self.manifold_drawn {
            let px = train::sample(b, model, &d.sampler, &d.input).await?;
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
            hint: hint(c, &self.history, self.score.as_ref()),
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
