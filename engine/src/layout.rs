//! Shapes and strides. A [`Layout`] maps a multi-index to an offset in a storage buffer, so
//! transpose, permute, broadcast and narrow are views that share their storage.

use crate::error::{invalid, Error, Result};

/// Shape, strides (in elements) and start offset of a tensor view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub shape: Vec<usize>,
    pub strides: Vec<usize>,
    pub offset: usize,
}

/// Row-major strides of a contiguous tensor of this shape.
pub fn contiguous_strides(shape: &[usize]) -> Vec<usize> {
    let mut strides = vec![0; shape.len()];
    let mut acc = 1;
    for i in (0..shape.len()).rev() {
        strides[i] = acc;
        acc *= shape[i].max(1);
    }
    strides
}

/// Number of elements of a shape.
pub fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

/// NumPy broadcasting of two shapes.
pub fn broadcast_shapes(op: &'static str, a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    let rank = a.len().max(b.len());
    let mut out = vec![0; rank];
    for i in 0..rank {
        let da = if i + a.len() >= rank {
            a[i + a.len() - rank]
        } else {
            1
        };
        let db = if i + b.len() >= rank {
            b[i + b.len() - rank]
        } else {
            1
        };
        out[i] = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => {
                return Err(Error::ShapeMismatch {
                    op,
                    lhs: a.to_vec(),
                    rhs: b.to_vec(),
                })
            }
        };
    }
    Ok(out)
}

/// Resolves a possibly negative axis against a rank.
pub fn normalize_axis(op: &'static str, axis: isize, rank: usize) -> Result<usize> {
    let r = rank as isize;
    let a = if axis < 0 { axis + r } else { axis };
    if a < 0 || a >= r {
        return Err(Error::AxisOutOfRange { op, axis, rank });
    }
    Ok(a as usize)
}

/// Resolves a list of axes; an empty list means every axis. Duplicates are an error.
pub fn normalize_axes(op: &'static str, axes: &[isize], rank: usize) -> Result<Vec<usize>> {
    if axes.is_empty() {
        return Ok((0..rank).collect());
    }
    let mut out = Vec::with_capacity(axes.len());
    for &a in axes {
        let a = normalize_axis(op, a, rank)?;
        if out.contains(&a) {
            return invalid(format!("{op}: axis {a} given twice"));
        }
        out.push(a);
    }
    out.sort_unstable();
    Ok(out)
}

impl Layout {
    /// A contiguous row-major layout.
    pub fn contiguous(shape: &[usize]) -> Layout {
        Layout {
            shape: shape.to_vec(),
            strides: contiguous_strides(shape),
            offset: 0,
        }
    }

    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    pub fn numel(&self) -> usize {
        numel(&self.shape)
    }

    /// True when the elements are packed in row-major order (size-1 axes ignored).
    pub fn is_contiguous(&self) -> bool {
        let mut acc = 1;
        for i in (0..self.shape.len()).rev() {
            if self.shape[i] != 1 && self.strides[i] != acc {
                return false;
            }
            acc *= self.shape[i];
        }
        true
    }

    /// The view of this layout broadcast to `shape` (stride 0 on broadcast axes).
    pub fn broadcast_to(&self, shape: &[usize]) -> Result<Layout> {
        let rank = shape.len();
        if self.rank() > rank {
            return Err(Error::ShapeMismatch {
                op: "broadcast_to",
                lhs: self.shape.clone(),
                rhs: shape.to_vec(),
            });
        }
        let lead = rank - self.rank();
        let mut strides = vec![0; rank];
        for i in 0..rank {
            if i < lead {
                continue;
            }
            let (d, s) = (self.shape[i - lead], self.strides[i - lead]);
            if d == shape[i] {
                strides[i] = s;
            } else if d != 1 {
                return Err(Error::ShapeMismatch {
                    op: "broadcast_to",
                    lhs: self.shape.clone(),
                    rhs: shape.to_vec(),
                });
            }
        }
        Ok(Layout {
            shape: shape.to_vec(),
            strides,
            offset: self.offset,
        })
    }

    /// Permutes the axes: axis i of the result is axis `perm[i]` of this layout.
    pub fn permute(&self, perm: &[usize]) -> Result<Layout> {
        let mut seen = vec![false; self.rank()];
        if perm.len() != self.rank() {
            return invalid(format!(
                "permute: {perm:?} is not a permutation of the {} axes of shape {:?}",
                self.rank(),
                self.shape
            ));
        }
        for &p in perm {
            if p >= self.rank() || seen[p] {
                return invalid(format!(
                    "permute: {perm:?} is not a permutation of the {} axes of shape {:?}",
                    self.rank(),
                    self.shape
                ));
            }
            seen[p] = true;
        }
        Ok(Layout {
            shape: perm.iter().map(|&p| self.shape[p]).collect(),
            strides: perm.iter().map(|&p| self.strides[p]).collect(),
            offset: self.offset,
        })
    }

    /// The view of `len` entries from `start` along `axis`.
    pub fn narrow(&self, axis: usize, start: usize, len: usize) -> Result<Layout> {
        if start + len > self.shape[axis] {
            return invalid(format!(
                "narrow: range {start}..{} out of bounds for axis {axis} of size {}",
                start + len,
                self.shape[axis]
            ));
        }
        let mut out = self.clone();
        out.shape[axis] = len;
        if len > 0 {
            out.offset += start * self.strides[axis];
        }
        Ok(out)
    }

    /// Storage offset of the first element of each row (rows = all axes but the last),
    /// computed for row index `row`.
    #[inline]
    pub fn row_offset(&self, mut row: usize) -> usize {
        let mut off = self.offset;
        let r = self.rank();
        if r < 2 {
            return off;
        }
        for i in (0..r - 1).rev() {
            let d = self.shape[i];
            off += (row % d) * self.strides[i];
            row /= d;
        }
        off
    }

    /// Length and stride of the last axis (1, 0 for a scalar).
    #[inline]
    pub fn inner(&self) -> (usize, usize) {
        match self.rank() {
            0 => (1, 0),
            r => (self.shape[r - 1], self.strides[r - 1]),
        }
    }
}
