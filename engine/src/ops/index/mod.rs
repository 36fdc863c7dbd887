//! Index ops: index_select, gather, scatter_add (differentiable in their float operands; the
//! i64 indices are constants) and one_hot (a constant, a scatter_add of ones on the device). Each one's backward is another of them:
//! index_select and gather scatter-add their gradient back, scatter_add gathers it. Indices are
//! checked on the host before any kernel reads them (an index tensor uploaded to a device keeps
//! its host values, so this costs no device synchronisation).

pub(crate) mod cases;
mod cpu_kernel;
mod cuda_kernel;

use super::checks::{check_float, check_same, in_bounds, indices, when};
use crate::autograd::op::OpKind;
use crate::backend::BackendStorage;
use crate::error::{Error, Result};
use crate::layout::{normalize_axis, Layout};
use crate::storage::{on_device, AsBackend, Storage};
use crate::{DType, Op, Tensor};

/// The index kernels of a backend. `host` holds the index's values (row-major, checked to be
/// in range); `index` is the same index on the operand's device.
pub(crate) trait IndexKernel: BackendStorage {
    /// Entries `index` (1-D) along `axis` of the view `l`.
    fn index_select(
        &self,
        l: &Layout,
        axis: usize,
        index: &Self,
        li: &Layout,
        host: &[i64],
    ) -> Result<Self>;
    /// `out[p] = x[p with axis -> index[p]]`, of the index's shape (which may be smaller than
    /// `x` on the other axes).
    #[allow(clippy::too_many_arguments)]
    fn gather(
        &self,
        l: &Layout,
        axis: usize,
        index: &Self,
        li: &Layout,
        host: &[i64],
    ) -> Result<Self>;
    /// `x` with `src[p]` added at `p with axis -> index[p]`, in index order (`src` has the
    /// index's shape).
    #[allow(clippy::too_many_arguments)]
    fn scatter_add(
        &self,
        l: &Layout,
        axis: usize,
        index: (&Self, &Layout),
        host: &[i64],
        src: &Self,
        ls: &Layout,
    ) -> Result<Self>;
}

/// Checks that an index tensor fits `x` for gather/scatter along `axis`.
fn check_index_shape(
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

/// The recorded index ops; the index is a constant.
enum IndexOp {
    IndexSelect { axis: usize, index: Tensor },
    Gather { axis: usize, index: Tensor },
    ScatterAdd { axis: usize, index: Tensor },
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
        in_bounds("index_select", &idx, self.shape()[axis])?;
        let mut shape = self.shape().to_vec();
        shape[axis] = idx.len();
        let ix = index.to_device(self.device())?;
        let data = on_device!(self.storage(), |s| s
            .index_select(
                self.layout(),
                axis,
                ix.storage().as_backend()?,
                ix.layout(),
                &idx
            )
            .map(Storage::from))?;
        let op = IndexOp::IndexSelect {
            axis,
            index: index.detach(),
        };
        Ok(Tensor::from_op(data, &shape, op, &[self]))
    }

    /// `out[p] = self[p with axis -> index[p]]` (PyTorch's gather); the result has the index's
    /// shape, which may be smaller than `self` on the other axes.
    pub fn gather(&self, axis: isize, index: &Tensor) -> Result<Tensor> {
        check_float("gather", self)?;
        let axis = normalize_axis("gather", axis, self.rank())?;
        check_index_shape("gather", self.shape(), index.shape(), axis)?;
        let idx = indices(index, "gather")?;
        in_bounds("gather", &idx, self.shape()[axis])?;
        let ix = index.to_device(self.device())?;
        let data = on_device!(self.storage(), |s| s
            .gather(
                self.layout(),
                axis,
                ix.storage().as_backend()?,
                ix.layout(),
                &idx
            )
            .map(Storage::from))?;
        let op = IndexOp::Gather {
            axis,
            index: index.detach(),
        };
        Ok(Tensor::from_op(data, index.shape(), op, &[self]))
    }

    /// `self` with `src[p]` added at `p with axis -> index[p]` (PyTorch's scatter_add);
    /// `src` must have the index's shape.
    pub fn scatter_add(&self, axis: isize, index: &Tensor, src: &Tensor) -> Result<Tensor> {
        check_same("scatter_add", self, src)?;
        check_float("scatter_add", self)?;
        let axis = normalize_axis("scatter_add", axis, self.rank())?;
        check_index_shape("scatter_add", self.shape(), index.shape(), axis)?;
        if src.shape() != index.shape() {
            return Err(Error::ShapeMismatch {
                op: "scatter_add",
                lhs: index.shape().to_vec(),
                rhs: src.shape().to_vec(),
            });
        }
        let idx = indices(index, "scatter_add")?;
        in_bounds("scatter_add", &idx, self.shape()[axis])?;
        let ix = index.to_device(self.device())?;
        let data = on_device!(self.storage(), |s| s
            .scatter_add(
                self.layout(),
                axis,
                (ix.storage().as_backend()?, ix.layout()),
                &idx,
                src.storage().as_backend()?,
                src.layout()
            )
            .map(Storage::from))?;
        let op = IndexOp::ScatterAdd {
            axis,
            index: index.detach(),
        };
        Ok(Tensor::from_op(data, self.shape(), op, &[self, src]))
    }

    /// One-hot rows of width `classes` for i64 labels: shape `labels.shape + [classes]`, made
    /// on the labels' device (zeros with ones scattered in: nothing built on the host).
    pub fn one_hot(labels: &Tensor, classes: usize, dtype: DType) -> Result<Tensor> {
        let idx = indices(labels, "one_hot")?;
        in_bounds("one_hot", &idx, classes)?;
        if !dtype.is_float() {
            return Err(Error::UnsupportedDType {
                op: "one_hot",
                dtype,
            });
        }
        let mut shape = labels.shape().to_vec();
        shape.push(classes);
        let dev = labels.device();
        let at = labels.detach().unsqueeze(-1)?;
        let ones = Tensor::full_on(at.shape(), 1.0, dtype, dev)?;
        Tensor::full_on(&shape, 0.0, dtype, dev)?.scatter_add(-1, &at, &ones)
    }
}

/// The 1-D index of `index_select`, laid along `axis` and broadcast to `shape`.
fn expand_index(index: &Tensor, axis: usize, shape: &[usize]) -> Result<Tensor> {
    let mut s = vec![1; shape.len()];
    s[axis] = index.numel();
    let e = index.reshape(&s)?.broadcast_to(shape)?;
    Tensor::from_vec(e.to_vec::<i64>()?, shape)
}

impl Op for IndexOp {
    fn kind(&self) -> OpKind {
        match self {
            IndexOp::IndexSelect { .. } => OpKind::IndexSelect,
            IndexOp::Gather { .. } => OpKind::Gather,
            IndexOp::ScatterAdd { .. } => OpKind::ScatterAdd,
        }
    }

    fn backward(
        &self,
        x: &[Tensor],
        _y: &Tensor,
        g: &Tensor,
        needs: &[bool],
    ) -> Result<Vec<Option<Tensor>>> {
        Ok(match self {
            IndexOp::IndexSelect { axis, index } => vec![when(needs[0], || {
                let e = expand_index(index, *axis, g.shape())?;
                x[0].zeros_like()?.scatter_add(*axis as isize, &e, g)
            })?],
            IndexOp::Gather { axis, index } => vec![when(needs[0], || {
                x[0].zeros_like()?.scatter_add(*axis as isize, index, g)
            })?],
            IndexOp::ScatterAdd { axis, index } => vec![
                when(needs[0], || Ok(g.clone()))?,
                when(needs[1], || g.gather(*axis as isize, index))?,
            ],
        })
    }
}
