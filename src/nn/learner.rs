//! What a training loop drives (`train::Trainer`): a generative model or the
//! scoring classifier. The loop owns the data order and the step count; the
//! learner owns its tensors and knows how a batch enters it.

use crate::backends::Backend;
use crate::data::Digits;

pub trait Learner<B: Backend> {
    /// Digits per step.
    fn batch_size(&self) -> usize;
    /// The seed the data order is drawn from, unless the loop is given another.
    fn seed(&self) -> u32;
    /// Names of the loss slots a step sums into [`Learner::loss_sums`].
    fn loss_names(&self) -> Vec<&'static str>;
    /// Writes step `step`'s batch: the digits `indices` of `data` (and their
    /// labels, for a learner that learns them). Allocates nothing.
    fn write_batch(&mut self, b: &B, data: &Digits, indices: &[u32], step: u64);
    /// Records one training step on the batch written, its losses added to
    /// [`Learner::loss_sums`] (whose last slot counts steps).
    fn step(&self, pass: &mut B::Pass<'_>);
    fn loss_sums(&self) -> &B::Tensor;
    fn lr(&self) -> f32;
    /// A new learning rate from the next step on (rebuilds the update op:
    /// call it every so many steps, not every step).
    fn set_lr(&mut self, b: &B, lr: f32);
}
