//! Gradcheck cases of the focal-loss family: the loss (gamma 2 as MAXL, 0, and a fractional
//! gamma), soft and one-hot targets, and its fused backward (with gamma 1, whose exponent
//! `gamma - 1` is 0, and a fractional one).

use crate::ops::op_case::{normal, uniform, OpCase};
use crate::Tensor;

/// Soft targets (rows need not sum to 1: the loss is linear in them).
fn soft(r: &mut crate::Rng, shape: &[usize]) -> Tensor {
    uniform(r, shape, 0.05, 1.0)
}

/// The family's cases.
pub(crate) fn gradcheck_cases() -> Vec<OpCase> {
    vec![
        OpCase {
            op: "focal_loss",
            what: "[3,4], soft targets, gamma 2",
            inputs: |r| vec![normal(r, &[3, 4]), soft(r, &[3, 4])],
            f: |x| x[0].focal_loss(&x[1], 2.0),
        },
        OpCase {
            op: "focal_loss",
            what: "[2,5], soft targets, gamma 0 (cross-entropy)",
            inputs: |r| vec![normal(r, &[2, 5]), soft(r, &[2, 5])],
            f: |x| x[0].focal_loss(&x[1], 0.0),
        },
        OpCase {
            op: "focal_loss",
            what: "[4,3] transposed logits, one-hot targets (constant), gamma 1.5",
            inputs: |r| vec![normal(r, &[3, 4])],
            f: |x| {
                let onehot = [0., 1., 0., 0., 0., 1., 1., 0., 0., 0., 0., 1.];
                let t =
                    Tensor::from_f64s(&onehot, &[4, 3], x[0].dtype()).to_device(x[0].device())?;
                x[0].t()?.focal_loss(&t, 1.5)
            },
        },
        OpCase {
            op: "focal_loss_backward",
            what: "[3,4], u [3], gamma 2",
            inputs: |r| vec![normal(r, &[3, 4]), soft(r, &[3, 4]), normal(r, &[3])],
            f: |x| x[0].focal_loss_backward(&x[1], &x[2], 2.0),
        },
        OpCase {
            op: "focal_loss_backward",
            what: "[2,3], u [2], gamma 1",
            inputs: |r| vec![normal(r, &[2, 3]), soft(r, &[2, 3]), normal(r, &[2])],
            f: |x| x[0].focal_loss_backward(&x[1], &x[2], 1.0),
        },
        OpCase {
            op: "focal_loss_backward",
            what: "[2,4], u broadcast from [1], gamma 0.5",
            inputs: |r| vec![normal(r, &[2, 4]), soft(r, &[2, 4]), normal(r, &[1])],
            f: |x| x[0].focal_loss_backward(&x[1], &x[2].broadcast_to(&[2])?, 0.5),
        },
    ]
}
