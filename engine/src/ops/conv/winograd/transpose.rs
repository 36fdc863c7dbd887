//! Transposes of the weight gradient's transformed inputs: each position's `[chans, tiles]`
//! matrix to `[tiles, chans]`, so that the gemm reads its right operand row-major. With the
//! right operand column-major (and few output rows) the gemm crate runs its kernel on it
//! unpacked, at about half the speed: 64 x 64 x 512, one thread, 74 GFLOP/s against 139.

use rayon::prelude::*;

/// Square blocks the transpose moves at a time (both sides stay in L1).
const BLOCK: usize = 16;

/// `dst[xi][t][ch] = src[xi][ch][t]` for `positions` matrices of `[chans, tiles]`, spread over
/// the pool when `par`.
pub(super) fn transpose_positions<T: Copy + Send + Sync + 'static>(
    src: &[T],
    dst: &mut [T],
    positions: usize,
    chans: usize,
    tiles: usize,
    par: bool,
) {
    let each = chans * tiles;
    assert!(src.len() >= positions * each && dst.len() >= positions * each);
    if each == 0 {
        return;
    }
    let one = |(s, d): (&[T], &mut [T])| transpose(s, d, chans, tiles);
    if par {
        src[..positions * each]
            .par_chunks(each)
            .zip(dst[..positions * each].par_chunks_mut(each))
            .for_each(one);
    } else {
        src.chunks(each)
            .zip(dst.chunks_mut(each))
            .take(positions)
            .for_each(one);
    }
}

/// `dst[c * rows + r] = src[r * cols + c]` for a `[rows, cols]` matrix `src`, in square
/// blocks: whole 16 x 16 blocks of f32 in AVX-512 registers where the CPU has them, the rest
/// element by element.
fn transpose<T: Copy + 'static>(src: &[T], dst: &mut [T], rows: usize, cols: usize) {
    assert!(src.len() >= rows * cols && dst.len() >= rows * cols);
    let vector = crate::backend::cpu::features::avx512_f32::<T>();
    for r0 in (0..rows).step_by(BLOCK) {
        let r1 = (r0 + BLOCK).min(rows);
        for c0 in (0..cols).step_by(BLOCK) {
            let c1 = (c0 + BLOCK).min(cols);
            #[cfg(target_arch = "x86_64")]
            if vector && r1 - r0 == BLOCK && c1 - c0 == BLOCK {
                // SAFETY: T is f32; rows r0..r0 + 16 and columns c0..c0 + 16 are inside the
                // `[rows, cols]` source and its `[cols, rows]` destination (asserted above);
                // the CPU has AVX-512F.
                unsafe {
                    block16_avx512(
                        (src.as_ptr() as *const f32).add(r0 * cols + c0),
                        cols,
                        (dst.as_mut_ptr() as *mut f32).add(c0 * rows + r0),
                        rows,
                    )
                };
                continue;
            }
            let _ = vector;
            for c in c0..c1 {
                let d = &mut dst[c * rows + r0..c * rows + r1];
                for (r, x) in (r0..r1).zip(d.iter_mut()) {
                    *x = src[r * cols + c];
                }
            }
        }
    }
}

/// One 16 x 16 block: `dst[c * dst_stride + r] = src[r * src_stride + c]`, 16 row loads, 32-
/// and 64-bit interleaves, two rounds of 128-bit lane shuffles, 16 row stores.
///
/// # Safety
/// The CPU has AVX-512F; 16 rows of 16 floats from `src` (`src_stride` apart) and from `dst`
/// (`dst_stride` apart) are in bounds.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn block16_avx512(src: *const f32, src_stride: usize, dst: *mut f32, dst_stride: usize) {
    use std::arch::x86_64::*;
    let r: [__m512; 16] = std::array::from_fn(|i| _mm512_loadu_ps(src.add(i * src_stride)));
    // t[2i], t[2i + 1]: rows 2i and 2i + 1 interleaved within each 128-bit lane.
    let mut t = [_mm512_setzero_ps(); 16];
    for i in 0..8 {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    // u[4i + q], lane j: rows 4i .. 4i + 4 of column 4j + q.
    let mut u = [_mm512_setzero_ps(); 16];
    for i in 0..4 {
        let pd = |v: __m512| _mm512_castps_pd(v);
        let ps = |v: __m512d| _mm512_castpd_ps(v);
        u[4 * i] = ps(_mm512_unpacklo_pd(pd(t[4 * i]), pd(t[4 * i + 2])));
        u[4 * i + 1] = ps(_mm512_unpackhi_pd(pd(t[4 * i]), pd(t[4 * i + 2])));
        u[4 * i + 2] = ps(_mm512_unpacklo_pd(pd(t[4 * i + 1]), pd(t[4 * i + 3])));
        u[4 * i + 3] = ps(_mm512_unpackhi_pd(pd(t[4 * i + 1]), pd(t[4 * i + 3])));
    }
    // v[q] = (rows 0-3, 4-7 of columns q, 8 + q), v[4 + q] of columns 4 + q, 12 + q; v[8 + q],
    // v[12 + q] the same for rows 8-15.
    let mut v = [_mm512_setzero_ps(); 16];
    for q in 0..4 {
        v[q] = _mm512_shuffle_f32x4::<0x88>(u[q], u[4 + q]);
        v[4 + q] = _mm512_shuffle_f32x4::<0xDD>(u[q], u[4 + q]);
        v[8 + q] = _mm512_shuffle_f32x4::<0x88>(u[8 + q], u[12 + q]);
        v[12 + q] = _mm512_shuffle_f32x4::<0xDD>(u[8 + q], u[12 + q]);
    }
    for q in 0..4 {
        let col = |c: usize| dst.add(c * dst_stride);
        _mm512_storeu_ps(col(q), _mm512_shuffle_f32x4::<0x88>(v[q], v[8 + q]));
        _mm512_storeu_ps(col(8 + q), _mm512_shuffle_f32x4::<0xDD>(v[q], v[8 + q]));
        _mm512_storeu_ps(
            col(4 + q),
            _mm512_shuffle_f32x4::<0x88>(v[4 + q], v[12 + q]),
        );
        _mm512_storeu_ps(
            col(12 + q),
            _mm512_shuffle_f32x4::<0xDD>(v[4 + q], v[12 + q]),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `transpose_positions` of `positions` matrices `[chans, tiles]` holding `0, 1, 2, ...`
    /// (as `T`), both schedules, checked element by element.
    fn check<T: Copy + Send + Sync + PartialEq + std::fmt::Debug + 'static>(
        positions: usize,
        chans: usize,
        tiles: usize,
        from: impl Fn(usize) -> T,
    ) {
        let src: Vec<T> = (0..positions * chans * tiles).map(&from).collect();
        for par in [false, true] {
            let mut dst = vec![from(0); src.len()];
            transpose_positions(&src, &mut dst, positions, chans, tiles, par);
            for xi in 0..positions {
                let at = xi * chans * tiles;
                for ch in 0..chans {
                    for t in 0..tiles {
                        assert_eq!(dst[at + t * chans + ch], src[at + ch * tiles + t]);
                    }
                }
            }
        }
    }

    /// f32 (whole 16 x 16 blocks in AVX-512 registers where the CPU has them, the rest element
    /// by element) and u32 (element by element), on sides with and without partial blocks.
    #[test]
    fn every_position_is_transposed() {
        check(3, 64, 48, |i| i as f32);
        check(2, 35, 50, |i| i as f32);
        check(2, 19, 37, |i| i as u32);
    }
}
