//! The direct kernel's weight gradient, `dw[k, c, i, j] = sum_n sum_(y, x) gy[n, k, y, x]
//! x[n, c, y + i - p, x + j - p]`, on the forward pass's padded planes: the output gradient of
//! 32 output channels is laid out position-major (`[n][y][x][G]`, outputs only), and for each
//! input channel the sums of all its taps (18 accumulators for a 3x3 kernel) run over whole
//! output rows, of one or more samples, at most [`SUM_POSITIONS`] positions at a time, then go
//! to memory: two vector loads of the output gradient and one broadcast input value per tap
//! and position.
//!
//! Samples are summed in groups fixed by the shapes (about [`GROUP_POSITIONS`] positions each,
//! one partial gradient per group and block of output channels, the partials added in order),
//! so the bits do not depend on the thread count; the (group, block) pairs run in parallel on
//! input planes padded once for all of them.

use super::plan::{Plan, G, L};
use crate::backend::cpu::features::avx512_f32;
use crate::backend::cpu::recycle;
use crate::backend::cpu::scratch::{give, take, Scratch};
use crate::ops::conv::ConvGeom;
use crate::Float;
use rayon::prelude::*;

/// Output positions (samples times the plane) per partial gradient.
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
    let plane = p.dst[0] * p.dst[1];
    if n == 0 || k * c * nt == 0 || plane == 0 {
        return vec![T::zero(); k * c * nt];
    }
    if c == 1 && std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>() {
        // SAFETY: T is f32 (checked above); the slices are reinterpreted with their lengths.
        let f = |s: &[T]| unsafe { std::slice::from_raw_parts(s.as_ptr() as *const f32, s.len()) };
        if let Some(dw) = super::one_channel::conv2d_weight(f(x), f(gy), n, k, g) {
            // SAFETY: T is f32; the vector's buffer is moved, not copied.
            let mut dw = std::mem::ManuallyDrop::new(dw);
            return unsafe {
                Vec::from_raw_parts(dw.as_mut_ptr() as *mut T, dw.len(), dw.capacity())
            };
        }
    }
    let nb = (GROUP_POSITIONS / plane).clamp(1, n);
    let groups = n.div_ceil(nb);
    let pp = p.padded_plane(p.span());
    let xp = pad_all(&p, x, pp);
    let (xsize, gsize) = (c * pp, k * plane);
    // One partial `[c][tap][G]` per (sample group, block of output channels), in that order.
    let partials: Vec<Vec<T>> = (0..groups * p.groups())
        .into_par_iter()
        .map(|task| {
            let (si, gi) = (task / p.groups(), task % p.groups());
            let s = si * nb..(si * nb + nb).min(n);
            let src = Group {
                xp: &xp[s.start * xsize..s.end * xsize],
                gy: &gy[s.start * gsize..s.end * gsize],
                pp,
            };
            block_partial(&p, &src, gi * G)
        })
        .collect();
    give(xp);
    // Per block of output channels (in parallel): its partials added in sample-group order in
    // their own `[c][tap][G]` layout (contiguous), then transposed once into `dw` (`[k][c][tap]`).
    // The same sums in the same order as adding each partial into `dw` in turn, whose strided
    // reads per partial were 3% of a B1 step on the calling thread alone.
    let mut dw = recycle::output::<T>(k * c * nt); // every element written below
    let per_block = c * nt;
    let add_block = |gi: usize, dst: &mut [T]| {
        let mut acc = take::<T>(per_block * G);
        acc.copy_from_slice(&partials[gi]);
        for si in 1..groups {
            let part = &partials[si * p.groups() + gi];
            acc.iter_mut().zip(part).for_each(|(a, &v)| *a = *a + v);
        }
        for (l, dst) in dst.chunks_exact_mut(per_block).enumerate() {
            dst.iter_mut()
                .zip(acc[l..].iter().step_by(G))
                .for_each(|(d, &v)| *d = v);
        }
        give(acc);
    };
    let work = groups * k * per_block;
    crate::backend::cpu::par::for_chunks(&mut dw, G * per_block, work, add_block);
    partials.into_iter().for_each(give);
    dw
}

/// Every sample's input planes, padded (`pp` apart), in parallel over the samples.
fn pad_all<T: Scratch>(p: &Plan, x: &[T], pp: usize) -> Vec<T> {
    let per_sample = p.cin * p.src[0] * p.src[1];
    let mut xp = take::<T>(x.len() / per_sample * p.cin * pp);
    xp.par_chunks_mut(p.cin * pp)
        .zip(x.par_chunks(per_sample))
        .for_each(|(dst, src)| p.pad_into(src, pp, dst));
    xp
}

/// The samples of one group: their padded input planes (`pp` apart) and output gradient.
struct Group<'a, T> {
    xp: &'a [T],
    gy: &'a [T],
    pp: usize,
}

/// The group's gradient for output channels `c0 .. c0 + G`, `[c][tap][G]`.
fn block_partial<T: Scratch>(p: &Plan, src: &Group<T>, c0: usize) -> Vec<T> {
    let [ho, wo] = p.dst;
    let plane = ho * wo;
    let nb = src.gy.len() / (p.cout * plane);
    let nt = p.kernel[0] * p.kernel[1];
    let lanes = G.min(p.cout - c0);
    // The block's output gradient, `[sample][position][G]` (lanes past the last channel zero).
    let mut gt = take::<T>(nb * plane * G);
    if lanes < G {
        gt.fill(T::zero());
    }
    for (gy, gt) in src
        .gy
        .chunks_exact(p.cout * plane)
        .zip(gt.chunks_exact_mut(plane * G))
    {
        for l in 0..lanes {
            let from = &gy[(c0 + l) * plane..(c0 + l + 1) * plane];
            for (d, &v) in gt[l..].iter_mut().step_by(G).zip(from) {
                *d = v;
            }
        }
    }
    let taps = p.taps();
    let rows_per_run = (SUM_POSITIONS / wo).max(1);
    let mut out = take::<T>(p.cin * nt * G);
    // The portable loops' sums of one run, before they are added to the partial.
    let mut run_sums = vec![T::zero(); nt * G];
    for (ci, out) in out.chunks_exact_mut(nt * G).enumerate() {
        for r0 in (0..nb * ho).step_by(rows_per_run) {
            let run = Run {
                xp: &src.xp[ci * src.pp..],
                sample_stride: p.cin * src.pp,
                gt: &gt,
                rows: r0..(r0 + rows_per_run).min(nb * ho),
                dst: p.dst,
                wp: p.wp(),
            };
            sum_taps(&run, &taps, p.kernel, (out, r0 > 0), &mut run_sums);
        }
    }
    give(gt);
    out
}

/// One run of sums: input channel planes `sample_stride` apart from `xp` (one padded plane per
/// sample, rows `wp` apart), the output gradient `gt` (`[row][x][G]`, rows of `dst[1]`
/// positions), and the output rows (`sample * dst[0] + y`) summed over.
struct Run<'a, T> {
    xp: &'a [T],
    sample_stride: usize,
    gt: &'a [T],
    rows: std::ops::Range<usize>,
    dst: [usize; 2],
    wp: usize,
}

impl<T> Run<'_, T> {
    /// Where row `row`'s first output reads its input (tap 0) and its output gradient.
    fn row_starts(&self, row: usize) -> (usize, usize) {
        let (s, y) = (row / self.dst[0], row % self.dst[0]);
        (s * self.sample_stride + y * self.wp, row * self.dst[1] * G)
    }

    /// [`row_starts`](Self::row_starts) of every row of the run, in order (no division per
    /// row: rows of 3 or 7 positions are short next to one).
    fn rows(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        let (mut xs, mut gs) = self.row_starts(self.rows.start);
        let mut y = self.rows.start % self.dst[0];
        let sample_start = xs - y * self.wp;
        let mut sample = sample_start;
        self.rows.clone().map(move |_| {
            let at = (xs, gs);
            gs += self.dst[1] * G;
            y += 1;
            if y == self.dst[0] {
                y = 0;
                sample += self.sample_stride;
                xs = sample;
            } else {
                xs += self.wp;
            }
            at
        })
    }
}

/// `out[t][l] (+)= sum_(o in rows) gt[o][l] xp[o + taps[t]]` (added when `add`): AVX-512
/// registers for f32 and a 3x3 kernel where the CPU has them, portable loops elsewhere (which
/// sum a run in `run_sums`, `taps.len() * G` elements, first).
fn sum_taps<T: Float>(
    run: &Run<T>,
    taps: &[usize],
    kernel: [usize; 2],
    (out, add): (&mut [T], bool),
    run_sums: &mut [T],
) {
    let last = run.row_starts(run.rows.end - 1);
    assert!(
        out.len() >= taps.len() * G
            && last.0 + run.dst[1] - 1 + taps.last().copied().unwrap_or(0) < run.xp.len()
            && last.1 + run.dst[1] * G <= run.gt.len()
    );
    #[cfg(target_arch = "x86_64")]
    if kernel == [3, 3] && avx512_f32::<T>() {
        // SAFETY: T is f32 (checked above); the last row's reads are in bounds (asserted
        // above) and rows are in increasing order; `out` holds 9 taps of G; the CPU has
        // AVX-512F.
        unsafe {
            let run = &*(run as *const Run<T> as *const Run<f32>);
            taps3x3_avx512(run, out.as_mut_ptr() as *mut f32, add);
        }
        return;
    }
    taps_portable(run, taps, (out, add), run_sums);
}

/// [`sum_taps`] in portable loops (f64, kernels other than 3x3, CPUs without AVX-512).
fn taps_portable<T: Float>(
    run: &Run<T>,
    taps: &[usize],
    (out, add): (&mut [T], bool),
    acc: &mut [T],
) {
    if !add {
        out.fill(T::zero());
    }
    acc.fill(T::zero());
    for (xs, gs) in run.rows() {
        for x in 0..run.dst[1] {
            let gv = &run.gt[gs + x * G..gs + (x + 1) * G];
            for (t, &off) in taps.iter().enumerate() {
                let v = run.xp[xs + x + off];
                let a = &mut acc[t * G..(t + 1) * G];
                a.iter_mut().zip(gv).for_each(|(a, &g)| *a = *a + v * g);
            }
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
/// Every row's reads are in bounds (`xp` holds `row_starts(row).0 + dst[1] - 1 + 2 wp + 2`,
/// `gt` holds `row_starts(row).1 + dst[1] G`); `out` holds `9 G`; the CPU has AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn taps3x3_avx512(run: &Run<f32>, out: *mut f32, add: bool) {
    use std::arch::x86_64::*;
    let mut a0 = [_mm512_setzero_ps(); 9];
    let mut a1 = [_mm512_setzero_ps(); 9];
    let (x, g, wp) = (run.xp.as_ptr(), run.gt.as_ptr(), run.wp);
    for (xs, gs) in run.rows() {
        for o in 0..run.dst[1] {
            let g0 = _mm512_loadu_ps(g.add(gs + o * G));
            let g1 = _mm512_loadu_ps(g.add(gs + o * G + L));
            for i in 0..3 {
                let at = x.add(xs + o + i * wp);
                for j in 0..3 {
                    let v = _mm512_set1_ps(*at.add(j));
                    a0[i * 3 + j] = _mm512_fmadd_ps(v, g0, a0[i * 3 + j]);
                    a1[i * 3 + j] = _mm512_fmadd_ps(v, g1, a1[i * 3 + j]);
                }
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
