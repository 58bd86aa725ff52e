//! Exported networks as PyTorch state dicts: per part, a safetensors file
//! whose tensors have their real shapes and the names of a
//! `torch.nn.Sequential` of standard modules; and one `model.py` that
//! builds each part's Sequential.
//!
//! `model.py` holds each part's module list as data (`layers`) and its
//! state dict's names and shapes (`expected`), and imports torch only to
//! build a model, so that a checker without PyTorch can read both (genlab's
//! test suite does, with NumPy: scripts/check_export.py).

use super::{Files, Graph, Node, Pixels, Tensor};
use crate::core::Activation;
use std::collections::HashMap;
use std::fmt::Write;

/// One module of the Sequential: its class, its arguments (Python source),
/// and its tensors (state-dict suffix, tensor).
struct Module<'a> {
    class: &'static str,
    args: String,
    tensors: Vec<(String, &'a Tensor)>,
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

/// A module with a weight and, if it has one, a bias: its arguments
/// `args` and `bias=…`, its tensors `weight` and `bias`.
fn weighted<'a>(
    class: &'static str,
    args: String,
    weight: &'a Tensor,
    bias: &'a Option<Tensor>,
) -> Module<'a> {
    let mut m = module(class, format!("{args}, bias={}", py_bool(bias.is_some())));
    m.tensors.push(("weight".into(), weight));
    m.tensors
        .extend(bias.iter().map(|b| ("bias".to_string(), b)));
    m
}

fn modules(g: &Graph) -> Vec<Module<'_>> {
    let mut out = Vec::new();
    for node in &g.nodes {
        match node {
            Node::Linear { weight, bias } => {
                let [d_out, d_in] = [weight.shape[0], weight.shape[1]];
                let args = format!("in_features={d_in}, out_features={d_out}");
                out.push(weighted("Linear", args, weight, bias));
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
                let [c_out, c_in, k] = [weight.shape[0], weight.shape[1], weight.shape[2]];
                let args = format!("in_channels={c_in}, out_channels={c_out}, kernel_size={k}, stride={stride}, padding=0");
                out.push(weighted("Conv2d", args, weight, bias));
            }
            Node::ConvTranspose {
                weight,
                bias,
                stride,
                crops: [t, l, b, r],
            } => {
                let [c_in, c_out, k] = [weight.shape[0], weight.shape[1], weight.shape[2]];
                let args = format!("in_channels={c_in}, out_channels={c_out}, kernel_size={k}, stride={stride}, padding=0");
                out.push(weighted("ConvTranspose2d", args, weight, bias));
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
                    ("weight".into(), weight),
                    ("bias".into(), bias),
                    ("running_mean".into(), mean),
                    ("running_var".into(), var),
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
            Node::Heads(heads) => {
                let names: Vec<String> = heads.iter().map(|h| format!("{:?}", h.name)).collect();
                let has_bias = heads.iter().all(|h| h.bias.is_some());
                let mut m = module(
                    "Heads",
                    format!(
                        "in_features={}, out_features={}, bias={}, names=({},)",
                        heads[0].weight.shape[1],
                        heads[0].weight.shape[0],
                        py_bool(has_bias),
                        names.join(", ")
                    ),
                );
                for h in heads {
                    m.tensors.push((format!("{}.weight", h.name), &h.weight));
                    if let Some(b) = &h.bias {
                        m.tensors.push((format!("{}.bias", h.name), b));
                    }
                }
                out.push(m);
            }
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

/// One part's state dict as a safetensors file, and its entry in model.py's `PARTS`.
fn part(g: &Graph, weights_file: &str) -> Result<(Vec<u8>, String), String> {
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

    let tuple = |d: &[usize]| {
        let items: Vec<String> = d.iter().map(|x| x.to_string()).collect();
        format!(
            "({}{})",
            items.join(", "),
            if items.len() == 1 { "," } else { "" }
        )
    };
    let mut py = String::new();
    let _ = writeln!(py, "    {:?}: dict(", g.part.name());
    let _ = writeln!(py, "        # {}", g.description());
    let _ = writeln!(py, "        weights={weights_file:?},");
    let _ = writeln!(
        py,
        "        input=({:?}, {}),",
        g.input_name,
        tuple(&g.input)
    );
    let outs: Vec<String> = g
        .outputs
        .iter()
        .map(|(n, d)| format!("({n:?}, {})", tuple(d)))
        .collect();
    let _ = writeln!(py, "        outputs=[{}],", outs.join(", "));
    let _ = writeln!(py, "        layers=[");
    for m in &mods {
        let _ = writeln!(py, "            ({:?}, dict({})),", m.class, m.args);
    }
    let _ = writeln!(py, "        ],\n        expected={{");
    for (name, t) in &floats {
        let _ = writeln!(
            py,
            "            {name:?}: ({}, \"float32\"),",
            tuple(&t.shape)
        );
    }
    for name in &counts {
        let _ = writeln!(py, "            {name:?}: ((), \"int64\"),");
    }
    let _ = writeln!(py, "        }},\n    ),");
    Ok((weights, py))
}

/// Each part's safetensors (`{stem}-{part}.safetensors`) and `model.py`.
pub fn write(graphs: &[Graph], stem: &str) -> Result<Files, String> {
    let first = graphs.first().ok_or("nothing to export")?;
    let mut files = Vec::new();
    let mut parts = String::new();
    for g in graphs {
        let name = format!("{stem}-{}.safetensors", g.part.name());
        let (weights, entry) = part(g, &name)?;
        files.push((name, weights));
        parts.push_str(&entry);
    }
    let main = first.part.name();
    let mut py = String::new();
    let _ = write!(
        py,
        r#""""genlab {kind} (step {step}), exported by `genlab export --format pytorch`.

{lines}

Each part is a torch.nn.Sequential of standard modules (and, for the last
steps, Pixels: the output as pixels in [0, 1]; Heads: dense layers side by
side, a VAE encoder's mu and logvar). Load and run:

    import torch, safetensors.torch, model
    net = model.build("{main}")
    net.load_state_dict(safetensors.torch.load_file(model.PARTS["{main}"]["weights"]), strict=True)
    net.eval()

`python model.py` does that and, for a generator or decoder, writes
samples.png (with Pillow). PARTS is plain data (each part's modules and
state dict's names, shapes and dtypes), so that a checker without PyTorch
can read it.
"""

# genlab's settings of the model.
SETTINGS = {settings}

PARTS = {{
{parts}}}
"#,
        kind = first.config.kind,
        step = first.step,
        lines = graphs
            .iter()
            .map(|g| g.description())
            .collect::<Vec<_>>()
            .join("\n"),
        settings = python_dict(&first.config.to_pairs()),
    );
    py.push_str(&PY_TAIL.replace("MAIN_PART", main));
    files.push(("model.py".to_string(), py.into_bytes()));
    Ok(files)
}

fn python_dict(pairs: &[(&str, String)]) -> String {
    let items: Vec<String> = pairs.iter().map(|(k, v)| format!("{k:?}: {v:?}")).collect();
    format!("{{{}}}", items.join(", "))
}

const PY_TAIL: &str = r#"

def build(part="MAIN_PART"):
    """The torch.nn.Sequential of PARTS[part]["layers"] (imports torch)."""
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

    class Heads(nn.Module):
        """Dense layers side by side on the same input: a tuple of outputs."""

        def __init__(self, in_features, out_features, bias, names):
            super().__init__()
            self.names = names
            for name in names:
                setattr(self, name, nn.Linear(in_features, out_features, bias=bias))

        def forward(self, x):
            return tuple(getattr(self, name)(x) for name in self.names)

    custom = {"Pixels": Pixels, "Heads": Heads}
    return nn.Sequential(*[custom[name](**kw) if name in custom else getattr(nn, name)(**kw)
                           for name, kw in PARTS[part]["layers"]])


if __name__ == "__main__":
    import safetensors.torch
    import torch

    for part, spec in PARTS.items():
        net = build(part)
        net.load_state_dict(safetensors.torch.load_file(spec["weights"]), strict=True)
        net.eval()
        name, shape = spec["input"]
        with torch.no_grad():
            x = torch.randn(64, *shape) if name == "z" else torch.rand(64, *shape)
            out = net(x)
        outs = out if isinstance(out, tuple) else (out,)
        print(part, [(n, tuple(o.shape)) for (n, _), o in zip(spec["outputs"], outs)])
        if spec["outputs"][0][0] == "images":
            try:
                from PIL import Image

                grid = out.reshape(8, 8, 28, 28).permute(0, 2, 1, 3).reshape(224, 224)
                Image.fromarray((grid * 255).round().byte().numpy(), "L").save("samples.png")
                print("wrote samples.png")
            except ImportError:
                pass
"#;
