//! Launchers of elementwise.cu: unary maps with scalar parameters, binary maps, `add_scaled` and `where`
//! over broadcast views. Outputs are new dense buffers.

use super::{Binary, ElementwiseKernel, Unary};
use crate::backend::cuda::launch::{addr, block, grid_for, kname, launch, output, strided, Args};
use crate::backend::cuda::CudaStorage;
use crate::error::Result;
use crate::layout::Layout;

impl ElementwiseKernel for CudaStorage {
    fn unary<F: Unary>(&self, l: &Layout, f: &F) -> Result<Self> {
        let (base, p0, p1) = f.cuda();
        let dtype = self.dtype();
        let n = l.numel();
        let out = output(self.dev(), n, dtype)?;
        let s = strided(&l.shape, &[l])?;
        let args = Args::new()
            .arg(n as i64)
            .arg(addr(self, l))
            .arg(out.ptr())
            .float(dtype, p0)
            .float(dtype, p1)
            .arg(s);
        let name = kname(base, dtype, F::NAME)?;
        launch(self.dev(), &name, grid_for(n), block(), args)?;
        Ok(out)
    }

    fn binary<F: Binary>(&self, la: &Layout, b: &Self, lb: &Layout) -> Result<Self> {
        two_operands(self, la, b, lb, F::NAME, None)
    }

    fn add_scaled(&self, la: &Layout, b: &Self, lb: &Layout, alpha: f64) -> Result<Self> {
        two_operands(self, la, b, lb, "add_scaled", Some(alpha))
    }

    fn select(&self, lc: &Layout, a: &Self, la: &Layout, b: &Self, lb: &Layout) -> Result<Self> {
        let n = la.numel();
        let out = output(self.dev(), n, a.dtype())?;
        let s = strided(&la.shape, &[lc, la, lb])?;
        let args = Args::new()
            .arg(n as i64)
            .arg(addr(self, lc))
            .arg(addr(a, la))
            .arg(addr(b, lb))
            .arg(out.ptr())
            .arg(s);
        let name = kname("where", a.dtype(), "where")?;
        launch(self.dev(), &name, grid_for(n), block(), args)?;
        Ok(out)
    }
}

/// Launches the two-operand kernel `base` (`(i64 n, const T* a, const T* b, T* out[, T
/// scalar], Strided L)`) over the broadcast views `la`, `lb`.
fn two_operands(
    a: &CudaStorage,
    la: &Layout,
    b: &CudaStorage,
    lb: &Layout,
    base: &'static str,
    scalar: Option<f64>,
) -> Result<CudaStorage> {
    let n = la.numel();
    let dtype = a.dtype();
    let out = output(a.dev(), n, dtype)?;
    let s = strided(&la.shape, &[la, lb])?;
    let mut args = Args::new()
        .arg(n as i64)
        .arg(addr(a, la))
        .arg(addr(b, lb))
        .arg(out.ptr());
    if let Some(x) = scalar {
        args = args.float(dtype, x);
    }
    let name = kname(base, dtype, base)?;
    launch(a.dev(), &name, grid_for(n), block(), args.arg(s))?;
    Ok(out)
}
