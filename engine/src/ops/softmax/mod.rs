//! softmax, log_softmax and logsumexp along one axis, each a one-pass stable kernel (the row
//! maximum is subtracted first); MAXL's Mask SoftMax `softmax(z + table[label])` per row, fused
//! (one kernel, no `[N, K]` mask rows built); and the fused input gradients of softmax and
//! log_softmax. Backward rules reuse the output: softmax and Mask SoftMax (the mask is a
//! constant) `y * (g - sum(g * y))`, one fused op, `softmax_backward`; log_softmax
//! `g - exp(y) * sum(g)`, one fused op, `log_softmax_backward`; logsumexp `g * exp(x - y)`.
//! The two fused backward ops have backward rules of their own, tensor programs over primitive
//! ops and the fused op itself (softmax_backward's gradient in `g` is softmax_backward again),
//! so gradients of every order stay exact.

pub(crate) mod cases;
mod cpu_kernel;
mod cuda_kernel;

use super::checks::{check_float, check_same, in_bounds, indices, when};
use crate::autograd::op::OpKind;
use crate::backend::BackendStorage;
use crate::error::{Error, Result};
use crate::layout::{normalize_axis, Layout};
use crate::storage::{on_device, AsBackend, Storage};
use crate::{Op, Tensor};

/// Which row function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RowFn {
    Softmax,
    LogSoftmax,
    LogSumExp,
}

/// The softmax kernels of a backend.
pub(crate) trait SoftmaxKernel: BackendStorage {
    /// `f` along `axis` of the view `l`: the view's shape for softmax and log_softmax, the
    /// shape without the axis for logsumexp.
    fn along_axis(&self, l: &Layout, axis: usize, f: RowFn) -> Result<Self>;
    /// `g - exp(y) * sum(g)` along `axis`, `self` being log_softmax's output `y` (viewed as
    /// `ly`) and `g` (viewed as `lg`, of y's shape) its gradient.
    fn log_softmax_backward(&self, ly: &Layout, g: &Self, lg: &Layout, axis: usize)
        -> Result<Self>;
    /// `y * (g - sum(g * y))` along `axis`, `self` being softmax's output `y` (viewed as `ly`)
    /// and `g` (viewed as `lg`, of y's shape) its gradient.
    fn softmax_backward(&self, ly: &Layout, g: &Self, lg: &Layout, axis: usize) -> Result<Self>;
    /// `softmax(z + table[labels[r]])` of each row `r` of the `[rows, k]` view `l` of `z`
    /// (`self`), with `labels` `[rows]` (checked to be in `0..P`) and `table` `[P, k]`.
    fn masked_softmax(
        &self,
        l: &Layout,
        labels: (&Self, &Layout),
        table: (&Self, &Layout),
    ) -> Result<Self>;
}

/// The recorded ops of the family.
enum SoftmaxOp {
    Softmax {
        axis: usize,
    },
    LogSoftmax {
        axis: usize,
    },
    LogSumExp {
        axis: usize,
        keepdim: bool,
    },
    /// Inputs `[y, g]`.
    LogSoftmaxBackward {
        axis: usize,
    },
    /// Input `[z]`; the labels and the table are constants.
    MaskedSoftmax,
    /// Inputs `[y, g]`.
    SoftmaxBackward {
        axis: usize,
    },
}

fn run(x: &Tensor, axis: isize, f: RowFn, name: &'static str) -> Result<(Storage, usize)> {
    check_float(name, x)?;
    let axis = normalize_axis(name, axis, x.rank())?;
    let data = on_device!(x.storage(), |s| s
        .along_axis(x.layout(), axis, f)
        .map(Storage::from))?;
    Ok((data, axis))
}

impl Tensor {
    /// `exp(x) / sum(exp(x))` along `axis`.
    pub fn softmax(&self, axis: isize) -> Result<Tensor> {
        let (data, axis) = run(self, axis, RowFn::Softmax, "softmax")?;
        let op = SoftmaxOp::Softmax { axis };
        Ok(Tensor::from_op(data, self.shape(), op, &[self]))
    }

    /// `x - logsumexp(x)` along `axis`.
    pub fn log_softmax(&self, axis: isize) -> Result<Tensor> {
        let (data, axis) = run(self, axis, RowFn::LogSoftmax, "log_softmax")?;
        let op = SoftmaxOp::LogSoftmax { axis };
        Ok(Tensor::from_op(data, self.shape(), op, &[self]))
    }

    /// `log(sum(exp(x)))` along `axis`, computed stably.
    pub fn logsumexp(&self, axis: isize, keepdim: bool) -> Result<Tensor> {
        let (data, axis) = run(self, axis, RowFn::LogSumExp, "logsumexp")?;
        let mut shape = self.shape().to_vec();
        if keepdim {
            shape[axis] = 1;
        } else {
            shape.remove(axis);
        }
        let op = SoftmaxOp::LogSumExp { axis, keepdim };
        Ok(Tensor::from_op(data, &shape, op, &[self]))
    }

    /// The input gradient of [`Tensor::log_softmax`] along `axis`, `self` being its output `y`
    /// and `grad` the output's gradient: `grad - exp(y) * sum(grad)` (one fused op).
    pub fn log_softmax_backward(&self, grad: &Tensor, axis: isize) -> Result<Tensor> {
        let name = "log_softmax_backward";
        check_same(name, self, grad)?;
        check_float(name, self)?;
        if self.shape() != grad.shape() {
            return Err(Error::ShapeMismatch {
                op: name,
                lhs: self.shape().to_vec(),
                rhs: grad.shape().to_vec(),
            });
        }
        let axis = normalize_axis(name, axis, self.rank())?;
        let data = on_device!(self.storage(), |s| s
            .log_softmax_backward(
                self.layout(),
                grad.storage().as_backend()?,
                grad.layout(),
                axis
            )
            .map(Storage::from))?;
        let op = SoftmaxOp::LogSoftmaxBackward { axis };
        Ok(Tensor::from_op(data, self.shape(), op, &[self, grad]))
    }

    /// The input gradient of [`Tensor::softmax`] along `axis`, `self` being its output `y` and
    /// `grad` the output's gradient: `y * (grad - sum(grad * y))` (one fused op).
    pub fn softmax_backward(&self, grad: &Tensor, axis: isize) -> Result<Tensor> {
        let name = "softmax_backward";
        check_same(name, self, grad)?;
        check_float(name, self)?;
        if self.shape() != grad.shape() {
            return Err(Error::ShapeMismatch {
                op: name,
                lhs: self.shape().to_vec(),
                rhs: grad.shape().to_vec(),
            });
        }
        let axis = normalize_axis(name, axis, self.rank())?;
        let data = on_device!(self.storage(), |s| s
            .softmax_backward(
                self.layout(),
                grad.storage().as_backend()?,
                grad.layout(),
                axis
            )
            .map(Storage::from))?;
        let op = SoftmaxOp::SoftmaxBackward { axis };
        Ok(Tensor::from_op(data, self.shape(), op, &[self, grad]))
    }

    /// MAXL's Mask SoftMax, fused: row `r` of the `[N, K]` logits `self` becomes
    /// `softmax(self[r] + table[labels[r]])`, where `labels` are `N` i64 values in `0..P` and
    /// `table` is a `[P, K]` table of log-masks (0 on the label's own block, `ln(1e-8)` or
    /// `-inf` elsewhere) of the logits' dtype and device. The table and the labels are
    /// constants: only the logits get a gradient. The labels' values are checked on the host
    /// (from their host copy when they were uploaded: no device synchronisation).
    pub fn masked_softmax(&self, labels: &Tensor, table: &Tensor) -> Result<Tensor> {
        let name = "masked_softmax";
        check_float(name, self)?;
        check_same(name, self, table)?;
        let (rows, k) = match *self.shape() {
            [rows, k] => (rows, k),
            _ => {
                return Err(Error::Invalid(format!(
                    "{name}: logits must be [N, K], got shape {:?}",
                    self.shape()
                )))
            }
        };
        if labels.shape() != [rows] {
            return Err(Error::Invalid(format!(
                "{name}: {rows} rows of logits need labels of shape [{rows}], got {:?}",
                labels.shape()
            )));
        }
        if table.rank() != 2 || table.shape()[1] != k || table.shape()[0] == 0 {
            return Err(Error::Invalid(format!(
                "{name}: logits with {k} columns need a [P, {k}] mask table (P >= 1), got {:?}",
                table.shape()
            )));
        }
        in_bounds(name, &indices(labels, name)?, table.shape()[0])?;
        let labels = labels.to_device(self.device())?;
        let data = on_device!(self.storage(), |s| s
            .masked_softmax(
                self.layout(),
                (labels.storage().as_backend()?, labels.layout()),
                (table.storage().as_backend()?, table.layout()),
            )
            .map(Storage::from))?;
        Ok(Tensor::from_op(
            data,
            self.shape(),
            SoftmaxOp::MaskedSoftmax,
            &[self],
        ))
    }
}

impl Op for SoftmaxOp {
    fn kind(&self) -> OpKind {
        match self {
            SoftmaxOp::Softmax { .. } => OpKind::Softmax,
            SoftmaxOp::LogSoftmax { .. } => OpKind::LogSoftmax,
            SoftmaxOp::LogSumExp { .. } => OpKind::LogSumExp,
            SoftmaxOp::LogSoftmaxBackward { .. } => OpKind::LogSoftmaxBackward,
            SoftmaxOp::MaskedSoftmax => OpKind::MaskedSoftmax,
            SoftmaxOp::SoftmaxBackward { .. } => OpKind::SoftmaxBackward,
        }
    }

    fn backward(
        &self,
        x: &[Tensor],
        y: &Tensor,
        g: &Tensor,
        needs: &[bool],
    ) -> Result<Vec<Option<Tensor>>> {
        let one = |f: &dyn Fn() -> Result<Tensor>| Ok(vec![when(needs[0], f)?]);
        match self {
            SoftmaxOp::Softmax { axis } => one(&|| y.softmax_backward(g, *axis as isize)),
            SoftmaxOp::MaskedSoftmax => one(&|| y.softmax_backward(g, 1)),
            SoftmaxOp::LogSoftmax { axis } => one(&|| y.log_softmax_backward(g, *axis as isize)),
            SoftmaxOp::LogSumExp { axis, keepdim } => one(&|| {
                let (gk, yk) = if *keepdim {
                    (g.clone(), y.clone())
                } else {
                    let a = *axis as isize;
                    (g.unsqueeze(a)?, y.unsqueeze(a)?)
                };
                gk.mul(&x[0].sub(&yk)?.exp()?)
            }),
            SoftmaxOp::LogSoftmaxBackward { axis } => {
                // out = g - exp(y) * S with S = sum(g) along the axis; for the incoming `G`:
                // dy = -G * S * exp(y), dg = G - sum(G * exp(y)). Written in the order of the
                // composite it replaces (sub, mul, exp, sum), so that its values are the same.
                let (ys, gs, big) = (&x[0], &x[1], g);
                let a = *axis as isize;
                let e = ys.exp()?;
                let neg = big.neg()?;
                Ok(vec![
                    when(needs[0], || neg.mul(&gs.sum(&[a], true)?)?.mul(&e))?,
                    when(needs[1], || {
                        big.add(&neg.mul(&e)?.sum(&[a], true)?.broadcast_to(big.shape())?)
                    })?,
                ])
            }
            SoftmaxOp::SoftmaxBackward { axis } => {
                // out = y * (g - S) with S = sum(g * y) along the axis; for the incoming `G`
                // and T = sum(G * y): dy = G * (g - S) - g * T, dg = y * (G - T), which is
                // softmax_backward(y, G) itself.
                let (ys, gs, big) = (&x[0], &x[1], g);
                let a = *axis as isize;
                Ok(vec![
                    when(needs[0], || {
                        let s = gs.mul(ys)?.sum(&[a], true)?;
                        let t = big.mul(ys)?.sum(&[a], true)?;
                        big.mul(&gs.sub(&s)?)?.sub(&gs.mul(&t)?)
                    })?,
                    when(needs[1], || ys.softmax_backward(big, a))?,
                ])
            }
        }
    }
}
