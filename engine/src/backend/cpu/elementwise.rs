//! Elementwise kernels: unary maps and binary maps with NumPy broadcasting (the operands are
//! read through broadcast views, never materialised).

use super::strided::to_contiguous;
use super::PAR_MIN;
use crate::layout::Layout;
use rayon::prelude::*;

/// `f` applied to every element of a view, into a new contiguous buffer.
pub fn unary<T, U, F>(data: &[T], layout: &Layout, f: F) -> Vec<U>
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
pub fn binary<T, U, F>(a: &[T], la: &Layout, b: &[T], lb: &Layout, f: F) -> Vec<U>
where
    T: Copy + Send + Sync,
    U: Copy + Send + Sync + Default,
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
    let mut out = vec![U::default(); n];
    if n == 0 {
        return out;
    }
    let (inner, sa) = la.inner();
    let (_, sb) = lb.inner();
    let row = |r: usize, chunk: &mut [U]| {
        let (oa, ob) = (la.row_offset(r), lb.row_offset(r));
        for (j, o) in chunk.iter_mut().enumerate() {
            *o = f(a[oa + j * sa], b[ob + j * sb]);
        }
    };
    if n >= PAR_MIN {
        out.par_chunks_mut(inner)
            .enumerate()
            .for_each(|(r, c)| row(r, c));
    } else {
        out.chunks_mut(inner)
            .enumerate()
            .for_each(|(r, c)| row(r, c));
    }
    out
}
