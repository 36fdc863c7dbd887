//! The softmax kernels on host memory: one stable pass per line along the axis of a
//! `[pre, d, post]` view (Mask SoftMax adds its table row to each row first, in the order of
//! the composite it replaces), and the fused input gradients of softmax and log_softmax (their
//! sums folded exactly as the `sum` reduction folds them, so the values equal those of the
//! composites they replace).

use super::{RowFn, SoftmaxKernel};
use crate::backend::cpu::buffer::CpuStorage;
use crate::backend::cpu::dispatch::{index_values, typed, FloatElem, Map1, Map2};
use crate::backend::cpu::fold::reduce_rows;
use crate::backend::cpu::par::PAR_MIN;
use crate::backend::cpu::strided::to_contiguous;
use crate::error::Result;
use crate::layout::Layout;
use crate::Float;
use rayon::prelude::*;

/// `(product before, size, product after)` of a shape around `axis`.
fn split_at_axis(shape: &[usize], axis: usize) -> (usize, usize, usize) {
    (
        shape[..axis].iter().product(),
        shape[axis],
        shape[axis + 1..].iter().product(),
    )
}

/// Applies the kernel to every line along the middle axis of `[pre, d, post]`.
fn along_axis<T: Float>(x: &[T], pre: usize, d: usize, post: usize, kind: RowFn) -> Vec<T> {
    let out_per = if matches!(kind, RowFn::LogSumExp) {
        post
    } else {
        d * post
    };
    let mut out = vec![T::zero(); pre * out_per];
    let block = |p: usize, o: &mut [T]| {
        let base = p * d * post;
        for q in 0..post {
            let at = |i: usize| x[base + i * post + q];
            let m = (0..d)
                .map(at)
                .fold(T::neg_infinity(), |a, b| if b > a { b } else { a });
            let m = if m.is_finite() { m } else { T::zero() };
            let s = (0..d)
                .map(|i| (at(i) - m).exp())
                .fold(T::zero(), |a, b| a + b);
            match kind {
                RowFn::Softmax => (0..d).for_each(|i| o[i * post + q] = (at(i) - m).exp() / s),
                RowFn::LogSoftmax => {
                    let l = s.ln() + m;
                    (0..d).for_each(|i| o[i * post + q] = at(i) - l)
                }
                RowFn::LogSumExp => o[q] = s.ln() + m,
            }
        }
    };
    if out_per == 0 {
        return out;
    }
    if x.len() >= PAR_MIN {
        out.par_chunks_mut(out_per)
            .enumerate()
            .for_each(|(p, o)| block(p, o));
    } else {
        out.chunks_mut(out_per)
            .enumerate()
            .for_each(|(p, o)| block(p, o));
    }
    out
}

struct Along {
    axis: usize,
    f: RowFn,
}

impl Map1 for Along {
    const OP: &'static str = "softmax";
    fn f<T: FloatElem>(&self, v: &[T], l: &Layout) -> Result<Vec<T>> {
        let (pre, d, post) = split_at_axis(&l.shape, self.axis);
        Ok(along_axis(&to_contiguous(v, l), pre, d, post, self.f))
    }
}

/// `g - exp(y) * sum(g)` along the axis.
struct LogSoftmaxBackward {
    axis: usize,
}

impl Map2 for LogSoftmaxBackward {
    const OP: &'static str = "log_softmax_backward";
    fn f<T: FloatElem>(&self, y: &[T], ly: &Layout, g: &[T], lg: &Layout) -> Result<Vec<T>> {
        let (pre, d, post) = split_at_axis(&lg.shape, self.axis);
        let sums = sums_along(y, ly, g, lg, self.axis, false)?;
        let (y, g) = (to_contiguous(y, ly), to_contiguous(g, lg));
        let mut out = vec![T::zero(); y.len()];
        for p in 0..pre {
            for i in 0..d {
                let at = (p * d + i) * post;
                for q in 0..post {
                    out[at + q] = g[at + q] - y[at + q].exp() * sums[p * post + q];
                }
            }
        }
        Ok(out)
    }
}

/// Sums of `g` (times `y`, with `times_y`) along the axis of `[pre, d, post]` views, folded as
/// `sum` folds them: the axis moved last, each row by reduce_rows. `[pre, post]` values.
fn sums_along<T: FloatElem>(
    y: &[T],
    ly: &Layout,
    g: &[T],
    lg: &Layout,
    axis: usize,
    times_y: bool,
) -> Result<Vec<T>> {
    let d = lg.shape[axis];
    let perm: Vec<usize> = (0..lg.rank())
        .filter(|&a| a != axis)
        .chain([axis])
        .collect();
    let gp = to_contiguous(g, &lg.permute(&perm)?);
    if !times_y {
        return Ok(reduce_rows(&gp, d, T::zero(), |a, b| a + b));
    }
    let yp = to_contiguous(y, &ly.permute(&perm)?);
    let prod: Vec<T> = gp.iter().zip(yp.iter()).map(|(&g, &y)| g * y).collect();
    Ok(reduce_rows(&prod, d, T::zero(), |a, b| a + b))
}

/// `y * (g - sum(g * y))` along the axis.
struct SoftmaxBackward {
    axis: usize,
}

impl Map2 for SoftmaxBackward {
    const OP: &'static str = "softmax_backward";
    fn f<T: FloatElem>(&self, y: &[T], ly: &Layout, g: &[T], lg: &Layout) -> Result<Vec<T>> {
        let (pre, d, post) = split_at_axis(&lg.shape, self.axis);
        let sums = sums_along(y, ly, g, lg, self.axis, true)?;
        let (y, g) = (to_contiguous(y, ly), to_contiguous(g, lg));
        let mut out = vec![T::zero(); y.len()];
        for p in 0..pre {
            for i in 0..d {
                let at = (p * d + i) * post;
                for q in 0..post {
                    out[at + q] = y[at + q] * (g[at + q] - sums[p * post + q]);
                }
            }
        }
        Ok(out)
    }
}

/// Mask SoftMax: `softmax(z + table[labels[r]])` per row of `[rows, k]`.
struct Masked<'a> {
    labels: &'a [i64],
    table: (&'a CpuStorage, &'a Layout),
}

impl Map1 for Masked<'_> {
    const OP: &'static str = "masked_softmax";
    fn f<T: FloatElem>(&self, z: &[T], l: &Layout) -> Result<Vec<T>> {
        let (rows, k) = (l.shape[0], l.shape[1]);
        let table = to_contiguous(typed::<T>(Self::OP, self.table.0)?, self.table.1);
        let mut v = to_contiguous(z, l).into_owned();
        for (row, &y) in v.chunks_mut(k.max(1)).zip(self.labels) {
            let m = &table[y as usize * k..(y as usize + 1) * k];
            row.iter_mut().zip(m).for_each(|(a, &b)| *a = *a + b);
        }
        Ok(along_axis(&v, rows, k, 1, RowFn::Softmax))
    }
}

impl SoftmaxKernel for CpuStorage {
    fn along_axis(&self, l: &Layout, axis: usize, f: RowFn) -> Result<Self> {
        Along { axis, f }.map(self, l)
    }

    fn log_softmax_backward(
        &self,
        ly: &Layout,
        g: &Self,
        lg: &Layout,
        axis: usize,
    ) -> Result<Self> {
        LogSoftmaxBackward { axis }.map(self, ly, g, lg)
    }

    fn softmax_backward(&self, ly: &Layout, g: &Self, lg: &Layout, axis: usize) -> Result<Self> {
        SoftmaxBackward { axis }.map(self, ly, g, lg)
    }

    fn masked_softmax(
        &self,
        l: &Layout,
        (labels, ll): (&Self, &Layout),
        table: (&Self, &Layout),
    ) -> Result<Self> {
        let labels = index_values("masked_softmax", labels, ll)?;
        Masked {
            labels: &labels,
            table,
        }
        .map(self, l)
    }
}
