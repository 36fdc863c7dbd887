//! Launchers of batchnorm.cu. Statistics, gradient sums and the per-channel coefficients stay
//! on the device: the statistics and sums are reduced in fixed chunks (f64 partials, then a
//! finalize in order: deterministic), `bn_backward_finalize` turns a gradient's sums into the
//! weight or bias gradient or the input gradient's coefficients, and terms of a fused input
//! gradient are added with `axpby`. Nothing is copied to the host.

use super::{BnTerm, NormKernel, SumOut, View};
use crate::backend::cuda::copy::{contiguous, dense_addr};
use crate::backend::cuda::launch::{grid_for, kname, launch, output, Args};
use crate::backend::cuda::{CudaDevice, CudaStorage};
use crate::error::{Error, Result};
use crate::layout::Layout;
use crate::DType;
use std::sync::Arc;

/// Elements per block of the statistics' and sums' first stage.
const CHUNK: usize = 4096;

fn dims([n, c, l]: [usize; 3]) -> Result<(i32, i32, i32)> {
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

fn chunks([n, _, l]: [usize; 3]) -> usize {
    (n * l).div_ceil(CHUNK).max(1)
}

/// `y = a x + b y` in place on a dense buffer `y` of `n` elements (x dense too).
fn axpby(dev: &CudaDevice, dtype: DType, n: usize, a: f64, x: u64, b: f64, y: u64) -> Result<()> {
    let args = Args::new()
        .arg(n as i64)
        .float(dtype, a)
        .arg(x)
        .float(dtype, b)
        .arg(y);
    let name = kname("axpby", dtype, "axpby")?;
    launch(dev, &name, grid_for(n), [256, 1, 1], args)
}

/// `bn_backward_finalize`: from `chunks` partial sums per channel, the weight gradient, the
/// bias gradient and/or the input gradient's coefficients (null pointers: not wanted).
#[allow(clippy::too_many_arguments)]
fn finalize(
    dev: &Arc<CudaDevice>,
    dtype: DType,
    ncl: [usize; 3],
    (partial, chunks): (u64, usize),
    (mean, invstd, w): (u64, u64, u64),
    (dweight, dbias, coef): (u64, u64, u64),
) -> Result<()> {
    let (ni, ci, li) = dims(ncl)?;
    let c = ncl[1];
    let args = Args::new()
        .arg(ni)
        .arg(ci)
        .arg(li)
        .arg(chunks as i32)
        .arg(partial)
        .arg(mean)
        .arg(invstd)
        .arg(w)
        .arg(dweight)
        .arg(dbias)
        .arg(coef);
    let name = kname("bn_backward_finalize", dtype, "batch_norm_backward")?;
    launch(
        dev,
        &name,
        [c.div_ceil(256) as u32, 1, 1],
        [256, 1, 1],
        args,
    )
}

/// `bn_forward_apply`: `(x - mean) invstd w + b` per channel (`w`, `b` may be null).
#[allow(clippy::too_many_arguments)]
fn forward_apply(
    dev: &Arc<CudaDevice>,
    dtype: DType,
    ncl: [usize; 3],
    x: u64,
    (mean, invstd): (u64, u64),
    (w, b): (u64, u64),
    y: u64,
) -> Result<()> {
    let (ni, ci, li) = dims(ncl)?;
    let total = ncl.iter().product();
    let args = Args::new()
        .arg(ni)
        .arg(ci)
        .arg(li)
        .arg(x)
        .arg(mean)
        .arg(invstd)
        .arg(w)
        .arg(b)
        .arg(y);
    let name = kname("bn_forward_apply", dtype, "batch_norm")?;
    launch(dev, &name, grid_for(total), [256, 1, 1], args)
}

impl NormKernel for CudaStorage {
    fn bn_stats(
        &self,
        l: &Layout,
        ncl: [usize; 3],
        eps: f64,
        running: Option<([View<'_, Self>; 2], f64)>,
    ) -> Result<([Self; 2], Option<[Self; 2]>)> {
        let (dev, dtype) = (self.dev(), self.dtype());
        let (ni, ci, li) = dims(ncl)?;
        let c = ncl[1];
        let mut keep = Vec::new();
        let px = dense_addr(self, l, &mut keep)?;
        let chunks = chunks(ncl);
        let partial = output(dev, c * chunks * 2, DType::F64)?;
        let args = Args::new()
            .arg(ni)
            .arg(ci)
            .arg(li)
            .arg(CHUNK as i32)
            .arg(px)
            .arg(partial.ptr());
        launch(
            dev,
            &kname("bn_stats_partial", dtype, "batch_norm")?,
            [chunks as u32, c as u32, 1],
            [256, 1, 1],
            args,
        )?;
        let (mean, invstd) = (output(dev, c, dtype)?, output(dev, c, dtype)?);
        // New running statistics: copies of the old ones, updated in place by the finalize.
        let (running, momentum) = match running {
            Some(([(rm, lm), (rv, lv)], momentum)) => {
                (Some([contiguous(rm, lm)?, contiguous(rv, lv)?]), momentum)
            }
            None => (None, 0.0),
        };
        let (prm, prv) = match &running {
            Some([m, v]) => (m.ptr(), v.ptr()),
            None => (0, 0),
        };
        let args = Args::new()
            .arg(ni)
            .arg(ci)
            .arg(li)
            .arg(chunks as i32)
            .arg(px)
            .arg(partial.ptr())
            .arg(eps)
            .arg(mean.ptr())
            .arg(0u64)
            .arg(invstd.ptr())
            .arg(prm)
            .arg(prv)
            .arg(momentum);
        launch(
            dev,
            &kname("bn_stats_finalize", dtype, "batch_norm")?,
            [c.div_ceil(256) as u32, 1, 1],
            [256, 1, 1],
            args,
        )?;
        Ok(([mean, invstd], running))
    }

    fn bn_affine(
        &self,
        l: &Layout,
        (w, lw): View<'_, Self>,
        (b, lb): View<'_, Self>,
        mean: &Self,
        invstd: &Self,
        ncl: [usize; 3],
    ) -> Result<Self> {
        let (dev, dtype) = (self.dev(), self.dtype());
        let mut keep = Vec::new();
        let px = dense_addr(self, l, &mut keep)?;
        let pw = dense_addr(w, lw, &mut keep)?;
        let pb = dense_addr(b, lb, &mut keep)?;
        let y = output(dev, ncl.iter().product(), dtype)?;
        let stats = (mean.ptr(), invstd.ptr());
        forward_apply(dev, dtype, ncl, px, stats, (pw, pb), y.ptr())?;
        Ok(y)
    }

    fn bn_grad_sums(
        &self,
        l: &Layout,
        (g, lg): View<'_, Self>,
        mean: &Self,
        ncl: [usize; 3],
    ) -> Result<(Self, usize)> {
        let (dev, dtype) = (self.dev(), self.dtype());
        let (ni, ci, li) = dims(ncl)?;
        let c = ncl[1];
        let mut keep = Vec::new();
        let px = dense_addr(self, l, &mut keep)?;
        let pg = dense_addr(g, lg, &mut keep)?;
        let chunks = chunks(ncl);
        let partial = output(dev, c * chunks * 2, DType::F64)?;
        let args = Args::new()
            .arg(ni)
            .arg(ci)
            .arg(li)
            .arg(CHUNK as i32)
            .arg(px)
            .arg(pg)
            .arg(mean.ptr())
            .arg(partial.ptr());
        launch(
            dev,
            &kname("bn_backward_partial", dtype, "batch_norm_backward")?,
            [chunks as u32, c as u32, 1],
            [256, 1, 1],
            args,
        )?;
        Ok((partial, chunks))
    }

    fn bn_sums_finish(
        &self,
        chunks: usize,
        invstd: &Self,
        ncl: [usize; 3],
        x_dtype: DType,
        what: SumOut,
    ) -> Result<Self> {
        let dev = self.dev();
        let out = output(dev, ncl[1], x_dtype)?;
        let (dw, db) = match what {
            SumOut::Weight => (out.ptr(), 0),
            SumOut::Bias => (0, out.ptr()),
        };
        let sums = (self.ptr(), chunks);
        finalize(dev, x_dtype, ncl, sums, (0, invstd.ptr(), 0), (dw, db, 0))?;
        Ok(out)
    }

    fn bn_backward_input(
        &self,
        l: &Layout,
        terms: &[BnTerm<'_, Self>],
        cx: Option<View<'_, Self>>,
        mean: &Self,
        invstd: &Self,
        ncl: [usize; 3],
    ) -> Result<Self> {
        let (dev, dtype) = (self.dev(), self.dtype());
        let (ni, ci, li) = dims(ncl)?;
        let (c, total) = (ncl[1], ncl.iter().product());
        let mut keep = Vec::new();
        let px = dense_addr(self, l, &mut keep)?;
        let dx = output(dev, total, dtype)?;
        let tmp = if terms.len() > 1 || cx.is_some() {
            Some(output(dev, total, dtype)?)
        } else {
            None
        };
        let tmp_ptr = tmp.as_ref().map_or(0, |t| t.ptr());
        for (i, t) in terms.iter().enumerate() {
            // This term's (a, b, k) per channel: dx_i = a g_i + b x + k.
            let coef = output(dev, 3 * c, dtype)?;
            let pw = dense_addr(t.w.0, t.w.1, &mut keep)?;
            let sums = (t.sums.ptr(), t.chunks);
            let stats = (mean.ptr(), invstd.ptr(), pw);
            finalize(dev, dtype, ncl, sums, stats, (0, 0, coef.ptr()))?;
            let pg = dense_addr(t.g.0, t.g.1, &mut keep)?;
            let dst = if i == 0 { dx.ptr() } else { tmp_ptr };
            let args = Args::new()
                .arg(ni)
                .arg(ci)
                .arg(li)
                .arg(px)
                .arg(pg)
                .arg(coef.ptr())
                .arg(dst);
            let name = kname("bn_backward_input", dtype, "batch_norm_backward")?;
            launch(dev, &name, grid_for(total), [256, 1, 1], args)?;
            if i > 0 {
                axpby(dev, dtype, total, 1.0, dst, 1.0, dx.ptr())?;
            }
        }
        if let Some((cv, lc)) = cx {
            // cx * xhat: a batch norm of x with weight cx and no bias.
            let pc = dense_addr(cv, lc, &mut keep)?;
            let stats = (mean.ptr(), invstd.ptr());
            forward_apply(dev, dtype, ncl, px, stats, (pc, 0), tmp_ptr)?;
            axpby(dev, dtype, total, 1.0, tmp_ptr, 1.0, dx.ptr())?;
        }
        Ok(dx)
    }
}
