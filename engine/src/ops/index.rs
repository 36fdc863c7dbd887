//! Index ops: index_select, gather, scatter_add (differentiable in their float operands; the
//! i64 indices are constants) and one_hot (a constant). Each one's backward is another of them:
//! index_select and gather scatter-add their gradient back, scatter_add gathers it.

use super::{check_float, check_index, check_same};
use crate::autograd::op::Op;
use crate::backend::cpu::{index as k, strided::to_contiguous};
use crate::backend::cuda::transfer::place;
use crate::error::{Error, Result};
use crate::layout::normalize_axis;
use crate::storage::CpuStorage;
use crate::{DType, Tensor};

fn indices(t: &Tensor, op: &'static str) -> Result<Vec<i64>> {
    check_index(op, t)?;
    t.to_vec::<i64>()
}

/// Every index within `0..size` (checked on the host before a device kernel reads them).
fn in_bounds(op: &'static str, idx: &[i64], size: usize) -> Result<()> {
    match idx.iter().find(|&&i| i < 0 || i as usize >= size) {
        Some(&i) => Err(Error::IndexOutOfRange { op, index: i, size }),
        None => Ok(()),
    }
}

impl Tensor {
    /// Entries `index` (a 1-D i64 tensor) along `axis`.
    pub fn index_select(&self, axis: isize, index: &Tensor) -> Result<Tensor> {
        check_float("index_select", self)?;
        let axis = normalize_axis("index_select", axis, self.rank())?;
        if index.rank() != 1 {
            return Err(Error::Invalid(format!(
                "index_select: index must be 1-D, got shape {:?}",
                index.shape()
            )));
        }
        let idx = indices(index, "index_select")?;
        let mut shape = self.shape().to_vec();
        shape[axis] = idx.len();
        let op = Op::IndexSelect {
            axis,
            index: index.detach(),
        };
        if self.device().is_cuda() {
            in_bounds("index_select", &idx, self.shape()[axis])?;
            let mut s = vec![1; self.rank()];
            s[axis] = idx.len();
            let e = index.detach().reshape(&s)?.broadcast_to(&shape)?;
            let data = crate::backend::cuda::index::gather(self, axis, &e)?;
            return Ok(Tensor::from_op(data, &shape, op, &[self]));
        }
        let host = self.host()?;
        let l = host.layout();
        let data = match host.cpu() {
            CpuStorage::F32(v) => CpuStorage::F32(k::index_select(
                &to_contiguous(v, l),
                l.shape.as_slice(),
                axis,
                &idx,
            )?),
            CpuStorage::F64(v) => CpuStorage::F64(k::index_select(
                &to_contiguous(v, l),
                l.shape.as_slice(),
                axis,
                &idx,
            )?),
            CpuStorage::I64(_) => unreachable!("checked float"),
        };
        Ok(Tensor::from_op(data, &shape, op, &[self]))
    }

    /// `out[p] = self[p with axis -> index[p]]` (PyTorch's gather); the result has the index's
    /// shape, which may be smaller than `self` on the other axes.
    pub fn gather(&self, axis: isize, index: &Tensor) -> Result<Tensor> {
        check_float("gather", self)?;
        let axis = normalize_axis("gather", axis, self.rank())?;
        k::check_index_shape("gather", self.shape(), index.shape(), axis)?;
        let idx = indices(index, "gather")?;
        if self.device().is_cuda() {
            in_bounds("gather", &idx, self.shape()[axis])?;
            let data = crate::backend::cuda::index::gather(self, axis, index)?;
            let op = Op::Gather {
                axis,
                index: index.detach(),
            };
            return Ok(Tensor::from_op(data, index.shape(), op, &[self]));
        }
        let host = self.host()?;
        let l = host.layout();
        let ish = index.shape();
        let data = match host.cpu() {
            CpuStorage::F32(v) => {
                CpuStorage::F32(k::gather(&to_contiguous(v, l), &l.shape, axis, &idx, ish)?)
            }
            CpuStorage::F64(v) => {
                CpuStorage::F64(k::gather(&to_contiguous(v, l), &l.shape, axis, &idx, ish)?)
            }
            CpuStorage::I64(_) => unreachable!("checked float"),
        };
        let data = place(data, self.device())?;
        let op = Op::Gather {
            axis,
            index: index.detach(),
        };
        Ok(Tensor::from_op(data, ish, op, &[self]))
    }

    /// `self` with `src[p]` added at `p with axis -> index[p]` (PyTorch's scatter_add);
    /// `src` must have the index's shape.
    pub fn scatter_add(&self, axis: isize, index: &Tensor, src: &Tensor) -> Result<Tensor> {
        check_same("scatter_add", self, src)?;
        check_float("scatter_add", self)?;
        let axis = normalize_axis("scatter_add", axis, self.rank())?;
        k::check_index_shape("scatter_add", self.shape(), index.shape(), axis)?;
        if src.shape() != index.shape() {
            return Err(Error::ShapeMismatch {
                op: "scatter_add",
                lhs: index.shape().to_vec(),
                rhs: src.shape().to_vec(),
            });
        }
        let idx = indices(index, "scatter_add")?;
        let full = (0..self.rank()).all(|d| d == axis || index.shape()[d] == self.shape()[d]);
        if self.device().is_cuda() && full {
            in_bounds("scatter_add", &idx, self.shape()[axis])?;
            let data = crate::backend::cuda::index::scatter_add(self, axis, index, src)?;
            let op = Op::ScatterAdd {
                axis,
                index: index.detach(),
            };
            return Ok(Tensor::from_op(data, self.shape(), op, &[self, src]));
        }
        // Other shapes on a CUDA device go through the host.
        let (hx, hs) = (self.host()?, src.host()?);
        let (l, ls, ish) = (hx.layout(), hs.layout(), index.shape());
        let data = match (hx.cpu(), hs.cpu()) {
            (CpuStorage::F32(x), CpuStorage::F32(s)) => CpuStorage::F32(k::scatter_add(
                &to_contiguous(x, l),
                &l.shape,
                axis,
                &idx,
                ish,
                &to_contiguous(s, ls),
            )?),
            (CpuStorage::F64(x), CpuStorage::F64(s)) => CpuStorage::F64(k::scatter_add(
                &to_contiguous(x, l),
                &l.shape,
                axis,
                &idx,
                ish,
                &to_contiguous(s, ls),
            )?),
            _ => unreachable!("dtypes checked"),
        };
        let data = place(data, self.device())?;
        let op = Op::ScatterAdd {
            axis,
            index: index.detach(),
        };
        Ok(Tensor::from_op(data, self.shape(), op, &[self, src]))
    }

    /// One-hot rows of width `classes` for i64 labels: shape `labels.shape + [classes]`, on
    /// the labels' device.
    pub fn one_hot(labels: &Tensor, classes: usize, dtype: DType) -> Result<Tensor> {
        let idx = indices(labels, "one_hot")?;
        let vals = k::one_hot(&idx, classes)?;
        let mut shape = labels.shape().to_vec();
        shape.push(classes);
        Tensor::from_f64s(&vals, &shape, dtype).to_device(labels.device())
    }
}

/// The 1-D index of `index_select`, laid along `axis` and broadcast to `shape`.
fn expand_index(index: &Tensor, axis: usize, shape: &[usize]) -> Result<Tensor> {
    let mut s = vec![1; shape.len()];
    s[axis] = index.numel();
    let e = index.reshape(&s)?.broadcast_to(shape)?;
    Tensor::from_vec(e.to_vec::<i64>()?, shape)
}

/// Backward rules of the index ops.
pub(crate) fn backward(
    op: &Op,
    x: &[Tensor],
    _y: &Tensor,
    g: &Tensor,
) -> Result<Vec<Option<Tensor>>> {
    match op {
        Op::IndexSelect { axis, index } => {
            let e = expand_index(index, *axis, g.shape())?;
            let gx = x[0].zeros_like()?.scatter_add(*axis as isize, &e, g)?;
            Ok(vec![Some(gx)])
        }
        Op::Gather { axis, index } => {
            let gx = x[0].zeros_like()?.scatter_add(*axis as isize, index, g)?;
            Ok(vec![Some(gx)])
        }
        Op::ScatterAdd { axis, index } => Ok(vec![
            Some(g.clone()),
            Some(g.gather(*axis as isize, index)?),
        ]),
        _ => unreachable!("not an index op: {}", op.name()),
    }
}

/// Gradcheck cases of the index ops.
pub(crate) fn gradcheck_cases() -> Vec<super::cases::OpCase> {
    use super::cases::{indices, normal, OpCase};
    vec![
        OpCase {
            op: "index_select",
            what: "[4,3] rows [2,0,2,3,1]",
            inputs: |r| {
                vec![
                    normal(r, &[4, 3]),
                    Tensor::from_vec(vec![2i64, 0, 2, 3, 1], &[5]).unwrap(),
                ]
            },
            f: |x| x[0].index_select(0, &x[1]),
        },
        OpCase {
            op: "index_select",
            what: "[2,5,1] along axis 1",
            inputs: |r| vec![normal(r, &[2, 5, 1]), indices(r, &[3], 5)],
            f: |x| x[0].index_select(1, &x[1]),
        },
        OpCase {
            op: "gather",
            what: "[3,4] along axis 1, index [3,2]",
            inputs: |r| vec![normal(r, &[3, 4]), indices(r, &[3, 2], 4)],
            f: |x| x[0].gather(1, &x[1]),
        },
        OpCase {
            op: "gather",
            what: "[3,2] along axis 0, index [5,2]",
            inputs: |r| vec![normal(r, &[3, 2]), indices(r, &[5, 2], 3)],
            f: |x| x[0].gather(0, &x[1]),
        },
        OpCase {
            op: "gather",
            what: "[4,5] along axis 1, index [2,3] (smaller on axis 0)",
            inputs: |r| vec![normal(r, &[4, 5]), indices(r, &[2, 3], 5)],
            f: |x| x[0].gather(1, &x[1]),
        },
        OpCase {
            op: "scatter_add",
            what: "[3,4] along axis 1, src [3,5]",
            inputs: |r| {
                vec![
                    normal(r, &[3, 4]),
                    indices(r, &[3, 5], 4),
                    normal(r, &[3, 5]),
                ]
            },
            f: |x| x[0].scatter_add(1, &x[1], &x[2]),
        },
    ]
}
