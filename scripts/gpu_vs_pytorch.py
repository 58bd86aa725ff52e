#!/usr/bin/env python3
"""genlab's DCGAN training step on a hardware GPU (native wgpu on Vulkan)
against PyTorch eager on the same GPU, in one run: the same model (the
TensorFlow tutorial's DCGAN), the same step (one discriminator update and
one generator update, Adam 1e-4, BCE on logits), at each batch size.

    cargo build --release -p genlab-cli
    python3 scripts/gpu_vs_pytorch.py [--batches 64,256] [--steps 200]

For genlab it prints:
  - the step's GPU time (`genlab profile`, timestamp queries, one pass), its
    op table's top rows, and the largest GEMM's GFLOP/s against the GPU's
    FP32 peak (from the datasheet, for the GPUs named below);
  - the wall-clock ms/step of `genlab train` (the real loop: one submit per
    step, losses read every 50 steps).
For PyTorch: ms/step over `--steps` steps after 20 of warm-up, timed with CUDA
events around the whole loop (eager: a launch per kernel).

Needs: an NVIDIA GPU with a Vulkan driver (WGPU_BACKEND=vulkan is set), and
PyTorch with CUDA. Runs in a few minutes."""
import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GENLAB = os.path.join(ROOT, "target", "release", "genlab")
# FP32 (non-tensor-core) peaks from NVIDIA's datasheets, TFLOP/s.
FP32_PEAK = {"H100 80GB HBM3": 66.9, "H100 SXM": 66.9, "H100 PCIe": 51.2, "H100 NVL": 60.0,
             "H200": 66.9, "A100": 19.5, "L4": 30.3, "L40S": 91.6, "RTX 4090": 82.6}


def genlab(args, batch):
    env = dict(os.environ, WGPU_BACKEND=os.environ.get("WGPU_BACKEND", "vulkan"))
    prof = subprocess.run([GENLAB, "profile", "--model", "dcgan", "--batch", str(batch), "--reps", "20",
                           "--json"], env=env, check=True, capture_output=True, text=True).stdout
    p = json.loads(prof.strip().splitlines()[-1])
    table = subprocess.run([GENLAB, "profile", "--model", "dcgan", "--batch", str(batch), "--reps", "20"],
                           env=env, check=True, capture_output=True, text=True).stdout
    out = tempfile.mkdtemp()
    subprocess.run([GENLAB, "train", "--model", "dcgan", "--batch", str(batch), "--steps", str(args.steps),
                    "--backend", "gpu", "--out", out, "--samples", "16", "--held-out", "256",
                    "--log-every", "50"], env=env, check=True, capture_output=True, text=True)
    with open(os.path.join(out, "metrics.json")) as f:
        steps_per_s = json.load(f)["steps_per_second"]
    return p, table, 1000.0 / steps_per_s


def pytorch(args, batch):
    import torch
    from torch import nn
    dev = torch.device("cuda")
    torch.manual_seed(0)
    G = nn.Sequential(
        nn.Linear(100, 7 * 7 * 256, bias=False), nn.BatchNorm1d(7 * 7 * 256), nn.LeakyReLU(0.3),
        nn.Unflatten(1, (256, 7, 7)),
        nn.ConvTranspose2d(256, 128, 5, 1, 2, bias=False), nn.BatchNorm2d(128), nn.LeakyReLU(0.3),
        nn.ConvTranspose2d(128, 64, 5, 2, 2, output_padding=1, bias=False), nn.BatchNorm2d(64), nn.LeakyReLU(0.3),
        nn.ConvTranspose2d(64, 1, 5, 2, 2, output_padding=1, bias=False), nn.Tanh()).to(dev)
    D = nn.Sequential(
        nn.Conv2d(1, 64, 5, 2, 2), nn.LeakyReLU(0.3), nn.Dropout(0.3),
        nn.Conv2d(64, 128, 5, 2, 2), nn.LeakyReLU(0.3), nn.Dropout(0.3),
        nn.Flatten(), nn.Linear(128 * 7 * 7, 1)).to(dev)
    g_opt = torch.optim.Adam(G.parameters(), 1e-4)
    d_opt = torch.optim.Adam(D.parameters(), 1e-4)
    bce = nn.BCEWithLogitsLoss()
    real = torch.rand(batch, 1, 28, 28, device=dev) * 2 - 1
    ones, zeros = torch.ones(batch, 1, device=dev), torch.zeros(batch, 1, device=dev)

    def step():
        z = torch.randn(batch, 100, device=dev)
        fake = G(z)
        d_loss = bce(D(real), ones) + bce(D(fake.detach()), zeros)
        d_opt.zero_grad(set_to_none=True)
        d_loss.backward()
        d_opt.step()
        g_loss = bce(D(fake), ones)
        g_opt.zero_grad(set_to_none=True)
        g_loss.backward()
        g_opt.step()

    for _ in range(20):
        step()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(args.steps):
        step()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / args.steps, torch.cuda.get_device_name()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batches", default="64,256")
    ap.add_argument("--steps", type=int, default=200)
    args = ap.parse_args()
    if not os.path.exists(GENLAB):
        sys.exit(f"{GENLAB} is missing: cargo build --release -p genlab-cli")
    for batch in [int(b) for b in args.batches.split(",")]:
        p, table, genlab_wall = genlab(args, batch)
        torch_ms, name = pytorch(args, batch)
        print(f"== DCGAN step, batch {batch}, on {name} (genlab: {p['device']})")
        print("\n".join(table.splitlines()[:16]))
        gemm = max(p["rows"], key=lambda r: r["flops"])
        gflops = gemm["flops"] / gemm["ms"] / 1e6 if gemm["ms"] > 0 else float("nan")
        peak = next((v for k, v in FP32_PEAK.items() if k in name), None)
        share = f" = {100 * gflops / (1000 * peak):.1f}% of the FP32 peak {peak} TFLOP/s" if peak else ""
        print(f"largest GEMM: {gemm['layer']} {gemm['op']} {gemm['flops'] / 1e6:.0f} MFLOP in "
              f"{gemm['ms']:.4f} ms: {gflops:.0f} GFLOP/s{share}")
        print(f"genlab: step {p['step_ms']:.3f} ms GPU time (one pass, timestamps), "
              f"{genlab_wall:.3f} ms/step wall (genlab train, {args.steps} steps)")
        print(f"PyTorch eager: {torch_ms:.3f} ms/step (CUDA events, {args.steps} steps)")
        print(f"genlab wall / PyTorch = {genlab_wall / torch_ms:.3f}; "
              f"genlab GPU time / PyTorch = {p['step_ms'] / torch_ms:.3f}")
        print()


if __name__ == "__main__":
    main()
