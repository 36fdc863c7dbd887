//! Argument checks shared by the op families (operands of one dtype and device, float or index
//! dtypes, indices in range), and `when`, with which backward rules skip the gradients nobody needs.

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

/// The values of an i64 index tensor (from its host copy when it was uploaded, so without a
/// device synchronisation).
pub(crate) fn indices(t: &Tensor, op: &'static str) -> Result<Vec<i64>> {
    check_index(op, t)?;
    t.to_vec::<i64>()
}

/// Every index within `0..size`.
pub(crate) fn in_bounds(op: &'static str, idx: &[i64], size: usize) -> Result<()> {
    match idx.iter().find(|&&i| i < 0 || i as usize >= size) {
        Some(&i) => Err(Error::IndexOutOfRange { op, index: i, size }),
        None => Ok(()),
    }
}

/// `Some(f())` when `need` is true: how backward rules skip the gradients nobody needs.
pub(crate) fn when(need: bool, f: impl FnOnce() -> Result<Tensor>) -> Result<Option<Tensor>> {
    if need {
        f().map(Some)
    } else {
        Ok(None)
    }
}
