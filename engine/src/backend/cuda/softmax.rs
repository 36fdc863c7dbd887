//! Launchers of masked_softmax.cu for the engine's softmax, log_softmax and logsumexp along an
//! axis: rows of the axis are made the last, dense dimension (a gather when they are not), one
//! warp per row, and the result is put back in the input's axis order.

use super::launch::{device_of, kname, launch, operand, output, storage, Args};
use super::transfer::copy_view;
use crate::error::{Error, Result};
use crate::layout::Layout;
use crate::storage::Storage;
use crate::Tensor;

/// Which row function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowFn {
    Softmax,
    LogSoftmax,
    LogSumExp,
}

/// `f` along `axis` of `x`: x's shape for softmax/log_softmax, `[pre, post]` (x's shape
/// without the axis) for logsumexp.
pub fn along_axis(x: &Tensor, axis: usize, f: RowFn) -> Result<Storage> {
    let dev = device_of(x)?;
    let dtype = x.dtype();
    let shape = x.shape();
    let d = shape[axis];
    let pre: usize = shape[..axis].iter().product();
    let post: usize = shape[axis + 1..].iter().product();
    let rows = pre * post;
    let k = i32::try_from(d)
        .map_err(|_| Error::Invalid(format!("softmax on CUDA: axis of {d} is too long")))?;
    let out_len = if f == RowFn::LogSumExp {
        rows
    } else {
        rows * d
    };
    let out = output(&dev, out_len, dtype)?;
    if rows * d == 0 {
        return Ok(storage(out));
    }
    // Rows dense and last: [pre, post, d].
    let mut perm: Vec<usize> = (0..shape.len()).filter(|&a| a != axis).collect();
    perm.push(axis);
    let lp = x.layout().permute(&perm)?;
    let (_, base) = operand(x)?;
    let tmp;
    let src = if lp.is_contiguous() {
        base
    } else {
        tmp = output(&dev, rows * d, dtype)?;
        copy_view(&dev, base, &lp, dtype, tmp.ptr(), rows * d)?;
        tmp.ptr()
    };
    // Results in [pre, post, d] order; put back to [pre, d, post] when the axis was not last.
    let back = post > 1 && f != RowFn::LogSumExp;
    let res = if back {
        output(&dev, rows * d, dtype)?
    } else {
        // Reuse `out` directly.
        return run(&dev, f, rows, k, src, out.ptr(), dtype).map(|_| storage(out));
    };
    run(&dev, f, rows, k, src, res.ptr(), dtype)?;
    // res is [pre, post, d] dense; view it as [pre, d, post] and gather.
    let lr = Layout::contiguous(&[pre, post, d]).permute(&[0, 2, 1])?;
    copy_view(&dev, res.ptr(), &lr, dtype, out.ptr(), rows * d)?;
    Ok(storage(out))
}

fn run(
    dev: &super::CudaDevice,
    f: RowFn,
    rows: usize,
    k: i32,
    src: u64,
    dst: u64,
    dtype: crate::DType,
) -> Result<()> {
    let grid = [rows.div_ceil(8) as u32, 1, 1];
    let block = [256, 1, 1];
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
    launch(dev, &kname(base, dtype, "softmax")?, grid, block, args)
}
