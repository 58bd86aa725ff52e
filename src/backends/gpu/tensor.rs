//! A tensor is a range of f32s in a storage buffer: its own buffer, or a slot
//! of a parameter arena. Shapes live with the ops that use it.

use super::{Gpu, GpuError};

#[derive(Clone, Debug)]
pub struct Tensor {
    buffer: wgpu::Buffer,
    /// In bytes; a multiple of the device's storage alignment.
    offset: u64,
    len: usize,
}

impl Tensor {
    /// A new buffer of `len` zeros.
    pub fn zeros(gpu: &Gpu, len: usize) -> Tensor {
        let buffer = gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: None,
            // A binding must be at least one element long.
            size: (len.max(1) * 4) as u64,
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_SRC
                | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        Tensor {
            buffer,
            offset: 0,
            len,
        }
    }

    /// A new buffer holding `data`.
    pub fn from_slice(gpu: &Gpu, data: &[f32]) -> Tensor {
        let t = Tensor::zeros(gpu, data.len());
        t.write(gpu, data);
        t
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Elements `start..start + len` of this tensor, as a tensor. `start` must
    /// fall on the device's storage alignment to be bound.
    pub fn slice(&self, gpu: &Gpu, start: usize, len: usize) -> Tensor {
        assert!(
            start + len <= self.len,
            "tensor slice {start}..{} out of 0..{}",
            start + len,
            self.len
        );
        let offset = self.offset + (start * 4) as u64;
        assert!(
            offset.is_multiple_of(gpu.storage_alignment()),
            "tensor slice at byte {offset} is not aligned to {}",
            gpu.storage_alignment()
        );
        Tensor {
            buffer: self.buffer.clone(),
            offset,
            len,
        }
    }

    /// Uploads `data` (queued; ordered before the next submit).
    pub fn write(&self, gpu: &Gpu, data: &[f32]) {
        assert_eq!(
            data.len(),
            self.len,
            "tensor write: {} values into a tensor of {}",
            data.len(),
            self.len
        );
        self.write_at(gpu, 0, data);
    }

    /// Uploads `data` into elements `start..start + data.len()`.
    pub fn write_at(&self, gpu: &Gpu, start: usize, data: &[f32]) {
        assert!(
            start + data.len() <= self.len,
            "tensor write: {} values at {start} into a tensor of {}",
            data.len(),
            self.len
        );
        if !data.is_empty() {
            gpu.queue.write_buffer(
                &self.buffer,
                self.offset + (start * 4) as u64,
                bytemuck::cast_slice(data),
            );
        }
    }

    /// Reads the tensor back once (a staging buffer made for this read; for
    /// reads repeated during training, keep a [`Readback`]).
    pub async fn read(&self, gpu: &Gpu) -> Result<Vec<f32>, GpuError> {
        Readback::new(gpu, self).read(gpu).await
    }

    pub(crate) fn buffer(&self) -> &wgpu::Buffer {
        &self.buffer
    }

    pub(crate) fn binding(&self) -> wgpu::BindingResource<'_> {
        wgpu::BindingResource::Buffer(wgpu::BufferBinding {
            buffer: &self.buffer,
            offset: self.offset,
            size: wgpu::BufferSize::new((self.len.max(1) * 4) as u64),
        })
    }
}

/// Reads one tensor back repeatedly (losses, sample grids) through a staging
/// buffer made once: `read` records a copy, submits it, and awaits the
/// mapping. It never blocks on the web; natively the poll drives the mapping.
/// A read can also be begun ([`Readback::begin`]: the copy is submitted
/// behind the work so far) and awaited later, while more work runs.
pub struct Readback {
    src: Tensor,
    staging: wgpu::Buffer,
    in_flight: std::cell::Cell<bool>,
    /// The mapping of a begun read, not yet awaited.
    begun: std::cell::RefCell<Option<Mapping>>,
}

type Mapping = futures_channel::oneshot::Receiver<Result<(), wgpu::BufferAsyncError>>;

impl Readback {
    pub fn new(gpu: &Gpu, src: &Tensor) -> Readback {
        let staging = gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: (src.len.max(1) * 4) as u64,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        Readback {
            src: src.clone(),
            staging,
            in_flight: std::cell::Cell::new(false),
            begun: std::cell::RefCell::new(None),
        }
    }

    /// Whether a read is under way (a caller on a timer can skip a beat).
    pub fn is_busy(&self) -> bool {
        self.in_flight.get()
    }

    /// Submits the copy of the tensor as it will be after all work
    /// submitted so far, and asks for its mapping; [`Readback::read`] awaits
    /// it. Does nothing while a begun read has not been awaited.
    pub fn begin(&self, gpu: &Gpu) {
        if self.src.len == 0 || self.begun.borrow().is_some() || self.in_flight.get() {
            return;
        }
        let mapping = self.copy(gpu);
        *self.begun.borrow_mut() = Some(mapping);
    }

    /// Submits the copy into the staging buffer and asks for its mapping.
    fn copy(&self, gpu: &Gpu) -> Mapping {
        let size = (self.src.len * 4) as u64;
        let mut encoder = gpu
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("readback"),
            });
        encoder.copy_buffer_to_buffer(&self.src.buffer, self.src.offset, &self.staging, 0, size);
        gpu.queue.submit([encoder.finish()]);
        let (tx, rx) = futures_channel::oneshot::channel();
        self.staging
            .slice(..size)
            .map_async(wgpu::MapMode::Read, move |r| {
                let _ = tx.send(r);
            });
        rx
    }

    /// The tensor's values: those of the begun read if there is one, else
    /// after all work submitted so far.
    pub async fn read(&self, gpu: &Gpu) -> Result<Vec<f32>, GpuError> {
        if self.src.len == 0 {
            return Ok(Vec::new());
        }
        if self.in_flight.replace(true) {
            return Err(GpuError::Readback(
                "a read of this tensor is already under way; wait for it (or check is_busy)".into(),
            ));
        }
        // Cleared however the read ends, also if its future is dropped.
        struct Done<'a>(&'a std::cell::Cell<bool>);
        impl Drop for Done<'_> {
            fn drop(&mut self) {
                self.0.set(false);
            }
        }
        let _done = Done(&self.in_flight);
        // A read on a lost device fails as a lost device, whatever wgpu says.
        self.read_now(gpu)
            .await
            .map_err(|e| if gpu.is_lost() { GpuError::Lost } else { e })
    }

    async fn read_now(&self, gpu: &Gpu) -> Result<Vec<f32>, GpuError> {
        let size = (self.src.len * 4) as u64;
        let begun = self.begun.borrow_mut().take();
        let rx = begun.unwrap_or_else(|| self.copy(gpu));
        gpu.wait()?;
        rx.await
            .map_err(|_| GpuError::Readback("the device dropped the mapping request".into()))?
            .map_err(|e| GpuError::Readback(e.to_string()))?;
        let data = {
            let view = self
                .staging
                .slice(..size)
                .get_mapped_range()
                .map_err(|e| GpuError::Readback(e.to_string()))?;
            bytemuck::cast_slice::<u8, f32>(&view).to_vec()
        };
        self.staging.unmap();
        Ok(data)
    }
}
