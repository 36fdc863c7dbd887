//! AVX-512 gathers and scatters of a block's 16 tiles, for f32 on planes whose tile rows are
//! shorter than a block (VGG-16's 16x16, 8x8, 4x4 and 2x2 planes): entry `(u, v)` of every tile
//! is one masked gather (zeros outside the plane) into its lane vector, and each output entry
//! one masked scatter, instead of 16 scalar loads or stores per entry. Values are only moved,
//! so the results are the bits of the scalar loops.

use super::transforms::{Tile6, L};

/// Where the 16 tiles of a block sit: lane `l`'s tile is in image `n0 + dn[l]`, its top-left
/// output at row `y[l]`, column `x[l]`. Computed once per chunk of tiles, for all channels.
#[derive(Clone, Copy)]
pub(super) struct BlockLanes {
    pub(super) n0: usize,
    dn: [i32; L],
    y: [i32; L],
    x: [i32; L],
}

impl BlockLanes {
    /// The lanes of tiles `org[0..L]` (image, top-left output row and column); `None` where a
    /// value does not fit 32 bits.
    pub(super) fn new(org: &[[usize; 3]]) -> Option<BlockLanes> {
        let n0 = org[0][0];
        let mut b = BlockLanes {
            n0,
            dn: [0; L],
            y: [0; L],
            x: [0; L],
        };
        for (l, &[n, y, x]) in org[..L].iter().enumerate() {
            b.dn[l] = i32::try_from(n.checked_sub(n0)?).ok()?;
            b.y[l] = i32::try_from(y).ok()?;
            b.x[l] = i32::try_from(x).ok()?;
        }
        Some(b)
    }

    /// The image of the block's last tile (the images are in order).
    pub(super) fn last_image(&self) -> usize {
        self.n0 + self.dn[L - 1] as usize
    }

    /// Whether every offset into planes `[h, w]`, `stride` apart, from the first image's
    /// plane fits 32 bits (padding of at most 2 included).
    pub(super) fn fit(&self, [h, w]: [usize; 2], stride: usize) -> bool {
        let images = self.dn[L - 1].max(0) as usize + 1;
        images
            .checked_mul(stride.max(h * w))
            .and_then(|r| r.checked_add(4 * w + 4))
            .is_some_and(|r| r <= i32::MAX as usize)
    }
}

/// Lane vectors of the tiles' rows and columns shifted by `-pad`, and of their offsets
/// `dn stride + y w + x` from the first image's plane.
///
/// # Safety
/// The CPU has AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn places(
    b: &BlockLanes,
    pad: [isize; 2],
    w: usize,
    stride: usize,
) -> [std::arch::x86_64::__m512i; 3] {
    use std::arch::x86_64::*;
    let load = |a: &[i32; L]| _mm512_loadu_si512(a.as_ptr() as *const _);
    let y = _mm512_sub_epi32(load(&b.y), _mm512_set1_epi32(pad[0] as i32));
    let x = _mm512_sub_epi32(load(&b.x), _mm512_set1_epi32(pad[1] as i32));
    let off = _mm512_add_epi32(
        _mm512_mullo_epi32(load(&b.dn), _mm512_set1_epi32(stride as i32)),
        _mm512_add_epi32(_mm512_mullo_epi32(y, _mm512_set1_epi32(w as i32)), x),
    );
    [y, x, off]
}

/// Entries `(u, v)`, `u, v < side`, of the 16 tiles of `b` into lane `l` of `st[u][v]`: the
/// value at row `y[l] - pad[0] + u`, column `x[l] - pad[1] + v` of image `n0 + dn[l]`'s plane
/// (`[h, w]`, planes `stride` apart from `base`), zero outside the plane.
///
/// # Safety
/// The CPU has AVX-512F; `b.fit([h, w], stride)`; the planes of the block's images lie in
/// one allocation from `base`; `side <= 6`, `pad` at most 2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn gather_tiles(
    base: *const f32,
    b: &BlockLanes,
    pad: [isize; 2],
    [h, w]: [usize; 2],
    stride: usize,
    side: usize,
    st: &mut Tile6<f32>,
) {
    use std::arch::x86_64::*;
    let [y, x, off] = places(b, pad, w, stride);
    let inside = |c: __m512i, d: i32, n: usize| -> __mmask16 {
        let c = _mm512_add_epi32(c, _mm512_set1_epi32(d));
        _mm512_cmpge_epi32_mask(c, _mm512_setzero_si512())
            & _mm512_cmplt_epi32_mask(c, _mm512_set1_epi32(n as i32))
    };
    let mut cols = [0 as __mmask16; 6];
    for (v, c) in cols.iter_mut().enumerate().take(side) {
        *c = inside(x, v as i32, w);
    }
    for (u, su) in st.iter_mut().enumerate().take(side) {
        let row = inside(y, u as i32, h);
        for (v, sv) in su.iter_mut().enumerate().take(side) {
            let idx = _mm512_add_epi32(off, _mm512_set1_epi32((u * w + v) as i32));
            let got = _mm512_mask_i32gather_ps::<4>(_mm512_setzero_ps(), row & cols[v], idx, base);
            _mm512_storeu_ps(sv.0.as_mut_ptr(), got);
        }
    }
}

/// Entries `(i, j)`, `i, j < side`, of the 16 tiles in `r`, plus `bias`, to row `y[l] + i`,
/// column `x[l] + j` of image `n0 + dn[l]`'s plane (`[h, w]`, planes `stride` apart from
/// `base`) where that lies inside the plane.
///
/// # Safety
/// The CPU has AVX-512F; `b.fit([h, w], stride)`; the planes of the block's images lie in
/// one allocation from `base`, and no other task writes the tiles' elements meanwhile;
/// `side <= 6`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn scatter_tiles(
    base: *mut f32,
    b: &BlockLanes,
    [h, w]: [usize; 2],
    stride: usize,
    side: usize,
    r: &Tile6<f32>,
    bias: f32,
) {
    use std::arch::x86_64::*;
    let [y, x, off] = places(b, [0, 0], w, stride);
    let below = |c: __m512i, d: i32, n: usize| -> __mmask16 {
        _mm512_cmplt_epi32_mask(
            _mm512_add_epi32(c, _mm512_set1_epi32(d)),
            _mm512_set1_epi32(n as i32),
        )
    };
    let mut cols = [0 as __mmask16; 6];
    for (j, c) in cols.iter_mut().enumerate().take(side) {
        *c = below(x, j as i32, w);
    }
    let b = _mm512_set1_ps(bias);
    for (i, ri) in r.iter().enumerate().take(side) {
        let row = below(y, i as i32, h);
        for (j, rj) in ri.iter().enumerate().take(side) {
            let idx = _mm512_add_epi32(off, _mm512_set1_epi32((i * w + j) as i32));
            let v = _mm512_add_ps(_mm512_loadu_ps(rj.0.as_ptr()), b);
            _mm512_mask_i32scatter_ps::<4>(base, row & cols[j], idx, v);
        }
    }
}
