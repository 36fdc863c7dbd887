//! Launchers of pool.cu: max pooling with argmax indices, the gather at indices and its
//! adjoint (for max pooling's own indices a gather per input element over the windows that
//! cover it; for indices of any origin a scatter-add, one thread per plane, in order: both
//! deterministic), and average pooling
//! (fixed or adaptive windows) with its adjoint.

use super::{AvgPlan, PoolKernel};
use crate::backend::cuda::copy::{dense_addr, fill};
use crate::backend::cuda::launch::{block, grid_for, kname, launch, output, Args};
use crate::backend::cuda::CudaStorage;
use crate::error::{Error, Result};
use crate::layout::Layout;
use crate::DType;
use maxl_kernels::params::PoolGeom;

fn i(v: usize) -> Result<i32> {
    i32::try_from(v).map_err(|_| Error::Invalid(format!("pooling on CUDA: size {v} exceeds i32")))
}

#[allow(clippy::too_many_arguments)]
fn geom(
    input: [usize; 2],
    out: [usize; 2],
    [kernel, stride, padding]: [[usize; 2]; 3],
    adaptive: i32,
) -> Result<PoolGeom> {
    Ok(PoolGeom {
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
        adaptive,
    })
}

impl PoolKernel for CudaStorage {
    fn max_pool2d(
        &self,
        l: &Layout,
        planes: usize,
        input: [usize; 2],
        out: [usize; 2],
        ksp: [[usize; 2]; 3],
    ) -> Result<(Self, Self)> {
        let (dev, dtype) = (self.dev(), self.dtype());
        let g = geom(input, out, ksp, 0)?;
        let total = planes * out[0] * out[1];
        let y = output(dev, total, dtype)?;
        let idx = output(dev, total, DType::I64)?;
        let mut keep = Vec::new();
        let px = dense_addr(self, l, &mut keep)?;
        let args = Args::new()
            .arg(planes as i64)
            .arg(g)
            .arg(px)
            .arg(y.ptr())
            .arg(idx.ptr());
        let name = kname("max_pool2d_fwd", dtype, "max_pool2d")?;
        launch(dev, &name, grid_for(total), block(), args)?;
        Ok((y, idx))
    }

    fn plane_gather(
        &self,
        l: &Layout,
        (idx, li): (&Self, &Layout),
        planes: usize,
        hw: usize,
        plane: usize,
    ) -> Result<Self> {
        let (dev, dtype) = (self.dev(), self.dtype());
        let out = output(dev, planes * plane, dtype)?;
        let mut keep = Vec::new();
        let px = dense_addr(self, l, &mut keep)?;
        let pi = dense_addr(idx, li, &mut keep)?;
        let args = Args::new()
            .arg(planes as i64)
            .arg(hw as i64)
            .arg(plane as i64)
            .arg(px)
            .arg(pi)
            .arg(out.ptr());
        let name = kname("plane_gather", dtype, "max_pool2d")?;
        launch(dev, &name, grid_for(planes * plane), block(), args)?;
        Ok(out)
    }

    fn plane_scatter(
        &self,
        l: &Layout,
        (idx, li): (&Self, &Layout),
        planes: usize,
        input: [usize; 2],
        out_hw: [usize; 2],
        window: Option<[[usize; 2]; 3]>,
    ) -> Result<Self> {
        let (dev, dtype) = (self.dev(), self.dtype());
        let (hw, plane) = (input[0] * input[1], out_hw[0] * out_hw[1]);
        let mut keep = Vec::new();
        let pg = dense_addr(self, l, &mut keep)?;
        let pi = dense_addr(idx, li, &mut keep)?;
        if let Some(ksp) = window {
            // The indices are max_pool2d's own: gather per input element over the windows that
            // cover it (each dx written once: no zero fill, no atomics).
            let out = output(dev, planes * hw, dtype)?;
            let g = geom(input, out_hw, ksp, 0)?;
            let args = Args::new()
                .arg(planes as i64)
                .arg(g)
                .arg(pg)
                .arg(pi)
                .arg(out.ptr());
            let name = kname("max_pool2d_bwd", dtype, "max_pool2d_backward")?;
            launch(dev, &name, grid_for(planes * hw), block(), args)?;
            return Ok(out);
        }
        let out = fill(dev, planes * hw, dtype, 0.0)?;
        let args = Args::new()
            .arg(planes as i64)
            .arg(hw as i64)
            .arg(plane as i64)
            .arg(pg)
            .arg(pi)
            .arg(out.ptr());
        let name = kname("plane_scatter_add", dtype, "max_pool2d_backward")?;
        launch(dev, &name, grid_for(planes), block(), args)?;
        Ok(out)
    }

    fn avg_pool2d(
        &self,
        l: &Layout,
        planes: usize,
        plan: &AvgPlan,
        backward: bool,
    ) -> Result<Self> {
        let (dev, dtype) = (self.dev(), self.dtype());
        let [h, w] = plan.input;
        let [ho, wo] = plan.output();
        let g = match plan.fixed {
            Some(ksp) => geom(plan.input, [ho, wo], ksp, 0)?,
            None => geom(plan.input, [ho, wo], [[1, 1], [1, 1], [0, 0]], 1)?,
        };
        let work = planes * if backward { h * w } else { ho * wo };
        let out = output(dev, work, dtype)?;
        let mut keep = Vec::new();
        let px = dense_addr(self, l, &mut keep)?;
        let base = if backward {
            "avg_pool2d_bwd"
        } else {
            "avg_pool2d_fwd"
        };
        let args = Args::new().arg(planes as i64).arg(g).arg(px).arg(out.ptr());
        launch(
            dev,
            &kname(base, dtype, "avg_pool2d")?,
            grid_for(work),
            block(),
            args,
        )?;
        Ok(out)
    }
}
