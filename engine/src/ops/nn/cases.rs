//! Gradcheck cases of the layer-level ops.

use crate::ops::op_case::{normal, OpCase};
use crate::Rng;

/// The family's cases.
pub(crate) fn gradcheck_cases() -> Vec<OpCase> {
    vec![
        OpCase {
            op: "linear",
            what: "x [4,3], w [5,3], bias [5]",
            inputs: |r| vec![normal(r, &[4, 3]), normal(r, &[5, 3]), normal(r, &[5])],
            f: |x| x[0].linear(&x[1], Some(&x[2])),
        },
        OpCase {
            op: "linear",
            what: "batched x [2,3,4], w [2,4], no bias",
            inputs: |r| vec![normal(r, &[2, 3, 4]), normal(r, &[2, 4])],
            f: |x| x[0].linear(&x[1], None),
        },
        OpCase {
            op: "linear",
            what: "1-D x [3], w [2,3], bias",
            inputs: |r| vec![normal(r, &[3]), normal(r, &[2, 3]), normal(r, &[2])],
            f: |x| x[0].linear(&x[1], Some(&x[2])),
        },
        OpCase {
            op: "dropout",
            what: "[4,5] p 0.3, seeded mask",
            inputs: |r| vec![normal(r, &[4, 5])],
            f: |x| x[0].dropout(0.3, true, &mut Rng::new(7)),
        },
    ]
}
