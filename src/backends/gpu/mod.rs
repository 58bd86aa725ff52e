//! The GPU layer on wgpu: one [`Gpu`] holds the device, the queue and every
//! compute pipeline (built once, from `shaders/*.wgsl`, at start-up); a
//! [`Tensor`] is a range of a storage buffer; a [`Launch`] is one kernel with
//! its bind group, made when a network is built and recorded into a compute
//! pass as often as needed. Runs natively (Vulkan/Metal/DX12) and in the
//! browser (WebGPU) with the same code.

mod profile;
mod shaders;
mod tensor;

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use super::{Backend, Op, TensorLen};
use crate::core::{BackendError, ErrorKind, WORKGROUP_SIZE};
pub use profile::{LaunchTimes, TimingMethod};
use shaders::Pipelines;
pub use shaders::{entry_points, module_names, module_source, Kernel, Tile};
pub use tensor::{Readback, Tensor};
use wgpu::util::DeviceExt;

/// Why the GPU could not be used, worded for the person who has to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GpuError {
    /// No adapter at all (no WebGPU in the browser, no Vulkan/Metal/DX12 driver natively).
    NoAdapter(String),
    /// The adapter exists but cannot give what the kernels need.
    LimitsTooSmall(String),
    /// Device creation failed or the device was lost.
    Device(String),
    /// A buffer could not be read back.
    Readback(String),
    /// The device was lost (a driver reset, a browser reclaiming the GPU).
    Lost,
}

impl fmt::Display for GpuError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GpuError::NoAdapter(why) => write!(
                f,
                "no GPU adapter found ({why}). In a browser, use one with WebGPU enabled \
                 (Chrome/Edge 113+, or Chromium with --enable-unsafe-webgpu); natively, install a \
                 Vulkan driver (on Debian without a GPU: apt-get install mesa-vulkan-drivers)"
            ),
            GpuError::LimitsTooSmall(what) => write!(
                f,
                "the GPU adapter's limits are too small for genlab's kernels: {what}"
            ),
            GpuError::Device(why) => write!(f, "could not create or keep the GPU device: {why}"),
            GpuError::Readback(why) => write!(f, "could not read a GPU buffer back: {why}"),
            GpuError::Lost => write!(
                f,
                "the GPU device was lost (a driver reset, or the browser reclaimed it): rebuild the models on a new device"
            ),
        }
    }
}

impl std::error::Error for GpuError {}

impl From<GpuError> for BackendError {
    fn from(e: GpuError) -> Self {
        let kind = match e {
            GpuError::NoAdapter(_) | GpuError::LimitsTooSmall(_) | GpuError::Device(_) => {
                ErrorKind::Unavailable
            }
            GpuError::Readback(_) => ErrorKind::Readback,
            GpuError::Lost => ErrorKind::DeviceLost,
        };
        BackendError::new(kind, e.to_string())
    }
}

/// The layout of a `#[repr(C)]` mirror of a WGSL uniform struct: its name,
/// size and fields (name, byte offset) in order. `tests/wgsl_contracts.rs`
/// reflects every WGSL module with naga and checks each uniform struct
/// against its mirror.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UniformLayout {
    pub name: &'static str,
    pub size: usize,
    pub fields: &'static [(&'static str, usize)],
}

/// A mirror of a WGSL uniform struct (declare one with `uniform!`).
pub trait Uniform: bytemuck::Pod {
    const LAYOUT: UniformLayout;
}

/// Declares the `#[repr(C)]` mirror of a WGSL uniform struct, with the
/// same name and the same field names (padding included: `_pad0`, `_pad1`…),
/// and its [`Uniform`] layout.
macro_rules! uniform {
    ($(#[$m:meta])* pub struct $name:ident { $(pub $f:ident: $t:ty,)* }) => {
        $(#[$m])*
        #[repr(C)]
        #[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
        pub struct $name { $(pub $f: $t,)* }

        impl $crate::backends::gpu::Uniform for $name {
            const LAYOUT: $crate::backends::gpu::UniformLayout =
                $crate::backends::gpu::UniformLayout {
                    name: stringify!($name),
                    size: std::mem::size_of::<$name>(),
                    fields: &[$((stringify!($f), std::mem::offset_of!($name, $f)),)*],
                };
        }
    };
}
pub(crate) use uniform;

uniform! {
    /// Mirrors `GemmSplit` in shaders/gemm.wgsl.
    pub struct GemmSplit {
        pub splits: u32,
        pub chunk: u32,
        pub _pad0: u32,
        pub _pad1: u32,
    }
}

/// The uniform structs this module binds itself.
pub const UNIFORMS: &[UniformLayout] = &[GemmSplit::LAYOUT];

/// The device, its queue and every pipeline, built once.
pub struct Gpu {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    pipelines: Pipelines,
    /// Bound where a kernel's optional input (a bias, a target) is absent.
    dummy: wgpu::Buffer,
    /// Bound as the split-K scratch of GEMMs that need none (read-write, so
    /// never in the same dispatch as `dummy`).
    dummy_rw: wgpu::Buffer,
    /// Set by the device-lost callback (a driver reset, a browser reclaiming
    /// the GPU): everything made on this device is gone.
    lost: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// The layer that ops bound from now on belong to ([`Backend::name_ops`]), for profiles.
    layer: Mutex<String>,
    /// Dispatches encoded by [`Backend::run`] so far (a profile's check that it saw every one).
    dispatched: AtomicU64,
}

/// Aim for at least this many workgroups before splitting K.
const GEMM_TARGET_WORKGROUPS: usize = 128;
/// ...but give each split at least this much of K.
const GEMM_MIN_SPLIT_K: usize = 256;

/// The limits the kernels rely on, on top of WebGPU's downlevel defaults.
fn required_limits(adapter: &wgpu::Limits) -> Result<wgpu::Limits, GpuError> {
    let mut need = wgpu::Limits::downlevel_defaults();
    need.max_storage_buffers_per_shader_stage = 8;
    // The 1-D kernels' WG and every GEMM tile run WORKGROUP_SIZE threads.
    need.max_compute_invocations_per_workgroup = WORKGROUP_SIZE;
    need.max_compute_workgroup_size_x = WORKGROUP_SIZE;
    need.max_compute_workgroup_storage_size = 16384;
    let checks = [
        (
            "max_storage_buffers_per_shader_stage",
            need.max_storage_buffers_per_shader_stage,
            adapter.max_storage_buffers_per_shader_stage,
        ),
        (
            "max_compute_invocations_per_workgroup",
            need.max_compute_invocations_per_workgroup,
            adapter.max_compute_invocations_per_workgroup,
        ),
        (
            "max_compute_workgroup_size_x",
            need.max_compute_workgroup_size_x,
            adapter.max_compute_workgroup_size_x,
        ),
        (
            "max_compute_workgroup_storage_size",
            need.max_compute_workgroup_storage_size,
            adapter.max_compute_workgroup_storage_size,
        ),
    ];
    let short: Vec<String> = checks
        .iter()
        .filter(|(_, need, have)| have < need)
        .map(|(name, need, have)| format!("{name} is {have}, need {need}"))
        .collect();
    if !short.is_empty() {
        return Err(GpuError::LimitsTooSmall(short.join("; ")));
    }
    // Take the adapter's own buffer sizes: bigger batches need bigger buffers.
    need.max_storage_buffer_binding_size = adapter.max_storage_buffer_binding_size;
    need.max_buffer_size = adapter.max_buffer_size;
    Ok(need)
}

/// The adapter genlab would use (a hardware one when there is one);
/// `WGPU_BACKEND`, `WGPU_ADAPTER_NAME` and `WGPU_POWER_PREF` choose natively.
async fn adapter() -> Result<wgpu::Adapter, GpuError> {
    let instance =
        wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle().with_env());
    let options = wgpu::RequestAdapterOptions {
        power_preference: wgpu::PowerPreference::from_env()
            .unwrap_or(wgpu::PowerPreference::HighPerformance),
        force_fallback_adapter: false,
        compatible_surface: None,
        apply_limit_buckets: false,
    };
    instance
        .request_adapter(&options)
        .await
        .map_err(|e| GpuError::NoAdapter(e.to_string()))
}

/// What an adapter is, known before a device is opened or a pipeline built:
/// enough to decide whether to use it ([`crate::backends::BackendChoice`]).
#[derive(Clone, Debug)]
pub struct Adapter(pub wgpu::AdapterInfo);

impl Adapter {
    /// The adapter [`Gpu::new`] would open, without opening it (fast: no
    /// device, no pipelines).
    pub async fn probe() -> Result<Adapter, GpuError> {
        Ok(Adapter(adapter().await?.get_info()))
    }

    /// "name (backend, device type)", for logs and the page.
    pub fn summary(&self) -> String {
        let name = match self.0.name.as_str() {
            "" => "adapter name hidden by the browser",
            name => name,
        };
        format!("{name} ({:?}, {:?})", self.0.backend, self.0.device_type)
    }

    /// A software rasteriser (lavapipe, SwiftShader, WARP): correct, but far
    /// slower at compute than the CPU backend.
    pub fn is_software(&self) -> bool {
        let name = self.0.name.to_lowercase();
        self.0.device_type == wgpu::DeviceType::Cpu
            || ["llvmpipe", "lavapipe", "swiftshader", "warp", "software"]
                .iter()
                .any(|s| name.contains(s))
    }
}

impl Gpu {
    /// Finds an adapter (a hardware one when there is one), opens a device and
    /// builds every pipeline. `WGPU_BACKEND`, `WGPU_ADAPTER_NAME` and
    /// `WGPU_POWER_PREF` choose among several natively.
    pub async fn new() -> Result<Gpu, GpuError> {
        let adapter = adapter().await?;
        let info = adapter.get_info();
        let limits = required_limits(&adapter.limits())?;
        // Timestamp queries cost nothing unless a profile writes them.
        let features = adapter.features() & wgpu::Features::TIMESTAMP_QUERY;
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("genlab"),
                required_features: features,
                required_limits: limits,
                ..Default::default()
            })
            .await
            .map_err(|e| GpuError::Device(format!("{e} (adapter: {})", info.name)))?;
        // A browser reports an invalid shader or pipeline only through an error
        // scope (and then fails every command buffer that uses it): catch it here.
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let pipelines = Pipelines::build(&device);
        if let Some(e) = scope.pop().await {
            return Err(GpuError::Device(format!(
                "a genlab kernel failed to compile on {}: {e}",
                info.name
            )));
        }
        let dummy_buffer = |label| {
            device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: 16,
                usage: wgpu::BufferUsages::STORAGE,
                mapped_at_creation: false,
            })
        };
        let (dummy, dummy_rw) = (dummy_buffer("dummy"), dummy_buffer("dummy_rw"));
        let lost = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = lost.clone();
        device.set_device_lost_callback(move |_, _| {
            flag.store(true, std::sync::atomic::Ordering::Relaxed);
        });
        Ok(Gpu {
            lost,
            device,
            queue,
            info,
            pipelines,
            dummy,
            dummy_rw,
            layer: Mutex::new(String::new()),
            dispatched: AtomicU64::new(0),
        })
    }

    /// "name (backend, device type)", for logs and the page.
    pub fn adapter_summary(&self) -> String {
        Adapter(self.info.clone()).summary()
    }

    /// A software rasteriser (lavapipe, SwiftShader, WARP): correct, but far
    /// slower at compute than the CPU backend.
    pub fn is_software(&self) -> bool {
        Adapter(self.info.clone()).is_software()
    }

    /// Whether the device was lost: its buffers and pipelines are gone, so
    /// whoever holds them must make a new `Gpu` and rebuild.
    pub fn is_lost(&self) -> bool {
        self.lost.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Destroys the device, as a driver reset would (to test recovery); it
    /// counts as lost from now on, without waiting for the callback.
    pub fn destroy(&self) {
        self.lost.store(true, std::sync::atomic::Ordering::Relaxed);
        self.device.destroy();
    }

    /// Storage bindings must start at multiples of this many bytes.
    pub fn storage_alignment(&self) -> u64 {
        self.device.limits().min_storage_buffer_offset_alignment as u64
    }

    fn uniform<P: bytemuck::Pod>(&self, label: &str, params: &P) -> wgpu::Buffer {
        self.device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents: bytemuck::bytes_of(params),
                usage: wgpu::BufferUsages::UNIFORM,
            })
    }

    fn dispatch(
        &self,
        pipeline: &wgpu::ComputePipeline,
        kernel: &'static str,
        entries: &[wgpu::BindGroupEntry<'_>],
        workgroups: [u32; 3],
    ) -> Dispatch {
        let bind_group = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(kernel),
            layout: &pipeline.get_bind_group_layout(0),
            entries,
        });
        Dispatch {
            pipeline: pipeline.clone(),
            bind_group,
            workgroups,
            kernel,
        }
    }

    /// What a launch is, for profiles: the current layer, and the bytes of
    /// the tensors it binds (each once: the least it can move).
    fn about(&self, tensors: &[(u32, Option<&Tensor>)], flops: f64) -> LaunchInfo {
        LaunchInfo {
            layer: self.layer.lock().map(|l| l.clone()).unwrap_or_default(),
            op: "",
            flops,
            bytes: tensors
                .iter()
                .filter_map(|(_, t)| t.map(|t| 4 * t.len() as u64))
                .sum(),
        }
    }

    fn tensor_entries<'a>(
        &'a self,
        tensors: &[(u32, Option<&'a Tensor>)],
    ) -> Vec<wgpu::BindGroupEntry<'a>> {
        tensors
            .iter()
            .map(|&(binding, tensor)| wgpu::BindGroupEntry {
                binding,
                resource: match tensor {
                    Some(t) => t.binding(),
                    None => self.dummy.as_entire_binding(),
                },
            })
            .collect()
    }

    /// One kernel bound to its uniform parameters (binding 0) and tensors
    /// (`(binding, tensor)`, `None` for an absent optional input), ready to
    /// record. Made when a network is built, never inside a training step.
    pub fn launch<P: Uniform>(
        &self,
        kernel: Kernel,
        params: &P,
        tensors: &[(u32, Option<&Tensor>)],
        workgroups: [u32; 3],
    ) -> Launch {
        let uniform = self.uniform(kernel.entry_point(), params);
        let mut entries = vec![wgpu::BindGroupEntry {
            binding: 0,
            resource: uniform.as_entire_binding(),
        }];
        entries.extend(self.tensor_entries(tensors));
        let d = self.dispatch(
            self.pipelines.get(kernel, Tile::Square),
            kernel.entry_point(),
            &entries,
            workgroups,
        );
        Launch {
            dispatches: vec![d],
            info: self.about(tensors, 0.0),
            _buffers: vec![uniform],
        }
    }

    /// A GEMM kernel computing an M×N output over K: picks the tile shape for
    /// (M, N) and, when that leaves too few workgroups, splits K across a
    /// scratch buffer and adds a reduction dispatch. Bindings 1 and 2 (the
    /// operands) are bound to the product only; the others also to the reduction.
    pub fn launch_gemm<P: Uniform>(
        &self,
        kernel: Kernel,
        params: &P,
        tensors: &[(u32, Option<&Tensor>)],
        (m, n, k): (usize, usize, usize),
    ) -> Launch {
        let tile = Tile::choose(m, n, k);
        let (tm, tn) = tile.size();
        let (gx, gy) = (n.div_ceil(tn), m.div_ceil(tm));
        assert!(
            gx <= 65535 && gy <= 65535,
            "{kernel:?}: {m}x{n} needs more than 65535 workgroups along an axis"
        );
        let mut splits = GEMM_TARGET_WORKGROUPS
            .div_ceil(gx * gy)
            .min(k / GEMM_MIN_SPLIT_K)
            .clamp(1, 64);
        let chunk = k
            .div_ceil(splits)
            .next_multiple_of(tile.tile_k())
            .max(tile.tile_k());
        splits = k.div_ceil(chunk).max(1);
        let split = GemmSplit {
            splits: splits as u32,
            chunk: chunk as u32,
            _pad0: 0,
            _pad1: 0,
        };
        let scratch = (splits > 1).then(|| Tensor::zeros(self, splits * m * n));

        let uniform = self.uniform(kernel.entry_point(), params);
        let split_uniform = self.uniform("gemm split", &split);
        let fixed = [
            wgpu::BindGroupEntry {
                binding: 0,
                resource: uniform.as_entire_binding(),
            },
            wgpu::BindGroupEntry {
                binding: 7,
                resource: match &scratch {
                    Some(t) => t.binding(),
                    None => self.dummy_rw.as_entire_binding(),
                },
            },
            wgpu::BindGroupEntry {
                binding: 8,
                resource: split_uniform.as_entire_binding(),
            },
        ];
        let mut entries = fixed.to_vec();
        entries.extend(self.tensor_entries(tensors));
        let mut dispatches = vec![self.dispatch(
            self.pipelines.get(kernel, tile),
            kernel.entry_point(),
            &entries,
            [gx as u32, gy as u32, splits as u32],
        )];
        if splits > 1 {
            let mut entries = fixed.to_vec();
            entries.extend(
                self.tensor_entries(tensors)
                    .into_iter()
                    .filter(|e| e.binding != 1 && e.binding != 2),
            );
            dispatches.push(
                self.dispatch(
                    self.pipelines
                        .get(Kernel::new(kernel.module, "gemm_reduce"), Tile::Square),
                    "gemm_reduce",
                    &entries,
                    grid_1d(m * n, WORKGROUP_SIZE as usize),
                ),
            );
        }
        let mut buffers = vec![uniform, split_uniform];
        if let Some(t) = scratch {
            buffers.push(t.buffer().clone());
        }
        Launch {
            dispatches,
            info: self.about(tensors, 2.0 * (m * n * k) as f64),
            _buffers: buffers,
        }
    }

    /// Records `launches` into one compute pass of one encoder and submits once.
    pub fn run_launches(&self, launches: &[&Launch]) {
        Backend::run(self, |pass| {
            for l in launches {
                l.record(pass);
            }
        })
    }

    /// Dispatches encoded by [`Backend::run`] on this device so far.
    pub fn dispatched(&self) -> u64 {
        self.dispatched.load(Ordering::Relaxed)
    }

    /// Records `record` as [`Backend::run`] would, without running it: the
    /// launches, in order, each a handle to the same pipelines and bind
    /// groups (for a profile to replay; allocates, so never inside a step).
    pub fn capture(&self, record: impl FnOnce(&mut GpuPass<'_>)) -> Vec<Launch> {
        let mut launches = Vec::new();
        record(&mut GpuPass {
            pass: None,
            captured: Some(&mut launches),
            dispatches: 0,
        });
        launches
    }

    /// Waits for all submitted work. Natively this blocks; on the web it
    /// returns at once (completion is observed by awaiting a readback).
    pub fn wait(&self) -> Result<(), GpuError> {
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map(|_| ())
            .map_err(|e| GpuError::Device(e.to_string()))
    }
}

#[derive(Clone)]
struct Dispatch {
    pipeline: wgpu::ComputePipeline,
    bind_group: wgpu::BindGroup,
    workgroups: [u32; 3],
    /// The WGSL entry point.
    kernel: &'static str,
}

/// What a profile says of a launch.
#[derive(Clone, Debug, Default)]
pub struct LaunchInfo {
    /// The layer it was bound for (`D.2`), or "" outside any network.
    pub layer: String,
    /// The op's name (its struct in `crate::ops`).
    pub op: &'static str,
    /// Floating-point operations (GEMM-shaped ops; 0 where not counted).
    pub flops: f64,
    /// Bytes of the tensors it binds, each counted once.
    pub bytes: u64,
}

/// One op bound to its tensors: one dispatch (two for a split-K GEMM), with
/// its bind groups and grids, recorded by [`Launch::record`]. Cloning makes
/// handles to the same pipelines, bind groups and buffers.
#[derive(Clone)]
pub struct Launch {
    dispatches: Vec<Dispatch>,
    info: LaunchInfo,
    // Uniforms and scratch, kept alive with the bind groups that use them.
    _buffers: Vec<wgpu::Buffer>,
}

/// What a step records into: a compute pass (and a count of its
/// dispatches), or, for a profile, a list of the launches recorded.
pub struct GpuPass<'p> {
    pass: Option<wgpu::ComputePass<'p>>,
    captured: Option<&'p mut Vec<Launch>>,
    dispatches: u64,
}

impl<'p> GpuPass<'p> {
    /// Records into `pass`.
    pub fn new(pass: wgpu::ComputePass<'p>) -> Self {
        GpuPass {
            pass: Some(pass),
            captured: None,
            dispatches: 0,
        }
    }
}

impl Launch {
    pub fn record(&self, pass: &mut GpuPass<'_>) {
        if let Some(c) = pass.captured.as_mut() {
            c.push(self.clone());
        }
        if let Some(p) = pass.pass.as_mut() {
            self.encode(p);
            pass.dispatches += self.dispatches.len() as u64;
        }
    }

    fn encode(&self, pass: &mut wgpu::ComputePass<'_>) {
        for d in &self.dispatches {
            pass.set_pipeline(&d.pipeline);
            pass.set_bind_group(0, &d.bind_group, &[]);
            let [x, y, z] = d.workgroups;
            pass.dispatch_workgroups(x, y, z);
        }
    }

    /// One launch recording these in order (the phases of one op).
    pub fn concat(launches: Vec<Launch>) -> Launch {
        let mut all = Launch {
            dispatches: Vec::new(),
            info: LaunchInfo::default(),
            _buffers: Vec::new(),
        };
        for l in launches {
            if all.info.layer.is_empty() {
                all.info.layer = l.info.layer;
            }
            all.info.flops += l.info.flops;
            all.info.bytes += l.info.bytes;
            all.dispatches.extend(l.dispatches);
            all._buffers.extend(l._buffers);
        }
        all
    }

    /// What a profile says of this launch.
    pub fn info(&self) -> &LaunchInfo {
        &self.info
    }

    /// The WGSL entry points this op dispatches, in order.
    pub fn kernels(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.dispatches.iter().map(|d| d.kernel)
    }

    /// Workgroups over all of this op's dispatches.
    pub fn workgroups(&self) -> u64 {
        self.dispatches
            .iter()
            .map(|d| d.workgroups.iter().map(|&w| w as u64).product::<u64>())
            .sum()
    }

    /// Number of dispatches this op records.
    pub fn dispatch_count(&self) -> usize {
        self.dispatches.len()
    }
}

/// `genlab::ops::conv::Conv2dForward` → `Conv2dForward`.
fn short_type_name<T>() -> &'static str {
    let full = std::any::type_name::<T>();
    full.rsplit("::").next().unwrap_or(full)
}

/// Workgroups for `len` elements at `per_group` each, spread over x and y
/// because one dimension holds at most 65535 workgroups.
pub fn grid_1d(len: usize, per_group: usize) -> [u32; 3] {
    let groups = len.div_ceil(per_group).max(1);
    if groups <= 65535 {
        [groups as u32, 1, 1]
    } else {
        [65535, groups.div_ceil(65535) as u32, 1]
    }
}

impl TensorLen for Tensor {
    fn len(&self) -> usize {
        Tensor::len(self)
    }
}

/// Each op is its [`Launch`]; a run is one encoder, one compute pass, one submit.
impl Backend for Gpu {
    type Tensor = Tensor;
    type Op = Launch;
    type Pass<'p> = GpuPass<'p>;
    type Readback = Readback;

    fn describe(&self) -> String {
        format!("GPU: {}", self.adapter_summary())
    }
    fn alignment(&self) -> usize {
        (self.storage_alignment() / 4) as usize
    }
    fn zeros(&self, len: usize) -> Tensor {
        Tensor::zeros(self, len)
    }
    fn upload(&self, data: &[f32]) -> Tensor {
        Tensor::from_slice(self, data)
    }
    fn slice(&self, t: &Tensor, start: usize, len: usize) -> Tensor {
        t.slice(self, start, len)
    }
    fn write(&self, t: &Tensor, start: usize, data: &[f32]) {
        t.write_at(self, start, data)
    }
    fn bind<O: Op>(&self, op: &O, t: O::Tensors<'_, Tensor>) -> Launch {
        let mut launch = op.bind_gpu(self, t);
        launch.info.op = short_type_name::<O>();
        launch
    }
    fn name_ops(&self, layer: &str) {
        if let Ok(mut l) = self.layer.lock() {
            layer.clone_into(&mut l);
        }
    }

    fn run(&self, record: impl FnOnce(&mut GpuPass<'_>)) {
        let mut encoder = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("genlab step"),
            });
        {
            let mut pass = GpuPass::new(encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("genlab"),
                timestamp_writes: None,
            }));
            record(&mut pass);
            self.dispatched
                .fetch_add(pass.dispatches, Ordering::Relaxed);
        }
        self.queue.submit([encoder.finish()]);
    }
    fn record(pass: &mut GpuPass<'_>, op: &Launch) {
        op.record(pass);
    }
    fn concat(&self, ops: Vec<Launch>) -> Launch {
        Launch::concat(ops)
    }

    fn readback(&self, t: &Tensor) -> Readback {
        Readback::new(self, t)
    }
    fn begin_read(&self, r: &Readback) {
        r.begin(self);
    }
    async fn read(&self, r: &Readback) -> Result<Vec<f32>, BackendError> {
        Ok(r.read(self).await?)
    }
}
