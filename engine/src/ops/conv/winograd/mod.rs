//! Winograd convolutions F(m x m, 3 x 3) (Lavin & Gray, 2016) for 3x3 convolutions with stride 1
//! and dilation 1 (every convolution of ConvNet-4 and VGG-16), in all three directions:
//!
//! - forward: `y = A^T [ (G g G^T) . (B^T d B) ] A` per m x m output tile, where `d` is the
//!   (m + 2) x (m + 2) input tile it reads;
//! - input gradient (`conv_transpose2d`): the same algorithm on the output gradient with the
//!   kernel flipped and its two channel axes swapped, and padding `2 - pad`;
//! - weight gradient: the adjoint of the forward algorithm in the kernel, F(3 x 3, m x m):
//!   `dw = G^T [ sum_tiles (A gy A^T) . (B^T d B) ] G`.
//!
//! Each of the `(m + 2)^2` transformed positions `xi` is one gemm over the channels, batched
//! over a chunk of tiles (whole images): `M[xi] = U[xi] @ V[xi]`, `[out, in] @ [in, tiles]`
//! (for the weight gradient `Mw[xi] += Gy[xi] @ V[xi]^T`, summed over the tiles). The tile
//! transforms run on 16 tiles (or filters) at once, one SIMD lane each.
//!
//! Determinism: chunks, and for the weight gradient the groups of chunks whose partial sums are
//! added in order, are functions of the shapes only; every output element is computed by the
//! same sequence of operations whichever thread runs it (gemm splits its output, never its sum),
//! so the bits do not depend on the thread count. Pure slice-level kernels: NCHW buffers in,
//! NCHW buffers out.

mod gather;
mod tiles;
mod transforms;
mod transpose;

use super::ConvGeom;
use crate::backend::cpu::recycle::{keep, output as buffer};
use crate::backend::cpu::scratch::Scratch;
use crate::Float;
use gemm::Parallelism;
use rayon::prelude::*;
use tiles::*;
use transforms::*;
use transpose::transpose_positions;

/// The output tile of a Winograd algorithm: F(2x2, 3x3) (16 products for 4 outputs; f32
/// rounding errors like the direct sum's) or F(4x4, 3x3) (36 products for 16 outputs; several
/// times the direct sum's rounding errors, from its transform constants).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Tile {
    F2,
    F4,
}

impl Tile {
    /// Outputs per tile side.
    pub fn m(self) -> usize {
        match self {
            Tile::F2 => 2,
            Tile::F4 => 4,
        }
    }

    /// Inputs per tile side (`m + 2`).
    pub fn alpha(self) -> usize {
        self.m() + 2
    }
}

/// True when `g` is a 3x3 convolution with stride 1 and dilation 1 between planes of the
/// natural sizes (`out = in + 2 pad - 2`), which is what these kernels compute.
pub fn applies(g: &ConvGeom) -> bool {
    g.kernel == [3, 3]
        && g.stride == [1, 1]
        && g.dilation == [1, 1]
        && (0..2).all(|a| g.input[a] + 2 * g.padding[a] == g.output[a] + 2 && g.output[a] > 0)
}

/// Convolution `x` `[n, c, H, W]` with `w` `[k, c, 3, 3]` and optional `bias` `[k]` ->
/// `[n, k, Ho, Wo]`. `g` must satisfy [`applies`].
#[allow(clippy::too_many_arguments)]
pub fn conv2d<T: Scratch>(
    tile: Tile,
    x: &[T],
    w: &[T],
    bias: Option<&[T]>,
    n: usize,
    c: usize,
    k: usize,
    g: &ConvGeom,
) -> Vec<T> {
    assert!(
        applies(g),
        "Winograd convolution needs a 3x3, stride-1 geometry"
    );
    let tl = Tiling::new(
        n,
        g.input,
        g.output,
        g.padding.map(|p| p as isize),
        tile.m(),
    );
    match tile {
        Tile::F2 => map_conv::<T, F2x3>(x, w, false, bias, c, k, &tl),
        Tile::F4 => map_conv::<T, F4x3>(x, w, false, bias, c, k, &tl),
    }
}

/// Transposed convolution (the input gradient of [`conv2d`]): `z` `[n, k, Ho, Wo]` with `w`
/// `[k, c, 3, 3]` and optional `bias` `[c]` -> `[n, c, H, W]`. `g` must satisfy [`applies`].
#[allow(clippy::too_many_arguments)]
pub fn conv_transpose2d<T: Scratch>(
    tile: Tile,
    z: &[T],
    w: &[T],
    bias: Option<&[T]>,
    n: usize,
    c: usize,
    k: usize,
    g: &ConvGeom,
) -> Vec<T> {
    assert!(
        applies(g),
        "Winograd convolution needs a 3x3, stride-1 geometry"
    );
    // A correlation of z, padded by 2 - pad, with the flipped kernel and swapped channels.
    let pad = g.padding.map(|p| 2 - p as isize);
    let tl = Tiling::new(n, g.output, g.input, pad, tile.m());
    match tile {
        Tile::F2 => map_conv::<T, F2x3>(z, w, true, bias, k, c, &tl),
        Tile::F4 => map_conv::<T, F4x3>(z, w, true, bias, k, c, &tl),
    }
}

/// Weight gradient: `x` `[n, c, H, W]`, `gy` `[n, k, Ho, Wo]` -> `[k, c, 3, 3]`. `g` must
/// satisfy [`applies`].
pub fn conv2d_weight<T: Scratch>(
    tile: Tile,
    x: &[T],
    gy: &[T],
    n: usize,
    c: usize,
    k: usize,
    g: &ConvGeom,
) -> Vec<T> {
    assert!(
        applies(g),
        "Winograd convolution needs a 3x3, stride-1 geometry"
    );
    let tl = Tiling::new(
        n,
        g.input,
        g.output,
        g.padding.map(|p| p as isize),
        tile.m(),
    );
    match tile {
        Tile::F2 => weight_grad::<T, F2x3>(x, gy, c, k, &tl),
        Tile::F4 => weight_grad::<T, F4x3>(x, gy, c, k, &tl),
    }
}

/// The most output channels for which the weight gradient transposes its transformed inputs
/// for the gemm (see [`transpose`]); above it the gemm packs them itself. VGG-16's 64 -> 64
/// layer on 32x32, `bench conv`, 2 threads, best of three medians of 3 runs, ms: 55.7 -> 45.5
/// and 55.7 -> 46.7 (two comparisons); on its 128-, 256- and 512-channel layers the transpose
/// gained nothing or lost up to 10%.
const TRANSPOSE_MAX_ROWS: usize = 64;

/// Tiles per chunk: whole images, so that a chunk's gemms have enough columns, while its
/// transformed tiles (`alpha^2 (cin + cout)` elements a tile) stay near the caches. Shapes only.
fn images_per_chunk(per_image: usize, cin: usize, cout: usize, a2: usize) -> usize {
    const BUDGET: usize = 1 << 20;
    const MIN_TILES: usize = 64;
    const MAX_TILES: usize = 512;
    let tiles = (BUDGET / (a2 * (cin + cout)).max(1)).clamp(MIN_TILES, MAX_TILES);
    (tiles / per_image.max(1)).max(1)
}

/// Runs `f(0..n)` on this thread, or spread over the pool when `par`.
fn each(n: usize, par: bool, f: impl Fn(usize) + Send + Sync) {
    if par {
        (0..n).into_par_iter().for_each(f);
    } else {
        (0..n).for_each(f);
    }
}

/// `dst[rows, cols] (+)= lhs[rows, depth] @ rhs[depth, cols]`, each operand given as
/// (pointer, row stride, column stride).
///
/// # Safety
/// Every element the strides reach is in bounds of its buffer, and no other task touches the
/// destination meanwhile.
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_raw<T: Float>(
    [rows, cols, depth]: [usize; 3],
    dst: (*mut T, isize, isize),
    lhs: (*const T, isize, isize),
    rhs: (*const T, isize, isize),
    accumulate: bool,
    par: Parallelism,
) {
    gemm::gemm(
        rows,
        cols,
        depth,
        dst.0,
        dst.2,
        dst.1,
        accumulate,
        lhs.0,
        lhs.2,
        lhs.1,
        rhs.0,
        rhs.2,
        rhs.1,
        T::one(),
        T::one(),
        false,
        false,
        false,
        par,
    );
}

/// A forward-style Winograd convolution of `src` (`[n, cin, ...]`) into `[n, cout, ...]`:
/// the forward pass (`w` `[cout, cin, 3, 3]`) or, with `transpose`, the input gradient (`w`
/// `[cin, cout, 3, 3]`, flipped).
fn map_conv<T: Scratch, G: Alg>(
    src: &[T],
    w: &[T],
    transpose: bool,
    bias: Option<&[T]>,
    cin: usize,
    cout: usize,
    tl: &Tiling,
) -> Vec<T> {
    let a2 = G::A * G::A;
    let [h, wd] = tl.map;
    let mut out = buffer::<T>(tl.n * cout * h * wd);
    if out.is_empty() {
        return out;
    }
    if cin == 0 {
        fill_bias(&mut out, bias, cout, h * wd);
        return out;
    }
    let pairs = cin * cout;
    // U[xi]: [cout, cin], row-major.
    let mut u = buffer::<T>(a2 * pairs);
    let up = SharedOut(u.as_mut_ptr());
    each(pairs.div_ceil(L), pairs >= 4 * L, |b| {
        filter_block::<T, G>(w, pairs, b, transpose.then_some([cin, cout]), up)
    });
    let per = tl.per_image();
    let nb = images_per_chunk(per, cin, cout, a2);
    let chunks = tl.n.div_ceil(nb);
    let op = SharedOut(out.as_mut_ptr());
    let u_ptr = u.as_ptr() as usize;
    let run_chunk = |chunk: usize, par: bool| {
        let t0 = chunk * nb * per;
        let tc = nb.min(tl.n - chunk * nb) * per;
        let mut v = buffer::<T>(a2 * cin * tc);
        let mut mm = buffer::<T>(a2 * cout * tc);
        let vp = SharedOut(v.as_mut_ptr());
        let org = tile_origins(tl, G::M, (t0, tc));
        each(cin, par, |ch| {
            input_tiles::<T, G>(src, cin, ch, tl, &org, vp)
        });
        let (v_ptr, m_ptr) = (v.as_ptr() as usize, mm.as_mut_ptr() as usize);
        each(a2, par, |xi| {
            // SAFETY: M[xi] ([cout, tc]) is written by this task only; U[xi] and V[xi] are
            // read within their a2 * pairs and a2 * cin * tc elements.
            unsafe {
                gemm_raw(
                    [cout, tc, cin],
                    ((m_ptr as *mut T).add(xi * cout * tc), tc as isize, 1),
                    ((u_ptr as *const T).add(xi * pairs), cin as isize, 1),
                    ((v_ptr as *const T).add(xi * cin * tc), tc as isize, 1),
                    false,
                    Parallelism::None,
                )
            }
        });
        each(cout, par, |ch| {
            let b = bias.map_or(T::zero(), |b| b[ch]);
            output_tiles::<T, G>(&mm, cout, ch, tl, &org, b, op);
        });
        keep(v);
        keep(mm);
    };
    if chunks >= 2 * rayon::current_num_threads() {
        (0..chunks)
            .into_par_iter()
            .for_each(|ch| run_chunk(ch, false));
    } else {
        (0..chunks).for_each(|ch| run_chunk(ch, true));
    }
    keep(u);
    out
}

fn fill_bias<T: Float>(out: &mut [T], bias: Option<&[T]>, chans: usize, plane: usize) {
    for (i, o) in out.chunks_mut(plane).enumerate() {
        o.fill(bias.map_or(T::zero(), |b| b[i % chans]));
    }
}

/// Weight gradient `[k, c, 3, 3]` of `x` (`[n, c, H, W]`) and `gy` (`[n, k, Ho, Wo]`).
fn weight_grad<T: Scratch, G: Alg>(x: &[T], gy: &[T], c: usize, k: usize, tl: &Tiling) -> Vec<T> {
    const GROUPS: usize = 8;
    const PARTIAL_BUDGET: usize = 1 << 21;
    let a2 = G::A * G::A;
    let pairs = k * c;
    if tl.n == 0 || pairs == 0 {
        return vec![T::zero(); pairs * 9];
    }
    let per = tl.per_image();
    let nb = images_per_chunk(per, c, k, a2);
    let chunks = tl.n.div_ceil(nb);
    // Groups of chunks, each summed into its own partial Mw; few when Mw is large.
    let groups = (PARTIAL_BUDGET / (a2 * pairs)).clamp(1, GROUPS.min(chunks));
    let group = |gi: usize, par: bool| -> Vec<T> {
        let mut mw = buffer::<T>(a2 * pairs);
        let mw_ptr = mw.as_mut_ptr() as usize;
        let (c0, c1) = (gi * chunks / groups, (gi + 1) * chunks / groups);
        for chunk in c0..c1 {
            let t0 = chunk * nb * per;
            let tc = nb.min(tl.n - chunk * nb) * per;
            let mut v = buffer::<T>(a2 * c * tc);
            let mut gt = buffer::<T>(a2 * k * tc);
            let (vp, gp) = (SharedOut(v.as_mut_ptr()), SharedOut(gt.as_mut_ptr()));
            let org = tile_origins(tl, G::M, (t0, tc));
            each(c, par, |ch| input_tiles::<T, G>(x, c, ch, tl, &org, vp));
            each(k, par, |ch| map_grad_tiles::<T, G>(gy, k, ch, tl, &org, gp));
            // V[xi] to [tc, c] (the gemm's right operand, row-major) where the gemm would
            // not pack it itself.
            let vt = (k <= TRANSPOSE_MAX_ROWS).then(|| {
                let mut vt = buffer::<T>(a2 * c * tc);
                transpose_positions(&v, &mut vt, a2, c, tc, par);
                vt
            });
            let (v_ptr, v_strides) = match &vt {
                Some(vt) => (vt.as_ptr() as usize, (c as isize, 1)),
                None => (v.as_ptr() as usize, (1, tc as isize)),
            };
            let g_ptr = gt.as_ptr() as usize;
            let acc = chunk > c0;
            each(a2, par, |xi| {
                // SAFETY: Mw[xi] ([k, c]) is written by this task only; Gy[xi] is [k, tc] and
                // V[xi]^T [tc, c], transposed or read transposed.
                unsafe {
                    gemm_raw(
                        [k, c, tc],
                        ((mw_ptr as *mut T).add(xi * pairs), c as isize, 1),
                        ((g_ptr as *const T).add(xi * k * tc), tc as isize, 1),
                        (
                            (v_ptr as *const T).add(xi * c * tc),
                            v_strides.0,
                            v_strides.1,
                        ),
                        acc,
                        Parallelism::None,
                    )
                }
            });
            keep(v);
            if let Some(vt) = vt {
                keep(vt);
            }
            keep(gt);
        }
        mw
    };
    let partials: Vec<Vec<T>> = if groups >= 2 * rayon::current_num_threads() {
        (0..groups)
            .into_par_iter()
            .map(|g| group(g, false))
            .collect()
    } else {
        (0..groups).map(|g| group(g, true)).collect()
    };
    let mut parts = partials.into_iter();
    let mut mw = parts.next().expect("at least one group");
    for p in parts {
        mw.iter_mut().zip(&p).for_each(|(a, &b)| *a = *a + b);
        keep(p);
    }
    // Every element is written below.
    let mut dw = buffer::<T>(pairs * 9);
    let mw_ref = &mw;
    dw.par_chunks_mut(L * 9)
        .enumerate()
        .for_each(|(b, dst)| filter_grad_block::<T, G>(mw_ref, pairs, b, dst));
    keep(mw);
    dw
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The 1-D algorithm computes the 1-D correlation `y_i = sum_j g_j d_{i + j}` exactly (in
    /// dyadic inputs), and map_grad / filter_grad are its adjoints.
    fn check_1d<G: Alg>() {
        let (a, m) = (G::A, G::M);
        let d: Vec<f64> = (0..a).map(|i| (i as f64) * 0.5 - 1.25).collect();
        let g = [0.75, -1.5, 2.25];
        let mut dd = [0.0; 6];
        dd[..a].copy_from_slice(&d);
        let bd = G::input(dd);
        let gg = G::filter([g[0], g[1], g[2], 0.0, 0.0, 0.0]);
        let mut prod = [0.0; 6];
        for i in 0..a {
            prod[i] = bd[i] * gg[i];
        }
        let y = G::output(prod);
        for i in 0..m {
            let want: f64 = (0..3).map(|j| g[j] * d[i + j]).sum();
            assert!((y[i] - want).abs() < 1e-12, "y[{i}] = {} != {want}", y[i]);
        }
        // Weight gradient of sum_i gy_i y_i: sum_i gy_i d_{i+j}.
        let gy: Vec<f64> = (0..m).map(|i| 1.0 - i as f64 * 0.75).collect();
        let mut gg6 = [0.0; 6];
        gg6[..m].copy_from_slice(&gy);
        let ag = G::map_grad(gg6);
        for i in 0..a {
            prod[i] = ag[i] * bd[i];
        }
        let dw = G::filter_grad(prod);
        for j in 0..3 {
            let want: f64 = (0..m).map(|i| gy[i] * d[i + j]).sum();
            assert!(
                (dw[j] - want).abs() < 1e-12,
                "dw[{j}] = {} != {want}",
                dw[j]
            );
        }
    }

    #[test]
    fn one_dimensional_algorithms_are_exact() {
        check_1d::<F2x3>();
        check_1d::<F4x3>();
    }

    #[test]
    fn applies_only_to_natural_3x3_stride_1() {
        let g = |kernel, stride, padding, dilation, input: [usize; 2], output| ConvGeom {
            kernel,
            stride,
            padding,
            dilation,
            input,
            output,
        };
        assert!(applies(&g([3, 3], [1, 1], [1, 1], [1, 1], [8, 5], [8, 5])));
        assert!(applies(&g([3, 3], [1, 1], [0, 2], [1, 1], [8, 5], [6, 7])));
        assert!(!applies(&g([3, 3], [2, 2], [1, 1], [1, 1], [8, 8], [4, 4])));
        assert!(!applies(&g([3, 3], [1, 1], [2, 2], [2, 2], [8, 8], [8, 8])));
        assert!(!applies(&g([5, 5], [1, 1], [2, 2], [1, 1], [8, 8], [8, 8])));
        assert!(!applies(&g([3, 3], [1, 1], [1, 1], [1, 1], [8, 8], [7, 8])));
    }
}
