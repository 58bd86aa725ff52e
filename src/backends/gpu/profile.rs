//! Timing the launches of a captured step ([`Gpu::capture`]), for profiles.
//!
//! With timestamp queries (wgpu's `TIMESTAMP_QUERY`, WebGPU's
//! `timestamp-query`), each repetition encodes the whole step in one compute
//! pass, then every launch again in a pass of its own, each pass with a
//! timestamp at its start and end: the per-launch times are the device's own,
//! without submits or waits. Without them, each launch is submitted alone and
//! timed by the caller's clock from submit to completion (so each time holds
//! one submit's overhead), and so is the whole step. Either way the figures
//! are medians over the repetitions, after one unmeasured warm-up.

use super::{Gpu, GpuError, Launch};

/// How a profile timed its launches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimingMethod {
    /// Timestamp queries at the start and end of each compute pass.
    Timestamps,
    /// Each launch submitted alone, timed from submit to completion.
    WallClock,
}

impl TimingMethod {
    /// One line for a profile's header.
    pub fn describe(self) -> &'static str {
        match self {
            TimingMethod::Timestamps => {
                "timestamp queries: each op in a compute pass of its own, the step in one pass"
            }
            TimingMethod::WallClock => {
                "no timestamp queries on this adapter: each op submitted alone and timed from submit to completion (each time includes one submit's overhead)"
            }
        }
    }
}

/// The medians of a profile's repetitions.
#[derive(Clone, Debug)]
pub struct LaunchTimes {
    pub method: TimingMethod,
    /// The whole step, all launches in one pass.
    pub step_ms: f64,
    /// Each launch, in the order given.
    pub launch_ms: Vec<f64>,
    pub reps: usize,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => 0.5 * (v[n / 2 - 1] + v[n / 2]),
    }
}

impl Gpu {
    /// Whether this device can write timestamp queries (requested at start
    /// wherever the adapter offers them).
    pub fn has_timestamps(&self) -> bool {
        self.device
            .features()
            .contains(wgpu::Features::TIMESTAMP_QUERY)
    }

    /// Times `launches` (a captured step) `reps` times by `method`; `clock`
    /// gives milliseconds (used by [`TimingMethod::WallClock`] only). The
    /// launches run for real: whatever they update (weights, Adam's moments)
    /// moves on.
    pub async fn time_launches(
        &self,
        launches: &[Launch],
        reps: usize,
        method: TimingMethod,
        clock: &dyn Fn() -> f64,
    ) -> Result<LaunchTimes, GpuError> {
        let reps = reps.max(1);
        let mut step = Vec::with_capacity(reps);
        let mut each = vec![Vec::with_capacity(reps); launches.len()];
        for rep in 0..=reps {
            let (s, per) = match method {
                TimingMethod::Timestamps => self.time_by_timestamps(launches).await?,
                TimingMethod::WallClock => self.time_by_clock(launches, clock).await?,
            };
            if rep == 0 {
                continue; // warm-up: first touches, lazy pipeline work
            }
            step.push(s);
            for (e, t) in each.iter_mut().zip(per) {
                e.push(t);
            }
        }
        Ok(LaunchTimes {
            method,
            step_ms: median(step),
            launch_ms: each.into_iter().map(median).collect(),
            reps,
        })
    }

    async fn time_by_timestamps(&self, launches: &[Launch]) -> Result<(f64, Vec<f64>), GpuError> {
        let passes = launches.len() + 1;
        let count = 2 * passes as u32;
        if !self.has_timestamps() || count > wgpu::QUERY_SET_MAX_QUERIES {
            return Err(GpuError::Device(format!(
                "timestamp queries: {} (a step of {} launches needs {count} of at most {})",
                if self.has_timestamps() {
                    "too many launches"
                } else {
                    "not offered by this adapter"
                },
                launches.len(),
                wgpu::QUERY_SET_MAX_QUERIES
            )));
        }
        let set = self.device.create_query_set(&wgpu::QuerySetDescriptor {
            label: Some("profile"),
            ty: wgpu::QueryType::Timestamp,
            count,
        });
        let size = count as u64 * wgpu::QUERY_SIZE as u64;
        let buffer = |label, usage| {
            self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size,
                usage,
                mapped_at_creation: false,
            })
        };
        let resolved = buffer(
            "profile resolve",
            wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
        );
        let staging = buffer(
            "profile staging",
            wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        );
        let mut encoder = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("profile"),
            });
        let timed = |encoder: &mut wgpu::CommandEncoder, pass: u32, ls: &[Launch]| {
            let mut p = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("profile"),
                timestamp_writes: Some(wgpu::ComputePassTimestampWrites {
                    query_set: &set,
                    beginning_of_pass_write_index: Some(2 * pass),
                    end_of_pass_write_index: Some(2 * pass + 1),
                }),
            });
            for l in ls {
                l.encode(&mut p);
            }
        };
        timed(&mut encoder, 0, launches);
        for (i, l) in launches.iter().enumerate() {
            timed(&mut encoder, i as u32 + 1, std::slice::from_ref(l));
        }
        encoder.resolve_query_set(&set, 0..count, &resolved, 0);
        encoder.copy_buffer_to_buffer(&resolved, 0, &staging, 0, size);
        self.queue.submit([encoder.finish()]);
        let bytes = self.map_read(&staging, size).await?;
        let ticks: &[u64] = bytemuck::cast_slice(&bytes);
        let ns_per_tick = self.queue.get_timestamp_period() as f64;
        let ms =
            |p: usize| ticks[2 * p + 1].saturating_sub(ticks[2 * p]) as f64 * ns_per_tick / 1e6;
        Ok((ms(0), (1..passes).map(ms).collect()))
    }

    async fn time_by_clock(
        &self,
        launches: &[Launch],
        clock: &dyn Fn() -> f64,
    ) -> Result<(f64, Vec<f64>), GpuError> {
        let t = clock();
        self.run_launches(&launches.iter().collect::<Vec<_>>());
        self.finish().await?;
        let step = clock() - t;
        let mut each = Vec::with_capacity(launches.len());
        for l in launches {
            let t = clock();
            self.run_launches(&[l]);
            self.finish().await?;
            each.push(clock() - t);
        }
        Ok((step, each))
    }

    /// Resolves when everything submitted so far has run (natively this
    /// blocks in the poll; on the web it awaits the queue).
    pub async fn finish(&self) -> Result<(), GpuError> {
        let (tx, rx) = futures_channel::oneshot::channel();
        self.queue.on_submitted_work_done(move || {
            let _ = tx.send(());
        });
        self.wait()?;
        rx.await
            .map_err(|_| GpuError::Device("the device dropped a completion callback".into()))
    }

    async fn map_read(&self, buffer: &wgpu::Buffer, size: u64) -> Result<Vec<u8>, GpuError> {
        let (tx, rx) = futures_channel::oneshot::channel();
        buffer
            .slice(..size)
            .map_async(wgpu::MapMode::Read, move |r| {
                let _ = tx.send(r);
            });
        self.wait()?;
        rx.await
            .map_err(|_| GpuError::Readback("the device dropped the mapping request".into()))?
            .map_err(|e| GpuError::Readback(e.to_string()))?;
        let data = buffer
            .slice(..size)
            .get_mapped_range()
            .map_err(|e| GpuError::Readback(e.to_string()))?
            .to_vec();
        buffer.unmap();
        Ok(data)
    }
}
