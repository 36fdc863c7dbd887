//! Bad input gives an `Err` that names both sides, never a panic: shape, dtype and device
//! mismatches, bad axes and indices, bad constructor arguments.

// `grad` takes slices of handles; building them from clones reads best in tests.
#![allow(clippy::cloned_ref_to_slice_refs)]

use maxl_engine::{grad, DType, Device, Error, Tensor};

fn t(shape: &[usize], dtype: DType) -> Tensor {
    Tensor::ones(shape, dtype)
}

#[test]
fn shape_mismatch_names_both_shapes() {
    let e = t(&[2, 3], DType::F32)
        .add(&t(&[4], DType::F32))
        .unwrap_err();
    assert_eq!(
        e,
        Error::ShapeMismatch {
            op: "add",
            lhs: vec![2, 3],
            rhs: vec![4]
        }
    );
    let msg = e.to_string();
    assert!(msg.contains("[2, 3]") && msg.contains("[4]"), "{msg}");
    let e = t(&[2, 3], DType::F32)
        .matmul(&t(&[2, 3], DType::F32))
        .unwrap_err();
    assert!(e.to_string().contains("matmul"), "{e}");
}

#[test]
fn dtype_mismatch_names_both_dtypes() {
    let e = t(&[2], DType::F32).mul(&t(&[2], DType::F64)).unwrap_err();
    assert_eq!(e.to_string(), "dtype mismatch in mul: F32 vs F64");
    let e = Tensor::concat(&[t(&[2], DType::F64), t(&[2], DType::F32)], 0).unwrap_err();
    assert!(
        matches!(e, Error::DTypeMismatch { op: "concat", .. }),
        "{e}"
    );
    let e = t(&[2], DType::I64).exp().unwrap_err();
    assert!(
        matches!(
            e,
            Error::UnsupportedDType {
                op: "exp",
                dtype: DType::I64
            }
        ),
        "{e}"
    );
}

#[test]
fn cuda_request_is_a_clear_error() {
    let e = Device::Cuda(0).ensure_available().unwrap_err();
    assert!(e.to_string().starts_with("CUDA not available: "), "{e}");
    assert!(Device::parse("tpu").is_err());
    assert_eq!(Device::parse("cuda:1").unwrap(), Device::Cuda(1));
}

#[test]
fn bad_axes_indices_and_sizes_are_errors() {
    let x = t(&[2, 3], DType::F64);
    assert!(matches!(
        x.sum(&[2], false),
        Err(Error::AxisOutOfRange {
            axis: 2,
            rank: 2,
            ..
        })
    ));
    assert!(x.softmax(-3).is_err());
    assert!(x.narrow(1, 2, 2).is_err());
    assert!(x.permute(&[0, 0]).is_err());
    assert!(x.reshape(&[4]).is_err());
    let idx = Tensor::from_vec(vec![0i64, 3], &[2]).unwrap();
    assert!(matches!(
        x.index_select(1, &idx),
        Err(Error::IndexOutOfRange {
            index: 3,
            size: 3,
            ..
        })
    ));
    let neg = Tensor::from_vec(vec![-1i64], &[1]).unwrap();
    assert!(Tensor::one_hot(&neg, 3, DType::F32).is_err());
    assert!(x
        .gather(1, &Tensor::from_vec(vec![0i64; 3], &[3]).unwrap())
        .is_err());
    assert!(Tensor::from_vec(vec![1.0f32; 5], &[2, 3]).is_err());
    assert!(Tensor::arange(0.0, 1.0, 0.0, DType::F32).is_err());
    assert!(x.clamp(1.0, 0.0).is_err());
    assert!(x.item().is_err());
    assert!(x.to_vec::<f32>().is_err());
    assert!(t(&[2], DType::I64).set_requires_grad(true).is_err());
}

#[test]
fn grad_argument_errors() {
    let x = t(&[3], DType::F64).set_requires_grad(true).unwrap();
    let y = x.exp().unwrap();
    // A non-scalar output needs grad_outputs.
    assert!(grad(&[y.clone()], &[x.clone()], None, false).is_err());
    // grad_outputs of the wrong shape or count.
    let g = t(&[2], DType::F64);
    assert!(grad(&[y.clone()], &[x.clone()], Some(&[g]), false).is_err());
    assert!(grad(&[y.clone()], &[x.clone()], Some(&[]), false).is_err());
    assert!(y.backward().is_err());
}
