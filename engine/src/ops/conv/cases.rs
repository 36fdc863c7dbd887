//! Gradcheck cases of the convolution ops.

use crate::ops::op_case::{normal, OpCase};

/// The family's cases.
pub(crate) fn gradcheck_cases() -> Vec<OpCase> {
    vec![
        OpCase {
            op: "conv2d",
            what: "x [1,3,5,4], w [5,3,3,2], bias, stride [2,1], pad [1,1]",
            inputs: |r| {
                vec![
                    normal(r, &[1, 3, 5, 4]),
                    normal(r, &[5, 3, 3, 2]),
                    normal(r, &[5]),
                ]
            },
            f: |x| x[0].conv2d(&x[1], Some(&x[2]), [2, 1], [1, 1], [1, 1]),
        },
        OpCase {
            op: "conv2d",
            what: "x [2,2,5,4], w [3,2,2,3], no bias, stride [1,2], pad [0,1], dilation [2,1]",
            inputs: |r| vec![normal(r, &[2, 2, 5, 4]), normal(r, &[3, 2, 2, 3])],
            f: |x| x[0].conv2d(&x[1], None, [1, 2], [0, 1], [2, 1]),
        },
        OpCase {
            op: "conv2d",
            what: "x [1,2,7,6], w [3,2,3,3], bias, stride 2, pad 2, dilation 2",
            inputs: |r| {
                vec![
                    normal(r, &[1, 2, 7, 6]),
                    normal(r, &[3, 2, 3, 3]),
                    normal(r, &[3]),
                ]
            },
            f: |x| x[0].conv2d(&x[1], Some(&x[2]), [2, 2], [2, 2], [2, 2]),
        },
        OpCase {
            op: "conv2d",
            what: "3x3 same, x [2,3,4,5], w [2,3,3,3], bias",
            inputs: |r| {
                vec![
                    normal(r, &[2, 3, 4, 5]),
                    normal(r, &[2, 3, 3, 3]),
                    normal(r, &[2]),
                ]
            },
            f: |x| x[0].conv2d(&x[1], Some(&x[2]), [1, 1], [1, 1], [1, 1]),
        },
        OpCase {
            op: "conv2d",
            what: "1x1 kernel, x [3,3,2,3], w [4,3,1,1], bias",
            inputs: |r| {
                vec![
                    normal(r, &[3, 3, 2, 3]),
                    normal(r, &[4, 3, 1, 1]),
                    normal(r, &[4]),
                ]
            },
            f: |x| x[0].conv2d(&x[1], Some(&x[2]), [1, 1], [0, 0], [1, 1]),
        },
        OpCase {
            op: "conv_transpose2d",
            what: "z [1,3,3,2], w [3,2,3,3], bias, stride 2, pad 1, output_padding 1",
            inputs: |r| {
                vec![
                    normal(r, &[1, 3, 3, 2]),
                    normal(r, &[3, 2, 3, 3]),
                    normal(r, &[2]),
                ]
            },
            f: |x| x[0].conv_transpose2d(&x[1], Some(&x[2]), [2, 2], [1, 1], [1, 1], [1, 1]),
        },
        OpCase {
            op: "conv_transpose2d",
            what: "z [2,2,3,3], w [2,5,2,2], no bias, stride [1,2], pad [0,1], op [0,1], dil [2,1]",
            inputs: |r| vec![normal(r, &[2, 2, 3, 3]), normal(r, &[2, 5, 2, 2])],
            f: |x| x[0].conv_transpose2d(&x[1], None, [1, 2], [0, 1], [0, 1], [2, 1]),
        },
        OpCase {
            op: "conv_transpose2d",
            what: "output_padding 1 >= stride 1 with dilation 2, z [1,2,3,3], w [2,3,2,2]",
            inputs: |r| {
                vec![
                    normal(r, &[1, 2, 3, 3]),
                    normal(r, &[2, 3, 2, 2]),
                    normal(r, &[3]),
                ]
            },
            f: |x| x[0].conv_transpose2d(&x[1], Some(&x[2]), [1, 1], [0, 0], [1, 1], [2, 2]),
        },
        OpCase {
            op: "conv2d_weight",
            what: "x [1,3,5,4], g [1,2,3,2], kernel 3, stride 2, pad 1",
            inputs: |r| vec![normal(r, &[1, 3, 5, 4]), normal(r, &[1, 2, 3, 2])],
            f: |x| x[0].conv2d_weight(&x[1], [3, 3], [2, 2], [1, 1], [1, 1]),
        },
        OpCase {
            op: "conv2d_weight",
            what: "x [2,2,5,4], g [2,5,3,3], kernel [2,2], stride [1,2], pad [0,1], dil [2,1]",
            inputs: |r| vec![normal(r, &[2, 2, 5, 4]), normal(r, &[2, 5, 3, 3])],
            f: |x| x[0].conv2d_weight(&x[1], [2, 2], [1, 2], [0, 1], [2, 1]),
        },
    ]
}
