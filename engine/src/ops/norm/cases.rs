//! Gradcheck cases of batch norm.

use super::{batch_norm, batch_norm_backward, batch_norm_invstd, batch_norm_weight_grad};
use super::{fused_backward2, stats_of, sums_of};
use crate::ops::op_case::{normal, uniform, OpCase};
use crate::Tensor;

/// The family's cases.
pub(crate) fn gradcheck_cases() -> Vec<OpCase> {
    vec![
        OpCase {
            op: "batch_norm",
            what: "train, x [3,3,2,2], weight and bias",
            inputs: |r| {
                vec![
                    normal(r, &[3, 3, 2, 2]),
                    uniform(r, &[3], 0.5, 1.5),
                    normal(r, &[3]),
                ]
            },
            f: |x| {
                batch_norm(&x[0], None, None, Some(&x[1]), Some(&x[2]), true, 0.1, 1e-5)
                    .map(|r| r.0)
            },
        },
        OpCase {
            op: "batch_norm",
            what: "train, batch 1, x [1,5,3,2], no affine",
            inputs: |r| vec![normal(r, &[1, 5, 3, 2])],
            f: |x| batch_norm(&x[0], None, None, None, None, true, 0.1, 1e-5).map(|r| r.0),
        },
        OpCase {
            op: "batch_norm",
            what: "train, 2-D x [6,2], weight only",
            inputs: |r| vec![normal(r, &[6, 2]), uniform(r, &[2], 0.5, 1.5)],
            f: |x| batch_norm(&x[0], None, None, Some(&x[1]), None, true, 0.1, 1e-5).map(|r| r.0),
        },
        OpCase {
            op: "batch_norm",
            what: "eval on running stats, x [2,3,2,1], weight and bias",
            inputs: |r| vec![normal(r, &[2, 3, 2, 1]), normal(r, &[3]), normal(r, &[3])],
            f: |x| {
                let (dt, dev) = (x[0].dtype(), x[0].device());
                let rm = Tensor::from_f64s(&[0.1, -0.2, 0.3], &[3], dt).to_device(dev)?;
                let rv = Tensor::from_f64s(&[0.5, 1.2, 2.0], &[3], dt).to_device(dev)?;
                batch_norm(
                    &x[0],
                    Some(&rm),
                    Some(&rv),
                    Some(&x[1]),
                    Some(&x[2]),
                    false,
                    0.1,
                    1e-5,
                )
                .map(|r| r.0)
            },
        },
        OpCase {
            op: "batch_norm_backward",
            what: "x [3,2,2,2], weight, g",
            inputs: |r| {
                vec![
                    normal(r, &[3, 2, 2, 2]),
                    uniform(r, &[2], 0.5, 1.5),
                    normal(r, &[3, 2, 2, 2]),
                ]
            },
            f: |x| batch_norm_backward(&x[0], Some(&x[1]), &x[2], 1e-5),
        },
        OpCase {
            op: "batch_norm_backward",
            what: "fused two-term form w1 r P(g1) + w2 r P(g2) + c xhat, x [3,2,2,2]",
            inputs: |r| {
                vec![
                    normal(r, &[3, 2, 2, 2]),
                    normal(r, &[2]),
                    normal(r, &[3, 2, 2, 2]),
                    normal(r, &[2]),
                    normal(r, &[3, 2, 2, 2]),
                    normal(r, &[2]),
                ]
            },
            f: |x| {
                let stats = stats_of(&x[0], 1e-5)?;
                let s1 = sums_of(&x[0], &x[2], &stats)?;
                let s2 = sums_of(&x[0], &x[4], &stats)?;
                fused_backward2(
                    &x[0],
                    (&x[1], &x[2], &s1),
                    (&x[3], &x[4], &s2),
                    &x[5],
                    &stats,
                )
            },
        },
        OpCase {
            op: "batch_norm_weight_grad",
            what: "x [2,3,3,1], g",
            inputs: |r| vec![normal(r, &[2, 3, 3, 1]), normal(r, &[2, 3, 3, 1])],
            f: |x| batch_norm_weight_grad(&x[0], &x[1], 1e-5),
        },
        OpCase {
            op: "batch_norm_invstd",
            what: "x [4,3,2,1]",
            inputs: |r| vec![normal(r, &[4, 3, 2, 1])],
            f: |x| batch_norm_invstd(&x[0], 1e-5),
        },
    ]
}
