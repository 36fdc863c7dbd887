//! Reductions over axes (sum, mean, max, min, with keepdim) and `sum_to`, the reduction that
//! undoes broadcasting in backward rules. The reduced axes are moved last and folded row by row
//! in a fixed order, so results are deterministic.

use super::check_float;
use crate::autograd::op::Op;
use crate::backend::cpu::reduce::reduce_rows;
use crate::backend::cpu::strided::to_contiguous;
use crate::backend::cuda::reduce as cuda;
use crate::error::{invalid, Result};
use crate::layout::normalize_axes;
use crate::storage::{CpuStorage, Storage};
use crate::{Float, Tensor};

#[derive(Clone, Copy)]
enum Fold {
    Sum,
    Max,
    Min,
}

fn fold<T: Float>(data: &[T], r: usize, how: Fold) -> Vec<T> {
    match how {
        Fold::Sum => reduce_rows(data, r, T::zero(), |a, b| a + b),
        // NaN propagates, as in PyTorch.
        Fold::Max => reduce_rows(data, r, T::neg_infinity(), |a, b| {
            if a.is_nan() || b > a || b.is_nan() {
                b
            } else {
                a
            }
        }),
        Fold::Min => reduce_rows(data, r, T::infinity(), |a, b| {
            if a.is_nan() || b < a || b.is_nan() {
                b
            } else {
                a
            }
        }),
    }
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

fn reduce(
    x: &Tensor,
    axes: &[isize],
    keepdim: bool,
    how: Fold,
    name: &'static str,
) -> Result<(Storage, Vec<usize>, Vec<usize>)> {
    check_float(name, x)?;
    let axes = normalize_axes(name, axes, x.rank())?;
    let r: usize = axes.iter().map(|&a| x.shape()[a]).product();
    if r == 0 && !matches!(how, Fold::Sum) {
        return invalid(format!(
            "{name}: reduction over an empty axis of shape {:?}",
            x.shape()
        ));
    }
    let perm: Vec<usize> = (0..x.rank())
        .filter(|a| !axes.contains(a))
        .chain(axes.iter().copied())
        .collect();
    let l = x.layout().permute(&perm)?;
    let shape = reduced_shape(x.shape(), &axes, keepdim);
    if x.device().is_cuda() {
        let mut sorted = axes.clone();
        sorted.sort_unstable();
        let rows: usize = shape.iter().product();
        let f = match how {
            Fold::Sum => cuda::Fold::Sum,
            Fold::Max => cuda::Fold::Max,
            Fold::Min => cuda::Fold::Min,
        };
        let data = cuda::fold(x, &sorted, &l, rows, r, f)?;
        return Ok((data, shape, axes));
    }
    let data = match x.cpu() {
        CpuStorage::F32(v) => CpuStorage::F32(fold(&to_contiguous(v, &l), r, how)),
        CpuStorage::F64(v) => CpuStorage::F64(fold(&to_contiguous(v, &l), r, how)),
        CpuStorage::I64(_) => unreachable!("checked float"),
    }
    .into();
    Ok((data, shape, axes))
}

impl Tensor {
    /// Sum over `axes` (all axes when empty; negative axes count from the end).
    pub fn sum(&self, axes: &[isize], keepdim: bool) -> Result<Tensor> {
        let (data, shape, axes) = reduce(self, axes, keepdim, Fold::Sum, "sum")?;
        Ok(Tensor::from_op(
            data,
            &shape,
            Op::Sum { axes, keepdim },
            &[self],
        ))
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
        let (data, shape, axes) = reduce(self, axes, keepdim, Fold::Max, "max")?;
        Ok(Tensor::from_op(
            data,
            &shape,
            Op::Max { axes, keepdim },
            &[self],
        ))
    }

    /// Minimum over `axes`; the gradient is shared equally between tied minima.
    pub fn min(&self, axes: &[isize], keepdim: bool) -> Result<Tensor> {
        let (data, shape, axes) = reduce(self, axes, keepdim, Fold::Min, "min")?;
        Ok(Tensor::from_op(
            data,
            &shape,
            Op::Min { axes, keepdim },
            &[self],
        ))
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

/// Backward rules of the reductions.
pub(crate) fn backward(
    op: &Op,
    x: &[Tensor],
    y: &Tensor,
    g: &Tensor,
) -> Result<Vec<Option<Tensor>>> {
    match op {
        Op::Sum { axes, keepdim } => {
            let gk = with_kept_axes(g, &x[0], axes, *keepdim)?;
            Ok(vec![Some(gk.broadcast_to(x[0].shape())?)])
        }
        Op::Max { axes, keepdim } | Op::Min { axes, keepdim } => {
            let gk = with_kept_axes(g, &x[0], axes, *keepdim)?;
            let yk = with_kept_axes(y, &x[0], axes, *keepdim)?;
            let hit = x[0].eq_mask(&yk)?;
            let iaxes: Vec<isize> = axes.iter().map(|&a| a as isize).collect();
            let share = hit.div(&hit.detach().sum(&iaxes, true)?)?;
            Ok(vec![Some(gk.broadcast_to(x[0].shape())?.mul(&share)?)])
        }
        _ => unreachable!("not a reduction: {}", op.name()),
    }
}

/// Gradcheck cases of the reductions.
pub(crate) fn gradcheck_cases() -> Vec<super::cases::OpCase> {
    use super::cases::{distinct, normal, OpCase};
    vec![
        OpCase {
            op: "sum",
            what: "[2,3,4] over axis 1",
            inputs: |r| vec![normal(r, &[2, 3, 4])],
            f: |x| x[0].sum(&[1], false),
        },
        OpCase {
            op: "sum",
            what: "[2,1,3] over axes 0,2 keepdim",
            inputs: |r| vec![normal(r, &[2, 1, 3])],
            f: |x| x[0].sum(&[0, -1], true),
        },
        OpCase {
            op: "sum",
            what: "[3,4] over everything",
            inputs: |r| vec![normal(r, &[3, 4])],
            f: |x| x[0].sum_all(),
        },
        OpCase {
            op: "mean",
            what: "[3,4] over axis 0 keepdim",
            inputs: |r| vec![normal(r, &[3, 4])],
            f: |x| x[0].mean(&[0], true),
        },
        OpCase {
            op: "max",
            what: "[3,4] over axis 1",
            inputs: |r| vec![distinct(r, &[3, 4])],
            f: |x| x[0].max(&[1], false),
        },
        OpCase {
            op: "max",
            what: "[2,3,2] over axes 0,2 keepdim",
            inputs: |r| vec![distinct(r, &[2, 3, 2])],
            f: |x| x[0].max(&[0, 2], true),
        },
        OpCase {
            op: "min",
            what: "[4,3] over axis 0",
            inputs: |r| vec![distinct(r, &[4, 3])],
            f: |x| x[0].min(&[0], false),
        },
        OpCase {
            op: "sum_to",
            what: "[2,3,4] to [3,1]",
            inputs: |r| vec![normal(r, &[2, 3, 4])],
            f: |x| x[0].sum_to(&[3, 1]),
        },
    ]
}
