//! Batch normalisation over axis 1 of `[N, C, ...]` (PyTorch's `batch_norm`; running statistics
//! come back as new tensors). Training mode is a fused op whose backward rules are tensor programs
//! over a few more fused ops, so every order is exact; eval mode is a per-channel affine map.
//!
//! The batch statistics (`BnStats`) and the per-channel gradient sums (`Sums`) are op-level
//! constants held as device storage: f64 host buffers on the CPU, buffers of the input's dtype
//! (the sums: f64 partials) on a CUDA device, where nothing is copied to the host.

pub(crate) mod cases;
mod cpu_kernel;
mod cuda_kernel;
#[cfg(test)]
mod tests;

use super::checks::{check_float, check_same, when};
use super::reduce::record_sum;
use crate::autograd::op::OpKind;
use crate::backend::BackendStorage;
use crate::error::{invalid, Error, Result};
use crate::layout::Layout;
use crate::storage::{on_device, AsBackend, Storage};
use crate::{Op, Tensor};
use std::sync::Arc;

/// A buffer with its view.
type View<'a, S> = (&'a S, &'a Layout);

/// One term `w * invstd * P(g)` of a batch-norm input gradient, with
/// `P(v) = v - mean(v) - xhat * mean(v * xhat)` per channel: the per-channel weight, the
/// gradient and its sums.
pub(crate) struct BnTerm<'a, S> {
    pub w: View<'a, S>,
    pub g: View<'a, S>,
    pub sums: &'a S,
    pub chunks: usize,
}

/// Which per-channel value to finish from a gradient's sums.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SumOut {
    /// `sum(g * xhat)`: the weight gradient.
    Weight,
    /// `sum(g)`: the bias gradient.
    Bias,
}

/// The batch-norm kernels of a backend, on `x` viewed as `[n, c, l]` (`ncl`).
pub(crate) trait NormKernel: BackendStorage {
    /// Per-channel mean and `invstd = (var + eps)^(-1/2)` (biased variance); with `running`
    /// (running mean and variance, and the momentum) also their updated values,
    /// `(1 - momentum) old + momentum batch` (the unbiased variance for the running one).
    #[allow(clippy::type_complexity)]
    fn bn_stats(
        &self,
        l: &Layout,
        ncl: [usize; 3],
        eps: f64,
        running: Option<([View<'_, Self>; 2], f64)>,
    ) -> Result<([Self; 2], Option<[Self; 2]>)>;
    /// `y = (x - mean) invstd w + b` per channel.
    #[allow(clippy::too_many_arguments)]
    fn bn_affine(
        &self,
        l: &Layout,
        w: View<'_, Self>,
        b: View<'_, Self>,
        mean: &Self,
        invstd: &Self,
        ncl: [usize; 3],
    ) -> Result<Self>;
    /// The per-channel sums `(sum g, sum g (x - mean))` of a gradient `g` of x's shape, as
    /// partial sums of fixed chunks: the buffer and the number of chunks per channel.
    fn bn_grad_sums(
        &self,
        l: &Layout,
        g: View<'_, Self>,
        mean: &Self,
        ncl: [usize; 3],
    ) -> Result<(Self, usize)>;
    /// `what` per channel from `self`, the sums of a gradient in `chunks` chunks, as a `[c]`
    /// buffer of `x`'s dtype.
    fn bn_sums_finish(
        &self,
        chunks: usize,
        invstd: &Self,
        ncl: [usize; 3],
        x_dtype: crate::DType,
        what: SumOut,
    ) -> Result<Self>;
    /// `sum_i w_i invstd P(g_i) + cx * xhat` over one or two terms, in one pass where it can.
    #[allow(clippy::too_many_arguments)]
    fn bn_backward_input(
        &self,
        l: &Layout,
        terms: &[BnTerm<'_, Self>],
        cx: Option<View<'_, Self>>,
        mean: &Self,
        invstd: &Self,
        ncl: [usize; 3],
    ) -> Result<Self>;
}

/// Per-channel statistics of a batch-norm input, kept by its ops for their kernels (the
/// backward rules recompute them with tensor ops where they must be differentiated).
pub(crate) struct BnStats {
    pub mean: Storage,
    /// `(var + eps)^(-1/2)`, with the biased variance.
    pub invstd: Arc<Storage>,
}

/// Per-channel `(sum g, sum g * (x - mean))` of a gradient `g` of `x`'s shape, in `chunks`
/// partial sums per channel: shared by the input gradient, the weight gradient and the bias
/// gradient, so one pass serves all three.
pub(crate) struct Sums {
    data: Storage,
    chunks: usize,
}

/// `(N, C, L)`: batch, channels, and the product of the remaining axes.
fn ncl(op: &'static str, x: &Tensor) -> Result<[usize; 3]> {
    if x.rank() < 2 {
        return invalid(format!(
            "{op}: input must have a batch and a channel axis, got shape {:?}",
            x.shape()
        ));
    }
    let s = x.shape();
    Ok([s[0], s[1], s[2..].iter().product()])
}

/// `[1, C, 1, ...]`: the shape a per-channel vector broadcasts from.
fn channel_shape(x: &Tensor) -> Vec<usize> {
    let mut s = vec![1; x.rank()];
    s[1] = x.shape()[1];
    s
}

/// Per-channel sum over every axis but 1, reading `t` in memory order.
fn channel_sum(t: &Tensor) -> Result<Tensor> {
    let [n, c, l] = ncl("batch_norm", t)?;
    t.reshape(&[n, c, l])?.sum(&[2], false)?.sum(&[0], false)
}

/// `v` (`[C]`) shaped to broadcast against `x`.
fn per_channel(v: &Tensor, x: &Tensor) -> Result<Tensor> {
    v.reshape(&channel_shape(x))
}

fn check_channel_vec(op: &'static str, x: &Tensor, v: Option<&Tensor>) -> Result<()> {
    if let Some(v) = v {
        check_same(op, x, v)?;
        if v.shape() != [x.shape()[1]] {
            return Err(Error::ShapeMismatch {
                op,
                lhs: x.shape().to_vec(),
                rhs: v.shape().to_vec(),
            });
        }
    }
    Ok(())
}

/// Updated running mean and variance.
type Running = Option<(Tensor, Tensor)>;

/// The batch statistics of `x`, and the updated running statistics when they are given.
fn stats_and_running(
    x: &Tensor,
    eps: f64,
    running: Option<(&Tensor, &Tensor, f64)>,
) -> Result<(Arc<BnStats>, Running)> {
    let op = "batch_norm";
    check_float(op, x)?;
    let shape = ncl(op, x)?;
    let ([mean, invstd], new_running) = on_device!(x.storage(), |s| {
        let running = match running {
            Some((rm, rv, momentum)) => Some((
                [
                    (rm.storage().as_backend()?, rm.layout()),
                    (rv.storage().as_backend()?, rv.layout()),
                ],
                momentum,
            )),
            None => None,
        };
        s.bn_stats(x.layout(), shape, eps, running).map(|(st, r)| {
            (
                st.map(Storage::from),
                r.map(|[m, v]| [Storage::from(m), Storage::from(v)]),
            )
        })
    })?;
    let stats = Arc::new(BnStats {
        mean,
        invstd: Arc::new(invstd),
    });
    let c = shape[1];
    let new_running =
        new_running.map(|[m, v]| (Tensor::from_storage(m, &[c]), Tensor::from_storage(v, &[c])));
    Ok((stats, new_running))
}

/// The batch statistics of `x`.
pub(crate) fn stats_of(x: &Tensor, eps: f64) -> Result<Arc<BnStats>> {
    Ok(stats_and_running(x, eps, None)?.0)
}

/// The recorded batch-norm ops; the statistics are constants.
#[allow(clippy::enum_variant_names)]
enum BnOp {
    /// Batch norm on batch statistics; inputs `[x, weight, bias]`.
    BatchNorm { stats: Arc<BnStats> },
    /// Input gradient of `BatchNorm`; inputs `[x, weight, grad_out]` or, fused two-term form,
    /// `[x, w1, g1, w2, g2, c]`.
    BatchNormBackward { stats: Arc<BnStats> },
    /// Weight gradient of `BatchNorm`, `sum(grad_out * xhat)` per channel; inputs
    /// `[x, grad_out]`.
    BatchNormWeightGrad { stats: Arc<BnStats> },
    /// `(var(x) + eps)^(-1/2)` per channel, from the kept statistics; input `[x]`.
    BatchNormInvstd { stats: Arc<BnStats> },
}

/// Fused `weight * xhat + bias` with the batch statistics `stats` of `x`.
fn fused_forward(x: &Tensor, w: &Tensor, b: &Tensor, stats: &Arc<BnStats>) -> Result<Tensor> {
    let shape = ncl("batch_norm", x)?;
    let data = on_device!(x.storage(), |s| s
        .bn_affine(
            x.layout(),
            (w.storage().as_backend()?, w.layout()),
            (b.storage().as_backend()?, b.layout()),
            stats.mean.as_backend()?,
            stats.invstd.as_backend()?,
            shape
        )
        .map(Storage::from))?;
    let op = BnOp::BatchNorm {
        stats: stats.clone(),
    };
    Ok(Tensor::from_op(data, x.shape(), op, &[x, w, b]))
}

/// The sums of a gradient `g` of `x`'s shape.
pub(crate) fn sums_of(x: &Tensor, g: &Tensor, stats: &BnStats) -> Result<Sums> {
    check_same("batch_norm_backward", x, g)?;
    let shape = ncl("batch_norm", x)?;
    let (data, chunks) = on_device!(x.storage(), |s| s
        .bn_grad_sums(
            x.layout(),
            (g.storage().as_backend()?, g.layout()),
            stats.mean.as_backend()?,
            shape
        )
        .map(|(d, c)| (Storage::from(d), c)))?;
    Ok(Sums { data, chunks })
}

/// The input gradient of `terms` (weights, gradients and their sums) plus `c * xhat`.
fn backward_input(
    x: &Tensor,
    terms: &[(&Tensor, &Tensor, &Sums)],
    c: Option<&Tensor>,
    stats: &BnStats,
) -> Result<Storage> {
    let shape = ncl("batch_norm_backward", x)?;
    for (_, g, _) in terms {
        check_same("batch_norm_backward", x, g)?;
    }
    on_device!(x.storage(), |s| {
        let ts = terms
            .iter()
            .map(|(w, g, sums)| {
                Ok(BnTerm {
                    w: (w.storage().as_backend()?, w.layout()),
                    g: (g.storage().as_backend()?, g.layout()),
                    sums: sums.data.as_backend()?,
                    chunks: sums.chunks,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let cx = match c {
            Some(t) => Some((t.storage().as_backend()?, t.layout())),
            None => None,
        };
        s.bn_backward_input(
            x.layout(),
            &ts,
            cx,
            stats.mean.as_backend()?,
            stats.invstd.as_backend()?,
            shape,
        )
        .map(Storage::from)
    })
}

/// Fused input gradient `w * invstd * (g - mean(g) - xhat * mean(g * xhat))`, given `g`'s sums.
fn fused_backward(
    x: &Tensor,
    w: &Tensor,
    g: &Tensor,
    stats: &Arc<BnStats>,
    sums: &Sums,
) -> Result<Tensor> {
    let data = backward_input(x, &[(w, g, sums)], None, stats)?;
    let op = BnOp::BatchNormBackward {
        stats: stats.clone(),
    };
    Ok(Tensor::from_op(data, x.shape(), op, &[x, w, g]))
}

/// Two input-gradient terms and an `xhat` term in one op:
/// `w1 r P(g1) + w2 r P(g2) + c xhat`, recorded as one batch-norm backward node with inputs
/// `[x, w1, g1, w2, g2, c]` (its backward is the sum of the terms' backward rules).
pub(crate) fn fused_backward2(
    x: &Tensor,
    (w1, g1, s1): (&Tensor, &Tensor, &Sums),
    (w2, g2, s2): (&Tensor, &Tensor, &Sums),
    c: &Tensor,
    stats: &Arc<BnStats>,
) -> Result<Tensor> {
    let data = backward_input(x, &[(w1, g1, s1), (w2, g2, s2)], Some(c), stats)?;
    let op = BnOp::BatchNormBackward {
        stats: stats.clone(),
    };
    Ok(Tensor::from_op(
        data,
        x.shape(),
        op,
        &[x, w1, g1, w2, g2, c],
    ))
}

/// `what` per channel from a gradient's sums, as a `[C]` buffer of `x`'s dtype on its device.
fn finish_sums(x: &Tensor, sums: &Sums, stats: &BnStats, what: SumOut) -> Result<Storage> {
    let shape = ncl("batch_norm", x)?;
    on_device!(sums.data, |s| s
        .bn_sums_finish(
            sums.chunks,
            stats.invstd.as_backend()?,
            shape,
            x.dtype(),
            what
        )
        .map(Storage::from))
}

/// Weight gradient `sum(g * xhat)` per channel, from `g`'s sums.
fn fused_weight_grad(x: &Tensor, g: &Tensor, stats: &Arc<BnStats>, sums: &Sums) -> Result<Tensor> {
    let data = finish_sums(x, sums, stats, SumOut::Weight)?;
    let op = BnOp::BatchNormWeightGrad {
        stats: stats.clone(),
    };
    Ok(Tensor::from_op(data, &[x.shape()[1]], op, &[x, g]))
}

/// `sum(g)` over every axis but 1, from `g`'s sums, recorded as that sum.
fn channel_sum_from(g: &Tensor, stats: &BnStats, sums: &Sums) -> Result<Tensor> {
    let data = finish_sums(g, sums, stats, SumOut::Bias)?;
    let axes: Vec<usize> = (0..g.rank()).filter(|&a| a != 1).collect();
    Ok(record_sum(data, &[g.shape()[1]], g, axes, false))
}

/// `invstd` per channel as a differentiable function of `x` (the kept statistics are its value).
fn invstd_of(x: &Tensor, stats: &Arc<BnStats>) -> Result<Tensor> {
    let c = x.shape()[1];
    let l = Layout::contiguous(&[c]);
    let op = BnOp::BatchNormInvstd {
        stats: stats.clone(),
    };
    if stats.invstd.dtype() == x.dtype() {
        return Ok(Tensor::view_from_op(stats.invstd.clone(), l, op, &[x]));
    }
    let data = stats.invstd.to_dtype(&l, x.dtype())?;
    Ok(Tensor::from_op(data, &[c], op, &[x]))
}

fn check_eps(op: &'static str, eps: f64) -> Result<()> {
    if !(eps.is_finite() && eps >= 0.0) {
        return invalid(format!("{op}: eps must be finite and >= 0, got {eps}"));
    }
    Ok(())
}

/// Checks a training-mode input: float, rank >= 2, more than one value per channel.
fn check_train_input(op: &'static str, x: &Tensor) -> Result<[usize; 3]> {
    check_float(op, x)?;
    let [n, c, l] = ncl(op, x)?;
    if n * l <= 1 {
        return invalid(format!(
            "{op}: expected more than 1 value per channel when training, got input shape {:?}",
            x.shape()
        ));
    }
    Ok([n, c, l])
}

/// Batch normalisation over axis 1 of `x` `[N, C, ...]`, as PyTorch's `F.batch_norm`.
///
/// Training mode normalises with the batch mean and biased variance; when `running_mean` and
/// `running_var` are given it also returns their updated values,
/// `(1 - momentum) * old + momentum * batch` (the unbiased variance for the running one).
/// Eval mode normalises with the running statistics (both required) and returns `None`.
/// `weight` and `bias` (`[C]`) default to 1 and 0.
#[allow(clippy::too_many_arguments)]
pub fn batch_norm(
    x: &Tensor,
    running_mean: Option<&Tensor>,
    running_var: Option<&Tensor>,
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    training: bool,
    momentum: f64,
    eps: f64,
) -> Result<(Tensor, Option<(Tensor, Tensor)>)> {
    let op = "batch_norm";
    check_float(op, x)?;
    check_eps(op, eps)?;
    let [_, c, _] = ncl(op, x)?;
    for v in [running_mean, running_var, weight, bias] {
        check_channel_vec(op, x, v)?;
    }
    if !training {
        let (Some(rm), Some(rv)) = (running_mean, running_var) else {
            return invalid("batch_norm: eval mode needs running_mean and running_var");
        };
        let inv = rv.add_scalar(eps)?.pow(-0.5)?;
        let scale = match weight {
            Some(w) => w.mul(&inv)?,
            None => inv,
        };
        let shift = rm.mul(&scale)?.neg()?;
        let shift = match bias {
            Some(b) => b.add(&shift)?,
            None => shift,
        };
        let y = x
            .mul(&per_channel(&scale, x)?)?
            .add(&per_channel(&shift, x)?)?;
        return Ok((y, None));
    }
    if !momentum.is_finite() {
        return invalid(format!(
            "batch_norm: momentum must be finite, got {momentum}"
        ));
    }
    check_train_input(op, x)?;
    let running = match (running_mean, running_var) {
        (Some(rm), Some(rv)) => Some((rm, rv, momentum)),
        (None, None) => None,
        _ => {
            return invalid(
                "batch_norm: give both running_mean and running_var, or neither".to_string(),
            )
        }
    };
    let (stats, new_running) = stats_and_running(x, eps, running)?;
    let ones = Tensor::full_on(&[c], 1.0, x.dtype(), x.device())?;
    let zeros = Tensor::full_on(&[c], 0.0, x.dtype(), x.device())?;
    let y = fused_forward(x, weight.unwrap_or(&ones), bias.unwrap_or(&zeros), &stats)?;
    Ok((y, new_running))
}

impl Tensor {
    /// [`batch_norm`] of this tensor.
    #[allow(clippy::too_many_arguments)]
    pub fn batch_norm(
        &self,
        running_mean: Option<&Tensor>,
        running_var: Option<&Tensor>,
        weight: Option<&Tensor>,
        bias: Option<&Tensor>,
        training: bool,
        momentum: f64,
        eps: f64,
    ) -> Result<(Tensor, Option<(Tensor, Tensor)>)> {
        batch_norm(
            self,
            running_mean,
            running_var,
            weight,
            bias,
            training,
            momentum,
            eps,
        )
    }
}

/// The input gradient of training-mode [`batch_norm`] for the output gradient `grad_out`:
/// `weight * invstd * (g - mean(g) - xhat * mean(g * xhat))` per channel (a fused op).
pub fn batch_norm_backward(
    x: &Tensor,
    weight: Option<&Tensor>,
    grad_out: &Tensor,
    eps: f64,
) -> Result<Tensor> {
    let op = "batch_norm_backward";
    check_channel_vec(op, x, weight)?;
    let (stats, sums) = checked_stats_and_sums(op, x, grad_out, eps)?;
    let ones;
    let w = match weight {
        Some(w) => w,
        None => {
            ones = Tensor::full_on(&[x.shape()[1]], 1.0, x.dtype(), x.device())?;
            &ones
        }
    };
    fused_backward(x, w, grad_out, &stats, &sums)
}

/// The input checks of the public gradient ops, then `x`'s statistics and `grad_out`'s sums.
fn checked_stats_and_sums(
    op: &'static str,
    x: &Tensor,
    grad_out: &Tensor,
    eps: f64,
) -> Result<(Arc<BnStats>, Sums)> {
    check_same(op, x, grad_out)?;
    check_eps(op, eps)?;
    check_train_input(op, x)?;
    if x.shape() != grad_out.shape() {
        return Err(Error::ShapeMismatch {
            op,
            lhs: x.shape().to_vec(),
            rhs: grad_out.shape().to_vec(),
        });
    }
    let stats = stats_of(x, eps)?;
    let sums = sums_of(x, grad_out, &stats)?;
    Ok((stats, sums))
}

/// The weight gradient of training-mode [`batch_norm`]: `sum(grad_out * xhat)` per channel.
pub fn batch_norm_weight_grad(x: &Tensor, grad_out: &Tensor, eps: f64) -> Result<Tensor> {
    let (stats, sums) = checked_stats_and_sums("batch_norm_weight_grad", x, grad_out, eps)?;
    fused_weight_grad(x, grad_out, &stats, &sums)
}

/// `(var(x) + eps)^(-1/2)` per channel of `x` `[N, C, ...]` (biased variance over every axis but
/// 1), differentiable: the normalising factor of training-mode [`batch_norm`].
pub fn batch_norm_invstd(x: &Tensor, eps: f64) -> Result<Tensor> {
    check_eps("batch_norm_invstd", eps)?;
    check_train_input("batch_norm_invstd", x)?;
    invstd_of(x, &stats_of(x, eps)?)
}

/// Backward rules of the batch-norm ops. With `P(v) = v - mean(v) - xhat mean(v xhat)` per
/// channel (a symmetric projection), `r = invstd` and `M` values per channel, the input gradient
/// `w r P(g)` has the vector-Jacobian product
/// `dg = w r P(G)`, `dw = A = <G, r P(g)>`,
/// `dx = -(r / M) (w A xhat + w <G, xhat> r P(g) + <g, xhat> w r P(G))`,
/// where `A = r (<G, g> - sum(G) sum(g) / M - <G, xhat> <g, xhat> / M)`. Every term is one of
/// the fused ops (whose per-channel sums are shared) or a per-channel vector op.
impl Op for BnOp {
    fn kind(&self) -> OpKind {
        match self {
            BnOp::BatchNorm { .. } => OpKind::BatchNorm,
            BnOp::BatchNormBackward { .. } => OpKind::BatchNormBackward,
            BnOp::BatchNormWeightGrad { .. } => OpKind::BatchNormWeightGrad,
            BnOp::BatchNormInvstd { .. } => OpKind::BatchNormInvstd,
        }
    }

    fn backward(
        &self,
        x: &[Tensor],
        y: &Tensor,
        g: &Tensor,
        needs: &[bool],
    ) -> Result<Vec<Option<Tensor>>> {
        match self {
            BnOp::BatchNorm { stats } => {
                let (xi, w) = (&x[0], &x[1]);
                let s = sums_of(xi, g, stats)?;
                Ok(vec![
                    when(needs[0], || fused_backward(xi, w, g, stats, &s))?,
                    when(needs[1], || fused_weight_grad(xi, g, stats, &s))?,
                    when(needs[2], || channel_sum_from(g, stats, &s))?,
                ])
            }
            BnOp::BatchNormWeightGrad { stats } => {
                let (xi, gi) = (&x[0], &x[1]);
                let dx = when(needs[0], || {
                    let s = sums_of(xi, gi, stats)?;
                    fused_backward(xi, g, gi, stats, &s)
                })?;
                let dg = when(needs[1], || {
                    let zeros = g.zeros_like()?;
                    fused_forward(xi, g, &zeros, stats)
                })?;
                Ok(vec![dx, dg])
            }
            BnOp::BatchNormInvstd { stats } => {
                // d r / d x = -r^2 xhat / M per channel: a batch norm of x with weight -G r^2 / M.
                let xi = &x[0];
                let gx = when(needs[0], || {
                    let m = (xi.numel() / xi.shape()[1].max(1)) as f64;
                    let w = g.mul(&y.mul(y)?)?.mul_scalar(-1.0 / m)?;
                    let zeros = g.zeros_like()?;
                    fused_forward(xi, &w, &zeros, stats)
                })?;
                Ok(vec![gx])
            }
            BnOp::BatchNormBackward { stats } if x.len() == 6 => {
                // w1 r P(g1) + w2 r P(g2) + c xhat: the sum of the terms' rules.
                let (xi, c) = (&x[0], &x[5]);
                let n3 = |a: usize, b: usize| [needs[0], needs[a], needs[b]];
                let [dx1, dw1, dg1] = bnb_vjp(xi, &x[1], &x[2], g, stats, n3(1, 2))?;
                let [dx2, dw2, dg2] = bnb_vjp(xi, &x[3], &x[4], g, stats, n3(3, 4))?;
                let (dx3, dc) = if needs[0] || needs[5] {
                    let s = sums_of(xi, g, stats)?;
                    (
                        when(needs[0], || fused_backward(xi, c, g, stats, &s))?,
                        when(needs[5], || fused_weight_grad(xi, g, stats, &s))?,
                    )
                } else {
                    (None, None)
                };
                let dx = match (dx1, dx2, dx3) {
                    (Some(a), Some(b), Some(c)) => Some(a.add(&b)?.add(&c)?),
                    _ => None,
                };
                Ok(vec![dx, dw1, dg1, dw2, dg2, dc])
            }
            BnOp::BatchNormBackward { stats } => {
                let n = [needs[0], needs[1], needs[2]];
                let [dx, dw, dg] = bnb_vjp(&x[0], &x[1], &x[2], g, stats, n)?;
                Ok(vec![dx, dw, dg])
            }
        }
    }
}

/// The vector-Jacobian product of `w r P(g)` (inputs `x`, `w`, `g`) with `big` (the incoming
/// gradient, `G` in the formulas above): `[dx, dw, dg]`, each where `needs` asks for it.
fn bnb_vjp(
    xi: &Tensor,
    w: &Tensor,
    gi: &Tensor,
    big: &Tensor,
    stats: &Arc<BnStats>,
    [nx, nw, ng]: [bool; 3],
) -> Result<[Option<Tensor>; 3]> {
    let c = xi.shape()[1];
    let m = (xi.numel() / c.max(1)) as f64;
    let s_big = sums_of(xi, big, stats)?;
    let dg = when(ng, || fused_backward(xi, w, big, stats, &s_big))?;
    if !nx && !nw {
        return Ok([None, None, dg]);
    }
    let s_g = sums_of(xi, gi, stats)?;
    let b_big = fused_weight_grad(xi, big, stats, &s_big)?; // <G, xhat>
    let c_g = fused_weight_grad(xi, gi, stats, &s_g)?; // <g, xhat>
    let sum_big = channel_sum_from(big, stats, &s_big)?;
    let sum_g = channel_sum_from(gi, stats, &s_g)?;
    let r = invstd_of(xi, stats)?;
    let dot = channel_sum(&big.mul(gi)?)?; // <G, g>
    let a = r.mul(
        &dot.sub(&sum_big.mul(&sum_g)?.mul_scalar(1.0 / m)?)?
            .sub(&b_big.mul(&c_g)?.mul_scalar(1.0 / m)?)?,
    )?;
    let dx = when(nx, || {
        // -(r / M) (w A xhat + w <G, xhat> r P(g) + <g, xhat> w r P(G)), in one pass.
        let s = r.mul_scalar(-1.0 / m)?;
        let sw = s.mul(w)?;
        fused_backward2(
            xi,
            (&sw.mul(&b_big)?, gi, &s_g),
            (&s.mul(&c_g)?.mul(w)?, big, &s_big),
            &sw.mul(&a)?,
            stats,
        )
    })?;
    Ok([dx, nw.then_some(a), dg])
}
