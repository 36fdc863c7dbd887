//! Index kernels: index_select, gather, scatter_add, concat and one_hot on contiguous
//! buffers viewed as `[pre, axis, post]`. Indices are checked; a bad one is an error.

use crate::error::{Error, Result};

fn check(op: &'static str, i: i64, size: usize) -> Result<usize> {
    if i < 0 || i as usize >= size {
        return Err(Error::IndexOutOfRange { op, index: i, size });
    }
    Ok(i as usize)
}

/// Splits a shape around `axis` into (product before, size, product after).
pub fn split_at_axis(shape: &[usize], axis: usize) -> (usize, usize, usize) {
    (
        shape[..axis].iter().product(),
        shape[axis],
        shape[axis + 1..].iter().product(),
    )
}

/// Rows `idx` of axis `axis` of a contiguous `x`.
pub fn index_select<T: Copy>(x: &[T], shape: &[usize], axis: usize, idx: &[i64]) -> Result<Vec<T>> {
    let (pre, d, post) = split_at_axis(shape, axis);
    let mut out = Vec::with_capacity(pre * idx.len() * post);
    for p in 0..pre {
        for &i in idx {
            let i = check("index_select", i, d)?;
            let start = (p * d + i) * post;
            out.extend_from_slice(&x[start..start + post]);
        }
    }
    Ok(out)
}

/// Offsets of the position `flat` of a contiguous index tensor of shape `ishape`, in a
/// contiguous tensor of shape `xshape`, with the coordinate along `axis` replaced by `i`.
fn target_offset(flat: usize, ishape: &[usize], xshape: &[usize], axis: usize, i: usize) -> usize {
    let mut rem = flat;
    let mut off = 0;
    let mut stride = 1;
    for d in (0..ishape.len()).rev() {
        let c = rem % ishape[d];
        rem /= ishape[d];
        off += if d == axis { i } else { c } * stride;
        stride *= xshape[d];
    }
    off
}

/// Checks that an index tensor fits `x` for gather/scatter along `axis`.
pub fn check_index_shape(
    op: &'static str,
    xshape: &[usize],
    ishape: &[usize],
    axis: usize,
) -> Result<()> {
    let ok = xshape.len() == ishape.len()
        && ishape
            .iter()
            .zip(xshape)
            .enumerate()
            .all(|(d, (&i, &x))| d == axis || i <= x);
    if ok {
        Ok(())
    } else {
        Err(Error::ShapeMismatch {
            op,
            lhs: xshape.to_vec(),
            rhs: ishape.to_vec(),
        })
    }
}

/// `out[p] = x[p with axis -> idx[p]]`; the output has the index's shape.
pub fn gather<T: Copy>(
    x: &[T],
    xshape: &[usize],
    axis: usize,
    idx: &[i64],
    ishape: &[usize],
) -> Result<Vec<T>> {
    idx.iter()
        .enumerate()
        .map(|(flat, &i)| {
            let i = check("gather", i, xshape[axis])?;
            Ok(x[target_offset(flat, ishape, xshape, axis, i)])
        })
        .collect()
}

/// `out = x; out[p with axis -> idx[p]] += src[p]`, in index order (deterministic).
pub fn scatter_add<T: Copy + std::ops::Add<Output = T>>(
    x: &[T],
    xshape: &[usize],
    axis: usize,
    idx: &[i64],
    ishape: &[usize],
    src: &[T],
) -> Result<Vec<T>> {
    let mut out = x.to_vec();
    for (flat, (&i, &s)) in idx.iter().zip(src).enumerate() {
        let i = check("scatter_add", i, xshape[axis])?;
        let o = target_offset(flat, ishape, xshape, axis, i);
        out[o] = out[o] + s;
    }
    Ok(out)
}

/// Contiguous parts of shapes equal but along `axis`, joined along it.
pub fn concat<T: Copy>(parts: &[(&[T], &[usize])], axis: usize) -> Vec<T> {
    let (pre, _, post) = split_at_axis(parts[0].1, axis);
    let total: usize = parts.iter().map(|(d, _)| d.len()).sum();
    let mut out = Vec::with_capacity(total);
    for p in 0..pre {
        for (data, shape) in parts {
            let chunk = shape[axis] * post;
            out.extend_from_slice(&data[p * chunk..(p + 1) * chunk]);
        }
    }
    out
}

/// One-hot rows of width `n` for integer labels.
pub fn one_hot(labels: &[i64], n: usize) -> Result<Vec<f64>> {
    let mut out = vec![0.0; labels.len() * n];
    for (r, &l) in labels.iter().enumerate() {
        let l = check("one_hot", l, n)?;
        out[r * n + l] = 1.0;
    }
    Ok(out)
}
