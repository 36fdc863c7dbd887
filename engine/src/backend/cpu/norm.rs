//! Batch-norm kernels on contiguous `[n, c, l]` buffers (channel axis in the middle): channel
//! statistics, the normalising affine map, and the fused input and weight gradients. Sums are
//! taken per channel in f64 in a fixed order, so the bits do not depend on the thread count.

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
    let mut out = vec![T::zero(); n * c * l];
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

/// Input gradient of batch norm in training mode,
/// `w * invstd * (g - mean(g) - xhat * mean(g * xhat))` per channel, given `g`'s [`grad_sums`].
#[allow(clippy::too_many_arguments)]
pub fn backward_input<T: Float>(
    x: &[T],
    g: &[T],
    w: &[T],
    n: usize,
    c: usize,
    l: usize,
    mean: &[f64],
    invstd: &[f64],
    sums: &[(f64, f64)],
) -> Vec<T> {
    let m = (n * l).max(1) as f64;
    // dx = a * g + b * x + k per channel.
    let mut a = Vec::with_capacity(c);
    let mut b = Vec::with_capacity(c);
    let mut k = Vec::with_capacity(c);
    for ci in 0..c {
        let (r, (sg, sgx)) = (invstd[ci], sums[ci]);
        let wr = w[ci].to_f64() * r;
        let bc = -wr * r * r * sgx / m;
        a.push(T::from_f64(wr));
        b.push(T::from_f64(bc));
        k.push(T::from_f64(-wr * sg / m - bc * mean[ci]));
    }
    let mut out = vec![T::zero(); n * c * l];
    if l == 0 {
        return out;
    }
    let block = |bi: usize, o: &mut [T], xs: &[T], gs: &[T]| {
        let ci = bi % c;
        let (a, b, k) = (a[ci], b[ci], k[ci]);
        for ((o, &xv), &gv) in o.iter_mut().zip(xs).zip(gs) {
            *o = a * gv + b * xv + k;
        }
    };
    if out.len() >= PAR_MIN {
        out.par_chunks_mut(l)
            .zip(x.par_chunks(l).zip(g.par_chunks(l)))
            .enumerate()
            .with_min_len((4096 / l).max(1))
            .for_each(|(bi, (o, (xs, gs)))| block(bi, o, xs, gs));
    } else {
        out.chunks_mut(l)
            .zip(x.chunks(l).zip(g.chunks(l)))
            .enumerate()
            .for_each(|(bi, (o, (xs, gs)))| block(bi, o, xs, gs));
    }
    out
}
