//! The convolution kernels on host memory (NCHW): im2col + gemm for the forward pass and the
//! weight gradient, gemm + col2im for the transposed one. Batch chunks (sized by the shapes
//! only, so the bits do not depend on the thread count) run in parallel with rayon, reusing
//! per-thread scratch buffers.

use super::{algo, ConvGeom, ConvKernel, Dir};
use crate::backend::cpu::buffer::CpuStorage;
use crate::backend::cpu::dispatch::{typed, FloatElem, Map2};
use crate::backend::cpu::gemm::{gemm_into, parallelism, Mat, Parallelism};
use crate::backend::cpu::recycle;
use crate::backend::cpu::scratch::{give, take, Scratch};
use crate::backend::cpu::strided::to_contiguous;
use crate::error::Result;
use crate::layout::Layout;
use crate::Float;
use rayon::prelude::*;

/// One of the three ops on contiguous operands, with an optional bias.
struct Run<'a> {
    dir: Dir,
    bias: Option<(&'a CpuStorage, &'a Layout)>,
    nck: [usize; 3],
    geom: &'a ConvGeom,
}

impl Map2 for Run<'_> {
    const OP: &'static str = "conv2d";
    fn f<T: FloatElem>(&self, a: &[T], la: &Layout, b: &[T], lb: &Layout) -> Result<Vec<T>> {
        let (a, b) = (to_contiguous(a, la), to_contiguous(b, lb));
        let bias = match self.bias {
            Some((s, l)) => Some(to_contiguous(typed::<T>(Self::OP, s)?, l)),
            None => None,
        };
        Ok(compute(
            self.dir,
            &a,
            &b,
            bias.as_deref(),
            self.nck,
            self.geom,
        ))
    }
}

impl ConvKernel for CpuStorage {
    fn conv(
        &self,
        dir: Dir,
        la: &Layout,
        b: &Self,
        lb: &Layout,
        bias: Option<(&Self, &Layout)>,
        nck: [usize; 3],
        geom: &ConvGeom,
        _out_shape: &[usize],
    ) -> Result<Self> {
        Run {
            dir,
            bias,
            nck,
            geom,
        }
        .map(self, la, b, lb)
    }
}

fn compute<T: FloatElem + Scratch>(
    dir: Dir,
    a: &[T],
    b: &[T],
    bias: Option<&[T]>,
    nck: [usize; 3],
    geom: &ConvGeom,
) -> Vec<T> {
    let [n, c, kk] = nck;
    if let Some(out) = algo::compute(dir, a, b, bias, nck, geom) {
        return out;
    }
    match dir {
        Dir::Forward => conv2d(a, b, bias, n, c, kk, geom),
        Dir::Transpose => conv_transpose2d(a, b, bias, n, c, kk, geom),
        Dir::Weight => conv2d_weight(a, b, n, c, kk, geom),
    }
}

/// Samples per chunk: enough columns for an efficient gemm, and at least a few chunks. A
/// function of the shapes only, so the reduction order of the weight gradient is fixed.
fn chunk_samples(n: usize, cols: usize) -> usize {
    const TARGET_COLS: usize = 512;
    const MIN_CHUNKS: usize = 8;
    let by_cols = (TARGET_COLS / cols.max(1)).max(1);
    let by_count = n.div_ceil(MIN_CHUNKS).max(1);
    by_cols.min(by_count).clamp(1, n.max(1))
}

/// True when one tap maps a whole output plane onto a contiguous, shifted run of the input plane
/// (stride 1 and equal widths: "same" convolutions), so a tap is one block copy plus zeroed edges.
fn block_taps(g: &ConvGeom) -> bool {
    g.stride == [1, 1] && g.output[1] == g.input[1]
}

/// Per tap `(ki, kj)`: valid output rows `ylo..yhi`, columns `xlo..xhi`, and the input offsets
/// of output (0, 0) along each axis.
struct Tap {
    y: (usize, usize),
    x: (usize, usize),
    yoff: isize,
    xoff: isize,
}

fn tap(g: &ConvGeom, ki: usize, kj: usize) -> Tap {
    Tap {
        y: g.valid(0, ki),
        x: g.valid(1, kj),
        yoff: (ki * g.dilation[0]) as isize - g.padding[0] as isize,
        xoff: (kj * g.dilation[1]) as isize - g.padding[1] as isize,
    }
}

/// Columns of `nb` samples `xs` (`[nb, c, H, W]`) into `col` (`[c*kh*kw, nb*Ho*Wo]`).
fn im2col<T: Float>(xs: &[T], nb: usize, c: usize, g: &ConvGeom, col: &mut [T]) {
    let [h, w] = g.input;
    let [ho, wo] = g.output;
    let [kh, kw] = g.kernel;
    let [sh, sw] = g.stride;
    let (p, hw, plane) = (nb * ho * wo, h * w, ho * wo);
    let zero = T::zero();
    let block = block_taps(g);
    for ci in 0..c {
        for ki in 0..kh {
            for kj in 0..kw {
                let t = tap(g, ki, kj);
                let (ylo, yhi) = t.y;
                let (xlo, xhi) = t.x;
                let row = (ci * kh + ki) * kw + kj;
                let dst = &mut col[row * p..(row + 1) * p];
                for nl in 0..nb {
                    let src = &xs[(nl * c + ci) * hw..(nl * c + ci + 1) * hw];
                    let d = &mut dst[nl * plane..(nl + 1) * plane];
                    if ylo >= yhi || xlo >= xhi {
                        d.fill(zero);
                        continue;
                    }
                    d[..ylo * wo].fill(zero);
                    d[yhi * wo..].fill(zero);
                    if block {
                        // One shifted copy; the columns that wrapped around are zeroed after.
                        let d0 = ylo * wo + xlo;
                        let d1 = (yhi - 1) * wo + xhi;
                        let s0 =
                            ((ylo as isize + t.yoff) * w as isize + xlo as isize + t.xoff) as usize;
                        d[d0..d1].copy_from_slice(&src[s0..s0 + d1 - d0]);
                        for oy in ylo..yhi {
                            d[oy * wo..oy * wo + xlo].fill(zero);
                            d[oy * wo + xhi..(oy + 1) * wo].fill(zero);
                        }
                        continue;
                    }
                    let s0 = ((xlo * sw) as isize + t.xoff) as usize;
                    for oy in ylo..yhi {
                        let iy = ((oy * sh) as isize + t.yoff) as usize;
                        let srow = &src[iy * w..(iy + 1) * w];
                        let drow = &mut d[oy * wo..(oy + 1) * wo];
                        drow[..xlo].fill(zero);
                        drow[xhi..].fill(zero);
                        if sw == 1 {
                            drow[xlo..xhi].copy_from_slice(&srow[s0..s0 + xhi - xlo]);
                        } else {
                            for (k, o) in drow[xlo..xhi].iter_mut().enumerate() {
                                *o = srow[s0 + k * sw];
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The adjoint of [`im2col`]: adds the columns `col` back into `nb` samples `xs` (zeroed
/// first). `col` is scratch: entries that read padding may be overwritten with zeros.
fn col2im<T: Float>(col: &mut [T], nb: usize, c: usize, g: &ConvGeom, xs: &mut [T]) {
    let [h, w] = g.input;
    let [ho, wo] = g.output;
    let [kh, kw] = g.kernel;
    let [sh, sw] = g.stride;
    let (p, hw, plane) = (nb * ho * wo, h * w, ho * wo);
    let block = block_taps(g);
    xs.fill(T::zero());
    for ci in 0..c {
        for ki in 0..kh {
            for kj in 0..kw {
                let t = tap(g, ki, kj);
                let (ylo, yhi) = t.y;
                let (xlo, xhi) = t.x;
                if ylo >= yhi || xlo >= xhi {
                    continue;
                }
                let row = (ci * kh + ki) * kw + kj;
                let src = &mut col[row * p..(row + 1) * p];
                for nl in 0..nb {
                    let dplane = &mut xs[(nl * c + ci) * hw..(nl * c + ci + 1) * hw];
                    let s = &mut src[nl * plane..(nl + 1) * plane];
                    if block {
                        // Zero the entries that read padding, then one shifted block add.
                        for oy in ylo..yhi {
                            s[oy * wo..oy * wo + xlo].fill(T::zero());
                            s[oy * wo + xhi..(oy + 1) * wo].fill(T::zero());
                        }
                        let d0 = ylo * wo + xlo;
                        let d1 = (yhi - 1) * wo + xhi;
                        let s0 =
                            ((ylo as isize + t.yoff) * w as isize + xlo as isize + t.xoff) as usize;
                        for (d, &v) in dplane[s0..s0 + d1 - d0].iter_mut().zip(&s[d0..d1]) {
                            *d = *d + v;
                        }
                        continue;
                    }
                    let s0 = ((xlo * sw) as isize + t.xoff) as usize;
                    for oy in ylo..yhi {
                        let iy = ((oy * sh) as isize + t.yoff) as usize;
                        let dst = &mut dplane[iy * w..(iy + 1) * w];
                        let srow = &s[oy * wo + xlo..oy * wo + xhi];
                        if sw == 1 {
                            for (d, &v) in dst[s0..s0 + srow.len()].iter_mut().zip(srow) {
                                *d = *d + v;
                            }
                        } else {
                            for (k, &v) in srow.iter().enumerate() {
                                let d = &mut dst[s0 + k * sw];
                                *d = *d + v;
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `gs` (`[nb, k, P]`) regrouped as `[k, nb*P]`.
fn regroup<T: Float>(gs: &[T], nb: usize, k: usize, plane: usize, out: &mut [T]) {
    let p = nb * plane;
    for nl in 0..nb {
        for ki in 0..k {
            let src = &gs[(nl * k + ki) * plane..(nl * k + ki + 1) * plane];
            out[ki * p + nl * plane..ki * p + (nl + 1) * plane].copy_from_slice(src);
        }
    }
}

/// Convolution: `x` `[n, c, H, W]`, `w` `[k, c, kh, kw]`, optional `bias` `[k]` ->
/// `[n, k, Ho, Wo]`.
pub(super) fn conv2d<T: Scratch>(
    x: &[T],
    w: &[T],
    bias: Option<&[T]>,
    n: usize,
    c: usize,
    k: usize,
    g: &ConvGeom,
) -> Vec<T> {
    let (hw, plane) = (g.in_plane(), g.out_plane());
    let r = c * g.taps();
    // Every element is written: by the gemm (no accumulation) or the copy per sample.
    let mut out = recycle::output::<T>(n * k * plane);
    if out.is_empty() {
        return out;
    }
    let nb = chunk_samples(n, plane);
    let tasks = n.div_ceil(nb);
    let par = parallelism(tasks, k * r * plane * nb);
    let run = |(xs, os): (&[T], &mut [T])| {
        let nb = os.len() / (k * plane);
        let p = nb * plane;
        let mut col = take::<T>(r * p);
        im2col(xs, nb, c, g, &mut col);
        let lhs = Mat {
            ptr: w.as_ptr(),
            rs: r as isize,
            cs: 1,
        };
        let rhs = Mat {
            ptr: col.as_ptr(),
            rs: p as isize,
            cs: 1,
        };
        if nb == 1 {
            gemm_into(os, [k, p, r], lhs, rhs, false, par);
            if let Some(b) = bias {
                for (ki, o) in os.chunks_mut(plane).enumerate() {
                    o.iter_mut().for_each(|v| *v = *v + b[ki]);
                }
            }
        } else {
            let mut tmp = take::<T>(k * p);
            gemm_into(&mut tmp, [k, p, r], lhs, rhs, false, par);
            for nl in 0..nb {
                for ki in 0..k {
                    let src = &tmp[ki * p + nl * plane..ki * p + (nl + 1) * plane];
                    let dst = &mut os[(nl * k + ki) * plane..(nl * k + ki + 1) * plane];
                    match bias {
                        Some(b) => dst.iter_mut().zip(src).for_each(|(d, &s)| *d = s + b[ki]),
                        None => dst.copy_from_slice(src),
                    }
                }
            }
            give(tmp);
        }
        give(col);
    };
    if tasks > 1 {
        x.par_chunks(nb * c * hw)
            .zip(out.par_chunks_mut(nb * k * plane))
            .for_each(run);
    } else {
        run((x, &mut out));
    }
    out
}

/// Transposed convolution (the adjoint of [`conv2d`] in its input): `z` `[n, k, Ho, Wo]`,
/// `w` `[k, c, kh, kw]`, optional `bias` `[c]` -> `[n, c, H, W]`.
pub(super) fn conv_transpose2d<T: Scratch>(
    z: &[T],
    w: &[T],
    bias: Option<&[T]>,
    n: usize,
    c: usize,
    k: usize,
    g: &ConvGeom,
) -> Vec<T> {
    let (hw, plane) = (g.in_plane(), g.out_plane());
    let r = c * g.taps();
    // Every element is written: col2im zeroes each chunk's planes before adding into them.
    let mut out = recycle::output::<T>(n * c * hw);
    if out.is_empty() {
        return out;
    }
    let nb = chunk_samples(n, plane);
    let tasks = n.div_ceil(nb);
    let par = parallelism(tasks, k * r * plane * nb);
    let run = |(zs, os): (&[T], &mut [T])| {
        let nb = os.len() / (c * hw);
        let p = nb * plane;
        let mut colg = take::<T>(r * p);
        // colg [r, p] = w^T [r, k] @ z [k, p]
        let lhs = Mat {
            ptr: w.as_ptr(),
            rs: 1,
            cs: r as isize,
        };
        if nb == 1 {
            let rhs = Mat {
                ptr: zs.as_ptr(),
                rs: p as isize,
                cs: 1,
            };
            gemm_into(&mut colg, [r, p, k], lhs, rhs, false, par);
        } else {
            let mut zg = take::<T>(k * p);
            regroup(zs, nb, k, plane, &mut zg);
            let rhs = Mat {
                ptr: zg.as_ptr(),
                rs: p as isize,
                cs: 1,
            };
            gemm_into(&mut colg, [r, p, k], lhs, rhs, false, par);
            give(zg);
        }
        col2im(&mut colg, nb, c, g, os);
        if let Some(b) = bias {
            for (i, o) in os.chunks_mut(hw).enumerate() {
                let bc = b[i % c];
                o.iter_mut().for_each(|v| *v = *v + bc);
            }
        }
        give(colg);
    };
    if tasks > 1 {
        z.par_chunks(nb * k * plane)
            .zip(out.par_chunks_mut(nb * c * hw))
            .for_each(run);
    } else {
        run((z, &mut out));
    }
    out
}

/// Weight gradient of a convolution: `x` `[n, c, H, W]`, `gy` `[n, k, Ho, Wo]` ->
/// `[k, c, kh, kw]`, `dw = sum_n gy[n] @ im2col(x[n])^T`. Chunks are summed in groups (each group
/// one partial `dw`, the partials added in order); the number of groups depends on the shapes
/// only: enough columns per group that the partial sums stay cheap next to the products.
pub(super) fn conv2d_weight<T: Scratch>(
    x: &[T],
    gy: &[T],
    n: usize,
    c: usize,
    k: usize,
    g: &ConvGeom,
) -> Vec<T> {
    const GROUPS: usize = 8;
    const MIN_GROUP_COLS: usize = 256;
    let (hw, plane) = (g.in_plane(), g.out_plane());
    let r = c * g.taps();
    if n == 0 || k * r == 0 || plane == 0 {
        return vec![T::zero(); k * r];
    }
    let nb = chunk_samples(n, plane);
    let chunks = n.div_ceil(nb);
    let groups = (n * plane / MIN_GROUP_COLS).clamp(1, chunks.min(GROUPS));
    // Few groups: let gemm split each product over the threads (it splits the output, not
    // the sum, so the bits stay the same).
    let par = if groups < rayon::current_num_threads() && k * r * plane * nb >= 64 * 64 * 64 {
        Parallelism::Rayon(0)
    } else {
        Parallelism::None
    };
    let group = |gi: usize| -> Vec<T> {
        let mut dw = take::<T>(k * r);
        let (c0, c1) = (gi * chunks / groups, (gi + 1) * chunks / groups);
        for ch in c0..c1 {
            let s0 = ch * nb;
            let nbl = nb.min(n - s0);
            let p = nbl * plane;
            let xs = &x[s0 * c * hw..(s0 + nbl) * c * hw];
            let gs = &gy[s0 * k * plane..(s0 + nbl) * k * plane];
            let mut col = take::<T>(r * p);
            im2col(xs, nbl, c, g, &mut col);
            // dw [k, r] += gs [k, p] @ col^T [p, r]
            let rhs = Mat {
                ptr: col.as_ptr(),
                rs: 1,
                cs: p as isize,
            };
            let acc = ch > c0;
            if nbl == 1 {
                let lhs = Mat {
                    ptr: gs.as_ptr(),
                    rs: p as isize,
                    cs: 1,
                };
                gemm_into(&mut dw, [k, r, p], lhs, rhs, acc, par);
            } else {
                let mut gg = take::<T>(k * p);
                regroup(gs, nbl, k, plane, &mut gg);
                let lhs = Mat {
                    ptr: gg.as_ptr(),
                    rs: p as isize,
                    cs: 1,
                };
                gemm_into(&mut dw, [k, r, p], lhs, rhs, acc, par);
                give(gg);
            }
            give(col);
        }
        dw
    };
    let partials: Vec<Vec<T>> = if groups > 1 {
        (0..groups).into_par_iter().map(group).collect()
    } else {
        vec![group(0)]
    };
    // Every element is written by the first partial.
    let mut dw = recycle::output::<T>(k * r);
    for (i, part) in partials.into_iter().enumerate() {
        if i == 0 {
            dw.copy_from_slice(&part);
        } else {
            dw.iter_mut().zip(&part).for_each(|(a, &b)| *a = *a + b);
        }
        give(part);
    }
    dw
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_ranges() {
        let g = ConvGeom {
            kernel: [3, 3],
            stride: [2, 2],
            padding: [1, 1],
            dilation: [1, 1],
            input: [5, 5],
            output: [3, 3],
        };
        // tap 0 reads i*2 - 1: valid for i >= 1; tap 2 reads i*2 + 1: valid for i <= 1.
        assert_eq!(g.valid(0, 0), (1, 3));
        assert_eq!(g.valid(0, 1), (0, 3));
        assert_eq!(g.valid(0, 2), (0, 2));
    }

    #[test]
    fn chunks_cover_batch() {
        assert_eq!(chunk_samples(100, 784), 1);
        assert_eq!(chunk_samples(1, 9), 1);
        assert!(chunk_samples(100, 9) <= 13);
        assert_eq!(chunk_samples(0, 9), 1);
    }
}
