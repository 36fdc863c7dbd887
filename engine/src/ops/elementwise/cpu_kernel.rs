//! The elementwise kernels on host memory: unary maps and binary maps with NumPy broadcasting
//! (the operands are read through broadcast views, never materialised), and the select of
//! `where`. The dtype dispatch is `Map1`/`Map2`/`Map3`.

use super::{Binary, ElementwiseKernel, Unary};
use crate::backend::cpu::buffer::CpuStorage;
use crate::backend::cpu::dispatch::{FloatElem, Map1, Map2, Map3};
use crate::backend::cpu::par::PAR_MIN;
use crate::backend::cpu::recycle;
use crate::backend::cpu::strided::to_contiguous;
use crate::error::Result;
use crate::layout::Layout;
use rayon::prelude::*;
use std::marker::PhantomData;

struct UnaryMap<'a, F>(&'a F);

impl<F: Unary> Map1 for UnaryMap<'_, F> {
    const OP: &'static str = F::NAME;
    fn f<T: FloatElem>(&self, v: &[T], l: &Layout) -> Result<Vec<T>> {
        Ok(unary(v, l, |e| self.0.apply(e)))
    }
}

struct BinaryMap<F>(PhantomData<F>);

impl<F: Binary> Map2 for BinaryMap<F> {
    const OP: &'static str = F::NAME;
    fn f<T: FloatElem>(&self, a: &[T], la: &Layout, b: &[T], lb: &Layout) -> Result<Vec<T>> {
        Ok(binary(a, la, b, lb, F::apply::<T>))
    }
}

struct AddScaledMap(f64);

impl Map2 for AddScaledMap {
    const OP: &'static str = "add_scaled";
    fn f<T: FloatElem>(&self, a: &[T], la: &Layout, b: &[T], lb: &Layout) -> Result<Vec<T>> {
        let alpha = T::from_f64(self.0);
        Ok(binary(a, la, b, lb, move |x: T, y: T| x + alpha * y))
    }
}

struct SelectMap;

impl Map3 for SelectMap {
    const OP: &'static str = "where";
    fn f<T: FloatElem>(
        &self,
        c: &[T],
        lc: &Layout,
        a: &[T],
        la: &Layout,
        b: &[T],
        lb: &Layout,
    ) -> Result<Vec<T>> {
        let (c, a, b) = (
            to_contiguous(c, lc),
            to_contiguous(a, la),
            to_contiguous(b, lb),
        );
        Ok(c.iter()
            .zip(a.iter().zip(b.iter()))
            .map(|(&m, (&x, &y))| if m != T::zero() { x } else { y })
            .collect())
    }
}

impl ElementwiseKernel for CpuStorage {
    fn unary<F: Unary>(&self, l: &Layout, f: &F) -> Result<Self> {
        UnaryMap(f).map(self, l)
    }

    fn binary<F: Binary>(&self, la: &Layout, b: &Self, lb: &Layout) -> Result<Self> {
        BinaryMap::<F>(PhantomData).map(self, la, b, lb)
    }

    fn add_scaled(&self, la: &Layout, b: &Self, lb: &Layout, alpha: f64) -> Result<Self> {
        AddScaledMap(alpha).map(self, la, b, lb)
    }

    fn select(&self, lc: &Layout, a: &Self, la: &Layout, b: &Self, lb: &Layout) -> Result<Self> {
        SelectMap.map((self, lc), (a, la), (b, lb))
    }
}

/// `f` applied to every element of a view, into a new contiguous buffer.
fn unary<T, U, F>(data: &[T], layout: &Layout, f: F) -> Vec<U>
where
    T: Copy + Send + Sync,
    U: Copy + Send + Sync,
    F: Fn(T) -> U + Sync + Send,
{
    let src = to_contiguous(data, layout);
    if src.len() >= PAR_MIN {
        src.par_iter().with_min_len(4096).map(|&x| f(x)).collect()
    } else {
        src.iter().map(|&x| f(x)).collect()
    }
}

/// `f(a, b)` over the broadcast shape `shape`; `la`, `lb` are already broadcast to it.
fn binary<T, U, F>(a: &[T], la: &Layout, b: &[T], lb: &Layout, f: F) -> Vec<U>
where
    T: Copy + Send + Sync,
    U: Copy + Send + Sync + Default + 'static,
    F: Fn(T, T) -> U + Sync + Send,
{
    let n = la.numel();
    if la.is_contiguous() && lb.is_contiguous() {
        let (a, b) = (&a[la.offset..la.offset + n], &b[lb.offset..lb.offset + n]);
        return if n >= PAR_MIN {
            a.par_iter()
                .with_min_len(4096)
                .zip(b.par_iter())
                .map(|(&x, &y)| f(x, y))
                .collect()
        } else {
            a.iter().zip(b).map(|(&x, &y)| f(x, y)).collect()
        };
    }
    // Every element is written by the row loops below.
    let mut out = recycle::output::<U>(n);
    if n == 0 {
        return out;
    }
    let (la, lb) = coalesce(la, lb);
    let (inner, sa) = la.inner();
    let (_, sb) = lb.inner();
    // Specialised inner loops, so the common cases (a contiguous row against a row or a
    // broadcast scalar) vectorise.
    let row = |r: usize, chunk: &mut [U]| {
        let (oa, ob) = (la.row_offset(r), lb.row_offset(r));
        match (sa, sb) {
            (1, 1) => {
                let (ra, rb) = (&a[oa..oa + inner], &b[ob..ob + inner]);
                for ((o, &x), &y) in chunk.iter_mut().zip(ra).zip(rb) {
                    *o = f(x, y);
                }
            }
            (1, 0) => {
                let y = b[ob];
                for (o, &x) in chunk.iter_mut().zip(&a[oa..oa + inner]) {
                    *o = f(x, y);
                }
            }
            (0, 1) => {
                let x = a[oa];
                for (o, &y) in chunk.iter_mut().zip(&b[ob..ob + inner]) {
                    *o = f(x, y);
                }
            }
            _ => {
                for (j, o) in chunk.iter_mut().enumerate() {
                    *o = f(a[oa + j * sa], b[ob + j * sb]);
                }
            }
        }
    };
    if n >= PAR_MIN {
        let rows_per_task = (4096 / inner).max(1);
        out.par_chunks_mut(inner * rows_per_task)
            .enumerate()
            .for_each(|(t, c)| {
                for (i, rc) in c.chunks_mut(inner).enumerate() {
                    row(t * rows_per_task + i, rc)
                }
            });
    } else {
        out.chunks_mut(inner)
            .enumerate()
            .for_each(|(r, c)| row(r, c));
    }
    out
}

/// Merges neighbouring axes that both views step through as one (e.g. `[N, C, H, W]` against a
/// per-channel `[1, C, 1, 1]` becomes `[N, C, H*W]`), so rows are as long as possible.
fn coalesce(la: &Layout, lb: &Layout) -> (Layout, Layout) {
    let mut shape: Vec<usize> = Vec::with_capacity(la.rank());
    let (mut sa, mut sb): (Vec<usize>, Vec<usize>) = (Vec::new(), Vec::new());
    for i in 0..la.rank() {
        let (d, xa, xb) = (la.shape[i], la.strides[i], lb.strides[i]);
        if d == 1 {
            continue;
        }
        if let (Some(&pd), Some(&pa), Some(&pb)) = (shape.last(), sa.last(), sb.last()) {
            if pa == xa * d && pb == xb * d {
                let k = shape.len() - 1;
                shape[k] = pd * d;
                sa[k] = xa;
                sb[k] = xb;
                continue;
            }
        }
        shape.push(d);
        sa.push(xa);
        sb.push(xb);
    }
    (
        Layout {
            shape: shape.clone(),
            strides: sa,
            offset: la.offset,
        },
        Layout {
            shape,
            strides: sb,
            offset: lb.offset,
        },
    )
}
