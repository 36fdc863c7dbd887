//! The weight gradient of a convolution with one input channel (ConvNet-4's first layer,
//! 1 -> 32 channels on 28x28), vectorised over output positions instead of output channels:
//! `dw[k, 0, i, j] = sum_n sum_(y, x) gy[n, k, y, x] x[n, y + i - p, x + j - p]`, 16 columns
//! of a row at a time, two output channels by nine taps in 18 AVX-512 accumulators (two
//! output-gradient vectors and nine shifted input vectors per 18 fused multiply-adds). With one
//! input channel the channel-vectorised kernel ([`super::weight`]) has one product per
//! transposed output-gradient element, and im2col's gemm a depth of 9.
//!
//! Each sample is one partial gradient (its lanes summed in a fixed order), the partials added
//! in sample order, so the bits do not depend on the thread count.

use super::plan::Plan;
use crate::backend::cpu::recycle;
use crate::backend::cpu::scratch::{give, take};
use crate::ops::conv::ConvGeom;
use rayon::prelude::*;

/// True when [`conv2d_weight`] computes `g` for one input channel: a 3x3 kernel (the direct
/// kernel's geometry, checked by the caller) on rows of at least 16 outputs, f32, AVX-512.
pub fn applies(g: &ConvGeom) -> bool {
    g.kernel == [3, 3] && g.output[1] >= 16 && crate::backend::cpu::features::has_avx512()
}

/// Weight gradient for one input channel: `x` `[n, 1, H, W]`, `gy` `[n, k, Ho, Wo]` ->
/// `[k, 1, 3, 3]`; `None` where [`applies`] does not hold.
pub fn conv2d_weight(x: &[f32], gy: &[f32], n: usize, k: usize, g: &ConvGeom) -> Option<Vec<f32>> {
    if !applies(g) || n == 0 || k == 0 {
        return None;
    }
    let p = Plan::forward(g, 1, k);
    let [ho, wo] = p.dst;
    let (hw, plane) = (p.src[0] * p.src[1], ho * wo);
    // Room for the last row's 16-lane loads past its end (masked, never read, but in bounds).
    let pp = p.padded_plane(p.span()) + 16;
    assert!(x.len() >= n * hw && gy.len() >= n * k * plane);
    let partials: Vec<Vec<f32>> = (0..n)
        .into_par_iter()
        .map(|s| {
            let mut xp = take::<f32>(pp);
            p.pad_into(&x[s * hw..(s + 1) * hw], pp, &mut xp);
            let mut part = take::<f32>(k * 9);
            let sample = Sample {
                xp: &xp,
                gy: &gy[s * k * plane..(s + 1) * k * plane],
                dst: p.dst,
                wp: p.wp(),
            };
            for k0 in (0..k).step_by(2) {
                let pair = [k0, (k0 + 1).min(k - 1)];
                // SAFETY: the CPU has AVX-512F (applies); reads are bounded as `pair_sums`
                // requires: rows of `wo` outputs, loads masked to them, the padded plane holds
                // `(ho - 1 + 2) wp + wo + 2` plus 16.
                let sums = unsafe { pair_sums(&sample, pair) };
                part[k0 * 9..k0 * 9 + 9].copy_from_slice(&sums[0]);
                if k0 + 1 < k {
                    part[(k0 + 1) * 9..(k0 + 2) * 9].copy_from_slice(&sums[1]);
                }
            }
            give(xp);
            part
        })
        .collect();
    // Every element is written by the first sample's partial.
    let mut dw = recycle::output::<f32>(k * 9);
    for (s, part) in partials.into_iter().enumerate() {
        if s == 0 {
            dw.copy_from_slice(&part);
        } else {
            dw.iter_mut().zip(&part).for_each(|(d, &v)| *d += v);
        }
        give(part);
    }
    Some(dw)
}

/// One sample: its padded input plane (rows `wp` apart), its output gradient `[k][ho][wo]`.
struct Sample<'a> {
    xp: &'a [f32],
    gy: &'a [f32],
    dst: [usize; 2],
    wp: usize,
}

/// The nine taps' sums of output channels `pair` over one sample.
///
/// # Safety
/// The CPU has AVX-512F; `xp` holds `(ho + 1) wp + wo + 18` elements and `gy` the channels of
/// `pair`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn pair_sums(s: &Sample, pair: [usize; 2]) -> [[f32; 9]; 2] {
    use std::arch::x86_64::*;
    let [ho, wo] = s.dst;
    assert!(s.xp.len() >= (ho + 1) * s.wp + wo + 18 && s.gy.len() >= (pair[1] + 1) * ho * wo);
    let mut a0 = [_mm512_setzero_ps(); 9];
    let mut a1 = [_mm512_setzero_ps(); 9];
    let (x, g) = (s.xp.as_ptr(), s.gy.as_ptr());
    let (g0, g1) = (g.add(pair[0] * ho * wo), g.add(pair[1] * ho * wo));
    for y in 0..ho {
        for x0 in (0..wo).step_by(16) {
            let m: __mmask16 = ((1u32 << (wo - x0).min(16)) - 1) as __mmask16;
            let v0 = _mm512_maskz_loadu_ps(m, g0.add(y * wo + x0));
            let v1 = _mm512_maskz_loadu_ps(m, g1.add(y * wo + x0));
            for i in 0..3 {
                let row = x.add((y + i) * s.wp + x0);
                for j in 0..3 {
                    let xv = _mm512_maskz_loadu_ps(m, row.add(j));
                    a0[i * 3 + j] = _mm512_fmadd_ps(v0, xv, a0[i * 3 + j]);
                    a1[i * 3 + j] = _mm512_fmadd_ps(v1, xv, a1[i * 3 + j]);
                }
            }
        }
    }
    let mut out = [[0.0f32; 9]; 2];
    for t in 0..9 {
        out[0][t] = _mm512_reduce_add_ps(a0[t]);
        out[1][t] = _mm512_reduce_add_ps(a1[t]);
    }
    out
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn pair_sums(_: &Sample, _: [usize; 2]) -> [[f32; 9]; 2] {
    unreachable!("applies() is false without AVX-512")
}
