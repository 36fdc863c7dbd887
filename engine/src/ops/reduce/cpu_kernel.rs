//! The reduction kernel on host memory: the view is laid out with the reduced axes last and
//! each row folded by `fold::reduce_rows` (fixed chunks, combined in order).

use super::{Fold, ReduceKernel};
use crate::backend::cpu::buffer::CpuStorage;
use crate::backend::cpu::dispatch::{FloatElem, Map1};
use crate::backend::cpu::fold::reduce_rows;
use crate::backend::cpu::strided::to_contiguous;
use crate::error::Result;
use crate::layout::Layout;
use crate::Float;

fn fold<T: Float>(data: &[T], r: usize, how: Fold) -> Vec<T> {
    match how {
        Fold::Sum => reduce_rows(data, r, T::zero(), |a, b| a + b),
        // NaN propagates, as in PyTorch: a NaN `a` stays (no `b` compares above it), a NaN
        // `b` replaces it.
        Fold::Max => reduce_rows(data, r, T::neg_infinity(), |a, b| {
            if b > a || b.is_nan() {
                b
            } else {
                a
            }
        }),
        Fold::Min => reduce_rows(data, r, T::infinity(), |a, b| {
            if b < a || b.is_nan() {
                b
            } else {
                a
            }
        }),
    }
}

/// The fold of rows of `r` of a view whose reduced axes are last.
struct Rows {
    r: usize,
    how: Fold,
}

impl Map1 for Rows {
    const OP: &'static str = "sum";
    fn f<T: FloatElem>(&self, v: &[T], lp: &Layout) -> Result<Vec<T>> {
        Ok(fold(&to_contiguous(v, lp), self.r, self.how))
    }
}

impl ReduceKernel for CpuStorage {
    fn fold(
        &self,
        _l: &Layout,
        _axes: &[usize],
        lp: &Layout,
        _rows: usize,
        r: usize,
        how: Fold,
    ) -> Result<Self> {
        Rows { r, how }.map(self, lp)
    }
}
