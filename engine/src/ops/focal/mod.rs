//! The focal loss from logits with soft targets, fused (one kernel per row, no `[N, C]`
//! intermediates): per row `L = -sum_c t_c (1 - p_c)^gamma log p_c` with `p = softmax(z)`
//! (gamma 0: cross-entropy with soft targets). The mean over rows is left to `mean`.
//!
//! Gradients of every order: the loss's backward rule is, in `z`, the fused op
//! `focal_loss_backward` (`u_r (p A - a)`, see below) and, in `t`, a tensor program
//! (`-u_r (1 - p)^gamma log p`). `focal_loss_backward`'s own backward rule is a tensor program
//! over primitive ops (log_softmax, exp, pow, sums) and `focal_loss_backward` itself (its
//! gradient in `u`), derived by hand below and checked against finite differences at orders
//! 1-3 by the gradcheck suite.

pub(crate) mod cases;
mod cpu_kernel;
mod cuda_kernel;

use super::checks::{check_float, check_same, when};
use crate::autograd::op::OpKind;
use crate::backend::BackendStorage;
use crate::error::{Error, Result};
use crate::layout::Layout;
use crate::storage::{on_device, AsBackend, Storage};
use crate::{Op, Tensor};

/// The focal-loss kernels of a backend, on `[rows, k]` views.
pub(crate) trait FocalKernel: BackendStorage {
    /// The loss of each row of the logits `self` (viewed as `l`) against the targets `t`:
    /// `[rows]` values.
    fn focal_loss(&self, l: &Layout, t: (&Self, &Layout), gamma: f64) -> Result<Self>;
    /// The loss's gradient in the logits, row `r` scaled by `u[r]` (`u` a `[rows]` view, of
    /// any stride): `[rows, k]` values.
    fn focal_loss_backward(
        &self,
        l: &Layout,
        t: (&Self, &Layout),
        u: (&Self, &Layout),
        gamma: f64,
    ) -> Result<Self>;
}

/// The recorded ops of the family.
enum FocalOp {
    /// Inputs `[z, t]`.
    Loss { gamma: f64 },
    /// Inputs `[z, t, u]`.
    Backward { gamma: f64 },
}

/// Checks `[rows, k]` logits and targets of their shape, dtype and device, and gamma.
fn check_args(name: &'static str, z: &Tensor, t: &Tensor, gamma: f64) -> Result<()> {
    check_float(name, z)?;
    check_same(name, z, t)?;
    if z.rank() != 2 || z.shape() != t.shape() {
        return Err(Error::Invalid(format!(
            "{name}: logits and targets must both be [N, C], got {:?} and {:?}",
            z.shape(),
            t.shape()
        )));
    }
    if !(gamma.is_finite() && gamma >= 0.0) {
        return Err(Error::Invalid(format!(
            "{name}: gamma must be a finite number >= 0, got {gamma}"
        )));
    }
    Ok(())
}

impl Tensor {
    /// The focal loss of each row of the `[N, C]` logits `self` against targets `t` (`[N, C]`
    /// probabilities: one-hot or soft), `-sum_c t_c (1 - p_c)^gamma log p_c` with
    /// `p = softmax(self)` along the last axis: `[N]` values (gamma 0: cross-entropy). A target
    /// of exactly 0 contributes 0 even where `log p` is `-inf`.
    pub fn focal_loss(&self, t: &Tensor, gamma: f64) -> Result<Tensor> {
        check_args("focal_loss", self, t, gamma)?;
        let data = on_device!(self.storage(), |s| s
            .focal_loss(
                self.layout(),
                (t.storage().as_backend()?, t.layout()),
                gamma
            )
            .map(Storage::from))?;
        let rows = self.shape()[0];
        Ok(Tensor::from_op(
            data,
            &[rows],
            FocalOp::Loss { gamma },
            &[self, t],
        ))
    }

    /// The gradient of [`Tensor::focal_loss`] in the logits `self`, row `r` scaled by `u[r]`
    /// (`u` of shape `[N]`): `u_r (p_j A_r - a_rj)` with `q = 1 - p`,
    /// `a_c = t_c (q_c^gamma - gamma q_c^(gamma - 1) p_c log p_c)` and `A = sum_c a_c` (one
    /// fused op).
    pub fn focal_loss_backward(&self, t: &Tensor, u: &Tensor, gamma: f64) -> Result<Tensor> {
        let name = "focal_loss_backward";
        check_args(name, self, t, gamma)?;
        check_same(name, self, u)?;
        if u.shape() != [self.shape()[0]] {
            return Err(Error::Invalid(format!(
                "{name}: logits of shape {:?} need row scales of shape [{}], got {:?}",
                self.shape(),
                self.shape()[0],
                u.shape()
            )));
        }
        let data = on_device!(self.storage(), |s| s
            .focal_loss_backward(
                self.layout(),
                (t.storage().as_backend()?, t.layout()),
                (u.storage().as_backend()?, u.layout()),
                gamma
            )
            .map(Storage::from))?;
        Ok(Tensor::from_op(
            data,
            self.shape(),
            FocalOp::Backward { gamma },
            &[self, t, u],
        ))
    }
}

/// `q^e` for `q = 1 - p`, with the exponents 0 and 1 written out (so that their derivatives
/// are exact where `q` is 0).
fn pow_of(q: &Tensor, e: f64) -> Result<Tensor> {
    if e == 0.0 {
        q.ones_like()
    } else if e == 1.0 {
        Ok(q.clone())
    } else {
        q.pow(e)
    }
}

/// Per class, as tensors of the logits' shape: `p`, `b = q^gamma - gamma q^(gamma-1) p l`
/// (`a = t b`) and `f' = db/dl` with `l = log p`, `q = 1 - p`:
/// `f' = -2 gamma q^(gamma-1) p - gamma q^(gamma-1) p l + gamma (gamma-1) q^(gamma-2) p^2 l`.
fn class_terms(z: &Tensor, gamma: f64) -> Result<(Tensor, Tensor, Option<Tensor>)> {
    let l = z.log_softmax(1)?;
    let p = l.exp()?;
    if gamma == 0.0 {
        return Ok((p.clone(), p.ones_like()?, None));
    }
    let q = p.rsub_scalar(1.0)?;
    let qg1 = pow_of(&q, gamma - 1.0)?;
    let pl = p.mul(&l)?;
    let qg1_p = qg1.mul(&p)?;
    let b = pow_of(&q, gamma)?.sub(&qg1.mul(&pl)?.mul_scalar(gamma)?)?;
    let mut fd = qg1_p
        .mul_scalar(-2.0 * gamma)?
        .sub(&qg1_p.mul(&l)?.mul_scalar(gamma)?)?;
    if gamma != 1.0 {
        let qg2 = pow_of(&q, gamma - 2.0)?;
        fd = fd.add(&qg2.mul(&p)?.mul(&pl)?.mul_scalar(gamma * (gamma - 1.0))?)?;
    }
    Ok((p, b, Some(fd)))
}

impl Op for FocalOp {
    fn kind(&self) -> OpKind {
        match self {
            FocalOp::Loss { .. } => OpKind::FocalLoss,
            FocalOp::Backward { .. } => OpKind::FocalLossBackward,
        }
    }

    fn backward(
        &self,
        x: &[Tensor],
        _y: &Tensor,
        g: &Tensor,
        needs: &[bool],
    ) -> Result<Vec<Option<Tensor>>> {
        let (z, t) = (&x[0], &x[1]);
        match *self {
            FocalOp::Loss { gamma } => Ok(vec![
                when(needs[0], || z.focal_loss_backward(t, g, gamma))?,
                // dL_r/dt_c = -(1 - p_c)^gamma log p_c.
                when(needs[1], || {
                    let l = z.log_softmax(1)?;
                    let w = pow_of(&l.exp()?.rsub_scalar(1.0)?, gamma)?;
                    w.mul(&l)?.mul(&g.unsqueeze(1)?)?.neg()
                })?,
            ]),
            FocalOp::Backward { gamma } => {
                // out_j = u (p_j A - a_j), a_c = t_c b_c, A = sum a, for the incoming G and
                // h_c = t_c f'_c, H = sum h, S = sum G p, GH = sum G h (sums per row):
                //   dz_k = u [p_k (A (G_k - S) - S H + GH) + h_k (S - G_k)]
                //   dt_c = u b_c (S - G_c)
                //   du   = sum_j G_j (p_j A - a_j) = sum_j G_j focal_loss_backward(z, t, 1)_j
                let u = &x[2];
                let big = g;
                let u2 = u.unsqueeze(1)?;
                let row_sum = |v: &Tensor| v.sum(&[1], true);
                let (p, b, fd) = class_terms(z, gamma)?;
                let s = row_sum(&big.mul(&p)?)?;
                Ok(vec![
                    when(needs[0], || {
                        let a_sum = row_sum(&t.mul(&b)?)?;
                        let mut inner = a_sum.mul(&big.sub(&s)?)?;
                        let mut rest = None;
                        if let Some(fd) = &fd {
                            let h = t.mul(fd)?;
                            let hs = row_sum(&h)?;
                            let gh = row_sum(&big.mul(&h)?)?;
                            inner = inner.sub(&s.mul(&hs)?)?.add(&gh)?;
                            rest = Some(h.mul(&s.sub(big)?)?);
                        }
                        let mut dz = p.mul(&inner)?;
                        if let Some(r) = rest {
                            dz = dz.add(&r)?;
                        }
                        dz.mul(&u2)
                    })?,
                    when(needs[1], || b.mul(&s.sub(big)?)?.mul(&u2))?,
                    when(needs[2], || {
                        let unit = z.focal_loss_backward(t, &u.ones_like()?, gamma)?;
                        big.mul(&unit)?.sum(&[1], false)
                    })?,
                ])
            }
        }
    }
}
