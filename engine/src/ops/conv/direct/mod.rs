//! Direct convolutions for stride-1 convolutions on small planes (ConvNet-4's 14x14, 7x7 and
//! 3x3 maps), where im2col + gemm spends about as long copying columns and packing them as
//! multiplying: forward and input gradient here, the weight gradient in [`weight`] (and in
//! [`one_channel`] for one input channel).
//!
//! Each input plane is copied, zero-padded, into rows `Wp = W + pw` apart, one run of `pw`
//! zeros between rows serving as the right padding of one row and the left padding of the
//! next. Output `(y, x)` reads flat index `y Wp + x + i Wp + j` for tap `(i, j)`: one shifted
//! run per tap for any run of positions in a row. A block is `R` row segments of `S` output
//! positions ([`shape`]: one 14-wide row, two 7-wide rows, four 3-wide rows, which may belong
//! to consecutive samples) by [`G`] output channels, summed in registers over
//! [`SUM_CHANNELS`] input channels and every tap (one broadcast input value times a vector of
//! 16 output channels' weights per fused multiply-add), the chunks' sums added in order in a
//! small tile, then gathered channel by channel into the output planes. Only the outputs are
//! computed (an earlier version computed the padding columns of the grid too and dropped them:
//! 13% of the work on a 7x7 plane, 22% on a 3x3 one). The input gradient is the same kernel
//! on the output gradient padded by `k - 1 - p`, with the weights flipped and their two
//! channel axes swapped.
//!
//! The order of every sum is fixed by the shapes, whatever the thread count; samples run in
//! parallel.

mod one_channel;
mod plan;
mod weight;
pub use one_channel::applies as one_channel_applies;
pub use weight::conv2d_weight;

use super::ConvGeom;
use crate::backend::cpu::features::{avx512_f32, has_avx512};
use crate::backend::cpu::recycle;
use crate::backend::cpu::scratch::{give, take, Scratch};
use crate::Float;
use plan::{Plan, G, L};
use rayon::prelude::*;

/// Input channels per partial sum: each output sums `SUM_CHANNELS * taps` products in
/// registers, then the partial sums in order (one long chain over 256 channels rounded to 2-3
/// times PyTorch's f32 error; blocked like a gemm's depth it stays within it).
const SUM_CHANNELS: usize = 32;

/// True when the direct kernel computes `g`: stride 1, no dilation, the natural output size,
/// padding below the kernel size (so the input gradient is a convolution with padding
/// `k - 1 - p >= 0`), on a CPU with AVX-512 (the register blocks are written for it; elsewhere
/// the portable loops below run, which are for testing, not for speed).
pub fn applies(g: &ConvGeom) -> bool {
    g.stride == [1, 1]
        && g.dilation == [1, 1]
        && (0..2).all(|a| {
            g.padding[a] < g.kernel[a]
                && g.input[a] + 2 * g.padding[a] + 1 == g.output[a] + g.kernel[a]
        })
        && has_avx512()
}

/// Weights packed as `[group][cin][tap][G]` (output channels beyond `cout` zero), from
/// `weight(co, ci, tap)`; a scratch buffer (given back by [`run`]), groups packed in parallel.
fn pack<T: Scratch>(p: &Plan, weight: impl Fn(usize, usize, usize) -> T + Sync) -> Vec<T> {
    let taps = p.kernel[0] * p.kernel[1];
    let mut out = take::<T>(p.groups() * p.cin * taps * G);
    out.par_chunks_mut(p.cin * taps * G)
        .enumerate()
        .for_each(|(gi, group)| {
            for (ci, per_ci) in group.chunks_exact_mut(taps * G).enumerate() {
                for (t, lanes) in per_ci.chunks_exact_mut(G).enumerate() {
                    for (l, v) in lanes.iter_mut().enumerate() {
                        let co = gi * G + l;
                        *v = if co < p.cout {
                            weight(co, ci, t)
                        } else {
                            T::zero()
                        };
                    }
                }
            }
        });
    out
}

/// Convolution: `x` `[n, c, H, W]`, `w` `[k, c, kh, kw]`, optional `bias` `[k]` ->
/// `[n, k, Ho, Wo]`.
pub fn conv2d<T: Scratch>(
    x: &[T],
    w: &[T],
    bias: Option<&[T]>,
    n: usize,
    c: usize,
    k: usize,
    g: &ConvGeom,
) -> Vec<T> {
    let p = Plan::forward(g, c, k);
    let taps = g.taps();
    let packed = pack(&p, |co, ci, t| w[(co * c + ci) * taps + t]);
    run(&p, x, packed, bias, n)
}

/// Transposed convolution (the adjoint of [`conv2d`] in its input): `z` `[n, k, Ho, Wo]`,
/// `w` `[k, c, kh, kw]`, optional `bias` `[c]` -> `[n, c, H, W]`.
pub fn conv_transpose2d<T: Scratch>(
    z: &[T],
    w: &[T],
    bias: Option<&[T]>,
    n: usize,
    c: usize,
    k: usize,
    g: &ConvGeom,
) -> Vec<T> {
    let [kh, kw] = g.kernel;
    let p = Plan {
        cin: k,
        cout: c,
        src: g.output,
        dst: g.input,
        kernel: g.kernel,
        pad: [kh - 1 - g.padding[0], kw - 1 - g.padding[1]],
    };
    // Tap (a, b) of the input gradient is tap (kh-1-a, kw-1-b) of the forward weights.
    let packed = pack(&p, |co, ci, t| {
        let (a, b) = (t / kw, t % kw);
        w[((ci * c + co) * kh + kh - 1 - a) * kw + kw - 1 - b]
    });
    run(&p, z, packed, bias, n)
}

/// `n` samples of `src` (`[n, cin, src]`) through the plan with packed weights, plus `bias`
/// per output channel.
fn run<T: Scratch>(p: &Plan, src: &[T], packed: Vec<T>, bias: Option<&[T]>, n: usize) -> Vec<T> {
    let (src_plane, dst_plane) = (p.src[0] * p.src[1], p.dst[0] * p.dst[1]);
    // Every element is written by the blocks.
    let mut out = recycle::output::<T>(n * p.cout * dst_plane);
    if out.is_empty() {
        give(packed);
        return out;
    }
    // Several samples per task on small planes, so that each group's weights are read once for
    // all of them; tasks enough to share among the threads. Neither changes any sum's order.
    let tasks_wanted = 8 * rayon::current_num_threads();
    let nb = (TASK_POSITIONS / dst_plane).clamp(1, n.div_ceil(tasks_wanted).max(1));
    // Fewer samples if that fills every block of a task with row segments (on a 3x3 plane, 4
    // samples' 12 rows make three blocks of 4; 7 samples' 21 would leave a block 3/4 empty).
    let (s, r) = shape(p.dst[1]);
    let rows = p.dst[0] * p.dst[1].div_ceil(s);
    let nb = (1..=nb)
        .rev()
        .find(|b| (b * rows).is_multiple_of(r))
        .unwrap_or(nb);
    let task = |(xs, os): (&[T], &mut [T])| match shape(p.dst[1]) {
        (14, _) => task_rows::<T, 14, 1>(p, xs, &packed, bias, os),
        (13, _) => task_rows::<T, 13, 1>(p, xs, &packed, bias, os),
        (12, _) => task_rows::<T, 12, 1>(p, xs, &packed, bias, os),
        (11, _) => task_rows::<T, 11, 1>(p, xs, &packed, bias, os),
        (10, _) => task_rows::<T, 10, 1>(p, xs, &packed, bias, os),
        (9, _) => task_rows::<T, 9, 1>(p, xs, &packed, bias, os),
        (8, _) => task_rows::<T, 8, 1>(p, xs, &packed, bias, os),
        (7, _) => task_rows::<T, 7, 2>(p, xs, &packed, bias, os),
        (6, _) => task_rows::<T, 6, 2>(p, xs, &packed, bias, os),
        (5, _) => task_rows::<T, 5, 2>(p, xs, &packed, bias, os),
        (4, _) => task_rows::<T, 4, 3>(p, xs, &packed, bias, os),
        (3, _) => task_rows::<T, 3, 4>(p, xs, &packed, bias, os),
        (2, _) => task_rows::<T, 2, 4>(p, xs, &packed, bias, os),
        _ => task_rows::<T, 1, 4>(p, xs, &packed, bias, os),
    };
    src.par_chunks(nb * p.cin * src_plane)
        .zip(out.par_chunks_mut(nb * p.cout * dst_plane))
        .for_each(task);
    give(packed);
    out
}

/// Output positions per task that make the weights' reads cheap next to the products.
const TASK_POSITIONS: usize = 256;

/// The most output positions in one block (`2 MAX_POSITIONS` accumulators, 28 of the 32
/// AVX-512 registers).
const MAX_POSITIONS: usize = 14;

/// The blocks on a plane `wo` wide: row segments of `S` positions (as few per row as fit
/// [`MAX_POSITIONS`], of equal length; the last one may run past the row, its extra positions
/// computed and dropped), `R` segments per block (`S R <= MAX_POSITIONS`). `(S, R)`, as the
/// dispatch in [`run`] instantiates them.
fn shape(wo: usize) -> (usize, usize) {
    let s = wo.div_ceil(wo.div_ceil(MAX_POSITIONS).max(1)).max(1);
    let r = match s {
        8.. => 1,
        5..=7 => 2,
        4 => 3,
        _ => 4,
    };
    (s, r)
}

/// The samples of one task: pads their planes, then for each block of `G` output channels
/// every block of `R` row segments of `S` output positions (segments taken in order over the
/// samples' rows, so a block may hold rows of two samples), summed over all input channels
/// and taps in registers, written to the channel planes with the bias.
fn task_rows<T: Scratch, const S: usize, const R: usize>(
    p: &Plan,
    xs: &[T],
    packed: &[T],
    bias: Option<&[T]>,
    os: &mut [T],
) {
    let [ho, wo] = p.dst;
    let (wp, taps) = (p.wp(), p.taps());
    let per_row = wo.div_ceil(S);
    let pp = p.padded_plane((ho - 1) * wp + per_row * S);
    let (plane, nb) = (ho * wo, xs.len() / (p.cin * p.src[0] * p.src[1]));
    let xp = p.pad_planes(xs, pp);
    let segments = nb * ho * per_row;
    // Segment `q`: sample, row, first column.
    let segment = |q: usize| {
        let (s, rest) = (q / (ho * per_row), q % (ho * per_row));
        (s, rest / per_row, rest % per_row * S)
    };
    let wsize = p.cin * taps.len() * G;
    let mut tile = [[T::zero(); G]; MAX_POSITIONS];
    for gi in 0..p.groups() {
        let (wg, c0) = (&packed[gi * wsize..(gi + 1) * wsize], gi * G);
        let lanes = G.min(p.cout - c0);
        for q0 in (0..segments).step_by(R) {
            // A last block with fewer segments repeats its last one (computed, not written).
            let segs: [(usize, usize, usize); R] =
                std::array::from_fn(|r| segment((q0 + r).min(segments - 1)));
            let offsets = segs.map(|(s, y, x0)| s * p.cin * pp + y * wp + x0);
            let at = Window {
                pp,
                cin: p.cin,
                taps: &taps,
                offsets: &offsets,
            };
            // SAFETY: every offset plus `(cin - 1) pp + S - 1 + last tap` is below the padded
            // planes' end (padded_plane covers `(ho - 1) wp + per_row S + last tap` per plane),
            // and `wg` holds `cin * taps * G`.
            unsafe { block::<T, S, R>(&xp, wg, &at, &mut tile) };
            let written = R.min(segments - q0);
            let places = segs.map(|(s, y, x0)| (s * p.cout * plane + y * wo + x0, S.min(wo - x0)));
            let to = Destination {
                places: &places[..written],
                channels: c0..c0 + lanes,
                plane,
                bias,
            };
            write_block::<T, S>(&tile, &to, os);
        }
    }
    give(xp);
}

/// Where a block's sums go: segment `r`'s first position and length `places[r]` in the
/// first channel's plane (channel planes `plane` apart), for the output channels `channels`.
struct Destination<'a, T> {
    places: &'a [(usize, usize)],
    channels: std::ops::Range<usize>,
    plane: usize,
    bias: Option<&'a [T]>,
}

/// Writes a block's sums `tile[r S + x][l]`, plus the bias, to `os`: AVX-512 gathers of each
/// channel's positions for f32 where the CPU has them, scalar loops elsewhere.
fn write_block<T: Float, const S: usize>(
    tile: &[[T; G]; MAX_POSITIONS],
    to: &Destination<T>,
    os: &mut [T],
) {
    for &(base, len) in to.places {
        assert!(len <= S && base + (to.channels.end - 1) * to.plane + len <= os.len());
    }
    #[cfg(target_arch = "x86_64")]
    if avx512_f32::<T>() {
        // SAFETY: T is f32; every segment's run of every channel lies in `os` (checked above);
        // the CPU has AVX-512F.
        unsafe {
            let tile =
                &*(tile as *const [[T; G]; MAX_POSITIONS] as *const [[f32; G]; MAX_POSITIONS]);
            let bias = to
                .bias
                .map(|b| std::slice::from_raw_parts(b.as_ptr() as *const f32, b.len()));
            write_avx512::<S>(
                tile,
                to.places,
                to.channels.clone(),
                to.plane,
                bias,
                os.as_mut_ptr() as *mut f32,
            );
        }
        return;
    }
    for (r, &(base, len)) in to.places.iter().enumerate() {
        let sums = &tile[r * S..r * S + len];
        for (l, co) in to.channels.clone().enumerate() {
            let bl = to.bias.map_or(T::zero(), |b| b[co]);
            let dst = &mut os[base + co * to.plane..][..len];
            for (d, v) in dst.iter_mut().zip(sums) {
                *d = v[l] + bl;
            }
        }
    }
}

/// [`write_block`] in AVX-512: one gather per channel and segment (the segment's positions,
/// `G` apart in the tile), one masked store.
///
/// # Safety
/// The CPU has AVX-512F; `out + base + co plane + len` is in bounds for every place and
/// channel.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn write_avx512<const S: usize>(
    tile: &[[f32; G]; MAX_POSITIONS],
    places: &[(usize, usize)],
    channels: std::ops::Range<usize>,
    plane: usize,
    bias: Option<&[f32]>,
    out: *mut f32,
) {
    use std::arch::x86_64::*;
    let g = G as i32;
    let idx = _mm512_setr_epi32(
        0,
        g,
        2 * g,
        3 * g,
        4 * g,
        5 * g,
        6 * g,
        7 * g,
        8 * g,
        9 * g,
        10 * g,
        11 * g,
        12 * g,
        13 * g,
        14 * g,
        15 * g,
    );
    let t = tile.as_ptr() as *const f32;
    for (r, &(base, len)) in places.iter().enumerate() {
        let mask: __mmask16 = ((1u32 << len) - 1) as __mmask16;
        for (l, co) in channels.clone().enumerate() {
            let src = t.add(r * S * G + l);
            let v = _mm512_mask_i32gather_ps::<4>(_mm512_setzero_ps(), mask, idx, src);
            let v = _mm512_add_ps(v, _mm512_set1_ps(bias.map_or(0.0, |b| b[co])));
            _mm512_mask_storeu_ps(out.add(base + co * plane), mask, v);
        }
    }
}

/// Which sums a block computes: `R` row segments starting at `offsets` in the first channel's
/// padded plane (channel planes `pp` apart, taps at flat offsets `taps`), over `cin` input
/// channels.
struct Window<'a, const R: usize> {
    pp: usize,
    cin: usize,
    taps: &'a [usize],
    offsets: &'a [usize; R],
}

/// The sums of one block (`G` output channels by `R` segments of `S` positions, see
/// [`Window`]) into `tile[r S + x]`: each chunk of [`SUM_CHANNELS`] input channels summed in
/// registers, the chunks' sums added in order. AVX-512 registers for f32 where the CPU has
/// them, portable loops elsewhere.
///
/// # Safety
/// Every `offsets[r] + (cin - 1) pp + S - 1 + taps[last]` is an index of `xp`; `wg` holds
/// `cin * taps.len() * G` elements.
#[inline(always)]
unsafe fn block<T: Float, const S: usize, const R: usize>(
    xp: &[T],
    wg: &[T],
    at: &Window<R>,
    tile: &mut [[T; G]; MAX_POSITIONS],
) {
    #[cfg(target_arch = "x86_64")]
    if avx512_f32::<T>() {
        let (xp, wg) = (xp.as_ptr() as *const f32, wg.as_ptr() as *const f32);
        // T is f32.
        let tile = tile.as_mut_ptr() as *mut [f32; G];
        return block_avx512::<S, R>(xp, wg, at, tile);
    }
    block_portable::<T, S, R>(xp, wg, at, tile)
}

/// [`block`] in AVX-512: `2 S R` accumulators (at most 28 of the 32 registers), two weight
/// vectors and one broadcast input value per fused multiply-add pair.
///
/// # Safety
/// As [`block`], on a CPU with AVX-512F; `tile` points to `MAX_POSITIONS` rows of `G`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn block_avx512<const S: usize, const R: usize>(
    xp: *const f32,
    wg: *const f32,
    at: &Window<R>,
    tile: *mut [f32; G],
) {
    use std::arch::x86_64::*;
    let nt = at.taps.len();
    for ci0 in (0..at.cin).step_by(SUM_CHANNELS) {
        let mut acc0 = [_mm512_setzero_ps(); MAX_POSITIONS];
        let mut acc1 = [_mm512_setzero_ps(); MAX_POSITIONS];
        for ci in ci0..(ci0 + SUM_CHANNELS).min(at.cin) {
            let s = xp.add(ci * at.pp);
            let wc = wg.add(ci * nt * G);
            for (t, &off) in at.taps.iter().enumerate() {
                let w0 = _mm512_loadu_ps(wc.add(t * G));
                let w1 = _mm512_loadu_ps(wc.add(t * G + L));
                for r in 0..R {
                    let sv = s.add(at.offsets[r] + off);
                    for x in 0..S {
                        let v = _mm512_set1_ps(*sv.add(x));
                        acc0[r * S + x] = _mm512_fmadd_ps(v, w0, acc0[r * S + x]);
                        acc1[r * S + x] = _mm512_fmadd_ps(v, w1, acc1[r * S + x]);
                    }
                }
            }
        }
        for j in 0..S * R {
            let (p0, p1) = (
                (*tile.add(j)).as_mut_ptr(),
                (*tile.add(j)).as_mut_ptr().add(L),
            );
            if ci0 == 0 {
                _mm512_storeu_ps(p0, acc0[j]);
                _mm512_storeu_ps(p1, acc1[j]);
            } else {
                _mm512_storeu_ps(p0, _mm512_add_ps(_mm512_loadu_ps(p0), acc0[j]));
                _mm512_storeu_ps(p1, _mm512_add_ps(_mm512_loadu_ps(p1), acc1[j]));
            }
        }
    }
}

/// [`block`] in portable loops (f64, and CPUs without AVX-512; for testing, not for speed).
///
/// # Safety
/// As [`block`].
unsafe fn block_portable<T: Float, const S: usize, const R: usize>(
    xp: &[T],
    wg: &[T],
    at: &Window<R>,
    tile: &mut [[T; G]; MAX_POSITIONS],
) {
    let nt = at.taps.len();
    for ci0 in (0..at.cin).step_by(SUM_CHANNELS) {
        let mut acc = [[T::zero(); G]; MAX_POSITIONS];
        for ci in ci0..(ci0 + SUM_CHANNELS).min(at.cin) {
            let wc = &wg[ci * nt * G..];
            for (t, &off) in at.taps.iter().enumerate() {
                let wv = &wc[t * G..(t + 1) * G];
                for r in 0..R {
                    let sv = &xp[ci * at.pp + at.offsets[r] + off..];
                    for x in 0..S {
                        let v = sv[x];
                        for (a, &wl) in acc[r * S + x].iter_mut().zip(wv) {
                            *a = *a + v * wl;
                        }
                    }
                }
            }
        }
        for (sums, a) in tile.iter_mut().zip(&acc).take(S * R) {
            for (s, &a) in sums.iter_mut().zip(a) {
                *s = if ci0 == 0 { a } else { *s + a };
            }
        }
    }
}
