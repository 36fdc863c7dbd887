//! The ops of `bench ops` at the shapes they have inside B1 (ConvNet-4, 1x28x28) and B2
//! (VGG-16, 3x32x32), batch 100: the three convolution ops at every distinct 3x3 layer shape,
//! the heads' linear layers, and batch norm (training mode), ReLU and 2x2 max pooling at every
//! activation shape; softmax, log-softmax, the focal loss (gamma 2, soft targets) and Mask
//! SoftMax at the auxiliary head's width. `benches/torch_ops.py` builds the same list.

use anyhow::Result;
use maxl::hierarchy::Hierarchy;
use maxl::losses::{focal_loss, mask_softmax};
use maxl_engine::{batch_norm, DType, Rng, Tensor};

/// One op at one shape.
pub struct OpCase {
    pub op: &'static str,
    pub config: &'static str,
    /// Multiply-adds times 2 of the forward pass, where defined.
    pub flops: Option<f64>,
    /// The inputs that gradients are taken for.
    pub inputs: Vec<Tensor>,
    /// The op of those inputs (labels, targets and masks captured).
    f: OpFn,
}

/// An op of its differentiated inputs.
type OpFn = Box<dyn Fn(&[Tensor]) -> maxl_engine::Result<Tensor>>;

impl OpCase {
    /// The op's output at `inputs` (shaped as [`Self::inputs`]).
    pub fn apply(&self, inputs: &[Tensor]) -> maxl_engine::Result<Tensor> {
        (self.f)(inputs)
    }

    /// The shapes of the differentiated inputs, `100x64x32x32,64x64x3x3,64`: with `op` and
    /// `config`, the key that pairs a figure with PyTorch's.
    pub fn shape_key(&self) -> String {
        self.inputs
            .iter()
            .map(|t| {
                t.shape()
                    .iter()
                    .map(usize::to_string)
                    .collect::<Vec<_>>()
                    .join("x")
            })
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// Every op name, in the order of the cases.
pub const OPS: [&str; 11] = [
    "conv2d",
    "conv_transpose2d",
    "conv2d_weight",
    "linear",
    "batch_norm",
    "relu",
    "max_pool2d",
    "softmax",
    "log_softmax",
    "focal_loss",
    "mask_softmax",
];

/// The shapes of one configuration: 3x3 layers `(c, k, side)`, activation shapes `(c, side)`,
/// head layers `(in, out)`, primary classes, psi.
struct Shapes {
    layers: &'static [(usize, usize, usize)],
    acts: &'static [(usize, usize)],
    heads: &'static [(usize, usize)],
    classes: usize,
    psi: usize,
}

fn shapes(config: &str) -> Shapes {
    if config == "b1" {
        Shapes {
            layers: &[(1, 32, 28), (32, 64, 14), (64, 128, 7), (128, 256, 3)],
            acts: &[(32, 28), (64, 14), (128, 7), (256, 3)],
            heads: &[(256, 256), (256, 30)],
            classes: 10,
            psi: 3,
        }
    } else {
        Shapes {
            layers: &[
                (3, 64, 32),
                (64, 64, 32),
                (64, 128, 16),
                (128, 128, 16),
                (128, 256, 8),
                (256, 256, 8),
                (256, 512, 4),
                (512, 512, 4),
                (512, 512, 2),
            ],
            acts: &[(64, 32), (128, 16), (256, 8), (512, 4), (512, 2)],
            heads: &[(512, 512), (512, 100)],
            classes: 20,
            psi: 5,
        }
    }
}

const ONE: [usize; 2] = [1, 1];

fn conv2d(x: &[Tensor]) -> maxl_engine::Result<Tensor> {
    x[0].conv2d(&x[1], Some(&x[2]), ONE, ONE, ONE)
}

fn conv_transpose2d(x: &[Tensor]) -> maxl_engine::Result<Tensor> {
    x[0].conv_transpose2d(&x[1], None, ONE, ONE, [0, 0], ONE)
}

fn conv2d_weight(x: &[Tensor]) -> maxl_engine::Result<Tensor> {
    x[0].conv2d_weight(&x[1], [3, 3], ONE, ONE, ONE)
}

fn linear(x: &[Tensor]) -> maxl_engine::Result<Tensor> {
    x[0].linear(&x[1], Some(&x[2]))
}

fn batch_norm_train(x: &[Tensor]) -> maxl_engine::Result<Tensor> {
    Ok(batch_norm(&x[0], None, None, Some(&x[1]), Some(&x[2]), true, 0.1, 1e-5)?.0)
}

fn relu(x: &[Tensor]) -> maxl_engine::Result<Tensor> {
    x[0].relu()
}

fn max_pool2d(x: &[Tensor]) -> maxl_engine::Result<Tensor> {
    x[0].max_pool2d([2, 2], [2, 2], [0, 0])
}

fn softmax(x: &[Tensor]) -> maxl_engine::Result<Tensor> {
    x[0].softmax(1)
}

fn log_softmax(x: &[Tensor]) -> maxl_engine::Result<Tensor> {
    x[0].log_softmax(1)
}

/// Every case of `config` (`b1` or `b2`) whose op is in `ops` (all when empty), at batch
/// `batch` (100 for the figures; tests use less), inputs drawn from a generator seeded 0.
pub fn cases(config: &'static str, ops: &[String], batch: usize) -> Result<Vec<OpCase>> {
    let s = shapes(config);
    let n = batch;
    let mut rng = Rng::new(0);
    let mut randn = |shape: &[usize]| -> Result<Tensor> {
        Ok(Tensor::randn(shape, DType::F32, &mut rng).set_requires_grad(true)?)
    };
    let mut out = Vec::new();
    let wanted = |op: &str| ops.is_empty() || ops.iter().any(|o| o == op);
    let mut push = |op: &'static str, flops, inputs, f: OpFn| {
        out.push(OpCase {
            op,
            config,
            flops,
            inputs,
            f,
        })
    };
    type F = fn(&[Tensor]) -> maxl_engine::Result<Tensor>;
    for &(c, k, side) in s.layers {
        let flops = Some(2.0 * (n * c * k * 9 * side * side) as f64);
        let convs: [(&'static str, F, [Vec<usize>; 2]); 3] = [
            ("conv2d", conv2d, [vec![n, c, side, side], vec![k, c, 3, 3]]),
            (
                "conv_transpose2d",
                conv_transpose2d,
                [vec![n, k, side, side], vec![k, c, 3, 3]],
            ),
            (
                "conv2d_weight",
                conv2d_weight,
                [vec![n, c, side, side], vec![n, k, side, side]],
            ),
        ];
        for (op, f, [a, b]) in convs {
            if wanted(op) {
                let mut inputs = vec![randn(&a)?, randn(&b)?];
                if op == "conv2d" {
                    inputs.push(randn(&[k])?);
                }
                push(op, flops, inputs, Box::new(f));
            }
        }
    }
    if wanted("linear") {
        for &(i, o) in s.heads {
            let inputs = vec![randn(&[n, i])?, randn(&[o, i])?, randn(&[o])?];
            push(
                "linear",
                Some(2.0 * (n * i * o) as f64),
                inputs,
                Box::new(linear),
            );
        }
    }
    for &(c, side) in s.acts {
        let act = [n, c, side, side];
        if wanted("batch_norm") {
            let inputs = vec![randn(&act)?, randn(&[c])?, randn(&[c])?];
            push("batch_norm", None, inputs, Box::new(batch_norm_train));
        }
        if wanted("relu") {
            push("relu", None, vec![randn(&act)?], Box::new(relu));
        }
        if wanted("max_pool2d") {
            push("max_pool2d", None, vec![randn(&act)?], Box::new(max_pool2d));
        }
    }
    let aux = s.classes * s.psi;
    let head: [(&'static str, F); 2] = [("softmax", softmax), ("log_softmax", log_softmax)];
    for (op, f) in head {
        if wanted(op) {
            push(op, None, vec![randn(&[n, aux])?], Box::new(f));
        }
    }
    if wanted("focal_loss") {
        let targets = Tensor::randn(&[n, aux], DType::F32, &mut Rng::new(1)).softmax(1)?;
        let f = move |x: &[Tensor]| focal_loss(&x[0], &targets, 2.0);
        push("focal_loss", None, vec![randn(&[n, aux])?], Box::new(f));
    }
    if wanted("mask_softmax") {
        let mut r = Rng::new(2);
        let labels: Vec<i64> = (0..n).map(|_| r.below(s.classes) as i64).collect();
        let labels = Tensor::from_vec(labels, &[n])?;
        let h = Hierarchy::balanced(s.psi, s.classes)?;
        let f = move |x: &[Tensor]| mask_softmax(&x[0], &labels, &h, false);
        push("mask_softmax", None, vec![randn(&[n, aux])?], Box::new(f));
    }
    Ok(out)
}
