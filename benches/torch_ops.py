"""PyTorch's side of `maxl-cli bench ops`: each op at the shapes it has inside B1 (ConvNet-4,
1x28x28) and B2 (VGG-16, 3x32x32), batch 100, timed for gradients of order 1 to 3.

The ops and shapes are those of cli/src/bench/op_cases.rs: conv2d, conv_transpose2d and
conv2d_weight (torch.nn.grad.conv2d_weight) at every distinct 3x3 layer shape; the heads'
linear layers; batch norm (training mode), ReLU and 2x2 max pooling at every activation shape;
softmax, log-softmax, the focal loss (gamma 2, soft targets) and Mask SoftMax (the 1e-8 mask)
at the auxiliary head's width. For an order k one chain is

  fwd   y = f(x)
  bwd   g1 = torch.autograd.grad(y, x, u, create_graph=k > 1)
  bwd2  g2 = torch.autograd.grad(g1, (x, u), v, create_graph=k > 2)      (k >= 2)
  bwd3  g3 = torch.autograd.grad(g2, (x, u, v), w)                       (k = 3)

with fixed random cotangents u, v, w (each differentiated by the next level, as in
gradgradcheck; outputs that depend on nothing differentiable are left out of the next level).
Each figure is the median over the timed chains of that level's seconds. One JSON object per
(op, shape, order), with the same keys as `maxl-cli bench ops --json`; where PyTorch cannot
differentiate that often (batch_norm at order 3) the object has an `error` instead.

    python benches/torch_ops.py [--order 2] [--ops conv2d,relu] [--config b1|b2|all] --threads 2
"""

import argparse
import json
import os
import statistics
import time

import torch
import torch.nn.functional as F

BATCH = 100
OPS = ["conv2d", "conv_transpose2d", "conv2d_weight", "linear", "batch_norm", "relu",
       "max_pool2d", "softmax", "log_softmax", "focal_loss", "mask_softmax"]

SHAPES = {
    "b1": dict(layers=[(1, 32, 28), (32, 64, 14), (64, 128, 7), (128, 256, 3)],
               acts=[(32, 28), (64, 14), (128, 7), (256, 3)],
               heads=[(256, 256), (256, 30)], classes=10, psi=3),
    "b2": dict(layers=[(3, 64, 32), (64, 64, 32), (64, 128, 16), (128, 128, 16), (128, 256, 8),
                       (256, 256, 8), (256, 512, 4), (512, 512, 4), (512, 512, 2)],
               acts=[(64, 32), (128, 16), (256, 8), (512, 4), (512, 2)],
               heads=[(512, 512), (512, 100)], classes=20, psi=5),
}


class Case:
    def __init__(self, op, config, flops, inputs, f):
        self.op, self.config, self.flops, self.inputs, self.f = op, config, flops, inputs, f

    def shape_key(self):
        return ",".join("x".join(str(d) for d in t.shape) for t in self.inputs)


def cases(config, ops, batch=BATCH):
    s = SHAPES[config]
    n = batch
    torch.manual_seed(0)
    randn = lambda *shape: torch.randn(*shape).requires_grad_(True)
    wanted = lambda op: not ops or op in ops
    out = []
    for c, k, side in s["layers"]:
        flops = 2.0 * n * c * k * 9 * side * side
        if wanted("conv2d"):
            out.append(Case("conv2d", config, flops,
                            [randn(n, c, side, side), randn(k, c, 3, 3), randn(k)],
                            lambda x: F.conv2d(x[0], x[1], x[2], padding=1)))
        if wanted("conv_transpose2d"):
            out.append(Case("conv_transpose2d", config, flops,
                            [randn(n, k, side, side), randn(k, c, 3, 3)],
                            lambda x: F.conv_transpose2d(x[0], x[1], padding=1)))
        if wanted("conv2d_weight"):
            out.append(Case("conv2d_weight", config, flops,
                            [randn(n, c, side, side), randn(n, k, side, side)],
                            lambda x, c=c, k=k: torch.nn.grad.conv2d_weight(
                                x[0], (k, c, 3, 3), x[1], padding=1)))
    if wanted("linear"):
        for i, o in s["heads"]:
            out.append(Case("linear", config, 2.0 * n * i * o, [randn(n, i), randn(o, i), randn(o)],
                            lambda x: F.linear(x[0], x[1], x[2])))
    for c, side in s["acts"]:
        if wanted("batch_norm"):
            out.append(Case("batch_norm", config, None,
                            [randn(n, c, side, side), randn(c), randn(c)],
                            lambda x: F.batch_norm(x[0], None, None, x[1], x[2], training=True,
                                                   momentum=0.1, eps=1e-5)))
        if wanted("relu"):
            out.append(Case("relu", config, None, [randn(n, c, side, side)], lambda x: F.relu(x[0])))
        if wanted("max_pool2d"):
            out.append(Case("max_pool2d", config, None, [randn(n, c, side, side)],
                            lambda x: F.max_pool2d(x[0], 2, 2)))
    aux = s["classes"] * s["psi"]
    if wanted("softmax"):
        out.append(Case("softmax", config, None, [randn(n, aux)], lambda x: F.softmax(x[0], 1)))
    if wanted("log_softmax"):
        out.append(Case("log_softmax", config, None, [randn(n, aux)],
                        lambda x: F.log_softmax(x[0], 1)))
    if wanted("focal_loss"):
        targets = F.softmax(torch.randn(n, aux), 1)

        def focal(x, t=targets):
            logp = F.log_softmax(x[0], 1)
            return -(t * (1 - logp.exp()) ** 2.0 * logp).sum(1).mean()

        out.append(Case("focal_loss", config, None, [randn(n, aux)], focal))
    if wanted("mask_softmax"):
        labels = torch.randint(0, s["classes"], (n,))
        mask = torch.full((s["classes"], aux), 1e-8)
        for i in range(s["classes"]):
            mask[i, i * s["psi"]:(i + 1) * s["psi"]] = 1.0
        log_mask = mask.log()
        out.append(Case("mask_softmax", config, None, [randn(n, aux)],
                        lambda x: F.softmax(x[0] + log_mask[labels], 1)))
    return out


def chain(case, order, cot, clock):
    secs = []
    t = clock()
    y = case.f(case.inputs)
    secs.append(clock() - t)
    outs, xs = [y], list(case.inputs)
    for level in range(1, order + 1):
        more = level < order
        if level not in cot:
            g = torch.Generator().manual_seed(100 + level)
            cot[level] = [torch.randn(o.shape, generator=g).requires_grad_(more) for o in outs]
        gouts = cot[level]
        t = clock()
        gs = torch.autograd.grad(outs, xs, gouts, create_graph=more, allow_unused=True)
        secs.append(clock() - t)
        if more:
            xs = xs + gouts
            outs = [g for g in gs if g is not None and g.requires_grad]
            if not outs:
                raise RuntimeError(f"{case.op} {case.shape_key()}: nothing differentiable is "
                                   f"left at order {level + 1}")
    return secs


def time_case(case, order, runs, warmup, clock):
    cot = {}
    for _ in range(warmup):
        chain(case, order, cot, clock)
    per_level = [[] for _ in range(order + 1)]
    for _ in range(max(runs, 1)):
        for i, s in enumerate(chain(case, order, cot, clock)):
            per_level[i].append(s)
    return [statistics.median_high(v) for v in per_level]


def figure(case, order, secs, clock_name, threads):
    v = {"op": case.op, "config": case.config, "shape": case.shape_key(), "order": order,
         "flops": case.flops, "total_s": sum(secs), "clock": clock_name, "threads": threads,
         "impl": "torch", "torch": torch.__version__}
    for i, s in enumerate(secs):
        v["fwd_s" if i == 0 else "bwd_s" if i == 1 else f"bwd{i}_s"] = s
    return v


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--order", type=int, choices=[1, 2, 3], default=2,
                   help="highest order timed; one object per order from 1 up to it")
    p.add_argument("--ops", type=str, default="", help="comma-separated ops (default all)")
    p.add_argument("--config", choices=["b1", "b2", "all"], default="all")
    p.add_argument("--runs", type=int, default=5, help="timed chains per figure")
    p.add_argument("--warmup", type=int, default=1, help="untimed chains before them")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--cpu-time", action="store_true",
                   help="CPU seconds of the whole process instead of wall seconds")
    p.add_argument("--device", choices=["cpu"], default="cpu")
    p.add_argument("--json", action="store_true", help="JSON lines only (the default output too)")
    a = p.parse_args()
    ops = [o for o in a.ops.split(",") if o]
    bad = [o for o in ops if o not in OPS]
    if bad:
        p.error(f"--ops: unknown op {bad[0]!r} (one of {', '.join(OPS)})")
    torch.set_num_threads(a.threads)
    clock = time.process_time if a.cpu_time else time.perf_counter
    clock_name = "cpu" if a.cpu_time else "wall"
    configs = ["b1", "b2"] if a.config == "all" else [a.config]
    for config in configs:
        for case in cases(config, ops):
            for order in range(1, a.order + 1):
                try:
                    secs = time_case(case, order, a.runs, a.warmup, clock)
                    v = figure(case, order, secs, clock_name, a.threads)
                except RuntimeError as e:  # batch_norm has no 3rd derivative in PyTorch
                    v = {"op": case.op, "config": case.config, "shape": case.shape_key(),
                         "order": order, "impl": "torch", "error": str(e).split("\n")[0]}
                print(json.dumps(v), flush=True)


if __name__ == "__main__":
    main()
