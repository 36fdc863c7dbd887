//! Gradcheck cases of the softmax family.

use crate::ops::op_case::{normal, OpCase};

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
