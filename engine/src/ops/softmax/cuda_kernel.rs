//! Launchers of masked_softmax.cu for softmax, log_softmax, logsumexp and the input gradients
//! of softmax and log_softmax along an axis: rows of the axis are made the last, dense
//! dimension (a gather when they are not), one warp per row, and the result is put back in the
//! input's axis order. Mask SoftMax runs on `[rows, k]` logits with dense labels and table.

use super::{RowFn, SoftmaxKernel};
use crate::backend::cuda::copy::{copy_view, dense_addr};
use crate::backend::cuda::launch::{addr, kname, launch, output, Args};
use crate::backend::cuda::{CudaDevice, CudaStorage};
use crate::error::{Error, Result};
use crate::layout::Layout;
use crate::DType;

/// The view `l` of `s` with `axis` moved last, as a dense `[rows, d]` buffer: its address
/// (the buffer itself when the view is already so, else a gathered copy kept in `keep`).
fn rows_last(s: &CudaStorage, l: &Layout, axis: usize, keep: &mut Vec<CudaStorage>) -> Result<u64> {
    let mut perm: Vec<usize> = (0..l.rank()).filter(|&a| a != axis).collect();
    perm.push(axis);
    let lp = l.permute(&perm)?;
    if lp.is_contiguous() {
        return Ok(addr(s, &lp));
    }
    let n = lp.numel();
    let tmp = output(s.dev(), n, s.dtype())?;
    copy_view(s.dev(), addr(s, &lp), &lp, s.dtype(), tmp.ptr(), n)?;
    let p = tmp.ptr();
    keep.push(tmp);
    Ok(p)
}

/// Row length as the kernels' `int`.
fn row_len(d: usize) -> Result<i32> {
    i32::try_from(d)
        .map_err(|_| Error::Invalid(format!("softmax on CUDA: axis of {d} is too long")))
}

/// Runs `launch_rows(dst)` on `[pre, post, d]` rows and puts its result in `[pre, d, post]`
/// order (directly into the output when the axis is last).
fn into_axis_order(
    dev: &std::sync::Arc<CudaDevice>,
    dtype: DType,
    (pre, d, post): (usize, usize, usize),
    launch_rows: impl FnOnce(u64) -> Result<()>,
) -> Result<CudaStorage> {
    let n = pre * d * post;
    let out = output(dev, n, dtype)?;
    if post <= 1 {
        launch_rows(out.ptr())?;
        return Ok(out);
    }
    let res = output(dev, n, dtype)?;
    launch_rows(res.ptr())?;
    // res is [pre, post, d] dense; view it as [pre, d, post] and gather.
    let lr = Layout::contiguous(&[pre, post, d]).permute(&[0, 2, 1])?;
    copy_view(dev, res.ptr(), &lr, dtype, out.ptr(), n)?;
    Ok(out)
}

fn split(l: &Layout, axis: usize) -> (usize, usize, usize) {
    (
        l.shape[..axis].iter().product(),
        l.shape[axis],
        l.shape[axis + 1..].iter().product(),
    )
}

impl SoftmaxKernel for CudaStorage {
    fn along_axis(&self, l: &Layout, axis: usize, f: RowFn) -> Result<Self> {
        let (dev, dtype) = (self.dev(), self.dtype());
        let (pre, d, post) = split(l, axis);
        let rows = pre * post;
        let k = row_len(d)?;
        if rows * d == 0 {
            let len = if f == RowFn::LogSumExp {
                rows
            } else {
                rows * d
            };
            return output(dev, len, dtype);
        }
        let mut keep = Vec::new();
        let src = rows_last(self, l, axis, &mut keep)?;
        let grid = [rows.div_ceil(8) as u32, 1, 1];
        let run = |dst: u64| {
            let (base, args) = match f {
                RowFn::Softmax => (
                    "masked_softmax_fwd",
                    Args::new()
                        .arg(rows as i64)
                        .arg(k)
                        .arg(src)
                        .arg(0u64)
                        .arg(0u64)
                        .arg(0i64)
                        .arg(dst),
                ),
                RowFn::LogSoftmax => (
                    "log_softmax_fwd",
                    Args::new().arg(rows as i64).arg(k).arg(src).arg(dst),
                ),
                RowFn::LogSumExp => (
                    "logsumexp_fwd",
                    Args::new().arg(rows as i64).arg(k).arg(src).arg(dst),
                ),
            };
            launch(
                dev,
                &kname(base, dtype, "softmax")?,
                grid,
                [256, 1, 1],
                args,
            )
        };
        if f == RowFn::LogSumExp {
            let out = output(dev, rows, dtype)?;
            run(out.ptr())?;
            return Ok(out);
        }
        into_axis_order(dev, dtype, (pre, d, post), run)
    }

    fn log_softmax_backward(
        &self,
        ly: &Layout,
        g: &Self,
        lg: &Layout,
        axis: usize,
    ) -> Result<Self> {
        row_backward(
            self,
            ly,
            g,
            lg,
            axis,
            "log_softmax_bwd",
            "log_softmax_backward",
        )
    }

    fn softmax_backward(&self, ly: &Layout, g: &Self, lg: &Layout, axis: usize) -> Result<Self> {
        row_backward(
            self,
            ly,
            g,
            lg,
            axis,
            "masked_softmax_bwd",
            "softmax_backward",
        )
    }

    fn masked_softmax(
        &self,
        l: &Layout,
        (labels, ll): (&Self, &Layout),
        (table, lt): (&Self, &Layout),
    ) -> Result<Self> {
        let (dev, dtype) = (self.dev(), self.dtype());
        let (rows, d) = (l.shape[0], l.shape[1]);
        let k = row_len(d)?;
        let out = output(dev, rows * d, dtype)?;
        if rows * d == 0 {
            return Ok(out);
        }
        let mut keep = Vec::new();
        let z = dense_addr(self, l, &mut keep)?;
        let y = dense_addr(labels, ll, &mut keep)?;
        let m = dense_addr(table, lt, &mut keep)?;
        let args = Args::new()
            .arg(rows as i64)
            .arg(k)
            .arg(z)
            .arg(y)
            .arg(m)
            .arg(lt.shape[0] as i64)
            .arg(out.ptr());
        let name = kname("masked_softmax_fwd", dtype, "masked_softmax")?;
        launch(
            dev,
            &name,
            [rows.div_ceil(8) as u32, 1, 1],
            [256, 1, 1],
            args,
        )?;
        Ok(out)
    }
}

/// A row-wise input gradient (`base`: masked_softmax_bwd or log_softmax_bwd) of the output
/// `y` and its gradient `g` along `axis`.
fn row_backward(
    y: &CudaStorage,
    ly: &Layout,
    g: &CudaStorage,
    lg: &Layout,
    axis: usize,
    base: &str,
    op: &'static str,
) -> Result<CudaStorage> {
    let (dev, dtype) = (y.dev(), y.dtype());
    let (pre, d, post) = split(ly, axis);
    let rows = pre * post;
    let k = row_len(d)?;
    if rows * d == 0 {
        return output(dev, rows * d, dtype);
    }
    let mut keep = Vec::new();
    let py = rows_last(y, ly, axis, &mut keep)?;
    let pg = rows_last(g, lg, axis, &mut keep)?;
    let grid = [rows.div_ceil(8) as u32, 1, 1];
    let name = kname(base, dtype, op)?;
    into_axis_order(dev, dtype, (pre, d, post), |dst| {
        let args = Args::new().arg(rows as i64).arg(k).arg(py).arg(pg).arg(dst);
        launch(dev, &name, grid, [256, 1, 1], args)
    })
}
