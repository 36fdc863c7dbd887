//! Gradcheck cases of the elementwise family.

use crate::ops::op_case::{away_from, distinct, normal, uniform, OpCase};
use crate::Tensor;

/// The family's cases, one or more per op.
pub(crate) fn gradcheck_cases() -> Vec<OpCase> {
    vec![
        OpCase {
            op: "add",
            what: "[3,1,4] + [2,4]",
            inputs: |r| vec![normal(r, &[3, 1, 4]), normal(r, &[2, 4])],
            f: |x| x[0].add(&x[1]),
        },
        OpCase {
            op: "add_scaled",
            what: "[3,1,4] + -0.6 [2,4]",
            inputs: |r| vec![normal(r, &[3, 1, 4]), normal(r, &[2, 4])],
            f: |x| x[0].add_scaled(&x[1], -0.6),
        },
        OpCase {
            op: "sub",
            what: "[2,3] - [3]",
            inputs: |r| vec![normal(r, &[2, 3]), normal(r, &[3])],
            f: |x| x[0].sub(&x[1]),
        },
        OpCase {
            op: "mul",
            what: "[2,1,3] * [4,3]",
            inputs: |r| vec![normal(r, &[2, 1, 3]), normal(r, &[4, 3])],
            f: |x| x[0].mul(&x[1]),
        },
        OpCase {
            op: "mul",
            what: "x * x (shared input)",
            inputs: |r| vec![normal(r, &[5])],
            f: |x| x[0].mul(&x[0]),
        },
        OpCase {
            op: "div",
            what: "[3,4] / [1,4]",
            inputs: |r| vec![normal(r, &[3, 4]), uniform(r, &[1, 4], 0.5, 1.5)],
            f: |x| x[0].div(&x[1]),
        },
        OpCase {
            op: "neg",
            what: "[5]",
            inputs: |r| vec![normal(r, &[5])],
            f: |x| x[0].neg(),
        },
        OpCase {
            op: "add_scalar",
            what: "[2,3] + 0.7",
            inputs: |r| vec![normal(r, &[2, 3])],
            f: |x| x[0].add_scalar(0.7),
        },
        OpCase {
            op: "mul_scalar",
            what: "[2,3] * -1.3",
            inputs: |r| vec![normal(r, &[2, 3])],
            f: |x| x[0].mul_scalar(-1.3),
        },
        OpCase {
            op: "rsub_scalar",
            what: "0.4 - [2,3]",
            inputs: |r| vec![normal(r, &[2, 3])],
            f: |x| x[0].rsub_scalar(0.4),
        },
        OpCase {
            op: "exp",
            what: "[2,3]",
            inputs: |r| vec![normal(r, &[2, 3])],
            f: |x| x[0].exp(),
        },
        OpCase {
            op: "log",
            what: "[2,3] in [0.5, 2)",
            inputs: |r| vec![uniform(r, &[2, 3], 0.5, 2.0)],
            f: |x| x[0].log(),
        },
        OpCase {
            op: "pow",
            what: "[2,3] ^ 2.5",
            inputs: |r| vec![uniform(r, &[2, 3], 0.5, 2.0)],
            f: |x| x[0].pow(2.5),
        },
        OpCase {
            op: "pow",
            what: "[4] ^ -1.5",
            inputs: |r| vec![uniform(r, &[4], 0.5, 2.0)],
            f: |x| x[0].pow(-1.5),
        },
        OpCase {
            op: "sqrt",
            what: "[2,3]",
            inputs: |r| vec![uniform(r, &[2, 3], 0.5, 2.0)],
            f: |x| x[0].sqrt(),
        },
        OpCase {
            op: "abs",
            what: "[2,3] away from 0",
            inputs: |r| vec![away_from(r, &[2, 3], &[0.0], 0.05)],
            f: |x| x[0].abs(),
        },
        OpCase {
            op: "relu",
            what: "[3,4] away from 0",
            inputs: |r| vec![away_from(r, &[3, 4], &[0.0], 0.05)],
            f: |x| x[0].relu(),
        },
        OpCase {
            op: "relu_backward",
            what: "[3,4] away from 0, gradient [3,4]",
            inputs: |r| vec![away_from(r, &[3, 4], &[0.0], 0.05), normal(r, &[3, 4])],
            f: |x| x[0].relu_backward(&x[1]),
        },
        OpCase {
            op: "sigmoid",
            what: "[2,3]",
            inputs: |r| vec![normal(r, &[2, 3])],
            f: |x| x[0].sigmoid(),
        },
        OpCase {
            op: "tanh",
            what: "[2,3]",
            inputs: |r| vec![normal(r, &[2, 3])],
            f: |x| x[0].tanh(),
        },
        OpCase {
            op: "clamp",
            what: "[3,4] into [-0.5, 0.6]",
            inputs: |r| vec![away_from(r, &[3, 4], &[-0.5, 0.6], 0.05)],
            f: |x| x[0].clamp(-0.5, 0.6),
        },
        OpCase {
            op: "maximum",
            what: "[2,3] vs [3]",
            inputs: |r| {
                let v = distinct(r, &[9]);
                vec![
                    v.narrow(0, 0, 6)
                        .unwrap()
                        .reshape(&[2, 3])
                        .unwrap()
                        .detach(),
                    v.narrow(0, 6, 3).unwrap().detach(),
                ]
            },
            f: |x| x[0].maximum(&x[1]),
        },
        OpCase {
            op: "minimum",
            what: "[2,1] vs [1,3]",
            inputs: |r| {
                let v = distinct(r, &[5]);
                vec![
                    v.narrow(0, 0, 2)
                        .unwrap()
                        .reshape(&[2, 1])
                        .unwrap()
                        .detach(),
                    v.narrow(0, 2, 3)
                        .unwrap()
                        .reshape(&[1, 3])
                        .unwrap()
                        .detach(),
                ]
            },
            f: |x| x[0].minimum(&x[1]),
        },
        OpCase {
            op: "where",
            what: "mask [2,3], a [2,3], b [3]",
            inputs: |r| {
                vec![
                    away_from(r, &[2, 3], &[0.0], 0.05),
                    normal(r, &[2, 3]),
                    normal(r, &[3]),
                ]
            },
            f: |x| {
                Tensor::where_cond(
                    &x[0].detach().gt_mask(&Tensor::full_on(
                        &[],
                        0.0,
                        x[0].dtype(),
                        x[0].device(),
                    )?)?,
                    &x[1],
                    &x[2],
                )
            },
        },
    ]
}
