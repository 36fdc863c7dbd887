//! The batch-norm kernels on host memory, on contiguous `[n, c, l]` buffers (channel axis in
//! the middle): channel statistics, the normalising affine map, and the fused input and weight
//! gradients. Statistics and sums are f64 host buffers, taken per channel in a fixed order, so
//! the bits do not depend on the thread count.

use super::{BnTerm, NormKernel, SumOut, View};
use crate::backend::cpu::buffer::CpuStorage;
use crate::backend::cpu::dispatch::{typed, FloatElem, Map1, Map1Any, Map2Any};
use crate::backend::cpu::par::{map_range, PAR_MIN};
use crate::backend::cpu::recycle::output;
use crate::backend::cpu::strided::to_contiguous;
use crate::backend::BackendStorage;
use crate::error::{Error, Result};
use crate::layout::Layout;
use crate::{DType, Float};
use rayon::prelude::*;

/// The f64 values of a statistics buffer (always f64 on the CPU).
fn f64s<'a>(s: &'a CpuStorage, what: &'static str) -> Result<&'a [f64]> {
    typed::<f64>(what, s)
}

/// A per-channel vector's values as f64.
fn values(v: View<'_, CpuStorage>) -> Result<Vec<f64>> {
    Ok(v.0.to_cpu(v.1)?.into_f64s())
}

struct Stats {
    ncl: [usize; 3],
}

impl Map1Any for Stats {
    const OP: &'static str = "batch_norm";
    type Output = (Vec<f64>, Vec<f64>);
    fn f<T: FloatElem>(&self, v: &[T], l: &Layout) -> Result<Self::Output> {
        let [n, c, l_] = self.ncl;
        Ok(channel_stats(&to_contiguous(v, l), n, c, l_))
    }
}

struct Affine<'a> {
    w: &'a [f64],
    b: &'a [f64],
    mean: &'a [f64],
    invstd: &'a [f64],
    ncl: [usize; 3],
}

impl Map1 for Affine<'_> {
    const OP: &'static str = "batch_norm";
    fn f<T: FloatElem>(&self, v: &[T], l: &Layout) -> Result<Vec<T>> {
        let [n, c, l_] = self.ncl;
        let (wv, bv, mean, invstd) = (self.w, self.b, self.mean, self.invstd);
        let scale: Vec<T> = (0..c).map(|i| T::from_f64(wv[i] * invstd[i])).collect();
        let shift: Vec<T> = (0..c)
            .map(|i| T::from_f64(bv[i] - mean[i] * wv[i] * invstd[i]))
            .collect();
        Ok(affine(&to_contiguous(v, l), n, c, l_, &scale, &shift))
    }
}

struct GradSums<'a> {
    mean: &'a [f64],
    ncl: [usize; 3],
}

impl Map2Any for GradSums<'_> {
    const OP: &'static str = "batch_norm_backward";
    type Output = Vec<(f64, f64)>;
    fn f<T: FloatElem>(&self, x: &[T], lx: &Layout, g: &[T], lg: &Layout) -> Result<Self::Output> {
        let [n, c, l] = self.ncl;
        Ok(grad_sums(
            &to_contiguous(x, lx),
            &to_contiguous(g, lg),
            n,
            c,
            l,
            self.mean,
        ))
    }
}

struct BackwardInput<'a> {
    terms: &'a [BnTerm<'a, CpuStorage>],
    cx: Option<&'a [f64]>,
    mean: &'a [f64],
    invstd: &'a [f64],
    ncl: [usize; 3],
}

impl Map1 for BackwardInput<'_> {
    const OP: &'static str = "batch_norm_backward";
    fn f<T: FloatElem>(&self, v: &[T], l: &Layout) -> Result<Vec<T>> {
        let [n, c, l_] = self.ncl;
        let xs = to_contiguous(v, l);
        let ws = self
            .terms
            .iter()
            .map(|t| Ok(values(t.w)?.into_iter().map(T::from_f64).collect()))
            .collect::<Result<Vec<Vec<T>>>>()?;
        let gs = self
            .terms
            .iter()
            .map(|t| Ok(to_contiguous(typed::<T>(Self::OP, t.g.0)?, t.g.1)))
            .collect::<Result<Vec<_>>>()?;
        let sums = self
            .terms
            .iter()
            .map(|t| pairs(f64s(t.sums, Self::OP)?))
            .collect::<Result<Vec<_>>>()?;
        let ts: Vec<Term<'_, T>> = (0..self.terms.len())
            .map(|i| Term {
                w: &ws[i],
                g: &gs[i],
                sums: &sums[i],
            })
            .collect();
        Ok(backward_input(
            &xs,
            &ts,
            self.cx,
            n,
            c,
            l_,
            self.mean,
            self.invstd,
        ))
    }
}

/// The `(sum g, sum g x)` pairs of a sums buffer (one chunk per channel on the CPU).
fn pairs(v: &[f64]) -> Result<Vec<(f64, f64)>> {
    if !v.len().is_multiple_of(2) {
        return Err(Error::Invalid(
            "batch_norm: a gradient-sums buffer of odd length".into(),
        ));
    }
    Ok(v.chunks_exact(2).map(|p| (p[0], p[1])).collect())
}

impl NormKernel for CpuStorage {
    fn bn_stats(
        &self,
        l: &Layout,
        ncl: [usize; 3],
        eps: f64,
        running: Option<([View<'_, Self>; 2], f64)>,
    ) -> Result<([Self; 2], Option<[Self; 2]>)> {
        let (mean, var) = Stats { ncl }.map(self, l)?;
        let invstd: Vec<f64> = var.iter().map(|v| 1.0 / (v + eps).sqrt()).collect();
        let running = match running {
            Some(([rm, rv], momentum)) => {
                let m = (ncl[0] * ncl[2]) as f64;
                let unbiased = m / (m - 1.0);
                let new_mean: Vec<f64> = values(rm)?
                    .iter()
                    .zip(&mean)
                    .map(|(o, b)| (1.0 - momentum) * o + momentum * b)
                    .collect();
                let new_var: Vec<f64> = values(rv)?
                    .iter()
                    .zip(&var)
                    .map(|(o, v)| (1.0 - momentum) * o + momentum * v * unbiased)
                    .collect();
                Some([
                    CpuStorage::from_f64s(&new_mean, rm.0.dtype()),
                    CpuStorage::from_f64s(&new_var, rv.0.dtype()),
                ])
            }
            None => None,
        };
        Ok(([CpuStorage::F64(mean), CpuStorage::F64(invstd)], running))
    }

    fn bn_affine(
        &self,
        l: &Layout,
        w: View<'_, Self>,
        b: View<'_, Self>,
        mean: &Self,
        invstd: &Self,
        ncl: [usize; 3],
    ) -> Result<Self> {
        let (w, b) = (values(w)?, values(b)?);
        Affine {
            w: &w,
            b: &b,
            mean: f64s(mean, "batch_norm")?,
            invstd: f64s(invstd, "batch_norm")?,
            ncl,
        }
        .map(self, l)
    }

    fn bn_grad_sums(
        &self,
        l: &Layout,
        g: View<'_, Self>,
        mean: &Self,
        ncl: [usize; 3],
    ) -> Result<(Self, usize)> {
        let mean = f64s(mean, "batch_norm_backward")?;
        let s = GradSums { mean, ncl }.map(self, l, g.0, g.1)?;
        let flat: Vec<f64> = s.iter().flat_map(|&(a, b)| [a, b]).collect();
        Ok((CpuStorage::F64(flat), 1))
    }

    fn bn_sums_finish(
        &self,
        _chunks: usize,
        invstd: &Self,
        _ncl: [usize; 3],
        x_dtype: DType,
        what: SumOut,
    ) -> Result<Self> {
        let sums = pairs(f64s(self, "batch_norm")?)?;
        let v: Vec<f64> = match what {
            SumOut::Weight => sums
                .iter()
                .zip(f64s(invstd, "batch_norm")?)
                .map(|((_, sgx), r)| sgx * r)
                .collect(),
            SumOut::Bias => sums.iter().map(|(sg, _)| *sg).collect(),
        };
        Ok(CpuStorage::from_f64s(&v, x_dtype))
    }

    fn bn_backward_input(
        &self,
        l: &Layout,
        terms: &[BnTerm<'_, Self>],
        cx: Option<View<'_, Self>>,
        mean: &Self,
        invstd: &Self,
        ncl: [usize; 3],
    ) -> Result<Self> {
        let cx = cx.map(values).transpose()?;
        BackwardInput {
            terms,
            cx: cx.as_deref(),
            mean: f64s(mean, "batch_norm_backward")?,
            invstd: f64s(invstd, "batch_norm_backward")?,
            ncl,
        }
        .map(self, l)
    }
}

/// Lanes of the vectorised partial sums (each lane adds at most `len / LANES` values in `T`
/// before the lanes are added in f64).
const LANES: usize = 16;

/// `sum f(a_i, b_i)` over two rows, lane-wise in `T`, finished in f64.
#[inline]
fn row_sum2<T: Float>(a: &[T], b: &[T], f: impl Fn(T, T) -> T) -> f64 {
    let mut acc = [T::zero(); LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for j in 0..LANES {
            acc[j] = acc[j] + f(x[j], y[j]);
        }
    }
    let mut s = 0.0;
    for v in acc {
        s += v.to_f64();
    }
    for (&x, &y) in ra.iter().zip(rb) {
        s += f(x, y).to_f64();
    }
    s
}

/// `row_sum2(g, g, |v, _| v)` and `row_sum2(g, x, |gv, xv| gv * (xv - mt))` in one pass over
/// the rows: the same sums in the same order (the same bits), `g` read once.
#[inline]
fn row_grad_sums<T: Float>(g: &[T], x: &[T], mt: T) -> (f64, f64) {
    let mut acc_g = [T::zero(); LANES];
    let mut acc_gx = [T::zero(); LANES];
    let (cg, cx) = (g.chunks_exact(LANES), x.chunks_exact(LANES));
    let (rg, rx) = (cg.remainder(), cx.remainder());
    for (gc, xc) in cg.zip(cx) {
        for j in 0..LANES {
            acc_g[j] = acc_g[j] + gc[j];
            acc_gx[j] = acc_gx[j] + gc[j] * (xc[j] - mt);
        }
    }
    let (mut sg, mut sgx) = (0.0, 0.0);
    for (a, b) in acc_g.into_iter().zip(acc_gx) {
        sg += a.to_f64();
        sgx += b.to_f64();
    }
    for (&gv, &xv) in rg.iter().zip(rx) {
        sg += gv.to_f64();
        sgx += (gv * (xv - mt)).to_f64();
    }
    (sg, sgx)
}

/// `f(r)` for every row `r` of an `[n, c, l]` buffer (`r = ni * c + ci`), the threads taking
/// contiguous ranges of rows, so that memory is read in order (a loop per channel jumps `c * l`
/// elements from row to row: a few cache lines per jump on B1's 7x7 and 3x3 planes, where the
/// gradient sums ran at a third of the statistics' rate).
fn per_row<R: Send>(n: usize, c: usize, l: usize, f: impl Fn(usize) -> R + Sync + Send) -> Vec<R> {
    map_range(n * c, n * c * l, f)
}

/// Channel `ci`'s values of [`per_row`], over the batch in order.
fn over_batch<R: Copy>(rows: &[R], c: usize, ci: usize) -> impl Iterator<Item = R> + '_ {
    rows.get(ci..)
        .unwrap_or_default()
        .iter()
        .step_by(c)
        .copied() // none for an empty batch
}

/// Per-channel mean and biased variance of `x`, reading it once: each row's sum `s`, then
/// (while the row is still in the L1 cache) its squared deviations `q` from a centre `z` near
/// its mean; per channel the rows are combined over the batch in order, exactly in f64:
/// `sum (v - mean)^2 = sum_rows [q + 2 (z - mean) (s - l z) + l (z - mean)^2]`. As accurate as
/// two passes over the whole channel (the deviations are taken from the row's own mean), which
/// read every activation twice; the bits do not depend on the thread count.
fn channel_stats<T: Float>(x: &[T], n: usize, c: usize, l: usize) -> (Vec<f64>, Vec<f64>) {
    let m = (n * l).max(1) as f64;
    let rows = per_row(n, c, l, |r| {
        let row = &x[r * l..(r + 1) * l];
        let s = row_sum2(row, row, |v, _| v);
        let z = T::from_f64(s / l.max(1) as f64);
        let q = row_sum2(row, row, |v, _| {
            let d = v - z;
            d * d
        });
        (s, q, z.to_f64())
    });
    let lf = l as f64;
    (0..c)
        .map(|ci| {
            let mean = over_batch(&rows, c, ci).map(|r| r.0).sum::<f64>() / m;
            let squares: f64 = over_batch(&rows, c, ci)
                .map(|(s, q, z)| {
                    let off = z - mean;
                    q + 2.0 * off * (s - lf * z) + lf * off * off
                })
                .sum();
            (mean, (squares / m).max(0.0))
        })
        .unzip()
}

/// `y = x * scale[c] + shift[c]`.
fn affine<T: Float>(x: &[T], n: usize, c: usize, l: usize, scale: &[T], shift: &[T]) -> Vec<T> {
    let mut out = output::<T>(n * c * l); // every element written below
    if l == 0 {
        return out;
    }
    let block = |(b, (o, xs)): (usize, (&mut [T], &[T]))| {
        let (a, s) = (scale[b % c], shift[b % c]);
        o.iter_mut().zip(xs).for_each(|(o, &v)| *o = v * a + s);
    };
    if out.len() >= PAR_MIN {
        out.par_chunks_mut(l)
            .zip(x.par_chunks(l))
            .enumerate()
            .with_min_len((4096 / l).max(1))
            .for_each(block);
    } else {
        out.chunks_mut(l)
            .zip(x.chunks(l))
            .enumerate()
            .for_each(block);
    }
    out
}

/// Per-channel `(sum g, sum g * (x - mean))`: everything the gradient kernels need from `g`.
fn grad_sums<T: Float>(
    x: &[T],
    g: &[T],
    n: usize,
    c: usize,
    l: usize,
    mean: &[f64],
) -> Vec<(f64, f64)> {
    let rows = per_row(n, c, l, |r| {
        let at = r * l;
        row_grad_sums(&g[at..at + l], &x[at..at + l], T::from_f64(mean[r % c]))
    });
    (0..c)
        .map(|ci| over_batch(&rows, c, ci).fold((0.0, 0.0), |(sg, sgx), (a, b)| (sg + a, sgx + b)))
        .collect()
}

/// One term `w * invstd * P(g)` of a batch-norm input gradient, with
/// `P(v) = v - mean(v) - xhat * mean(v * xhat)` per channel: the per-channel weight, the
/// gradient, and its [`grad_sums`].
struct Term<'a, T> {
    w: &'a [T],
    g: &'a [T],
    sums: &'a [(f64, f64)],
}

/// Per-channel coefficients of the batch-norm input gradient `sum_i a_i g_i + b x + k`.
struct InputGradCoefficients {
    /// One vector per gradient term.
    a: Vec<Vec<f64>>,
    b: Vec<f64>,
    k: Vec<f64>,
}

/// The coefficients of `sum_i w_i r P(g_i) + xhat_coef xhat` over `m` values per channel, from
/// each term's weights and [`grad_sums`].
fn input_grad_coefficients(
    ws: &[Vec<f64>],
    sums: &[&[(f64, f64)]],
    xhat_coef: Option<&[f64]>,
    m: f64,
    mean: &[f64],
    invstd: &[f64],
) -> InputGradCoefficients {
    let c = mean.len();
    let mut a = vec![Vec::with_capacity(c); ws.len()];
    let (mut b, mut k) = (vec![0.0; c], vec![0.0; c]);
    for ci in 0..c {
        let r = invstd[ci];
        for ((w, s), aj) in ws.iter().zip(sums).zip(a.iter_mut()) {
            let (sg, sgx) = s[ci];
            let wr = w[ci] * r;
            let bj = -wr * r * r * sgx / m;
            aj.push(wr);
            b[ci] += bj;
            k[ci] += -wr * sg / m - bj * mean[ci];
        }
        if let Some(cx) = xhat_coef {
            b[ci] += cx[ci] * r;
            k[ci] -= cx[ci] * r * mean[ci];
        }
    }
    InputGradCoefficients { a, b, k }
}

/// Input gradient of batch norm in training mode, summed over one or two terms, plus an
/// optional `xhat_coef * xhat` per channel. Every term is affine in `x` and its `g`, so the sum
/// is one pass: `a1 * g1 (+ a2 * g2) + b * x + k`.
#[allow(clippy::too_many_arguments)]
fn backward_input<T: Float>(
    x: &[T],
    terms: &[Term<'_, T>],
    xhat_coef: Option<&[f64]>,
    n: usize,
    c: usize,
    l: usize,
    mean: &[f64],
    invstd: &[f64],
) -> Vec<T> {
    assert!(matches!(terms.len(), 1 | 2), "one or two gradient terms");
    let ws: Vec<Vec<f64>> = terms
        .iter()
        .map(|t| t.w.iter().map(|&v| Float::to_f64(v)).collect())
        .collect();
    let sums: Vec<&[(f64, f64)]> = terms.iter().map(|t| t.sums).collect();
    let co = input_grad_coefficients(&ws, &sums, xhat_coef, (n * l).max(1) as f64, mean, invstd);
    let to_t = |v: &[f64]| -> Vec<T> { v.iter().map(|&x| T::from_f64(x)).collect() };
    let a: Vec<Vec<T>> = co.a.iter().map(|v| to_t(v)).collect();
    let (b, k) = (to_t(&co.b), to_t(&co.k));
    let mut out = output::<T>(n * c * l); // every element written below
    if l == 0 {
        return out;
    }
    let g1 = terms[0].g;
    let g2 = terms.get(1).map_or(terms[0].g, |t| t.g);
    let two = terms.len() == 2;
    let block = |bi: usize, o: &mut [T]| {
        let ci = bi % c;
        let at = bi * l;
        let (xs, gs1, gs2) = (&x[at..at + l], &g1[at..at + l], &g2[at..at + l]);
        let (a1, b, k) = (a[0][ci], b[ci], k[ci]);
        if two {
            let a2 = a[1][ci];
            for (((o, &xv), &u), &v) in o.iter_mut().zip(xs).zip(gs1).zip(gs2) {
                *o = a1 * u + a2 * v + b * xv + k;
            }
        } else {
            for ((o, &xv), &u) in o.iter_mut().zip(xs).zip(gs1) {
                *o = a1 * u + b * xv + k;
            }
        }
    };
    if out.len() >= PAR_MIN {
        out.par_chunks_mut(l)
            .enumerate()
            .with_min_len((4096 / l).max(1))
            .for_each(|(bi, o)| block(bi, o));
    } else {
        out.chunks_mut(l)
            .enumerate()
            .for_each(|(bi, o)| block(bi, o));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one-pass sums are the bits of the two passes they replaced, f32 and f64, on rows
    /// with and without a remainder past the lanes.
    #[test]
    fn one_pass_gradient_sums_equal_the_two_passes() {
        fn check<T: Float>(len: usize) {
            let g: Vec<T> = (0..len)
                .map(|i| T::from_f64(((i * 37 % 101) as f64 - 50.0) / 7.0))
                .collect();
            let x: Vec<T> = (0..len)
                .map(|i| T::from_f64(((i * 53 % 89) as f64) / 3.0 + 1e3))
                .collect();
            let mt = T::from_f64(1015.25);
            let want = (
                row_sum2(&g, &g, |v, _| v),
                row_sum2(&g, &x, |gv, xv| gv * (xv - mt)),
            );
            let got = row_grad_sums(&g, &x, mt);
            assert_eq!(got.0.to_bits(), want.0.to_bits(), "sum of g, {len}");
            assert_eq!(
                got.1.to_bits(),
                want.1.to_bits(),
                "sum of g (x - mean), {len}"
            );
        }
        for len in [0, 5, 16, 49, 196, 784] {
            check::<f32>(len);
            check::<f64>(len);
        }
    }
}
