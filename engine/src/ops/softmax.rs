//! softmax, log_softmax and logsumexp along one axis, each a one-pass stable kernel (the row
//! maximum is subtracted first). Backward rules reuse the output:
//! softmax `y * (g - sum(g * y))`, log_softmax `g - exp(y) * sum(g)`, logsumexp `g * exp(x - y)`.

use super::check_float;
use crate::autograd::op::Op;
use crate::backend::cpu::index::split_at_axis;
use crate::backend::cpu::strided::to_contiguous;
use crate::backend::cpu::PAR_MIN;
use crate::error::Result;
use crate::layout::normalize_axis;
use crate::storage::{CpuStorage, Storage};
use crate::{Float, Tensor};
use rayon::prelude::*;

#[derive(Clone, Copy)]
enum Kind {
    Softmax,
    LogSoftmax,
    LogSumExp,
}

/// Applies the kernel to every line along the middle axis of `[pre, d, post]`.
fn along_axis<T: Float>(x: &[T], pre: usize, d: usize, post: usize, kind: Kind) -> Vec<T> {
    let out_per = if matches!(kind, Kind::LogSumExp) {
        post
    } else {
        d * post
    };
    let mut out = vec![T::zero(); pre * out_per];
    let block = |p: usize, o: &mut [T]| {
        let base = p * d * post;
        for q in 0..post {
            let at = |i: usize| x[base + i * post + q];
            let m = (0..d)
                .map(at)
                .fold(T::neg_infinity(), |a, b| if b > a { b } else { a });
            let m = if m.is_finite() { m } else { T::zero() };
            let s = (0..d)
                .map(|i| (at(i) - m).exp())
                .fold(T::zero(), |a, b| a + b);
            match kind {
                Kind::Softmax => (0..d).for_each(|i| o[i * post + q] = (at(i) - m).exp() / s),
                Kind::LogSoftmax => {
                    let l = s.ln() + m;
                    (0..d).for_each(|i| o[i * post + q] = at(i) - l)
                }
                Kind::LogSumExp => o[q] = s.ln() + m,
            }
        }
    };
    if out_per == 0 {
        return out;
    }
    if x.len() >= PAR_MIN {
        out.par_chunks_mut(out_per)
            .enumerate()
            .for_each(|(p, o)| block(p, o));
    } else {
        out.chunks_mut(out_per)
            .enumerate()
            .for_each(|(p, o)| block(p, o));
    }
    out
}

fn run(x: &Tensor, axis: isize, kind: Kind, name: &'static str) -> Result<(Storage, usize)> {
    check_float(name, x)?;
    let axis = normalize_axis(name, axis, x.rank())?;
    if x.device().is_cuda() {
        use crate::backend::cuda::softmax::{along_axis, RowFn};
        let f = match kind {
            Kind::Softmax => RowFn::Softmax,
            Kind::LogSoftmax => RowFn::LogSoftmax,
            Kind::LogSumExp => RowFn::LogSumExp,
        };
        return Ok((along_axis(x, axis, f)?, axis));
    }
    let (pre, d, post) = split_at_axis(x.shape(), axis);
    let l = x.layout();
    let data = match x.cpu() {
        CpuStorage::F32(v) => CpuStorage::F32(along_axis(&to_contiguous(v, l), pre, d, post, kind)),
        CpuStorage::F64(v) => CpuStorage::F64(along_axis(&to_contiguous(v, l), pre, d, post, kind)),
        CpuStorage::I64(_) => unreachable!("checked float"),
    };
    Ok((data.into(), axis))
}

impl Tensor {
    /// `exp(x) / sum(exp(x))` along `axis`.
    pub fn softmax(&self, axis: isize) -> Result<Tensor> {
        let (data, axis) = run(self, axis, Kind::Softmax, "softmax")?;
        Ok(Tensor::from_op(
            data,
            self.shape(),
            Op::Softmax { axis },
            &[self],
        ))
    }

    /// `x - logsumexp(x)` along `axis`.
    pub fn log_softmax(&self, axis: isize) -> Result<Tensor> {
        let (data, axis) = run(self, axis, Kind::LogSoftmax, "log_softmax")?;
        Ok(Tensor::from_op(
            data,
            self.shape(),
            Op::LogSoftmax { axis },
            &[self],
        ))
    }

    /// `log(sum(exp(x)))` along `axis`, computed stably.
    pub fn logsumexp(&self, axis: isize, keepdim: bool) -> Result<Tensor> {
        let (data, axis) = run(self, axis, Kind::LogSumExp, "logsumexp")?;
        let mut shape = self.shape().to_vec();
        if keepdim {
            shape[axis] = 1;
        } else {
            shape.remove(axis);
        }
        Ok(Tensor::from_op(
            data,
            &shape,
            Op::LogSumExp { axis, keepdim },
            &[self],
        ))
    }
}

/// Backward rules of the softmax family.
pub(crate) fn backward(
    op: &Op,
    x: &[Tensor],
    y: &Tensor,
    g: &Tensor,
) -> Result<Vec<Option<Tensor>>> {
    let grad = match op {
        Op::Softmax { axis } => {
            let a = *axis as isize;
            y.mul(&g.sub(&g.mul(y)?.sum(&[a], true)?)?)?
        }
        Op::LogSoftmax { axis } => {
            let a = *axis as isize;
            g.sub(&y.exp()?.mul(&g.sum(&[a], true)?)?)?
        }
        Op::LogSumExp { axis, keepdim } => {
            let (gk, yk) = if *keepdim {
                (g.clone(), y.clone())
            } else {
                let a = *axis as isize;
                (g.unsqueeze(a)?, y.unsqueeze(a)?)
            };
            gk.mul(&x[0].sub(&yk)?.exp()?)?
        }
        _ => unreachable!("not a softmax op: {}", op.name()),
    };
    Ok(vec![Some(grad)])
}

/// Gradcheck cases of the softmax family.
pub(crate) fn gradcheck_cases() -> Vec<super::cases::OpCase> {
    use super::cases::{normal, OpCase};
    vec![
        OpCase {
            op: "softmax",
            what: "[3,4] along axis 1",
            inputs: |r| vec![normal(r, &[3, 4])],
            f: |x| x[0].softmax(1),
        },
        OpCase {
            op: "softmax",
            what: "[3,1,2] along axis 0",
            inputs: |r| vec![normal(r, &[3, 1, 2])],
            f: |x| x[0].softmax(0),
        },
        OpCase {
            op: "log_softmax",
            what: "[2,5] along axis -1",
            inputs: |r| vec![normal(r, &[2, 5])],
            f: |x| x[0].log_softmax(-1),
        },
        OpCase {
            op: "logsumexp",
            what: "[3,4] along axis 1",
            inputs: |r| vec![normal(r, &[3, 4])],
            f: |x| x[0].logsumexp(1, false),
        },
        OpCase {
            op: "logsumexp",
            what: "[2,3,2] along axis 1 keepdim",
            inputs: |r| vec![normal(r, &[2, 3, 2])],
            f: |x| x[0].logsumexp(1, true),
        },
    ]
}
