//! Matrix products on host memory through the `gemm` crate, which reads any row and column
//! strides, so transposed and broadcast operands need no copy. Batches run one after another
//! with gemm's own threading when the matrices are large, or in parallel with rayon when they
//! are small.

use super::MatmulKernel;
use crate::backend::cpu::buffer::CpuStorage;
use crate::backend::cpu::dispatch::{FloatElem, Map2};
use crate::backend::cpu::gemm::Parallelism;
use crate::backend::cpu::recycle;
use crate::error::Result;
use crate::layout::Layout;
use crate::Float;
use rayon::prelude::*;

struct Product;

impl Map2 for Product {
    const OP: &'static str = "matmul";
    fn f<T: FloatElem>(&self, a: &[T], la: &Layout, b: &[T], lb: &Layout) -> Result<Vec<T>> {
        Ok(matmul(a, la, b, lb))
    }
}

impl MatmulKernel for CpuStorage {
    fn matmul(&self, la: &Layout, b: &Self, lb: &Layout) -> Result<Self> {
        Product.map(self, la, b, lb)
    }
}

/// Offset of batch `b` in a layout whose leading `nb` axes are the batch axes.
fn batch_offset(l: &Layout, nb: usize, mut b: usize) -> usize {
    let mut off = l.offset;
    for i in (0..nb).rev() {
        let d = l.shape[i];
        off += (b % d) * l.strides[i];
        b /= d;
    }
    off
}

/// `a @ b` where `la` is `[batch.., m, k]` and `lb` is `[batch.., k, n]` (already broadcast).
/// Returns the contiguous `[batch.., m, n]` result.
fn matmul<T: Float>(a: &[T], la: &Layout, b: &[T], lb: &Layout) -> Vec<T> {
    let r = la.rank();
    let (m, k, n) = (la.shape[r - 2], la.shape[r - 1], lb.shape[r - 1]);
    let nb = r - 2;
    let batches: usize = la.shape[..nb].iter().product();
    if m * n == 0 || k == 0 {
        return vec![T::zero(); batches * m * n];
    }
    // Every element is written by the gemms (alpha 0: the destination is not read).
    let mut out = recycle::output::<T>(batches * m * n);
    let (a_rs, a_cs) = (la.strides[r - 2] as isize, la.strides[r - 1] as isize);
    let (b_rs, b_cs) = (lb.strides[r - 2] as isize, lb.strides[r - 1] as isize);
    let flops = m * n * k;
    let one_gemm = |bi: usize, dst: &mut [T], par: Parallelism| {
        let (oa, ob) = (batch_offset(la, nb, bi), batch_offset(lb, nb, bi));
        // SAFETY: `dst` holds m*n elements written with strides (n, 1); `a` and `b` are read at
        // offsets within their storage because the layouts were validated against it.
        unsafe {
            gemm::gemm(
                m,
                n,
                k,
                dst.as_mut_ptr(),
                1,
                n as isize,
                false,
                a.as_ptr().add(oa),
                a_cs,
                a_rs,
                b.as_ptr().add(ob),
                b_cs,
                b_rs,
                T::zero(),
                T::one(),
                false,
                false,
                false,
                par,
            );
        }
    };
    let big = flops >= 48 * 48 * 48;
    if batches > 1 && !big {
        out.par_chunks_mut(m * n)
            .enumerate()
            .for_each(|(bi, dst)| one_gemm(bi, dst, Parallelism::None));
    } else {
        let par = if big {
            Parallelism::Rayon(0)
        } else {
            Parallelism::None
        };
        out.chunks_mut(m * n)
            .enumerate()
            .for_each(|(bi, dst)| one_gemm(bi, dst, par));
    }
    out
}
