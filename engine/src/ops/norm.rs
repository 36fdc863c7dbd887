//! Batch normalisation over axis 1 of `[N, C, ...]` (PyTorch's `batch_norm`; running statistics
//! come back as new tensors). Training mode is a fused op whose backward rules are tensor programs
//! over a few more fused ops, so every order is exact; eval mode is a per-channel affine map.

use super::{check_float, check_same};
use crate::autograd::op::{BnStats, Op};
use crate::backend::cpu::norm as k;
use crate::backend::cpu::strided::to_contiguous;
use crate::backend::cuda::norm as cuda;
use crate::backend::cuda::transfer::place;
use crate::error::{invalid, Error, Result};
use crate::storage::{CpuStorage, Storage};
use crate::{Float, Tensor};
use std::sync::Arc;

/// `(N, C, L)`: batch, channels, and the product of the remaining axes.
fn ncl(op: &'static str, x: &Tensor) -> Result<(usize, usize, usize)> {
    if x.rank() < 2 {
        return invalid(format!(
            "{op}: input must have a batch and a channel axis, got shape {:?}",
            x.shape()
        ));
    }
    let s = x.shape();
    Ok((s[0], s[1], s[2..].iter().product()))
}

/// `[1, C, 1, ...]`: the shape a per-channel vector broadcasts from.
fn channel_shape(x: &Tensor) -> Vec<usize> {
    let mut s = vec![1; x.rank()];
    s[1] = x.shape()[1];
    s
}

/// Per-channel sum over every axis but 1, reading `t` in memory order.
fn channel_sum(t: &Tensor) -> Result<Tensor> {
    let (n, c, l) = ncl("batch_norm", t)?;
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

fn stats_of(x: &Tensor, eps: f64) -> Result<Arc<BnStats>> {
    let (n, c, l) = ncl("batch_norm", x)?;
    let lx = x.layout();
    let (mean, var) = match x.cpu_or_none() {
        None if x.dtype().is_float() => cuda::channel_stats(x, n, c, l)?,
        None => {
            return Err(Error::UnsupportedDType {
                op: "batch_norm",
                dtype: x.dtype(),
            })
        }
        Some(s) => match s {
            CpuStorage::F32(v) => k::channel_stats(&to_contiguous(v, lx), n, c, l),
            CpuStorage::F64(v) => k::channel_stats(&to_contiguous(v, lx), n, c, l),
            CpuStorage::I64(_) => {
                return Err(Error::UnsupportedDType {
                    op: "batch_norm",
                    dtype: x.dtype(),
                })
            }
        },
    };
    let invstd = var.iter().map(|v| 1.0 / (v + eps).sqrt()).collect();
    Ok(Arc::new(BnStats {
        mean,
        var,
        invstd,
        eps,
    }))
}

/// The values of a `[C]` tensor as `T`.
fn vec_of<T: Float>(t: &Tensor) -> Vec<T> {
    t.to_f64_vec().into_iter().map(T::from_f64).collect()
}

/// Fused `weight * xhat + bias` with the batch statistics `stats` of `x`.
fn fused_forward(x: &Tensor, w: &Tensor, b: &Tensor, stats: &Arc<BnStats>) -> Result<Tensor> {
    let (n, c, l) = ncl("batch_norm", x)?;
    fn go<T: Float>(x: &[T], w: &Tensor, b: &Tensor, s: &BnStats, ncl: [usize; 3]) -> Vec<T> {
        let (wv, bv) = (vec_of::<f64>(w), vec_of::<f64>(b));
        let scale: Vec<T> = (0..ncl[1])
            .map(|i| T::from_f64(wv[i] * s.invstd[i]))
            .collect();
        let shift: Vec<T> = (0..ncl[1])
            .map(|i| T::from_f64(bv[i] - s.mean[i] * wv[i] * s.invstd[i]))
            .collect();
        k::affine(x, ncl[0], ncl[1], ncl[2], &scale, &shift)
    }
    let lx = x.layout();
    let op = Op::BatchNorm {
        stats: stats.clone(),
    };
    if x.device().is_cuda() {
        let data = cuda::affine(x, w, b, [n, c, l], &stats.mean, &stats.invstd)?;
        return Ok(Tensor::from_op(data, x.shape(), op, &[x, w, b]));
    }
    let data = match x.cpu() {
        CpuStorage::F32(v) => CpuStorage::F32(go(&to_contiguous(v, lx), w, b, stats, [n, c, l])),
        CpuStorage::F64(v) => CpuStorage::F64(go(&to_contiguous(v, lx), w, b, stats, [n, c, l])),
        CpuStorage::I64(_) => unreachable!("checked float"),
    };
    Ok(Tensor::from_op(data, x.shape(), op, &[x, w, b]))
}

/// Per-channel `(sum g, sum g * (x - mean))` of a gradient `g` of `x`'s shape: shared by the
/// input gradient, the weight gradient and the bias gradient, so one pass serves all three.
struct Sums(Vec<(f64, f64)>);

fn sums_of(x: &Tensor, g: &Tensor, stats: &BnStats) -> Result<Sums> {
    let (n, c, l) = ncl("batch_norm", x)?;
    if x.device().is_cuda() {
        return Ok(Sums(cuda::grad_sums(x, g, [n, c, l], &stats.mean)?));
    }
    let (lx, lg) = (x.layout(), g.layout());
    let s = match (x.cpu(), g.cpu()) {
        (CpuStorage::F32(xv), CpuStorage::F32(gv)) => k::grad_sums(
            &to_contiguous(xv, lx),
            &to_contiguous(gv, lg),
            n,
            c,
            l,
            &stats.mean,
        ),
        (CpuStorage::F64(xv), CpuStorage::F64(gv)) => k::grad_sums(
            &to_contiguous(xv, lx),
            &to_contiguous(gv, lg),
            n,
            c,
            l,
            &stats.mean,
        ),
        _ => unreachable!("dtypes checked"),
    };
    Ok(Sums(s))
}

/// Fused input gradient `w * invstd * (g - mean(g) - xhat * mean(g * xhat))`, given `g`'s sums.
fn fused_backward(
    x: &Tensor,
    w: &Tensor,
    g: &Tensor,
    stats: &Arc<BnStats>,
    sums: &Sums,
) -> Result<Tensor> {
    let data = backward_kernel(x, &[(w, g, sums)], None, stats)?;
    let op = Op::BatchNormBackward {
        stats: stats.clone(),
    };
    Ok(Tensor::from_op(data, x.shape(), op, &[x, w, g]))
}

/// Two input-gradient terms and an `xhat` term in one pass:
/// `w1 r P(g1) + w2 r P(g2) + c xhat`, recorded as one batch-norm backward node with inputs
/// `[x, w1, g1, w2, g2, c]` (its backward is the sum of the terms' backward rules).
#[allow(clippy::too_many_arguments)]
fn fused_backward2(
    x: &Tensor,
    (w1, g1, s1): (&Tensor, &Tensor, &Sums),
    (w2, g2, s2): (&Tensor, &Tensor, &Sums),
    c: &Tensor,
    stats: &Arc<BnStats>,
) -> Result<Tensor> {
    let data = backward_kernel(x, &[(w1, g1, s1), (w2, g2, s2)], Some(c), stats)?;
    let op = Op::BatchNormBackward {
        stats: stats.clone(),
    };
    Ok(Tensor::from_op(
        data,
        x.shape(),
        op,
        &[x, w1, g1, w2, g2, c],
    ))
}

fn backward_kernel(
    x: &Tensor,
    terms: &[(&Tensor, &Tensor, &Sums)],
    c: Option<&Tensor>,
    stats: &BnStats,
) -> Result<Storage> {
    let (n, ch, l) = ncl("batch_norm_backward", x)?;
    let cx = c.map(|t| t.to_f64_vec());
    if x.device().is_cuda() {
        return cuda_backward(x, terms, cx.as_deref(), [n, ch, l], stats);
    }
    macro_rules! go {
        ($v:ident, $t:ty) => {{
            let CpuStorage::$v(xv) = x.cpu() else {
                unreachable!("dtypes checked")
            };
            let xs = to_contiguous(xv, x.layout());
            let ws: Vec<Vec<$t>> = terms.iter().map(|(w, _, _)| vec_of::<$t>(w)).collect();
            let gs = terms
                .iter()
                .map(|(_, g, _)| match g.cpu() {
                    CpuStorage::$v(gv) => Ok(to_contiguous(gv, g.layout())),
                    _ => Err(Error::DTypeMismatch {
                        op: "batch_norm_backward",
                        lhs: x.dtype(),
                        rhs: g.dtype(),
                    }),
                })
                .collect::<Result<Vec<_>>>()?;
            let ts: Vec<k::Term<'_, $t>> = terms
                .iter()
                .enumerate()
                .map(|(i, (_, _, s))| k::Term {
                    w: &ws[i],
                    g: &gs[i],
                    sums: &s.0,
                })
                .collect();
            CpuStorage::$v(k::backward_input(
                &xs,
                &ts,
                cx.as_deref(),
                n,
                ch,
                l,
                &stats.mean,
                &stats.invstd,
            ))
        }};
    }
    Ok(match x.dtype() {
        crate::DType::F32 => go!(F32, f32),
        crate::DType::F64 => go!(F64, f64),
        other => {
            return Err(Error::UnsupportedDType {
                op: "batch_norm_backward",
                dtype: other,
            })
        }
    }
    .into())
}

/// The CUDA form of [`backward_kernel`]: the same per-channel coefficients (computed here, as
/// `backend::cpu::norm::backward_input` does), applied on the device.
fn cuda_backward(
    x: &Tensor,
    terms: &[(&Tensor, &Tensor, &Sums)],
    cx: Option<&[f64]>,
    [n, c, l]: [usize; 3],
    stats: &BnStats,
) -> Result<Storage> {
    for (_, g, _) in terms {
        super::check_same("batch_norm_backward", x, g)?;
    }
    let ws = terms
        .iter()
        .map(|(w, _, _)| w.to_vec_f64_checked())
        .collect::<Result<Vec<_>>>()?;
    let sums: Vec<&[(f64, f64)]> = terms.iter().map(|(_, _, s)| s.0.as_slice()).collect();
    let m = (n * l).max(1) as f64;
    let co = k::input_grad_coefficients(&ws, &sums, cx, m, &stats.mean, &stats.invstd);
    let coeffs: Vec<(&Tensor, Vec<f64>)> = terms.iter().map(|(_, g, _)| *g).zip(co.a).collect();
    cuda::combine(x, &coeffs, &co.b, &co.k, [n, c, l])
}

/// Weight gradient `sum(g * xhat)` per channel, from `g`'s sums.
fn fused_weight_grad(x: &Tensor, g: &Tensor, stats: &Arc<BnStats>, sums: &Sums) -> Result<Tensor> {
    let v: Vec<f64> = sums
        .0
        .iter()
        .zip(&stats.invstd)
        .map(|((_, sgx), r)| sgx * r)
        .collect();
    let data = on_device(&v, x)?;
    let op = Op::BatchNormWeightGrad {
        stats: stats.clone(),
    };
    Ok(Tensor::from_op(data, &[v.len()], op, &[x, g]))
}

/// Per-channel values computed on the host, as storage of `like`'s dtype on its device.
fn on_device(v: &[f64], like: &Tensor) -> Result<Storage> {
    place(CpuStorage::from_f64s(v, like.dtype()), like.device())
}

/// `sum(g)` over every axis but 1, from `g`'s sums, recorded as that sum.
fn channel_sum_from(g: &Tensor, sums: &Sums) -> Result<Tensor> {
    let v: Vec<f64> = sums.0.iter().map(|(sg, _)| *sg).collect();
    let data = on_device(&v, g)?;
    let axes: Vec<usize> = (0..g.rank()).filter(|&a| a != 1).collect();
    let op = Op::Sum {
        axes,
        keepdim: false,
    };
    Ok(Tensor::from_op(data, &[v.len()], op, &[g]))
}

/// `invstd` per channel as a differentiable function of `x` (the kept statistics are its value).
fn invstd_of(x: &Tensor, stats: &Arc<BnStats>) -> Result<Tensor> {
    let data = on_device(&stats.invstd, x)?;
    let op = Op::BatchNormInvstd {
        stats: stats.clone(),
    };
    Ok(Tensor::from_op(data, &[stats.invstd.len()], op, &[x]))
}

fn check_eps(op: &'static str, eps: f64) -> Result<()> {
    if !(eps.is_finite() && eps >= 0.0) {
        return invalid(format!("{op}: eps must be finite and >= 0, got {eps}"));
    }
    Ok(())
}

/// Checks a training-mode input: float, rank >= 2, more than one value per channel.
fn check_train_input(op: &'static str, x: &Tensor) -> Result<(usize, usize, usize)> {
    check_float(op, x)?;
    let (n, c, l) = ncl(op, x)?;
    if n * l <= 1 {
        return invalid(format!(
            "{op}: expected more than 1 value per channel when training, got input shape {:?}",
            x.shape()
        ));
    }
    Ok((n, c, l))
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
    let (_, c, _) = ncl(op, x)?;
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
    let (n, _, l) = check_train_input(op, x)?;
    let stats = stats_of(x, eps)?;
    let ones = Tensor::full_on(&[c], 1.0, x.dtype(), x.device())?;
    let zeros = Tensor::full_on(&[c], 0.0, x.dtype(), x.device())?;
    let y = fused_forward(x, weight.unwrap_or(&ones), bias.unwrap_or(&zeros), &stats)?;
    let running = match (running_mean, running_var) {
        (Some(rm), Some(rv)) => {
            let m = (n * l) as f64;
            let unbiased = m / (m - 1.0);
            let new_mean: Vec<f64> = rm
                .to_f64_vec()
                .iter()
                .zip(&stats.mean)
                .map(|(o, b)| (1.0 - momentum) * o + momentum * b)
                .collect();
            let new_var: Vec<f64> = rv
                .to_f64_vec()
                .iter()
                .zip(&stats.var)
                .map(|(o, v)| (1.0 - momentum) * o + momentum * v * unbiased)
                .collect();
            Some((
                Tensor::from_f64s(&new_mean, &[c], rm.dtype()).to_device(rm.device())?,
                Tensor::from_f64s(&new_var, &[c], rv.dtype()).to_device(rv.device())?,
            ))
        }
        (None, None) => None,
        _ => {
            return invalid(
                "batch_norm: give both running_mean and running_var, or neither".to_string(),
            )
        }
    };
    Ok((y, running))
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

fn needs(t: &Tensor) -> bool {
    t.requires_grad()
}

/// Backward rules of the batch-norm ops. With `P(v) = v - mean(v) - xhat mean(v xhat)` per
/// channel (a symmetric projection), `r = invstd` and `M` values per channel, the input gradient
/// `w r P(g)` has the vector-Jacobian product
/// `dg = w r P(G)`, `dw = A = <G, r P(g)>`,
/// `dx = -(r / M) (w A xhat + w <G, xhat> r P(g) + <g, xhat> w r P(G))`,
/// where `A = r (<G, g> - sum(G) sum(g) / M - <G, xhat> <g, xhat> / M)`. Every term is one of
/// the fused ops (whose per-channel sums are shared) or a per-channel vector op.
pub(crate) fn backward(
    op: &Op,
    x: &[Tensor],
    y: &Tensor,
    g: &Tensor,
) -> Result<Vec<Option<Tensor>>> {
    match op {
        Op::BatchNorm { stats } => {
            let (xi, w, b) = (&x[0], &x[1], &x[2]);
            let s = sums_of(xi, g, stats)?;
            Ok(vec![
                needs(xi)
                    .then(|| fused_backward(xi, w, g, stats, &s))
                    .transpose()?,
                needs(w)
                    .then(|| fused_weight_grad(xi, g, stats, &s))
                    .transpose()?,
                needs(b).then(|| channel_sum_from(g, &s)).transpose()?,
            ])
        }
        Op::BatchNormWeightGrad { stats } => {
            let (xi, gi) = (&x[0], &x[1]);
            let dx = if needs(xi) {
                let s = sums_of(xi, gi, stats)?;
                Some(fused_backward(xi, g, gi, stats, &s)?)
            } else {
                None
            };
            let zeros = g.zeros_like()?;
            let dg = needs(gi)
                .then(|| fused_forward(xi, g, &zeros, stats))
                .transpose()?;
            Ok(vec![dx, dg])
        }
        Op::BatchNormInvstd { stats } => {
            // d r / d x = -r^2 xhat / M per channel: a batch norm of x with weight -G r^2 / M.
            let xi = &x[0];
            let m = (xi.numel() / xi.shape()[1].max(1)) as f64;
            let w = g.mul(&y.mul(y)?)?.mul_scalar(-1.0 / m)?;
            let zeros = g.zeros_like()?;
            Ok(vec![Some(fused_forward(xi, &w, &zeros, stats)?)])
        }
        Op::BatchNormBackward { stats } if x.len() == 6 => {
            // w1 r P(g1) + w2 r P(g2) + c xhat: the sum of the terms' rules.
            let (xi, c) = (&x[0], &x[5]);
            let [dx1, dw1, dg1] = bnb_vjp(xi, &x[1], &x[2], g, stats)?;
            let [dx2, dw2, dg2] = bnb_vjp(xi, &x[3], &x[4], g, stats)?;
            let (dx3, dc) = if needs(xi) || needs(c) {
                let s = sums_of(xi, g, stats)?;
                (
                    needs(xi)
                        .then(|| fused_backward(xi, c, g, stats, &s))
                        .transpose()?,
                    needs(c)
                        .then(|| fused_weight_grad(xi, g, stats, &s))
                        .transpose()?,
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
        Op::BatchNormBackward { stats } => {
            let [dx, dw, dg] = bnb_vjp(&x[0], &x[1], &x[2], g, stats)?;
            Ok(vec![dx, dw, dg])
        }
        _ => unreachable!("not a batch-norm op: {}", op.name()),
    }
}

/// The vector-Jacobian product of `w r P(g)` (inputs `x`, `w`, `g`) with `big` (the incoming
/// gradient, `G` in [`backward`]'s formulas): `[dx, dw, dg]`, each where its input needs it.
fn bnb_vjp(
    xi: &Tensor,
    w: &Tensor,
    gi: &Tensor,
    big: &Tensor,
    stats: &Arc<BnStats>,
) -> Result<[Option<Tensor>; 3]> {
    let c = xi.shape()[1];
    let m = (xi.numel() / c.max(1)) as f64;
    let s_big = sums_of(xi, big, stats)?;
    let dg = needs(gi)
        .then(|| fused_backward(xi, w, big, stats, &s_big))
        .transpose()?;
    if !needs(xi) && !needs(w) {
        return Ok([None, None, dg]);
    }
    let s_g = sums_of(xi, gi, stats)?;
    let b_big = fused_weight_grad(xi, big, stats, &s_big)?; // <G, xhat>
    let c_g = fused_weight_grad(xi, gi, stats, &s_g)?; // <g, xhat>
    let sum_big = channel_sum_from(big, &s_big)?;
    let sum_g = channel_sum_from(gi, &s_g)?;
    let r = invstd_of(xi, stats)?;
    let dot = channel_sum(&big.mul(gi)?)?; // <G, g>
    let a = r.mul(
        &dot.sub(&sum_big.mul(&sum_g)?.mul_scalar(1.0 / m)?)?
            .sub(&b_big.mul(&c_g)?.mul_scalar(1.0 / m)?)?,
    )?;
    let dx = if needs(xi) {
        // -(r / M) (w A xhat + w <G, xhat> r P(g) + <g, xhat> w r P(G)), in one pass.
        let s = r.mul_scalar(-1.0 / m)?;
        let sw = s.mul(w)?;
        Some(fused_backward2(
            xi,
            (&sw.mul(&b_big)?, gi, &s_g),
            (&s.mul(&c_g)?.mul(w)?, big, &s_big),
            &sw.mul(&a)?,
            stats,
        )?)
    } else {
        None
    };
    Ok([dx, needs(w).then_some(a), dg])
}

/// Gradcheck cases of batch norm.
pub(crate) fn gradcheck_cases() -> Vec<super::cases::OpCase> {
    use super::cases::{normal, uniform, OpCase};
    vec![
        OpCase {
            op: "batch_norm",
            what: "train, x [3,3,2,2], weight and bias",
            inputs: |r| {
                vec![
                    normal(r, &[3, 3, 2, 2]),
                    uniform(r, &[3], 0.5, 1.5),
                    normal(r, &[3]),
                ]
            },
            f: |x| {
                batch_norm(&x[0], None, None, Some(&x[1]), Some(&x[2]), true, 0.1, 1e-5)
                    .map(|r| r.0)
            },
        },
        OpCase {
            op: "batch_norm",
            what: "train, batch 1, x [1,5,3,2], no affine",
            inputs: |r| vec![normal(r, &[1, 5, 3, 2])],
            f: |x| batch_norm(&x[0], None, None, None, None, true, 0.1, 1e-5).map(|r| r.0),
        },
        OpCase {
            op: "batch_norm",
            what: "train, 2-D x [6,2], weight only",
            inputs: |r| vec![normal(r, &[6, 2]), uniform(r, &[2], 0.5, 1.5)],
            f: |x| batch_norm(&x[0], None, None, Some(&x[1]), None, true, 0.1, 1e-5).map(|r| r.0),
        },
        OpCase {
            op: "batch_norm",
            what: "eval on running stats, x [2,3,2,1], weight and bias",
            inputs: |r| vec![normal(r, &[2, 3, 2, 1]), normal(r, &[3]), normal(r, &[3])],
            f: |x| {
                let (dt, dev) = (x[0].dtype(), x[0].device());
                let rm = Tensor::from_f64s(&[0.1, -0.2, 0.3], &[3], dt).to_device(dev)?;
                let rv = Tensor::from_f64s(&[0.5, 1.2, 2.0], &[3], dt).to_device(dev)?;
                batch_norm(
                    &x[0],
                    Some(&rm),
                    Some(&rv),
                    Some(&x[1]),
                    Some(&x[2]),
                    false,
                    0.1,
                    1e-5,
                )
                .map(|r| r.0)
            },
        },
        OpCase {
            op: "batch_norm_backward",
            what: "x [3,2,2,2], weight, g",
            inputs: |r| {
                vec![
                    normal(r, &[3, 2, 2, 2]),
                    uniform(r, &[2], 0.5, 1.5),
                    normal(r, &[3, 2, 2, 2]),
                ]
            },
            f: |x| batch_norm_backward(&x[0], Some(&x[1]), &x[2], 1e-5),
        },
        OpCase {
            op: "batch_norm_backward",
            what: "fused two-term form w1 r P(g1) + w2 r P(g2) + c xhat, x [3,2,2,2]",
            inputs: |r| {
                vec![
                    normal(r, &[3, 2, 2, 2]),
                    normal(r, &[2]),
                    normal(r, &[3, 2, 2, 2]),
                    normal(r, &[2]),
                    normal(r, &[3, 2, 2, 2]),
                    normal(r, &[2]),
                ]
            },
            f: |x| {
                let stats = stats_of(&x[0], 1e-5)?;
                let s1 = sums_of(&x[0], &x[2], &stats)?;
                let s2 = sums_of(&x[0], &x[4], &stats)?;
                fused_backward2(
                    &x[0],
                    (&x[1], &x[2], &s1),
                    (&x[3], &x[4], &s2),
                    &x[5],
                    &stats,
                )
            },
        },
        OpCase {
            op: "batch_norm_weight_grad",
            what: "x [2,3,3,1], g",
            inputs: |r| vec![normal(r, &[2, 3, 3, 1]), normal(r, &[2, 3, 3, 1])],
            f: |x| batch_norm_weight_grad(&x[0], &x[1], 1e-5),
        },
        OpCase {
            op: "batch_norm_invstd",
            what: "x [4,3,2,1]",
            inputs: |r| vec![normal(r, &[4, 3, 2, 1])],
            f: |x| batch_norm_invstd(&x[0], 1e-5),
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{grad, DType, Rng};

    #[test]
    fn training_forward_and_running_stats_by_hand() {
        // One channel, values 1, 2, 3, 6: mean 3, biased var 3.5, unbiased var 14/3.
        let x = Tensor::from_vec(vec![1.0f64, 2.0, 3.0, 6.0], &[2, 1, 2]).unwrap();
        let w = Tensor::from_vec(vec![2.0f64], &[1]).unwrap();
        let b = Tensor::from_vec(vec![0.5f64], &[1]).unwrap();
        let rm = Tensor::from_vec(vec![1.0f64], &[1]).unwrap();
        let rv = Tensor::from_vec(vec![2.0f64], &[1]).unwrap();
        let eps = 1e-5;
        let (y, run) =
            batch_norm(&x, Some(&rm), Some(&rv), Some(&w), Some(&b), true, 0.1, eps).unwrap();
        let r = 1.0 / (3.5f64 + eps).sqrt();
        let want: Vec<f64> = [1.0, 2.0, 3.0, 6.0]
            .iter()
            .map(|v| 2.0 * (v - 3.0) * r + 0.5)
            .collect();
        for (a, b) in y.to_vec::<f64>().unwrap().iter().zip(&want) {
            assert!((a - b).abs() < 1e-12);
        }
        let (nm, nv) = run.unwrap();
        assert!((nm.item().unwrap() - (0.9 + 0.3)).abs() < 1e-12);
        assert!((nv.item().unwrap() - (0.9 * 2.0 + 0.1 * 14.0 / 3.0)).abs() < 1e-9);
        // Eval mode with the new running stats.
        let (ye, none) = batch_norm(
            &x,
            Some(&nm),
            Some(&nv),
            Some(&w),
            Some(&b),
            false,
            0.1,
            eps,
        )
        .unwrap();
        assert!(none.is_none());
        let (m, v) = (nm.item().unwrap(), nv.item().unwrap());
        let want: Vec<f64> = [1.0, 2.0, 3.0, 6.0]
            .iter()
            .map(|x| 2.0 * (x - m) / (v + eps).sqrt() + 0.5)
            .collect();
        for (a, b) in ye.to_vec::<f64>().unwrap().iter().zip(&want) {
            assert!((a - b).abs() < 1e-12);
        }
    }

    /// The fused ops against the same formulas written with plain tensor ops, f32 and f64.
    #[test]
    fn fused_ops_match_composite_formulas() {
        let mut rng = Rng::new(9);
        for dt in [DType::F64, DType::F32] {
            let tol = if dt == DType::F64 { 1e-10 } else { 2e-4 };
            let x = Tensor::randn(&[4, 3, 5, 2], dt, &mut rng);
            let w = Tensor::randn(&[3], dt, &mut rng);
            let b = Tensor::randn(&[3], dt, &mut rng);
            let g = Tensor::randn(&[4, 3, 5, 2], dt, &mut rng);
            let m = 40.0;
            let bs = [1, 3, 1, 1];
            let mean = x.mean(&[0, 2, 3], true).unwrap();
            let xc = x.sub(&mean).unwrap();
            let var = xc.mul(&xc).unwrap().mean(&[0, 2, 3], true).unwrap();
            let r = var.add_scalar(1e-5).unwrap().pow(-0.5).unwrap();
            let xhat = xc.mul(&r).unwrap();
            let want_y = xhat
                .mul(&w.reshape(&bs).unwrap())
                .unwrap()
                .add(&b.reshape(&bs).unwrap())
                .unwrap();
            let (y, _) = batch_norm(&x, None, None, Some(&w), Some(&b), true, 0.1, 1e-5).unwrap();
            assert_close(&y, &want_y, tol);
            let gm = g.mean(&[0, 2, 3], true).unwrap();
            let gx = g.mul(&xhat).unwrap().sum(&[0, 2, 3], true).unwrap();
            let want_dx = g
                .sub(&gm)
                .unwrap()
                .sub(&xhat.mul(&gx.mul_scalar(1.0 / m).unwrap()).unwrap())
                .unwrap()
                .mul(&r.mul(&w.reshape(&bs).unwrap()).unwrap())
                .unwrap();
            let dx = batch_norm_backward(&x, Some(&w), &g, 1e-5).unwrap();
            assert_close(&dx, &want_dx, tol);
            let dw = batch_norm_weight_grad(&x, &g, 1e-5).unwrap();
            assert_close(&dw, &gx.reshape(&[3]).unwrap(), tol);
        }
    }

    fn assert_close(a: &Tensor, b: &Tensor, tol: f64) {
        assert_eq!(a.shape(), b.shape());
        for (x, y) in a.to_f64_vec().iter().zip(b.to_f64_vec()) {
            assert!((x - y).abs() <= tol * (1.0 + y.abs()), "{x} vs {y}");
        }
    }

    #[test]
    fn gradients_through_training_mode() {
        let mut rng = Rng::new(4);
        let x = Tensor::randn(&[3, 2, 2, 2], DType::F64, &mut rng)
            .set_requires_grad(true)
            .unwrap();
        let (y, _) = batch_norm(&x, None, None, None, None, true, 0.1, 1e-5).unwrap();
        // Normalised output: the sum over a channel is constant, so its gradient is 0.
        let gx = grad(&[y.sum_all().unwrap()], &[x], None, false).unwrap();
        assert!(gx[0].to_f64_vec().iter().all(|v| v.abs() < 1e-10));
    }

    #[test]
    fn bad_inputs_are_errors() {
        let x = Tensor::zeros(&[2, 3, 2, 2], DType::F32);
        let w = Tensor::ones(&[4], DType::F32);
        let e = batch_norm(&x, None, None, Some(&w), None, true, 0.1, 1e-5).unwrap_err();
        assert!(e.to_string().contains("[2, 3, 2, 2]") && e.to_string().contains("[4]"));
        let one = Tensor::zeros(&[1, 3, 1, 1], DType::F32);
        assert!(batch_norm(&one, None, None, None, None, true, 0.1, 1e-5).is_err());
        assert!(batch_norm(&x, None, None, None, None, false, 0.1, 1e-5).is_err());
        let rm = Tensor::zeros(&[3], DType::F32);
        assert!(batch_norm(&x, Some(&rm), None, None, None, true, 0.1, 1e-5).is_err());
        assert!(batch_norm(
            &Tensor::zeros(&[3], DType::F32),
            None,
            None,
            None,
            None,
            true,
            0.1,
            1e-5
        )
        .is_err());
    }
}
