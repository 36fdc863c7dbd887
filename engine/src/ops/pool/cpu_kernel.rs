//! The pooling kernels on host memory: max pooling with argmax indices (a branch-free 2x2
//! path), the gather at indices and its scatter-add adjoint, and average pooling over
//! arbitrary per-axis windows (fixed-stride or adaptive). Planes run in parallel with rayon.

use super::max_2x2;
use super::plan::window;
use super::{AvgPlan, PoolKernel};
use crate::backend::cpu::buffer::CpuStorage;
use crate::backend::cpu::dispatch::{index_values, FloatElem, Map1, Map1Any};
use crate::backend::cpu::par::{for_chunks, PAR_MIN};
use crate::backend::cpu::recycle;
use crate::backend::cpu::strided::to_contiguous;
use crate::error::Result;
use crate::layout::Layout;
use crate::Float;
use rayon::prelude::*;

struct MaxPool {
    planes: usize,
    input: [usize; 2],
    output: [usize; 2],
    ksp: [[usize; 2]; 3],
}

impl Map1Any for MaxPool {
    const OP: &'static str = "max_pool2d";
    type Output = (CpuStorage, CpuStorage);
    fn f<T: FloatElem>(&self, v: &[T], l: &Layout) -> Result<Self::Output> {
        let [kernel, stride, padding] = self.ksp;
        let (y, i) = max_pool2d(
            &to_contiguous(v, l),
            self.planes,
            self.input,
            self.output,
            kernel,
            stride,
            padding,
        );
        Ok((T::into_storage(y), CpuStorage::I64(i)))
    }
}

/// A gather (`scatter = false`) or its scatter-add adjoint at plane indices.
struct AtIndices<'a> {
    idx: &'a [i64],
    planes: usize,
    hw: usize,
    plane: usize,
    scatter: bool,
    /// For the scatter: the input and output planes when the indices come from a 2x2,
    /// stride-2 max pool (the windows tile the plane, see [`max_2x2::scatter`]).
    tiles: Option<[[usize; 2]; 2]>,
}

impl Map1 for AtIndices<'_> {
    const OP: &'static str = "max_pool2d";
    fn f<T: FloatElem>(&self, v: &[T], l: &Layout) -> Result<Vec<T>> {
        let v = to_contiguous(v, l);
        let (idx, planes, hw, plane) = (self.idx, self.planes, self.hw, self.plane);
        Ok(if self.scatter {
            plane_scatter(&v, idx, [planes, hw, plane], self.tiles)
        } else {
            plane_gather(&v, idx, planes, hw, plane)
        })
    }
}

struct Avg<'a> {
    planes: usize,
    plan: &'a AvgPlan,
    backward: bool,
}

impl Map1 for Avg<'_> {
    const OP: &'static str = "avg_pool2d";
    fn f<T: FloatElem>(&self, v: &[T], l: &Layout) -> Result<Vec<T>> {
        let v = to_contiguous(v, l);
        Ok(if self.backward {
            avg_pool2d_backward(&v, self.planes, self.plan)
        } else {
            avg_pool2d(&v, self.planes, self.plan)
        })
    }
}

impl PoolKernel for CpuStorage {
    fn max_pool2d(
        &self,
        l: &Layout,
        planes: usize,
        input: [usize; 2],
        output: [usize; 2],
        ksp: [[usize; 2]; 3],
    ) -> Result<(Self, Self)> {
        MaxPool {
            planes,
            input,
            output,
            ksp,
        }
        .map(self, l)
    }

    fn plane_gather(
        &self,
        l: &Layout,
        (idx, li): (&Self, &Layout),
        planes: usize,
        hw: usize,
        plane: usize,
    ) -> Result<Self> {
        let idx = index_values("max_pool2d indices", idx, li)?;
        AtIndices {
            idx: &idx,
            planes,
            hw,
            plane,
            scatter: false,
            tiles: None,
        }
        .map(self, l)
    }

    fn plane_scatter(
        &self,
        l: &Layout,
        (idx, li): (&Self, &Layout),
        planes: usize,
        hw: [usize; 2],
        plane: [usize; 2],
        window: Option<[[usize; 2]; 3]>,
    ) -> Result<Self> {
        // One pass over each plane's outputs in order (as cheap as a gather on a CPU).
        let idx = index_values("max_pool2d indices", idx, li)?;
        AtIndices {
            idx: &idx,
            planes,
            hw: hw[0] * hw[1],
            plane: plane[0] * plane[1],
            scatter: true,
            tiles: (window == Some([[2, 2], [2, 2], [0, 0]])).then_some([hw, plane]),
        }
        .map(self, l)
    }

    fn avg_pool2d(
        &self,
        l: &Layout,
        planes: usize,
        plan: &AvgPlan,
        backward: bool,
    ) -> Result<Self> {
        Avg {
            planes,
            plan,
            backward,
        }
        .map(self, l)
    }
}

/// Max pooling: returns the maxima `[planes, Ho, Wo]` and, per output, the flat index
/// `h * W + w` of its maximum in its plane (NaN wins, as in PyTorch).
#[allow(clippy::too_many_arguments)]
fn max_pool2d<T: Float>(
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
    let mut out = recycle::output::<T>(planes * plane);
    let mut idx = recycle::output::<i64>(planes * plane);
    let pairs = kernel == [2, 2] && stride == [2, 2] && padding == [0, 0];
    let run = |(pi, (o, ix)): (usize, (&mut [T], &mut [i64]))| {
        let src = &x[pi * hw..(pi + 1) * hw];
        if pairs && max_2x2::plane(src, w, [ho, wo], o, ix) {
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

/// `out[p, j] = x[p, idx[p, j]]` for planes of `hw` inputs and `plane` outputs.
fn plane_gather<T: Float>(x: &[T], idx: &[i64], planes: usize, hw: usize, plane: usize) -> Vec<T> {
    let mut out = recycle::output::<T>(planes * plane); // all written below
    for_chunks(&mut out, plane, planes * plane, |pi, o| {
        let src = &x[pi * hw..(pi + 1) * hw];
        for (v, &i) in o.iter_mut().zip(&idx[pi * plane..(pi + 1) * plane]) {
            *v = src[i as usize];
        }
    });
    out
}

/// The adjoint of [`plane_gather`]: `out[p, idx[p, j]] += g[p, j]`, into zeros.
fn plane_scatter<T: Float>(
    g: &[T],
    idx: &[i64],
    [planes, hw, plane]: [usize; 3],
    tiles: Option<[[usize; 2]; 2]>,
) -> Vec<T> {
    // Each plane written by its own task, not zeroed up front on this thread (a VGG-16 input
    // gradient is 26 MB): in one pass where the windows tile the plane and every index lies in
    // its window, else zeroed and scattered into.
    let mut out = recycle::output::<T>(planes * hw);
    for_chunks(&mut out, hw, planes * plane, |pi, o| {
        let (src, at) = (
            &g[pi * plane..(pi + 1) * plane],
            &idx[pi * plane..(pi + 1) * plane],
        );
        if let Some([input, output]) = tiles {
            if max_2x2::scatter(src, at, input, output, o) {
                return;
            }
        }
        o.fill(T::zero());
        for (&v, &i) in src.iter().zip(at) {
            o[i as usize] = o[i as usize] + v;
        }
    });
    out
}

/// Average pooling of `planes` planes by `plan`.
fn avg_pool2d<T: Float>(x: &[T], planes: usize, plan: &AvgPlan) -> Vec<T> {
    let [h, w] = plan.input;
    let [ho, wo] = plan.output();
    let (hw, plane) = (h * w, ho * wo);
    let mut out = recycle::output::<T>(planes * plane); // all written below
    for_chunks(&mut out, plane, planes * hw, |pi, o| {
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
fn avg_pool2d_backward<T: Float>(g: &[T], planes: usize, plan: &AvgPlan) -> Vec<T> {
    let [h, w] = plan.input;
    let [ho, wo] = plan.output();
    let (hw, plane) = (h * w, ho * wo);
    let mut out = recycle::output::<T>(planes * hw); // each plane zeroed by its task
    for_chunks(&mut out, hw, planes * hw, |pi, o| {
        o.fill(T::zero());
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
