//! The concat launcher: each part is written as one dense block of an `[S, pre, post]` buffer
//! (axis first), which is then gathered into `[pre, S, post]` order (strided copies only).

use super::ShapeKernel;
use crate::backend::cuda::copy::{copy_view, dense_addr};
use crate::backend::cuda::launch::output;
use crate::backend::cuda::CudaStorage;
use crate::error::Result;
use crate::layout::Layout;

impl ShapeKernel for CudaStorage {
    fn concat(
        &self,
        l: &Layout,
        parts: &[(&Self, &Layout)],
        axis: usize,
        shape: &[usize],
    ) -> Result<Self> {
        let dev = self.dev();
        let dtype = self.dtype();
        let total: usize = shape.iter().product();
        let out = output(dev, total, dtype)?;
        let pre: usize = shape[..axis].iter().product();
        let post: usize = shape[axis + 1..].iter().product();
        let big_s = shape[axis];
        if total == 0 {
            return Ok(out);
        }
        let es = dtype.size_in_bytes() as u64;
        let tmp = if pre == 1 {
            None
        } else {
            Some(output(dev, total, dtype)?)
        };
        let dst_base = tmp.as_ref().map_or(out.ptr(), |t| t.ptr());
        let mut off = 0usize;
        for (p, lp) in std::iter::once((self, l)).chain(parts.iter().copied()) {
            let s = lp.shape[axis];
            let n = lp.numel();
            if n > 0 {
                // The part, dense as [pre, s, post], read in [s, pre, post] order.
                let mut keep = Vec::new();
                let src = dense_addr(p, lp, &mut keep)?;
                let l3 = Layout {
                    shape: vec![pre, s, post],
                    strides: vec![s * post, post, 1],
                    offset: 0,
                };
                let lt = l3.permute(&[1, 0, 2])?;
                copy_view(
                    dev,
                    src,
                    &lt,
                    dtype,
                    dst_base + (off * pre * post) as u64 * es,
                    n,
                )?;
            }
            off += s;
        }
        if let Some(t) = tmp {
            // tmp is [S, pre, post]; read it in [pre, S, post] order.
            let lt = Layout {
                shape: vec![pre, big_s, post],
                strides: vec![post, pre * post, 1],
                offset: 0,
            };
            copy_view(dev, t.ptr(), &lt, dtype, out.ptr(), total)?;
        }
        Ok(out)
    }
}
