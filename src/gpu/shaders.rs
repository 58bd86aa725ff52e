//! Every WGSL source and every pipeline, in one place. A module is the
//! concatenation of its parts: shared helpers (activation, the tiled GEMM, the
//! conv geometry, the workgroup reduction) followed by the kernel file.

use std::collections::HashMap;

const ACTIVATION: &str = include_str!("../../shaders/activation.wgsl");
const GEMM: &str = include_str!("../../shaders/gemm.wgsl");
const CONV: &str = include_str!("../../shaders/conv.wgsl");
const REDUCE: &str = include_str!("../../shaders/reduce.wgsl");
const MATMUL: &str = include_str!("../../shaders/matmul.wgsl");
const CONV2D_FORWARD: &str = include_str!("../../shaders/conv2d_forward.wgsl");
const CONV2D_BACKWARD_INPUT: &str = include_str!("../../shaders/conv2d_backward_input.wgsl");
const CONV2D_BACKWARD_WEIGHT: &str = include_str!("../../shaders/conv2d_backward_weight.wgsl");
const ELEMENTWISE: &str = include_str!("../../shaders/elementwise.wgsl");
const BIAS: &str = include_str!("../../shaders/bias.wgsl");
const BATCHNORM: &str = include_str!("../../shaders/batchnorm.wgsl");
const RANDOM: &str = include_str!("../../shaders/random.wgsl");
const LOSS: &str = include_str!("../../shaders/loss.wgsl");
const REPARAM: &str = include_str!("../../shaders/reparam.wgsl");
const ADAM: &str = include_str!("../../shaders/adam.wgsl");

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
    ("reparam", false, &[REPARAM]),
    ("adam", false, &[ADAM]),
];

/// The tile shape of a GEMM pipeline: threads (x along N, y along M), outputs
/// per thread, and the K slice. See shaders/gemm.wgsl.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Tile {
    /// 64×64: large products.
    Square,
    /// 256×1: N of one or a few (a single-channel convolution's other side, a 1-unit dense layer).
    Tall,
    /// 8×128: M of a few rows (a dense layer at batch 8).
    Wide,
}

impl Tile {
    pub const ALL: [Tile; 3] = [Tile::Square, Tile::Tall, Tile::Wide];

    /// (WG_X, WG_Y, TM, TN, TILE_K)
    fn shape(self) -> (usize, usize, usize, usize, usize) {
        match self {
            Tile::Square => (16, 16, 4, 4, 16),
            // K slice of 8: 256×16 floats would pass WebGPU's 16 KiB of workgroup memory.
            Tile::Tall => (1, 256, 1, 1, 8),
            Tile::Wide => (32, 8, 1, 4, 16),
        }
    }

    /// Rows (M) and columns (N) of C one workgroup computes.
    pub fn size(self) -> (usize, usize) {
        let (wx, wy, tm, tn, _) = self.shape();
        (wy * tm, wx * tn)
    }

    pub fn tile_k(self) -> usize {
        self.shape().4
    }

    /// The tile that wastes least of an M×N output.
    pub fn choose(m: usize, n: usize) -> Tile {
        if n <= 2 && m >= 256 {
            Tile::Tall
        } else if m <= 16 && n >= 64 {
            Tile::Wide
        } else {
            Tile::Square
        }
    }

    fn prelude(self) -> String {
        let (wx, wy, tm, tn, tk) = self.shape();
        format!(
            "// Tile {self:?}, prepended by src/gpu/shaders.rs.\n\
             const GEMM_WG_X: u32 = {wx}u;\nconst GEMM_WG_Y: u32 = {wy}u;\n\
             const GEMM_TM: u32 = {tm}u;\nconst GEMM_TN: u32 = {tn}u;\nconst GEMM_TILE_K: u32 = {tk}u;\n"
        )
    }
}

macro_rules! kernels {
    ($($variant:ident => ($module:literal, $entry:literal, $gemm:literal),)*) => {
        /// Every compute entry point, named as in WGSL.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Kernel { $($variant,)* }

        /// (kernel, module, entry point, whether it is a GEMM).
        const KERNELS: &[(Kernel, &str, &str, bool)] = &[$((Kernel::$variant, $module, $entry, $gemm),)*];
    };
}

kernels! {
    Matmul => ("matmul", "matmul", true),
    Conv2dForward => ("conv2d_forward", "conv2d_forward", true),
    Conv2dBackwardInput => ("conv2d_backward_input", "conv2d_backward_input", true),
    Conv2dBackwardInputDirect => ("conv2d_backward_input", "conv2d_backward_input_direct", false),
    Conv2dBackwardWeight => ("conv2d_backward_weight", "conv2d_backward_weight", true),
    ActivationForward => ("elementwise", "activation_forward", false),
    ActivationBackward => ("elementwise", "activation_backward", false),
    Fill => ("elementwise", "fill", false),
    StepIncrement => ("elementwise", "step_increment", false),
    BiasBackward => ("bias", "bias_backward", false),
    BatchnormForwardTrain => ("batchnorm", "batchnorm_forward_train", false),
    BatchnormForwardEval => ("batchnorm", "batchnorm_forward_eval", false),
    BatchnormBackward => ("batchnorm", "batchnorm_backward", false),
    DropoutForward => ("random", "dropout_forward", false),
    DropoutBackward => ("random", "dropout_backward", false),
    GaussianNoise => ("random", "gaussian_noise", false),
    BceWithLogits => ("loss", "bce_with_logits", false),
    LeastSquares => ("loss", "least_squares", false),
    Mse => ("loss", "mse", false),
    GaussianKl => ("loss", "gaussian_kl", false),
    SoftmaxCrossEntropy => ("loss", "softmax_cross_entropy", false),
    ReparameterizeForward => ("reparam", "reparameterize_forward", false),
    ReparameterizeBackward => ("reparam", "reparameterize_backward", false),
    AdamStep => ("adam", "adam_step", false),
}

impl Kernel {
    pub fn entry_point(self) -> &'static str {
        KERNELS[self as usize].2
    }

    /// Whether this kernel is a GEMM (launched with a tile and optional split-K).
    pub fn is_gemm(self) -> bool {
        KERNELS[self as usize].3
    }
}

/// The WGSL source of a module (its parts joined; GEMM modules with `tile`'s prelude).
pub fn module_source(name: &str, tile: Tile) -> Option<String> {
    let (_, gemm, parts) = MODULES.iter().find(|(n, _, _)| *n == name)?;
    let prelude = if *gemm { tile.prelude() } else { String::new() };
    Some(prelude + &parts.concat())
}

/// Every pipeline, built once: one per kernel, one per tile for GEMM kernels,
/// and each GEMM module's split-K reduction.
pub(crate) struct Pipelines {
    main: HashMap<(Kernel, Tile), wgpu::ComputePipeline>,
    reduce: HashMap<Kernel, wgpu::ComputePipeline>,
}

impl Pipelines {
    pub(crate) fn build(device: &wgpu::Device) -> Self {
        let mut modules = HashMap::new();
        for (name, gemm, _) in MODULES {
            let tiles: &[Tile] = if *gemm { &Tile::ALL } else { &[Tile::Square] };
            for &tile in tiles {
                let source = module_source(name, tile).expect("listed module");
                let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
                    label: Some(name),
                    source: wgpu::ShaderSource::Wgsl(source.into()),
                });
                modules.insert((*name, tile), module);
            }
        }
        let pipeline = |module: &wgpu::ShaderModule, entry: &str| {
            device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(entry),
                layout: None,
                module,
                entry_point: Some(entry),
                compilation_options: Default::default(),
                cache: None,
            })
        };
        let mut main = HashMap::new();
        let mut reduce = HashMap::new();
        for (i, &(kernel, module_name, entry, _)) in KERNELS.iter().enumerate() {
            assert_eq!(kernel as usize, i, "kernel table out of order");
            let tiles: &[Tile] = if kernel.is_gemm() {
                &Tile::ALL
            } else {
                &[Tile::Square]
            };
            for &tile in tiles {
                main.insert(
                    (kernel, tile),
                    pipeline(&modules[&(module_name, tile)], entry),
                );
            }
            if kernel.is_gemm() {
                reduce.insert(
                    kernel,
                    pipeline(&modules[&(module_name, Tile::Square)], "gemm_reduce"),
                );
            }
        }
        Pipelines { main, reduce }
    }

    pub(crate) fn main(&self, kernel: Kernel, tile: Tile) -> &wgpu::ComputePipeline {
        &self.main[&(kernel, tile)]
    }

    pub(crate) fn reduce(&self, kernel: Kernel) -> &wgpu::ComputePipeline {
        &self.reduce[&kernel]
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
        assert_eq!(Tile::choose(8 * 28 * 28, 1), Tile::Tall); // 1-channel conv input gradient
        assert_eq!(Tile::choose(8, 12544), Tile::Wide); // G's dense layer at batch 8
        assert_eq!(Tile::choose(64 * 49, 128), Tile::Square);
        for tile in Tile::ALL {
            let (m, n) = tile.size();
            assert!(
                m * n >= 256,
                "{tile:?}: every thread owns at least one output"
            );
        }
    }

    #[test]
    fn every_kernel_names_an_entry_point_of_its_module() {
        for (kernel, module, entry, _) in KERNELS {
            let source = module_source(module, Tile::Square)
                .unwrap_or_else(|| panic!("{kernel:?}: no module {module}"));
            assert!(
                source.contains(&format!("fn {entry}(")),
                "{kernel:?}: {module} has no entry point {entry}"
            );
        }
    }
}
