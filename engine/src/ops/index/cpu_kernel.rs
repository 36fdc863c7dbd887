//! The index kernels on host memory: index_select, gather and scatter_add on contiguous
//! buffers viewed as `[pre, axis, post]`. Indices are checked; a bad one is an error.

use super::IndexKernel;
use crate::backend::cpu::buffer::CpuStorage;
use crate::backend::cpu::dispatch::{FloatElem, Map1, Map2};
use crate::backend::cpu::strided::to_contiguous;
use crate::error::{Error, Result};
use crate::layout::Layout;

struct Select<'a> {
    axis: usize,
    idx: &'a [i64],
}

impl Map1 for Select<'_> {
    const OP: &'static str = "index_select";
    fn f<T: FloatElem>(&self, v: &[T], l: &Layout) -> Result<Vec<T>> {
        index_select(&to_contiguous(v, l), &l.shape, self.axis, self.idx)
    }
}

struct Gather<'a> {
    axis: usize,
    idx: &'a [i64],
    ishape: &'a [usize],
}

impl Map1 for Gather<'_> {
    const OP: &'static str = "gather";
    fn f<T: FloatElem>(&self, v: &[T], l: &Layout) -> Result<Vec<T>> {
        gather(
            &to_contiguous(v, l),
            &l.shape,
            self.axis,
            self.idx,
            self.ishape,
        )
    }
}

struct Scatter<'a> {
    axis: usize,
    idx: &'a [i64],
    ishape: &'a [usize],
}

impl Map2 for Scatter<'_> {
    const OP: &'static str = "scatter_add";
    fn f<T: FloatElem>(&self, x: &[T], l: &Layout, s: &[T], ls: &Layout) -> Result<Vec<T>> {
        scatter_add(
            &to_contiguous(x, l),
            &l.shape,
            self.axis,
            self.idx,
            self.ishape,
            &to_contiguous(s, ls),
        )
    }
}

impl IndexKernel for CpuStorage {
    fn index_select(
        &self,
        l: &Layout,
        axis: usize,
        _index: &Self,
        _li: &Layout,
        host: &[i64],
    ) -> Result<Self> {
        Select { axis, idx: host }.map(self, l)
    }

    fn gather(
        &self,
        l: &Layout,
        axis: usize,
        _index: &Self,
        li: &Layout,
        host: &[i64],
    ) -> Result<Self> {
        let ishape = &li.shape;
        Gather {
            axis,
            idx: host,
            ishape,
        }
        .map(self, l)
    }

    fn scatter_add(
        &self,
        l: &Layout,
        axis: usize,
        (_, li): (&Self, &Layout),
        host: &[i64],
        src: &Self,
        ls: &Layout,
    ) -> Result<Self> {
        let ishape = &li.shape;
        Scatter {
            axis,
            idx: host,
            ishape,
        }
        .map(self, l, src, ls)
    }
}

fn check(op: &'static str, i: i64, size: usize) -> Result<usize> {
    if i < 0 || i as usize >= size {
        return Err(Error::IndexOutOfRange { op, index: i, size });
    }
    Ok(i as usize)
}

/// Splits a shape around `axis` into (product before, size, product after).
fn split_at_axis(shape: &[usize], axis: usize) -> (usize, usize, usize) {
    (
        shape[..axis].iter().product(),
        shape[axis],
        shape[axis + 1..].iter().product(),
    )
}

/// Rows `idx` of axis `axis` of a contiguous `x`.
fn index_select<T: Copy>(x: &[T], shape: &[usize], axis: usize, idx: &[i64]) -> Result<Vec<T>> {
    let (pre, d, post) = split_at_axis(shape, axis);
    let mut out = Vec::with_capacity(pre * idx.len() * post);
    for p in 0..pre {
        for &i in idx {
            let i = check("index_select", i, d)?;
            let start = (p * d + i) * post;
            out.extend_from_slice(&x[start..start + post]);
        }
    }
    Ok(out)
}

/// Offsets of the position `flat` of a contiguous index tensor of shape `ishape`, in a
/// contiguous tensor of shape `xshape`, with the coordinate along `axis` replaced by `i`.
fn target_offset(flat: usize, ishape: &[usize], xshape: &[usize], axis: usize, i: usize) -> usize {
    let mut rem = flat;
    let mut off = 0;
    let mut stride = 1;
    for d in (0..ishape.len()).rev() {
        let c = rem % ishape[d];
        rem /= ishape[d];
        off += if d == axis { i } else { c } * stride;
        stride *= xshape[d];
    }
    off
}

/// `out[p] = x[p with axis -> idx[p]]`; the output has the index's shape.
fn gather<T: Copy>(
    x: &[T],
    xshape: &[usize],
    axis: usize,
    idx: &[i64],
    ishape: &[usize],
) -> Result<Vec<T>> {
    idx.iter()
        .enumerate()
        .map(|(flat, &i)| {
            let i = check("gather", i, xshape[axis])?;
            Ok(x[target_offset(flat, ishape, xshape, axis, i)])
        })
        .collect()
}

/// `out = x; out[p with axis -> idx[p]] += src[p]`, in index order (deterministic).
fn scatter_add<T: Copy + std::ops::Add<Output = T>>(
    x: &[T],
    xshape: &[usize],
    axis: usize,
    idx: &[i64],
    ishape: &[usize],
    src: &[T],
) -> Result<Vec<T>> {
    let mut out = x.to_vec();
    for (flat, (&i, &s)) in idx.iter().zip(src).enumerate() {
        let i = check("scatter_add", i, xshape[axis])?;
        let o = target_offset(flat, ishape, xshape, axis, i);
        out[o] = out[o] + s;
    }
    Ok(out)
}
