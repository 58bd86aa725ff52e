#!/usr/bin/env python3
"""Checks genlab's exports against genlab's own samples, on the CPU.

For each model: trains it briefly (`genlab train`), exports every part (a
GAN's generator; a VAE's or the autoencoder's decoder and encoder) as ONNX
and as PyTorch state dicts (`genlab export --reference 16`), then, per part:
  - runs the ONNX file in ONNX Runtime on the inputs genlab used and
    compares every output (images, or an encoder's mu and logvar or code)
    with genlab's (max |difference| <= 1e-4);
  - checks that the part's safetensors holds exactly the names, shapes and
    dtypes model.py declares (PARTS[part]["expected"]), and that a NumPy
    forward pass that follows PyTorch's documented semantics for each module
    of PARTS[part]["layers"] reproduces genlab's outputs (<= 1e-4);
  - checks that genlab's own weights file stores real shapes.
With PyTorch installed, scripts/check_pytorch_export.py runs the strict
load_state_dict and the same comparison with real PyTorch.

Usage: scripts/check_export.py GENLAB_BINARY [WORK_DIR]
Needs numpy and onnxruntime (scripts/setup.sh installs them in target/py)."""
import importlib.util
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
import onnxruntime as ort

TOLERANCE = 1e-4
# Each model briefly trained: a few steps at small sizes (the check is about
# the export's arithmetic, not the quality of the model).
MODELS = {
    "mlp-gan": ["--hidden", "32"],
    "dcgan": ["--width", "8", "--batch", "16"],
    "mlp-vae": ["--hidden", "64"],
    "conv-vae": ["--width", "8", "--batch", "16"],
    "ae": [],
}
DTYPES = {"F32": np.float32, "I64": np.int64}


def read_safetensors(path):
    """{name: array} and the header's metadata, from the format's spec."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    out = {}
    for name, info in header.items():
        a, b = info["data_offsets"]
        out[name] = np.frombuffer(data[8 + n + a:8 + n + b], dtype=DTYPES[info["dtype"]]).reshape(info["shape"])
    return out, meta


def load_module(path):
    spec = importlib.util.spec_from_file_location("exported_model", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# PyTorch's modules, in NumPy (float64), as torch.nn documents them (eval mode).
def conv2d(x, w, b, stride):
    n, c, h, wd = x.shape
    o, _, k, _ = w.shape
    ho, wo = (h - k) // stride + 1, (wd - k) // stride + 1
    y = np.zeros((n, o, ho, wo))
    for i in range(k):
        for j in range(k):
            patch = x[:, :, i:i + stride * (ho - 1) + 1:stride, j:j + stride * (wo - 1) + 1:stride]
            y += np.einsum("nchw,oc->nohw", patch, w[:, :, i, j])
    return y if b is None else y + b[None, :, None, None]


def conv_transpose2d(x, w, b, stride):
    n, _, h, wd = x.shape
    _, o, k, _ = w.shape
    y = np.zeros((n, o, (h - 1) * stride + k, (wd - 1) * stride + k))
    for i in range(k):
        for j in range(k):
            y[:, :, i:i + stride * (h - 1) + 1:stride, j:j + stride * (wd - 1) + 1:stride] += \
                np.einsum("nihw,io->nohw", x, w[:, :, i, j])
    return y if b is None else y + b[None, :, None, None]


def zero_pad2d(x, padding):
    l, r, t, b = padding
    x = np.pad(x, ((0, 0), (0, 0), (max(t, 0), max(b, 0)), (max(l, 0), max(r, 0))))
    h, w = x.shape[2], x.shape[3]
    return x[:, :, max(-t, 0):h - max(-b, 0), max(-l, 0):w - max(-r, 0)]


def numpy_forward(layers, state, x):
    """The outputs of model.py's Sequential on x: one array, or a tuple (Heads)."""
    x = x.astype(np.float64)
    for i, (name, kw) in enumerate(layers):
        p = lambda s: state[f"{i}.{s}"].astype(np.float64)  # noqa: E731
        has_bias = kw.get("bias", False)
        if name == "Linear":
            x = x @ p("weight").T + (p("bias") if has_bias else 0)
        elif name == "Conv2d":
            assert kw["padding"] == 0
            x = conv2d(x, p("weight"), p("bias") if has_bias else None, kw["stride"])
        elif name == "ConvTranspose2d":
            assert kw["padding"] == 0
            x = conv_transpose2d(x, p("weight"), p("bias") if has_bias else None, kw["stride"])
        elif name == "ZeroPad2d":
            x = zero_pad2d(x, kw["padding"])
        elif name in ("BatchNorm1d", "BatchNorm2d"):
            shape = (1, -1) + (1,) * (x.ndim - 2)
            x = (x - p("running_mean").reshape(shape)) / np.sqrt(p("running_var").reshape(shape) + kw["eps"]) \
                * p("weight").reshape(shape) + p("bias").reshape(shape)
        elif name == "ReLU":
            x = np.maximum(x, 0)
        elif name == "LeakyReLU":
            x = np.where(x >= 0, x, kw["negative_slope"] * x)
        elif name == "Tanh":
            x = np.tanh(x)
        elif name == "Sigmoid":
            x = 1 / (1 + np.exp(-x))
        elif name == "Flatten":
            x = x.reshape(x.shape[0], -1)
        elif name == "Unflatten":
            x = x.reshape((x.shape[0],) + tuple(kw["unflattened_size"]))
        elif name == "Heads":
            return tuple(x @ p(f"{h}.weight").T + (p(f"{h}.bias") if kw["bias"] else 0) for h in kw["names"])
        elif name == "Pixels":
            x = np.clip((x + 1) * 0.5, 0, 1) if kw["kind"] == "tanh" else 1 / (1 + np.exp(-x))
        else:
            raise AssertionError(f"module {i}: {name} has no NumPy reference here")
    return x


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)
    print(f"ok: {msg}")


def run(cmd):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def main():
    genlab = sys.argv[1]
    work = sys.argv[2] if len(sys.argv) > 2 else tempfile.mkdtemp(prefix="genlab-export-")
    for model, flags in MODELS.items():
        d = os.path.join(work, model)
        run([genlab, "train", "--model", model, "--steps", "20", "--backend", "cpu", "--held-out", "64",
             "--out", d, *flags])
        weights, _ = read_safetensors(os.path.join(d, "weights.safetensors"))
        shaped = [n for n, a in weights.items() if a.ndim > 1]
        check(shaped, f"{model}: genlab's weights file stores real shapes ({len(shaped)} tensors of 2 or more dimensions)")

        onnx_dir = os.path.join(d, "onnx")
        run([genlab, "export", d, "--format", "onnx", "--out", onnx_dir, "--reference", "16"])
        parts = sorted(f[len(f"genlab-{model}-"):-len(".onnx")] for f in os.listdir(onnx_dir) if f.endswith(".onnx"))
        want_parts = ["generator"] if model.endswith("gan") else ["decoder", "encoder"]
        check(parts == want_parts, f"{model}: ONNX files for {parts}")
        for part in parts:
            ref, _ = read_safetensors(os.path.join(onnx_dir, f"reference-{part}.safetensors"))
            session = ort.InferenceSession(os.path.join(onnx_dir, f"genlab-{model}-{part}.onnx"),
                                           providers=["CPUExecutionProvider"])
            (inp,) = session.get_inputs()
            names = [o.name for o in session.get_outputs()]
            outs = session.run(names, {inp.name: ref["input"]})
            diffs = {n: float(np.abs(o - ref[n]).max()) for n, o in zip(names, outs)}
            check(all(o.shape == ref[n].shape for n, o in zip(names, outs)) and max(diffs.values()) <= TOLERANCE,
                  f"{model} {part}: ONNX Runtime {ort.__version__} computes genlab's {'/'.join(names)} from the same {inp.name} "
                  f"(max |diff| {max(diffs.values()):.2e})")

        torch_dir = os.path.join(d, "pytorch")
        run([genlab, "export", d, "--format", "pytorch", "--out", torch_dir, "--reference", "16"])
        mod = load_module(os.path.join(torch_dir, "model.py"))
        check(sorted(mod.PARTS) == want_parts, f"{model}: model.py builds {sorted(mod.PARTS)}")
        for part, spec in mod.PARTS.items():
            state, meta = read_safetensors(os.path.join(torch_dir, spec["weights"]))
            got = {n: (tuple(a.shape), a.dtype.name) for n, a in state.items()}
            want = {n: (tuple(s), t) for n, (s, t) in spec["expected"].items()}
            check(got == want and meta.get("format") == "pt",
                  f"{model} {part}: {spec['weights']} holds exactly the names, shapes and dtypes model.py declares ({len(got)} tensors)")
            ref, _ = read_safetensors(os.path.join(torch_dir, f"reference-{part}.safetensors"))
            out = numpy_forward(spec["layers"], state, ref["input"])
            outs = out if isinstance(out, tuple) else (out,)
            names = [n for n, _ in spec["outputs"]]
            diff = max(float(np.abs(o - ref[n]).max()) for n, o in zip(names, outs))
            check(all(o.shape == ref[n].shape for n, o in zip(names, outs)) and diff <= TOLERANCE,
                  f"{model} {part}: PyTorch's semantics (in NumPy) over model.py's modules compute genlab's {'/'.join(names)} "
                  f"(max |diff| {diff:.2e})")
    print(f"export check passed in {work}")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        sys.exit(f"export check failed: {e}")
