//! Launchers of batchnorm.cu for the engine's batch norm, whose per-channel statistics and
//! gradient sums live on the host (`BnStats`, a few values per channel): statistics and sums
//! are reduced on the device in fixed chunks and only the per-channel results are copied back.

use super::elementwise::axpby;
use super::launch::{dense_addr, device_of, kname, launch, output, storage, Args};
use super::transfer::{read, upload_to};
use super::{CudaBuffer, CudaDevice};
use crate::error::{Error, Result};
use crate::storage::{CpuStorage, Storage};
use crate::{DType, Tensor};
use std::sync::Arc;

/// Elements per block of the statistics' first stage.
const CHUNK: usize = 4096;

fn dims(n: usize, c: usize, l: usize) -> Result<(i32, i32, i32)> {
    let i = |v: usize| {
        i32::try_from(v)
            .map_err(|_| Error::Invalid(format!("batch_norm on CUDA: size {v} exceeds i32")))
    };
    if n.saturating_mul(l) >= (1usize << 31) {
        return Err(Error::Invalid(format!(
            "batch_norm on CUDA: {} elements per channel (at most 2^31 - 1)",
            n * l
        )));
    }
    Ok((i(n)?, i(c)?, i(l)?))
}

/// Host values as a device vector of `dtype`.
fn values(dev: &Arc<CudaDevice>, v: &[f64], dtype: DType) -> Result<CudaBuffer> {
    upload_to(dev, &CpuStorage::from_f64s(v, dtype))
}

/// `len` values of `dtype` at `ptr`, as f64 on the host.
fn read_f64(dev: &CudaDevice, ptr: u64, len: usize, dtype: DType) -> Result<Vec<f64>> {
    Ok(match read(dev, ptr, len, dtype)? {
        CpuStorage::F32(v) => v.into_iter().map(f64::from).collect(),
        CpuStorage::F64(v) => v,
        CpuStorage::I64(v) => v.into_iter().map(|x| x as f64).collect(),
    })
}

/// Per-channel mean and biased variance of `x` `[n, c, l]`.
pub fn channel_stats(x: &Tensor, n: usize, c: usize, l: usize) -> Result<(Vec<f64>, Vec<f64>)> {
    let dev = device_of(x)?;
    let dtype = x.dtype();
    let (ni, ci, li) = dims(n, c, l)?;
    let mut keep = Vec::new();
    let px = dense_addr(&dev, x, &mut keep)?;
    let chunks = (n * l).div_ceil(CHUNK).max(1);
    let partial = output(&dev, c * chunks * 2, DType::F64)?;
    let args = Args::new()
        .arg(ni)
        .arg(ci)
        .arg(li)
        .arg(CHUNK as i32)
        .arg(px)
        .arg(partial.ptr());
    launch(
        &dev,
        &kname("bn_stats_partial", dtype, "batch_norm")?,
        [chunks as u32, c as u32, 1],
        [256, 1, 1],
        args,
    )?;
    // mean, var and invstd side by side, so one copy brings them back.
    let stats = output(&dev, 3 * c, dtype)?;
    let es = dtype.size_in_bytes() as u64;
    let (mean, var, invstd) = (
        stats.ptr(),
        stats.ptr() + c as u64 * es,
        stats.ptr() + 2 * c as u64 * es,
    );
    let args = Args::new()
        .arg(ni)
        .arg(ci)
        .arg(li)
        .arg(chunks as i32)
        .arg(px)
        .arg(partial.ptr())
        .arg(0f64)
        .arg(mean)
        .arg(var)
        .arg(invstd)
        .arg(0u64)
        .arg(0u64)
        .arg(0f64);
    launch(
        &dev,
        &kname("bn_stats_finalize", dtype, "batch_norm")?,
        [c.div_ceil(256) as u32, 1, 1],
        [256, 1, 1],
        args,
    )?;
    let all = read_f64(&dev, stats.ptr(), 2 * c, dtype)?;
    let (m, v) = all.split_at(c);
    Ok((m.to_vec(), v.to_vec()))
}

/// `y = (x - mean) invstd w + b` per channel.
pub fn affine(
    x: &Tensor,
    w: &Tensor,
    b: &Tensor,
    [n, c, l]: [usize; 3],
    mean: &[f64],
    invstd: &[f64],
) -> Result<Storage> {
    let dev = device_of(x)?;
    let dtype = x.dtype();
    let (ni, ci, li) = dims(n, c, l)?;
    let mut keep = Vec::new();
    let px = dense_addr(&dev, x, &mut keep)?;
    let pw = dense_addr(&dev, w, &mut keep)?;
    let pb = dense_addr(&dev, b, &mut keep)?;
    let m = values(&dev, mean, dtype)?;
    let r = values(&dev, invstd, dtype)?;
    let total = n * c * l;
    let y = output(&dev, total, dtype)?;
    let args = Args::new()
        .arg(ni)
        .arg(ci)
        .arg(li)
        .arg(px)
        .arg(m.ptr())
        .arg(r.ptr())
        .arg(pw)
        .arg(pb)
        .arg(y.ptr());
    launch(
        &dev,
        &kname("bn_forward_apply", dtype, "batch_norm")?,
        super::launch::grid_for(total),
        [256, 1, 1],
        args,
    )?;
    Ok(storage(y))
}

/// Per-channel `(sum g, sum g (x - mean))`.
pub fn grad_sums(
    x: &Tensor,
    g: &Tensor,
    [n, c, l]: [usize; 3],
    mean: &[f64],
) -> Result<Vec<(f64, f64)>> {
    let dev = device_of(x)?;
    let dtype = x.dtype();
    let (ni, ci, li) = dims(n, c, l)?;
    let mut keep = Vec::new();
    let px = dense_addr(&dev, x, &mut keep)?;
    let pg = dense_addr(&dev, g, &mut keep)?;
    let m = values(&dev, mean, dtype)?;
    let chunks = (n * l).div_ceil(CHUNK).max(1);
    let partial = output(&dev, c * chunks * 2, DType::F64)?;
    let args = Args::new()
        .arg(ni)
        .arg(ci)
        .arg(li)
        .arg(CHUNK as i32)
        .arg(px)
        .arg(pg)
        .arg(m.ptr())
        .arg(partial.ptr());
    launch(
        &dev,
        &kname("bn_backward_partial", dtype, "batch_norm_backward")?,
        [chunks as u32, c as u32, 1],
        [256, 1, 1],
        args,
    )?;
    let p = read_f64(&dev, partial.ptr(), c * chunks * 2, DType::F64)?;
    Ok((0..c)
        .map(|ch| {
            let row = &p[ch * chunks * 2..(ch + 1) * chunks * 2];
            let sg: f64 = row.iter().step_by(2).sum();
            let sgx: f64 = row.iter().skip(1).step_by(2).sum();
            (sg, sgx)
        })
        .collect())
}

/// `dx = sum_i coef_i.a g_i + b x + k` with per-channel `(a_i, b, k)`: `terms` are the
/// gradients with their `a` coefficients, `b` and `k` shared.
pub fn combine(
    x: &Tensor,
    terms: &[(&Tensor, Vec<f64>)],
    b: &[f64],
    k: &[f64],
    [n, c, l]: [usize; 3],
) -> Result<Storage> {
    let dev = device_of(x)?;
    let dtype = x.dtype();
    let (ni, ci, li) = dims(n, c, l)?;
    let total = n * c * l;
    let mut keep = Vec::new();
    let px = dense_addr(&dev, x, &mut keep)?;
    let dx = output(&dev, total, dtype)?;
    let tmp = if terms.len() > 1 {
        Some(output(&dev, total, dtype)?)
    } else {
        None
    };
    for (i, (g, a)) in terms.iter().enumerate() {
        let coef: Vec<f64> = (0..c)
            .flat_map(|ch| {
                if i == 0 {
                    [a[ch], b[ch], k[ch]]
                } else {
                    [a[ch], 0.0, 0.0]
                }
            })
            .collect();
        let cb = values(&dev, &coef, dtype)?;
        let pg = dense_addr(&dev, g, &mut keep)?;
        let dst = if i == 0 {
            dx.ptr()
        } else {
            tmp.as_ref().map_or(0, |t| t.ptr())
        };
        let args = Args::new()
            .arg(ni)
            .arg(ci)
            .arg(li)
            .arg(px)
            .arg(pg)
            .arg(cb.ptr())
            .arg(dst);
        launch(
            &dev,
            &kname("bn_backward_input", dtype, "batch_norm_backward")?,
            super::launch::grid_for(total),
            [256, 1, 1],
            args,
        )?;
        if i > 0 {
            axpby(&dev, dtype, total, 1.0, dst, 1.0, dx.ptr())?;
        }
    }
    Ok(storage(dx))
}
