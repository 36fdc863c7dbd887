//! The Winograd transforms: the 1-D Toom-Cook transforms of F(2, 3) and F(4, 3) and their
//! adjoints, applied in two dimensions to 16 tiles (or filters) at once, one SIMD lane each.

use crate::Float;
use std::marker::PhantomData;
use std::ops::{Add, Sub};

// ---------------------------------------------------------------------------------------------
// Lane vectors: 16 tiles (or filters) transformed at once.

/// Tiles (or filters) per transform call: one SIMD lane each.
pub(super) const L: usize = 16;

/// What the transforms compute with: a float.
pub(super) trait Ar: Copy + Add<Output = Self> + Sub<Output = Self> {
    fn zero() -> Self;
    /// `self * c`.
    fn s(self, c: f64) -> Self;
}

impl<T: Float> Ar for T {
    #[inline(always)]
    fn zero() -> Self {
        T::zero()
    }
    #[inline(always)]
    fn s(self, c: f64) -> Self {
        self * T::from_f64(c)
    }
}

/// 16 values, one per tile (or filter) of a block: the unit the loops over lanes vectorise.
#[derive(Clone, Copy)]
#[repr(transparent)]
pub(super) struct Lanes<T>(pub(super) [T; L]);

// ---------------------------------------------------------------------------------------------
// The two algorithms: their 1-D transforms (Toom-Cook; Lavin & Gray's matrices for F(2, 3),
// interpolation points 0, 1, -1 and infinity). F(4, 3) interpolates at 0, 1, -1, 1/2, -2 and
// infinity instead of Lavin & Gray's 0, +-1, +-2: the f32 error of the whole convolution is
// about 3 times smaller (Barabasz et al., "Error analysis and improving the accuracy of
// Winograd convolution for deep neural networks", 2020); rows are scaled so that B^T is
// integer. Arrays hold up to 6 entries; the entries past a transform's length are ignored or
// zero.

pub(super) trait Alg {
    /// Outputs per tile side.
    const M: usize;
    /// Inputs per tile side.
    const A: usize;
    /// `B^T d`: A -> A.
    fn input<X: Ar>(d: [X; 6]) -> [X; 6];
    /// `G g`: 3 -> A.
    fn filter<X: Ar>(g: [X; 6]) -> [X; 6];
    /// `A^T m`: A -> M.
    fn output<X: Ar>(m: [X; 6]) -> [X; 6];
    /// `A g` (the adjoint of `output`): M -> A.
    fn map_grad<X: Ar>(g: [X; 6]) -> [X; 6];
    /// `G^T m` (the adjoint of `filter`): A -> 3.
    fn filter_grad<X: Ar>(m: [X; 6]) -> [X; 6];
}

pub(super) struct F2x3;
pub(super) struct F4x3;

impl Alg for F2x3 {
    const M: usize = 2;
    const A: usize = 4;
    #[inline(always)]
    fn input<X: Ar>(d: [X; 6]) -> [X; 6] {
        let z = X::zero();
        [d[0] - d[2], d[1] + d[2], d[2] - d[1], d[1] - d[3], z, z]
    }
    #[inline(always)]
    fn filter<X: Ar>(g: [X; 6]) -> [X; 6] {
        let z = X::zero();
        let h = (g[0] + g[2]).s(0.5);
        let g1 = g[1].s(0.5);
        [g[0], h + g1, h - g1, g[2], z, z]
    }
    #[inline(always)]
    fn output<X: Ar>(m: [X; 6]) -> [X; 6] {
        let z = X::zero();
        [m[0] + m[1] + m[2], m[1] - m[2] - m[3], z, z, z, z]
    }
    #[inline(always)]
    fn map_grad<X: Ar>(g: [X; 6]) -> [X; 6] {
        let z = X::zero();
        [g[0], g[0] + g[1], g[0] - g[1], z - g[1], z, z]
    }
    #[inline(always)]
    fn filter_grad<X: Ar>(m: [X; 6]) -> [X; 6] {
        let z = X::zero();
        let p = (m[1] + m[2]).s(0.5);
        [m[0] + p, (m[1] - m[2]).s(0.5), p + m[3], z, z, z]
    }
}

impl Alg for F4x3 {
    const M: usize = 4;
    const A: usize = 6;
    #[inline(always)]
    fn input<X: Ar>(d: [X; 6]) -> [X; 6] {
        let e = d[4].s(2.0);
        [
            d[0].s(2.0) - d[1].s(3.0) - d[2].s(4.0) + d[3].s(3.0) + e,
            d[2] - d[1].s(2.0) + d[3].s(5.0) + e,
            d[1].s(2.0) - d[2].s(5.0) + d[3] + e,
            (d[3] - d[1]).s(4.0) - d[2].s(2.0) + e,
            d[1] - d[2].s(2.0) - d[3] + e,
            d[1].s(2.0) - d[2].s(3.0) - d[3].s(4.0) + d[4].s(3.0) + d[5].s(2.0),
        ]
    }
    #[inline(always)]
    fn filter<X: Ar>(g: [X; 6]) -> [X; 6] {
        let s = g[0] + g[2];
        [
            g[0].s(0.5),
            (s + g[1]).s(1.0 / 6.0),
            (g[1] - s).s(1.0 / 6.0),
            X::zero() - (g[0].s(8.0) + g[1].s(4.0) + g[2].s(2.0)).s(1.0 / 15.0),
            (g[0] - g[1].s(2.0) + g[2].s(4.0)).s(1.0 / 30.0),
            g[2].s(0.5),
        ]
    }
    #[inline(always)]
    fn output<X: Ar>(m: [X; 6]) -> [X; 6] {
        let z = X::zero();
        let p12 = m[1] + m[2];
        let m12 = m[1] - m[2];
        [
            m[0] + p12 + m[3] + m[4],
            m12 + m[3].s(0.5) - m[4].s(2.0),
            p12 + m[3].s(0.25) + m[4].s(4.0),
            m12 + m[3].s(0.125) - m[4].s(8.0) + m[5],
            z,
            z,
        ]
    }
    #[inline(always)]
    fn map_grad<X: Ar>(g: [X; 6]) -> [X; 6] {
        let e = g[0] + g[2];
        let o = g[1] + g[3];
        [
            g[0],
            e + o,
            e - o,
            g[0] + g[1].s(0.5) + g[2].s(0.25) + g[3].s(0.125),
            g[0] - g[1].s(2.0) + g[2].s(4.0) - g[3].s(8.0),
            g[3],
        ]
    }
    #[inline(always)]
    fn filter_grad<X: Ar>(m: [X; 6]) -> [X; 6] {
        let z = X::zero();
        let p12 = m[1] + m[2];
        let m12 = m[1] - m[2];
        [
            m[0].s(0.5) + m12.s(1.0 / 6.0) - m[3].s(8.0 / 15.0) + m[4].s(1.0 / 30.0),
            p12.s(1.0 / 6.0) - (m[3].s(4.0) + m[4]).s(1.0 / 15.0),
            m12.s(1.0 / 6.0) + (m[4] - m[3]).s(2.0 / 15.0) + m[5].s(0.5),
            z,
            z,
            z,
        ]
    }
}

/// One 1-D transform of an algorithm, `N_IN` -> `N_OUT` entries. Each is a type, so that the
/// 2-D passes are compiled (and inlined) per transform.
pub(super) trait Tf {
    const N_IN: usize;
    const N_OUT: usize;
    fn f<X: Ar>(d: [X; 6]) -> [X; 6];
}

macro_rules! transforms {
    ($($name:ident: $n_in:ident -> $n_out:ident, $f:ident;)*) => {$(
        pub(super) struct $name<G>(PhantomData<G>);
        impl<G: Alg> Tf for $name<G> {
            const N_IN: usize = transforms!(@n G $n_in);
            const N_OUT: usize = transforms!(@n G $n_out);
            #[inline(always)]
            fn f<X: Ar>(d: [X; 6]) -> [X; 6] {
                G::$f(d)
            }
        }
    )*};
    (@n $g:ident A) => { $g::A };
    (@n $g:ident M) => { $g::M };
    (@n $g:ident K) => { 3 };
}

transforms! {
    InputT: A -> A, input;
    FilterT: K -> A, filter;
    OutputT: A -> M, output;
    MapGradT: M -> A, map_grad;
    FilterGradT: A -> K, filter_grad;
}

/// A 6x6 tile of lane vectors (16 tiles or filters at once), transformed in place.
pub(super) struct Block<T> {
    pub(super) d: [[Lanes<T>; 6]; 6],
    tmp: [[Lanes<T>; 6]; 6],
}

impl<T: Float> Block<T> {
    #[inline(always)]
    pub(super) fn new() -> Self {
        Block {
            d: [[Lanes([T::zero(); L]); 6]; 6],
            tmp: [[Lanes([T::zero(); L]); 6]; 6],
        }
    }

    /// `d <- F d F^T` (see [`apply2`]).
    #[inline(always)]
    pub(super) fn apply2<F: Tf>(&mut self) {
        apply2::<T, F>(&mut self.d, &mut self.tmp);
    }
}

/// 6x6 entries of 16 tiles (or filters): entry `(u, v)` of lane `l` at `[u][v].0[l]`.
pub(super) type Tile6<T> = [[Lanes<T>; 6]; 6];

/// `d <- F d F^T` for the `N_IN x N_IN` tile in `d`: `F` on every column, then on every row.
/// Entries of `d` outside `N_IN x N_IN` are read but never reach the result. The innermost
/// loops run over the 16 lanes with scalar code, which the compiler turns into vector
/// instructions with every intermediate in registers.
#[inline(always)]
pub(super) fn apply2<T: Float, F: Tf>(d: &mut Tile6<T>, tmp: &mut Tile6<T>) {
    for j in 0..F::N_IN {
        for l in 0..L {
            let col = [
                d[0][j].0[l],
                d[1][j].0[l],
                d[2][j].0[l],
                d[3][j].0[l],
                d[4][j].0[l],
                d[5][j].0[l],
            ];
            let r = F::f(col);
            for i in 0..F::N_OUT {
                tmp[i][j].0[l] = r[i];
            }
        }
    }
    for i in 0..F::N_OUT {
        for l in 0..L {
            let row = [
                tmp[i][0].0[l],
                tmp[i][1].0[l],
                tmp[i][2].0[l],
                tmp[i][3].0[l],
                tmp[i][4].0[l],
                tmp[i][5].0[l],
            ];
            let r = F::f(row);
            for j in 0..F::N_OUT {
                d[i][j].0[l] = r[j];
            }
        }
    }
}

impl<T: Float> Lanes<T> {
    /// Lanes `0..nl` from `src` (the others keep their values).
    #[inline(always)]
    pub(super) fn load(&mut self, src: &[T], nl: usize) {
        if nl == L {
            self.0.copy_from_slice(&src[..L]);
        } else {
            self.0[..nl].copy_from_slice(&src[..nl]);
        }
    }
}
