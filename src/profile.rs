//! One whole training step of a model on the GPU, timed op by op: what
//! `genlab profile` prints and the benchmark page shows (`profile=1`).
//!
//! The step is captured as the trainer records it ([`Gpu::capture`]: every
//! launch, in order), then replayed and timed ([`Gpu::time_launches`]).
//! Each row is one op as the step records it: the layer it was bound for,
//! its kernels and dispatches, its time, and the rates its time implies
//! (GFLOP/s where the op is a GEMM, whose FLOPs are 2·M·N·K; GB/s of the
//! tensors it binds, each counted once: the least it must move).

use crate::backends::gpu::{Gpu, TimingMethod};
use crate::core::rng::Rng;
use crate::data::{Digits, PIXELS};
use crate::models::{Model, ModelConfig};
use crate::train::Trainer;
use std::fmt;

/// One op of the step.
#[derive(Clone, Debug)]
pub struct ProfileRow {
    /// Its place in the step (0 first).
    pub index: usize,
    /// The layer it was bound for (`D.2`), or "" for the model's own ops.
    pub layer: String,
    pub op: &'static str,
    /// Its WGSL entry points, in dispatch order.
    pub kernels: Vec<&'static str>,
    pub workgroups: u64,
    pub ms: f64,
    pub flops: f64,
    pub bytes: u64,
}

impl ProfileRow {
    pub fn dispatches(&self) -> usize {
        self.kernels.len()
    }
    /// Its kernels in dispatch order, a repeated run written once with its
    /// count: `4×(conv2d_backward_input+gemm_reduce)` for four stride phases.
    pub fn kernel_summary(&self) -> String {
        let k = &self.kernels;
        let period = (1..=k.len())
            .find(|&p| k.len().is_multiple_of(p) && k.chunks(p).all(|c| c == &k[..p]))
            .unwrap_or(k.len());
        let one = k[..period].join("+");
        match k.len() / period.max(1) {
            1 => one,
            n if period == 1 => format!("{n}×{one}"),
            n => format!("{n}×({one})"),
        }
    }

    pub fn gflops(&self) -> Option<f64> {
        (self.flops > 0.0 && self.ms > 0.0).then(|| self.flops / self.ms / 1e6)
    }
    pub fn gbytes_per_s(&self) -> Option<f64> {
        (self.ms > 0.0).then(|| self.bytes as f64 / self.ms / 1e6)
    }
}

/// A profile of one training step.
#[derive(Clone, Debug)]
pub struct Profile {
    pub model: String,
    pub batch: usize,
    pub device: String,
    pub method: TimingMethod,
    pub reps: usize,
    /// The whole step, recorded in one pass as training records it.
    pub step_ms: f64,
    /// Every op of the step, slowest first.
    pub rows: Vec<ProfileRow>,
}

/// `count` digits of random pixels (labels cycling 0–9): a step's speed
/// does not depend on what the pixels show.
pub fn noise_digits(count: usize, seed: u32) -> Digits {
    let mut rng = Rng::new(seed, 99);
    Digits {
        images: (0..count * PIXELS)
            .map(|_| (rng.uniform(0.0, 256.0) as u32).min(255) as u8)
            .collect(),
        labels: (0..count).map(|i| (i % 10) as u8).collect(),
    }
}

/// Profiles one training step of `config` on `gpu`: two warm-up steps, then
/// the step captured and timed `reps` times (medians), by timestamp queries
/// where the adapter has them unless `method` says otherwise. `clock` gives
/// milliseconds (for the wall-clock method).
pub async fn profile_step(
    gpu: &Gpu,
    config: ModelConfig,
    reps: usize,
    method: Option<TimingMethod>,
    clock: &dyn Fn() -> f64,
) -> Result<Profile, String> {
    config.validate()?;
    let method = method.unwrap_or(if gpu.has_timestamps() {
        TimingMethod::Timestamps
    } else {
        TimingMethod::WallClock
    });
    let (kind, batch) = (config.kind, config.batch);
    let model = Model::new(gpu, config)?;
    let mut trainer = Trainer::new(gpu, model, noise_digits(2 * batch, 7))?;
    for _ in 0..2 {
        trainer.step(gpu);
    }
    let launches = gpu.capture(|pass| trainer.model.step(pass));
    let times = gpu
        .time_launches(&launches, reps, method, clock)
        .await
        .map_err(|e| e.to_string())?;
    let mut rows: Vec<ProfileRow> = launches
        .iter()
        .zip(&times.launch_ms)
        .enumerate()
        .map(|(index, (l, &ms))| ProfileRow {
            index,
            layer: l.info().layer.clone(),
            op: l.info().op,
            kernels: l.kernels().collect(),
            workgroups: l.workgroups(),
            ms,
            flops: l.info().flops,
            bytes: l.info().bytes,
        })
        .collect();
    rows.sort_by(|a, b| b.ms.total_cmp(&a.ms).then(a.index.cmp(&b.index)));
    Ok(Profile {
        model: kind.to_string(),
        batch,
        device: gpu.adapter_summary(),
        method,
        reps: times.reps,
        step_ms: times.step_ms,
        rows,
    })
}

impl Profile {
    /// The ops' times added up (against [`Profile::step_ms`]: the gap is
    /// what running the ops one pass each costs, or saves).
    pub fn ops_ms(&self) -> f64 {
        self.rows.iter().map(|r| r.ms).sum()
    }

    pub fn dispatches(&self) -> usize {
        self.rows.iter().map(ProfileRow::dispatches).sum()
    }

    /// Time per kernel (entry point of an op's first dispatch), slowest first:
    /// (kernel, ops, ms).
    pub fn by_kernel(&self) -> Vec<(&'static str, usize, f64)> {
        let mut out: Vec<(&'static str, usize, f64)> = Vec::new();
        for r in &self.rows {
            let k = r.kernels.first().copied().unwrap_or("");
            match out.iter_mut().find(|(name, _, _)| *name == k) {
                Some(e) => {
                    e.1 += 1;
                    e.2 += r.ms;
                }
                None => out.push((k, 1, r.ms)),
            }
        }
        out.sort_by(|a, b| b.2.total_cmp(&a.2));
        out
    }

    /// The profile as one JSON object (for scripts reading the benchmark page).
    pub fn to_json(&self) -> String {
        let rows: Vec<String> = self
            .rows
            .iter()
            .map(|r| {
                format!(
                    "{{\"index\":{},\"layer\":{:?},\"op\":{:?},\"kernels\":{:?},\"dispatches\":{},\"workgroups\":{},\"ms\":{:.4},\"flops\":{},\"bytes\":{}}}",
                    r.index,
                    r.layer,
                    r.op,
                    r.kernels,
                    r.dispatches(),
                    r.workgroups,
                    r.ms,
                    r.flops,
                    r.bytes
                )
            })
            .collect();
        format!(
            "{{\"profile\":{:?},\"batch\":{},\"device\":{:?},\"method\":{:?},\"reps\":{},\"step_ms\":{:.4},\"ops_ms\":{:.4},\"dispatches\":{},\"rows\":[{}]}}",
            self.model,
            self.batch,
            self.device,
            format!("{:?}", self.method),
            self.reps,
            self.step_ms,
            self.ops_ms(),
            self.dispatches(),
            rows.join(",")
        )
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} at batch {} on {}: one training step, medians of {} runs",
            self.model, self.batch, self.device, self.reps
        )?;
        writeln!(f, "timing: {}", self.method.describe())?;
        writeln!(
            f,
            "step {:.3} ms in one pass; its {} ops add up to {:.3} ms ({} dispatches)",
            self.step_ms,
            self.rows.len(),
            self.ops_ms(),
            self.dispatches()
        )?;
        writeln!(f)?;
        writeln!(
            f,
            "{:>4}  {:<16} {:<30} {:<40} {:>4} {:>8} {:>10} {:>8} {:>8} {:>6}",
            "#", "layer", "op", "kernel", "disp", "groups", "ms", "GFLOP/s", "GB/s", "share"
        )?;
        let total = self.ops_ms().max(f64::MIN_POSITIVE);
        let rate = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.2}"));
        for r in &self.rows {
            writeln!(
                f,
                "{:>4}  {:<16} {:<30} {:<40} {:>4} {:>8} {:>10.4} {:>8} {:>8} {:>5.1}%",
                r.index,
                if r.layer.is_empty() { "-" } else { &r.layer },
                r.op,
                r.kernel_summary(),
                r.dispatches(),
                r.workgroups,
                r.ms,
                rate(r.gflops()),
                rate(r.gbytes_per_s()),
                100.0 * r.ms / total
            )?;
        }
        writeln!(f)?;
        writeln!(f, "by kernel:")?;
        for (k, ops, ms) in self.by_kernel() {
            writeln!(
                f,
                "  {k:<40} {ops:>4} ops {ms:>10.4} ms {:>5.1}%",
                100.0 * ms / total
            )?;
        }
        Ok(())
    }
}
