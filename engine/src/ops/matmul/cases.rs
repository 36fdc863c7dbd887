//! Gradcheck cases of matmul.

use crate::ops::op_case::{normal, OpCase};

/// The family's cases.
pub(crate) fn gradcheck_cases() -> Vec<OpCase> {
    vec![
        OpCase {
            op: "matmul",
            what: "[3,4] @ [4,2]",
            inputs: |r| vec![normal(r, &[3, 4]), normal(r, &[4, 2])],
            f: |x| x[0].matmul(&x[1]),
        },
        OpCase {
            op: "matmul",
            what: "batched [2,1,3,4] @ [3,4,2]",
            inputs: |r| vec![normal(r, &[2, 1, 3, 4]), normal(r, &[3, 4, 2])],
            f: |x| x[0].matmul(&x[1]),
        },
        OpCase {
            op: "matmul",
            what: "transposed operand [4,3]^T @ [4,1]",
            inputs: |r| vec![normal(r, &[4, 3]), normal(r, &[4, 1])],
            f: |x| x[0].t()?.matmul(&x[1]),
        },
    ]
}
