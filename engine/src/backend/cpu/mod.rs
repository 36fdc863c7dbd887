//! The CPU backend: [`buffer::CpuStorage`] on host memory and the generic host infrastructure
//! that the op families' CPU kernels (`ops/<family>/cpu_kernel.rs`) are built from: strided
//! copies, the once-only dtype dispatch ([`dispatch`]: `Map1`, `Map2`, ...), recycled output
//! buffers, deterministic row folds, rayon helpers, the `gemm` wrapper and per-thread scratch
//! buffers. Work above [`par::PAR_MIN`] elements is split with rayon in pieces chosen from the
//! shapes, so a seed gives identical bits whatever the thread count.

pub mod buffer;
pub mod dispatch;
pub mod features;
pub mod fold;
pub mod gemm;
pub mod par;
pub mod recycle;
pub mod scratch;
pub mod strided;

use crate::backend::BackendStorage;
use crate::error::Result;
use crate::layout::Layout;
use crate::{DType, Device};
use buffer::CpuStorage;

/// Elementwise cast of a view, `as` semantics.
fn cast<T: Copy + Send + Sync, U>(v: &[T], l: &Layout, f: impl Fn(T) -> U) -> Vec<U> {
    strided::to_contiguous(v, l).iter().map(|&x| f(x)).collect()
}

impl BackendStorage for CpuStorage {
    fn dtype(&self) -> DType {
        CpuStorage::dtype(self)
    }

    fn len(&self) -> usize {
        CpuStorage::len(self)
    }

    fn device(&self) -> Device {
        Device::Cpu
    }

    fn copy_strided(&self, l: &Layout) -> Result<Self> {
        Ok(strided::contiguous_storage(self, l))
    }

    fn to_dtype(&self, l: &Layout, dtype: DType) -> Result<Self> {
        use CpuStorage::*;
        Ok(match (self, dtype) {
            (_, d) if d == self.dtype() => strided::contiguous_storage(self, l),
            (F32(v), DType::F64) => F64(cast(v, l, |x| x as f64)),
            (F32(v), DType::I64) => I64(cast(v, l, |x| x as i64)),
            (F64(v), DType::F32) => F32(cast(v, l, |x| x as f32)),
            (F64(v), DType::I64) => I64(cast(v, l, |x| x as i64)),
            (I64(v), DType::F32) => F32(cast(v, l, |x| x as f32)),
            (I64(v), _) => F64(cast(v, l, |x| x as f64)),
            (F32(v), _) => F32(cast(v, l, |x| x)),
            (F64(v), _) => F64(cast(v, l, |x| x)),
        })
    }

    fn full_like(&self, n: usize, v: f64, dtype: DType) -> Result<Self> {
        Ok(CpuStorage::full(n, v, dtype))
    }

    fn to_cpu(&self, l: &Layout) -> Result<CpuStorage> {
        Ok(strided::contiguous_storage(self, l))
    }
}
