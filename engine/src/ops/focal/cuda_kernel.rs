//! Launchers of focal_loss.cu: `[rows, k]` logits and targets made dense (a gather when they
//! are not), one warp per row (8 rows per 256-thread block). The backward reads its per-row
//! scale `u` through its stride, so a broadcast scalar (the mean's gradient) is not expanded.

use super::FocalKernel;
use crate::backend::cuda::copy::dense_addr;
use crate::backend::cuda::launch::{addr, kname, launch, output, Args};
use crate::backend::cuda::CudaStorage;
use crate::error::{Error, Result};
use crate::layout::Layout;

/// Row length as the kernels' `int`, and the grid of `rows` rows.
fn shape(rows: usize, k: usize) -> Result<(i32, [u32; 3])> {
    let k = i32::try_from(k)
        .map_err(|_| Error::Invalid(format!("focal loss on CUDA: rows of {k} are too long")))?;
    Ok((k, [rows.div_ceil(8) as u32, 1, 1]))
}

impl FocalKernel for CudaStorage {
    fn focal_loss(&self, l: &Layout, (t, lt): (&Self, &Layout), gamma: f64) -> Result<Self> {
        let (dev, dtype) = (self.dev(), self.dtype());
        let (rows, k) = (l.shape[0], l.shape[1]);
        let out = output(dev, rows, dtype)?;
        if rows == 0 {
            return Ok(out);
        }
        let (ki, grid) = shape(rows, k)?;
        let mut keep = Vec::new();
        let z = dense_addr(self, l, &mut keep)?;
        let tp = dense_addr(t, lt, &mut keep)?;
        let args = Args::new()
            .arg(rows as i64)
            .arg(ki)
            .arg(z)
            .arg(tp)
            .float(dtype, gamma)
            .arg(out.ptr());
        let name = kname("focal_loss_fwd", dtype, "focal_loss")?;
        launch(dev, &name, grid, [256, 1, 1], args)?;
        Ok(out)
    }

    fn focal_loss_backward(
        &self,
        l: &Layout,
        (t, lt): (&Self, &Layout),
        (u, lu): (&Self, &Layout),
        gamma: f64,
    ) -> Result<Self> {
        let (dev, dtype) = (self.dev(), self.dtype());
        let (rows, k) = (l.shape[0], l.shape[1]);
        let out = output(dev, rows * k, dtype)?;
        if rows * k == 0 {
            return Ok(out);
        }
        let (ki, grid) = shape(rows, k)?;
        let mut keep = Vec::new();
        let z = dense_addr(self, l, &mut keep)?;
        let tp = dense_addr(t, lt, &mut keep)?;
        let u_stride = lu.strides.first().copied().unwrap_or(0) as i64;
        let args = Args::new()
            .arg(rows as i64)
            .arg(ki)
            .arg(z)
            .arg(tp)
            .float(dtype, gamma)
            .arg(addr(u, lu))
            .arg(u_stride)
            .float(dtype, 1.0)
            .arg(out.ptr());
        let name = kname("focal_loss_bwd", dtype, "focal_loss_backward")?;
        launch(dev, &name, grid, [256, 1, 1], args)?;
        Ok(out)
    }
}
