//! Gradcheck cases of the pooling ops.

use crate::ops::op_case::{distinct, normal, OpCase};

/// The family's cases.
pub(crate) fn gradcheck_cases() -> Vec<OpCase> {
    vec![
        OpCase {
            op: "max_pool2d",
            what: "[2,3,4,6] kernel 2 stride 2",
            inputs: |r| vec![distinct(r, &[2, 3, 4, 6])],
            f: |x| x[0].max_pool2d([2, 2], [2, 2], [0, 0]),
        },
        OpCase {
            op: "max_pool2d",
            what: "[1,5,5,4] kernel [3,2] stride [2,1] pad [1,1] (overlapping)",
            inputs: |r| vec![distinct(r, &[1, 5, 5, 4])],
            f: |x| x[0].max_pool2d([3, 2], [2, 1], [1, 1]),
        },
        OpCase {
            op: "max_pool2d_backward",
            what: "g [1,3,3,2] into [5,4], indices of a kernel-3 stride-2 pool",
            inputs: |r| vec![normal(r, &[1, 3, 3, 2])],
            f: |x| {
                let probe = distinct(&mut crate::Rng::new(11), &[1, 3, 5, 4]);
                let (_, idx) = probe.max_pool2d_with_indices([3, 2], [2, 2], [1, 0])?;
                x[0].max_pool2d_backward(&idx, [5, 4])
            },
        },
        OpCase {
            op: "avg_pool2d",
            what: "[2,3,5,4] kernel 3 stride 2 pad 1 (pad counted)",
            inputs: |r| vec![normal(r, &[2, 3, 5, 4])],
            f: |x| x[0].avg_pool2d([3, 3], [2, 2], [1, 1]),
        },
        OpCase {
            op: "avg_pool2d",
            what: "[1,5,4,6] kernel [2,3] stride [1,3]",
            inputs: |r| vec![normal(r, &[1, 5, 4, 6])],
            f: |x| x[0].avg_pool2d([2, 3], [1, 3], [0, 0]),
        },
        OpCase {
            op: "avg_pool2d_backward",
            what: "g [1,3,3,2] into [5,4], kernel 3 stride 2 pad 1",
            inputs: |r| vec![normal(r, &[1, 3, 3, 2])],
            f: |x| x[0].avg_pool2d_backward([5, 4], [3, 3], [2, 2], [1, 1]),
        },
        OpCase {
            op: "adaptive_avg_pool2d",
            what: "[2,3,5,4] to [1,1] (global)",
            inputs: |r| vec![normal(r, &[2, 3, 5, 4])],
            f: |x| x[0].adaptive_avg_pool2d([1, 1]),
        },
        OpCase {
            op: "adaptive_avg_pool2d",
            what: "[1,3,5,7] to [3,2] (overlapping windows)",
            inputs: |r| vec![normal(r, &[1, 3, 5, 7])],
            f: |x| x[0].adaptive_avg_pool2d([3, 2]),
        },
        OpCase {
            op: "adaptive_avg_pool2d_backward",
            what: "g [1,2,3,2] into [5,7]",
            inputs: |r| vec![normal(r, &[1, 2, 3, 2])],
            f: |x| x[0].adaptive_avg_pool2d_backward([5, 7]),
        },
    ]
}
