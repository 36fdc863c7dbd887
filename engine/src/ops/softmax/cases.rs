//! Gradcheck cases of the softmax family.

use crate::ops::op_case::{indices, normal, OpCase};
use crate::{Result, Tensor};

/// A `[2, 4]` Mask SoftMax table of `like`'s dtype and device: row 0 keeps columns 0-1, row 1
/// columns 2-3; `off` elsewhere (`ln(1e-8)` as the authors, or `-inf`).
fn mask_table(off: f64, like: &Tensor) -> Result<Tensor> {
    let v = [0.0, 0.0, off, off, off, off, 0.0, 0.0];
    Tensor::from_f64s(&v, &[2, 4], like.dtype()).to_device(like.device())
}

fn masked(x: &[Tensor], off: f64) -> Result<Tensor> {
    x[0].masked_softmax(&x[1], &mask_table(off, &x[0])?)
}

/// The family's cases.
pub(crate) fn gradcheck_cases() -> Vec<OpCase> {
    vec![
        OpCase {
            op: "softmax",
            what: "[3,4] along axis 1",
            inputs: |r| vec![normal(r, &[3, 4])],
            f: |x| x[0].softmax(1),
        },
        OpCase {
            op: "softmax",
            what: "[3,1,2] along axis 0",
            inputs: |r| vec![normal(r, &[3, 1, 2])],
            f: |x| x[0].softmax(0),
        },
        OpCase {
            op: "log_softmax",
            what: "[2,5] along axis -1",
            inputs: |r| vec![normal(r, &[2, 5])],
            f: |x| x[0].log_softmax(-1),
        },
        OpCase {
            op: "log_softmax_backward",
            what: "y [3,4], g [3,4] along axis 0",
            inputs: |r| vec![normal(r, &[3, 4]), normal(r, &[3, 4])],
            f: |x| x[0].log_softmax_backward(&x[1], 0),
        },
        OpCase {
            op: "softmax_backward",
            what: "y [3,4], g [3,4] along axis 1",
            inputs: |r| vec![normal(r, &[3, 4]), normal(r, &[3, 4])],
            f: |x| x[0].softmax_backward(&x[1], 1),
        },
        OpCase {
            op: "softmax_backward",
            what: "y [2,3,2], g [2,3,2] along axis 1 (not last)",
            inputs: |r| vec![normal(r, &[2, 3, 2]), normal(r, &[2, 3, 2])],
            f: |x| x[0].softmax_backward(&x[1], 1),
        },
        OpCase {
            op: "masked_softmax",
            what: "[3,4] logits, 2 labels, mask ln(1e-8)",
            inputs: |r| vec![normal(r, &[3, 4]), indices(r, &[3], 2)],
            f: |x| masked(x, 1e-8f64.ln()),
        },
        OpCase {
            op: "masked_softmax",
            what: "[4,4] logits of a transposed view, exact mask (-inf)",
            inputs: |r| vec![normal(r, &[4, 4]), indices(r, &[4], 2)],
            f: |x| masked(&[x[0].t()?, x[1].clone()], f64::NEG_INFINITY),
        },
        OpCase {
            op: "logsumexp",
            what: "[3,4] along axis 1",
            inputs: |r| vec![normal(r, &[3, 4])],
            f: |x| x[0].logsumexp(1, false),
        },
        OpCase {
            op: "logsumexp",
            what: "[2,3,2] along axis 1 keepdim",
            inputs: |r| vec![normal(r, &[2, 3, 2])],
            f: |x| x[0].logsumexp(1, true),
        },
    ]
}
