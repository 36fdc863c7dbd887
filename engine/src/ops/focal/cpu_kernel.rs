//! The focal-loss kernels on host memory, row by row as focal_loss.cu computes them: the row's
//! log-sum-exp (shifted by its maximum, 0 when that is not finite), `q = 1 - p` as
//! `-expm1(log p)`, targets of exactly 0 skipped, and the gamma term taken as 0 where `q` is 0.

use super::FocalKernel;
use crate::backend::cpu::buffer::CpuStorage;
use crate::backend::cpu::dispatch::{FloatElem, Map2, Map3};
use crate::backend::cpu::par::PAR_MIN;
use crate::backend::cpu::strided::to_contiguous;
use crate::error::Result;
use crate::layout::Layout;
use rayon::prelude::*;

/// `log(sum(exp(z)))` of a row.
fn row_lse<T: FloatElem>(z: &[T]) -> T {
    let m = z
        .iter()
        .fold(T::neg_infinity(), |a, &b| if b > a { b } else { a });
    let m = if m.is_finite() { m } else { T::zero() };
    let s = z.iter().fold(T::zero(), |a, &v| a + (v - m).exp());
    s.ln() + m
}

/// `(1 - p)^gamma` and `gamma (1 - p)^(gamma - 1) p log p` of one class, from `log p`.
fn terms<T: FloatElem>(logp: T, gamma: T) -> (T, T) {
    let p = logp.exp();
    let q = -logp.exp_m1();
    if gamma == T::zero() {
        (T::one(), T::zero())
    } else if q <= T::zero() {
        (T::zero(), T::zero())
    } else {
        (q.powf(gamma), gamma * q.powf(gamma - T::one()) * p * logp)
    }
}

/// Runs `row(r, out_row)` over the `rows` output rows of `width` values (in parallel for
/// large inputs).
fn by_rows<T: FloatElem>(
    rows: usize,
    width: usize,
    work: usize,
    row: impl Fn(usize, &mut [T]) + Sync,
) -> Vec<T> {
    let mut out = vec![T::zero(); rows * width];
    if width == 0 {
        return out;
    }
    if work >= PAR_MIN {
        out.par_chunks_mut(width)
            .enumerate()
            .for_each(|(r, o)| row(r, o));
    } else {
        out.chunks_mut(width)
            .enumerate()
            .for_each(|(r, o)| row(r, o));
    }
    out
}

/// The loss of each row.
struct Loss {
    gamma: f64,
}

impl Map2 for Loss {
    const OP: &'static str = "focal_loss";
    fn f<T: FloatElem>(&self, z: &[T], lz: &Layout, t: &[T], lt: &Layout) -> Result<Vec<T>> {
        let (rows, k) = (lz.shape[0], lz.shape[1]);
        let (z, t) = (to_contiguous(z, lz), to_contiguous(t, lt));
        let gamma = T::from_f64(self.gamma);
        Ok(by_rows(rows, 1, z.len(), |r, o| {
            let (zr, tr) = (&z[r * k..(r + 1) * k], &t[r * k..(r + 1) * k]);
            let lse = row_lse(zr);
            let s = zr.iter().zip(tr).fold(T::zero(), |acc, (&zj, &tj)| {
                if tj == T::zero() {
                    return acc; // 0 * (-inf) would be NaN; the term is 0
                }
                let logp = zj - lse;
                acc + tj * terms(logp, gamma).0 * logp
            });
            o[0] = -s;
        }))
    }
}

/// The gradient in the logits, scaled per row.
struct Backward {
    gamma: f64,
}

impl Map3 for Backward {
    const OP: &'static str = "focal_loss_backward";
    fn f<T: FloatElem>(
        &self,
        z: &[T],
        lz: &Layout,
        t: &[T],
        lt: &Layout,
        u: &[T],
        lu: &Layout,
    ) -> Result<Vec<T>> {
        let (rows, k) = (lz.shape[0], lz.shape[1]);
        let (z, t, u) = (
            to_contiguous(z, lz),
            to_contiguous(t, lt),
            to_contiguous(u, lu),
        );
        let gamma = T::from_f64(self.gamma);
        Ok(by_rows(rows, k, z.len(), |r, o| {
            let (zr, tr) = (&z[r * k..(r + 1) * k], &t[r * k..(r + 1) * k]);
            let lse = row_lse(zr);
            let a = |j: usize| {
                if tr[j] == T::zero() {
                    return T::zero();
                }
                let (w, d) = terms(zr[j] - lse, gamma);
                tr[j] * (w - d)
            };
            let a_sum = (0..k).fold(T::zero(), |acc, j| acc + a(j));
            for (j, oj) in o.iter_mut().enumerate() {
                let p = (zr[j] - lse).exp();
                *oj = u[r] * (p * a_sum - a(j));
            }
        }))
    }
}

impl FocalKernel for CpuStorage {
    fn focal_loss(&self, l: &Layout, (t, lt): (&Self, &Layout), gamma: f64) -> Result<Self> {
        Loss { gamma }.map(self, l, t, lt)
    }

    fn focal_loss_backward(
        &self,
        l: &Layout,
        t: (&Self, &Layout),
        u: (&Self, &Layout),
        gamma: f64,
    ) -> Result<Self> {
        Backward { gamma }.map((self, l), t, u)
    }
}
