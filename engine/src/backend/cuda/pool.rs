//! Launchers of pool.cu: max pooling with argmax indices, the gather at indices and its
//! scatter-add adjoint (one thread per plane, in order: deterministic), and average pooling
//! (fixed or adaptive windows) with its adjoint.

use super::elementwise::fill;
use super::launch::{block, dense_addr, device_of, grid_for, kname, launch, output, storage, Args};
use crate::backend::cpu::pool::AvgPlan;
use crate::error::{Error, Result};
use crate::storage::Storage;
use crate::{DType, Tensor};
use maxl_kernels::params::PoolGeom;

fn i(v: usize) -> Result<i32> {
    i32::try_from(v).map_err(|_| Error::Invalid(format!("pooling on CUDA: size {v} exceeds i32")))
}

/// Max pooling of `planes` planes of `input` into `output`: values and i64 in-plane argmax.
pub fn max_pool2d(
    x: &Tensor,
    planes: usize,
    input: [usize; 2],
    out: [usize; 2],
    [kernel, stride, padding]: [[usize; 2]; 3],
) -> Result<(Storage, Storage)> {
    let dev = device_of(x)?;
    let dtype = x.dtype();
    let g = PoolGeom {
        h: i(input[0])?,
        w: i(input[1])?,
        ho: i(out[0])?,
        wo: i(out[1])?,
        kh: i(kernel[0])?,
        kw: i(kernel[1])?,
        sh: i(stride[0])?,
        sw: i(stride[1])?,
        ph: i(padding[0])?,
        pw: i(padding[1])?,
        adaptive: 0,
    };
    let total = planes * out[0] * out[1];
    let y = output(&dev, total, dtype)?;
    let idx = output(&dev, total, DType::I64)?;
    let mut keep = Vec::new();
    let px = dense_addr(&dev, x, &mut keep)?;
    let args = Args::new()
        .arg(planes as i64)
        .arg(g)
        .arg(px)
        .arg(y.ptr())
        .arg(idx.ptr());
    launch(
        &dev,
        &kname("max_pool2d_fwd", dtype, "max_pool2d")?,
        grid_for(total),
        block(),
        args,
    )?;
    Ok((storage(y), storage(idx)))
}

/// `out[p, j] = x[p, idx[p, j]]` (planes of `hw` inputs, `plane` outputs each).
pub fn plane_gather(
    x: &Tensor,
    idx: &Tensor,
    planes: usize,
    hw: usize,
    plane: usize,
) -> Result<Storage> {
    let dev = device_of(x)?;
    let dtype = x.dtype();
    let out = output(&dev, planes * plane, dtype)?;
    let mut keep = Vec::new();
    let px = dense_addr(&dev, x, &mut keep)?;
    let pi = dense_addr(&dev, idx, &mut keep)?;
    let args = Args::new()
        .arg(planes as i64)
        .arg(hw as i64)
        .arg(plane as i64)
        .arg(px)
        .arg(pi)
        .arg(out.ptr());
    launch(
        &dev,
        &kname("plane_gather", dtype, "max_pool2d")?,
        grid_for(planes * plane),
        block(),
        args,
    )?;
    Ok(storage(out))
}

/// Zeros of `planes * hw` with `g[p, j]` added at `idx[p, j]`.
pub fn plane_scatter(
    g: &Tensor,
    idx: &Tensor,
    planes: usize,
    hw: usize,
    plane: usize,
) -> Result<Storage> {
    let dev = device_of(g)?;
    let dtype = g.dtype();
    let out = fill(&dev, planes * hw, dtype, 0.0)?;
    let dst = out.cuda().map(|b| b.ptr()).unwrap_or(0);
    let mut keep = Vec::new();
    let pg = dense_addr(&dev, g, &mut keep)?;
    let pi = dense_addr(&dev, idx, &mut keep)?;
    let args = Args::new()
        .arg(planes as i64)
        .arg(hw as i64)
        .arg(plane as i64)
        .arg(pg)
        .arg(pi)
        .arg(dst);
    launch(
        &dev,
        &kname("plane_scatter_add", dtype, "max_pool2d_backward")?,
        grid_for(planes),
        block(),
        args,
    )?;
    Ok(out)
}

/// Average pooling by `plan` (`backward`: its adjoint, from output-sized `x` to input size).
pub fn avg_pool2d(x: &Tensor, planes: usize, plan: &AvgPlan, backward: bool) -> Result<Storage> {
    let dev = device_of(x)?;
    let dtype = x.dtype();
    let [h, w] = plan.input;
    let [ho, wo] = plan.output();
    let ([kh, kw], [sh, sw], [ph, pw], adaptive) = match plan.fixed {
        Some([k, s, p]) => (k, s, p, 0),
        None => ([1, 1], [1, 1], [0, 0], 1),
    };
    let g = PoolGeom {
        h: i(h)?,
        w: i(w)?,
        ho: i(ho)?,
        wo: i(wo)?,
        kh: i(kh)?,
        kw: i(kw)?,
        sh: i(sh)?,
        sw: i(sw)?,
        ph: i(ph)?,
        pw: i(pw)?,
        adaptive,
    };
    let work = planes * if backward { h * w } else { ho * wo };
    let out = output(&dev, work, dtype)?;
    let mut keep = Vec::new();
    let px = dense_addr(&dev, x, &mut keep)?;
    let base = if backward {
        "avg_pool2d_bwd"
    } else {
        "avg_pool2d_fwd"
    };
    let args = Args::new().arg(planes as i64).arg(g).arg(px).arg(out.ptr());
    launch(
        &dev,
        &kname(base, dtype, "avg_pool2d")?,
        grid_for(work),
        block(),
        args,
    )?;
    Ok(storage(out))
}
