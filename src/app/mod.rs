//! What the page decides, the same natively and in the browser (web.rs
//! only wraps it for JavaScript and draws): the page's options from URL
//! parameters ([`options`]), each pane's run state ([`run_state`]), the
//! latents it draws from ([`latents`]), and [`Lab`]: models trained
//! interleaved on the same mini-batches ([`pane`]), with their sample
//! grids, reconstructions, interpolation strips, 2-D manifolds and loss
//! curves, all read back a few times a second, never per step, and scored
//! by the classifier a slice at a time ([`judge`]); and what the main
//! thread and a pane's Web Worker say to each other ([`protocol`]).

mod files;
mod judge;
mod lab;
mod latents;
mod options;
mod pad;
mod pane;
mod protocol;
mod run_state;

pub use crate::backends::BackendChoice;
pub use crate::models::Size;
pub use files::digits_from_files;
use judge::{extend, next_slice, Job};
pub use judge::{Judge, ScoreView};
pub use lab::Lab;
pub use latents::{
    interpolation_latents, manifold_latents, manifold_pixel, normal_cdf, normal_quantile,
};
pub use options::{parse_size, shown, PageOptions, PARAMETERS};
use pad::PadBinding;
pub use pad::{mnist_like, PadAnswer, PadView, PAD_MAX_SIDE};
use pane::split;
pub use pane::{
    hint, Pane, PaneView, Picture, COLLAPSE_SHARE, DIGIT_COLUMNS, D_WINS_BELOW, D_WINS_FOR,
};
pub use protocol::{state_after, Answer, Command, COMMANDS};
pub use run_state::{Event, RunState};

use crate::backends::{Backend, BackendError};
use crate::data::{Digits, PIXELS, SIDE};
use crate::models::{
    asked_digits, cycled_labels, Evaluator, Model, ModelConfig, ModelKind, Sampler, GRID, SETTINGS,
};
use crate::score::{
    accuracy, Classifier, FeatureExtractor, FeatureStats, Outputs, Scores, CLASSES,
};
use crate::train::{self, LossPoint, Trainer};
use serde::Serialize;

/// Digits kept out of training for reconstructions (the last of the set).
pub const HELD_OUT: usize = 1000;
/// Reconstructions shown per pane (inputs above, outputs below).
pub const RECONSTRUCTIONS: usize = 8;
/// Samples in an interpolation strip.
pub const STRIP: usize = 10;
/// The 2-D manifold is this many samples a side.
pub const MANIFOLD_SIDE: usize = 10;
/// Samples scored per pane (and real held-out digits in the floor).
pub const SCORE_SAMPLES: usize = 512;
/// Digits one frame's slice of scoring runs through the classifier.
pub const SCORE_CHUNK: usize = 32;
/// Training digits whose features are the reference statistics.
pub const REFERENCE_DIGITS: usize = 2048;
/// Loss points kept per pane: beyond this, neighbours are merged.
const HISTORY: usize = 1200;

/// A model's settings on the page: its registry preset at `size`
/// ([`ModelConfig::preset`]).
pub fn preset(kind: ModelKind, size: Size, seed: u32) -> ModelConfig {
    ModelConfig::preset(kind, size, seed)
}

/// Whether going from `old` to `new` settings needs the model rebuilt (and
/// its training lost): another model, or a setting that [`SETTINGS`] marks
/// as rebuilding (all but the learning rate).
pub fn needs_rebuild(old: &ModelConfig, new: &ModelConfig) -> bool {
    old.kind != new.kind
        || SETTINGS
            .iter()
            .any(|s| s.rebuilds && s.get(old) != s.get(new))
}

/// Applies one setting by name, as the page's controls send it ([`ModelConfig::with`]).
pub fn with_setting(c: &ModelConfig, key: &str, value: &str) -> Result<ModelConfig, String> {
    c.with(key, value)
}

#[cfg(test)]
mod tests {
    use super::options::decode;
    use super::pane::push_point;
    use super::*;

    #[test]
    fn decodes_percent_escapes() {
        assert_eq!(decode("dcgan%2Cconv-vae"), "dcgan,conv-vae");
        assert_eq!(decode("a+b"), "a b");
        assert_eq!(decode("100%"), "100%");
        assert_eq!(decode("%zz"), "%zz");
    }

    #[test]
    fn quantiles_invert_the_normal_cdf() {
        assert!(normal_quantile(0.5).abs() < 1e-12);
        assert!((normal_quantile(0.975) - 1.959963985).abs() < 1e-6);
        assert!((normal_quantile(0.01) + 2.326347874).abs() < 1e-6);
        assert!((normal_quantile(1e-5) + 4.264890794).abs() < 1e-6);
    }

    #[test]
    fn history_merges_keep_the_mean_and_the_last_step() {
        let mut h = Vec::new();
        for s in 1..=(HISTORY as u64 + 1) {
            push_point(
                &mut h,
                LossPoint {
                    step: s,
                    steps: 1,
                    values: vec![s as f32],
                },
            );
        }
        assert!(h.len() <= HISTORY / 2 + 1);
        assert_eq!(h.last().unwrap().step, HISTORY as u64 + 1);
        let total: u64 = h.iter().map(|p| p.steps).sum();
        assert_eq!(total, HISTORY as u64 + 1);
        assert_eq!(h[0].values[0], 1.5);
    }
}
