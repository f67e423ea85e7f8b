"""Benchmark of validation's batched PyTorch training: steps per second, CPU and CUDA.

Trains B independent networks of n samples, m neurons, d input dimensions (dense float64
inputs, the real network of docs/math/model.rst) for a fixed number of gradient-descent steps with
:func:`validation.training.train`, and prints a table: device, dtype, B, n, m, d, steps/s
of the batch and per-run steps/s (= B × steps/s). Every step costs two batched products
of size ``B m n d`` (forward ``W Xᵀ`` and backward ``∂L/∂U · X``), ~4 B m n d flops.

With CUDA available the same batch runs on the GPU and the GPU/CPU ratio of per-run
throughput is printed; otherwise the line "cuda: not available (GPU check owed)".

Usage::

    python benchmarks/bench_validation.py                 # B = 256, n = 1000, m = 40, d = n
    python benchmarks/bench_validation.py --steps 5 --batch 64
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np


def measure(device: str, dtype: str, B: int, n: int, m: int, d: int, steps: int, seed: int = 0) -> dict:
    """Steps per second of one batch (after one warm-up call of 2 steps)."""
    from validation.data import orthogonal_inputs
    from validation.training import train

    rng = np.random.default_rng(seed)
    X = orthogonal_inputs(np.ones(n), d, seed=seed)
    y = np.where(rng.random(n) < 0.5, 1.0, -1.0)
    W = rng.standard_normal((B, m, d)) / np.sqrt(d)
    a = rng.standard_normal((B, m))
    options = dict(step_size=0.05, checkpoints=4, record_residuals=False, device=device, dtype=dtype, threads=None)
    train(X, y, W, a, 1e-8, max_steps=2, **options)  # warm-up: allocations, kernels, BLAS threads
    start = time.perf_counter()
    result = train(X, y, W, a, 1e-8, max_steps=steps, **options)
    wall = time.perf_counter() - start
    rate = result.steps_run / result.wall_seconds
    return {
        "device": result.device,
        "dtype": dtype,
        "B": B,
        "n": n,
        "m": m,
        "d": d,
        "steps": result.steps_run,
        "seconds": result.wall_seconds,
        "call_seconds": wall,
        "steps_per_s": rate,
        "run_steps_per_s": rate * B,
        "gflops": 4.0 * B * m * n * d * rate / 1e9,
    }


def main(argv=None) -> int:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=256, help="B, runs per batch (default 256)")
    parser.add_argument("-n", type=int, default=1000, help="samples (default 1000)")
    parser.add_argument("-m", type=int, default=40, help="neurons (default 40)")
    parser.add_argument("-d", type=int, default=None, help="input dimension (default n)")
    parser.add_argument("--steps", type=int, default=5, help="timed steps on CPU (default 5)")
    parser.add_argument("--gpu-steps", type=int, default=200, help="timed steps on CUDA (default 200)")
    parser.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    args = parser.parse_args(argv)
    d = args.n if args.d is None else args.d

    print(f"validation training benchmark: torch {torch.__version__}, numpy {np.__version__}, "
          f"python {platform.python_version()}, {platform.machine()}, CPU threads {torch.get_num_threads()}")
    print("one step = forward W X^T, loss 1/(2n) sum r^2, autograd backward, masked update; ~4 B m n d flops\n")
    rows = [measure("cpu", args.dtype, args.batch, args.n, args.m, d, args.steps)]
    rows.append(measure("cpu", args.dtype, 1, args.n, args.m, d, max(args.steps, 20)))
    cuda = torch.cuda.is_available()
    if cuda:
        rows.append(measure("cuda", args.dtype, args.batch, args.n, args.m, d, args.gpu_steps))
        rows.append(measure("cuda", args.dtype, 1, args.n, args.m, d, args.gpu_steps))
    header = f"{'device':>7} {'dtype':>8} {'B':>5} {'n':>6} {'m':>4} {'d':>6} {'steps':>6} {'s':>8} " \
             f"{'steps/s':>9} {'run-steps/s':>12} {'GFLOP/s':>8}"
    print(header)
    for row in rows:
        print(f"{row['device']:>7} {row['dtype']:>8} {row['B']:>5} {row['n']:>6} {row['m']:>4} {row['d']:>6} "
              f"{row['steps']:>6} {row['seconds']:>8.3f} {row['steps_per_s']:>9.3f} {row['run_steps_per_s']:>12.1f} "
              f"{row['gflops']:>8.2f}")
    print()
    if cuda:
        ratio = rows[2]["run_steps_per_s"] / rows[0]["run_steps_per_s"]
        print(f"cuda: {torch.cuda.get_device_name(0)}; per-run throughput GPU/CPU at B = {args.batch}: {ratio:.1f}x; "
              f"batching on the GPU: B = {args.batch} vs B = 1 per-run {rows[2]['run_steps_per_s'] / rows[3]['run_steps_per_s']:.1f}x")
    else:
        print("cuda: not available (GPU check owed)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
