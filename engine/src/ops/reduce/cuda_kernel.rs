//! Launchers of reduce.cu: sums, maxima and minima over the trailing `r` elements of a view
//! (the caller permutes the reduced axes last). A dense view whose reduced axes are already
//! last or form one middle block is read in place; other views are gathered first.

use super::{Fold, ReduceKernel};
use crate::backend::cuda::copy::copy_view;
use crate::backend::cuda::launch::{addr, block, grid_for, kname, launch, output, Args};
use crate::backend::cuda::{CudaDevice, CudaStorage};
use crate::error::Result;
use crate::layout::Layout;
use crate::DType;
use std::sync::Arc;

/// Elements per block of the first stage of a long sum.
const CHUNK: usize = 8192;

impl ReduceKernel for CudaStorage {
    fn fold(
        &self,
        l: &Layout,
        axes: &[usize],
        lp: &Layout,
        rows: usize,
        r: usize,
        how: Fold,
    ) -> Result<Self> {
        fold(self, l, axes, lp, rows, r, how)
    }
}

/// Folds the view `x` of `s` over its (sorted) `axes`, `r` elements each, into `rows` dense
/// results; `l` is x permuted so that those axes come last.
fn fold(
    s: &CudaStorage,
    x: &Layout,
    axes: &[usize],
    l: &Layout,
    rows: usize,
    r: usize,
    how: Fold,
) -> Result<CudaStorage> {
    let dev = s.dev().clone();
    let dtype = s.dtype();
    let n = x.numel();
    let out = output(&dev, rows, dtype)?;
    if rows == 0 {
        return Ok(out);
    }
    if r == 0 {
        // An empty sum is 0 (max/min of nothing is refused by the caller).
        let args = Args::new()
            .arg(rows as i64)
            .arg(out.ptr())
            .float(dtype, 0.0);
        launch(
            &dev,
            &kname("fill", dtype, "sum")?,
            grid_for(rows),
            block(),
            args,
        )?;
        return Ok(out);
    }
    let base = addr(s, x);
    // Reduced axes last and dense: read in place; else gather into a dense [rows, r] buffer.
    let dense_tmp;
    let src = if l.is_contiguous() {
        base
    } else {
        if how == Fold::Sum {
            if let Some((pre, d, post)) = middle_block(x, axes) {
                sum_mid(&dev, dtype, (pre, d, post), base, out.ptr(), 1.0)?;
                return Ok(out);
            }
        }
        dense_tmp = output(&dev, n, dtype)?;
        copy_view(&dev, base, l, dtype, dense_tmp.ptr(), n)?;
        dense_tmp.ptr()
    };
    match how {
        Fold::Sum => sum_rows(&dev, dtype, rows, r, src, out.ptr(), 1.0)?,
        Fold::Max | Fold::Min => {
            let base = if how == Fold::Max {
                "max_last"
            } else {
                "min_last"
            };
            let args = Args::new().arg(r as i64).arg(src).arg(out.ptr()).arg(0u64);
            launch(
                &dev,
                &kname(base, dtype, "max")?,
                [rows as u32, 1, 1],
                block(),
                args,
            )?;
        }
    }
    Ok(out)
}

/// `(pre, d, post)` when `x` is dense and its reduced `axes` are consecutive, so that the
/// sum reads `[pre, d, post]` in place.
fn middle_block(x: &Layout, axes: &[usize]) -> Option<(usize, usize, usize)> {
    let (&first, &last) = (axes.first()?, axes.last()?);
    if !x.is_contiguous() || last - first + 1 != axes.len() {
        return None;
    }
    let s = &x.shape;
    Some((
        s[..first].iter().product(),
        s[first..=last].iter().product(),
        s[last + 1..].iter().product(),
    ))
}

/// `out[row] = scale * sum(src[row, 0..r])` for dense `src`; long rows with few of them go
/// through a first stage of fixed chunks (deterministic either way).
fn sum_rows(
    dev: &Arc<CudaDevice>,
    dtype: DType,
    rows: usize,
    r: usize,
    src: u64,
    out: u64,
    scale: f64,
) -> Result<()> {
    if rows < 64 && r > 4 * CHUNK {
        let chunks = r.div_ceil(CHUNK);
        let partial = output(dev, rows * chunks, dtype)?;
        let args = Args::new()
            .arg(r as i64)
            .arg(CHUNK as i64)
            .arg(src)
            .arg(partial.ptr());
        launch(
            dev,
            &kname("sum_partial", dtype, "sum")?,
            [chunks as u32, rows as u32, 1],
            block(),
            args,
        )?;
        return sum_rows(dev, dtype, rows, chunks, partial.ptr(), out, scale);
    }
    let args = Args::new()
        .arg(r as i64)
        .arg(src)
        .arg(out)
        .float(dtype, scale);
    launch(
        dev,
        &kname("sum_last", dtype, "sum")?,
        [rows as u32, 1, 1],
        block(),
        args,
    )
}

/// `out[p, q] = scale * sum_i src[p, i, q]` for dense `src` of `[pre, d, post]`.
fn sum_mid(
    dev: &Arc<CudaDevice>,
    dtype: DType,
    (pre, d, post): (usize, usize, usize),
    src: u64,
    out: u64,
    scale: f64,
) -> Result<()> {
    let args = Args::new()
        .arg(pre as i64)
        .arg(d as i64)
        .arg(post as i64)
        .arg(src)
        .arg(out)
        .float(dtype, scale);
    launch(
        dev,
        &kname("sum_mid", dtype, "sum")?,
        grid_for(pre * post),
        block(),
        args,
    )
}
