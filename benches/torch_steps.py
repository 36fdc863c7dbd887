"""Shared code of the PyTorch step benchmarks `torch_b1.py` and `torch_b2.py`.

A benchmark configuration of MODELS.md (`Config`) names a trunk, the input shape, the number
of primary classes and psi. From it this module builds the three networks (single-task,
multi-task with primary and auxiliary heads, label generator with Mask SoftMax) and the four
timed steps:

  single_s  single-task step: forward, cross-entropy, backward, SGD step
            (lr 0.1, momentum 0.9, weight decay 5e-4).
  meta_s    second-order step on the single-task network: cross-entropy,
            grad(create_graph=True), fast weights p - 0.01 g, functional forward at the fast
            weights (BatchNorm on batch statistics, running buffers left alone),
            cross-entropy, backward to p. No optimiser step.
  stage1_s  MAXL stage-1 step: generator labels under no_grad, both heads, primary +
            auxiliary focal loss, backward, SGD on theta1.
  stage2_s  MAXL stage-2 meta step: the same loss, grad(create_graph), fast weights
            theta1 - 0.1 g, primary focal at the fast weights + 0.2 x entropy, backward to
            theta2, SGD on theta2.

Each figure is the median of the timed runs (default 10) after the warm-ups (default 3), in
seconds. On CUDA every timed run is bracketed by torch.cuda.synchronize(), so a figure is the
wall time of a whole step, kernel launches included.

--steps times only some of the four; rss_start_mib and max_rss_mib are the process's resident
memory before any network was built (torch imported) and its peak at the end (Linux, from
/proc/self/status as `maxl-cli bench` reads it), so a run of `--steps stage2` alone gives the
peak memory of a stage-2 step.
"""

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import dataclass
from typing import Callable, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.func import functional_call

BATCH = 100
WARMUP = 3
RUNS = 10
SEED = 0
INNER_LR = 0.01       # alpha of meta_s
STAGE2_LR = 0.1       # alpha of stage2_s (the multi-task network's learning rate)
GAMMA = 2.0
ENTROPY_WEIGHT = 0.2


# --------------------------------------------------------------------------- configuration

@dataclass(frozen=True)
class Config:
    name: str                               # "b1", "b2"
    input: Tuple[int, int, int]             # (C, H, W)
    classes: int                            # primary classes P
    psi: Sequence[int]                      # auxiliary classes per primary class
    trunk: Callable[[int], nn.Module]       # in_channels -> trunk module ([N, F] output)
    features: int                           # F
    hidden: int                             # width of the head's hidden layer
    # Weight initialisation of MODELS.md: init(module, generator). None: PyTorch's defaults.
    init: Optional[Callable[[nn.Module, bool], None]] = None

    @property
    def aux(self):
        return sum(self.psi)


# --------------------------------------------------------------------------- trunks

def conv_bn_relu(cin, cout):
    """conv3x3 (padding 1, bias) -> BN (eps 1e-5, momentum 0.1) -> ReLU."""
    return [
        nn.Conv2d(cin, cout, 3, stride=1, padding=1, bias=True),
        nn.BatchNorm2d(cout, eps=1e-5, momentum=0.1),
        nn.ReLU(inplace=False),
    ]


def conv_block(cin, cout):
    return nn.Sequential(*conv_bn_relu(cin, cout), nn.MaxPool2d(2, 2))


class ConvNet4Trunk(nn.Module):
    """4 x (conv3x3 -> BN -> ReLU -> pool 2x2), channels 32, 64, 128, 256, then flatten."""

    def __init__(self, in_ch=1):
        super().__init__()
        chans = [in_ch, 32, 64, 128, 256]
        self.blocks = nn.Sequential(*[conv_block(a, b) for a, b in zip(chans, chans[1:])])

    def forward(self, x):
        return torch.flatten(self.blocks(x), 1)


# (channels, conv layers) per stage, each stage ending in a 2x2 max-pool, as
# maxl/src/models/vgg16.rs (STAGES) and MODELS.md: 64,64,P, 128,128,P, 256x3,P, 512x3,P, 512x3,P.
VGG16_STAGES = [(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)]


class VGG16Trunk(nn.Module):
    """13 x (conv3x3 -> BN -> ReLU) in 5 stages, a 2x2 max-pool after each; 32x32 -> 1x1x512."""

    def __init__(self, in_ch=3):
        super().__init__()
        layers, c = [], in_ch
        for out, n in VGG16_STAGES:
            for _ in range(n):
                layers += conv_bn_relu(c, out)
                c = out
            layers.append(nn.MaxPool2d(2, 2))
        self.blocks = nn.Sequential(*layers)

    def forward(self, x):
        return torch.flatten(self.blocks(x), 1)


def xavier_init(module, generator):
    """MODELS.md's VGG-16 init: conv and linear weights Xavier-uniform (multi-task and
    single-task networks) or Xavier-normal (label generator), biases 0, BN gamma 1 beta 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            (nn.init.xavier_normal_ if generator else nn.init.xavier_uniform_)(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


# --------------------------------------------------------------------------- networks

def head(features, hidden, n):
    return nn.Sequential(nn.Linear(features, hidden), nn.ReLU(), nn.Linear(hidden, n))


class SingleTask(nn.Module):
    """Single-task baseline: trunk + primary head."""

    def __init__(self, cfg):
        super().__init__()
        self.trunk = cfg.trunk(cfg.input[0])
        self.head = head(cfg.features, cfg.hidden, cfg.classes)

    def forward(self, x):
        return self.head(self.trunk(x))


class MultiTask(nn.Module):
    """MAXL multi-task network: one trunk, a primary head and an auxiliary head."""

    def __init__(self, cfg):
        super().__init__()
        self.trunk = cfg.trunk(cfg.input[0])
        self.primary = head(cfg.features, cfg.hidden, cfg.classes)
        self.aux = head(cfg.features, cfg.hidden, cfg.aux)

    def forward(self, x):
        f = self.trunk(x)
        return self.primary(f), self.aux(f)


class LabelGenerator(nn.Module):
    """MAXL label generator: own trunk, head(sum psi), Mask SoftMax (stable, the 1e-8 form)."""

    def __init__(self, cfg):
        super().__init__()
        self.trunk = cfg.trunk(cfg.input[0])
        self.head = head(cfg.features, cfg.hidden, cfg.aux)
        mask = torch.full((cfg.classes, cfg.aux), 1e-8)
        start = 0
        for i, k in enumerate(cfg.psi):
            mask[i, start:start + k] = 1.0
            start += k
        self.register_buffer("log_mask", mask.log())

    def forward(self, x, y):
        return F.softmax(self.head(self.trunk(x)) + self.log_mask[y], dim=1)


def build(cfg, cls, device, generator=False):
    net = cls(cfg)
    if cfg.init is not None:
        cfg.init(net, generator)
    return net.to(device).train()


def count_params(net):
    return sum(p.numel() for p in net.parameters())


def param_counts(cfg):
    """Parameter counts (leaves that require grad; BN running buffers not counted) of the
    three networks, as `maxl-cli` counts them."""
    torch.manual_seed(SEED)
    trunk = count_params(cfg.trunk(cfg.input[0]))
    return {
        "params_trunk": trunk,
        "params_single": count_params(SingleTask(cfg)),
        "params_multi_task": count_params(MultiTask(cfg)),
        "params_generator": count_params(LabelGenerator(cfg)),
    }


def focal(logits, target):
    logp = F.log_softmax(logits, dim=1)
    return -(target * (1 - logp.exp()) ** GAMMA * logp).sum(1).mean()


def entropy(probs):
    pbar = probs.mean(0)
    return (pbar * (pbar + 1e-20).log()).sum()


# --------------------------------------------------------------------------- steps
# Each make_* builds its network/data/optimiser once and returns a zero-argument step
# function; `measure` times that function. A new figure is one make_* plus one FIGURES entry.

def make_batch(cfg, device):
    gen = torch.Generator(device="cpu").manual_seed(SEED)
    x = torch.randn(BATCH, *cfg.input, generator=gen).to(device)
    y = torch.randint(0, cfg.classes, (BATCH,), generator=gen).to(device)
    return x, y


def make_single(cfg, device):
    torch.manual_seed(SEED)
    model = build(cfg, SingleTask, device)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    x, y = make_batch(cfg, device)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return step


def make_meta(cfg, device):
    torch.manual_seed(SEED)
    model = build(cfg, SingleTask, device)
    names = [n for n, _ in model.named_parameters()]
    params = [p for _, p in model.named_parameters()]
    x, y = make_batch(cfg, device)

    def step():
        for p in params:
            p.grad = None
        loss = F.cross_entropy(model(x), y)
        grads = torch.autograd.grad(loss, params, create_graph=True)
        fast = {n: p - INNER_LR * g for n, p, g in zip(names, params, grads)}
        # Copies of the buffers: in training mode BatchNorm normalises with batch statistics
        # and updates running stats in place; the copies take that update, so the module's
        # running buffers move once per step (in the first forward), not twice.
        bufs = {n: b.clone() for n, b in model.named_buffers()}
        meta_loss = F.cross_entropy(functional_call(model, {**fast, **bufs}, (x,)), y)
        meta_loss.backward()
        return meta_loss

    return step


def make_maxl(cfg, device):
    torch.manual_seed(SEED)
    mt = build(cfg, MultiTask, device)
    gen = build(cfg, LabelGenerator, device, generator=True)
    opt1 = torch.optim.SGD(mt.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    opt2 = torch.optim.SGD(gen.parameters(), lr=1e-3, weight_decay=5e-4)
    x, y = make_batch(cfg, device)
    onehot = F.one_hot(y, cfg.classes).float()
    return mt, gen, opt1, opt2, x, y, onehot


def make_stage1(cfg, device):
    # Generator soft labels under no_grad, both heads, primary + auxiliary focal loss,
    # backward, SGD on theta1.
    mt, gen, opt1, _, x, y, onehot = make_maxl(cfg, device)

    def step():
        with torch.no_grad():
            aux_t = gen(x, y)
        opt1.zero_grad(set_to_none=True)
        p, a = mt(x)
        loss = focal(p, onehot) + focal(a, aux_t)
        loss.backward()
        opt1.step()
        return loss

    return step


def make_stage2(cfg, device):
    # Forward generator and multi-task net, the same loss, grad(create_graph), fast weights
    # theta1 - 0.1 g, forward at the fast weights (batch statistics, running buffers left
    # alone), primary focal + 0.2 x entropy, backward to theta2, SGD on theta2.
    mt, gen, _, opt2, x, y, onehot = make_maxl(cfg, device)
    names = [n for n, _ in mt.named_parameters()]
    params = [p for _, p in mt.named_parameters()]

    def step():
        opt2.zero_grad(set_to_none=True)
        aux_t = gen(x, y)
        p, a = mt(x)
        inner = focal(p, onehot) + focal(a, aux_t)
        grads = torch.autograd.grad(inner, params, create_graph=True)
        fast = {n: w - STAGE2_LR * g for n, w, g in zip(names, params, grads)}
        bufs = {n: b.clone() for n, b in mt.named_buffers()}
        fp, _ = functional_call(mt, {**fast, **bufs}, (x,))
        meta = focal(fp, onehot) + ENTROPY_WEIGHT * entropy(aux_t)
        meta.backward()
        for w in params:
            w.grad = None
        opt2.step()
        return meta

    return step


FIGURES = [
    ("single_s", make_single),
    ("meta_s", make_meta),
    ("stage1_s", make_stage1),
    ("stage2_s", make_stage2),
]


# --------------------------------------------------------------------------- device, timing

def sync(device):
    if device == "cuda":
        torch.cuda.synchronize()


def set_tf32(allow):
    """TF32 for float32 matmuls (cuBLAS) and convolutions (cuDNN). Through the flags that every
    PyTorch since 1.7 has (newer ones map them onto their fp32_precision settings); never mix
    them with the fp32_precision API in one process."""
    torch.backends.cuda.matmul.allow_tf32 = allow
    torch.backends.cudnn.allow_tf32 = allow


def setup_cuda(tf32=False, cudnn_benchmark=False):
    """Checks CUDA, sets TF32 and cudnn.benchmark; returns the fields that describe them."""
    if not torch.cuda.is_available():
        sys.exit("CUDA not available to this PyTorch build (torch %s, CUDA %s)"
                 % (torch.__version__, torch.version.cuda))
    set_tf32(tf32)
    torch.backends.cudnn.benchmark = cudnn_benchmark
    return {
        "gpu": torch.cuda.get_device_name(0),
        "tf32": bool(torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32),
        "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
    }


def measure(step, device, warmup=WARMUP, runs=RUNS):
    for _ in range(warmup):
        step()
    sync(device)
    times = []
    for _ in range(runs):
        sync(device)
        t0 = time.perf_counter()
        step()
        sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def status_mib(field):
    """A /proc/self/status field ("VmRSS:", "VmHWM:") in MiB, or None where there is none."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field):
                    value, unit = line[len(field):].split()
                    return float(value) / 1024.0 if unit == "kB" else None
    except OSError:
        pass
    return None


def main(cfg, description, config_field=True, extra=None):
    """Parses the common options, times the four steps of `cfg`, prints one JSON object:
    [config,] single_s, meta_s, stage1_s, stage2_s, [extra...,] threads, device, impl,
    then on CUDA gpu, tf32, cudnn_benchmark, and runs/warmup when not the defaults."""
    p = argparse.ArgumentParser(description=description,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                   help="intra-op CPU threads (default: all cores)")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--runs", type=int, default=RUNS,
                   help="timed runs per figure (default %d; fewer only for smoke runs)" % RUNS)
    p.add_argument("--warmup", type=int, default=WARMUP,
                   help="warm-up runs per figure (default %d)" % WARMUP)
    p.add_argument("--tf32", action="store_true",
                   help="CUDA: allow TF32 in matmuls and convolutions (default: plain f32)")
    p.add_argument("--cudnn-benchmark", action="store_true",
                   help="CUDA: torch.backends.cudnn.benchmark = True (default: False)")
    p.add_argument("--steps", default="single,meta,stage1,stage2",
                   help="comma-separated steps to time (default all four: single,meta,stage1,stage2)")
    p.add_argument("--json", action="store_true", help="JSON only (the default output too)")
    args = p.parse_args()
    steps = [s for s in args.steps.split(",") if s]
    known = [name[:-2] for name, _ in FIGURES]
    if not steps or any(s not in known for s in steps):
        p.error("--steps takes a comma-separated list of " + ", ".join(known))
    rss_start = status_mib("VmRSS:")
    if args.runs < 1 or args.warmup < 0:
        p.error("--runs must be >= 1 and --warmup >= 0")

    torch.set_num_threads(args.threads)
    cuda_fields = {}
    if args.device == "cuda":
        cuda_fields = setup_cuda(args.tf32, args.cudnn_benchmark)

    out = {"config": cfg.name} if config_field else {}
    for name, make in FIGURES:
        if name[:-2] not in steps:
            continue
        step = make(cfg, args.device)
        out[name] = measure(step, args.device, warmup=args.warmup, runs=args.runs)
        del step
        if args.device == "cuda":
            torch.cuda.empty_cache()
    out.update(extra or {})
    out.update(threads=torch.get_num_threads(), device=args.device, impl="torch")
    out.update(rss_start_mib=rss_start, max_rss_mib=status_mib("VmHWM:"))
    out.update(cuda_fields)
    if args.runs != RUNS or args.warmup != WARMUP:
        out.update(runs=args.runs, warmup=args.warmup)
    print(json.dumps(out), flush=True)
