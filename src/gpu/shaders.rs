//! Every WGSL source and every pipeline, in one place. A module is the
//! concatenation of its parts: shared helpers (activation, the tiled GEMM, the
//! conv geometry, the workgroup reduction) followed by the kernel file.

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

/// The shader modules, each as its parts in order.
const MODULES: &[(&str, &[&str])] = &[
    ("matmul", &[ACTIVATION, GEMM, MATMUL]),
    ("conv2d_forward", &[ACTIVATION, GEMM, CONV, CONV2D_FORWARD]),
    (
        "conv2d_backward_input",
        &[ACTIVATION, GEMM, CONV, CONV2D_BACKWARD_INPUT],
    ),
    (
        "conv2d_backward_weight",
        &[ACTIVATION, GEMM, CONV, CONV2D_BACKWARD_WEIGHT],
    ),
    ("elementwise", &[ACTIVATION, ELEMENTWISE]),
    ("bias", &[REDUCE, BIAS]),
    ("batchnorm", &[REDUCE, BATCHNORM]),
    ("random", &[RANDOM]),
    ("loss", &[REDUCE, LOSS]),
    ("reparam", &[REPARAM]),
    ("adam", &[ADAM]),
];

macro_rules! kernels {
    ($($variant:ident => ($module:literal, $entry:literal),)*) => {
        /// Every compute entry point, named as in WGSL.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Kernel { $($variant,)* }

        const KERNELS: &[(Kernel, &str, &str)] = &[$((Kernel::$variant, $module, $entry),)*];
    };
}

kernels! {
    Matmul => ("matmul", "matmul"),
    Conv2dForward => ("conv2d_forward", "conv2d_forward"),
    Conv2dBackwardInput => ("conv2d_backward_input", "conv2d_backward_input"),
    Conv2dBackwardWeight => ("conv2d_backward_weight", "conv2d_backward_weight"),
    ActivationForward => ("elementwise", "activation_forward"),
    ActivationBackward => ("elementwise", "activation_backward"),
    Fill => ("elementwise", "fill"),
    StepIncrement => ("elementwise", "step_increment"),
    BiasBackward => ("bias", "bias_backward"),
    BatchnormForwardTrain => ("batchnorm", "batchnorm_forward_train"),
    BatchnormForwardEval => ("batchnorm", "batchnorm_forward_eval"),
    BatchnormBackward => ("batchnorm", "batchnorm_backward"),
    DropoutForward => ("random", "dropout_forward"),
    DropoutBackward => ("random", "dropout_backward"),
    GaussianNoise => ("random", "gaussian_noise"),
    BceWithLogits => ("loss", "bce_with_logits"),
    LeastSquares => ("loss", "least_squares"),
    Mse => ("loss", "mse"),
    GaussianKl => ("loss", "gaussian_kl"),
    ReparameterizeForward => ("reparam", "reparameterize_forward"),
    ReparameterizeBackward => ("reparam", "reparameterize_backward"),
    AdamStep => ("adam", "adam_step"),
}

impl Kernel {
    pub fn entry_point(self) -> &'static str {
        KERNELS[self as usize].2
    }
}

/// The WGSL source of a module (its parts joined), for tools and tests.
pub fn module_source(name: &str) -> Option<String> {
    MODULES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, parts)| parts.concat())
}

/// Compiles every module and builds every pipeline, in `Kernel` order.
pub(crate) fn build_pipelines(device: &wgpu::Device) -> Vec<wgpu::ComputePipeline> {
    let modules: Vec<(&str, wgpu::ShaderModule)> = MODULES
        .iter()
        .map(|(name, parts)| {
            let source = parts.concat();
            let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(name),
                source: wgpu::ShaderSource::Wgsl(source.into()),
            });
            (*name, module)
        })
        .collect();
    KERNELS
        .iter()
        .enumerate()
        .map(|(i, (kernel, module_name, entry))| {
            assert_eq!(*kernel as usize, i, "kernel table out of order");
            let module = &modules
                .iter()
                .find(|(n, _)| n == module_name)
                .expect("kernel names a listed module")
                .1;
            device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(entry),
                layout: None,
                module,
                entry_point: Some(entry),
                compilation_options: Default::default(),
                cache: None,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every module parses and validates with naga, without a GPU, so a
    /// shader error shows up here with its line before any device test runs.
    #[test]
    fn every_module_validates() {
        for (name, _) in MODULES {
            let source = module_source(name).unwrap();
            let module = naga::front::wgsl::parse_str(&source)
                .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(&source)));
            naga::valid::Validator::new(
                naga::valid::ValidationFlags::all(),
                naga::valid::Capabilities::empty(),
            )
            .validate(&module)
            .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(&source)));
        }
    }

    #[test]
    fn every_kernel_names_an_entry_point_of_its_module() {
        for (kernel, module, entry) in KERNELS {
            let source =
                module_source(module).unwrap_or_else(|| panic!("{kernel:?}: no module {module}"));
            assert!(
                source.contains(&format!("fn {entry}(")),
                "{kernel:?}: {module} has no entry point {entry}"
            );
        }
    }
}
