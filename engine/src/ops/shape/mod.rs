//! Shape ops: reshape, permute/transpose, broadcast_to, narrow (views where the layout allows),
//! `contiguous`, concat and stack. Their backward rules are shape ops too: reshape back, the
//! inverse permutation, `sum_to`, zero-padding by concat, and narrow.

pub(crate) mod cases;
mod cpu_kernel;
mod cuda_kernel;

use super::checks::{check_same, when};
use crate::autograd::op::OpKind;
use crate::backend::BackendStorage;
use crate::error::{invalid, Error, Result};
use crate::layout::{normalize_axis, numel, Layout};
use crate::storage::{on_device, AsBackend, Storage};
use crate::{Op, Tensor};

/// The concat kernel of a backend (the other shape ops are views or strided copies).
pub(crate) trait ShapeKernel: BackendStorage {
    /// `self` (the first part) and the other `parts` (views of shapes equal but along `axis`)
    /// joined along `axis` into a dense buffer of `shape`.
    fn concat(
        &self,
        l: &Layout,
        parts: &[(&Self, &Layout)],
        axis: usize,
        shape: &[usize],
    ) -> Result<Self>;
}

/// The recorded shape ops.
enum ShapeOp {
    Reshape {
        from: Vec<usize>,
    },
    Permute {
        perm: Vec<usize>,
    },
    BroadcastTo {
        from: Vec<usize>,
    },
    Narrow {
        axis: usize,
        start: usize,
        len: usize,
    },
    Concat {
        axis: usize,
        sizes: Vec<usize>,
    },
}

impl Tensor {
    /// The same elements in a new shape; a view when the tensor is contiguous, else a copy.
    pub fn reshape(&self, shape: &[usize]) -> Result<Tensor> {
        if numel(shape) != self.numel() {
            return Err(Error::ShapeMismatch {
                op: "reshape",
                lhs: self.shape().to_vec(),
                rhs: shape.to_vec(),
            });
        }
        let op = ShapeOp::Reshape {
            from: self.shape().to_vec(),
        };
        if self.layout().is_contiguous() {
            let mut l = Layout::contiguous(shape);
            l.offset = self.layout().offset;
            Ok(Tensor::view_from_op(self.storage().clone(), l, op, &[self]))
        } else {
            // A dense copy (on the tensor's device), viewed in the new shape.
            let dense = self.storage().copy_strided(self.layout())?;
            Ok(Tensor::view_from_op(
                std::sync::Arc::new(dense),
                Layout::contiguous(shape),
                op,
                &[self],
            ))
        }
    }

    /// A contiguous copy of the data (recorded as a reshape, so it stays differentiable), or
    /// this tensor if it is contiguous already.
    pub fn contiguous(&self) -> Result<Tensor> {
        if self.layout().is_contiguous() {
            return Ok(self.clone());
        }
        let shape = self.shape().to_vec();
        let data = self.storage().copy_strided(self.layout())?;
        let op = ShapeOp::Reshape {
            from: shape.clone(),
        };
        Ok(Tensor::from_op(data, &shape, op, &[self]))
    }

    /// Flattens axes `start..=end` (negative counts from the end) into one.
    pub fn flatten(&self, start: isize, end: isize) -> Result<Tensor> {
        if self.rank() == 0 {
            return self.reshape(&[1]);
        }
        let s = normalize_axis("flatten", start, self.rank())?;
        let e = normalize_axis("flatten", end, self.rank())?;
        if s > e {
            return invalid(format!("flatten: start axis {s} after end axis {e}"));
        }
        let sh = self.shape();
        let mut new: Vec<usize> = sh[..s].to_vec();
        new.push(sh[s..=e].iter().product());
        new.extend_from_slice(&sh[e + 1..]);
        self.reshape(&new)
    }

    /// Inserts a size-1 axis at `axis` (0..=rank; negative counts from the end).
    pub fn unsqueeze(&self, axis: isize) -> Result<Tensor> {
        let a = normalize_axis("unsqueeze", axis, self.rank() + 1)?;
        let mut s = self.shape().to_vec();
        s.insert(a, 1);
        self.reshape(&s)
    }

    /// Removes a size-1 axis.
    pub fn squeeze(&self, axis: isize) -> Result<Tensor> {
        let a = normalize_axis("squeeze", axis, self.rank())?;
        if self.shape()[a] != 1 {
            return invalid(format!(
                "squeeze: axis {a} of shape {:?} is not 1",
                self.shape()
            ));
        }
        let mut s = self.shape().to_vec();
        s.remove(a);
        self.reshape(&s)
    }

    /// Reorders the axes (a view): axis i of the result is axis `perm[i]`.
    pub fn permute(&self, perm: &[usize]) -> Result<Tensor> {
        let l = self.layout().permute(perm)?;
        Ok(Tensor::view_from_op(
            self.storage().clone(),
            l,
            ShapeOp::Permute {
                perm: perm.to_vec(),
            },
            &[self],
        ))
    }

    /// Swaps two axes (a view).
    pub fn transpose(&self, a: isize, b: isize) -> Result<Tensor> {
        let a = normalize_axis("transpose", a, self.rank())?;
        let b = normalize_axis("transpose", b, self.rank())?;
        let mut perm: Vec<usize> = (0..self.rank()).collect();
        perm.swap(a, b);
        self.permute(&perm)
    }

    /// Swaps the last two axes (a view).
    pub fn t(&self) -> Result<Tensor> {
        if self.rank() < 2 {
            return invalid(format!(
                "t: needs at least 2 axes, shape {:?}",
                self.shape()
            ));
        }
        self.transpose(-2, -1)
    }

    /// Broadcasts to `shape` (a view with stride 0 on the broadcast axes).
    pub fn broadcast_to(&self, shape: &[usize]) -> Result<Tensor> {
        if self.shape() == shape {
            return Ok(self.clone());
        }
        let l = self.layout().broadcast_to(shape)?;
        Ok(Tensor::view_from_op(
            self.storage().clone(),
            l,
            ShapeOp::BroadcastTo {
                from: self.shape().to_vec(),
            },
            &[self],
        ))
    }

    /// `len` entries from `start` along `axis` (a view).
    pub fn narrow(&self, axis: isize, start: usize, len: usize) -> Result<Tensor> {
        let axis = normalize_axis("narrow", axis, self.rank())?;
        let l = self.layout().narrow(axis, start, len)?;
        Ok(Tensor::view_from_op(
            self.storage().clone(),
            l,
            ShapeOp::Narrow { axis, start, len },
            &[self],
        ))
    }

    /// Python-style slice `start..end` along `axis` (a view).
    pub fn slice(&self, axis: isize, start: usize, end: usize) -> Result<Tensor> {
        if end < start {
            return invalid(format!("slice: end {end} before start {start}"));
        }
        self.narrow(axis, start, end - start)
    }

    /// Joins tensors of equal shape but along `axis`.
    pub fn concat(tensors: &[Tensor], axis: isize) -> Result<Tensor> {
        let first = tensors
            .first()
            .ok_or_else(|| Error::Invalid("concat: no tensors given".into()))?;
        let axis = normalize_axis("concat", axis, first.rank())?;
        for t in &tensors[1..] {
            check_same("concat", first, t)?;
            let same = t.rank() == first.rank()
                && (0..t.rank()).all(|d| d == axis || t.shape()[d] == first.shape()[d]);
            if !same {
                return Err(Error::ShapeMismatch {
                    op: "concat",
                    lhs: first.shape().to_vec(),
                    rhs: t.shape().to_vec(),
                });
            }
        }
        let sizes: Vec<usize> = tensors.iter().map(|t| t.shape()[axis]).collect();
        let mut shape = first.shape().to_vec();
        shape[axis] = sizes.iter().sum();
        let inputs: Vec<&Tensor> = tensors.iter().collect();
        let data = on_device!(first.storage(), |s| {
            let rest = tensors[1..]
                .iter()
                .map(|t| Ok((t.storage().as_backend()?, t.layout())))
                .collect::<Result<Vec<_>>>()?;
            s.concat(first.layout(), &rest, axis, &shape)
                .map(Storage::from)
        })?;
        Ok(Tensor::from_op(
            data,
            &shape,
            ShapeOp::Concat { axis, sizes },
            &inputs,
        ))
    }

    /// Stacks tensors of one shape along a new axis.
    pub fn stack(tensors: &[Tensor], axis: isize) -> Result<Tensor> {
        let first = tensors
            .first()
            .ok_or_else(|| Error::Invalid("stack: no tensors given".into()))?;
        let a = normalize_axis("stack", axis, first.rank() + 1)? as isize;
        for t in tensors {
            if t.shape() != first.shape() {
                return Err(Error::ShapeMismatch {
                    op: "stack",
                    lhs: first.shape().to_vec(),
                    rhs: t.shape().to_vec(),
                });
            }
        }
        let parts = tensors
            .iter()
            .map(|t| t.unsqueeze(a))
            .collect::<Result<Vec<_>>>()?;
        Tensor::concat(&parts, a)
    }
}

impl Op for ShapeOp {
    fn kind(&self) -> OpKind {
        match self {
            ShapeOp::Reshape { .. } => OpKind::Reshape,
            ShapeOp::Permute { .. } => OpKind::Permute,
            ShapeOp::BroadcastTo { .. } => OpKind::BroadcastTo,
            ShapeOp::Narrow { .. } => OpKind::Narrow,
            ShapeOp::Concat { .. } => OpKind::Concat,
        }
    }

    fn backward(
        &self,
        x: &[Tensor],
        _y: &Tensor,
        g: &Tensor,
        needs: &[bool],
    ) -> Result<Vec<Option<Tensor>>> {
        let one = |f: &dyn Fn() -> Result<Tensor>| Ok(vec![when(needs[0], f)?]);
        match self {
            ShapeOp::Reshape { from } => one(&|| g.reshape(from)),
            ShapeOp::Permute { perm } => one(&|| {
                let mut inv = vec![0; perm.len()];
                for (i, &p) in perm.iter().enumerate() {
                    inv[p] = i;
                }
                g.permute(&inv)
            }),
            ShapeOp::BroadcastTo { from } => one(&|| g.sum_to(from)),
            ShapeOp::Narrow { axis, start, len } => one(&|| {
                let full = x[0].shape()[*axis];
                let pad = |n: usize| {
                    let mut s = g.shape().to_vec();
                    s[*axis] = n;
                    Tensor::full_on(&s, 0.0, g.dtype(), g.device())
                };
                let mut parts = Vec::with_capacity(3);
                if *start > 0 {
                    parts.push(pad(*start)?);
                }
                parts.push(g.clone());
                if start + len < full {
                    parts.push(pad(full - start - len)?);
                }
                Tensor::concat(&parts, *axis as isize)
            }),
            ShapeOp::Concat { axis, sizes } => {
                let mut off = 0;
                let mut out = Vec::with_capacity(sizes.len());
                for (&s, &need) in sizes.iter().zip(needs) {
                    out.push(when(need, || g.narrow(*axis as isize, off, s))?);
                    off += s;
                }
                Ok(out)
            }
        }
    }
}
