//! Copies on the device: a strided view gathered into a dense buffer (`copy_<dtype>` kernels,
//! or one device-to-device copy when the view is dense already), dtype casts (`cast_*`) and
//! fills (`fill_<dtype>`). The kernels live in elementwise.cu.

use super::device::CudaDevice;
use super::launch::{addr, block, grid_for, launch, output, strided, Args};
use super::storage::CudaStorage;
use crate::error::{Error, Result};
use crate::layout::Layout;
use crate::DType;
use std::sync::Arc;

/// Gathers the view `layout` at `src` into `n` dense elements at `dst`.
pub(crate) fn copy_view(
    dev: &CudaDevice,
    src: u64,
    layout: &Layout,
    dtype: DType,
    dst: u64,
    n: usize,
) -> Result<()> {
    let s = strided(&layout.shape, &[layout])?;
    if s.contiguous != 0 {
        // SAFETY: both ranges hold `n` elements of `dtype` on this device.
        return unsafe { dev.rt().dtod(dst, src, n * dtype.size_in_bytes()) };
    }
    let name = match dtype {
        DType::F32 => "copy_f32",
        DType::F64 => "copy_f64",
        DType::I64 => "copy_i64",
    };
    let args = Args::new().arg(n as i64).arg(src).arg(dst);
    let args = match dtype {
        DType::I64 => args.arg(s),
        DType::F32 => args.arg(0f32).arg(0f32).arg(s),
        DType::F64 => args.arg(0f64).arg(0f64).arg(s),
    };
    launch(dev, name, grid_for(n), block(), args)
}

/// A dense device copy of the view `l` of `s`.
pub(crate) fn contiguous(s: &CudaStorage, l: &Layout) -> Result<CudaStorage> {
    let n = l.numel();
    let out = output(s.dev(), n, s.dtype())?;
    copy_view(s.dev(), addr(s, l), l, s.dtype(), out.ptr(), n)?;
    Ok(out)
}

/// The device address of the view `l` of `s` in dense row-major order: its own buffer when
/// the view is dense, else a gathered copy, which is pushed to `keep` so that it lives until
/// the launch that reads it.
pub(crate) fn dense_addr(s: &CudaStorage, l: &Layout, keep: &mut Vec<CudaStorage>) -> Result<u64> {
    if l.is_contiguous() {
        return Ok(addr(s, l));
    }
    let c = contiguous(s, l)?;
    let p = c.ptr();
    keep.push(c);
    Ok(p)
}

/// A dense copy of the view `l` of `s` converted to `to`.
pub(crate) fn cast(s: &CudaStorage, l: &Layout, to: DType) -> Result<CudaStorage> {
    let from = s.dtype();
    if from == to {
        return contiguous(s, l);
    }
    let name = match (from, to) {
        (DType::F32, DType::F64) => "cast_f32_f64",
        (DType::F64, DType::F32) => "cast_f64_f32",
        (DType::I64, DType::F32) => "cast_i64_f32",
        (DType::I64, DType::F64) => "cast_i64_f64",
        _ => {
            return Err(Error::UnsupportedDType {
                op: "to_dtype on CUDA (float to i64)",
                dtype: from,
            })
        }
    };
    let n = l.numel();
    let out = output(s.dev(), n, to)?;
    let st = strided(&l.shape, &[l])?;
    let args = Args::new()
        .arg(n as i64)
        .arg(addr(s, l))
        .arg(out.ptr())
        .arg(st);
    launch(s.dev(), name, grid_for(n), block(), args)?;
    Ok(out)
}

/// `n` elements of `dtype` equal to `v`.
pub(crate) fn fill(dev: &Arc<CudaDevice>, n: usize, dtype: DType, v: f64) -> Result<CudaStorage> {
    let out = output(dev, n, dtype)?;
    let (name, args) = match dtype {
        DType::F32 => (
            "fill_f32",
            Args::new().arg(n as i64).arg(out.ptr()).arg(v as f32),
        ),
        DType::F64 => ("fill_f64", Args::new().arg(n as i64).arg(out.ptr()).arg(v)),
        DType::I64 => (
            "fill_i64",
            Args::new().arg(n as i64).arg(out.ptr()).arg(v as i64),
        ),
    };
    launch(dev, name, grid_for(n), block(), args)?;
    Ok(out)
}
