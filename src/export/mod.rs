//! Take a trained model anywhere: the network genlab samples with (a GAN's
//! generator, a VAE's decoder, the autoencoder), read from a weights file,
//! as a plain description of standard layers ([`Graph`]: dense, convolution,
//! transposed convolution, batch norm in inference form, activations,
//! reshapes), written out as ONNX ([`onnx`]) or as a PyTorch state dict with
//! the `model.py` that loads it ([`pytorch`]).
//!
//! Every size comes from the file's settings and is checked against its
//! tensors before anything is written; the weights keep genlab's layouts,
//! which are PyTorch's (`Linear` `[out, in]`, `Conv2d` `[out, in, kH, kW]`,
//! `ConvTranspose2d` `[in, out, kH, kW]`). TensorFlow's `padding='same'`
//! (genlab's) pads less before than after: it becomes explicit pads (a
//! convolution) and crops (a transposed one).

pub mod onnx;
pub mod pytorch;

use crate::core::Activation;
use crate::core::BatchNormConfig;
use crate::data::SIDE;
use crate::models::{network, Family, ModelConfig, ModelKind};
use crate::nn::LayerSpec;
use crate::train::SavedWeights;

/// What an export is written as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Onnx,
    Pytorch,
}

impl Format {
    pub const NAMES: &'static str = "onnx, pytorch";

    pub fn parse(s: &str) -> Result<Format, String> {
        match s {
            "onnx" => Ok(Format::Onnx),
            "pytorch" | "torch" => Ok(Format::Pytorch),
            _ => Err(format!(
                "unknown export format {s:?}: choose {}",
                Format::NAMES
            )),
        }
    }
}

/// The network of `kind` that draws its pictures, as genlab's sampler runs it.
pub fn exported_network(kind: ModelKind) -> &'static str {
    match kind.info().family {
        Family::Gan => "generator",
        Family::Vae => "decoder",
        Family::Autoencoder => "autoencoder",
    }
}

/// A tensor with its real shape (row-major).
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

/// How the network's last output becomes pixels in [0, 1].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pixels {
    /// A tanh output: (y + 1) / 2, clipped to [0, 1] (the GANs).
    Tanh,
    /// Logits: the sigmoid (the VAEs and the autoencoder).
    Sigmoid,
}

/// A layer of an exported network, on a batch [N, …].
#[derive(Clone, Debug, PartialEq)]
pub enum Node {
    /// y = x·wᵀ + b, w `[out, in]`.
    Linear {
        weight: Tensor,
        bias: Option<Tensor>,
    },
    /// A convolution, w `[out, in, k, k]`, on x zero-padded by `pads`
    /// (top, left, bottom, right).
    Conv {
        weight: Tensor,
        bias: Option<Tensor>,
        stride: usize,
        pads: [usize; 4],
    },
    /// A transposed convolution, w `[in, out, k, k]`, its full output
    /// ((in − 1)·stride + k a side) cropped by `crops` (top, left, bottom, right).
    ConvTranspose {
        weight: Tensor,
        bias: Option<Tensor>,
        stride: usize,
        crops: [usize; 4],
    },
    /// Batch norm with running statistics, over the channels of [N, C] or [N, C, H, W].
    BatchNorm {
        weight: Tensor,
        bias: Tensor,
        mean: Tensor,
        var: Tensor,
        eps: f32,
        spatial: bool,
    },
    Act(Activation),
    /// [N, C, H, W] → [N, C·H·W].
    Flatten,
    /// [N, C·H·W] → [N, C, H, W].
    Unflatten([usize; 3]),
    Pixels(Pixels),
}

/// An exportable network: its input, its layers, and where it came from.
#[derive(Clone, Debug)]
pub struct Graph {
    pub config: ModelConfig,
    /// "generator", "decoder" or "autoencoder".
    pub network: &'static str,
    /// Per sample: `[Z]` (latents) or `[1, 28, 28]` (the autoencoder's digits).
    pub input: Vec<usize>,
    /// Per sample, always `[1, 28, 28]`, pixels in [0, 1].
    pub output: Vec<usize>,
    pub nodes: Vec<Node>,
    /// The training step of the weights.
    pub step: u64,
}

/// TensorFlow's `padding='same'` along one side of `size`: the output size,
/// and the zeros before and after (genlab's `Conv2dGeom::same`).
fn same(size: usize, k: usize, stride: usize) -> (usize, usize, usize) {
    let out = size.div_ceil(stride);
    let total = ((out - 1) * stride + k).saturating_sub(size);
    (out, total / 2, total - total / 2)
}

impl Graph {
    /// The network genlab samples with, from a weights file's settings and
    /// tensors (as [`crate::train::read_weights`] returns them, checked).
    pub fn from_weights(saved: &SavedWeights) -> Result<Graph, String> {
        let config = saved.config.clone().ok_or(
            "this safetensors file has no genlab settings in its header: export weights saved by genlab",
        )?;
        config.validate()?;
        let name = exported_network(config.kind);
        let spec = network(&config, name);
        let take = |suffix: &str, i: usize, shape: Vec<usize>| -> Result<Tensor, String> {
            let key = format!("{name}.{i}.{suffix}");
            let values = saved.tensors.get(&key).ok_or_else(|| {
                format!("the weights file has no tensor {key}: was it saved by another model?")
            })?;
            let want: usize = shape.iter().product();
            if values.len() != want {
                return Err(format!(
                    "tensor {key} has {} values; its layer needs {shape:?} ({want})",
                    values.len()
                ));
            }
            Ok(Tensor {
                shape,
                values: values.clone(),
            })
        };
        let [c0, h0, w0] = spec.input;
        let mut nodes = Vec::new();
        let input = if h0 * w0 == 1 {
            vec![c0]
        } else {
            nodes.push(Node::Flatten);
            vec![c0, h0, w0]
        };
        // The autoencoder's input is its digits' 784 pixels, shown as an image.
        let input = if config.kind == ModelKind::Autoencoder {
            nodes.insert(0, Node::Flatten);
            vec![1, SIDE, SIDE]
        } else {
            input
        };
        let mut shape = spec.input;
        let mut flat = true;
        let push_act = |nodes: &mut Vec<Node>, act: Activation| {
            if act != Activation::None {
                nodes.push(Node::Act(act));
            }
        };
        for (i, &layer) in spec.layers.iter().enumerate() {
            let [c, h, w] = shape;
            match layer {
                LayerSpec::Dense { out, bias, act } => {
                    if !flat {
                        nodes.push(Node::Flatten);
                        flat = true;
                    }
                    let d_in = c * h * w;
                    nodes.push(Node::Linear {
                        weight: take("weight", i, vec![out, d_in])?,
                        bias: bias.then(|| take("bias", i, vec![out])).transpose()?,
                    });
                    push_act(&mut nodes, act);
                    shape = [out, 1, 1];
                }
                LayerSpec::Conv {
                    c_out,
                    k,
                    stride,
                    bias,
                    act,
                } => {
                    if flat {
                        return Err(format!("{name}.{i}: a convolution of a flat input"));
                    }
                    let (h_out, top, bottom) = same(h, k, stride);
                    let (w_out, left, right) = same(w, k, stride);
                    nodes.push(Node::Conv {
                        weight: take("weight", i, vec![c_out, c, k, k])?,
                        bias: bias.then(|| take("bias", i, vec![c_out])).transpose()?,
                        stride,
                        pads: [top, left, bottom, right],
                    });
                    push_act(&mut nodes, act);
                    shape = [c_out, h_out, w_out];
                }
                LayerSpec::ConvTranspose {
                    c_out,
                    k,
                    stride,
                    bias,
                    act,
                } => {
                    if flat {
                        return Err(format!(
                            "{name}.{i}: a transposed convolution of a flat input"
                        ));
                    }
                    // The 'same' convolution from the output's shape back to the input's.
                    let (_, top, bottom) = same(h * stride, k, stride);
                    let (_, left, right) = same(w * stride, k, stride);
                    nodes.push(Node::ConvTranspose {
                        weight: take("weight", i, vec![c, c_out, k, k])?,
                        bias: bias.then(|| take("bias", i, vec![c_out])).transpose()?,
                        stride,
                        crops: [top, left, bottom, right],
                    });
                    push_act(&mut nodes, act);
                    shape = [c_out, h * stride, w * stride];
                }
                LayerSpec::BatchNorm => nodes.push(Node::BatchNorm {
                    weight: take("gamma", i, vec![c])?,
                    bias: take("beta", i, vec![c])?,
                    mean: take("running_mean", i, vec![c])?,
                    var: take("running_var", i, vec![c])?,
                    eps: BatchNormConfig::default().eps,
                    spatial: !flat,
                }),
                LayerSpec::Act(act) => push_act(&mut nodes, act),
                // Evaluation mode: dropout passes its input through.
                LayerSpec::Dropout(_) => {}
                LayerSpec::Reshape(to) => {
                    nodes.push(Node::Unflatten(to));
                    shape = to;
                    flat = false;
                }
            }
        }
        if shape.iter().product::<usize>() != SIDE * SIDE {
            return Err(format!("{name} draws {shape:?}, not a 28×28 digit"));
        }
        if flat {
            nodes.push(Node::Unflatten([1, SIDE, SIDE]));
        }
        nodes.push(Node::Pixels(if config.kind.is_gan() {
            Pixels::Tanh
        } else {
            Pixels::Sigmoid
        }));
        Ok(Graph {
            config,
            network: name,
            input,
            output: vec![1, SIDE, SIDE],
            nodes,
            step: saved.step.unwrap_or(0) as u64,
        })
    }

    /// Values per sample of the input.
    pub fn input_len(&self) -> usize {
        self.input.iter().product()
    }

    /// A sentence for the files' headers: what this is and where it came from.
    pub fn description(&self) -> String {
        format!(
            "genlab {} {} (step {}): input {} [N, {}], output images [N, 1, 28, 28] in [0, 1]",
            self.config.kind,
            self.network,
            self.step,
            self.input_name(),
            self.input
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )
    }

    /// "z" (latents) or "x" (the autoencoder's digits).
    pub fn input_name(&self) -> &'static str {
        if self.config.kind == ModelKind::Autoencoder {
            "x"
        } else {
            "z"
        }
    }
}

/// An export's files: (file name, contents).
pub type Files = Vec<(String, Vec<u8>)>;

/// The files of `format` for the model in a weights file: ONNX: one
/// `.onnx` file; PyTorch: `{stem}.safetensors` and `model.py`.
pub fn export(saved: &SavedWeights, format: Format, stem: &str) -> Result<Files, String> {
    let g = Graph::from_weights(saved)?;
    Ok(match format {
        Format::Onnx => vec![(format!("{stem}.onnx"), onnx::write(&g)?)],
        Format::Pytorch => {
            let (weights, py) = pytorch::write(&g, &format!("{stem}.safetensors"))?;
            vec![
                (format!("{stem}.safetensors"), weights),
                ("model.py".to_string(), py.into_bytes()),
            ]
        }
    })
}
