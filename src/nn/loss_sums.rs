//! A step's loss sums, read back a few times a second without waiting on any step.

use crate::backends::{Backend, BackendError, TensorLen};
use crate::ops::{add_assign, fill_op};
use std::cell::Cell;

/// A step's running loss sums on the device (its last slot counts steps),
/// read and reset in one go: each read gives the means over the steps since
/// the read before. Reset, the f32 sums stay exact however long a run goes
/// (a sum never reset stops counting at 2^24 steps, and NaN checks with it).
///
/// Two places take the sums in turn, so a read can trail the work by one
/// call ([`LossSums::read_behind`]): the page's frame loop submits a frame's
/// steps, begins the read of that frame's sums, and awaits the previous
/// frame's, while the GPU runs this frame's steps.
pub struct LossSums<B: Backend> {
    places: [Place<B>; 2],
    /// The place the next take goes to.
    next: Cell<usize>,
    /// The place whose read was begun and not yet awaited.
    begun: Cell<Option<usize>>,
    /// The begun read holds sums from before a reset: awaited, then dropped.
    stale: Cell<bool>,
    sums: B::Tensor,
}

struct Place<B: Backend> {
    _taken: B::Tensor,
    /// taken = 0; taken += sums; sums = 0 (recorded in order, outside any step).
    take: [B::Op; 3],
    readback: B::Readback,
}

/// (steps, the mean of each loss slot), or None if no step ran.
pub type Means = Option<(u64, Vec<f32>)>;

impl<B: Backend> LossSums<B> {
    pub fn new(b: &B, sums: &B::Tensor) -> LossSums<B> {
        let place = || {
            let taken = b.zeros(sums.len());
            let take = [
                fill_op(b, &taken, 0.0),
                add_assign(b, &taken, sums),
                fill_op(b, sums, 0.0),
            ];
            let readback = b.readback(&taken);
            Place {
                _taken: taken,
                take,
                readback,
            }
        };
        LossSums {
            places: [place(), place()],
            next: Cell::new(0),
            begun: Cell::new(None),
            stale: Cell::new(false),
            sums: sums.clone(),
        }
    }

    /// Takes the sums into the next place (recorded after all work so far).
    fn take(&self, b: &B) -> usize {
        let at = self.next.get();
        self.next.set(1 - at);
        b.run(|pass| {
            for op in &self.places[at].take {
                B::record(pass, op);
            }
        });
        at
    }

    /// The raw sums taken at `at` (awaits its read).
    async fn sums_at(&self, b: &B, at: usize) -> Result<Vec<f64>, BackendError> {
        let v = b.read(&self.places[at].readback).await?;
        Ok(v.into_iter().map(f64::from).collect())
    }

    fn means(sums: Vec<f64>) -> Means {
        let slots = sums.len() - 1;
        let steps = sums[slots].round() as u64;
        if steps == 0 {
            return None;
        }
        let means = sums[..slots]
            .iter()
            .map(|&s| (s / steps as f64) as f32)
            .collect();
        Some((steps, means))
    }

    /// Adds a read that was begun and not awaited to `sums`.
    async fn with_begun(&self, b: &B, sums: Vec<f64>) -> Result<Vec<f64>, BackendError> {
        let stale = self.stale.replace(false);
        Ok(match self.begun.take() {
            Some(at) if stale => {
                self.sums_at(b, at).await?;
                sums
            }
            Some(at) => {
                let earlier = self.sums_at(b, at).await?;
                sums.iter().zip(earlier).map(|(a, e)| a + e).collect()
            }
            None => sums,
        })
    }

    /// The steps since the last read and the mean of each loss slot over
    /// them (None if no step ran). Waits for every step submitted so far.
    pub async fn read(&self, b: &B) -> Result<Means, BackendError> {
        let at = self.take(b);
        let sums = self.sums_at(b, at).await?;
        let sums = self.with_begun(b, sums).await?;
        Ok(Self::means(sums))
    }

    /// Like [`LossSums::read`], one call behind: takes the sums of the steps
    /// submitted since the last call and begins their read, then awaits and
    /// returns the sums the last call took (None on a first call). The steps
    /// just submitted keep running meanwhile; at most two calls' worth of
    /// work is ever queued behind a read.
    pub async fn read_behind(&self, b: &B) -> Result<Means, BackendError> {
        let previous = self.begun.take();
        let stale = self.stale.replace(false);
        let at = self.take(b);
        b.begin_read(&self.places[at].readback);
        self.begun.set(Some(at));
        match previous {
            Some(p) => {
                let sums = self.sums_at(b, p).await?;
                Ok(if stale { None } else { Self::means(sums) })
            }
            None => Ok(None),
        }
    }

    /// Forgets the sums so far (a begun read's too: it is dropped when awaited).
    pub fn reset(&self, b: &B) {
        self.stale.set(self.begun.get().is_some());
        b.write(&self.sums, 0, &vec![0.0; self.sums.len()]);
    }
}
