//! Shape ops: reshape, permute/transpose, broadcast_to, narrow (views where the layout allows),
//! concat and stack. Their backward rules are shape ops too: reshape back, the inverse
//! permutation, `sum_to`, zero-padding by concat, and narrow.

use super::check_same;
use crate::autograd::op::Op;
use crate::backend::cpu::{index, strided};
use crate::error::{invalid, Error, Result};
use crate::layout::{normalize_axis, numel, Layout};
use crate::storage::CpuStorage;
use crate::Tensor;

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
        let op = Op::Reshape {
            from: self.shape().to_vec(),
        };
        if self.layout().is_contiguous() {
            let mut l = Layout::contiguous(shape);
            l.offset = self.layout().offset;
            Ok(Tensor::view_from_op(self.storage().clone(), l, op, &[self]))
        } else {
            // A dense copy (on the tensor's device), viewed in the new shape.
            let dense = self.detach().contiguous()?;
            Ok(Tensor::view_from_op(
                dense.storage().clone(),
                Layout::contiguous(shape),
                op,
                &[self],
            ))
        }
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
            Op::Permute {
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
            Op::BroadcastTo {
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
            Op::Narrow { axis, start, len },
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
        if first.device().is_cuda() {
            let data = crate::backend::cuda::transfer::concat(tensors, axis, &shape)?;
            return Ok(Tensor::from_op(
                data,
                &shape,
                Op::Concat { axis, sizes },
                &inputs,
            ));
        }
        let parts: Vec<CpuStorage> = tensors
            .iter()
            .map(|t| strided::contiguous_storage(t.cpu(), t.layout()))
            .collect();
        macro_rules! join {
            ($variant:ident) => {{
                let views: Vec<(&[_], &[usize])> = parts
                    .iter()
                    .zip(tensors)
                    .map(|(p, t)| match p {
                        CpuStorage::$variant(v) => (v.as_slice(), t.shape()),
                        _ => unreachable!("dtypes checked"),
                    })
                    .collect();
                CpuStorage::$variant(index::concat(&views, axis))
            }};
        }
        let data = match &parts[0] {
            CpuStorage::F32(_) => join!(F32),
            CpuStorage::F64(_) => join!(F64),
            CpuStorage::I64(_) => join!(I64),
        };
        Ok(Tensor::from_op(
            data,
            &shape,
            Op::Concat { axis, sizes },
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

/// Backward rules of the shape ops.
pub(crate) fn backward(
    op: &Op,
    x: &[Tensor],
    _y: &Tensor,
    g: &Tensor,
) -> Result<Vec<Option<Tensor>>> {
    match op {
        Op::Reshape { from } => Ok(vec![Some(g.reshape(from)?)]),
        Op::Permute { perm } => {
            let mut inv = vec![0; perm.len()];
            for (i, &p) in perm.iter().enumerate() {
                inv[p] = i;
            }
            Ok(vec![Some(g.permute(&inv)?)])
        }
        Op::BroadcastTo { from } => Ok(vec![Some(g.sum_to(from)?)]),
        Op::Narrow { axis, start, len } => {
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
            Ok(vec![Some(Tensor::concat(&parts, *axis as isize)?)])
        }
        Op::Concat { axis, sizes } => {
            let mut off = 0;
            let mut out = Vec::with_capacity(sizes.len());
            for &s in sizes {
                out.push(Some(g.narrow(*axis as isize, off, s)?));
                off += s;
            }
            Ok(out)
        }
        _ => unreachable!("not a shape op: {}", op.name()),
    }
}

/// Gradcheck cases of the shape ops.
pub(crate) fn gradcheck_cases() -> Vec<super::cases::OpCase> {
    use super::cases::{normal, OpCase};
    vec![
        OpCase {
            op: "reshape",
            what: "[2,3,2] to [3,4]",
            inputs: |r| vec![normal(r, &[2, 3, 2])],
            f: |x| x[0].reshape(&[3, 4]),
        },
        OpCase {
            op: "reshape",
            what: "of a transposed view (copy)",
            inputs: |r| vec![normal(r, &[3, 4])],
            f: |x| x[0].t()?.reshape(&[2, 6]),
        },
        OpCase {
            op: "flatten",
            what: "[2,3,1,2] axes 1..3",
            inputs: |r| vec![normal(r, &[2, 3, 1, 2])],
            f: |x| x[0].flatten(1, -1),
        },
        OpCase {
            op: "permute",
            what: "[2,3,4] by [2,0,1]",
            inputs: |r| vec![normal(r, &[2, 3, 4])],
            f: |x| {
                let w = Tensor::arange(1.0, 4.0, 1.0, x[0].dtype())?.to_device(x[0].device())?;
                x[0].permute(&[2, 0, 1])?.mul(&w)
            },
        },
        OpCase {
            op: "transpose",
            what: "[3,1,4] axes 0,2",
            inputs: |r| vec![normal(r, &[3, 1, 4])],
            f: |x| x[0].transpose(0, 2),
        },
        OpCase {
            op: "broadcast_to",
            what: "[3,1] to [2,3,4]",
            inputs: |r| vec![normal(r, &[3, 1])],
            f: |x| x[0].broadcast_to(&[2, 3, 4]),
        },
        OpCase {
            op: "narrow",
            what: "[4,5] axis 1 from 1 len 3",
            inputs: |r| vec![normal(r, &[4, 5])],
            f: |x| x[0].narrow(1, 1, 3),
        },
        OpCase {
            op: "narrow",
            what: "[4,2] axis 0 from 0 len 1",
            inputs: |r| vec![normal(r, &[4, 2])],
            f: |x| x[0].narrow(0, 0, 1),
        },
        OpCase {
            op: "concat",
            what: "[2,1], [2,3], [2,2] along axis 1",
            inputs: |r| vec![normal(r, &[2, 1]), normal(r, &[2, 3]), normal(r, &[2, 2])],
            f: |x| Tensor::concat(x, 1),
        },
        OpCase {
            op: "stack",
            what: "three [2,3] along axis 1",
            inputs: |r| vec![normal(r, &[2, 3]), normal(r, &[2, 3]), normal(r, &[2, 3])],
            f: |x| Tensor::stack(x, 1),
        },
    ]
}
