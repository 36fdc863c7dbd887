"""How far PyTorch's own f32 CPU convolutions are from its f64 ones: the bound that the engine's
f32 convolution kernels are held to (engine/src/ops/conv/kernel_tests.rs).

For 3x3, stride-1 convolutions at the kernel tests' own shapes (their small shapes, then every
layer shape of ConvNet-4 (B1) and VGG-16 (B2) at batch 2), and at the layer shapes at batch 8,
with x ~ N(0, 1), w ~ N(0, 1 / (9 c)), a bias ~ N(0, 1) and an output gradient ~ N(0, 1):
max |f32 - f64| / max |f64| of the forward pass, the input gradient and the weight gradient.
Prints one JSON object per shape and a summary per set (the maximum over its shapes of each
direction, and of all three).

    python benches/torch_conv_error.py [--threads 2]
"""

import argparse
import json

import torch
import torch.nn.functional as F

# (n, c, k, H, W, pad): the kernel tests' small shapes; the B1 and B2 layers are (c, k, side).
TEST_SHAPES = [
    (2, 3, 5, 7, 9, 1), (1, 4, 3, 5, 5, 0), (3, 2, 2, 1, 1, 1), (2, 5, 4, 6, 11, 2),
    (1, 17, 18, 4, 4, 1), (20, 3, 2, 3, 3, 1), (2, 6, 7, 13, 10, 1), (150, 2, 3, 2, 2, 1),
    (70, 3, 2, 4, 4, 1), (2, 64, 64, 8, 8, 1), (4, 128, 32, 4, 4, 1), (3, 64, 80, 2, 2, 1),
]
LAYERS = [
    (1, 32, 28), (32, 64, 14), (64, 128, 7), (128, 256, 3),
    (3, 64, 32), (64, 64, 32), (64, 128, 16), (128, 128, 16), (128, 256, 8), (256, 256, 8),
    (256, 512, 4), (512, 512, 4), (512, 512, 2),
]


def rel_err(a, b):
    return ((a.double() - b).abs().max() / b.abs().max().clamp_min(1e-300)).item()


def errors(n, c, k, h, w, pad, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, c, h, w, generator=g, dtype=torch.float64)
    wt = torch.randn(k, c, 3, 3, generator=g, dtype=torch.float64) * (1.0 / (9 * c)) ** 0.5
    b = torch.randn(k, generator=g, dtype=torch.float64)
    ho, wo = h + 2 * pad - 2, w + 2 * pad - 2
    gy = torch.randn(n, k, ho, wo, generator=g, dtype=torch.float64)
    out = {}
    for name, f in [
        ("forward", lambda x, wt, gy: F.conv2d(x, wt, b.to(x.dtype), padding=pad)),
        ("input_grad", lambda x, wt, gy: F.conv_transpose2d(gy, wt, padding=pad)),
        ("weight_grad", lambda x, wt, gy: torch.nn.grad.conv2d_weight(x, wt.shape, gy, padding=pad)),
    ]:
        want = f(x, wt, gy)
        got = f(x.float(), wt.float(), gy.float())
        out[name] = rel_err(got, want)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    sets = {
        "test": TEST_SHAPES + [(2, c, k, s, s, 1) for c, k, s in LAYERS],
        "layers_batch8": [(8, c, k, s, s, 1) for c, k, s in LAYERS],
    }
    for name, shapes in sets.items():
        worst = {}
        for i, shape in enumerate(shapes):
            e = errors(*shape, seed=i)
            for d, v in e.items():
                worst[d] = max(worst.get(d, 0.0), v)
            print(json.dumps({"set": name, "shape": shape, **e}))
        worst["all"] = max(worst.values())
        print(json.dumps({"summary": name, "torch": torch.__version__, **worst}))


if __name__ == "__main__":
    main()
