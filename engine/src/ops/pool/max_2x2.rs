//! The common 2x2, stride-2 max pool of one plane on the CPU: pairwise comparisons without
//! branches, up to 16 outputs of a row at a time in AVX-512 registers (masked loads and stores
//! for the rest of a row) for f32 where the CPU has them. The
//! output is the input at the chosen index (the first maximum, as PyTorch), so the value and
//! its index never disagree, even between `-0.0` and `0.0`. A plane holding a NaN is left to the
//! general loop (which propagates it). The backward pass ([`scatter`]) writes each input
//! position once, the output gradient at a window's index and zeros elsewhere, instead of
//! zeroing the plane and scattering into it.

use crate::backend::cpu::features::avx512_f32;
use crate::Float;

/// Pools `src` (rows `w` apart) into `o` and its argmax indices into `ix` (`out[0] x out[1]`
/// each); false, with `o` and `ix` partly written, if the plane holds a NaN.
pub(super) fn plane<T: Float>(
    src: &[T],
    w: usize,
    out: [usize; 2],
    o: &mut [T],
    ix: &mut [i64],
) -> bool {
    let [ho, wo] = out;
    assert!(2 * wo <= w && 2 * ho * w <= src.len() && o.len() >= ho * wo && ix.len() >= ho * wo);
    #[cfg(target_arch = "x86_64")]
    if avx512_f32::<T>() && src.len() <= i32::MAX as usize {
        // SAFETY: T is f32; the bounds are asserted above; the CPU has AVX-512F; every index
        // fits an i32.
        return unsafe {
            let src = std::slice::from_raw_parts(src.as_ptr() as *const f32, src.len());
            let o = std::slice::from_raw_parts_mut(o.as_mut_ptr() as *mut f32, o.len());
            plane_avx512(src, w, out, o, ix)
        };
    }
    rows(src, w, out, o, ix)
}

/// [`plane`] one output at a time.
fn rows<T: Float>(src: &[T], w: usize, [ho, wo]: [usize; 2], o: &mut [T], ix: &mut [i64]) -> bool {
    let mut nan = false;
    for oy in 0..ho {
        let r0 = &src[2 * oy * w..2 * oy * w + 2 * wo];
        let r1 = &src[(2 * oy + 1) * w..(2 * oy + 1) * w + 2 * wo];
        let base = 2 * oy * w;
        let (orow, irow) = (
            &mut o[oy * wo..(oy + 1) * wo],
            &mut ix[oy * wo..(oy + 1) * wo],
        );
        for (ox, (((a, b), ov), iv)) in r0
            .chunks_exact(2)
            .zip(r1.chunks_exact(2))
            .zip(orow.iter_mut())
            .zip(irow.iter_mut())
            .enumerate()
        {
            let (v0, v1, v2, v3) = (a[0], a[1], b[0], b[1]);
            let t01 = v1 > v0;
            let t23 = v3 > v2;
            let m01 = if t01 { v1 } else { v0 };
            let m23 = if t23 { v3 } else { v2 };
            let t = m23 > m01;
            *ov = if t { m23 } else { m01 };
            let d = if t { w + t23 as usize } else { t01 as usize };
            *iv = (base + 2 * ox + d) as i64;
            nan |= (v0.is_nan() | v1.is_nan()) | (v2.is_nan() | v3.is_nan());
        }
    }
    !nan
}

/// [`plane`] in AVX-512: 16 outputs of a row from two 32-wide runs of its input rows, split
/// into their even and odd columns; a row's last run masked.
///
/// # Safety
/// The CPU has AVX-512F; the bounds of [`plane`] hold and every index fits an i32.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn plane_avx512(
    src: &[f32],
    w: usize,
    [ho, wo]: [usize; 2],
    o: &mut [f32],
    ix: &mut [i64],
) -> bool {
    use std::arch::x86_64::*;
    let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    let odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    let (one, wv) = (_mm512_set1_epi32(1), _mm512_set1_epi32(w as i32));
    let lanes = |n: usize| -> __mmask16 { ((1u32 << n.min(16)) - 1) as __mmask16 };
    let mut nan: __mmask16 = 0;
    let (s, op, ip) = (src.as_ptr(), o.as_mut_ptr(), ix.as_mut_ptr());
    for oy in 0..ho {
        let base = 2 * oy * w;
        for x0 in (0..wo).step_by(16) {
            // Outputs `x0 .. x0 + n`, from inputs `2 x0 .. 2 (x0 + n)` of both rows.
            let n = (wo - x0).min(16);
            let (ma, mb) = (lanes(2 * n), lanes((2 * n).saturating_sub(16)));
            let at = base + 2 * x0;
            let (r0, r1) = (s.add(at), s.add(at + w));
            let (a0, a1) = (
                _mm512_maskz_loadu_ps(ma, r0),
                _mm512_maskz_loadu_ps(mb, r0.wrapping_add(16)),
            );
            let (b0, b1) = (
                _mm512_maskz_loadu_ps(ma, r1),
                _mm512_maskz_loadu_ps(mb, r1.wrapping_add(16)),
            );
            let v0 = _mm512_permutex2var_ps(a0, even, a1);
            let v1 = _mm512_permutex2var_ps(a0, odd, a1);
            let v2 = _mm512_permutex2var_ps(b0, even, b1);
            let v3 = _mm512_permutex2var_ps(b0, odd, b1);
            nan |= _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(v0, v1)
                | _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(v2, v3);
            let t01 = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(v1, v0);
            let t23 = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(v3, v2);
            let m01 = _mm512_mask_blend_ps(t01, v0, v1);
            let m23 = _mm512_mask_blend_ps(t23, v2, v3);
            let t = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(m23, m01);
            let mo = lanes(n);
            let m = _mm512_mask_blend_ps(t, m01, m23);
            _mm512_mask_storeu_ps(op.add(oy * wo + x0), mo, m);
            // Index: `at + 2 lane`, plus 1 for an odd column, plus `w` for the second row.
            let d01 = _mm512_maskz_mov_epi32(t01, one);
            let d23 = _mm512_add_epi32(wv, _mm512_maskz_mov_epi32(t23, one));
            let d = _mm512_mask_blend_epi32(t, d01, d23);
            let i = _mm512_add_epi32(_mm512_add_epi32(_mm512_set1_epi32(at as i32), even), d);
            let lo = _mm512_cvtepi32_epi64(_mm512_castsi512_si256(i));
            let hi = _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64::<1>(i));
            let to = ip.add(oy * wo + x0);
            _mm512_mask_storeu_epi64(to, mo as __mmask8, lo);
            // Masked-off lanes are not touched (the pointer may lie past the end when `n <= 8`).
            _mm512_mask_storeu_epi64(to.wrapping_add(8), (mo >> 8) as __mmask8, hi);
        }
    }
    nan == 0
}

/// The input gradient of one plane, `[h, w]` = `input`, from the output gradient `g` and the
/// indices `idx` of a 2x2, stride-2 pool (`output` = `[h / 2, w / 2]`): every position of `o`
/// written once, in AVX-512 for f32 rows of at least [`VECTOR_MIN_WIDTH`] windows. False,
/// with `o` partly written, elsewhere or if an index lies outside its window (indices that
/// did not come from this pool); the caller then zeroes the plane and scatters.
pub(super) fn scatter<T: Float>(
    g: &[T],
    idx: &[i64],
    [h, w]: [usize; 2],
    [ho, wo]: [usize; 2],
    o: &mut [T],
) -> bool {
    assert!(2 * ho <= h && 2 * wo <= w && g.len() >= ho * wo && idx.len() >= ho * wo);
    assert!(o.len() >= h * w);
    #[cfg(target_arch = "x86_64")]
    if wo >= VECTOR_MIN_WIDTH && avx512_f32::<T>() && h * w <= i32::MAX as usize {
        // SAFETY: T is f32; the bounds are asserted above; the CPU has AVX-512F; every
        // in-window index fits an i32.
        let done = unsafe {
            let g = std::slice::from_raw_parts(g.as_ptr() as *const f32, g.len());
            let o = std::slice::from_raw_parts_mut(o.as_mut_ptr() as *mut f32, o.len());
            scatter_avx512(g, idx, w, [ho, wo], o)
        };
        if done {
            // Positions no window covers: the last column of an odd width, the last row of
            // an odd height.
            for y in 0..h {
                let from = if y < 2 * ho { 2 * wo } else { 0 };
                o[y * w + from..(y + 1) * w].fill(T::zero());
            }
        }
        return done;
    }
    false
}

/// The narrowest output row [`scatter`] runs for: on rows of 1-7 windows (VGG-16's 4x4 and
/// 2x2 planes, ConvNet-4's 14x14, 7x7 and 3x3 ones) zeroing the plane and scattering into it
/// is as fast or faster.
const VECTOR_MIN_WIDTH: usize = 8;

/// [`scatter`] in AVX-512: 16 windows of a row at a time (masked at the row's end), each
/// index compared with its window's four positions, the two input rows' 32 values each
/// interleaved from their even and odd columns.
///
/// # Safety
/// The CPU has AVX-512F; the bounds of [`scatter`] hold and `2 ho w` fits an i32.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn scatter_avx512(
    g: &[f32],
    idx: &[i64],
    w: usize,
    [ho, wo]: [usize; 2],
    o: &mut [f32],
) -> bool {
    use std::arch::x86_64::*;
    let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    let low = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    let high = _mm512_add_epi32(low, _mm512_set1_epi32(8));
    let (one, wv) = (_mm512_set1_epi32(1), _mm512_set1_epi32(w as i32));
    let lanes = |n: usize| -> __mmask16 { ((1u32 << n.min(16)) - 1) as __mmask16 };
    let (gp, ip, op) = (g.as_ptr(), idx.as_ptr(), o.as_mut_ptr());
    for oy in 0..ho {
        for x0 in (0..wo).step_by(16) {
            let n = (wo - x0).min(16);
            let mo = lanes(n);
            let j = oy * wo + x0;
            // `0 + g`, as the scatter into zeros computes it (`-0.0` becomes `0.0`).
            let v = _mm512_add_ps(_mm512_setzero_ps(), _mm512_maskz_loadu_ps(mo, gp.add(j)));
            let i_lo = _mm512_maskz_loadu_epi64(mo as __mmask8, ip.add(j));
            let i_hi = _mm512_maskz_loadu_epi64((mo >> 8) as __mmask8, ip.wrapping_add(j + 8));
            // An index beyond i32 lies outside every window here; saturate it out of range.
            let i = _mm512_inserti64x4::<1>(
                _mm512_castsi256_si512(_mm512_cvtsepi64_epi32(i_lo)),
                _mm512_cvtsepi64_epi32(i_hi),
            );
            let at = 2 * oy * w + 2 * x0;
            let code = _mm512_sub_epi32(i, _mm512_add_epi32(_mm512_set1_epi32(at as i32), even));
            let m0 = _mm512_cmpeq_epi32_mask(code, _mm512_setzero_si512());
            let m1 = _mm512_cmpeq_epi32_mask(code, one);
            let m2 = _mm512_cmpeq_epi32_mask(code, wv);
            let m3 = _mm512_cmpeq_epi32_mask(code, _mm512_add_epi32(wv, one));
            if (m0 | m1 | m2 | m3) & mo != mo {
                return false;
            }
            let (e0, d0) = (_mm512_maskz_mov_ps(m0, v), _mm512_maskz_mov_ps(m1, v));
            let (e1, d1) = (_mm512_maskz_mov_ps(m2, v), _mm512_maskz_mov_ps(m3, v));
            let (ma, mb) = (lanes(2 * n), lanes((2 * n).saturating_sub(16)));
            let (r0, r1) = (op.add(at), op.add(at + w));
            _mm512_mask_storeu_ps(r0, ma, _mm512_permutex2var_ps(e0, low, d0));
            _mm512_mask_storeu_ps(
                r0.wrapping_add(16),
                mb,
                _mm512_permutex2var_ps(e0, high, d0),
            );
            _mm512_mask_storeu_ps(r1, ma, _mm512_permutex2var_ps(e1, low, d1));
            _mm512_mask_storeu_ps(
                r1.wrapping_add(16),
                mb,
                _mm512_permutex2var_ps(e1, high, d1),
            );
        }
    }
    true
}
