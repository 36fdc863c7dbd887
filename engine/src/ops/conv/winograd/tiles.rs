//! Winograd tiles on NCHW buffers: how tiles cover the planes, gathering and transforming a
//! chunk's tiles (inputs, output gradients), the inverse transform into the output, the filter
//! transforms, and the SIMD dispatch the transforms run under.

use super::gather::{self, BlockLanes};
use super::transforms::*;
use crate::backend::cpu::features::avx512_f32;
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
        if crate::backend::cpu::features::has_avx512() {
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
/// each (it derefs to that slice), and the same per full block of `L` tiles as lane vectors
/// for the AVX-512 gathers; computed once per chunk (not once per channel).
pub(super) struct Origins {
    tiles: Vec<[usize; 3]>,
    blocks: Vec<Option<BlockLanes>>,
}

impl std::ops::Deref for Origins {
    type Target = [[usize; 3]];
    fn deref(&self) -> &[[usize; 3]] {
        &self.tiles
    }
}

impl Origins {
    /// The lanes of the full block of tiles from `t0` (a multiple of `L`), if they fit 32 bits.
    fn block(&self, t0: usize) -> Option<&BlockLanes> {
        self.blocks.get(t0 / L)?.as_ref()
    }
}

/// The [`Origins`] of tiles `t0 .. t0 + tc`.
pub(super) fn tile_origins(tl: &Tiling, m: usize, (t0, tc): (usize, usize)) -> Origins {
    let tiles: Vec<[usize; 3]> = (t0..t0 + tc)
        .map(|t| {
            let (n, ty, tx) = tl.locate(t);
            [n, ty * m, tx * m]
        })
        .collect();
    let blocks = tiles.chunks_exact(L).map(BlockLanes::new).collect();
    Origins { tiles, blocks }
}

/// Where a 2-D pass reads its tiles from.
pub(super) trait TileSource<T> {
    /// The chunk's tile origins (see [`tile_origins`]) and the tile step `m`.
    fn origins(&self) -> (&[[usize; 3]], usize);

    /// Writes the `N_IN x N_IN` entries of tile `t` (of the chunk) to lane `l` of `st`.
    fn gather(&self, t: usize, st: &mut Tile6<T>, l: usize);

    /// Writes the `L` tiles `t0 .. t0 + L`, side by side in one tile row, to the lanes of `st`.
    fn gather_row(&self, t0: usize, st: &mut Tile6<T>);

    /// Writes the `L` tiles `t0 .. t0 + L` to the lanes of `st` with vector gathers and
    /// returns true, or returns false where those are not available (see [`gather`]).
    fn gather_lanes(&self, t0: usize, st: &mut Tile6<T>) -> bool;

    /// Writes tiles `t0 .. t0 + nl` (`nl <= L`) to lanes `0 .. nl` of `st`: a row at a time
    /// where all `L` lie side by side in one tile row, else with vector gathers where the CPU
    /// has them, else tile by tile.
    #[inline(always)]
    fn gather_block(&self, t0: usize, nl: usize, st: &mut Tile6<T>) {
        let (org, m) = self.origins();
        if nl == L && in_one_row(org, t0, m) {
            self.gather_row(t0, st);
        } else if !(nl == L && self.gather_lanes(t0, st)) {
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
    org: &'a Origins,
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
    fn gather_lanes(&self, t0: usize, st: &mut Tile6<T>) -> bool {
        gather_f32(
            self.plane,
            self.org.block(t0),
            self.pad,
            self.size,
            self.stride,
            G::A,
            st,
        )
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

/// [`gather::gather_tiles`] of the `L` tiles of `lanes` (`side x side` entries from `pad`
/// before their origins) in the planes `[h, w]` of `plane`, `stride` apart, into `st`; false
/// (nothing written) unless `T` is f32, the CPU has AVX-512F and the offsets fit 32 bits.
#[inline(always)]
fn gather_f32<T: Float>(
    plane: &[T],
    lanes: Option<&BlockLanes>,
    pad: [isize; 2],
    size: [usize; 2],
    stride: usize,
    side: usize,
    st: &mut Tile6<T>,
) -> bool {
    #[cfg(target_arch = "x86_64")]
    if avx512_f32::<T>() {
        let Some(b) = lanes.filter(|b| b.fit(size, stride)) else {
            return false;
        };
        // Every image of the block has its plane inside `plane`.
        assert!(b.last_image() * stride + size[0] * size[1] <= plane.len());
        // SAFETY: T is f32 (so Tile6<T> is Tile6<f32>); the lanes read only positions inside
        // `[h, w]` of their images' planes, which lie in `plane` (asserted); the offsets fit
        // 32 bits (checked); the CPU has AVX-512F.
        unsafe {
            let base = plane.as_ptr().add(b.n0 * stride) as *const f32;
            let st = &mut *(st as *mut Tile6<T> as *mut Tile6<f32>);
            gather::gather_tiles(base, b, pad, size, stride, side, st);
        }
        return true;
    }
    false
}

/// Output-gradient tiles (`m x m`, zero past the plane's edge) of one channel.
pub(super) struct MapTiles<'a, T, G> {
    plane: &'a [T],
    stride: usize,
    size: [usize; 2],
    org: &'a Origins,
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
    fn gather_lanes(&self, t0: usize, st: &mut Tile6<T>) -> bool {
        gather_f32(
            self.plane,
            self.org.block(t0),
            [0, 0],
            self.size,
            self.stride,
            G::M,
            st,
        )
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
    org: &Origins,
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
    org: &Origins,
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
    org: &Origins,
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
    org: &Origins,
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
        } else if !(nl == L && scatter_f32(r, org.block(tb), m, [h, w], chans, ch, bias, out)) {
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

/// [`gather::scatter_tiles`] of the `L` tiles' outputs `r` (`side x side` at `lanes`), plus `bias`, into
/// channel `ch` of `out` (`[n, chans, h, w]`); false (nothing written) unless `T` is f32 and
/// the CPU has AVX-512F.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn scatter_f32<T: Float>(
    r: &Tile6<T>,
    lanes: Option<&BlockLanes>,
    side: usize,
    [h, w]: [usize; 2],
    chans: usize,
    ch: usize,
    bias: T,
    out: SharedOut<T>,
) -> bool {
    #[cfg(target_arch = "x86_64")]
    if avx512_f32::<T>() {
        let plane = h * w;
        let Some(b) = lanes.filter(|b| b.fit([h, w], chans * plane)) else {
            return false;
        };
        // SAFETY: T is f32; every lane writes positions inside `[h, w]` of channel `ch` of its
        // image, which its (tile, channel) alone owns (the caller's contract for `out`); the
        // CPU has AVX-512F.
        unsafe {
            let base = (out.0 as *mut f32).add((b.n0 * chans + ch) * plane);
            let r = &*(r as *const Tile6<T> as *const Tile6<f32>);
            let bias = *(&bias as *const T as *const f32);
            gather::scatter_tiles(base, b, [h, w], chans * plane, side, r, bias);
        }
        return true;
    }
    false
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A plane of distinct values: `n` images of `chans` channels of `[h, w]`.
    fn planes(n: usize, chans: usize, [h, w]: [usize; 2]) -> Vec<f32> {
        (0..n * chans * h * w).map(|i| i as f32 + 0.5).collect()
    }

    /// The AVX-512 gathers put every tile entry where the tile-by-tile loops do (zeros past
    /// the edges), for input tiles with padding 0, 1 and 2 and output-gradient tiles, on
    /// planes whose tile rows are shorter than a block, F(2x2) and F(4x4).
    fn gathers_match<G: Alg>() {
        let (n, chans, size) = (5, 3, [7, 5]);
        let src = planes(n, chans, size);
        let mut checked = 0;
        for pad in [0isize, 1, 2] {
            let map = size.map(|s| (s as isize + 2 * pad - 2) as usize);
            let tl = Tiling::new(n, size, map, [pad, pad], G::M);
            let org = tile_origins(&tl, G::M, (0, n * tl.per_image()));
            let gsrc = planes(n, chans, map);
            for ch in 0..chans {
                let source = SourceTiles {
                    plane: &src[ch * size[0] * size[1]..],
                    stride: chans * size[0] * size[1],
                    size,
                    pad: [pad, pad],
                    org: &org,
                    alg: PhantomData::<G>,
                };
                let grads = MapTiles {
                    plane: &gsrc[ch * map[0] * map[1]..],
                    stride: chans * map[0] * map[1],
                    size: map,
                    org: &org,
                    alg: PhantomData::<G>,
                };
                for t0 in (0..org.len() - L + 1).step_by(L) {
                    let mut want = [[Lanes([-1.0f32; L]); 6]; 6];
                    let mut got = want;
                    if !source.gather_lanes(t0, &mut got) {
                        eprintln!("no AVX-512 on this CPU: the gathers are not used");
                        return;
                    }
                    (0..L).for_each(|l| source.gather(t0 + l, &mut want, l));
                    for u in 0..G::A {
                        for v in 0..G::A {
                            assert_eq!(got[u][v].0, want[u][v].0, "pad {pad} tile {t0} ({u}, {v})");
                        }
                    }
                    let (mut want, mut got) = (want, got);
                    assert!(grads.gather_lanes(t0, &mut got));
                    (0..L).for_each(|l| grads.gather(t0 + l, &mut want, l));
                    for u in 0..G::M {
                        for v in 0..G::M {
                            assert_eq!(got[u][v].0, want[u][v].0, "map tile {t0} ({u}, {v})");
                        }
                    }
                    checked += 1;
                }
            }
        }
        assert!(checked > 0);
    }

    #[test]
    fn vector_gathers_match_the_tile_by_tile_loops() {
        gathers_match::<F2x3>();
        gathers_match::<F4x3>();
    }

    /// The AVX-512 scatters write entry `(i, j)` of each tile, plus the bias, to row `y + i`,
    /// column `x + j` of its own image and channel wherever that is inside the plane, and
    /// nothing else.
    #[test]
    fn vector_scatters_write_each_tile_inside_its_plane() {
        let (n, chans, ch, size, m) = (5, 3, 1, [7, 5], 2);
        let tl = Tiling::new(n, size, size, [1, 1], m);
        let org = tile_origins(&tl, m, (0, n * tl.per_image()));
        let sentinel = -7.0f32;
        let mut out = vec![sentinel; n * chans * size[0] * size[1]];
        let value = |t: usize, i: usize, j: usize| (t * 100 + i * 10 + j) as f32;
        let blocks = org.len() / L;
        for b in 0..blocks {
            let mut r = [[Lanes([0.0f32; L]); 6]; 6];
            for (i, ri) in r.iter_mut().enumerate() {
                for (j, rj) in ri.iter_mut().enumerate() {
                    for l in 0..L {
                        rj.0[l] = value(b * L + l, i, j);
                    }
                }
            }
            let out_ptr = SharedOut(out.as_mut_ptr());
            if !scatter_f32(&r, org.block(b * L), m, size, chans, ch, 0.25, out_ptr) {
                eprintln!("no AVX-512 on this CPU: the scatters are not used");
                return;
            }
        }
        let [h, w] = size;
        for (t, &[img, y0, x0]) in org.iter().enumerate().take(blocks * L) {
            for i in 0..m {
                for j in 0..m {
                    if y0 + i < h && x0 + j < w {
                        let at = ((img * chans + ch) * h + y0 + i) * w + x0 + j;
                        assert_eq!(out[at], value(t, i, j) + 0.25, "tile {t} ({i}, {j})");
                        out[at] = sentinel;
                    }
                }
            }
        }
        assert!(
            out.iter().all(|&v| v == sentinel),
            "a write outside the tiles"
        );
    }
}
