//! Gradcheck cases of the shape ops.

use crate::ops::op_case::{normal, OpCase};
use crate::Tensor;

/// The family's cases.
pub(crate) fn gradcheck_cases() -> Vec<OpCase> {
    vec![
        OpCase {
            op: "reshape",
            what: "[2,3,2] to [3,4]",
            inputs: |r| vec![normal(r, &[2, 3, 2])],
            f: |x| x[0].reshape(&[3, 4]),
        },
        OpCase {
            op: "reshape",
            what: "of a transposed view (copy)",
            inputs: |r| vec![normal(r, &[3, 4])],
            f: |x| x[0].t()?.reshape(&[2, 6]),
        },
        OpCase {
            op: "flatten",
            what: "[2,3,1,2] axes 1..3",
            inputs: |r| vec![normal(r, &[2, 3, 1, 2])],
            f: |x| x[0].flatten(1, -1),
        },
        OpCase {
            op: "permute",
            what: "[2,3,4] by [2,0,1]",
            inputs: |r| vec![normal(r, &[2, 3, 4])],
            f: |x| {
                let w = Tensor::arange(1.0, 4.0, 1.0, x[0].dtype())?.to_device(x[0].device())?;
                x[0].permute(&[2, 0, 1])?.mul(&w)
            },
        },
        OpCase {
            op: "transpose",
            what: "[3,1,4] axes 0,2",
            inputs: |r| vec![normal(r, &[3, 1, 4])],
            f: |x| x[0].transpose(0, 2),
        },
        OpCase {
            op: "broadcast_to",
            what: "[3,1] to [2,3,4]",
            inputs: |r| vec![normal(r, &[3, 1])],
            f: |x| x[0].broadcast_to(&[2, 3, 4]),
        },
        OpCase {
            op: "narrow",
            what: "[4,5] axis 1 from 1 len 3",
            inputs: |r| vec![normal(r, &[4, 5])],
            f: |x| x[0].narrow(1, 1, 3),
        },
        OpCase {
            op: "narrow",
            what: "[4,2] axis 0 from 0 len 1",
            inputs: |r| vec![normal(r, &[4, 2])],
            f: |x| x[0].narrow(0, 0, 1),
        },
        OpCase {
            op: "concat",
            what: "[2,1], [2,3], [2,2] along axis 1",
            inputs: |r| vec![normal(r, &[2, 1]), normal(r, &[2, 3]), normal(r, &[2, 2])],
            f: |x| Tensor::concat(x, 1),
        },
        OpCase {
            op: "stack",
            what: "three [2,3] along axis 1",
            inputs: |r| vec![normal(r, &[2, 3]), normal(r, &[2, 3]), normal(r, &[2, 3])],
            f: |x| Tensor::stack(x, 1),
        },
    ]
}
