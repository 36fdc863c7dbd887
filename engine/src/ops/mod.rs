//! Tensor operations, one file per family. Each family file holds its public methods on
//! [`Tensor`], the forward dispatch to the backend, its backward rules (written only in
//! differentiable tensor ops, so gradients of any order work) and its gradcheck cases.

pub mod cases;
pub mod conv;
pub mod elementwise;
pub mod index;
pub mod matmul;
pub mod nn;
pub mod norm;
pub mod pool;
pub mod reduce;
pub mod shape;
pub mod softmax;

use crate::error::{Error, Result};
use crate::Tensor;

/// Checks that two operands share dtype and device; the error names both sides.
pub(crate) fn check_same(op: &'static str, a: &Tensor, b: &Tensor) -> Result<()> {
    if a.dtype() != b.dtype() {
        return Err(Error::DTypeMismatch {
            op,
            lhs: a.dtype(),
            rhs: b.dtype(),
        });
    }
    if a.device() != b.device() {
        return Err(Error::DeviceMismatch {
            op,
            lhs: a.device(),
            rhs: b.device(),
        });
    }
    Ok(())
}

/// Checks that a tensor has a float dtype.
pub(crate) fn check_float(op: &'static str, a: &Tensor) -> Result<()> {
    if !a.dtype().is_float() {
        return Err(Error::UnsupportedDType {
            op,
            dtype: a.dtype(),
        });
    }
    Ok(())
}

/// Checks that a tensor holds integer indices.
pub(crate) fn check_index(op: &'static str, a: &Tensor) -> Result<()> {
    if a.dtype() != crate::DType::I64 {
        return Err(Error::UnsupportedDType {
            op,
            dtype: a.dtype(),
        });
    }
    Ok(())
}
