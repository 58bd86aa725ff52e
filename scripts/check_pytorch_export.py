#!/usr/bin/env python3
"""The PyTorch export, checked with real PyTorch: for each part in
model.py's PARTS, builds its Sequential, loads its state dict with
strict=True, and compares its outputs with genlab's own from the same
inputs (reference-{part}.safetensors, written by
`genlab export DIR --format pytorch --out FOLDER --reference 16`).

CI cannot install PyTorch (its wheels pull GPU libraries); run this wherever
PyTorch is:
    genlab train --model dcgan --steps 200 --out runs/dcgan
    genlab export runs/dcgan --format pytorch --out runs/dcgan/pytorch --reference 16
    python3 scripts/check_pytorch_export.py runs/dcgan/pytorch
Needs torch and safetensors."""
import importlib.util
import os
import sys

import safetensors.torch
import torch

TOLERANCE = 1e-4


def main():
    folder = sys.argv[1]
    spec = importlib.util.spec_from_file_location("exported_model", os.path.join(folder, "model.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    for part, p in mod.PARTS.items():
        net = mod.build(part)
        state = safetensors.torch.load_file(os.path.join(folder, p["weights"]))
        result = net.load_state_dict(state, strict=True)
        print(f"ok: {part}: strict load_state_dict of {p['weights']} ({result})")
        net.eval()
        ref = safetensors.torch.load_file(os.path.join(folder, f"reference-{part}.safetensors"))
        with torch.no_grad():
            out = net(ref["input"])
        outs = out if isinstance(out, tuple) else (out,)
        for (name, _), o in zip(p["outputs"], outs):
            diff = float((o - ref[name]).abs().max())
            print(f"torch {torch.__version__}: {part} {name} {tuple(o.shape)}, max |diff| from genlab's {diff:.2e}")
            if o.shape != ref[name].shape or diff > TOLERANCE:
                sys.exit(f"PyTorch does not compute genlab's {part} {name} (max |diff| {diff:.2e} > {TOLERANCE})")
    print("ok: PyTorch computes genlab's outputs from the same inputs")


if __name__ == "__main__":
    main()
