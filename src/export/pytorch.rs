//! An exported network as a PyTorch state dict: a safetensors file whose
//! tensors have their real shapes and the names of a `torch.nn.Sequential`
//! of standard modules, and the `model.py` that builds that Sequential.
//!
//! `model.py` holds the module list as data (`LAYERS`) and the state dict's
//! names and shapes (`EXPECTED`), and imports torch only to build the
//! model, so that a checker without PyTorch can read both (genlab's test
//! suite does, with NumPy: scripts/check_export.py).

use super::{Graph, Node, Pixels, Tensor};
use crate::core::Activation;
use std::collections::HashMap;
use std::fmt::Write;

/// One module of the Sequential: its class, its arguments (Python source),
/// and its tensors (state-dict suffix, tensor).
struct Module<'a> {
    class: &'static str,
    args: String,
    tensors: Vec<(&'static str, &'a Tensor)>,
}

fn module<'a>(class: &'static str, args: String) -> Module<'a> {
    Module {
        class,
        args,
        tensors: Vec::new(),
    }
}

fn py_bool(b: bool) -> &'static str {
    if b {
        "True"
    } else {
        "False"
    }
}

fn modules(g: &Graph) -> Vec<Module<'_>> {
    let mut out = Vec::new();
    for node in &g.nodes {
        match node {
            Node::Linear { weight, bias } => {
                let mut m = module(
                    "Linear",
                    format!(
                        "in_features={}, out_features={}, bias={}",
                        weight.shape[1],
                        weight.shape[0],
                        py_bool(bias.is_some())
                    ),
                );
                m.tensors.push(("weight", weight));
                if let Some(b) = bias {
                    m.tensors.push(("bias", b));
                }
                out.push(m);
            }
            Node::Conv {
                weight,
                bias,
                stride,
                pads: [t, l, b, r],
            } => {
                if [t, l, b, r].iter().any(|&&p| p > 0) {
                    out.push(module("ZeroPad2d", format!("padding=({l}, {r}, {t}, {b})")));
                }
                let mut m = module(
                    "Conv2d",
                    format!(
                        "in_channels={}, out_channels={}, kernel_size={}, stride={stride}, padding=0, bias={}",
                        weight.shape[1],
                        weight.shape[0],
                        weight.shape[2],
                        py_bool(bias.is_some())
                    ),
                );
                m.tensors.push(("weight", weight));
                if let Some(b) = bias {
                    m.tensors.push(("bias", b));
                }
                out.push(m);
            }
            Node::ConvTranspose {
                weight,
                bias,
                stride,
                crops: [t, l, b, r],
            } => {
                let mut m = module(
                    "ConvTranspose2d",
                    format!(
                        "in_channels={}, out_channels={}, kernel_size={}, stride={stride}, padding=0, bias={}",
                        weight.shape[0],
                        weight.shape[1],
                        weight.shape[2],
                        py_bool(bias.is_some())
                    ),
                );
                m.tensors.push(("weight", weight));
                if let Some(b) = bias {
                    m.tensors.push(("bias", b));
                }
                out.push(m);
                // Negative padding crops (TensorFlow's 'same' crops less before than after).
                if [t, l, b, r].iter().any(|&&p| p > 0) {
                    out.push(module(
                        "ZeroPad2d",
                        format!("padding=(-{l}, -{r}, -{t}, -{b})"),
                    ));
                }
            }
            Node::BatchNorm {
                weight,
                bias,
                mean,
                var,
                eps,
                spatial,
            } => {
                let mut m = module(
                    if *spatial {
                        "BatchNorm2d"
                    } else {
                        "BatchNorm1d"
                    },
                    format!("num_features={}, eps={eps:e}", weight.shape[0]),
                );
                m.tensors.extend([
                    ("weight", weight),
                    ("bias", bias),
                    ("running_mean", mean),
                    ("running_var", var),
                ]);
                out.push(m);
            }
            Node::Act(act) => match act {
                Activation::None => {}
                Activation::Relu => out.push(module("ReLU", String::new())),
                Activation::LeakyRelu(a) => {
                    out.push(module("LeakyReLU", format!("negative_slope={a:?}")))
                }
                Activation::Tanh => out.push(module("Tanh", String::new())),
                Activation::Sigmoid => out.push(module("Sigmoid", String::new())),
            },
            Node::Flatten => out.push(module("Flatten", String::new())),
            Node::Unflatten([c, h, w]) => out.push(module(
                "Unflatten",
                format!("dim=1, unflattened_size=({c}, {h}, {w})"),
            )),
            Node::Pixels(p) => out.push(module(
                "Pixels",
                format!(
                    "kind={:?}",
                    match p {
                        Pixels::Tanh => "tanh",
                        Pixels::Sigmoid => "sigmoid",
                    }
                ),
            )),
        }
    }
    out
}

/// The safetensors file (the state dict of `model.py`'s `build()`) and
/// `model.py` itself, which loads `weights_file` when run.
pub fn write(g: &Graph, weights_file: &str) -> Result<(Vec<u8>, String), String> {
    let mods = modules(g);
    // The state dict: every module's tensors under "{index}.{name}", and
    // batch norm's count of batches seen (PyTorch's own buffer).
    let mut floats: Vec<(String, &Tensor)> = Vec::new();
    let mut counts: Vec<String> = Vec::new();
    for (i, m) in mods.iter().enumerate() {
        for (suffix, t) in &m.tensors {
            floats.push((format!("{i}.{suffix}"), t));
        }
        if m.class.starts_with("BatchNorm") {
            counts.push(format!("{i}.num_batches_tracked"));
        }
    }
    let float_bytes: Vec<Vec<u8>> = floats
        .iter()
        .map(|(_, t)| t.values.iter().flat_map(|v| v.to_le_bytes()).collect())
        .collect();
    let step = (g.step as i64).to_le_bytes();
    let mut views = Vec::new();
    for ((name, t), data) in floats.iter().zip(&float_bytes) {
        let view =
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, t.shape.clone(), data)
                .map_err(|e| format!("tensor {name}: {e}"))?;
        views.push((name.clone(), view));
    }
    for name in &counts {
        let view = safetensors::tensor::TensorView::new(safetensors::Dtype::I64, vec![], &step)
            .map_err(|e| format!("tensor {name}: {e}"))?;
        views.push((name.clone(), view));
    }
    let mut meta = HashMap::new();
    meta.insert("format".to_string(), "pt".to_string());
    meta.insert("genlab.export".to_string(), g.description());
    let weights = safetensors::serialize(views, Some(meta))
        .map_err(|e| format!("writing safetensors: {e}"))?;

    let mut py = String::new();
    let _ = writeln!(
        py,
        r#""""{desc}.

Exported by `genlab export --format pytorch`, with the weights in
{weights_file}. Load and sample:

    import torch, safetensors.torch, model
    net = model.build()
    net.load_state_dict(safetensors.torch.load_file("{weights_file}"), strict=True)
    net.eval()
    images = net(torch.randn(16, *model.INPUT))  # [16, 1, 28, 28] in [0, 1]

`python model.py` does the same and writes samples.png (with Pillow).
Every module is one of torch.nn's except Pixels (no parameters), which
maps the last output to pixels. LAYERS and EXPECTED are plain data, so
that a checker without PyTorch can read them.
"""

# The model's input per sample ({input}) and output per sample.
INPUT = ({input_dims},)
OUTPUT = (1, 28, 28)
# Genlab's settings of the model.
SETTINGS = {settings}
# The Sequential's modules: (torch.nn class, keyword arguments).
LAYERS = ["#,
        desc = g.description(),
        input = g.input_name(),
        input_dims = g
            .input
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join(", "),
        settings = python_dict(&g.config.to_pairs()),
    );
    for m in &mods {
        let _ = writeln!(py, "    ({:?}, dict({})),", m.class, m.args);
    }
    let _ = writeln!(
        py,
        "]\n# The state dict: every tensor's name, shape and dtype.\nEXPECTED = {{"
    );
    for (name, t) in &floats {
        let dims: Vec<String> = t.shape.iter().map(|d| d.to_string()).collect();
        let _ = writeln!(
            py,
            "    {name:?}: (({}{}), \"float32\"),",
            dims.join(", "),
            if dims.len() == 1 { "," } else { "" }
        );
    }
    for name in &counts {
        let _ = writeln!(py, "    {name:?}: ((), \"int64\"),");
    }
    py.push_str(PY_TAIL.replace("WEIGHTS_FILE", weights_file).as_str());
    Ok((weights, py))
}

fn python_dict(pairs: &[(&str, String)]) -> String {
    let items: Vec<String> = pairs.iter().map(|(k, v)| format!("{k:?}: {v:?}")).collect();
    format!("{{{}}}", items.join(", "))
}

const PY_TAIL: &str = r#"}


def build():
    """The torch.nn.Sequential of LAYERS (imports torch)."""
    import torch
    from torch import nn

    class Pixels(nn.Module):
        """The last output as pixels in [0, 1]: (y + 1) / 2 for tanh, sigmoid for logits."""

        def __init__(self, kind):
            super().__init__()
            self.kind = kind

        def forward(self, y):
            if self.kind == "tanh":
                return ((y + 1) * 0.5).clamp(0, 1)
            return torch.sigmoid(y)

    return nn.Sequential(*[Pixels(**kw) if name == "Pixels" else getattr(nn, name)(**kw) for name, kw in LAYERS])


if __name__ == "__main__":
    import torch
    import safetensors.torch

    net = build()
    net.load_state_dict(safetensors.torch.load_file("WEIGHTS_FILE"), strict=True)
    net.eval()
    with torch.no_grad():
        x = torch.randn(64, *INPUT) if len(INPUT) == 1 else torch.rand(64, *INPUT)
        images = net(x)
    print("images", tuple(images.shape), float(images.min()), float(images.max()))
    try:
        from PIL import Image

        grid = images.reshape(8, 8, 28, 28).permute(0, 2, 1, 3).reshape(224, 224)
        Image.fromarray((grid * 255).round().byte().numpy(), "L").save("samples.png")
        print("wrote samples.png")
    except ImportError:
        pass
"#;
