//! The direct kernel's weight gradient, `dw[k, c, i, j] = sum_n sum_(y, x) gy[n, k, y, x]
//! x[n, c, y + i - p, x + j - p]`, on the same padded grid as the forward pass: the output
//! gradient is laid out position-major (`[o][G]`, 32 output channels per vector pair, zeros at
//! the grid's dropped columns), and for each input channel the sums of all its taps (18
//! accumulators for a 3x3 kernel) run over at most [`SUM_POSITIONS`] positions of one sample
//! at a time, then go to memory: two vector loads of the output gradient and one broadcast
//! input value per tap and position.
//!
//! Samples are summed in groups fixed by the shapes (about [`GROUP_POSITIONS`] positions each,
//! one partial gradient per group and block of output channels, the partials added in order),
//! so the bits do not depend on the thread count; the sample groups run in parallel, each
//! padding its input planes once for all the blocks.

use super::plan::{has_avx512, Plan, G, L};
use crate::backend::cpu::recycle;
use crate::backend::cpu::scratch::{give, take, Scratch};
use crate::ops::conv::ConvGeom;
use crate::Float;
use rayon::prelude::*;

/// Positions (samples times the padded grid's span) per partial gradient, a task of its own.
const GROUP_POSITIONS: usize = 512;
/// Positions per run of sums in registers: long enough to keep the accumulators busy, short
/// enough that f32 sums stay as accurate as im2col's (one chain over a 32x32 plane's 1055
/// positions came to 1.1e-6 of the largest entry against im2col's 6.2e-7).
const SUM_POSITIONS: usize = 256;

/// Weight gradient: `x` `[n, c, H, W]`, `gy` `[n, k, Ho, Wo]` -> `[k, c, kh, kw]`.
pub fn conv2d_weight<T: Scratch>(
    x: &[T],
    gy: &[T],
    n: usize,
    c: usize,
    k: usize,
    g: &ConvGeom,
) -> Vec<T> {
    let p = Plan::forward(g, c, k);
    let nt = g.taps();
    if n == 0 || k * c * nt == 0 || p.dst[0] * p.dst[1] == 0 {
        return vec![T::zero(); k * c * nt];
    }
    let nb = (GROUP_POSITIONS / p.span()).clamp(1, n);
    let groups = n.div_ceil(nb);
    let (xsize, gsize) = (c * p.src[0] * p.src[1], k * p.dst[0] * p.dst[1]);
    // One partial `[c][tap][G]` per (sample group, block of output channels), in that order.
    let partials: Vec<Vec<T>> = (0..groups)
        .into_par_iter()
        .flat_map_iter(|si| {
            let s = si * nb..(si * nb + nb).min(n);
            group_partials(
                &p,
                &x[s.start * xsize..s.end * xsize],
                &gy[s.start * gsize..s.end * gsize],
            )
        })
        .collect();
    // Every element is written by the first sample group's partials.
    let mut dw = recycle::output::<T>(k * c * nt);
    for (i, part) in partials.into_iter().enumerate() {
        let c0 = i % p.groups() * G;
        for (l, ko) in (c0..k.min(c0 + G)).enumerate() {
            let dst = &mut dw[ko * c * nt..(ko + 1) * c * nt];
            let src = part[l..].iter().step_by(G);
            if i < p.groups() {
                dst.iter_mut().zip(src).for_each(|(d, &v)| *d = v);
            } else {
                dst.iter_mut().zip(src).for_each(|(d, &v)| *d = *d + v);
            }
        }
        give(part);
    }
    dw
}

/// The gradient summed over the samples `xs`, `gys`, one `[c][tap][G]` per block of output
/// channels; the samples' input planes are padded once for all the blocks.
fn group_partials<T: Scratch>(p: &Plan, xs: &[T], gys: &[T]) -> Vec<Vec<T>> {
    let [ho, wo] = p.dst;
    let (wp, span, nt) = (p.wp(), p.span(), p.kernel[0] * p.kernel[1]);
    let pp = p.padded_plane(span);
    let xp = p.pad_planes(xs, pp);
    let nb = gys.len() / (p.cout * ho * wo);
    let taps = p.taps();
    // A block's output gradient, `[sample][o][G]`, zero where no output is.
    let mut gt = take::<T>(nb * span * G);
    // The portable loops' sums of one run, before they are added to the partial.
    let mut run_sums = vec![T::zero(); nt * G];
    let mut partials = Vec::with_capacity(p.groups());
    for gi in 0..p.groups() {
        let c0 = gi * G;
        gt.fill(T::zero());
        for (si, gy) in gys.chunks_exact(p.cout * ho * wo).enumerate() {
            let gt = &mut gt[si * span * G..(si + 1) * span * G];
            for l in 0..G.min(p.cout - c0) {
                let plane = &gy[(c0 + l) * ho * wo..(c0 + l + 1) * ho * wo];
                for (y, row) in plane.chunks_exact(wo).enumerate() {
                    let dst = gt[y * wp * G + l..].iter_mut().step_by(G);
                    dst.zip(row).for_each(|(d, &v)| *d = v);
                }
            }
        }
        let mut out = take::<T>(p.cin * nt * G);
        // Sample by sample, so that its output gradient stays in the L1 cache for every
        // channel.
        for si in 0..nb {
            for (ci, out) in out.chunks_exact_mut(nt * G).enumerate() {
                for o0 in (0..span).step_by(SUM_POSITIONS) {
                    let src = Source {
                        xp: &xp[(si * p.cin + ci) * pp..(si * p.cin + ci + 1) * pp],
                        gt: &gt[si * span * G..(si + 1) * span * G],
                        positions: o0..(o0 + SUM_POSITIONS).min(span),
                    };
                    let add = si > 0 || o0 > 0;
                    sum_taps(&src, &taps, wp, p.kernel, (out, add), &mut run_sums);
                }
            }
        }
        partials.push(out);
    }
    give(gt);
    give(xp);
    partials
}

/// What one run of sums reads: one padded input plane of one sample, that sample's output
/// gradient `[o][G]`, and the positions summed over.
struct Source<'a, T> {
    xp: &'a [T],
    gt: &'a [T],
    positions: std::ops::Range<usize>,
}

/// `out[t][l] (+)= sum_(o in positions) gt[o][l] xp[o + taps[t]]` (added when `add`):
/// AVX-512 registers for f32 and a 3x3 kernel where the CPU has them, portable loops elsewhere
/// (which sum a run in `run_sums`, `taps.len() * G` elements, first).
fn sum_taps<T: Float>(
    src: &Source<T>,
    taps: &[usize],
    wp: usize,
    kernel: [usize; 2],
    (out, add): (&mut [T], bool),
    run_sums: &mut [T],
) {
    #[cfg(target_arch = "x86_64")]
    if std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>()
        && kernel == [3, 3]
        && has_avx512()
    {
        // SAFETY: T is f32 (checked above).
        let f = |s: &[T]| unsafe { std::slice::from_raw_parts(s.as_ptr() as *const f32, s.len()) };
        let src32 = Source {
            xp: f(src.xp),
            gt: f(src.gt),
            positions: src.positions.clone(),
        };
        // SAFETY: T is f32; `out` holds 9 taps of G; the padded plane holds every `o + 2 wp + 2`
        // for `o < span` (padded_plane); the CPU has AVX-512F.
        unsafe { taps3x3_avx512(&src32, wp, out.as_mut_ptr() as *mut f32, add) };
        return;
    }
    taps_portable(src, taps, (out, add), run_sums);
}

/// [`sum_taps`] in portable loops (f64, kernels other than 3x3, CPUs without AVX-512).
fn taps_portable<T: Float>(
    src: &Source<T>,
    taps: &[usize],
    (out, add): (&mut [T], bool),
    acc: &mut [T],
) {
    if !add {
        out.fill(T::zero());
    }
    acc.fill(T::zero());
    for o in src.positions.clone() {
        let gv = &src.gt[o * G..(o + 1) * G];
        for (t, &off) in taps.iter().enumerate() {
            let v = src.xp[o + off];
            let a = &mut acc[t * G..(t + 1) * G];
            a.iter_mut().zip(gv).for_each(|(a, &g)| *a = *a + v * g);
        }
    }
    out.iter_mut()
        .zip(acc.iter())
        .for_each(|(o, &a)| *o = *o + a);
}

/// [`taps_portable`] for a 3x3 kernel in AVX-512 registers: 18 accumulators (9 taps by two
/// vectors of output channels), the three padded rows a position's taps read as three
/// pointers `wp` apart.
///
/// # Safety
/// The padded plane holds every `o + 2 wp + 2` and `gt` every `o G + 2 L - 1` for `o` in
/// `positions`; `out` holds `9 G`; the CPU has AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn taps3x3_avx512(src: &Source<f32>, wp: usize, out: *mut f32, add: bool) {
    use std::arch::x86_64::*;
    let mut a0 = [_mm512_setzero_ps(); 9];
    let mut a1 = [_mm512_setzero_ps(); 9];
    let (x, g) = (src.xp.as_ptr(), src.gt.as_ptr());
    for o in src.positions.clone() {
        let g0 = _mm512_loadu_ps(g.add(o * G));
        let g1 = _mm512_loadu_ps(g.add(o * G + L));
        for i in 0..3 {
            let row = x.add(o + i * wp);
            for j in 0..3 {
                let v = _mm512_set1_ps(*row.add(j));
                a0[i * 3 + j] = _mm512_fmadd_ps(v, g0, a0[i * 3 + j]);
                a1[i * 3 + j] = _mm512_fmadd_ps(v, g1, a1[i * 3 + j]);
            }
        }
    }
    for t in 0..9 {
        let (p0, p1) = (out.add(t * G), out.add(t * G + L));
        if add {
            _mm512_storeu_ps(p0, _mm512_add_ps(_mm512_loadu_ps(p0), a0[t]));
            _mm512_storeu_ps(p1, _mm512_add_ps(_mm512_loadu_ps(p1), a1[t]));
        } else {
            _mm512_storeu_ps(p0, a0[t]);
            _mm512_storeu_ps(p1, a1[t]);
        }
    }
}
