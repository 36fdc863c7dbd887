//! Convolutions on tiny planes (VGG-16's 2x2 maps) as plain gemms straight from the NCHW
//! buffers, without im2col and without multiplying padding zeros: one gemm per (input
//! position, output position) pair that a kernel tap connects, over the batch and the channels.
//! A 2x2 plane with padding 1 has 16 such pairs against im2col's 36 taps (9 per output, most of
//! them reading padding). Nothing is copied and no scratch is allocated: the gemms read the
//! operands through their strides. Each destination is summed over its pairs in a fixed order,
//! and gemm splits its output over threads (never its sums), so the bits do not depend on the
//! thread count.

use super::ConvGeom;
use crate::Float;
use gemm::Parallelism;

/// The pairs `(input position, output position, tap)` of `g`, positions flattened row-major;
/// output-major, then input-major (the summation order).
pub fn pairs(g: &ConvGeom) -> Vec<(usize, usize, usize)> {
    let [h, w] = g.input;
    let [ho, wo] = g.output;
    let [kh, kw] = g.kernel;
    let mut v = Vec::new();
    for oy in 0..ho {
        for ox in 0..wo {
            for ky in 0..kh {
                for kx in 0..kw {
                    let iy =
                        (oy * g.stride[0] + ky * g.dilation[0]) as isize - g.padding[0] as isize;
                    let ix =
                        (ox * g.stride[1] + kx * g.dilation[1]) as isize - g.padding[1] as isize;
                    if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w {
                        v.push((iy as usize * w + ix as usize, oy * wo + ox, ky * kw + kx));
                    }
                }
            }
        }
    }
    v.sort_by_key(|&(i, o, _)| (o, i));
    v
}

/// The gemm threading for one product of `flops` multiply-adds.
fn par(flops: usize) -> Parallelism {
    if flops >= 64 * 64 * 64 {
        Parallelism::Rayon(0)
    } else {
        Parallelism::None
    }
}

/// `dst[rows, cols] (+)= lhs[rows, depth] @ rhs[depth, cols]`, operands as (pointer, row stride,
/// column stride).
///
/// # Safety
/// Every element the strides reach is in bounds of its buffer.
unsafe fn gemm_strided<T: Float>(
    [rows, cols, depth]: [usize; 3],
    dst: (*mut T, usize, usize),
    lhs: (*const T, usize, usize),
    rhs: (*const T, usize, usize),
    accumulate: bool,
) {
    gemm::gemm(
        rows,
        cols,
        depth,
        dst.0,
        dst.2 as isize,
        dst.1 as isize,
        accumulate,
        lhs.0,
        lhs.2 as isize,
        lhs.1 as isize,
        rhs.0,
        rhs.2 as isize,
        rhs.1 as isize,
        T::one(),
        T::one(),
        false,
        false,
        false,
        par(rows * cols * depth),
    );
}

/// Convolution: `x` `[n, c, H, W]`, `w` `[k, c, kh, kw]`, optional `bias` `[k]` ->
/// `[n, k, Ho, Wo]`: `out[:, :, o] = sum_i x[:, :, i] @ w[:, :, tap(i, o)]^T`.
#[allow(clippy::too_many_arguments)]
pub fn conv2d<T: Float>(
    x: &[T],
    w: &[T],
    bias: Option<&[T]>,
    n: usize,
    c: usize,
    k: usize,
    g: &ConvGeom,
) -> Vec<T> {
    let (pi, po) = (g.input[0] * g.input[1], g.output[0] * g.output[1]);
    let taps = g.kernel[0] * g.kernel[1];
    let mut out = vec![T::zero(); n * k * po];
    if out.is_empty() || c == 0 {
        add_bias(&mut out, bias, k, po);
        return out;
    }
    let mut first = vec![true; po];
    for (i, o, t) in pairs(g) {
        // SAFETY: out[:, :, o] is [n, k] at strides (k po, po); x[:, :, i] is [n, c] at
        // (c pi, pi); w[:, :, t]^T is [c, k] at (taps, c taps): all within the buffers.
        unsafe {
            gemm_strided(
                [n, k, c],
                (out.as_mut_ptr().add(o), k * po, po),
                (x.as_ptr().add(i), c * pi, pi),
                (w.as_ptr().add(t), taps, c * taps),
                !first[o],
            );
        }
        first[o] = false;
    }
    add_bias(&mut out, bias, k, po);
    out
}

/// Transposed convolution (the input gradient of [`conv2d`]): `z` `[n, k, Ho, Wo]`, `w`
/// `[k, c, kh, kw]`, optional `bias` `[c]` -> `[n, c, H, W]`:
/// `out[:, :, i] = sum_o z[:, :, o] @ w[:, :, tap(i, o)]`.
#[allow(clippy::too_many_arguments)]
pub fn conv_transpose2d<T: Float>(
    z: &[T],
    w: &[T],
    bias: Option<&[T]>,
    n: usize,
    c: usize,
    k: usize,
    g: &ConvGeom,
) -> Vec<T> {
    let (pi, po) = (g.input[0] * g.input[1], g.output[0] * g.output[1]);
    let taps = g.kernel[0] * g.kernel[1];
    let mut out = vec![T::zero(); n * c * pi];
    if out.is_empty() || k == 0 {
        add_bias(&mut out, bias, c, pi);
        return out;
    }
    let mut ps = pairs(g);
    ps.sort_by_key(|&(i, o, _)| (i, o));
    let mut first = vec![true; pi];
    for (i, o, t) in ps {
        // SAFETY: out[:, :, i] is [n, c] at (c pi, pi); z[:, :, o] is [n, k] at (k po, po);
        // w[:, :, t] is [k, c] at (c taps, taps).
        unsafe {
            gemm_strided(
                [n, c, k],
                (out.as_mut_ptr().add(i), c * pi, pi),
                (z.as_ptr().add(o), k * po, po),
                (w.as_ptr().add(t), c * taps, taps),
                !first[i],
            );
        }
        first[i] = false;
    }
    add_bias(&mut out, bias, c, pi);
    out
}

/// Weight gradient: `x` `[n, c, H, W]`, `gy` `[n, k, Ho, Wo]` -> `[k, c, kh, kw]`:
/// `dw[:, :, t] = sum_{(i, o) of tap t} gy[:, :, o]^T @ x[:, :, i]`.
pub fn conv2d_weight<T: Float>(
    x: &[T],
    gy: &[T],
    n: usize,
    c: usize,
    k: usize,
    g: &ConvGeom,
) -> Vec<T> {
    let (pi, po) = (g.input[0] * g.input[1], g.output[0] * g.output[1]);
    let taps = g.kernel[0] * g.kernel[1];
    let mut dw = vec![T::zero(); k * c * taps];
    if dw.is_empty() || n == 0 {
        return dw;
    }
    let mut ps = pairs(g);
    ps.sort_by_key(|&(i, o, t)| (t, o, i));
    let mut first = vec![true; taps];
    for (i, o, t) in ps {
        // SAFETY: dw[:, :, t] is [k, c] at (c taps, taps); gy[:, :, o]^T is [k, n] at
        // (po, k po); x[:, :, i] is [n, c] at (c pi, pi).
        unsafe {
            gemm_strided(
                [k, c, n],
                (dw.as_mut_ptr().add(t), c * taps, taps),
                (gy.as_ptr().add(o), po, k * po),
                (x.as_ptr().add(i), c * pi, pi),
                !first[t],
            );
        }
        first[t] = false;
    }
    dw
}

fn add_bias<T: Float>(out: &mut [T], bias: Option<&[T]>, chans: usize, plane: usize) {
    if let Some(b) = bias {
        for (i, o) in out.chunks_mut(plane).enumerate() {
            let bc = b[i % chans];
            o.iter_mut().for_each(|v| *v = *v + bc);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_of_a_padded_2x2_plane() {
        let g = ConvGeom {
            kernel: [3, 3],
            stride: [1, 1],
            padding: [1, 1],
            dilation: [1, 1],
            input: [2, 2],
            output: [2, 2],
        };
        let p = pairs(&g);
        assert_eq!(p.len(), 16);
        // Output (0, 0) reads input (0, 0) through the centre tap and (1, 1) through the
        // bottom-right one.
        assert!(p.contains(&(0, 0, 4)));
        assert!(p.contains(&(3, 0, 8)));
        assert!(p.contains(&(0, 3, 0)));
    }
}
