//! Direct convolutions for stride-1 convolutions on small planes (ConvNet-4's 14x14 maps with
//! 32-64 channels), where im2col + gemm spends about as long copying columns and packing them
//! as multiplying: forward and input gradient here, the weight gradient in [`weight`].
//!
//! Each input plane is copied, zero-padded, into rows `Wp = W + pw` apart, one run of `pw`
//! zeros between rows serving as the right padding of one row and the left padding of the
//! next. Output `(y, x)` is computed at flat index `o = y Wp + x` of that grid, where tap
//! `(i, j)` reads flat index `o + i Wp + j`: one shifted run per tap for any block of
//! consecutive positions. The grid's `Wp - Wo` extra columns per row are computed and dropped
//! (7% of the work on a 14x14 plane with padding 1, 13% on a 7x7 one). A block of [`G`] output
//! channels by `XB` positions is summed in registers over [`SUM_CHANNELS`] input channels and
//! every tap (one broadcast input value times a vector of 16 output channels' weights per
//! fused multiply-add), the partial sums then added in order. The input gradient is the same
//! kernel on the output gradient padded by `k - 1 - p`, with the weights flipped and their two
//! channel axes swapped.
//!
//! The order of every sum is fixed by the shapes, whatever the thread count; samples run in
//! parallel.

mod plan;
mod weight;
pub use weight::conv2d_weight;

use super::ConvGeom;
use crate::backend::cpu::recycle;
use crate::backend::cpu::scratch::{give, take, Scratch};
use crate::Float;
use plan::{has_avx512, Plan, G, KB, L};
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
    let span = p.span();
    // Several samples per task on small planes, so that each chunk of weights is read once for
    // all of them; tasks enough to share among the threads. Neither changes any sum's order.
    let tasks_wanted = 8 * rayon::current_num_threads();
    let nb = (TASK_POSITIONS / span).clamp(1, n.div_ceil(tasks_wanted).max(1));
    let task = |(xs, os): (&[T], &mut [T])| {
        if std::mem::size_of::<T>() != 4 {
            task_blocks::<T, 6>(p, xs, &packed, bias, os)
        } else if span <= 11 {
            task_blocks::<T, 11>(p, xs, &packed, bias, os)
        } else {
            task_blocks::<T, 14>(p, xs, &packed, bias, os)
        }
    };
    src.par_chunks(nb * p.cin * src_plane)
        .zip(out.par_chunks_mut(nb * p.cout * dst_plane))
        .for_each(task);
    give(packed);
    out
}

/// Output positions per task that make the weights' reads cheap next to the products.
const TASK_POSITIONS: usize = 256;

/// The samples of one task: pads their planes, then for each block of `G` output channels and
/// each chunk of [`SUM_CHANNELS`] input channels (the weights they share), every sample's
/// blocks of `XB` positions.
fn task_blocks<T: Scratch, const XB: usize>(
    p: &Plan,
    xs: &[T],
    packed: &[T],
    bias: Option<&[T]>,
    os: &mut [T],
) {
    let [ho, wo] = p.dst;
    let (wp, pp, taps) = (p.wp(), p.padded_plane(XB), p.taps());
    let (plane, nb) = (ho * wo, xs.len() / (p.cin * p.src[0] * p.src[1]));
    let xp = p.pad_planes(xs, pp);
    // Outputs at flat positions of the padded grid, the first to the last output; the grid's
    // extra columns are computed and dropped. A group's sums, `[sample][o][G]`, before they
    // go to the channel planes.
    let span = p.span();
    let stride = span.div_ceil(XB) * XB * G;
    let wsize = p.cin * taps.len() * G;
    let mut sums = take::<T>(nb * stride);
    for gi in 0..p.groups() {
        let wg = &packed[gi * wsize..(gi + 1) * wsize];
        for ci0 in (0..p.cin).step_by(SUM_CHANNELS) {
            let cis = ci0..(ci0 + SUM_CHANNELS).min(p.cin);
            for si in 0..nb {
                let xs = &xp[si * p.cin * pp..(si + 1) * p.cin * pp];
                let sums = &mut sums[si * stride..(si + 1) * stride];
                for o0 in (0..span).step_by(XB) {
                    let at = Window {
                        pp,
                        cis: cis.clone(),
                        taps: &taps,
                        o0,
                    };
                    // SAFETY: the padded planes hold `o0 + XB - 1 + last tap` elements each
                    // (padded_plane), and `wg` holds `cin * taps * G`.
                    let acc = unsafe { block::<T, XB>(xs, wg, &at) };
                    let at = &mut sums[o0 * G..(o0 + XB) * G];
                    for (j, at) in at.chunks_exact_mut(G).enumerate() {
                        for (b, lanes) in at.chunks_exact_mut(L).enumerate() {
                            if ci0 == 0 {
                                lanes.copy_from_slice(&acc[b][j]);
                            } else {
                                let add = lanes.iter_mut().zip(&acc[b][j]);
                                add.for_each(|(s, &a)| *s = *s + a);
                            }
                        }
                    }
                }
            }
        }
        let c0 = gi * G;
        for (si, os) in os.chunks_exact_mut(p.cout * plane).enumerate() {
            let sums = &sums[si * stride..(si + 1) * stride];
            for l in 0..G.min(p.cout - c0) {
                let bl = bias.map_or(T::zero(), |b| b[c0 + l]);
                let dst = &mut os[(c0 + l) * plane..(c0 + l + 1) * plane];
                for (y, row) in dst.chunks_exact_mut(wo).enumerate() {
                    let src = sums[y * wp * G + l..].iter().step_by(G);
                    for (d, &v) in row.iter_mut().zip(src) {
                        *d = v + bl;
                    }
                }
            }
        }
    }
    give(sums);
    give(xp);
}

/// Which sums a block computes: positions `o0 .. o0 + XB` of the padded grid (planes `pp`
/// apart, taps at flat offsets `taps`), over the input channels `cis`.
struct Window<'a> {
    pp: usize,
    cis: std::ops::Range<usize>,
    taps: &'a [usize],
    o0: usize,
}

/// The sums of one block (`G` output channels by `XB` positions, see [`Window`]): AVX-512
/// registers for f32 where the CPU has them, portable loops elsewhere.
///
/// # Safety
/// Each padded plane of `xp` holds index `o0 + XB - 1 + taps[last]`; `wg` holds
/// `cis.end * taps.len() * G` elements.
#[inline(always)]
unsafe fn block<T: Float, const XB: usize>(xp: &[T], wg: &[T], at: &Window) -> [[[T; L]; XB]; KB] {
    #[cfg(target_arch = "x86_64")]
    if std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>() && has_avx512() {
        let (xp, wg) = (xp.as_ptr() as *const f32, wg.as_ptr() as *const f32);
        let acc = block_avx512::<XB>(xp, wg, at);
        // T is f32.
        return std::mem::transmute_copy(&acc);
    }
    block_portable(xp, wg, at)
}

/// [`block`] in AVX-512: `2 XB` accumulators (28 of the 32 registers at `XB = 14`), two weight
/// vectors and one broadcast input value per fused multiply-add pair.
///
/// # Safety
/// As [`block`], on a CPU with AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn block_avx512<const XB: usize>(
    xp: *const f32,
    wg: *const f32,
    at: &Window,
) -> [[[f32; L]; XB]; KB] {
    use std::arch::x86_64::*;
    let Window { pp, o0, taps, .. } = *at;
    let mut acc0 = [_mm512_setzero_ps(); XB];
    let mut acc1 = [_mm512_setzero_ps(); XB];
    let nt = taps.len();
    for ci in at.cis.clone() {
        let s = xp.add(ci * pp + o0);
        let wc = wg.add(ci * nt * G);
        for (t, &off) in taps.iter().enumerate() {
            let w0 = _mm512_loadu_ps(wc.add(t * G));
            let w1 = _mm512_loadu_ps(wc.add(t * G + L));
            let sv = s.add(off);
            for j in 0..XB {
                let v = _mm512_set1_ps(*sv.add(j));
                acc0[j] = _mm512_fmadd_ps(v, w0, acc0[j]);
                acc1[j] = _mm512_fmadd_ps(v, w1, acc1[j]);
            }
        }
    }
    let mut out = [[[0.0f32; L]; XB]; KB];
    for j in 0..XB {
        _mm512_storeu_ps(out[0][j].as_mut_ptr(), acc0[j]);
        _mm512_storeu_ps(out[1][j].as_mut_ptr(), acc1[j]);
    }
    out
}

/// [`block`] in portable loops (f64, and CPUs without AVX-512; for testing, not for speed).
///
/// # Safety
/// As [`block`].
unsafe fn block_portable<T: Float, const XB: usize>(
    xp: &[T],
    wg: &[T],
    at: &Window,
) -> [[[T; L]; XB]; KB] {
    let Window { pp, o0, taps, .. } = *at;
    let mut acc = [[[T::zero(); L]; XB]; KB];
    let nt = taps.len();
    for ci in at.cis.clone() {
        let s = &xp[ci * pp + o0..];
        let wc = &wg[ci * nt * G..];
        for (t, &off) in taps.iter().enumerate() {
            let wv = &wc[t * G..(t + 1) * G];
            for j in 0..XB {
                let v = s[off + j];
                for (l, &wl) in wv.iter().enumerate() {
                    acc[l / L][j][l % L] = acc[l / L][j][l % L] + v * wl;
                }
            }
        }
    }
    acc
}
