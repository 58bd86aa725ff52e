//! The scoring classifier's work for the page, a slice per frame.

use super::*;

/// The scoring classifier and its work in progress.
pub struct Judge<B: Backend> {
    pub(super) classifier: Classifier<B>,
    pub(super) extractor: FeatureExtractor<B>,
    /// The classifier at one digit, for the pad's reading (made at the first drawing).
    pub(super) reader: Option<FeatureExtractor<B>>,
    /// Feature statistics of `REFERENCE_DIGITS` training digits.
    pub(super) reference: Option<FeatureStats>,
    /// The scores of real held-out digits.
    pub(super) real: Option<ScoreView>,
    pub(super) job: Option<Job>,
}

/// A set of digits going through the classifier a slice at a time.
pub(super) enum Job {
    Reference(Outputs),
    Real(Outputs),
    Pane {
        pane: usize,
        step: u64,
        out: Outputs,
    },
}

/// Runs the next `SCORE_CHUNK` of the first `total` digits in `images`
/// through the classifier into `out`; returns whether all `total` are in.
pub(super) async fn next_slice<B: Backend>(
    b: &B,
    extractor: &FeatureExtractor<B>,
    images: &[u8],
    total: usize,
    out: &mut Outputs,
) -> Result<bool, BackendError> {
    let (next, end) = (out.count, (out.count + SCORE_CHUNK).min(total));
    let o = extractor
        .run(b, &images[next * PIXELS..end * PIXELS])
        .await?;
    extend(out, o);
    Ok(end == total)
}

pub(super) fn extend(out: &mut Outputs, more: Outputs) {
    out.count += more.count;
    out.features.extend(more.features);
    out.logits.extend(more.logits);
}

/// A pane's (or the real digits') scores, as the page shows them.
#[derive(Clone, Debug, Serialize)]
pub struct ScoreView {
    /// The step of the weights scored.
    pub step: u64,
    pub samples: usize,
    pub fid: f64,
    pub inception_score: f64,
    pub class_shares: [f64; CLASSES],
    /// A conditional model's: the share of samples the classifier reads as
    /// the digit they were asked for.
    pub class_accuracy: Option<f64>,
}

impl ScoreView {
    pub(super) fn of(step: u64, s: &Scores) -> ScoreView {
        ScoreView {
            step,
            samples: s.count,
            fid: s.fid,
            inception_score: s.inception_score,
            class_shares: s.class_shares,
            class_accuracy: None,
        }
    }
}
