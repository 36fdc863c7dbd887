//! The CPU backend: strided copies, elementwise maps with broadcasting, reductions in a fixed
//! chunking (so a seed gives identical bits whatever the thread count), matmul through `gemm`,
//! the index kernels, and the CNN kernels (convolution by im2col + gemm, pooling, batch norm).
//! Work above [`PAR_MIN`] elements is split with rayon.

pub mod conv;
pub mod elementwise;
pub mod index;
pub mod matmul;
pub mod norm;
pub mod pool;
pub mod recycle;
pub mod reduce;
pub mod strided;

/// Below this many elements a kernel runs on the calling thread.
pub const PAR_MIN: usize = 1 << 15;

/// Applies `$body` to the typed buffer of a float storage, for f32 and f64 alike; I64 is an
/// unsupported-dtype error for `$op`.
macro_rules! float_map {
    ($storage:expr, $op:expr, |$v:ident| $body:expr) => {
        match $storage {
            $crate::storage::CpuStorage::F32($v) => Ok($crate::storage::CpuStorage::F32($body)),
            $crate::storage::CpuStorage::F64($v) => Ok($crate::storage::CpuStorage::F64($body)),
            $crate::storage::CpuStorage::I64(_) => Err($crate::Error::UnsupportedDType {
                op: $op,
                dtype: $crate::DType::I64,
            }),
        }
    };
}
pub(crate) use float_map;
