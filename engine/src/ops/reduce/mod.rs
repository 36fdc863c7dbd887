//! Reductions over axes (sum, mean, max, min, with keepdim) and `sum_to`, the reduction that
//! undoes broadcasting in backward rules. The reduced axes are moved last and folded row by row
//! in a fixed order, so results are deterministic.

pub(crate) mod cases;
mod cpu_kernel;
mod cuda_kernel;

use super::checks::{check_float, when};
use crate::autograd::op::OpKind;
use crate::backend::BackendStorage;
use crate::error::{invalid, Result};
use crate::layout::{normalize_axes, Layout};
use crate::storage::{on_device, Storage};
use crate::{Op, Tensor};

/// Which fold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fold {
    Sum,
    Max,
    Min,
}

/// The reduction kernel of a backend.
pub(crate) trait ReduceKernel: BackendStorage {
    /// Folds the view `l` over its (sorted) `axes`, `r` elements each, into `rows` dense
    /// results; `lp` is `l` permuted so that those axes come last.
    fn fold(
        &self,
        l: &Layout,
        axes: &[usize],
        lp: &Layout,
        rows: usize,
        r: usize,
        how: Fold,
    ) -> Result<Self>;
}

/// Output shape of a reduction.
fn reduced_shape(shape: &[usize], axes: &[usize], keepdim: bool) -> Vec<usize> {
    let mut out = Vec::with_capacity(shape.len());
    for (i, &d) in shape.iter().enumerate() {
        if !axes.contains(&i) {
            out.push(d);
        } else if keepdim {
            out.push(1);
        }
    }
    out
}

/// A recorded reduction.
struct Reduce {
    how: Fold,
    axes: Vec<usize>,
    keepdim: bool,
}

fn reduce(
    x: &Tensor,
    axes: &[isize],
    keepdim: bool,
    how: Fold,
    name: &'static str,
) -> Result<Tensor> {
    check_float(name, x)?;
    let axes = normalize_axes(name, axes, x.rank())?;
    let r: usize = axes.iter().map(|&a| x.shape()[a]).product();
    if r == 0 && how != Fold::Sum {
        return invalid(format!(
            "{name}: reduction over an empty axis of shape {:?}",
            x.shape()
        ));
    }
    let perm: Vec<usize> = (0..x.rank())
        .filter(|a| !axes.contains(a))
        .chain(axes.iter().copied())
        .collect();
    let lp = x.layout().permute(&perm)?;
    let shape = reduced_shape(x.shape(), &axes, keepdim);
    let rows: usize = shape.iter().product();
    let data = on_device!(x.storage(), |s| s
        .fold(x.layout(), &axes, &lp, rows, r, how)
        .map(Storage::from))?;
    let op = Reduce { how, axes, keepdim };
    Ok(Tensor::from_op(data, &shape, op, &[x]))
}

/// `data`, computed elsewhere, recorded as the sum of `x` over `axes` (a fused op's by-product,
/// e.g. batch norm's bias gradient from its per-channel sums).
pub(crate) fn record_sum(
    data: impl Into<Storage>,
    shape: &[usize],
    x: &Tensor,
    axes: Vec<usize>,
    keepdim: bool,
) -> Tensor {
    let op = Reduce {
        how: Fold::Sum,
        axes,
        keepdim,
    };
    Tensor::from_op(data, shape, op, &[x])
}

impl Tensor {
    /// Sum over `axes` (all axes when empty; negative axes count from the end).
    pub fn sum(&self, axes: &[isize], keepdim: bool) -> Result<Tensor> {
        reduce(self, axes, keepdim, Fold::Sum, "sum")
    }

    /// Sum of every element, as a 0-d tensor.
    pub fn sum_all(&self) -> Result<Tensor> {
        self.sum(&[], false)
    }

    /// Mean over `axes` (all axes when empty).
    pub fn mean(&self, axes: &[isize], keepdim: bool) -> Result<Tensor> {
        let ax = normalize_axes("mean", axes, self.rank())?;
        let count: usize = ax.iter().map(|&a| self.shape()[a]).product();
        if count == 0 {
            return invalid(format!(
                "mean: reduction over an empty axis of shape {:?}",
                self.shape()
            ));
        }
        self.sum(axes, keepdim)?.mul_scalar(1.0 / count as f64)
    }

    /// Maximum over `axes`; the gradient is shared equally between tied maxima.
    pub fn max(&self, axes: &[isize], keepdim: bool) -> Result<Tensor> {
        reduce(self, axes, keepdim, Fold::Max, "max")
    }

    /// Minimum over `axes`; the gradient is shared equally between tied minima.
    pub fn min(&self, axes: &[isize], keepdim: bool) -> Result<Tensor> {
        reduce(self, axes, keepdim, Fold::Min, "min")
    }

    /// Sums a broadcast result back to `shape` (the inverse of `broadcast_to`).
    pub fn sum_to(&self, shape: &[usize]) -> Result<Tensor> {
        if self.shape() == shape {
            return Ok(self.clone());
        }
        if shape.len() > self.rank() {
            return invalid(format!(
                "sum_to: cannot reduce {:?} to {shape:?}",
                self.shape()
            ));
        }
        let lead = self.rank() - shape.len();
        let mut axes: Vec<isize> = (0..lead as isize).collect();
        for (i, &d) in shape.iter().enumerate() {
            let have = self.shape()[lead + i];
            if d == 1 && have != 1 {
                axes.push((lead + i) as isize);
            } else if d != have {
                return invalid(format!(
                    "sum_to: cannot reduce {:?} to {shape:?}",
                    self.shape()
                ));
            }
        }
        self.sum(&axes, true)?.reshape(shape)
    }
}

/// `g` (the gradient of a reduction's output) reshaped with the reduced axes kept as size 1.
fn with_kept_axes(g: &Tensor, x: &Tensor, axes: &[usize], keepdim: bool) -> Result<Tensor> {
    if keepdim {
        Ok(g.clone())
    } else {
        g.reshape(&reduced_shape(x.shape(), axes, true))
    }
}

impl Op for Reduce {
    fn kind(&self) -> OpKind {
        match self.how {
            Fold::Sum => OpKind::Sum,
            Fold::Max => OpKind::Max,
            Fold::Min => OpKind::Min,
        }
    }

    fn backward(
        &self,
        x: &[Tensor],
        y: &Tensor,
        g: &Tensor,
        needs: &[bool],
    ) -> Result<Vec<Option<Tensor>>> {
        let (axes, keepdim, x) = (&self.axes, self.keepdim, &x[0]);
        let gx = when(needs[0], || {
            let gk = with_kept_axes(g, x, axes, keepdim)?;
            if self.how == Fold::Sum {
                return gk.broadcast_to(x.shape());
            }
            let yk = with_kept_axes(y, x, axes, keepdim)?;
            let hit = x.eq_mask(&yk)?;
            let iaxes: Vec<isize> = axes.iter().map(|&a| a as isize).collect();
            let share = hit.div(&hit.detach().sum(&iaxes, true)?)?;
            gk.broadcast_to(x.shape())?.mul(&share)
        })?;
        Ok(vec![gx])
    }
}
