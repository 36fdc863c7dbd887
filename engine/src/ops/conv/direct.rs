//! Direct convolutions for stride-1 convolutions on small planes (ConvNet-4's 14x14 maps with
//! 32-64 channels), where im2col + gemm spends about as long copying columns and packing them
//! as multiplying: forward and input gradient (the weight gradient stays on im2col or the
//! per-pair gemms).
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

use super::ConvGeom;
use crate::backend::cpu::recycle;
use crate::backend::cpu::scratch::{give, take, Scratch};
use crate::Float;
use rayon::prelude::*;

/// Output channels per vector.
const L: usize = 16;
/// Vectors of output channels per block.
const KB: usize = 2;
/// Output channels per block.
const G: usize = L * KB;
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

fn has_avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// One direct convolution: `cin` planes of `src` (`[h, w]` each) to `cout` planes of `dst`
/// (`[ho, wo]`), kernel `[kh, kw]`, padding `pad`.
#[derive(Clone, Copy)]
struct Plan {
    cin: usize,
    cout: usize,
    src: [usize; 2],
    dst: [usize; 2],
    kernel: [usize; 2],
    pad: [usize; 2],
}

impl Plan {
    /// Row stride of the padded planes: the padding between two rows is shared.
    fn wp(&self) -> usize {
        self.src[1] + self.pad[1]
    }

    /// Flat offsets of the taps in a padded plane, row-major.
    fn taps(&self) -> Vec<usize> {
        let wp = self.wp();
        (0..self.kernel[0])
            .flat_map(|i| (0..self.kernel[1]).map(move |j| i * wp + j))
            .collect()
    }

    /// Elements of one padded plane, with room for the last block of `xb` positions to read
    /// past the last output.
    fn padded_plane(&self, xb: usize) -> usize {
        let wp = self.wp();
        let span = (self.dst[0] - 1) * wp + self.dst[1];
        let last_tap = (self.kernel[0] - 1) * wp + self.kernel[1] - 1;
        ((self.src[0] + 2 * self.pad[0]) * wp).max(span.div_ceil(xb) * xb + last_tap)
    }

    fn groups(&self) -> usize {
        self.cout.div_ceil(G)
    }
}

/// Weights packed as `[group][cin][tap][G]` (output channels beyond `cout` zero), from
/// `weight(co, ci, tap)`.
fn pack<T: Float>(p: &Plan, weight: impl Fn(usize, usize, usize) -> T) -> Vec<T> {
    let taps = p.kernel[0] * p.kernel[1];
    let mut out = vec![T::zero(); p.groups() * p.cin * taps * G];
    for (i, v) in out.iter_mut().enumerate() {
        let l = i % G;
        let t = i / G % taps;
        let ci = i / (G * taps) % p.cin;
        let co = i / (G * taps * p.cin) * G + l;
        if co < p.cout {
            *v = weight(co, ci, t);
        }
    }
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
    let p = Plan {
        cin: c,
        cout: k,
        src: g.input,
        dst: g.output,
        kernel: g.kernel,
        pad: g.padding,
    };
    let taps = g.taps();
    let packed = pack(&p, |co, ci, t| w[(co * c + ci) * taps + t]);
    run(&p, x, &packed, bias, n)
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
    run(&p, z, &packed, bias, n)
}

/// `n` samples of `src` (`[n, cin, src]`) through the plan with packed weights, plus `bias`
/// per output channel.
fn run<T: Scratch>(p: &Plan, src: &[T], packed: &[T], bias: Option<&[T]>, n: usize) -> Vec<T> {
    let (src_plane, dst_plane) = (p.src[0] * p.src[1], p.dst[0] * p.dst[1]);
    // Every element is written by the blocks.
    let mut out = recycle::output::<T>(n * p.cout * dst_plane);
    if out.is_empty() {
        return out;
    }
    let sample = |(xs, os): (&[T], &mut [T])| {
        if std::mem::size_of::<T>() == 4 {
            sample_blocks::<T, 14>(p, xs, packed, bias, os)
        } else {
            sample_blocks::<T, 6>(p, xs, packed, bias, os)
        }
    };
    src.par_chunks(p.cin * src_plane)
        .zip(out.par_chunks_mut(p.cout * dst_plane))
        .for_each(sample);
    out
}

/// One sample: pads its planes, then every block of `G` output channels by `XB` positions.
fn sample_blocks<T: Scratch, const XB: usize>(
    p: &Plan,
    xs: &[T],
    packed: &[T],
    bias: Option<&[T]>,
    os: &mut [T],
) {
    let [h, w] = p.src;
    let [ho, wo] = p.dst;
    let wp = p.wp();
    let pp = p.padded_plane(XB);
    let taps = p.taps();
    let mut xp = take::<T>(p.cin * pp);
    xp.fill(T::zero());
    for ci in 0..p.cin {
        for y in 0..h {
            let d = ci * pp + (y + p.pad[0]) * wp + p.pad[1];
            xp[d..d + w].copy_from_slice(&xs[(ci * h + y) * w..(ci * h + y + 1) * w]);
        }
    }
    // Outputs at flat positions of the padded grid, the first to the last output; the grid's
    // extra columns are computed and dropped.
    let span = (ho - 1) * wp + wo;
    let wsize = p.cin * taps.len() * G;
    let plane = ho * wo;
    // A group's sums, position-major (`[o][G]`), before they go to the channel planes.
    let mut sums = take::<T>(span.div_ceil(XB) * XB * G);
    for gi in 0..p.groups() {
        let wg = &packed[gi * wsize..(gi + 1) * wsize];
        for ci0 in (0..p.cin).step_by(SUM_CHANNELS) {
            let cis = ci0..(ci0 + SUM_CHANNELS).min(p.cin);
            for o0 in (0..span).step_by(XB) {
                // SAFETY: the padded planes hold `o0 + XB - 1 + last tap` elements each
                // (padded_plane), and `wg` holds `cin * taps * G`.
                let at = Window {
                    pp,
                    cis: cis.clone(),
                    taps: &taps,
                    o0,
                };
                let acc = unsafe { block::<T, XB>(&xp, wg, &at) };
                for (j, at) in sums[o0 * G..(o0 + XB) * G].chunks_exact_mut(G).enumerate() {
                    for (b, lanes) in at.chunks_exact_mut(L).enumerate() {
                        if ci0 == 0 {
                            lanes.copy_from_slice(&acc[b][j]);
                        } else {
                            lanes
                                .iter_mut()
                                .zip(&acc[b][j])
                                .for_each(|(s, &a)| *s = *s + a);
                        }
                    }
                }
            }
        }
        let c0 = gi * G;
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
