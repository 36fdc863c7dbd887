#!/usr/bin/env python3
"""PyTorch reference for benchmark configuration B2 of MODELS.md (VGG-16, 3x32x32, batch 100,
20 primary classes, psi = [5] * 20, so 100 auxiliary classes). The networks and steps are in
torch_steps.py (shared with torch_b1.py).

VGG-16 as MODELS.md and maxl/src/models/vgg16.rs: 13 x (conv3x3 with bias -> BN -> ReLU) in
stages of 64,64 | 128,128 | 256,256,256 | 512,512,512 | 512,512,512 channels, a 2x2 max-pool
after each stage, so 32x32 -> 1x1x512 = F; head(n) = Linear(512, 512) -> ReLU -> Linear(512, n),
no dropout. Init: Xavier-uniform conv/linear weights (single-task and multi-task networks),
Xavier-normal (label generator), biases 0, BN gamma 1 beta 0.

Figures (seconds per step, median of 10 timed runs after 3 warm-ups; --runs/--warmup for smoke
runs, which then appear in the JSON):
  single_s  single-task step: forward, cross-entropy, backward, SGD step
            (lr 0.1, momentum 0.9, weight decay 5e-4).
  meta_s    second-order step on the single-task network: cross-entropy,
            grad(create_graph=True), fast weights p - 0.01 g, functional forward at the fast
            weights, cross-entropy, backward to p.
  stage1_s  MAXL stage-1 step: generator labels under no_grad, both heads, primary +
            auxiliary focal loss, backward, SGD on theta1.
  stage2_s  MAXL stage-2 meta step: the same loss, grad(create_graph), fast weights
            theta1 - 0.1 g, primary focal at the fast weights + 0.2 x entropy, backward to
            theta2, SGD on theta2.

On CUDA: torch.cuda.synchronize() around every timed run; TF32 off (--tf32 allows it) and
cudnn.benchmark off (--cudnn-benchmark turns it on); the JSON gains gpu, tf32, cudnn_benchmark.

Prints one JSON object: config, single_s, meta_s, stage1_s, stage2_s, params_trunk,
params_single, params_multi_task, params_generator (parameters that take gradients; BN running
statistics are buffers, not counted), threads, device, impl.
"""

import torch_steps as ts

B2 = ts.Config(
    name="b2",
    input=(3, 32, 32),
    classes=20,
    psi=[5] * 20,
    trunk=ts.VGG16Trunk,
    features=512,        # five 2x2 pools: 32 -> 1, 512 x 1 x 1
    hidden=512,
    init=ts.xavier_init,
)

if __name__ == "__main__":
    ts.main(B2, __doc__, extra=ts.param_counts(B2))
