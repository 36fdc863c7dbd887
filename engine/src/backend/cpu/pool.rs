//! Pooling kernels on contiguous `[planes, H, W]` buffers (planes = N * C): max pooling with
//! argmax indices, the gather/scatter pair those indices define, and average pooling over
//! arbitrary per-axis windows (fixed-stride or adaptive). Planes run in parallel with rayon.

use super::PAR_MIN;
use crate::error::{Error, Result};
use crate::Float;
use rayon::prelude::*;

/// Runs `f(plane_index, out_plane)` over the planes of `out`, in parallel when large.
fn for_planes<T: Float>(
    out: &mut [T],
    plane: usize,
    work: usize,
    f: impl Fn(usize, &mut [T]) + Sync,
) {
    if plane == 0 {
        return;
    }
    if work >= PAR_MIN {
        out.par_chunks_mut(plane)
            .enumerate()
            .for_each(|(i, o)| f(i, o));
    } else {
        out.chunks_mut(plane).enumerate().for_each(|(i, o)| f(i, o));
    }
}

/// The input range `start..end` that window `i` of one axis covers, clipped to `0..n`.
fn window(i: usize, k: usize, s: usize, p: usize, n: usize) -> (usize, usize) {
    let start = (i * s) as isize - p as isize;
    let end = (start + k as isize).min(n as isize);
    (start.max(0) as usize, end.max(0) as usize)
}

/// Max pooling: returns the maxima `[planes, Ho, Wo]` and, per output, the flat index
/// `h * W + w` of its maximum in its plane (NaN wins, as in PyTorch).
#[allow(clippy::too_many_arguments)]
pub fn max_pool2d<T: Float>(
    x: &[T],
    planes: usize,
    input: [usize; 2],
    output: [usize; 2],
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
) -> (Vec<T>, Vec<i64>) {
    let [h, w] = input;
    let [ho, wo] = output;
    let (hw, plane) = (h * w, ho * wo);
    if plane == 0 || hw == 0 {
        return (vec![T::zero(); planes * plane], vec![0i64; planes * plane]);
    }
    // Every output and index is written below.
    let mut out = super::recycle::output::<T>(planes * plane);
    let mut idx = vec![0i64; planes * plane];
    let pairs = kernel == [2, 2] && stride == [2, 2] && padding == [0, 0];
    let run = |(pi, (o, ix)): (usize, (&mut [T], &mut [i64]))| {
        let src = &x[pi * hw..(pi + 1) * hw];
        if pairs && max_pool_2x2(src, w, ho, wo, o, ix) {
            return;
        }
        for oy in 0..ho {
            let (y0, y1) = window(oy, kernel[0], stride[0], padding[0], h);
            for ox in 0..wo {
                let (x0, x1) = window(ox, kernel[1], stride[1], padding[1], w);
                // Row-major over the window; the first maximum wins ties and NaN wins, as in
                // PyTorch. Written so that it compiles without branches (random data would
                // mispredict every other one): `max` for the value, a select for the index.
                let mut best = T::neg_infinity();
                let mut at = 0usize;
                let mut nan = false;
                for iy in y0..y1 {
                    let row = &src[iy * w..(iy + 1) * w];
                    for (jx, &v) in row[x0..x1].iter().enumerate() {
                        let v_nan = v.is_nan();
                        let take = (v > best) | v_nan;
                        at = if take { iy * w + x0 + jx } else { at };
                        best = best.max(v);
                        nan |= v_nan;
                    }
                }
                if nan {
                    best = T::nan();
                }
                o[oy * wo + ox] = best;
                ix[oy * wo + ox] = at as i64;
            }
        }
    };
    if planes * plane * kernel[0] * kernel[1] >= PAR_MIN {
        out.par_chunks_mut(plane)
            .zip(idx.par_chunks_mut(plane))
            .enumerate()
            .for_each(run);
    } else {
        out.chunks_mut(plane)
            .zip(idx.chunks_mut(plane))
            .enumerate()
            .for_each(run);
    }
    (out, idx)
}

/// The common 2x2, stride-2 pool of one plane as a tree of pairwise maxima (short dependency
/// chains, no branches). Returns false, leaving the work to the general loop, if the plane holds
/// a NaN.
fn max_pool_2x2<T: Float>(
    src: &[T],
    w: usize,
    ho: usize,
    wo: usize,
    o: &mut [T],
    ix: &mut [i64],
) -> bool {
    let mut nan = false;
    for oy in 0..ho {
        let r0 = &src[2 * oy * w..2 * oy * w + 2 * wo];
        let r1 = &src[(2 * oy + 1) * w..(2 * oy + 1) * w + 2 * wo];
        let base = (2 * oy * w) as i64;
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
            let m01 = v0.max(v1);
            let m23 = v2.max(v3);
            let t = m23 > m01;
            *ov = m01.max(m23);
            let d01 = t01 as i64;
            let d23 = w as i64 + t23 as i64;
            *iv = base + 2 * ox as i64 + if t { d23 } else { d01 };
            nan |= (v0.is_nan() | v1.is_nan()) | (v2.is_nan() | v3.is_nan());
        }
    }
    !nan
}

/// Checks that every index lies in a plane of `hw` elements.
pub fn check_plane_indices(op: &'static str, idx: &[i64], hw: usize) -> Result<()> {
    match idx.iter().find(|&&i| i < 0 || i as usize >= hw) {
        Some(&i) => Err(Error::IndexOutOfRange {
            op,
            index: i,
            size: hw,
        }),
        None => Ok(()),
    }
}

/// `out[p, j] = x[p, idx[p, j]]` for planes of `hw` inputs and `plane` outputs.
pub fn plane_gather<T: Float>(
    x: &[T],
    idx: &[i64],
    planes: usize,
    hw: usize,
    plane: usize,
) -> Vec<T> {
    let mut out = super::recycle::output::<T>(planes * plane); // all written below
    for_planes(&mut out, plane, planes * plane, |pi, o| {
        let src = &x[pi * hw..(pi + 1) * hw];
        for (v, &i) in o.iter_mut().zip(&idx[pi * plane..(pi + 1) * plane]) {
            *v = src[i as usize];
        }
    });
    out
}

/// The adjoint of [`plane_gather`]: `out[p, idx[p, j]] += g[p, j]`, into zeros.
pub fn plane_scatter<T: Float>(
    g: &[T],
    idx: &[i64],
    planes: usize,
    hw: usize,
    plane: usize,
) -> Vec<T> {
    let mut out = vec![T::zero(); planes * hw];
    for_planes(&mut out, hw, planes * plane, |pi, o| {
        let src = &g[pi * plane..(pi + 1) * plane];
        for (&v, &i) in src.iter().zip(&idx[pi * plane..(pi + 1) * plane]) {
            o[i as usize] = o[i as usize] + v;
        }
    });
    out
}

/// Windows of an average pool: per output row and column the input range it covers, and the
/// divisor (a fixed one, as `count_include_pad`, or the window's own area).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AvgPlan {
    pub input: [usize; 2],
    pub rows: Vec<(usize, usize)>,
    pub cols: Vec<(usize, usize)>,
    /// `Some(k)`: divide by `k`; `None`: divide by the window's area.
    pub divisor: Option<usize>,
    /// `[kernel, stride, padding]` of a fixed-stride pool (`None`: adaptive), for the CUDA
    /// kernels, which compute the windows themselves.
    pub fixed: Option<[[usize; 2]; 3]>,
}

impl AvgPlan {
    /// The plan of a fixed-stride pool with zero padding counted in the divisor.
    pub fn fixed(
        input: [usize; 2],
        output: [usize; 2],
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
    ) -> AvgPlan {
        let axis = |a: usize| -> Vec<(usize, usize)> {
            (0..output[a])
                .map(|i| window(i, kernel[a], stride[a], padding[a], input[a]))
                .collect()
        };
        AvgPlan {
            input,
            rows: axis(0),
            cols: axis(1),
            divisor: Some(kernel[0] * kernel[1]),
            fixed: Some([kernel, stride, padding]),
        }
    }

    /// The plan of an adaptive pool: window `i` of `o` over `n` is
    /// `floor(i * n / o) .. ceil((i + 1) * n / o)`, as PyTorch's.
    pub fn adaptive(input: [usize; 2], output: [usize; 2]) -> AvgPlan {
        let axis = |a: usize| -> Vec<(usize, usize)> {
            let (n, o) = (input[a], output[a]);
            (0..o)
                .map(|i| (i * n / o, ((i + 1) * n).div_ceil(o)))
                .collect()
        };
        AvgPlan {
            input,
            rows: axis(0),
            cols: axis(1),
            divisor: None,
            fixed: None,
        }
    }

    pub fn output(&self) -> [usize; 2] {
        [self.rows.len(), self.cols.len()]
    }

    fn scale<T: Float>(&self, r: (usize, usize), c: (usize, usize)) -> T {
        let d = self.divisor.unwrap_or((r.1 - r.0) * (c.1 - c.0)).max(1);
        T::one() / T::from_f64(d as f64)
    }
}

/// Average pooling of `planes` planes by `plan`.
pub fn avg_pool2d<T: Float>(x: &[T], planes: usize, plan: &AvgPlan) -> Vec<T> {
    let [h, w] = plan.input;
    let [ho, wo] = plan.output();
    let (hw, plane) = (h * w, ho * wo);
    let mut out = vec![T::zero(); planes * plane];
    for_planes(&mut out, plane, planes * hw, |pi, o| {
        let src = &x[pi * hw..(pi + 1) * hw];
        for (oy, &r) in plan.rows.iter().enumerate() {
            for (ox, &c) in plan.cols.iter().enumerate() {
                let mut s = T::zero();
                for iy in r.0..r.1 {
                    s = src[iy * w + c.0..iy * w + c.1]
                        .iter()
                        .fold(s, |a, &v| a + v);
                }
                o[oy * wo + ox] = s * plan.scale::<T>(r, c);
            }
        }
    });
    out
}

/// The adjoint of [`avg_pool2d`]: spreads each output gradient over its window.
pub fn avg_pool2d_backward<T: Float>(g: &[T], planes: usize, plan: &AvgPlan) -> Vec<T> {
    let [h, w] = plan.input;
    let [ho, wo] = plan.output();
    let (hw, plane) = (h * w, ho * wo);
    let mut out = vec![T::zero(); planes * hw];
    for_planes(&mut out, hw, planes * hw, |pi, o| {
        let src = &g[pi * plane..(pi + 1) * plane];
        for (oy, &r) in plan.rows.iter().enumerate() {
            for (ox, &c) in plan.cols.iter().enumerate() {
                let v = src[oy * wo + ox] * plan.scale::<T>(r, c);
                for iy in r.0..r.1 {
                    for d in o[iy * w + c.0..iy * w + c.1].iter_mut() {
                        *d = *d + v;
                    }
                }
            }
        }
    });
    out
}
