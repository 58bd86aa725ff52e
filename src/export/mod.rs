//! Take a trained model anywhere: its parts ([`Part`]: a GAN's generator; a
//! VAE's or the autoencoder's decoder and encoder), read from a weights
//! file, as plain descriptions of standard layers ([`Graph`]: dense,
//! convolution, transposed convolution, batch norm in inference form,
//! activations, reshapes, a VAE encoder's two heads), written out as ONNX
//! ([`onnx`]) or as PyTorch state dicts with the `model.py` that loads them
//! ([`pytorch`]).
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
use crate::models::{code_layer, network, Family, ModelConfig, ModelKind};
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

/// A part of a model that exports on its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// A GAN's generator: latents `z` → images.
    Generator,
    /// An autoencoding model's decoder: latents (codes) `z` → images.
    Decoder,
    /// An autoencoding model's encoder: digits `x` → a VAE's `mu` and
    /// `logvar`, or the autoencoder's `code`.
    Encoder,
}

impl Part {
    pub fn name(self) -> &'static str {
        match self {
            Part::Generator => "generator",
            Part::Decoder => "decoder",
            Part::Encoder => "encoder",
        }
    }

    pub fn parse(s: &str) -> Result<Part, String> {
        match s {
            "generator" => Ok(Part::Generator),
            "decoder" => Ok(Part::Decoder),
            "encoder" => Ok(Part::Encoder),
            _ => Err(format!(
                "unknown part {s:?}: choose generator (GANs), decoder or encoder (VAEs, autoencoder)"
            )),
        }
    }
}

/// The parts of a model of `kind` that export: a GAN's generator; a VAE's
/// or the autoencoder's decoder and encoder. The first draws the samples.
pub fn parts(kind: ModelKind) -> &'static [Part] {
    match kind.info().family {
        Family::Gan => &[Part::Generator],
        Family::Vae | Family::Autoencoder => &[Part::Decoder, Part::Encoder],
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
    /// The last: dense layers side by side on the same input, each an
    /// output of its own (a VAE encoder's `mu` and `logvar`).
    Heads(Vec<Head>),
}

/// One of [`Node::Heads`]: y = x·wᵀ + b under its own name.
#[derive(Clone, Debug, PartialEq)]
pub struct Head {
    pub name: &'static str,
    pub weight: Tensor,
    pub bias: Option<Tensor>,
}

/// An exportable network: its input, its layers, its outputs, and where it came from.
#[derive(Clone, Debug)]
pub struct Graph {
    pub config: ModelConfig,
    pub part: Part,
    /// "z" (latents or codes) or "x" (digits, pixels in [0, 1]).
    pub input_name: &'static str,
    /// Per sample: `[Z]` or `[1, 28, 28]`.
    pub input: Vec<usize>,
    /// Each output's name and shape per sample: `images` `[1, 28, 28]`
    /// (pixels in [0, 1]), `mu` and `logvar` `[Z]`, or `code` `[Z]`.
    pub outputs: Vec<(&'static str, Vec<usize>)>,
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

fn push_act(nodes: &mut Vec<Node>, act: Activation) {
    if act != Activation::None {
        nodes.push(Node::Act(act));
    }
}

impl Graph {
    /// `part` of the model in a weights file (its settings and tensors, as
    /// [`crate::train::read_weights`] returns them, checked).
    pub fn from_weights(saved: &SavedWeights, part: Part) -> Result<Graph, String> {
        let config = saved.config.clone().ok_or(
            "this safetensors file has no genlab settings in its header: export weights saved by genlab",
        )?;
        config.validate()?;
        let kind = config.kind;
        if !parts(kind).contains(&part) {
            return Err(format!(
                "a {kind} has no {}: export {}",
                part.name(),
                parts(kind)
                    .iter()
                    .map(|p| p.name())
                    .collect::<Vec<_>>()
                    .join(" or ")
            ));
        }
        let ae = kind == ModelKind::Autoencoder;
        // The network, the range of its layers, and the pixels at the end.
        let (net, layers) = match (part, ae) {
            (Part::Generator, _) => ("generator", None),
            (Part::Decoder, false) => ("decoder", None),
            (Part::Encoder, false) => ("encoder", None),
            (Part::Decoder, true) => ("autoencoder", Some(code_layer(&config) + 1..usize::MAX)),
            (Part::Encoder, true) => ("autoencoder", Some(0..code_layer(&config) + 1)),
        };
        let spec = network(&config, net);
        let range = layers.unwrap_or(0..usize::MAX);
        // A weight's moving average where the model keeps one (a GAN's
        // generator samples with it), else the weight.
        let take = |key: String, shape: Vec<usize>| -> Result<Tensor, String> {
            let average = saved.tensors.get(&format!("{key}.average"));
            let values = average.or_else(|| saved.tensors.get(&key)).ok_or_else(|| {
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
        let param =
            |suffix: &str, i: usize, shape: Vec<usize>| take(format!("{net}.{i}.{suffix}"), shape);
        let mut nodes = Vec::new();
        let mut shape = spec.input;
        let mut flat = true;
        let mut input = None;
        for (i, &layer) in spec.layers.iter().enumerate() {
            if i >= range.end {
                break;
            }
            let [c, h, w] = shape;
            if !range.contains(&i) {
                shape = match layer {
                    LayerSpec::Dense { out, .. } => [out, 1, 1],
                    LayerSpec::Conv {
                        c_out, k, stride, ..
                    } => [c_out, same(h, k, stride).0, same(w, k, stride).0],
                    LayerSpec::ConvTranspose { c_out, stride, .. } => {
                        [c_out, h * stride, w * stride]
                    }
                    LayerSpec::Reshape(to) => to,
                    LayerSpec::Label { classes } => [c + classes, h, w],
                    LayerSpec::MinibatchStd { .. } => [c + 1, h, w],
                    _ => shape,
                };
                continue;
            }
            if input.is_none() {
                // This part starts here: digits (shown as images) or latents.
                input = Some(if part == Part::Encoder {
                    if h * w == 1 {
                        nodes.push(Node::Flatten);
                    } else {
                        flat = false;
                    }
                    vec![1, SIDE, SIDE]
                } else {
                    vec![c * h * w]
                });
            }
            match layer {
                LayerSpec::Label { .. } => {
                    return Err(format!(
                    "{net}.{i}: a class-label input; genlab does not export conditional models yet"
                ))
                }
                LayerSpec::MinibatchStd { .. } => {
                    // A discriminator's layer: genlab exports G, decoders and encoders.
                    return Err(format!(
                        "{net}.{i}: a minibatch standard deviation, which looks across a batch; a sampler has none"
                    ));
                }
                LayerSpec::Dense { out, bias, act } => {
                    if !flat {
                        nodes.push(Node::Flatten);
                        flat = true;
                    }
                    nodes.push(Node::Linear {
                        weight: param("weight", i, vec![out, c * h * w])?,
                        bias: bias.then(|| param("bias", i, vec![out])).transpose()?,
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
                        return Err(format!("{net}.{i}: a convolution of a flat input"));
                    }
                    let (h_out, top, bottom) = same(h, k, stride);
                    let (w_out, left, right) = same(w, k, stride);
                    nodes.push(Node::Conv {
                        weight: param("weight", i, vec![c_out, c, k, k])?,
                        bias: bias.then(|| param("bias", i, vec![c_out])).transpose()?,
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
                            "{net}.{i}: a transposed convolution of a flat input"
                        ));
                    }
                    // The 'same' convolution from the output's shape back to the input's.
                    let (_, top, bottom) = same(h * stride, k, stride);
                    let (_, left, right) = same(w * stride, k, stride);
                    nodes.push(Node::ConvTranspose {
                        weight: param("weight", i, vec![c, c_out, k, k])?,
                        bias: bias.then(|| param("bias", i, vec![c_out])).transpose()?,
                        stride,
                        crops: [top, left, bottom, right],
                    });
                    push_act(&mut nodes, act);
                    shape = [c_out, h * stride, w * stride];
                }
                LayerSpec::BatchNorm => nodes.push(Node::BatchNorm {
                    weight: param("gamma", i, vec![c])?,
                    bias: param("beta", i, vec![c])?,
                    mean: param("running_mean", i, vec![c])?,
                    var: param("running_var", i, vec![c])?,
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
        let input = input.ok_or_else(|| format!("{net} has no layers to export"))?;
        let len = shape.iter().product::<usize>();
        let outputs = match part {
            Part::Encoder if !ae => {
                // A VAE's encoder ends in its μ and log σ² heads.
                if !flat {
                    nodes.push(Node::Flatten);
                }
                let z = config.latent;
                let head = |name: &'static str| -> Result<Head, String> {
                    Ok(Head {
                        name,
                        weight: take(format!("encoder.{name}.weight"), vec![z, len])?,
                        bias: Some(take(format!("encoder.{name}.bias"), vec![z])?),
                    })
                };
                nodes.push(Node::Heads(vec![head("mu")?, head("logvar")?]));
                vec![("mu", vec![z]), ("logvar", vec![z])]
            }
            Part::Encoder => vec![("code", vec![len])],
            _ => {
                if len != SIDE * SIDE {
                    return Err(format!("{net} draws {shape:?}, not a 28×28 digit"));
                }
                if flat {
                    nodes.push(Node::Unflatten([1, SIDE, SIDE]));
                }
                nodes.push(Node::Pixels(if kind.is_gan() {
                    Pixels::Tanh
                } else {
                    Pixels::Sigmoid
                }));
                vec![("images", vec![1, SIDE, SIDE])]
            }
        };
        Ok(Graph {
            config,
            part,
            input_name: if part == Part::Encoder { "x" } else { "z" },
            input,
            outputs,
            nodes,
            step: saved.step.unwrap_or(0) as u64,
        })
    }

    /// A line for the files' headers: what this is and where it came from.
    pub fn description(&self) -> String {
        let dims = |d: &[usize]| {
            d.iter()
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let outputs: Vec<String> = self
            .outputs
            .iter()
            .map(|(n, d)| format!("{n} [N, {}]", dims(d)))
            .collect();
        let pixels = if self.part == Part::Encoder {
            ""
        } else {
            " (pixels in [0, 1])"
        };
        format!(
            "genlab {} {} (step {}): {} [N, {}] → {}{pixels}",
            self.config.kind,
            self.part.name(),
            self.step,
            self.input_name,
            dims(&self.input),
            outputs.join(", ")
        )
    }
}

/// An export's files: (file name, contents).
pub type Files = Vec<(String, Vec<u8>)>;

/// The files of `format` for `parts` (all of the model's when empty) of the
/// model in a weights file. ONNX: `{stem}-{part}.onnx` each; PyTorch:
/// `{stem}-{part}.safetensors` each and one `model.py`.
pub fn export(
    saved: &SavedWeights,
    format: Format,
    stem: &str,
    only: &[Part],
) -> Result<Files, String> {
    let kind = saved
        .config
        .as_ref()
        .ok_or("this safetensors file has no genlab settings in its header: export weights saved by genlab")?
        .kind;
    let chosen: Vec<Part> = if only.is_empty() {
        parts(kind).to_vec()
    } else {
        only.to_vec()
    };
    let graphs = chosen
        .iter()
        .map(|&p| Graph::from_weights(saved, p))
        .collect::<Result<Vec<_>, _>>()?;
    match format {
        Format::Onnx => graphs
            .iter()
            .map(|g| Ok((format!("{stem}-{}.onnx", g.part.name()), onnx::write(g)?)))
            .collect(),
        Format::Pytorch => pytorch::write(&graphs, stem),
    }
}
