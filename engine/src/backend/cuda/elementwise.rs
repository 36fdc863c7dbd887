//! Launchers of elementwise.cu: unary maps with scalar parameters, binary maps and `where`
//! over broadcast views, casts and fills. Outputs are new dense buffers.

use super::launch::{
    block, device_of, grid_for, kname, launch, operand, output, storage, strided, Args,
};
use super::CudaDevice;
use crate::error::{Error, Result};
use crate::layout::Layout;
use crate::storage::Storage;
use crate::{DType, Tensor};
use std::sync::Arc;

/// `y = f(x; p0, p1)` elementwise with kernel `base` (`exp`, `clamp`, ...).
pub fn unary(base: &str, x: &Tensor, p0: f64, p1: f64, op: &'static str) -> Result<Storage> {
    let dev = device_of(x)?;
    let n = x.numel();
    let out = output(&dev, n, x.dtype())?;
    let s = strided(x.shape(), &[x.layout()])?;
    let (_, xa) = operand(x)?;
    let args = Args::new()
        .arg(n as i64)
        .arg(xa)
        .arg(out.ptr())
        .float(x.dtype(), p0)
        .float(x.dtype(), p1)
        .arg(s);
    launch(
        &dev,
        &kname(base, x.dtype(), op)?,
        grid_for(n),
        block(),
        args,
    )?;
    Ok(storage(out))
}

/// `out = f(a, b)` with kernel `base` over `shape`; `la`, `lb` are the operands' layouts
/// broadcast to `shape`.
pub fn binary(
    base: &str,
    a: &Tensor,
    la: &Layout,
    b: &Tensor,
    lb: &Layout,
    shape: &[usize],
    op: &'static str,
) -> Result<Storage> {
    let dev = device_of(a)?;
    let n: usize = shape.iter().product();
    let out = output(&dev, n, a.dtype())?;
    let s = strided(shape, &[la, lb])?;
    let (_, aa) = operand(a)?;
    let (_, ba) = operand(b)?;
    let args = Args::new()
        .arg(n as i64)
        .arg(aa)
        .arg(ba)
        .arg(out.ptr())
        .arg(s);
    launch(
        &dev,
        &kname(base, a.dtype(), op)?,
        grid_for(n),
        block(),
        args,
    )?;
    Ok(storage(out))
}

/// `cond != 0 ? a : b` over `shape` (`cond` of `a`'s dtype; layouts broadcast to `shape`).
pub fn select(
    cond: (&Tensor, &Layout),
    a: (&Tensor, &Layout),
    b: (&Tensor, &Layout),
    shape: &[usize],
) -> Result<Storage> {
    let dev = device_of(a.0)?;
    let n: usize = shape.iter().product();
    let out = output(&dev, n, a.0.dtype())?;
    let s = strided(shape, &[cond.1, a.1, b.1])?;
    let args = Args::new()
        .arg(n as i64)
        .arg(operand(cond.0)?.1)
        .arg(operand(a.0)?.1)
        .arg(operand(b.0)?.1)
        .arg(out.ptr())
        .arg(s);
    launch(
        &dev,
        &kname("where", a.0.dtype(), "where")?,
        grid_for(n),
        block(),
        args,
    )?;
    Ok(storage(out))
}

/// A dense copy of `x` converted to `to`.
pub fn cast(x: &Tensor, to: DType) -> Result<Storage> {
    let from = x.dtype();
    if from == to {
        return super::transfer::contiguous(x);
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
    let dev = device_of(x)?;
    let n = x.numel();
    let out = output(&dev, n, to)?;
    let s = strided(x.shape(), &[x.layout()])?;
    let args = Args::new()
        .arg(n as i64)
        .arg(operand(x)?.1)
        .arg(out.ptr())
        .arg(s);
    launch(&dev, name, grid_for(n), block(), args)?;
    Ok(storage(out))
}

/// `n` elements of `dtype` equal to `v`.
pub fn fill(dev: &Arc<CudaDevice>, n: usize, dtype: DType, v: f64) -> Result<Storage> {
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
    Ok(storage(out))
}

/// `y = a x + b y` in place on a dense buffer `y` of `n` elements (x dense too).
pub(crate) fn axpby(
    dev: &CudaDevice,
    dtype: DType,
    n: usize,
    a: f64,
    x: u64,
    b: f64,
    y: u64,
) -> Result<()> {
    let args = Args::new()
        .arg(n as i64)
        .float(dtype, a)
        .arg(x)
        .float(dtype, b)
        .arg(y);
    launch(
        dev,
        &kname("axpby", dtype, "axpby")?,
        grid_for(n),
        block(),
        args,
    )
}
