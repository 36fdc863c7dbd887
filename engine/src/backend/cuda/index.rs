//! Index ops on the device through pool.cu's plane kernels: `gather` (and `index_select`, a
//! gather at a broadcast index) and `scatter_add`, with the indexed axis made the last, dense
//! axis of "planes". The caller checks every index against its axis on the host first (an
//! uploaded index tensor keeps its host values, so that costs no synchronisation).

use super::launch::{device_of, kname, launch, storage, Args};
use super::transfer::{contiguous, copy_view};
use crate::error::Result;
use crate::layout::Layout;
use crate::storage::Storage;
use crate::{no_grad, Device, Tensor};

/// `perm` that moves `axis` last.
fn axis_last(rank: usize, axis: usize) -> Vec<usize> {
    (0..rank).filter(|&d| d != axis).chain([axis]).collect()
}

/// A dense device copy of `t` (any device) permuted by `perm`.
fn dense_permuted(t: &Tensor, perm: &[usize], dev: Device) -> Result<Storage> {
    let v = t.detach().to_device(dev)?.permute(perm)?;
    contiguous(&v)
}

/// `out = x[.., index[..], ..]` along `axis`, the result of the index's shape (the index may be
/// smaller than `x` on the other axes).
pub fn gather(x: &Tensor, axis: usize, index: &Tensor) -> Result<Storage> {
    let _g = no_grad();
    let dev = x.device();
    let d = device_of(x)?;
    let ish = index.shape().to_vec();
    let rank = ish.len();
    // x cut to the index's extent on the other axes.
    let mut xv = x.detach();
    for (a, &n) in ish.iter().enumerate() {
        if a != axis && n != xv.shape()[a] {
            xv = xv.narrow(a as isize, 0, n)?;
        }
    }
    let perm = axis_last(rank, axis);
    let xs = dense_permuted(&xv, &perm, dev)?;
    let is = dense_permuted(index, &perm, dev)?;
    let hw = x.shape()[axis];
    let plane = ish[axis];
    let total: usize = ish.iter().product();
    let planes = total.checked_div(plane).unwrap_or(0);
    let out = super::launch::output(&d, total, x.dtype())?;
    if total > 0 {
        let args = Args::new()
            .arg(planes as i64)
            .arg(hw as i64)
            .arg(plane as i64)
            .arg(ptr(&xs))
            .arg(ptr(&is))
            .arg(out.ptr());
        launch(
            &d,
            &kname("plane_gather", x.dtype(), "gather")?,
            super::launch::grid_for(total),
            super::launch::block(),
            args,
        )?;
    }
    // `out` is in the permuted order: read it back in the index's order.
    let pshape: Vec<usize> = perm.iter().map(|&p| ish[p]).collect();
    back_to_order(&d, storage(out), &pshape, &perm, x.dtype())
}

/// `x` with `src` added at `index` along `axis` (index and src of x's shape on the other axes).
pub fn scatter_add(x: &Tensor, axis: usize, index: &Tensor, src: &Tensor) -> Result<Storage> {
    let _g = no_grad();
    let dev = x.device();
    let d = device_of(x)?;
    let rank = x.rank();
    let perm = axis_last(rank, axis);
    let out = dense_permuted(x, &perm, dev)?;
    let is = dense_permuted(index, &perm, dev)?;
    let ss = dense_permuted(src, &perm, dev)?;
    let hw = x.shape()[axis];
    let plane = index.shape()[axis];
    let planes = x.numel().checked_div(hw).unwrap_or(0);
    if planes > 0 && plane > 0 {
        let args = Args::new()
            .arg(planes as i64)
            .arg(hw as i64)
            .arg(plane as i64)
            .arg(ptr(&ss))
            .arg(ptr(&is))
            .arg(ptr(&out));
        launch(
            &d,
            &kname("plane_scatter_add", x.dtype(), "scatter_add")?,
            super::launch::grid_for(planes),
            super::launch::block(),
            args,
        )?;
    }
    let xshape = x.shape();
    let pshape: Vec<usize> = perm.iter().map(|&p| xshape[p]).collect();
    back_to_order(&d, out, &pshape, &perm, x.dtype())
}

fn ptr(s: &Storage) -> u64 {
    s.cuda().map_or(0, |b| b.ptr())
}

/// Dense `data` of shape `pshape` (= original shape permuted by `perm`) as a dense buffer in
/// the original axis order.
fn back_to_order(
    d: &std::sync::Arc<super::CudaDevice>,
    data: Storage,
    pshape: &[usize],
    perm: &[usize],
    dtype: crate::DType,
) -> Result<Storage> {
    if perm.iter().enumerate().all(|(i, &p)| i == p) {
        return Ok(data);
    }
    let mut inv = vec![0; perm.len()];
    for (i, &p) in perm.iter().enumerate() {
        inv[p] = i;
    }
    let l = Layout::contiguous(pshape).permute(&inv)?;
    let n: usize = pshape.iter().product();
    let out = super::launch::output(d, n, dtype)?;
    copy_view(d, ptr(&data), &l, dtype, out.ptr(), n)?;
    Ok(storage(out))
}
