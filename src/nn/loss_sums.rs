//! A step's loss sums, read back a few times a second without waiting on any step.

use crate::backends::{Backend, BackendError, TensorLen};
use crate::ops::{add_assign, fill_op};

/// A step's running loss sums on the device (its last slot counts steps),
/// read and reset in one go: each read gives the means over the steps since
/// the read before. Reset, the f32 sums stay exact however long a run goes
/// (a sum never reset stops counting at 2^24 steps, and NaN checks with it).
pub struct LossSums<B: Backend> {
    _taken: B::Tensor,
    /// taken = 0; taken += sums; sums = 0 (recorded in order, outside any step).
    take: [B::Op; 3],
    readback: B::Readback,
    sums: B::Tensor,
}

impl<B: Backend> LossSums<B> {
    pub fn new(b: &B, sums: &B::Tensor) -> LossSums<B> {
        let taken = b.zeros(sums.len());
        let take = [
            fill_op(b, &taken, 0.0),
            add_assign(b, &taken, sums),
            fill_op(b, sums, 0.0),
        ];
        let readback = b.readback(&taken);
        LossSums {
            _taken: taken,
            take,
            readback,
            sums: sums.clone(),
        }
    }

    /// The steps since the last read and the mean of each loss slot over
    /// them (None if no step ran).
    pub async fn read(&self, b: &B) -> Result<Option<(u64, Vec<f32>)>, BackendError> {
        b.run(|pass| {
            for op in &self.take {
                B::record(pass, op);
            }
        });
        let sums = b.read(&self.readback).await?;
        let slots = sums.len() - 1;
        let steps = sums[slots].round() as u64;
        if steps == 0 {
            return Ok(None);
        }
        let means = sums[..slots]
            .iter()
            .map(|&s| (s as f64 / steps as f64) as f32)
            .collect();
        Ok(Some((steps, means)))
    }

    /// Forgets the sums so far.
    pub fn reset(&self, b: &B) {
        b.write(&self.sums, 0, &vec![0.0; self.sums.len()]);
    }
}
