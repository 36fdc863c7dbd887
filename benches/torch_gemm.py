#!/usr/bin/env python3
"""PyTorch reference for `maxl-cli bench gemm`: square f32 matmul throughput.

For each n, 3 warm-ups, then at least 10 timed runs (and at least 0.5 s in all);
the figure is the median. gflops = 2 n^3 / median / 1e9. One JSON object a line.
"""

import argparse
import json
import os
import statistics
import sys
import time

import torch

MIN_RUNS = 10
MIN_TOTAL_S = 0.5
WARMUP = 3


def sync(device):
    if device == "cuda":
        torch.cuda.synchronize()


def time_matmul(n, device):
    gen = torch.Generator(device="cpu").manual_seed(n)
    a = torch.randn(n, n, generator=gen, dtype=torch.float32).to(device)
    b = torch.randn(n, n, generator=gen, dtype=torch.float32).to(device)
    out = torch.empty(n, n, dtype=torch.float32, device=device)
    for _ in range(WARMUP):
        torch.matmul(a, b, out=out)
    sync(device)
    times = []
    total = 0.0
    while len(times) < MIN_RUNS or total < MIN_TOTAL_S:
        sync(device)
        t0 = time.perf_counter()
        torch.matmul(a, b, out=out)
        sync(device)
        dt = time.perf_counter() - t0
        times.append(dt)
        total += dt
    return statistics.median(times), len(times)


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                   help="intra-op CPU threads (default: all cores)")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--json", action="store_true", help="JSON lines only (the default output too)")
    args = p.parse_args()

    torch.set_num_threads(args.threads)
    if args.device == "cuda":
        if not torch.cuda.is_available():
            sys.exit("CUDA not available to this PyTorch build")
        torch.backends.cuda.matmul.allow_tf32 = False  # plain f32, as the engine computes

    sizes = [256, 512, 1024, 2048] + ([4096] if args.device == "cuda" else [])
    for n in sizes:
        median, runs = time_matmul(n, args.device)
        rec = {
            "n": n,
            "gflops": round(2.0 * n ** 3 / median / 1e9, 3),
            "median_s": median,
            "threads": torch.get_num_threads(),
            "device": args.device,
            "impl": "torch",
        }
        if not args.json:
            rec["runs"] = runs
        print(json.dumps(rec), flush=True)


if __name__ == "__main__":
    main()
