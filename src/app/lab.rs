//! The lab: the page's panes trained interleaved on the same mini-batches,
//! the data they share, and the scoring judge.

use super::*;
use crate::export::{export, Files, Format};

/// The panes of one page, trained interleaved (one step of each in turn)
/// on the same data, the same data order and so, at one batch size, the
/// same mini-batches.
pub struct Lab<B: Backend> {
    pub panes: Vec<Pane<B>>,
    pub train_set: Digits,
    pub held_out: Digits,
    /// Draws the data order of every pane.
    pub data_seed: u32,
    /// Stop each pane after this many steps.
    pub limit: Option<u64>,
    /// The scoring classifier, when the page has one.
    pub judge: Option<Judge<B>>,
    /// Score a pane first at this step, then every `score_every` steps.
    pub score_first: u64,
    pub score_every: u64,
}

impl<B: Backend> Lab<B> {
    /// Builds one pane per config on `digits` (the last [`HELD_OUT`] held out).
    pub fn new(
        b: &B,
        configs: &[ModelConfig],
        digits: &Digits,
        data_seed: u32,
        limit: Option<u64>,
    ) -> Result<Lab<B>, String> {
        let (train_set, held_out) = split(digits)?;
        let panes = configs
            .iter()
            .map(|c| Pane::new(b, c.clone(), &train_set, &held_out, data_seed))
            .collect::<Result<_, _>>()?;
        let mut lab = Lab {
            panes,
            train_set,
            held_out,
            data_seed,
            limit,
            judge: None,
            score_first: 200,
            score_every: 500,
        };
        for p in &mut lab.panes {
            p.next_score = lab.score_first;
        }
        Ok(lab)
    }

    /// Replaces pane `i` with a new model (its training is lost).
    pub fn rebuild(&mut self, b: &B, i: usize, config: ModelConfig) -> Result<(), String> {
        let mut pane = Pane::new(b, config, &self.train_set, &self.held_out, self.data_seed)?;
        pane.next_score = self.score_first;
        self.replace(i, pane)
    }

    fn replace(&mut self, i: usize, pane: Pane<B>) -> Result<(), String> {
        *self.pane_mut(i)? = pane;
        if let Some(j) = &mut self.judge {
            if matches!(j.job, Some(Job::Pane { pane, .. }) if pane == i) {
                j.job = None;
            }
        }
        Ok(())
    }

    /// Scores the panes with the classifier in `bytes` (safetensors from
    /// `genlab train --model classifier`), a slice at a time ([`Lab::judge_tick`]).
    pub fn set_judge(&mut self, b: &B, bytes: &[u8]) -> Result<(), String> {
        let classifier = Classifier::load(b, bytes)?;
        let extractor = classifier.extractor(b, SCORE_CHUNK);
        self.judge = Some(Judge {
            classifier,
            extractor,
            reader: None,
            reference: None,
            real: None,
            job: None,
        });
        Ok(())
    }

    /// One slice of scoring work (`SCORE_CHUNK` digits through the
    /// classifier, and at the end of a set the statistics), so that scoring
    /// never stalls training: the reference statistics of the training
    /// digits, then the real held-out digits' scores (the floor), then any
    /// pane due for a score. Returns whether it did anything.
    pub async fn judge_tick(&mut self, b: &B) -> Result<bool, BackendError> {
        let Lab {
            judge,
            panes,
            train_set,
            held_out,
            score_every,
            ..
        } = self;
        let Some(j) = judge else { return Ok(false) };
        if j.job.is_none() {
            j.job = if j.reference.is_none() {
                Some(Job::Reference(Outputs::default()))
            } else if j.real.is_none() {
                Some(Job::Real(Outputs::default()))
            } else {
                panes
                    .iter()
                    .position(|p| {
                        p.trainer.step > 0
                            && p.trainer.step >= p.next_score
                            && !matches!(p.state, RunState::Failed(_))
                    })
                    .map(|i| Job::Pane {
                        pane: i,
                        step: panes[i].trainer.step,
                        out: Outputs::default(),
                    })
            };
        }
        let f = j.classifier.config.features;
        match &mut j.job {
            None => return Ok(false),
            Some(Job::Reference(out)) => {
                let total = REFERENCE_DIGITS.min(train_set.len());
                if next_slice(b, &j.extractor, &train_set.images, total, out).await? {
                    j.reference = Some(FeatureStats::of(&out.features, f));
                    j.job = None;
                }
            }
            Some(Job::Real(out)) => {
                let total = SCORE_SAMPLES.min(held_out.len());
                if next_slice(b, &j.extractor, &held_out.images, total, out).await? {
                    let s = Scores::of(out, j.reference.as_ref().unwrap());
                    j.real = Some(ScoreView::of(0, &s));
                    j.job = None;
                }
            }
            Some(Job::Pane { pane, step, out }) => {
                let p = &mut panes[*pane];
                let d = &p.score_drawn;
                let per = d.input.len() / SCORE_SAMPLES;
                let next = out.count;
                let input = &d.input[next * per..(next + SCORE_CHUNK) * per];
                // A conditional model is asked for the digits in turn.
                let conditional = p.config().kind.is_conditional();
                if conditional {
                    d.sampler.write_labels(b, &cycled_labels(next, SCORE_CHUNK));
                }
                let px = train::sample(b, &p.trainer.model, &d.sampler, input).await?;
                let o = j.extractor.run(b, &train::to_bytes(&px)).await?;
                extend(out, o);
                if out.count >= SCORE_SAMPLES {
                    let s = Scores::of(out, j.reference.as_ref().unwrap());
                    let mut view = ScoreView::of(*step, &s);
                    if conditional {
                        let asked = asked_digits(0, out.count);
                        view.class_accuracy = Some(accuracy(&out.logits, &asked));
                    }
                    p.score = Some(view);
                    p.next_score = *step + *score_every;
                    j.job = None;
                }
            }
        }
        Ok(true)
    }

    /// The real held-out digits' scores: the floor a model can reach.
    pub fn real_score(&self) -> Option<&ScoreView> {
        self.judge.as_ref().and_then(|j| j.real.as_ref())
    }

    /// Starts pane `i` again from new weights with the same settings.
    pub fn reset(&mut self, b: &B, i: usize) -> Result<(), String> {
        let config = self.pane_mut(i)?.config().clone();
        self.rebuild(b, i, config)
    }

    pub fn send(&mut self, i: usize, e: Event) -> Result<(), String> {
        let p = self.pane_mut(i)?;
        p.state = p.state.clone().on(e);
        Ok(())
    }

    fn pane_mut(&mut self, i: usize) -> Result<&mut Pane<B>, String> {
        let n = self.panes.len();
        self.panes
            .get_mut(i)
            .ok_or_else(|| format!("there is no pane {i} (the page has {n})"))
    }

    /// One step of each training pane that is under the limit; returns how
    /// many ran. Nothing is read back.
    pub fn step_round(&mut self, b: &B) -> usize {
        let mut ran = 0;
        for p in &mut self.panes {
            let under = self.limit.is_none_or(|l| p.trainer.step < l);
            if p.state == RunState::Training && under {
                p.trainer.step(b);
                ran += 1;
            }
        }
        ran
    }

    /// Reads every pane's losses (this waits for the steps submitted so far).
    pub async fn poll(&mut self, b: &B) -> Result<(), BackendError> {
        for p in &mut self.panes {
            p.poll(b, self.limit).await?;
        }
        Ok(())
    }

    pub async fn draw(&mut self, b: &B) -> Result<(), BackendError> {
        for p in &mut self.panes {
            p.draw(b).await?;
        }
        Ok(())
    }

    /// Trains every pane on other digits from its next step (the last
    /// [`HELD_OUT`] held out). On error nothing changes.
    pub fn set_data(&mut self, digits: &Digits) -> Result<(), String> {
        let (train_set, held_out) = split(digits)?;
        for p in &self.panes {
            if train_set.len() < p.config().batch {
                return Err(format!(
                    "{} training digits are fewer than one batch of {} ({})",
                    train_set.len(),
                    p.config().batch,
                    p.config().kind
                ));
            }
        }
        for p in &mut self.panes {
            p.trainer.set_data(train_set.clone())?;
            // Scored against the new data from the next slice on.
            p.score = None;
            p.next_score = p.trainer.step;
        }
        self.train_set = train_set;
        self.held_out = held_out;
        if let Some(j) = &mut self.judge {
            (j.reference, j.real, j.job) = (None, None, None);
        }
        Ok(())
    }

    /// Pane `i`'s weights, Adam state and settings as safetensors.
    pub async fn save(&self, b: &B, i: usize) -> Result<Vec<u8>, String> {
        let p = self
            .panes
            .get(i)
            .ok_or_else(|| format!("there is no pane {i}"))?;
        train::save_weights(b, &p.trainer.model)
            .await
            .map_err(|e| e.to_string())
    }

    /// Pane `i`'s sampling network as `format`'s files ([`crate::export`]),
    /// named `genlab-{model}-step{step}`.
    pub async fn export(&self, b: &B, i: usize, format: Format) -> Result<Files, String> {
        let saved = train::read_weights(&self.save(b, i).await?)?;
        let p = &self.panes[i];
        let stem = format!("genlab-{}-step{}", p.config().kind, p.trainer.step);
        export(&saved, format, &stem, &[])
    }

    /// Replaces pane `i` with the model in a safetensors file written by
    /// [`Lab::save`] or `genlab train`, continuing from its step.
    pub fn load(&mut self, b: &B, i: usize, bytes: &[u8]) -> Result<(), String> {
        let saved = train::read_weights(bytes)?;
        let config = saved.config.clone().ok_or(
            "this safetensors file has no genlab settings in its header: save weights from genlab",
        )?;
        let mut pane = Pane::new(b, config, &self.train_set, &self.held_out, self.data_seed)?;
        pane.trainer.resume(b, &saved)?;
        pane.next_score = pane.trainer.step;
        self.replace(i, pane)
    }
}
