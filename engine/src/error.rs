//! The engine's error type. Every failure that user input can cause (shape, dtype or device
//! mismatch, an axis out of range, an index out of bounds) is one of these, never a panic.

use crate::{DType, Device};

/// Errors returned by tensor operations.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    #[error("shape mismatch in {op}: {lhs:?} vs {rhs:?}")]
    ShapeMismatch {
        op: &'static str,
        lhs: Vec<usize>,
        rhs: Vec<usize>,
    },
    #[error("dtype mismatch in {op}: {lhs:?} vs {rhs:?}")]
    DTypeMismatch {
        op: &'static str,
        lhs: DType,
        rhs: DType,
    },
    #[error("device mismatch in {op}: {lhs} vs {rhs}")]
    DeviceMismatch {
        op: &'static str,
        lhs: Device,
        rhs: Device,
    },
    #[error("{op} does not support dtype {dtype:?}")]
    UnsupportedDType { op: &'static str, dtype: DType },
    #[error("axis {axis} out of range for a tensor of rank {rank} in {op}")]
    AxisOutOfRange {
        op: &'static str,
        axis: isize,
        rank: usize,
    },
    #[error("index {index} out of range for size {size} in {op}")]
    IndexOutOfRange {
        op: &'static str,
        index: i64,
        size: usize,
    },
    #[error("{0}")]
    Invalid(String),
    #[error("CUDA not available: {0}")]
    CudaUnavailable(String),
    /// A failure of the CUDA driver or of a kernel launch on a device that is available.
    #[error("CUDA error: {0}")]
    Cuda(String),
}

/// Result with the engine's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// Shorthand for [`Error::Invalid`].
pub(crate) fn invalid<T>(msg: impl Into<String>) -> Result<T> {
    Err(Error::Invalid(msg.into()))
}
