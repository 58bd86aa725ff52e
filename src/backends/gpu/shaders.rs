//! Every WGSL source and every pipeline, in one place. A module is the
//! concatenation of its parts: shared helpers (activation, the tiled GEMM, the
//! conv geometry, the workgroup reduction) followed by the kernel file.

use crate::core::{ACTIVATION_CODES, WORKGROUP_SIZE};
use std::collections::HashMap;

const ACTIVATION: &str = include_str!("../../../shaders/activation.wgsl");
const GEMM: &str = include_str!("../../../shaders/gemm.wgsl");
const GEMM_TILED: &str = include_str!("../../../shaders/gemm_tiled.wgsl");
const GEMM_DIRECT: &str = include_str!("../../../shaders/gemm_direct.wgsl");
const CONV: &str = include_str!("../../../shaders/conv.wgsl");
const REDUCE: &str = include_str!("../../../shaders/reduce.wgsl");
const MATMUL: &str = include_str!("../../../shaders/matmul.wgsl");
const CONV2D_FORWARD: &str = include_str!("../../../shaders/conv2d_forward.wgsl");
const CONV2D_BACKWARD_INPUT: &str = include_str!("../../../shaders/conv2d_backward_input.wgsl");
const CONV2D_BACKWARD_WEIGHT: &str = include_str!("../../../shaders/conv2d_backward_weight.wgsl");
const ELEMENTWISE: &str = include_str!("../../../shaders/elementwise.wgsl");
const BIAS: &str = include_str!("../../../shaders/bias.wgsl");
const BATCHNORM: &str = include_str!("../../../shaders/batchnorm.wgsl");
const RANDOM: &str = include_str!("../../../shaders/random.wgsl");
const LOSS: &str = include_str!("../../../shaders/loss.wgsl");
const LABEL: &str = include_str!("../../../shaders/label.wgsl");
const REPARAM: &str = include_str!("../../../shaders/reparam.wgsl");
const ADAM: &str = include_str!("../../../shaders/adam.wgsl");
const SPECTRAL: &str = include_str!("../../../shaders/spectral.wgsl");
const MBSTD: &str = include_str!("../../../shaders/mbstd.wgsl");

/// The shader modules, each as its parts in order; `true` marks the GEMM
/// modules, which are compiled once per [`Tile`].
const MODULES: &[(&str, bool, &[&str])] = &[
    ("matmul", true, &[ACTIVATION, GEMM, MATMUL]),
    (
        "conv2d_forward",
        true,
        &[ACTIVATION, GEMM, CONV, CONV2D_FORWARD],
    ),
    (
        "conv2d_backward_input",
        true,
        &[ACTIVATION, GEMM, CONV, CONV2D_BACKWARD_INPUT],
    ),
    (
        "conv2d_backward_weight",
        true,
        &[ACTIVATION, GEMM, CONV, CONV2D_BACKWARD_WEIGHT],
    ),
    ("elementwise", false, &[ACTIVATION, ELEMENTWISE]),
    ("bias", false, &[REDUCE, BIAS]),
    ("batchnorm", false, &[REDUCE, BATCHNORM]),
    ("random", false, &[RANDOM]),
    ("loss", false, &[REDUCE, LOSS]),
    ("label", false, &[LABEL]),
    ("reparam", false, &[REPARAM]),
    ("adam", false, &[ADAM]),
    ("spectral", false, &[REDUCE, SPECTRAL]),
    ("mbstd", false, &[REDUCE, MBSTD]),
];

/// How a GEMM pipeline computes: threads (x along N, y along M), each
/// owning a 4×4 block of C, and the K slice. See shaders/gemm.wgsl.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Tile {
    /// 64×64 through workgroup memory (shaders/gemm_tiled.wgsl): large products.
    Square,
    /// 32×32 straight from storage, no barriers (shaders/gemm_direct.wgsl):
    /// skinny products (a side or K of at most [`Tile::SKINNY`]), where a
    /// tile has little to share and its barriers cost more than its reuse
    /// saves: dense layers at small batches, single-channel convolutions,
    /// a 1-unit output.
    Direct,
}

impl Tile {
    pub const ALL: [Tile; 2] = [Tile::Square, Tile::Direct];

    /// The largest M, N or K that makes a product skinny. Measured with
    /// `genlab bench` on SwiftShader and lavapipe at batch 8: the direct form
    /// wins on every DCGAN product with a side or K ≤ 25 (2–30×), the tiled
    /// one on every product with all three ≥ 64 (1.1–1.9×).
    pub const SKINNY: usize = 32;

    /// (WG_X, WG_Y, TILE_K); each thread owns 4×4 outputs. The direct form
    /// has no K slice; its split-K chunks are still multiples of TILE_K.
    fn shape(self) -> (usize, usize, usize) {
        match self {
            Tile::Square => (16, 16, 16),
            Tile::Direct => (8, 8, 16),
        }
    }

    /// Rows (M) and columns (N) of C one workgroup computes.
    pub fn size(self) -> (usize, usize) {
        let (wx, wy, _) = self.shape();
        (4 * wy, 4 * wx)
    }

    pub fn tile_k(self) -> usize {
        self.shape().2
    }

    /// The form for an M×N product over K.
    pub fn choose(m: usize, n: usize, k: usize) -> Tile {
        if m.min(n).min(k) <= Self::SKINNY {
            Tile::Direct
        } else {
            Tile::Square
        }
    }

    fn prelude(self) -> String {
        let (wx, wy, tk) = self.shape();
        format!(
            "// Tile {self:?}, prepended by backends/gpu/shaders.rs.\n\
             const GEMM_WG_X: u32 = {wx}u;\nconst GEMM_WG_Y: u32 = {wy}u;\n\
             const GEMM_TILE_K: u32 = {tk}u;\n"
        )
    }
}

/// One compute entry point: its module (a name of the module list above) and
/// its WGSL function. Ops name their kernels with these; the pipelines are
/// built from the modules, for every `@compute` entry point they declare.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Kernel {
    pub module: &'static str,
    pub entry: &'static str,
}

impl Kernel {
    pub const fn new(module: &'static str, entry: &'static str) -> Kernel {
        Kernel { module, entry }
    }

    pub fn entry_point(self) -> &'static str {
        self.entry
    }
}

/// What every module starts with: the constants WGSL shares with Rust
/// (written once, in `crate::core`).
fn shared_prelude() -> String {
    let mut s = format!(
        "// Prepended by backends/gpu/shaders.rs from crate::core.\nconst WG: u32 = {}u;\n",
        WORKGROUP_SIZE
    );
    for (name, code) in ACTIVATION_CODES {
        s += &format!("const {name}: u32 = {code}u;\n");
    }
    s
}

/// The names of every module, in the order of the list above.
pub fn module_names() -> impl Iterator<Item = &'static str> {
    MODULES.iter().map(|(name, _, _)| *name)
}

/// The WGSL source of a module (its parts joined; GEMM modules with `tile`'s prelude).
pub fn module_source(name: &str, tile: Tile) -> Option<String> {
    let (_, gemm, parts) = MODULES.iter().find(|(n, _, _)| *n == name)?;
    let prelude = if *gemm { tile.prelude() } else { String::new() };
    let mut source = shared_prelude() + &prelude;
    for part in parts.iter() {
        source += part;
        if std::ptr::eq(*part, GEMM) {
            source += if tile == Tile::Direct {
                GEMM_DIRECT
            } else {
                GEMM_TILED
            };
        }
    }
    Some(source)
}

/// The `@compute` entry points of a module's source, each with whether its
/// workgroup is a GEMM tile's (those get one pipeline per [`Tile`]).
pub fn entry_points(source: &str) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let mut lines = source.lines();
    while let Some(line) = lines.next() {
        let line = line.trim();
        if !line.starts_with("@compute") {
            continue;
        }
        let tiled = line.contains("GEMM_WG");
        if let Some(f) = lines.by_ref().map(str::trim).find(|l| l.starts_with("fn ")) {
            let name = f[3..].split('(').next().unwrap_or_default().trim();
            out.push((name.to_string(), tiled));
        }
    }
    out
}

/// Every pipeline, built once: one per entry point, one per tile for the
/// GEMM entry points.
pub(crate) struct Pipelines {
    /// By (module, tile), then entry point (looked up by `&str`: binding an op allocates nothing here).
    pipelines: HashMap<(&'static str, Tile), HashMap<String, wgpu::ComputePipeline>>,
}

impl Pipelines {
    pub(crate) fn build(device: &wgpu::Device) -> Self {
        let mut pipelines = HashMap::new();
        for (name, gemm, _) in MODULES {
            let tiles: &[Tile] = if *gemm { &Tile::ALL } else { &[Tile::Square] };
            for &tile in tiles {
                let source = module_source(name, tile).expect("listed module");
                let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
                    label: Some(name),
                    source: wgpu::ShaderSource::Wgsl(source.as_str().into()),
                });
                for (entry, tiled) in entry_points(&source) {
                    if tile != Tile::Square && !tiled {
                        continue;
                    }
                    let pipeline =
                        device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                            label: Some(&entry),
                            layout: None,
                            module: &module,
                            entry_point: Some(&entry),
                            compilation_options: Default::default(),
                            cache: None,
                        });
                    pipelines
                        .entry((*name, tile))
                        .or_insert_with(HashMap::new)
                        .insert(entry, pipeline);
                }
            }
        }
        Pipelines { pipelines }
    }

    /// The pipeline of `kernel` at `tile` (non-GEMM kernels have only `Tile::Square`).
    pub(crate) fn get(&self, kernel: Kernel, tile: Tile) -> &wgpu::ComputePipeline {
        self.pipelines
            .get(&(kernel.module, tile))
            .and_then(|m| m.get(kernel.entry))
            .unwrap_or_else(|| panic!("{kernel:?} at {tile:?}: no such entry point in shaders/"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every module parses and validates with naga, without a GPU, so a
    /// shader error shows up here with its line before any device test runs.
    #[test]
    fn every_module_validates() {
        for (name, tile) in MODULES
            .iter()
            .flat_map(|(name, _, _)| Tile::ALL.map(|t| (name, t)))
        {
            let source = module_source(name, tile).unwrap();
            let module = naga::front::wgsl::parse_str(&source)
                .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(&source)));
            naga::valid::Validator::new(
                naga::valid::ValidationFlags::all(),
                naga::valid::Capabilities::empty(),
            )
            .validate(&module)
            .unwrap_or_else(|e| panic!("{name} ({tile:?}): {}", e.emit_to_string(&source)));
        }
    }

    /// WebGPU guarantees 16384 bytes of workgroup memory; a pipeline over that
    /// is rejected by browsers (and invalidates every command buffer using it)
    /// even where a native driver would accept it.
    #[test]
    fn every_module_fits_webgpu_workgroup_memory() {
        for (name, tile) in MODULES
            .iter()
            .flat_map(|(name, _, _)| Tile::ALL.map(|t| (name, t)))
        {
            let source = module_source(name, tile).unwrap();
            let module = naga::front::wgsl::parse_str(&source).unwrap();
            let bytes: u32 = module
                .global_variables
                .iter()
                .filter(|(_, v)| v.space == naga::AddressSpace::WorkGroup)
                .map(|(_, v)| module.types[v.ty].inner.size(module.to_ctx()))
                .sum();
            assert!(
                bytes <= 16384,
                "{name} ({tile:?}) uses {bytes} bytes of workgroup memory; WebGPU guarantees 16384"
            );
        }
    }

    #[test]
    fn tile_choice_fits_the_dcgan_shapes() {
        assert_eq!(Tile::choose(8 * 28 * 28, 1, 64 * 25), Tile::Direct); // 1-channel conv input gradient
        assert_eq!(Tile::choose(8, 12544, 100), Tile::Direct); // G's dense layer at batch 8
        assert_eq!(Tile::choose(100, 12544, 8), Tile::Direct); // its weight gradient
        assert_eq!(Tile::choose(64 * 49, 128, 64 * 25), Tile::Square);
        for tile in Tile::ALL {
            let (wx, wy, ..) = tile.shape();
            assert!(
                (wx * wy) as u32 <= WORKGROUP_SIZE,
                "{tile:?}: the device limits allow WORKGROUP_SIZE threads per workgroup"
            );
            let (m, n) = tile.size();
            assert!(
                m * n >= 256,
                "{tile:?}: every thread owns at least one output"
            );
        }
    }

    #[test]
    fn entry_points_are_found_with_their_tiling() {
        let source = module_source("conv2d_backward_input", Tile::Square).unwrap();
        let entries = entry_points(&source);
        assert!(entries.contains(&("conv2d_backward_input".to_string(), true)));
        assert!(entries.contains(&("conv2d_backward_input_direct".to_string(), false)));
        assert!(entries.contains(&("gemm_reduce".to_string(), false)));
        let loss = entry_points(&module_source("loss", Tile::Square).unwrap());
        assert!(loss.len() >= 5 && loss.iter().all(|(_, tiled)| !tiled));
    }
}
