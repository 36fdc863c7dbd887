//! Batch-norm kernels on contiguous `[n, c, l]` buffers (channel axis in the middle): channel
//! statistics, the normalising affine map, and the fused input and weight gradients. Sums are
//! taken per channel in f64 in a fixed order, so the bits do not depend on the thread count.

use super::recycle::output;
use super::PAR_MIN;
use crate::Float;
use rayon::prelude::*;

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

/// `f(channel)` for every channel, in parallel when the tensor is large.
fn per_channel<R: Send>(c: usize, work: usize, f: impl Fn(usize) -> R + Sync + Send) -> Vec<R> {
    if work >= PAR_MIN && c > 1 {
        (0..c).into_par_iter().map(f).collect()
    } else {
        (0..c).map(f).collect()
    }
}

/// Per-channel mean and biased variance of `x` (two passes).
pub fn channel_stats<T: Float>(x: &[T], n: usize, c: usize, l: usize) -> (Vec<f64>, Vec<f64>) {
    let m = (n * l).max(1) as f64;
    let stats = per_channel(c, n * c * l, |ci| {
        let row = |ni: usize| &x[(ni * c + ci) * l..(ni * c + ci + 1) * l];
        let s: f64 = (0..n).map(|ni| row_sum2(row(ni), row(ni), |v, _| v)).sum();
        let mean = s / m;
        let mt = T::from_f64(mean);
        let q: f64 = (0..n)
            .map(|ni| {
                row_sum2(row(ni), row(ni), |v, _| {
                    let d = v - mt;
                    d * d
                })
            })
            .sum();
        (mean, q / m)
    });
    stats.into_iter().unzip()
}

/// `y = x * scale[c] + shift[c]`.
pub fn affine<T: Float>(x: &[T], n: usize, c: usize, l: usize, scale: &[T], shift: &[T]) -> Vec<T> {
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
pub fn grad_sums<T: Float>(
    x: &[T],
    g: &[T],
    n: usize,
    c: usize,
    l: usize,
    mean: &[f64],
) -> Vec<(f64, f64)> {
    per_channel(c, n * c * l, |ci| {
        let mt = T::from_f64(mean[ci]);
        let (mut sg, mut sgx) = (0.0, 0.0);
        for ni in 0..n {
            let at = (ni * c + ci) * l;
            let (xr, gr) = (&x[at..at + l], &g[at..at + l]);
            sg += row_sum2(gr, gr, |v, _| v);
            sgx += row_sum2(gr, xr, |gv, xv| gv * (xv - mt));
        }
        (sg, sgx)
    })
}

/// One term `w * invstd * P(g)` of a batch-norm input gradient, with
/// `P(v) = v - mean(v) - xhat * mean(v * xhat)` per channel: the per-channel weight, the
/// gradient, and its [`grad_sums`].
pub struct Term<'a, T> {
    pub w: &'a [T],
    pub g: &'a [T],
    pub sums: &'a [(f64, f64)],
}

/// Per-channel coefficients of the batch-norm input gradient `sum_i a_i g_i + b x + k`.
pub struct InputGradCoefficients {
    /// One vector per gradient term.
    pub a: Vec<Vec<f64>>,
    pub b: Vec<f64>,
    pub k: Vec<f64>,
}

/// The coefficients of `sum_i w_i r P(g_i) + xhat_coef xhat` over `m` values per channel, from
/// each term's weights and [`grad_sums`] (shared by the CPU kernel and the CUDA backend).
pub fn input_grad_coefficients(
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
pub fn backward_input<T: Float>(
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
