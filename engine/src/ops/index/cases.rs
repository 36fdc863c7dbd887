//! Gradcheck cases of the index ops.

use crate::ops::op_case::{indices, normal, OpCase};
use crate::Tensor;

/// The family's cases.
pub(crate) fn gradcheck_cases() -> Vec<OpCase> {
    vec![
        OpCase {
            op: "index_select",
            what: "[4,3] rows [2,0,2,3,1]",
            inputs: |r| {
                vec![
                    normal(r, &[4, 3]),
                    Tensor::from_vec(vec![2i64, 0, 2, 3, 1], &[5]).unwrap(),
                ]
            },
            f: |x| x[0].index_select(0, &x[1]),
        },
        OpCase {
            op: "index_select",
            what: "[2,5,1] along axis 1",
            inputs: |r| vec![normal(r, &[2, 5, 1]), indices(r, &[3], 5)],
            f: |x| x[0].index_select(1, &x[1]),
        },
        OpCase {
            op: "gather",
            what: "[3,4] along axis 1, index [3,2]",
            inputs: |r| vec![normal(r, &[3, 4]), indices(r, &[3, 2], 4)],
            f: |x| x[0].gather(1, &x[1]),
        },
        OpCase {
            op: "gather",
            what: "[3,2] along axis 0, index [5,2]",
            inputs: |r| vec![normal(r, &[3, 2]), indices(r, &[5, 2], 3)],
            f: |x| x[0].gather(0, &x[1]),
        },
        OpCase {
            op: "gather",
            what: "[4,5] along axis 1, index [2,3] (smaller on axis 0)",
            inputs: |r| vec![normal(r, &[4, 5]), indices(r, &[2, 3], 5)],
            f: |x| x[0].gather(1, &x[1]),
        },
        OpCase {
            op: "scatter_add",
            what: "[3,4] along axis 1, src [3,5]",
            inputs: |r| {
                vec![
                    normal(r, &[3, 4]),
                    indices(r, &[3, 5], 4),
                    normal(r, &[3, 5]),
                ]
            },
            f: |x| x[0].scatter_add(1, &x[1], &x[2]),
        },
    ]
}
