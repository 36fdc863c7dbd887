#!/usr/bin/env python3
"""PyTorch reference for benchmark configuration B1 of MODELS.md (ConvNet-4, 1x28x28, batch 100).

Figures (seconds per step, median of >= 10 timed runs after 3 warm-ups):
  single_s  single-task step: forward, cross-entropy, backward, SGD step
            (lr 0.1, momentum 0.9, weight decay 5e-4).
  meta_s    second-order step on the same network: cross-entropy, grad(create_graph=True),
            fast weights p - 0.01 g, functional forward at the fast weights (BatchNorm on batch
            statistics, running buffers left alone), cross-entropy, backward to p.
  stage1_s  MAXL stage-1 step (psi = [3] * 10): generator labels under no_grad, both heads,
            primary + auxiliary focal loss, backward, SGD on theta1.
  stage2_s  MAXL stage-2 meta step: the same loss, grad(create_graph), fast weights
            theta1 - 0.1 g, primary focal at the fast weights + 0.2 x entropy, backward to
            theta2, SGD on theta2.

Prints one JSON object.
"""

import argparse
import json
import os
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.func import functional_call

BATCH = 100
CLASSES = 10
WARMUP = 3
RUNS = 10
SEED = 0
INNER_LR = 0.01


# --------------------------------------------------------------------------- networks

def conv_block(cin, cout):
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=1, padding=1, bias=True),
        nn.BatchNorm2d(cout, eps=1e-5, momentum=0.1),
        nn.ReLU(inplace=False),
        nn.MaxPool2d(2, 2),
    )


class ConvNet4Trunk(nn.Module):
    """4 x (conv3x3 -> BN -> ReLU -> pool 2x2), channels 32, 64, 128, 256, then flatten."""

    def __init__(self, in_ch=1):
        super().__init__()
        chans = [in_ch, 32, 64, 128, 256]
        self.blocks = nn.Sequential(*[conv_block(a, b) for a, b in zip(chans, chans[1:])])

    def forward(self, x):
        return torch.flatten(self.blocks(x), 1)


def head(features, n):
    return nn.Sequential(nn.Linear(features, 256), nn.ReLU(), nn.Linear(256, n))


class SingleTask(nn.Module):
    """Single-task baseline: trunk + primary head (28x28 input -> F = 256)."""

    def __init__(self, classes=CLASSES):
        super().__init__()
        self.trunk = ConvNet4Trunk(1)
        self.head = head(256, classes)

    def forward(self, x):
        return self.head(self.trunk(x))


# --------------------------------------------------------------------------- steps
# Each make_* builds its network/data/optimiser once and returns a zero-argument step
# function; `measure` times that function. A new figure is one make_* plus one FIGURES entry.

def make_batch(device):
    gen = torch.Generator(device="cpu").manual_seed(SEED)
    x = torch.randn(BATCH, 1, 28, 28, generator=gen).to(device)
    y = torch.randint(0, CLASSES, (BATCH,), generator=gen).to(device)
    return x, y


def make_single(device):
    torch.manual_seed(SEED)
    model = SingleTask().to(device).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    x, y = make_batch(device)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return step


def make_meta(device):
    torch.manual_seed(SEED)
    model = SingleTask().to(device).train()
    names = [n for n, _ in model.named_parameters()]
    params = [p for _, p in model.named_parameters()]
    x, y = make_batch(device)

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


PSI = 3          # auxiliary classes per primary class: psi = [3] * 10
AUX = PSI * CLASSES
GAMMA = 2.0
ENTROPY_WEIGHT = 0.2


class MultiTask(nn.Module):
    """MAXL multi-task network: one trunk, a primary head and an auxiliary head."""

    def __init__(self):
        super().__init__()
        self.trunk = ConvNet4Trunk(1)
        self.primary = head(256, CLASSES)
        self.aux = head(256, AUX)

    def forward(self, x):
        f = self.trunk(x)
        return self.primary(f), self.aux(f)


class LabelGenerator(nn.Module):
    """MAXL label generator: own trunk, head(sum psi), Mask SoftMax (stable, the 1e-8 form)."""

    def __init__(self):
        super().__init__()
        self.trunk = ConvNet4Trunk(1)
        self.head = head(256, AUX)
        mask = torch.full((CLASSES, AUX), 1e-8)
        for i in range(CLASSES):
            mask[i, i * PSI:(i + 1) * PSI] = 1.0
        self.register_buffer("log_mask", mask.log())

    def forward(self, x, y):
        return F.softmax(self.head(self.trunk(x)) + self.log_mask[y], dim=1)


def focal(logits, target):
    logp = F.log_softmax(logits, dim=1)
    return -(target * (1 - logp.exp()) ** GAMMA * logp).sum(1).mean()


def entropy(probs):
    pbar = probs.mean(0)
    return (pbar * (pbar + 1e-20).log()).sum()


def make_maxl(device):
    torch.manual_seed(SEED)
    mt = MultiTask().to(device).train()
    gen = LabelGenerator().to(device).train()
    opt1 = torch.optim.SGD(mt.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    opt2 = torch.optim.SGD(gen.parameters(), lr=1e-3, weight_decay=5e-4)
    x, y = make_batch(device)
    onehot = F.one_hot(y, CLASSES).float()
    return mt, gen, opt1, opt2, x, y, onehot


def make_stage1(device):
    # Generator soft labels under no_grad, both heads, primary + auxiliary focal loss,
    # backward, SGD on theta1.
    mt, gen, opt1, _, x, y, onehot = make_maxl(device)

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


def make_stage2(device):
    # Forward generator and multi-task net, the same loss, grad(create_graph), fast weights
    # theta1 - 0.1 g, forward at the fast weights (batch statistics, running buffers left
    # alone), primary focal + 0.2 x entropy, backward to theta2, SGD on theta2.
    mt, gen, _, opt2, x, y, onehot = make_maxl(device)
    names = [n for n, _ in mt.named_parameters()]
    params = [p for _, p in mt.named_parameters()]

    def step():
        opt2.zero_grad(set_to_none=True)
        aux_t = gen(x, y)
        p, a = mt(x)
        inner = focal(p, onehot) + focal(a, aux_t)
        grads = torch.autograd.grad(inner, params, create_graph=True)
        fast = {n: w - 0.1 * g for n, w, g in zip(names, params, grads)}
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


# --------------------------------------------------------------------------- timing

def sync(device):
    if device == "cuda":
        torch.cuda.synchronize()


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


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                   help="intra-op CPU threads (default: all cores)")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--runs", type=int, default=RUNS, help="timed runs per figure (min 10)")
    p.add_argument("--json", action="store_true", help="JSON only (the default output too)")
    args = p.parse_args()

    torch.set_num_threads(args.threads)
    if args.device == "cuda":
        if not torch.cuda.is_available():
            sys.exit("CUDA not available to this PyTorch build")
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False

    out = {}
    for name, make in FIGURES:
        step = make(args.device)
        if step is not None:
            out[name] = measure(step, args.device, runs=max(args.runs, RUNS))
    out.update(threads=torch.get_num_threads(), device=args.device, impl="torch")
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
