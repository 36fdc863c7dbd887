//! Index ops on the device through pool.cu's plane kernels: `gather` (and `index_select`, a
//! gather at a broadcast index) and `scatter_add`, with the indexed axis made the last, dense
//! axis of "planes". A `scatter_add` whose index is smaller than its target on other axes runs
//! on the host (the plane kernel needs whole planes).

use super::IndexKernel;
use crate::backend::cpu::buffer::CpuStorage;
use crate::backend::cuda::copy::copy_view;
use crate::backend::cuda::launch::{addr, block, grid_for, kname, launch, output, Args};
use crate::backend::cuda::transfer::upload_to;
use crate::backend::cuda::CudaStorage;
use crate::backend::BackendStorage;
use crate::error::Result;
use crate::layout::Layout;

/// `perm` that moves `axis` last.
fn axis_last(rank: usize, axis: usize) -> Vec<usize> {
    (0..rank).filter(|&d| d != axis).chain([axis]).collect()
}

/// A dense copy of the view `l` of `s` permuted by `perm`.
fn dense_permuted(s: &CudaStorage, l: &Layout, perm: &[usize]) -> Result<CudaStorage> {
    let lp = l.permute(perm)?;
    let n = lp.numel();
    let out = output(s.dev(), n, s.dtype())?;
    copy_view(s.dev(), addr(s, &lp), &lp, s.dtype(), out.ptr(), n)?;
    Ok(out)
}

/// Dense `data` of shape `pshape` (= the original shape permuted by `perm`) as a dense buffer
/// in the original axis order.
fn back_to_order(data: CudaStorage, pshape: &[usize], perm: &[usize]) -> Result<CudaStorage> {
    if perm.iter().enumerate().all(|(i, &p)| i == p) {
        return Ok(data);
    }
    let mut inv = vec![0; perm.len()];
    for (i, &p) in perm.iter().enumerate() {
        inv[p] = i;
    }
    let l = Layout::contiguous(pshape).permute(&inv)?;
    let n: usize = pshape.iter().product();
    let out = output(data.dev(), n, data.dtype())?;
    copy_view(data.dev(), data.ptr(), &l, data.dtype(), out.ptr(), n)?;
    Ok(out)
}

impl IndexKernel for CudaStorage {
    fn index_select(
        &self,
        l: &Layout,
        axis: usize,
        index: &Self,
        li: &Layout,
        host: &[i64],
    ) -> Result<Self> {
        // The 1-D index laid along `axis` and broadcast over the other axes.
        let mut shape = l.shape.clone();
        shape[axis] = li.numel();
        let mut strides = vec![0; shape.len()];
        strides[axis] = li.strides.first().copied().unwrap_or(1);
        let le = Layout {
            shape,
            strides,
            offset: li.offset,
        };
        self.gather(l, axis, index, &le, host)
    }

    fn gather(
        &self,
        l: &Layout,
        axis: usize,
        index: &Self,
        li: &Layout,
        _host: &[i64],
    ) -> Result<Self> {
        let ish = li.shape.clone();
        let rank = ish.len();
        // x cut to the index's extent on the other axes.
        let mut lx = l.clone();
        for (a, &n) in ish.iter().enumerate() {
            if a != axis && n != lx.shape[a] {
                lx = lx.narrow(a, 0, n)?;
            }
        }
        let perm = axis_last(rank, axis);
        let xs = dense_permuted(self, &lx, &perm)?;
        let is = dense_permuted(index, li, &perm)?;
        let hw = l.shape[axis];
        let plane = ish[axis];
        let total: usize = ish.iter().product();
        let planes = total.checked_div(plane).unwrap_or(0);
        let out = output(self.dev(), total, self.dtype())?;
        if total > 0 {
            let args = Args::new()
                .arg(planes as i64)
                .arg(hw as i64)
                .arg(plane as i64)
                .arg(xs.ptr())
                .arg(is.ptr())
                .arg(out.ptr());
            let name = kname("plane_gather", self.dtype(), "gather")?;
            launch(self.dev(), &name, grid_for(total), block(), args)?;
        }
        // `out` is in the permuted order: read it back in the index's order.
        let pshape: Vec<usize> = perm.iter().map(|&p| ish[p]).collect();
        back_to_order(out, &pshape, &perm)
    }

    fn scatter_add(
        &self,
        l: &Layout,
        axis: usize,
        (index, li): (&Self, &Layout),
        host: &[i64],
        src: &Self,
        ls: &Layout,
    ) -> Result<Self> {
        let full = (0..l.rank()).all(|d| d == axis || li.shape[d] == l.shape[d]);
        if !full {
            // Through the host: the plane kernel adds whole planes.
            let (hx, hs) = (self.to_cpu(l)?, src.to_cpu(ls)?);
            let (dl, dls) = (Layout::contiguous(&l.shape), Layout::contiguous(&ls.shape));
            let hi = CpuStorage::I64(host.to_vec());
            let r = hx.scatter_add(&dl, axis, (&hi, li), host, &hs, &dls)?;
            return upload_to(self.dev(), &r);
        }
        let rank = l.rank();
        let perm = axis_last(rank, axis);
        let out = dense_permuted(self, l, &perm)?;
        let is = dense_permuted(index, li, &perm)?;
        let ss = dense_permuted(src, ls, &perm)?;
        let hw = l.shape[axis];
        let plane = li.shape[axis];
        let planes = l.numel().checked_div(hw).unwrap_or(0);
        if planes > 0 && plane > 0 {
            let args = Args::new()
                .arg(planes as i64)
                .arg(hw as i64)
                .arg(plane as i64)
                .arg(ss.ptr())
                .arg(is.ptr())
                .arg(out.ptr());
            let name = kname("plane_scatter_add", self.dtype(), "scatter_add")?;
            launch(self.dev(), &name, grid_for(planes), block(), args)?;
        }
        let pshape: Vec<usize> = perm.iter().map(|&p| l.shape[p]).collect();
        back_to_order(out, &pshape, &perm)
    }
}
