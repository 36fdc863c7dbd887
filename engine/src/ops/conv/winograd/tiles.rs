//! Winograd tiles on NCHW buffers: how tiles cover the planes, gathering and transforming a
//! chunk's tiles (inputs, output gradients), the inverse transform into the output, the filter
//! transforms, and the SIMD dispatch the transforms run under.

use super::transforms::*;
use crate::backend::cpu::scratch::{give, take, Scratch};
use crate::Float;
use std::marker::PhantomData;

/// How the tiles of one direction cover its planes: tile `(ty, tx)` of image `n` reads the
/// source plane from `(ty m - pad, tx m - pad)` (zeros outside it) and owns the outputs
/// `(ty m .. ty m + m, tx m ..)` of the map plane (those inside it). Tiles are numbered
/// image-major, then row-major.
#[derive(Clone, Copy, Debug)]
pub(super) struct Tiling {
    pub(super) n: usize,
    src: [usize; 2],
    pub(super) map: [usize; 2],
    pad: [isize; 2],
    tiles: [usize; 2],
}

impl Tiling {
    pub(super) fn new(
        n: usize,
        src: [usize; 2],
        map: [usize; 2],
        pad: [isize; 2],
        m: usize,
    ) -> Self {
        Tiling {
            n,
            src,
            map,
            pad,
            tiles: map.map(|s| s.div_ceil(m)),
        }
    }

    pub(super) fn per_image(&self) -> usize {
        self.tiles[0] * self.tiles[1]
    }

    /// Image and tile row/column of tile `t`.
    #[inline(always)]
    fn locate(&self, t: usize) -> (usize, usize, usize) {
        let per = self.per_image();
        let r = t % per;
        (t / per, r / self.tiles[1], r % self.tiles[1])
    }
}

/// A pointer that tasks write through, each to elements no other task writes.
#[derive(Clone, Copy)]
pub(super) struct SharedOut<T>(pub(super) *mut T);

// SAFETY: every user writes disjoint index sets from different tasks (stated at each use), and
// the buffer outlives the parallel section that writes it.
unsafe impl<T: Send> Send for SharedOut<T> {}
unsafe impl<T: Send> Sync for SharedOut<T> {}

impl<T> SharedOut<T> {
    /// # Safety
    /// `i` is in bounds of the buffer and no other task touches element `i` meanwhile.
    #[inline(always)]
    unsafe fn write(self, i: usize, v: T) {
        *self.0.add(i) = v;
    }

    /// `v` to elements `i .. i + v.len()`.
    ///
    /// # Safety
    /// As [`write`](Self::write), for each of those elements.
    #[inline(always)]
    unsafe fn write_slice(self, i: usize, v: &[T])
    where
        T: Copy,
    {
        std::ptr::copy_nonoverlapping(v.as_ptr(), self.0.add(i), v.len());
    }

    /// Lanes `0..nl` of `v` to elements `i .. i + nl`.
    ///
    /// # Safety
    /// As [`write`](Self::write), for each of those elements.
    #[inline(always)]
    unsafe fn write_lanes(self, i: usize, v: &Lanes<T>, nl: usize)
    where
        T: Copy,
    {
        if nl == L {
            std::ptr::write_unaligned(self.0.add(i) as *mut [T; L], v.0);
        } else {
            for (l, &x) in v.0[..nl].iter().enumerate() {
                *self.0.add(i + l) = x;
            }
        }
    }
}

/// Runs `f` compiled for the widest vector unit of the CPU (AVX-512, else AVX2 + FMA, else
/// the build's baseline): the transforms are written for 16 lanes and inlined into `f`.
#[inline(always)]
pub(super) fn simd<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F.
            return unsafe { with_avx512(f) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU has AVX2 and FMA.
            return unsafe { with_avx2(f) };
        }
    }
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
pub(super) unsafe fn with_avx512<R>(f: impl FnOnce() -> R) -> R {
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn with_avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// Where the tiles of a chunk are: image and the top-left output position `(ty m, tx m)` of
/// each, computed once per chunk (not once per channel).
pub(super) fn tile_origins(tl: &Tiling, m: usize, (t0, tc): (usize, usize)) -> Vec<[usize; 3]> {
    (t0..t0 + tc)
        .map(|t| {
            let (n, ty, tx) = tl.locate(t);
            [n, ty * m, tx * m]
        })
        .collect()
}

/// Where a 2-D pass reads its tiles from.
pub(super) trait TileSource<T> {
    /// The chunk's tile origins (see [`tile_origins`]) and the tile step `m`.
    fn origins(&self) -> (&[[usize; 3]], usize);

    /// Writes the `N_IN x N_IN` entries of tile `t` (of the chunk) to lane `l` of `st`.
    fn gather(&self, t: usize, st: &mut Tile6<T>, l: usize);

    /// Writes the `L` tiles `t0 .. t0 + L`, side by side in one tile row, to the lanes of `st`.
    fn gather_row(&self, t0: usize, st: &mut Tile6<T>);

    /// Writes tiles `t0 .. t0 + nl` (`nl <= L`) to lanes `0 .. nl` of `st`: a row at a time
    /// where all `L` lie side by side in one tile row, else tile by tile.
    #[inline(always)]
    fn gather_block(&self, t0: usize, nl: usize, st: &mut Tile6<T>) {
        let (org, m) = self.origins();
        if nl == L && in_one_row(org, t0, m) {
            self.gather_row(t0, st);
        } else {
            for l in 0..nl {
                self.gather(t0 + l, st, l);
            }
        }
    }
}

/// Whether the `L` tiles from `t` lie side by side in one tile row of one image (`x` advancing
/// by `m`): then entry `(u, v)` of the `l`-th of them sits at column `x + m l + v` of one row,
/// and they are gathered (or written) a row at a time, which pays where a tile row holds 16
/// tiles or more (VGG's 32x32 planes); shorter runs (measured at 8 and 4 tiles) lose to the
/// tile-by-tile loops.
#[inline(always)]
fn in_one_row(org: &[[usize; 3]], t: usize, m: usize) -> bool {
    let [n, y, x] = org[t];
    let [ln, ly, lx] = org[t + L - 1];
    // Field by field: comparing the arrays whole compiled to a 16-byte load of values just
    // stored 8 bytes at a time, a store-forwarding stall that cost about a fifth of the
    // output transform's time.
    ln == n && ly == y && lx == x + m * (L - 1)
}

/// Longest stretch of one image row `L` tiles read: `m` columns per tile plus the overlap.
const ROW: usize = 4 * L + 6;

/// `su[v].0[l] = row[m l + v]` for every lane and `v < a`: a strided read of the staged row,
/// which the compiler vectorises (a stride known at compile time).
#[inline(always)]
fn spread_row<T: Copy>(row: &[T; ROW], su: &mut [Lanes<T>; 6], m: usize, a: usize) {
    for (v, sv) in su.iter_mut().enumerate().take(a) {
        for l in 0..L {
            sv.0[l] = row[m * l + v];
        }
    }
}

/// Input tiles (`(m + 2)^2`, zero padded) of one channel of an NCHW source.
pub(super) struct SourceTiles<'a, T, G> {
    plane: &'a [T],
    stride: usize,
    size: [usize; 2],
    pad: [isize; 2],
    org: &'a [[usize; 3]],
    alg: PhantomData<G>,
}

impl<T: Float, G: Alg> TileSource<T> for SourceTiles<'_, T, G> {
    #[inline(always)]
    fn gather(&self, t: usize, st: &mut Tile6<T>, l: usize) {
        let l = l % L;
        let a = G::A;
        let [h, w] = self.size;
        let [n, oy, ox] = self.org[t];
        let base = &self.plane[n * self.stride..n * self.stride + h * w];
        let y0 = oy as isize - self.pad[0];
        let x0 = ox as isize - self.pad[1];
        if y0 >= 0 && x0 >= 0 && y0 as usize + a <= h && x0 as usize + a <= w {
            let (y0, x0) = (y0 as usize, x0 as usize);
            for (u, su) in st.iter_mut().enumerate().take(a) {
                let row = &base[(y0 + u) * w + x0..(y0 + u) * w + x0 + a];
                for (sv, &x) in su.iter_mut().zip(row) {
                    sv.0[l] = x;
                }
            }
            return;
        }
        // An edge tile: zeros, then the rectangle inside the plane.
        for su in st.iter_mut().take(a) {
            for sv in su.iter_mut().take(a) {
                sv.0[l] = T::zero();
            }
        }
        let lo = |o: isize| (-o).clamp(0, a as isize) as usize;
        let hi = |o: isize, n: usize| (n as isize - o).clamp(0, a as isize) as usize;
        let (ulo, uhi) = (lo(y0), hi(y0, h));
        let (vlo, vhi) = (lo(x0), hi(x0, w));
        if vlo >= vhi {
            return;
        }
        for (u, su) in st.iter_mut().enumerate().take(uhi).skip(ulo) {
            let iy = (y0 + u as isize) as usize;
            let ix = (x0 + vlo as isize) as usize;
            let row = &base[iy * w + ix..iy * w + ix + (vhi - vlo)];
            for (sv, &x) in su[vlo..vhi].iter_mut().zip(row) {
                sv.0[l] = x;
            }
        }
    }

    fn origins(&self) -> (&[[usize; 3]], usize) {
        (self.org, G::M)
    }

    #[inline(always)]
    fn gather_row(&self, t0: usize, st: &mut Tile6<T>) {
        let (a, m) = (G::A, G::M);
        let [h, w] = self.size;
        let [n, oy, ox] = self.org[t0];
        let base = &self.plane[n * self.stride..n * self.stride + h * w];
        let x0 = ox as isize - self.pad[1];
        let cols = m * (L - 1) + a;
        // Columns x0 .. x0 + cols of the plane, zero outside it.
        let lo = (-x0).clamp(0, cols as isize) as usize;
        let hi = (w as isize - x0).clamp(lo as isize, cols as isize) as usize;
        let mut row = [T::zero(); ROW];
        for (u, su) in st.iter_mut().enumerate().take(a) {
            let iy = oy as isize - self.pad[0] + u as isize;
            if iy < 0 || iy >= h as isize || lo == hi {
                row[..cols].fill(T::zero());
            } else {
                let start = iy as usize * w + (x0 + lo as isize) as usize;
                row[lo..hi].copy_from_slice(&base[start..start + (hi - lo)]);
            }
            spread_row(&row, su, m, a);
        }
    }
}

/// Output-gradient tiles (`m x m`, zero past the plane's edge) of one channel.
pub(super) struct MapTiles<'a, T, G> {
    plane: &'a [T],
    stride: usize,
    size: [usize; 2],
    org: &'a [[usize; 3]],
    alg: PhantomData<G>,
}

impl<T: Float, G: Alg> TileSource<T> for MapTiles<'_, T, G> {
    #[inline(always)]
    fn gather(&self, t: usize, st: &mut Tile6<T>, l: usize) {
        let l = l % L;
        let m = G::M;
        let [h, w] = self.size;
        let [n, y0, x0] = self.org[t];
        let base = &self.plane[n * self.stride..n * self.stride + h * w];
        let (ys, xs) = (m.min(h - y0), m.min(w - x0));
        if ys < m || xs < m {
            for su in st.iter_mut().take(m) {
                for sv in su.iter_mut().take(m) {
                    sv.0[l] = T::zero();
                }
            }
        }
        for (u, su) in st.iter_mut().enumerate().take(ys) {
            let row = &base[(y0 + u) * w + x0..(y0 + u) * w + x0 + xs];
            for (sv, &x) in su.iter_mut().zip(row) {
                sv.0[l] = x;
            }
        }
    }

    fn origins(&self) -> (&[[usize; 3]], usize) {
        (self.org, G::M)
    }

    #[inline(always)]
    fn gather_row(&self, t0: usize, st: &mut Tile6<T>) {
        let m = G::M;
        let [h, w] = self.size;
        let [n, y0, x0] = self.org[t0];
        let base = &self.plane[n * self.stride..n * self.stride + h * w];
        let cols = m * L;
        let inside = cols.min(w - x0);
        let mut row = [T::zero(); ROW];
        for (u, su) in st.iter_mut().enumerate().take(m) {
            if y0 + u < h {
                let start = (y0 + u) * w + x0;
                row[..inside].copy_from_slice(&base[start..start + inside]);
                row[inside..cols].fill(T::zero());
            } else {
                row[..cols].fill(T::zero());
            }
            spread_row(&row, su, m, m);
        }
    }
}

/// Transforms the `tc` tiles of one channel `ch` (of `chans`) that `src` gathers by `F`,
/// storing entry `xi` of tile `t` at `(xi * chans + ch) * tc + t` of `v`. All tiles are
/// gathered first, then transformed: the transform's vector loads never wait for the gather's
/// scalar stores.
#[inline(always)]
pub(super) fn transform_tiles<T: Scratch, F: Tf>(
    tc: usize,
    chans: usize,
    ch: usize,
    src: &impl TileSource<T>,
    v: SharedOut<T>,
) {
    let blocks = tc.div_ceil(L);
    let zero = [[Lanes([T::zero(); L]); 6]; 6];
    let mut buf = take::<T>(blocks * 36 * L);
    // SAFETY: Tile6<T> is 36 * L values of T with T's alignment (Lanes is transparent over
    // [T; L]), and `buf` holds `blocks` of them.
    let stage: &mut [Tile6<T>] =
        unsafe { std::slice::from_raw_parts_mut(buf.as_mut_ptr() as *mut Tile6<T>, blocks) };
    for (b, st) in stage.iter_mut().enumerate() {
        src.gather_block(b * L, L.min(tc - b * L), st);
    }
    let mut tmp = zero;
    for (b, st) in stage.iter_mut().enumerate() {
        let tb = b * L;
        let nl = L.min(tc - tb);
        apply2::<T, F>(st, &mut tmp);
        let n = F::N_OUT;
        for (xu, ru) in st.iter().enumerate().take(n) {
            for (xv, rv) in ru.iter().enumerate().take(n) {
                let at = ((xu * n + xv) * chans + ch) * tc + tb;
                // SAFETY: (xi, ch, tiles) is written by this call only; in bounds of
                // n^2 * chans * tc.
                unsafe { v.write_lanes(at, rv, nl) };
            }
        }
    }
    give(buf);
}

/// Transforms the tiles at `org` (a chunk) of channel `ch` of `src` (`[n, chans, H, W]`) by
/// `B^T d B` into `v`: position `xi`, channel `ch`, tile `t` at `(xi * chans + ch) * tc + t`.
pub(super) fn input_tiles<T: Scratch, G: Alg>(
    src: &[T],
    chans: usize,
    ch: usize,
    tl: &Tiling,
    org: &[[usize; 3]],
    v: SharedOut<T>,
) {
    let tiles = SourceTiles {
        plane: &src[ch * tl.src[0] * tl.src[1]..],
        stride: chans * tl.src[0] * tl.src[1],
        size: tl.src,
        pad: tl.pad,
        org,
        alg: PhantomData::<G>,
    };
    simd(
        #[inline(always)]
        || transform_tiles::<T, InputT<G>>(org.len(), chans, ch, &tiles, v),
    );
}

/// Transforms the tiles at `org` of channel `ch` of the map-side gradient `gy`
/// (`[n, chans, Ho, Wo]`) by `A g A^T` into `v` (laid out as in [`input_tiles`]).
pub(super) fn map_grad_tiles<T: Scratch, G: Alg>(
    gy: &[T],
    chans: usize,
    ch: usize,
    tl: &Tiling,
    org: &[[usize; 3]],
    v: SharedOut<T>,
) {
    let tiles = MapTiles {
        plane: &gy[ch * tl.map[0] * tl.map[1]..],
        stride: chans * tl.map[0] * tl.map[1],
        size: tl.map,
        org,
        alg: PhantomData::<G>,
    };
    simd(
        #[inline(always)]
        || transform_tiles::<T, MapGradT<G>>(org.len(), chans, ch, &tiles, v),
    );
}

/// Inverse transform of the tiles at `org` of output channel `ch` from `mm` (laid out as in
/// [`input_tiles`], `chans` channels), plus `bias`, into `out` (`[n, chans, Ho, Wo]`).
pub(super) fn output_tiles<T: Float, G: Alg>(
    mm: &[T],
    chans: usize,
    ch: usize,
    tl: &Tiling,
    org: &[[usize; 3]],
    bias: T,
    out: SharedOut<T>,
) {
    simd(
        #[inline(always)]
        || output_tiles_inner::<T, G>(mm, chans, ch, tl, org, bias, out),
    );
}

#[inline(always)]
pub(super) fn output_tiles_inner<T: Float, G: Alg>(
    mm: &[T],
    chans: usize,
    ch: usize,
    tl: &Tiling,
    org: &[[usize; 3]],
    bias: T,
    out: SharedOut<T>,
) {
    let (a, m) = (G::A, G::M);
    let [h, w] = tl.map;
    let plane = h * w;
    let tc = org.len();
    let mut blk = Block::new();
    let mut tb = 0;
    while tb < tc {
        let nl = L.min(tc - tb);
        for (xu, du) in blk.d.iter_mut().enumerate().take(a) {
            for (xv, dv) in du.iter_mut().enumerate().take(a) {
                let at = ((xu * a + xv) * chans + ch) * tc + tb;
                dv.load(&mm[at..], nl);
            }
        }
        blk.apply2::<OutputT<G>>();
        let r = &blk.d;
        if nl == L && in_one_row(org, tb, m) {
            // The block's outputs: m rows of m * L values (fewer past the plane's edge).
            let [n, y0, x0] = org[tb];
            let base = (n * chans + ch) * plane;
            let inside = (m * L).min(w - x0);
            let mut row = [T::zero(); ROW];
            for (i, ri) in r.iter().enumerate().take(m.min(h - y0)) {
                for (j, rj) in ri.iter().enumerate().take(m) {
                    for (l, &x) in rj.0.iter().enumerate() {
                        row[m * l + j] = x + bias;
                    }
                }
                // SAFETY: each output element belongs to exactly one (tile, channel), and the
                // row's `inside` elements are inside the plane.
                unsafe { out.write_slice(base + (y0 + i) * w + x0, &row[..inside]) };
            }
        } else {
            for (l, &[n, y0, x0]) in org[tb..tb + nl].iter().enumerate() {
                let base = (n * chans + ch) * plane;
                let (ys, xs) = (m.min(h - y0), m.min(w - x0));
                for (i, ri) in r.iter().enumerate().take(ys) {
                    let row = base + (y0 + i) * w + x0;
                    for (j, rj) in ri.iter().enumerate().take(xs) {
                        // SAFETY: each output element belongs to exactly one (tile, channel).
                        unsafe { out.write(row + j, rj.0[l] + bias) };
                    }
                }
            }
        }
        tb += L;
    }
}

/// Filter transform `U[xi][p] = (G g_p G^T)[xi]` of the 3x3 filters `p` in `block` (16 of
/// them); `u` is `[a^2, pairs]`. Filter `p` is `w[p]` of `w` `[pairs, 3, 3]`, or with
/// `transpose = Some([k, c])` (`w` `[k, c, 3, 3]`), `w[p % k, p / k]` flipped in both axes:
/// then each `U[xi]` is `[c, k]`, the kernel of the transposed convolution, row-major.
pub(super) fn filter_block<T: Float, G: Alg>(
    w: &[T],
    pairs: usize,
    block: usize,
    transpose: Option<[usize; 2]>,
    u: SharedOut<T>,
) {
    simd(
        #[inline(always)]
        || {
            let a = G::A;
            let p0 = block * L;
            let nl = L.min(pairs - p0);
            let mut blk = Block::new();
            for l in 0..nl {
                let p = p0 + l;
                let (src, flip) = match transpose {
                    Some([k, c]) => ((p % k) * c + p / k, true),
                    None => (p, false),
                };
                let f = &w[src * 9..(src + 1) * 9];
                for (i, di) in blk.d.iter_mut().enumerate().take(3) {
                    for (j, dij) in di.iter_mut().enumerate().take(3) {
                        let tap = if flip { 8 - (3 * i + j) } else { 3 * i + j };
                        dij.0[l] = f[tap];
                    }
                }
            }
            blk.apply2::<FilterT<G>>();
            for (xu, ru) in blk.d.iter().enumerate().take(a) {
                for (xv, rv) in ru.iter().enumerate().take(a) {
                    // SAFETY: filters p0 .. p0 + nl are written by this block only.
                    unsafe { u.write_lanes((xu * a + xv) * pairs + p0, rv, nl) };
                }
            }
        },
    );
}

/// The weight gradient `dst` (`[16 or fewer filters, 3, 3]`) of filters `block * 16 ..` from
/// `mw` (`[a^2, pairs]`): `G^T Mw G`.
pub(super) fn filter_grad_block<T: Float, G: Alg>(
    mw: &[T],
    pairs: usize,
    block: usize,
    dst: &mut [T],
) {
    simd(
        #[inline(always)]
        || {
            let a = G::A;
            let p0 = block * L;
            let nl = dst.len() / 9;
            let mut blk = Block::new();
            for (xu, du) in blk.d.iter_mut().enumerate().take(a) {
                for (xv, dv) in du.iter_mut().enumerate().take(a) {
                    dv.load(&mw[(xu * a + xv) * pairs + p0..], nl);
                }
            }
            blk.apply2::<FilterGradT<G>>();
            for l in 0..nl {
                for i in 0..3 {
                    for j in 0..3 {
                        dst[l * 9 + 3 * i + j] = blk.d[i][j].0[l];
                    }
                }
            }
        },
    );
}
