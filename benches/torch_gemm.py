#!/usr/bin/env python3
"""PyTorch reference for `maxl-cli bench gemm`: square f32 matmul throughput.

CPU (default): n = 256, 512, 1024, 2048. For each n, 3 warm-ups, then at least 10 timed runs
(and at least 0.5 s in all) of one matmul each, timed with perf_counter; the figure is the
median. gflops = 2 n^3 / median / 1e9. One JSON object a line:
  n, gflops, median_s, threads, device, impl [, runs without --json]

CUDA (--device cuda; cuBLAS): n = 1024, 2048, 4096, each twice: first with TF32 off (plain
f32, "tf32": false, the figure to compare with an f32 engine), then with TF32 allowed
("tf32": true, tensor cores with 10-bit mantissa inputs). Timed with CUDA events: a timed run
is `inner` matmuls back to back (inner sized so that a run takes >= ~1 ms of GPU time, at most
100), queued behind a short GPU spin so that the CPU's launch overhead stays out of the
figure; median_s is the median over runs of run time / inner, after 3 warm-ups, >= 10 runs and
>= 0.5 s of timed GPU time. Each line adds gpu, tf32 and inner.

--sizes 512,1024 overrides the sizes.
"""

import argparse
import json
import math
import os
import statistics
import sys
import time

import torch

MIN_RUNS = 10
MIN_TOTAL_S = 0.5
WARMUP = 3
CUDA_MIN_RUN_S = 1e-3     # GPU time one timed run aims at
CUDA_MAX_INNER = 100      # matmuls per timed run at most
CUDA_SPIN_CYCLES = 5_000_000   # ~3 ms at H100 clocks: covers queueing CUDA_MAX_INNER matmuls

CPU_SIZES = [256, 512, 1024, 2048]
CUDA_SIZES = [1024, 2048, 4096]


def operands(n, device):
    gen = torch.Generator(device="cpu").manual_seed(n)
    a = torch.randn(n, n, generator=gen, dtype=torch.float32).to(device)
    b = torch.randn(n, n, generator=gen, dtype=torch.float32).to(device)
    out = torch.empty(n, n, dtype=torch.float32, device=device)
    return a, b, out


def time_matmul_cpu(n):
    a, b, out = operands(n, "cpu")
    for _ in range(WARMUP):
        torch.matmul(a, b, out=out)
    times = []
    total = 0.0
    while len(times) < MIN_RUNS or total < MIN_TOTAL_S:
        t0 = time.perf_counter()
        torch.matmul(a, b, out=out)
        dt = time.perf_counter() - t0
        times.append(dt)
        total += dt
    return statistics.median(times), len(times), 1


def time_matmul_cuda(n):
    a, b, out = operands(n, "cuda")
    for _ in range(WARMUP):
        torch.matmul(a, b, out=out)
    torch.cuda.synchronize()
    start = torch.cuda.Event(enable_timing=True)
    end = torch.cuda.Event(enable_timing=True)
    spin = getattr(torch.cuda, "_sleep", None)  # private but long-standing; skipped if absent

    def run(inner):
        if spin is not None:
            spin(CUDA_SPIN_CYCLES)  # the GPU spins while the CPU queues the timed launches
        start.record()
        for _ in range(inner):
            torch.matmul(a, b, out=out)
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1e3  # ms -> s

    # Calibrate: the best of three runs of 10 matmuls sizes `inner`.
    one = min(run(10) for _ in range(3)) / 10
    inner = max(1, min(CUDA_MAX_INNER, math.ceil(CUDA_MIN_RUN_S / max(one, 1e-7))))
    times = []
    total = 0.0
    while len(times) < MIN_RUNS or total < MIN_TOTAL_S:
        dt = run(inner)
        times.append(dt / inner)
        total += dt
    return statistics.median(times), len(times), inner


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                   help="intra-op CPU threads (default: all cores)")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--sizes", type=str, default=None,
                   help="comma-separated n (default: %s on cpu, %s on cuda)"
                   % (",".join(map(str, CPU_SIZES)), ",".join(map(str, CUDA_SIZES))))
    p.add_argument("--json", action="store_true", help="JSON lines only (the default output too)")
    args = p.parse_args()

    torch.set_num_threads(args.threads)
    cuda = args.device == "cuda"
    if cuda and not torch.cuda.is_available():
        sys.exit("CUDA not available to this PyTorch build (torch %s, CUDA %s)"
                 % (torch.__version__, torch.version.cuda))
    if args.sizes:
        sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    else:
        sizes = CUDA_SIZES if cuda else CPU_SIZES

    # (tf32 setting, timer): CPU has no TF32 switch here and prints no tf32 field.
    if cuda:
        gpu = torch.cuda.get_device_name(0)
        # Not torch.backends.cudnn: convolutions play no part in a matmul.
        variants = [(False, time_matmul_cuda), (True, time_matmul_cuda)]
    else:
        variants = [(None, time_matmul_cpu)]

    for n in sizes:
        for tf32, timer in variants:
            if tf32 is not None:
                torch.backends.cuda.matmul.allow_tf32 = tf32
            median, runs, inner = timer(n)
            rec = {
                "n": n,
                "gflops": round(2.0 * n ** 3 / median / 1e9, 3),
                "median_s": median,
                "threads": torch.get_num_threads(),
                "device": args.device,
                "impl": "torch",
            }
            if cuda:
                rec.update(gpu=gpu, tf32=bool(torch.backends.cuda.matmul.allow_tf32),
                           inner=inner)
            if not args.json:
                rec["runs"] = runs
            print(json.dumps(rec), flush=True)


if __name__ == "__main__":
    main()
