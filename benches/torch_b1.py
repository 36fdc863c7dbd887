#!/usr/bin/env python3
"""PyTorch reference for benchmark configuration B1 of MODELS.md (ConvNet-4, 1x28x28, batch 100,
10 classes, psi = [3] * 10). The networks and steps are in torch_steps.py (shared with
torch_b2.py); the weights keep PyTorch's default initialisation.

Figures (seconds per step, median of 10 timed runs after 3 warm-ups):
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

On CUDA: torch.cuda.synchronize() around every timed run; TF32 off (--tf32 allows it) and
cudnn.benchmark off (--cudnn-benchmark turns it on); the JSON gains gpu, tf32, cudnn_benchmark.

Prints one JSON object: single_s, meta_s, stage1_s, stage2_s, threads, device, impl.
"""

import torch_steps as ts

B1 = ts.Config(
    name="b1",
    input=(1, 28, 28),
    classes=10,
    psi=[3] * 10,
    trunk=ts.ConvNet4Trunk,
    features=256,        # 28 -> 14 -> 7 -> 3 -> 1: 256 x 1 x 1
    hidden=256,
)

if __name__ == "__main__":
    ts.main(B1, __doc__, config_field=False)
