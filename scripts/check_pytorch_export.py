#!/usr/bin/env python3
"""The PyTorch export, checked with real PyTorch: builds model.py's
Sequential, loads the state dict with strict=True, and compares its images
with genlab's own from the same inputs (reference.safetensors, written by
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
    (weights,) = [f for f in os.listdir(folder) if f.endswith(".safetensors") and f != "reference.safetensors"]
    net = mod.build()
    state = safetensors.torch.load_file(os.path.join(folder, weights))
    missing, unexpected = net.load_state_dict(state, strict=True)
    print(f"ok: strict load_state_dict of {weights} (missing {missing}, unexpected {unexpected})")
    net.eval()
    ref = safetensors.torch.load_file(os.path.join(folder, "reference.safetensors"))
    with torch.no_grad():
        images = net(ref["input"])
    diff = float((images - ref["images"]).abs().max())
    print(f"torch {torch.__version__}: images {tuple(images.shape)}, max |diff| from genlab's {diff:.2e}")
    if images.shape != ref["images"].shape or diff > TOLERANCE:
        sys.exit(f"PyTorch does not draw genlab's images (max |diff| {diff:.2e} > {TOLERANCE})")
    print("ok: PyTorch draws genlab's images from the same inputs")


if __name__ == "__main__":
    main()
