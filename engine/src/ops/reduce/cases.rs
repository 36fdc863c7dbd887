//! Gradcheck cases of the reductions.

use crate::ops::op_case::{distinct, normal, OpCase};

/// The family's cases, one or more per op.
pub(crate) fn gradcheck_cases() -> Vec<OpCase> {
    vec![
        OpCase {
            op: "sum",
            what: "[2,3,4] over axis 1",
            inputs: |r| vec![normal(r, &[2, 3, 4])],
            f: |x| x[0].sum(&[1], false),
        },
        OpCase {
            op: "sum",
            what: "[2,1,3] over axes 0,2 keepdim",
            inputs: |r| vec![normal(r, &[2, 1, 3])],
            f: |x| x[0].sum(&[0, -1], true),
        },
        OpCase {
            op: "sum",
            what: "[3,4] over everything",
            inputs: |r| vec![normal(r, &[3, 4])],
            f: |x| x[0].sum_all(),
        },
        OpCase {
            op: "mean",
            what: "[3,4] over axis 0 keepdim",
            inputs: |r| vec![normal(r, &[3, 4])],
            f: |x| x[0].mean(&[0], true),
        },
        OpCase {
            op: "max",
            what: "[3,4] over axis 1",
            inputs: |r| vec![distinct(r, &[3, 4])],
            f: |x| x[0].max(&[1], false),
        },
        OpCase {
            op: "max",
            what: "[2,3,2] over axes 0,2 keepdim",
            inputs: |r| vec![distinct(r, &[2, 3, 2])],
            f: |x| x[0].max(&[0, 2], true),
        },
        OpCase {
            op: "min",
            what: "[4,3] over axis 0",
            inputs: |r| vec![distinct(r, &[4, 3])],
            f: |x| x[0].min(&[0], false),
        },
        OpCase {
            op: "sum_to",
            what: "[2,3,4] to [3,1]",
            inputs: |r| vec![normal(r, &[2, 3, 4])],
            f: |x| x[0].sum_to(&[3, 1]),
        },
    ]
}
